/* The fused recurrent-layer op (see rnn_fused_impl.h): argument checks, what it can serve, the forward
 * on oneDNN's forward_training / forward_inference primitive and the autograd backward on oneDNN's
 * backward primitive. Without oneDNN it is a stub that reports SG_ERR_UNSUPPORTED.
 * Not here: primitive creation (dnnl_rnn.c) or the weight mapping (dnnl_rnn_weights.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/node.h"
#include "rnn_fused_impl.h"
#if SEQGRAD_HAVE_DNNL
#include "dnnl_rnn_impl.h"
#endif

enum { MAX_DIRS = 2, MAX_IN = 3 + MAX_DIRS * SG_FUSED_NPARAMS, LSTM_G = 4, GRU_G = 3, RNN_G = 1 };
_Static_assert(sizeof(sg_fused_dir_params) == SG_FUSED_NPARAMS * sizeof(sg_tensor *), "one pointer per slot");

const char *const sg_fused_param_names[SG_FUSED_NPARAMS] = {
    [SG_FUSED_W_IH] = "weight_ih", [SG_FUSED_W_HH] = "weight_hh", [SG_FUSED_B_IH] = "bias_ih",
    [SG_FUSED_B_HH] = "bias_hh",   [SG_FUSED_W_HR] = "weight_hr", [SG_FUSED_W_CI] = "weight_ci",
    [SG_FUSED_W_CF] = "weight_cf", [SG_FUSED_W_CO] = "weight_co"};

int sg_fused_gates(sg_fused_alg alg) {
    return alg == SG_FUSED_LSTM ? LSTM_G : (alg == SG_FUSED_GRU_LBR || alg == SG_FUSED_GRU_RESET_BEFORE) ? GRU_G : RNN_G;
}

static void say(char *why, size_t n, const char *msg) {
    if (why && n) snprintf(why, n, "%s", msg);
}

bool sg_fused_available(void) { return SEQGRAD_HAVE_DNNL != 0; }

int sg_fused_op_can_serve(const sg_fused_desc *d, sg_dtype dt, char *why, size_t n) {
    if (!d) return say(why, n, "no layer description"), 0;
    if (!sg_fused_available()) return say(why, n, "built without oneDNN"), 0;
    if ((unsigned)d->alg >= SG_FUSED_ALG_COUNT) return say(why, n, "unknown cell variant"), 0;
    if (dt != SG_F32) {
        char m[96];
        snprintf(m, sizeof m, "oneDNN 2.6 trains recurrent layers in float32 only (the model is %s)", sg_dtype_name(dt));
        return say(why, n, m), 0;
    }
    return 1;
}

/* ---- argument checks (shared by both builds, so a stub build reports the same errors) ---- */

/* t must be float32 of shape (nd, s) when want, absent otherwise. */
static int check_t(const char *arg, int d, const sg_tensor *t, bool want, int nd, const int64_t *s) {
    const char *fn = "sg_rnn_fused_layer";
    char a[SG_SHAPE_BUF], b[SG_SHAPE_BUF];
    if (!want) return t ? sg_set_error(SG_ERR_ARG, "%s: %s[%d] given but the configuration has none", fn, arg, d) : SG_OK;
    if (!t) return sg_set_error(SG_ERR_NULL, "%s: %s[%d] is NULL", fn, arg, d);
    if (!sg__check_arg(t, fn, arg)) return sg_last_status();
    if (t->dtype != SG_F32) return sg_set_error(SG_ERR_DTYPE, "%s: %s[%d] is %s, need float32", fn, arg, d, sg_dtype_name(t->dtype));
    bool ok = t->ndim == nd;
    for (int i = 0; ok && i < nd; i++) ok = t->shape[i] == s[i];
    if (!ok)
        return sg_set_error(SG_ERR_SHAPE, "%s: %s[%d] must be %s, got %s", fn, arg, d, sg__shape_str(nd, s, a, sizeof a),
                            sg__shape_str(t->ndim, t->shape, b, sizeof b));
    return SG_OK;
}

