/* Indexing ops: index_select and embedding (row gathers with a deterministic scatter-add
 * backward), where and masked_fill (elementwise selection with broadcasting).
 * Not here: views and slicing by ranges (ops/shape.c); no gradient ever flows to indices or masks.
 * Shape letters: O outer (dims before dim), S size of dim, I inner (dims after), N indices. */
#include <stdlib.h>
#include <string.h>

#include "../autograd/node.h"
#include "ops.h"

/* Columns summed at once per target row in the scatter-add (a stack buffer of doubles). */
#define SCATTER_BLOCK 64

/* sg_node.iarg slots of the gather ops; the index list itself is copied into n->ctx. */
enum { G_OUTER = 0, G_SIZE = 1, G_INNER = 2, G_COUNT = 3, G_PAD = 4 };
/* padding value meaning "no padding row" */
#define NO_PADDING (-1)

/* out (O,N,I) = a (O,S,I) rows idx[j]; a contiguous. Independent output rows: parallel. */
static void gather_rows(void *out, const void *a, size_t esz, int64_t O, int64_t S, int64_t I, int64_t N,
                        const int64_t *idx) {
    char *ob = out;
    const char *ab = a;
    int64_t rows = O * N;
    SG_PAR_FOR(rows * I >= SG_PAR_MIN && rows > 1,
    for (int64_t q = 0; q < rows; q++) {
        int64_t o = q / N, j = q % N;
        memcpy(ob + (size_t)(q * I) * esz, ab + (size_t)((o * S + idx[j]) * I) * esz, (size_t)I * esz);
    })
}

/* ga (O,S,I), zeroed: ga[o,r,:] = sum over j with idx[j] == r (ascending j) of g[o,j,:], summed in
 * double. pos[start[r] .. start[r+1]) lists those j. Each target row is written by one iteration,
 * so duplicate indices never race and the result does not depend on the thread count. */
#define SCATTER_LOOP(T)                                                                            \
    do {                                                                                           \
        const T *gb = (const T *)sg__ptr(g);                                                       \
        T *ab = (T *)sg__ptr(ga);                                                                  \
        int64_t rows = O * S;                                                                      \
        SG_PAR_FOR(O * N * I >= SG_PAR_MIN && rows > 1,                                            \
        for (int64_t q = 0; q < rows; q++) {                                                       \
            int64_t o = q / S, r = q % S, b = start[r], e = start[r + 1];                          \
            if (b == e) continue;                                                                  \
            T *dst = ab + q * I;                                                                   \
            const T *src = gb + o * N * I;                                                         \
            for (int64_t c0 = 0; c0 < I; c0 += SCATTER_BLOCK) {                                    \
                int64_t w = I - c0 < SCATTER_BLOCK ? I - c0 : SCATTER_BLOCK;                       \
                double acc[SCATTER_BLOCK];                                                         \
                for (int64_t c = 0; c < w; c++) acc[c] = 0;                                        \
                for (int64_t p = b; p < e; p++) {                                                  \
                    const T *s = src + pos[p] * I + c0;                                            \
                    for (int64_t c = 0; c < w; c++) acc[c] += (double)s[c];                        \
                }                                                                                  \
                for (int64_t c = 0; c < w; c++) dst[c0 + c] = (T)acc[c];                           \
            }                                                                                      \
        })                                                                                         \
    } while (0)

static int gather_bw(sg_node *n, const sg_tensor *g) {
    sg_tensor *a = n->in[0];
    if (!sg__wants_grad(n, 0)) return SG_OK;
    int64_t O = n->iarg[G_OUTER], S = n->iarg[G_SIZE], I = n->iarg[G_INNER], N = n->iarg[G_COUNT];
    int64_t pad = n->iarg[G_PAD];
    const int64_t *idx = n->ctx;
    sg_tensor *ga = sg__alloc(a->dtype, a->ndim, a->shape, true);
    int64_t *start = calloc((size_t)S + 1, sizeof *start);
    int64_t *pos = malloc((size_t)(N > 0 ? N : 1) * sizeof *pos);
    if (!ga || !start || !pos) {
        free(start);
        free(pos);
        if (ga) sg__unref(ga);
        return sg_set_error(SG_ERR_MEM, "%s backward: out of memory", n->name);
    }
    /* stable counting sort of the positions j by target row, skipping the padding row */
    for (int64_t j = 0; j < N; j++)
        if (idx[j] != pad) start[idx[j] + 1]++;
    for (int64_t r = 0; r < S; r++) start[r + 1] += start[r];
    for (int64_t j = 0; j < N; j++)
        if (idx[j] != pad) pos[start[idx[j]]++] = j;
    for (int64_t r = S; r > 0; r--) start[r] = start[r - 1]; /* cursors back to row starts */
    start[0] = 0;
    if (a->dtype == SG_F32) SCATTER_LOOP(float);
    else SCATTER_LOOP(double);
    free(start);
    free(pos);
    return sg__grad_accum(a, ga);
}

