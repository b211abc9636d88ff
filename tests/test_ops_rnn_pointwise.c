/* Fused LSTM/GRU pointwise ops: float64 gradcheck, float32-vs-float64 forward, equality with the
 * composition of primitive ops they replace (values and gradients), and shape errors. */
#include <float.h>
#include <stdlib.h>

#include "util/testutil.h"
#include "ops/fastmath.h"

static sg_tensor *f_lstm(sg_tensor *const *x, int n, void *c) { (void)n; (void)c; return sg_lstm_pointwise(x[0], x[1], x[2]); }
/* one pre-activation input: sg_lstm_pointwise(xg + hg, NULL, c) */
static sg_tensor *f_lstm1(sg_tensor *const *x, int n, void *c) { (void)n; (void)c; return sg_lstm_pointwise(x[0], NULL, x[1]); }
static sg_tensor *f_gru(sg_tensor *const *x, int n, void *c) { (void)n; (void)c; return sg_gru_pointwise(x[0], x[1], x[2]); }

/* the compositions nn/rnn_cell.c used before the fused ops */
static sg_tensor *g(sg_tensor *t, int k, int64_t H) { return sg_narrow(t, 1, k * H, H); }
static sg_tensor *lstm_ref(sg_tensor *const *x, int n, void *c) {
    (void)n; (void)c;
    int64_t H = sg_size(x[2], 1);
    sg_tensor *a = sg_add(x[0], x[1]);
    sg_tensor *cn = sg_add(sg_mul(sg_sigmoid(g(a, 1, H)), x[2]), sg_mul(sg_sigmoid(g(a, 0, H)), sg_tanh(g(a, 2, H))));
    sg_tensor *hn = sg_mul(sg_sigmoid(g(a, 3, H)), sg_tanh(cn));
    return sg_stack(2, (sg_tensor *[]){hn, cn}, 0);
}
static sg_tensor *gru_ref(sg_tensor *const *x, int n, void *c) {
    (void)n; (void)c;
    int64_t H = sg_size(x[2], 1);
    sg_tensor *r = sg_sigmoid(sg_add(g(x[0], 0, H), g(x[1], 0, H)));
    sg_tensor *z = sg_sigmoid(sg_add(g(x[0], 1, H), g(x[1], 1, H)));
    sg_tensor *nn = sg_tanh(sg_add(g(x[0], 2, H), sg_mul(r, g(x[1], 2, H))));
    return sg_add(nn, sg_mul(z, sg_sub(x[2], nn)));
}

#define SH(...) {__VA_ARGS__}
static const tu_case CASES[] = {
    {"lstm 3x2", f_lstm, 3, {2, 2, 2}, {SH(3, 8), SH(3, 8), SH(3, 2)}, .lo = -2, .hi = 2},
    {"lstm 1x1", f_lstm, 3, {2, 2, 2}, {SH(1, 4), SH(1, 4), SH(1, 1)}, .lo = -2, .hi = 2},
    {"lstm no c grad", f_lstm, 3, {2, 2, 2}, {SH(2, 12), SH(2, 12), SH(2, 3)}, .no_grad_mask = 4},
    {"lstm only hg", f_lstm, 3, {2, 2, 2}, {SH(2, 12), SH(2, 12), SH(2, 3)}, .no_grad_mask = 5},
    {"lstm one input", f_lstm1, 2, {2, 2}, {SH(3, 8), SH(3, 2)}, .lo = -2, .hi = 2},
    {"lstm one input no c grad", f_lstm1, 2, {2, 2}, {SH(2, 12), SH(2, 3)}, .no_grad_mask = 2},
    {"gru 3x2", f_gru, 3, {2, 2, 2}, {SH(3, 6), SH(3, 6), SH(3, 2)}, .lo = -2, .hi = 2},
    {"gru 1x1", f_gru, 3, {2, 2, 2}, {SH(1, 3), SH(1, 3), SH(1, 1)}},
    {"gru only h", f_gru, 3, {2, 2, 2}, {SH(2, 9), SH(2, 9), SH(2, 3)}, .no_grad_mask = 3},
    {"lstm ref", lstm_ref, 3, {2, 2, 2}, {SH(3, 8), SH(3, 8), SH(3, 2)}, .lo = -2, .hi = 2},
    {"gru ref", gru_ref, 3, {2, 2, 2}, {SH(3, 6), SH(3, 6), SH(3, 2)}, .lo = -2, .hi = 2},
};
enum { NCASES = sizeof CASES / sizeof CASES[0] };

