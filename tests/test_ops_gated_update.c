/* The fused gated update (sg_gated_tanh_update): float64 gradcheck of a, z and h over a table of
 * shapes (strided inputs and inputs without gradient included), float32-vs-float64 forward
 * agreement, equality with the composition of primitive ops it replaces (values and gradients,
 * both dtypes), bitwise thread-count independence on a size that runs in parallel, and errors
 * naming the argument. */
#include <stdlib.h>

#include "util/testutil.h"

/* iarg[0]: 1 when a is given transposed (strided). Inputs a, z, h. */
static sg_tensor *f_fused(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    return sg_gated_tanh_update(k->iarg[0] ? sg_transpose(x[0], 0, 1) : x[0], x[1], x[2]);
}
/* the same formula from primitive ops: h + z (tanh(a) - h) */
static sg_tensor *f_composed(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    sg_tensor *a = k->iarg[0] ? sg_transpose(x[0], 0, 1) : x[0];
    return sg_add(x[2], sg_mul(x[1], sg_sub(sg_tanh(a), x[2])));
}

#define SH(...) {__VA_ARGS__}
static const tu_case CASES[] = {
    {"(3,5)", f_fused, 3, {2, 2, 2}, {SH(3, 5), SH(3, 5), SH(3, 5)}, .lo = -2, .hi = 2},
    {"(1,1)", f_fused, 3, {2, 2, 2}, {SH(1, 1), SH(1, 1), SH(1, 1)}},
    {"3-d (2,3,4)", f_fused, 3, {3, 3, 3}, {SH(2, 3, 4), SH(2, 3, 4), SH(2, 3, 4)}},
    {"strided a", f_fused, 3, {2, 2, 2}, {SH(4, 3), SH(3, 4), SH(3, 4)}, .iarg = {1}},
    {"no h grad", f_fused, 3, {2, 2, 2}, {SH(2, 6), SH(2, 6), SH(2, 6)}, .no_grad_mask = 4},
    {"only z grad", f_fused, 3, {2, 2, 2}, {SH(2, 6), SH(2, 6), SH(2, 6)}, .no_grad_mask = 5},
    {"only a grad", f_fused, 3, {2, 2, 2}, {SH(2, 6), SH(2, 6), SH(2, 6)}, .no_grad_mask = 6},
    {"composed reference", f_composed, 3, {2, 2, 2}, {SH(3, 5), SH(3, 5), SH(3, 5)}, .lo = -2, .hi = 2},
};
enum { NCASES = sizeof CASES / sizeof CASES[0] };

START_TEST(grad_table) { tu_check_case_grad(&CASES[_i]); }
END_TEST
START_TEST(f32_table) { tu_check_case_f32(&CASES[_i]); }
END_TEST

/* y, then the gradients of a, z, h, from a fixed cotangent; values as doubles (caller frees) */
static double *run(sg_gradcheck_fn fn, sg_dtype dt, int64_t R, int64_t C, int64_t *count) {
    tu_case k = {0};
    int64_t shape[2] = {R, C}, n = R * C;
    sg_tensor *in[3] = {tu_rand(dt, 2, shape, -3, 3, 1, true), tu_rand(dt, 2, shape, 0, 1, 2, true),
                        tu_rand(dt, 2, shape, -1, 1, 3, true)};
    sg_tensor *g = tu_rand(dt, 2, shape, -1, 1, 4, false);
    sg_tensor *y = fn(in, 3, &k);
    ck_assert_msg(y != NULL, "%s", sg_last_error());
    ck_assert_int_eq(sg_backward_grad(y, g), SG_OK);
    double *v = malloc((size_t)(4 * n) * sizeof *v);
    sg_to_buffer(y, v, SG_F64);
    for (int i = 0; i < 3; i++) sg_to_buffer(sg_grad(in[i]), v + (i + 1) * n, SG_F64);
    sg_tape_clear();
    for (int i = 0; i < 3; i++) sg_tensor_free(in[i]);
    sg_tensor_free(g);
    *count = 4 * n;
    return v;
}

START_TEST(fused_equals_composed) {
    for (int d = SG_F32; d <= SG_F64; d++) {
        int64_t n;
        double *a = run(f_fused, (sg_dtype)d, 17, 33, &n), *b = run(f_composed, (sg_dtype)d, 17, 33, &n);
        double tol = d == SG_F64 ? 1e-14 : 1e-6;
        for (int64_t j = 0; j < n; j++)
            ck_assert_msg(fabs(a[j] - b[j]) <= tol * (1 + fabs(b[j])), "dtype %d value %lld: fused %.12g composed %.12g",
                          d, (long long)j, a[j], b[j]);
        free(a);
        free(b);
    }
    tu_teardown();
}
END_TEST

/* 64 x 256 elements: above the parallel threshold, several chunks */
START_TEST(threads_bitwise) {
    int saved = sg_get_num_threads();
    double *r[2];
    int64_t n = 0;
    for (int t = 0; t < 2; t++) {
        sg_set_num_threads(t + 1);
        r[t] = run(f_fused, SG_F32, 64, 256, &n);
    }
    sg_set_num_threads(saved);
    for (int64_t j = 0; j < n; j++) ck_assert_msg(r[0][j] == r[1][j], "element %lld differs", (long long)j);
    free(r[0]);
    free(r[1]);
    tu_teardown();
}
END_TEST

START_TEST(errors) {
    sg_tensor *a = sg_zeros(SG_F32, 2, (int64_t[]){2, 3}), *b = sg_zeros(SG_F32, 2, (int64_t[]){3, 2});
    sg_tensor *d = sg_zeros(SG_F64, 2, (int64_t[]){2, 3});
    ck_assert_ptr_nonnull(sg_gated_tanh_update(a, a, a));
    ck_assert_ptr_null(sg_gated_tanh_update(a, b, a));
    tu_assert_error(SG_ERR_SHAPE, "z must have a's shape (2,3), got (3,2)");
    ck_assert_ptr_null(sg_gated_tanh_update(a, a, b));
    tu_assert_error(SG_ERR_SHAPE, "h must have a's shape");
    ck_assert_ptr_null(sg_gated_tanh_update(a, d, a));
    tu_assert_error(SG_ERR_DTYPE, "sg_gated_tanh_update");
    ck_assert_ptr_null(sg_gated_tanh_update(a, a, NULL));
    tu_assert_error(SG_ERR_NULL, "'h'");
    sg_tape_clear();
    sg_tensor *fr[] = {a, b, d};
    for (int i = 0; i < 3; i++) sg_tensor_free(fr[i]);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_gated_update");
    TCase *t = tcase_create("gated_tanh_update");
    tcase_add_loop_test(t, grad_table, 0, NCASES);
    tcase_add_loop_test(t, f32_table, 0, NCASES);
    tcase_add_test(t, fused_equals_composed);
    tcase_add_test(t, threads_bitwise);
    tcase_add_test(t, errors);
    suite_add_tcase(s, t);
    return tu_run(s);
}
