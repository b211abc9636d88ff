/* Binary elementwise ops and matrix products: float64 gradcheck (full mode) over a table of shapes
 * including broadcasting and size-1 dims, float32-vs-float64 forward agreement, hand-computed
 * forward values, and error paths. */
#include <float.h>
#include <stdlib.h>

#include "util/testutil.h"

static sg_tensor *f_add(sg_tensor *const *x, int n, void *c) { (void)n; (void)c; return sg_add(x[0], x[1]); }
static sg_tensor *f_sub(sg_tensor *const *x, int n, void *c) { (void)n; (void)c; return sg_sub(x[0], x[1]); }
static sg_tensor *f_mul(sg_tensor *const *x, int n, void *c) { (void)n; (void)c; return sg_mul(x[0], x[1]); }
static sg_tensor *f_div(sg_tensor *const *x, int n, void *c) { (void)n; (void)c; return sg_div(x[0], x[1]); }
static sg_tensor *f_matmul_t(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    return sg_matmul_t(x[0], k->iarg[0], x[1], k->iarg[1]);
}
static sg_tensor *f_linear(sg_tensor *const *x, int n, void *c) {
    (void)c;
    return sg_linear(x[0], x[1], n > 2 ? x[2] : NULL);
}
/* x, w, add [, bias]: add is a strided view (a column slice) in the "view" rows */
static sg_tensor *f_linear_add(sg_tensor *const *x, int n, void *c) {
    const tu_case *k = c;
    sg_tensor *add = k->iarg[0] ? sg_narrow(x[2], 1, 1, sg_size(x[1], 0)) : x[2];
    return sg_linear_add(x[0], x[1], n > 3 ? x[3] : NULL, add);
}
/* matmul of a transposed view: exercises BLAS on strided operands */
static sg_tensor *f_matmul_view(sg_tensor *const *x, int n, void *c) {
    (void)n; (void)c;
    return sg_matmul(sg_transpose(x[0], 0, 1), x[1]);
}

/* attention-style heads: x0 (B,T,h,d) -> (B,h,T,d) by a strided transpose, @ x1 (B,h,d,S) */
static sg_tensor *f_matmul_heads(sg_tensor *const *x, int n, void *c) {
    (void)n; (void)c;
    return sg_matmul(sg_transpose(x[0], 1, 2), x[1]);
}