START_TEST(grad_table) { tu_check_case_grad(&CASES[_i]); }
END_TEST
START_TEST(f32_table) { tu_check_case_f32(&CASES[_i]); }
END_TEST

/* fused == composition: forward values and every input gradient, float64 */
static void same_as_ref(sg_gradcheck_fn fused, sg_gradcheck_fn ref, int64_t B, int64_t G, int64_t H) {
    sg_tensor *in[3] = {tu_rand(SG_F64, 2, (int64_t[]){B, G * H}, -3, 3, 1, true),
                        tu_rand(SG_F64, 2, (int64_t[]){B, G * H}, -3, 3, 2, true),
                        tu_rand(SG_F64, 2, (int64_t[]){B, H}, -3, 3, 3, true)};
    double *vals[2], *grads[2][3];
    int64_t ny = 0;
    for (int v = 0; v < 2; v++) {
        sg_tensor *y = (v ? ref : fused)(in, 3, NULL);
        ck_assert_msg(y != NULL, "%s", sg_last_error());
        ny = sg_numel(y);
        sg_tensor *w = tu_rand(SG_F64, sg_ndim(y), (int64_t[]){sg_size(y, 0), sg_size(y, 1), sg_ndim(y) > 2 ? sg_size(y, 2) : 1}, -1, 1, 9, false);
        ck_assert_int_eq(sg_backward(sg_sum_all(sg_mul(y, w))), 0);
        vals[v] = malloc((size_t)ny * sizeof(double));
        sg_to_buffer(y, vals[v], SG_F64);
        for (int k = 0; k < 3; k++) {
            grads[v][k] = malloc((size_t)sg_numel(in[k]) * sizeof(double));
            sg_to_buffer(sg_grad(in[k]), grads[v][k], SG_F64);
        }
        sg_zero_grad(in, 3);
        sg_tensor_free(w);
        sg_tape_clear();
    }
    for (int64_t i = 0; i < ny; i++) ck_assert_double_eq_tol(vals[0][i], vals[1][i], 1e-14);
    for (int k = 0; k < 3; k++)
        for (int64_t i = 0; i < sg_numel(in[k]); i++) ck_assert_double_eq_tol(grads[0][k][i], grads[1][k][i], 1e-13);
    for (int v = 0; v < 2; v++) {
        free(vals[v]);
        for (int k = 0; k < 3; k++) free(grads[v][k]);
    }
    for (int k = 0; k < 3; k++) sg_tensor_free(in[k]);
    tu_teardown();
}

START_TEST(lstm_equals_composition) { same_as_ref(f_lstm, lstm_ref, 5, 4, 7); }
END_TEST
/* (xg, NULL, c) on the sum == (xg, hg, c): bitwise, forward and the gradients of the sum and c */
static sg_tensor *lstm_summed(sg_tensor *const *x, int n, void *c) { (void)n; (void)c; return sg_lstm_pointwise(sg_add(x[0], x[1]), NULL, x[2]); }
START_TEST(lstm_one_input_equals_two) { same_as_ref(f_lstm, lstm_summed, 6, 4, 9); }
END_TEST
START_TEST(gru_equals_composition) { same_as_ref(f_gru, gru_ref, 5, 3, 7); }
END_TEST

