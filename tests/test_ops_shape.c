/* Shape ops (reshape, transpose, permute, narrow, (un)squeeze, contiguous, concat, stack, split,
 * chunk): float64 full gradcheck over a table of shapes including non-contiguous inputs and view
 * chains, float32-vs-float64 agreement, hand-computed values, zero-copy checks, error paths. */
#include "util/testutil.h"

/* reshape target: iarg[0] dims, iarg[1..3] sizes (one may be -1) */
static sg_tensor *f_reshape(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    int64_t s[3] = {k->iarg[1], k->iarg[2], k->iarg[3]};
    return sg_reshape(x[0], k->iarg[0], s);
}
/* transpose(0,1) first: a non-contiguous input, so reshape copies */
static sg_tensor *f_reshape_t(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    int64_t s[3] = {k->iarg[1], k->iarg[2], k->iarg[3]};
    return sg_reshape(sg_transpose(x[0], 0, 1), k->iarg[0], s);
}
static sg_tensor *f_transpose(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    return sg_transpose(x[0], k->iarg[0], k->iarg[1]);
}
/* permute by iarg[0..ndim-1] */
static sg_tensor *f_permute(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    return sg_permute(x[0], k->iarg);
}
/* narrow(dim iarg[0], start iarg[1], len iarg[2]) */
static sg_tensor *f_narrow(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    return sg_narrow(x[0], k->iarg[0], k->iarg[1], k->iarg[2]);
}
/* the same slice taken twice and multiplied: gradients of two views of one input accumulate */
static sg_tensor *f_narrow_twice(sg_tensor *const *x, int n, void *c) {
    (void)n;
    (void)c;
    return sg_mul(sg_narrow(x[0], 1, 0, 2), sg_narrow(x[0], 1, 1, 2));
}
static sg_tensor *f_unsqueeze(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    return sg_unsqueeze(x[0], k->iarg[0]);
}
static sg_tensor *f_squeeze(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    return sg_squeeze(x[0], k->iarg[0]);
}
/* iarg[0]: transpose first (non-contiguous input, so contiguous copies) */
static sg_tensor *f_contiguous(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    return sg_contiguous(k->iarg[0] ? sg_transpose(x[0], 0, 1) : x[0]);
}
/* x (4,5): transpose -> (5,4), narrow rows 1..3 -> (3,4) strided, reshape (copy) -> (2,6),
 * transpose again -> (6,2) view of the copy, squeeze(unsqueeze) round trip */
static sg_tensor *f_chain(sg_tensor *const *x, int n, void *c) {
    (void)n;
    (void)c;
    sg_tensor *t = sg_narrow(sg_transpose(x[0], 0, 1), 0, 1, 3);
    sg_tensor *r = sg_reshape(t, 2, (int64_t[]){2, 6});
    return sg_squeeze(sg_unsqueeze(sg_transpose(r, 0, 1), 1), 1);
}
/* concat all inputs along iarg[0] */
static sg_tensor *f_concat(sg_tensor *const *x, int n, void *c) {
    const tu_case *k = c;
    return sg_concat(n, x, k->iarg[0]);
}
/* concat of views: x0 (3,2) transposed -> (2,3), x1 (2,5) narrowed -> (2,3), and x0^T again */
static sg_tensor *f_concat_views(sg_tensor *const *x, int n, void *c) {
    (void)n;
    (void)c;
    sg_tensor *v[3] = {sg_transpose(x[0], 0, 1), sg_narrow(x[1], 1, 1, 3), sg_transpose(x[0], 1, 0)};
    return sg_concat(3, v, 0);
}
static sg_tensor *f_stack(sg_tensor *const *x, int n, void *c) {
    const tu_case *k = c;
    return sg_stack(n, x, k->iarg[0]);
}
/* stack of views: two transposes of x0 (3,2) and a column slice of x1 (2,4) */
static sg_tensor *f_stack_views(sg_tensor *const *x, int n, void *c) {
    (void)n;
    (void)c;
    sg_tensor *v[3] = {sg_transpose(x[0], 0, 1), sg_narrow(x[1], 1, 1, 3), sg_transpose(x[0], 1, 0)};
    return sg_stack(3, v, 1);
}