#define SH(...) {__VA_ARGS__}
static const tu_case CASES[] = {
    {"add same", f_add, 2, {2, 2}, {SH(3, 4), SH(3, 4)}},
    {"add bcast row", f_add, 2, {2, 1}, {SH(3, 4), SH(4)}},
    {"add bcast both", f_add, 2, {3, 3}, {SH(2, 1, 4), SH(1, 3, 1)}},
    {"add scalar-0d", f_add, 2, {2, 0}, {SH(2, 3), SH(0)}},
    {"sub bcast col", f_sub, 2, {2, 2}, {SH(3, 4), SH(3, 1)}},
    {"mul bcast", f_mul, 2, {3, 2}, {SH(2, 3, 4), SH(3, 1)}},
    {"mul size1", f_mul, 2, {2, 2}, {SH(1, 1), SH(1, 5)}},
    {"div", f_div, 2, {2, 2}, {SH(2, 3), SH(2, 3)}, .lo = 0.5, .hi = 2},
    {"div bcast", f_div, 2, {2, 1}, {SH(2, 3), SH(3)}, .lo = 0.5, .hi = 2},
    {"matmul 2d", f_matmul_t, 2, {2, 2}, {SH(3, 4), SH(4, 5)}},
    {"matmul aT", f_matmul_t, 2, {2, 2}, {SH(4, 3), SH(4, 5)}, .iarg = {1, 0}},
    {"matmul bT", f_matmul_t, 2, {2, 2}, {SH(3, 4), SH(5, 4)}, .iarg = {0, 1}},
    {"matmul aT bT", f_matmul_t, 2, {2, 2}, {SH(4, 3), SH(5, 4)}, .iarg = {1, 1}},
    {"matmul vec", f_matmul_t, 2, {2, 2}, {SH(1, 4), SH(4, 1)}},
    {"bmm", f_matmul_t, 2, {3, 3}, {SH(2, 3, 4), SH(2, 4, 2)}},
    {"bmm shared b", f_matmul_t, 2, {3, 2}, {SH(2, 3, 4), SH(4, 2)}},
    {"bmm shared a", f_matmul_t, 2, {2, 3}, {SH(3, 4), SH(2, 4, 2)}},
    {"bmm shared aT", f_matmul_t, 2, {2, 3}, {SH(4, 3), SH(2, 4, 2)}, .iarg = {1, 0}},
    {"bmm aT bT", f_matmul_t, 2, {3, 3}, {SH(2, 4, 3), SH(2, 2, 4)}, .iarg = {1, 1}},
    {"matmul view", f_matmul_view, 2, {2, 2}, {SH(4, 3), SH(4, 2)}},
    {"matmul 4d", f_matmul_t, 2, {4, 4}, {SH(2, 2, 3, 4), SH(2, 2, 4, 2)}},
    {"matmul 4d bcast 3d", f_matmul_t, 2, {4, 3}, {SH(2, 1, 3, 4), SH(3, 4, 2)}},
    {"matmul 3d batch 1 bcast", f_matmul_t, 2, {3, 3}, {SH(1, 3, 4), SH(3, 4, 2)}},
    {"matmul 3d bcast other", f_matmul_t, 2, {3, 3}, {SH(3, 2, 4), SH(1, 4, 2)}, .iarg = {0, 0}},
    {"matmul 4d @ 2d", f_matmul_t, 2, {4, 2}, {SH(2, 2, 3, 4), SH(4, 2)}},
    {"matmul 2d aT @ 4d", f_matmul_t, 2, {2, 4}, {SH(4, 3), SH(2, 1, 4, 2)}, .iarg = {1, 0}},
    {"matmul 4d bT bcast", f_matmul_t, 2, {4, 3}, {SH(2, 3, 3, 4), SH(3, 5, 4)}, .iarg = {0, 1}},
    {"matmul 5d aT bT", f_matmul_t, 2, {5, 4}, {SH(2, 1, 2, 4, 3), SH(3, 1, 2, 4)}, .iarg = {1, 1}},
    {"matmul heads strided", f_matmul_heads, 2, {4, 4}, {SH(2, 3, 2, 4), SH(2, 2, 4, 3)}},
    {"linear", f_linear, 3, {2, 2, 1}, {SH(5, 3), SH(4, 3), SH(4)}},
    {"linear 3d", f_linear, 3, {3, 2, 1}, {SH(2, 3, 3), SH(4, 3), SH(4)}},
    {"linear nobias", f_linear, 2, {2, 2}, {SH(5, 3), SH(4, 3)}},
    {"linear_add", f_linear_add, 4, {2, 2, 2, 1}, {SH(5, 3), SH(4, 3), SH(5, 4), SH(4)}},
    {"linear_add 3d nobias", f_linear_add, 3, {3, 2, 3}, {SH(2, 3, 3), SH(4, 3), SH(2, 3, 4)}},
    {"linear_add 3d bias", f_linear_add, 4, {3, 2, 3, 1}, {SH(2, 3, 3), SH(4, 3), SH(2, 3, 4), SH(4)}}, /* the (R, Out) prefill */
    {"linear_add view", f_linear_add, 4, {2, 2, 2, 1}, {SH(5, 3), SH(4, 3), SH(5, 6), SH(4)}, .iarg = {1}},
    {"linear_add only add", f_linear_add, 4, {2, 2, 2, 1}, {SH(5, 3), SH(4, 3), SH(5, 4), SH(4)}, .no_grad_mask = 11},
};
enum { NCASES = sizeof CASES / sizeof CASES[0] };

START_TEST(grad_table) { tu_check_case_grad(&CASES[_i]); }
END_TEST
START_TEST(f32_table) { tu_check_case_f32(&CASES[_i]); }
END_TEST