START_TEST(errors) {
    sg_tensor *a = sg_zeros(SG_F32, 2, (int64_t[]){2, 8}), *c = sg_zeros(SG_F32, 2, (int64_t[]){2, 3});
    ck_assert_ptr_null(sg_lstm_pointwise(a, a, c));
    tu_assert_error(SG_ERR_SHAPE, "xg must be (2, 12)");
    sg_tensor *c2 = sg_zeros(SG_F32, 2, (int64_t[]){2, 2});
    sg_tensor *d = sg_zeros(SG_F64, 2, (int64_t[]){2, 8});
    ck_assert_ptr_null(sg_lstm_pointwise(a, d, c2));
    tu_assert_error(SG_ERR_DTYPE, NULL);
    ck_assert_ptr_null(sg_gru_pointwise(a, a, c2));
    tu_assert_error(SG_ERR_SHAPE, "xg must be (2, 6)");
    ck_assert_ptr_null(sg_gru_pointwise(a, NULL, c2)); /* only the LSTM op takes one input */
    tu_assert_error(SG_ERR_NULL, "'hg' is NULL");
    ck_assert_ptr_null(sg_lstm_pointwise(d, NULL, c2));
    tu_assert_error(SG_ERR_DTYPE, NULL);
    ck_assert_ptr_null(sg_gru_pointwise(NULL, a, c2));
    tu_assert_error(SG_ERR_NULL, "'xg' is NULL");
    sg_tensor *fr[] = {a, c, c2, d};
    for (int i = 0; i < 4; i++) sg_tensor_free(fr[i]);
    tu_teardown();
}
END_TEST

/* fastmath.h against libm in double: relative error bounds over the whole useful range */
START_TEST(fastmath_accuracy) {
    const int N = 200001;
    const double lo = -87.0, hi = 88.0, rel_exp = 4 * FLT_EPSILON, abs_gate = 4 * FLT_EPSILON;
    double worst_e = 0, worst_s = 0, worst_t = 0;
    for (int k = 0; k < N; k++) {
        float x = (float)(lo + (hi - lo) * k / (N - 1));
        double e = exp((double)x);
        worst_e = fmax(worst_e, fabs(sg__expf(x) - e) / e);
        worst_s = fmax(worst_s, fabs(sg__sigmoidf(x) - 1.0 / (1.0 + exp(-(double)x))));
        worst_t = fmax(worst_t, fabs(sg__tanhf(x) - tanh((double)x)));
    }
    ck_assert_msg(worst_e <= rel_exp, "expf relative error %g", worst_e);
    ck_assert_msg(worst_s <= abs_gate, "sigmoid abs error %g", worst_s);
    ck_assert_msg(worst_t <= abs_gate, "tanh abs error %g", worst_t);
    /* tails: exact limits, no NaN or inf */
    ck_assert(sg__sigmoidf(1000.f) == 1.f && sg__sigmoidf(-1000.f) >= 0.f && sg__sigmoidf(-1000.f) < 1e-30f);
    ck_assert(sg__tanhf(1000.f) == 1.f && sg__tanhf(-1000.f) == -1.f);
    /* tanh keeps relative accuracy near 0 (its small-|x| polynomial: no 1 - e cancellation) */
    double worst_rt = 0;
    for (int k = 0; k < N; k++) {
        float x = (float)(1e-7 * pow(1e7, (double)k / (N - 1))); /* 1e-7 .. 1, log-spaced */
        double ref = tanh((double)x);
        worst_rt = fmax(worst_rt, fmax(fabs(sg__tanhf(x) - ref), fabs(sg__tanhf(-x) + ref)) / ref);
    }
    ck_assert_msg(worst_rt <= 4 * FLT_EPSILON, "tanh relative error near 0: %g", worst_rt);
    ck_assert(isnan(sg__expf(NAN)) && isnan(sg__sigmoidf(NAN)) && isnan(sg__tanhf(NAN)));
    ck_assert(sg__expf(-100.f) == 0.f && sg__sigmoidf(-1000.f) == 0.f);
    /* small negative sigmoid keeps relative accuracy (no 1 - s cancellation) */
    double s20 = 1.0 / (1.0 + exp(20.0));
    ck_assert_msg(fabs(sg__sigmoidf(-20.f) - s20) / s20 < 8 * FLT_EPSILON, "sigmoid(-20) = %g", (double)sg__sigmoidf(-20.f));
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_rnn_pointwise");
    TCase *t = tcase_create("pointwise");
    tcase_add_loop_test(t, grad_table, 0, NCASES);
    tcase_add_loop_test(t, f32_table, 0, NCASES);
    tcase_add_test(t, lstm_equals_composition);
    tcase_add_test(t, lstm_one_input_equals_two);
    tcase_add_test(t, gru_equals_composition);
    tcase_add_test(t, errors);
    tcase_add_test(t, fastmath_accuracy);
    suite_add_tcase(s, t);
    return tu_run(s);
}
