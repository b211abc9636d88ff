/* min, argmax/argmin, top-k, var/std and cumsum: float64 full gradcheck over a table (strided
 * inputs, keepdim, several dims, 0-d), float32-vs-float64 agreement, hand-computed values and
 * indices (ties, NaN), and error paths. PyTorch fixtures: test_ops_torch (ops_order). */
#include <string.h>

#include "util/testutil.h"

/* iarg[0] dim, iarg[1] keepdim, iarg[3]: transpose(0,1) first */
static sg_tensor *maybe_t(const tu_case *k, sg_tensor *x) { return k->iarg[3] ? sg_transpose(x, 0, 1) : x; }
static sg_tensor *f_min(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    return sg_min(maybe_t(k, x[0]), k->iarg[0], k->iarg[1]);
}
static sg_tensor *f_min_all(sg_tensor *const *x, int n, void *c) {
    (void)n;
    (void)c;
    return sg_min_all(x[0]);
}
/* topk: iarg[0] dim, iarg[1] k, iarg[2] largest */
static sg_tensor *f_topk(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    return sg_topk(maybe_t(k, x[0]), k->iarg[1], k->iarg[0], k->iarg[2], NULL, 0);
}
/* var/std: iarg[0] number of dims (0: all) taken from farg[0..1], iarg[1] keepdim, iarg[2] unbiased;
 * farg[2] != 0: std */
static sg_tensor *f_var(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    int dims[2] = {(int)k->farg[0], (int)k->farg[1]};
    sg_tensor *a = maybe_t(k, x[0]);
    return k->farg[2] != 0 ? sg_std(a, k->iarg[0], dims, k->iarg[2], k->iarg[1])
                           : sg_var(a, k->iarg[0], dims, k->iarg[2], k->iarg[1]);
}
static sg_tensor *f_cumsum(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    return sg_cumsum(maybe_t(k, x[0]), k->iarg[0]);
}

#define SH(...) {__VA_ARGS__}
static const tu_case CASES[] = {
    {"min dim1", f_min, 1, {2}, {SH(3, 4)}, .iarg = {1, 0}},
    {"min dim0 keepdim", f_min, 1, {3}, {SH(3, 2, 2)}, .iarg = {0, 1}},
    {"min -1 transposed", f_min, 1, {2}, {SH(4, 3)}, .iarg = {-1, 0, 0, 1}},
    {"min_all", f_min_all, 1, {2}, {SH(2, 3)}},
    {"topk 2 of 5 largest", f_topk, 1, {2}, {SH(3, 5)}, .iarg = {1, 2, 1}},
    {"topk 3 smallest dim0", f_topk, 1, {3}, {SH(4, 2, 3)}, .iarg = {0, 3, 0}},
    {"topk all mid", f_topk, 1, {3}, {SH(2, 3, 2)}, .iarg = {1, 3, 1}},
    {"topk 0", f_topk, 1, {2}, {SH(2, 3)}, .iarg = {1, 0, 1}},
    {"topk transposed", f_topk, 1, {2}, {SH(4, 3)}, .iarg = {1, 2, 1, 1}},
    {"var all unbiased", f_var, 1, {2}, {SH(3, 4)}, .iarg = {0, 0, 1}},
    {"var dim1 biased", f_var, 1, {2}, {SH(3, 4)}, .iarg = {1, 0, 0}, .farg = {1}},
    {"var dims 0,2 keepdim", f_var, 1, {3}, {SH(2, 3, 4)}, .iarg = {2, 1, 1}, .farg = {0, 2}},
    {"var transposed", f_var, 1, {2}, {SH(3, 5)}, .iarg = {1, 0, 1, 1}, .farg = {-1}},
    {"std all", f_var, 1, {2}, {SH(3, 4)}, .iarg = {0, 0, 1}, .farg = {0, 0, 1}},
    {"std dim0 biased keepdim", f_var, 1, {2}, {SH(4, 3)}, .iarg = {1, 1, 0}, .farg = {0, 0, 1}},
    {"std 0-d biased", f_var, 1, {0}, {SH(0)}, .iarg = {0, 0, 0}, .farg = {0, 0, 1}},
    {"cumsum dim0", f_cumsum, 1, {2}, {SH(4, 3)}, .iarg = {0}},
    {"cumsum dim -1 3d", f_cumsum, 1, {3}, {SH(2, 3, 4)}, .iarg = {-1}},
    {"cumsum mid", f_cumsum, 1, {3}, {SH(2, 3, 2)}, .iarg = {1}},
    {"cumsum transposed", f_cumsum, 1, {2}, {SH(3, 4)}, .iarg = {1, 0, 0, 1}},
    {"cumsum 0-d", f_cumsum, 1, {0}, {SH(0)}, .iarg = {0}},
};
enum { NCASES = sizeof CASES / sizeof CASES[0] };