START_TEST(forward_values) {
    double a[] = {1, 2, 3, 4, 5, 6}, b[] = {10, 20, 30};
    sg_tensor *A = sg_from_buffer(SG_F64, 2, (int64_t[]){2, 3}, a, SG_F64);
    sg_tensor *B = sg_from_buffer(SG_F64, 1, (int64_t[]){3}, b, SG_F64);
    tu_assert_values(sg_add(A, B), (double[]){11, 22, 33, 14, 25, 36}, 6, 0, 0);
    tu_assert_values(sg_sub(A, B), (double[]){-9, -18, -27, -6, -15, -24}, 6, 0, 0);
    tu_assert_values(sg_mul(A, B), (double[]){10, 40, 90, 40, 100, 180}, 6, 0, 0);
    tu_assert_values(sg_div(B, A), (double[]){10, 10, 10, 2.5, 4, 5}, 6, 0, 1e-15);
    /* (2,3) @ (3,2) */
    double m[] = {1, 0, 0, 1, 1, 1};
    sg_tensor *M = sg_from_buffer(SG_F64, 2, (int64_t[]){3, 2}, m, SG_F64);
    tu_assert_values(sg_matmul(A, M), (double[]){4, 5, 10, 11}, 4, 0, 0);
    tu_assert_values(sg_matmul_t(A, false, A, true), (double[]){14, 32, 32, 77}, 4, 0, 0);
    /* linear: x (2,3) w (2,3) b (2) */
    sg_tensor *W = sg_from_buffer(SG_F64, 2, (int64_t[]){2, 3}, (double[]){1, 1, 1, 0, 1, 0}, SG_F64);
    sg_tensor *bb = sg_from_buffer(SG_F64, 1, (int64_t[]){2}, (double[]){0.5, -1}, SG_F64);
    tu_assert_values(sg_linear(A, W, bb), (double[]){6.5, 1, 15.5, 4}, 4, 0, 0);
    sg_tensor *C = sg_from_buffer(SG_F64, 2, (int64_t[]){2, 2}, (double[]){10, 20, 30, 40}, SG_F64);
    tu_assert_values(sg_linear_add(A, W, bb, C), (double[]){16.5, 21, 45.5, 44}, 4, 0, 0);
    tu_assert_values(sg_linear_add(A, W, NULL, C), (double[]){16, 22, 45, 45}, 4, 0, 0);
    sg_tensor *frees[] = {A, B, M, W, bb, C};
    for (int i = 0; i < 6; i++) sg_tensor_free(frees[i]);
    tu_teardown();
}
END_TEST

START_TEST(errors) {
    sg_tensor *a = sg_zeros(SG_F64, 2, (int64_t[]){2, 3});
    sg_tensor *b = sg_zeros(SG_F64, 2, (int64_t[]){4, 3});
    sg_tensor *c = sg_zeros(SG_F32, 2, (int64_t[]){2, 3});
    ck_assert_ptr_null(sg_add(a, b));
    tu_assert_error(SG_ERR_SHAPE, "(2,3) and (4,3)");
    ck_assert_ptr_null(sg_mul(a, c));
    tu_assert_error(SG_ERR_DTYPE, "float64");
    ck_assert_ptr_null(sg_matmul(a, a));
    tu_assert_error(SG_ERR_SHAPE, "sg_matmul");
    sg_tensor *b3 = sg_zeros(SG_F64, 3, (int64_t[]){2, 3, 4}), *b4 = sg_zeros(SG_F64, 4, (int64_t[]){1, 3, 4, 2});
    ck_assert_ptr_null(sg_matmul(b3, b4)); /* batch dims (2) and (1,3) do not broadcast */
    tu_assert_error(SG_ERR_SHAPE, "leading dims must broadcast");
    sg_tensor *v1 = sg_zeros(SG_F64, 1, (int64_t[]){4});
    ck_assert_ptr_null(sg_matmul(b3, v1));
    tu_assert_error(SG_ERR_SHAPE, "at least 2-D");
    sg_tensor_free(b3);
    sg_tensor_free(b4);
    sg_tensor_free(v1);
    ck_assert_ptr_null(sg_add(NULL, a));
    tu_assert_error(SG_ERR_NULL, "'a' is NULL");
    /* propagation: the first error is kept, later ops just return NULL */
    sg_tensor *bad = sg_add(a, b);
    sg_tensor *r = sg_mul(sg_exp(bad), a);
    ck_assert_ptr_null(r);
    tu_assert_error(SG_ERR_SHAPE, "sg_add");
    sg_tensor *w22 = sg_zeros(SG_F64, 2, (int64_t[]){2, 2}); /* In = 2, but x has 3 features */
    ck_assert_ptr_null(sg_linear(a, w22, NULL));
    tu_assert_error(SG_ERR_SHAPE, "sg_linear");
    sg_tensor *w33 = sg_zeros(SG_F64, 2, (int64_t[]){3, 3});
    ck_assert_ptr_null(sg_linear_add(a, w33, NULL, NULL));
    tu_assert_error(SG_ERR_NULL, "'add' is NULL");
    ck_assert_ptr_null(sg_linear_add(a, w33, NULL, b)); /* result (2,3), add (4,3) */
    tu_assert_error(SG_ERR_SHAPE, "add must have the result's shape (2,3)");
    ck_assert_ptr_null(sg_linear_add(a, w33, NULL, c));
    tu_assert_error(SG_ERR_DTYPE, "sg_linear_add");
    sg_tensor_free(w33);
    sg_tensor_free(w22);
    sg_tensor_free(a);
    sg_tensor_free(b);
    sg_tensor_free(c);
    tu_teardown();
}
END_TEST

/* The float32 GEMM fast path (oneDNN sgemm) against the reference (OpenBLAS), forward and
 * backward, over transposes, batching, strided views and odd sizes:
 * |ref - x| <= atol + |ref| * K * FLT_EPSILON. */
