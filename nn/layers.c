/* Linear and Embedding layers and model-aware dropout: thin wrappers that own parameter indices and
 * call the ops. No kernels here. */
#include <math.h>
#include <stdlib.h>

#include "layers.h"
#include "../tensor/alloc.h" /* allocations through one place (failure injection) */
#include "model_impl.h"

enum { NAME_BUF = 160 };

struct sg_linear_layer {
    sg_model *m;
    int w, b; /* parameter indices (b < 0: no bias) */
};

struct sg_embedding_layer {
    sg_model *m;
    int w;
    int64_t padding_idx;
};

sg_linear_layer *sg_linear_layer_new(sg_model *m, const char *prefix, int64_t in, int64_t out, bool bias) {
    if (!m) {
        sg_set_error(SG_ERR_NULL, "sg_linear_layer_new: argument 'm' is NULL");
        return NULL;
    }
    if (in < 1 || out < 1) {
        sg_set_error(SG_ERR_ARG, "sg_linear_layer_new: sizes must be >= 1 (in %lld, out %lld)",
                     (long long)in, (long long)out);
        return NULL;
    }
    sg_linear_layer *l = calloc(1, sizeof *l);
    if (!l) {
        sg_set_error(SG_ERR_MEM, "sg_linear_layer_new: out of memory");
        return NULL;
    }
    l->m = m;
    double k = 1.0 / sqrt((double)in);
    char name[NAME_BUF];
    l->w = sg_model_declare(m, sg_param_name(name, sizeof name, prefix, "weight"), 2, (int64_t[]){out, in},
                            SG_INIT_UNIFORM, k);
    l->b = bias ? sg_model_declare(m, sg_param_name(name, sizeof name, prefix, "bias"), 1, &out,
                                   SG_INIT_UNIFORM, k)
                : -1;
    if (l->w < 0 || (bias && l->b < 0) || sg__model_own(m, l, free, NULL) != SG_OK) {
        free(l);
        return NULL;
    }
    return l;
}

sg_tensor *sg_linear_layer_weight(const sg_linear_layer *l) { return l ? sg_model_param(l->m, l->w) : NULL; }
sg_tensor *sg_linear_layer_bias(const sg_linear_layer *l) {
    return (l && l->b >= 0) ? sg_model_param(l->m, l->b) : NULL;
}

sg_tensor *sg_linear_layer_forward(sg_linear_layer *l, sg_tensor *x) {
    if (!l) {
        sg_set_error(SG_ERR_NULL, "sg_linear_layer_forward: layer is NULL");
        return NULL;
    }
    sg_tensor *w = sg_model_param(l->m, l->w);
    if (!w) return NULL;
    return sg_linear(x, w, sg_linear_layer_bias(l));
}

static int embedding_after_init(void *obj) {
    sg_embedding_layer *e = obj;
    if (e->padding_idx < 0) return SG_OK;
    sg_tensor *w = sg_model_param(e->m, e->w);
    int64_t dim = sg_size(w, 1);
    for (int64_t j = 0; j < dim; j++) sg_set_flat(w, e->padding_idx * dim + j, 0.0);
    return SG_OK;
}

sg_embedding_layer *sg_embedding_layer_new(sg_model *m, const char *prefix, int64_t num, int64_t dim,
                                           int64_t padding_idx) {
    if (!m) {
        sg_set_error(SG_ERR_NULL, "sg_embedding_layer_new: argument 'm' is NULL");
        return NULL;
    }
    if (num < 1 || dim < 1 || padding_idx >= num) {
        sg_set_error(SG_ERR_ARG, "sg_embedding_layer_new: need num >= 1, dim >= 1, padding_idx < num "
                                 "(got %lld, %lld, %lld)", (long long)num, (long long)dim, (long long)padding_idx);
        return NULL;
    }
    sg_embedding_layer *e = calloc(1, sizeof *e);
    if (!e) {
        sg_set_error(SG_ERR_MEM, "sg_embedding_layer_new: out of memory");
        return NULL;
    }
    e->m = m;
    e->padding_idx = padding_idx;
    char name[NAME_BUF];
    e->w = sg_model_declare(m, sg_param_name(name, sizeof name, prefix, "weight"), 2, (int64_t[]){num, dim},
                            SG_INIT_NORMAL, 1.0);
    if (e->w < 0 || sg__model_own(m, e, free, embedding_after_init) != SG_OK) {
        free(e);
        return NULL;
    }
    return e;
}

sg_tensor *sg_embedding_layer_weight(const sg_embedding_layer *e) { return e ? sg_model_param(e->m, e->w) : NULL; }

sg_tensor *sg_embedding_layer_forward(sg_embedding_layer *e, int ndim, const int64_t *shape,
                                      const int64_t *idx) {
    if (!e) {
        sg_set_error(SG_ERR_NULL, "sg_embedding_layer_forward: layer is NULL");
        return NULL;
    }
    sg_tensor *w = sg_model_param(e->m, e->w);
    if (!w) return NULL;
    return sg_embedding(w, ndim, shape, idx, e->padding_idx);
}

sg_tensor *sg_model_dropout(sg_model *m, sg_tensor *x, double p) {
    if (!m) {
        sg_set_error(SG_ERR_NULL, "sg_model_dropout: argument 'm' is NULL");
        return NULL;
    }
    return sg_dropout(x, p, sg_model_is_training(m), sg_model_rng(m));
}
