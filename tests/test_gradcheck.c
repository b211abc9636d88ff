/* sg_gradcheck itself: it passes on correct ops (FULL and FAST, float64 and float32) and fails,
 * naming the place, on deliberately wrong ones written here with the internal node API (wrong
 * scale, NaN, a gradient into an unused input, a non-repeatable backward). Also: inputs and their
 * .grad left untouched, argument errors, and errors from f passed through. */
#include <string.h>

#include "../autograd/node.h"
#include "util/testutil.h"

size_t sg__registry_count(void);

static void done(void) {
    tu_teardown();
    ck_assert_msg(sg__registry_count() == 0, "%zu tensors still live", sg__registry_count());
}

static sg_tensor *rnd(sg_dtype dt, int ndim, const int64_t *shape, uint64_t seed, bool rg) {
    return tu_rand(dt, ndim, shape, -1, 1, seed, rg);
}

/* ---- correct ops ---- */

static sg_tensor *f_expr(sg_tensor *const *x, int n, void *c) { /* (a*b + a) / c - b, broadcast */
    (void)n, (void)c;
    return sg_sub(sg_div(sg_add(sg_mul(x[0], x[1]), x[0]), x[2]), x[1]);
}
static sg_tensor *f_mlp(sg_tensor *const *x, int n, void *c) { /* linear -> * -> matmul^T */
    (void)n, (void)c;
    sg_tensor *h = sg_linear(x[0], x[1], x[2]);
    return sg_matmul_t(sg_mul(h, h), false, x[3], true);
}
static sg_tensor *f_bmm(sg_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    return sg_matmul_t(x[0], true, x[1], false);
}

typedef struct {
    const char *name;
    sg_gradcheck_fn f;
    int n;
    int ndim[4];
    int64_t shape[4][3];
    double lo[4]; /* inputs uniform in [lo, lo+2] (keeps divisors away from 0) */
} good_case;

static const good_case GOOD[] = {
    {"expr bcast", f_expr, 3, {2, 1, 2}, {{2, 3}, {3}, {2, 1}}, {-1, -1, 1}},
    {"expr 0-d", f_expr, 3, {2, 0, 0}, {{3, 2}, {0}, {0}}, {-1, -1, 1}},
    {"mlp", f_mlp, 4, {2, 2, 1, 2}, {{3, 4}, {5, 4}, {5}, {2, 5}}, {-1, -1, -1, -1}},
    {"bmm aT", f_bmm, 2, {3, 2}, {{2, 4, 3}, {4, 2}}, {-1, -1}},
};

static void make_good(const good_case *g, sg_dtype dt, sg_tensor **in) {
    for (int i = 0; i < g->n; i++) {
        sg_rng r = sg_rng_new(50 + (uint64_t)i);
        in[i] = sg_uniform(&r, dt, g->ndim[i], g->shape[i], g->lo[i], g->lo[i] + 2);
        sg_set_requires_grad(in[i], true);
    }
}

START_TEST(passes_full_and_fast) {
    const good_case *g = &GOOD[_i / 2];
    bool fast = _i % 2;
    sg_tensor *in[4];
    make_good(g, SG_F64, in);
    sg_gradcheck_opts o = sg_gradcheck_defaults(SG_F64);
    o.mode = fast ? SG_GRADCHECK_FAST : SG_GRADCHECK_FULL;
    o.n_directions = 5;
    sg_gradcheck_result r;
    ck_assert_int_eq(sg_gradcheck(g->f, NULL, in, g->n, &o, &r), SG_OK);
    ck_assert_msg(r.ok, "%s: %s", g->name, r.message);
    int64_t total = 0;
    for (int i = 0; i < g->n; i++) total += sg_numel(in[i]);
    ck_assert_int_eq(r.n_compared, fast ? 5 : total);
    ck_assert_msg(strncmp(r.message, "ok", 2) == 0, "%s", r.message);
    ck_assert(r.abs_err <= r.tol);
    if (fast) ck_assert_int_eq(r.worst_input, -1);
    else ck_assert(r.worst_input >= 0 && r.worst_input < g->n);
    ck_assert(r.worst_index >= 0);
    for (int i = 0; i < g->n; i++) sg_tensor_free(in[i]);
    done();
}
END_TEST