static double run_mm(sg_gemm_backend be, sg_tensor *a, bool ta, sg_tensor *b, bool tb, double *out, double *ga, double *gb) {
    ck_assert_int_eq(sg_set_gemm_backend(be), 0);
    sg_zero_grad((sg_tensor *[]){a, b}, 2);
    sg_tensor *y = sg_matmul_t(a, ta, b, tb);
    ck_assert_msg(y != NULL, "%s", sg_last_error());
    sg_to_buffer(y, out, SG_F64);
    ck_assert_int_eq(sg_backward(sg_sum_all(sg_mul(y, y))), 0);
    sg_to_buffer(sg_grad(a), ga, SG_F64);
    sg_to_buffer(sg_grad(b), gb, SG_F64);
    double n = (double)sg_numel(y);
    sg_tape_clear();
    return n;
}

START_TEST(gemm_fast_path) {
    if (sg_set_gemm_backend(SG_GEMM_ONEDNN) != SG_OK) {
        tu_assert_error(SG_ERR_UNSUPPORTED, "without oneDNN");
        printf("gemm_fast_path: oneDNN not built in: skipped\n");
        return;
    }
    static const struct { int nd; int64_t M, K, N, batch; bool ta, tb; } S[] = {
        {2, 64, 128, 512, 0, false, true}, {2, 1, 256, 1024, 0, false, true}, {2, 37, 29, 53, 0, true, false},
        {2, 5, 1, 7, 0, false, false},     {3, 9, 17, 6, 3, true, true},      {3, 33, 64, 65, 2, false, false}};
    enum { BUF = 1 << 19 }; /* >= the largest operand below */
    double *r[3], *x[3];
    for (int k = 0; k < 3; k++) {
        r[k] = malloc(BUF * sizeof(double));
        x[k] = malloc(BUF * sizeof(double));
    }
    for (size_t i = 0; i < sizeof S / sizeof *S; i++) {
        int64_t as[3], bs[3];
        int nd = S[i].nd, o = nd - 2;
        if (nd == 3) as[0] = bs[0] = S[i].batch;
        as[o] = S[i].ta ? S[i].K : S[i].M;
        as[o + 1] = S[i].ta ? S[i].M : S[i].K;
        bs[o] = S[i].tb ? S[i].N : S[i].K;
        bs[o + 1] = S[i].tb ? S[i].K : S[i].N;
        sg_tensor *a = tu_rand(SG_F32, nd, as, -1, 1, 10 + i, true), *b = tu_rand(SG_F32, nd, bs, -1, 1, 20 + i, true);
        double n = run_mm(SG_GEMM_OPENBLAS, a, S[i].ta, b, S[i].tb, r[0], r[1], r[2]);
        run_mm(SG_GEMM_ONEDNN, a, S[i].ta, b, S[i].tb, x[0], x[1], x[2]);
        int64_t cnt[3] = {(int64_t)n, sg_numel(a), sg_numel(b)};
        /* y sums K products and the gradients sum M or N of them again: rounding scales with the
         * tensor's magnitude, not the entry's (small entries come from cancellation) */
        double kk = (double)(S[i].K + S[i].M + S[i].N);
        for (int k = 0; k < 3; k++) {
            int bad = 0;
            double scale = 0;
            for (int64_t j = 0; j < cnt[k]; j++) scale = fmax(scale, fabs(r[k][j]));
            for (int64_t j = 0; j < cnt[k]; j++) {
                double tol = 1e-6 + (fabs(r[k][j]) + scale) * kk * FLT_EPSILON;
                if (!(fabs(r[k][j] - x[k][j]) <= tol) && bad++ < 3)
                    fprintf(stderr, "case %zu part %d [%lld]: openblas %.9g onednn %.9g\n", i, k, (long long)j, r[k][j], x[k][j]);
            }
            ck_assert_msg(bad == 0, "case %zu part %d: %d mismatches", i, k, bad);
        }
        sg_tensor_free(a);
        sg_tensor_free(b);
    }
    for (int k = 0; k < 3; k++) {
        free(r[k]);
        free(x[k]);
    }
    sg_set_gemm_backend(SG_GEMM_AUTO);
    ck_assert_int_eq(sg_get_gemm_backend(), SG_GEMM_ONEDNN);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_matmul_binary");
    TCase *t = tcase_create("table");
    tcase_add_loop_test(t, grad_table, 0, NCASES);
    tcase_add_loop_test(t, f32_table, 0, NCASES);
    tcase_add_test(t, forward_values);
    tcase_add_test(t, errors);
    tcase_add_test(t, gemm_fast_path);
    suite_add_tcase(s, t);
    return tu_run(s);
}
