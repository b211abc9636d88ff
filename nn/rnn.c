/* Multi-layer, bidirectional, variable-length RNN/LSTM/GRU layers over the composed cell step
 * (rnn_cell.c), plus backend selection. The fused oneDNN path is an op in ops/ chosen here, never
 * a second implementation of the layer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/node.h"
#include "../ops/rnn_fused.h"
#include "layers.h"
#include "rnn_impl.h"
#include "model_impl.h"

enum { NAME_BUF = 64, MAX_DIRS = 2, STATES_ON_STACK = 64, WHY_BUF = 160 };

struct sg_rnn {
    sg_model *m;
    sg_rnn_config cfg;
    int L, dirs;
    sg__cell_params *p; /* [L * dirs], index 2*l + d */
    sg_fused_wcache **wc; /* [L]: the fused op's weight cache per layer, made on first use */
    char prefix[NAME_BUF * 2];
    char last_why[WHY_BUF]; /* last fallback reason logged under SEQGRAD_DEBUG */
};

/* ---- backend choice ---- */

static sg_backend g_default = SG_BACKEND_DEFAULT; /* DEFAULT here means: not read from env yet */

const char *sg_backend_name(sg_backend b) {
    switch (b) {
    case SG_BACKEND_AUTO: return "auto";
    case SG_BACKEND_COMPOSED: return "composed";
    case SG_BACKEND_ONEDNN: return "onednn";
    default: return "default";
    }
}

sg_backend sg_backend_parse(const char *s) {
    if (s && !strcmp(s, "auto")) return SG_BACKEND_AUTO;
    if (s && !strcmp(s, "composed")) return SG_BACKEND_COMPOSED;
    if (s && !strcmp(s, "onednn")) return SG_BACKEND_ONEDNN;
    sg_set_error(SG_ERR_ARG, "unknown backend '%s' (expected auto, composed or onednn)", s ? s : "(null)");
    return SG_BACKEND_DEFAULT;
}

sg_backend sg_rnn_default_backend(void) {
    if (g_default == SG_BACKEND_DEFAULT) {
        const char *env = getenv("SEQGRAD_BACKEND");
        sg_backend b = SG_BACKEND_AUTO;
        if (env && env[0]) {
            b = sg_backend_parse(env);
            if (b == SG_BACKEND_DEFAULT) { /* a bad variable must not silently change behaviour */
                fprintf(stderr, "seqgrad: ignoring SEQGRAD_BACKEND=%s (expected auto|composed|onednn)\n", env);
                sg_clear_error();
                b = SG_BACKEND_AUTO;
            }
        }
        g_default = b;
    }
    return g_default;
}

int sg_rnn_set_default_backend(sg_backend b) {
    if (b != SG_BACKEND_DEFAULT && b != SG_BACKEND_AUTO && b != SG_BACKEND_COMPOSED && b != SG_BACKEND_ONEDNN)
        return sg_set_error(SG_ERR_ARG, "sg_rnn_set_default_backend: invalid backend %d", (int)b);
    g_default = b;
    return SG_OK;
}

/* ---- construction ---- */

static void rnn_free(void *obj) {
    sg_rnn *r = obj;
    for (int l = 0; r->wc && l < r->L; l++) sg_fused_wcache_release(r->wc[l]);
    free(r->wc);
    free(r->p);
    free(r);
}

static int rnn_after_init(void *obj) {
    sg_rnn *r = obj;
    for (int i = 0; i < r->L * r->dirs; i++) sg__cell_forget_bias(r->m, &r->cfg, &r->p[i]);
    return SG_OK;
}

