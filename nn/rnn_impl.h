/* Internal: what the layer driver (rnn.c) and the one-step cells (rnn_cell.c) share to run any
 * cell definition (cell.h): a configuration resolved against its definition, the parameter
 * indices of one cell, and the checked step. Also the layer's side of the fused oneDNN op (the
 * configuration-level wrapper the fused tests use). Not installed. */
#ifndef SG_RNN_IMPL_H
#define SG_RNN_IMPL_H

#include "../ops/rnn_fused_impl.h"
#include "rnn.h"

/* A configuration resolved against its definition: sizes, option bits, the input rows. */
typedef struct {
    const sg_cell_def *def;
    const sg_rnn_config *cfg; /* the owner's copy */
    int G, n_states, n_rows;
    int w_in, b_in;           /* rows of the input weight and bias (-1: none) */
    unsigned opts;            /* SG_CELL_OPT_* that hold */
    int64_t H, P;
    int64_t state_size[SG_CELL_MAX_STATES];
} sg__cell_info;

/* Checks cfg (and its definition) and fills ci. cell: the one-step API (no layers, directions,
 * dropout, batch_first). fn names the caller in messages. */
int sg__cell_info_make(const sg_rnn_config *cfg, const char *fn, bool cell, sg__cell_info *ci);

/* Parameter indices in the model of one cell (layer, direction), per table row; -1 when absent. */
typedef struct {
    int idx[SG_CELL_MAX_PARAMS];
    int64_t D; /* this cell's input size */
} sg__cell_params;

/* Declares the table's rows with names suffixed by sfx ("_l0", "_l1_reverse", "" for cells).
 * On failure nothing stays declared (the caller rolls the model back with sg__model_forget). */
int sg__cell_declare(sg_model *m, const char *prefix, const char *sfx, const sg__cell_info *ci, int64_t D,
                     sg__cell_params *p);
/* The hook context of one cell for a batch of B (0 outside a forward). */
sg_cell_ctx sg__cell_ctx(const sg__cell_info *ci, const sg__cell_params *p, int layer, int dir, int64_t B);
/* w[SG_CELL_MAX_PARAMS]: the table's tensors (NULL where absent), then the prepare hook's. */
int sg__cell_resolve(const sg_model *m, const sg__cell_info *ci, const sg__cell_params *p, const sg_cell_ctx *c,
                     sg_tensor **w);
/* Runs the definition's after_init hook for one cell (no-op without one). */
int sg__cell_after_init(const sg_model *m, const sg__cell_info *ci, const sg__cell_params *p, int layer, int dir);
/* The hoisted input product of x (T, B, D) or (B, D): x W^T + b, then the hoist hook. raw (may
 * be NULL) receives the product before the hook (the same tensor without one). */
sg_tensor *sg__cell_input(const sg__cell_info *ci, const sg_cell_ctx *c, sg_tensor *const *w, sg_tensor *x,
                          sg_tensor **raw);
/* One step through the definition, with its results checked (shape, dtype, presence): s_out[k]
 * (B, size_k), *out (B, P) (the step's output, or s_out[0]). fn names the caller. */
int sg__cell_step(const sg__cell_info *ci, const sg_cell_ctx *c, sg_tensor *const *w, sg_tensor *xg,
                  sg_tensor *const *s, int64_t t, sg_tensor **s_out, sg_tensor **out, const char *fn);

/* A layer's model, resolved configuration and the parameter indices of (layer, dir), borrowed:
 * what the streaming step (rnn_stream.c) reads. */
sg_model *sg__rnn_model(const sg_rnn *r);
const sg__cell_info *sg__rnn_info(const sg_rnn *r);
const sg__cell_params *sg__rnn_params(const sg_rnn *r, int layer, int dir);

/* Forgets the parameters declared after the first n (before sg_model_finalize): undoes a failed
 * layer construction so a retry does not find its names declared (nn/model.c). */
void sg__model_forget(sg_model *m, int n);

/* The fused op for a configuration (the driver's mapping; test_rnn_fused calls it directly):
 * cfg's built-in kind, hidden and proj sizes, peephole, bias, bidirectional. */
sg_tensor *sg_rnn_fused_layer(const sg_rnn_config *cfg, sg_tensor *x, sg_tensor *h0, sg_tensor *c0,
                              const sg_fused_dir_params *p, sg_fused_wcache *wc);

#endif
