/* Losses: cross-entropy (ignore_index, all reductions), BCE on logits, MSE. float64 full
 * gradcheck over a table (incl. strided logits), float32-vs-float64 agreement, values computed by
 * hand (python math), large-logit stability, NaN semantics and error paths. */
#include "util/testutil.h"

enum { IGN = -100 };
/* Target sets selected by iarg[0]. */
static const int64_t TGT[][5] = {
    {2, 0, 1, 3, 1},           /* 0: all valid (C = 4) */
    {1, IGN, 0, IGN, 2},       /* 1: two rows ignored */
    {IGN, IGN, IGN, IGN, IGN}, /* 2: every row ignored */
    {3, 0, 3, 2, 1},           /* 3: with ignore_index 3 (a real class id) */
    {0, 0, 0, 0, 0},           /* 4: C = 1 */
};

/* iarg = {target set, reduction, ignore_index}; farg[0] != 0: logits given transposed (C,N). */
static sg_tensor *f_ce(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    sg_tensor *lg = k->farg[0] != 0 ? sg_transpose(x[0], 0, 1) : x[0];
    return sg_cross_entropy(lg, TGT[k->iarg[0]], k->iarg[2], (sg_reduction)k->iarg[1]);
}
/* Targets of 6 rows for the (..., C = 4) cross-entropy, selected by iarg[0]. */
static const int64_t TGT6[][6] = {
    {2, 0, 1, 3, 1, 0},         /* 0: all valid */
    {1, IGN, 0, IGN, 2, 3},     /* 1: two ignored */
    {IGN, IGN, IGN, IGN, IGN, IGN}, /* 2: all ignored */
};
/* sg_cross_entropy_nd: iarg = {TGT6 set, reduction, ignore_index, layout}, farg[1] = smoothing.
 * layout 0: x0 as it is; 1: x0 (3,2,4) transposed(0,1) (leading dims that do not collapse: copied);
 * 2: x0 (4,6) transposed (class stride 6); 3: x0 (4) 1-d, one target. */
static sg_tensor *f_ce_nd(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    int lay = k->iarg[3];
    sg_tensor *lg = lay == 1 ? sg_transpose(x[0], 0, 1) : lay == 2 ? sg_transpose(x[0], 0, 1) : x[0];
    return sg_cross_entropy_nd(lg, TGT6[k->iarg[0]], k->iarg[2], k->farg[1], (sg_reduction)k->iarg[1]);
}
/* Targets in [0,1] made inside (same values every call), no gradient. iarg[1] = reduction. */
static sg_tensor *f_bce(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    sg_tensor *lg = k->farg[0] != 0 ? sg_transpose(x[0], 0, -1) : x[0];
    int64_t shp[SG_MAX_DIMS];
    int nd = sg_shape(lg, shp);
    sg_tensor *t = tu_rand(sg_dtype_of(lg), nd, shp, 0, 1, 77, false);
    sg_tensor *y = sg_bce_with_logits(lg, t, (sg_reduction)k->iarg[1]);
    sg_tensor_free(t); /* kept alive by the tape */
    return y;
}
/* iarg[1] = reduction; farg[0] != 0: a transposed. */
static sg_tensor *f_mse(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    sg_tensor *a = k->farg[0] != 0 ? sg_transpose(x[0], 0, 1) : x[0];
    return sg_mse(a, x[1], (sg_reduction)k->iarg[1]);
}

