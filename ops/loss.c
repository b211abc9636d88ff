/* Losses, each a fused forward + backward for numerical stability: cross-entropy on logits (via
 * log-softmax), binary cross-entropy on logits, mean squared error.
 * Cross-entropy takes (..., C) logits with label smoothing. Not here: class weights, or losses on
 * probabilities (use the logits forms). */
#include <math.h>
#include <stdlib.h>

#include "../autograd/node.h"
#include "ops.h"
#include "reduce_kernels.h"

/* ---- shared: reduction of per-element losses, gradient scale ---- */

static bool check_red(const char *op, sg_reduction red) {
    if (red == SG_REDUCE_MEAN || red == SG_REDUCE_SUM || red == SG_REDUCE_NONE) return true;
    sg_set_error(SG_ERR_ARG, "%s: reduction %d is not SG_REDUCE_MEAN, SG_REDUCE_SUM or SG_REDUCE_NONE",
                 op, (int)red);
    return false;
}

static bool check_same_shape(const char *op, const sg_tensor *a, const char *an, const sg_tensor *b,
                             const char *bn) {
    bool same = a->ndim == b->ndim;
    for (int d = 0; same && d < a->ndim; d++) same = a->shape[d] == b->shape[d];
    if (same) return true;
    char sa[SG_SHAPE_BUF], sb[SG_SHAPE_BUF];
    sg_set_error(SG_ERR_SHAPE, "%s: %s %s and %s %s must have the same shape (no broadcasting)", op, an,
                 sg__shape_str(a->ndim, a->shape, sa, sizeof sa), bn,
                 sg__shape_str(b->ndim, b->shape, sb, sizeof sb));
    return false;
}

static double get_d(const sg_tensor *t, int64_t i) { /* contiguous t, flat i */
    return t->dtype == SG_F32 ? (double)((const float *)sg__ptr(t))[i] : ((const double *)sg__ptr(t))[i];
}

/* Per-element losses l[n] (double) -> the op's result: (ndim, shape) for NONE, else 0-d: the sum,
 * or the sum / count for MEAN (NaN when count == 0). */
static sg_tensor *loss_out(sg_dtype dt, int ndim, const int64_t *shape, const double *l, int64_t n,
                           int64_t count, sg_reduction red) {
    if (red == SG_REDUCE_NONE) {
        sg_tensor *out = sg__out(dt, ndim, shape, false);
        if (out) sg__convert(sg__ptr(out), dt, l, SG_F64, n);
        return out;
    }
    int64_t scalar_shape[1] = {1};
    sg_tensor *out = sg__out(dt, 0, scalar_shape, false);
    if (!out) return NULL;
    double s = sg__sum_blocks_f64(l, n);
    double v = red == SG_REDUCE_SUM ? s : (count > 0 ? s / (double)count : NAN);
    if (dt == SG_F32) *(float *)sg__ptr(out) = (float)v;
    else *(double *)sg__ptr(out) = v;
    return out;
}

/* Multiplier of element i's local gradient: gout[i] (NONE), gout (SUM), gout / count (MEAN). */
static inline double loss_scale(const sg_tensor *gout, sg_reduction red, int64_t count, int64_t i) {
    if (red == SG_REDUCE_NONE) return get_d(gout, i);
    double g = get_d(gout, 0);
    return red == SG_REDUCE_SUM ? g : g / (double)count;
}

static double *alloc_losses(const char *op, int64_t n) {
    double *l = malloc((size_t)(n > 0 ? n : 1) * sizeof *l);
    if (!l) sg_set_error(SG_ERR_MEM, "%s: out of memory", op);
    return l;
}

/* ---- cross-entropy ----
 * Logits (..., C) are R rows of C classes (R = the product of the leading dims), targets[R]. Row i
 * (target t != ignore_index), label smoothing e: m = max_j x_ij, ls = log sum_j exp(x_ij - m),
 * log p_ij = x_ij - m - ls and
 *   loss_i = -(1 - e) log p_it - (e / C) sum_j log p_ij = (m + ls) - (1 - e) x_it - (e / C) sum_j x_ij,
 *   d loss_i / d x_ij = p_ij - (1 - e) [j == t] - e / C.
 * Ignored rows lose 0 and get no gradient. MEAN divides by the number of non-ignored rows (also
 * with smoothing, as PyTorch 1.13): with none, the loss is NaN (0/0) and every gradient is 0. */

