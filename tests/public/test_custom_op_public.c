/* A user-defined op written the way a user of the installed library writes it: this file sees only
 * the public headers (its include path is a staged copy of the installed header set, see
 * tests/public/CMakeLists.txt), so it also proves those headers are self-contained.
 * Gradchecks two custom ops in float64 (one output with a saved tensor, two outputs), and checks
 * no-grad mode, strided inputs, in-place modification, and the errors for bad shapes, dtypes,
 * defs and failing forwards. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "seqgrad.h"

/* ---- op 0: the README's example, x * sigmoid(x) (float64), verbatim ---- */

static int swish_fwd(sg_custom_ctx *ctx, sg_tensor *const *in, sg_tensor **out, void *user) {
    (void)ctx, (void)user;
    out[0] = sg_copy(in[0]);                  /* a new tensor of x's shape; the op takes it over */
    double *y = out[0] ? sg_data_f64(out[0]) : NULL;
    if (!y) return sg_last_status();
    for (int64_t i = 0; i < sg_numel(in[0]); i++) y[i] = y[i] / (1 + exp(-y[i]));
    return 0;
}
static int swish_bwd(const sg_custom_bw_args *a, void *user) {   /* dx += g * (s + x s (1 - s)) */
    (void)user;
    const double *x = sg_data_const(a->in[0]), *g = sg_data_const(a->grad_out[0]);
    double *dx = sg_data_f64(a->grad_in[0]);
    for (int64_t i = 0; i < sg_numel(a->in[0]); i++) {
        double s = 1 / (1 + exp(-x[i]));
        dx[i] += g[i] * (s + x[i] * s * (1 - s));
    }
    return 0;
}
static const sg_custom_op_def SWISH = {.name = "swish", .n_in = 1, .dtypes = 1u << SG_F64,
                                       .forward = swish_fwd, .backward = swish_bwd, .reads_in = 1u /* x */};

static sg_tensor *swish_graph(sg_tensor *const *in, int n, void *ctx) {
    (void)n, (void)ctx;
    return sg_custom_op1(&SWISH, in, NULL);
}

START_TEST(readme_swish) {
    sg_rng r = sg_rng_new(12);
    sg_tensor *x = sg_uniform(&r, SG_F64, 2, (int64_t[]){3, 5}, -3, 3);
    sg_set_requires_grad(x, true);
    sg_gradcheck_result res;
    ck_assert_int_eq(sg_gradcheck(swish_graph, NULL, &x, 1, NULL, &res), SG_OK);
    ck_assert_msg(res.ok, "%s", res.message);
    sg_tensor *y = sg_custom_op1(&SWISH, &x, NULL);
    ck_assert_double_eq_tol(sg_get_flat(y, 4), sg_get_flat(x, 4) / (1 + exp(-sg_get_flat(x, 4))), 1e-15);
    sg_tape_clear();
    sg_tensor_free(x);
}
END_TEST

/* ---- op 1: y (N, D) = w (D) * tanh(x (N, D)); forward with seqgrad ops, backward raw loops ---- */

static int scaled_tanh_fwd(sg_custom_ctx *ctx, sg_tensor *const *in, sg_tensor **out, void *user) {
    (void)user;
    sg_tensor *t = sg_tanh(in[0]);  /* tape-owned, kept for the backward */
    out[0] = sg_mul(t, in[1]);      /* broadcast over N */
    if (!out[0]) return sg_last_status();
    return sg_custom_save(ctx, t);
}

/* dx += g * w * (1 - t^2), dw += sum_n g * t */
static int scaled_tanh_bwd(const sg_custom_bw_args *a, void *user) {
    (void)user;
    int64_t N = sg_size(a->grad_out[0], 0), D = sg_size(a->grad_out[0], 1);
    const double *g = sg_data_const(a->grad_out[0]), *t = sg_data_const(a->saved[0]), *w = sg_data_const(a->in[1]);
    double *dx = a->grad_in[0] ? sg_data_f64(a->grad_in[0]) : NULL;
    double *dw = a->grad_in[1] ? sg_data_f64(a->grad_in[1]) : NULL;
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++) {
            double gi = g[n * D + d], ti = t[n * D + d];
            if (dx) dx[n * D + d] += gi * w[d] * (1 - ti * ti);
            if (dw) dw[d] += gi * ti;
        }
    return 0;
}