#define SH(...) {__VA_ARGS__}
#define MEAN SG_REDUCE_MEAN
#define SUM SG_REDUCE_SUM
#define NONE SG_REDUCE_NONE
#define TR .farg = {1}
static const tu_case CASES[] = {
    {"ce mean", f_ce, 1, {2}, {SH(5, 4)}, .iarg = {0, MEAN, IGN}, .lo = -3, .hi = 3},
    {"ce sum", f_ce, 1, {2}, {SH(5, 4)}, .iarg = {0, SUM, IGN}, .lo = -3, .hi = 3},
    {"ce none", f_ce, 1, {2}, {SH(5, 4)}, .iarg = {0, NONE, IGN}, .lo = -3, .hi = 3},
    {"ce ignore mean", f_ce, 1, {2}, {SH(5, 4)}, .iarg = {1, MEAN, IGN}},
    {"ce ignore sum", f_ce, 1, {2}, {SH(5, 4)}, .iarg = {1, SUM, IGN}},
    {"ce ignore none", f_ce, 1, {2}, {SH(5, 4)}, .iarg = {1, NONE, IGN}},
    {"ce ignore=3 mean", f_ce, 1, {2}, {SH(5, 4)}, .iarg = {3, MEAN, 3}},
    {"ce all ignored sum", f_ce, 1, {2}, {SH(3, 4)}, .iarg = {2, SUM, IGN}},
    {"ce all ignored none", f_ce, 1, {2}, {SH(3, 4)}, .iarg = {2, NONE, IGN}},
    {"ce N=1", f_ce, 1, {2}, {SH(1, 4)}, .iarg = {0, MEAN, IGN}},
    {"ce C=1", f_ce, 1, {2}, {SH(3, 1)}, .iarg = {4, MEAN, IGN}},
    {"ce T mean", f_ce, 1, {2}, {SH(4, 5)}, .iarg = {1, MEAN, IGN}, TR},
    {"ce T none", f_ce, 1, {2}, {SH(4, 5)}, .iarg = {0, NONE, IGN}, TR},
    {"ce_nd 3d mean", f_ce_nd, 1, {3}, {SH(2, 3, 4)}, .iarg = {0, MEAN, IGN, 0}, .lo = -3, .hi = 3},
    {"ce_nd 3d smooth mean ignore", f_ce_nd, 1, {3}, {SH(2, 3, 4)}, .iarg = {1, MEAN, IGN, 0}, .farg = {0, 0.1}},
    {"ce_nd smooth sum", f_ce_nd, 1, {3}, {SH(3, 2, 4)}, .iarg = {1, SUM, IGN, 0}, .farg = {0, 0.3}},
    {"ce_nd smooth none", f_ce_nd, 1, {2}, {SH(6, 4)}, .iarg = {0, NONE, IGN, 0}, .farg = {0, 0.25}},
    {"ce_nd smooth 1", f_ce_nd, 1, {2}, {SH(6, 4)}, .iarg = {1, MEAN, IGN, 0}, .farg = {0, 1}},
    {"ce_nd all ignored smooth", f_ce_nd, 1, {3}, {SH(3, 2, 4)}, .iarg = {2, SUM, IGN, 0}, .farg = {0, 0.2}},
    {"ce_nd copied layout", f_ce_nd, 1, {3}, {SH(3, 2, 4)}, .iarg = {1, MEAN, IGN, 1}, .farg = {0, 0.1}},
    {"ce_nd class stride", f_ce_nd, 1, {2}, {SH(4, 6)}, .iarg = {0, NONE, IGN, 2}, .farg = {0, 0.1}},
    {"ce_nd 1-d", f_ce_nd, 1, {1}, {SH(4)}, .iarg = {0, MEAN, IGN, 3}, .farg = {0, 0.1}},
    {"ce_nd 1-d none", f_ce_nd, 1, {1}, {SH(4)}, .iarg = {0, NONE, IGN, 3}},
    {"bce mean", f_bce, 1, {2}, {SH(3, 4)}, .iarg = {0, MEAN}, .lo = -4, .hi = 4},
    {"bce sum", f_bce, 1, {2}, {SH(3, 4)}, .iarg = {0, SUM}, .lo = -4, .hi = 4},
    {"bce none", f_bce, 1, {2}, {SH(3, 4)}, .iarg = {0, NONE}, .lo = -4, .hi = 4},
    {"bce 1-d", f_bce, 1, {1}, {SH(5)}, .iarg = {0, MEAN}},
    {"bce size1 none", f_bce, 1, {3}, {SH(2, 1, 3)}, .iarg = {0, NONE}},
    {"bce 0-d", f_bce, 1, {0}, {SH(0)}, .iarg = {0, SUM}},
    {"bce T sum", f_bce, 1, {2}, {SH(4, 3)}, .iarg = {0, SUM}, TR, .lo = -4, .hi = 4},
    {"bce T 3d none", f_bce, 1, {3}, {SH(2, 1, 3)}, .iarg = {0, NONE}, TR},
    {"mse mean", f_mse, 2, {2, 2}, {SH(3, 4), SH(3, 4)}, .iarg = {0, MEAN}},
    {"mse sum", f_mse, 2, {2, 2}, {SH(3, 4), SH(3, 4)}, .iarg = {0, SUM}},
    {"mse none", f_mse, 2, {2, 2}, {SH(3, 4), SH(3, 4)}, .iarg = {0, NONE}},
    {"mse 1-d", f_mse, 2, {1, 1}, {SH(5), SH(5)}, .iarg = {0, MEAN}},
    {"mse size1", f_mse, 2, {2, 2}, {SH(1, 1), SH(1, 1)}, .iarg = {0, SUM}},
    {"mse 0-d", f_mse, 2, {0, 0}, {SH(0), SH(0)}, .iarg = {0, MEAN}},
    {"mse b fixed", f_mse, 2, {2, 2}, {SH(2, 3), SH(2, 3)}, .iarg = {0, MEAN}, .no_grad_mask = 2},
    {"mse T mean", f_mse, 2, {2, 2}, {SH(4, 3), SH(3, 4)}, .iarg = {0, MEAN}, TR},
    {"mse T none", f_mse, 2, {2, 2}, {SH(4, 3), SH(3, 4)}, .iarg = {0, NONE}, TR},
};
enum { NCASES = sizeof CASES / sizeof CASES[0] };

