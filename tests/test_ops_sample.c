/* Sampling (sg_sample_logits, sg_multinomial): same seed -> same ids, the rng advances by the rows,
 * empirical frequencies match softmax(logits / T) and the weights (within 5 standard errors),
 * impossible classes (-inf logits, zero weights) are never drawn, strided and float32 inputs, and
 * error paths (NaN / +inf logits, negative weights, temperature <= 0, cap, NULLs). */
#include <stdlib.h>

#include "util/testutil.h"

enum { ROWS = 20000, C3 = 3 };
#define N_SIGMA 5.0

/* ROWS copies of a 3-class row */
static sg_tensor *rows_of(sg_dtype dt, const double *row) {
    double *v = malloc(sizeof(double) * ROWS * C3);
    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < C3; j++) v[i * C3 + j] = row[j];
    sg_tensor *t = tu_from(dt, 2, (int64_t[]){ROWS, C3}, v);
    free(v);
    return t;
}

static void assert_freq(const int64_t *ids, const double *p) {
    int64_t cnt[C3] = {0};
    for (int i = 0; i < ROWS; i++) {
        ck_assert(ids[i] >= 0 && ids[i] < C3);
        cnt[ids[i]]++;
    }
    for (int j = 0; j < C3; j++) {
        double f = (double)cnt[j] / ROWS, se = sqrt(p[j] * (1 - p[j]) / ROWS);
        ck_assert_msg(fabs(f - p[j]) <= N_SIGMA * se + 1e-12, "class %d: frequency %.4f, expected %.4f", j, f, p[j]);
    }
}

START_TEST(distribution) {
    static int64_t ids[ROWS];
    double lg[C3] = {0, log(2.0), log(3.0)}, p1[C3] = {1 / 6.0, 2 / 6.0, 3 / 6.0}, p05[C3] = {1 / 14.0, 4 / 14.0, 9 / 14.0};
    for (int dt = SG_F32; dt <= SG_F64; dt++) {
        sg_tensor *x = rows_of(dt, lg);
        sg_rng r = sg_rng_new(7);
        ck_assert_int_eq(sg_sample_logits(x, 1.0, &r, ids, ROWS), ROWS);
        assert_freq(ids, p1);
        ck_assert_int_eq(sg_sample_logits(x, 0.5, &r, ids, ROWS), ROWS); /* p^2 normalised */
        assert_freq(ids, p05);
        ck_assert_uint_eq(r.offset, 2 * ROWS);
        sg_tensor_free(x);
        double w[C3] = {1, 2, 3};
        sg_tensor *pr = rows_of(dt, w);
        ck_assert_int_eq(sg_multinomial(pr, &r, ids, ROWS), ROWS);
        assert_freq(ids, p1);
        sg_tensor_free(pr);
    }
    tu_teardown();
}
END_TEST

START_TEST(reproducible) {
    int64_t shp[3] = {4, 5, 7}, a[20], b[20], c[20];
    sg_tensor *x = tu_rand(SG_F64, 3, shp, -2, 2, 3, false);
    sg_rng r1 = sg_rng_new(42), r2 = sg_rng_new(42), r3 = sg_rng_new(43);
    ck_assert_int_eq(sg_sample_logits(x, 0.8, &r1, a, 20), 20);
    ck_assert_int_eq(sg_sample_logits(x, 0.8, &r2, b, 20), 20);
    ck_assert_int_eq(sg_sample_logits(x, 0.8, &r3, c, 20), 20);
    int same = 0;
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(a[i], b[i]);
        same += a[i] == c[i];
    }
    ck_assert_int_lt(same, 20);
    ck_assert_uint_eq(r1.offset, 20);
    /* the next call continues the stream: not a repeat */
    ck_assert_int_eq(sg_sample_logits(x, 0.8, &r1, b, 20), 20);
    same = 0;
    for (int i = 0; i < 20; i++) same += a[i] == b[i];
    ck_assert_int_lt(same, 20);
    /* a strided view samples as its contiguous copy */
    sg_tensor *t = sg_transpose(x, 0, 1), *tc = sg_copy(t);
    sg_rng s1 = sg_rng_new(5), s2 = sg_rng_new(5);
    ck_assert_int_eq(sg_sample_logits(t, 1.0, &s1, a, 20), 20);
    ck_assert_int_eq(sg_sample_logits(tc, 1.0, &s2, b, 20), 20);
    for (int i = 0; i < 20; i++) ck_assert_int_eq(a[i], b[i]);
    sg_tensor_free(tc);
    sg_tensor_free(x);
    tu_teardown();
}
END_TEST

