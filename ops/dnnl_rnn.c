/* oneDNN plumbing for the fused RNN op: one engine and stream, a small process-wide LRU cache of
 * primitive sets (forward, backward, weight reorders) keyed by cell and shape, and execution.
 * Not here: the PyTorch weight mapping (dnnl_rnn_weights.c) or autograd (rnn_fused.c).
 *
 * Threads: every primitive is created with a user-managed scratchpad, and each execution passes
 * one (g_scratch, grown as needed, used under g_exec). oneDNN's default library-managed scratchpad
 * (DNNL_ENABLE_CONCURRENT_EXEC=OFF, Debian's build) is thread-local to the creating thread: a
 * cached primitive executed on another thread crashes, and one created and destroyed on different
 * threads leaks the creator's buffer. With our own scratchpad a primitive runs on any thread. */
#if SEQGRAD_HAVE_DNNL
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl_rnn_impl.h"

enum { CACHE_MAX = 32, LSTM_G = 4, GRU_G = 3, RNN_G = 1, LBR_BIAS_G = 4, PEEP_G = 3, MAX_ARGS = 24, ALIGN = 64 };

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;   /* cache, counters, engine */
static pthread_mutex_t g_exec = PTHREAD_MUTEX_INITIALIZER; /* the shared stream */
static dnnl_engine_t g_eng;
static dnnl_stream_t g_stream;
static void *g_scratch; /* the scratchpad of every execution (under g_exec) */
static size_t g_scratch_bytes;
static dnnl_primitive_attr_t g_attr; /* user-managed scratchpad (under g_mu) */
static sg__rnn_prim *g_cache;
static int g_cached, g_live;
static bool g_atexit;
static sg_fused_stats g_stats;

static const int W_ARG[SG__W_COUNT] = {DNNL_ARG_WEIGHTS_LAYER, DNNL_ARG_WEIGHTS_ITER, DNNL_ARG_WEIGHTS_PEEPHOLE,
                                       DNNL_ARG_WEIGHTS_PROJECTION, DNNL_ARG_BIAS};
static const int DIFF_W_ARG[SG__W_COUNT] = {DNNL_ARG_DIFF_WEIGHTS_LAYER, DNNL_ARG_DIFF_WEIGHTS_ITER,
                                            DNNL_ARG_DIFF_WEIGHTS_PEEPHOLE, DNNL_ARG_DIFF_WEIGHTS_PROJECTION,
                                            DNNL_ARG_DIFF_BIAS};

static const char *status_name(dnnl_status_t s) {
    switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "unimplemented";
    case dnnl_iterator_ends: return "iterator ends";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
    default: return "unknown status";
    }
}

static int dnnl_fail(dnnl_status_t s, const char *what) {
    return sg_set_error(s == dnnl_out_of_memory ? SG_ERR_MEM : SG_ERR_UNSUPPORTED, "sg_rnn_fused_layer: oneDNN %s failed: %s",
                        what, status_name(s));
}

void *sg__dnnl_alloc(size_t bytes, bool zero) {
    size_t n = (bytes + ALIGN - 1) / ALIGN * ALIGN;
    void *p = aligned_alloc(ALIGN, n ? n : ALIGN);
    if (p && zero) memset(p, 0, n ? n : ALIGN);
    return p;
}

void sg__dnnl_count(int which) {
    pthread_mutex_lock(&g_mu);
    if (which == SG__STAT_PACK) g_stats.weight_packs++;
    else g_stats.weight_reorders++;
    pthread_mutex_unlock(&g_mu);
}

sg_fused_stats sg_fused_get_stats(void) {
    pthread_mutex_lock(&g_mu);
    sg_fused_stats s = g_stats;
    s.cache_entries = g_cached;
    pthread_mutex_unlock(&g_mu);
    return s;
}

/* The scratchpad memory prim needs (*out NULL when none), in g_scratch grown as needed. Called
 * with g_exec held. */
static dnnl_status_t scratch_arg_locked(dnnl_primitive_t prim, dnnl_memory_t *out) {
    const_dnnl_primitive_desc_t pd;
    dnnl_status_t s = dnnl_primitive_get_primitive_desc(prim, &pd);
    if (s != dnnl_success) return s;
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t bytes = md ? dnnl_memory_desc_get_size(md) : 0;
    if (bytes == 0) return dnnl_success;
    if (bytes > g_scratch_bytes) {
        void *p = sg__dnnl_alloc(bytes, false);
        if (!p) return dnnl_out_of_memory;
        free(g_scratch);
        g_scratch = p;
        g_scratch_bytes = bytes;
    }
    return dnnl_memory_create(out, md, g_eng, g_scratch);
}

