/* The Minimal Gated Unit as a cell definition (cells.h): two gate blocks in the hoisted input
 * product, two recurrent products per step. Composed from public ops; no backward code here. */
#include "cells.h"

#include "rnn.h"

/* xg (B, 2H) = [Wf x + bf | Wh x + bh] of this step, s[0] = h (B, H) -> h' (B, H), the output */
static int mgu_step(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xg, sg_tensor *const *s, int64_t t,
                    sg_tensor **s_out, sg_tensor **out) {
    (void)t, (void)out;
    int64_t H = c->H;
    sg_tensor *h = s[0];
    sg_tensor *f = sg_sigmoid(sg_linear_add(h, p[SG_MGU_W_HF], NULL, sg_narrow(xg, 1, 0, H)));
    sg_tensor *ah = sg_linear_add(sg_mul(f, h), p[SG_MGU_W_HH], NULL, sg_narrow(xg, 1, H, H));
    s_out[0] = sg_gated_tanh_update(ah, f, h); /* (1 - f) h + f tanh(ah), one fused op */
    return s_out[0] ? SG_OK : sg_last_status();
}

const sg_cell_def sg_cell_mgu = {
    .name = "mgu",
    .gates = 2,
    .states = {{"h", SG_CELL_H}},
    .params = {[SG_MGU_W_IH] = {"weight_ih", 2, {SG_CELL_GH, SG_CELL_D}, SG_PARAM_INPUT_WEIGHT, 0, 0, 0},
               [SG_MGU_W_HF] = {"weight_hf", 2, {SG_CELL_H, SG_CELL_H}, SG_PARAM_PLAIN, 0, 0, 0},
               [SG_MGU_W_HH] = {"weight_hh", 2, {SG_CELL_H, SG_CELL_H}, SG_PARAM_PLAIN, 0, 0, 0},
               [SG_MGU_B_IH] = {"bias_ih", 1, {SG_CELL_GH}, SG_PARAM_INPUT_BIAS, SG_CELL_OPT_BIAS, 0, 0}},
    .step = mgu_step,
};