enum { SYM_N = 0, SYM_D = 1 };
static const sg_custom_arg TANH_IN[] = {{"x", 2, {SG_DIM_SYM(SYM_N), SG_DIM_SYM(SYM_D)}}, {"w", 1, {SG_DIM_SYM(SYM_D)}}};
static const sg_custom_arg TANH_OUT[] = {{"y", 2, {SG_DIM_SYM(SYM_N), SG_DIM_SYM(SYM_D)}}};
static const sg_custom_op_def SCALED_TANH = {
    .name = "scaled_tanh", .n_in = 2, .n_out = 1, .in_spec = TANH_IN, .out_spec = TANH_OUT,
    .dtypes = 1u << SG_F64, .forward = scaled_tanh_fwd, .backward = scaled_tanh_bwd,
    .reads_in = 1u << 1, /* w; x is not read (tanh(x) is saved) */
};

/* ---- op 2: x (N, D) -> mean (N), sumsq (N); raw loops both ways ---- */

static int moments_fwd(sg_custom_ctx *ctx, sg_tensor *const *in, sg_tensor **out, void *user) {
    (void)ctx;
    (void)user;
    int64_t N = sg_size(in[0], 0), D = sg_size(in[0], 1);
    out[0] = sg_empty(SG_F64, 1, &N);
    out[1] = sg_empty(SG_F64, 1, &N);
    if (!out[0] || !out[1]) return sg_last_status();
    const double *x = sg_data_const(in[0]);
    double *m = sg_data_f64(out[0]), *q = sg_data_f64(out[1]);
    for (int64_t n = 0; n < N; n++) {
        m[n] = q[n] = 0;
        for (int64_t d = 0; d < D; d++) m[n] += x[n * D + d] / (double)D, q[n] += x[n * D + d] * x[n * D + d];
    }
    return 0;
}

static int moments_bwd(const sg_custom_bw_args *a, void *user) {
    (void)user;
    if (!a->grad_in[0]) return 0;
    int64_t N = sg_size(a->in[0], 0), D = sg_size(a->in[0], 1);
    const double *x = sg_data_const(a->in[0]), *gm = sg_data_const(a->grad_out[0]), *gq = sg_data_const(a->grad_out[1]);
    double *dx = sg_data_f64(a->grad_in[0]);
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++) dx[n * D + d] += gm[n] / (double)D + 2 * x[n * D + d] * gq[n];
    return 0;
}

static const sg_custom_op_def MOMENTS = {
    .name = "moments", .n_in = 1, .n_out = 2, .forward = moments_fwd, .backward = moments_bwd, .reads_in = 1u,
};

/* ---- helpers ---- */

static sg_tensor *rand_leaf(int ndim, const int64_t *shape, uint64_t seed) {
    sg_rng r = sg_rng_new(seed);
    sg_tensor *t = sg_uniform(&r, SG_F64, ndim, shape, -1, 1);
    ck_assert_ptr_nonnull(t);
    sg_set_requires_grad(t, true);
    return t;
}

static void assert_error(sg_status s, const char *needle) {
    ck_assert_int_eq(sg_last_status(), s);
    ck_assert_msg(strstr(sg_last_error(), needle), "message '%s' lacks '%s'", sg_last_error(), needle);
    sg_clear_error();
}

static void teardown(void) {
    sg_tape_clear();
    ck_assert_msg(!sg_has_error(), "pending error: %s", sg_last_error());
}

/* in[0] x (N, D), in[1] w (D): the custom ops inside a small graph of built-in ones */
static sg_tensor *graph(sg_tensor *const *in, int n, void *ctx) {
    (void)n;
    (void)ctx;
    sg_tensor *y = sg_custom_op1(&SCALED_TANH, (sg_tensor *[]){in[0], in[1]}, NULL);
    sg_tensor *mo[2];
    if (sg_custom_op(&MOMENTS, (sg_tensor *[]){sg_mul_scalar(y, 1.5)}, mo, NULL)) return NULL;
    return sg_add(sg_mul(mo[0], mo[1]), sg_sum(y, 1, (int[]){1}, false));
}

START_TEST(gradcheck_float64) {
    sg_tensor *x = rand_leaf(2, (int64_t[]){3, 4}, 1), *w = rand_leaf(1, (int64_t[]){4}, 2);
    sg_gradcheck_result r;
    ck_assert_int_eq(sg_gradcheck(graph, NULL, (sg_tensor *[]){x, w}, 2, NULL, &r), SG_OK);
    ck_assert_msg(r.ok, "%s", r.message);
    ck_assert_int_eq(r.n_compared, 16);
    sg_tensor_free(x);
    sg_tensor_free(w);
}
END_TEST

