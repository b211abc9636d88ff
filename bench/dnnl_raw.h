/* The raw oneDNN 2.6 fused RNN primitives timed on their own, for bench_rnn.c: the floor that the
 * seqgrad onednn backend is measured against. forward_training + backward (or forward_inference),
 * weights already in the primitives' own layouts (format any), one L=1 primitive per layer
 * (PyTorch stacking), zero initial states. Not a backend: no autograd, no per-step reorders.
 * Header-only because CMake makes one executable per bench .c file: include it from one file only.
 *
 * Shapes: T steps, B batch, D input, H hidden, G gates (LSTM 4, GRU 3), dirs 1 or 2, L layers.
 * GRU means lbr_gru (PyTorch's linear-before-reset GRU), gate order u(z), r, n in oneDNN. */
#ifndef SG_BENCH_DNNL_RAW_H
#define SG_BENCH_DNNL_RAW_H

#include <dnnl.h>
#include <dnnl_debug.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    RAW_MAX_LAYERS = 8,
    RAW_MAX_ARGS = 16,    /* execution arguments of one primitive */
    RAW_MAX_OBJS = 256,   /* memories / pds / primitives owned by one raw_rnn */
    RAW_LSTM_GATES = 4,
    RAW_GRU_GATES = 3,
    RAW_BIAS_ROWS = 4,    /* LSTM: i,f,g,o; lbr_gru: z, r, n_input, n_hidden */
    RAW_ZERO_PER_LAYER = 3, /* diff_weights_layer, diff_weights_iter, diff_bias */
};

/* Parameters in PyTorch's layout, per (layer, direction) k = l*dirs + d, borrowed during
 * raw_rnn_create only: w_ih[k] (G*H, Din), w_hh[k] (G*H, H), b_ih[k], b_hh[k] (G*H); Din is D for
 * layer 0 and dirs*H above. x (T, B, D); R (T, B, dirs*H) is the top layer's diff_dst_layer, i.e.
 * the gradient of loss = sum(output * R). */
typedef struct {
    bool gru; /* lbr_gru instead of LSTM */
    int64_t D, H, T, B;
    int layers, dirs;
    bool train; /* forward_training + backward; else forward_inference only */
    const float *const *w_ih, *const *w_hh, *const *b_ih, *const *b_hh;
    const float *x, *R;
} raw_rnn_config;

typedef struct {
    dnnl_primitive_t fwd, bwd;
    dnnl_exec_arg_t fargs[RAW_MAX_ARGS], bargs[RAW_MAX_ARGS];
    int nf, nb;
    /* diff weights and bias: oneDNN accumulates into them, so every step zeroes them (as a
     * framework must) */
    void *zero_ptr[RAW_ZERO_PER_LAYER];
    size_t zero_size[RAW_ZERO_PER_LAYER];
} raw_layer;

/* Owns every oneDNN object it created; raw_rnn_free releases all of them. */
typedef struct {
    raw_rnn_config c; /* parameter pointers cleared after create */
    dnnl_engine_t eng;
    dnnl_stream_t s;
    raw_layer layer[RAW_MAX_LAYERS];
    dnnl_memory_t mems[RAW_MAX_OBJS];
    dnnl_primitive_desc_t pds[RAW_MAX_OBJS];
    dnnl_primitive_t prims[RAW_MAX_OBJS];
    int nmem, npd, nprim;
    dnnl_memory_t top_dst, R, dx; /* dx: gradient at the input (training) */
    size_t bytes; /* total bytes of the memories it allocated (weights, states, workspace, ...) */
} raw_rnn;

