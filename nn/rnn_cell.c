/* RNN / LSTM / GRU cells composed from primitive ops: parameter declaration, the one-step
 * computation shared with the layers in rnn.c, and the public single-step cell API.
 * Deliberately no hand-written backward: the tape differentiates the composition. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/node.h"
#include "rnn_impl.h"
#include "model_impl.h"

enum { NAME_BUF = 160, LSTM_GATES = 4, GRU_GATES = 3, RNN_GATES = 1 };

int sg__cell_gates(sg_cell_kind k) {
    return k == SG_CELL_LSTM ? LSTM_GATES : k == SG_CELL_GRU ? GRU_GATES : RNN_GATES;
}

int sg__rnn_check_config(const sg_rnn_config *c, const char *fn, bool cell) {
    if (!c) return sg_set_error(SG_ERR_NULL, "%s: argument 'cfg' is NULL", fn);
    if ((unsigned)c->cell >= SG_CELL_COUNT) return sg_set_error(SG_ERR_ARG, "%s: invalid cell kind %d", fn, (int)c->cell);
    if (c->input_size < 1) return sg_set_error(SG_ERR_ARG, "%s: input_size must be >= 1 (got %lld)", fn, (long long)c->input_size);
    if (c->hidden_size < 1) return sg_set_error(SG_ERR_ARG, "%s: hidden_size must be >= 1 (got %lld)", fn, (long long)c->hidden_size);
    if (c->num_layers < 0) return sg_set_error(SG_ERR_ARG, "%s: num_layers must be >= 1 (got %d)", fn, c->num_layers);
    if (!(c->dropout >= 0 && c->dropout < 1)) return sg_set_error(SG_ERR_ARG, "%s: dropout must be in [0, 1) (got %g)", fn, c->dropout);
    if (c->proj_size && c->cell != SG_CELL_LSTM) return sg_set_error(SG_ERR_ARG, "%s: proj_size is for LSTM only", fn);
    if (c->proj_size < 0 || (c->proj_size && c->proj_size >= c->hidden_size))
        return sg_set_error(SG_ERR_ARG, "%s: proj_size must be in [1, hidden_size=%lld) (got %lld)", fn,
                            (long long)c->hidden_size, (long long)c->proj_size);
    if (c->peephole && c->cell != SG_CELL_LSTM) return sg_set_error(SG_ERR_ARG, "%s: peephole is for LSTM only", fn);
    if (c->set_forget_bias && c->cell != SG_CELL_LSTM) return sg_set_error(SG_ERR_ARG, "%s: forget_bias is for LSTM only", fn);
    if (c->gru_reset_before && c->cell != SG_CELL_GRU) return sg_set_error(SG_ERR_ARG, "%s: gru_reset_before is for GRU only", fn);
    if (cell && (c->num_layers > 1 || c->bidirectional || c->dropout != 0 || c->batch_first))
        return sg_set_error(SG_ERR_ARG, "%s: cells take one step of one layer: num_layers, "
                                        "bidirectional, dropout and batch_first must be unset", fn);
    return SG_OK;
}

static int declare(sg_model *m, const char *prefix, const char *base, const char *sfx, int ndim,
                   const int64_t *shape, double k) {
    char short_name[NAME_BUF], full[NAME_BUF];
    snprintf(short_name, sizeof short_name, "%s%s", base, sfx);
    return sg_model_declare(m, sg_param_name(full, sizeof full, prefix, short_name), ndim, shape, SG_INIT_UNIFORM, k);
}

int sg__cell_declare(sg_model *m, const char *prefix, const char *sfx, const sg_rnn_config *cfg, int64_t in,
                     sg__cell_params *p) {
    int64_t H = cfg->hidden_size, GH = sg__cell_gates(cfg->cell) * H;
    int64_t P = cfg->proj_size ? cfg->proj_size : H;
    double k = 1.0 / sqrt((double)H);
    memset(p, -1, sizeof *p);
    p->w_ih = declare(m, prefix, "weight_ih", sfx, 2, (int64_t[]){GH, in}, k);
    p->w_hh = declare(m, prefix, "weight_hh", sfx, 2, (int64_t[]){GH, P}, k);
    if (!cfg->no_bias) {
        p->b_ih = declare(m, prefix, "bias_ih", sfx, 1, &GH, k);
        p->b_hh = declare(m, prefix, "bias_hh", sfx, 1, &GH, k);
    }
    if (cfg->proj_size) p->w_hr = declare(m, prefix, "weight_hr", sfx, 2, (int64_t[]){P, H}, k);
    if (cfg->peephole) {
        p->w_ci = declare(m, prefix, "weight_ci", sfx, 1, &H, k);
        p->w_cf = declare(m, prefix, "weight_cf", sfx, 1, &H, k);
        p->w_co = declare(m, prefix, "weight_co", sfx, 1, &H, k);
    }
    return sg_has_error() ? sg_last_status() : SG_OK;
}

static sg_tensor *opt_param(const sg_model *m, int i) { return i >= 0 ? sg_model_param(m, i) : NULL; }

int sg__cell_resolve(const sg_model *m, const sg_rnn_config *cfg, const sg__cell_params *p, sg__cell_w *w) {
    memset(w, 0, sizeof *w);
    w->w_ih = opt_param(m, p->w_ih);
    w->w_hh = opt_param(m, p->w_hh);
    w->b_ih = opt_param(m, p->b_ih);
    w->b_hh = opt_param(m, p->b_hh);
    w->w_hr = opt_param(m, p->w_hr);
    w->w_ci = opt_param(m, p->w_ci);
    w->w_cf = opt_param(m, p->w_cf);
    w->w_co = opt_param(m, p->w_co);
    if (cfg->cell == SG_CELL_GRU && cfg->gru_reset_before) {
        int64_t H = cfg->hidden_size;
        w->w_hh_rz = sg_narrow(w->w_hh, 0, 0, 2 * H);
        w->w_hh_n = sg_narrow(w->w_hh, 0, 2 * H, H);
        if (w->b_hh) {
            w->b_hh_rz = sg_narrow(w->b_hh, 0, 0, 2 * H);
            w->b_hh_n = sg_narrow(w->b_hh, 0, 2 * H, H);
        }
    }
    return sg_has_error() ? sg_last_status() : SG_OK;
}

void sg__cell_forget_bias(const sg_model *m, const sg_rnn_config *cfg, const sg__cell_params *p) {
    if (!cfg->set_forget_bias || p->b_ih < 0) return;
    int64_t H = cfg->hidden_size;
    sg_tensor *bi = sg_model_param(m, p->b_ih), *bh = sg_model_param(m, p->b_hh);
    for (int64_t j = H; j < 2 * H; j++) { /* PyTorch gate order i, f, g, o: f is rows [H, 2H) */
        sg_set_flat(bi, j, cfg->forget_bias);
        sg_set_flat(bh, j, 0.0);
    }
}

