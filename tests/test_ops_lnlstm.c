/* The fused LayerNorm-LSTM gate op (sg_lnlstm_pointwise): float64 gradcheck of every input over a
 * table of shapes and variants (one or two gate inputs, affine or not, inputs without gradient,
 * strided inputs), float32-vs-float64 forward agreement, equality with the composition of the
 * primitive ops it replaces (values and every gradient, both dtypes), bitwise thread-count
 * independence on sizes that take the parallel paths, and errors naming the argument. */
#include <stdlib.h>

#include "util/testutil.h"

enum { MAX_IN = 5 };
#define EPS 1e-5

/* iarg[0]: 1 with hg, iarg[1]: 1 with weight, iarg[2]: 1 with bias, iarg[3]: 1 xg is given
 * transposed (strided). Inputs: xg, [hg,] c, [weight,] [bias]. farg[0]: eps. */
typedef struct {
    sg_tensor *xg, *hg, *c, *w, *b;
} args;

static args unpack(const tu_case *k, sg_tensor *const *x) {
    args a = {0};
    int i = 0;
    a.xg = k->iarg[3] ? sg_transpose(x[i++], 0, 1) : x[i++];
    if (k->iarg[0]) a.hg = x[i++];
    a.c = x[i++];
    if (k->iarg[1]) a.w = x[i++];
    if (k->iarg[2]) a.b = x[i++];
    return a;
}

static sg_tensor *f_fused(sg_tensor *const *x, int n, void *ctx) {
    (void)n;
    const tu_case *k = ctx;
    args a = unpack(k, x);
    return sg_lnlstm_pointwise(a.xg, a.hg, a.c, a.w, a.b, k->farg[0]);
}

/* layer norm over the last dim from primitive ops (independent of the row kernels under test) */
static sg_tensor *ln_primitive(sg_tensor *x, sg_tensor *w, sg_tensor *b, double eps) {
    int last = -1;
    sg_tensor *xm = sg_sub(x, sg_mean(x, 1, &last, true));
    sg_tensor *y = sg_div(xm, sg_sqrt(sg_add_scalar(sg_mean(sg_mul(xm, xm), 1, &last, true), eps)));
    if (w) y = sg_mul(y, w);
    return b ? sg_add(y, b) : y;
}

/* the same formula from primitive ops: the LSTM gate op's c', a layer norm, tanh and the o gate */
static sg_tensor *f_composed(sg_tensor *const *x, int n, void *ctx) {
    (void)n;
    const tu_case *k = ctx;
    args a = unpack(k, x);
    int64_t H = sg_size(a.c, 1);
    sg_tensor *pre = a.hg ? sg_add(a.xg, a.hg) : a.xg;
    sg_tensor *cn = ln_primitive(sg_select(sg_lstm_pointwise(pre, NULL, a.c), 0, 1), a.w, a.b, k->farg[0]);
    sg_tensor *o = sg_sigmoid(sg_narrow(pre, 1, 3 * H, H));
    return sg_stack(2, (sg_tensor *[]){sg_mul(o, sg_tanh(cn)), cn}, 0);
}

#define SH(...) {__VA_ARGS__}
/* B x H: xg (B, 4H), hg (B, 4H), c (B, H), weight, bias (H) */
#define ALL(B, H) {2, 2, 2, 1, 1}, {SH(B, 4 * H), SH(B, 4 * H), SH(B, H), SH(H), SH(H)}
static const tu_case CASES[] = {
    {"3x4 affine", f_fused, 5, ALL(3, 4), .lo = -2, .hi = 2, .iarg = {1, 1, 1, 0}, .farg = {EPS}},
    {"1x3 affine", f_fused, 5, ALL(1, 3), .lo = -2, .hi = 2, .iarg = {1, 1, 1, 0}, .farg = {EPS}},
    {"2x1 (H=1)", f_fused, 5, ALL(2, 1), .iarg = {1, 1, 1, 0}, .farg = {0.5}},
    {"one gate input", f_fused, 4, {2, 2, 1, 1}, {SH(3, 12), SH(3, 3), SH(3), SH(3)}, .lo = -2, .hi = 2,
     .iarg = {0, 1, 1, 0}, .farg = {EPS}},
    {"no affine", f_fused, 3, {2, 2, 2}, {SH(2, 16), SH(2, 16), SH(2, 4)}, .iarg = {1, 0, 0, 0}, .farg = {EPS}},
    {"weight only", f_fused, 4, {2, 2, 2, 1}, {SH(2, 16), SH(2, 16), SH(2, 4), SH(4)}, .iarg = {1, 1, 0, 0},
     .farg = {EPS}},
    {"bias only, eps 0.1", f_fused, 4, {2, 2, 2, 1}, {SH(2, 16), SH(2, 16), SH(2, 4), SH(4)},
     .iarg = {1, 0, 1, 0}, .farg = {0.1}},
    {"no c grad", f_fused, 5, ALL(2, 3), .no_grad_mask = 1u << 2, .iarg = {1, 1, 1, 0}, .farg = {EPS}},
    {"only weight, bias grads", f_fused, 5, ALL(2, 3), .no_grad_mask = 7u, .iarg = {1, 1, 1, 0}, .farg = {EPS}},
    {"strided xg", f_fused, 5, {2, 2, 2, 1, 1}, {SH(8, 2), SH(2, 8), SH(2, 2), SH(2), SH(2)},
     .iarg = {1, 1, 1, 1}, .farg = {EPS}},
    {"composed reference", f_composed, 5, ALL(3, 4), .lo = -2, .hi = 2, .iarg = {1, 1, 1, 0}, .farg = {EPS}},
};
enum { NCASES = sizeof CASES / sizeof CASES[0] };