typedef struct {
    int64_t n, count; /* rows, non-ignored rows */
    int64_t s0, s1;   /* element (i, j) of the logits at i*s0 + j*s1 (see ce_rows) */
    double eps;       /* label smoothing */
    int64_t *tgt;     /* copy of the targets */
    double *m, *ls;   /* per row: max and log-sum-exp of (x - max) */
} ce_ctx;             /* one malloc block: the struct, then the three arrays */

static ce_ctx *ce_ctx_new(int64_t n) {
    size_t rows = (size_t)(n > 0 ? n : 1);
    ce_ctx *c = malloc(sizeof *c + rows * (sizeof(int64_t) + 2 * sizeof(double)));
    if (!c) return NULL;
    c->n = n;
    c->count = 0;
    c->tgt = (int64_t *)(c + 1);
    c->m = (double *)(c->tgt + rows);
    c->ls = c->m + rows;
    return c;
}

/* The logits as rows: t itself (new reference) when its leading dims collapse into one row stride,
 * else a contiguous copy. *s0, *s1: row and class strides. */
static sg_tensor *ce_rows(const sg_tensor *t, int64_t *s0, int64_t *s1) {
    int nd = t->ndim, last = -1; /* last: the innermost leading dim of size > 1 */
    bool ok = true;
    for (int d = 0; d < nd - 1; d++) {
        if (t->shape[d] == 1) continue;
        if (last >= 0 && t->stride[last] != t->stride[d] * t->shape[d]) ok = false;
        last = d;
    }
    if (ok) {
        *s0 = last >= 0 ? t->stride[last] : 0;
        *s1 = t->stride[nd - 1];
        sg__ref((sg_tensor *)t);
        return (sg_tensor *)t;
    }
    *s0 = t->shape[nd - 1];
    *s1 = 1;
    return sg__contig(t);
}

#define CE_FWD_LOOP(T)                                                                             \
    do {                                                                                           \
        const T *x = (const T *)sg__ptr(xr);                                                       \
        double e = c->eps;                                                                         \
        SG_PAR_FOR(N > 1 && N * C >= SG_PAR_MIN,                                                   \
        for (int64_t i = 0; i < N; i++) {                                                          \
            const T *px = x + i * s0;                                                              \
            double m = -INFINITY, s = 0, sx = 0;                                                   \
            if (c->tgt[i] == ignore_index) {                                                       \
                c->m[i] = c->ls[i] = l[i] = 0;                                                     \
                continue;                                                                          \
            }                                                                                      \
            for (int64_t j = 0; j < C; j++)                                                        \
                if ((double)px[j * s1] > m) m = (double)px[j * s1];                                \
            for (int64_t j = 0; j < C; j++) s += exp((double)px[j * s1] - m);                      \
            if (e != 0)                                                                            \
                for (int64_t j = 0; j < C; j++) sx += (double)px[j * s1];                          \
            c->m[i] = m;                                                                           \
            c->ls[i] = log(s);                                                                     \
            double xt = (double)px[c->tgt[i] * s1];                                                \
            l[i] = e == 0 ? (m - xt) + c->ls[i] : (m + c->ls[i]) - (1 - e) * xt - e / (double)C * sx; \
        })                                                                                         \
    } while (0)

#define CE_BW_LOOP(T)                                                                              \
    do {                                                                                           \
        const T *x = (const T *)sg__ptr(xr);                                                       \
        T *q = (T *)sg__ptr(g);                                                                    \
        double e = c->eps, off = c->eps / (double)C;                                               \
        SG_PAR_FOR(N > 1 && N * C >= SG_PAR_MIN,                                                   \
        for (int64_t i = 0; i < N; i++) {                                                          \
            T *pq = q + i * C;                                                                     \
            const T *px = x + i * s0;                                                              \
            if (c->tgt[i] == ignore_index) {                                                       \
                for (int64_t j = 0; j < C; j++) pq[j] = 0;                                         \
                continue;                                                                          \
            }                                                                                      \
            double sc = loss_scale(gout, red, c->count, i);                                        \
            for (int64_t j = 0; j < C; j++) {                                                      \
                double p = exp((double)px[j * s1] - c->m[i] - c->ls[i]);                           \
                pq[j] = (T)(sc * (p - (j == c->tgt[i] ? 1.0 - e : 0.0) - off));                    \
            }                                                                                      \
        })                                                                                         \
    } while (0)