/* float32 with its (coarse) defaults, and opts == NULL picking them from the first input */
START_TEST(passes_f32_defaults) {
    sg_tensor *in[4];
    make_good(&GOOD[0], SG_F32, in);
    sg_gradcheck_result r;
    ck_assert_int_eq(sg_gradcheck(f_expr, NULL, in, 3, NULL, &r), SG_OK);
    ck_assert_msg(r.ok, "%s", r.message);
    sg_gradcheck_opts d = sg_gradcheck_defaults(SG_F32), d64 = sg_gradcheck_defaults(SG_F64);
    ck_assert(d.eps == 1e-2 && d.atol == 1e-2 && d.rtol == 1e-2);
    ck_assert(d64.eps == 1e-6 && d64.atol == 1e-5 && d64.rtol == 1e-3);
    ck_assert(d64.mode == SG_GRADCHECK_FULL && d64.check_twice && d64.check_unused && d64.n_directions == 8);
    for (int i = 0; i < 3; i++) sg_tensor_free(in[i]);
    done();
}
END_TEST

/* an input that does not require grad is held fixed and not compared */
START_TEST(fixed_input) {
    sg_tensor *in[4];
    make_good(&GOOD[0], SG_F64, in);
    sg_set_requires_grad(in[1], false);
    sg_gradcheck_result r;
    ck_assert_int_eq(sg_gradcheck(f_expr, NULL, in, 3, NULL, &r), SG_OK);
    ck_assert_msg(r.ok, "%s", r.message);
    ck_assert_int_eq(r.n_compared, 6 + 2);
    ck_assert_ptr_null(sg_grad(in[1]));
    for (int i = 0; i < 3; i++) sg_tensor_free(in[i]);
    done();
}
END_TEST

/* ---- a configurable, deliberately wrong op: y = sum_k fwd[k] * x_k (same shapes) ----
 * backward gives input k bw[k] * g, except element bad_index of input bad_input, which gets
 * bad_bw * g; drift > 0 multiplies every backward by (1 + drift * number of earlier calls). */
typedef struct {
    double fwd[3], bw[3];
    int bad_input;
    int64_t bad_index;
    double bad_bw;
    double drift;
    int calls;  /* backward calls so far */
    int evals;  /* forward calls so far */
    int fail_at; /* forward call number that returns NULL (0: never) */
    bool fail_quietly; /* return NULL without recording an error */
} lin_cfg;

static double rd(const sg_tensor *t, int64_t i) {
    int64_t o = sg__flat_to_offset(t, i);
    return t->dtype == SG_F64 ? ((const double *)sg__ptr(t))[o] : (double)((const float *)sg__ptr(t))[o];
}
static void wr(sg_tensor *t, int64_t i, double v) {
    int64_t o = sg__flat_to_offset(t, i);
    if (t->dtype == SG_F64) ((double *)sg__ptr(t))[o] = v;
    else ((float *)sg__ptr(t))[o] = (float)v;
}

static void no_free(void *p) { (void)p; }

static int lin_bw(sg_node *n, const sg_tensor *g) {
    lin_cfg *c = n->ctx;
    double scale = 1 + c->drift * c->calls++;
    for (int k = 0; k < n->n_in; k++) {
        if (!sg__wants_grad(n, k)) continue;
        sg_tensor *gk = sg__alloc(g->dtype, g->ndim, g->shape, false);
        if (!gk) return SG_ERR_MEM;
        for (int64_t i = 0; i < sg__numel(g); i++) {
            double m = (k == c->bad_input && i == c->bad_index) ? c->bad_bw : c->bw[k];
            wr(gk, i, m * scale * rd(g, i));
        }
        int rc = sg__grad_accum(n->in[k], gk);
        if (rc) return rc;
    }
    return SG_OK;
}