/* Shared back half: out (O,N,I) gathered from a (O,S,I), idx already validated. */
static sg_tensor *gather(const char *name, sg_tensor *a, int64_t O, int64_t S, int64_t I, int64_t N,
                         const int64_t *idx, int64_t pad, int out_nd, const int64_t *out_shape) {
    sg_tensor *ac = sg__contig(a);
    sg_tensor *out = ac ? sg__out(a->dtype, out_nd, out_shape, false) : NULL;
    if (out) gather_rows(sg__ptr(out), sg__ptr(ac), sg_dtype_size(a->dtype), O, S, I, N, idx);
    if (ac) sg__unref(ac);
    if (!out) return NULL;
    int err;
    sg_node *n = sg__record(out, name, gather_bw, 1, &a, &err);
    if (n) {
        n->ctx = malloc((size_t)(N > 0 ? N : 1) * sizeof *idx); /* the caller's idx may not outlive us */
        if (!n->ctx) {
            sg_set_error(SG_ERR_MEM, "%s: out of memory recording the graph", name);
            return NULL;
        }
        if (N > 0) memcpy(n->ctx, idx, (size_t)N * sizeof *idx);
        n->iarg[G_OUTER] = O;
        n->iarg[G_SIZE] = S;
        n->iarg[G_INNER] = I;
        n->iarg[G_COUNT] = N;
        n->iarg[G_PAD] = pad;
    }
    return err ? NULL : out;
}

/* Every idx[j] in [0, S), else an error naming the first bad one and its position. */
static bool check_indices(const char *name, const int64_t *idx, int64_t N, int64_t S, const char *what,
                          const sg_tensor *a) {
    if (N > 0 && !idx) {
        sg_set_error(SG_ERR_NULL, "%s: argument 'idx' is NULL", name);
        return false;
    }
    for (int64_t j = 0; j < N; j++)
        if (idx[j] < 0 || idx[j] >= S) {
            char sa[SG_SHAPE_BUF];
            sg_set_error(SG_ERR_ARG, "%s: idx[%lld] = %lld out of range [0, %lld) for %s of %s", name,
                         (long long)j, (long long)idx[j], (long long)S, what,
                         sg__shape_str(a->ndim, a->shape, sa, sizeof sa));
            return false;
        }
    return true;
}

/* a (..., S, ...) with n indices along dim -> (..., n, ...) */
sg_tensor *sg_index_select(sg_tensor *a, int dim, int64_t n, const int64_t *idx) {
    const char *name = "sg_index_select";
    if (!sg__check_arg(a, name, "a")) return NULL;
    int d = sg__norm_dim(name, dim, a->ndim);
    if (d < 0) return NULL;
    if (n < 0) {
        sg_set_error(SG_ERR_ARG, "%s: index count n = %lld is negative", name, (long long)n);
        return NULL;
    }
    if (!check_indices(name, idx, n, a->shape[d], "dim", a)) return NULL;
    int64_t O = 1, I = 1, shp[SG_MAX_DIMS];
    for (int i = 0; i < a->ndim; i++) {
        if (i < d) O *= a->shape[i];
        if (i > d) I *= a->shape[i];
        shp[i] = i == d ? n : a->shape[i];
    }
    return gather(name, a, O, a->shape[d], I, n, idx, NO_PADDING, a->ndim, shp);
}

