/* Recurrent cells seqgrad ships as definitions (cell.h), beyond the built-in RNN/LSTM/GRU: the
 * LayerNorm-LSTM, the Minimal Gated Unit and the Clockwork RNN. Each runs on the one layer driver
 * (sg_rnn_new with sg_rnn_config.def = &sg_cell_...), so it gets stacking, bidirectional, ragged
 * lengths, initial states, inter-layer dropout, batch_first, concurrent directions and the one
 * input GEMM per layer and direction; sg_rnn_cell_new runs one step at a time. Not here: any
 * backward code (the tape differentiates the steps) or a fused oneDNN form (none exists).
 *
 * Shape letters as in cell.h: T steps, B batch, D the layer's input size, H hidden_size.
 * Parameters are named as the table rows below, with the layer's "_l{k}" / "_reverse" suffixes
 * (e.g. "lnlstm.ln_c_weight_l1_reverse"); rows are in state_dict order. Every weight starts at
 * PyTorch's recurrent default uniform(-1/sqrt(H), 1/sqrt(H)); layer-norm gains at 1, their
 * biases at 0 (torch.nn.LayerNorm's defaults). None of these cells takes proj_size or peephole. */
#ifndef SG_CELLS_H
#define SG_CELLS_H

#include "cell.h"

#ifdef __cplusplus
extern "C" {
#endif

/** LayerNorm-LSTM (Ba, Kiros and Hinton 2016) in the form of PyTorch's
 *  benchmarks/fastrnns LayerNormLSTMCell. Gates i, f, g, o (G = 4), states h (H) and c (H):
 *    gates = LN_i(x W_ih^T) + LN_h(h W_hh^T)         (LN over the 4H gate columns, affine)
 *    c~ = s(f) (.) c + s(i) (.) tanh(g),   c' = LN_c(c~)   (LN over H, affine)
 *    h' = s(o) (.) tanh(c'),   output h'.
 *  There are no other biases (the layer norms' carry them; no_bias changes nothing). LN_i is
 *  hoisted: it runs once over all T steps of x W_ih^T, like the input GEMM. eps = 1e-5.
 *  Rows: weight_ih (4H, D), weight_hh (4H, H), ln_i_weight, ln_i_bias (4H), ln_h_weight,
 *  ln_h_bias (4H), ln_c_weight, ln_c_bias (H) (enum sg_lnlstm_row). */
extern const sg_cell_def sg_cell_lnlstm;
/** Row indices of sg_cell_lnlstm's parameter table (also the step's p[] indices). */
enum sg_lnlstm_row {
    SG_LNLSTM_W_IH = 0,
    SG_LNLSTM_W_HH,
    SG_LNLSTM_LN_I_W,
    SG_LNLSTM_LN_I_B,
    SG_LNLSTM_LN_H_W,
    SG_LNLSTM_LN_H_B,
    SG_LNLSTM_LN_C_W,
    SG_LNLSTM_LN_C_B,
    SG_LNLSTM_ROWS
};
/** The layer norms' epsilon (torch.nn.LayerNorm's default). */
#define SG_LNLSTM_EPS 1e-5

/** Minimal Gated Unit (Zhou, Wu, Zhang and Zhou 2016). G = 2 (f, then the candidate), state h (H):
 *    f = s(Wf x + bf + Uf h),   h~ = tanh(Wh x + bh + Uh (f (.) h)),   h' = (1 - f) (.) h + f (.) h~.
 *  Rows: weight_ih (2H, D) = [Wf; Wh], weight_hf (H, H) = Uf, weight_hh (H, H) = Uh, bias_ih (2H)
 *  (absent with no_bias) (enum sg_mgu_row). */
extern const sg_cell_def sg_cell_mgu;
/** Row indices of sg_cell_mgu's parameter table. */
enum sg_mgu_row { SG_MGU_W_IH = 0, SG_MGU_W_HF, SG_MGU_W_HH, SG_MGU_B_IH, SG_MGU_ROWS };

/** Clockwork RNN (Koutník, Greff, Gomez and Schmidhuber 2014). The H hidden units form M equal
 *  modules (H/M units each) with periods 1, 2, 4, ..., 2^(M-1). At step t (the time index the
 *  driver passes: 0..T-1, also in the reverse direction) module i updates only if its period
 *  divides t; the others keep their state. Module i reads the modules at least as slow as itself
 *  (weight_hh is block upper triangular; the blocks below the diagonal are never used and get
 *  zero gradient). Since the periods are powers of two, the updating modules are always the first
 *  a = 1 + (number of trailing zero bits of t, at most M-1) modules (all of them at t = 0):
 *    h'[:, :aK] = tanh(x Wi[:aK]^T + b_ih[:aK] + h (Wh (.) mask)[:aK]^T + b_hh[:aK]),
 *    h'[:, aK:] = h[:, aK:]        (K = H/M units per module),   output h'.
 *  G = 1, state h (H). Rows: weight_ih (H, D), weight_hh (H, H), bias_ih (H), bias_hh (H) (biases
 *  absent with no_bias). M comes from sg_rnn_config.cell_data pointing to an sg_clockwork_config;
 *  NULL means SG_CLOCKWORK_DEFAULT_MODULES. H must be a multiple of M: sg_model_finalize and
 *  sg_rnn_forward fail with SG_ERR_ARG naming the cell otherwise. */
extern const sg_cell_def sg_cell_clockwork;
/** Row indices of sg_cell_clockwork's parameter table. */
enum sg_clockwork_row { SG_CW_W_IH = 0, SG_CW_W_HH, SG_CW_B_IH, SG_CW_B_HH, SG_CW_ROWS };
/** Options of sg_cell_clockwork (sg_rnn_config.cell_data; borrowed, must outlive the layer). */
typedef struct {
    int modules; /**< M >= 1, with H % M == 0; at most SG_CLOCKWORK_MAX_MODULES */
} sg_clockwork_config;
/** Module count when cell_data is NULL, and the largest allowed. */
enum { SG_CLOCKWORK_DEFAULT_MODULES = 4, SG_CLOCKWORK_MAX_MODULES = 32 };

/** Number of Clockwork modules that update at step t out of M: 1 + trailing zeros of t, capped at
 *  M (M for t = 0). */
int sg_clockwork_active(int64_t t, int modules);

#ifdef __cplusplus
}
#endif

#endif
