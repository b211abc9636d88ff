/* Unary elementwise ops and sg_to_dtype: float64 full gradcheck over a table of ops x shapes
 * (0-d, size-1 dims, scalar variants), the same on strided (non-contiguous) leaves, float32-vs-
 * float64 forward agreement, hand-computed forward values and kink gradients, sigmoid/tanh
 * saturation, the parallel path, and error paths. Includes node.h to build strided leaves. */
#include <float.h>

#include "../autograd/node.h"
#include "util/testutil.h"

/* Kinks of a case's op (stored in iarg[0]): gradcheck inputs must stay KINK_MARGIN away. */
enum { KINK_NONE = 0, KINK_AT_ZERO = 1, KINK_AT_BOUNDS = 2 };
#define KINK_MARGIN 1e-3
/* A strided and a contiguous run of the same op compute the same expression per element. */
#define SAME_TOL (4 * DBL_EPSILON)

/* Fails the test if an input element is within KINK_MARGIN of a kink of the case's op (the seeded
 * inputs are fixed, so this documents that the gradcheck never straddles one). */
static void assert_avoids_kinks(const tu_case *c, const sg_tensor *x) {
    if (!x || c->iarg[0] == KINK_NONE) return;
    double k[2] = {0, 0};
    int nk = 1;
    if (c->iarg[0] == KINK_AT_BOUNDS) {
        k[0] = c->farg[0];
        k[1] = c->farg[1];
        nk = 2;
    }
    for (int64_t j = 0; j < sg_numel(x); j++)
        for (int i = 0; i < nk; i++)
            ck_assert_msg(fabs(sg_get_flat(x, j) - k[i]) > KINK_MARGIN,
                          "%s: input %lld = %.6g is within %g of the kink %g; pick another range",
                          c->name, (long long)j, sg_get_flat(x, j), KINK_MARGIN, k[i]);
}

#define UNUSED (void)n
static sg_tensor *f_neg(sg_tensor *const *x, int n, void *c) { UNUSED; (void)c; return sg_neg(x[0]); }
static sg_tensor *f_add_s(sg_tensor *const *x, int n, void *c) {
    UNUSED;
    return sg_add_scalar(x[0], ((const tu_case *)c)->farg[0]);
}
static sg_tensor *f_mul_s(sg_tensor *const *x, int n, void *c) {
    UNUSED;
    return sg_mul_scalar(x[0], ((const tu_case *)c)->farg[0]);
}
static sg_tensor *f_pow(sg_tensor *const *x, int n, void *c) {
    UNUSED;
    return sg_pow_scalar(x[0], ((const tu_case *)c)->farg[0]);
}
static sg_tensor *f_exp(sg_tensor *const *x, int n, void *c) { UNUSED; (void)c; return sg_exp(x[0]); }
static sg_tensor *f_log(sg_tensor *const *x, int n, void *c) { UNUSED; (void)c; return sg_log(x[0]); }
static sg_tensor *f_sqrt(sg_tensor *const *x, int n, void *c) { UNUSED; (void)c; return sg_sqrt(x[0]); }
static sg_tensor *f_abs(sg_tensor *const *x, int n, void *c) {
    UNUSED;
    assert_avoids_kinks(c, x[0]);
    return sg_abs(x[0]);
}
static sg_tensor *f_sigmoid(sg_tensor *const *x, int n, void *c) { UNUSED; (void)c; return sg_sigmoid(x[0]); }
static sg_tensor *f_tanh(sg_tensor *const *x, int n, void *c) { UNUSED; (void)c; return sg_tanh(x[0]); }
static sg_tensor *f_gelu(sg_tensor *const *x, int n, void *c) { UNUSED; (void)c; return sg_gelu(x[0]); }
static sg_tensor *f_gelu_tanh(sg_tensor *const *x, int n, void *c) { UNUSED; (void)c; return sg_gelu_tanh(x[0]); }
static sg_tensor *f_relu(sg_tensor *const *x, int n, void *c) {
    UNUSED;
    assert_avoids_kinks(c, x[0]);
    return sg_relu(x[0]);
}
static sg_tensor *f_clamp(sg_tensor *const *x, int n, void *c) {
    UNUSED;
    const tu_case *k = c;
    assert_avoids_kinks(k, x[0]);
    return sg_clamp(x[0], k->farg[0], k->farg[1]);
}
/* To float64 and back to the input's dtype: two same-dtype views (handles that must still pass
 * the gradient) in the float64 gradcheck, an exact float32 -> float64 -> float32 round trip in the
 * float32 run. */
