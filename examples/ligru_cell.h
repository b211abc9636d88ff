/* A recurrent cell seqgrad does not ship, written as a cell definition (nn/cell.h): the Light GRU
 * (Ravanelli, Brakel, Omologo and Bengio 2018; here without its batch norm), a GRU with no reset
 * gate and a ReLU candidate. The definition is data plus one step written with ops; the layer
 * driver gives it stacking, bidirectional, variable lengths, initial states, dropout and the one
 * input GEMM over all T. The tape differentiates it; no backward code is written here.
 *   z  = s(Wz x + bz + Uz h)
 *   h~ = relu(Wh x + bh + Uh h)
 *   h' = z (.) h + (1 - z) (.) h~
 * Gates G = 2: weight_ih (2H, D) holds Wz over Wh, bias_ih (2H) bz over bh, weight_hh (2H, H) Uz
 * over Uh, so one recurrent GEMM gives both gates. Header-only so the example
 * (examples/custom_cell.c) and its tests (tests/test_custom_cell.c) share one definition. The cells
 * seqgrad ships (nn/cells.h: sg_cell_mgu, sg_cell_lnlstm, ...) are written the same way. */
#ifndef LIGRU_CELL_H
#define LIGRU_CELL_H

#include "seqgrad.h"

/* rows of the parameter table, in declaration (state_dict) order */
enum { LIGRU_W_IH = 0, LIGRU_W_HH, LIGRU_B_IH };

/* xg (B, 2H) = [Wz x + bz | Wh x + bh] for this step, s[0] = h (B, H) -> s_out[0] = h' (B, H);
 * the output is h' (out left NULL). */
static inline int ligru_step(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xg, sg_tensor *const *s,
                             int64_t t, sg_tensor **s_out, sg_tensor **out) {
    (void)t, (void)out;
    int64_t H = c->H;
    sg_tensor *h = s[0];
    sg_tensor *a = sg_linear_add(h, p[LIGRU_W_HH], NULL, xg); /* (B, 2H): both gates, one GEMM */
    sg_tensor *z = sg_sigmoid(sg_narrow(a, 1, 0, H));
    sg_tensor *hc = sg_relu(sg_narrow(a, 1, H, H));
    s_out[0] = sg_add(hc, sg_mul(z, sg_sub(h, hc))); /* z h + (1 - z) h~ */
    return s_out[0] ? SG_OK : sg_last_status();
}

static const sg_cell_def ligru_cell = {
    .name = "ligru",
    .gates = 2,
    .states = {{"h", SG_CELL_H}},
    .params = {[LIGRU_W_IH] = {"weight_ih", 2, {SG_CELL_GH, SG_CELL_D}, SG_PARAM_INPUT_WEIGHT, 0, 0, 0},
               [LIGRU_W_HH] = {"weight_hh", 2, {SG_CELL_GH, SG_CELL_H}, SG_PARAM_PLAIN, 0, 0, 0},
               [LIGRU_B_IH] = {"bias_ih", 1, {SG_CELL_GH}, SG_PARAM_INPUT_BIAS, SG_CELL_OPT_BIAS, 0, 0}},
    .step = ligru_step,
};

#endif
