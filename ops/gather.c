/* Per-element indexing along one dim with an index array (torch.gather / torch.scatter_add), each
 * forward next to its backward: gather's gradient is a scatter-add and scatter-add's gradient to
 * src is a gather. Index arrays are int64_t, row-major, with their own shape (seqgrad tensors are
 * float only; see sg_argmax). Not here: one index list for all rows (sg_index_select, ops/index.c).
 *
 * Lines: every position of the index with its coordinate along dim left free. Line l of the index
 * reads/writes only line l of x (the same coordinates off dim), so lines run in parallel and
 * duplicates inside a line are summed in index order: results never depend on the thread count. */
#include <stdlib.h>
#include <string.h>

#include "../autograd/node.h"
#include "ops.h"

/* Geometry shared by both ops: the index shape and the contiguous strides of index, x (the tensor
 * indexed along dim) and src/out (the tensor shaped like, or larger than, the index). */
typedef struct {
    int nd, dim;
    int64_t ishape[SG_MAX_DIMS];
    int64_t istr[SG_MAX_DIMS], xstr[SG_MAX_DIMS], sstr[SG_MAX_DIMS];
    int64_t lines, len; /* lines and their length (index size along dim) */
} gplan;

static void plan_make(gplan *p, int dim, const int64_t *ishape, const sg_tensor *x, const sg_tensor *s) {
    p->nd = x->ndim;
    p->dim = dim;
    memcpy(p->ishape, ishape, (size_t)p->nd * sizeof *ishape);
    sg__contiguous_strides(p->nd, ishape, p->istr);
    sg__contiguous_strides(p->nd, x->shape, p->xstr);
    sg__contiguous_strides(p->nd, s->shape, p->sstr);
    p->len = p->nd ? ishape[dim] : 1;
    p->lines = 1;
    for (int d = 0; d < p->nd; d++)
        if (d != dim) p->lines *= ishape[d];
}

/* First element of line l in the index, x and s. */
static inline void line_offsets(const gplan *p, int64_t l, int64_t *oi, int64_t *ox, int64_t *os) {
    int64_t i = 0, x = 0, s = 0;
    for (int d = p->nd - 1; d >= 0; d--) {
        if (d == p->dim) continue;
        int64_t c = l % p->ishape[d];
        l /= p->ishape[d];
        i += c * p->istr[d];
        x += c * p->xstr[d];
        s += c * p->sstr[d];
    }
    *oi = i;
    *ox = x;
    *os = s;
}

/* gather: dst (index shape) [.., j, ..] = x [.., idx[.., j, ..], ..]; or scatter (add): x [.., idx, ..]
 * += dst [.., j, ..]. dst is laid out by sstr. T is the element type. */
#define GATHER_LOOP(T, SCATTER)                                                                    \
    do {                                                                                           \
        T *xb = (T *)sg__ptr(xt);                                                                  \
        T *sb = (T *)sg__ptr(st);                                                                  \
        int64_t dx = p->nd ? p->xstr[p->dim] : 0, ds = p->nd ? p->sstr[p->dim] : 0;                \
        int64_t di = p->nd ? p->istr[p->dim] : 0;                                                  \
        SG_PAR_FOR(p->lines > 1 && p->lines * p->len >= SG_PAR_MIN,                                \
        for (int64_t l = 0; l < p->lines; l++) {                                                   \
            int64_t oi, ox, os;                                                                    \
            line_offsets(p, l, &oi, &ox, &os);                                                     \
            for (int64_t j = 0; j < p->len; j++) {                                                 \
                int64_t xi = ox + idx[oi + j * di] * dx, si = os + j * ds;                         \
                if (SCATTER) xb[xi] += sb[si];                                                     \
                else sb[si] = xb[xi];                                                              \
            }                                                                                      \
        })                                                                                         \
    } while (0)