static sg_tensor *f_to_dtype(sg_tensor *const *x, int n, void *c) {
    UNUSED;
    (void)c;
    sg_dtype own = x[0] ? sg_dtype_of(x[0]) : SG_F64;
    return sg_to_dtype(sg_to_dtype(x[0], SG_F64), own);
}

#define SH(...) {__VA_ARGS__}
/* Each op on a matrix, a 0-d scalar, and a shape with a size-1 dim. */
#define ROWS(nm, fn, ...)                                                                          \
    {nm " (3,4)", fn, 1, {2}, {SH(3, 4)}, __VA_ARGS__},                                           \
    {nm " 0-d", fn, 1, {0}, {SH(0)}, __VA_ARGS__},                                                \
    {nm " (2,1,3)", fn, 1, {3}, {SH(2, 1, 3)}, __VA_ARGS__}

static const tu_case CASES[] = {
    ROWS("neg", f_neg, .lo = -1, .hi = 1),
    ROWS("add_scalar 0.7", f_add_s, .farg = {0.7}),
    ROWS("mul_scalar -1.5", f_mul_s, .farg = {-1.5}),
    ROWS("pow 2", f_pow, .farg = {2}),
    ROWS("pow 3 negative x", f_pow, .farg = {3}, .lo = -2, .hi = -0.5),
    ROWS("pow -1", f_pow, .farg = {-1}, .lo = 0.5, .hi = 2),
    ROWS("pow 0.5", f_pow, .farg = {0.5}, .lo = 0.5, .hi = 2),
    ROWS("pow 2.5", f_pow, .farg = {2.5}, .lo = 0.5, .hi = 2),
    ROWS("pow 1", f_pow, .farg = {1}),
    ROWS("pow 0", f_pow, .farg = {0}),
    ROWS("exp", f_exp, .lo = -2, .hi = 2),
    ROWS("log", f_log, .lo = 0.5, .hi = 2),
    ROWS("sqrt", f_sqrt, .lo = 0.5, .hi = 2),
    ROWS("abs", f_abs, .iarg = {KINK_AT_ZERO}),
    ROWS("sigmoid", f_sigmoid, .lo = -4, .hi = 4),
    ROWS("tanh", f_tanh, .lo = -2, .hi = 2),
    ROWS("relu", f_relu, .iarg = {KINK_AT_ZERO}),
    ROWS("gelu", f_gelu, .lo = -3, .hi = 3),
    ROWS("gelu_tanh", f_gelu_tanh, .lo = -3, .hi = 3),
    ROWS("clamp(-0.5,0.5)", f_clamp, .farg = {-0.5, 0.5}, .iarg = {KINK_AT_BOUNDS}),
    ROWS("clamp(-inf,0.3)", f_clamp, .farg = {-INFINITY, 0.3}, .iarg = {KINK_AT_BOUNDS}),
    ROWS("clamp(0.2,0.2)", f_clamp, .farg = {0.2, 0.2}, .iarg = {KINK_AT_BOUNDS}),
    ROWS("to_dtype", f_to_dtype, .lo = -1, .hi = 1),
    {"neg (1,1)", f_neg, 1, {2}, {SH(1, 1)}},
    {"sigmoid (1,5)", f_sigmoid, 1, {2}, {SH(1, 5)}, .lo = -4, .hi = 4},
    {"log (4,1,2,1)", f_log, 1, {4}, {SH(4, 1, 2, 1)}, .lo = 0.5, .hi = 2},
};
enum { NCASES = sizeof CASES / sizeof CASES[0] };

