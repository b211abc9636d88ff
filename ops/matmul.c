/* Matrix products on OpenBLAS: a (M,K) @ b (K,N) -> (M,N), batched (..., M,K) @ (..., K,N) with
 * broadcast leading dims, optional transposes, and linear: x (..., In) @ w^T + bias -> (..., Out).
 * Strided operands are passed to BLAS as they are whenever one of their two strides is 1 (a
 * transposed view costs no copy). */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#if SEQGRAD_HAVE_DNNL
#include <dnnl.h>
#endif

#include "../autograd/node.h"
#include "ops.h"

/* float32 products with at most this many rows are split by columns across threads (see gemm) */
enum { SG_GEMM_SPLIT_MAX_M = 256, SG_GEMM_SPLIT_MIN_N = 128, SG_GEMM_SPLIT_ALIGN = 16 };

/* A logical 2-D matrix inside a tensor: element (i,j) at p[i*rs + j*cs]. */
typedef struct {
    void *p;
    int64_t rows, cols, rs, cs;
} mat;

static mat mat_of(const sg_tensor *t, int64_t batch_off, bool trans) {
    int nd = t->ndim;
    mat m = {(char *)sg__ptr(t) + (size_t)batch_off * sg_dtype_size(t->dtype), t->shape[nd - 2],
             t->shape[nd - 1], t->stride[nd - 2], t->stride[nd - 1]};
    if (m.rows == 1) m.rs = m.cols; /* any stride is fine for a single row; pick a legal one */
    if (m.cols == 1) m.cs = 1;
    if (trans) {
        int64_t r = m.rows, s = m.rs;
        m.rows = m.cols;
        m.rs = m.cs;
        m.cols = r;
        m.cs = s;
    }
    return m;
}

static bool blas_ok(const mat *m) {
    return (m->cs == 1 && m->rs >= (m->cols > 1 ? m->cols : 1)) ||
           (m->rs == 1 && m->cs >= (m->rows > 1 ? m->rows : 1));
}

/* ---- which library multiplies float32 matrices ---- */

static sg_gemm_backend g_gemm = SG_GEMM_AUTO;

int sg_set_gemm_backend(sg_gemm_backend b) {
    if (b != SG_GEMM_AUTO && b != SG_GEMM_OPENBLAS && b != SG_GEMM_ONEDNN)
        return sg_set_error(SG_ERR_ARG, "sg_set_gemm_backend: invalid backend %d", (int)b);
    if (b == SG_GEMM_ONEDNN && !SEQGRAD_HAVE_DNNL)
        return sg_set_error(SG_ERR_UNSUPPORTED, "sg_set_gemm_backend: seqgrad was built without oneDNN");
    g_gemm = b;
    return SG_OK;
}

sg_gemm_backend sg_get_gemm_backend(void) {
    if (g_gemm != SG_GEMM_AUTO) return g_gemm;
    return SEQGRAD_HAVE_DNNL ? SG_GEMM_ONEDNN : SG_GEMM_OPENBLAS;
}

/* C (row-major, cs 1) = alpha * A @ B + beta * C. A, B must satisfy blas_ok. */
static void gemm(sg_dtype dt, const mat *A, const mat *B, mat *C, double alpha, double beta) {
    SG_ASSERT(C->cs == 1 && A->rows == C->rows && B->cols == C->cols && A->cols == B->rows);
    int M = (int)C->rows, N = (int)C->cols, K = (int)A->cols;
    if (M == 0 || N == 0) return;
    if (K == 0) { /* empty sum: C = beta * C */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                if (dt == SG_F32) { float *c = (float *)C->p + i * C->rs + j; *c = beta == 0 ? 0.f : (float)beta * *c; }
                else { double *c = (double *)C->p + i * C->rs + j; *c = beta == 0 ? 0.0 : beta * *c; }
            }
        return;
    }
    enum CBLAS_TRANSPOSE ta = A->cs == 1 ? CblasNoTrans : CblasTrans;
    enum CBLAS_TRANSPOSE tb = B->cs == 1 ? CblasNoTrans : CblasTrans;
    int lda = (int)(A->cs == 1 ? (A->rs > K ? A->rs : K) : (A->cs > M ? A->cs : M));
    int ldb = (int)(B->cs == 1 ? (B->rs > N ? B->rs : N) : (B->cs > K ? B->cs : K));
    int ldc = (int)(C->rs > N ? C->rs : N);
