/* The one layer driver for every cell definition (cell.h): multi-layer, bidirectional,
 * variable-length layers over the checked step of rnn_cell.c, plus backend selection. The fused
 * oneDNN path is an op in ops/ chosen here for the built-in definitions it can serve, never a
 * second implementation of the layer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/node.h"
#include "layers.h"
#include "rnn_impl.h"
#include "model_impl.h"

/* CHUNK_ROWS: rows (steps x B) of one input-product chunk of a no-grad forward (run_direction_nograd) */
enum { NAME_BUF = 64, MAX_DIRS = 2, STATES_ON_STACK = 64, WHY_BUF = 160, CHUNK_ROWS = 4096 };

struct sg_rnn {
    sg_model *m;
    sg_rnn_config cfg;
    sg__cell_info ci;
    int L, dirs;
    sg__cell_params *p; /* [L * dirs], index 2*l + d */
    sg_fused_wcache **wc; /* [L]: the fused op's weight cache per layer, made on first use */
    char prefix[NAME_BUF * 2];
    char last_why[WHY_BUF]; /* last fallback reason logged under SEQGRAD_DEBUG */
    sg_backend ran;         /* what ran the last successful forward (DEFAULT: none yet) */
    char ran_why[WHY_BUF], why_next[WHY_BUF];
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

/* ---- the fused op's side: which built-in definitions it runs ---- */

static const struct {
    const sg_cell_def *def;
    sg_fused_alg alg;
} FUSED_CELLS[] = {
    {&sg_cell_rnn_tanh, SG_FUSED_RNN_TANH}, {&sg_cell_rnn_relu, SG_FUSED_RNN_RELU}, {&sg_cell_lstm, SG_FUSED_LSTM},
    {&sg_cell_gru, SG_FUSED_GRU_LBR},       {&sg_cell_gru_reset_before, SG_FUSED_GRU_RESET_BEFORE},
};
enum { N_FUSED_CELLS = sizeof FUSED_CELLS / sizeof FUSED_CELLS[0] };

/* The op's description of a layer of cfg, or false when the definition has no fused form (its
 * rows must be the op's slots, in order, by name). */
static bool fused_desc(const sg_rnn_config *cfg, sg_fused_desc *d) {
    const sg_cell_def *def = cfg->def ? cfg->def : NULL;
    if (!def) {
        bool ok = (unsigned)cfg->cell < SG_CELL_COUNT;
        if (!ok) return false;
        def = sg_rnn_config_def(cfg);
    }
    for (int i = 0; i < N_FUSED_CELLS; i++) {
        if (FUSED_CELLS[i].def != def) continue;
        int n = sg_cell_num_params(def);
        if (n > SG_FUSED_NPARAMS) return false;
        for (int k = 0; k < n; k++)
            if (strcmp(def->params[k].name, sg_fused_param_names[k])) return false;
        *d = (sg_fused_desc){FUSED_CELLS[i].alg, cfg->bidirectional ? MAX_DIRS : 1, cfg->hidden_size,
                             cfg->proj_size ? cfg->proj_size : cfg->hidden_size, !cfg->no_bias, cfg->peephole};
        return true;
    }
    return false;
}

static void say(char *why, size_t n, const char *msg) {
    if (why && n) snprintf(why, n, "%s", msg);
}

int sg_fused_can_serve(const sg_rnn_config *cfg, sg_dtype dt, bool ragged, bool training, char *why, size_t n) {
    if (!cfg) return say(why, n, "no configuration"), 0;
    sg_fused_desc d;
    if (!fused_desc(cfg, &d)) {
        char m[WHY_BUF];
        if (cfg->def) snprintf(m, sizeof m, "cell '%s' has no fused implementation (only the built-in kinds do)",
                               cfg->def->name ? cfg->def->name : "(unnamed)");
        else snprintf(m, sizeof m, "unknown cell kind");
        return say(why, n, m), 0;
    }
    if (!sg_fused_available()) return say(why, n, "built without oneDNN"), 0;
    if (!sg_fused_op_can_serve(&d, dt, why, n)) return 0;
    if (ragged) return say(why, n, "variable-length batch (oneDNN 2.6 has no sequence lengths)"), 0;
    if (training && cfg->dropout > 0 && cfg->num_layers > 1)
        return say(why, n, "inter-layer dropout while training (oneDNN's layer stack has none)"), 0;
    return 1;
}

sg_tensor *sg_rnn_fused_layer(const sg_rnn_config *cfg, sg_tensor *x, sg_tensor *h0, sg_tensor *c0,
                              const sg_fused_dir_params *p, sg_fused_wcache *wc) {
    if (!cfg) {
        sg_set_error(SG_ERR_NULL, "sg_rnn_fused_layer: cfg and p are required");
        return NULL;
    }
    sg_fused_desc d;
    if (!fused_desc(cfg, &d)) {
        sg_set_error(SG_ERR_UNSUPPORTED, "sg_rnn_fused_layer: the configuration's cell has no fused implementation");
        return NULL;
    }
    return sg_fused_layer(&d, x, h0, c0, p, wc);
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
    for (int l = 0; l < r->L; l++)
        for (int d = 0; d < r->dirs; d++) {
            int rc = sg__cell_after_init(r->m, &r->ci, &r->p[l * r->dirs + d], l, d);
            if (rc) return rc;
        }
    return SG_OK;
}

sg_rnn *sg_rnn_new(sg_model *m, const char *prefix, const sg_rnn_config *cfg) {
    const char *fn = "sg_rnn_new";
    if (!m) {
        sg_set_error(SG_ERR_NULL, "%s: argument 'm' is NULL", fn);
        return NULL;
    }
    sg__cell_info ci;
    if (sg__cell_info_make(cfg, fn, false, &ci)) return NULL;
    if (cfg->backend != SG_BACKEND_DEFAULT && cfg->backend != SG_BACKEND_AUTO &&
        cfg->backend != SG_BACKEND_COMPOSED && cfg->backend != SG_BACKEND_ONEDNN) {
        sg_set_error(SG_ERR_ARG, "%s: invalid backend %d", fn, (int)cfg->backend);
        return NULL;
    }
    sg_rnn *r = calloc(1, sizeof *r);
    if (!r) {
        sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
        return NULL;
    }
    r->m = m;
    r->cfg = *cfg;
    r->L = cfg->num_layers ? cfg->num_layers : 1;
    r->cfg.num_layers = r->L;
    r->ci = ci;
    r->ci.cfg = &r->cfg;
    r->dirs = cfg->bidirectional ? MAX_DIRS : 1;
    snprintf(r->prefix, sizeof r->prefix, "%s", prefix ? prefix : "");
    r->p = calloc((size_t)(r->L * r->dirs), sizeof *r->p);
    r->wc = calloc((size_t)r->L, sizeof *r->wc);
    if (!r->p || !r->wc) {
        rnn_free(r);
        sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
        return NULL;
    }
    int n0 = sg_model_num_params(m);
    for (int l = 0; l < r->L; l++)
        for (int d = 0; d < r->dirs; d++) { /* PyTorch's order: layer-major, forward before reverse */
            char sfx[NAME_BUF];
            snprintf(sfx, sizeof sfx, "_l%d%s", l, d ? "_reverse" : "");
            int64_t in = l == 0 ? cfg->input_size : r->dirs * r->ci.P;
            if (sg__cell_declare(m, prefix, sfx, &r->ci, in, &r->p[l * r->dirs + d])) {
                sg__model_forget(m, n0); /* no orphan parameters: a retry can declare them again */
                rnn_free(r);
                return NULL;
            }
        }
    if (sg__model_own(m, r, rnn_free, rnn_after_init)) {
        sg__model_forget(m, n0);
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

sg_backend sg_rnn_last_backend(const sg_rnn *r, const char **why) {
    if (why) *why = r && r->ran != SG_BACKEND_DEFAULT ? r->ran_why : "no forward yet";
    return r ? r->ran : SG_BACKEND_DEFAULT;
}

static const sg__cell_params *cell_params(const sg_rnn *r, int l, int d) { return &r->p[l * r->dirs + d]; }

sg_model *sg__rnn_model(const sg_rnn *r) { return r->m; }
const sg__cell_info *sg__rnn_info(const sg_rnn *r) { return &r->ci; }
const sg__cell_params *sg__rnn_params(const sg_rnn *r, int layer, int dir) { return cell_params(r, layer, dir); }

sg_tensor *sg_rnn_param(const sg_rnn *r, const char *name, int layer, int dir) {
    if (!r || !name || layer < 0 || layer >= r->L || dir < 0 || dir >= r->dirs) {
        sg_set_error(SG_ERR_ARG, "sg_rnn_param: bad layer/direction/name");
        return NULL;
    }
    const sg__cell_params *p = cell_params(r, layer, dir);
    for (int i = 0; i < r->ci.n_rows; i++)
        if (!strcmp(r->ci.def->params[i].name, name)) return p->idx[i] >= 0 ? sg_model_param(r->m, p->idx[i]) : NULL;
    sg_set_error(SG_ERR_ARG, "sg_rnn_param: unknown parameter '%s' (cell '%s')", name, r->ci.def->name);
    return NULL;
}

/* ---- forward ---- */

/* state k of a (L*dirs, B, n) tensor as a (B, n) view */
static sg_tensor *state_at(sg_tensor *s, int k) { return sg_squeeze(sg_narrow(s, 0, k, 1), 0); }

static int check_state(const char *arg, sg_tensor *s, int64_t n0, int64_t B, int64_t n, sg_dtype dt, bool second) {
    if (!s) return SG_OK;
    if (!sg__check_arg(s, "sg_rnn_forward", arg)) return sg_last_status();
    if (s->dtype != dt) return sg_set_error(SG_ERR_DTYPE, "sg_rnn_forward: %s is %s but the model is %s", arg,
                                            sg_dtype_name(s->dtype), sg_dtype_name(dt));
    if (s->ndim != 3 || s->shape[0] != n0 || s->shape[1] != B || s->shape[2] != n) {
        char b[SG_SHAPE_BUF];
        return sg_set_error(SG_ERR_SHAPE, "sg_rnn_forward: %s must be (%lld, %lld, %lld) = (layers*dirs, B, %s), got %s",
                            arg, (long long)n0, (long long)B, (long long)n, second ? "hidden" : "hidden or proj",
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

/* One layer of the composed graph: per direction its context, weights, input products and
 * initial states (made before the directions run, so the two directions share no tensor they
 * write a gradient into), and the results. */
typedef struct {
    const sg__cell_info *ci;
    sg_tensor *const *masks;
    sg_cell_ctx ctx[MAX_DIRS];
    sg_tensor *w[MAX_DIRS][SG_CELL_MAX_PARAMS];
    sg_tensor *x;             /* the layer's input (T, B, D) */
    bool chunked;             /* no-grad without a hoist hook: xp is made CHUNK_ROWS rows at a time */
    sg_tensor *xp[MAX_DIRS];  /* (T, B, G*H): x W_ih^T + b_ih for all steps (one GEMM), hoisted */
    sg_tensor *raw[MAX_DIRS]; /* the product before the hoist hook (xp without one) */
    sg_tensor *s[MAX_DIRS][SG_CELL_MAX_STATES];
    sg_tensor *out[MAX_DIRS], *s_n[MAX_DIRS][SG_CELL_MAX_STATES];
} layer_job;

/* dst = src, into rows [off, off + numel(src)) of the contiguous tensor base (a header on the
 * stack: no allocation, nothing registered). */
static void copy_into(sg_tensor *base, int64_t off, const sg_tensor *src) {
    sg_tensor dst = *base;
    dst.ndim = src->ndim;
    for (int i = 0; i < src->ndim; i++) dst.shape[i] = src->shape[i];
    sg__contiguous_strides(dst.ndim, dst.shape, dst.stride);
    dst.offset = base->offset + off;
    sg__kcopy(&dst, src);
    sg__bump(base->storage);
}

/* Direction d without gradients: nothing a backward could read is recorded, so each step's
 * intermediates die with the step. The outputs go into one (T, B, P) tensor and the states into
 * two ping-pong buffers made before the loop; everything else a step makes is released at its
 * end, so the working set is O(B x H) plus the outputs, not O(T x intermediates). The values
 * are the same as the recorded loop's (plain copies). */
static int run_direction_nograd(int d, layer_job *j) {
    const sg__cell_info *ci = j->ci;
    sg_tensor *xp = j->xp[d], *const *masks = j->masks, *s[SG_CELL_MAX_STATES], *buf[2][SG_CELL_MAX_STATES];
    int ns = ci->n_states;
    int64_t T = j->x->shape[0], B = j->x->shape[1], P = ci->P;
    sg_dtype dt = j->x->dtype;
    /* chunked: the input product of CH steps at a time (still one GEMM per chunk), freed when
     * the loop leaves the chunk, so it costs O(CH x B x G*H) instead of O(T x B x G*H) */
    int64_t CH = CHUNK_ROWS / B > 1 ? CHUNK_ROWS / B : 1, chunk = -1;
    sg_tensor *all = sg__out(dt, 3, (int64_t[]){T, B, P}, false);
    if (!all) return sg_last_status();
    for (int k = 0; k < ns; k++) {
        s[k] = j->s[d][k];
        for (int q = 0; q < 2; q++)
            if (!(buf[q][k] = sg__out(dt, 2, (int64_t[]){B, ci->state_size[k]}, false))) return sg_last_status();
    }
    int rc = SG_OK;
    for (int64_t step = 0; step < T && !rc; step++) {
        int64_t t = d == 0 ? step : T - 1 - step;
        if (j->chunked && t / CH != chunk) { /* the chunk holding step t */
            if (xp) sg__drop_data(xp);
            chunk = t / CH;
            int64_t t0 = chunk * CH, n = T - t0 < CH ? T - t0 : CH;
            xp = sg__cell_input(ci, &j->ctx[d], j->w[d], sg_narrow(j->x, 0, t0, n), NULL);
            if (!xp) {
                rc = sg_last_status();
                break;
            }
        }
        size_t mark = sg_tape_mark(); /* this part's tape: everything after it is this step's */
        sg_tensor *xg = sg_squeeze(sg_narrow(xp, 0, j->chunked ? t - chunk * CH : t, 1), 0);
        sg_tensor *sn[SG_CELL_MAX_STATES], *o = NULL;
        rc = xg ? sg__cell_step(ci, &j->ctx[d], j->w[d], xg, s, t, sn, &o, "sg_rnn_forward") : sg_last_status();
        if (!rc && masks) { /* past a sequence's end: keep the state, output zero */
            o = sg_mul(o, masks[t]);
            for (int k = 0; k < ns; k++) sn[k] = sg_where(masks[t], sn[k], s[k]);
        }
        if (!rc && !o) rc = sg_last_status();
        for (int k = 0; k < ns && !rc; k++)
            if (!sn[k]) rc = sg_last_status();
        if (!rc) {
            copy_into(all, t * B * P, o);
            for (int k = 0; k < ns; k++) {
                copy_into(buf[step & 1][k], 0, sn[k]);
                s[k] = buf[step & 1][k];
            }
        }
        sg_tape_release(mark);
    }
    if (j->chunked && xp) sg__drop_data(xp);
    if (rc) return rc;
    j->out[d] = all;
    for (int k = 0; k < ns; k++) j->s_n[d][k] = s[k];
    return SG_OK;
}

/* Direction d of a layer over the whole sequence: writes out (T, B, P) and the final states. */
static int run_direction(int d, void *arg) {
    layer_job *j = arg;
    if (!sg_is_grad_enabled()) return run_direction_nograd(d, j);
    const sg__cell_info *ci = j->ci;
    sg_tensor *xp = j->xp[d], *const *masks = j->masks, *s[SG_CELL_MAX_STATES];
    int ns = ci->n_states;
    for (int k = 0; k < ns; k++) s[k] = j->s[d][k];
    int64_t T = xp->shape[0];
    sg_tensor **outs = calloc((size_t)T, sizeof *outs);
    if (!outs) return sg_set_error(SG_ERR_MEM, "sg_rnn_forward: out of memory");
    int rc = SG_OK;
    for (int64_t step = 0; step < T && !rc; step++) {
        int64_t t = d == 0 ? step : T - 1 - step;
        sg_tensor *xg = sg_squeeze(sg_narrow(xp, 0, t, 1), 0);
        sg_tensor *sn[SG_CELL_MAX_STATES], *o = NULL;
        rc = xg ? sg__cell_step(ci, &j->ctx[d], j->w[d], xg, s, t, sn, &o, "sg_rnn_forward") : sg_last_status();
        if (rc) break;
        if (masks) { /* past a sequence's end: keep the state, output zero */
            outs[t] = sg_mul(o, masks[t]);
            for (int k = 0; k < ns; k++) s[k] = sg_where(masks[t], sn[k], s[k]);
        } else {
            outs[t] = o;
            for (int k = 0; k < ns; k++) s[k] = sn[k];
        }
        if (!outs[t]) rc = sg_last_status();
        for (int k = 0; k < ns && !rc; k++)
            if (!s[k]) rc = sg_last_status();
    }
    if (!rc) {
        j->out[d] = sg_stack((int)T, outs, 0);
        for (int k = 0; k < ns; k++) j->s_n[d][k] = s[k];
        if (!j->out[d]) rc = sg_last_status();
    }
    free(outs);
    return rc;
}

/* Frees a dead intermediate's data now (before backward) when no recorded backward since mark
 * reads it: each op declares what its backward reads (sg_node.reads). */
static void drop_if_unread(size_t mark, sg_tensor *t) {
    if (t && !sg__tape_reads(mark, t)) sg__drop_data(t);
}

/* The whole stack as the composed graph (the definition). inp (T,B,D) time-major; s0[k] the
 * initial states (L*dirs, B, size_k) or NULL; sn[k] receives the final ones. */
static int forward_composed(const sg_rnn *r, sg_tensor *inp, sg_tensor *const *masks, sg_tensor *const *s0,
                            sg_tensor **output, sg_tensor **sn) {
    const sg__cell_info *ci = &r->ci;
    sg_dtype dt = sg_model_dtype(r->m);
    int64_t B = inp->shape[1];
    int nst = r->L * r->dirs, ns = ci->n_states;
    bool nograd = !sg_is_grad_enabled(); /* dead layer outputs are freed as soon as they are read */
    sg_tensor **fin = calloc((size_t)(nst * ns), sizeof *fin); /* fin[k * nst + i]: state k of cell i */
    int rc = fin ? SG_OK : sg_set_error(SG_ERR_MEM, "sg_rnn_forward: out of memory");
    sg_tensor *zeros[SG_CELL_MAX_STATES] = {0}; /* shared zero initial states: read only, no gradient */
    for (int k = 0; k < ns && !rc; k++)
        if (!s0[k] && !(zeros[k] = sg__out(dt, 2, (int64_t[]){B, ci->state_size[k]}, true))) rc = sg_last_status();

    for (int l = 0; l < r->L && !rc; l++) {
        layer_job job = {.ci = ci, .masks = masks, .x = inp, .chunked = nograd && !ci->def->hoist};
        size_t mark = sg_tape_mark();
        for (int d = 0; d < r->dirs && !rc; d++) {
            int i = l * r->dirs + d;
            job.ctx[d] = sg__cell_ctx(ci, cell_params(r, l, d), l, d, B);
            rc = sg__cell_resolve(r->m, ci, cell_params(r, l, d), &job.ctx[d], job.w[d]);
            if (rc) break;
            if (!job.chunked && !(job.xp[d] = sg__cell_input(ci, &job.ctx[d], job.w[d], inp, &job.raw[d])))
                rc = sg_last_status();
            for (int k = 0; k < ns && !rc; k++)
                if (!(job.s[d][k] = s0[k] ? state_at(s0[k], i) : zeros[k])) rc = sg_last_status();
        }
        if (!rc) rc = r->dirs == 2 ? sg__tape_parallel(run_direction, &job) : run_direction(0, &job);
        if (rc) break;
        for (int d = 0; d < r->dirs; d++) { /* the input products are dead unless a backward reads them */
            drop_if_unread(mark, job.xp[d]);
            if (job.raw[d] != job.xp[d]) drop_if_unread(mark, job.raw[d]);
            for (int k = 0; k < ns; k++) fin[k * nst + l * r->dirs + d] = job.s_n[d][k];
        }
        if (nograd && l > 0) sg__drop_data(inp); /* the layer below's output: read by the products only */
        inp = r->dirs == 2 ? sg_concat(2, job.out, 2) : job.out[0];
        for (int d = 0; nograd && inp && r->dirs == 2 && d < r->dirs; d++) sg__drop_data(job.out[d]);
        if (l + 1 < r->L && r->cfg.dropout > 0) inp = sg_model_dropout(r->m, inp, r->cfg.dropout);
        if (!inp) rc = sg_last_status();
    }
    if (!rc) {
        *output = inp;
        for (int k = 0; k < ns && !rc; k++)
            if (!(sn[k] = sg_stack(nst, fin + k * nst, 0))) rc = sg_last_status();
    }
    free(fin);
    return rc;
}

static sg_tensor *opt_param(const sg_rnn *r, int i) { return i >= 0 ? sg_model_param(r->m, i) : NULL; }

/* The whole stack as one fused op per layer, chained like the composed layers (PyTorch stacking:
 * layer l+1 reads layer l's dirs*P channels). inp (T,B,D) time-major; built-in kinds only. */
static int forward_fused(sg_rnn *r, const sg_fused_desc *desc, sg_tensor *inp, sg_tensor *h0, sg_tensor *c0,
                         sg_tensor **output, sg_tensor **h_n, sg_tensor **c_n) {
    const sg_rnn_config *cfg = &r->cfg;
    bool lstm = desc->alg == SG_FUSED_LSTM;
    int64_t T = inp->shape[0], B = inp->shape[1], H = desc->H, P = desc->P;
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
        for (int d = 0; d < r->dirs; d++) { /* the definition's rows are the op's slots (fused_desc) */
            sg_tensor **slot = (sg_tensor **)&p[d];
            for (int i = 0; i < r->ci.n_rows; i++) slot[i] = opt_param(r, cell_params(r, l, d)->idx[i]);
        }
        sg_tensor *h = h0 ? sg_narrow(h0, 0, l * dirs, dirs) : NULL;
        sg_tensor *c = c0 ? sg_narrow(c0, 0, l * dirs, dirs) : NULL;
        sg_tensor *packed = sg_fused_layer(desc, inp, h, c, p, r->wc[l]);
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
 * backend was asked for where it cannot serve. Leaves the reason in r->why_next. */
static int choose_fused(sg_rnn *r, sg_dtype dt, bool ragged) {
    sg_backend b = r->cfg.backend != SG_BACKEND_DEFAULT ? r->cfg.backend : sg_rnn_default_backend();
    if (b == SG_BACKEND_COMPOSED) {
        snprintf(r->why_next, sizeof r->why_next, "backend composed was asked for");
        return 0;
    }
    char why[WHY_BUF];
    if (sg_fused_can_serve(&r->cfg, dt, ragged, sg_model_is_training(r->m), why, sizeof why)) {
        snprintf(r->why_next, sizeof r->why_next, "backend %s: the fused oneDNN op serves this layer", sg_backend_name(b));
        return 1;
    }
    if (b == SG_BACKEND_ONEDNN)
        return sg_set_error(SG_ERR_UNSUPPORTED, "sg_rnn_forward: layer '%s' cannot use the onednn backend: %s", r->prefix, why);
    snprintf(r->why_next, sizeof r->why_next, "%s", why);
    const char *dbg = getenv("SEQGRAD_DEBUG");
    if (dbg && dbg[0] && strcmp(why, r->last_why)) { /* once per layer and reason */
        fprintf(stderr, "seqgrad: layer '%s' uses composed: %s\n", r->prefix, why);
        snprintf(r->last_why, sizeof r->last_why, "%s", why);
    }
    return 0;
}

int sg_rnn_forward_states(sg_rnn *r, sg_tensor *x, const int64_t *lengths, sg_tensor *const *s0, sg_rnn_out *out) {
    const char *fn = "sg_rnn_forward";
    if (!out) return sg_set_error(SG_ERR_NULL, "%s: argument 'out' is NULL", fn);
    memset(out, 0, sizeof *out);
    if (!r) return sg_set_error(SG_ERR_NULL, "%s: argument 'r' is NULL", fn);
    if (!sg__check_arg(x, fn, "x")) return sg_last_status();
    const sg_rnn_config *cfg = &r->cfg;
    const sg__cell_info *ci = &r->ci;
    sg_dtype dt = sg_model_dtype(r->m);
    char b1[SG_SHAPE_BUF];
    if (x->dtype != dt)
        return sg_set_error(SG_ERR_DTYPE, "%s: x is %s but the model is %s", fn, sg_dtype_name(x->dtype), sg_dtype_name(dt));
    if (x->ndim != 3 || x->shape[2] != cfg->input_size)
        return sg_set_error(SG_ERR_SHAPE, "%s: x must be (%s, %lld) with input_size %lld, got %s", fn,
                            cfg->batch_first ? "B, T" : "T, B", (long long)cfg->input_size,
                            (long long)cfg->input_size, sg__shape_str(x->ndim, x->shape, b1, sizeof b1));
    sg_tensor *xs = cfg->batch_first ? sg_transpose(x, 0, 1) : x;
    if (!xs) return sg_last_status();
    int64_t T = xs->shape[0], B = xs->shape[1];
    if (T < 1 || B < 1) return sg_set_error(SG_ERR_SHAPE, "%s: need T >= 1 and B >= 1, got x %s", fn,
                                            sg__shape_str(x->ndim, x->shape, b1, sizeof b1));
    int nst = r->L * r->dirs;
    sg_tensor *init[SG_CELL_MAX_STATES] = {0};
    for (int k = 0; k < ci->n_states; k++) {
        char arg[NAME_BUF];
        snprintf(arg, sizeof arg, "%s0", k == 0 ? "h" : k == 1 ? "c" : ci->def->states[k].name);
        init[k] = s0 ? s0[k] : NULL;
        if (check_state(arg, init[k], nst, B, ci->state_size[k], dt, k > 0)) return sg_last_status();
    }
    if (!sg_model_is_final(r->m)) return sg_set_error(SG_ERR_STATE, "%s: call sg_model_finalize first", fn);

    sg_tensor **masks;
    if (make_masks(dt, T, B, lengths, &masks)) return sg_last_status();
    int fused = choose_fused(r, dt, masks != NULL);
    sg_tensor *output = NULL;
    sg_fused_desc desc;
    int rc = fused < 0 ? fused
           : fused ? (fused_desc(cfg, &desc) ? forward_fused(r, &desc, xs, init[0], init[1], &output, &out->states[0],
                                                             &out->states[1])
                                             : sg_set_error(SG_ERR_STATE, "%s: no fused form", fn))
                   : forward_composed(r, xs, masks, init, &output, out->states);
    if (!rc) {
        out->output = cfg->batch_first ? sg_transpose(output, 0, 1) : output;
        out->h_n = out->states[0];
        out->c_n = ci->n_states > 1 ? out->states[1] : NULL;
        if (!out->output) rc = sg_last_status();
    }
    if (rc) memset(out, 0, sizeof *out);
    else {
        r->ran = fused ? SG_BACKEND_ONEDNN : SG_BACKEND_COMPOSED;
        snprintf(r->ran_why, sizeof r->ran_why, "%s", r->why_next);
    }
    free(masks);
    return rc;
}

int sg_rnn_forward(sg_rnn *r, sg_tensor *x, const int64_t *lengths, sg_tensor *h0, sg_tensor *c0, sg_rnn_out *out) {
    if (!out) return sg_set_error(SG_ERR_NULL, "sg_rnn_forward: argument 'out' is NULL");
    memset(out, 0, sizeof *out);
    if (!r) return sg_set_error(SG_ERR_NULL, "sg_rnn_forward: argument 'r' is NULL");
    if (c0 && r->ci.n_states < 2)
        return sg_set_error(SG_ERR_ARG, "sg_rnn_forward: c0 is for LSTM only (cell '%s' has 1 state)", r->ci.def->name);
    if (r->ci.n_states > 2)
        return sg_set_error(SG_ERR_ARG, "sg_rnn_forward: cell '%s' has %d states: use sg_rnn_forward_states",
                            r->ci.def->name, r->ci.n_states);
    sg_tensor *s0[SG_CELL_MAX_STATES] = {h0, c0};
    return sg_rnn_forward_states(r, x, lengths, s0, out);
}