int sg__dnnl_run(dnnl_primitive_t prim, int n, const sg__dnnl_arg *a, const char *what) {
    dnnl_exec_arg_t args[MAX_ARGS + 1]; /* + the scratchpad */
    SG_ASSERT(n <= MAX_ARGS);
    dnnl_status_t s = dnnl_success;
    int made = 0;
    for (; made < n && s == dnnl_success; made++) {
        args[made].arg = a[made].arg;
        s = dnnl_memory_create(&args[made].memory, a[made].md, g_eng, a[made].ptr);
        if (s != dnnl_success) break;
    }
    dnnl_memory_t scratch = NULL;
    if (s == dnnl_success) {
        pthread_mutex_lock(&g_exec);
        s = scratch_arg_locked(prim, &scratch);
        if (scratch) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, scratch};
        if (s == dnnl_success) s = dnnl_primitive_execute(prim, g_stream, n, args);
        if (s == dnnl_success) s = dnnl_stream_wait(g_stream);
        if (scratch) dnnl_memory_destroy(scratch);
        pthread_mutex_unlock(&g_exec);
    }
    for (int i = 0; i < made; i++) dnnl_memory_destroy(args[i].memory);
    return s == dnnl_success ? SG_OK : dnnl_fail(s, what);
}

static const int D_ARG[SG__D_COUNT] = {DNNL_ARG_SRC_LAYER, DNNL_ARG_SRC_ITER, DNNL_ARG_SRC_ITER_C,
                                       DNNL_ARG_DST_LAYER, DNNL_ARG_DST_ITER, DNNL_ARG_DST_ITER_C};
static const int DIFF_D_ARG[SG__D_COUNT] = {DNNL_ARG_DIFF_SRC_LAYER, DNNL_ARG_DIFF_SRC_ITER, DNNL_ARG_DIFF_SRC_ITER_C,
                                            DNNL_ARG_DIFF_DST_LAYER, DNNL_ARG_DIFF_DST_ITER, DNNL_ARG_DIFF_DST_ITER_C};

int sg__rnn_exec(const sg__rnn_prim *p, bool bwd, const sg__rnn_bufs *b) {
    sg__dnnl_arg a[MAX_ARGS];
    int n = 0;
    for (int i = 0; i < SG__D_COUNT; i++) {
        if (p->data_md[i].ndims == 0) continue; /* the c states of a non-LSTM cell */
        a[n++] = (sg__dnnl_arg){D_ARG[i], &p->data_md[i], b->data[i]};
        if (bwd) a[n++] = (sg__dnnl_arg){DIFF_D_ARG[i], &p->data_md[i], b->diff_data[i]};
    }
    for (int w = 0; w < SG__W_COUNT; w++) {
        if (!p->has_w[w]) continue;
        a[n++] = (sg__dnnl_arg){W_ARG[w], bwd ? &p->bwd_md[w] : &p->fwd_md[w], b->w[w]};
        if (bwd) a[n++] = (sg__dnnl_arg){DIFF_W_ARG[w], &p->diff_md[w], b->diff_w[w]};
    }
    if (p->key.training) a[n++] = (sg__dnnl_arg){DNNL_ARG_WORKSPACE, &p->ws_md, b->ws};
    return sg__dnnl_run(bwd ? p->bwd : p->fwd, n, a, bwd ? "backward" : "forward");
}

/* ---- primitive sets ---- */

static void prim_destroy(sg__rnn_prim *p) {
    if (p->fwd) dnnl_primitive_destroy(p->fwd);
    if (p->bwd) dnnl_primitive_destroy(p->bwd);
    for (int w = 0; w < SG__W_COUNT; w++) {
        if (p->to_fwd[w]) dnnl_primitive_destroy(p->to_fwd[w]);
        if (p->to_bwd[w]) dnnl_primitive_destroy(p->to_bwd[w]);
        if (p->from_diff[w]) dnnl_primitive_destroy(p->from_diff[w]);
    }
    free(p);
}

static void md_init(dnnl_memory_desc_t *md, int nd, const int64_t *dims, dnnl_format_tag_t tag) {
    dnnl_dims_t d;
    for (int i = 0; i < nd; i++) d[i] = dims[i];
    dnnl_memory_desc_init_by_tag(md, nd, d, dnnl_f32, tag);
}

/* Descriptors of every argument: data in explicit plain layouts (tnc, ldnc), weights both in the
 * plain user layouts and as format `any` for the primitive to choose. */