enum { MAX_PIECES = 4 };
static const int64_t SPLIT_SIZES[][MAX_PIECES] = {{2, 0, 3}, {1, 2, 1}, {3}, {1, 0, 2}};
/* split x0 along iarg[0] into iarg[1] pieces of SPLIT_SIZES[iarg[2]] (iarg[3]: transpose x0
 * first); every piece is multiplied by x1 (broadcast) and the pieces are joined in reverse order,
 * so each piece's gradient reaches the output with its own cotangent and factor */
static sg_tensor *f_split(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    sg_tensor *p[MAX_PIECES], *r[MAX_PIECES];
    sg_tensor *a = k->iarg[3] ? sg_transpose(x[0], 0, 1) : x[0];
    if (sg_split(a, k->iarg[0], k->iarg[1], SPLIT_SIZES[k->iarg[2]], p)) return NULL;
    for (int i = 0; i < k->iarg[1]; i++) r[k->iarg[1] - 1 - i] = sg_mul(p[i], x[1]);
    return sg_concat(k->iarg[1], r, k->iarg[0]);
}
/* chunk x0 into 3 along iarg[0] (iarg[1]: transpose first): c0 * c1 + c2 * x1 */
static sg_tensor *f_chunk(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    sg_tensor *p[3];
    sg_tensor *a = k->iarg[1] ? sg_transpose(x[0], 0, 1) : x[0];
    if (sg_chunk(a, 3, k->iarg[0], p)) return NULL;
    return sg_add(sg_mul(p[0], p[1]), sg_mul(p[2], x[1]));
}

/* select(dim iarg[0], index iarg[1]); iarg[2]: transpose(0,1) first */
static sg_tensor *f_select(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    return sg_select(k->iarg[2] ? sg_transpose(x[0], 0, 1) : x[0], k->iarg[0], k->iarg[1]);
}
/* every step t of x0 (T,B,D) taken with select and multiplied by x1: per-step slices accumulate */
static sg_tensor *f_select_steps(sg_tensor *const *x, int n, void *c) {
    (void)n;
    (void)c;
    sg_tensor *ys[4];
    int64_t T = sg_size(x[0], 0);
    for (int64_t t = 0; t < T; t++) ys[t] = sg_mul(sg_select(x[0], 0, t), sg_select(x[1], 0, T - 1 - t));
    return sg_stack((int)T, ys, 0);
}