static int check_args(const sg_fused_desc *desc, sg_tensor *x, sg_tensor *h0, sg_tensor *c0, const sg_fused_dir_params *p) {
    const char *fn = "sg_rnn_fused_layer";
    if (!desc || !p) return sg_set_error(SG_ERR_NULL, "%s: the layer description and p are required", fn);
    if (!sg__check_arg(x, fn, "x")) return sg_last_status();
    bool lstm = desc->alg == SG_FUSED_LSTM;
    if ((unsigned)desc->alg >= SG_FUSED_ALG_COUNT || (desc->dirs != 1 && desc->dirs != MAX_DIRS) || desc->H < 1 ||
        desc->P < 1 || desc->P > desc->H || (desc->P != desc->H && !lstm) || (desc->peephole && !lstm))
        return sg_set_error(SG_ERR_ARG, "%s: invalid layer (variant %d, dirs %d, hidden %lld, P %lld, peephole %d)", fn,
                            (int)desc->alg, desc->dirs, (long long)desc->H, (long long)desc->P, desc->peephole);
    char b[SG_SHAPE_BUF];
    if (x->dtype != SG_F32) return sg_set_error(SG_ERR_DTYPE, "%s: x is %s, need float32", fn, sg_dtype_name(x->dtype));
    if (x->ndim != 3 || x->shape[0] < 1 || x->shape[1] < 1 || x->shape[2] < 1)
        return sg_set_error(SG_ERR_SHAPE, "%s: x must be (T, B, D) with T, B, D >= 1, got %s", fn,
                            sg__shape_str(x->ndim, x->shape, b, sizeof b));
    int dirs = desc->dirs;
    int64_t B = x->shape[1], D = x->shape[2], H = desc->H, P = desc->P;
    int64_t GH = sg_fused_gates(desc->alg) * H;
    int rc = SG_OK;
    if (h0) rc = check_t("h0", 0, h0, true, 3, (int64_t[]){dirs, B, P});
    if (!rc && c0) rc = check_t("c0", 0, c0, lstm, 3, (int64_t[]){dirs, B, H});
    for (int d = 0; d < dirs && !rc; d++) {
        const sg_fused_dir_params *q = &p[d];
        bool bias = desc->bias;
        rc = check_t("w_ih", d, q->w_ih, true, 2, (int64_t[]){GH, D});
        if (!rc) rc = check_t("w_hh", d, q->w_hh, true, 2, (int64_t[]){GH, P});
        if (!rc) rc = check_t("b_ih", d, q->b_ih, bias, 1, &GH);
        if (!rc) rc = check_t("b_hh", d, q->b_hh, bias, 1, &GH);
        if (!rc) rc = check_t("w_hr", d, q->w_hr, P < H, 2, (int64_t[]){P, H});
        if (!rc) rc = check_t("w_ci", d, q->w_ci, desc->peephole, 1, &H);
        if (!rc) rc = check_t("w_cf", d, q->w_cf, desc->peephole, 1, &H);
        if (!rc) rc = check_t("w_co", d, q->w_co, desc->peephole, 1, &H);
    }
    return rc;
}

#if SEQGRAD_HAVE_DNNL

typedef struct {
    sg__rnn_prim *prim;
    sg_fused_wcache *wc;
    void *ws;                  /* forward workspace, read by backward (from the storage cache) */
    size_t ws_cap;
    sg_tensor *x, *h0, *c0;    /* the contiguous data the forward read (references) */
    sg_fused_desc desc;
    sg_fused_dir_params p[MAX_DIRS]; /* borrowed: they are node inputs */
    int ih0, ic0;              /* node input index of h0 / c0, or -1 */
} fused_ctx;

static void ctx_free(void *v) {
    fused_ctx *c = v;
    if (!c) return;
    sg__rnn_prim_unref(c->prim);
    sg_fused_wcache_release(c->wc);
    sg__pool_free(c->ws, c->ws_cap);
    sg__unref(c->x);
    sg__unref(c->h0);
    sg__unref(c->c0);
    free(c);
}

/* Pointers into a packed (output | h_n | c_n) buffer. */
static void packed_parts(const sg__rnn_key *k, float *base, void **layer, void **iter, void **iter_c) {
    int64_t n_out = k->T * k->B * k->dirs * k->P, n_h = k->dirs * k->B * k->P;
    *layer = base;
    *iter = base + n_out;
    *iter_c = k->alg == SG__ALG_LSTM ? base + n_out + n_h : NULL;
}

static void data_bufs(const fused_ctx *c, const sg_tensor *out, sg__rnn_bufs *b) {
    b->data[SG__D_SRC_LAYER] = sg__ptr(c->x);
    b->data[SG__D_SRC_ITER] = sg__ptr(c->h0);
    b->data[SG__D_SRC_ITER_C] = c->c0 ? sg__ptr(c->c0) : NULL;
    packed_parts(&c->prim->key, sg__ptr(out), &b->data[SG__D_DST_LAYER], &b->data[SG__D_DST_ITER], &b->data[SG__D_DST_ITER_C]);
    b->ws = c->ws;
}

