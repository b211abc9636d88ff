/* Reductions (sum, mean, max, whole-tensor forms) and softmax/log_softmax: float64 full gradcheck
 * over a table of shapes (size-1 dims, keepdim, several and negative dims, strided views),
 * float32-vs-float64 agreement, hand-computed values, NaN/empty semantics, thread-count
 * reproducibility and error paths. */
#include <string.h>

#include "util/testutil.h"

/* Row arguments: iarg = {n dims, dim0, dim1, keepdim}; farg[0] != 0: transpose the input's first
 * and last dims first (a strided view). */
static sg_tensor *maybe_t(sg_tensor *x, const tu_case *k) {
    return k->farg[0] != 0 ? sg_transpose(x, 0, -1) : x;
}
static sg_tensor *f_sum(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    int dims[2] = {k->iarg[1], k->iarg[2]};
    return sg_sum(maybe_t(x[0], k), k->iarg[0], dims, k->iarg[3]);
}
static sg_tensor *f_mean(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    int dims[2] = {k->iarg[1], k->iarg[2]};
    return sg_mean(maybe_t(x[0], k), k->iarg[0], dims, k->iarg[3]);
}
/* max: iarg = {unused, dim, unused, keepdim} */
static sg_tensor *f_max(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    return sg_max(maybe_t(x[0], k), k->iarg[1], k->iarg[3]);
}
static sg_tensor *f_sum_all(sg_tensor *const *x, int n, void *c) { (void)n; return sg_sum_all(maybe_t(x[0], c)); }
static sg_tensor *f_mean_all(sg_tensor *const *x, int n, void *c) { (void)n; return sg_mean_all(maybe_t(x[0], c)); }
static sg_tensor *f_max_all(sg_tensor *const *x, int n, void *c) { (void)n; return sg_max_all(maybe_t(x[0], c)); }
/* softmax: iarg[1] = dim */
static sg_tensor *f_softmax(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    return sg_softmax(maybe_t(x[0], k), k->iarg[1]);
}
static sg_tensor *f_log_softmax(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    return sg_log_softmax(maybe_t(x[0], k), k->iarg[1]);
}

