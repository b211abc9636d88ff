/* Layer norm (sg_layer_norm): float64 full gradcheck of x, weight and bias over a table of shapes
 * and affine variants (strided x included), float32-vs-float64 agreement, the fused op against its
 * composition from mean/sub/mul/sqrt (forward and every gradient), bitwise thread-count
 * independence, and error paths. PyTorch fixtures: test_ops_torch (ops_layer_norm). */
#include "util/testutil.h"

/* iarg[0]: 1 weight given, iarg[1]: 1 bias given, iarg[2]: x transposed(0,1) first; farg[0]: eps.
 * Inputs: x, then weight, then bias (as given). */
static sg_tensor *f_ln(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    int hw = k->iarg[0], hb = k->iarg[1];
    sg_tensor *a = k->iarg[2] ? sg_transpose(x[0], 0, 1) : x[0];
    return sg_layer_norm(a, hw ? x[1] : NULL, hb ? x[hw ? 2 : 1] : NULL, k->farg[0]);
}

#define SH(...) {__VA_ARGS__}
static const tu_case CASES[] = {
    {"ln affine (4,5)", f_ln, 3, {2, 1, 1}, {SH(4, 5), SH(5), SH(5)}, .iarg = {1, 1, 0}, .farg = {1e-5}},
    {"ln plain (3,6)", f_ln, 1, {2}, {SH(3, 6)}, .iarg = {0, 0, 0}, .farg = {1e-5}},
    {"ln weight (2,3,4)", f_ln, 2, {3, 1}, {SH(2, 3, 4), SH(4)}, .iarg = {1, 0, 0}, .farg = {1e-5}},
    {"ln bias (2,1,3)", f_ln, 2, {3, 1}, {SH(2, 1, 3), SH(3)}, .iarg = {0, 1, 0}, .farg = {0.1}},
    {"ln 1-d (7)", f_ln, 3, {1, 1, 1}, {SH(7), SH(7), SH(7)}, .iarg = {1, 1, 0}, .farg = {1e-5}},
    {"ln D=1 (3,1)", f_ln, 3, {2, 1, 1}, {SH(3, 1), SH(1), SH(1)}, .iarg = {1, 1, 0}, .farg = {1e-5}},
    {"ln D=2 (3,2)", f_ln, 3, {2, 1, 1}, {SH(3, 2), SH(2), SH(2)}, .iarg = {1, 1, 0}, .farg = {1e-5}},
    {"ln transposed x", f_ln, 3, {2, 1, 1}, {SH(5, 3), SH(5), SH(5)}, .iarg = {1, 1, 1}, .farg = {1e-5}},
    {"ln 40 rows (2 blocks)", f_ln, 3, {2, 1, 1}, {SH(40, 3), SH(3), SH(3)}, .iarg = {1, 1, 0}, .farg = {1e-5}},
    {"ln weight no grad", f_ln, 3, {2, 1, 1}, {SH(3, 4), SH(4), SH(4)}, .iarg = {1, 1, 0}, .farg = {1e-5},
     .no_grad_mask = 1u << 1},
    {"ln x no grad", f_ln, 3, {2, 1, 1}, {SH(3, 4), SH(4), SH(4)}, .iarg = {1, 1, 0}, .farg = {1e-5},
     .no_grad_mask = 1u << 0},
    {"ln empty rows", f_ln, 3, {2, 1, 1}, {SH(0, 4), SH(4), SH(4)}, .iarg = {1, 1, 0}, .farg = {1e-5},
     .no_grad_mask = 1u << 0},
};
enum { NCASES = sizeof CASES / sizeof CASES[0] };

START_TEST(grad_table) {
    if (CASES[_i].shape[0][0] == 0) { /* nothing to perturb in x; weight/bias gradients are exactly 0 */
        tu_case c = CASES[_i];
        c.no_grad_mask = 0;
        tu_check_case_grad(&c);
        return;
    }
    tu_check_case_grad(&CASES[_i]);
}
END_TEST
START_TEST(f32_table) { tu_check_case_f32(&CASES[_i]); }
END_TEST