/* a wrong backward must fail the check: dx off by a factor */
static int bad_bwd(const sg_custom_bw_args *a, void *user) {
    int rc = scaled_tanh_bwd(a, user);
    if (a->grad_in[0]) {
        double *dx = sg_data_f64(a->grad_in[0]);
        dx[0] *= 1.1;
    }
    return rc;
}
static const sg_custom_op_def BAD_TANH = {
    .name = "bad_tanh", .n_in = 2, .in_spec = TANH_IN, .forward = scaled_tanh_fwd, .backward = bad_bwd,
    .reads_in = 1u << 1,
};
static sg_tensor *bad_graph(sg_tensor *const *in, int n, void *ctx) {
    (void)n;
    (void)ctx;
    return sg_custom_op1(&BAD_TANH, in, NULL);
}

START_TEST(gradcheck_catches_a_wrong_backward) {
    sg_tensor *x = rand_leaf(2, (int64_t[]){2, 3}, 3), *w = rand_leaf(1, (int64_t[]){3}, 4);
    sg_gradcheck_result r;
    ck_assert_int_eq(sg_gradcheck(bad_graph, NULL, (sg_tensor *[]){x, w}, 2, NULL, &r), SG_OK);
    ck_assert(!r.ok);
    ck_assert_int_eq(r.worst_input, 0);
    ck_assert_int_eq(r.worst_index, 0);
    sg_tensor_free(x);
    sg_tensor_free(w);
}
END_TEST

START_TEST(values_and_strided_input) {
    /* x^T of a (4, 3) leaf: strided; the forward sees a contiguous copy */
    sg_tensor *xt = rand_leaf(2, (int64_t[]){4, 3}, 5), *w = rand_leaf(1, (int64_t[]){4}, 6);
    sg_tensor *x = sg_transpose(xt, 0, 1);
    ck_assert(!sg_is_contiguous(x));
    sg_tensor *y = sg_custom_op1(&SCALED_TANH, (sg_tensor *[]){x, w}, NULL);
    ck_assert_ptr_nonnull(y);
    sg_tensor *ref = sg_mul(sg_tanh(x), w);
    for (int64_t i = 0; i < 12; i++) ck_assert_double_eq_tol(sg_get_flat(y, i), sg_get_flat(ref, i), 1e-15);
    ck_assert_int_eq(sg_backward(sg_sum_all(y)), SG_OK);
    /* d/dxt of sum(w * tanh(xt^T)) = w[d] (1 - tanh^2) at xt[d][n] */
    for (int64_t d = 0; d < 4; d++)
        for (int64_t n = 0; n < 3; n++) {
            double t = tanh(sg_get_flat(xt, d * 3 + n));
            ck_assert_double_eq_tol(sg_get_flat(sg_grad(xt), d * 3 + n), sg_get_flat(w, d) * (1 - t * t), 1e-14);
        }
    sg_tape_clear();
    sg_tensor_free(xt);
    sg_tensor_free(w);
}
END_TEST

START_TEST(no_grad_records_nothing) {
    sg_tensor *x = rand_leaf(2, (int64_t[]){2, 3}, 7);
    bool prev = sg_set_grad_enabled(false);
    sg_tensor *mo[2];
    ck_assert_int_eq(sg_custom_op(&MOMENTS, &x, mo, NULL), SG_OK);
    sg_set_grad_enabled(prev);
    ck_assert(!sg_requires_grad(mo[0]) && !sg_requires_grad(mo[1]));
    ck_assert_int_eq(sg_backward(sg_sum_all(mo[0])), SG_ERR_STATE);
    sg_clear_error();
    double m0 = 0;
    for (int d = 0; d < 3; d++) m0 += sg_get_flat(x, d) / 3;
    ck_assert_double_eq_tol(sg_get_flat(mo[0], 0), m0, 1e-15);
    sg_tape_clear();
    sg_tensor_free(x);
}
END_TEST

START_TEST(one_output_used) {
    /* only sumsq reaches the loss: the backward gets zeros as the cotangent of mean */
    sg_tensor *x = rand_leaf(2, (int64_t[]){2, 3}, 8);
    sg_tensor *mo[2];
    ck_assert_int_eq(sg_custom_op(&MOMENTS, &x, mo, NULL), SG_OK);
    ck_assert_int_eq(sg_backward(sg_sum_all(mo[1])), SG_OK);
    for (int64_t i = 0; i < 6; i++) ck_assert_double_eq_tol(sg_get_flat(sg_grad(x), i), 2 * sg_get_flat(x, i), 1e-15);
    sg_tape_clear();
    sg_tensor_free(x);
}
END_TEST

