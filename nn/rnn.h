/** @file
 * Recurrent cells and layers composed from seqgrad's primitive ops: the built-in kinds (RNN
 * tanh/relu, LSTM, GRU) and any cell definition (nn/cell.h, cfg.def), all run by one layer
 * driver. The built-in kinds have PyTorch's shapes, parameter names, gate order and
 * initialisation, so weights move between seqgrad and torch.nn.{RNN,LSTM,GRU} /
 * {RNN,LSTM,GRU}Cell unchanged; a definition's names come from its parameter table with the same
 * "_l{k}" / "_reverse" suffixes.
 *
 * Shapes (time-major default): T steps, B batch, D input_size, H hidden_size,
 * P = proj_size if set else H (the size of h), dirs = 2 if bidirectional else 1, L = num_layers.
 *   x       (T, B, D)            or (B, T, D) with batch_first
 *   h0      (L*dirs, B, P)       optional; zeros when NULL. Index 2*l+d, d = 1 the reverse direction.
 *   c0      (L*dirs, B, H)       LSTM only, optional
 *   output  (T, B, dirs*P)       or (B, T, dirs*P) with batch_first (a view, see sg_contiguous)
 *   h_n     (L*dirs, B, P)       always batch-second, also with batch_first (as in PyTorch)
 *   c_n     (L*dirs, B, H)       LSTM only
 * Gates, PyTorch order: LSTM i, f, g, o (weight_ih (4H, D)); GRU r, z, n (weight_ih (3H, D)).
 *   LSTM: i = s(Wi x + bi + Ui h + ci (.) c*), f likewise, g = tanh(..), o = s(.. + co (.) c'),
 *         c' = f (.) c + i (.) g, h' = o (.) tanh(c'), then h' = W_hr h' with proj_size.
 *         (* peephole terms only with peephole; c is the previous cell state, c' the new one.)
 *   GRU (PyTorch, "linear before reset"): r = s(Wr x + br + Ur h + b_hr), z likewise,
 *         n = tanh(Wn x + b_in + r (.) (Un h + b_hn)), h' = (1 - z) (.) n + z (.) h.
 *   GRU original (Cho et al. 2014, gru_reset_before): n = tanh(Wn x + b_in + Un (r (.) h) + b_hn).
 *   RNN: h' = act(W x + b_ih + U h + b_hh), act tanh or relu.
 * Parameter names: weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}, weight_hr_l{k}
 * (proj), weight_ci/cf/co_l{k} (peephole, seqgrad-only, shape (H)), with suffix "_reverse" for the
 * reverse direction, in PyTorch's order; cells drop the "_l{k}". With a prefix: "<prefix>.<name>".
 * Initialisation: every parameter uniform(-1/sqrt(H), 1/sqrt(H)) like PyTorch.
 *
 * Variable-length batches: lengths[B] (any order, each in [1, T]). Outputs at t >= lengths[b] are
 * zero; h_n/c_n hold each sequence's state after its last valid step; the reverse direction runs
 * from lengths[b]-1 down to 0; padded inputs receive exactly zero gradient.
 * The input-to-hidden product of all T steps is one GEMM per layer and direction; only the
 * hidden-to-hidden product runs inside the time loop.
 * Truncated BPTT: pass sg_copy(h_n) (user-owned, no history) as the next chunk's h0, or
 * sg_detach(h_n) within one tape.
 *
 * Ownership: cells and layers are owned by their model (nn/model.h). Outputs are tape-owned. */
#ifndef SG_RNN_H
#define SG_RNN_H

#include "../ops/ops.h"
#include "cell.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Recurrent cell of a layer (gate order and equations as PyTorch's): RNN_TANH, RNN_RELU (Elman),
 * LSTM, GRU; SG_CELL_COUNT is the number of kinds. */
typedef enum { SG_CELL_RNN_TANH = 0, SG_CELL_RNN_RELU, SG_CELL_LSTM, SG_CELL_GRU, SG_CELL_COUNT } sg_cell_kind;

