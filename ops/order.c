/* Ops that depend on the order of elements along one dim: top-k (values and indices) and the
 * cumulative sum, each forward next to its backward.
 * Not here: max/min/argmax (ops/reduce.c), sorting a whole tensor, gradients to indices.
 * Shape letters: O outer (dims before dim), S size of dim, I inner (dims after), K kept by top-k. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/node.h"
#include "ops.h"

/* O, S, I of a around dim d */
static void split_dims(const sg_tensor *a, int d, int64_t *O, int64_t *S, int64_t *I) {
    *O = *I = 1;
    for (int i = 0; i < a->ndim; i++) {
        if (i < d) *O *= a->shape[i];
        if (i > d) *I *= a->shape[i];
    }
    *S = a->shape[d];
}

static double get_d(const sg_tensor *t, int64_t i) {
    return t->dtype == SG_F32 ? (double)((const float *)sg__ptr(t))[i] : ((const double *)sg__ptr(t))[i];
}
static void set_d(sg_tensor *t, int64_t i, double v) {
    if (t->dtype == SG_F32) ((float *)sg__ptr(t))[i] = (float)v;
    else ((double *)sg__ptr(t))[i] = v;
}

/* ---- top-k ----
 * Per slice along dim: the K largest (or smallest) elements, sorted (largest first, or smallest
 * first), ties broken by the lower index. NaN ranks above every number (as PyTorch's sort): first
 * with largest, last with smallest. The gradient of each value goes to the element it came from. */

typedef struct {
    double v;
    int64_t j;
} vpair;

static int by_desc(const void *pa, const void *pb) {
    const vpair *a = pa, *b = pb;
    bool na = isnan(a->v), nb = isnan(b->v);
    if (na != nb) return na ? -1 : 1;
    if (!na && a->v != b->v) return a->v > b->v ? -1 : 1;
    return (a->j > b->j) - (a->j < b->j);
}
static int by_asc(const void *pa, const void *pb) {
    const vpair *a = pa, *b = pb;
    bool na = isnan(a->v), nb = isnan(b->v);
    if (na != nb) return na ? 1 : -1;
    if (!na && a->v != b->v) return a->v < b->v ? -1 : 1;
    return (a->j > b->j) - (a->j < b->j);
}

/* ctx: for each output element, the flat index of its source in a (distinct outputs, distinct
 * sources). */
static int topk_bw(sg_node *n, const sg_tensor *gout) {
    if (!sg__wants_grad(n, 0)) return SG_OK;
    sg_tensor *a = n->in[0];
    const int64_t *src = n->ctx;
    int64_t m = sg__numel(gout);
    sg_tensor *g = sg__alloc(a->dtype, a->ndim, a->shape, true);
    if (!g) return SG_ERR_MEM;
    for (int64_t o = 0; o < m; o++) set_d(g, src[o], get_d(g, src[o]) + get_d(gout, o));
    return sg__grad_accum(a, g);
}

/* a (..., S, ...) -> values (..., K, ...); indices (same shape, row-major) into indices[0 .. cap) */
sg_tensor *sg_topk(sg_tensor *a, int64_t k, int dim, bool largest, int64_t *indices, int64_t cap) {
    const char *name = "sg_topk";
    if (!sg__check_arg(a, name, "a")) return NULL;
    int d = sg__norm_dim(name, dim, a->ndim);
    if (d < 0) return NULL;
    int64_t O, S, I;
    split_dims(a, d, &O, &S, &I);
    char sa[SG_SHAPE_BUF];
    if (k < 0 || k > S) {
        sg_set_error(SG_ERR_ARG, "%s: k = %lld is outside [0, %lld], the size of dim %d of %s", name, (long long)k,
                     (long long)S, dim, sg__shape_str(a->ndim, a->shape, sa, sizeof sa));
        return NULL;
    }
    int64_t shp[SG_MAX_DIMS], m = O * k * I;
    memcpy(shp, a->shape, sizeof shp);
    shp[d] = k;
    if (indices == NULL && cap != 0) {
        sg_set_error(SG_ERR_NULL, "%s: argument 'indices' is NULL with cap = %lld (pass cap 0 for no indices)",
                     name, (long long)cap);
        return NULL;
    }
    if (indices && cap < m) {
        sg_set_error(SG_ERR_ARG, "%s: indices has room for %lld (cap), the result %s needs %lld", name,
                     (long long)cap, sg__shape_str(a->ndim, shp, sa, sizeof sa), (long long)m);
        return NULL;
    }
    sg_tensor *ac = sg__contig(a);
    vpair *buf = malloc((size_t)(S > 0 ? S : 1) * sizeof *buf);
    int64_t *src = malloc((size_t)(m > 0 ? m : 1) * sizeof *src);
    sg_tensor *out = ac && buf && src ? sg__out(a->dtype, a->ndim, shp, false) : NULL;
    if (out) {
        for (int64_t o = 0; o < O; o++)
            for (int64_t i = 0; i < I; i++) {
                for (int64_t j = 0; j < S; j++) buf[j] = (vpair){get_d(ac, (o * S + j) * I + i), j};
                qsort(buf, (size_t)S, sizeof *buf, largest ? by_desc : by_asc);
                for (int64_t r = 0; r < k; r++) {
                    int64_t q = (o * k + r) * I + i;
                    set_d(out, q, buf[r].v);
                    src[q] = (o * S + buf[r].j) * I + i;
                    if (indices) indices[q] = buf[r].j;
                }
            }
    } else if (!sg_has_error()) {
        sg_set_error(SG_ERR_MEM, "%s: out of memory", name);
    }
    if (ac) sg__unref(ac);
    free(buf);
    if (!out) {
        free(src);
        return NULL;
    }
    int err;
    sg_node *n = sg__record(out, name, topk_bw, 1, &a, &err);
    if (n) n->reads = 0; /* backward needs only the source positions */
    if (n) n->ctx = src;
    else free(src);
    return err ? NULL : out;
}