#define SH(...) {__VA_ARGS__}
static const tu_case CASES[] = {
    {"reshape 3d->2d", f_reshape, 1, {3}, {SH(2, 3, 4)}, .iarg = {2, 4, -1}},
    {"reshape 2d->3d", f_reshape, 1, {2}, {SH(6, 2)}, .iarg = {3, 2, 3, 2}},
    {"reshape ->0d", f_reshape, 1, {2}, {SH(1, 1)}, .iarg = {0}},
    {"reshape 0d->", f_reshape, 1, {0}, {SH(0)}, .iarg = {2, 1, -1}},
    {"reshape copy", f_reshape_t, 1, {2}, {SH(3, 4)}, .iarg = {1, 12}},
    {"reshape copy 3d", f_reshape_t, 1, {3}, {SH(2, 3, 2)}, .iarg = {2, -1, 4}},
    {"transpose 2d", f_transpose, 1, {2}, {SH(3, 4)}, .iarg = {0, 1}},
    {"transpose 3d neg", f_transpose, 1, {3}, {SH(2, 3, 4)}, .iarg = {-1, 0}},
    {"transpose same", f_transpose, 1, {2}, {SH(2, 3)}, .iarg = {1, 1}},
    {"permute 3d", f_permute, 1, {3}, {SH(2, 3, 4)}, .iarg = {2, 0, 1}},
    {"permute neg", f_permute, 1, {3}, {SH(2, 1, 3)}, .iarg = {1, -1, 0}},
    {"narrow cols", f_narrow, 1, {2}, {SH(4, 5)}, .iarg = {1, 1, 3}},
    {"narrow rows neg dim", f_narrow, 1, {3}, {SH(4, 2, 3)}, .iarg = {-3, 2, 2}},
    {"narrow full", f_narrow, 1, {2}, {SH(3, 2)}, .iarg = {0, 0, 3}},
    {"narrow empty", f_narrow, 1, {2}, {SH(3, 2)}, .iarg = {0, 3, 0}},
    {"narrow twice", f_narrow_twice, 1, {2}, {SH(2, 3)}},
    {"unsqueeze 0", f_unsqueeze, 1, {2}, {SH(3, 4)}, .iarg = {0}},
    {"unsqueeze mid", f_unsqueeze, 1, {2}, {SH(3, 4)}, .iarg = {1}},
    {"unsqueeze last", f_unsqueeze, 1, {2}, {SH(3, 4)}, .iarg = {-1}},
    {"squeeze mid", f_squeeze, 1, {3}, {SH(3, 1, 4)}, .iarg = {1}},
    {"squeeze neg", f_squeeze, 1, {3}, {SH(2, 3, 1)}, .iarg = {-1}},
    {"contiguous view", f_contiguous, 1, {2}, {SH(2, 3)}, .iarg = {0}},
    {"contiguous copy", f_contiguous, 1, {2}, {SH(3, 4)}, .iarg = {1}},
    {"chain t-narrow-reshape", f_chain, 1, {2}, {SH(4, 5)}},
    {"concat dim0", f_concat, 2, {2, 2}, {SH(2, 3), SH(4, 3)}, .iarg = {0}},
    {"concat dim1 x3", f_concat, 3, {2, 2, 2}, {SH(2, 1), SH(2, 3), SH(2, 2)}, .iarg = {1}},
    {"concat 3d last", f_concat, 2, {3, 3}, {SH(2, 2, 1), SH(2, 2, 3)}, .iarg = {-1}},
    {"concat one", f_concat, 1, {2}, {SH(2, 3)}, .iarg = {1}},
    {"concat views", f_concat_views, 2, {2, 2}, {SH(3, 2), SH(2, 5)}},
    {"stack dim0", f_stack, 3, {2, 2, 2}, {SH(2, 3), SH(2, 3), SH(2, 3)}, .iarg = {0}},
    {"stack dim1", f_stack, 2, {2, 2}, {SH(2, 3), SH(2, 3)}, .iarg = {1}},
    {"stack last", f_stack, 2, {2, 2}, {SH(2, 3), SH(2, 3)}, .iarg = {-1}},
    {"stack views", f_stack_views, 2, {2, 2}, {SH(3, 2), SH(2, 4)}},
    {"split dim0 with empty", f_split, 2, {2, 2}, {SH(5, 3), SH(1, 3)}, .iarg = {0, 3, 0, 0}},
    {"split dim1", f_split, 2, {2, 2}, {SH(3, 4), SH(3, 1)}, .iarg = {1, 3, 1, 0}},
    {"split one piece", f_split, 2, {2, 1}, {SH(2, 3), SH(3)}, .iarg = {1, 1, 2, 0}},
    {"split of transpose", f_split, 2, {2, 2}, {SH(3, 4), SH(4, 1)}, .iarg = {1, 3, 3, 1}},
    {"chunk dim0", f_chunk, 2, {2, 2}, {SH(6, 2), SH(2, 2)}, .iarg = {0, 0}},
    {"chunk dim1 3d", f_chunk, 2, {3, 1}, {SH(2, 2, 3), SH(1)}, .iarg = {-1, 0}},
    {"chunk of transpose", f_chunk, 2, {2, 2}, {SH(3, 4), SH(1, 3)}, .iarg = {1, 1}},
    {"select dim0", f_select, 1, {3}, {SH(3, 2, 4)}, .iarg = {0, 1, 0}},
    {"select mid", f_select, 1, {3}, {SH(3, 2, 4)}, .iarg = {1, 0, 0}},
    {"select last neg", f_select, 1, {3}, {SH(3, 2, 4)}, .iarg = {-1, -1, 0}},
    {"select -> 0-d", f_select, 1, {1}, {SH(5)}, .iarg = {0, 3, 0}},
    {"select of transpose", f_select, 1, {2}, {SH(3, 4)}, .iarg = {1, -3, 1}},
    {"select every step", f_select_steps, 2, {3, 3}, {SH(4, 2, 3), SH(4, 2, 3)}},
};
enum { NCASES = sizeof CASES / sizeof CASES[0] };