START_TEST(grad_table) { tu_check_case_grad(&CASES[_i]); }
END_TEST
START_TEST(f32_table) { tu_check_case_f32(&CASES[_i]); }
END_TEST


/* Logits and targets with values from python's math module:
 *   loss_i = log(sum_j exp(x_ij)) - x_i,t ; grad (mean) = (softmax - onehot) / n_valid */
static const double CE_X[] = {1, 2, 3, 1, 1, 1, 0, 0, 10, -1, 0.5, 2};
static const int64_t CE_T[] = {2, 0, IGN, 1};
static const double CE_NONE[] = {0.4076059644443806, 1.09861228866811, 0, 1.7413112966571571};
static const double CE_SUM = 3.2475295497696477, CE_MEAN = 1.082509849923216;
static const double CE_GRAD_MEAN[] = {0.030010191056793478, 0.08157615701826586, -0.11158634807505945,
                                      -0.22222222222222224, 0.11111111111111106, 0.11111111111111106,
                                      0, 0, 0,
                                      0.013037524423562484, -0.27490320261998774, 0.26186567819642526};

START_TEST(ce_values) {
    for (int dt = 0; dt < 2; dt++) {
        double tol = dt == SG_F32 ? 1e-6 : 1e-14;
        sg_tensor *X = tu_from(dt, 2, (int64_t[]){4, 3}, CE_X);
        sg_set_requires_grad(X, true);
        sg_tensor *none = sg_cross_entropy(X, CE_T, IGN, SG_REDUCE_NONE);
        ck_assert_int_eq(sg_ndim(none), 1);
        tu_assert_values(none, CE_NONE, 4, tol, tol);
        tu_assert_values(sg_cross_entropy(X, CE_T, IGN, SG_REDUCE_SUM), &CE_SUM, 1, 0, tol);
        sg_tensor *mean = sg_cross_entropy(X, CE_T, IGN, SG_REDUCE_MEAN);
        ck_assert_int_eq(sg_ndim(mean), 0);
        tu_assert_values(mean, &CE_MEAN, 1, 0, tol);
        ck_assert_int_eq(sg_backward(mean), SG_OK);
        tu_assert_values(sg_grad(X), CE_GRAD_MEAN, 12, tol, tol);
        sg_tensor_free(X);
        sg_tape_clear();
    }
    tu_teardown();
}
END_TEST