START_TEST(grad_table) {
    const tu_case *c = &CASES[_i];
    /* std of a 0-d tensor (biased) is 0 with gradient 0, which finite differences see as |dx|/dx: skip */
    if (c->fn == f_var && c->ndim[0] == 0) return;
    tu_check_case_grad(c);
}
END_TEST
START_TEST(f32_table) { tu_check_case_f32(&CASES[_i]); }
END_TEST

START_TEST(values_min_arg) {
    /* rows: [3, 1, 1, 5], [NaN, 2, NaN, -1], [-inf, 0, -inf, 7] */
    double v[12] = {3, 1, 1, 5, NAN, 2, NAN, -1, -INFINITY, 0, -INFINITY, 7};
    sg_tensor *a = tu_from(SG_F64, 2, (int64_t[]){3, 4}, v);
    int64_t idx[4] = {-9, -9, -9, -9};
    ck_assert_int_eq(sg_argmin(a, 1, idx, 4), 3);
    ck_assert(idx[0] == 1 && idx[1] == 0 && idx[2] == 0); /* first minimum; NaN is the smallest */
    ck_assert_int_eq(sg_argmax(a, -1, idx, 3), 3);
    ck_assert(idx[0] == 3 && idx[1] == 0 && idx[2] == 3); /* NaN is the largest */
    ck_assert_int_eq(sg_argmax(a, 0, idx, 4), 4);
    ck_assert(idx[0] == 1 && idx[1] == 1 && idx[2] == 1 && idx[3] == 2);
    sg_tensor *m = sg_min(a, 1, false);
    ck_assert(sg_get_flat(m, 0) == 1 && isnan(sg_get_flat(m, 1)) && sg_get_flat(m, 2) == -INFINITY);
    ck_assert(isnan(sg_item(sg_min_all(a))));
    /* the first minimum gets the gradient */
    double w[4] = {2, 1, 1, 3};
    sg_tensor *b = tu_from(SG_F64, 1, (int64_t[]){4}, w);
    sg_set_requires_grad(b, true);
    ck_assert_int_eq(sg_backward(sg_min(b, 0, false)), SG_OK);
    tu_assert_values(sg_grad(b), (double[]){0, 1, 0, 0}, 4, 0, 0);
    sg_tensor_free(a);
    sg_tensor_free(b);
    tu_teardown();
}
END_TEST