START_TEST(grad_table) { tu_check_case_grad(&CASES[_i]); }
END_TEST
START_TEST(f32_table) { tu_check_case_f32(&CASES[_i]); }
END_TEST

/* 0..n-1 as a user-owned float64 tensor of the given shape */
static sg_tensor *iota(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    sg_tensor *a = sg_arange(SG_F64, 0, (double)n, 1);
    sg_tensor *r = sg_reshape(a, ndim, shape);
    sg_tensor *c = sg_copy(r);
    sg_tensor_free(a);
    return c;
}

static void assert_shape(const sg_tensor *t, int ndim, const int64_t *shape) {
    ck_assert_msg(t != NULL, "NULL: %s", sg_last_error());
    int64_t s[SG_MAX_DIMS];
    ck_assert_int_eq(sg_shape(t, s), ndim);
    for (int i = 0; i < ndim; i++) ck_assert_int_eq(s[i], shape[i]);
}

START_TEST(forward_values) {
    sg_tensor *A = iota(2, (int64_t[]){2, 3}); /* [[0,1,2],[3,4,5]] */
    sg_tensor *r = sg_reshape(A, 2, (int64_t[]){-1, 2});
    assert_shape(r, 2, (int64_t[]){3, 2});
    tu_assert_values(r, (double[]){0, 1, 2, 3, 4, 5}, 6, 0, 0);
    sg_tensor *t = sg_transpose(A, 0, 1);
    assert_shape(t, 2, (int64_t[]){3, 2});
    tu_assert_values(t, (double[]){0, 3, 1, 4, 2, 5}, 6, 0, 0);
    /* reshape of the transposed view copies in its row-major order */
    tu_assert_values(sg_reshape(t, 1, (int64_t[]){6}), (double[]){0, 3, 1, 4, 2, 5}, 6, 0, 0);
    tu_assert_values(sg_contiguous(t), (double[]){0, 3, 1, 4, 2, 5}, 6, 0, 0);
    ck_assert(sg_is_contiguous(sg_contiguous(t)));
    ck_assert(!sg_is_contiguous(t));
    tu_assert_values(sg_narrow(A, 1, 1, 2), (double[]){1, 2, 4, 5}, 4, 0, 0);
    tu_assert_values(sg_narrow(t, 0, 2, 1), (double[]){2, 5}, 2, 0, 0);
    assert_shape(sg_unsqueeze(A, 1), 3, (int64_t[]){2, 1, 3});
    assert_shape(sg_unsqueeze(A, -1), 3, (int64_t[]){2, 3, 1});
    assert_shape(sg_squeeze(sg_unsqueeze(A, 0), 0), 2, (int64_t[]){2, 3});

    sg_tensor *B = iota(3, (int64_t[]){2, 3, 4});
    sg_tensor *p = sg_permute(B, (int[]){2, 0, 1}); /* p[k][i][j] = B[i][j][k] */
    assert_shape(p, 3, (int64_t[]){4, 2, 3});
    tu_assert_values(sg_narrow(p, 0, 1, 1), (double[]){1, 5, 9, 13, 17, 21}, 6, 0, 0);

    sg_tensor *C = sg_full(SG_F64, 2, (int64_t[]){1, 3}, -1);
    sg_tensor *cat[2] = {A, C};
    tu_assert_values(sg_concat(2, cat, 0), (double[]){0, 1, 2, 3, 4, 5, -1, -1, -1}, 9, 0, 0);
    sg_tensor *D = sg_full(SG_F64, 2, (int64_t[]){2, 1}, 9);
    sg_tensor *cat1[3] = {D, A, D};
    tu_assert_values(sg_concat(3, cat1, 1), (double[]){9, 0, 1, 2, 9, 9, 3, 4, 5, 9}, 10, 0, 0);
    sg_tensor *E = sg_full(SG_F64, 2, (int64_t[]){2, 3}, 7);
    sg_tensor *st[2] = {A, E};
    sg_tensor *s0 = sg_stack(2, st, 0), *s2 = sg_stack(2, st, 2);
    assert_shape(s0, 3, (int64_t[]){2, 2, 3});
    tu_assert_values(s0, (double[]){0, 1, 2, 3, 4, 5, 7, 7, 7, 7, 7, 7}, 12, 0, 0);
    assert_shape(s2, 3, (int64_t[]){2, 3, 2});
    tu_assert_values(s2, (double[]){0, 7, 1, 7, 2, 7, 3, 7, 4, 7, 5, 7}, 12, 0, 0);

    sg_tensor *pc[3];
    ck_assert_int_eq(sg_split(A, 1, 3, (int64_t[]){1, 0, 2}, pc), SG_OK);
    tu_assert_values(pc[0], (double[]){0, 3}, 2, 0, 0);
    assert_shape(pc[1], 2, (int64_t[]){2, 0});
    tu_assert_values(pc[2], (double[]){1, 2, 4, 5}, 4, 0, 0);
    ck_assert_int_eq(sg_chunk(B, 2, -1, pc), SG_OK);
    assert_shape(pc[1], 3, (int64_t[]){2, 3, 2});
    tu_assert_values(pc[1], (double[]){2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23}, 12, 0, 0);
    sg_tensor *fr[] = {A, B, C, D, E};
    for (int i = 0; i < 5; i++) sg_tensor_free(fr[i]);
    tu_teardown();
}
END_TEST