START_TEST(grad_table) { tu_check_case_grad(&CASES[_i]); }
END_TEST
START_TEST(f32_table) { tu_check_case_f32(&CASES[_i]); }
END_TEST

/* ---- strided leaves: the non-contiguous forward and backward paths ---- */

enum { LAYOUT_STEP, LAYOUT_REVERSED, LAYOUT_COUNT };

/* A user-owned float64 leaf with c's input shape viewing a larger base: LAYOUT_STEP takes every
 * other element of the last dim starting at offset 1 (0-d: element 1 of a (2) base);
 * LAYOUT_REVERSED reverses the dims of a contiguous base (a transpose for 2-D). *base receives the
 * base tensor; free the view, then the base. */
static sg_tensor *strided_leaf(const tu_case *c, int layout, sg_tensor **base) {
    int nd = c->ndim[0], bnd = nd;
    const int64_t *sh = c->shape[0];
    int64_t bshape[SG_MAX_DIMS], bstride[SG_MAX_DIMS], vstride[SG_MAX_DIMS], off = 0;
    double lo = c->lo, hi = c->hi;
    if (lo == 0 && hi == 0) {
        lo = -1;
        hi = 1;
    }
    if (layout == LAYOUT_STEP) {
        for (int d = 0; d < nd; d++) bshape[d] = sh[d];
        if (nd == 0) {
            bnd = 1;
            bshape[0] = 2;
        } else {
            bshape[nd - 1] = 2 * sh[nd - 1] + 1;
        }
        off = 1;
    } else {
        for (int d = 0; d < nd; d++) bshape[d] = sh[nd - 1 - d];
    }
    *base = tu_rand(SG_F64, bnd, bshape, lo, hi, 4242 + (uint64_t)layout, false);
    sg__contiguous_strides(bnd, bshape, bstride);
    for (int d = 0; d < nd; d++)
        vstride[d] = layout == LAYOUT_STEP ? bstride[d] : bstride[nd - 1 - d];
    if (layout == LAYOUT_STEP && nd > 0) vstride[nd - 1] = 2;
    sg_tensor *v = sg__view(*base, nd, sh, vstride, off);
    ck_assert_ptr_nonnull(v);
    sg__register(v); /* user-owned: flags 0, refcount 1, freed with sg_tensor_free */
    ck_assert_int_eq(sg_set_requires_grad(v, true), SG_OK);
    return v;
}

/* Whether the layout is really non-contiguous for c's shape (size-1 dims make some views
 * contiguous; those still exercise the offset). */
static bool expect_strided(const tu_case *c, int layout) {
    int nd = c->ndim[0], big = 0;
    for (int d = 0; d < nd; d++) big += c->shape[0][d] > 1;
    return layout == LAYOUT_STEP ? (nd > 0 && c->shape[0][nd - 1] > 1) : big >= 2;
}

START_TEST(strided_table) {
    const tu_case *c = &CASES[_i];
    for (int layout = 0; layout < LAYOUT_COUNT; layout++) {
        sg_tensor *base, *x = strided_leaf(c, layout, &base);
        if (expect_strided(c, layout)) ck_assert(!sg_is_contiguous(x));
        sg_gradcheck_result r;
        int rc = sg_gradcheck(c->fn, (void *)c, &x, 1, NULL, &r);
        ck_assert_msg(rc == SG_OK, "%s layout %d: gradcheck could not run: %s", c->name, layout, sg_last_error());
        ck_assert_msg(r.ok, "%s layout %d: %s", c->name, layout, r.message);
        /* strided forward == contiguous forward */
        sg_tensor *xc = sg_copy(x);
        sg_tensor *ys = c->fn(&x, 1, (void *)c), *yc = c->fn(&xc, 1, (void *)c);
        ck_assert_ptr_nonnull(ys);
        ck_assert_ptr_nonnull(yc);
        double e[64];
        ck_assert_int_le(sg_numel(yc), 64);
        for (int64_t j = 0; j < sg_numel(yc); j++) e[j] = sg_get_flat(yc, j);
        tu_assert_values(ys, e, sg_numel(yc), 0, SAME_TOL);
        sg_tensor_free(xc);
        sg_tensor_free(x);
        sg_tensor_free(base);
        tu_teardown();
    }
}
END_TEST

