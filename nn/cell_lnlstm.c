/* The LayerNorm-LSTM as a cell definition (cells.h): PyTorch's benchmarks/fastrnns form, layer norms
 * on x W_ih^T (hoisted over all T), on h W_hh^T and on the new cell state before its tanh.
 * Composed from public ops (sg_linear, sg_layer_norm, sg_lnlstm_pointwise); no backward code here. */
#include "cells.h"

#include "rnn.h"

#define ONES SG_CELL_INIT_CONST, 1.0
#define ZEROS SG_CELL_INIT_ZEROS, 0.0

/* xp (T, B, 4H) = x W_ih^T -> LN_i(xp), every row at once */
static sg_tensor *lnlstm_hoist(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xp) {
    (void)c;
    return sg_layer_norm(xp, p[SG_LNLSTM_LN_I_W], p[SG_LNLSTM_LN_I_B], SG_LNLSTM_EPS);
}

/* xg (B, 4H) = LN_i(x W_ih^T) of this step, s = {h, c} (B, H) -> {h', c'} (B, H) */
static int lnlstm_step(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xg, sg_tensor *const *s, int64_t t,
                       sg_tensor **s_out, sg_tensor **out) {
    (void)c, (void)t, (void)out;
    sg_tensor *hg = sg_layer_norm(sg_linear(s[0], p[SG_LNLSTM_W_HH], NULL), p[SG_LNLSTM_LN_H_W],
                                  p[SG_LNLSTM_LN_H_B], SG_LNLSTM_EPS); /* (B, 4H) */
    /* the gates, c' = LN_c(s(f) c + s(i) tanh(g)) and h' = s(o) tanh(c') in one fused op */
    sg_tensor *hc = sg_lnlstm_pointwise(xg, hg, s[1], p[SG_LNLSTM_LN_C_W], p[SG_LNLSTM_LN_C_B], SG_LNLSTM_EPS);
    s_out[0] = sg_select(hc, 0, 0);
    s_out[1] = sg_select(hc, 0, 1);
    return s_out[0] && s_out[1] ? SG_OK : sg_last_status();
}

const sg_cell_def sg_cell_lnlstm = {
    .name = "lnlstm",
    .gates = 4,
    .states = {{"h", SG_CELL_H}, {"c", SG_CELL_H}},
    .params = {[SG_LNLSTM_W_IH] = {"weight_ih", 2, {SG_CELL_GH, SG_CELL_D}, SG_PARAM_INPUT_WEIGHT, 0, 0, 0},
               [SG_LNLSTM_W_HH] = {"weight_hh", 2, {SG_CELL_GH, SG_CELL_H}, SG_PARAM_PLAIN, 0, 0, 0},
               [SG_LNLSTM_LN_I_W] = {"ln_i_weight", 1, {SG_CELL_GH}, SG_PARAM_PLAIN, 0, ONES},
               [SG_LNLSTM_LN_I_B] = {"ln_i_bias", 1, {SG_CELL_GH}, SG_PARAM_PLAIN, 0, ZEROS},
               [SG_LNLSTM_LN_H_W] = {"ln_h_weight", 1, {SG_CELL_GH}, SG_PARAM_PLAIN, 0, ONES},
               [SG_LNLSTM_LN_H_B] = {"ln_h_bias", 1, {SG_CELL_GH}, SG_PARAM_PLAIN, 0, ZEROS},
               [SG_LNLSTM_LN_C_W] = {"ln_c_weight", 1, {SG_CELL_H}, SG_PARAM_PLAIN, 0, ONES},
               [SG_LNLSTM_LN_C_B] = {"ln_c_bias", 1, {SG_CELL_H}, SG_PARAM_PLAIN, 0, ZEROS}},
    .step = lnlstm_step,
    .hoist = lnlstm_hoist,
};