/** Which implementation runs a layer: the composed graph of ops (the definition), oneDNN's fused
 * primitive (ops/rnn_fused.h), or AUTO: oneDNN where it computes the same thing (float32, equal
 * lengths, no inter-layer dropout while training; see sg_fused_can_serve), else composed. With the
 * environment variable SEQGRAD_DEBUG set, AUTO prints one line to stderr when a layer falls back
 * ("seqgrad: layer '<prefix>' uses composed: <why>", once per layer and reason). ONEDNN where it
 * cannot serve makes sg_rnn_forward fail with SG_ERR_UNSUPPORTED and the reason; never a silent
 * fallback. Built without oneDNN, AUTO means composed. Cells always run composed. */
typedef enum { SG_BACKEND_DEFAULT = 0, SG_BACKEND_AUTO, SG_BACKEND_COMPOSED, SG_BACKEND_ONEDNN } sg_backend;

/** A layer's configuration. A zero-initialised config means PyTorch's defaults (bias on, 1 layer,
 * unidirectional). def: a cell definition (nn/cell.h) to run instead of the built-in kind `cell`
 * (which is then ignored); cell_data is passed to its hooks (sg_cell_ctx.data), borrowed. */
typedef struct sg_rnn_config {
    sg_cell_kind cell;   /**< the built-in cell (ignored with def) */
    int64_t input_size;  /**< D >= 1 */
    int64_t hidden_size; /**< H >= 1 */
    int num_layers;      /**< L; 0 means 1 */
    bool bidirectional;  /**< a reverse direction too (outputs concatenated) */
    bool no_bias;        /**< PyTorch bias=False */
    double dropout;      /**< between layers, training only, in [0, 1) */
    bool batch_first;    /**< x and output are (B, T, ...) instead of (T, B, ...) */
    int64_t proj_size;   /**< LSTM only: 0 (none) or in [1, H) */
    bool peephole;       /**< LSTM only */
    bool gru_reset_before; /**< GRU only: original Cho et al. form */
    bool set_forget_bias;  /**< LSTM only: bias_ih f-block = forget_bias, bias_hh f-block = 0 */
    double forget_bias;  /**< with set_forget_bias */
    sg_backend backend;  /**< SG_BACKEND_DEFAULT: the process-wide default (sg_rnn_set_default_backend) */
    const sg_cell_def *def; /**< NULL: the built-in kind `cell`; else borrowed, must outlive the layer */
    const void *cell_data;  /**< borrowed, handed to def's hooks */
} sg_rnn_config;

/** The definition a configuration runs: cfg->def, or the built-in definition of cfg->cell (and
 *  gru_reset_before). NULL (with SG_ERR_NULL / SG_ERR_ARG) for a NULL config or an unknown kind. */
const sg_cell_def *sg_rnn_config_def(const sg_rnn_config *cfg);

/* ---- cells: one step, for custom loops ---- */
/** One cell for custom loops (PyTorch nn.LSTMCell etc.), opaque; owned and freed by its model. */
typedef struct sg_rnn_cell sg_rnn_cell;
/** num_layers, bidirectional, dropout, batch_first and backend must be left at their defaults. */
sg_rnn_cell *sg_rnn_cell_new(sg_model *m, const char *prefix, const sg_rnn_config *cfg);
/** x (B, D); h (B, P) or NULL for zeros; c (B, H) or NULL (LSTM only). Writes tape-owned h_out
 * (B, P) and, for LSTM, c_out (B, H) (c_out may be NULL otherwise). Returns 0 or a status. */
int sg_rnn_cell_forward(sg_rnn_cell *cell, sg_tensor *x, sg_tensor *h, sg_tensor *c, sg_tensor **h_out,
                        sg_tensor **c_out);
/** One step of any definition: x (B, D); s[k] (B, size_k) for each of the cell's states, or NULL
 *  (s itself may be NULL) for zeros; t the time index handed to the step. Writes tape-owned
 *  s_out[k] for every state and, if out is not NULL, the step's output (B, P). Returns 0 or a
 *  status (a step returning a wrong shape: SG_ERR_SHAPE naming the cell). */
int sg_rnn_cell_step(sg_rnn_cell *cell, sg_tensor *x, sg_tensor *const *s, int64_t t, sg_tensor **s_out,
                     sg_tensor **out);
/** Parameter of a cell by short name (a row of its definition's table), or NULL. Borrowed. */
sg_tensor *sg_rnn_cell_param(const sg_rnn_cell *cell, const char *name);

/* ---- layers: whole sequences, stacked and bidirectional ---- */
/** A recurrent layer stack over whole sequences (PyTorch nn.RNN/LSTM/GRU), opaque; owned and freed
 * by its model. */
