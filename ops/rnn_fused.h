/* The fused recurrent-layer op: one layer (one or both directions) of an RNN/LSTM/GRU run by
 * oneDNN's forward_training (or forward_inference under no-grad) primitive, differentiated by
 * oneDNN's backward primitive. nn/rnn.c chooses it per layer; it computes exactly what the composed
 * layer (nn/rnn_cell.c, the definition) computes, in float32 and within rounding.
 * Deliberately not here: variable lengths, dropout, float64 (oneDNN 2.6 has none of them).
 *
 * Supported (oneDNN 2.6, one L=1 primitive per layer, bidirectional_concat for two directions):
 *   LSTM (vanilla_lstm), with peephole (_v2 weights) and projection (_v3 weights), also together;
 *   GRU in PyTorch's form (oneDNN's linear-before-reset GRU, 4 bias rows) and in the original form
 *   (gru_reset_before: oneDNN's vanilla GRU); RNN tanh and relu (vanilla_rnn);
 *   with or without bias, initial states and their gradients.
 * Parameters stay in PyTorch layout; the op maps them to oneDNN's (GRU gates r,z,n -> z,r,n, the
 * two biases summed except the lbr n-gate rows, transposes via reorders) and keeps the reordered
 * copies in a per-layer sg_fused_wcache, invalidated by the parameters' storage version.
 *
 * Threads: oneDNN runs on the OpenMP team sized by sg_set_num_threads. Primitive executions are
 * serialised by one process-wide lock (the op may be called from several threads, one tape each). */
#ifndef SG_RNN_FUSED_H
#define SG_RNN_FUSED_H

#include "../nn/rnn.h"

/* True when this build has the oneDNN backend (SEQGRAD_HAVE_DNNL). */
bool sg_fused_available(void);

/* Whether the fused op computes the same thing as the composed layer for this configuration:
 * model dtype dt, ragged = the batch has sequences shorter than T, training = the model is in
 * training mode (inter-layer dropout active). Returns 1 if it can, else 0 with a one-line reason
 * written to why (n bytes, may be NULL). Never records an error. */
int sg_fused_can_serve(const sg_rnn_config *cfg, sg_dtype dt, bool ragged, bool training, char *why, size_t n);

/* The parameters of one direction of one layer, PyTorch layout (see nn/rnn.h); NULL where the
 * configuration has none (biases with no_bias, w_hr without proj_size, w_c* without peephole). */
typedef struct {
    sg_tensor *w_ih, *w_hh, *b_ih, *b_hh, *w_hr, *w_ci, *w_cf, *w_co;
} sg_fused_dir_params;

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
 * cfg gives cell, hidden_size, proj_size, peephole, gru_reset_before, bidirectional, no_bias
 * (num_layers, dropout, batch_first, backend are ignored: this is one layer, time-major).
 * wc: the layer's weight cache (NULL: a temporary one). Everything must be float32.
 * Records one node whose inputs are x, h0, c0 and every parameter: backward accumulates into
 * their gradients. Returns the tape-owned packed tensor, or NULL with SG_ERR_UNSUPPORTED (no
 * oneDNN, or a configuration it cannot serve), SG_ERR_SHAPE/DTYPE/ARG for bad arguments. */
sg_tensor *sg_rnn_fused_layer(const sg_rnn_config *cfg, sg_tensor *x, sg_tensor *h0, sg_tensor *c0,
                              const sg_fused_dir_params *p, sg_fused_wcache *wc);

/* Drops the process-wide cache of oneDNN primitives (recreated on demand). Primitives still used
 * by recorded forwards stay alive until those nodes are freed. Also runs at exit. */
void sg_fused_cache_clear(void);

/* Counters for tests and tuning: primitive sets created, weight-cache rebuilds (packing from the
 * PyTorch layout) and weight reorders into primitive layouts, since process start. */
typedef struct {
    uint64_t prims_created, weight_packs, weight_reorders;
    int cache_entries;
} sg_fused_stats;
sg_fused_stats sg_fused_get_stats(void);

#endif
