/* The shipped cell definitions (nn/cells.h: LayerNorm-LSTM, MGU, Clockwork RNN) on the layer
 * driver: float64 gradcheck (FULL for 1 layer, FAST with 24 random directions for 2) over {lnlstm, mgu, clockwork} x {uni, bi} x {1, 2 layers} x
 * {equal, ragged} x {with, without initial states} (tcase_add_loop_test), float32 against float64,
 * the Clockwork schedule (modules that do not update keep their state exactly, the masked blocks
 * get zero gradient), the LN-LSTM step against its formula, and bad module counts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/testutil.h"

enum { T = 4, B = 3, D = 2, H = 4, CELLS = 3, GRID = CELLS * 2 * 2 * 2 * 2, MAXIN = 96, CW_MODULES = 2,
       FAST_DIRECTIONS = 24 };
static const int64_t RAGGED[B] = {4, 1, 3};
static const sg_clockwork_config CW_CFG = {CW_MODULES};

static const sg_cell_def *cell_of(int k) {
    return k == 0 ? &sg_cell_lnlstm : k == 1 ? &sg_cell_mgu : &sg_cell_clockwork;
}

static sg_rnn_config grid_config(int i, bool *ragged, bool *states) {
    int kind = i % CELLS, rest = i / CELLS;
    sg_rnn_config c = {.def = cell_of(kind), .input_size = D, .hidden_size = H, .backend = SG_BACKEND_COMPOSED};
    if (kind == 2) c.cell_data = &CW_CFG;
    c.bidirectional = rest & 1;
    c.num_layers = (rest & 2) ? 2 : 1;
    *ragged = rest & 4;
    *states = rest & 8;
    return c;
}

typedef struct {
    sg_rnn *r;
    const int64_t *lengths;
    int nstates; /* initial states passed as inputs 1.. (0: none) */
} fctx;

/* in: x, [s0 per state], params... -> concat(flat output, flat final states) */
static sg_tensor *rnn_fn(sg_tensor *const *in, int n, void *vc) {
    (void)n;
    fctx *c = vc;
    sg_rnn_out o;
    sg_tensor *s0[SG_CELL_MAX_STATES] = {0};
    for (int k = 0; k < c->nstates; k++) s0[k] = in[1 + k];
    if (sg_rnn_forward_states(c->r, in[0], c->lengths, s0, &o)) return NULL;
    int64_t flat[] = {-1};
    sg_tensor *parts[3] = {sg_reshape(o.output, 1, flat), sg_reshape(o.h_n, 1, flat), NULL};
    int np = 2;
    if (o.c_n) parts[np++] = sg_reshape(o.c_n, 1, flat);
    return sg_concat(np, parts, 0);
}