static void init_mds(sg__rnn_prim *p, dnnl_memory_desc_t any[SG__W_COUNT]) {
    const sg__rnn_key *k = &p->key;
    int64_t T = k->T, B = k->B, D = k->D, H = k->H, P = k->P, L = 1, dirs = k->dirs, G = p->G;
    bool lstm = k->alg == SG__ALG_LSTM;
    memset(p->data_md, 0, sizeof p->data_md);
    md_init(&p->data_md[SG__D_SRC_LAYER], 3, (int64_t[]){T, B, D}, dnnl_tnc);
    md_init(&p->data_md[SG__D_SRC_ITER], 4, (int64_t[]){L, dirs, B, P}, dnnl_ldnc);
    md_init(&p->data_md[SG__D_DST_LAYER], 3, (int64_t[]){T, B, dirs * P}, dnnl_tnc);
    md_init(&p->data_md[SG__D_DST_ITER], 4, (int64_t[]){L, dirs, B, P}, dnnl_ldnc);
    if (lstm) {
        md_init(&p->data_md[SG__D_SRC_ITER_C], 4, (int64_t[]){L, dirs, B, H}, dnnl_ldnc);
        md_init(&p->data_md[SG__D_DST_ITER_C], 4, (int64_t[]){L, dirs, B, H}, dnnl_ldnc);
    }
    static const dnnl_format_tag_t user_tag[SG__W_COUNT] = {dnnl_ldgoi, dnnl_ldgoi, dnnl_ldgo, dnnl_ldoi, dnnl_ldgo};
    const int64_t dims[SG__W_COUNT][5] = {
        {L, dirs, D, G, H}, {L, dirs, P, G, H}, {L, dirs, PEEP_G, H, 0}, {L, dirs, H, P, 0}, {L, dirs, p->G_bias, H, 0}};
    const int nd[SG__W_COUNT] = {5, 5, 4, 4, 4};
    memset(p->user_md, 0, sizeof p->user_md);
    memset(any, 0, SG__W_COUNT * sizeof *any);
    for (int w = 0; w < SG__W_COUNT; w++) {
        if (!p->has_w[w]) continue;
        md_init(&p->user_md[w], nd[w], dims[w], user_tag[w]);
        md_init(&any[w], nd[w], dims[w], dnnl_format_tag_any);
    }
}

static const dnnl_memory_desc_t *opt(const sg__rnn_prim *p, const dnnl_memory_desc_t *md, int w) {
    return p->has_w[w] ? &md[w] : NULL;
}

/* The forward (bwd == false) or backward operation descriptor. */
static dnnl_status_t op_desc(const sg__rnn_prim *p, const dnnl_memory_desc_t *wa, bool bwd, dnnl_rnn_desc_t *d) {
    const sg__rnn_key *k = &p->key;
    const dnnl_memory_desc_t *m = p->data_md;
    dnnl_rnn_direction_t dir = k->dirs == 2 ? dnnl_bidirectional_concat : dnnl_unidirectional_left2right;
    dnnl_prop_kind_t prop = bwd ? dnnl_backward : k->training ? dnnl_forward_training : dnnl_forward_inference;
    const dnnl_memory_desc_t *sl = &m[SG__D_SRC_LAYER], *si = &m[SG__D_SRC_ITER], *sic = &m[SG__D_SRC_ITER_C];
    const dnnl_memory_desc_t *dl = &m[SG__D_DST_LAYER], *di = &m[SG__D_DST_ITER], *dic = &m[SG__D_DST_ITER_C];
    const dnnl_memory_desc_t *wl = &wa[SG__W_LAYER], *wi = &wa[SG__W_ITER], *b = &wa[SG__W_BIAS];
    const dnnl_memory_desc_t *wp = opt(p, wa, SG__W_PEEP), *wr = opt(p, wa, SG__W_PROJ);
    switch (k->alg) {
    case SG__ALG_LSTM:
        return bwd ? dnnl_lstm_backward_desc_init_v3(d, prop, dir, sl, si, sic, wl, wi, wp, wr, b, dl, di, dic, sl, si,
                                                     sic, wl, wi, wp, wr, b, dl, di, dic, 0)
                   : dnnl_lstm_forward_desc_init_v3(d, prop, dir, sl, si, sic, wl, wi, wp, wr, b, dl, di, dic, 0);
    case SG__ALG_GRU_LBR:
        return bwd ? dnnl_lbr_gru_backward_desc_init(d, prop, dir, sl, si, wl, wi, b, dl, di, sl, si, wl, wi, b, dl, di, 0)
                   : dnnl_lbr_gru_forward_desc_init(d, prop, dir, sl, si, wl, wi, b, dl, di, 0);
    case SG__ALG_GRU_RESET_BEFORE:
        return bwd ? dnnl_gru_backward_desc_init(d, prop, dir, sl, si, wl, wi, b, dl, di, sl, si, wl, wi, b, dl, di, 0)
                   : dnnl_gru_forward_desc_init(d, prop, dir, sl, si, wl, wi, b, dl, di, 0);
    default: {
        dnnl_alg_kind_t act = k->alg == SG__ALG_RNN_RELU ? dnnl_eltwise_relu : dnnl_eltwise_tanh;
        return bwd ? dnnl_vanilla_rnn_backward_desc_init(d, prop, act, dir, sl, si, wl, wi, b, dl, di, sl, si, wl, wi, b,
                                                         dl, di, 0, 0.f, 0.f)
                   : dnnl_vanilla_rnn_forward_desc_init(d, prop, act, dir, sl, si, wl, wi, b, dl, di, 0, 0.f, 0.f);
    }
    }
}