/* The slow reference: layer norm composed of existing ops. */
static sg_tensor *ln_composed(sg_tensor *x, sg_tensor *w, sg_tensor *b, double eps) {
    int last = -1;
    sg_tensor *m = sg_mean(x, 1, &last, true);
    sg_tensor *xm = sg_sub(x, m);
    sg_tensor *var = sg_mean(sg_mul(xm, xm), 1, &last, true);
    sg_tensor *y = sg_div(xm, sg_sqrt(sg_add_scalar(var, eps)));
    if (w) y = sg_mul(y, w);
    if (b) y = sg_add(y, b);
    return y;
}

/* Fused == composed: output and the three gradients, float32 and float64, on rows of 2 blocks+. */
START_TEST(fused_vs_composed) {
    for (int dt = SG_F32; dt <= SG_F64; dt++) {
        int64_t sx[2] = {70, 37}, sd = 37;
        sg_tensor *x = tu_rand(dt, 2, sx, -3, 3, 11, true), *w = tu_rand(dt, 1, &sd, 0.5, 1.5, 12, true);
        sg_tensor *b = tu_rand(dt, 1, &sd, -1, 1, 13, true), *R = tu_rand(dt, 2, sx, -1, 1, 14, false);
        sg_tensor *xs[3] = {x, w, b}, *ref[3], *got[3];
        sg_tensor *yr = ln_composed(x, w, b, 1e-5);
        ck_assert_int_eq(sg_backward_grad(yr, R), SG_OK);
        for (int k = 0; k < 3; k++) {
            ref[k] = sg_copy(sg_grad(xs[k]));
            sg_zero_grad(&xs[k], 1);
        }
        sg_tensor *yf = sg_layer_norm(x, w, b, 1e-5);
        ck_assert_int_eq(sg_backward_grad(yf, R), SG_OK);
        double tol = dt == SG_F64 ? 1e-12 : 2e-5;
        double e[70 * 37];
        for (int64_t i = 0; i < sg_numel(yr); i++) e[i] = sg_get_flat(yr, i);
        tu_assert_values(yf, e, sg_numel(yr), tol, tol);
        for (int k = 0; k < 3; k++) {
            got[k] = sg_grad(xs[k]);
            for (int64_t i = 0; i < sg_numel(ref[k]); i++) e[i] = sg_get_flat(ref[k], i);
            tu_assert_values(got[k], e, sg_numel(ref[k]), tol * 10, tol * 10);
            sg_tensor_free(ref[k]);
        }
        sg_tape_clear();
        for (int k = 0; k < 3; k++) sg_tensor_free(xs[k]);
        sg_tensor_free(R);
        tu_teardown();
    }
}
END_TEST

/* Output and gradients bitwise equal at 1 and 2 threads (rows parallel, fixed gradient blocks),
 * on a size that takes the parallel path. */
START_TEST(threads_bitwise) {
    int64_t sx[2] = {512, 96}, sd = 96;
    sg_tensor *x = tu_rand(SG_F32, 2, sx, -2, 2, 21, true), *w = tu_rand(SG_F32, 1, &sd, 0.5, 1.5, 22, true);
    sg_tensor *b = tu_rand(SG_F32, 1, &sd, -1, 1, 23, true), *R = tu_rand(SG_F32, 2, sx, -1, 1, 24, false);
    sg_tensor *xs[3] = {x, w, b}, *res[2][4];
    int saved = sg_get_num_threads();
    for (int t = 0; t < 2; t++) {
        sg_set_num_threads(t + 1);
        sg_zero_grad(xs, 3);
        sg_tensor *y = sg_layer_norm(x, w, b, 1e-5);
        ck_assert_int_eq(sg_backward_grad(y, R), SG_OK);
        res[t][0] = sg_copy(y);
        for (int k = 0; k < 3; k++) res[t][k + 1] = sg_copy(sg_grad(xs[k]));
        sg_tape_clear();
    }
    sg_set_num_threads(saved);
    for (int k = 0; k < 4; k++) {
        for (int64_t i = 0; i < sg_numel(res[0][k]); i++)
            ck_assert_msg(sg_get_flat(res[0][k], i) == sg_get_flat(res[1][k], i), "tensor %d element %lld differs", k,
                          (long long)i);
        sg_tensor_free(res[0][k]);
        sg_tensor_free(res[1][k]);
    }
    for (int k = 0; k < 3; k++) sg_tensor_free(xs[k]);
    sg_tensor_free(R);
    tu_teardown();
}
END_TEST

