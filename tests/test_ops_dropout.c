/* Dropout: float64 full gradcheck with the rng re-seeded inside the function (same mask every
 * evaluation), float32-vs-float64 agreement, drop rate within a statistical bound, exact scaling,
 * backward mask = forward mask, thread-count and layout independence of the mask, rng advance,
 * eval-mode identity and error paths. */
#include <string.h>

#include "../tensor/tensor_impl.h" /* sg__philox, sg__u01: the mask's definition */
#include "util/testutil.h"

enum { SEED = 1234 };

/* farg = {p, transpose first}; iarg[0] = training. A fresh rng from a constant seed per call. */
static sg_tensor *f_dropout(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    sg_rng rng = sg_rng_new(SEED);
    sg_tensor *a = k->farg[1] != 0 ? sg_transpose(x[0], 0, -1) : x[0];
    return sg_dropout(a, k->farg[0], k->iarg[0], &rng);
}

#define SH(...) {__VA_ARGS__}
static const tu_case CASES[] = {
    {"train p.3", f_dropout, 1, {2}, {SH(4, 5)}, .iarg = {1}, .farg = {0.3}},
    {"train p.5 1-d", f_dropout, 1, {1}, {SH(7)}, .iarg = {1}, .farg = {0.5}},
    {"train p.2 3d", f_dropout, 1, {3}, {SH(2, 3, 4)}, .iarg = {1}, .farg = {0.2}},
    {"train size1", f_dropout, 1, {2}, {SH(1, 1)}, .iarg = {1}, .farg = {0.1}},
    {"train p.9", f_dropout, 1, {2}, {SH(3, 4)}, .iarg = {1}, .farg = {0.9}},
    {"train T", f_dropout, 1, {2}, {SH(5, 4)}, .iarg = {1}, .farg = {0.3, 1}},
    {"train p0 identity", f_dropout, 1, {2}, {SH(3, 4)}, .iarg = {1}, .farg = {0}},
    {"eval identity", f_dropout, 1, {2}, {SH(3, 4)}, .iarg = {0}, .farg = {0.5}},
    {"eval identity T", f_dropout, 1, {3}, {SH(2, 3, 4)}, .iarg = {0}, .farg = {0.5, 1}},
};
enum { NCASES = sizeof CASES / sizeof CASES[0] };

START_TEST(grad_table) { tu_check_case_grad(&CASES[_i]); }
END_TEST
START_TEST(f32_table) { tu_check_case_f32(&CASES[_i]); }
END_TEST

/* Fraction of zeros within 7 standard deviations of p; kept values exactly x * (T)(1/(1-p)). */
START_TEST(rate_and_scale) {
    enum { N = 400000 };
    const double ps[] = {0.1, 0.3, 0.5, 0.8};
    for (int k = 0; k < 4; k++) {
        double p = ps[k];
        sg_tensor *X = sg_ones(SG_F32, 2, (int64_t[]){N / 400, 400});
        sg_rng rng = sg_rng_new(77 + (uint64_t)k);
        sg_tensor *y = sg_dropout(X, p, true, &rng);
        ck_assert_msg(y != NULL, "%s", sg_last_error());
        const float *v = sg_data_const(y);
        float scale = (float)(1.0 / (1.0 - p));
        int64_t zeros = 0;
        for (int64_t i = 0; i < N; i++) {
            if (v[i] == 0.0f) zeros++;
            else ck_assert_msg(v[i] == scale, "kept value %.9g != %.9g", v[i], scale);
        }
        double frac = (double)zeros / N, sd = sqrt(p * (1 - p) / N);
        ck_assert_msg(fabs(frac - p) <= 7 * sd, "p %.2f: zero fraction %.5f", p, frac);
        ck_assert_uint_eq(rng.offset, (uint64_t)N);
        sg_tensor_free(X);
        sg_tape_clear();
    }
    /* p = 0.5 doubles exactly, in float64 too */
    sg_tensor *X = sg_full(SG_F64, 1, (int64_t[]){1000}, 0.3);
    sg_rng rng = sg_rng_new(5);
    sg_tensor *y = sg_dropout(X, 0.5, true, &rng);
    for (int64_t i = 0; i < 1000; i++) {
        double v = sg_get_flat(y, i);
        ck_assert(v == 0.0 || v == 0.6);
    }
    sg_tensor_free(X);
    tu_teardown();
}
END_TEST

/* The kernel's integer threshold gives the definition's mask: element i kept iff
 * sg__u01(Philox(seed, offset + i)[0]) >= p, for p on both sides of the points where the
 * threshold moves (k / 2^32 and (k + 0.5) / 2^32) and p within 2^-33 of 0 and of 1. */
