/** @file
 * Feed-forward layers on a model (see nn/model.h): Linear, Embedding, and model-aware dropout.
 * Each constructor declares its parameters on the model (before sg_model_finalize) and returns a
 * layer owned by the model (freed by sg_model_free). Forward calls return tape-owned tensors.
 * Initialisation follows PyTorch: Linear weight and bias uniform(-1/sqrt(in), 1/sqrt(in));
 * Embedding normal(0, 1) with the padding row zero. */
#ifndef SG_LAYERS_H
#define SG_LAYERS_H

#include "../ops/ops.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A fully connected layer (PyTorch nn.Linear), opaque; owned and freed by the model it was created
 * on. */
typedef struct sg_linear_layer sg_linear_layer;
/** New layer on model m (before sg_model_finalize()), declaring the parameters "prefix.weight" (out, in)
 * and "prefix.bias" (out), PyTorch's init. Returns NULL with an error on bad sizes or a finalized m. */
sg_linear_layer *sg_linear_layer_new(sg_model *m, const char *prefix, int64_t in, int64_t out, bool bias);
/** x (..., in) -> (..., out): x @ weight^T + bias (tape-owned; NULL with an error). */
sg_tensor *sg_linear_layer_forward(sg_linear_layer *l, sg_tensor *x);
/** The weight parameter (out, in); borrowed, owned by the model. */
sg_tensor *sg_linear_layer_weight(const sg_linear_layer *l);
sg_tensor *sg_linear_layer_bias(const sg_linear_layer *l); /**< NULL without bias */

/** A lookup table of num vectors of size dim (PyTorch nn.Embedding), opaque; owned and freed by its
 * model. */
typedef struct sg_embedding_layer sg_embedding_layer;
/** New embedding on model m, declaring the parameter "prefix.weight" (num, dim), normal(0, 1) init.
 * NULL with an error on bad sizes or a finalized m. padding_idx < 0: none; else that row starts at zero and
 * never receives gradient. */
sg_embedding_layer *sg_embedding_layer_new(sg_model *m, const char *prefix, int64_t num, int64_t dim,
                                           int64_t padding_idx);
/** idx of shape (ndim, shape), values in [0, num) -> (shape..., dim), tape-owned; an index out of
 * range is SG_ERR_ARG naming it. */
sg_tensor *sg_embedding_layer_forward(sg_embedding_layer *e, int ndim, const int64_t *shape,
                                      const int64_t *idx);
/** The weight parameter (num, dim); borrowed, owned by the model. */
sg_tensor *sg_embedding_layer_weight(const sg_embedding_layer *e);

/** Dropout that follows the model's mode and RNG: active only while training. */
sg_tensor *sg_model_dropout(sg_model *m, sg_tensor *x, double p);

#ifdef __cplusplus
}
#endif

#endif