#if SEQGRAD_HAVE_DNNL
    if (dt == SG_F32 && sg_get_gemm_backend() == SG_GEMM_ONEDNN) { /* row-major, like cblas here */
        char cta = ta == CblasNoTrans ? 'N' : 'T', ctb = tb == CblasNoTrans ? 'N' : 'T';
        int nthr = omp_get_max_threads();
        if (nthr > 1 && !omp_in_parallel() && M <= SG_GEMM_SPLIT_MAX_M && N >= nthr * SG_GEMM_SPLIT_MIN_N) {
            /* Small-M products (the per-step recurrent ones) barely speed up with oneDNN's own
             * threading; give each thread a block of C's columns instead (oneDNN runs one thread
             * inside a parallel region). Each element is still one thread's fixed-order sum. */
            const float *Bp = B->p;
            float *Cp = C->p;
            bool ok = true;
            SG_PRAGMA(omp parallel num_threads(nthr) reduction(&& : ok))
            {
                int t = omp_get_thread_num(), nt = omp_get_num_threads();
                int64_t n0 = (int64_t)N * t / nt / SG_GEMM_SPLIT_ALIGN * SG_GEMM_SPLIT_ALIGN;
                int64_t n1 = t + 1 == nt ? N : (int64_t)N * (t + 1) / nt / SG_GEMM_SPLIT_ALIGN * SG_GEMM_SPLIT_ALIGN;
                const float *Bt = tb == CblasNoTrans ? Bp + n0 : Bp + n0 * ldb;
                if (n1 > n0)
                    ok = dnnl_sgemm(cta, ctb, M, n1 - n0, K, (float)alpha, A->p, lda, Bt, ldb, (float)beta, Cp + n0,
                                    ldc) == dnnl_success;
            }
            SG_ASSERT(ok);
            return;
        }
        dnnl_status_t st = dnnl_sgemm(cta, ctb, M, N, K, (float)alpha, A->p, lda, B->p, ldb, (float)beta, C->p, ldc);
        SG_ASSERT(st == dnnl_success); /* arguments were validated above; failure is a library bug */
        return;
    }
#endif
    if (dt == SG_F32)
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, (float)alpha, A->p, lda, B->p, ldb, (float)beta, C->p, ldc);
    else
        cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A->p, lda, B->p, ldb, beta, C->p, ldc);
}

/* The per-batch matrix offsets of a 2-D (shared) or 3-D operand. */
static int64_t batch_off(const sg_tensor *t, int64_t i) { return t->ndim == 3 ? i * t->stride[0] : 0; }

/* out[i] = op(a[i]) @ op(b[i]) for every batch entry, with beta. a, b must be blas_ok per batch. */
static void bmm(sg_tensor *out, const sg_tensor *a, bool ta, const sg_tensor *b, bool tb, double beta) {
    int64_t nb = out->ndim == 3 ? out->shape[0] : 1;
    for (int64_t i = 0; i < nb; i++) {
        mat A = mat_of(a, batch_off(a, i), ta), B = mat_of(b, batch_off(b, i), tb);
        mat C = mat_of(out, batch_off(out, i), false);
        gemm(out->dtype, &A, &B, &C, 1.0, beta);
    }
}

/* Operand usable by BLAS as is, or a contiguous copy (new reference either way). */
static sg_tensor *blas_operand(sg_tensor *t) {
    mat m = mat_of(t, 0, false);
    if (blas_ok(&m) && (t->ndim == 2 || t->shape[0] <= 1 || t->stride[0] != 0)) {
        sg__ref(t);
        return t;
    }
    return sg__contig(t);
}