#define SH(...) {__VA_ARGS__}
#define KEEP 1
#define TR .farg = {1}
static const tu_case CASES[] = {
    {"sum d1", f_sum, 1, {2}, {SH(3, 4)}, .iarg = {1, 1}},
    {"sum d0 keep", f_sum, 1, {2}, {SH(3, 4)}, .iarg = {1, 0, 0, KEEP}},
    {"sum d-1 3d", f_sum, 1, {3}, {SH(2, 3, 4)}, .iarg = {1, -1}},
    {"sum d0,2", f_sum, 1, {3}, {SH(2, 3, 4)}, .iarg = {2, 0, 2}},
    {"sum d-1,-3 keep", f_sum, 1, {3}, {SH(2, 3, 4)}, .iarg = {2, -1, -3, KEEP}},
    {"sum d1,0 (all listed)", f_sum, 1, {2}, {SH(2, 3)}, .iarg = {2, 1, 0}},
    {"sum all n0", f_sum, 1, {2}, {SH(2, 3)}, .iarg = {0}},
    {"sum all n0 keep", f_sum, 1, {2}, {SH(2, 3)}, .iarg = {0, 0, 0, KEEP}},
    {"sum size1 d0", f_sum, 1, {3}, {SH(1, 4, 1)}, .iarg = {1, 0}},
    {"sum size1 d2 keep", f_sum, 1, {3}, {SH(1, 4, 1)}, .iarg = {1, 2, 0, KEEP}},
    {"sum 0-d", f_sum, 1, {0}, {SH(0)}, .iarg = {0}},
    {"sum T d0", f_sum, 1, {2}, {SH(3, 4)}, .iarg = {1, 0}, TR},
    {"sum T 3d d1", f_sum, 1, {3}, {SH(2, 3, 4)}, .iarg = {1, 1}, TR},
    {"sum T 3d d0,-1 keep", f_sum, 1, {3}, {SH(2, 3, 4)}, .iarg = {2, 0, -1, KEEP}, TR},
    {"sum T all", f_sum, 1, {2}, {SH(3, 4)}, .iarg = {0}, TR},
    {"mean d1", f_mean, 1, {2}, {SH(3, 4)}, .iarg = {1, 1}},
    {"mean d0 keep", f_mean, 1, {2}, {SH(3, 4)}, .iarg = {1, 0, 0, KEEP}},
    {"mean d-2,-1 3d", f_mean, 1, {3}, {SH(2, 3, 4)}, .iarg = {2, -2, -1}},
    {"mean all n0 keep", f_mean, 1, {3}, {SH(2, 1, 3)}, .iarg = {0, 0, 0, KEEP}},
    {"mean size1", f_mean, 1, {2}, {SH(1, 5)}, .iarg = {1, 0}},
    {"mean T d1", f_mean, 1, {3}, {SH(2, 3, 4)}, .iarg = {1, 1, 0, KEEP}, TR},
    {"max d1", f_max, 1, {2}, {SH(3, 4)}, .iarg = {0, 1}},
    {"max d0 keep", f_max, 1, {2}, {SH(3, 4)}, .iarg = {0, 0, 0, KEEP}},
    {"max d-2 3d", f_max, 1, {3}, {SH(2, 3, 4)}, .iarg = {0, -2}},
    {"max size1 d0", f_max, 1, {2}, {SH(1, 5)}, .iarg = {0, 0}},
    {"max size1 d1 keep", f_max, 1, {2}, {SH(4, 1)}, .iarg = {0, 1, 0, KEEP}},
    {"max 1-d", f_max, 1, {1}, {SH(6)}, .iarg = {0, -1}},
    {"max T d1", f_max, 1, {2}, {SH(3, 4)}, .iarg = {0, 1}, TR},
    {"max T 3d d0 keep", f_max, 1, {3}, {SH(2, 3, 4)}, .iarg = {0, 0, 0, KEEP}, TR},
    {"sum_all", f_sum_all, 1, {2}, {SH(3, 4)}},
    {"sum_all 0-d", f_sum_all, 1, {0}, {SH(0)}},
    {"sum_all T", f_sum_all, 1, {3}, {SH(2, 3, 4)}, TR},
    {"mean_all", f_mean_all, 1, {1}, {SH(5)}},
    {"mean_all T", f_mean_all, 1, {2}, {SH(3, 4)}, TR},
    {"max_all", f_max_all, 1, {2}, {SH(3, 4)}},
    {"max_all 0-d", f_max_all, 1, {0}, {SH(0)}},
    {"max_all T", f_max_all, 1, {3}, {SH(2, 3, 4)}, TR},
    {"softmax d1", f_softmax, 1, {2}, {SH(3, 4)}, .iarg = {0, 1}, .lo = -3, .hi = 3},
    {"softmax d0", f_softmax, 1, {2}, {SH(3, 4)}, .iarg = {0, 0}, .lo = -3, .hi = 3},
    {"softmax d-2 3d", f_softmax, 1, {3}, {SH(2, 3, 4)}, .iarg = {0, -2}},
    {"softmax size1 row", f_softmax, 1, {2}, {SH(1, 5)}, .iarg = {0, -1}},
    {"softmax size1 dim", f_softmax, 1, {2}, {SH(4, 1)}, .iarg = {0, 1}},
    {"softmax 1-d", f_softmax, 1, {1}, {SH(5)}, .iarg = {0, 0}, .lo = -3, .hi = 3},
    {"softmax T d1", f_softmax, 1, {2}, {SH(3, 4)}, .iarg = {0, 1}, TR},
    {"softmax T 3d d0", f_softmax, 1, {3}, {SH(2, 3, 4)}, .iarg = {0, 0}, TR},
    {"log_softmax d1", f_log_softmax, 1, {2}, {SH(3, 4)}, .iarg = {0, 1}, .lo = -3, .hi = 3},
    {"log_softmax d0", f_log_softmax, 1, {2}, {SH(3, 4)}, .iarg = {0, 0}},
    {"log_softmax d-1 3d", f_log_softmax, 1, {3}, {SH(2, 3, 4)}, .iarg = {0, -1}},
    {"log_softmax size1 dim", f_log_softmax, 1, {2}, {SH(4, 1)}, .iarg = {0, 1}},
    {"log_softmax size1 row", f_log_softmax, 1, {2}, {SH(1, 5)}, .iarg = {0, 1}},
    {"log_softmax T d1", f_log_softmax, 1, {2}, {SH(3, 4)}, .iarg = {0, 1}, TR},
    {"log_softmax T 3d d1", f_log_softmax, 1, {3}, {SH(2, 3, 4)}, .iarg = {0, 1}, TR},
};
enum { NCASES = sizeof CASES / sizeof CASES[0] };

