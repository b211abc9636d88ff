/* Indexing ops (index_select, embedding, where, masked_fill): float64 full gradcheck over a table
 * with duplicate indices, padding rows, broadcasting and non-contiguous inputs, float32-vs-float64
 * agreement, hand-computed values, exact duplicate accumulation, thread-count independence of the
 * scatter-add, and error paths. */
#include <stdlib.h>
#include <string.h>

#include "util/testutil.h"

enum { MAX_IDX = 8 };
typedef struct {
    int64_t n;
    int64_t v[MAX_IDX];
} idx_set;
static const idx_set IDX[] = {
    {4, {2, 0, 2, 3}},          /* 0: duplicates */
    {3, {1, 1, 1}},             /* 1: one row three times */
    {0, {0}},                   /* 2: empty */
    {6, {0, 3, 3, 1, 0, 3}},    /* 3: embedding (2,3) with padding 1 or 3 */
    {1, {4}},                   /* 4: single */
};

/* index_select along iarg[0] with IDX[iarg[1]]; iarg[2]: transpose(0,1) the input first */
static sg_tensor *f_isel(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    const idx_set *s = &IDX[k->iarg[1]];
    sg_tensor *a = k->iarg[2] ? sg_transpose(x[0], 0, 1) : x[0];
    return sg_index_select(a, k->iarg[0], s->n, s->v);
}
/* embedding of IDX[iarg[0]] viewed with iarg[1] dims (2: (2, n/2), 1: (n), 0: scalar), padding
 * iarg[2]; iarg[3]: weight given as the transpose of x0. The padding row is excluded from the
 * gradient by definition, so the outputs it produces are masked to 0 here: the finite differences
 * then agree with the analytic gradient (exact zeros of the padding row are checked separately). */
static sg_tensor *f_emb(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    const idx_set *s = &IDX[k->iarg[0]];
    int nd = k->iarg[1];
    int64_t shp[3] = {nd == 2 ? 2 : s->n, s->n / 2, 1};
    sg_tensor *w = k->iarg[3] ? sg_transpose(x[0], 0, 1) : x[0];
    sg_tensor *y = sg_embedding(w, nd, shp, s->v, k->iarg[2]);
    if (k->iarg[2] < 0) return y;
    double m[MAX_IDX];
    for (int64_t j = 0; j < s->n; j++) m[j] = s->v[j] == k->iarg[2];
    int64_t mshp[3] = {shp[0], shp[1], 1};
    mshp[nd] = 1; /* (idx shape..., 1) */
    sg_tensor *mask = sg_from_buffer(SG_F64, nd + 1, mshp, m, SG_F64);
    sg_tensor *r = sg_masked_fill(y, mask, 0);
    sg_tensor_free(mask);
    return r;
}

/* A condition with zeros and nonzeros: x where x > 0, else 0 (user-owned float64, freed by the
 * caller right after use: the op keeps it alive while the tape needs it). */
static sg_tensor *cond_of(const sg_tensor *x) {
    int64_t shp[SG_MAX_DIMS], n = sg_numel(x);
    int nd = sg_shape(x, shp);
    double buf[64];
    ck_assert(n <= 64);
    for (int64_t i = 0; i < n; i++) {
        double v = sg_get_flat(x, i);
        buf[i] = v > 0 ? v : 0;
    }
    return sg_from_buffer(SG_F64, nd, shp, buf, SG_F64);
}
/* where(cond_of(x0), x1, x2); x0 is fixed (no grad). In the float32 run cond stays float64. */
static sg_tensor *f_where(sg_tensor *const *x, int n, void *c) {
    (void)n;
    (void)c;
    sg_tensor *cond = cond_of(x[0]);
    sg_tensor *y = sg_where(cond, x[1], x[2]);
    sg_tensor_free(cond);
    return y;
}
/* where(x0, x1, x2) with x0 itself the condition (all nonzero): x0 must get no gradient, x2 an
 * exactly zero one (gradcheck's unused-input check) */