static int matmul_bw(sg_node *n, const sg_tensor *g) {
    sg_tensor *a = n->in[0], *b = n->in[1];
    bool ta = n->iarg[0], tb = n->iarg[1];
    int rc = SG_OK;
    sg_tensor *A = blas_operand(a), *B = blas_operand(b);
    if (!A || !B) rc = SG_ERR_MEM;
    /* dA: shape of a. ta=0: g @ op(b)^T ; ta=1: op(b) @ g^T */
    if (!rc && sg__wants_grad(n, 0)) {
        int64_t shp[3];
        int nd = a->ndim;
        for (int i = 0; i < nd; i++) shp[i] = a->shape[i];
        bool batched_into_2d = a->ndim == 2 && g->ndim == 3;
        sg_tensor *ga = NULL;
        if (batched_into_2d) { /* shared a: sum over the batch by accumulating GEMMs (beta=1) */
            ga = sg__alloc(a->dtype, 2, shp, true);
            if (!ga) rc = SG_ERR_MEM;
            for (int64_t i = 0; !rc && i < g->shape[0]; i++) {
                mat G = mat_of(g, i * g->stride[0], false), Bm = mat_of(B, batch_off(B, i), !tb);
                mat C = mat_of(ga, 0, false);
                if (!ta) gemm(a->dtype, &G, &Bm, &C, 1.0, 1.0);
                else { mat Bt = mat_of(B, batch_off(B, i), tb), Gt = mat_of(g, i * g->stride[0], true);
                       gemm(a->dtype, &Bt, &Gt, &C, 1.0, 1.0); }
            }
        } else {
            ga = sg__alloc(a->dtype, nd, shp, false);
            if (!ga) rc = SG_ERR_MEM;
            int64_t nb = nd == 3 ? shp[0] : 1;
            for (int64_t i = 0; !rc && i < nb; i++) {
                int64_t goff = g->ndim == 3 ? i * g->stride[0] : 0;
                mat C = mat_of(ga, nd == 3 ? i * ga->stride[0] : 0, false);
                if (!ta) { mat G = mat_of(g, goff, false), Bm = mat_of(B, batch_off(B, i), !tb);
                           gemm(a->dtype, &G, &Bm, &C, 1.0, 0.0); }
                else { mat Bm = mat_of(B, batch_off(B, i), tb), Gt = mat_of(g, goff, true);
                       gemm(a->dtype, &Bm, &Gt, &C, 1.0, 0.0); }
            }
        }
        if (!rc) rc = sg__grad_accum(a, ga);
        else if (ga) sg__unref(ga);
    }
    /* dB: tb=0: op(a)^T @ g ; tb=1: g^T @ op(a) */
    if (!rc && sg__wants_grad(n, 1)) {
        int64_t shp[3];
        int nd = b->ndim;
        for (int i = 0; i < nd; i++) shp[i] = b->shape[i];
        bool shared = b->ndim == 2 && g->ndim == 3;
        sg_tensor *gb = sg__alloc(b->dtype, nd, shp, shared);
        if (!gb) rc = SG_ERR_MEM;
        int64_t nb = g->ndim == 3 ? g->shape[0] : 1;
        for (int64_t i = 0; !rc && i < nb; i++) {
            int64_t goff = g->ndim == 3 ? i * g->stride[0] : 0;
            mat C = mat_of(gb, nd == 3 ? i * gb->stride[0] : 0, false);
            double beta = shared ? 1.0 : 0.0;
            if (!tb) { mat At = mat_of(A, batch_off(A, i), !ta), G = mat_of(g, goff, false);
                       gemm(b->dtype, &At, &G, &C, 1.0, beta); }
            else { mat Gt = mat_of(g, goff, true), Am = mat_of(A, batch_off(A, i), ta);
                   gemm(b->dtype, &Gt, &Am, &C, 1.0, beta); }
        }
        if (!rc) rc = sg__grad_accum(b, gb);
        else if (gb) sg__unref(gb);
    }
    if (A) sg__unref(A);
    if (B) sg__unref(B);
    return rc;
}

/* ---- batched products with broadcast leading dims: a (..., M, K) @ b (..., K, N) -> (bcast(...), M, N)
 * (torch.matmul for >= 2-D operands). One GEMM per batch entry; the gradient of an operand whose
 * batch dims were broadcast is summed over them (sg__sum_to_shape, deterministic). ---- */

/* The broadcast batch shape of a product and its number of entries. */
typedef struct {
    int nb;
    int64_t shape[SG_MAX_DIMS];
    int64_t count;
} bshape;

/* Element offset of batch entry i (row-major over bs) in t, whose batch dims are right-aligned
 * with bs; size-1 (broadcast) dims and missing leading dims stay at 0. */