START_TEST(impossible_classes) {
    static int64_t ids[ROWS];
    double lg[C3] = {-INFINITY, 0, -INFINITY}, w[C3] = {0.5, 0, 0.5};
    sg_tensor *x = rows_of(SG_F64, lg), *p = rows_of(SG_F64, w);
    sg_rng r = sg_rng_new(1);
    ck_assert_int_eq(sg_sample_logits(x, 3.0, &r, ids, ROWS), ROWS);
    for (int i = 0; i < ROWS; i++) ck_assert_int_eq(ids[i], 1);
    ck_assert_int_eq(sg_multinomial(p, &r, ids, ROWS), ROWS);
    for (int i = 0; i < ROWS; i++) ck_assert_int_ne(ids[i], 1);
    /* 1-d logits: one row; very low temperature is the argmax */
    sg_tensor *v = tu_from(SG_F64, 1, (int64_t[]){4}, (double[]){0.1, 0.3, 0.29, -1});
    ck_assert_int_eq(sg_sample_logits(v, 1e-4, &r, ids, 1), 1);
    ck_assert_int_eq(ids[0], 1);
    sg_tensor_free(x);
    sg_tensor_free(p);
    sg_tensor_free(v);
    tu_teardown();
}
END_TEST

START_TEST(errors) {
    int64_t ids[4];
    sg_rng r = sg_rng_new(1);
    sg_tensor *x = tu_from(SG_F64, 2, (int64_t[]){2, 2}, (double[]){0, 1, NAN, 2});
    ck_assert_int_eq(sg_sample_logits(x, 1, &r, ids, 4), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "sg_sample_logits: row 1 class 0 of logits is nan");
    ck_assert_uint_eq(r.offset, 0);
    sg_set_flat(x, 2, INFINITY);
    ck_assert_int_eq(sg_sample_logits(x, 1, &r, ids, 4), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "+inf");
    sg_set_flat(x, 2, 0);
    ck_assert_int_eq(sg_sample_logits(x, 0, &r, ids, 4), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "temperature must be finite and > 0 (got 0)");
    ck_assert_int_eq(sg_sample_logits(x, -1, &r, ids, 4), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "temperature");
    ck_assert_int_eq(sg_sample_logits(x, NAN, &r, ids, 4), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "temperature");
    ck_assert_int_eq(sg_sample_logits(x, 1, &r, ids, 1), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "needs 2");
    ck_assert_int_eq(sg_sample_logits(x, 1, NULL, ids, 4), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'rng'");
    ck_assert_int_eq(sg_sample_logits(x, 1, &r, NULL, 4), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'out'");
    sg_set_flat(x, 1, -0.5);
    ck_assert_int_eq(sg_multinomial(x, &r, ids, 4), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "sg_multinomial: row 0 class 1 of probs is -0.5");
    sg_tensor *z = sg_zeros(SG_F64, 2, (int64_t[]){2, 3}), *ni = sg_full(SG_F64, 1, (int64_t[]){3}, -INFINITY);
    ck_assert_int_eq(sg_multinomial(z, &r, ids, 4), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "all zero");
    ck_assert_int_eq(sg_sample_logits(ni, 1, &r, ids, 4), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "every logit is -inf");
    sg_tensor *s = sg_scalar(SG_F64, 1);
    ck_assert_int_eq(sg_sample_logits(s, 1, &r, ids, 4), SG_ERR_SHAPE);
    tu_assert_error(SG_ERR_SHAPE, "0-d");
    ck_assert_uint_eq(r.offset, 0);
    sg_tensor *fr[] = {x, z, ni, s};
    for (int i = 0; i < 4; i++) sg_tensor_free(fr[i]);
    tu_teardown();
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("ops_sample");
    TCase *tc = tcase_create("sample");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, distribution);
    tcase_add_test(tc, reproducible);
    tcase_add_test(tc, impossible_classes);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run(suite()); }
