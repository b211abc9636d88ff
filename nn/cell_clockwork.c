/* The Clockwork RNN as a cell definition (cells.h): M modules with periods 1, 2, 4, ...; at step t
 * only the modules whose period divides t update (a prefix of the modules, since the periods are
 * powers of two), and only their rows of the recurrent product are computed. The block upper
 * triangular recurrent weight is weight_hh times a constant mask made once per forward call.
 * Composed from public ops; no backward code here. */
#include "cells.h"

#include "rnn.h"

enum { W_MASKED = SG_CW_ROWS }; /* prepare's slot: weight_hh (.) mask */

int sg_clockwork_active(int64_t t, int modules) {
    if (modules < 1) return 1;
    if (t <= 0) return modules;
    int a = 1 + __builtin_ctzll((unsigned long long)t);
    return a < modules ? a : modules;
}

/* M from the layer's cell_data (NULL: the default); an error naming the cell when H % M != 0 */
static int modules_of(const sg_cell_ctx *c, const char *fn, int *M) {
    const sg_clockwork_config *cfg = c->data;
    *M = cfg ? cfg->modules : SG_CLOCKWORK_DEFAULT_MODULES;
    if (*M < 1 || *M > SG_CLOCKWORK_MAX_MODULES || c->H % *M)
        return sg_set_error(SG_ERR_ARG, "%s: cell 'clockwork': %d modules (sg_clockwork_config.modules) must be in "
                            "[1, %d] and divide hidden_size %lld", fn, *M, SG_CLOCKWORK_MAX_MODULES,
                            (long long)c->H);
    return SG_OK;
}

static int clockwork_after_init(const sg_cell_ctx *c, sg_tensor *const *p) {
    (void)p;
    int M;
    return modules_of(c, "sg_model_finalize", &M);
}

/* p[W_MASKED] = weight_hh (.) mask, mask[r][k] = 1 when unit k's module is at least as slow as
 * unit r's (block upper triangular) */
static int clockwork_prepare(const sg_cell_ctx *c, sg_tensor **p) {
    int M;
    if (modules_of(c, "sg_rnn_forward", &M)) return sg_last_status();
    int64_t H = c->H, K = H / M;
    sg_dtype dt = sg_dtype_of(p[SG_CW_W_HH]);
    sg_tensor *mask = sg_zeros(dt, 2, (int64_t[]){H, H});
    if (!mask) return sg_last_status();
    float *m32 = dt == SG_F32 ? sg_data_f32(mask) : NULL;
    double *m64 = dt == SG_F64 ? sg_data_f64(mask) : NULL;
    for (int64_t r = 0; r < H; r++)
        for (int64_t k = (r / K) * K; k < H; k++) {
            if (m32) m32[r * H + k] = 1.0f;
            else m64[r * H + k] = 1.0;
        }
    sg_mark_modified(mask);
    sg_tensor *tm = sg_detach(mask); /* a tape-owned view: the data lives until the tape is cleared */
    sg_tensor_free(mask);
    p[W_MASKED] = sg_mul(p[SG_CW_W_HH], tm);
    return p[W_MASKED] ? SG_OK : sg_last_status();
}

/* xg (B, H) = x W_ih^T + b_ih of this step, s[0] = h (B, H) -> h' (B, H), the output */
static int clockwork_step(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xg, sg_tensor *const *s, int64_t t,
                          sg_tensor **s_out, sg_tensor **out) {
    (void)out;
    int M;
    if (modules_of(c, "sg_rnn_forward", &M)) return sg_last_status();
    int64_t H = c->H, n = (int64_t)sg_clockwork_active(t, M) * (H / M);
    sg_tensor *h = s[0], *b = p[SG_CW_B_HH];
    if (n == H) {
        s_out[0] = sg_tanh(sg_linear_add(h, p[W_MASKED], b, xg));
    } else { /* the first n units update, the others keep their state */
        sg_tensor *upd = sg_tanh(sg_linear_add(h, sg_narrow(p[W_MASKED], 0, 0, n), b ? sg_narrow(b, 0, 0, n) : NULL,
                                               sg_narrow(xg, 1, 0, n)));
        s_out[0] = sg_concat(2, (sg_tensor *[]){upd, sg_narrow(h, 1, n, H - n)}, 1);
    }
    return s_out[0] ? SG_OK : sg_last_status();
}

const sg_cell_def sg_cell_clockwork = {
    .name = "clockwork",
    .gates = 1,
    .states = {{"h", SG_CELL_H}},
    .params = {[SG_CW_W_IH] = {"weight_ih", 2, {SG_CELL_GH, SG_CELL_D}, SG_PARAM_INPUT_WEIGHT, 0, 0, 0},
               [SG_CW_W_HH] = {"weight_hh", 2, {SG_CELL_H, SG_CELL_H}, SG_PARAM_PLAIN, 0, 0, 0},
               [SG_CW_B_IH] = {"bias_ih", 1, {SG_CELL_GH}, SG_PARAM_INPUT_BIAS, SG_CELL_OPT_BIAS, 0, 0},
               [SG_CW_B_HH] = {"bias_hh", 1, {SG_CELL_H}, SG_PARAM_PLAIN, SG_CELL_OPT_BIAS, 0, 0}},
    .step = clockwork_step,
    .prepare = clockwork_prepare,
    .after_init = clockwork_after_init,
};