static int64_t bcast_off(const sg_tensor *t, const bshape *bs, int64_t i) {
    int tb = t->ndim - 2;
    int64_t off = 0;
    for (int d = bs->nb - 1; d >= 0; d--) {
        int64_t c = i % bs->shape[d];
        i /= bs->shape[d];
        int td = d - (bs->nb - tb);
        if (td >= 0 && t->shape[td] != 1) off += c * t->stride[td];
    }
    return off;
}

/* Operand whose matrices BLAS can read as they are, or a contiguous copy (new reference). */
static sg_tensor *blas_operand_nd(sg_tensor *t) {
    mat m = mat_of(t, 0, false);
    if (blas_ok(&m)) {
        sg__ref(t);
        return t;
    }
    return sg__contig(t);
}

/* C_i = op(P_i) @ op(Q_i) for every batch entry i, into c (contiguous, batch bs, then 2 dims). */
static void bmm_nd(sg_tensor *c, const sg_tensor *p, bool tp, const sg_tensor *q, bool tq, const bshape *bs) {
    int64_t step = c->shape[c->ndim - 2] * c->shape[c->ndim - 1];
    for (int64_t i = 0; i < bs->count; i++) {
        mat P = mat_of(p, bcast_off(p, bs, i), tp), Q = mat_of(q, bcast_off(q, bs, i), tq);
        mat C = mat_of(c, i * step, false);
        gemm(c->dtype, &P, &Q, &C, 1.0, 0.0);
    }
}

/* A gradient computed per batch entry (bs, then t's two matrix dims), summed to t's shape and
 * accumulated into t. Consumes full. */
static int accum_bcast(sg_tensor *t, sg_tensor *full) {
    bool same = full->ndim == t->ndim;
    for (int i = 0; same && i < t->ndim; i++) same = full->shape[i] == t->shape[i];
    if (same) return sg__grad_accum(t, full);
    sg_tensor *r = sg__sum_to_shape(full, t->ndim, t->shape);
    sg__unref(full);
    return sg__grad_accum(t, r);
}

static int matmul_nd_bw(sg_node *n, const sg_tensor *gout) {
    sg_tensor *a = n->in[0], *b = n->in[1];
    bool ta = n->iarg[0], tb = n->iarg[1];
    bshape bs = {.nb = gout->ndim - 2, .count = 1};
    for (int d = 0; d < bs.nb; d++) bs.count *= (bs.shape[d] = gout->shape[d]);
    sg_tensor *A = blas_operand_nd(a), *B = blas_operand_nd(b), *g = sg__contig(gout);
    int rc = A && B && g ? SG_OK : SG_ERR_MEM;
    int64_t shp[SG_MAX_DIMS];
    memcpy(shp, bs.shape, sizeof shp);
    if (!rc && sg__wants_grad(n, 0)) { /* dA_i: ta=0: g_i @ op(b_i)^T ; ta=1: op(b_i) @ g_i^T */
        shp[bs.nb] = a->shape[a->ndim - 2];
        shp[bs.nb + 1] = a->shape[a->ndim - 1];
        sg_tensor *ga = sg__alloc(a->dtype, bs.nb + 2, shp, false);
        if (!ga) rc = SG_ERR_MEM;
        else if (!ta) bmm_nd(ga, g, false, B, !tb, &bs);
        else bmm_nd(ga, B, tb, g, true, &bs);
        if (!rc) rc = accum_bcast(a, ga);
    }
    if (!rc && sg__wants_grad(n, 1)) { /* dB_i: tb=0: op(a_i)^T @ g_i ; tb=1: g_i^T @ op(a_i) */
        shp[bs.nb] = b->shape[b->ndim - 2];
        shp[bs.nb + 1] = b->shape[b->ndim - 1];
        sg_tensor *gb = sg__alloc(b->dtype, bs.nb + 2, shp, false);
        if (!gb) rc = SG_ERR_MEM;
        else if (!tb) bmm_nd(gb, A, !ta, g, false, &bs);
        else bmm_nd(gb, g, true, A, ta, &bs);
        if (!rc) rc = accum_bcast(b, gb);
    }
    if (A) sg__unref(A);
    if (B) sg__unref(B);
    if (g) sg__unref(g);
    return rc;
}

