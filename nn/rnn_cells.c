/* The built-in cells as definitions (cell.h): RNN tanh/relu, LSTM (with peephole and
 * projection) and GRU in PyTorch's and the original form. Each parameter list is written once,
 * here, in PyTorch's state_dict order; the layer driver (rnn.c), the one-step cells (rnn_cell.c)
 * and the fused oneDNN mapping (rnn.c: fused_params) all read these tables.
 * Deliberately no hand-written backward: the tape differentiates the steps. */
#include <math.h>
#include <string.h>

#include "rnn.h"

/* Row indices of the built-in tables (the fused op's SG_FUSED_* slots use the same order). */
enum { W_IH = 0, W_HH, B_IH, B_HH, W_HR, W_CI, W_CF, W_CO };
/* GRU reset-before: row blocks of w_hh / b_hh made once per forward by gru_rb_prepare */
enum { GRU_ROWS = 4, W_HH_RZ = GRU_ROWS, W_HH_N, B_HH_RZ, B_HH_N };

#define ROW_W_IH {"weight_ih", 2, {SG_CELL_GH, SG_CELL_D}, SG_PARAM_INPUT_WEIGHT, 0, 0, 0}
#define ROW_W_HH {"weight_hh", 2, {SG_CELL_GH, SG_CELL_P}, SG_PARAM_PLAIN, 0, 0, 0}
#define ROW_B_IH {"bias_ih", 1, {SG_CELL_GH}, SG_PARAM_INPUT_BIAS, SG_CELL_OPT_BIAS, 0, 0}
#define ROW_B_HH {"bias_hh", 1, {SG_CELL_GH}, SG_PARAM_PLAIN, SG_CELL_OPT_BIAS, 0, 0}
#define ROWS_COMMON ROW_W_IH, ROW_W_HH, ROW_B_IH, ROW_B_HH

/* gate k of a (B, G*H) tensor: a (B, H) view */
static sg_tensor *gate(sg_tensor *g, int k, int64_t H) { return sg_narrow(g, 1, k * H, H); }

/* state k (h' or c') of the (2, B, H) result of sg_lstm_pointwise, as a contiguous (B, H) view */
static sg_tensor *packed_state(sg_tensor *hc, int k) { return sg_squeeze(sg_narrow(hc, 0, k, 1), 0); }

static int done(sg_tensor *const *s_out, int n) {
    for (int k = 0; k < n; k++)
        if (!s_out[k]) return sg_last_status();
    return SG_OK;
}

/* ---- RNN: h' = act(W x + b_ih + U h + b_hh) ---- */

static int rnn_tanh_step(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xg, sg_tensor *const *s, int64_t t,
                         sg_tensor **s_out, sg_tensor **out) {
    (void)c, (void)t, (void)out;
    s_out[0] = sg_tanh(sg_linear_add(s[0], p[W_HH], p[B_HH], xg));
    return done(s_out, 1);
}

static int rnn_relu_step(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xg, sg_tensor *const *s, int64_t t,
                         sg_tensor **s_out, sg_tensor **out) {
    (void)c, (void)t, (void)out;
    s_out[0] = sg_relu(sg_linear_add(s[0], p[W_HH], p[B_HH], xg));
    return done(s_out, 1);
}

const sg_cell_def sg_cell_rnn_tanh = {
    .name = "rnn_tanh", .gates = 1, .states = {{"h", SG_CELL_P}}, .params = {ROWS_COMMON}, .step = rnn_tanh_step};
const sg_cell_def sg_cell_rnn_relu = {
    .name = "rnn_relu", .gates = 1, .states = {{"h", SG_CELL_P}}, .params = {ROWS_COMMON}, .step = rnn_relu_step};

/* ---- LSTM, gates i, f, g, o ---- */

static int lstm_step(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xg, sg_tensor *const *s, int64_t t,
                     sg_tensor **s_out, sg_tensor **out) {
    (void)t, (void)out;
    int64_t H = c->H;
    sg_tensor *h = s[0], *cs = s[1];
    if (!p[W_CI]) { /* the fused pointwise op: same formula as below, one pass */
        sg_tensor *hc = sg_lstm_pointwise(sg_linear_add(h, p[W_HH], p[B_HH], xg), NULL, cs);
        sg_tensor *hn = packed_state(hc, 0);
        s_out[1] = packed_state(hc, 1);
        s_out[0] = p[W_HR] ? sg_linear(hn, p[W_HR], NULL) : hn;
        return done(s_out, 2);
    }
    sg_tensor *g = sg_add(xg, sg_linear(h, p[W_HH], p[B_HH])); /* (B, 4H) */
    sg_tensor *gi = sg_add(gate(g, 0, H), sg_mul(cs, p[W_CI]));
    sg_tensor *gf = sg_add(gate(g, 1, H), sg_mul(cs, p[W_CF]));
    sg_tensor *cn = sg_add(sg_mul(sg_sigmoid(gf), cs), sg_mul(sg_sigmoid(gi), sg_tanh(gate(g, 2, H))));
    sg_tensor *go = sg_add(gate(g, 3, H), sg_mul(cn, p[W_CO]));
    sg_tensor *hn = sg_mul(sg_sigmoid(go), sg_tanh(cn));
    s_out[0] = p[W_HR] ? sg_linear(hn, p[W_HR], NULL) : hn;
    s_out[1] = cn;
    return done(s_out, 2);
}

