/* Reductions (sum, mean, max over listed dims or the whole tensor) and the softmax family, each
 * forward next to its backward. Deterministic: every output is accumulated sequentially in a fixed
 * order (float32 in double); whole-tensor sums use fixed blocks (reduce_kernels.h).
 * Also min and argmax/argmin. Not here: prod/norms, top-k and cumsum (ops/order.c), losses (ops/loss.c). */
#include <math.h>
#include <stdlib.h>

#include "../autograd/node.h"
#include "ops.h"
#include "reduce_kernels.h"

/* ---- reduction plans ----
 * The dims of a tensor split into kept (k*) and reduced (r*) ones, in their original order.
 * *stride are a's strides (element offsets in its storage); *cstride are the strides of a
 * contiguous tensor of a's shape (the flat row-major index), used for gradients and outputs. */
typedef struct {
    int nk, nr;
    int64_t kshape[SG_MAX_DIMS], kstride[SG_MAX_DIMS], kcstride[SG_MAX_DIMS];
    int64_t rshape[SG_MAX_DIMS], rstride[SG_MAX_DIMS], rcstride[SG_MAX_DIMS];
    int64_t nout, nred; /* products of the kept / reduced sizes */
} rplan;

/* red[d]: dim d is reduced. Always leaves nr >= 1 (a size-1 stand-in when nothing is reduced),
 * so kernels can treat rshape[nr-1] as their inner loop. */
static void plan_init(rplan *p, const sg_tensor *a, const bool *red) {
    int64_t cs[SG_MAX_DIMS];
    sg__contiguous_strides(a->ndim, a->shape, cs);
    p->nk = p->nr = 0;
    p->nout = p->nred = 1;
    for (int d = 0; d < a->ndim; d++) {
        if (red[d]) {
            p->rshape[p->nr] = a->shape[d];
            p->rstride[p->nr] = a->stride[d];
            p->rcstride[p->nr++] = cs[d];
            p->nred *= a->shape[d];
        } else {
            p->kshape[p->nk] = a->shape[d];
            p->kstride[p->nk] = a->stride[d];
            p->kcstride[p->nk++] = cs[d];
            p->nout *= a->shape[d];
        }
    }
    if (p->nr == 0) {
        p->rshape[0] = 1;
        p->rstride[0] = p->rcstride[0] = 0;
        p->nr = 1;
    }
}

/* Storage offset and flat index of the first element of output o (row-major over kept dims). */
static inline void plan_kept(const rplan *p, int64_t o, int64_t *off, int64_t *flat) {
    int64_t s = 0, f = 0;
    for (int d = p->nk - 1; d >= 0; d--) {
        int64_t i = o % p->kshape[d];
        o /= p->kshape[d];
        s += i * p->kstride[d];
        f += i * p->kcstride[d];
    }
    *off = s;
    *flat = f;
}

/* Row-major odometer over the reduced dims [0, nd) of a plan. */
typedef struct {
    int64_t idx[SG_MAX_DIMS];
    int64_t off, flat;
} walk;

static inline void walk_step(const rplan *p, walk *w, int nd) {
    for (int d = nd - 1; d >= 0; d--) {
        w->off += p->rstride[d];
        w->flat += p->rcstride[d];
        if (++w->idx[d] < p->rshape[d]) return;
        w->off -= p->rstride[d] * p->rshape[d];
        w->flat -= p->rcstride[d] * p->rshape[d];
        w->idx[d] = 0;
    }
}

/* Position the walk at reduced-element r (row-major over all reduced dims), from base offsets. */
static inline void walk_seek(const rplan *p, walk *w, int64_t r) {
    for (int d = p->nr - 1; d >= 0; d--) {
        w->idx[d] = r % p->rshape[d];
        r /= p->rshape[d];
        w->off += w->idx[d] * p->rstride[d];
        w->flat += w->idx[d] * p->rcstride[d];
    }
}

static void set_d(sg_tensor *t, int64_t i, double v) {
    if (t->dtype == SG_F32) ((float *)sg__ptr(t))[i] = (float)v;
    else ((double *)sg__ptr(t))[i] = v;
}

/* ---- deterministic whole-tensor sums (reduce_kernels.h) ---- */