/* Shapes already checked to be >= 2-D and of one dtype. */
static sg_tensor *matmul_nd(const char *name, sg_tensor *a, bool ta, sg_tensor *b, bool tb) {
    char sa[SG_SHAPE_BUF], sb[SG_SHAPE_BUF];
    int64_t M = a->shape[a->ndim - (ta ? 1 : 2)], Ka = a->shape[a->ndim - (ta ? 2 : 1)];
    int64_t Kb = b->shape[b->ndim - (tb ? 1 : 2)], N = b->shape[b->ndim - (tb ? 2 : 1)];
    bshape bs = {.count = 1};
    bool ok = Ka == Kb && sg__broadcast_shape(a->ndim - 2, a->shape, b->ndim - 2, b->shape, &bs.nb, bs.shape);
    if (!ok) {
        sg_set_error(SG_ERR_SHAPE, "%s: shapes %s%s and %s%s do not multiply (leading dims must broadcast)", name,
                     sg__shape_str(a->ndim, a->shape, sa, sizeof sa), ta ? "^T" : "",
                     sg__shape_str(b->ndim, b->shape, sb, sizeof sb), tb ? "^T" : "");
        return NULL;
    }
    if (bs.nb + 2 > SG_MAX_DIMS) {
        sg_set_error(SG_ERR_SHAPE, "%s: the result of %s and %s would have more than %d dims", name,
                     sg__shape_str(a->ndim, a->shape, sa, sizeof sa), sg__shape_str(b->ndim, b->shape, sb, sizeof sb),
                     SG_MAX_DIMS);
        return NULL;
    }
    for (int d = 0; d < bs.nb; d++) bs.count *= bs.shape[d];
    int64_t shp[SG_MAX_DIMS];
    memcpy(shp, bs.shape, sizeof shp);
    shp[bs.nb] = M;
    shp[bs.nb + 1] = N;
    sg_tensor *A = blas_operand_nd(a), *B = blas_operand_nd(b);
    sg_tensor *out = A && B ? sg__out(a->dtype, bs.nb + 2, shp, false) : NULL;
    if (out) bmm_nd(out, A, ta, B, tb, &bs);
    if (A) sg__unref(A);
    if (B) sg__unref(B);
    if (!out) return NULL;
    int err;
    sg_tensor *in[2] = {a, b};
    sg_node *n = sg__record(out, name, matmul_nd_bw, 2, in, &err);
    if (n) {
        n->iarg[0] = ta;
        n->iarg[1] = tb;
    }
    return err ? NULL : out;
}

sg_tensor *sg_matmul_t(sg_tensor *a, bool trans_a, sg_tensor *b, bool trans_b) {
    const char *name = "sg_matmul";
    if (!sg__check_arg(a, name, "a") || !sg__check_arg(b, name, "b")) return NULL;
    if (!sg__same_dtype(name, a, b)) return NULL;
    char sa[SG_SHAPE_BUF], sb[SG_SHAPE_BUF];
    if (a->ndim < 2 || b->ndim < 2) {
        sg_set_error(SG_ERR_SHAPE, "%s: operands must be at least 2-D (got %s and %s)", name,
                     sg__shape_str(a->ndim, a->shape, sa, sizeof sa), sg__shape_str(b->ndim, b->shape, sb, sizeof sb));
        return NULL;
    }
    /* 2-D and 3-D with equal batch (or one side shared) take the path below; the rest broadcasts */
    if (a->ndim > 3 || b->ndim > 3 || (a->ndim == 3 && b->ndim == 3 && a->shape[0] != b->shape[0]))
        return matmul_nd(name, a, trans_a, b, trans_b);
    int64_t M = a->shape[a->ndim - (trans_a ? 1 : 2)], Ka = a->shape[a->ndim - (trans_a ? 2 : 1)];
    int64_t Kb = b->shape[b->ndim - (trans_b ? 1 : 2)], N = b->shape[b->ndim - (trans_b ? 2 : 1)];
    bool batch_ok = !(a->ndim == 3 && b->ndim == 3) || a->shape[0] == b->shape[0];
    if (Ka != Kb || !batch_ok) {
        sg_set_error(SG_ERR_SHAPE, "%s: shapes %s%s and %s%s do not multiply", name,
                     sg__shape_str(a->ndim, a->shape, sa, sizeof sa), trans_a ? "^T" : "",
                     sg__shape_str(b->ndim, b->shape, sb, sizeof sb), trans_b ? "^T" : "");
        return NULL;
    }
    int64_t shp[3];
    int nd = (a->ndim == 3 || b->ndim == 3) ? 3 : 2;
    if (nd == 3) shp[0] = a->ndim == 3 ? a->shape[0] : b->shape[0];
    shp[nd - 2] = M;
    shp[nd - 1] = N;
    sg_tensor *A = blas_operand(a), *B = blas_operand(b);
    sg_tensor *out = (A && B) ? sg__out(a->dtype, nd, shp, false) : NULL;
    if (out) bmm(out, A, trans_a, B, trans_b, 0.0);
    if (A) sg__unref(A);
    if (B) sg__unref(B);
    if (!out) return NULL;
    int err;
    sg_tensor *in[2] = {a, b};
    sg_node *n = sg__record(out, name, matmul_bw, 2, in, &err);
    if (n) {
        n->iarg[0] = trans_a;
        n->iarg[1] = trans_b;
    }
    return err ? NULL : out;
}

