/* Batching helpers: Fisher-Yates permutations (determinism per seed, agreement with a reference
 * loop, uniformity over the 6 permutations of 3 items), batch counts and ranges with the last
 * batch kept or dropped, the epoch iterator, and row gathers (int64 rows and tensors). */
#include <stdlib.h>
#include <string.h>

#include "util/testutil.h"

enum { N = 10, SEED = 42 };

static bool is_permutation(const int64_t *p, int64_t n) {
    bool seen[64] = {false};
    for (int64_t i = 0; i < n; i++) {
        if (p[i] < 0 || p[i] >= n || seen[p[i]]) return false;
        seen[p[i]] = true;
    }
    return true;
}

START_TEST(permutation) {
    sg_rng r1 = sg_rng_new(SEED), r2 = sg_rng_new(SEED), r3 = sg_rng_new(SEED + 1);
    int64_t *a = sg_permutation(&r1, N), *b = sg_permutation(&r2, N), *c = sg_permutation(&r3, N);
    ck_assert(is_permutation(a, N));
    ck_assert(is_permutation(c, N));
    ck_assert_mem_eq(a, b, N * sizeof *a);
    ck_assert_msg(memcmp(a, c, N * sizeof *a) != 0, "seeds 42 and 43 gave the same permutation");
    ck_assert_uint_eq(r1.offset, N - 1); /* exactly n-1 draws */
    /* reference: the textbook loop on the same generator */
    sg_rng r = sg_rng_new(SEED);
    int64_t ref[N];
    for (int i = 0; i < N; i++) ref[i] = i;
    for (int i = N - 1; i > 0; i--) {
        int64_t j = (int64_t)sg_rng_below(&r, (uint64_t)i + 1), t = ref[i];
        ref[i] = ref[j];
        ref[j] = t;
    }
    ck_assert_mem_eq(a, ref, sizeof ref);
    /* a second permutation from the same generator continues the stream */
    int64_t *a2 = sg_permutation(&r1, N);
    ck_assert(is_permutation(a2, N));
    ck_assert_msg(memcmp(a, a2, N * sizeof *a) != 0, "consecutive permutations equal");
    sg_perm_free(a);
    sg_perm_free(a2);
    sg_perm_free(b);
    sg_perm_free(c);
    int64_t *e = sg_permutation(&r1, 0);
    ck_assert_ptr_nonnull(e);
    sg_perm_free(e);
    ck_assert_ptr_null(sg_permutation(NULL, 3));
    tu_assert_error(SG_ERR_NULL, "'rng' is NULL");
    ck_assert_ptr_null(sg_permutation(&r1, -1));
    tu_assert_error(SG_ERR_ARG, "sg_permutation");
    ck_assert_int_eq(sg_shuffle(&r1, NULL, 2), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'a' is NULL");
    tu_teardown();
}
END_TEST

/* all 6 orders of 3 items appear about equally often (an off-by-one in the swap range would make
 * some never appear) */
START_TEST(uniformity) {
    enum { TRIALS = 6000, ORDERS = 6 };
    int hist[ORDERS] = {0};
    sg_rng rng = sg_rng_new(7);
    for (int t = 0; t < TRIALS; t++) {
        int64_t a[3] = {0, 1, 2};
        ck_assert_int_eq(sg_shuffle(&rng, a, 3), 0);
        hist[a[0] * 2 + (a[1] > a[2])]++;
    }
    for (int k = 0; k < ORDERS; k++) ck_assert_msg(hist[k] > 850 && hist[k] < 1150, "order %d seen %d times", k, hist[k]);
    tu_teardown();
}
END_TEST

START_TEST(ranges) {
    ck_assert_int_eq(sg_num_batches(10, 3, false), 4);
    ck_assert_int_eq(sg_num_batches(10, 3, true), 3);
    ck_assert_int_eq(sg_num_batches(9, 3, false), 3);
    ck_assert_int_eq(sg_num_batches(9, 3, true), 3);
    ck_assert_int_eq(sg_num_batches(2, 5, false), 1);
    ck_assert_int_eq(sg_num_batches(2, 5, true), 0);
    ck_assert_int_eq(sg_num_batches(0, 5, false), 0);
    int64_t start = -1;
    ck_assert_int_eq(sg_batch_range(10, 3, false, 0, &start), 3);
    ck_assert_int_eq(start, 0);
    ck_assert_int_eq(sg_batch_range(10, 3, false, 3, &start), 1); /* kept short batch */
    ck_assert_int_eq(start, 9);
    ck_assert_int_eq(sg_batch_range(10, 3, true, 2, &start), 3);
    ck_assert_int_eq(start, 6);
    ck_assert_int_eq(sg_batch_range(10, 3, true, 3, &start), -1);
    tu_assert_error(SG_ERR_ARG, "batch 3 out of range [0, 3) (n = 10, batch_size = 3, drop_last)");
    ck_assert_int_eq(sg_batch_range(10, 3, false, -1, &start), -1);
    tu_assert_error(SG_ERR_ARG, "batch -1 out of range [0, 4)");
    ck_assert_int_eq(sg_num_batches(10, 0, false), -1);
    tu_assert_error(SG_ERR_ARG, "batch_size >= 1");
    tu_teardown();
}
END_TEST

START_TEST(batcher) {
    sg_batcher b;
    ck_assert_int_eq(sg_batcher_init(&b, N, 4, false), 0);
    ck_assert_int_eq(b.n_batches, 3);
    const int64_t *idx;
    ck_assert_int_eq(sg_batcher_batch(&b, 2, &idx), 2);
    ck_assert_int_eq(idx[0], 8); /* identity before any shuffle */
    ck_assert_int_eq(idx[1], 9);

    sg_rng rng = sg_rng_new(SEED), ref = sg_rng_new(SEED);
    for (int epoch = 0; epoch < 3; epoch++) {
        ck_assert_int_eq(sg_batcher_shuffle(&b, &rng), 0);
        int64_t *want = sg_permutation(&ref, N); /* fresh shuffle of the identity each epoch */
        int64_t got[N], m = 0;
        for (int64_t k = 0; k < b.n_batches; k++) {
            int64_t cnt = sg_batcher_batch(&b, k, &idx);
            ck_assert_int_eq(cnt, k < 2 ? 4 : 2);
            memcpy(got + m, idx, (size_t)cnt * sizeof *idx);
            m += cnt;
        }
        ck_assert_int_eq(m, N);
        ck_assert_mem_eq(got, want, sizeof got);
        sg_perm_free(want);
    }
    ck_assert_int_eq(sg_batcher_batch(&b, 3, &idx), -1);
    tu_assert_error(SG_ERR_ARG, "batch 3 out of range [0, 3)");
    ck_assert_ptr_null(idx);
    sg_batcher_free(&b);
    ck_assert_int_eq(sg_batcher_shuffle(&b, &rng), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "not initialised");

    ck_assert_int_eq(sg_batcher_init(&b, N, 4, true), 0); /* drop_last: 2 full batches */
    ck_assert_int_eq(b.n_batches, 2);
    sg_batcher_free(&b);
    tu_teardown();
}
END_TEST

START_TEST(gathers) {
    /* int64 rows: 4 rows of 3 */
    int64_t src[12], dst[9];
    for (int i = 0; i < 12; i++) src[i] = 10 * (i / 3) + i % 3;
    const int64_t idx[3] = {3, 0, 3};
    ck_assert_int_eq(sg_gather_rows_i64(src, 4, 3, idx, 3, dst), 0);
    static const int64_t want_i[9] = {30, 31, 32, 0, 1, 2, 30, 31, 32};
    ck_assert_mem_eq(dst, want_i, sizeof dst);
    const int64_t bad[2] = {1, 4};
    ck_assert_int_eq(sg_gather_rows_i64(src, 4, 3, bad, 2, dst), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "idx[1] = 4 out of range [0, 4)");

    /* tensors: (4,2) in both dtypes, and a transposed (non-contiguous) view */
    double v[8] = {0, 1, 10, 11, 20, 21, 30, 31};
    for (int d = 0; d < SG_DTYPE_COUNT; d++) {
        sg_tensor *t = sg_from_buffer((sg_dtype)d, 2, (int64_t[]){4, 2}, v, SG_F64);
        sg_tensor *g = sg_gather_rows(t, idx, 3);
        ck_assert_msg(g != NULL, "%s", sg_last_error());
        ck_assert_int_eq(sg_dtype_of(g), d);
        ck_assert_int_eq(sg_size(g, 0), 3);
        tu_assert_values(g, (double[]){30, 31, 0, 1, 30, 31}, 6, 0, 0);
        ck_assert_int_eq(sg_tensor_free(g), 0); /* user-owned */
        sg_tensor *tt = sg_transpose(t, 0, 1); /* (2,4) view */
        g = sg_gather_rows(tt, (int64_t[]){1}, 1);
        ck_assert_msg(g != NULL, "%s", sg_last_error());
        tu_assert_values(g, (double[]){1, 11, 21, 31}, 4, 0, 0);
        sg_tensor_free(g);
        ck_assert_ptr_null(sg_gather_rows(t, bad, 2));
        tu_assert_error(SG_ERR_ARG, "sg_gather_rows: idx[1] = 4");
        sg_tensor_free(t);
    }
    sg_tensor *s = sg_scalar(SG_F64, 1);
    ck_assert_ptr_null(sg_gather_rows(s, idx, 1));
    tu_assert_error(SG_ERR_SHAPE, "0-d");
    sg_tensor_free(s);
    ck_assert_ptr_null(sg_gather_rows(NULL, idx, 1));
    tu_assert_error(SG_ERR_NULL, "'src'");
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("io_batch");
    TCase *t = tcase_create("batch");
    tcase_add_test(t, permutation);
    tcase_add_test(t, uniformity);
    tcase_add_test(t, ranges);
    tcase_add_test(t, batcher);
    tcase_add_test(t, gathers);
    suite_add_tcase(s, t);
    return tu_run(s);
}