/* Views of a contiguous tensor share its storage: writes to the source show through them. */
START_TEST(zero_copy) {
    sg_tensor *A = iota(2, (int64_t[]){3, 4});
    const char *base = sg_data_const(A);
    size_t es = sizeof(double);
    sg_tensor *r = sg_reshape(A, 2, (int64_t[]){2, 6});
    sg_tensor *t = sg_transpose(A, 0, 1);
    sg_tensor *nw = sg_narrow(A, 1, 2, 2);
    sg_tensor *u = sg_unsqueeze(A, 0);
    sg_tensor *c = sg_contiguous(A);
    sg_tensor *pieces[2];
    ck_assert_int_eq(sg_chunk(A, 2, -1, pieces), SG_OK); /* column halves (3,2) */
    ck_assert_ptr_eq(sg_data_const(r), base);
    ck_assert_ptr_eq(sg_data_const(t), base);
    ck_assert_ptr_eq(sg_data_const(nw), base + 2 * es);
    ck_assert_ptr_eq(sg_data_const(c), base);
    ck_assert_ptr_ne(c, A);
    ck_assert_ptr_eq(sg_data_const(pieces[1]), base + 2 * es);
    sg_tensor *row1 = sg_select(A, 0, 1), *col2 = sg_select(A, 1, -2); /* row (4), column (3) */
    ck_assert_ptr_eq(sg_data_const(row1), base + 4 * es);
    ck_assert_int_eq(sg_ndim(row1), 1);
    ck_assert_int_eq(sg_size(col2, 0), 3);
    tu_assert_values(col2, (double[]){2, 6, 10}, 3, 0, 0);
    /* element (1,2) of A is flat 6 */
    ck_assert_int_eq(sg_set_flat(A, 6, 100), SG_OK);
    ck_assert_double_eq(sg_get_flat(r, 6), 100);
    ck_assert_double_eq(sg_get_flat(t, 2 * 3 + 1), 100); /* t (4,3): (2,1) */
    ck_assert_double_eq(sg_get_flat(nw, 1 * 2 + 0), 100); /* nw (3,2): (1,0) */
    ck_assert_double_eq(sg_get_flat(u, 6), 100);
    ck_assert_double_eq(sg_get_flat(c, 6), 100);
    ck_assert_double_eq(sg_get_flat(pieces[1], 1 * 2 + 0), 100);
    /* reshape and contiguous of a non-contiguous view copy: later writes do not show */
    sg_tensor *rc = sg_reshape(t, 1, (int64_t[]){12});
    sg_tensor *cc = sg_contiguous(t);
    ck_assert_ptr_ne(sg_data_const(rc), base);
    ck_assert_double_eq(sg_get_flat(rc, 7), 100);
    sg_set_flat(A, 6, -5);
    ck_assert_double_eq(sg_get_flat(rc, 7), 100);
    ck_assert_double_eq(sg_get_flat(cc, 7), 100);
    ck_assert_double_eq(sg_get_flat(t, 7), -5);
    sg_tensor_free(A);
    tu_teardown();
}
END_TEST