#define RAW_TRY(call)                                                                              \
    do {                                                                                           \
        dnnl_status_t st_ = (call);                                                                \
        if (st_ != dnnl_success) {                                                                 \
            snprintf(err, errn, "%s failed: %s (line %d)", #call, dnnl_status2str(st_), __LINE__); \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

static void raw_md(dnnl_memory_desc_t *md, int nd, const int64_t *dims, dnnl_format_tag_t tag) {
    dnnl_dims_t d = {0};
    for (int i = 0; i < nd; i++) d[i] = dims[i];
    dnnl_memory_desc_init_by_tag(md, nd, d, dnnl_f32, tag);
}

/* A library-allocated memory for md, zero-filled (so its pages count at setup), owned by r. */
static int raw_mem(raw_rnn *r, const dnnl_memory_desc_t *md, dnnl_memory_t *out, char *err, size_t errn) {
    if (r->nmem >= RAW_MAX_OBJS) {
        snprintf(err, errn, "raw oneDNN: too many memories");
        return -1;
    }
    RAW_TRY(dnnl_memory_create(out, md, r->eng, DNNL_MEMORY_ALLOCATE));
    r->mems[r->nmem++] = *out;
    void *p = NULL;
    RAW_TRY(dnnl_memory_get_data_handle(*out, &p));
    size_t n = dnnl_memory_desc_get_size(md);
    if (p && n) memset(p, 0, n);
    r->bytes += n;
    return 0;
}

static int raw_mem_size(dnnl_memory_t m, void **p, size_t *n, char *err, size_t errn) {
    const dnnl_memory_desc_t *md = NULL;
    RAW_TRY(dnnl_memory_get_memory_desc(m, &md));
    RAW_TRY(dnnl_memory_get_data_handle(m, p));
    *n = dnnl_memory_desc_get_size(md);
    return 0;
}

/* Copies user data (dense, in user_md's layout) into dst, whatever dst's layout (setup only). */
static int raw_load(raw_rnn *r, const dnnl_memory_desc_t *user_md, float *data, dnnl_memory_t dst, char *err,
                    size_t errn) {
    const dnnl_memory_desc_t *dmd = NULL;
    RAW_TRY(dnnl_memory_get_memory_desc(dst, &dmd));
    dnnl_memory_t src = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t reo = NULL;
    int rc = -1;
    dnnl_status_t st = dnnl_memory_create(&src, user_md, r->eng, data);
    if (st == dnnl_success) st = dnnl_reorder_primitive_desc_create(&rpd, user_md, r->eng, dmd, r->eng, NULL);
    if (st == dnnl_success) st = dnnl_primitive_create(&reo, rpd);
    if (st == dnnl_success) {
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
        st = dnnl_primitive_execute(reo, r->s, 2, a);
    }
    if (st == dnnl_success) st = dnnl_stream_wait(r->s);
    if (st == dnnl_success) rc = 0;
    else snprintf(err, errn, "raw oneDNN: weight reorder failed: %s", dnnl_status2str(st));
    if (reo) dnnl_primitive_destroy(reo);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (src) dnnl_memory_destroy(src);
    return rc;
}

static int raw_keep_pd(raw_rnn *r, dnnl_primitive_desc_t pd, char *err, size_t errn) {
    if (r->npd >= RAW_MAX_OBJS) {
        snprintf(err, errn, "raw oneDNN: too many primitive descriptors");
        dnnl_primitive_desc_destroy(pd);
        return -1;
    }
    r->pds[r->npd++] = pd;
    return 0;
}

static int raw_prim(raw_rnn *r, dnnl_primitive_desc_t pd, dnnl_primitive_t *out, char *err, size_t errn) {
    if (r->nprim >= RAW_MAX_OBJS) {
        snprintf(err, errn, "raw oneDNN: too many primitives");
        return -1;
    }
    RAW_TRY(dnnl_primitive_create(out, pd));
    r->prims[r->nprim++] = *out;
    return 0;
}

static int raw_arg(dnnl_exec_arg_t *a, int *n, int arg, dnnl_memory_t m) {
    if (*n >= RAW_MAX_ARGS) return -1;
    a[*n].arg = arg;
    a[*n].memory = m;
    (*n)++;
    return 0;
}

/* The arguments a forward and its backward both take: input, weights, bias, outputs (dst_iter_c
 * only for LSTM: NULL for GRU). */
static void raw_fwd_args(dnnl_exec_arg_t *a, int *n, dnnl_memory_t src, dnnl_memory_t wl, dnnl_memory_t wi,
                         dnnl_memory_t bias, dnnl_memory_t dst, dnnl_memory_t dst_iter, dnnl_memory_t dst_iter_c) {
    raw_arg(a, n, DNNL_ARG_SRC_LAYER, src);
    raw_arg(a, n, DNNL_ARG_WEIGHTS_LAYER, wl);
    raw_arg(a, n, DNNL_ARG_WEIGHTS_ITER, wi);
    raw_arg(a, n, DNNL_ARG_BIAS, bias);
    raw_arg(a, n, DNNL_ARG_DST_LAYER, dst);
    raw_arg(a, n, DNNL_ARG_DST_ITER, dst_iter);
    if (dst_iter_c) raw_arg(a, n, DNNL_ARG_DST_ITER_C, dst_iter_c);
}

/* PyTorch weights of one layer (all directions) -> a dense ldgoi buffer {1, dirs, G, H, In} in
 * oneDNN gate order (GRU: swap PyTorch blocks r and z). Caller frees. */
static float *raw_pack_weights(const raw_rnn_config *c, const float *const *w, int l, int64_t in) {
    int G = c->gru ? RAW_GRU_GATES : RAW_LSTM_GATES;
    size_t blk = (size_t)c->H * (size_t)in, per_dir = (size_t)G * blk;
    float *buf = malloc((size_t)c->dirs * per_dir * sizeof *buf);
    if (!buf) return NULL;
    for (int d = 0; d < c->dirs; d++) {
        const float *src = w[l * c->dirs + d];
        for (int g = 0; g < G; g++) {
            int from = c->gru && g < 2 ? 1 - g : g;
            memcpy(buf + (size_t)d * per_dir + (size_t)g * blk, src + (size_t)from * blk, blk * sizeof *buf);
        }
    }
    return buf;
}

/* PyTorch b_ih, b_hh -> ldgo {1, dirs, 4, H}: LSTM b_ih + b_hh per gate; lbr_gru
 * [b_iz + b_hz, b_ir + b_hr, b_in, b_hn]. Caller frees. */
static float *raw_pack_bias(const raw_rnn_config *c, int l) {
    int64_t H = c->H;
    float *buf = malloc((size_t)c->dirs * RAW_BIAS_ROWS * (size_t)H * sizeof *buf);
    if (!buf) return NULL;
    for (int d = 0; d < c->dirs; d++) {
        const float *bi = c->b_ih[l * c->dirs + d], *bh = c->b_hh[l * c->dirs + d];
        float *o = buf + (size_t)d * RAW_BIAS_ROWS * (size_t)H;
        for (int64_t j = 0; j < H; j++) {
            if (c->gru) {
                o[j] = bi[H + j] + bh[H + j];          /* z */
                o[H + j] = bi[j] + bh[j];              /* r */
                o[2 * H + j] = bi[2 * H + j];          /* n, input part */
                o[3 * H + j] = bh[2 * H + j];          /* n, hidden part */
            } else {
                for (int g = 0; g < RAW_LSTM_GATES; g++) o[g * H + j] = bi[g * H + j] + bh[g * H + j];
            }
        }
    }
    return buf;
}

static int raw_load_weights(raw_rnn *r, int l, int64_t in, dnnl_memory_t wl, dnnl_memory_t wi, char *err,
                            size_t errn) {
    const raw_rnn_config *c = &r->c;
    int G = c->gru ? RAW_GRU_GATES : RAW_LSTM_GATES;
    dnnl_memory_desc_t ul, ui;
    raw_md(&ul, 5, (int64_t[]){1, c->dirs, in, G, c->H}, dnnl_ldgoi);
    raw_md(&ui, 5, (int64_t[]){1, c->dirs, c->H, G, c->H}, dnnl_ldgoi);
    float *bl = raw_pack_weights(c, c->w_ih, l, in), *bi = raw_pack_weights(c, c->w_hh, l, c->H);
    int rc = bl && bi ? 0 : -1;
    if (rc) snprintf(err, errn, "raw oneDNN: out of memory");
    if (!rc) rc = raw_load(r, &ul, bl, wl, err, errn);
    if (!rc) rc = raw_load(r, &ui, bi, wi, err, errn);
    free(bl);
    free(bi);
    return rc;
}

static const dnnl_memory_desc_t *raw_query(dnnl_primitive_desc_t pd, int arg) {
    return dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
}

/* One layer: src (T,B,In) -> dst (T,B,dirs*H); ddst is the gradient arriving at dst, dsrc the
 * one it sends to src (both NULL for inference). */
static int raw_layer_init(raw_rnn *r, int l, dnnl_memory_t src, dnnl_memory_t dst, dnnl_memory_t dsrc,
                          dnnl_memory_t ddst, char *err, size_t errn) {
    const raw_rnn_config *c = &r->c;
    raw_layer *L = &r->layer[l];
    int G = c->gru ? RAW_GRU_GATES : RAW_LSTM_GATES;
    int64_t in = l == 0 ? c->D : c->dirs * c->H;
    dnnl_rnn_direction_t dir = c->dirs == 2 ? dnnl_bidirectional_concat : dnnl_unidirectional_left2right;
    dnnl_prop_kind_t prop = c->train ? dnnl_forward_training : dnnl_forward_inference;
    dnnl_memory_desc_t msrc, mdst, mwl, mwi, mbias, mst;
    raw_md(&msrc, 3, (int64_t[]){c->T, c->B, in}, dnnl_tnc);
    raw_md(&mdst, 3, (int64_t[]){c->T, c->B, c->dirs * c->H}, dnnl_tnc);
    raw_md(&mwl, 5, (int64_t[]){1, c->dirs, in, G, c->H}, dnnl_format_tag_any);
    raw_md(&mwi, 5, (int64_t[]){1, c->dirs, c->H, G, c->H}, dnnl_format_tag_any);
    raw_md(&mbias, 4, (int64_t[]){1, c->dirs, RAW_BIAS_ROWS, c->H}, dnnl_ldgo);
    raw_md(&mst, 4, (int64_t[]){1, c->dirs, c->B, c->H}, dnnl_ldnc);

    /* forward */
    dnnl_rnn_desc_t fd;
    if (c->gru)
        RAW_TRY(dnnl_lbr_gru_forward_desc_init(&fd, prop, dir, &msrc, NULL, &mwl, &mwi, &mbias, &mdst, &mst, 0));
    else
        RAW_TRY(dnnl_lstm_forward_desc_init(&fd, prop, dir, &msrc, NULL, NULL, &mwl, &mwi, &mbias, &mdst, &mst,
                                            &mst, 0));
    dnnl_primitive_desc_t fpd;
    RAW_TRY(dnnl_primitive_desc_create(&fpd, &fd, NULL, r->eng, NULL));
    if (raw_keep_pd(r, fpd, err, errn)) return -1;
    dnnl_memory_t wl, wi, bias, dst_iter, dst_iter_c = NULL, ws = NULL;
    if (raw_mem(r, raw_query(fpd, DNNL_ARG_WEIGHTS_LAYER), &wl, err, errn) ||
        raw_mem(r, raw_query(fpd, DNNL_ARG_WEIGHTS_ITER), &wi, err, errn) ||
        raw_mem(r, &mbias, &bias, err, errn) || raw_mem(r, &mst, &dst_iter, err, errn) ||
        (!c->gru && raw_mem(r, &mst, &dst_iter_c, err, errn)))
        return -1;
    if (c->train && raw_mem(r, dnnl_primitive_desc_query_md(fpd, dnnl_query_workspace_md, 0), &ws, err, errn))
        return -1;
    if (raw_load_weights(r, l, in, wl, wi, err, errn)) return -1;
    float *b = raw_pack_bias(c, l);
    if (!b) {
        snprintf(err, errn, "raw oneDNN: out of memory");
        return -1;
    }
    int rc = raw_load(r, &mbias, b, bias, err, errn);
    free(b);
    if (rc) return -1;
    if (raw_prim(r, fpd, &L->fwd, err, errn)) return -1;
    dnnl_exec_arg_t *fa = L->fargs;
    raw_fwd_args(fa, &L->nf, src, wl, wi, bias, dst, dst_iter, dst_iter_c);
    if (ws) raw_arg(fa, &L->nf, DNNL_ARG_WORKSPACE, ws);
    if (!c->train) return 0;

    /* backward: weights in the backward pd's own layout (ldgoi, padded), same values */
    dnnl_memory_desc_t mdwl = mwl, mdwi = mwi;
    dnnl_rnn_desc_t bd;
    if (c->gru)
        RAW_TRY(dnnl_lbr_gru_backward_desc_init(&bd, dnnl_backward, dir, &msrc, NULL, &mwl, &mwi, &mbias, &mdst, &mst,
                                                &msrc, NULL, &mdwl, &mdwi, &mbias, &mdst, &mst, 0));
    else
        RAW_TRY(dnnl_lstm_backward_desc_init(&bd, dnnl_backward, dir, &msrc, NULL, NULL, &mwl, &mwi, &mbias, &mdst,
                                             &mst, &mst, &msrc, NULL, NULL, &mdwl, &mdwi, &mbias, &mdst, &mst, &mst,
                                             0));
    dnnl_primitive_desc_t bpd;
    RAW_TRY(dnnl_primitive_desc_create(&bpd, &bd, NULL, r->eng, fpd));
    if (raw_keep_pd(r, bpd, err, errn)) return -1;
    dnnl_memory_t bwl, bwi, dwl, dwi, dbias, ddst_iter, ddst_iter_c = NULL;
    if (raw_mem(r, raw_query(bpd, DNNL_ARG_WEIGHTS_LAYER), &bwl, err, errn) ||
        raw_mem(r, raw_query(bpd, DNNL_ARG_WEIGHTS_ITER), &bwi, err, errn) ||
        raw_mem(r, raw_query(bpd, DNNL_ARG_DIFF_WEIGHTS_LAYER), &dwl, err, errn) ||
        raw_mem(r, raw_query(bpd, DNNL_ARG_DIFF_WEIGHTS_ITER), &dwi, err, errn) ||
        raw_mem(r, &mbias, &dbias, err, errn) || raw_mem(r, &mst, &ddst_iter, err, errn) ||
        (!c->gru && raw_mem(r, &mst, &ddst_iter_c, err, errn)))
        return -1;
    if (raw_load_weights(r, l, in, bwl, bwi, err, errn)) return -1;
    dnnl_memory_t zero[RAW_ZERO_PER_LAYER] = {dwl, dwi, dbias};
    for (int i = 0; i < RAW_ZERO_PER_LAYER; i++)
        if (raw_mem_size(zero[i], &L->zero_ptr[i], &L->zero_size[i], err, errn)) return -1;
    if (raw_prim(r, bpd, &L->bwd, err, errn)) return -1;
    dnnl_exec_arg_t *ba = L->bargs;
    raw_fwd_args(ba, &L->nb, src, bwl, bwi, bias, dst, dst_iter, dst_iter_c); /* backward reads them too */
    raw_arg(ba, &L->nb, DNNL_ARG_WORKSPACE, ws);
    raw_arg(ba, &L->nb, DNNL_ARG_DIFF_SRC_LAYER, dsrc);
    raw_arg(ba, &L->nb, DNNL_ARG_DIFF_WEIGHTS_LAYER, dwl);
    raw_arg(ba, &L->nb, DNNL_ARG_DIFF_WEIGHTS_ITER, dwi);
    raw_arg(ba, &L->nb, DNNL_ARG_DIFF_BIAS, dbias);
    raw_arg(ba, &L->nb, DNNL_ARG_DIFF_DST_LAYER, ddst);
    raw_arg(ba, &L->nb, DNNL_ARG_DIFF_DST_ITER, ddst_iter);
    if (ddst_iter_c) raw_arg(ba, &L->nb, DNNL_ARG_DIFF_DST_ITER_C, ddst_iter_c);
    return 0;
}

static void raw_rnn_free(raw_rnn *r) {
    if (!r) return;
    for (int i = 0; i < r->nprim; i++) dnnl_primitive_destroy(r->prims[i]);
    for (int i = 0; i < r->npd; i++) dnnl_primitive_desc_destroy(r->pds[i]);
    for (int i = 0; i < r->nmem; i++) dnnl_memory_destroy(r->mems[i]);
    if (r->s) dnnl_stream_destroy(r->s);
    if (r->eng) dnnl_engine_destroy(r->eng);
    free(r);
}

static int raw_rnn_create_(raw_rnn *r, char *err, size_t errn) {
    const raw_rnn_config *c = &r->c;
    RAW_TRY(dnnl_engine_create(&r->eng, dnnl_cpu, 0));
    RAW_TRY(dnnl_stream_create(&r->s, r->eng, dnnl_stream_default_flags));
    /* data tensors between layers: act[l] is layer l's input, act[L] the output; grad[l] the
     * gradient at act[l] (grad[L] = R) */
    dnnl_memory_t act[RAW_MAX_LAYERS + 1] = {0}, grad[RAW_MAX_LAYERS + 1] = {0};
    for (int l = 0; l <= c->layers; l++) {
        int64_t ch = l == 0 ? c->D : c->dirs * c->H;
        dnnl_memory_desc_t md;
        raw_md(&md, 3, (int64_t[]){c->T, c->B, ch}, dnnl_tnc);
        if (raw_mem(r, &md, &act[l], err, errn)) return -1;
        if (c->train && raw_mem(r, &md, &grad[l], err, errn)) return -1;
        if (l == 0 && raw_load(r, &md, (float *)c->x, act[0], err, errn)) return -1;
    }
    /* R: the gradient arriving at the output (training), or kept apart for the loss (inference) */
    dnnl_memory_desc_t out_md;
    raw_md(&out_md, 3, (int64_t[]){c->T, c->B, c->dirs * c->H}, dnnl_tnc);
    if (c->train) r->R = grad[c->layers];
    else if (raw_mem(r, &out_md, &r->R, err, errn)) return -1;
    if (raw_load(r, &out_md, (float *)c->R, r->R, err, errn)) return -1;
    for (int l = 0; l < c->layers; l++)
        if (raw_layer_init(r, l, act[l], act[l + 1], grad[l], grad[l + 1], err, errn)) return -1;
    r->top_dst = act[c->layers];
    r->dx = grad[0];
    return 0;
}

/* Builds the primitives and loads the parameters, x and R. Returns NULL with a message in err. */
static raw_rnn *raw_rnn_create(const raw_rnn_config *c, char *err, size_t errn) {
    if (c->layers < 1 || c->layers > RAW_MAX_LAYERS || (c->dirs != 1 && c->dirs != 2)) {
        snprintf(err, errn, "raw oneDNN: unsupported layers %d / dirs %d", c->layers, c->dirs);
        return NULL;
    }
    raw_rnn *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errn, "raw oneDNN: out of memory");
        return NULL;
    }
    r->c = *c;
    if (raw_rnn_create_(r, err, errn)) {
        raw_rnn_free(r);
        return NULL;
    }
    r->c.w_ih = r->c.w_hh = r->c.b_ih = r->c.b_hh = NULL;
    r->c.x = r->c.R = NULL;
    return r;
}

/* One step: zero the diff weights, forward through every layer, backward in reverse (training);
 * forward only for inference. Returns 0 or -1 with a message. */
static int raw_rnn_step(raw_rnn *r, char *err, size_t errn) {
    int L = r->c.layers;
    for (int l = 0; l < L && r->c.train; l++)
        for (int i = 0; i < RAW_ZERO_PER_LAYER; i++) memset(r->layer[l].zero_ptr[i], 0, r->layer[l].zero_size[i]);
    for (int l = 0; l < L; l++) RAW_TRY(dnnl_primitive_execute(r->layer[l].fwd, r->s, r->layer[l].nf, r->layer[l].fargs));
    for (int l = L - 1; l >= 0 && r->c.train; l--)
        RAW_TRY(dnnl_primitive_execute(r->layer[l].bwd, r->s, r->layer[l].nb, r->layer[l].bargs));
    RAW_TRY(dnnl_stream_wait(r->s));
    return 0;
}

/* sum(output * R) of the last forward, in double: the loss, for cross-checking seqgrad. */
static double raw_rnn_loss(raw_rnn *r) {
    void *po = NULL, *pr = NULL;
    dnnl_memory_get_data_handle(r->top_dst, &po);
    dnnl_memory_get_data_handle(r->R, &pr);
    const float *o = po, *R = pr;
    size_t n = (size_t)(r->c.T * r->c.B * r->c.dirs * r->c.H);
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)o[i] * (double)R[i];
    return s;
}

/* sum(dx * dx) of the last backward in double (training only; NAN otherwise). */
static double raw_rnn_dx_sq(raw_rnn *r) {
    void *p = NULL;
    if (!r->dx || dnnl_memory_get_data_handle(r->dx, &p) != dnnl_success) return NAN;
    const float *g = p;
    size_t n = (size_t)(r->c.T * r->c.B * r->c.D);
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * (double)g[i];
    return s;
}

#undef RAW_TRY
#endif