/* xt, st contiguous. scatter: xt += scattered st; else st = gathered xt. */
static void gather_kernel(const gplan *p, const int64_t *idx, sg_tensor *xt, sg_tensor *st, bool scatter) {
    if (xt->dtype == SG_F32) {
        if (scatter) GATHER_LOOP(float, true);
        else GATHER_LOOP(float, false);
    } else {
        if (scatter) GATHER_LOOP(double, true);
        else GATHER_LOOP(double, false);
    }
}

/* Saved with the node: the plan and a copy of the index (one malloc). */
typedef struct {
    gplan p;
    int64_t idx[];
} gctx;

static gctx *ctx_new(const gplan *p, const int64_t *idx, int64_t n) {
    gctx *c = malloc(sizeof *c + (size_t)(n > 0 ? n : 1) * sizeof *idx);
    if (!c) return NULL;
    c->p = *p;
    if (n > 0) memcpy(c->idx, idx, (size_t)n * sizeof *idx);
    return c;
}

/* Checks shared by both ops; on success fills the plan and *n (index numel). */
static bool check_index(const char *name, const sg_tensor *x, int dim, const int64_t *ishape, const int64_t *idx,
                        const sg_tensor *src, gplan *p, int64_t *n) {
    char sx[SG_SHAPE_BUF], si[SG_SHAPE_BUF], ss[SG_SHAPE_BUF];
    int d = x->ndim == 0 && (dim == 0 || dim == -1) ? 0 : sg__norm_dim(name, dim, x->ndim);
    if (d < 0) return false;
    if (x->ndim > 0 && !ishape) {
        sg_set_error(SG_ERR_NULL, "%s: argument 'index_shape' is NULL", name);
        return false;
    }
    int64_t cnt = 1;
    for (int i = 0; i < x->ndim; i++) {
        bool ok = ishape[i] >= 0 && (i == d || ishape[i] <= x->shape[i]) && (!src || ishape[i] <= src->shape[i]);
        if (!ok) {
            sg_set_error(SG_ERR_SHAPE,
                         "%s: index shape %s must have sizes >= 0, <= x %s off dim %d%s%s (dim %d of the index)",
                         name, sg__shape_str(x->ndim, ishape, si, sizeof si),
                         sg__shape_str(x->ndim, x->shape, sx, sizeof sx), d, src ? " and <= src " : "",
                         src ? sg__shape_str(src->ndim, src->shape, ss, sizeof ss) : "", i);
            return false;
        }
        cnt *= ishape[i];
    }
    if (cnt > 0 && !idx) {
        sg_set_error(SG_ERR_NULL, "%s: argument 'index' is NULL", name);
        return false;
    }
    int64_t S = x->ndim ? x->shape[d] : 1;
    for (int64_t j = 0; j < cnt; j++)
        if (idx[j] < 0 || idx[j] >= S) {
            sg_set_error(SG_ERR_ARG, "%s: index[%lld] = %lld out of range [0, %lld) for dim %d of x %s", name,
                         (long long)j, (long long)idx[j], (long long)S, d,
                         sg__shape_str(x->ndim, x->shape, sx, sizeof sx));
            return false;
        }
    int64_t zero[SG_MAX_DIMS] = {0};
    plan_make(p, d, x->ndim ? ishape : zero, x, src ? src : x);
    *n = cnt;
    return true;
}

/* ---- gather: out (index shape) = x along dim at index; d x = scatter-add of gout ---- */

static int gather_bw(sg_node *n, const sg_tensor *gout) {
    if (!sg__wants_grad(n, 0)) return SG_OK;
    const gctx *c = n->ctx;
    sg_tensor *x = n->in[0];
    sg_tensor *gx = sg__alloc(x->dtype, x->ndim, x->shape, true), *gc = sg__contig(gout);
    if (gx && gc) gather_kernel(&c->p, c->idx, gx, gc, true);
    if (gc) sg__unref(gc);
    if (!gc && gx) {
        sg__unref(gx);
        gx = NULL;
    }
    return gx ? sg__grad_accum(x, gx) : SG_ERR_MEM;
}

