/* sg_gather / sg_scatter_add: float64 full gradcheck over a table (each dim, duplicate indices, an
 * index smaller than x off dim, a src larger than the index, strided inputs), float32-vs-float64
 * agreement, hand-computed values, bitwise thread-count independence of the scatter with many
 * duplicates, and error paths. PyTorch fixtures: test_ops_torch (ops_gather). */
#include "util/testutil.h"

enum { MAX_IDX = 32 };
typedef struct {
    int64_t shape[3];
    int64_t v[MAX_IDX];
} idx_set;
static const idx_set IDX[] = {
    {{2, 3}, {0, 2, 2, 1, 1, 1}},                   /* 0: (2,3) into dim1 of (2,4) or dim0 of (3,3) */
    {{3, 2}, {2, 0, 0, 0, 1, 2}},                   /* 1: (3,2) along dim0, duplicates */
    {{2, 2, 3}, {0, 1, 0, 1, 1, 0, 2, 0, 1, 0, 0, 2}}, /* 2: 3-d, values < 3 */
    {{1, 2}, {3, 0}},                               /* 3: smaller than x off dim */
    {{2, 4}, {0, 0, 1, 0, 0, 1, 1, 1}},             /* 4: longer than x (4,2) along dim 1 */
};

/* gather(x0, dim iarg[0], IDX[iarg[1]]); iarg[2]: transpose(0,1) x0 first */
static sg_tensor *f_gather(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    const idx_set *s = &IDX[k->iarg[1]];
    return sg_gather(k->iarg[2] ? sg_transpose(x[0], 0, 1) : x[0], k->iarg[0], s->shape, s->v);
}
/* scatter_add(x0, dim iarg[0], IDX[iarg[1]], x1); iarg[2]: transpose x1 first */
static sg_tensor *f_scatter(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    const idx_set *s = &IDX[k->iarg[1]];
    return sg_scatter_add(x[0], k->iarg[0], s->shape, s->v, k->iarg[2] ? sg_transpose(x[1], 0, 1) : x[1]);
}

#define SH(...) {__VA_ARGS__}
static const tu_case CASES[] = {
    {"gather dim1", f_gather, 1, {2}, {SH(2, 4)}, .iarg = {1, 0}},
    {"gather dim0 dup", f_gather, 1, {2}, {SH(3, 2)}, .iarg = {0, 1}},
    {"gather 3d dim1", f_gather, 1, {3}, {SH(2, 3, 3)}, .iarg = {1, 2}},
    {"gather 3d dim -1", f_gather, 1, {3}, {SH(2, 2, 3)}, .iarg = {-1, 2}},
    {"gather small index", f_gather, 1, {2}, {SH(3, 4)}, .iarg = {1, 3}},
    {"gather long index", f_gather, 1, {2}, {SH(4, 2)}, .iarg = {1, 4}},
    {"gather transposed x", f_gather, 1, {2}, {SH(4, 2)}, .iarg = {1, 0, 1}},
    {"scatter dim1", f_scatter, 2, {2, 2}, {SH(2, 4), SH(2, 3)}, .iarg = {1, 0}},
    {"scatter dim0 dup", f_scatter, 2, {2, 2}, {SH(3, 2), SH(3, 2)}, .iarg = {0, 1}},
    {"scatter 3d", f_scatter, 2, {3, 3}, {SH(2, 3, 3), SH(2, 2, 3)}, .iarg = {1, 2}},
    {"scatter larger src", f_scatter, 2, {2, 2}, {SH(3, 4), SH(2, 3)}, .iarg = {1, 3}},
    {"scatter long index", f_scatter, 2, {2, 2}, {SH(4, 2), SH(2, 4)}, .iarg = {1, 4}},
    {"scatter transposed src", f_scatter, 2, {2, 2}, {SH(2, 4), SH(3, 2)}, .iarg = {1, 0, 1}},
    {"scatter x no grad", f_scatter, 2, {2, 2}, {SH(2, 4), SH(2, 3)}, .iarg = {1, 0}, .no_grad_mask = 1},
};
enum { NCASES = sizeof CASES / sizeof CASES[0] };

START_TEST(grad_table) { tu_check_case_grad(&CASES[_i]); }
END_TEST
START_TEST(f32_table) { tu_check_case_f32(&CASES[_i]); }
END_TEST