/* ---- cumulative sum: y_j = sum_{i <= j} x_i along dim (in double, in index order); the gradient
 * is the reverse cumulative sum of gout: dx_i = sum_{j >= i} g_j. ---- */

/* dst (O,S,I) contiguous = running sums of src (O,S,I) contiguous along S, forward or reversed.
 * Each (o, i) line is one thread's sequential sum. */
#define CUMSUM_LOOP(T)                                                                             \
    do {                                                                                           \
        const T *x = (const T *)sg__ptr(src);                                                      \
        T *y = (T *)sg__ptr(dst);                                                                  \
        SG_PAR_FOR(O * I > 1 && O * S * I >= SG_PAR_MIN,                                           \
        for (int64_t l = 0; l < O * I; l++) {                                                      \
            int64_t o = l / I, i = l % I;                                                          \
            double acc = 0;                                                                        \
            for (int64_t t = 0; t < S; t++) {                                                      \
                int64_t j = reverse ? S - 1 - t : t, q = (o * S + j) * I + i;                      \
                acc += (double)x[q];                                                               \
                y[q] = (T)acc;                                                                     \
            }                                                                                      \
        })                                                                                         \
    } while (0)

static void cumsum_kernel(sg_tensor *dst, const sg_tensor *src, int64_t O, int64_t S, int64_t I, bool reverse) {
    if (dst->dtype == SG_F32) CUMSUM_LOOP(float);
    else CUMSUM_LOOP(double);
}

enum { CS_DIM = 0 }; /* iarg slot */

static int cumsum_bw(sg_node *n, const sg_tensor *gout) {
    if (!sg__wants_grad(n, 0)) return SG_OK;
    sg_tensor *a = n->in[0];
    int64_t O = 1, S = 1, I = 1;
    if (a->ndim > 0) split_dims(a, (int)n->iarg[CS_DIM], &O, &S, &I);
    sg_tensor *gc = sg__contig(gout);
    sg_tensor *g = gc ? sg__alloc(a->dtype, a->ndim, a->shape, false) : NULL;
    if (g) cumsum_kernel(g, gc, O, S, I, true);
    if (gc) sg__unref(gc);
    return g ? sg__grad_accum(a, g) : SG_ERR_MEM;
}

/* a (...) -> same shape, running sums along dim */
sg_tensor *sg_cumsum(sg_tensor *a, int dim) {
    const char *name = "sg_cumsum";
    if (!sg__check_arg(a, name, "a")) return NULL;
    int d = a->ndim == 0 && (dim == 0 || dim == -1) ? 0 : sg__norm_dim(name, dim, a->ndim);
    if (d < 0) return NULL;
    int64_t O = 1, S = 1, I = 1;
    if (a->ndim > 0) split_dims(a, d, &O, &S, &I);
    sg_tensor *ac = sg__contig(a);
    sg_tensor *out = ac ? sg__out(a->dtype, a->ndim, a->shape, false) : NULL;
    if (out) cumsum_kernel(out, ac, O, S, I, false);
    if (ac) sg__unref(ac);
    if (!out) return NULL;
    int err;
    sg_node *n = sg__record(out, name, cumsum_bw, 1, &a, &err);
    if (n) {
        n->iarg[CS_DIM] = d;
        n->reads = 0; /* backward needs only gout */
    }
    return err ? NULL : out;
}
