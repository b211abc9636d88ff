/** @file
 * seqgrad models: a named collection of parameters stored in ONE flat block, with their gradients
 * in a second flat block (llm.c / KANN style), plus train/eval mode and a dropout RNG.
 * Layers (nn/layers.h, nn/rnn.h) declare their parameters into a model; sg_model_finalize()
 * allocates both blocks and initialises every parameter. Parameter names follow PyTorch's
 * state_dict ("weight_ih_l0", "fc.bias", ...), so weights move between seqgrad and PyTorch.
 *
 * Ownership: the model owns its parameters, their gradients and every layer created on it;
 * sg_model_free() frees all of them (one destructor). Parameter tensors are leaves that require
 * grad; their .grad is a view into the flat gradient block from the start (zeros). */
#ifndef SG_MODEL_H
#define SG_MODEL_H

#include "../tensor/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A model: its parameters (one flat block), their gradients (a second block), its layers,
 * train/eval mode and dropout RNG; opaque. Freed by sg_model_free(). */
typedef struct sg_model sg_model;

/** How sg_model_finalize() initialises a declared parameter (a is the kind's argument). */
typedef enum {
    SG_INIT_ZEROS = 0, /**< every element 0 */
    SG_INIT_UNIFORM, /**< uniform(-a, a) */
    SG_INIT_NORMAL,  /**< normal(0, a) */
    SG_INIT_CONST,   /**< every element a */
} sg_init_kind;

/** New empty model whose parameters will have dtype dt. Caller-owned (sg_model_free()); NULL with an
 * error for a bad dt or out of memory. */
sg_model *sg_model_new(sg_dtype dt);
/** Frees the model, its parameters, gradients and layers. NULL is a no-op. */
void sg_model_free(sg_model *m);
/** The parameters' dtype. */
sg_dtype sg_model_dtype(const sg_model *m);

/** Declare a parameter before finalize. name must be unique. Returns its index or a negative status. */
int sg_model_declare(sg_model *m, const char *name, int ndim, const int64_t *shape, sg_init_kind init,
                     double a);
/** Allocate the flat blocks and initialise all declared parameters from seed (Philox streams, so
 * the values depend only on the seed and the declaration order). After this, no more declarations. */
int sg_model_finalize(sg_model *m, uint64_t seed);
/** True after a successful sg_model_finalize(). */
bool sg_model_is_final(const sg_model *m);

/** Number of parameter tensors declared, or a negative status. */
int sg_model_num_params(const sg_model *m);
/** Total number of scalar parameters (the sum of the parameters' element counts; 0 for NULL). */
int64_t sg_model_numel(const sg_model *m);
/** Element count of the flat parameter block and of the flat gradient block (0 for NULL): at
 *  least sg_model_numel(m), because each parameter starts 64-byte aligned and is padded up to
 *  the next 64 bytes; the padding elements are zeros with zero gradients. Size a
 *  buffer for sg_to_buffer(sg_model_flat_params(m), ...) by this, or by sg_numel of the view.
 *  Known once the parameters are declared; does not change at finalize. */
int64_t sg_model_flat_numel(const sg_model *m);
/** i-th parameter (declaration order) and its name; borrowed, owned by the model. */
sg_tensor *sg_model_param(const sg_model *m, int i);
/** Name of the i-th parameter (borrowed, owned by the model), or NULL when i is out of range. */
const char *sg_model_param_name(const sg_model *m, int i);
/** Parameter by name, or NULL (with SG_ERR_ARG naming it). */
sg_tensor *sg_model_find(const sg_model *m, const char *name);
/** Views of the whole flat parameter / gradient blocks, 1-D of sg_model_flat_numel(m) elements,
 * padding included (NOT sg_model_numel(m) elements). Borrowed; NULL with SG_ERR_STATE before
 * sg_model_finalize. */
sg_tensor *sg_model_flat_params(const sg_model *m);
/** The whole flat gradient block (see sg_model_flat_params()). */
sg_tensor *sg_model_flat_grads(const sg_model *m);
/** Zero every gradient (one memset of the flat block). */
int sg_model_zero_grad(sg_model *m);

/** Training mode (dropout active) or evaluation mode. New models are in training mode. */
void sg_model_train(sg_model *m, bool training);
/** True in training mode. */
bool sg_model_is_training(const sg_model *m);
/** The model's dropout RNG (seeded by finalize; reseed with sg_model_seed_dropout). Borrowed. */
sg_rng *sg_model_rng(sg_model *m);
/** Reseeds the model's dropout RNG. */
void sg_model_seed_dropout(sg_model *m, uint64_t seed);

/** Builds "prefix.name" (or just name when prefix is NULL or "") into buf. Returns buf. */
char *sg_param_name(char *buf, size_t n, const char *prefix, const char *name);

#ifdef __cplusplus
}
#endif

#endif