/* Gradients through views land in the right region; unused slices get exactly zero. */
START_TEST(view_grads) {
    sg_tensor *A = iota(2, (int64_t[]){4, 3});
    sg_set_requires_grad(A, true);
    sg_tensor *p[2];
    ck_assert_int_eq(sg_split(A, 0, 2, (int64_t[]){1, 3}, p), SG_OK);
    sg_tensor *t = sg_transpose(p[1], 0, 1); /* (3,3): t[i][j] = A[1+j][i] */
    sg_tensor *v = iota(2, (int64_t[]){3, 3});
    ck_assert_int_eq(sg_backward_grad(t, v), SG_OK);
    sg_tensor *g = sg_grad(A);
    /* A.grad[1+j][i] = v[i][j] */
    tu_assert_values(g, (double[]){0, 0, 0, 0, 3, 6, 1, 4, 7, 2, 5, 8}, 12, 0, 0);
    /* second use of the other piece accumulates */
    sg_tensor *o = sg_ones(SG_F64, 2, (int64_t[]){1, 3});
    ck_assert_int_eq(sg_backward_grad(p[0], o), SG_OK);
    tu_assert_values(g, (double[]){1, 1, 1, 0, 3, 6, 1, 4, 7, 2, 5, 8}, 12, 0, 0);
    sg_tensor_free(A);
    sg_tensor_free(v);
    sg_tensor_free(o);
    tu_teardown();
}
END_TEST

