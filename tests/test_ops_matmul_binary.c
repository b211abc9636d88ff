/* Binary elementwise ops and matrix products: float64 gradcheck (full mode) over a table of shapes
 * including broadcasting and size-1 dims, float32-vs-float64 forward agreement, hand-computed
 * forward values, and error paths. */
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
/* matmul of a transposed view: exercises BLAS on strided operands */
static sg_tensor *f_matmul_view(sg_tensor *const *x, int n, void *c) {
    (void)n; (void)c;
    return sg_matmul(sg_transpose(x[0], 0, 1), x[1]);
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
    {"linear", f_linear, 3, {2, 2, 1}, {SH(5, 3), SH(4, 3), SH(4)}},
    {"linear 3d", f_linear, 3, {3, 2, 1}, {SH(2, 3, 3), SH(4, 3), SH(4)}},
    {"linear nobias", f_linear, 2, {2, 2}, {SH(5, 3), SH(4, 3)}},
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
    sg_tensor *frees[] = {A, B, M, W, bb};
    for (int i = 0; i < 5; i++) sg_tensor_free(frees[i]);
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
    sg_tensor_free(w22);
    sg_tensor_free(a);
    sg_tensor_free(b);
    sg_tensor_free(c);
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
    suite_add_tcase(s, t);
    return tu_run(s);
}