/* weight (V,E), idx of shape (...) -> (..., E); rows equal to padding_idx get no gradient */
sg_tensor *sg_embedding(sg_tensor *weight, int ndim, const int64_t *shape, const int64_t *idx,
                        int64_t padding_idx) {
    const char *name = "sg_embedding";
    if (!sg__check_arg(weight, name, "weight")) return NULL;
    char sw[SG_SHAPE_BUF];
    if (weight->ndim != 2) {
        sg_set_error(SG_ERR_SHAPE, "%s: weight must be 2-D (V,E), got %s", name,
                     sg__shape_str(weight->ndim, weight->shape, sw, sizeof sw));
        return NULL;
    }
    if (ndim < 0 || ndim > SG_MAX_DIMS - 1) {
        sg_set_error(SG_ERR_ARG, "%s: idx ndim %d outside [0, %d]", name, ndim, SG_MAX_DIMS - 1);
        return NULL;
    }
    if (ndim > 0 && !shape) {
        sg_set_error(SG_ERR_NULL, "%s: argument 'shape' is NULL", name);
        return NULL;
    }
    int64_t V = weight->shape[0], E = weight->shape[1], N = 1, shp[SG_MAX_DIMS];
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            sg_set_error(SG_ERR_SHAPE, "%s: idx shape has negative size %lld at dim %d", name,
                         (long long)shape[i], i);
            return NULL;
        }
        N *= shape[i];
        shp[i] = shape[i];
    }
    shp[ndim] = E;
    if (padding_idx >= V) {
        sg_set_error(SG_ERR_ARG, "%s: padding_idx %lld out of range for weight %s (use < 0 for none)",
                     name, (long long)padding_idx, sg__shape_str(2, weight->shape, sw, sizeof sw));
        return NULL;
    }
    if (!check_indices(name, idx, N, V, "rows", weight)) return NULL;
    return gather(name, weight, 1, V, E, N, idx, padding_idx < 0 ? NO_PADDING : padding_idx, ndim + 1,
                  shp);
}

/* ---- selection: out = cond != 0 ? x : y, where x or y may be a constant ---- */

/* out (...) from cond, x, y broadcast to it; x (y) NULL means the constant xv (yv). T is the value
 * dtype, C the condition's. */
#define SEL_LOOP(T, C)                                                                             \
    do {                                                                                           \
        T *ob = (T *)sg__ptr(out);                                                                 \
        const C *cb = (const C *)sg__ptr(cond);                                                    \
        const T *xb = x ? (const T *)sg__ptr(x) : NULL, *yb = y ? (const T *)sg__ptr(y) : NULL;    \
        T xc = (T)xv, yc = (T)yv;                                                                  \
        SG_PAR_FOR(it.numel >= SG_PAR_MIN,                                                         \
        for (int64_t o = 0; o < it.outer; o++) {                                                   \
            int64_t off[4];                                                                        \
            sg__iter_row(&it, o, off);                                                             \
            T *po = ob + off[0];                                                                   \
            const C *pc = cb + off[1];                                                             \
            const T *px = xb ? xb + off[2] : NULL, *py = yb ? yb + off[3] : NULL;                  \
            int64_t so = it.inner_stride[0], sc = it.inner_stride[1];                              \
            int64_t sx = it.inner_stride[2], sy = it.inner_stride[3];                              \
            bool dense = so == 1 && (!px || sx == 1) && (!py || sy == 1);                          \
            if (dense && sc == 0) { /* one condition for the row (a mask broadcast over it) */     \
                const T *src = pc[0] != 0 ? px : py;                                               \
                T v = pc[0] != 0 ? xc : yc;                                                        \
                if (src) memcpy(po, src, (size_t)it.inner * sizeof *po);                           \
                else for (int64_t j = 0; j < it.inner; j++) po[j] = v;                             \
            } else if (dense && sc == 1) {                                                         \
                for (int64_t j = 0; j < it.inner; j++)                                             \
                    po[j] = pc[j] != 0 ? (px ? px[j] : xc) : (py ? py[j] : yc);                    \
            } else {                                                                               \
                for (int64_t j = 0; j < it.inner; j++)                                             \
                    po[j * so] = pc[j * sc] != 0 ? (px ? px[j * sx] : xc) : (py ? py[j * sy] : yc); \
            }                                                                                      \
        })                                                                                         \
    } while (0)

static void select_kernel(sg_tensor *out, const sg_tensor *cond, const sg_tensor *x, double xv,
                          const sg_tensor *y, double yv) {
    sg_iter it;
    const sg_tensor *ops[4] = {out, cond, x ? x : out, y ? y : out};
    sg__iter_init(&it, 4, ops, out->ndim, out->shape);
    if (out->dtype == SG_F32) {
        if (cond->dtype == SG_F32) SEL_LOOP(float, float);
        else SEL_LOOP(float, double);
    } else {
        if (cond->dtype == SG_F32) SEL_LOOP(double, float);
        else SEL_LOOP(double, double);
    }
}