START_TEST(grad_table) { tu_check_case_grad(&CASES[_i]); }
END_TEST
START_TEST(f32_table) { tu_check_case_f32(&CASES[_i]); }
END_TEST

/* values and every input gradient of fn on the case's inputs (float dt), from a fixed cotangent */
typedef struct {
    double *v[1 + MAX_IN];
    int64_t n[1 + MAX_IN];
} result;

static result run(const tu_case *k, sg_gradcheck_fn fn, sg_dtype dt, uint64_t seed) {
    sg_tensor *in[MAX_IN];
    for (int i = 0; i < k->n_in; i++)
        in[i] = tu_rand(dt, k->ndim[i], k->shape[i], -2.5, 2.5, seed + (uint64_t)i, !(k->no_grad_mask & (1u << i)));
    sg_tensor *y = fn(in, k->n_in, (void *)k);
    ck_assert_msg(y != NULL, "%s", sg_last_error());
    sg_tensor *R = tu_rand(dt, 3, (int64_t[]){2, sg_size(y, 1), sg_size(y, 2)}, -1, 1, seed + 99, false);
    ck_assert_int_eq(sg_backward_grad(y, R), SG_OK);
    result r = {{0}, {0}};
    for (int i = 0; i <= k->n_in; i++) {
        sg_tensor *t = i == 0 ? y : sg_grad(in[i - 1]);
        if (!t) continue;
        r.n[i] = sg_numel(t);
        r.v[i] = malloc((size_t)r.n[i] * sizeof(double));
        sg_to_buffer(t, r.v[i], SG_F64);
    }
    sg_tape_clear();
    for (int i = 0; i < k->n_in; i++) sg_tensor_free(in[i]);
    sg_tensor_free(R);
    return r;
}

static void result_free(result *r) {
    for (int i = 0; i < 1 + MAX_IN; i++) free(r->v[i]);
}

/* fused == composed: forward values and the gradients of xg, hg, c, weight and bias */
START_TEST(fused_equals_composed) {
    tu_case k = {"big", NULL, 5, ALL(9, 37), .iarg = {1, 1, 1, 0}, .farg = {EPS}};
    for (int d = SG_F32; d <= SG_F64; d++) {
        result a = run(&k, f_fused, (sg_dtype)d, 5), b = run(&k, f_composed, (sg_dtype)d, 5);
        double tol = d == SG_F64 ? 1e-12 : 2e-5;
        for (int i = 0; i <= k.n_in; i++) {
            ck_assert_int_eq(a.n[i], b.n[i]);
            ck_assert_msg(a.n[i] > 0, "output/gradient %d missing", i);
            for (int64_t j = 0; j < a.n[i]; j++)
                ck_assert_msg(fabs(a.v[i][j] - b.v[i][j]) <= tol * (1 + fabs(b.v[i][j])),
                              "dtype %d, %s %d element %lld: fused %.12g composed %.12g", d, i ? "gradient" : "output",
                              i, (long long)j, a.v[i][j], b.v[i][j]);
        }
        result_free(&a);
        result_free(&b);
    }
    tu_teardown();
}
END_TEST

/* bitwise equal at 1 and 2 threads, on sizes where the rows (B H PW_COST >= SG_PAR_MIN) and the
 * weight/bias column pass (B H >= SG_PAR_MIN) run in parallel */