static int ce_bw(sg_node *n, const sg_tensor *gout) {
    if (!sg__wants_grad(n, 0)) return SG_OK;
    sg_tensor *lg = n->in[0];
    const ce_ctx *c = n->ctx;
    sg_reduction red = (sg_reduction)n->iarg[0];
    int64_t ignore_index = n->iarg[1];
    int64_t N = c->n, C = lg->shape[lg->ndim - 1], s0, s1;
    sg_tensor *xr = ce_rows(lg, &s0, &s1);
    sg_tensor *g = xr ? sg__alloc(lg->dtype, lg->ndim, lg->shape, false) : NULL;
    if (g) {
        if (g->dtype == SG_F32) CE_BW_LOOP(float);
        else CE_BW_LOOP(double);
    }
    if (xr) sg__unref(xr);
    return g ? sg__grad_accum(lg, g) : SG_ERR_MEM;
}

/* logits (..., C), targets[prod(...)] -> () for MEAN/SUM, (...) for NONE */
static sg_tensor *cross_entropy(const char *name, sg_tensor *logits, const int64_t *targets, int64_t ignore_index,
                                double smoothing, sg_reduction red) {
    if (!sg__check_arg(logits, name, "logits") || !check_red(name, red)) return NULL;
    char buf[SG_SHAPE_BUF];
    if (logits->ndim < 1) {
        sg_set_error(SG_ERR_SHAPE, "%s: logits must have a class dim (..., C), got 0-d", name);
        return NULL;
    }
    if (!(smoothing >= 0 && smoothing <= 1)) {
        sg_set_error(SG_ERR_ARG, "%s: label_smoothing must be in [0, 1] (got %g)", name, smoothing);
        return NULL;
    }
    int64_t C = logits->shape[logits->ndim - 1], N = 1;
    for (int d = 0; d < logits->ndim - 1; d++) N *= logits->shape[d];
    if (N > 0 && !targets) {
        sg_set_error(SG_ERR_NULL, "%s: argument 'targets' is NULL", name);
        return NULL;
    }
    for (int64_t i = 0; i < N; i++)
        if (targets[i] != ignore_index && (targets[i] < 0 || targets[i] >= C)) {
            sg_set_error(SG_ERR_ARG, "%s: targets[%lld] = %lld is out of range [0, %lld) for logits %s "
                         "(ignore_index %lld)", name, (long long)i, (long long)targets[i], (long long)C,
                         sg__shape_str(logits->ndim, logits->shape, buf, sizeof buf), (long long)ignore_index);
            return NULL;
        }
    ce_ctx *c = ce_ctx_new(N);
    double *l = c ? alloc_losses(name, N) : NULL;
    int64_t s0, s1;
    sg_tensor *xr = l ? ce_rows(logits, &s0, &s1) : NULL;
    if (!xr) {
        if (!c || (l && !sg_has_error())) sg_set_error(SG_ERR_MEM, "%s: out of memory", name);
        free(c);
        free(l);
        return NULL;
    }
    c->eps = smoothing;
    for (int64_t i = 0; i < N; i++) {
        c->tgt[i] = targets[i];
        c->count += targets[i] != ignore_index;
    }
    if (logits->dtype == SG_F32) CE_FWD_LOOP(float);
    else CE_FWD_LOOP(double);
    sg__unref(xr);
    sg_tensor *out = loss_out(logits->dtype, logits->ndim - 1, logits->shape, l, N, c->count, red);
    free(l);
    int err = SG_OK;
    sg_node *n = out ? sg__record(out, name, ce_bw, 1, &logits, &err) : NULL;
    if (n) {
        n->iarg[0] = red;
        n->iarg[1] = ignore_index;
        n->ctx = c;
    } else {
        free(c);
    }
    return err || !out ? NULL : out;
}