sg_rnn *sg_rnn_new(sg_model *m, const char *prefix, const sg_rnn_config *cfg) {
    if (!m) {
        sg_set_error(SG_ERR_NULL, "sg_rnn_new: argument 'm' is NULL");
        return NULL;
    }
    if (sg__rnn_check_config(cfg, "sg_rnn_new", false)) return NULL;
    if (cfg->backend != SG_BACKEND_DEFAULT && cfg->backend != SG_BACKEND_AUTO &&
        cfg->backend != SG_BACKEND_COMPOSED && cfg->backend != SG_BACKEND_ONEDNN) {
        sg_set_error(SG_ERR_ARG, "sg_rnn_new: invalid backend %d", (int)cfg->backend);
        return NULL;
    }
    sg_rnn *r = calloc(1, sizeof *r);
    if (!r) {
        sg_set_error(SG_ERR_MEM, "sg_rnn_new: out of memory");
        return NULL;
    }
    r->m = m;
    r->cfg = *cfg;
    r->L = cfg->num_layers ? cfg->num_layers : 1;
    r->cfg.num_layers = r->L;
    r->dirs = cfg->bidirectional ? MAX_DIRS : 1;
    snprintf(r->prefix, sizeof r->prefix, "%s", prefix ? prefix : "");
    r->p = calloc((size_t)(r->L * r->dirs), sizeof *r->p);
    r->wc = calloc((size_t)r->L, sizeof *r->wc);
    if (!r->p || !r->wc) {
        free(r->p);
        free(r->wc);
        free(r);
        sg_set_error(SG_ERR_MEM, "sg_rnn_new: out of memory");
        return NULL;
    }
    int64_t P = cfg->proj_size ? cfg->proj_size : cfg->hidden_size;
    for (int l = 0; l < r->L; l++)
        for (int d = 0; d < r->dirs; d++) { /* PyTorch's order: layer-major, forward before reverse */
            char sfx[NAME_BUF];
            snprintf(sfx, sizeof sfx, "_l%d%s", l, d ? "_reverse" : "");
            int64_t in = l == 0 ? cfg->input_size : r->dirs * P;
            if (sg__cell_declare(m, prefix, sfx, &r->cfg, in, &r->p[l * r->dirs + d])) {
                rnn_free(r);
                return NULL;
            }
        }
    if (sg__model_own(m, r, rnn_free, rnn_after_init)) {
        rnn_free(r);
        return NULL;
    }
    return r;
}

const sg_rnn_config *sg_rnn_get_config(const sg_rnn *r) { return r ? &r->cfg : NULL; }

int sg_rnn_set_backend(sg_rnn *r, sg_backend b) {
    if (!r) return sg_set_error(SG_ERR_NULL, "sg_rnn_set_backend: argument 'r' is NULL");
    if ((unsigned)b > SG_BACKEND_ONEDNN) return sg_set_error(SG_ERR_ARG, "sg_rnn_set_backend: invalid backend %d", (int)b);
    r->cfg.backend = b;
    return SG_OK;
}

static const sg__cell_params *cell_params(const sg_rnn *r, int l, int d) { return &r->p[l * r->dirs + d]; }

sg_tensor *sg_rnn_param(const sg_rnn *r, const char *name, int layer, int dir) {
    if (!r || !name || layer < 0 || layer >= r->L || dir < 0 || dir >= r->dirs) {
        sg_set_error(SG_ERR_ARG, "sg_rnn_param: bad layer/direction/name");
        return NULL;
    }
    const sg__cell_params *p = cell_params(r, layer, dir);
    int idx = !strcmp(name, "weight_ih") ? p->w_ih : !strcmp(name, "weight_hh") ? p->w_hh
            : !strcmp(name, "bias_ih") ? p->b_ih : !strcmp(name, "bias_hh") ? p->b_hh
            : !strcmp(name, "weight_hr") ? p->w_hr : !strcmp(name, "weight_ci") ? p->w_ci
            : !strcmp(name, "weight_cf") ? p->w_cf : !strcmp(name, "weight_co") ? p->w_co : -2;
    if (idx == -2) {
        sg_set_error(SG_ERR_ARG, "sg_rnn_param: unknown parameter '%s'", name);
        return NULL;
    }
    return idx >= 0 ? sg_model_param(r->m, idx) : NULL;
}

/* ---- forward ---- */

/* state k of a (L*dirs, B, n) tensor as a (B, n) view */
static sg_tensor *state_at(sg_tensor *s, int k) { return sg_squeeze(sg_narrow(s, 0, k, 1), 0); }