START_TEST(grad_table) { tu_check_case_grad(&CASES[_i]); }
END_TEST
START_TEST(f32_table) { tu_check_case_f32(&CASES[_i]); }
END_TEST


static void assert_shape(const sg_tensor *t, int nd, const int64_t *shape) {
    ck_assert_msg(t != NULL, "NULL: %s", sg_last_error());
    int64_t s[SG_MAX_DIMS];
    ck_assert_int_eq(sg_shape(t, s), nd);
    for (int i = 0; i < nd; i++) ck_assert_int_eq(s[i], shape[i]);
}

START_TEST(sum_mean_values) {
    sg_tensor *A = tu_from(SG_F64, 2, (int64_t[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6});
    sg_tensor *r = sg_sum(A, 1, (int[]){0}, false);
    assert_shape(r, 1, (int64_t[]){3});
    tu_assert_values(r, (double[]){5, 7, 9}, 3, 0, 0);
    r = sg_sum(A, 1, (int[]){-1}, true);
    assert_shape(r, 2, (int64_t[]){2, 1});
    tu_assert_values(r, (double[]){6, 15}, 2, 0, 0);
    r = sg_sum(A, 0, NULL, false);
    assert_shape(r, 0, NULL);
    tu_assert_values(r, (double[]){21}, 1, 0, 0);
    r = sg_sum(A, 0, NULL, true);
    assert_shape(r, 2, (int64_t[]){1, 1});
    tu_assert_values(sg_sum(A, 2, (int[]){1, 0}, false), (double[]){21}, 1, 0, 0);
    tu_assert_values(sg_sum_all(A), (double[]){21}, 1, 0, 0);
    tu_assert_values(sg_mean_all(A), (double[]){3.5}, 1, 0, 0);
    tu_assert_values(sg_mean(A, 1, (int[]){1}, false), (double[]){2, 5}, 2, 0, 0);
    tu_assert_values(sg_mean(A, 1, (int[]){0}, true), (double[]){2.5, 3.5, 4.5}, 3, 0, 0);
    /* backward of mean: gout / count broadcast back */
    sg_set_requires_grad(A, true);
    ck_assert_int_eq(sg_backward(sg_sum_all(sg_mean(A, 1, (int[]){1}, false))), SG_OK);
    tu_assert_values(sg_grad(A), (double[]){1. / 3, 1. / 3, 1. / 3, 1. / 3, 1. / 3, 1. / 3}, 6, 0, 1e-15);
    /* gradients accumulate (+=) across backward calls */
    ck_assert_int_eq(sg_backward(sg_sum_all(A)), SG_OK);
    tu_assert_values(sg_grad(A), (double[]){4. / 3, 4. / 3, 4. / 3, 4. / 3, 4. / 3, 4. / 3}, 6, 0, 1e-15);
    sg_tensor_free(A);
    tu_teardown();
}
END_TEST

START_TEST(empty_reductions) {
    /* sum over nothing is 0; mean over nothing is NaN (as PyTorch) */
    sg_tensor *E = sg_zeros(SG_F64, 2, (int64_t[]){0, 3});
    sg_tensor *r = sg_sum(E, 1, (int[]){0}, false);
    assert_shape(r, 1, (int64_t[]){3});
    tu_assert_values(r, (double[]){0, 0, 0}, 3, 0, 0);
    r = sg_mean(E, 1, (int[]){0}, false);
    for (int i = 0; i < 3; i++) ck_assert(isnan(sg_get_flat(r, i)));
    ck_assert(isnan(sg_item(sg_mean_all(E))));
    ck_assert_double_eq(sg_item(sg_sum_all(E)), 0.0);
    r = sg_sum(E, 1, (int[]){1}, false); /* kept dim empty: empty result */
    assert_shape(r, 1, (int64_t[]){0});
    r = sg_max(E, 1, true); /* non-empty reduced dim, empty kept dim: fine */
    assert_shape(r, 2, (int64_t[]){0, 1});
    sg_tensor_free(E);
    tu_teardown();
}
END_TEST

START_TEST(max_values_ties_nan) {
    sg_tensor *A = tu_from(SG_F64, 2, (int64_t[]){2, 3}, (double[]){1, 5, 5, 7, -1, 7});
    sg_set_requires_grad(A, true);
    sg_tensor *m = sg_max(A, 1, false);
    assert_shape(m, 1, (int64_t[]){2});
    tu_assert_values(m, (double[]){5, 7}, 2, 0, 0);
    ck_assert_int_eq(sg_backward(sg_sum_all(m)), SG_OK);
    tu_assert_values(sg_grad(A), (double[]){0, 1, 0, 1, 0, 0}, 6, 0, 0); /* first maximum */
    sg_zero_grad(&A, 1);
    m = sg_max(A, 0, true);
    assert_shape(m, 2, (int64_t[]){1, 3});
    tu_assert_values(m, (double[]){7, 5, 7}, 3, 0, 0);
    sg_tensor *ma = sg_max_all(A);
    assert_shape(ma, 0, NULL);
    ck_assert_double_eq(sg_item(ma), 7);
    ck_assert_int_eq(sg_backward(ma), SG_OK);
    tu_assert_values(sg_grad(A), (double[]){0, 0, 0, 1, 0, 0}, 6, 0, 0);
    /* NaN propagates and the first NaN takes the gradient */
    sg_tensor *B = tu_from(SG_F64, 1, (int64_t[]){5}, (double[]){1, NAN, 9, NAN, -INFINITY});
    sg_set_requires_grad(B, true);
    sg_tensor *mb = sg_max_all(B);
    ck_assert(isnan(sg_item(mb)));
    ck_assert_int_eq(sg_backward(mb), SG_OK);
    tu_assert_values(sg_grad(B), (double[]){0, 1, 0, 0, 0}, 5, 0, 0);
    sg_tensor *C = tu_from(SG_F32, 2, (int64_t[]){2, 2}, (double[]){-INFINITY, -INFINITY, 3, NAN});
    sg_tensor *mc = sg_max(C, 1, false);
    ck_assert(isinf(sg_get_flat(mc, 0)) && sg_get_flat(mc, 0) < 0);
    ck_assert(isnan(sg_get_flat(mc, 1)));
    sg_tensor_free(A);
    sg_tensor_free(B);
    sg_tensor_free(C);
    tu_teardown();
}
END_TEST

/* max / min over dim 0 of a contiguous tensor take a row-by-row path: the same values and the same
 * gradient positions as the general loop, which a non-contiguous view of the same values takes;
 * ties (small integers) and NaNs included, float32 and float64, a single row too. */
START_TEST(max_dim0_path_is_general_path) {
    const int64_t shapes[3][3] = {{37, 5, 300}, {1, 4, 3}, {9, 1100, 1}};
    for (int dt = 0; dt < 2; dt++)
        for (int k = 0; k < 3; k++)
            for (int lower = 0; lower < 2; lower++) {
                sg_dtype d = dt ? SG_F64 : SG_F32;
                const int64_t *sh = shapes[k];
                int64_t n = sh[0] * sh[1] * sh[2];
                sg_tensor *A = tu_rand(d, 3, sh, -3, 3, 40 + (uint64_t)k, false);
                for (int64_t i = 0; i < n; i++) { /* integers: many ties; a few NaNs */
                    double v = floor(sg_get_flat(A, i));
                    sg_set_flat(A, i, i % 97 == 5 ? NAN : v);
                }
                sg_set_requires_grad(A, true);
                /* the same logical values through a (B, T, H) copy transposed back: not contiguous */
                sg_tensor *Bt = sg_contiguous(sg_transpose(A, 0, 1));
                sg_tensor *V = sg_transpose(Bt, 0, 1);
                ck_assert(sh[0] == 1 || sh[1] == 1 || !sg_is_contiguous(V)); /* size-1 dims: any stride */
                sg_tensor *fast = lower ? sg_min(A, 0, false) : sg_max(A, 0, false);
                sg_tensor *slow = lower ? sg_min(V, 0, false) : sg_max(V, 0, false);
                ck_assert_msg(fast && slow, "%s", sg_last_error());
                int64_t m = sg_numel(fast);
                for (int64_t i = 0; i < m; i++) {
                    double a = sg_get_flat(fast, i), b = sg_get_flat(slow, i);
                    ck_assert_msg(a == b || (isnan(a) && isnan(b)), "output %lld: %g vs %g", (long long)i, a, b);
                }
                sg_tensor *W = tu_rand(d, 2, (int64_t[]){sh[1], sh[2]}, 1, 2, 41, false);
                ck_assert_int_eq(sg_backward(sg_sum_all(sg_add(sg_mul(fast, W), sg_mul(slow, sg_neg(W))))), SG_OK);
                /* the fast gradient lands where the slow one does, with opposite sign: they cancel */
                sg_tensor *G = sg_grad(A);
                for (int64_t i = 0; i < n; i++) ck_assert_msg(sg_get_flat(G, i) == 0, "gradient %lld differs", (long long)i);
                sg_tensor_free(A);
                sg_tensor_free(W);
                sg_tape_clear();
            }
    tu_teardown();
}
END_TEST

START_TEST(softmax_values) {
    for (int dt = 0; dt < 2; dt++) {
        double tol = dt == SG_F32 ? 1e-6 : 1e-14;
        sg_tensor *A = tu_from(dt, 1, (int64_t[]){3}, (double[]){1, 2, 3});
        tu_assert_values(sg_softmax(A, 0), (double[]){0.09003057317038043, 0.24472847105479759, 0.6652409557748217},
                         3, 0, tol);
        /* large values: no overflow */
        sg_tensor *L = tu_from(dt, 2, (int64_t[]){2, 3}, (double[]){1000, 1001, 1002, -1000, -1000, -1000});
        sg_tensor *ls = sg_log_softmax(L, 1);
        tu_assert_values(ls, (double[]){-2.40760596444438, -1.4076059644443804, -0.4076059644443803,
                                        -1.0986122886681098, -1.0986122886681098, -1.0986122886681098},
                         6, 0, tol);
        tu_assert_values(sg_softmax(L, -1), (double[]){0.09003057317038043, 0.24472847105479759, 0.6652409557748217,
                                                       1. / 3, 1. / 3, 1. / 3},
                         6, 0, tol);
        /* a -inf entry gets probability 0, log-probability -inf */
        sg_tensor *M = tu_from(dt, 1, (int64_t[]){2}, (double[]){0, -INFINITY});
        tu_assert_values(sg_softmax(M, 0), (double[]){1, 0}, 2, 0, 0);
        ck_assert(isinf(sg_get_flat(sg_log_softmax(M, 0), 1)));
        /* columns (dim 0) */
        sg_tensor *B = tu_from(dt, 2, (int64_t[]){2, 2}, (double[]){0, 5, 0, 5});
        tu_assert_values(sg_softmax(B, 0), (double[]){0.5, 0.5, 0.5, 0.5}, 4, 0, 0);
        sg_tensor_free(A);
        sg_tensor_free(L);
        sg_tensor_free(M);
        sg_tensor_free(B);
    }
    /* backward by hand: y = softmax(x), s = <v, y>: dx = y * (v - <v, y>) */
    sg_tensor *X = tu_from(SG_F64, 1, (int64_t[]){3}, (double[]){1, 2, 3});
    sg_set_requires_grad(X, true);
    sg_tensor *V = tu_from(SG_F64, 1, (int64_t[]){3}, (double[]){1, 0, -1});
    double y[3] = {0.09003057317038043, 0.24472847105479759, 0.6652409557748217};
    double dot = y[0] - y[2];
    ck_assert_int_eq(sg_backward_grad(sg_softmax(X, 0), V), SG_OK);
    tu_assert_values(sg_grad(X), (double[]){y[0] * (1 - dot), y[1] * (0 - dot), y[2] * (-1 - dot)}, 3, 1e-15, 1e-12);
    sg_zero_grad(&X, 1);
    /* log_softmax: dx = v - y * sum(v) = v (sum(v) = 0 here) */
    ck_assert_int_eq(sg_backward_grad(sg_log_softmax(X, 0), V), SG_OK);
    tu_assert_values(sg_grad(X), (double[]){1, 0, -1}, 3, 1e-15, 0);
    sg_tensor_free(X);
    sg_tensor_free(V);
    tu_teardown();
}
END_TEST

/* float32 sums accumulate in double: 1e6 x 0.1f is 100000 to float precision (naive float
 * accumulation is off by ~1%). */
START_TEST(f32_accumulation) {
    enum { N = 1000000 };
    sg_tensor *A = sg_full(SG_F32, 1, (int64_t[]){N}, 0.1);
    double want = (double)N * (double)0.1f;
    ck_assert_msg(fabs(sg_item(sg_sum_all(A)) - want) <= 0.01, "sum_all %.9g", sg_item(sg_sum_all(A)));
    ck_assert_msg(fabs(sg_item(sg_mean_all(A)) - (double)0.1f) <= 1e-8, "mean_all");
    sg_tensor *B = sg_full(SG_F32, 2, (int64_t[]){2, N / 2}, 0.1);
    sg_tensor *r = sg_sum(B, 1, (int[]){1}, false);
    ck_assert_msg(fabs(sg_get_flat(r, 0) - want / 2) <= 0.01, "sum d1 %.9g", sg_get_flat(r, 0));
    sg_tensor_free(A);
    sg_tensor_free(B);
    tu_teardown();
}
END_TEST

/* Large strided reductions (parallel path) against a plain double loop via sg_get_flat. */
START_TEST(large_vs_reference) {
    enum { R = 300, C = 200 };
    sg_tensor *X = tu_rand(SG_F64, 2, (int64_t[]){R, C}, -1, 1, 5, false);
    sg_tensor *XT = sg_transpose(X, 0, 1); /* (C,R), strided */
    sg_tensor *s = sg_sum(XT, 1, (int[]){1}, false); /* = column sums of X */
    sg_tensor *mx = sg_max(XT, 1, false);
    sg_tensor *sm = sg_softmax(XT, 0); /* softmax over X's rows */
    for (int64_t j = 0; j < C; j++) {
        double acc = 0, best = -INFINITY;
        for (int64_t i = 0; i < R; i++) {
            double v = sg_get_flat(X, i * C + j);
            acc += v;
            if (v > best) best = v;
        }
        ck_assert_msg(fabs(sg_get_flat(s, j) - acc) <= 1e-12, "sum col %lld", (long long)j);
        ck_assert_double_eq(sg_get_flat(mx, j), best);
    }
    for (int64_t j = 0; j < R; j += 37) {
        double z = 0;
        for (int64_t k = 0; k < C; k++) z += exp(sg_get_flat(X, j * C + k));
        for (int64_t k = 0; k < C; k += 11) {
            double want = exp(sg_get_flat(X, j * C + k)) / z;
            ck_assert_msg(fabs(sg_get_flat(sm, k * R + j) - want) <= 1e-14, "softmax (%lld,%lld)", (long long)k,
                          (long long)j);
        }
    }
    double total = 0;
    for (int64_t i = 0; i < R * C; i++) total += sg_get_flat(X, i);
    ck_assert(fabs(sg_item(sg_sum_all(XT)) - total) <= 1e-10);
    ck_assert(fabs(sg_item(sg_sum_all(X)) - total) <= 1e-10);
    sg_tensor_free(X);
    tu_teardown();
}
END_TEST

/* Bitwise identical results with 1 and 2 threads (fixed blocks and per-output order). */
START_TEST(thread_invariance) {
    int prev = sg_get_num_threads();
    sg_tensor *X = tu_rand(SG_F32, 2, (int64_t[]){700, 300}, -1, 1, 9, true);
    sg_tensor *res[2][6];
    float grads[2][4];
    for (int k = 0; k < 2; k++) {
        sg_set_num_threads(k + 1);
        sg_tensor *XT = sg_transpose(X, 0, 1);
        res[k][0] = sg_sum_all(X);
        res[k][1] = sg_sum_all(XT);
        res[k][2] = sg_sum(X, 1, (int[]){0}, false);
        res[k][3] = sg_mean(XT, 1, (int[]){1}, true);
        res[k][4] = sg_log_softmax(XT, 1);
        res[k][5] = sg_max(X, 0, false);
        sg_tensor *loss = sg_add(sg_add(res[k][0], sg_sum_all(res[k][4])), sg_sum_all(res[k][5]));
        ck_assert_int_eq(sg_backward(loss), SG_OK);
        for (int j = 0; j < 4; j++) grads[k][j] = (float)sg_get_flat(sg_grad(X), j * 52501);
        sg_zero_grad(&X, 1);
    }
    sg_set_num_threads(prev);
    for (int j = 0; j < 6; j++) {
        int64_t m = sg_numel(res[0][j]);
        ck_assert_int_eq(m, sg_numel(res[1][j]));
        ck_assert_msg(memcmp(sg_data_const(res[0][j]), sg_data_const(res[1][j]), (size_t)m * sizeof(float)) == 0,
                      "result %d differs between 1 and 2 threads", j);
    }
    ck_assert(memcmp(grads[0], grads[1], sizeof grads[0]) == 0);
    sg_tensor_free(X);
    tu_teardown();
}
END_TEST

START_TEST(errors) {
    sg_tensor *a = sg_zeros(SG_F64, 2, (int64_t[]){2, 3});
    ck_assert_ptr_null(sg_sum(a, 2, (int[]){0, -2}, false));
    tu_assert_error(SG_ERR_ARG, "repeats dim 0");
    ck_assert_ptr_null(sg_mean(a, 2, (int[]){1, 1}, true));
    tu_assert_error(SG_ERR_ARG, "sg_mean: dims[1] = 1 repeats dim 1 of a (2,3)");
    ck_assert_ptr_null(sg_sum(a, 1, (int[]){2}, false));
    tu_assert_error(SG_ERR_ARG, "sg_sum: dim 2 out of range");
    ck_assert_ptr_null(sg_mean(a, 1, (int[]){-3}, false));
    tu_assert_error(SG_ERR_ARG, "dim -3 out of range");
    ck_assert_ptr_null(sg_sum(a, -1, (int[]){0}, false));
    tu_assert_error(SG_ERR_ARG, "n = -1");
    ck_assert_ptr_null(sg_sum(a, 1, NULL, false));
    tu_assert_error(SG_ERR_NULL, "'dims'");
    ck_assert_ptr_null(sg_max(a, 2, false));
    tu_assert_error(SG_ERR_ARG, "sg_max: dim 2");
    sg_tensor *e = sg_zeros(SG_F64, 2, (int64_t[]){2, 0});
    ck_assert_ptr_null(sg_max(e, 1, false));
    tu_assert_error(SG_ERR_SHAPE, "sg_max: the reduced dims of a (2,0) are empty");
    ck_assert_ptr_null(sg_max_all(e));
    tu_assert_error(SG_ERR_SHAPE, "sg_max_all");
    ck_assert_ptr_null(sg_softmax(a, 2));
    tu_assert_error(SG_ERR_ARG, "sg_softmax: dim 2");
    ck_assert_ptr_null(sg_log_softmax(a, -3));
    tu_assert_error(SG_ERR_ARG, "sg_log_softmax");
    sg_tensor *s = sg_scalar(SG_F64, 1);
    ck_assert_ptr_null(sg_softmax(s, 0));
    tu_assert_error(SG_ERR_ARG, "0-d");
    ck_assert_ptr_null(sg_sum_all(NULL));
    tu_assert_error(SG_ERR_NULL, "'a' is NULL");
    /* propagation keeps the first error */
    ck_assert_ptr_null(sg_mean_all(sg_softmax(sg_max(a, 7, false), 0)));
    tu_assert_error(SG_ERR_ARG, "sg_max: dim 7");
    /* a freed tensor is rejected, not dereferenced */
    sg_tensor *f = sg_zeros(SG_F64, 1, (int64_t[]){2});
    sg_tensor_free(f);
    ck_assert_ptr_null(sg_sum_all(f));
    tu_assert_error(SG_ERR_STATE, "not a live tensor");
    sg_tensor_free(a);
    sg_tensor_free(e);
    sg_tensor_free(s);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_reduce");
    TCase *t = tcase_create("table");
    tcase_add_loop_test(t, grad_table, 0, NCASES);
    tcase_add_loop_test(t, f32_table, 0, NCASES);
    tcase_add_test(t, sum_mean_values);
    tcase_add_test(t, empty_reductions);
    tcase_add_test(t, max_values_ties_nan);
    tcase_add_test(t, max_dim0_path_is_general_path);
    tcase_add_test(t, softmax_values);
    tcase_add_test(t, f32_accumulation);
    tcase_add_test(t, large_vs_reference);
    tcase_add_test(t, thread_invariance);
    tcase_add_test(t, errors);
    suite_add_tcase(s, t);
    return tu_run(s);
}