START_TEST(mask_is_definition) {
    enum { N = 5000 };
    const double two32 = 4294967296.0;
    double ps[32];
    int np = 0;
    const double at[] = {0.25, 0.3, 1 / 3.0, 0.5, 0.7};
    for (int k = 0; k < 5; k++) { /* the largest u01 below p and the smallest at or above it */
        double p = at[k], w = floor(p * two32 - 0.5);
        ps[np++] = p;
        ps[np++] = ((w + 0.5) / two32);                /* exactly one u01 value: kept */
        ps[np++] = nextafter((w + 0.5) / two32, 1.0);  /* just above it: that value dropped */
        ps[np++] = nextafter((w + 0.5) / two32, 0.0);
    }
    ps[np++] = 0x1p-34;
    ps[np++] = 0x1p-33;
    ps[np++] = nextafter(0x1p-33, 1.0);
    ps[np++] = 1 - 0x1p-34;
    ps[np++] = nextafter(1.0, 0.0);
    sg_tensor *X = sg_ones(SG_F64, 1, (int64_t[]){N});
    for (int k = 0; k < np; k++) {
        double p = ps[k];
        sg_rng rng = sg_rng_new(31 + (uint64_t)k);
        rng.offset = 0xFFFFF000u + (uint64_t)k; /* crosses the counter's 32-bit boundary */
        uint64_t base = rng.offset;
        sg_tensor *y = sg_dropout(X, p, true, &rng);
        ck_assert_msg(y != NULL, "%s", sg_last_error());
        int64_t bad = -1;
        for (int64_t i = 0; i < N && bad < 0; i++) {
            uint32_t w[4];
            sg__philox(rng.seed, base + (uint64_t)i, w);
            if ((sg__u01(w[0]) >= p) != (sg_get_flat(y, i) != 0)) bad = i;
        }
        ck_assert_msg(bad < 0, "p = %.17g: element %lld's mask differs from the definition", p, (long long)bad);
        sg_tape_clear();
    }
    /* at the threshold itself: a single u01 value decides, both ways */
    uint32_t w[4];
    sg__philox(9, 0, w);
    double u = sg__u01(w[0]);
    const double pk[2] = {u, nextafter(u, 1.0)};
    for (int k = 0; k < 2; k++) {
        sg_rng rng = sg_rng_new(9);
        sg_tensor *y = sg_dropout(X, pk[k], true, &rng);
        ck_assert_msg((sg_get_flat(y, 0) != 0) == (k == 0), "element 0 at p = its own uniform%s", k ? " + 1 ulp" : "");
        sg_tape_clear();
    }
    sg_tensor_free(X);
    tu_teardown();
}
END_TEST

/* Backward uses the forward's mask and scale: grad = y / x elementwise for x = 1. */
START_TEST(backward_mask) {
    sg_tensor *X = sg_ones(SG_F64, 2, (int64_t[]){50, 40});
    sg_set_requires_grad(X, true);
    sg_rng rng = sg_rng_new(11);
    sg_tensor *y = sg_dropout(X, 0.4, true, &rng);
    ck_assert_int_eq(sg_backward(sg_sum_all(y)), SG_OK);
    sg_tensor *g = sg_grad(X);
    int64_t kept = 0;
    for (int64_t i = 0; i < 2000; i++) {
        ck_assert_double_eq(sg_get_flat(g, i), sg_get_flat(y, i));
        kept += sg_get_flat(y, i) != 0;
    }
    ck_assert(kept > 0 && kept < 2000);
    sg_tensor_free(X);
    tu_teardown();
}
END_TEST

/* Same seed and offset: bitwise the same output with 1 and 2 threads, and for a strided view
 * and its contiguous copy (the mask follows the logical row-major index). */
START_TEST(mask_reproducible) {
    int prev = sg_get_num_threads();
    sg_tensor *X = tu_rand(SG_F32, 2, (int64_t[]){300, 400}, -1, 1, 3, false);
    sg_tensor *res[2];
    for (int k = 0; k < 2; k++) {
        sg_set_num_threads(k + 1);
        sg_rng rng = sg_rng_new(99);
        res[k] = sg_dropout(X, 0.3, true, &rng);
    }
    sg_set_num_threads(prev);
    ck_assert(memcmp(sg_data_const(res[0]), sg_data_const(res[1]), 120000 * sizeof(float)) == 0);
    /* a different seed gives a different mask */
    sg_rng other = sg_rng_new(100);
    sg_tensor *y2 = sg_dropout(X, 0.3, true, &other);
    ck_assert(memcmp(sg_data_const(res[0]), sg_data_const(y2), 120000 * sizeof(float)) != 0);
    /* strided view vs contiguous copy */
    sg_tensor *XT = sg_transpose(X, 0, 1);
    sg_tensor *XC = sg_copy(XT);
    sg_rng r1 = sg_rng_new(7), r2 = sg_rng_new(7);
    sg_tensor *a = sg_dropout(XT, 0.3, true, &r1), *b = sg_dropout(XC, 0.3, true, &r2);
    ck_assert(memcmp(sg_data_const(a), sg_data_const(b), 120000 * sizeof(float)) == 0);
    sg_tensor_free(X);
    sg_tensor_free(XC);
    tu_teardown();
}
END_TEST

