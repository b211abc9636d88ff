/* The tape: backward on small graphs against hand-computed gradients, accumulation and zeroing,
 * cotangents, no-grad mode, detach, a 200,000-node chain, mark/release scopes, lifetime rules
 * (released and user-freed tensors) and the in-place modification check.
 * Uses only add/sub/mul/div/matmul/linear; op gradients themselves are in the op suites. */
#include <pthread.h>
#include <string.h>

#include "../autograd/node.h"
#include "../ops/ew_kernels.h"
#include "util/testutil.h"

size_t sg__registry_count(void);

enum { CHAIN_LEN = 200000 };

static void done(void) {
    tu_teardown();
    ck_assert_msg(sg__registry_count() == 0, "%zu tensors still live", sg__registry_count());
}

static sg_tensor *leaf(sg_dtype dt, int ndim, const int64_t *shape, const double *v, bool rg) {
    sg_tensor *t = sg_from_buffer(dt, ndim, shape, v, SG_F64);
    ck_assert_msg(t != NULL, "%s", sg_last_error());
    if (rg) ck_assert_int_eq(sg_set_requires_grad(t, true), SG_OK);
    return t;
}

static void free_all(sg_tensor **ts, int n) {
    for (int i = 0; i < n; i++) ck_assert_int_eq(sg_tensor_free(ts[i]), SG_OK);
}

static double tol_of(sg_dtype dt) { return dt == SG_F32 ? 1e-6 : 1e-14; }

/* ---- simple graphs ---- */

/* c = a*b + a/b - b, cotangent v: da = v*(b + 1/b), db = v*(a - a/b^2 - 1) */
START_TEST(elementwise_graph) {
    sg_dtype dt = _i ? SG_F64 : SG_F32;
    const double av[] = {1, -2, 3}, bv[] = {4, 0.5, -2}, vv[] = {1, 2, -3};
    int64_t s[] = {3};
    sg_tensor *a = leaf(dt, 1, s, av, true), *b = leaf(dt, 1, s, bv, true), *v = leaf(dt, 1, s, vv, false);
    sg_tensor *c = sg_sub(sg_add(sg_mul(a, b), sg_div(a, b)), b);
    ck_assert_ptr_nonnull(c);
    ck_assert(sg_requires_grad(c));
    double want_c[3], want_a[3], want_b[3];
    for (int i = 0; i < 3; i++) {
        want_c[i] = av[i] * bv[i] + av[i] / bv[i] - bv[i];
        want_a[i] = vv[i] * (bv[i] + 1 / bv[i]);
        want_b[i] = vv[i] * (av[i] - av[i] / (bv[i] * bv[i]) - 1);
    }
    /* hand-computed: c = (0.25, -5.5, -5.5), da = (4.25, 5, 7.5), db = (-0.0625, 10, -3.75) */
    tu_assert_values(c, (double[]){0.25, -5.5, -5.5}, 3, 0, tol_of(dt));
    ck_assert_int_eq(sg_backward_grad(c, v), SG_OK);
    tu_assert_values(sg_grad(a), (double[]){4.25, 5, 7.5}, 3, 0, tol_of(dt));
    tu_assert_values(sg_grad(b), (double[]){-0.0625, 10, -3.75}, 3, 0, tol_of(dt));
    tu_assert_values(sg_grad(a), want_a, 3, 0, tol_of(dt));
    tu_assert_values(sg_grad(b), want_b, 3, 0, tol_of(dt));
    tu_assert_values(c, want_c, 3, 0, tol_of(dt));
    ck_assert_int_eq(sg_dtype_of(sg_grad(a)), dt);
    ck_assert(sg_same_shape(sg_grad(a), a));
    ck_assert_ptr_null(sg_grad(v)); /* no grad for a tensor that does not require it */
    ck_assert_ptr_null(sg_grad(c)); /* intermediates do not keep theirs */
    sg_tensor *all[] = {a, b, v};
    free_all(all, 3);
    done();
}
END_TEST