/* set_forget_bias: bias_ih's f-block = forget_bias, bias_hh's = 0 (f is rows [H, 2H)) */
static int lstm_after_init(const sg_cell_ctx *c, sg_tensor *const *p) {
    if (!c->cfg->set_forget_bias || !p[B_IH]) return SG_OK;
    for (int64_t j = c->H; j < 2 * c->H; j++) {
        sg_set_flat(p[B_IH], j, c->cfg->forget_bias);
        sg_set_flat(p[B_HH], j, 0.0);
    }
    return SG_OK;
}

const sg_cell_def sg_cell_lstm = {
    .name = "lstm",
    .gates = 4,
    .states = {{"h", SG_CELL_P}, {"c", SG_CELL_H}},
    .params = {ROWS_COMMON,
               {"weight_hr", 2, {SG_CELL_P, SG_CELL_H}, SG_PARAM_PLAIN, SG_CELL_OPT_PROJ, 0, 0},
               {"weight_ci", 1, {SG_CELL_H}, SG_PARAM_PLAIN, SG_CELL_OPT_PEEPHOLE, 0, 0},
               {"weight_cf", 1, {SG_CELL_H}, SG_PARAM_PLAIN, SG_CELL_OPT_PEEPHOLE, 0, 0},
               {"weight_co", 1, {SG_CELL_H}, SG_PARAM_PLAIN, SG_CELL_OPT_PEEPHOLE, 0, 0}},
    .allows = SG_CELL_OPT_PROJ | SG_CELL_OPT_PEEPHOLE,
    .step = lstm_step,
    .after_init = lstm_after_init,
};

/* ---- GRU, gates r, z, n ---- */

/* PyTorch's form (linear before reset), one fused pointwise op */
static int gru_step(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xg, sg_tensor *const *s, int64_t t,
                    sg_tensor **s_out, sg_tensor **out) {
    (void)c, (void)t, (void)out;
    s_out[0] = sg_gru_pointwise(xg, sg_linear(s[0], p[W_HH], p[B_HH]), s[0]);
    return done(s_out, 1);
}

static int gru_rb_prepare(const sg_cell_ctx *c, sg_tensor **p) {
    int64_t H = c->H;
    p[W_HH_RZ] = sg_narrow(p[W_HH], 0, 0, 2 * H);
    p[W_HH_N] = sg_narrow(p[W_HH], 0, 2 * H, H);
    if (p[B_HH]) {
        p[B_HH_RZ] = sg_narrow(p[B_HH], 0, 0, 2 * H);
        p[B_HH_N] = sg_narrow(p[B_HH], 0, 2 * H, H);
        if (!p[B_HH_RZ] || !p[B_HH_N]) return sg_last_status();
    }
    return p[W_HH_RZ] && p[W_HH_N] ? SG_OK : sg_last_status();
}

/* the original form: n = tanh(Wn x + b_in + Un (r (.) h) + b_hn) */
static int gru_rb_step(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xg, sg_tensor *const *s, int64_t t,
                       sg_tensor **s_out, sg_tensor **out) {
    (void)t, (void)out;
    int64_t H = c->H;
    sg_tensor *h = s[0];
    sg_tensor *hg = sg_linear(h, p[W_HH_RZ], p[B_HH_RZ]); /* (B, 2H) */
    sg_tensor *r = sg_sigmoid(sg_add(gate(xg, 0, H), gate(hg, 0, H)));
    sg_tensor *z = sg_sigmoid(sg_add(gate(xg, 1, H), gate(hg, 1, H)));
    sg_tensor *n = sg_tanh(sg_add(gate(xg, 2, H), sg_linear(sg_mul(r, h), p[W_HH_N], p[B_HH_N])));
    s_out[0] = sg_add(n, sg_mul(z, sg_sub(h, n))); /* (1 - z) n + z h */
    return done(s_out, 1);
}

const sg_cell_def sg_cell_gru = {
    .name = "gru", .gates = 3, .states = {{"h", SG_CELL_P}}, .params = {ROWS_COMMON}, .step = gru_step};
const sg_cell_def sg_cell_gru_reset_before = {.name = "gru_reset_before",
                                              .gates = 3,
                                              .states = {{"h", SG_CELL_P}},
                                              .params = {ROWS_COMMON},
                                              .step = gru_rb_step,
                                              .prepare = gru_rb_prepare};

/* ---- the table of built-in kinds ---- */

const sg_cell_def *sg_rnn_config_def(const sg_rnn_config *cfg) {
    if (!cfg) {
        sg_set_error(SG_ERR_NULL, "sg_rnn_config_def: argument 'cfg' is NULL");
        return NULL;
    }
    if (cfg->def) return cfg->def;
    switch (cfg->cell) {
    case SG_CELL_RNN_TANH: return &sg_cell_rnn_tanh;
    case SG_CELL_RNN_RELU: return &sg_cell_rnn_relu;
    case SG_CELL_LSTM: return &sg_cell_lstm;
    case SG_CELL_GRU: return cfg->gru_reset_before ? &sg_cell_gru_reset_before : &sg_cell_gru;
    default: break;
    }
    sg_set_error(SG_ERR_ARG, "invalid cell kind %d", (int)cfg->cell);
    return NULL;
}