sg_tensor *sg_matmul(sg_tensor *a, sg_tensor *b) { return sg_matmul_t(a, false, b, false); }

/* ---- linear: x (R, In) @ w^T (In, Out) + bias (Out) [+ add (R, Out)] -> (R, Out), leading dims of
 * x flattened. Inputs x, w, then add (sg_linear_add only), then bias when given. ---- */

enum { LIN_HAS_ADD = 0 }; /* iarg slot: 1 when input 2 is the added tensor */

static int linear_bw(sg_node *n, const sg_tensor *g) {
    sg_tensor *x2 = n->saved[0], *w = n->in[1];
    int ib = n->iarg[LIN_HAS_ADD] ? 3 : 2; /* bias input index */
    int64_t R = x2->shape[0], In = x2->shape[1], Out = w->shape[0];
    mat G = {sg__ptr(g), R, Out, Out, 1};
    int rc = SG_OK;
    if (sg__wants_grad(n, 0)) { /* dx (R,In) = g (R,Out) @ w (Out,In) */
        sg_tensor *gx = sg__alloc(g->dtype, n->in[0]->ndim, n->in[0]->shape, false);
        if (!gx) return SG_ERR_MEM;
        mat W = mat_of(n->saved[1], 0, false), C = {sg__ptr(gx), R, In, In, 1};
        gemm(g->dtype, &G, &W, &C, 1.0, 0.0);
        rc = sg__grad_accum(n->in[0], gx);
    }
    if (!rc && sg__wants_grad(n, 1)) { /* dw (Out,In) = g^T (Out,R) @ x (R,In), straight into w.grad */
        mat Gt = {sg__ptr(g), Out, R, 1, Out}, X = mat_of(x2, 0, false);
        if (w->grad && w->grad->stride[1] == 1 && w->grad->stride[0] >= In) {
            mat C = mat_of(w->grad, 0, false);
            gemm(g->dtype, &Gt, &X, &C, 1.0, 1.0);
            sg__bump(w->grad->storage);
        } else {
            sg_tensor *gw = sg__alloc(g->dtype, 2, w->shape, false);
            if (!gw) return SG_ERR_MEM;
            mat C = mat_of(gw, 0, false);
            gemm(g->dtype, &Gt, &X, &C, 1.0, 0.0);
            rc = sg__grad_accum(w, gw);
        }
    }
    if (!rc && n->n_in > ib && sg__wants_grad(n, ib)) { /* db (Out) = column sums of g */
        sg_tensor *gb = sg__sum_to_shape(g, 1, &Out);
        rc = gb ? sg__grad_accum(n->in[ib], gb) : SG_ERR_MEM;
    }
    if (!rc && n->iarg[LIN_HAS_ADD] && sg__wants_grad(n, 2)) { /* d add = g itself (a shared reference) */
        sg__ref((sg_tensor *)g);
        rc = sg__grad_accum(n->in[2], (sg_tensor *)g);
    }
    return rc;
}