/* Each call advances the rng by numel, so consecutive calls draw fresh masks; restoring the
 * offset replays a mask. */
START_TEST(rng_advance) {
    sg_tensor *X = sg_ones(SG_F64, 1, (int64_t[]){64});
    sg_rng rng = sg_rng_new(21);
    sg_tensor *a = sg_dropout(X, 0.5, true, &rng);
    ck_assert_uint_eq(rng.offset, 64);
    sg_tensor *b = sg_dropout(X, 0.5, true, &rng);
    ck_assert_uint_eq(rng.offset, 128);
    ck_assert(memcmp(sg_data_const(a), sg_data_const(b), 64 * sizeof(double)) != 0);
    rng.offset = 64;
    sg_tensor *c = sg_dropout(X, 0.5, true, &rng);
    ck_assert(memcmp(sg_data_const(b), sg_data_const(c), 64 * sizeof(double)) == 0);
    sg_tensor_free(X);
    tu_teardown();
}
END_TEST

/* Eval mode (or p = 0): a new handle with the same values, rng untouched (may be NULL), and the
 * gradient passes unchanged. */
START_TEST(eval_identity) {
    sg_tensor *X = tu_rand(SG_F64, 2, (int64_t[]){3, 4}, -1, 1, 8, true);
    sg_rng rng = sg_rng_new(1);
    sg_tensor *y = sg_dropout(X, 0.5, false, &rng);
    ck_assert_ptr_nonnull(y);
    ck_assert_ptr_ne(y, X);
    ck_assert_uint_eq(rng.offset, 0);
    for (int64_t i = 0; i < 12; i++) ck_assert_double_eq(sg_get_flat(y, i), sg_get_flat(X, i));
    ck_assert_int_eq(sg_backward(sg_sum_all(y)), SG_OK);
    tu_assert_values(sg_grad(X), (double[]){1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 12, 0, 0);
    ck_assert_ptr_nonnull(sg_dropout(X, 0.5, false, NULL));
    sg_tensor *z = sg_dropout(X, 0.0, true, &rng);
    ck_assert_uint_eq(rng.offset, 0);
    for (int64_t i = 0; i < 12; i++) ck_assert_double_eq(sg_get_flat(z, i), sg_get_flat(X, i));
    sg_tensor_free(X);
    tu_teardown();
}
END_TEST

START_TEST(errors) {
    sg_tensor *X = sg_ones(SG_F64, 1, (int64_t[]){4});
    sg_rng rng = sg_rng_new(1);
    ck_assert_ptr_null(sg_dropout(X, 1.0, true, &rng));
    tu_assert_error(SG_ERR_ARG, "sg_dropout: p = 1 is outside [0, 1)");
    ck_assert_ptr_null(sg_dropout(X, -0.1, false, &rng));
    tu_assert_error(SG_ERR_ARG, "p = -0.1");
    ck_assert_ptr_null(sg_dropout(X, NAN, true, &rng));
    tu_assert_error(SG_ERR_ARG, "p = nan");
    ck_assert_ptr_null(sg_dropout(X, 0.5, true, NULL));
    tu_assert_error(SG_ERR_NULL, "'rng'");
    ck_assert_ptr_null(sg_dropout(NULL, 0.5, true, &rng));
    tu_assert_error(SG_ERR_NULL, "'a' is NULL");
    ck_assert_uint_eq(rng.offset, 0);
    sg_tensor_free(X);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_dropout");
    TCase *t = tcase_create("table");
    tcase_add_loop_test(t, grad_table, 0, NCASES);
    tcase_add_loop_test(t, f32_table, 0, NCASES);
    tcase_add_test(t, rate_and_scale);
    tcase_add_test(t, mask_is_definition);
    tcase_add_test(t, backward_mask);
    tcase_add_test(t, mask_reproducible);
    tcase_add_test(t, rng_advance);
    tcase_add_test(t, eval_identity);
    tcase_add_test(t, errors);
    suite_add_tcase(s, t);
    return tu_run(s);
}