/* Huge logits: no overflow, exact in both dtypes. */
START_TEST(ce_large_logits) {
    for (int dt = 0; dt < 2; dt++) {
        sg_tensor *X = tu_from(dt, 2, (int64_t[]){3, 2}, (double[]){1000, 0, 0, 1000, -1000, 1000});
        sg_set_requires_grad(X, true);
        const int64_t t[] = {1, 1, 0};
        tu_assert_values(sg_cross_entropy(X, t, IGN, SG_REDUCE_NONE), (double[]){1000, 0, 2000}, 3, 0, 0);
        sg_tensor *l = sg_cross_entropy(X, t, IGN, SG_REDUCE_SUM);
        ck_assert_double_eq(sg_item(l), 3000);
        ck_assert_int_eq(sg_backward(l), SG_OK);
        tu_assert_values(sg_grad(X), (double[]){1, -1, 0, 0, -1, 1}, 6, 0, 0);
        sg_tensor_free(X);
    }
    tu_teardown();
}
END_TEST

/* Every row ignored: MEAN is NaN (0/0, as PyTorch) with zero gradients; SUM is 0. */
START_TEST(ce_all_ignored) {
    sg_tensor *X = tu_rand(SG_F64, 2, (int64_t[]){2, 3}, -1, 1, 3, true);
    const int64_t t[] = {IGN, IGN};
    sg_tensor *m = sg_cross_entropy(X, t, IGN, SG_REDUCE_MEAN);
    ck_assert(isnan(sg_item(m)));
    ck_assert_int_eq(sg_backward(m), SG_OK);
    tu_assert_values(sg_grad(X), (double[]){0, 0, 0, 0, 0, 0}, 6, 0, 0);
    ck_assert_double_eq(sg_item(sg_cross_entropy(X, t, IGN, SG_REDUCE_SUM)), 0);
    /* N = 0 */
    sg_tensor *E = sg_zeros(SG_F64, 2, (int64_t[]){0, 3});
    ck_assert(isnan(sg_item(sg_cross_entropy(E, NULL, IGN, SG_REDUCE_MEAN))));
    ck_assert_int_eq(sg_numel(sg_cross_entropy(E, NULL, IGN, SG_REDUCE_NONE)), 0);
    sg_tensor_free(X);
    sg_tensor_free(E);
    tu_teardown();
}
END_TEST

START_TEST(ce_errors) {
    sg_tensor *X = sg_zeros(SG_F64, 2, (int64_t[]){3, 4});
    ck_assert_ptr_null(sg_cross_entropy(X, (int64_t[]){0, 1, 7}, IGN, SG_REDUCE_MEAN));
    tu_assert_error(SG_ERR_ARG, "targets[2] = 7 is out of range [0, 4)");
    ck_assert_ptr_null(sg_cross_entropy(X, (int64_t[]){0, -1, 2}, IGN, SG_REDUCE_SUM));
    tu_assert_error(SG_ERR_ARG, "targets[1] = -1");
    ck_assert_ptr_null(sg_cross_entropy(X, (int64_t[]){0, IGN, 2}, 3, SG_REDUCE_SUM));
    tu_assert_error(SG_ERR_ARG, "targets[1] = -100");
    ck_assert_ptr_null(sg_cross_entropy(X, NULL, IGN, SG_REDUCE_MEAN));
    tu_assert_error(SG_ERR_NULL, "'targets'");
    ck_assert_ptr_null(sg_cross_entropy_nd(X, (int64_t[]){0, 1, 2}, IGN, 1.5, SG_REDUCE_MEAN));
    tu_assert_error(SG_ERR_ARG, "label_smoothing must be in [0, 1]");
    ck_assert_ptr_null(sg_cross_entropy_nd(X, (int64_t[]){0, 1, 2}, IGN, NAN, SG_REDUCE_MEAN));
    tu_assert_error(SG_ERR_ARG, "label_smoothing");
    ck_assert_ptr_null(sg_cross_entropy_nd(X, (int64_t[]){0, 4, 2}, IGN, 0, SG_REDUCE_MEAN));
    tu_assert_error(SG_ERR_ARG, "sg_cross_entropy_nd: targets[1] = 4");
    sg_tensor *s0 = sg_scalar(SG_F64, 1);
    ck_assert_ptr_null(sg_cross_entropy_nd(s0, (int64_t[]){0}, IGN, 0, SG_REDUCE_MEAN));
    tu_assert_error(SG_ERR_SHAPE, "0-d");
    sg_tensor_free(s0);
    ck_assert_ptr_null(sg_cross_entropy(X, (int64_t[]){0, 0, 0}, IGN, (sg_reduction)7));
    tu_assert_error(SG_ERR_ARG, "reduction 7");
    sg_tensor *v = sg_zeros(SG_F64, 1, (int64_t[]){4});
    ck_assert_ptr_null(sg_cross_entropy(v, (int64_t[]){0}, IGN, SG_REDUCE_MEAN));
    tu_assert_error(SG_ERR_SHAPE, "logits must be 2-D (N,C), got (4)");
    ck_assert_ptr_null(sg_cross_entropy(NULL, (int64_t[]){0}, IGN, SG_REDUCE_MEAN));
    tu_assert_error(SG_ERR_NULL, "'logits' is NULL");
    sg_tensor_free(X);
    sg_tensor_free(v);
    tu_teardown();
}
END_TEST