static sg_tensor *f_lin(sg_tensor *const *x, int n, void *ctx) {
    lin_cfg *c = ctx;
    if (++c->evals == c->fail_at) {
        if (!c->fail_quietly) sg_set_error(SG_ERR_ARG, "f_lin: refusing evaluation %d", c->evals);
        return NULL;
    }
    sg_tensor *out = sg__out(x[0]->dtype, x[0]->ndim, x[0]->shape, false);
    for (int64_t i = 0; i < sg__numel(out); i++) {
        double s = 0;
        for (int k = 0; k < n; k++) s += c->fwd[k] * rd(x[k], i);
        wr(out, i, s);
    }
    int err;
    sg_node *nd = sg__record(out, "test_lin", lin_bw, n, x, &err);
    if (nd) {
        nd->ctx = c;
        nd->ctx_free = no_free;
    }
    return err ? NULL : out;
}

static const int64_t LSHAPE[] = {3, 4};
enum { LNUMEL = 12 };

static void lin_inputs(sg_tensor **in, int n) {
    for (int i = 0; i < n; i++) in[i] = rnd(SG_F64, 2, LSHAPE, 300 + (uint64_t)i, true);
}

START_TEST(correct_lin_passes) {
    lin_cfg c = {.fwd = {1, 2}, .bw = {1, 2}, .bad_input = -1};
    sg_tensor *in[2];
    lin_inputs(in, 2);
    sg_gradcheck_result r;
    ck_assert_int_eq(sg_gradcheck(f_lin, &c, in, 2, NULL, &r), SG_OK);
    ck_assert_msg(r.ok, "%s", r.message);
    ck_assert_int_eq(r.n_compared, 2 * LNUMEL);
    for (int i = 0; i < 2; i++) sg_tensor_free(in[i]);
    done();
}
END_TEST

/* y = a + 2b with d/db wrong (3g) at one element: FULL names input 1, that element, and the
 * analytic/numeric values (ratio 3/2 whatever the random cotangent). */
START_TEST(wrong_scale_full) {
    lin_cfg c = {.fwd = {1, 2}, .bw = {1, 2}, .bad_input = 1, .bad_index = 7, .bad_bw = 3};
    sg_tensor *in[2];
    lin_inputs(in, 2);
    sg_gradcheck_result r;
    ck_assert_int_eq(sg_gradcheck(f_lin, &c, in, 2, NULL, &r), SG_OK);
    ck_assert(!r.ok);
    ck_assert_int_eq(r.worst_input, 1);
    ck_assert_int_eq(r.worst_index, 7);
    ck_assert_msg(fabs(r.analytic / r.numeric - 1.5) < 1e-6, "analytic %g numeric %g", r.analytic, r.numeric);
    ck_assert(fabs(r.abs_err - fabs(r.analytic - r.numeric)) < 1e-12);
    ck_assert(r.abs_err > r.tol);
    ck_assert_int_eq(r.n_compared, 2 * LNUMEL); /* keeps going after the first mismatch */
    ck_assert_msg(strstr(r.message, "input 1 index 7"), "%s", r.message);
    ck_assert_msg(strstr(r.message, "analytic") && strstr(r.message, "numeric"), "%s", r.message);
    /* the whole input wrong: every element fails, still one worst */
    lin_cfg all = {.fwd = {1, 2}, .bw = {1, 3}, .bad_input = -1};
    ck_assert_int_eq(sg_gradcheck(f_lin, &all, in, 2, NULL, &r), SG_OK);
    ck_assert(!r.ok);
    ck_assert_int_eq(r.worst_input, 1);
    for (int i = 0; i < 2; i++) sg_tensor_free(in[i]);
    done();
}
END_TEST