typedef struct sg_rnn sg_rnn;
/** What sg_rnn_forward() returns: tape-owned tensors, as PyTorch's (output, (h_n, c_n)). */
typedef struct {
    sg_tensor *output; /**< (T, B, dirs * P) last layer's outputs ((B, T, ...) with batch_first) */
    sg_tensor *h_n;    /**< (L * dirs, B, P) final hidden states (state 0) */
    sg_tensor *c_n;    /**< state 1 (LSTM's c, (L * dirs, B, H)); NULL for one-state cells */
    sg_tensor *states[SG_CELL_MAX_STATES]; /**< every final state k (L*dirs, B, size_k); [0] = h_n, [1] = c_n */
} sg_rnn_out;

/** New layer stack on model m (before sg_model_finalize()), declaring PyTorch's parameters under
 * prefix ("prefix.weight_ih_l0", ...). NULL with an error naming the bad config field. */
sg_rnn *sg_rnn_new(sg_model *m, const char *prefix, const sg_rnn_config *cfg);
/** lengths NULL: every sequence has T steps. h0, c0 may be NULL. On error returns a negative status
 * and leaves out zeroed. */
int sg_rnn_forward(sg_rnn *r, sg_tensor *x, const int64_t *lengths, sg_tensor *h0, sg_tensor *c0,
                   sg_rnn_out *out);
/** Whether the fused oneDNN backend computes the same thing as the composed layer for this
 *  configuration: model dtype dt, ragged = the batch has sequences shorter than T, training = the
 *  model is in training mode (inter-layer dropout active). Only the built-in kinds have a fused
 *  form. Returns 1 if it can, else 0 with a one-line reason written to why (n bytes, may be NULL).
 *  Never records an error. */
int sg_fused_can_serve(const sg_rnn_config *cfg, sg_dtype dt, bool ragged, bool training, char *why, size_t n);
/** Like sg_rnn_forward for a cell of any number of states: s0[k] (L*dirs, B, size_k) or NULL for
 *  zeros (s0 itself may be NULL). Fills out->states (and h_n, c_n). */
int sg_rnn_forward_states(sg_rnn *r, sg_tensor *x, const int64_t *lengths, sg_tensor *const *s0, sg_rnn_out *out);
/** The backend that ran the layer's last successful forward (SG_BACKEND_COMPOSED or
 *  SG_BACKEND_ONEDNN; SG_BACKEND_DEFAULT before the first one) and, if why is not NULL, a
 *  borrowed one-line reason valid until the next forward ("variable-length batch ...",
 *  "forced by backend composed", "user-defined cell 'mgu' has no fused implementation"). */
sg_backend sg_rnn_last_backend(const sg_rnn *r, const char **why);
/** The layer's configuration (borrowed), or NULL for NULL r. */
const sg_rnn_config *sg_rnn_get_config(const sg_rnn *r);
/** Parameter of layer l, direction d (0 forward, 1 reverse), by short name ("weight_ih", ...), or NULL. */
sg_tensor *sg_rnn_param(const sg_rnn *r, const char *name, int layer, int dir);
/** Backend for this layer (replaces the config's; SG_BACKEND_DEFAULT: the process-wide default). */
int sg_rnn_set_backend(sg_rnn *r, sg_backend b);

/** Process-wide default backend, used by layers whose backend is SG_BACKEND_DEFAULT. It starts as
 * the environment variable SEQGRAD_BACKEND (auto|composed|onednn; empty or unset: AUTO; another
 * value: AUTO with a warning on stderr), read at first use. Setting SG_BACKEND_DEFAULT forgets the
 * current choice so the variable is read again at the next use. */
int sg_rnn_set_default_backend(sg_backend b);
/** The process-wide default backend now (never SG_BACKEND_DEFAULT). */
sg_backend sg_rnn_default_backend(void);
/** "auto", "composed", "onednn", or "default" for SG_BACKEND_DEFAULT and any other value (static). */
const char *sg_backend_name(sg_backend b);
/** Parses "auto", "composed", "onednn"; returns SG_BACKEND_DEFAULT (and an error) otherwise. */
sg_backend sg_backend_parse(const char *s);

#ifdef __cplusplus
}
#endif

#endif