static sg_tensor *linear(const char *name, sg_tensor *x, sg_tensor *w, sg_tensor *bias, sg_tensor *add) {
    if (!sg__check_arg(x, name, "x") || !sg__check_arg(w, name, "w")) return NULL;
    if (bias && !sg__check_arg(bias, name, "bias")) return NULL;
    if (!sg__same_dtype(name, x, w) || (bias && !sg__same_dtype(name, x, bias))) return NULL;
    char sx[SG_SHAPE_BUF], sw[SG_SHAPE_BUF], sbb[SG_SHAPE_BUF];
    if (x->ndim < 1 || w->ndim != 2 || x->shape[x->ndim - 1] != w->shape[1] ||
        (bias && (bias->ndim != 1 || bias->shape[0] != w->shape[0]))) {
        sg_set_error(SG_ERR_SHAPE, "%s: need x (..., In), w (Out, In), bias (Out); got x %s, w %s, bias %s",
                     name, sg__shape_str(x->ndim, x->shape, sx, sizeof sx),
                     sg__shape_str(w->ndim, w->shape, sw, sizeof sw),
                     bias ? sg__shape_str(bias->ndim, bias->shape, sbb, sizeof sbb) : "none");
        return NULL;
    }
    int64_t In = w->shape[1], Out = w->shape[0], R = 1;
    for (int i = 0; i < x->ndim - 1; i++) R *= x->shape[i];
    int64_t shp[SG_MAX_DIMS];
    for (int i = 0; i < x->ndim - 1; i++) shp[i] = x->shape[i];
    shp[x->ndim - 1] = Out;
    if (add) {
        if (!sg__check_arg(add, name, "add") || !sg__same_dtype(name, x, add)) return NULL;
        bool same = add->ndim == x->ndim;
        for (int i = 0; same && i < x->ndim; i++) same = add->shape[i] == shp[i];
        if (!same) {
            sg_set_error(SG_ERR_SHAPE, "%s: add must have the result's shape %s, got %s", name,
                         sg__shape_str(x->ndim, shp, sx, sizeof sx), sg__shape_str(add->ndim, add->shape, sw, sizeof sw));
            return NULL;
        }
    }
    sg_tensor *xc = sg__contig(x);
    sg_tensor *wc = xc ? blas_operand(w) : NULL;
    sg_tensor *out = wc ? sg__out(x->dtype, x->ndim, shp, false) : NULL;
    sg_tensor *x2 = NULL;
    if (out) {
        int64_t s2[2] = {R, In};
        x2 = sg__view(xc, 2, s2, (int64_t[]){In, 1}, xc->offset);
    }
    if (x2) {
        mat X = mat_of(x2, 0, false), Wt = mat_of(wc, 0, true), C = {sg__ptr(out), R, Out, Out, 1};
        double beta = 0.0;
        if (bias || add) { /* prefill rows with add and/or the bias, then accumulate the product */
            /* out as (R, Out): a header on the stack over out's data (no allocation that could fail
             * and leave the result without its bias and add; it never escapes this block) */
            sg_tensor o2 = *out;
            o2.ndim = 2;
            o2.shape[0] = R;
            o2.shape[1] = Out;
            o2.stride[0] = Out;
            o2.stride[1] = 1;
            o2.node = NULL;
            o2.grad = NULL;
            if (add) sg__kcopy(out, add);
            if (bias) (add ? sg__kaccum : sg__kcopy)(&o2, bias);
            beta = 1.0;
        }
        gemm(x->dtype, &X, &Wt, &C, 1.0, beta);
    }
    if (xc) sg__unref(xc);
    if (!x2) {
        if (wc) sg__unref(wc);
        return NULL;
    }
    int err, n_in = 2;
    sg_tensor *in[4] = {x, w};
    if (add) in[n_in++] = add;
    if (bias) in[n_in++] = bias;
    sg_node *n = sg__record(out, name, linear_bw, n_in, in, &err);
    if (n) {
        n->reads = sg__reads_bit(0) | sg__reads_bit(1); /* x and w (saved); never add or bias */
        n->iarg[LIN_HAS_ADD] = add != NULL;
        sg__save(n, 0, x2);
        sg__save(n, 1, wc);
    }
    sg__unref(x2);
    sg__unref(wc);
    return err ? NULL : out;
}

sg_tensor *sg_linear(sg_tensor *x, sg_tensor *w, sg_tensor *bias) { return linear("sg_linear", x, w, bias, NULL); }

sg_tensor *sg_linear_add(sg_tensor *x, sg_tensor *w, sg_tensor *bias, sg_tensor *add) {
    if (!add) {
        sg_set_error(SG_ERR_NULL, "sg_linear_add: argument 'add' is NULL");
        return NULL;
    }
    return linear("sg_linear_add", x, w, bias, add);
}