/* y = A @ B, cotangent G: dA = G B^T, dB = A^T G; linear: dx = G W, dW = G^T x, db = colsum G */
START_TEST(matmul_linear_graph) {
    sg_dtype dt = _i ? SG_F64 : SG_F32;
    sg_tensor *A = leaf(dt, 2, (int64_t[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6}, true);
    sg_tensor *B = leaf(dt, 2, (int64_t[]){3, 2}, (double[]){1, 0, -1, 2, 0, 1}, true);
    sg_tensor *G = leaf(dt, 2, (int64_t[]){2, 2}, (double[]){1, -1, 2, 0.5}, false);
    sg_tensor *y = sg_matmul(A, B);
    tu_assert_values(y, (double[]){-1, 7, -1, 16}, 4, 0, 0);
    ck_assert_int_eq(sg_backward_grad(y, G), SG_OK);
    tu_assert_values(sg_grad(A), (double[]){1, -3, -1, 2, -1, 0.5}, 6, 0, tol_of(dt));
    tu_assert_values(sg_grad(B), (double[]){9, 1, 12, 0.5, 15, 0}, 6, 0, tol_of(dt));

    sg_tensor *x = leaf(dt, 2, (int64_t[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6}, true);
    sg_tensor *W = leaf(dt, 2, (int64_t[]){2, 3}, (double[]){1, 1, 1, 0, 1, 0}, true);
    sg_tensor *bias = leaf(dt, 1, (int64_t[]){2}, (double[]){0.5, -1}, true);
    sg_tensor *z = sg_linear(x, W, bias);
    tu_assert_values(z, (double[]){6.5, 1, 15.5, 4}, 4, 0, 0);
    ck_assert_int_eq(sg_backward_grad(z, G), SG_OK);
    tu_assert_values(sg_grad(x), (double[]){1, 0, 1, 2, 2.5, 2}, 6, 0, tol_of(dt));
    tu_assert_values(sg_grad(W), (double[]){9, 12, 15, 1, 0.5, 0}, 6, 0, tol_of(dt));
    tu_assert_values(sg_grad(bias), (double[]){3, -0.5}, 2, 0, tol_of(dt));
    sg_tensor *all[] = {A, B, G, x, W, bias};
    free_all(all, 6);
    done();
}
END_TEST

/* scalar loss via a (1,3)@(3,1) product: sg_backward seeds 1 */
START_TEST(scalar_loss) {
    sg_tensor *x = leaf(SG_F64, 2, (int64_t[]){1, 3}, (double[]){1, 2, 3}, true);
    sg_tensor *w = leaf(SG_F64, 2, (int64_t[]){3, 1}, (double[]){-1, 0.5, 2}, true);
    sg_tensor *loss = sg_matmul(x, w);
    ck_assert(sg_item(loss) == 6);
    ck_assert_int_eq(sg_backward(loss), SG_OK);
    tu_assert_values(sg_grad(x), (double[]){-1, 0.5, 2}, 3, 0, 0);
    tu_assert_values(sg_grad(w), (double[]){1, 2, 3}, 3, 0, 0);
    /* 0-d losses too: s = k * k */
    sg_tensor *k = leaf(SG_F64, 0, NULL, (double[]){3}, true);
    sg_tensor *s0 = sg_mul(k, k);
    ck_assert_int_eq(sg_ndim(s0), 0);
    ck_assert_int_eq(sg_backward(s0), SG_OK);
    ck_assert(sg_item(sg_grad(k)) == 6);
    sg_tensor *all[] = {x, w, k};
    free_all(all, 3);
    done();
}
END_TEST

/* ---- accumulation, zeroing ---- */

START_TEST(accumulate_and_zero) {
    int64_t s[] = {2};
    sg_tensor *x = leaf(SG_F64, 1, s, (double[]){1, 2}, true), *w = leaf(SG_F64, 1, s, (double[]){3, 4}, true);
    sg_tensor *nog = leaf(SG_F64, 1, s, (double[]){5, 6}, false);
    sg_tensor *ones = sg_ones(SG_F64, 1, s);
    sg_tensor *y = sg_add(sg_mul(x, w), nog);
    ck_assert_int_eq(sg_backward_grad(y, ones), SG_OK);
    sg_tensor *gx = sg_grad(x);
    tu_assert_values(gx, (double[]){3, 4}, 2, 0, 0);
    /* the same tape walked again: += */
    ck_assert_int_eq(sg_backward_grad(y, ones), SG_OK);
    ck_assert_ptr_eq(sg_grad(x), gx);
    tu_assert_values(gx, (double[]){6, 8}, 2, 0, 0);
    tu_assert_values(sg_grad(w), (double[]){2, 4}, 2, 0, 0);
    /* a new graph after clearing the tape: += again */
    sg_tape_clear();
    ck_assert(sg_is_live(gx));
    ck_assert_int_eq(sg_backward_grad(sg_mul(x, w), ones), SG_OK);
    tu_assert_values(gx, (double[]){9, 12}, 2, 0, 0);
    /* zero_grad keeps the buffers, zeroes the values, leaves NULL grads NULL */
    uint64_t gv = sg_version(gx);
    sg_tensor *ps[] = {x, w, nog};
    ck_assert_int_eq(sg_zero_grad(ps, 3), SG_OK);
    ck_assert_ptr_eq(sg_grad(x), gx);
    ck_assert_int_gt(sg_version(gx), gv);
    tu_assert_values(gx, (double[]){0, 0}, 2, 0, 0);
    tu_assert_values(sg_grad(w), (double[]){0, 0}, 2, 0, 0);
    ck_assert_ptr_null(sg_grad(nog));
    ck_assert_int_eq(sg_backward_grad(sg_mul(x, w), ones), SG_OK);
    tu_assert_values(gx, (double[]){3, 4}, 2, 0, 0);
    ck_assert_int_eq(sg_zero_grad(NULL, 0), SG_OK);
    ck_assert_int_eq(sg_zero_grad(NULL, 2), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'ts'");
    sg_tensor *bad[] = {x, NULL};
    ck_assert_int_eq(sg_zero_grad(bad, 2), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "sg_zero_grad");
    sg_tensor *all[] = {x, w, nog, ones};
    free_all(all, 4);
    sg_tensor *dead[] = {x};
    ck_assert_int_eq(sg_zero_grad(dead, 1), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "not a live tensor");
    done();
}
END_TEST

/* ---- cotangents and their errors ---- */

START_TEST(backward_grad_errors) {
    int64_t s23[] = {2, 3}, s32[] = {3, 2};
    sg_tensor *x = sg_ones(SG_F64, 2, s23);
    sg_set_requires_grad(x, true);
    sg_tensor *y = sg_mul(x, x);
    sg_tensor *ct_shape = sg_ones(SG_F64, 2, s32), *ct_dtype = sg_ones(SG_F32, 2, s23);
    sg_tensor *ct_rank = sg_ones(SG_F64, 1, (int64_t[]){6});
    ck_assert_int_eq(sg_backward_grad(y, ct_shape), SG_ERR_SHAPE);
    tu_assert_error(SG_ERR_SHAPE, "grad_out has shape (3,2) but the output has (2,3)");
    ck_assert_int_eq(sg_backward_grad(y, ct_rank), SG_ERR_SHAPE);
    tu_assert_error(SG_ERR_SHAPE, "(6)");
    ck_assert_int_eq(sg_backward_grad(y, ct_dtype), SG_ERR_DTYPE);
    tu_assert_error(SG_ERR_DTYPE, "grad_out is float32 but the output is float64");
    ck_assert_int_eq(sg_backward_grad(y, NULL), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "grad_out");
    ck_assert_int_eq(sg_backward_grad(NULL, ct_shape), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'out'");
    ck_assert_ptr_null(sg_grad(x)); /* failed calls touched nothing */
    /* non-scalar loss */
    ck_assert_int_eq(sg_backward(y), SG_ERR_SHAPE);
    tu_assert_error(SG_ERR_SHAPE, "loss of shape (2,3) is not a single value");
    ck_assert_int_eq(sg_backward(NULL), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'loss'");
    /* output that does not require grad */
    sg_tensor *c = sg_ones(SG_F64, 2, s23);
    sg_tensor *yc = sg_mul(c, c);
    ck_assert(!sg_requires_grad(yc));
    ck_assert_int_eq(sg_backward_grad(yc, c), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "does not require grad");
    sg_tensor *one = sg_scalar(SG_F64, 2);
    ck_assert_int_eq(sg_backward(one), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "does not require grad");
    /* the right cotangent works after all that */
    sg_tensor *ct = sg_full(SG_F64, 2, s23, 0.5);
    ck_assert_int_eq(sg_backward_grad(y, ct), SG_OK);
    tu_assert_values(sg_grad(x), (double[]){1, 1, 1, 1, 1, 1}, 6, 0, 0);
    sg_tensor *all[] = {x, ct_shape, ct_dtype, ct_rank, c, one, ct};
    free_all(all, 7);
    done();
}
END_TEST

/* backward straight from a leaf: its grad is the cotangent */
START_TEST(backward_from_leaf) {
    sg_tensor *x = leaf(SG_F32, 1, (int64_t[]){3}, (double[]){1, 2, 3}, true);
    sg_tensor *v = leaf(SG_F32, 1, (int64_t[]){3}, (double[]){4, 5, 6}, false);
    ck_assert_int_eq(sg_backward_grad(x, v), SG_OK);
    tu_assert_values(sg_grad(x), (double[]){4, 5, 6}, 3, 0, 0);
    ck_assert_int_eq(sg_backward_grad(x, v), SG_OK);
    tu_assert_values(sg_grad(x), (double[]){8, 10, 12}, 3, 0, 0);
    sg_tensor *s = leaf(SG_F64, 0, NULL, (double[]){7}, true);
    ck_assert_int_eq(sg_backward(s), SG_OK);
    ck_assert(sg_item(sg_grad(s)) == 1);
    ck_assert_ptr_ne(sg_grad(x), v);
    sg_tensor *all[] = {x, v, s};
    free_all(all, 3);
    done();
}
END_TEST

/* backward from an intermediate, then from the final output */
START_TEST(backward_from_intermediate) {
    int64_t s[] = {2};
    sg_tensor *x = leaf(SG_F64, 1, s, (double[]){2, 3}, true), *ones = sg_ones(SG_F64, 1, s);
    sg_tensor *h = sg_mul(x, x);   /* dh/dx = 2x */
    sg_tensor *y = sg_mul(h, x);   /* dy/dx = 3x^2 */
    ck_assert_int_eq(sg_backward_grad(h, ones), SG_OK);
    tu_assert_values(sg_grad(x), (double[]){4, 6}, 2, 0, 0);
    ck_assert_int_eq(sg_backward_grad(y, ones), SG_OK);
    tu_assert_values(sg_grad(x), (double[]){4 + 12, 6 + 27}, 2, 0, 0);
    sg_tensor *all[] = {x, ones};
    free_all(all, 2);
    done();
}
END_TEST

START_TEST(leaf_used_twice) {
    int64_t s[] = {3};
    sg_tensor *x = leaf(SG_F64, 1, s, (double[]){1, -2, 0.5}, true), *ones = sg_ones(SG_F64, 1, s);
    ck_assert_int_eq(sg_backward_grad(sg_mul(x, x), ones), SG_OK); /* 2x */
    tu_assert_values(sg_grad(x), (double[]){2, -4, 1}, 3, 0, 0);
    sg_zero_grad(&x, 1);
    ck_assert_int_eq(sg_backward_grad(sg_add(x, x), ones), SG_OK); /* 2 */
    tu_assert_values(sg_grad(x), (double[]){2, 2, 2}, 3, 0, 0);
    sg_zero_grad(&x, 1);
    ck_assert_int_eq(sg_backward_grad(sg_mul(sg_mul(x, x), x), ones), SG_OK); /* 3x^2 */
    tu_assert_values(sg_grad(x), (double[]){3, 12, 0.75}, 3, 0, 0);
    sg_zero_grad(&x, 1);
    ck_assert_int_eq(sg_backward_grad(sg_sub(x, x), ones), SG_OK); /* 0 */
    tu_assert_values(sg_grad(x), (double[]){0, 0, 0}, 3, 0, 0);
    sg_zero_grad(&x, 1);
    ck_assert_int_eq(sg_backward_grad(sg_div(x, x), ones), SG_OK); /* 1/x - x/x^2 = 0 */
    tu_assert_values(sg_grad(x), (double[]){0, 0, 0}, 3, 1e-15, 0);
    /* diamond: h = 2x (x+x), y = h*h + h -> dy/dx = (2h + 1) * 2 */
    sg_zero_grad(&x, 1);
    sg_tensor *h = sg_add(x, x);
    ck_assert_int_eq(sg_backward_grad(sg_add(sg_mul(h, h), h), ones), SG_OK);
    tu_assert_values(sg_grad(x), (double[]){10, -14, 6}, 3, 0, 0);
    sg_tensor *all[] = {x, ones};
    free_all(all, 2);
    done();
}
END_TEST

/* ---- broadcasting: gradients are summed back to each input's shape ---- */

typedef struct {
    int ndim;
    int64_t shape[3];
} shp;

START_TEST(broadcast_reduction) {
    static const shp bshapes[] = {{1, {3}}, {2, {1, 3}}, {2, {2, 1}}, {0, {0}}, {2, {1, 1}}, {3, {1, 1, 3}}, {3, {2, 2, 3}}};
    const shp *bs = &bshapes[_i];
    int64_t as[] = {2, 3};
    double av[6] = {1, 2, 3, 4, 5, 6}, vv[12] = {1, -1, 2, 0.5, 3, -2, 1, 1, 1, -1, 0, 2};
    sg_tensor *a = leaf(SG_F64, 2, as, av, true);
    sg_rng r = sg_rng_new(10 + (uint64_t)_i);
    sg_tensor *b = sg_uniform(&r, SG_F64, bs->ndim, bs->shape, -1, 1);
    sg_set_requires_grad(b, true);
    sg_tensor *y = sg_mul(a, b);
    int64_t ys[SG_MAX_DIMS];
    int yn = sg_shape(y, ys);
    sg_tensor *v = leaf(SG_F64, yn, ys, vv, false);
    ck_assert_int_eq(sg_backward_grad(y, v), SG_OK);
    /* reference: loop over the output, mapping each element back to a and b */
    int64_t ny = sg_numel(y), nb = sg_numel(b);
    double ga[6] = {0}, gb[12] = {0};
    for (int64_t i = 0; i < ny; i++) {
        int64_t idx[3] = {0}, rem = i;
        for (int d = yn - 1; d >= 0; d--) {
            idx[d] = rem % ys[d];
            rem /= ys[d];
        }
        int64_t ia = 0, ib = 0;
        for (int d = 0; d < 2; d++) ia = ia * as[d] + idx[yn - 2 + d];
        for (int d = 0; d < bs->ndim; d++) {
            int64_t sz = bs->shape[d], k = idx[yn - bs->ndim + d];
            ib = ib * sz + (sz == 1 ? 0 : k);
        }
        ga[ia] += vv[i] * sg_get_flat(b, ib);
        gb[ib] += vv[i] * av[ia];
    }
    ck_assert(sg_same_shape(sg_grad(a), a));
    ck_assert(sg_same_shape(sg_grad(b), b));
    tu_assert_values(sg_grad(a), ga, 6, 1e-14, 1e-14);
    tu_assert_values(sg_grad(b), gb, nb, 1e-14, 1e-14);
    sg_tensor *all[] = {a, b, v};
    free_all(all, 3);
    done();
}
END_TEST

/* hand-computed: a bias row added to every row, and a column scale */
START_TEST(broadcast_hand) {
    sg_tensor *x = leaf(SG_F64, 2, (int64_t[]){2, 3}, (double[]){1, 2, 3, 4, 5, 6}, true);
    sg_tensor *b = leaf(SG_F64, 1, (int64_t[]){3}, (double[]){0, 0, 0}, true);
    sg_tensor *c = leaf(SG_F64, 2, (int64_t[]){2, 1}, (double[]){2, -1}, true);
    sg_tensor *ones = sg_ones(SG_F64, 2, (int64_t[]){2, 3});
    ck_assert_int_eq(sg_backward_grad(sg_mul(sg_add(x, b), c), ones), SG_OK);
    tu_assert_values(sg_grad(b), (double[]){1, 1, 1}, 3, 0, 0);   /* sum_i c_i */
    tu_assert_values(sg_grad(c), (double[]){6, 15}, 2, 0, 0);     /* row sums of x + b */
    tu_assert_values(sg_grad(x), (double[]){2, 2, 2, -1, -1, -1}, 6, 0, 0);
    sg_tensor *all[] = {x, b, c, ones};
    free_all(all, 4);
    done();
}
END_TEST

/* ---- modes ---- */

START_TEST(no_grad_mode) {
    int64_t s[] = {2};
    sg_tensor *x = leaf(SG_F64, 1, s, (double[]){1, 2}, true);
    ck_assert(sg_is_grad_enabled());
    ck_assert(sg_set_grad_enabled(false) == true);
    ck_assert(!sg_is_grad_enabled());
    sg_tensor *y = sg_mul(x, x);
    tu_assert_values(y, (double[]){1, 4}, 2, 0, 0); /* values still computed */
    ck_assert(!sg_requires_grad(y));
    ck_assert_ptr_null(y->node);
    ck_assert_int_eq(sg_tape_len(), 1); /* the result is tape-owned, but nothing was recorded */
    ck_assert_int_eq(sg_backward_grad(y, x), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "no-grad mode");
    ck_assert(sg_set_grad_enabled(false) == false); /* nesting: previous value returned */
    ck_assert(sg_set_grad_enabled(true) == false);
    ck_assert(sg_is_grad_enabled());
    ck_assert_ptr_null(sg_grad(x));
    /* a no-grad result used later under grad mode is a constant */
    sg_tensor *z = sg_mul(y, x);
    ck_assert(sg_requires_grad(z));
    ck_assert_int_eq(sg_backward_grad(z, x), SG_OK); /* cotangent (1,2) */
    tu_assert_values(sg_grad(x), (double[]){1, 8}, 2, 0, 0);
    ck_assert_int_eq(sg_tensor_free(x), SG_OK);
    done();
}
END_TEST

START_TEST(detach_stops_gradient) {
    int64_t s[] = {2};
    sg_tensor *x = leaf(SG_F64, 1, s, (double[]){2, 3}, true), *ones = sg_ones(SG_F64, 1, s);
    sg_tensor *y = sg_mul(x, x);
    sg_tensor *d = sg_detach(y);
    ck_assert_ptr_nonnull(d);
    ck_assert(!sg_requires_grad(d));
    tu_assert_values(d, (double[]){4, 9}, 2, 0, 0);
    ck_assert_ptr_eq(sg_data_const(d), sg_data_const(y)); /* shares the data */
    sg_tensor *z = sg_mul(d, x); /* dz/dx = d only: no flow through y */
    ck_assert_int_eq(sg_backward_grad(z, ones), SG_OK);
    tu_assert_values(sg_grad(x), (double[]){4, 9}, 2, 0, 0);
    /* detach of a leaf, and errors */
    sg_tensor *dl = sg_detach(x);
    ck_assert(!sg_requires_grad(dl));
    ck_assert_int_eq(sg_tensor_free(dl), SG_ERR_STATE); /* tape-owned */
    tu_assert_error(SG_ERR_STATE, "owned by the tape");
    ck_assert_ptr_null(sg_detach(NULL));
    tu_assert_error(SG_ERR_NULL, "sg_detach");
    sg_tensor *all[] = {x, ones};
    free_all(all, 2);
    done();
}
END_TEST

START_TEST(set_requires_grad_on_result) {
    sg_tensor *x = sg_ones(SG_F64, 1, (int64_t[]){2});
    sg_set_requires_grad(x, true);
    sg_tensor *y = sg_add(x, x);
    ck_assert_int_eq(sg_set_requires_grad(y, false), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "only leaf tensors");
    ck_assert(sg_requires_grad(y));
    sg_tensor_free(x);
    done();
}
END_TEST

/* ---- a long chain: no recursion in backward or in freeing ---- */

START_TEST(long_chain) {
    int64_t s[] = {2};
    sg_tensor *x0 = leaf(SG_F64, 1, s, (double[]){1, -1}, true);
    sg_tensor *l = leaf(SG_F64, 1, s, (double[]){0.5, 2}, true);
    sg_tensor *ones = sg_ones(SG_F64, 1, s);
    sg_tensor *x = x0;
    for (int i = 0; i < CHAIN_LEN; i++) {
        x = sg_add(x, l);
        if (!x) break;
    }
    ck_assert_msg(x != NULL, "%s", sg_last_error());
    ck_assert_int_eq(sg_tape_len(), CHAIN_LEN);
    tu_assert_values(x, (double[]){1 + 0.5 * CHAIN_LEN, -1 + 2.0 * CHAIN_LEN}, 2, 0, 0);
    ck_assert_int_eq(sg_backward_grad(x, ones), SG_OK);
    tu_assert_values(sg_grad(l), (double[]){CHAIN_LEN, CHAIN_LEN}, 2, 0, 0);
    tu_assert_values(sg_grad(x0), (double[]){1, 1}, 2, 0, 0);
    /* the leaves freed by the user first: the tape frees the chain and then them */
    sg_tensor *all[] = {x0, l, ones};
    free_all(all, 3);
    sg_tape_clear();
    ck_assert_int_eq(sg_tape_len(), 0);
    done();
}
END_TEST

/* a long chain of products, backpropagated from the middle of the tape */
START_TEST(long_chain_mul) {
    int64_t s[] = {1};
    sg_tensor *x = leaf(SG_F64, 1, s, (double[]){1}, true);
    sg_tensor *k = leaf(SG_F64, 1, s, (double[]){1}, true);
    sg_tensor *y = x, *mid = NULL;
    for (int i = 0; i < CHAIN_LEN; i++) {
        y = sg_mul(y, k);
        if (i == CHAIN_LEN / 2 - 1) mid = y;
    }
    ck_assert_int_eq(sg_backward(mid), SG_OK); /* mid = x k^(N/2): d/dk = N/2 */
    ck_assert(sg_item(sg_grad(k)) == CHAIN_LEN / 2);
    ck_assert(sg_item(sg_grad(x)) == 1);
    ck_assert_int_eq(sg_backward(y), SG_OK);
    ck_assert(sg_item(sg_grad(k)) == CHAIN_LEN / 2 + CHAIN_LEN);
    sg_tensor *all[] = {x, k};
    free_all(all, 2);
    done();
}
END_TEST

/* ---- tape scopes and lifetime ---- */

START_TEST(tape_mark_release) {
    int64_t s[] = {2};
    sg_tensor *x = leaf(SG_F64, 1, s, (double[]){1, 2}, true), *ones = sg_ones(SG_F64, 1, s);
    size_t m0 = sg_tape_mark();
    ck_assert_uint_eq(m0, 0);
    sg_tensor *a = sg_mul(x, x);
    size_t m1 = sg_tape_mark();
    ck_assert_uint_eq(m1, 1);
    sg_tensor *b = sg_add(a, x);
    size_t m2 = sg_tape_mark();
    sg_tensor *c = sg_mul(b, b), *d = sg_sub(c, a);
    ck_assert_uint_eq(sg_tape_len(), 4);
    ck_assert_int_eq(sg_tape_release(m2), SG_OK);
    ck_assert_uint_eq(sg_tape_len(), m2);
    ck_assert(!sg_is_live(c) && !sg_is_live(d));
    ck_assert(sg_is_live(a) && sg_is_live(b));
    /* what is left still works */
    ck_assert_int_eq(sg_backward_grad(b, ones), SG_OK); /* 2x + 1 */
    tu_assert_values(sg_grad(x), (double[]){3, 5}, 2, 0, 0);
    /* release is idempotent at the current length; a mark past the end is an error */
    ck_assert_int_eq(sg_tape_release(m2), SG_OK);
    ck_assert_int_eq(sg_tape_release(m2 + 5), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "past the tape's end");
    ck_assert_uint_eq(sg_tape_len(), m2);
    /* nested scope inside a scope */
    size_t inner = sg_tape_mark();
    sg_tensor *e = sg_mul(a, a);
    ck_assert(sg_is_live(e));
    ck_assert_int_eq(sg_tape_release(inner), SG_OK);
    ck_assert(!sg_is_live(e));
    ck_assert_int_eq(sg_tape_release(m1), SG_OK);
    ck_assert(sg_is_live(a) && !sg_is_live(b));
    ck_assert_int_eq(sg_tape_release(m0), SG_OK);
    ck_assert(!sg_is_live(a));
    ck_assert_uint_eq(sg_tape_len(), 0);
    ck_assert(sg_is_live(x) && sg_is_live(sg_grad(x))); /* leaves and their grads survive */
    sg_tensor *all[] = {x, ones};
    free_all(all, 2);
    done();
}
END_TEST

START_TEST(released_tensor_use) {
    int64_t s[] = {2};
    sg_tensor *x = leaf(SG_F64, 1, s, (double[]){1, 2}, true), *ones = sg_ones(SG_F64, 1, s);
    sg_tensor *y = sg_mul(x, x);
    sg_tape_clear();
    /* every use of y is now a clean SG_ERR_STATE (run under ASan: no read of freed memory) */
    ck_assert_int_eq(sg_backward_grad(y, ones), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "not a live tensor (freed, or released by sg_tape_clear?)");
    ck_assert_int_eq(sg_backward(y), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "sg_backward");
    ck_assert_ptr_null(sg_add(y, x));
    tu_assert_error(SG_ERR_STATE, "sg_add: argument 'a' is not a live tensor");
    ck_assert_ptr_null(sg_matmul(x, y));
    tu_assert_error(SG_ERR_STATE, "'b' is not a live tensor");
    ck_assert_int_eq(sg_numel(y), -1);
    tu_assert_error(SG_ERR_STATE, "sg_numel");
    ck_assert_int_eq(sg_tensor_free(y), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "not a live tensor");
    ck_assert_ptr_null(sg_detach(y));
    tu_assert_error(SG_ERR_STATE, "sg_detach");
    sg_tensor *ys[] = {y};
    ck_assert_int_eq(sg_zero_grad(ys, 1), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "sg_zero_grad");
    ck_assert_ptr_null(sg_grad(x));
    sg_tensor *all[] = {x, ones};
    free_all(all, 2);
    done();
}
END_TEST

/* The user frees a leaf after using it: the tape keeps it alive for backward, then frees it. */
START_TEST(free_leaf_before_backward) {
    int64_t s[] = {2};
    sg_tensor *x = leaf(SG_F64, 1, s, (double[]){3, 4}, true), *w = leaf(SG_F64, 1, s, (double[]){5, 6}, true);
    sg_tensor *ones = sg_ones(SG_F64, 1, s);
    sg_tensor *y = sg_mul(sg_mul(x, w), x); /* dy/dw = x^2, dy/dx = 2xw */
    ck_assert_int_eq(sg_tensor_free(x), SG_OK);
    ck_assert(!sg_is_live(x));
    ck_assert_int_eq(sg_tensor_free(x), SG_ERR_STATE); /* double free still caught */
    tu_assert_error(SG_ERR_STATE, "sg_tensor_free");
    ck_assert_ptr_null(sg_mul(x, w)); /* and the user cannot use it any more */
    tu_assert_error(SG_ERR_STATE, "not a live tensor");
    tu_assert_values(y, (double[]){45, 96}, 2, 0, 0);
    ck_assert_int_eq(sg_backward_grad(y, ones), SG_OK);
    tu_assert_values(sg_grad(w), (double[]){9, 16}, 2, 0, 0);
    ck_assert_int_eq(sg_backward_grad(y, ones), SG_OK); /* twice: x's grad lives on x, unseen */
    tu_assert_values(sg_grad(w), (double[]){18, 32}, 2, 0, 0);
    /* live: w, ones, y and x*w (tape), w.grad, and x.grad (kept with x until the tape frees it) */
    ck_assert_uint_eq(sg__registry_count(), 6);
    sg_tape_clear(); /* frees x and its grad too (ASan: no leak) */
    ck_assert_uint_eq(sg__registry_count(), 3); /* w, ones, w.grad */
    sg_tensor *all[] = {w, ones};
    free_all(all, 2);
    /* freed before any backward, never used for one */
    sg_tensor *z = sg_ones(SG_F64, 1, s);
    sg_set_requires_grad(z, true);
    sg_tensor *zz = sg_add(z, z);
    ck_assert_int_eq(sg_tensor_free(z), SG_OK);
    ck_assert(sg_is_live(zz));
    done();
}
END_TEST

/* Modifying a tensor in place after an op used it makes backward fail, naming the op. */
START_TEST(inplace_modification) {
    int64_t s[] = {2};
    sg_tensor *x = leaf(SG_F64, 1, s, (double[]){1, 2}, true), *w = leaf(SG_F64, 1, s, (double[]){3, 4}, false);
    sg_tensor *ones = sg_ones(SG_F64, 1, s);
    int how = _i;
    sg_tensor *y = sg_mul(x, w);
    switch (how) {
    case 0: sg_set_flat(w, 0, 5); break;          /* an input without grad */
    case 1: sg_set_flat(x, 1, 7); break;          /* the leaf itself */
    case 2: sg_fill(w, 1); break;
    case 3: sg_mark_modified(w); break;           /* after writing through sg_data_f64 */
    case 4: { sg_rng r = sg_rng_new(1); sg_fill_uniform(w, &r, 0, 1); break; }
    }
    ck_assert_int_eq(sg_backward_grad(y, ones), SG_ERR_STATE);
    ck_assert_msg(strstr(sg_last_error(), "modified in place") && strstr(sg_last_error(), "sg_mul"),
                  "message: %s", sg_last_error());
    tu_assert_error(SG_ERR_STATE, how == 1 ? "input 0" : "input 1");
    /* a modification before the op is fine */
    sg_tape_clear();
    sg_set_flat(w, 0, 3);
    sg_tensor *y2 = sg_mul(x, w);
    ck_assert_int_eq(sg_backward_grad(y2, ones), SG_OK);
    sg_tensor *all[] = {x, w, ones};
    free_all(all, 3);
    done();
}
END_TEST

/* Overwriting an op's result, which its backward reads (div uses its output), must not give a
 * silently wrong gradient. */
START_TEST(inplace_modified_output) {
    sg_tensor *a = leaf(SG_F64, 1, (int64_t[]){1}, (double[]){2}, false);
    sg_tensor *b = leaf(SG_F64, 1, (int64_t[]){1}, (double[]){4}, true);
    sg_tensor *c = leaf(SG_F64, 1, (int64_t[]){1}, (double[]){1}, false);
    sg_tensor *y = sg_div(a, b);
    sg_set_flat(y, 0, 100);
    sg_tensor *z = sg_mul(y, c);
    int rc = sg_backward(z);
    if (rc == SG_OK) /* the only acceptable success is the right answer -a/b^2 */
        ck_assert_msg(sg_item(sg_grad(b)) == -0.125, "silently wrong gradient %g", sg_item(sg_grad(b)));
    ck_assert_int_eq(rc, SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "modified in place");
    sg_tensor *all[] = {a, b, c};
    free_all(all, 3);
    done();
}
END_TEST

/* A test op y = x * s where s is not an input but a tensor saved for backward (sg__save). */
static int saved_scale_bw(sg_node *n, const sg_tensor *g) {
    sg_tensor *gx = sg__alloc(g->dtype, g->ndim, g->shape, false);
    if (!gx) return SG_ERR_MEM;
    sg__kmap(gx, SG_K_MUL, g, n->saved[0], NULL);
    return sg__grad_accum(n->in[0], gx);
}
static sg_tensor *saved_scale(sg_tensor *x, sg_tensor *s) {
    sg_tensor *out = sg__out(x->dtype, x->ndim, x->shape, false);
    sg__kmap(out, SG_K_MUL, x, s, NULL);
    int err;
    sg_node *n = sg__record(out, "test_saved_scale", saved_scale_bw, 1, &x, &err);
    if (n) sg__save(n, 0, s);
    return err ? NULL : out;
}

START_TEST(inplace_modified_saved) {
    int64_t sh[] = {2};
    sg_tensor *x = leaf(SG_F64, 1, sh, (double[]){1, 2}, true), *s = leaf(SG_F64, 1, sh, (double[]){3, 4}, false);
    sg_tensor *ones = sg_ones(SG_F64, 1, sh);
    ck_assert_int_eq(sg_backward_grad(saved_scale(x, s), ones), SG_OK);
    tu_assert_values(sg_grad(x), (double[]){3, 4}, 2, 0, 0);
    sg_tensor *y = saved_scale(x, s);
    ck_assert_int_eq(sg_tensor_free(s), SG_OK); /* the node keeps it alive */
    ck_assert_int_eq(sg_backward_grad(y, ones), SG_OK);
    tu_assert_values(sg_grad(x), (double[]){6, 8}, 2, 0, 0);
    s = leaf(SG_F64, 1, sh, (double[]){3, 4}, false);
    y = saved_scale(x, s);
    sg_set_flat(s, 0, -1);
    ck_assert_int_eq(sg_backward_grad(y, ones), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "a tensor saved by 'test_saved_scale' was modified in place");
    tu_assert_values(sg_grad(x), (double[]){6, 8}, 2, 0, 0);
    sg_tensor *all[] = {x, s, ones};
    free_all(all, 3);
    done();
}
END_TEST

/* The tape is per thread: a backward on another thread's result is an error, not a crash. */
typedef struct {
    sg_tensor *y, *ct;
    int rc;
    char msg[256];
} thread_arg;

static void *other_thread(void *p) {
    thread_arg *a = p;
    a->rc = sg_backward_grad(a->y, a->ct);
    snprintf(a->msg, sizeof a->msg, "%s", sg_last_error());
    sg_clear_error();
    return NULL;
}

START_TEST(foreign_thread_backward) {
    sg_tensor *x = leaf(SG_F64, 1, (int64_t[]){2}, (double[]){1, 2}, true), *ones = sg_ones(SG_F64, 1, (int64_t[]){2});
    thread_arg arg = {sg_mul(x, x), ones, 0, ""};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, other_thread, &arg), 0);
    pthread_join(th, NULL);
    ck_assert_int_eq(arg.rc, SG_ERR_STATE);
    ck_assert_msg(strstr(arg.msg, "thread"), "message: %s", arg.msg);
    ck_assert_ptr_null(sg_grad(x));
    ck_assert_int_eq(sg_backward_grad(arg.y, ones), SG_OK); /* fine on its own thread */
    tu_assert_values(sg_grad(x), (double[]){2, 4}, 2, 0, 0);
    sg_tensor *all[] = {x, ones};
    free_all(all, 2);
    done();
}
END_TEST

/* the gradient of a leaf is a user-visible tensor owned by the leaf */
START_TEST(grad_tensor_properties) {
    sg_tensor *x = leaf(SG_F32, 2, (int64_t[]){2, 2}, (double[]){1, 2, 3, 4}, true);
    sg_tensor *ct = sg_ones(SG_F32, 2, (int64_t[]){2, 2});
    ck_assert_int_eq(sg_backward_grad(sg_mul(x, ct), ct), SG_OK);
    sg_tensor *g = sg_grad(x);
    ck_assert(sg_is_live(g));
    ck_assert_int_eq(sg_dtype_of(g), SG_F32);
    ck_assert(sg_same_shape(g, x));
    ck_assert(sg_is_contiguous(g));
    ck_assert(!sg_requires_grad(g));
    ck_assert_ptr_ne(sg_data_const(g), sg_data_const(ct)); /* not aliased with the cotangent */
    ck_assert_int_eq(sg_tensor_free(g), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "gradient");
    sg_tape_clear();
    tu_assert_values(g, (double[]){1, 1, 1, 1}, 4, 0, 0);
    sg_tensor *all[] = {x, ct};
    free_all(all, 2);
    done();
}
END_TEST

int main(void) {
    Suite *s = suite_create("autograd");
    TCase *c = tcase_create("backward");
    tcase_set_timeout(c, 600);
    tcase_add_loop_test(c, elementwise_graph, 0, 2);
    tcase_add_loop_test(c, matmul_linear_graph, 0, 2);
    tcase_add_test(c, scalar_loss);
    tcase_add_test(c, accumulate_and_zero);
    tcase_add_test(c, backward_grad_errors);
    tcase_add_test(c, backward_from_leaf);
    tcase_add_test(c, backward_from_intermediate);
    tcase_add_test(c, leaf_used_twice);
    tcase_add_loop_test(c, broadcast_reduction, 0, 7);
    tcase_add_test(c, broadcast_hand);
    tcase_add_test(c, no_grad_mode);
    tcase_add_test(c, detach_stops_gradient);
    tcase_add_test(c, set_requires_grad_on_result);
    tcase_add_test(c, grad_tensor_properties);
    suite_add_tcase(s, c);
    TCase *l = tcase_create("lifetime");
    tcase_set_timeout(l, 600);
    tcase_add_test(l, long_chain);
    tcase_add_test(l, long_chain_mul);
    tcase_add_test(l, tape_mark_release);
    tcase_add_test(l, released_tensor_use);
    tcase_add_test(l, free_leaf_before_backward);
    tcase_add_loop_test(l, inplace_modification, 0, 5);
    tcase_add_test(l, inplace_modified_output);
    tcase_add_test(l, inplace_modified_saved);
    tcase_add_test(l, foreign_thread_backward);
    suite_add_tcase(s, l);
    return tu_run(s);
}