/* inputs {cond, a, b}: a gets gout where cond, b where not, each reduced to its shape */
static int where_bw(sg_node *n, const sg_tensor *g) {
    for (int k = 1; k <= 2; k++) {
        if (!sg__wants_grad(n, k)) continue;
        sg_tensor *gk = sg__alloc(g->dtype, g->ndim, g->shape, false);
        if (!gk) return SG_ERR_MEM;
        if (k == 1) select_kernel(gk, n->in[0], g, 0, NULL, 0);
        else select_kernel(gk, n->in[0], NULL, 0, g, 0);
        int rc = sg__grad_accum_reduce(n->in[k], gk);
        if (rc) return rc;
    }
    return SG_OK;
}

/* cond (...), a (...), b (...) -> broadcast of the three; cond may be of either dtype */
sg_tensor *sg_where(sg_tensor *cond, sg_tensor *a, sg_tensor *b) {
    const char *name = "sg_where";
    if (!sg__check_arg(cond, name, "cond") || !sg__check_arg(a, name, "a") || !sg__check_arg(b, name, "b"))
        return NULL;
    if (!sg__same_dtype(name, a, b)) return NULL;
    int nd1, nd;
    int64_t s1[SG_MAX_DIMS], shp[SG_MAX_DIMS];
    if (!sg__broadcast_shape(cond->ndim, cond->shape, a->ndim, a->shape, &nd1, s1) ||
        !sg__broadcast_shape(nd1, s1, b->ndim, b->shape, &nd, shp)) {
        char sc[SG_SHAPE_BUF], sa[SG_SHAPE_BUF], sb[SG_SHAPE_BUF];
        sg_set_error(SG_ERR_SHAPE, "%s: shapes cond %s, a %s and b %s do not broadcast", name,
                     sg__shape_str(cond->ndim, cond->shape, sc, sizeof sc),
                     sg__shape_str(a->ndim, a->shape, sa, sizeof sa),
                     sg__shape_str(b->ndim, b->shape, sb, sizeof sb));
        return NULL;
    }
    sg_tensor *out = sg__out(a->dtype, nd, shp, false);
    if (!out) return NULL;
    select_kernel(out, cond, a, 0, b, 0);
    int err = SG_OK;
    sg_tensor *vals[2] = {a, b}, *in[3] = {cond, a, b};
    /* cond is an input (kept alive, version-checked) but never makes the result need a gradient */
    if (sg__needs_grad(2, vals)) sg__record(out, name, where_bw, 3, in, &err);
    return err ? NULL : out;
}

/* inputs {a, mask}: a gets gout where mask is zero */
static int masked_fill_bw(sg_node *n, const sg_tensor *g) {
    if (!sg__wants_grad(n, 0)) return SG_OK;
    sg_tensor *ga = sg__alloc(g->dtype, g->ndim, g->shape, false);
    if (!ga) return SG_ERR_MEM;
    select_kernel(ga, n->in[1], NULL, 0, g, 0);
    return sg__grad_accum(n->in[0], ga);
}

/* a (...), mask broadcastable to a -> a's shape, value where mask != 0 */
sg_tensor *sg_masked_fill(sg_tensor *a, sg_tensor *mask, double value) {
    const char *name = "sg_masked_fill";
    if (!sg__check_arg(a, name, "a") || !sg__check_arg(mask, name, "mask")) return NULL;
    int nd;
    int64_t shp[SG_MAX_DIMS];
    bool ok = sg__broadcast_shape(a->ndim, a->shape, mask->ndim, mask->shape, &nd, shp) && nd == a->ndim;
    for (int i = 0; ok && i < nd; i++) ok = shp[i] == a->shape[i];
    if (!ok) {
        char sa[SG_SHAPE_BUF], sm[SG_SHAPE_BUF];
        sg_set_error(SG_ERR_SHAPE, "%s: mask %s does not broadcast to a %s", name,
                     sg__shape_str(mask->ndim, mask->shape, sm, sizeof sm),
                     sg__shape_str(a->ndim, a->shape, sa, sizeof sa));
        return NULL;
    }
    sg_tensor *out = sg__out(a->dtype, a->ndim, a->shape, false);
    if (!out) return NULL;
    select_kernel(out, mask, NULL, value, a, 0);
    int err = SG_OK;
    sg_tensor *in[2] = {a, mask};
    /* mask is an input (kept alive, version-checked) but never makes the result need a gradient */
    if (sg__needs_grad(1, in)) sg__record(out, name, masked_fill_bw, 2, in, &err);
    return err ? NULL : out;
}