START_TEST(grid_gradcheck) {
    bool ragged, states;
    sg_rnn_config cfg = grid_config(_i, &ragged, &states);
    sg_model *m = sg_model_new(SG_F64);
    sg_rnn *r = sg_rnn_new(m, "cell", &cfg);
    ck_assert_msg(r && sg_model_finalize(m, 300 + (uint64_t)_i) == 0, "%s", sg_last_error());
    int dirs = cfg.bidirectional ? 2 : 1, L = cfg.num_layers, ns = sg_cell_num_states(cfg.def);
    /* layer norms start at gain 1 / bias 0: move them so their gradients are checked off the identity */
    for (int i = 0; i < sg_model_num_params(m); i++)
        if (strstr(sg_model_param_name(m, i), "ln_")) {
            sg_tensor *p = sg_model_param(m, i);
            for (int64_t j = 0; j < sg_numel(p); j++) sg_set_flat(p, j, sg_get_flat(p, j) + 0.3 * sin((double)(j + i)));
        }
    fctx c = {r, ragged ? RAGGED : NULL, states ? ns : 0};
    sg_tensor *in[MAXIN];
    int n = 0;
    in[n++] = tu_rand(SG_F64, 3, (int64_t[]){T, B, D}, -1, 1, 7, true);
    for (int k = 0; k < c.nstates; k++) in[n++] = tu_rand(SG_F64, 3, (int64_t[]){L * dirs, B, H}, -1, 1, 8 + k, true);
    int nuser = n;
    for (int i = 0; i < sg_model_num_params(m) && n < MAXIN; i++) in[n++] = sg_model_param(m, i);
    ck_assert_int_eq(n, nuser + sg_model_num_params(m));
    /* FULL (every element) for one layer; two-layer stacks (3-4x the parameters) in FAST mode, random
     * directions over all inputs at once, to keep the suite's time down */
    sg_gradcheck_opts go = sg_gradcheck_defaults(SG_F64);
    if (L == 2) {
        go.mode = SG_GRADCHECK_FAST;
        go.n_directions = FAST_DIRECTIONS;
    }
    sg_gradcheck_result res;
    int rc = sg_gradcheck(rnn_fn, &c, in, n, &go, &res);
    ck_assert_msg(rc == 0, "config %d: %s", _i, sg_last_error());
    ck_assert_msg(res.ok, "config %d (cell %s bi %d L %d ragged %d states %d): %s", _i, cfg.def->name,
                  cfg.bidirectional, L, ragged, states, res.message);
    for (int i = 0; i < nuser; i++) sg_tensor_free(in[i]);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

/* float32 and float64 layers with the same parameters give the same outputs */
START_TEST(f32_matches_f64) {
    for (int k = 0; k < CELLS; k++) {
        sg_rnn_config cfg = {.def = cell_of(k), .input_size = D, .hidden_size = H, .bidirectional = true,
                             .num_layers = 2, .cell_data = k == 2 ? &CW_CFG : NULL};
        sg_model *m[2];
        sg_rnn *r[2];
        sg_tensor *out[2];
        for (int v = 0; v < 2; v++) {
            m[v] = sg_model_new(v ? SG_F32 : SG_F64);
            r[v] = sg_rnn_new(m[v], NULL, &cfg);
            ck_assert_msg(r[v] && sg_model_finalize(m[v], 11) == 0, "%s", sg_last_error());
        }
        for (int i = 0; i < sg_model_num_params(m[0]); i++) { /* moved off the LN identity, then copied */
            sg_tensor *p64 = sg_model_param(m[0], i), *p32 = sg_model_param(m[1], i);
            for (int64_t j = 0; j < sg_numel(p64); j++) {
                sg_set_flat(p64, j, sg_get_flat(p64, j) + 0.2 * sin((double)(j + 5 * i)));
                sg_set_flat(p32, j, sg_get_flat(p64, j));
            }
        }
        for (int v = 0; v < 2; v++) {
            sg_tensor *x = tu_rand(v ? SG_F32 : SG_F64, 3, (int64_t[]){T, B, D}, -1, 1, 5, false);
            sg_rnn_out o;
            ck_assert_msg(sg_rnn_forward(r[v], x, RAGGED, NULL, NULL, &o) == 0, "%s",
                          sg_last_error());
            out[v] = sg_copy(o.output);
            sg_tensor_free(x);
            sg_tape_clear();
        }
        for (int64_t j = 0; j < sg_numel(out[0]); j++)
            ck_assert_msg(fabs(sg_get_flat(out[0], j) - sg_get_flat(out[1], j)) <= 1e-5,
                          "%s element %lld: f64 %.9g f32 %.9g", cfg.def->name, (long long)j, sg_get_flat(out[0], j),
                          sg_get_flat(out[1], j));
        for (int v = 0; v < 2; v++) {
            sg_tensor_free(out[v]);
            sg_model_free(m[v]);
        }
    }
    tu_teardown();
}
END_TEST

START_TEST(clockwork_schedule) {
    ck_assert_int_eq(sg_clockwork_active(0, 4), 4);
    ck_assert_int_eq(sg_clockwork_active(1, 4), 1);
    ck_assert_int_eq(sg_clockwork_active(2, 4), 2);
    ck_assert_int_eq(sg_clockwork_active(6, 4), 2);
    ck_assert_int_eq(sg_clockwork_active(8, 4), 4);
    ck_assert_int_eq(sg_clockwork_active(24, 4), 4);
    ck_assert_int_eq(sg_clockwork_active(12, 4), 3);
    /* H = 6, 3 modules of 2 units, periods 1, 2, 4: over t = 0..7 module i changes only when 2^i | t */
    enum { CH = 6, CM = 3, CT = 8 };
    sg_clockwork_config cc = {CM};
    sg_rnn_config cfg = {.def = &sg_cell_clockwork, .input_size = D, .hidden_size = CH, .cell_data = &cc};
    sg_model *m = sg_model_new(SG_F64);
    sg_rnn *r = sg_rnn_new(m, NULL, &cfg);
    ck_assert_msg(r && sg_model_finalize(m, 3) == 0, "%s", sg_last_error());
    sg_tensor *x = tu_rand(SG_F64, 3, (int64_t[]){CT, 1, D}, -1, 1, 4, true);
    sg_rnn_out o;
    ck_assert_int_eq(sg_rnn_forward(r, x, NULL, NULL, NULL, &o), 0);
    for (int64_t t = 1; t < CT; t++)
        for (int64_t u = 0; u < CH; u++) {
            int mod = (int)(u / (CH / CM));
            double now = sg_get_flat(o.output, t * CH + u), before = sg_get_flat(o.output, (t - 1) * CH + u);
            if (t % (1 << mod)) ck_assert_msg(now == before, "t %lld unit %lld changed while its module sleeps",
                                              (long long)t, (long long)u);
            else ck_assert_msg(now != before, "t %lld unit %lld did not update", (long long)t, (long long)u);
        }
    /* the blocks below the diagonal (fast module read by a slower one) get exactly zero gradient */
    ck_assert_int_eq(sg_backward(sg_sum_all(o.output)), 0);
    sg_tensor *g = sg_grad(sg_rnn_param(r, "weight_hh", 0, 0));
    ck_assert_ptr_nonnull(g);
    int64_t K = CH / CM;
    double above = 0;
    for (int64_t row = 0; row < CH; row++)
        for (int64_t col = 0; col < CH; col++) {
            double v = sg_get_flat(g, row * CH + col);
            if (col / K < row / K) ck_assert_msg(v == 0, "dW_hh[%lld][%lld] = %g below the block diagonal",
                                                 (long long)row, (long long)col, v);
            else above += fabs(v);
        }
    ck_assert(above > 0);
    sg_tape_clear();
    sg_tensor_free(x);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

START_TEST(clockwork_bad_modules) {
    sg_clockwork_config cc = {3}; /* 3 does not divide H = 4 */
    sg_rnn_config cfg = {.def = &sg_cell_clockwork, .input_size = D, .hidden_size = H, .cell_data = &cc};
    sg_model *m = sg_model_new(SG_F64);
    ck_assert_ptr_nonnull(sg_rnn_new(m, NULL, &cfg));
    ck_assert_int_ne(sg_model_finalize(m, 1), 0);
    ck_assert_msg(strstr(sg_last_error(), "clockwork") && strstr(sg_last_error(), "divide"), "%s", sg_last_error());
    sg_clear_error();
    sg_model_free(m);
    tu_teardown();
}
END_TEST

/* one LN-LSTM step against its formula computed here in plain C */
static void layer_norm_ref(const double *x, int64_t n, const double *w, const double *b, double *y) {
    double mu = 0, var = 0;
    for (int64_t i = 0; i < n; i++) mu += x[i];
    mu /= (double)n;
    for (int64_t i = 0; i < n; i++) var += (x[i] - mu) * (x[i] - mu);
    var /= (double)n;
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mu) / sqrt(var + SG_LNLSTM_EPS) * w[i] + b[i];
}

static double sigm(double v) { return 1 / (1 + exp(-v)); }

START_TEST(lnlstm_step_formula) {
    sg_model *m = sg_model_new(SG_F64);
    sg_rnn_config cfg = {.def = &sg_cell_lnlstm, .input_size = D, .hidden_size = H};
    sg_rnn_cell *cell = sg_rnn_cell_new(m, NULL, &cfg);
    ck_assert_msg(cell && sg_model_finalize(m, 9) == 0, "%s", sg_last_error());
    for (int i = 0; i < sg_model_num_params(m); i++) { /* non-trivial gains and biases */
        sg_tensor *p = sg_model_param(m, i);
        for (int64_t j = 0; j < sg_numel(p); j++) sg_set_flat(p, j, sg_get_flat(p, j) + 0.2 * cos((double)(3 * j + i)));
    }
    sg_tensor *x = tu_rand(SG_F64, 2, (int64_t[]){B, D}, -1, 1, 1, false);
    sg_tensor *s[2] = {tu_rand(SG_F64, 2, (int64_t[]){B, H}, -1, 1, 2, false),
                       tu_rand(SG_F64, 2, (int64_t[]){B, H}, -1, 1, 3, false)};
    sg_tensor *so[2], *out;
    ck_assert_msg(sg_rnn_cell_step(cell, x, s, 0, so, &out) == 0, "%s", sg_last_error());
    const char *names[] = {"weight_ih", "weight_hh", "ln_i_weight", "ln_i_bias", "ln_h_weight", "ln_h_bias",
                           "ln_c_weight", "ln_c_bias"};
    double *pv[SG_LNLSTM_ROWS];
    for (int k = 0; k < SG_LNLSTM_ROWS; k++) {
        sg_tensor *p = sg_rnn_cell_param(cell, names[k]);
        ck_assert_ptr_nonnull(p);
        pv[k] = malloc((size_t)sg_numel(p) * sizeof(double));
        sg_to_buffer(p, pv[k], SG_F64);
    }
    for (int64_t b = 0; b < B; b++) {
        double xi[4 * H], hi[4 * H], gi[4 * H], gh[4 * H], craw[H], cn[H];
        for (int64_t r = 0; r < 4 * H; r++) {
            xi[r] = hi[r] = 0;
            for (int64_t d = 0; d < D; d++) xi[r] += pv[0][r * D + d] * sg_get_flat(x, b * D + d);
            for (int64_t k = 0; k < H; k++) hi[r] += pv[1][r * H + k] * sg_get_flat(s[0], b * H + k);
        }
        layer_norm_ref(xi, 4 * H, pv[2], pv[3], gi);
        layer_norm_ref(hi, 4 * H, pv[4], pv[5], gh);
        for (int64_t j = 0; j < H; j++) {
            double ig = sigm(gi[j] + gh[j]), fg = sigm(gi[H + j] + gh[H + j]), gg = tanh(gi[2 * H + j] + gh[2 * H + j]);
            craw[j] = fg * sg_get_flat(s[1], b * H + j) + ig * gg;
        }
        layer_norm_ref(craw, H, pv[6], pv[7], cn);
        for (int64_t j = 0; j < H; j++) {
            double og = sigm(gi[3 * H + j] + gh[3 * H + j]), hn = og * tanh(cn[j]);
            ck_assert_msg(fabs(sg_get_flat(so[1], b * H + j) - cn[j]) <= 1e-12, "c' row %lld unit %lld", (long long)b,
                          (long long)j);
            ck_assert_msg(fabs(sg_get_flat(so[0], b * H + j) - hn) <= 1e-12, "h' row %lld unit %lld", (long long)b,
                          (long long)j);
            ck_assert_msg(fabs(sg_get_flat(out, b * H + j) - hn) <= 1e-12, "output row %lld", (long long)b);
        }
    }
    for (int k = 0; k < SG_LNLSTM_ROWS; k++) free(pv[k]);
    sg_tape_clear();
    sg_tensor_free(x);
    sg_tensor_free(s[0]);
    sg_tensor_free(s[1]);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("cells");
    TCase *tc = tcase_create("gradcheck");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, grid_gradcheck, 0, GRID);
    suite_add_tcase(s, tc);
    tc = tcase_create("checks");
    tcase_add_test(tc, f32_matches_f64);
    tcase_add_test(tc, clockwork_schedule);
    tcase_add_test(tc, clockwork_bad_modules);
    tcase_add_test(tc, lnlstm_step_formula);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