static sg_tensor *f_where_raw(sg_tensor *const *x, int n, void *c) {
    (void)n;
    (void)c;
    return sg_where(x[0], x[1], x[2]);
}
/* where on views: cond_of(x0), x1 transposed, x2 narrowed */
static sg_tensor *f_where_views(sg_tensor *const *x, int n, void *c) {
    (void)n;
    (void)c;
    sg_tensor *cond = cond_of(x[0]);
    sg_tensor *y = sg_where(cond, sg_transpose(x[1], 0, 1), sg_narrow(x[2], 1, 1, 3));
    sg_tensor_free(cond);
    return y;
}
/* masked_fill(x1, cond_of(x0), farg[0]); iarg[0]: x1 transposed first */
static sg_tensor *f_mfill(sg_tensor *const *x, int n, void *c) {
    (void)n;
    const tu_case *k = c;
    sg_tensor *mask = cond_of(x[0]);
    sg_tensor *y = sg_masked_fill(k->iarg[0] ? sg_transpose(x[1], 0, 1) : x[1], mask, k->farg[0]);
    sg_tensor_free(mask);
    return y;
}

#define SH(...) {__VA_ARGS__}
enum { NG0 = 1u << 0 }; /* input 0 requires no grad */
static const tu_case CASES[] = {
    {"isel dim0 dup", f_isel, 1, {2}, {SH(4, 3)}, .iarg = {0, 0, 0}},
    {"isel dim1 triple", f_isel, 1, {2}, {SH(2, 3)}, .iarg = {1, 1, 0}},
    {"isel mid 3d", f_isel, 1, {3}, {SH(2, 4, 2)}, .iarg = {1, 0, 0}},
    {"isel last neg", f_isel, 1, {3}, {SH(2, 2, 5)}, .iarg = {-1, 4, 0}},
    {"isel empty", f_isel, 1, {2}, {SH(3, 2)}, .iarg = {0, 2, 0}},
    {"isel of transpose", f_isel, 1, {2}, {SH(3, 4)}, .iarg = {0, 0, 1}},
    {"isel of transpose dim1", f_isel, 1, {2}, {SH(3, 4)}, .iarg = {1, 1, 1}},
    {"emb 2d idx pad1", f_emb, 1, {2}, {SH(4, 3)}, .iarg = {3, 2, 1, 0}},
    {"emb 1d idx nopad", f_emb, 1, {2}, {SH(4, 3)}, .iarg = {3, 1, -1, 0}},
    {"emb 0d idx", f_emb, 1, {2}, {SH(5, 2)}, .iarg = {4, 0, -1, 0}},
    {"emb dup pad3", f_emb, 1, {2}, {SH(4, 2)}, .iarg = {3, 1, 3, 0}},
    {"emb strided weight", f_emb, 1, {2}, {SH(3, 4)}, .iarg = {3, 2, 0, 1}},
    {"emb empty", f_emb, 1, {2}, {SH(4, 3)}, .iarg = {2, 1, -1, 0}},
    {"where same", f_where, 3, {2, 2, 2}, {SH(3, 4), SH(3, 4), SH(3, 4)}, .no_grad_mask = NG0},
    {"where bcast3", f_where, 3, {2, 2, 2}, {SH(3, 1), SH(1, 4), SH(3, 4)}, .no_grad_mask = NG0},
    {"where bcast cond", f_where, 3, {1, 2, 0}, {SH(4), SH(3, 4), SH(0)}, .no_grad_mask = NG0},
    {"where bcast out", f_where, 3, {3, 1, 2}, {SH(2, 1, 3), SH(3), SH(4, 1)}, .no_grad_mask = NG0},
    {"where raw cond", f_where_raw, 3, {2, 2, 2}, {SH(2, 3), SH(2, 3), SH(1, 3)}, .lo = 0.5, .hi = 1},
    {"where views", f_where_views, 3, {2, 2, 2}, {SH(2, 3), SH(3, 2), SH(2, 5)}, .no_grad_mask = NG0},
    {"mfill same", f_mfill, 2, {2, 2}, {SH(3, 4), SH(3, 4)}, .no_grad_mask = NG0, .farg = {-9}},
    {"mfill row", f_mfill, 2, {1, 2}, {SH(4), SH(3, 4)}, .no_grad_mask = NG0, .farg = {2.5}},
    {"mfill col", f_mfill, 2, {2, 3}, {SH(3, 1), SH(2, 3, 5)}, .no_grad_mask = NG0},
    {"mfill 0d", f_mfill, 2, {0, 2}, {SH(0), SH(2, 3)}, .no_grad_mask = NG0, .farg = {1}},
    {"mfill of transpose", f_mfill, 2, {2, 2}, {SH(4, 3), SH(3, 4)}, .no_grad_mask = NG0, .iarg = {1}},
};
enum { NCASES = sizeof CASES / sizeof CASES[0] };