/* gate k of a (B, G*H) tensor: a (B, H) view */
static sg_tensor *gate(sg_tensor *g, int k, int64_t H) { return sg_narrow(g, 1, k * H, H); }

/* state k (h' or c') of the (2, B, H) result of sg_lstm_pointwise, as a contiguous (B, H) view */
static sg_tensor *packed_state(sg_tensor *hc, int k) { return sg_squeeze(sg_narrow(hc, 0, k, 1), 0); }

static int lstm_step(const sg_rnn_config *cfg, const sg__cell_w *w, sg_tensor *xg, sg_tensor *h, sg_tensor *c,
                     sg_tensor **h_new, sg_tensor **c_new) {
    int64_t H = cfg->hidden_size;
    if (!w->w_ci) { /* the fused pointwise op: same formula as below, one pass */
        sg_tensor *hc = sg_lstm_pointwise(sg_linear_add(h, w->w_hh, w->b_hh, xg), NULL, c);
        sg_tensor *hn = packed_state(hc, 0);
        *c_new = packed_state(hc, 1);
        *h_new = w->w_hr ? sg_linear(hn, w->w_hr, NULL) : hn;
        return *h_new && *c_new ? SG_OK : sg_last_status();
    }
    sg_tensor *g = sg_add(xg, sg_linear(h, w->w_hh, w->b_hh)); /* (B, 4H) */
    sg_tensor *gi = gate(g, 0, H), *gf = gate(g, 1, H), *gg = gate(g, 2, H), *go = gate(g, 3, H);
    if (w->w_ci) {
        gi = sg_add(gi, sg_mul(c, w->w_ci));
        gf = sg_add(gf, sg_mul(c, w->w_cf));
    }
    sg_tensor *cn = sg_add(sg_mul(sg_sigmoid(gf), c), sg_mul(sg_sigmoid(gi), sg_tanh(gg)));
    if (w->w_co) go = sg_add(go, sg_mul(cn, w->w_co));
    sg_tensor *hn = sg_mul(sg_sigmoid(go), sg_tanh(cn));
    if (w->w_hr) hn = sg_linear(hn, w->w_hr, NULL);
    *h_new = hn;
    *c_new = cn;
    return hn && cn ? SG_OK : sg_last_status();
}