/* ---- hand-computed values ---- */

static sg_tensor *from6(sg_dtype dt, const double *v) {
    return sg_from_buffer(dt, 2, (int64_t[]){2, 3}, v, SG_F64);
}

START_TEST(forward_values) {
    /* both dtypes: float32 results compared at float32 precision */
    for (int d = 0; d < SG_DTYPE_COUNT; d++) {
        sg_dtype dt = (sg_dtype)d;
        double rt = dt == SG_F32 ? 1e-6 : 1e-15;
        const double xv[6] = {-2, -0.5, 0, 0.5, 1, 3};
        const double pv[3] = {0.25, 1, 4};
        sg_tensor *x = from6(dt, xv);
        sg_tensor *p = sg_from_buffer(dt, 1, (int64_t[]){3}, pv, SG_F64);
        tu_assert_values(sg_neg(x), (double[]){2, 0.5, 0, -0.5, -1, -3}, 6, 0, 0);
        tu_assert_values(sg_add_scalar(x, 2), (double[]){0, 1.5, 2, 2.5, 3, 5}, 6, 0, 0);
        tu_assert_values(sg_mul_scalar(x, -2), (double[]){4, 1, 0, -1, -2, -6}, 6, 0, 0);
        tu_assert_values(sg_pow_scalar(x, 2), (double[]){4, 0.25, 0, 0.25, 1, 9}, 6, 0, 0);
        tu_assert_values(sg_pow_scalar(x, 3), (double[]){-8, -0.125, 0, 0.125, 1, 27}, 6, 0, 0);
        tu_assert_values(sg_pow_scalar(x, 0), (double[]){1, 1, 1, 1, 1, 1}, 6, 0, 0);
        tu_assert_values(sg_pow_scalar(p, 2.5), (double[]){0.03125, 1, 32}, 3, 0, rt);
        tu_assert_values(sg_pow_scalar(p, -1.5), (double[]){8, 1, 0.125}, 3, 0, rt);
        tu_assert_values(sg_pow_scalar(p, 0.5), (double[]){0.5, 1, 2}, 3, 0, rt);
        tu_assert_values(sg_exp(x),
                         (double[]){0.1353352832366127, 0.6065306597126334, 1.0, 1.6487212707001282,
                                    2.718281828459045, 20.085536923187668}, 6, 0, rt);
        tu_assert_values(sg_log(p), (double[]){-1.3862943611198906, 0, 1.3862943611198906}, 3, 0, rt);
        tu_assert_values(sg_sqrt(p), (double[]){0.5, 1, 2}, 3, 0, 0);
        tu_assert_values(sg_abs(x), (double[]){2, 0.5, 0, 0.5, 1, 3}, 6, 0, 0);
        tu_assert_values(sg_sigmoid(x),
                         (double[]){0.11920292202211755, 0.3775406687981454, 0.5, 0.6224593312018546,
                                    0.7310585786300049, 0.9525741268224334}, 6, 0, rt);
        tu_assert_values(sg_tanh(x),
                         (double[]){-0.9640275800758169, -0.46211715726000974, 0.0, 0.46211715726000974,
                                    0.7615941559557649, 0.9950547536867305}, 6, 0, rt);
        tu_assert_values(sg_relu(x), (double[]){0, 0, 0, 0.5, 1, 3}, 6, 0, 0);
        tu_assert_values(sg_clamp(x, -1, 0.75), (double[]){-1, -0.5, 0, 0.5, 0.75, 0.75}, 6, 0, 0);
        tu_assert_values(sg_clamp(x, -INFINITY, 0), (double[]){-2, -0.5, 0, 0, 0, 0}, 6, 0, 0);
        tu_assert_values(sg_clamp(x, 0.5, INFINITY), (double[]){0.5, 0.5, 0.5, 0.5, 1, 3}, 6, 0, 0);
        /* results keep the input's dtype and shape */
        sg_tensor *y = sg_tanh(x);
        ck_assert_int_eq(sg_dtype_of(y), dt);
        ck_assert(sg_same_shape(y, x));
        /* a 0-d input gives a 0-d output */
        sg_tensor *s = sg_scalar(dt, -3);
        sg_tensor *ys = sg_abs(s);
        ck_assert_int_eq(sg_ndim(ys), 0);
        ck_assert(sg_item(ys) == 3);
        sg_tensor_free(s);
        sg_tensor_free(x);
        sg_tensor_free(p);
        tu_teardown();
    }
}
END_TEST