START_TEST(wrong_scale_fast) {
    lin_cfg c = {.fwd = {2}, .bw = {3}, .bad_input = -1};
    sg_tensor *in[1];
    lin_inputs(in, 1);
    sg_gradcheck_opts o = sg_gradcheck_defaults(SG_F64);
    o.mode = SG_GRADCHECK_FAST;
    o.n_directions = 4;
    sg_gradcheck_result r;
    ck_assert_int_eq(sg_gradcheck(f_lin, &c, in, 1, &o, &r), SG_OK);
    ck_assert(!r.ok);
    ck_assert_int_eq(r.n_compared, 4);
    ck_assert_int_eq(r.worst_input, -1);
    ck_assert(r.worst_index >= 0 && r.worst_index < 4);
    ck_assert_msg(fabs(r.analytic / r.numeric - 1.5) < 1e-6, "analytic %g numeric %g", r.analytic, r.numeric);
    ck_assert_msg(strstr(r.message, "mismatch"), "%s", r.message);
    sg_tensor_free(in[0]);
    done();
}
END_TEST

/* a backward producing NaN must fail (a comparison that passes on NaN would hide it) */
START_TEST(nan_backward) {
    bool fast = _i;
    lin_cfg c = {.fwd = {1, 2}, .bw = {1, 2}, .bad_input = 0, .bad_index = 5, .bad_bw = NAN};
    sg_tensor *in[2];
    lin_inputs(in, 2);
    sg_gradcheck_opts o = sg_gradcheck_defaults(SG_F64);
    if (fast) o.mode = SG_GRADCHECK_FAST;
    sg_gradcheck_result r;
    ck_assert_int_eq(sg_gradcheck(f_lin, &c, in, 2, &o, &r), SG_OK);
    ck_assert_msg(!r.ok, "%s", r.message);
    ck_assert(isnan(r.analytic));
    ck_assert(isfinite(r.numeric));
    if (!fast) {
        ck_assert_int_eq(r.worst_input, 0);
        ck_assert_int_eq(r.worst_index, 5);
        ck_assert_msg(strstr(r.message, "input 0 index 5") && strstr(r.message, "nan"), "%s", r.message);
    }
    for (int i = 0; i < 2; i++) sg_tensor_free(in[i]);
    done();
}
END_TEST

/* y = 2a ignores b, but backward writes 1e-9 g into b: below atol, caught by check_unused */
START_TEST(unused_input_gets_gradient) {
    lin_cfg c = {.fwd = {2, 0}, .bw = {2, 1e-9}, .bad_input = -1};
    sg_tensor *in[2];
    lin_inputs(in, 2);
    sg_gradcheck_opts o = sg_gradcheck_defaults(SG_F64);
    sg_gradcheck_result r;
    ck_assert_int_eq(sg_gradcheck(f_lin, &c, in, 2, &o, &r), SG_OK);
    ck_assert(!r.ok);
    ck_assert_msg(strstr(r.message, "input 1 does not affect the output"), "%s", r.message);
    o.check_unused = false; /* within tolerance otherwise */
    ck_assert_int_eq(sg_gradcheck(f_lin, &c, in, 2, &o, &r), SG_OK);
    ck_assert_msg(r.ok, "%s", r.message);
    /* an exactly zero gradient for the unused input is fine */
    lin_cfg z = {.fwd = {2, 0}, .bw = {2, 0}, .bad_input = -1};
    o.check_unused = true;
    ck_assert_int_eq(sg_gradcheck(f_lin, &z, in, 2, &o, &r), SG_OK);
    ck_assert_msg(r.ok, "%s", r.message);
    for (int i = 0; i < 2; i++) sg_tensor_free(in[i]);
    done();
}
END_TEST

/* backward that changes on every call (a static-counter bug): caught by check_twice only */
START_TEST(not_repeatable) {
    lin_cfg c = {.fwd = {2}, .bw = {2}, .bad_input = -1, .drift = 1e-9};
    sg_tensor *in[1];
    lin_inputs(in, 1);
    sg_gradcheck_opts o = sg_gradcheck_defaults(SG_F64);
    sg_gradcheck_result r;
    ck_assert_int_eq(sg_gradcheck(f_lin, &c, in, 1, &o, &r), SG_OK);
    ck_assert(!r.ok);
    ck_assert_msg(strstr(r.message, "second backward differs: input 0"), "%s", r.message);
    ck_assert_int_eq(c.calls, 2);
    o.check_twice = false;
    c.calls = 0;
    ck_assert_int_eq(sg_gradcheck(f_lin, &c, in, 1, &o, &r), SG_OK);
    ck_assert_msg(r.ok, "%s", r.message);
    ck_assert_int_eq(c.calls, 1);
    sg_tensor_free(in[0]);
    done();
}
END_TEST

