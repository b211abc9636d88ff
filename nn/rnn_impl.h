/* Internal: the weights of one recurrent cell (one layer, one direction) and the composed step
 * shared by cells and layers. Not installed. */
#ifndef SG_RNN_IMPL_H
#define SG_RNN_IMPL_H

#include "rnn.h"

/* Parameter indices into the model of one cell (layer, direction); -1 when absent. */
typedef struct {
    int w_ih, w_hh, b_ih, b_hh, w_hr, w_ci, w_cf, w_co;
} sg__cell_params;

/* The tensors of one cell, resolved from the model for one forward call. */
typedef struct {
    sg_tensor *w_ih, *w_hh, *b_ih, *b_hh, *w_hr, *w_ci, *w_cf, *w_co;
    sg_tensor *w_hh_rz, *w_hh_n, *b_hh_rz, *b_hh_n; /* GRU reset-before: row blocks of w_hh/b_hh */
} sg__cell_w;

int sg__cell_gates(sg_cell_kind k); /* G: 4 LSTM, 3 GRU, 1 RNN */

/* Declares the parameters of one cell with names suffix-ed by sfx ("_l0", "_l1_reverse", "" for
 * cells). in = its input size. */
int sg__cell_declare(sg_model *m, const char *prefix, const char *sfx, const sg_rnn_config *cfg,
                     int64_t in, sg__cell_params *p);
/* Resolves tensors (and the GRU reset-before row views, which are tape-owned). */
int sg__cell_resolve(const sg_model *m, const sg_rnn_config *cfg, const sg__cell_params *p, sg__cell_w *w);
/* Sets the LSTM forget-gate bias after initialisation. */
void sg__cell_forget_bias(const sg_model *m, const sg_rnn_config *cfg, const sg__cell_params *p);

/* One composed step. xg (B, G*H) = x W_ih^T + b_ih (already computed); h (B, P); c (B, H) for
 * LSTM. Writes h_new (B, P) and c_new (LSTM). Returns 0 or a status. */
int sg__cell_step(const sg_rnn_config *cfg, const sg__cell_w *w, sg_tensor *xg, sg_tensor *h, sg_tensor *c,
                  sg_tensor **h_new, sg_tensor **c_new);

/* Config validation shared by cells and layers (records a message naming the field). */
int sg__rnn_check_config(const sg_rnn_config *cfg, const char *fn, bool cell);

#endif