/* x = 0, 100, -100, 2, -3 with t = .5, 1, 0, 0, .25 (python math, stable formula) */
START_TEST(bce_values) {
    const double x[] = {0, 100, -100, 2, -3}, t[] = {0.5, 1, 0, 0, 0.25};
    const double none[] = {0.6931471805599453, 3.720075976020836e-44, 3.720075976020836e-44,
                           2.1269280110429727, 0.798587351573742};
    const double mean = 0.723732508635332;
    const double grad_mean[] = {0, 0, 7.440151952041671e-45, 0.17615941559557646, -0.04051482536448665};
    for (int dt = 0; dt < 2; dt++) {
        double tol = dt == SG_F32 ? 1e-6 : 1e-14;
        sg_tensor *X = tu_from(dt, 1, (int64_t[]){5}, x), *T = tu_from(dt, 1, (int64_t[]){5}, t);
        sg_set_requires_grad(X, true);
        sg_set_requires_grad(T, true);
        tu_assert_values(sg_bce_with_logits(X, T, SG_REDUCE_NONE), none, 5, dt == SG_F32 ? 1e-43 : 0, tol);
        tu_assert_values(sg_bce_with_logits(X, T, SG_REDUCE_SUM), (double[]){5 * mean}, 1, 0, tol);
        sg_tensor *l = sg_bce_with_logits(X, T, SG_REDUCE_MEAN);
        tu_assert_values(l, &mean, 1, 0, tol);
        ck_assert_int_eq(sg_backward(l), SG_OK);
        tu_assert_values(sg_grad(X), grad_mean, 5, dt == SG_F32 ? 1e-43 : 0, tol);
        ck_assert_ptr_null(sg_grad(T)); /* no gradient to targets */
        sg_tensor_free(X);
        sg_tensor_free(T);
    }
    tu_teardown();
}
END_TEST

START_TEST(bce_targets_modified) {
    sg_tensor *X = tu_rand(SG_F64, 1, (int64_t[]){3}, -1, 1, 4, true);
    sg_tensor *T = sg_full(SG_F64, 1, (int64_t[]){3}, 0.5);
    sg_tensor *l = sg_bce_with_logits(X, T, SG_REDUCE_SUM);
    sg_set_flat(T, 0, 1.0);
    ck_assert_int_eq(sg_backward(l), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "saved by 'sg_bce_with_logits' was modified");
    sg_tensor_free(X);
    sg_tensor_free(T);
    tu_teardown();
}
END_TEST