START_TEST(values) {
    sg_tensor *x = tu_from(SG_F64, 2, (int64_t[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6});
    int64_t ish[2] = {2, 2}, idx[4] = {2, 2, 0, 1};
    tu_assert_values(sg_gather(x, 1, ish, idx), (double[]){3, 3, 4, 5}, 4, 0, 0);
    int64_t ish0[2] = {1, 3}, idx0[3] = {1, 0, 1};
    tu_assert_values(sg_gather(x, 0, ish0, idx0), (double[]){4, 2, 6}, 3, 0, 0);
    sg_tensor *src = tu_from(SG_F64, 2, (int64_t[]){2, 2}, (double[]){10, 20, 30, 40});
    tu_assert_values(sg_scatter_add(x, 1, ish, idx, src), (double[]){1, 2, 33, 34, 45, 6}, 6, 0, 0);
    sg_tensor_free(x);
    sg_tensor_free(src);
    tu_teardown();
}
END_TEST

/* (256, 1024) gather along dim 1 with 64 distinct targets: parallel lines, heavy duplicates. */
START_TEST(threads_bitwise) {
    enum { R = 256, C = 1024, S = 64 };
    static int64_t idx[R * C];
    for (int64_t i = 0; i < R * C; i++) idx[i] = (i * 7919) % S;
    int64_t xs[2] = {R, S}, ish[2] = {R, C};
    sg_tensor *x = tu_rand(SG_F32, 2, xs, -1, 1, 5, true), *Rt = tu_rand(SG_F32, 2, ish, -1, 1, 6, false);
    sg_tensor *g[2];
    int saved = sg_get_num_threads();
    for (int t = 0; t < 2; t++) {
        sg_set_num_threads(t + 1);
        sg_zero_grad(&x, 1);
        ck_assert_int_eq(sg_backward_grad(sg_gather(x, 1, ish, idx), Rt), SG_OK);
        g[t] = sg_copy(sg_grad(x));
        sg_tape_clear();
    }
    sg_set_num_threads(saved);
    for (int64_t i = 0; i < R * S; i++) ck_assert(sg_get_flat(g[0], i) == sg_get_flat(g[1], i));
    sg_tensor *fr[] = {x, Rt, g[0], g[1]};
    for (int i = 0; i < 4; i++) sg_tensor_free(fr[i]);
    tu_teardown();
}
END_TEST

START_TEST(errors) {
    sg_tensor *x = sg_zeros(SG_F64, 2, (int64_t[]){2, 3}), *s32 = sg_zeros(SG_F32, 2, (int64_t[]){2, 3});
    sg_tensor *s1 = sg_zeros(SG_F64, 1, (int64_t[]){3}), *small = sg_zeros(SG_F64, 2, (int64_t[]){2, 1});
    int64_t ish[2] = {2, 2}, bad[4] = {0, 3, 1, 1}, neg[4] = {0, -1, 0, 0}, ok[4] = {0, 1, 2, 0};
    ck_assert_ptr_null(sg_gather(x, 1, ish, bad));
    tu_assert_error(SG_ERR_ARG, "sg_gather: index[1] = 3 out of range [0, 3)");
    ck_assert_ptr_null(sg_gather(x, 1, ish, neg));
    tu_assert_error(SG_ERR_ARG, "index[1] = -1");
    ck_assert_ptr_null(sg_gather(x, 0, (int64_t[]){2, 4}, ok));
    tu_assert_error(SG_ERR_SHAPE, "index shape (2,4)");
    ck_assert_ptr_null(sg_gather(x, 2, ish, ok));
    tu_assert_error(SG_ERR_ARG, "sg_gather");
    ck_assert_ptr_null(sg_gather(x, 1, ish, NULL));
    tu_assert_error(SG_ERR_NULL, "'index'");
    ck_assert_ptr_null(sg_gather(x, 1, NULL, ok));
    tu_assert_error(SG_ERR_NULL, "'index_shape'");
    ck_assert_ptr_null(sg_scatter_add(x, 1, ish, ok, s32));
    tu_assert_error(SG_ERR_DTYPE, "sg_scatter_add");
    ck_assert_ptr_null(sg_scatter_add(x, 1, ish, ok, s1));
    tu_assert_error(SG_ERR_SHAPE, "src (3)");
    ck_assert_ptr_null(sg_scatter_add(x, 1, ish, ok, small));
    tu_assert_error(SG_ERR_SHAPE, "<= src (2,1)");
    ck_assert_ptr_null(sg_scatter_add(x, 1, ish, bad, x));
    tu_assert_error(SG_ERR_ARG, "sg_scatter_add: index[1] = 3");
    sg_tensor *fr[] = {x, s32, s1, small};
    for (int i = 0; i < 4; i++) sg_tensor_free(fr[i]);
    tu_teardown();
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("ops_gather");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, grad_table, 0, NCASES);
    tcase_add_loop_test(tc, f32_table, 0, NCASES);
    tcase_add_test(tc, values);
    tcase_add_test(tc, threads_bitwise);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run(suite()); }