START_TEST(grad_table) { tu_check_case_grad(&CASES[_i]); }
END_TEST
START_TEST(f32_table) { tu_check_case_f32(&CASES[_i]); }
END_TEST

static sg_tensor *mk(int ndim, const int64_t *shape, const double *v) {
    return sg_from_buffer(SG_F64, ndim, shape, v, SG_F64);
}

START_TEST(forward_values) {
    sg_tensor *A = mk(2, (int64_t[]){3, 2}, (double[]){1, 2, 3, 4, 5, 6});
    tu_assert_values(sg_index_select(A, 0, 4, (int64_t[]){2, 0, 2, 1}), (double[]){5, 6, 1, 2, 5, 6, 3, 4},
                     8, 0, 0);
    tu_assert_values(sg_index_select(A, 1, 3, (int64_t[]){1, 1, 0}), (double[]){2, 2, 1, 4, 4, 3, 6, 6, 5},
                     9, 0, 0);
    sg_tensor *e = sg_embedding(A, 2, (int64_t[]){2, 2}, (int64_t[]){0, 2, 2, 1}, 2);
    ck_assert_int_eq(sg_ndim(e), 3);
    ck_assert_int_eq(sg_size(e, 2), 2);
    tu_assert_values(e, (double[]){1, 2, 5, 6, 5, 6, 3, 4}, 8, 0, 0); /* padding rows still looked up */
    sg_tensor *cond = mk(2, (int64_t[]){3, 1}, (double[]){1, 0, -0.5});
    sg_tensor *b = mk(1, (int64_t[]){2}, (double[]){10, 20});
    tu_assert_values(sg_where(cond, A, b), (double[]){1, 2, 10, 20, 5, 6}, 6, 0, 0);
    sg_tensor *mask = mk(1, (int64_t[]){2}, (double[]){0, 3});
    tu_assert_values(sg_masked_fill(A, mask, -1), (double[]){1, -1, 3, -1, 5, -1}, 6, 0, 0);
    tu_assert_values(sg_masked_fill(A, cond, 7), (double[]){7, 7, 3, 4, 7, 7}, 6, 0, 0);
    /* float32 values with a float64 condition */
    sg_tensor *A32 = sg_copy_as(A, SG_F32), *b32 = sg_copy_as(b, SG_F32);
    sg_tensor *w32 = sg_where(cond, A32, b32);
    ck_assert_int_eq(sg_dtype_of(w32), SG_F32);
    tu_assert_values(w32, (double[]){1, 2, 10, 20, 5, 6}, 6, 0, 0);
    sg_tensor *fr[] = {A, cond, b, mask, A32, b32};
    for (int i = 0; i < 6; i++) sg_tensor_free(fr[i]);
    tu_teardown();
}
END_TEST