/* logits (N,C), targets[N] -> () for MEAN/SUM, (N) for NONE */
sg_tensor *sg_cross_entropy(sg_tensor *logits, const int64_t *targets, int64_t ignore_index, sg_reduction red) {
    const char *name = "sg_cross_entropy";
    if (!sg__check_arg(logits, name, "logits")) return NULL;
    if (logits->ndim != 2) {
        char buf[SG_SHAPE_BUF];
        sg_set_error(SG_ERR_SHAPE, "%s: logits must be 2-D (N,C), got %s (sg_cross_entropy_nd takes (..., C))", name,
                     sg__shape_str(logits->ndim, logits->shape, buf, sizeof buf));
        return NULL;
    }
    return cross_entropy(name, logits, targets, ignore_index, 0, red);
}

/* logits (..., C), targets[prod(...)] -> () for MEAN/SUM, (...) for NONE */
sg_tensor *sg_cross_entropy_nd(sg_tensor *logits, const int64_t *targets, int64_t ignore_index,
                               double label_smoothing, sg_reduction red) {
    return cross_entropy("sg_cross_entropy_nd", logits, targets, ignore_index, label_smoothing, red);
}

/* ---- binary cross-entropy on logits ----
 * loss = max(x,0) - x*t + log1p(exp(-|x|)) (never overflows); d loss / dx = sigmoid(x) - t.
 * Targets get no gradient: only logits is a graph input; targets is saved, and modifying it in
 * place before backward is reported as SG_ERR_STATE. */