static dnnl_status_t make_reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, dnnl_primitive_t *r) {
    dnnl_primitive_desc_t rpd;
    dnnl_status_t s = dnnl_reorder_primitive_desc_create(&rpd, from, g_eng, to, g_eng, g_attr);
    if (s != dnnl_success) return s;
    s = dnnl_primitive_create(r, rpd);
    dnnl_primitive_desc_destroy(rpd);
    return s;
}

/* Creates the primitives of p (key and has_w set). Returns 0 or a status with a message. */
static int prim_build(sg__rnn_prim *p) {
    dnnl_memory_desc_t any[SG__W_COUNT];
    init_mds(p, any);
    dnnl_rnn_desc_t fd, bd;
    dnnl_primitive_desc_t fpd = NULL, bpd = NULL;
    const char *what = "forward descriptor";
    dnnl_status_t s = op_desc(p, any, false, &fd);
    if (s == dnnl_success) what = "forward primitive descriptor", s = dnnl_primitive_desc_create(&fpd, &fd, g_attr, g_eng, NULL);
    if (s == dnnl_success && p->key.training) {
        what = "backward descriptor";
        s = op_desc(p, any, true, &bd);
        if (s == dnnl_success) what = "backward primitive descriptor", s = dnnl_primitive_desc_create(&bpd, &bd, g_attr, g_eng, fpd);
    }
    if (s == dnnl_success) what = "primitive creation", s = dnnl_primitive_create(&p->fwd, fpd);
    if (s == dnnl_success && bpd) s = dnnl_primitive_create(&p->bwd, bpd);
    if (s == dnnl_success && p->key.training) {
        p->ws_md = *dnnl_primitive_desc_query_md(fpd, dnnl_query_workspace_md, 0);
        p->ws_bytes = dnnl_memory_desc_get_size(&p->ws_md);
    }
    for (int w = 0; w < SG__W_COUNT && s == dnnl_success; w++) {
        if (!p->has_w[w]) continue;
        what = "weight reorder";
        p->fwd_md[w] = *dnnl_primitive_desc_query_md(fpd, dnnl_query_exec_arg_md, W_ARG[w]);
        s = make_reorder(&p->user_md[w], &p->fwd_md[w], &p->to_fwd[w]);
        if (s != dnnl_success || !bpd) continue;
        p->bwd_md[w] = *dnnl_primitive_desc_query_md(bpd, dnnl_query_exec_arg_md, W_ARG[w]);
        p->diff_md[w] = *dnnl_primitive_desc_query_md(bpd, dnnl_query_exec_arg_md, DIFF_W_ARG[w]);
        s = make_reorder(&p->user_md[w], &p->bwd_md[w], &p->to_bwd[w]);
        if (s == dnnl_success) s = make_reorder(&p->diff_md[w], &p->user_md[w], &p->from_diff[w]);
    }
    if (fpd) dnnl_primitive_desc_destroy(fpd);
    if (bpd) dnnl_primitive_desc_destroy(bpd);
    return s == dnnl_success ? SG_OK : dnnl_fail(s, what);
}

static bool key_eq(const sg__rnn_key *a, const sg__rnn_key *b) {
    return a->alg == b->alg && a->dirs == b->dirs && a->T == b->T && a->B == b->B && a->D == b->D && a->H == b->H &&
           a->P == b->P && a->peephole == b->peephole && a->proj == b->proj && a->training == b->training &&
           a->threads == b->threads;
}