/* pow with a non-integer exponent of a negative number is NaN (as C pow and PyTorch); integer
 * exponents of negative numbers are fine. NaN inputs stay NaN through relu and clamp. */
START_TEST(nan_semantics) {
    sg_tensor *x = sg_from_buffer(SG_F64, 1, (int64_t[]){3}, (double[]){-4, NAN, 4}, SG_F64);
    sg_tensor *y = sg_pow_scalar(x, 0.5);
    ck_assert(isnan(sg_get_flat(y, 0)) && isnan(sg_get_flat(y, 1)) && sg_get_flat(y, 2) == 2);
    ck_assert(sg_get_flat(sg_pow_scalar(x, -1), 0) == -0.25);
    ck_assert(isnan(sg_get_flat(sg_relu(x), 1)));
    ck_assert(isnan(sg_get_flat(sg_clamp(x, -1, 1), 1)));
    ck_assert(isnan(sg_get_flat(sg_sigmoid(x), 1)));
    ck_assert(isnan(sg_get_flat(sg_abs(x), 1)));
    sg_tensor_free(x);
    tu_teardown();
}
END_TEST

/* Gradient of f at the points x, with cotangent ones, against expected (both dtypes). */
static void check_grad_at(sg_tensor *(*f)(sg_tensor *, double, double), double s0, double s1,
                          const double *xv, const double *expect, int64_t n) {
    for (int d = 0; d < SG_DTYPE_COUNT; d++) {
        sg_tensor *x = sg_from_buffer((sg_dtype)d, 1, &n, xv, SG_F64);
        sg_set_requires_grad(x, true);
        sg_tensor *y = f(x, s0, s1);
        sg_tensor *one = sg_ones((sg_dtype)d, 1, &n);
        ck_assert_int_eq(sg_backward_grad(y, one), SG_OK);
        ck_assert_int_eq(sg_dtype_of(sg_grad(x)), d);
        tu_assert_values(sg_grad(x), expect, n, 0, 0);
        /* backward accumulates */
        ck_assert_int_eq(sg_backward_grad(y, one), SG_OK);
        for (int64_t i = 0; i < n; i++) ck_assert(sg_get_flat(sg_grad(x), i) == 2 * expect[i]);
        sg_tensor_free(one);
        sg_tensor_free(x);
        tu_teardown();
    }
}
static sg_tensor *g_abs(sg_tensor *a, double s0, double s1) { (void)s0; (void)s1; return sg_abs(a); }
static sg_tensor *g_relu(sg_tensor *a, double s0, double s1) { (void)s0; (void)s1; return sg_relu(a); }
static sg_tensor *g_clamp(sg_tensor *a, double s0, double s1) { return sg_clamp(a, s0, s1); }
static sg_tensor *g_pow(sg_tensor *a, double s0, double s1) { (void)s1; return sg_pow_scalar(a, s0); }
static sg_tensor *g_neg(sg_tensor *a, double s0, double s1) { (void)s0; (void)s1; return sg_neg(a); }

