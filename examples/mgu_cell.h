/* A recurrent cell seqgrad does not ship, written as a cell definition (nn/cell.h): the Minimal
 * Gated Unit (Zhou et al., 2016). The definition is data plus one step written with ops; the layer
 * driver gives it stacking, bidirectional, variable lengths, initial states, dropout and the one
 * input GEMM over all T. The tape differentiates it; no backward code is written here.
 *   f  = s(Wf x + bf + Uf h)
 *   h~ = tanh(Wh x + bh + Uh (f (.) h))
 *   h' = (1 - f) (.) h + f (.) h~
 * Gates G = 2: weight_ih (2H, D) holds Wf over Wh, bias_ih (2H) bf over bh; weight_hf, weight_hh
 * (H, H) are Uf and Uh. Header-only so the example (examples/custom_cell.c) and its tests
 * (tests/test_custom_cell.c) share one definition.
 * NOTE for the library: this definition is the one to ship as seqgrad's public MGU (helper
 * `cellsperf` owns that move); when it is public, this header should just refer to it. */
#ifndef MGU_CELL_H
#define MGU_CELL_H

#include "seqgrad.h"

/* rows of the parameter table, in declaration (state_dict) order */
enum { MGU_W_IH = 0, MGU_W_HF, MGU_W_HH, MGU_B_IH };

/* xg (B, 2H) = [Wf x + bf | Wh x + bh] for this step, s[0] = h (B, H) -> s_out[0] = h' (B, H);
 * the output is h' (out left NULL). */
static inline int mgu_step(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xg, sg_tensor *const *s, int64_t t,
                           sg_tensor **s_out, sg_tensor **out) {
    (void)t, (void)out;
    int64_t H = c->H;
    sg_tensor *h = s[0];
    sg_tensor *f = sg_sigmoid(sg_linear_add(h, p[MGU_W_HF], NULL, sg_narrow(xg, 1, 0, H)));
    sg_tensor *hh = sg_tanh(sg_linear_add(sg_mul(f, h), p[MGU_W_HH], NULL, sg_narrow(xg, 1, H, H)));
    s_out[0] = sg_add(h, sg_mul(f, sg_sub(hh, h)));
    return s_out[0] ? SG_OK : sg_last_status();
}

static const sg_cell_def mgu_cell = {
    .name = "mgu",
    .gates = 2,
    .states = {{"h", SG_CELL_H}},
    .params = {[MGU_W_IH] = {"weight_ih", 2, {SG_CELL_GH, SG_CELL_D}, SG_PARAM_INPUT_WEIGHT, 0, 0, 0},
               [MGU_W_HF] = {"weight_hf", 2, {SG_CELL_H, SG_CELL_H}, SG_PARAM_PLAIN, 0, 0, 0},
               [MGU_W_HH] = {"weight_hh", 2, {SG_CELL_H, SG_CELL_H}, SG_PARAM_PLAIN, 0, 0, 0},
               [MGU_B_IH] = {"bias_ih", 1, {SG_CELL_GH}, SG_PARAM_INPUT_BIAS, SG_CELL_OPT_BIAS, 0, 0}},
    .step = mgu_step,
};

#endif