static int gru_step(const sg_rnn_config *cfg, const sg__cell_w *w, sg_tensor *xg, sg_tensor *h, sg_tensor **h_new) {
    int64_t H = cfg->hidden_size;
    sg_tensor *xr = gate(xg, 0, H), *xz = gate(xg, 1, H), *xn = gate(xg, 2, H);
    sg_tensor *r, *z, *n;
    if (!cfg->gru_reset_before) { /* the fused pointwise op computes exactly this */
        *h_new = sg_gru_pointwise(xg, sg_linear(h, w->w_hh, w->b_hh), h);
        return *h_new ? SG_OK : sg_last_status();
    } else {
        sg_tensor *hg = sg_linear(h, w->w_hh_rz, w->b_hh_rz); /* (B, 2H) */
        r = sg_sigmoid(sg_add(xr, gate(hg, 0, H)));
        z = sg_sigmoid(sg_add(xz, gate(hg, 1, H)));
        n = sg_tanh(sg_add(xn, sg_linear(sg_mul(r, h), w->w_hh_n, w->b_hh_n)));
    }
    /* h' = (1 - z) n + z h = n + z (h - n) */
    *h_new = sg_add(n, sg_mul(z, sg_sub(h, n)));
    return *h_new ? SG_OK : sg_last_status();
}

int sg__cell_step(const sg_rnn_config *cfg, const sg__cell_w *w, sg_tensor *xg, sg_tensor *h, sg_tensor *c,
                  sg_tensor **h_new, sg_tensor **c_new) {
    switch (cfg->cell) {
    case SG_CELL_LSTM: return lstm_step(cfg, w, xg, h, c, h_new, c_new);
    case SG_CELL_GRU: return gru_step(cfg, w, xg, h, h_new);
    case SG_CELL_RNN_TANH: *h_new = sg_tanh(sg_linear_add(h, w->w_hh, w->b_hh, xg)); break;
    case SG_CELL_RNN_RELU: *h_new = sg_relu(sg_linear_add(h, w->w_hh, w->b_hh, xg)); break;
    default: return sg_set_error(SG_ERR_ARG, "sg_rnn: invalid cell kind");
    }
    return *h_new ? SG_OK : sg_last_status();
}

/* ---- public cell ---- */

struct sg_rnn_cell {
    sg_model *m;
    sg_rnn_config cfg;
    sg__cell_params p;
};

static int cell_after_init(void *obj) {
    sg_rnn_cell *c = obj;
    sg__cell_forget_bias(c->m, &c->cfg, &c->p);
    return SG_OK;
}