START_TEST(kink_gradients) {
    check_grad_at(g_abs, 0, 0, (double[]){-1, 0, 2}, (double[]){-1, 0, 1}, 3);
    check_grad_at(g_relu, 0, 0, (double[]){-1, 0, 2}, (double[]){0, 0, 1}, 3);
    /* bounds included */
    check_grad_at(g_clamp, -1, 1, (double[]){-2, -1, 0, 1, 2}, (double[]){0, 1, 1, 1, 0}, 5);
    check_grad_at(g_clamp, -INFINITY, 0, (double[]){-1e300, 0, 1}, (double[]){1, 1, 0}, 3);
    /* p == 0: zero gradient even at x == 0 (no 0 * inf); p == 2 at 0 is 0; p == 1 is 1 */
    check_grad_at(g_pow, 0, 0, (double[]){0, -1, 2}, (double[]){0, 0, 0}, 3);
    check_grad_at(g_pow, 2, 0, (double[]){0, -1, 2}, (double[]){0, -2, 4}, 3);
    check_grad_at(g_pow, 1, 0, (double[]){0, -1, 2}, (double[]){1, 1, 1}, 3);
    check_grad_at(g_neg, 0, 0, (double[]){0, -1, 2}, (double[]){-1, -1, -1}, 3);
}
END_TEST

/* sigmoid and tanh saturate to exact limits with finite (zero) gradients. */
START_TEST(saturation) {
    const double xv[] = {-1000, -100, -20, 0, 20, 100, 1000};
    int64_t n = 7;
    for (int d = 0; d < SG_DTYPE_COUNT; d++) {
        sg_dtype dt = (sg_dtype)d;
        sg_tensor *x = sg_from_buffer(dt, 1, &n, xv, SG_F64);
        sg_set_requires_grad(x, true);
        sg_tensor *s = sg_sigmoid(x), *t = sg_tanh(x);
        for (int64_t i = 0; i < n; i++) {
            double sv = sg_get_flat(s, i), tv = sg_get_flat(t, i);
            ck_assert_msg(isfinite(sv) && sv >= 0 && sv <= 1, "sigmoid(%g) = %g", xv[i], sv);
            ck_assert_msg(isfinite(tv) && tv >= -1 && tv <= 1, "tanh(%g) = %g", xv[i], tv);
        }
        ck_assert(sg_get_flat(s, 0) == 0 && sg_get_flat(s, 6) == 1 && sg_get_flat(s, 3) == 0.5);
        if (dt == SG_F64) ck_assert(sg_get_flat(s, 1) > 0); /* 3.7e-44, not flushed to 0 */
        ck_assert(sg_get_flat(t, 0) == -1 && sg_get_flat(t, 6) == 1 && sg_get_flat(t, 3) == 0);
        sg_tensor *one = sg_ones((sg_dtype)d, 1, &n);
        ck_assert_int_eq(sg_backward_grad(sg_add(s, t), one), SG_OK);
        sg_tensor *g = sg_grad(x);
        for (int64_t i = 0; i < n; i++) ck_assert(isfinite(sg_get_flat(g, i)));
        ck_assert(sg_get_flat(g, 0) == 0 && sg_get_flat(g, 6) == 0);
        ck_assert(sg_get_flat(g, 3) == 1.25); /* sigmoid' 0.25 + tanh' 1 */
        sg_tensor_free(one);
        sg_tensor_free(x);
        tu_teardown();
    }
}
END_TEST

/* Above SG_PAR_MIN elements the loops run on the OpenMP team: contiguous and strided inputs,
 * forward and backward, checked elementwise against scalar formulas. */
