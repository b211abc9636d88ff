/** @file
 * Streaming inference over a recurrent layer (nn/rnn.h): one time step per call, the states of
 * every layer carried inside the stream from call to call, no gradient recorded, and nothing
 * allocated per step. For a model that answers as the input arrives (speech, sensors, a
 * character at a time), where sg_rnn_forward over T = 1 would allocate, record and need
 * sg_tape_clear or sg_copy every step.
 *
 * Shapes: B the stream's batch (1 is the common case), D input_size, P = proj_size if set else H,
 * L num_layers. A step takes x (B, D) and writes y (B, P), the top layer's output.
 *
 *   sg_rnn_stream *s = sg_rnn_stream_new(lstm, 1, 0);
 *   float x[D], y[P];
 *   for (;;) { read_frame(x); sg_rnn_stream_step_data(s, x, y); use(y); }  // no allocation
 *   sg_rnn_stream_free(s);
 *
 * How it runs: the built-in kinds (RNN tanh/relu, LSTM with proj and peephole, GRU in both
 * forms) in float32 and float64 run a fast path: per layer one matrix-vector product over the
 * weights packed as [W_ih | W_hh] into a preallocated buffer, then one fused pointwise loop.
 * Any other cell definition (nn/cell.h, e.g. sg_cell_lnlstm, sg_cell_mgu, sg_cell_clockwork)
 * runs its own step through ops, without a tape, on tensors recycled from step to step (an arena
 * the stream owns), so once warm it allocates nothing either. The step index t handed to a
 * definition counts the stream's steps from 0 (sg_rnn_stream_reset sets it back to 0).
 * A definition's hoist hook runs on each step's (1, B, G*H) input product, as in
 * sg_rnn_cell_step: that equals the layer's hoist over all T only for a row-wise hoist (the
 * shipped sg_cell_lnlstm's layer norm is row-wise); a hoist that mixes time steps is not served
 * faithfully by a stream.
 *
 * Parameters: the stream takes a snapshot when it is made. The fast path packs the weights; a
 * definition's prepare hook (derived tensors such as a masked weight) runs once then. After the
 * model's parameters change (an optimizer step, sg_model_load ...), call sg_rnn_stream_sync;
 * until then the stream computes with the old values (definitions without a prepare hook may
 * already see some new values: do not rely on either).
 *
 * Not served: bidirectional layers (a reverse direction needs the future), variable lengths
 * (each call is one step of every row), inter-layer dropout (a stream is inference: never
 * applied), gradients.
 *
 * Ownership: a stream is caller-owned (sg_rnn_stream_free) and borrows its layer and model,
 * which must outlive every call on it but sg_rnn_stream_free. Its states live inside it. Tensors
 * and buffers passed in are borrowed for the call. A stream is used by one thread at a time.
 * Errors: a negative sg_status and sg_last_error() naming the function and the argument. */
#ifndef SG_STREAM_H
#define SG_STREAM_H

#include "rnn.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A streaming step over one layer stack, opaque. */
typedef struct sg_rnn_stream sg_rnn_stream;

/** Flags of sg_rnn_stream_new. SG_STREAM_COMPOSED runs a built-in kind through its definition's
 *  ops (the general path) instead of the packed fast path: the fast path's reference in tests,
 *  and what a definition always uses. */
enum { SG_STREAM_COMPOSED = 1u << 0 };

/** New stream over layer r (unidirectional, its model finalized) for batch B >= 1, states zero,
 *  t = 0. flags: 0 or SG_STREAM_COMPOSED. Allocates everything the steps need (the fast path's
 *  packed weights and buffers, or the general path's state tensors and prepared parameters).
 *  Returns a caller-owned stream (sg_rnn_stream_free), or NULL with SG_ERR_NULL (r), SG_ERR_ARG
 *  (bidirectional layer, batch < 1, unknown flags), SG_ERR_STATE (model not finalized) or
 *  SG_ERR_MEM; nothing is left allocated on failure. */
sg_rnn_stream *sg_rnn_stream_new(const sg_rnn *r, int64_t batch, unsigned flags);

/** Frees the stream (NULL: no-op). Returns nothing; never fails. */
void sg_rnn_stream_free(sg_rnn_stream *s);

/** One step on raw buffers in the model's dtype (float or double): x holds B*D values, row
 *  major (B, D); y receives B*P values (B, P), the top layer's output (y may be NULL: only the
 *  states advance). Advances every layer's states and t. x and y may not overlap. Allocates
 *  nothing once warm (the fast path never; the general path after its first steps). Returns 0,
 *  or SG_ERR_NULL naming 's' or 'x', or a step's failure (the states are then unspecified:
 *  reset or set them). */
int sg_rnn_stream_step_data(sg_rnn_stream *s, const void *x, void *y);

/** One step on tensors the caller made once: x (B, D), y (B, P) (or NULL), both contiguous and
 *  of the model's dtype; y is written in place (its values change, its storage does not). Same
 *  as sg_rnn_stream_step_data otherwise. Returns 0, or SG_ERR_NULL / SG_ERR_DTYPE / SG_ERR_SHAPE
 *  / SG_ERR_STATE naming 'x' or 'y'. */
int sg_rnn_stream_step(sg_rnn_stream *s, const sg_tensor *x, sg_tensor *y);

/** Sets every state to zero and t to 0. Returns 0 or SG_ERR_NULL. */
int sg_rnn_stream_reset(sg_rnn_stream *s);

/** Re-reads the layer's parameters (repacks the fast path's weights, reruns a definition's
 *  prepare hook); the states and t are kept. Call it after the parameters change. Returns 0,
 *  SG_ERR_NULL, or a prepare hook's failure. Allocates nothing on the fast path. */
int sg_rnn_stream_sync(sg_rnn_stream *s);

/** Copies state k (0: h, 1: c for LSTM, as the cell's state table) of every layer into dst,
 *  a contiguous (L, B, size_k) tensor of the model's dtype (the layout of sg_rnn_out.states[k]).
 *  Returns 0, or SG_ERR_NULL / SG_ERR_ARG (k) / SG_ERR_DTYPE / SG_ERR_SHAPE naming the argument. */
int sg_rnn_stream_get_state(const sg_rnn_stream *s, int k, sg_tensor *dst);

/** Sets state k of every layer from src, a contiguous (L, B, size_k) tensor of the model's dtype
 *  (e.g. an sg_rnn_forward's h_n to continue a sequence); t is kept. Errors as
 *  sg_rnn_stream_get_state. */
int sg_rnn_stream_set_state(sg_rnn_stream *s, int k, const sg_tensor *src);

/** Steps taken since creation or the last reset (the t the next step hands a definition), or -1
 *  for NULL. */
int64_t sg_rnn_stream_time(const sg_rnn_stream *s);

/** 1 if the stream runs the packed fast path, 0 if a definition's ops, -1 for NULL. */
int sg_rnn_stream_is_fast(const sg_rnn_stream *s);

#ifdef __cplusplus
}
#endif

#endif