/* Duplicates accumulate; the padding row gets exactly zero even though it is looked up. */
START_TEST(duplicates_and_padding) {
    sg_tensor *W = sg_zeros(SG_F64, 2, (int64_t[]){4, 2});
    sg_set_requires_grad(W, true);
    int64_t idx[5] = {1, 0, 1, 3, 1};
    sg_tensor *y = sg_embedding(W, 1, (int64_t[]){5}, idx, 3);
    sg_tensor *g = mk(2, (int64_t[]){5, 2}, (double[]){1, 2, 10, 20, 100, 200, 7, 7, 1000, 2000});
    ck_assert_int_eq(sg_backward_grad(y, g), SG_OK);
    tu_assert_values(sg_grad(W), (double[]){10, 20, 1101, 2202, 0, 0, 0, 0}, 8, 0, 0);
    ck_assert(sg_get_flat(sg_grad(W), 6) == 0.0 && !signbit(sg_get_flat(sg_grad(W), 6)));
    /* index_select along dim 1 with duplicates: columns accumulate */
    sg_tensor *A = sg_zeros(SG_F32, 2, (int64_t[]){2, 3});
    sg_set_requires_grad(A, true);
    sg_tensor *s = sg_index_select(A, 1, 4, (int64_t[]){2, 2, 0, 2});
    sg_tensor *gs = sg_from_buffer(SG_F32, 2, (int64_t[]){2, 4}, (double[]){1, 2, 3, 4, 5, 6, 7, 8}, SG_F64);
    ck_assert_int_eq(sg_backward_grad(s, gs), SG_OK);
    tu_assert_values(sg_grad(A), (double[]){3, 0, 7, 7, 0, 19}, 6, 0, 0);
    sg_tensor *fr[] = {W, g, A, gs};
    for (int i = 0; i < 4; i++) sg_tensor_free(fr[i]);
    tu_teardown();
}
END_TEST

/* The scatter-add is parallel over target rows only: gradients are bitwise equal for 1 and 2
 * threads and match a sequential double reference. */
START_TEST(scatter_threads) {
    enum { V = 40, E = 700, NI = 120 };
    int64_t idx[NI];
    for (int j = 0; j < NI; j++) idx[j] = (j * 7) % 13; /* heavy duplicates in rows 0..12 */
    sg_tensor *W = tu_rand(SG_F32, 2, (int64_t[]){V, E}, -1, 1, 5, true);
    sg_tensor *G = tu_rand(SG_F32, 2, (int64_t[]){NI, E}, -1, 1, 6, false);
    float *res[2];
    int prev = sg_get_num_threads();
    for (int t = 0; t < 2; t++) {
        sg_set_num_threads(t + 1);
        sg_tensor *y = sg_embedding(W, 1, (int64_t[]){NI}, idx, 5);
        ck_assert_int_eq(sg_backward_grad(y, G), SG_OK);
        res[t] = malloc(sizeof(float) * V * E);
        sg_to_buffer(sg_grad(W), res[t], SG_F32);
        sg_zero_grad(&W, 1);
        sg_tape_clear();
    }
    sg_set_num_threads(prev);
    ck_assert(memcmp(res[0], res[1], sizeof(float) * V * E) == 0);
    const float *gp = sg_data_const(G);
    for (int r = 0; r < V; r++)
        for (int c = 0; c < E; c++) {
            double acc = 0;
            for (int j = 0; j < NI; j++)
                if (idx[j] == r && r != 5) acc += gp[j * E + c];
            ck_assert_msg(res[0][r * E + c] == (float)acc, "row %d col %d: %g vs %g", r, c,
                          res[0][r * E + c], acc);
        }
    free(res[0]);
    free(res[1]);
    sg_tensor_free(W);
    sg_tensor_free(G);
    tu_teardown();
}
END_TEST

START_TEST(no_grad_to_cond_and_mask) {
    sg_tensor *c = tu_rand(SG_F64, 1, (int64_t[]){3}, 0.5, 1, 1, true);
    sg_tensor *a = tu_rand(SG_F64, 1, (int64_t[]){3}, -1, 1, 2, true);
    sg_tensor *y = sg_masked_fill(a, c, 0);
    ck_assert_int_eq(sg_backward_grad(y, c), SG_OK);
    ck_assert_ptr_null(sg_grad(c));
    tu_assert_values(sg_grad(a), (double[]){0, 0, 0}, 3, 0, 0);
    /* only cond requires grad: the result needs none */
    sg_set_requires_grad(a, false);
    ck_assert(!sg_requires_grad(sg_where(c, a, a)));
    ck_assert(!sg_requires_grad(sg_masked_fill(a, c, 1)));
    sg_tensor_free(c);
    sg_tensor_free(a);
    tu_teardown();
}
END_TEST

/* Variant k of a selection on X (T, B, H): masked_fill (k < 3) or where with Y (k >= 3), with a
 * mask broadcast over the last dim (k % 3 == 0: one condition per row), a full contiguous mask
 * (1) or through a transposed copy of X (2: the general strided loop). */