static int check_state(const char *arg, sg_tensor *s, int64_t n0, int64_t B, int64_t n, sg_dtype dt) {
    if (!s) return SG_OK;
    if (!sg__check_arg(s, "sg_rnn_forward", arg)) return sg_last_status();
    if (s->dtype != dt) return sg_set_error(SG_ERR_DTYPE, "sg_rnn_forward: %s is %s but the model is %s", arg,
                                            sg_dtype_name(s->dtype), sg_dtype_name(dt));
    if (s->ndim != 3 || s->shape[0] != n0 || s->shape[1] != B || s->shape[2] != n) {
        char b[SG_SHAPE_BUF];
        return sg_set_error(SG_ERR_SHAPE, "sg_rnn_forward: %s must be (%lld, %lld, %lld) = (layers*dirs, B, %s), got %s",
                            arg, (long long)n0, (long long)B, (long long)n, arg[0] == 'c' ? "hidden" : "hidden or proj",
                            sg__shape_str(s->ndim, s->shape, b, sizeof b));
    }
    return SG_OK;
}

/* masks[t] (B, 1): 1 where t < lengths[b]; NULL when every sequence is full length */
static int make_masks(sg_dtype dt, int64_t T, int64_t B, const int64_t *lengths, sg_tensor ***out) {
    *out = NULL;
    bool ragged = false;
    for (int64_t b = 0; lengths && b < B; b++) {
        if (lengths[b] < 1 || lengths[b] > T)
            return sg_set_error(SG_ERR_ARG, "sg_rnn_forward: lengths[%lld] = %lld is outside [1, T=%lld]",
                                (long long)b, (long long)lengths[b], (long long)T);
        if (lengths[b] != T) ragged = true;
    }
    if (!ragged) return SG_OK;
    sg_tensor **m = calloc((size_t)T, sizeof *m);
    if (!m) return sg_set_error(SG_ERR_MEM, "sg_rnn_forward: out of memory");
    for (int64_t t = 0; t < T; t++) {
        m[t] = sg__out(dt, 2, (int64_t[]){B, 1}, false);
        if (!m[t]) {
            free(m);
            return sg_last_status();
        }
        for (int64_t b = 0; b < B; b++) sg_set_flat(m[t], b, t < lengths[b] ? 1.0 : 0.0);
    }
    *out = m;
    return SG_OK;
}

/* One layer of the composed graph: per direction its weights, input products and initial states
 * (made before the directions run, so the two directions share no tensor they write a gradient
 * into), and the results. */
typedef struct {
    const sg_rnn_config *cfg;
    sg_tensor *const *masks;
    sg__cell_w w[MAX_DIRS];
    sg_tensor *xp[MAX_DIRS]; /* (T, B, G*H) = inp W_ih^T + b_ih: one GEMM for all steps */
    sg_tensor *h[MAX_DIRS], *c[MAX_DIRS];
    sg_tensor *out[MAX_DIRS], *h_n[MAX_DIRS], *c_n[MAX_DIRS];
} layer_job;

/* Direction d of a layer over the whole sequence: writes out (T, B, P) and the final states. */
static int run_direction(int d, void *arg) {
    layer_job *j = arg;
    sg_tensor *xp = j->xp[d], *h = j->h[d], *c = j->c[d], *const *masks = j->masks;
    int64_t T = xp->shape[0];
    sg_tensor **outs = calloc((size_t)T, sizeof *outs);
    if (!outs) return sg_set_error(SG_ERR_MEM, "sg_rnn_forward: out of memory");
    int rc = SG_OK;
    for (int64_t s = 0; s < T && !rc; s++) {
        int64_t t = d == 0 ? s : T - 1 - s;
        sg_tensor *xg = sg_squeeze(sg_narrow(xp, 0, t, 1), 0);
        sg_tensor *hn = NULL, *cn = NULL;
        rc = xg ? sg__cell_step(j->cfg, &j->w[d], xg, h, c, &hn, &cn) : sg_last_status();
        if (rc) break;
        if (masks) { /* past a sequence's end: keep the state, output zero */
            outs[t] = sg_mul(hn, masks[t]);
            h = sg_where(masks[t], hn, h);
            if (c) c = sg_where(masks[t], cn, c);
        } else {
            outs[t] = hn;
            h = hn;
            c = cn;
        }
        if (!outs[t] || !h) rc = sg_last_status();
    }
    if (!rc) {
        j->out[d] = sg_stack((int)T, outs, 0);
        j->h_n[d] = h;
        j->c_n[d] = c;
        if (!j->out[d]) rc = sg_last_status();
    }
    free(outs);
    return rc;
}