/* packed gout -> diff_dst_*; backward -> grads of x, h0, c0 and every parameter (accumulated). */
static int fused_bw(sg_node *n, const sg_tensor *gout) {
    fused_ctx *c = n->ctx;
    const sg__rnn_prim *pr = c->prim;
    const sg__rnn_key *k = &pr->key;
    bool lstm = k->alg == SG__ALG_LSTM;
    sg__rnn_bufs b = {0};
    data_bufs(c, n->out, &b);
    packed_parts(k, sg__ptr(gout), &b.diff_data[SG__D_DST_LAYER], &b.diff_data[SG__D_DST_ITER], &b.diff_data[SG__D_DST_ITER_C]);
    sg_tensor *dx = sg__alloc(SG_F32, 3, (int64_t[]){k->T, k->B, k->D}, false);
    sg_tensor *dh = sg__alloc(SG_F32, 3, (int64_t[]){k->dirs, k->B, k->P}, false);
    sg_tensor *dc = lstm ? sg__alloc(SG_F32, 3, (int64_t[]){k->dirs, k->B, k->H}, false) : NULL;
    int rc = (dx && dh && (dc || !lstm)) ? SG_OK : SG_ERR_MEM;
    size_t dw_cap[SG__W_COUNT] = {0};
    for (int w = 0; w < SG__W_COUNT && !rc; w++) { /* oneDNN accumulates into these: start from zero */
        if (!pr->has_w[w]) continue;
        b.diff_w[w] = sg__pool_alloc(dnnl_memory_desc_get_size(&pr->diff_md[w]), &dw_cap[w]);
        if (b.diff_w[w]) memset(b.diff_w[w], 0, dw_cap[w]);
        else rc = sg_set_error(SG_ERR_MEM, "sg_rnn_fused_layer: out of memory (weight gradients)");
    }
    if (!rc) rc = sg__wcache_get(c->wc, pr, SG__SLOT_BWD, &c->desc, c->p, b.w);
    if (!rc) {
        b.diff_data[SG__D_SRC_LAYER] = sg__ptr(dx);
        b.diff_data[SG__D_SRC_ITER] = sg__ptr(dh);
        b.diff_data[SG__D_SRC_ITER_C] = dc ? sg__ptr(dc) : NULL;
        rc = sg__rnn_exec(pr, true, &b);
    }
    if (!rc && sg__wants_grad(n, 0)) rc = sg__grad_accum(n->in[0], dx), dx = NULL;
    if (!rc && c->ih0 >= 0 && sg__wants_grad(n, c->ih0)) rc = sg__grad_accum(n->in[c->ih0], dh), dh = NULL;
    if (!rc && c->ic0 >= 0 && sg__wants_grad(n, c->ic0)) rc = sg__grad_accum(n->in[c->ic0], dc), dc = NULL;
    if (!rc) rc = sg__weights_grad_accum(pr, &c->desc, c->p, b.diff_w);
    sg__unref(dx);
    sg__unref(dh);
    sg__unref(dc);
    for (int w = 0; w < SG__W_COUNT; w++) sg__pool_free(b.diff_w[w], dw_cap[w]);
    return rc;
}

static sg__alg alg_of(sg_fused_alg a) {
    switch (a) {
    case SG_FUSED_LSTM: return SG__ALG_LSTM;
    case SG_FUSED_GRU_LBR: return SG__ALG_GRU_LBR;
    case SG_FUSED_GRU_RESET_BEFORE: return SG__ALG_GRU_RESET_BEFORE;
    case SG_FUSED_RNN_RELU: return SG__ALG_RNN_RELU;
    default: return SG__ALG_RNN_TANH;
    }
}

/* contiguous copy of t, or zeros of (nd, s) when t is NULL (a new reference) */
static sg_tensor *contig_or_zeros(sg_tensor *t, int nd, const int64_t *s) {
    sg_tensor *r = t ? sg__contig(t) : sg__alloc(SG_F32, nd, s, true);
    if (!r && !sg_has_error()) sg_set_error(SG_ERR_MEM, "sg_rnn_fused_layer: out of memory");
    return r;
}