sg_rnn_cell *sg_rnn_cell_new(sg_model *m, const char *prefix, const sg_rnn_config *cfg) {
    if (!m) {
        sg_set_error(SG_ERR_NULL, "sg_rnn_cell_new: argument 'm' is NULL");
        return NULL;
    }
    if (sg__rnn_check_config(cfg, "sg_rnn_cell_new", true)) return NULL;
    sg_rnn_cell *c = calloc(1, sizeof *c);
    if (!c) {
        sg_set_error(SG_ERR_MEM, "sg_rnn_cell_new: out of memory");
        return NULL;
    }
    c->m = m;
    c->cfg = *cfg;
    c->cfg.num_layers = 1;
    if (sg__cell_declare(m, prefix, "", cfg, cfg->input_size, &c->p) || sg__model_own(m, c, free, cell_after_init)) {
        free(c);
        return NULL;
    }
    return c;
}

static bool check_2d(sg_tensor *t, const char *arg, int64_t B, int64_t n, sg_dtype dt) {
    char b[SG_SHAPE_BUF];
    if (!t) return true;
    if (!sg_is_live(t) || sg_ndim(t) != 2 || sg_size(t, 0) != B || sg_size(t, 1) != n || sg_dtype_of(t) != dt) {
        if (sg_is_live(t))
            sg_set_error(SG_ERR_SHAPE, "sg_rnn_cell_forward: %s must be (%lld, %lld) %s, got %s %s", arg,
                         (long long)B, (long long)n, sg_dtype_name(dt), sg_shape_str(t, b, sizeof b),
                         sg_dtype_name(sg_dtype_of(t)));
        else
            sg_set_error(SG_ERR_STATE, "sg_rnn_cell_forward: %s is not a live tensor", arg);
        return false;
    }
    return true;
}

int sg_rnn_cell_forward(sg_rnn_cell *cell, sg_tensor *x, sg_tensor *h, sg_tensor *c, sg_tensor **h_out,
                        sg_tensor **c_out) {
    const char *fn = "sg_rnn_cell_forward";
    if (!cell || !h_out) return sg_set_error(SG_ERR_NULL, "%s: cell and h_out are required", fn);
    *h_out = NULL;
    if (c_out) *c_out = NULL;
    const sg_rnn_config *cfg = &cell->cfg;
    bool lstm = cfg->cell == SG_CELL_LSTM;
    if (lstm && !c_out) return sg_set_error(SG_ERR_NULL, "%s: an LSTM cell needs c_out", fn);
    if (!lstm && c) return sg_set_error(SG_ERR_ARG, "%s: c is for LSTM cells only", fn);
    if (!sg__check_arg(x, fn, "x")) return sg_last_status();
    sg_dtype dt = sg_model_dtype(cell->m);
    int64_t H = cfg->hidden_size, P = cfg->proj_size ? cfg->proj_size : H;
    if (sg_ndim(x) != 2) {
        char b[SG_SHAPE_BUF];
        return sg_set_error(SG_ERR_SHAPE, "%s: x must be (B, %lld), got %s", fn, (long long)cfg->input_size,
                            sg_shape_str(x, b, sizeof b));
    }
    int64_t B = sg_size(x, 0);
    if (!check_2d(x, "x", B, cfg->input_size, dt) || !check_2d(h, "h", B, P, dt) || !check_2d(c, "c", B, H, dt))
        return sg_last_status();
    sg__cell_w w;
    if (sg__cell_resolve(cell->m, cfg, &cell->p, &w)) return sg_last_status();
    sg_tensor *h0 = h, *c0 = c;
    if (!h0) h0 = sg__out(dt, 2, (int64_t[]){B, P}, true); /* tape-owned zeros */
    if (lstm && !c0) c0 = sg__out(dt, 2, (int64_t[]){B, H}, true);
    sg_tensor *xg = sg_linear(x, w.w_ih, w.b_ih);
    sg_tensor *hn = NULL, *cn = NULL;
    int rc = xg ? sg__cell_step(cfg, &w, xg, h0, c0, &hn, &cn) : sg_last_status();
    *h_out = hn;
    if (c_out) *c_out = lstm ? cn : NULL;
    return rc;
}