START_TEST(parallel_path) {
    int prev = sg_get_num_threads();
    sg_set_num_threads(2);
    int64_t rows = 256, cols = 160; /* 40960 >= SG_PAR_MIN */
    ck_assert_int_ge(rows * cols, SG_PAR_MIN);
    sg_tensor *base = tu_rand(SG_F64, 2, (int64_t[]){cols, rows}, -3, 3, 77, false);
    /* strided (transposed) and contiguous */
    sg_tensor *xt = sg__view(base, 2, (int64_t[]){rows, cols}, (int64_t[]){1, rows}, 0);
    sg__register(xt);
    sg_set_requires_grad(xt, true);
    sg_tensor *xc = sg_copy(xt);
    sg_set_requires_grad(xc, true);
    sg_tensor *xs[2] = {xt, xc};
    for (int k = 0; k < 2; k++) {
        sg_tensor *y = sg_sigmoid(xs[k]);
        sg_tensor *z = sg_clamp(xs[k], -1, 1);
        sg_tensor *v = sg_ones(SG_F64, 2, (int64_t[]){rows, cols});
        ck_assert_int_eq(sg_backward_grad(sg_add(y, z), v), SG_OK);
        sg_tensor *g = sg_grad(xs[k]);
        for (int64_t i = 0; i < rows * cols; i++) {
            double a = sg_get_flat(xs[k], i), s = 1 / (1 + exp(-a));
            ck_assert(fabs(sg_get_flat(y, i) - s) <= 1e-15);
            ck_assert(sg_get_flat(z, i) == (a < -1 ? -1 : a > 1 ? 1 : a));
            double ge = s * (1 - s) + (a >= -1 && a <= 1 ? 1 : 0);
            ck_assert(fabs(sg_get_flat(g, i) - ge) <= 1e-15);
        }
        sg_tensor_free(v);
        tu_teardown();
    }
    sg_tensor_free(xc);
    sg_tensor_free(xt);
    sg_tensor_free(base);
    sg_set_num_threads(prev);
    tu_teardown();
}
END_TEST

START_TEST(empty_tensor) {
    sg_tensor *x = sg_zeros(SG_F64, 2, (int64_t[]){0, 3});
    sg_set_requires_grad(x, true);
    sg_tensor *y = sg_exp(sg_clamp(x, -1, 1));
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(sg_numel(y), 0);
    ck_assert_int_eq(sg_size(y, 1), 3);
    sg_tensor *v = sg_zeros(SG_F64, 2, (int64_t[]){0, 3});
    ck_assert_int_eq(sg_backward_grad(y, v), SG_OK);
    sg_tensor_free(v);
    sg_tensor_free(x);
    tu_teardown();
}
END_TEST

/* ---- sg_to_dtype ---- */

START_TEST(to_dtype) {
    int64_t n = 3;
    const double xv[] = {0.1, -2.5, 1e-3}, gv[] = {1.5, -2, 0.25};
    for (int d = 0; d < SG_DTYPE_COUNT; d++) {
        sg_dtype from = (sg_dtype)d, to = (sg_dtype)(1 - d);
        sg_tensor *x = sg_from_buffer(from, 1, &n, xv, SG_F64);
        sg_set_requires_grad(x, true);
        sg_tensor *y = sg_to_dtype(x, to);
        ck_assert_int_eq(sg_dtype_of(y), to);
        for (int64_t i = 0; i < n; i++) {
            double want = (from == SG_F32 || to == SG_F32) ? (double)(float)xv[i] : xv[i];
            ck_assert(sg_get_flat(y, i) == want);
        }
        sg_tensor *g = sg_from_buffer(to, 1, &n, gv, SG_F64);
        ck_assert_int_eq(sg_backward_grad(y, g), SG_OK);
        ck_assert_int_eq(sg_dtype_of(sg_grad(x)), from);
        tu_assert_values(sg_grad(x), gv, n, 0, 0);
        sg_tensor_free(g);

        /* same dtype: a new handle on the same values, tape-owned, gradient still flows */
        sg_tensor *s = sg_to_dtype(x, from);
        ck_assert_ptr_nonnull(s);
        ck_assert_ptr_ne(s, x);
        ck_assert_int_eq(sg_dtype_of(s), from);
        for (int64_t i = 0; i < n; i++) ck_assert(sg_get_flat(s, i) == sg_get_flat(x, i));
        ck_assert_int_eq(sg_tensor_free(s), SG_ERR_STATE);
        tu_assert_error(SG_ERR_STATE, "owned by the tape");
        sg_tensor *g2 = sg_from_buffer(from, 1, &n, gv, SG_F64);
        ck_assert_int_eq(sg_backward_grad(s, g2), SG_OK);
        for (int64_t i = 0; i < n; i++) ck_assert(sg_get_flat(sg_grad(x), i) == 2 * gv[i]);
        sg_tensor_free(g2);
        sg_tensor_free(x);
        tu_teardown();
    }
    /* strided input converts correctly */
    sg_tensor *base = sg_arange(SG_F64, 0, 6, 1);
    sg_tensor *v = sg__view(base, 2, (int64_t[]){3, 2}, (int64_t[]){1, 3}, 0);
    sg__register(v);
    tu_assert_values(sg_to_dtype(v, SG_F32), (double[]){0, 3, 1, 4, 2, 5}, 6, 0, 0);
    tu_assert_values(sg_to_dtype(v, SG_F64), (double[]){0, 3, 1, 4, 2, 5}, 6, 0, 0);
    sg_tensor_free(v);
    sg_tensor_free(base);
    tu_teardown();
}
END_TEST