/* x (T,B,Din), h0 (dirs,B,P), c0 (dirs,B,H) -> packed [output (T,B,dirs*P) | h_n (dirs,B,P) | c_n (dirs,B,H)] */
sg_tensor *sg_fused_layer(const sg_fused_desc *desc, sg_tensor *x, sg_tensor *h0, sg_tensor *c0,
                          const sg_fused_dir_params *p, sg_fused_wcache *wc) {
    const char *fn = "sg_rnn_fused_layer";
    if (check_args(desc, x, h0, c0, p)) return NULL;
    char why[SG_SHAPE_BUF * 2];
    if (!sg_fused_op_can_serve(desc, SG_F32, why, sizeof why)) {
        sg_set_error(SG_ERR_UNSUPPORTED, "%s: %s", fn, why);
        return NULL;
    }
    int dirs = desc->dirs;
    bool lstm = desc->alg == SG_FUSED_LSTM;
    int64_t H = desc->H, P = desc->P;
    sg_tensor *in[MAX_IN];
    int n_in = 0, ih0 = -1, ic0 = -1;
    in[n_in++] = x;
    if (h0) ih0 = n_in, in[n_in++] = h0;
    if (c0) ic0 = n_in, in[n_in++] = c0;
    for (int d = 0; d < dirs; d++)
        for (int i = 0; i < SG_FUSED_NPARAMS; i++) {
            sg_tensor *t = ((sg_tensor *const *)&p[d])[i];
            if (t) in[n_in++] = t;
        }
    bool train = sg__needs_grad(n_in, in);
    sg__rnn_key key = {alg_of(desc->alg), dirs, x->shape[0], x->shape[1], x->shape[2], H, P, desc->peephole, P < H, train,
                       sg_get_num_threads()};

    fused_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
        return NULL;
    }
    c->desc = *desc;
    memcpy(c->p, p, (size_t)dirs * sizeof *p);
    c->ih0 = ih0;
    c->ic0 = ic0;
    c->wc = wc ? sg__wcache_ref(wc) : sg_fused_wcache_new();
    c->prim = c->wc ? sg__rnn_prim_get(&key) : NULL;
    sg_tensor *out = NULL;
    int rc = c->prim ? SG_OK : sg_last_status();
    if (!rc) {
        c->x = contig_or_zeros(x, 0, NULL);
        c->h0 = contig_or_zeros(h0, 3, (int64_t[]){dirs, key.B, P});
        c->c0 = lstm ? contig_or_zeros(c0, 3, (int64_t[]){dirs, key.B, H}) : NULL;
        int64_t total = key.T * key.B * dirs * P + dirs * key.B * P + (lstm ? dirs * key.B * H : 0);
        out = sg__out(SG_F32, 1, &total, false);
        if (train) c->ws = sg__pool_alloc(c->prim->ws_bytes, &c->ws_cap); /* reused step to step */
        if (!c->x || !c->h0 || (lstm && !c->c0) || !out || (train && !c->ws))
            rc = sg_has_error() ? sg_last_status() : sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
    }
    sg__rnn_bufs b = {0};
    if (!rc) rc = sg__wcache_get(c->wc, c->prim, train ? SG__SLOT_TRAIN : SG__SLOT_INFER, desc, c->p, b.w);
    if (!rc) {
        data_bufs(c, out, &b);
        rc = sg__rnn_exec(c->prim, false, &b);
    }
    if (!rc && train) {
        int err;
        sg_node *n = sg__record(out, fn, fused_bw, n_in, in, &err);
        if (n) {
            n->ctx = c;
            n->ctx_free = ctx_free;
            c = NULL;
        }
        rc = err;
    }
    ctx_free(c);
    return rc ? NULL : out;
}

#else /* built without oneDNN */

sg_fused_wcache *sg_fused_wcache_new(void) { return NULL; }
void sg_fused_wcache_release(sg_fused_wcache *c) { (void)c; }
void sg_fused_cache_clear(void) {}
sg_fused_stats sg_fused_get_stats(void) { return (sg_fused_stats){0}; }

sg_tensor *sg_fused_layer(const sg_fused_desc *desc, sg_tensor *x, sg_tensor *h0, sg_tensor *c0,
                          const sg_fused_dir_params *p, sg_fused_wcache *wc) {
    (void)wc;
    if (check_args(desc, x, h0, c0, p)) return NULL;
    sg_set_error(SG_ERR_UNSUPPORTED, "sg_rnn_fused_layer: built without oneDNN (configure with -DSEQGRAD_WITH_DNNL=ON)");
    return NULL;
}

#endif