/* Whether a composed step's backward reads its input products xg (nn/rnn_cell.c): only the fused
 * PyTorch-form GRU op does (it recomputes its gates from them). Every other step consumes xg through
 * sg_linear_add or sg_add, whose backward reads none of its values. */
static bool step_reads_xg(const sg_rnn_config *cfg) { return cfg->cell == SG_CELL_GRU && !cfg->gru_reset_before; }

/* The whole stack as the composed graph (the definition). inp (T,B,D) time-major. */
static int forward_composed(const sg_rnn *r, sg_tensor *inp, sg_tensor *const *masks, sg_tensor *h0, sg_tensor *c0,
                            sg_tensor **output, sg_tensor **h_n, sg_tensor **c_n) {
    const sg_rnn_config *cfg = &r->cfg;
    sg_dtype dt = sg_model_dtype(r->m);
    bool lstm = cfg->cell == SG_CELL_LSTM;
    int64_t B = inp->shape[1], H = cfg->hidden_size, P = cfg->proj_size ? cfg->proj_size : H;
    int nst = r->L * r->dirs;
    sg_tensor *hs[STATES_ON_STACK] = {0}, *cs[STATES_ON_STACK] = {0};
    sg_tensor **hn = nst <= STATES_ON_STACK ? hs : calloc((size_t)nst, sizeof *hn);
    sg_tensor **cn = nst <= STATES_ON_STACK ? cs : calloc((size_t)nst, sizeof *cn);
    int rc = (hn && cn) ? SG_OK : sg_set_error(SG_ERR_MEM, "sg_rnn_forward: out of memory");
    sg_tensor *zh = NULL, *zc = NULL;
    if (!rc && !h0) zh = sg__out(dt, 2, (int64_t[]){B, P}, true);
    if (!rc && lstm && !c0) zc = sg__out(dt, 2, (int64_t[]){B, H}, true);

    for (int l = 0; l < r->L && !rc; l++) {
        layer_job job = {.cfg = cfg, .masks = masks};
        for (int d = 0; d < r->dirs && !rc; d++) {
            int k = l * r->dirs + d;
            rc = sg__cell_resolve(r->m, cfg, cell_params(r, l, d), &job.w[d]);
            if (rc) break;
            job.xp[d] = sg_linear(inp, job.w[d].w_ih, job.w[d].b_ih);
            job.h[d] = h0 ? state_at(h0, k) : zh;
            job.c[d] = lstm ? (c0 ? state_at(c0, k) : zc) : NULL;
            if (!job.xp[d] || !job.h[d] || (lstm && !job.c[d])) rc = sg_last_status();
        }
        if (!rc) rc = r->dirs == 2 ? sg__tape_parallel(run_direction, &job) : run_direction(0, &job);
        if (rc) break;
        if (!step_reads_xg(cfg)) /* the input products are dead now: free them before backward */
            for (int d = 0; d < r->dirs; d++) sg__drop_data(job.xp[d]);
        for (int d = 0; d < r->dirs; d++) {
            hn[l * r->dirs + d] = job.h_n[d];
            cn[l * r->dirs + d] = job.c_n[d];
        }
        inp = r->dirs == 2 ? sg_concat(2, job.out, 2) : job.out[0];
        if (l + 1 < r->L && cfg->dropout > 0) inp = sg_model_dropout(r->m, inp, cfg->dropout);
        if (!inp) rc = sg_last_status();
    }
    if (!rc) {
        *output = inp;
        *h_n = sg_stack(nst, hn, 0);
        *c_n = lstm ? sg_stack(nst, cn, 0) : NULL;
        if (!*h_n || (lstm && !*c_n)) rc = sg_last_status();
    }
    if (hn != hs) free(hn);
    if (cn != cs) free(cn);
    return rc;
}