static sg_tensor *select_variant(int k, sg_tensor *X, sg_tensor *Y, sg_tensor *mrow, sg_tensor *mfull) {
    sg_tensor *mask = k % 3 == 1 ? mfull : mrow;
    sg_tensor *a = k % 3 == 2 ? sg_transpose(sg_contiguous(sg_transpose(X, 0, 2)), 0, 2) : X;
    return k < 3 ? sg_masked_fill(a, mask, -5) : sg_where(mask, a, Y);
}

/* The row-constant, the contiguous and the strided selection loops agree: values and gradients,
 * float32 and float64. */
START_TEST(select_paths_agree) {
    enum { T = 7, B = 3, H = 50, N = T * B * H };
    for (int dt = 0; dt < 2; dt++) {
        sg_dtype d = dt ? SG_F64 : SG_F32;
        sg_tensor *mrow = sg_zeros(d, 3, (int64_t[]){T, B, 1}), *mfull = sg_zeros(d, 3, (int64_t[]){T, B, H});
        for (int64_t i = 0; i < T * B; i++) sg_set_flat(mrow, i, (i * 7) % 3 == 0);
        for (int64_t i = 0; i < N; i++) sg_set_flat(mfull, i, sg_get_flat(mrow, i / H));
        sg_tensor *X = tu_rand(d, 3, (int64_t[]){T, B, H}, -1, 1, 61, true);
        sg_tensor *Y = tu_rand(d, 3, (int64_t[]){T, B, H}, -1, 1, 62, true);
        for (int k = 0; k < 6; k++) {
            sg_tensor *out = select_variant(k, X, Y, mrow, mfull);
            ck_assert_msg(out != NULL, "%s", sg_last_error());
            for (int64_t i = 0; i < N; i++) {
                bool fill = sg_get_flat(mrow, i / H) != 0;
                double want = fill ? (k < 3 ? -5 : sg_get_flat(X, i)) : (k < 3 ? sg_get_flat(X, i) : sg_get_flat(Y, i));
                ck_assert_msg(sg_get_flat(out, i) == want, "variant %d, element %lld", k, (long long)i);
            }
            sg_zero_grad((sg_tensor *[]){X, Y}, 2);
            ck_assert_int_eq(sg_backward(sg_sum_all(sg_mul_scalar(out, 1.5))), SG_OK);
            for (int64_t i = 0; i < N; i++) {
                bool fill = sg_get_flat(mrow, i / H) != 0;
                double gx = sg_get_flat(sg_grad(X), i), wx = k < 3 ? (fill ? 0 : 1.5) : (fill ? 1.5 : 0);
                ck_assert_msg(gx == wx, "variant %d: grad x %lld = %g, not %g", k, (long long)i, gx, wx);
                if (k >= 3) ck_assert(sg_get_flat(sg_grad(Y), i) == (fill ? 0 : 1.5));
            }
            sg_tape_clear();
        }
        sg_tensor_free(mrow);
        sg_tensor_free(mfull);
        sg_tensor_free(X);
        sg_tensor_free(Y);
    }
    tu_teardown();
}
END_TEST

