/* Internal: the fused recurrent-layer op, one layer (one or both directions) of an RNN/LSTM/GRU run
 * by oneDNN's forward_training (or forward_inference under no-grad) primitive and differentiated
 * by oneDNN's backward primitive. It knows nothing of nn/: the layer driver (nn/rnn.c) describes
 * the layer with an sg_fused_desc and decides whether the op can serve; the op computes exactly
 * what the composed built-in definition (nn/rnn_cells.c) computes, in float32 and within rounding.
 * Deliberately not here: variable lengths, dropout, float64 (oneDNN 2.6 has none of them).
 *
 * Supported (oneDNN 2.6, one L=1 primitive per layer, bidirectional_concat for two directions):
 *   LSTM (vanilla_lstm), with peephole (_v2 weights) and projection (_v3 weights), also together;
 *   GRU in PyTorch's form (oneDNN's linear-before-reset GRU, 4 bias rows) and in the original form
 *   (oneDNN's vanilla GRU); RNN tanh and relu (vanilla_rnn); with or without bias, initial states
 *   and their gradients.
 * Parameters stay in PyTorch layout; the op maps them to oneDNN's (GRU gates r,z,n -> z,r,n, the
 * two biases summed except the lbr n-gate rows, transposes via reorders) and keeps the reordered
 * copies in a per-layer sg_fused_wcache, invalidated by the parameters' storage version.
 * Threads: oneDNN runs on the OpenMP team sized by sg_set_num_threads. Not installed. */
#ifndef SG_RNN_FUSED_IMPL_H
#define SG_RNN_FUSED_IMPL_H

#include <stddef.h>

#include "../tensor/tensor.h"
#include "rnn_fused.h"

/* The cell variants the op runs. */
typedef enum {
    SG_FUSED_RNN_TANH = 0,
    SG_FUSED_RNN_RELU,
    SG_FUSED_LSTM,
    SG_FUSED_GRU_LBR,          /* PyTorch's GRU (linear before reset) */
    SG_FUSED_GRU_RESET_BEFORE, /* the original GRU */
    SG_FUSED_ALG_COUNT
} sg_fused_alg;

/* One layer as the op sees it. H hidden, P = h's size (P < H only with LSTM projection). */
typedef struct {
    sg_fused_alg alg;
    int dirs;      /* 1 or 2 (bidirectional_concat) */
    int64_t H, P;
    bool bias;     /* b_ih and b_hh present */
    bool peephole; /* LSTM only */
} sg_fused_desc;

/* The parameters of one direction, PyTorch layout, in PyTorch's state_dict order (the built-in
 * definitions' rows use the same order); NULL where the layer has none. */
enum { SG_FUSED_W_IH = 0, SG_FUSED_W_HH, SG_FUSED_B_IH, SG_FUSED_B_HH, SG_FUSED_W_HR, SG_FUSED_W_CI, SG_FUSED_W_CF,
       SG_FUSED_W_CO, SG_FUSED_NPARAMS };
typedef struct {
    sg_tensor *w_ih, *w_hh, *b_ih, *b_hh, *w_hr, *w_ci, *w_cf, *w_co;
} sg_fused_dir_params;
/* The state_dict short names of the slots, for the driver's check against a definition's rows. */
extern const char *const sg_fused_param_names[SG_FUSED_NPARAMS];
/* Gate rows G of an algorithm (4 LSTM, 3 GRU, 1 RNN). */
int sg_fused_gates(sg_fused_alg alg);

/* Whether the op can run this layer with data of dtype dt (1), else 0 with a one-line reason
 * written to why (n bytes, may be NULL). Never records an error. */
int sg_fused_op_can_serve(const sg_fused_desc *d, sg_dtype dt, char *why, size_t n);

/* Cache of one layer's weights in oneDNN's layouts. Reference-counted: the layer owns one
 * reference (sg_fused_wcache_release when the layer dies), every recorded forward another (dropped
 * with its tape node). Rebuilt when a parameter's storage version changes (optimizer steps,
 * sg_set_flat, sg_mark_modified). Without oneDNN, _new returns NULL (no error). */
typedef struct sg_fused_wcache sg_fused_wcache;
sg_fused_wcache *sg_fused_wcache_new(void);
void sg_fused_wcache_release(sg_fused_wcache *c); /* NULL is a no-op */

/* One layer: x (T,B,Din) -> packed (N) with N = T*B*dirs*P + dirs*B*P [+ dirs*B*H for LSTM]:
 *   [ output (T,B,dirs*P) | h_n (dirs,B,P) | c_n (dirs,B,H), LSTM only ]  (row-major, flat)
 * h0 (dirs,B,P) and c0 (dirs,B,H, LSTM) may be NULL (zeros). p[dirs]: forward, then reverse.
 * wc: the layer's weight cache (NULL: a temporary one). Everything must be float32.
 * Records one node whose inputs are x, h0, c0 and every parameter: backward accumulates into
 * their gradients. Returns the tape-owned packed tensor, or NULL with SG_ERR_UNSUPPORTED (no
 * oneDNN, or a layer it cannot serve), SG_ERR_SHAPE/DTYPE/ARG for bad arguments. */
sg_tensor *sg_fused_layer(const sg_fused_desc *d, sg_tensor *x, sg_tensor *h0, sg_tensor *c0,
                          const sg_fused_dir_params *p, sg_fused_wcache *wc);

#endif