/* ---- gradcheck leaves the inputs as it found them ---- */

START_TEST(inputs_untouched) {
    sg_dtype dt = _i / 2 ? SG_F32 : SG_F64;
    bool fast = _i % 2;
    sg_tensor *in[3];
    make_good(&GOOD[0], dt, in);
    /* give input 1 a grad from an earlier backward; inputs 0 and 2 have none */
    sg_tensor *ct = sg_full(dt, 1, (int64_t[]){3}, 0.5);
    ck_assert_int_eq(sg_backward_grad(sg_mul(in[1], in[1]), ct), SG_OK);
    sg_tensor *g1 = sg_grad(in[1]);
    double g1v[3];
    sg_to_buffer(g1, g1v, SG_F64);
    /* an unrelated graph on the tape must survive too */
    sg_tensor *keep = sg_add(in[0], in[0]);
    size_t len = sg_tape_len();
    unsigned char before[3][64], after[3][64];
    uint64_t nb[3];
    for (int i = 0; i < 3; i++) {
        nb[i] = (uint64_t)sg_numel(in[i]) * sg_dtype_size(dt);
        ck_assert(nb[i] <= sizeof before[i]);
        sg_to_buffer(in[i], before[i], dt);
    }
    sg_gradcheck_opts o = sg_gradcheck_defaults(dt);
    o.mode = fast ? SG_GRADCHECK_FAST : SG_GRADCHECK_FULL;
    sg_gradcheck_result r;
    ck_assert_int_eq(sg_gradcheck(f_expr, NULL, in, 3, &o, &r), SG_OK);
    ck_assert_msg(r.ok, "%s", r.message);
    for (int i = 0; i < 3; i++) {
        sg_to_buffer(in[i], after[i], dt);
        ck_assert_msg(memcmp(before[i], after[i], nb[i]) == 0, "input %d changed", i);
        ck_assert(sg_requires_grad(in[i]));
    }
    ck_assert_ptr_null(sg_grad(in[0]));
    ck_assert_ptr_null(sg_grad(in[2]));
    ck_assert_ptr_eq(sg_grad(in[1]), g1);
    tu_assert_values(g1, g1v, 3, 0, 0);
    ck_assert_uint_eq(sg_tape_len(), len);
    ck_assert(sg_is_live(keep));
    ck_assert(sg_is_grad_enabled());
    /* gradcheck bumped the inputs' versions, so the old graph refuses to backward */
    ck_assert_int_eq(sg_backward_grad(keep, in[0]), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "modified in place");
    for (int i = 0; i < 3; i++) sg_tensor_free(in[i]);
    sg_tensor_free(ct);
    done();
}
END_TEST

/* an input that is a strided view (a transposed user view) is perturbed and restored in place */
START_TEST(view_input) {
    sg_tensor *base = rnd(SG_F64, 2, (int64_t[]){4, 3}, 9, false);
    sg_tensor *v = sg__view(base, 2, (int64_t[]){3, 4}, (int64_t[]){1, 3}, 0);
    sg__register(v);
    sg_set_requires_grad(v, true);
    sg_tensor *w = rnd(SG_F64, 2, (int64_t[]){3, 2}, 10, true);
    double before[12], after[12];
    sg_to_buffer(base, before, SG_F64);
    sg_tensor *in[2] = {v, w};
    sg_gradcheck_result r;
    ck_assert_int_eq(sg_gradcheck(f_bmm, NULL, in, 2, NULL, &r), SG_OK); /* v^T (4,3) @ w (3,2) */
    ck_assert_msg(r.ok, "%s", r.message);
    ck_assert_int_eq(r.n_compared, 12 + 6);
    sg_to_buffer(base, after, SG_F64);
    ck_assert(memcmp(before, after, sizeof before) == 0);
    ck_assert_ptr_null(sg_grad(v));
    sg_tensor_free(v);
    sg_tensor_free(w);
    sg_tensor_free(base);
    done();
}
END_TEST