static sg_tensor *opt_param(const sg_rnn *r, int i) { return i >= 0 ? sg_model_param(r->m, i) : NULL; }

/* The whole stack as one fused op per layer, chained like the composed layers (PyTorch stacking:
 * layer l+1 reads layer l's dirs*P channels). inp (T,B,D) time-major. */
static int forward_fused(sg_rnn *r, sg_tensor *inp, sg_tensor *h0, sg_tensor *c0, sg_tensor **output, sg_tensor **h_n,
                         sg_tensor **c_n) {
    const sg_rnn_config *cfg = &r->cfg;
    bool lstm = cfg->cell == SG_CELL_LSTM;
    int64_t T = inp->shape[0], B = inp->shape[1], H = cfg->hidden_size, P = cfg->proj_size ? cfg->proj_size : H;
    int64_t dirs = r->dirs, n_out = T * B * dirs * P, n_h = dirs * B * P, n_c = dirs * B * H;
    sg_tensor *hs[STATES_ON_STACK] = {0}, *cs[STATES_ON_STACK] = {0};
    sg_tensor **hl = r->L <= STATES_ON_STACK ? hs : calloc((size_t)r->L, sizeof *hl);
    sg_tensor **cl = r->L <= STATES_ON_STACK ? cs : calloc((size_t)r->L, sizeof *cl);
    int rc = (hl && cl) ? SG_OK : sg_set_error(SG_ERR_MEM, "sg_rnn_forward: out of memory");
    for (int l = 0; l < r->L && !rc; l++) {
        if (!r->wc[l] && !(r->wc[l] = sg_fused_wcache_new())) {
            rc = sg_last_status();
            break;
        }
        sg_fused_dir_params p[MAX_DIRS] = {0};
        for (int d = 0; d < r->dirs; d++) {
            const sg__cell_params *q = cell_params(r, l, d);
            p[d] = (sg_fused_dir_params){opt_param(r, q->w_ih), opt_param(r, q->w_hh), opt_param(r, q->b_ih),
                                         opt_param(r, q->b_hh), opt_param(r, q->w_hr), opt_param(r, q->w_ci),
                                         opt_param(r, q->w_cf), opt_param(r, q->w_co)};
        }
        sg_tensor *h = h0 ? sg_narrow(h0, 0, l * dirs, dirs) : NULL;
        sg_tensor *c = c0 ? sg_narrow(c0, 0, l * dirs, dirs) : NULL;
        sg_tensor *packed = sg_rnn_fused_layer(cfg, inp, h, c, p, r->wc[l]);
        inp = sg_reshape(sg_narrow(packed, 0, 0, n_out), 3, (int64_t[]){T, B, dirs * P});
        hl[l] = sg_reshape(sg_narrow(packed, 0, n_out, n_h), 3, (int64_t[]){dirs, B, P});
        if (lstm) cl[l] = sg_reshape(sg_narrow(packed, 0, n_out + n_h, n_c), 3, (int64_t[]){dirs, B, H});
        if (inp && l + 1 < r->L && cfg->dropout > 0) inp = sg_model_dropout(r->m, inp, cfg->dropout); /* eval: identity */
        if (!inp || !hl[l] || (lstm && !cl[l])) rc = sg_last_status();
    }
    if (!rc) {
        *output = inp;
        *h_n = r->L == 1 ? hl[0] : sg_concat(r->L, hl, 0);
        *c_n = !lstm ? NULL : r->L == 1 ? cl[0] : sg_concat(r->L, cl, 0);
        if (!*h_n || (lstm && !*c_n)) rc = sg_last_status();
    }
    if (hl != hs) free(hl);
    if (cl != cs) free(cl);
    return rc;
}

/* Which implementation runs this call: 1 fused, 0 composed, or a negative status when the onednn
 * backend was asked for where it cannot serve. */