/* x (..., S, ...), index (index_shape: x's ndim, sizes <= x's off dim) -> (index_shape) */
sg_tensor *sg_gather(sg_tensor *x, int dim, const int64_t *index_shape, const int64_t *index) {
    const char *name = "sg_gather";
    if (!sg__check_arg(x, name, "x")) return NULL;
    gplan p;
    int64_t cnt;
    if (!check_index(name, x, dim, index_shape, index, NULL, &p, &cnt)) return NULL;
    sg_tensor *xc = sg__contig(x);
    sg_tensor *out = xc ? sg__out(x->dtype, x->ndim, p.ishape, false) : NULL;
    if (out) {
        sg__contiguous_strides(p.nd, p.ishape, p.sstr); /* out is laid out like the index */
        gather_kernel(&p, index, xc, out, false);
    }
    if (xc) sg__unref(xc);
    if (!out) return NULL;
    int err;
    sg_node *n = sg__record(out, name, gather_bw, 1, &x, &err);
    if (n) n->reads = 0; /* backward needs only the index and x's shape */
    if (n && !(n->ctx = ctx_new(&p, index, cnt))) {
        sg_set_error(SG_ERR_MEM, "%s: out of memory recording the graph", name);
        return NULL;
    }
    return err ? NULL : out;
}

/* ---- scatter-add: out = x, then out[.., index, ..] += src[.., j, ..]; d x = gout,
 * d src = gather of gout (at the index positions; src elements outside the index shape get 0) ---- */

static int scatter_add_bw(sg_node *n, const sg_tensor *gout) {
    const gctx *c = n->ctx;
    sg_tensor *x = n->in[0], *src = n->in[1];
    int rc = SG_OK;
    if (sg__wants_grad(n, 0)) {
        sg__ref((sg_tensor *)gout);
        rc = sg__grad_accum(x, (sg_tensor *)gout);
    }
    if (!rc && sg__wants_grad(n, 1)) {
        sg_tensor *gs = sg__alloc(src->dtype, src->ndim, src->shape, true), *gc = sg__contig(gout);
        if (gs && gc) gather_kernel(&c->p, c->idx, gc, gs, false);
        if (gc) sg__unref(gc);
        if (!gc && gs) {
            sg__unref(gs);
            gs = NULL;
        }
        rc = gs ? sg__grad_accum(src, gs) : SG_ERR_MEM;
    }
    return rc;
}

/* x (..., S, ...), index (index_shape), src (sizes >= index_shape) -> x's shape */
sg_tensor *sg_scatter_add(sg_tensor *x, int dim, const int64_t *index_shape, const int64_t *index, sg_tensor *src) {
    const char *name = "sg_scatter_add";
    if (!sg__check_arg(x, name, "x") || !sg__check_arg(src, name, "src") || !sg__same_dtype(name, x, src))
        return NULL;
    if (src->ndim != x->ndim) {
        char sx[SG_SHAPE_BUF], ss[SG_SHAPE_BUF];
        sg_set_error(SG_ERR_SHAPE, "%s: src %s must have x's number of dims (x %s)", name,
                     sg__shape_str(src->ndim, src->shape, ss, sizeof ss), sg__shape_str(x->ndim, x->shape, sx, sizeof sx));
        return NULL;
    }
    gplan p;
    int64_t cnt;
    if (!check_index(name, x, dim, index_shape, index, src, &p, &cnt)) return NULL;
    sg_tensor *sc = sg__contig(src);
    sg_tensor *out = sc ? sg__out(x->dtype, x->ndim, x->shape, false) : NULL;
    if (out) {
        sg__kcopy(out, x);
        gather_kernel(&p, index, out, sc, true);
    }
    if (sc) sg__unref(sc);
    if (!out) return NULL;
    int err;
    sg_tensor *in[2] = {x, src};
    sg_node *n = sg__record(out, name, scatter_add_bw, 2, in, &err);
    if (n) n->reads = 0; /* backward needs only the index and the shapes */
    if (n && !(n->ctx = ctx_new(&p, index, cnt))) {
        sg_set_error(SG_ERR_MEM, "%s: out of memory recording the graph", name);
        return NULL;
    }
    return err ? NULL : out;
}