static inline double bce_val(double x, double t) { return (x > 0 ? x : 0) - x * t + log1p(exp(-fabs(x))); }
static inline double sigmoid_d(double x) {
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

#define BCE_FWD_LOOP(T)                                                                            \
    do {                                                                                           \
        const T *x = (const T *)sg__ptr(xc), *t = (const T *)sg__ptr(tc);                          \
        SG_PAR_FOR(m >= SG_PAR_MIN,                                                                \
        for (int64_t i = 0; i < m; i++) l[i] = bce_val((double)x[i], (double)t[i]);)               \
    } while (0)

#define BCE_BW_LOOP(T)                                                                             \
    do {                                                                                           \
        const T *x = (const T *)sg__ptr(xc), *t = (const T *)sg__ptr(tc);                          \
        T *q = (T *)sg__ptr(g);                                                                    \
        SG_PAR_FOR(m >= SG_PAR_MIN,                                                                \
        for (int64_t i = 0; i < m; i++)                                                            \
            q[i] = (T)(loss_scale(gout, red, m, i) * (sigmoid_d((double)x[i]) - (double)t[i]));)   \
    } while (0)

static int bce_bw(sg_node *n, const sg_tensor *gout) {
    if (!sg__wants_grad(n, 0)) return SG_OK;
    sg_tensor *x = n->in[0], *t = n->saved[0];
    sg_reduction red = (sg_reduction)n->iarg[0];
    int64_t m = sg__numel(x);
    sg_tensor *xc = sg__contig(x), *tc = sg__contig(t);
    sg_tensor *g = xc && tc ? sg__alloc(x->dtype, x->ndim, x->shape, false) : NULL;
    if (g) {
        if (g->dtype == SG_F32) BCE_BW_LOOP(float);
        else BCE_BW_LOOP(double);
    }
    if (xc) sg__unref(xc);
    if (tc) sg__unref(tc);
    return g ? sg__grad_accum(x, g) : SG_ERR_MEM;
}

/* logits (...), targets (...) same shape -> () for MEAN/SUM (mean over all elements), or (...) */
sg_tensor *sg_bce_with_logits(sg_tensor *logits, sg_tensor *targets, sg_reduction red) {
    const char *name = "sg_bce_with_logits";
    if (!sg__check_arg(logits, name, "logits") || !sg__check_arg(targets, name, "targets")) return NULL;
    if (!sg__same_dtype(name, logits, targets) || !check_red(name, red) ||
        !check_same_shape(name, logits, "logits", targets, "targets"))
        return NULL;
    int64_t m = sg__numel(logits);
    double *l = alloc_losses(name, m);
    sg_tensor *xc = l ? sg__contig(logits) : NULL, *tc = xc ? sg__contig(targets) : NULL;
    sg_tensor *out = NULL;
    if (tc) {
        if (logits->dtype == SG_F32) BCE_FWD_LOOP(float);
        else BCE_FWD_LOOP(double);
        out = loss_out(logits->dtype, logits->ndim, logits->shape, l, m, m, red);
    }
    free(l);
    if (xc) sg__unref(xc);
    if (tc) sg__unref(tc);
    if (!out) return NULL;
    int err;
    sg_node *n = sg__record(out, name, bce_bw, 1, &logits, &err);
    if (n) {
        sg__save(n, 0, targets);
        n->iarg[0] = red; /* saved tensors are version-checked by the tape */
    }
    return err ? NULL : out;
}

/* ---- mean squared error: loss = (a - b)^2; d/da = 2(a - b), d/db = -2(a - b) ---- */

#define MSE_FWD_LOOP(T)                                                                            \
    do {                                                                                           \
        const T *x = (const T *)sg__ptr(ac), *y = (const T *)sg__ptr(bc);                          \
        SG_PAR_FOR(m >= SG_PAR_MIN,                                                                \
        for (int64_t i = 0; i < m; i++) {                                                          \
            double d = (double)x[i] - (double)y[i];                                                \
            l[i] = d * d;                                                                          \
        })                                                                                         \
    } while (0)

#define MSE_BW_LOOP(T)                                                                             \
    do {                                                                                           \
        const T *x = (const T *)sg__ptr(ac), *y = (const T *)sg__ptr(bc);                          \
        T *qa = ga ? (T *)sg__ptr(ga) : NULL, *qb = gb ? (T *)sg__ptr(gb) : NULL;                  \
        SG_PAR_FOR(m >= SG_PAR_MIN,                                                                \
        for (int64_t i = 0; i < m; i++) {                                                          \
            double v = 2.0 * loss_scale(gout, red, m, i) * ((double)x[i] - (double)y[i]);          \
            if (qa) qa[i] = (T)v;                                                                  \
            if (qb) qb[i] = (T)-v;                                                                 \
        })                                                                                         \
    } while (0)

static int mse_bw(sg_node *n, const sg_tensor *gout) {
    sg_tensor *a = n->in[0], *b = n->in[1];
    bool wa = sg__wants_grad(n, 0), wb = sg__wants_grad(n, 1);
    if (!wa && !wb) return SG_OK;
    sg_reduction red = (sg_reduction)n->iarg[0];
    int64_t m = sg__numel(a);
    sg_tensor *ac = sg__contig(a), *bc = sg__contig(b);
    sg_tensor *ga = wa ? sg__alloc(a->dtype, a->ndim, a->shape, false) : NULL;
    sg_tensor *gb = wb ? sg__alloc(b->dtype, b->ndim, b->shape, false) : NULL;
    int rc = SG_OK;
    if (!ac || !bc || (wa && !ga) || (wb && !gb)) {
        rc = SG_ERR_MEM;
    } else {
        if (a->dtype == SG_F32) MSE_BW_LOOP(float);
        else MSE_BW_LOOP(double);
    }
    if (ac) sg__unref(ac);
    if (bc) sg__unref(bc);
    if (rc) {
        if (ga) sg__unref(ga);
        if (gb) sg__unref(gb);
        return rc;
    }
    if (ga) rc = sg__grad_accum(a, ga);
    if (gb) {
        if (rc) sg__unref(gb);
        else rc = sg__grad_accum(b, gb);
    }
    return rc;
}

/* a (...), b (...) same shape -> () for MEAN/SUM (mean over all elements), or (...) */
sg_tensor *sg_mse(sg_tensor *a, sg_tensor *b, sg_reduction red) {
    const char *name = "sg_mse";
    if (!sg__check_arg(a, name, "a") || !sg__check_arg(b, name, "b")) return NULL;
    if (!sg__same_dtype(name, a, b) || !check_red(name, red) || !check_same_shape(name, a, "a", b, "b"))
        return NULL;
    int64_t m = sg__numel(a);
    double *l = alloc_losses(name, m);
    sg_tensor *ac = l ? sg__contig(a) : NULL, *bc = ac ? sg__contig(b) : NULL;
    sg_tensor *out = NULL;
    if (bc) {
        if (a->dtype == SG_F32) MSE_FWD_LOOP(float);
        else MSE_FWD_LOOP(double);
        out = loss_out(a->dtype, a->ndim, a->shape, l, m, m, red);
    }
    free(l);
    if (ac) sg__unref(ac);
    if (bc) sg__unref(bc);
    if (!out) return NULL;
    int err;
    sg_tensor *in[2] = {a, b};
    sg_node *n = sg__record(out, name, mse_bw, 2, in, &err);
    if (n) n->iarg[0] = red;
    return err ? NULL : out;
}