/* Hand-computed: a row of [1, 2, 3] has mean 2 and var 2/3. */
START_TEST(values) {
    double v[6] = {1, 2, 3, -1, -1, -1};
    sg_tensor *x = tu_from(SG_F64, 2, (int64_t[]){2, 3}, v);
    sg_tensor *y = sg_layer_norm(x, NULL, NULL, 0);
    double r = 1 / sqrt(2.0 / 3.0);
    double e[6] = {-r, 0, r, 0, 0, 0}; /* a constant row with eps 0 is 0 * inf = NaN in torch: use eps */
    sg_tensor *y2 = sg_layer_norm(x, NULL, NULL, 1e-5);
    double r2 = 1 / sqrt(2.0 / 3.0 + 1e-5);
    double e2[6] = {-r2, 0, r2, 0, 0, 0};
    tu_assert_values(y2, e2, 6, 1e-14, 1e-14);
    ck_assert(fabs(sg_get_flat(y, 0) - e[0]) < 1e-14 && fabs(sg_get_flat(y, 2) - e[2]) < 1e-14);
    sg_tensor_free(x);
    tu_teardown();
}
END_TEST

START_TEST(errors) {
    int64_t s2[2] = {3, 4}, s4 = 4, s5 = 5;
    sg_tensor *x = sg_zeros(SG_F64, 2, s2), *w5 = sg_ones(SG_F64, 1, &s5), *w32 = sg_ones(SG_F32, 1, &s4);
    sg_tensor *w2 = sg_ones(SG_F64, 2, s2), *s = sg_scalar(SG_F64, 1);
    ck_assert_ptr_null(sg_layer_norm(x, w5, NULL, 1e-5));
    tu_assert_error(SG_ERR_SHAPE, "weight must be (D) = (4)");
    ck_assert_ptr_null(sg_layer_norm(x, NULL, w2, 1e-5));
    tu_assert_error(SG_ERR_SHAPE, "bias");
    ck_assert_ptr_null(sg_layer_norm(x, w32, NULL, 1e-5));
    tu_assert_error(SG_ERR_DTYPE, "sg_layer_norm");
    ck_assert_ptr_null(sg_layer_norm(x, NULL, NULL, -1));
    tu_assert_error(SG_ERR_ARG, "eps");
    ck_assert_ptr_null(sg_layer_norm(x, NULL, NULL, NAN));
    tu_assert_error(SG_ERR_ARG, "eps");
    ck_assert_ptr_null(sg_layer_norm(s, NULL, NULL, 1e-5));
    tu_assert_error(SG_ERR_SHAPE, "0-d");
    ck_assert_ptr_null(sg_layer_norm(NULL, NULL, NULL, 1e-5));
    tu_assert_error(SG_ERR_NULL, "'x'");
    sg_tensor *ts[] = {x, w5, w32, w2, s};
    for (int i = 0; i < 5; i++) sg_tensor_free(ts[i]);
    tu_teardown();
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("ops_norm");
    TCase *tc = tcase_create("layer_norm");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, grad_table, 0, NCASES);
    tcase_add_loop_test(tc, f32_table, 0, NCASES);
    tcase_add_test(tc, fused_vs_composed);
    tcase_add_test(tc, threads_bitwise);
    tcase_add_test(tc, values);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run(suite()); }