/* ---- argument errors, and f's errors passed through ---- */

START_TEST(bad_arguments) {
    sg_tensor *in[3];
    make_good(&GOOD[0], SG_F64, in);
    sg_gradcheck_result r;
    sg_gradcheck_opts o = sg_gradcheck_defaults(SG_F64);
    ck_assert_int_eq(sg_gradcheck(NULL, NULL, in, 3, NULL, &r), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'f'");
    ck_assert(!r.ok);
    ck_assert_int_eq(sg_gradcheck(f_expr, NULL, in, 0, NULL, &r), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "got 0");
    ck_assert_int_eq(sg_gradcheck(f_expr, NULL, in, -1, NULL, &r), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "inputs");
    ck_assert_int_eq(sg_gradcheck(f_expr, NULL, NULL, 3, NULL, &r), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "inputs");
    ck_assert_int_eq(sg_gradcheck(f_expr, NULL, in, 3, NULL, NULL), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'res'");
    sg_tensor *bad[3] = {in[0], NULL, in[2]};
    ck_assert_int_eq(sg_gradcheck(f_expr, NULL, bad, 3, NULL, &r), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "sg_gradcheck");
    /* an op result as input */
    sg_tensor *y = sg_mul(in[0], in[0]);
    sg_tensor *opin[3] = {y, in[1], in[2]};
    ck_assert_int_eq(sg_gradcheck(f_expr, NULL, opin, 3, NULL, &r), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "input 0 is an op result");
    /* a dead input */
    sg_tensor *dead = sg_zeros(SG_F64, 2, (int64_t[]){2, 3});
    sg_tensor_free(dead);
    sg_tensor *dd[3] = {dead, in[1], in[2]};
    ck_assert_int_eq(sg_gradcheck(f_expr, NULL, dd, 3, NULL, &r), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "not a live tensor");
    /* the same tensor twice */
    sg_tensor *dup[3] = {in[0], in[1], in[0]};
    ck_assert_int_eq(sg_gradcheck(f_expr, NULL, dup, 3, NULL, &r), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "input 2 is the same tensor as input 0");
    /* bad options */
    sg_gradcheck_opts b = o;
    b.eps = 0;
    ck_assert_int_eq(sg_gradcheck(f_expr, NULL, in, 3, &b, &r), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "eps > 0");
    b = o;
    b.eps = NAN;
    ck_assert_int_eq(sg_gradcheck(f_expr, NULL, in, 3, &b, &r), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "eps");
    b = o;
    b.atol = -1;
    ck_assert_int_eq(sg_gradcheck(f_expr, NULL, in, 3, &b, &r), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "atol");
    b = o;
    b.mode = SG_GRADCHECK_FAST;
    b.n_directions = 0;
    ck_assert_int_eq(sg_gradcheck(f_expr, NULL, in, 3, &b, &r), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "n_directions");
    b = o;
    b.mode = (sg_gradcheck_mode)7;
    ck_assert_int_eq(sg_gradcheck(f_expr, NULL, in, 3, &b, &r), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "mode");
    /* nothing requires grad: the output does not depend on anything checked */
    for (int i = 0; i < 3; i++) sg_set_requires_grad(in[i], false);
    ck_assert_int_eq(sg_gradcheck(f_expr, NULL, in, 3, NULL, &r), SG_ERR_STATE);
    ck_assert(!r.ok);
    tu_assert_error(SG_ERR_STATE, "does not depend on any input that requires grad");
    for (int i = 0; i < 3; i++) ck_assert_ptr_null(sg_grad(in[i]));
    for (int i = 0; i < 3; i++) sg_tensor_free(in[i]);
    done();
}
END_TEST

static sg_tensor *f_bad_shapes(sg_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    return sg_add(x[0], x[1]); /* (2,3) + (4) does not broadcast */
}

START_TEST(f_errors_pass_through) {
    sg_tensor *a = rnd(SG_F64, 2, (int64_t[]){2, 3}, 1, true), *b = rnd(SG_F64, 1, (int64_t[]){4}, 2, true);
    sg_tensor *in[2] = {a, b};
    sg_gradcheck_result r;
    int rc = sg_gradcheck(f_bad_shapes, NULL, in, 2, NULL, &r);
    ck_assert_int_eq(rc, SG_ERR_SHAPE);
    ck_assert(!r.ok);
    ck_assert_msg(strstr(r.message, "could not run") && strstr(r.message, "sg_add: shapes (2,3) and (4)"),
                  "%s", r.message);
    tu_assert_error(SG_ERR_SHAPE, "do not broadcast");
    ck_assert_ptr_null(sg_grad(a));
    ck_assert_ptr_null(sg_grad(b));
    sg_tensor_free(a);
    sg_tensor_free(b);
    /* f failing on a later (perturbed) evaluation, loudly or quietly */
    for (int quiet = 0; quiet < 2; quiet++)
        for (int at = 1; at <= 4; at++) {
            sg_tensor *x[2];
            lin_inputs(x, 2);
            double b0[LNUMEL], b1[LNUMEL];
            sg_to_buffer(x[0], b0, SG_F64);
            lin_cfg c = {.fwd = {1, 2}, .bw = {1, 2}, .bad_input = -1, .fail_at = at, .fail_quietly = quiet};
            for (int fast = 0; fast < 2; fast++) {
                c.evals = 0;
                sg_gradcheck_opts o = sg_gradcheck_defaults(SG_F64);
                o.mode = fast ? SG_GRADCHECK_FAST : SG_GRADCHECK_FULL;
                rc = sg_gradcheck(f_lin, &c, x, 2, &o, &r);
                ck_assert_msg(rc < 0, "f failing at call %d: rc %d (%s)", at, rc, r.message);
                ck_assert(!r.ok);
                ck_assert_int_eq(sg_last_status(), rc);
                if (!quiet) {
                    ck_assert_msg(strstr(r.message, "refusing evaluation"), "%s", r.message);
                    tu_assert_error(SG_ERR_ARG, "f_lin: refusing evaluation");
                } else {
                    ck_assert_msg(strstr(sg_last_error(), "sg_gradcheck"), "%s", sg_last_error());
                    sg_clear_error();
                }
                sg_to_buffer(x[0], b1, SG_F64);
                ck_assert(memcmp(b0, b1, sizeof b0) == 0); /* restored even on failure */
                ck_assert_ptr_null(sg_grad(x[0]));
                ck_assert_uint_eq(sg_tape_len(), 0);
            }
            for (int i = 0; i < 2; i++) sg_tensor_free(x[i]);
        }
    done();
}
END_TEST

int main(void) {
    Suite *s = suite_create("gradcheck");
    TCase *t = tcase_create("gradcheck");
    tcase_set_timeout(t, 600);
    tcase_add_loop_test(t, passes_full_and_fast, 0, 2 * (int)(sizeof GOOD / sizeof GOOD[0]));
    tcase_add_test(t, passes_f32_defaults);
    tcase_add_test(t, fixed_input);
    tcase_add_test(t, correct_lin_passes);
    tcase_add_test(t, wrong_scale_full);
    tcase_add_test(t, wrong_scale_fast);
    tcase_add_loop_test(t, nan_backward, 0, 2);
    tcase_add_test(t, unused_input_gets_gradient);
    tcase_add_test(t, not_repeatable);
    tcase_add_loop_test(t, inputs_untouched, 0, 4);
    tcase_add_test(t, view_input);
    tcase_add_test(t, bad_arguments);
    tcase_add_test(t, f_errors_pass_through);
    suite_add_tcase(s, t);
    return tu_run(s);
}