START_TEST(threads_bitwise) {
    static const int64_t sizes[2][2] = {{64, 96}, {160, 256}};
    int saved = sg_get_num_threads();
    for (int s = 0; s < 2; s++) {
        int64_t B = sizes[s][0], H = sizes[s][1];
        tu_case k = {"par", NULL, 5, ALL(B, H), .iarg = {1, 1, 1, 0}, .farg = {EPS}};
        result r[2];
        for (int t = 0; t < 2; t++) {
            sg_set_num_threads(t + 1);
            r[t] = run(&k, f_fused, SG_F32, 31);
        }
        for (int i = 0; i <= k.n_in; i++)
            for (int64_t j = 0; j < r[0].n[i]; j++)
                ck_assert_msg(r[0].v[i][j] == r[1].v[i][j], "B=%lld: tensor %d element %lld differs", (long long)B, i,
                              (long long)j);
        result_free(&r[0]);
        result_free(&r[1]);
    }
    sg_set_num_threads(saved);
    tu_teardown();
}
END_TEST

START_TEST(errors) {
    sg_tensor *xg = sg_zeros(SG_F32, 2, (int64_t[]){2, 12}), *c = sg_zeros(SG_F32, 2, (int64_t[]){2, 3});
    sg_tensor *w = sg_ones(SG_F32, 1, (int64_t[]){3}), *w4 = sg_ones(SG_F32, 1, (int64_t[]){4});
    sg_tensor *x64 = sg_zeros(SG_F64, 2, (int64_t[]){2, 12}), *w64 = sg_ones(SG_F64, 1, (int64_t[]){3});
    sg_tensor *c1 = sg_zeros(SG_F32, 1, (int64_t[]){3}), *bad = sg_zeros(SG_F32, 2, (int64_t[]){2, 8});
    ck_assert_ptr_nonnull(sg_lnlstm_pointwise(xg, xg, c, w, w, EPS));
    ck_assert_ptr_nonnull(sg_lnlstm_pointwise(xg, NULL, c, NULL, NULL, EPS));
    ck_assert_ptr_null(sg_lnlstm_pointwise(bad, NULL, c, w, w, EPS));
    tu_assert_error(SG_ERR_SHAPE, "xg must be (2, 12)");
    ck_assert_ptr_null(sg_lnlstm_pointwise(xg, bad, c, w, w, EPS));
    tu_assert_error(SG_ERR_SHAPE, "hg must be (2, 12)");
    ck_assert_ptr_null(sg_lnlstm_pointwise(xg, NULL, c1, w, w, EPS));
    tu_assert_error(SG_ERR_SHAPE, "c must be (B, H)");
    ck_assert_ptr_null(sg_lnlstm_pointwise(xg, NULL, c, w4, NULL, EPS));
    tu_assert_error(SG_ERR_SHAPE, "weight must be (H) = (3)");
    ck_assert_ptr_null(sg_lnlstm_pointwise(xg, NULL, c, NULL, w4, EPS));
    tu_assert_error(SG_ERR_SHAPE, "bias must be (H) = (3)");
    ck_assert_ptr_null(sg_lnlstm_pointwise(x64, NULL, c, NULL, NULL, EPS));
    tu_assert_error(SG_ERR_DTYPE, "sg_lnlstm_pointwise");
    ck_assert_ptr_null(sg_lnlstm_pointwise(xg, x64, c, NULL, NULL, EPS));
    tu_assert_error(SG_ERR_DTYPE, "sg_lnlstm_pointwise");
    ck_assert_ptr_null(sg_lnlstm_pointwise(xg, NULL, c, w64, NULL, EPS));
    tu_assert_error(SG_ERR_DTYPE, "sg_lnlstm_pointwise");
    ck_assert_ptr_null(sg_lnlstm_pointwise(xg, NULL, c, NULL, NULL, -1));
    tu_assert_error(SG_ERR_ARG, "eps");
    ck_assert_ptr_null(sg_lnlstm_pointwise(xg, NULL, c, NULL, NULL, NAN));
    tu_assert_error(SG_ERR_ARG, "eps");
    ck_assert_ptr_null(sg_lnlstm_pointwise(NULL, NULL, c, NULL, NULL, EPS));
    tu_assert_error(SG_ERR_NULL, "'xg'");
    ck_assert_ptr_null(sg_lnlstm_pointwise(xg, NULL, NULL, NULL, NULL, EPS));
    tu_assert_error(SG_ERR_NULL, "'c'");
    sg_tape_clear();
    sg_tensor *fr[] = {xg, c, w, w4, x64, w64, c1, bad};
    for (int i = 0; i < 8; i++) sg_tensor_free(fr[i]);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_lnlstm");
    TCase *t = tcase_create("lnlstm_pointwise");
    tcase_set_timeout(t, 60);
    tcase_add_loop_test(t, grad_table, 0, NCASES);
    tcase_add_loop_test(t, f32_table, 0, NCASES);
    tcase_add_test(t, fused_equals_composed);
    tcase_add_test(t, threads_bitwise);
    tcase_add_test(t, errors);
    suite_add_tcase(s, t);
    return tu_run(s);
}