START_TEST(in_place_modification_is_caught) {
    sg_tensor *x = rand_leaf(2, (int64_t[]){2, 3}, 9);
    sg_tensor *mo[2];
    ck_assert_int_eq(sg_custom_op(&MOMENTS, &x, mo, NULL), SG_OK);
    sg_tensor *loss = sg_sum_all(mo[0]);
    sg_set_flat(x, 0, 5.0);
    ck_assert_int_eq(sg_backward(loss), SG_ERR_STATE);
    assert_error(SG_ERR_STATE, "input 0 of 'moments' was modified in place");
    sg_tape_clear();
    sg_tensor_free(x);
}
END_TEST

static int failing_fwd(sg_custom_ctx *ctx, sg_tensor *const *in, sg_tensor **out, void *user) {
    (void)ctx;
    (void)in;
    out[0] = sg_zeros(SG_F64, 1, (int64_t[]){2}); /* made, then the forward fails: the library frees it */
    return *(const int *)user ? sg_set_error(SG_ERR_ARG, "my_op: alpha must be positive") : -1;
}

START_TEST(errors_name_the_op_and_argument) {
    sg_tensor *x = rand_leaf(2, (int64_t[]){2, 3}, 10), *w = rand_leaf(1, (int64_t[]){4}, 11);
    ck_assert_ptr_null(sg_custom_op1(&SCALED_TANH, (sg_tensor *[]){x, w}, NULL));
    assert_error(SG_ERR_SHAPE, "scaled_tanh: input 1 ('w') has shape (4) but the op needs (d1=3)");
    sg_tensor *w32 = sg_zeros(SG_F32, 1, (int64_t[]){3});
    ck_assert_ptr_null(sg_custom_op1(&SCALED_TANH, (sg_tensor *[]){x, w32}, NULL));
    assert_error(SG_ERR_DTYPE, "scaled_tanh: input 1 ('w') is float32 but the op's tensors are float64");
    sg_tensor *x32 = sg_zeros(SG_F32, 2, (int64_t[]){2, 3});
    ck_assert_ptr_null(sg_custom_op1(&SCALED_TANH, (sg_tensor *[]){x32, w32}, NULL));
    assert_error(SG_ERR_DTYPE, "input 0 ('x') is float32, which the op does not take");
    ck_assert_ptr_null(sg_custom_op1(&SCALED_TANH, (sg_tensor *[]){x, NULL}, NULL));
    assert_error(SG_ERR_NULL, "scaled_tanh: argument 'input 1 ('w')' is NULL");
    ck_assert_ptr_null(sg_custom_op1(&MOMENTS, &x, NULL));
    assert_error(SG_ERR_ARG, "sg_custom_op1 is for one output");

    sg_custom_op_def bad = {.name = "my_op", .n_in = 9, .forward = failing_fwd};
    ck_assert_ptr_null(sg_custom_op1(&bad, &x, NULL));
    assert_error(SG_ERR_ARG, "my_op: n_in must be in [0, 8]");
    bad.n_in = 1;
    int alpha_bad = 1, generic = 0;
    ck_assert_ptr_null(sg_custom_op1(&bad, &x, &alpha_bad));
    assert_error(SG_ERR_ARG, "my_op: alpha must be positive");
    ck_assert_ptr_null(sg_custom_op1(&bad, &x, &generic));
    assert_error(SG_ERR_STATE, "my_op: the custom forward failed (returned -1)");
    bad.forward = NULL;
    ck_assert_ptr_null(sg_custom_op1(&bad, &x, NULL));
    assert_error(SG_ERR_NULL, "my_op: the def has no forward");
    /* wrong output shape */
    static const sg_custom_arg want3[] = {{"m", 1, {3}}, {"q", 1, {SG_DIM_ANY}}};
    sg_custom_op_def mo = MOMENTS;
    mo.out_spec = want3;
    sg_tensor *o[2];
    ck_assert_int_eq(sg_custom_op(&mo, &x, o, NULL), SG_ERR_SHAPE);
    ck_assert_ptr_null(o[0]);
    assert_error(SG_ERR_SHAPE, "moments: output 0 ('m') has shape (2) but the op needs (3)");
    sg_tape_clear();
    sg_tensor_free(x);
    sg_tensor_free(w);
    sg_tensor_free(w32);
    sg_tensor_free(x32);
}
END_TEST

int main(void) {
    Suite *s = suite_create("custom_op_public");
    TCase *tc = tcase_create("custom_op");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, readme_swish);
    tcase_add_test(tc, gradcheck_float64);
    tcase_add_test(tc, gradcheck_catches_a_wrong_backward);
    tcase_add_test(tc, values_and_strided_input);
    tcase_add_test(tc, no_grad_records_nothing);
    tcase_add_test(tc, one_output_used);
    tcase_add_test(tc, in_place_modification_is_caught);
    tcase_add_test(tc, errors_name_the_op_and_argument);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