START_TEST(values_topk) {
    double v[8] = {0.5, 2, -1, 2, 7, NAN, 3, -4};
    sg_tensor *a = tu_from(SG_F64, 2, (int64_t[]){2, 4}, v);
    sg_set_requires_grad(a, true);
    int64_t idx[6];
    sg_tensor *t = sg_topk(a, 3, 1, true, idx, 6);
    ck_assert_ptr_nonnull(t);
    ck_assert(sg_get_flat(t, 0) == 2 && sg_get_flat(t, 1) == 2 && sg_get_flat(t, 2) == 0.5);
    ck_assert(isnan(sg_get_flat(t, 3)) && sg_get_flat(t, 4) == 7 && sg_get_flat(t, 5) == 3);
    int64_t e[6] = {1, 3, 0, 1, 0, 2}; /* ties by the lower index; NaN first */
    for (int i = 0; i < 6; i++) ck_assert_int_eq(idx[i], e[i]);
    sg_tensor *s = sg_topk(a, 2, 1, false, idx, 4);
    ck_assert(sg_get_flat(s, 0) == -1 && sg_get_flat(s, 1) == 0.5 && sg_get_flat(s, 2) == -4 && sg_get_flat(s, 3) == 3);
    ck_assert(idx[0] == 2 && idx[1] == 0 && idx[2] == 3 && idx[3] == 2);
    /* gradient: d sum(topk(a,3) * [1,2,3;4,5,6]) lands on the selected elements */
    sg_tensor *R = tu_from(SG_F64, 2, (int64_t[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6});
    ck_assert_int_eq(sg_backward_grad(t, R), SG_OK);
    tu_assert_values(sg_grad(a), (double[]){3, 1, 0, 2, 5, 4, 6, 0}, 8, 0, 0);
    sg_tensor_free(R);
    sg_tensor_free(a);
    tu_teardown();
}
END_TEST

START_TEST(values_var_cumsum) {
    double v[6] = {1, 2, 3, 4, 4, 4};
    sg_tensor *a = tu_from(SG_F64, 2, (int64_t[]){2, 3}, v);
    int last = -1;
    tu_assert_values(sg_var(a, 1, &last, true, false), (double[]){1, 0}, 2, 1e-15, 0);
    tu_assert_values(sg_var(a, 1, &last, false, false), (double[]){2.0 / 3, 0}, 2, 1e-15, 0);
    tu_assert_values(sg_std(a, 0, NULL, true, false), (double[]){sqrt(1.6)}, 1, 1e-15, 0); /* 8 / 5 */
    tu_assert_values(sg_cumsum(a, 1), (double[]){1, 3, 6, 4, 8, 12}, 6, 0, 0);
    tu_assert_values(sg_cumsum(a, 0), (double[]){1, 2, 3, 5, 6, 7}, 6, 0, 0);
    /* one element, unbiased: NaN (as PyTorch); std of a constant row has gradient 0 */
    sg_tensor *one = sg_scalar(SG_F64, 2);
    ck_assert(isnan(sg_item(sg_var(one, 0, NULL, true, false))));
    sg_set_requires_grad(a, true);
    ck_assert_int_eq(sg_backward(sg_sum_all(sg_std(a, 1, &last, true, false))), SG_OK);
    tu_assert_values(sg_grad(a), (double[]){-0.5, 0, 0.5, 0, 0, 0}, 6, 1e-15, 0);
    sg_tensor_free(a);
    sg_tensor_free(one);
    tu_teardown();
}
END_TEST

START_TEST(errors) {
    sg_tensor *a = sg_zeros(SG_F64, 2, (int64_t[]){2, 3}), *e = sg_zeros(SG_F64, 2, (int64_t[]){2, 0});
    int64_t idx[8];
    ck_assert_int_eq(sg_argmax(a, 1, idx, 1), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "needs 2");
    ck_assert_int_eq(sg_argmax(a, 2, idx, 8), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "sg_argmax");
    ck_assert_int_eq(sg_argmin(a, 0, NULL, 0), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'idx'");
    ck_assert_int_eq(sg_argmin(e, 1, idx, 8), SG_ERR_SHAPE);
    tu_assert_error(SG_ERR_SHAPE, "sg_argmin");
    ck_assert_ptr_null(sg_min(e, 1, false));
    tu_assert_error(SG_ERR_SHAPE, "the min of nothing");
    ck_assert_ptr_null(sg_topk(a, 4, 1, true, NULL, 0));
    tu_assert_error(SG_ERR_ARG, "k = 4 is outside [0, 3]");
    ck_assert_ptr_null(sg_topk(a, -1, 1, true, NULL, 0));
    tu_assert_error(SG_ERR_ARG, "k = -1");
    ck_assert_ptr_null(sg_topk(a, 2, 1, true, idx, 3));
    tu_assert_error(SG_ERR_ARG, "needs 4");
    ck_assert_ptr_null(sg_topk(a, 2, 1, true, NULL, 3));
    tu_assert_error(SG_ERR_NULL, "'indices'");
    ck_assert_ptr_null(sg_topk(a, 1, -3, true, NULL, 0));
    tu_assert_error(SG_ERR_ARG, "sg_topk");
    int dd[2] = {1, 1};
    ck_assert_ptr_null(sg_var(a, 2, dd, true, false));
    tu_assert_error(SG_ERR_ARG, "sg_var");
    ck_assert_ptr_null(sg_cumsum(a, 5));
    tu_assert_error(SG_ERR_ARG, "sg_cumsum");
    ck_assert_ptr_null(sg_std(NULL, 0, NULL, true, false));
    tu_assert_error(SG_ERR_NULL, "sg_std");
    sg_tensor_free(a);
    sg_tensor_free(e);
    tu_teardown();
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("ops_order");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, grad_table, 0, NCASES);
    tcase_add_loop_test(tc, f32_table, 0, NCASES);
    tcase_add_test(tc, values_min_arg);
    tcase_add_test(tc, values_topk);
    tcase_add_test(tc, values_var_cumsum);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run(suite()); }