/* Called with g_mu held. */
static void unref_locked(sg__rnn_prim *p) {
    if (--p->refcount > 0) return;
    prim_destroy(p);
    g_live--;
}

static int ensure_engine_locked(void) {
    if (g_eng) return SG_OK;
    dnnl_status_t s = dnnl_success;
    if (!g_attr) { /* lives with the engine */
        s = dnnl_primitive_attr_create(&g_attr);
        if (s == dnnl_success) s = dnnl_primitive_attr_set_scratchpad_mode(g_attr, dnnl_scratchpad_mode_user);
        if (s != dnnl_success && g_attr) dnnl_primitive_attr_destroy(g_attr), g_attr = NULL;
    }
    if (s == dnnl_success) s = dnnl_engine_create(&g_eng, dnnl_cpu, 0);
    if (s == dnnl_success) s = dnnl_stream_create(&g_stream, g_eng, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        if (g_eng) dnnl_engine_destroy(g_eng);
        g_eng = NULL;
        return dnnl_fail(s, "engine creation");
    }
    if (!g_atexit) g_atexit = atexit(sg_fused_cache_clear) == 0;
    return SG_OK;
}

sg__rnn_prim *sg__rnn_prim_get(const sg__rnn_key *key) {
    pthread_mutex_lock(&g_mu);
    sg__rnn_prim **pp = &g_cache, *p = NULL;
    for (; *pp; pp = &(*pp)->next)
        if (key_eq(&(*pp)->key, key)) {
            p = *pp;
            *pp = p->next; /* move to front */
            break;
        }
    if (!p) {
        if (ensure_engine_locked() || !(p = calloc(1, sizeof *p))) {
            if (!sg_has_error()) sg_set_error(SG_ERR_MEM, "sg_rnn_fused_layer: out of memory");
            pthread_mutex_unlock(&g_mu);
            return NULL;
        }
        p->key = *key;
        bool lstm = key->alg == SG__ALG_LSTM, gru = key->alg == SG__ALG_GRU_LBR || key->alg == SG__ALG_GRU_RESET_BEFORE;
        p->G = lstm ? LSTM_G : gru ? GRU_G : RNN_G;
        p->G_bias = key->alg == SG__ALG_GRU_LBR ? LBR_BIAS_G : p->G;
        p->has_w[SG__W_LAYER] = p->has_w[SG__W_ITER] = p->has_w[SG__W_BIAS] = true;
        p->has_w[SG__W_PEEP] = key->peephole;
        p->has_w[SG__W_PROJ] = key->proj;
        p->refcount = 1; /* the cache's */
        g_live++;
        if (prim_build(p)) {
            unref_locked(p);
            pthread_mutex_unlock(&g_mu);
            return NULL;
        }
        g_stats.prims_created++;
        g_cached++;
    }
    p->next = g_cache;
    g_cache = p;
    p->refcount++; /* the caller's */
    /* evict beyond CACHE_MAX (entries still used by nodes live on through their references) */
    int i = 0;
    for (sg__rnn_prim **q = &g_cache; *q;) {
        if (++i > CACHE_MAX) {
            sg__rnn_prim *old = *q;
            *q = old->next;
            g_cached--;
            unref_locked(old);
        } else q = &(*q)->next;
    }
    pthread_mutex_unlock(&g_mu);
    return p;
}

void sg__rnn_prim_unref(sg__rnn_prim *p) {
    if (!p) return;
    pthread_mutex_lock(&g_mu);
    unref_locked(p);
    pthread_mutex_unlock(&g_mu);
}

void sg_fused_cache_clear(void) {
    pthread_mutex_lock(&g_mu);
    while (g_cache) {
        sg__rnn_prim *p = g_cache;
        g_cache = p->next;
        unref_locked(p);
    }
    g_cached = 0;
    if (g_live == 0 && g_eng) { /* nothing refers to the engine any more */
        dnnl_stream_destroy(g_stream);
        dnnl_engine_destroy(g_eng);
        g_stream = NULL;
        g_eng = NULL;
        pthread_mutex_lock(&g_exec);
        free(g_scratch);
        g_scratch = NULL;
        g_scratch_bytes = 0;
        pthread_mutex_unlock(&g_exec);
        if (g_attr) dnnl_primitive_attr_destroy(g_attr);
        g_attr = NULL;
    }
    pthread_mutex_unlock(&g_mu);
}

#else
typedef int sg__dnnl_rnn_unused; /* ISO C: a translation unit must not be empty */
#endif