START_TEST(errors) {
    sg_tensor *a = sg_zeros(SG_F64, 2, (int64_t[]){3, 2});
    sg_tensor *a32 = sg_zeros(SG_F32, 2, (int64_t[]){3, 2});
    sg_tensor *v = sg_zeros(SG_F64, 1, (int64_t[]){4});
    ck_assert_ptr_null(sg_index_select(a, 0, 3, (int64_t[]){0, 2, 3}));
    tu_assert_error(SG_ERR_ARG, "idx[2] = 3 out of range [0, 3)");
    ck_assert_ptr_null(sg_index_select(a, 1, 2, (int64_t[]){-1, 0}));
    tu_assert_error(SG_ERR_ARG, "idx[0] = -1");
    ck_assert_ptr_null(sg_index_select(a, 2, 1, (int64_t[]){0}));
    tu_assert_error(SG_ERR_ARG, "sg_index_select: dim 2");
    ck_assert_ptr_null(sg_index_select(a, 0, 2, NULL));
    tu_assert_error(SG_ERR_NULL, "'idx'");
    ck_assert_ptr_null(sg_index_select(a, 0, -1, (int64_t[]){0}));
    tu_assert_error(SG_ERR_ARG, "negative");
    ck_assert_ptr_null(sg_index_select(NULL, 0, 1, (int64_t[]){0}));
    tu_assert_error(SG_ERR_NULL, "sg_index_select: argument 'a' is NULL");

    ck_assert_ptr_null(sg_embedding(a, 1, (int64_t[]){2}, (int64_t[]){0, 3}, -1));
    tu_assert_error(SG_ERR_ARG, "sg_embedding: idx[1] = 3 out of range [0, 3)");
    ck_assert_ptr_null(sg_embedding(a, 1, (int64_t[]){2}, (int64_t[]){0, 1}, 3));
    tu_assert_error(SG_ERR_ARG, "padding_idx 3");
    ck_assert_ptr_null(sg_embedding(v, 1, (int64_t[]){1}, (int64_t[]){0}, -1));
    tu_assert_error(SG_ERR_SHAPE, "weight must be 2-D (V,E), got (4)");
    ck_assert_ptr_null(sg_embedding(a, SG_MAX_DIMS, (int64_t[SG_MAX_DIMS]){1, 1, 1, 1, 1, 1, 1, 1},
                                    (int64_t[]){0}, -1));
    tu_assert_error(SG_ERR_ARG, "idx ndim 8");
    ck_assert_ptr_null(sg_embedding(a, 1, (int64_t[]){-2}, (int64_t[]){0}, -1));
    tu_assert_error(SG_ERR_SHAPE, "negative");
    ck_assert_ptr_null(sg_embedding(a, 1, NULL, (int64_t[]){0}, -1));
    tu_assert_error(SG_ERR_NULL, "'shape'");
    /* SG_MAX_DIMS-1 index dims are fine */
    sg_tensor *e7 = sg_embedding(a, SG_MAX_DIMS - 1, (int64_t[SG_MAX_DIMS - 1]){1, 1, 1, 1, 1, 2, 1},
                                 (int64_t[]){2, 1}, -1);
    ck_assert_int_eq(sg_ndim(e7), SG_MAX_DIMS);
    tu_assert_values(e7, (double[]){0, 0, 0, 0}, 4, 0, 0);

    ck_assert_ptr_null(sg_where(a, a, a32));
    tu_assert_error(SG_ERR_DTYPE, "float32");
    ck_assert_ptr_null(sg_where(a, a, v));
    tu_assert_error(SG_ERR_SHAPE, "cond (3,2), a (3,2) and b (4)");
    ck_assert_ptr_null(sg_where(v, a, a));
    tu_assert_error(SG_ERR_SHAPE, "sg_where");
    ck_assert_ptr_null(sg_where(a, NULL, a));
    tu_assert_error(SG_ERR_NULL, "'a'");
    ck_assert_ptr_null(sg_masked_fill(a, v, 0));
    tu_assert_error(SG_ERR_SHAPE, "mask (4) does not broadcast to a (3,2)");
    sg_tensor *big = sg_zeros(SG_F64, 3, (int64_t[]){1, 3, 2});
    ck_assert_ptr_null(sg_masked_fill(a, big, 0)); /* would grow a */
    tu_assert_error(SG_ERR_SHAPE, "mask (1,3,2)");
    ck_assert_ptr_null(sg_masked_fill(a, NULL, 0));
    tu_assert_error(SG_ERR_NULL, "'mask'");
    sg_tensor *fr[] = {a, a32, v, big};
    for (int i = 0; i < 4; i++) sg_tensor_free(fr[i]);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_index");
    TCase *t = tcase_create("table");
    tcase_add_loop_test(t, grad_table, 0, NCASES);
    tcase_add_loop_test(t, f32_table, 0, NCASES);
    tcase_add_test(t, forward_values);
    tcase_add_test(t, duplicates_and_padding);
    tcase_add_test(t, scatter_threads);
    tcase_add_test(t, no_grad_to_cond_and_mask);
    tcase_add_test(t, select_paths_agree);
    tcase_add_test(t, errors);
    suite_add_tcase(s, t);
    return tu_run(s);
}
