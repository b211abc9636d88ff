/* Gradient accumulation into a tensor's .grad (the one place backward functions write), and the
 * argument checks ops share. */
#include "node.h"

/* ---- gradient accumulation ---- */

static bool stealable(const sg_tensor *g) {
    return g->refcount == 1 && g->node == NULL && !(g->flags & SG_FLAG_TAPE) && sg__is_contiguous(g) &&
           g->storage->refcount == 1;
}

int sg__grad_accum(sg_tensor *t, sg_tensor *g) {
    if (!g) return sg_last_status() ? sg_last_status() : SG_ERR_MEM;
    if (!(t->flags & SG_FLAG_REQUIRES_GRAD)) {
        sg__unref(g);
        return SG_OK;
    }
    SG_ASSERT(g->dtype == t->dtype && g->ndim == t->ndim);
    if (!t->grad) {
        bool leaf = t->node == NULL;
        if (stealable(g)) {
            t->grad = g;
        } else {
            t->grad = sg__alloc(t->dtype, t->ndim, t->shape, false);
            if (!t->grad) {
                sg__unref(g);
                return SG_ERR_MEM;
            }
            sg__kcopy(t->grad, g);
            sg__unref(g);
        }
        if (leaf) { /* user-visible */
            t->grad->flags |= SG_FLAG_IS_GRAD;
            if (!sg__register(t->grad)) {
                sg__unref(t->grad);
                t->grad = NULL;
                return SG_ERR_MEM;
            }
        }
        return SG_OK;
    }
    sg__kaccum(t->grad, g);
    sg__bump(t->grad->storage);
    sg__unref(g);
    return SG_OK;
}

/* t's gradient, allocated as zeros if missing (leaf gradients are registered: the user sees them) */
static sg_tensor *grad_buffer(sg_tensor *t) {
    if (t->grad) return t->grad;
    t->grad = sg__alloc(t->dtype, t->ndim, t->shape, true);
    if (t->grad && !t->node) {
        t->grad->flags |= SG_FLAG_IS_GRAD;
        if (!sg__register(t->grad)) {
            sg__unref(t->grad);
            t->grad = NULL;
        }
    }
    return t->grad;
}

int sg__grad_accum_slice(sg_tensor *t, sg_tensor *g, int dim, int64_t start) {
    if (!g) return SG_ERR_MEM;
    if (!(t->flags & SG_FLAG_REQUIRES_GRAD)) {
        sg__unref(g);
        return SG_OK;
    }
    SG_ASSERT(g->ndim == t->ndim && dim >= 0 && dim < t->ndim && start + g->shape[dim] <= t->shape[dim]);
    sg_tensor *tg = grad_buffer(t);
    sg_tensor *v = tg ? sg__view(tg, tg->ndim, g->shape, tg->stride, tg->offset + start * tg->stride[dim]) : NULL;
    if (v) {
        sg__kaccum(v, g);
        sg__bump(tg->storage);
        sg__unref(v);
    }
    sg__unref(g);
    return v ? SG_OK : SG_ERR_MEM;
}

int sg__grad_accum_reduce(sg_tensor *t, sg_tensor *g) {
    if (!g) return SG_ERR_MEM;
    bool same = g->ndim == t->ndim;
    for (int i = 0; same && i < t->ndim; i++) same = g->shape[i] == t->shape[i];
    if (same) return sg__grad_accum(t, g);
    if (!(t->flags & SG_FLAG_REQUIRES_GRAD)) {
        sg__unref(g);
        return SG_OK;
    }
    sg_tensor *r = sg__sum_to_shape(g, t->ndim, t->shape);
    sg__unref(g);
    return sg__grad_accum(t, r);
}

/* ---- shared argument checks ---- */

bool sg__same_dtype(const char *op, const sg_tensor *a, const sg_tensor *b) {
    if (a->dtype == b->dtype) return true;
    sg_set_error(SG_ERR_DTYPE, "%s: dtypes differ (%s vs %s); convert with sg_to_dtype", op,
                 sg_dtype_name(a->dtype), sg_dtype_name(b->dtype));
    return false;
}

int sg__norm_dim(const char *op, int dim, int ndim) {
    int d = dim < 0 ? dim + ndim : dim;
    if (d < 0 || d >= ndim) {
        sg_set_error(SG_ERR_ARG, "%s: dim %d out of range for a %d-d tensor", op, dim, ndim);
        return -1;
    }
    return d;
}