START_TEST(errors) {
    sg_tensor *a = sg_zeros(SG_F64, 2, (int64_t[]){2, 3});
    sg_tensor *b = sg_zeros(SG_F64, 2, (int64_t[]){3, 3});
    sg_tensor *f = sg_zeros(SG_F32, 2, (int64_t[]){2, 3});
    sg_tensor *out[4];
    ck_assert_ptr_null(sg_reshape(a, 2, (int64_t[]){4, 2}));
    tu_assert_error(SG_ERR_SHAPE, "cannot reshape (2,3) (6 elements) into (4,2)");
    ck_assert_ptr_null(sg_reshape(a, 2, (int64_t[]){4, -1}));
    tu_assert_error(SG_ERR_SHAPE, "(4,-1)");
    ck_assert_ptr_null(sg_reshape(a, 2, (int64_t[]){-1, -1}));
    tu_assert_error(SG_ERR_ARG, "at most one -1");
    ck_assert_ptr_null(sg_reshape(a, 2, (int64_t[]){-2, -3}));
    tu_assert_error(SG_ERR_ARG, "sg_reshape");
    ck_assert_ptr_null(sg_reshape(a, 2, NULL));
    tu_assert_error(SG_ERR_NULL, "'shape'");
    ck_assert_ptr_null(sg_reshape(a, SG_MAX_DIMS + 1, (int64_t[SG_MAX_DIMS + 1]){0}));
    tu_assert_error(SG_ERR_ARG, "ndim");
    ck_assert_ptr_null(sg_transpose(a, 0, 2));
    tu_assert_error(SG_ERR_ARG, "sg_transpose: dim 2 out of range");
    ck_assert_ptr_null(sg_transpose(a, -3, 0));
    tu_assert_error(SG_ERR_ARG, "dim -3");
    ck_assert_ptr_null(sg_permute(a, (int[]){0, 0}));
    tu_assert_error(SG_ERR_ARG, "perm[1] = 0 is repeated");
    ck_assert_ptr_null(sg_permute(a, (int[]){1, 2}));
    tu_assert_error(SG_ERR_ARG, "perm[1] = 2 is out of range");
    ck_assert_ptr_null(sg_permute(a, NULL));
    tu_assert_error(SG_ERR_NULL, "'perm'");
    ck_assert_ptr_null(sg_narrow(a, 1, 2, 2));
    tu_assert_error(SG_ERR_ARG, "start 2, len 2 out of bounds for dim 1 of size 3");
    ck_assert_ptr_null(sg_narrow(a, 0, -1, 1));
    tu_assert_error(SG_ERR_ARG, "out of bounds");
    ck_assert_ptr_null(sg_narrow(a, 0, 0, -1));
    tu_assert_error(SG_ERR_ARG, "out of bounds");
    ck_assert_ptr_null(sg_narrow(a, 2, 0, 1));
    tu_assert_error(SG_ERR_ARG, "sg_narrow: dim 2");
    ck_assert_ptr_null(sg_unsqueeze(a, 3));
    tu_assert_error(SG_ERR_ARG, "sg_unsqueeze: dim 3");
    ck_assert_ptr_null(sg_unsqueeze(a, -4));
    tu_assert_error(SG_ERR_ARG, "dim -4");
    sg_tensor *big = sg_zeros(SG_F64, SG_MAX_DIMS, (int64_t[SG_MAX_DIMS]){1, 1, 1, 1, 1, 1, 1, 1});
    ck_assert_ptr_null(sg_unsqueeze(big, 0));
    tu_assert_error(SG_ERR_SHAPE, "maximum");
    sg_tensor *bl[2] = {big, big};
    ck_assert_ptr_null(sg_stack(2, bl, 0));
    tu_assert_error(SG_ERR_SHAPE, "maximum");
    ck_assert_ptr_null(sg_squeeze(a, 0));
    tu_assert_error(SG_ERR_SHAPE, "dim 0 of (2,3) has size 2, not 1");
    ck_assert_ptr_null(sg_contiguous(NULL));
    tu_assert_error(SG_ERR_NULL, "sg_contiguous: argument 'a' is NULL");

    sg_tensor *ab[2] = {a, b}, *af[2] = {a, f}, *an[2] = {a, NULL};
    ck_assert_ptr_null(sg_concat(2, ab, 1));
    tu_assert_error(SG_ERR_SHAPE, "ts[0] (2,3) and ts[1] (3,3) differ outside dim 1");
    ck_assert_ptr_nonnull(sg_concat(2, ab, 0));
    ck_assert_ptr_null(sg_concat(2, af, 0));
    tu_assert_error(SG_ERR_DTYPE, "float32");
    ck_assert_ptr_null(sg_concat(2, an, 0));
    tu_assert_error(SG_ERR_NULL, "'ts[1]' is NULL");
    ck_assert_ptr_null(sg_concat(0, ab, 0));
    tu_assert_error(SG_ERR_ARG, "at least one");
    ck_assert_ptr_null(sg_concat(2, NULL, 0));
    tu_assert_error(SG_ERR_NULL, "'ts'");
    ck_assert_ptr_null(sg_concat(2, ab, 2));
    tu_assert_error(SG_ERR_ARG, "sg_concat: dim 2");
    sg_tensor *a3 = sg_zeros(SG_F64, 3, (int64_t[]){2, 3, 1});
    sg_tensor *aa3[2] = {a, a3};
    ck_assert_ptr_null(sg_concat(2, aa3, 0));
    tu_assert_error(SG_ERR_SHAPE, "(2,3,1)");
    ck_assert_ptr_null(sg_stack(2, ab, 0));
    tu_assert_error(SG_ERR_SHAPE, "sg_stack: ts[0] (2,3) and ts[1] (3,3)");
    ck_assert_ptr_null(sg_stack(2, ab, 4));
    tu_assert_error(SG_ERR_ARG, "sg_stack: dim 4");

    out[0] = a; /* must be cleared on error */
    ck_assert_int_eq(sg_split(a, 1, 2, (int64_t[]){1, 1}, out), SG_ERR_ARG);
    ck_assert_ptr_null(out[0]);
    tu_assert_error(SG_ERR_ARG, "summing to 2 do not split dim 1 of size 3");
    ck_assert_int_eq(sg_split(a, 1, 2, (int64_t[]){4, -1}, out), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, ">= 0");
    ck_assert_int_eq(sg_split(a, 1, 2, NULL, out), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'sizes'");
    ck_assert_int_eq(sg_split(a, 1, 1, (int64_t[]){3}, NULL), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'out'");
    ck_assert_int_eq(sg_split(a, 5, 1, (int64_t[]){3}, out), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "sg_split: dim 5");
    ck_assert_int_eq(sg_chunk(a, 2, 1, out), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "dim 1 of size 3 in (2,3) is not divisible into 2 chunks");
    ck_assert_int_eq(sg_chunk(a, 0, 1, out), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "n >= 1");
    ck_assert_int_eq(sg_chunk(NULL, 1, 0, out), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "sg_chunk");
    /* select: index outside [-S, S), bad dim, 0-d input */
    ck_assert_ptr_null(sg_select(a, 0, 2));
    tu_assert_error(SG_ERR_ARG, "sg_select: index 2 out of range [-2, 2)");
    ck_assert_ptr_null(sg_select(a, 1, -4));
    tu_assert_error(SG_ERR_ARG, "index -4");
    ck_assert_ptr_null(sg_select(a, 2, 0));
    tu_assert_error(SG_ERR_ARG, "sg_select");
    ck_assert_ptr_null(sg_select(NULL, 0, 0));
    tu_assert_error(SG_ERR_NULL, "'a'");
    /* propagation: the first error is kept through a chain of shape ops */
    ck_assert_ptr_null(sg_transpose(sg_reshape(sg_narrow(a, 0, 0, 9), 1, (int64_t[]){-1}), 0, 0));
    tu_assert_error(SG_ERR_ARG, "sg_narrow");
    sg_tensor *fr[] = {a, b, f, big, a3};
    for (int i = 0; i < 5; i++) sg_tensor_free(fr[i]);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_shape");
    TCase *t = tcase_create("table");
    tcase_add_loop_test(t, grad_table, 0, NCASES);
    tcase_add_loop_test(t, f32_table, 0, NCASES);
    tcase_add_test(t, forward_values);
    tcase_add_test(t, zero_copy);
    tcase_add_test(t, view_grads);
    tcase_add_test(t, errors);
    suite_add_tcase(s, t);
    return tu_run(s);
}