START_TEST(mse_values) {
    for (int dt = 0; dt < 2; dt++) {
        sg_tensor *A = tu_from(dt, 1, (int64_t[]){3}, (double[]){1, 2, 3});
        sg_tensor *B = tu_from(dt, 1, (int64_t[]){3}, (double[]){1, 0, 5});
        sg_set_requires_grad(A, true);
        sg_set_requires_grad(B, true);
        tu_assert_values(sg_mse(A, B, SG_REDUCE_NONE), (double[]){0, 4, 4}, 3, 0, 0);
        tu_assert_values(sg_mse(A, B, SG_REDUCE_SUM), (double[]){8}, 1, 0, 0);
        sg_tensor *l = sg_mse(A, B, SG_REDUCE_MEAN);
        tu_assert_values(l, (double[]){8. / 3}, 1, 0, 1e-7);
        ck_assert_int_eq(sg_backward(l), SG_OK);
        tu_assert_values(sg_grad(A), (double[]){0, 4. / 3, -4. / 3}, 3, 0, 1e-7);
        tu_assert_values(sg_grad(B), (double[]){0, -4. / 3, 4. / 3}, 3, 0, 1e-7);
        sg_tensor_free(A);
        sg_tensor_free(B);
    }
    sg_tensor *E = sg_zeros(SG_F64, 2, (int64_t[]){0, 2});
    ck_assert(isnan(sg_item(sg_mse(E, E, SG_REDUCE_MEAN)))); /* mean of nothing: NaN */
    ck_assert_double_eq(sg_item(sg_mse(E, E, SG_REDUCE_SUM)), 0);
    sg_tensor_free(E);
    tu_teardown();
}
END_TEST

START_TEST(bce_mse_errors) {
    sg_tensor *a = sg_zeros(SG_F64, 2, (int64_t[]){3, 4});
    sg_tensor *b = sg_zeros(SG_F64, 2, (int64_t[]){4, 3});
    sg_tensor *r = sg_zeros(SG_F64, 1, (int64_t[]){4});
    sg_tensor *f = sg_zeros(SG_F32, 2, (int64_t[]){3, 4});
    ck_assert_ptr_null(sg_bce_with_logits(a, b, SG_REDUCE_MEAN));
    tu_assert_error(SG_ERR_SHAPE, "logits (3,4) and targets (4,3) must have the same shape");
    ck_assert_ptr_null(sg_bce_with_logits(a, r, SG_REDUCE_MEAN)); /* no broadcasting */
    tu_assert_error(SG_ERR_SHAPE, "sg_bce_with_logits");
    ck_assert_ptr_null(sg_bce_with_logits(a, f, SG_REDUCE_MEAN));
    tu_assert_error(SG_ERR_DTYPE, "float64");
    ck_assert_ptr_null(sg_bce_with_logits(a, NULL, SG_REDUCE_MEAN));
    tu_assert_error(SG_ERR_NULL, "'targets' is NULL");
    ck_assert_ptr_null(sg_bce_with_logits(a, a, (sg_reduction)-1));
    tu_assert_error(SG_ERR_ARG, "reduction -1");
    ck_assert_ptr_null(sg_mse(a, b, SG_REDUCE_SUM));
    tu_assert_error(SG_ERR_SHAPE, "sg_mse: a (3,4) and b (4,3)");
    ck_assert_ptr_null(sg_mse(a, r, SG_REDUCE_SUM));
    tu_assert_error(SG_ERR_SHAPE, "no broadcasting");
    ck_assert_ptr_null(sg_mse(f, a, SG_REDUCE_NONE));
    tu_assert_error(SG_ERR_DTYPE, "sg_mse");
    ck_assert_ptr_null(sg_mse(a, a, (sg_reduction)3));
    tu_assert_error(SG_ERR_ARG, "sg_mse: reduction 3");
    sg_tensor_free(a);
    sg_tensor_free(b);
    sg_tensor_free(r);
    sg_tensor_free(f);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_loss");
    TCase *t = tcase_create("table");
    tcase_add_loop_test(t, grad_table, 0, NCASES);
    tcase_add_loop_test(t, f32_table, 0, NCASES);
    tcase_add_test(t, ce_values);
    tcase_add_test(t, ce_large_logits);
    tcase_add_test(t, ce_all_ignored);
    tcase_add_test(t, ce_errors);
    tcase_add_test(t, bce_values);
    tcase_add_test(t, bce_targets_modified);
    tcase_add_test(t, mse_values);
    tcase_add_test(t, bce_mse_errors);
    suite_add_tcase(s, t);
    return tu_run(s);
}