static int choose_fused(sg_rnn *r, sg_dtype dt, bool ragged) {
    sg_backend b = r->cfg.backend != SG_BACKEND_DEFAULT ? r->cfg.backend : sg_rnn_default_backend();
    if (b == SG_BACKEND_COMPOSED) return 0;
    char why[WHY_BUF];
    if (sg_fused_can_serve(&r->cfg, dt, ragged, sg_model_is_training(r->m), why, sizeof why)) return 1;
    if (b == SG_BACKEND_ONEDNN)
        return sg_set_error(SG_ERR_UNSUPPORTED, "sg_rnn_forward: layer '%s' cannot use the onednn backend: %s", r->prefix, why);
    const char *dbg = getenv("SEQGRAD_DEBUG");
    if (dbg && dbg[0] && strcmp(why, r->last_why)) { /* once per layer and reason */
        fprintf(stderr, "seqgrad: layer '%s' uses composed: %s\n", r->prefix, why);
        snprintf(r->last_why, sizeof r->last_why, "%s", why);
    }
    return 0;
}

int sg_rnn_forward(sg_rnn *r, sg_tensor *x, const int64_t *lengths, sg_tensor *h0, sg_tensor *c0, sg_rnn_out *out) {
    const char *fn = "sg_rnn_forward";
    if (!out) return sg_set_error(SG_ERR_NULL, "%s: argument 'out' is NULL", fn);
    memset(out, 0, sizeof *out);
    if (!r) return sg_set_error(SG_ERR_NULL, "%s: argument 'r' is NULL", fn);
    if (!sg__check_arg(x, fn, "x")) return sg_last_status();
    const sg_rnn_config *cfg = &r->cfg;
    sg_dtype dt = sg_model_dtype(r->m);
    bool lstm = cfg->cell == SG_CELL_LSTM;
    char b1[SG_SHAPE_BUF];
    if (x->dtype != dt)
        return sg_set_error(SG_ERR_DTYPE, "%s: x is %s but the model is %s", fn, sg_dtype_name(x->dtype), sg_dtype_name(dt));
    if (x->ndim != 3 || x->shape[2] != cfg->input_size)
        return sg_set_error(SG_ERR_SHAPE, "%s: x must be (%s, %lld) with input_size %lld, got %s", fn,
                            cfg->batch_first ? "B, T" : "T, B", (long long)cfg->input_size,
                            (long long)cfg->input_size, sg__shape_str(x->ndim, x->shape, b1, sizeof b1));
    if (c0 && !lstm) return sg_set_error(SG_ERR_ARG, "%s: c0 is for LSTM only", fn);
    sg_tensor *xs = cfg->batch_first ? sg_transpose(x, 0, 1) : x;
    if (!xs) return sg_last_status();
    int64_t T = xs->shape[0], B = xs->shape[1], H = cfg->hidden_size, P = cfg->proj_size ? cfg->proj_size : H;
    if (T < 1 || B < 1) return sg_set_error(SG_ERR_SHAPE, "%s: need T >= 1 and B >= 1, got x %s", fn,
                                            sg__shape_str(x->ndim, x->shape, b1, sizeof b1));
    int nst = r->L * r->dirs;
    if (check_state("h0", h0, nst, B, P, dt) || check_state("c0", c0, nst, B, H, dt)) return sg_last_status();
    if (!sg_model_is_final(r->m)) return sg_set_error(SG_ERR_STATE, "%s: call sg_model_finalize first", fn);

    sg_tensor **masks;
    if (make_masks(dt, T, B, lengths, &masks)) return sg_last_status();
    int fused = choose_fused(r, dt, masks != NULL);
    sg_tensor *output = NULL;
    int rc = fused < 0 ? fused
           : fused ? forward_fused(r, xs, h0, c0, &output, &out->h_n, &out->c_n)
                   : forward_composed(r, xs, masks, h0, c0, &output, &out->h_n, &out->c_n);
    if (!rc) {
        out->output = cfg->batch_first ? sg_transpose(output, 0, 1) : output;
        if (!out->output) rc = sg_last_status();
    }
    if (rc) memset(out, 0, sizeof *out);
    free(masks);
    return rc;
}