#define BLOCK_LOOP(T)                                                                              \
    do {                                                                                           \
        const T *x = (const T *)sg__ptr(t);                                                        \
        if (contig) {                                                                              \
            for (int64_t i = 0; i < cnt; i++) acc += (double)x[start + i];                         \
        } else {                                                                                   \
            walk w = {{0}, 0, 0};                                                                  \
            walk_seek(p, &w, start);                                                               \
            for (int64_t i = 0; i < cnt; i++) {                                                    \
                acc += (double)x[w.off];                                                           \
                walk_step(p, &w, p->nr);                                                           \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* Sequential sum of block b of t (p: plan with every dim reduced). */
static double block_sum(const sg_tensor *t, const rplan *p, bool contig, int64_t b, int64_t n) {
    int64_t start = b * SG_SUM_BLOCK, cnt = n - start < SG_SUM_BLOCK ? n - start : SG_SUM_BLOCK;
    double acc = 0;
    if (t->dtype == SG_F32) BLOCK_LOOP(float);
    else BLOCK_LOOP(double);
    return acc;
}

double sg__sum_blocks(const sg_tensor *t) {
    int64_t n = sg__numel(t);
    if (n == 0) return 0.0;
    bool all[SG_MAX_DIMS];
    for (int d = 0; d < SG_MAX_DIMS; d++) all[d] = true;
    rplan p;
    plan_init(&p, t, all);
    bool contig = sg__is_contiguous(t);
    int64_t nb = (n + SG_SUM_BLOCK - 1) / SG_SUM_BLOCK;
    double *part = nb > 1 ? malloc((size_t)nb * sizeof *part) : NULL;
    double s = 0;
    if (!part) { /* one block, or no memory: the same partials in the same order */
        for (int64_t b = 0; b < nb; b++) s += block_sum(t, &p, contig, b, n);
        return s;
    }
    SG_PAR_FOR(n >= SG_PAR_MIN,
    for (int64_t b = 0; b < nb; b++) part[b] = block_sum(t, &p, contig, b, n);)
    for (int64_t b = 0; b < nb; b++) s += part[b];
    free(part);
    return s;
}

static double block_sum_f64(const double *x, int64_t b, int64_t n) {
    int64_t start = b * SG_SUM_BLOCK, end = n - start < SG_SUM_BLOCK ? n : start + SG_SUM_BLOCK;
    double acc = 0;
    for (int64_t i = start; i < end; i++) acc += x[i];
    return acc;
}

double sg__sum_blocks_f64(const double *x, int64_t n) {
    int64_t nb = (n + SG_SUM_BLOCK - 1) / SG_SUM_BLOCK;
    double *part = nb > 1 ? malloc((size_t)nb * sizeof *part) : NULL;
    double s = 0;
    if (!part) {
        for (int64_t b = 0; b < nb; b++) s += block_sum_f64(x, b, n);
        return s;
    }
    SG_PAR_FOR(n >= SG_PAR_MIN,
    for (int64_t b = 0; b < nb; b++) part[b] = block_sum_f64(x, b, n);)
    for (int64_t b = 0; b < nb; b++) s += part[b];
    free(part);
    return s;
}

/* ---- argument helpers ---- */

/* dims (n of them, negative allowed) -> red[]; n == 0 means every dim. */
static bool parse_dims(const char *op, const sg_tensor *a, int n, const int *dims, bool *red) {
    char buf[SG_SHAPE_BUF];
    if (n < 0) {
        sg_set_error(SG_ERR_ARG, "%s: n = %d dims (must be >= 0; 0 means all)", op, n);
        return false;
    }
    if (n > 0 && !dims) {
        sg_set_error(SG_ERR_NULL, "%s: argument 'dims' is NULL with n = %d", op, n);
        return false;
    }
    for (int d = 0; d < SG_MAX_DIMS; d++) red[d] = n == 0;
    for (int i = 0; i < n; i++) {
        int d = sg__norm_dim(op, dims[i], a->ndim);
        if (d < 0) return false;
        if (red[d]) {
            sg_set_error(SG_ERR_ARG, "%s: dims[%d] = %d repeats dim %d of a %s", op, i, dims[i], d,
                         sg__shape_str(a->ndim, a->shape, buf, sizeof buf));
            return false;
        }
        red[d] = true;
    }
    return true;
}

/* Output shape of a reduction; returns its ndim. */
static int out_shape(const sg_tensor *a, const bool *red, bool keepdim, int64_t *shp) {
    int nd = 0;
    for (int d = 0; d < a->ndim; d++) {
        if (!red[d]) shp[nd++] = a->shape[d];
        else if (keepdim) shp[nd++] = 1;
    }
    return nd;
}

static unsigned red_mask(const bool *red, int ndim) {
    unsigned m = 0;
    for (int d = 0; d < ndim; d++)
        if (red[d]) m |= 1u << d;
    return m;
}

/* ---- sum / mean ---- */

#define SUM_LOOP(T)                                                                                \
    do {                                                                                           \
        const T *x = (const T *)sg__ptr(a);                                                        \
        T *y = (T *)sg__ptr(out);                                                                  \
        int64_t inner = p.rshape[p.nr - 1], is = p.rstride[p.nr - 1];                              \
        int64_t rows = p.nred ? p.nred / inner : 0;                                                \
        SG_PAR_FOR(p.nout > 1 && p.nout * p.nred >= SG_PAR_MIN,                                    \
        for (int64_t o = 0; o < p.nout; o++) {                                                     \
            walk w = {{0}, 0, 0};                                                                  \
            plan_kept(&p, o, &w.off, &w.flat);                                                     \
            double acc = 0;                                                                        \
            for (int64_t r = 0; r < rows; r++) {                                                   \
                const T *px = x + w.off;                                                           \
                if (is == 1)                                                                       \
                    for (int64_t j = 0; j < inner; j++) acc += (double)px[j];                      \
                else                                                                               \
                    for (int64_t j = 0; j < inner; j++) acc += (double)px[j * is];                 \
                walk_step(&p, &w, p.nr - 1);                                                       \
            }                                                                                      \
            y[o] = (T)(mean ? (p.nred ? acc / (double)p.nred : NAN) : acc);                        \
        })                                                                                         \
    } while (0)

#define DIV_LOOP(T)                                                                                \
    do {                                                                                           \
        T *q = (T *)sg__ptr(g);                                                                    \
        SG_PAR_FOR(m >= SG_PAR_MIN,                                                                \
        for (int64_t i = 0; i < m; i++) q[i] = (T)((double)q[i] / (double)nred);)                  \
    } while (0)

/* d(sum)/da: gout broadcast back over the reduced dims (divided by their count for mean). */
static int sum_bw(sg_node *n, const sg_tensor *gout) {
    if (!sg__wants_grad(n, 0)) return SG_OK;
    sg_tensor *a = n->in[0];
    unsigned mask = (unsigned)n->iarg[0];
    bool mean = n->iarg[1] != 0;
    int64_t kshape[SG_MAX_DIMS], kstride[SG_MAX_DIMS], nred = 1;
    for (int d = 0; d < a->ndim; d++) {
        bool r = (mask >> d) & 1u;
        kshape[d] = r ? 1 : a->shape[d];
        if (r) nred *= a->shape[d];
    }
    sg__contiguous_strides(a->ndim, kshape, kstride);
    sg_tensor *gv = sg__view(gout, a->ndim, kshape, kstride, gout->offset); /* gout with keepdim */
    sg_tensor *g = gv ? sg__alloc(a->dtype, a->ndim, a->shape, false) : NULL;
    if (!g) {
        if (gv) sg__unref(gv);
        return SG_ERR_MEM;
    }
    sg__kcopy(g, gv);
    sg__unref(gv);
    int64_t m = sg__numel(g);
    if (mean && m > 0) {
        if (g->dtype == SG_F32) DIV_LOOP(float);
        else DIV_LOOP(double);
    }
    return sg__grad_accum(a, g);
}

static sg_tensor *sum_common(const char *name, sg_tensor *a, int n, const int *dims, bool keepdim, bool mean) {
    if (!sg__check_arg(a, name, "a")) return NULL;
    bool red[SG_MAX_DIMS];
    if (!parse_dims(name, a, n, dims, red)) return NULL;
    rplan p;
    plan_init(&p, a, red);
    int64_t shp[SG_MAX_DIMS];
    int nd = out_shape(a, red, keepdim, shp);
    sg_tensor *out = sg__out(a->dtype, nd, shp, false);
    if (!out) return NULL;
    if (p.nk == 0) { /* whole tensor: fixed blocks */
        double s = sg__sum_blocks(a);
        set_d(out, 0, mean ? (p.nred ? s / (double)p.nred : NAN) : s);
    } else if (a->dtype == SG_F32) {
        SUM_LOOP(float);
    } else {
        SUM_LOOP(double);
    }
    int err;
    sg_node *node = sg__record(out, name, sum_bw, 1, &a, &err);
    if (node) {
        node->iarg[0] = red_mask(red, a->ndim);
        node->iarg[1] = mean;
    }
    return err ? NULL : out;
}

/* a (...) -> a's shape without the listed dims (size 1 with keepdim) */
sg_tensor *sg_sum(sg_tensor *a, int n, const int *dims, bool keepdim) {
    return sum_common("sg_sum", a, n, dims, keepdim, false);
}
/* a (...) -> as sg_sum; the mean of an empty reduction is NaN */
sg_tensor *sg_mean(sg_tensor *a, int n, const int *dims, bool keepdim) {
    return sum_common("sg_mean", a, n, dims, keepdim, true);
}
/* a (...) -> () */
sg_tensor *sg_sum_all(sg_tensor *a) { return sum_common("sg_sum_all", a, 0, NULL, false, false); }
/* a (...) -> () */
sg_tensor *sg_mean_all(sg_tensor *a) { return sum_common("sg_mean_all", a, 0, NULL, false, true); }

/* ---- max / min, and their indices ----
 * The first extreme element (row-major over the reduced dims) wins and gets the gradient. NaN is
 * more extreme than any number (largest for max, smallest for min): a NaN in the slice makes the
 * result NaN and the first NaN wins (PyTorch's propagation). */

/* lower: min, else max. arg (may be NULL) receives each output's flat input index. */
#define MAX_LOOP(T)                                                                                \
    do {                                                                                           \
        const T *x = (const T *)sg__ptr(a);                                                        \
        T *y = (T *)sg__ptr(out);                                                                  \
        int64_t inner = p.rshape[p.nr - 1], is = p.rstride[p.nr - 1], ics = p.rcstride[p.nr - 1]; \
        int64_t rows = p.nred / inner;                                                             \
        SG_PAR_FOR(p.nout > 1 && p.nout * p.nred >= SG_PAR_MIN,                                    \
        for (int64_t o = 0; o < p.nout; o++) {                                                     \
            walk w = {{0}, 0, 0};                                                                  \
            plan_kept(&p, o, &w.off, &w.flat);                                                     \
            T best = x[w.off];                                                                     \
            int64_t bi = w.flat;                                                                   \
            for (int64_t r = 0; r < rows; r++) {                                                   \
                const T *px = x + w.off;                                                           \
                for (int64_t j = 0; j < inner; j++) {                                              \
                    T v = px[j * is];                                                              \
                    if ((lower ? v < best : v > best) || (isnan(v) && !isnan(best))) {             \
                        best = v;                                                                  \
                        bi = w.flat + j * ics;                                                     \
                    }                                                                              \
                }                                                                                  \
                walk_step(&p, &w, p.nr - 1);                                                       \
            }                                                                                      \
            y[o] = best;                                                                           \
            if (arg) arg[o] = bi;                                                                  \
        })                                                                                         \
    } while (0)

/* The same over dim 0 alone of a contiguous a (max over time of (T, B, H)): row by row, in blocks
 * of outputs, so the reads are sequential. Each output still sees its elements in the order
 * MAX_LOOP does, so the result and its index are the same. */
enum { MAX_DIM0_BLOCK = 1024 };
#define MAX_DIM0_LOOP(T)                                                                           \
    do {                                                                                           \
        const T *x = (const T *)sg__ptr(a);                                                        \
        T *y = (T *)sg__ptr(out);                                                                  \
        int64_t R = a->shape[0], M = p.nout, nblk = (M + MAX_DIM0_BLOCK - 1) / MAX_DIM0_BLOCK;     \
        SG_PAR_FOR(nblk > 1 && M * R >= SG_PAR_MIN,                                                \
        for (int64_t k = 0; k < nblk; k++) {                                                       \
            int64_t o0 = k * MAX_DIM0_BLOCK, o1 = o0 + MAX_DIM0_BLOCK < M ? o0 + MAX_DIM0_BLOCK : M; \
            for (int64_t o = o0; o < o1; o++) {                                                    \
                y[o] = x[o];                                                                       \
                if (arg) arg[o] = o;                                                               \
            }                                                                                      \
            for (int64_t r = 1; r < R; r++) {                                                      \
                const T *xr = x + r * M;                                                           \
                for (int64_t o = o0; o < o1; o++) {                                                \
                    T v = xr[o], best = y[o];                                                      \
                    if ((lower ? v < best : v > best) || (isnan(v) && !isnan(best))) {             \
                        y[o] = v;                                                                  \
                        if (arg) arg[o] = r * M + o;                                               \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        })                                                                                         \
    } while (0)

#define MAX_BW_LOOP(T)                                                                             \
    do {                                                                                           \
        T *q = (T *)sg__ptr(g);                                                                    \
        const T *go = (const T *)sg__ptr(gout);                                                    \
        SG_PAR_FOR(nout >= SG_PAR_MIN,                                                             \
        for (int64_t o = 0; o < nout; o++) q[arg[o]] += go[o];)                                    \
    } while (0)

/* ctx: the flat input index of each output's extreme element (distinct per output). */
static int max_bw(sg_node *n, const sg_tensor *gout) {
    if (!sg__wants_grad(n, 0)) return SG_OK;
    sg_tensor *a = n->in[0];
    const int64_t *arg = n->ctx;
    int64_t nout = sg__numel(gout);
    sg_tensor *g = sg__alloc(a->dtype, a->ndim, a->shape, true);
    if (!g) return SG_ERR_MEM;
    if (g->dtype == SG_F32) MAX_BW_LOOP(float);
    else MAX_BW_LOOP(double);
    return sg__grad_accum(a, g);
}

/* The extremes of a over the reduced dims into out (a fresh contiguous tensor of the reduced
 * shape), their flat input indices into arg (may be NULL). False with an error for an empty
 * reduction. */
static bool extremes(const char *name, const sg_tensor *a, const bool *red, bool lower, sg_tensor *out,
                     int64_t *arg) {
    rplan p;
    plan_init(&p, a, red);
    if (p.nred == 0) {
        char buf[SG_SHAPE_BUF];
        sg_set_error(SG_ERR_SHAPE, "%s: the reduced dims of a %s are empty (the %s of nothing is undefined)",
                     name, sg__shape_str(a->ndim, a->shape, buf, sizeof buf), lower ? "min" : "max");
        return false;
    }
    if (!out) return true; /* only the check */
    bool dim0 = a->ndim >= 2 && red[0] && sg__is_contiguous(a);
    for (int d = 1; dim0 && d < a->ndim; d++) dim0 = !red[d];
    if (dim0 && a->dtype == SG_F32) MAX_DIM0_LOOP(float);
    else if (dim0) MAX_DIM0_LOOP(double);
    else if (a->dtype == SG_F32) MAX_LOOP(float);
    else MAX_LOOP(double);
    return true;
}

static sg_tensor *max_common(const char *name, sg_tensor *a, const bool *red, bool keepdim, bool lower) {
    int64_t shp[SG_MAX_DIMS];
    int nd = out_shape(a, red, keepdim, shp);
    int64_t nout = 1;
    for (int i = 0; i < nd; i++) nout *= shp[i];
    if (!extremes(name, a, red, lower, NULL, NULL)) return NULL; /* empty: before allocating */
    int64_t *arg = NULL;
    if (sg__needs_grad(1, &a)) {
        arg = malloc((size_t)(nout > 0 ? nout : 1) * sizeof *arg);
        if (!arg) {
            sg_set_error(SG_ERR_MEM, "%s: out of memory", name);
            return NULL;
        }
    }
    sg_tensor *out = sg__out(a->dtype, nd, shp, false);
    if (!out || !extremes(name, a, red, lower, out, arg)) {
        free(arg);
        return NULL;
    }
    int err;
    sg_node *n = sg__record(out, name, max_bw, 1, &a, &err);
    if (n) n->reads = 0; /* backward needs only the saved positions */
    if (n) n->ctx = arg;
    else free(arg);
    return err ? NULL : out;
}

static sg_tensor *max_dim(const char *name, sg_tensor *a, int dim, bool keepdim, bool lower) {
    if (!sg__check_arg(a, name, "a")) return NULL;
    int d = sg__norm_dim(name, dim, a->ndim);
    if (d < 0) return NULL;
    bool red[SG_MAX_DIMS] = {false};
    red[d] = true;
    return max_common(name, a, red, keepdim, lower);
}

static sg_tensor *max_all(const char *name, sg_tensor *a, bool lower) {
    if (!sg__check_arg(a, name, "a")) return NULL;
    bool red[SG_MAX_DIMS];
    for (int d = 0; d < SG_MAX_DIMS; d++) red[d] = true;
    return max_common(name, a, red, false, lower);
}

/* a (...) -> a's shape without dim (size 1 with keepdim); dim must not be empty */
sg_tensor *sg_max(sg_tensor *a, int dim, bool keepdim) { return max_dim("sg_max", a, dim, keepdim, false); }
/* a (...) -> as sg_max */
sg_tensor *sg_min(sg_tensor *a, int dim, bool keepdim) { return max_dim("sg_min", a, dim, keepdim, true); }
/* a (...) -> (), a must not be empty */
sg_tensor *sg_max_all(sg_tensor *a) { return max_all("sg_max_all", a, false); }
/* a (...) -> (), a must not be empty */
sg_tensor *sg_min_all(sg_tensor *a) { return max_all("sg_min_all", a, true); }

/* a (..., S, ...) -> indices in [0, S) along dim, one per slice, row-major over a's shape without
 * dim, written to idx[0 .. count). No graph. */
static int64_t arg_dim(const char *name, const sg_tensor *a, int dim, bool lower, int64_t *idx, int64_t cap) {
    if (!sg__check_arg(a, name, "a")) return sg_last_status();
    int d = sg__norm_dim(name, dim, a->ndim);
    if (d < 0) return sg_last_status();
    bool red[SG_MAX_DIMS] = {false};
    red[d] = true;
    int64_t shp[SG_MAX_DIMS], count = 1, cs[SG_MAX_DIMS];
    int nd = out_shape(a, red, false, shp);
    for (int i = 0; i < nd; i++) count *= shp[i];
    if (count > 0 && !idx) return sg_set_error(SG_ERR_NULL, "%s: argument 'idx' is NULL", name);
    if (cap < count) {
        char buf[SG_SHAPE_BUF];
        return sg_set_error(SG_ERR_ARG, "%s: idx has room for %lld indices (cap), a %s along dim %d needs %lld",
                            name, (long long)cap, sg__shape_str(a->ndim, a->shape, buf, sizeof buf), dim,
                            (long long)count);
    }
    sg_tensor *vals = sg__alloc(a->dtype, nd, shp, false);
    if (!vals) return sg_set_error(SG_ERR_MEM, "%s: out of memory", name);
    bool ok = extremes(name, a, red, lower, vals, idx);
    sg__unref(vals);
    if (!ok) return sg_last_status();
    sg__contiguous_strides(a->ndim, a->shape, cs);
    for (int64_t o = 0; o < count; o++) idx[o] = idx[o] / cs[d] % a->shape[d]; /* flat -> along dim */
    return count;
}

/* a (..., S, ...) -> count indices into idx */
int64_t sg_argmax(const sg_tensor *a, int dim, int64_t *idx, int64_t cap) {
    return arg_dim("sg_argmax", a, dim, false, idx, cap);
}
/* a (..., S, ...) -> count indices into idx */
int64_t sg_argmin(const sg_tensor *a, int dim, int64_t *idx, int64_t cap) {
    return arg_dim("sg_argmin", a, dim, true, idx, cap);
}

/* ---- variance / standard deviation ----
 * Per output o over its reduced elements (count N): m = mean, var = sum (x - m)^2 / (N - ddof),
 * ddof = 1 when unbiased; std = sqrt(var). With N - ddof <= 0 the result is NaN (as PyTorch).
 * d var / dx = 2 (x - m) / (N - ddof); d std / dx = (x - m) / ((N - ddof) std), 0 where std == 0
 * (as PyTorch). One fused op: mean per output saved in ctx. */

typedef struct {
    double scale; /* 1 / (N - ddof), or NaN */
    double mean[]; /* per output */
} var_ctx;

/* walks output o's reduced elements in row-major order; BODY sees xv (the value) and w.flat */
#define VAR_WALK(T, BODY)                                                                          \
    do {                                                                                           \
        walk w = {{0}, 0, 0};                                                                      \
        plan_kept(&p, o, &w.off, &w.flat);                                                         \
        for (int64_t r = 0; r < p.nred; r++) {                                                     \
            double xv = (double)x[w.off];                                                          \
            BODY;                                                                                  \
            walk_step(&p, &w, p.nr);                                                               \
        }                                                                                          \
    } while (0)

#define VAR_LOOP(T)                                                                                \
    do {                                                                                           \
        const T *x = (const T *)sg__ptr(a);                                                        \
        T *y = (T *)sg__ptr(out);                                                                  \
        SG_PAR_FOR(p.nout > 1 && p.nout * p.nred >= SG_PAR_MIN,                                    \
        for (int64_t o = 0; o < p.nout; o++) {                                                     \
            double s = 0, q = 0;                                                                   \
            VAR_WALK(T, s += xv);                                                                  \
            double m = p.nred ? s / (double)p.nred : NAN;                                          \
            VAR_WALK(T, q += (xv - m) * (xv - m));                                                 \
            c->mean[o] = m;                                                                        \
            y[o] = (T)(sd ? sqrt(q * c->scale) : q * c->scale);                                    \
        })                                                                                         \
    } while (0)

#define VAR_BW_LOOP(T)                                                                             \
    do {                                                                                           \
        const T *x = (const T *)sg__ptr(a), *y = (const T *)sg__ptr(n->out);                       \
        const T *go = (const T *)sg__ptr(gout);                                                    \
        T *q = (T *)sg__ptr(g);                                                                    \
        SG_PAR_FOR(p.nout > 1 && p.nout * p.nred >= SG_PAR_MIN,                                    \
        for (int64_t o = 0; o < p.nout; o++) {                                                     \
            double k = sd ? (y[o] == 0 ? 0 : (double)go[o] * c->scale / (double)y[o])              \
                          : 2 * (double)go[o] * c->scale;                                          \
            double m = c->mean[o];                                                                 \
            VAR_WALK(T, q[w.flat] = (T)(k * (xv - m)));                                            \
        })                                                                                         \
    } while (0)

static int var_bw(sg_node *n, const sg_tensor *gout) {
    if (!sg__wants_grad(n, 0)) return SG_OK;
    sg_tensor *a = n->in[0];
    const var_ctx *c = n->ctx;
    bool sd = n->iarg[1] != 0, red[SG_MAX_DIMS];
    for (int d = 0; d < SG_MAX_DIMS; d++) red[d] = d < a->ndim && ((n->iarg[0] >> d) & 1);
    rplan p;
    plan_init(&p, a, red);
    sg_tensor *g = sg__alloc(a->dtype, a->ndim, a->shape, false);
    if (!g) return SG_ERR_MEM;
    if (g->dtype == SG_F32) VAR_BW_LOOP(float);
    else VAR_BW_LOOP(double);
    return sg__grad_accum(a, g);
}

static sg_tensor *var_common(const char *name, sg_tensor *a, int n, const int *dims, bool unbiased,
                             bool keepdim, bool sd) {
    if (!sg__check_arg(a, name, "a")) return NULL;
    bool red[SG_MAX_DIMS];
    if (!parse_dims(name, a, n, dims, red)) return NULL;
    rplan p;
    plan_init(&p, a, red);
    int64_t shp[SG_MAX_DIMS];
    int nd = out_shape(a, red, keepdim, shp);
    var_ctx *c = malloc(sizeof *c + (size_t)(p.nout > 0 ? p.nout : 1) * sizeof(double));
    if (!c) {
        sg_set_error(SG_ERR_MEM, "%s: out of memory", name);
        return NULL;
    }
    double dof = (double)p.nred - (unbiased ? 1 : 0);
    c->scale = dof > 0 ? 1.0 / dof : NAN;
    sg_tensor *out = sg__out(a->dtype, nd, shp, false);
    if (!out) {
        free(c);
        return NULL;
    }
    if (a->dtype == SG_F32) VAR_LOOP(float);
    else VAR_LOOP(double);
    int err;
    sg_node *node = sg__record(out, name, var_bw, 1, &a, &err);
    if (node) {
        node->iarg[0] = red_mask(red, a->ndim);
        node->iarg[1] = sd;
        node->ctx = c;
    } else {
        free(c);
    }
    return err ? NULL : out;
}

/* a (...) -> a's shape without the listed dims (size 1 with keepdim) */
sg_tensor *sg_var(sg_tensor *a, int n, const int *dims, bool unbiased, bool keepdim) {
    return var_common("sg_var", a, n, dims, unbiased, keepdim, false);
}
/* a (...) -> as sg_var */
sg_tensor *sg_std(sg_tensor *a, int n, const int *dims, bool unbiased, bool keepdim) {
    return var_common("sg_std", a, n, dims, unbiased, keepdim, true);
}

/* ---- softmax / log_softmax ----
 * Per slice along dim, in double: m = max, s = sum exp(x - m); softmax = exp(x - m) / s,
 * log_softmax = x - m - log s. A NaN in a slice, or a slice that is all -inf, gives NaN there. */

#define SOFTMAX_LOOP(T)                                                                            \
    do {                                                                                           \
        const T *x = (const T *)sg__ptr(a);                                                        \
        T *y = (T *)sg__ptr(out);                                                                  \
        int64_t D = p.rshape[0], xs = p.rstride[0], ys = p.rcstride[0];                            \
        SG_PAR_FOR(p.nout > 1 && p.nout * D >= SG_PAR_MIN,                                         \
        for (int64_t o = 0; o < p.nout; o++) {                                                     \
            int64_t xo, yo;                                                                        \
            plan_kept(&p, o, &xo, &yo);                                                            \
            const T *px = x + xo;                                                                  \
            T *py = y + yo;                                                                        \
            double m = -INFINITY, s = 0;                                                           \
            for (int64_t j = 0; j < D; j++)                                                        \
                if ((double)px[j * xs] > m) m = (double)px[j * xs];                                \
            for (int64_t j = 0; j < D; j++) s += exp((double)px[j * xs] - m);                      \
            if (logsm) {                                                                           \
                double ls = log(s);                                                                \
                for (int64_t j = 0; j < D; j++) py[j * ys] = (T)(((double)px[j * xs] - m) - ls);   \
            } else {                                                                               \
                for (int64_t j = 0; j < D; j++) py[j * ys] = (T)(exp((double)px[j * xs] - m) / s); \
            }                                                                                      \
        })                                                                                         \
    } while (0)

/* softmax: dx = y * (g - sum(g*y)); log_softmax: dx = g - exp(y) * sum(g). y = n->out. */
#define SOFTMAX_BW_LOOP(T)                                                                         \
    do {                                                                                           \
        const T *y = (const T *)sg__ptr(n->out), *go = (const T *)sg__ptr(gout);                   \
        T *q = (T *)sg__ptr(g);                                                                    \
        int64_t D = p.rshape[0], s = p.rcstride[0];                                                \
        SG_PAR_FOR(p.nout > 1 && p.nout * D >= SG_PAR_MIN,                                         \
        for (int64_t o = 0; o < p.nout; o++) {                                                     \
            int64_t xo, f;                                                                         \
            plan_kept(&p, o, &xo, &f);                                                             \
            double acc = 0;                                                                        \
            if (logsm) {                                                                           \
                for (int64_t j = 0; j < D; j++) acc += (double)go[f + j * s];                      \
                for (int64_t j = 0; j < D; j++)                                                    \
                    q[f + j * s] = (T)((double)go[f + j * s] - exp((double)y[f + j * s]) * acc);   \
            } else {                                                                               \
                for (int64_t j = 0; j < D; j++) acc += (double)go[f + j * s] * (double)y[f + j * s]; \
                for (int64_t j = 0; j < D; j++)                                                    \
                    q[f + j * s] = (T)((double)y[f + j * s] * ((double)go[f + j * s] - acc));      \
            }                                                                                      \
        })                                                                                         \
    } while (0)

static int softmax_bw(sg_node *n, const sg_tensor *gout) {
    if (!sg__wants_grad(n, 0)) return SG_OK;
    sg_tensor *a = n->in[0];
    bool logsm = n->iarg[1] != 0;
    bool red[SG_MAX_DIMS] = {false};
    red[n->iarg[0]] = true;
    rplan p;
    plan_init(&p, a, red);
    sg_tensor *g = sg__alloc(a->dtype, a->ndim, a->shape, false);
    if (!g) return SG_ERR_MEM;
    if (g->dtype == SG_F32) SOFTMAX_BW_LOOP(float);
    else SOFTMAX_BW_LOOP(double);
    return sg__grad_accum(a, g);
}

static sg_tensor *softmax_common(const char *name, sg_tensor *a, int dim, bool logsm) {
    if (!sg__check_arg(a, name, "a")) return NULL;
    int d = sg__norm_dim(name, dim, a->ndim);
    if (d < 0) return NULL;
    bool red[SG_MAX_DIMS] = {false};
    red[d] = true;
    rplan p;
    plan_init(&p, a, red);
    sg_tensor *out = sg__out(a->dtype, a->ndim, a->shape, false);
    if (!out) return NULL;
    if (a->dtype == SG_F32) SOFTMAX_LOOP(float);
    else SOFTMAX_LOOP(double);
    int err;
    sg_node *n = sg__record(out, name, softmax_bw, 1, &a, &err);
    if (n) {
        n->iarg[0] = d;
        n->iarg[1] = logsm;
    }
    return err ? NULL : out;
}

/* a (...) -> same shape, each slice along dim non-negative and summing to 1 */
sg_tensor *sg_softmax(sg_tensor *a, int dim) { return softmax_common("sg_softmax", a, dim, false); }
/* a (...) -> same shape, log of softmax along dim (no exp/log round trip) */
sg_tensor *sg_log_softmax(sg_tensor *a, int dim) { return softmax_common("sg_log_softmax", a, dim, true); }