/* ---- errors ---- */

START_TEST(errors) {
    /* NULL input for every op in the table */
    for (int i = 0; i < NCASES; i++) {
        sg_tensor *nul = NULL;
        ck_assert_ptr_null(CASES[i].fn(&nul, 1, (void *)&CASES[i]));
        tu_assert_error(SG_ERR_NULL, "'a' is NULL");
    }
    ck_assert_ptr_null(sg_neg(NULL));
    tu_assert_error(SG_ERR_NULL, "sg_neg");
    ck_assert_ptr_null(sg_pow_scalar(NULL, 2));
    tu_assert_error(SG_ERR_NULL, "sg_pow_scalar");
    sg_tensor *a = sg_zeros(SG_F64, 2, (int64_t[]){2, 3});
    ck_assert_ptr_null(sg_clamp(a, 1, -1));
    tu_assert_error(SG_ERR_ARG, "lo 1, hi -1");
    ck_assert_ptr_null(sg_clamp(a, NAN, 1));
    tu_assert_error(SG_ERR_ARG, "sg_clamp");
    ck_assert_ptr_null(sg_clamp(a, 0, NAN));
    tu_assert_error(SG_ERR_ARG, "NaN");
    ck_assert_ptr_null(sg_to_dtype(a, (sg_dtype)7));
    tu_assert_error(SG_ERR_DTYPE, "'dt'");
    ck_assert_ptr_null(sg_to_dtype(a, (sg_dtype)-1));
    tu_assert_error(SG_ERR_DTYPE, "sg_to_dtype");
    ck_assert_ptr_null(sg_to_dtype(NULL, SG_F32));
    tu_assert_error(SG_ERR_NULL, "sg_to_dtype");
    /* propagation: the first error is kept, later ops return NULL */
    ck_assert_ptr_null(sg_tanh(sg_exp(sg_clamp(a, 2, 1))));
    tu_assert_error(SG_ERR_ARG, "sg_clamp");
    /* a released op result */
    sg_tensor *y = sg_exp(a);
    sg_tape_clear();
    ck_assert_ptr_null(sg_sigmoid(y));
    tu_assert_error(SG_ERR_STATE, "sg_sigmoid");
    sg_tensor_free(a);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_unary");
    TCase *t = tcase_create("table");
    tcase_add_loop_test(t, grad_table, 0, NCASES);
    tcase_add_loop_test(t, f32_table, 0, NCASES);
    tcase_add_loop_test(t, strided_table, 0, NCASES);
    tcase_add_test(t, forward_values);
    tcase_add_test(t, nan_semantics);
    tcase_add_test(t, kink_gradients);
    tcase_add_test(t, saturation);
    tcase_add_test(t, parallel_path);
    tcase_add_test(t, empty_tensor);
    tcase_add_test(t, to_dtype);
    tcase_add_test(t, errors);
    suite_add_tcase(s, t);
    return tu_run(s);
}
