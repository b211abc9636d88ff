/* PyTorch <-> oneDNN parameter mapping for the fused RNN op, and the per-layer cache of weights
 * reordered into the primitives' layouts. The user layouts are plain oneDNN tags holding PyTorch's
 * matrices: ldgoi = weight_ih/weight_hh (G*H, In) per direction, ldoi = weight_hr (P, H), ldgo = bias
 * rows and peephole vectors. Gate blocks: LSTM i,f,g,o and RNN map 1:1; GRU r,z,n (PyTorch) is
 * z,r,n in oneDNN. Bias: b_ih + b_hh per gate, except lbr GRU whose 4 rows are
 * [z, r, b_in, b_hn]. Not here: primitives (dnnl_rnn.c) or autograd (rnn_fused.c). */
#if SEQGRAD_HAVE_DNNL
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/node.h"
#include "dnnl_rnn_impl.h"

enum { MAX_DIRS = 2, PARAMS_PER_DIR = SG_FUSED_NPARAMS, MAX_SIG = MAX_DIRS * PARAMS_PER_DIR, PEEP_G = 3, LBR_N_IN = 2, LBR_N_HID = 3 };

typedef struct {
    const sg_tensor *t;
    const sg_storage *st;
    int64_t offset;
    uint64_t version;
} sig_entry;

struct sg_fused_wcache {
    atomic_int refcount;
    int nsig;
    sig_entry sig[MAX_SIG]; /* the parameters (and their versions) the user buffers were packed from */
    bool packed;
    dnnl_memory_desc_t umd[SG__W_COUNT];
    float *user[SG__W_COUNT]; /* plain user layouts, PyTorch values in oneDNN gate order */
    dnnl_memory_desc_t smd[SG__SLOT_COUNT][SG__W_COUNT];
    void *sbuf[SG__SLOT_COUNT][SG__W_COUNT];
    bool svalid[SG__SLOT_COUNT][SG__W_COUNT];
};

sg_fused_wcache *sg_fused_wcache_new(void) {
    sg_fused_wcache *c = calloc(1, sizeof *c);
    if (!c) {
        sg_set_error(SG_ERR_MEM, "sg_fused_wcache_new: out of memory");
        return NULL;
    }
    atomic_init(&c->refcount, 1);
    return c;
}

sg_fused_wcache *sg__wcache_ref(sg_fused_wcache *c) {
    atomic_fetch_add(&c->refcount, 1);
    return c;
}

void sg_fused_wcache_release(sg_fused_wcache *c) {
    if (!c || atomic_fetch_sub(&c->refcount, 1) > 1) return;
    for (int w = 0; w < SG__W_COUNT; w++) {
        free(c->user[w]);
        for (int s = 0; s < SG__SLOT_COUNT; s++) free(c->sbuf[s][w]);
    }
    free(c);
}

/* ---- the mapping ---- */

/* PyTorch gate block feeding oneDNN gate slot g. */
static int src_gate(const sg__rnn_prim *prim, int g) {
    bool gru = prim->key.alg == SG__ALG_GRU_LBR || prim->key.alg == SG__ALG_GRU_RESET_BEFORE;
    return gru && g < 2 ? 1 - g : g; /* GRU: slot 0 (u) <- z (block 1), slot 1 (r) <- r (block 0) */
}

static sg_tensor *const *dir_tensors(const sg_fused_dir_params *p) { return (sg_tensor *const *)p; }
_Static_assert(sizeof(sg_fused_dir_params) == PARAMS_PER_DIR * sizeof(sg_tensor *), "sg_fused_dir_params layout");

/* Contiguous float data of a parameter, as a new reference in *hold (or NULL for an absent one). */
static const float *fdata(const sg_tensor *t, sg_tensor **hold) {
    *hold = t ? sg__contig(t) : NULL;
    return *hold ? (const float *)sg__ptr(*hold) : NULL;
}

/* The user layout of argument w for direction d (one direction's block of dst). */
static void pack_dir(const sg__rnn_prim *prim, int w, const sg_fused_dir_params *p, float *dst) {
    const sg__rnn_key *k = &prim->key;
    int64_t H = k->H, G = prim->G;
    sg_tensor *h1, *h2, *h3;
    switch (w) {
    case SG__W_LAYER:
    case SG__W_ITER: {
        int64_t in = w == SG__W_LAYER ? k->D : k->P;
        const float *s = fdata(w == SG__W_LAYER ? p->w_ih : p->w_hh, &h1);
        for (int g = 0; g < G; g++) memcpy(dst + g * H * in, s + src_gate(prim, g) * H * in, (size_t)(H * in) * sizeof *dst);
        sg__unref(h1);
        break;
    }
    case SG__W_BIAS: {
        const float *bi = fdata(p->b_ih, &h1), *bh = fdata(p->b_hh, &h2);
        memset(dst, 0, (size_t)(prim->G_bias * H) * sizeof *dst);
        if (bi && bh) {
            bool lbr = k->alg == SG__ALG_GRU_LBR;
            for (int g = 0; g < G; g++) {
                int64_t s = src_gate(prim, g) * H;
                for (int64_t o = 0; o < H; o++) dst[g * H + o] = lbr && g == G - 1 ? bi[s + o] : bi[s + o] + bh[s + o];
            }
            if (lbr) memcpy(dst + LBR_N_HID * H, bh + (G - 1) * H, (size_t)H * sizeof *dst);
        }
        sg__unref(h1);
        sg__unref(h2);
        break;
    }
    case SG__W_PEEP: {
        const float *v[PEEP_G] = {fdata(p->w_ci, &h1), fdata(p->w_cf, &h2), fdata(p->w_co, &h3)};
        for (int g = 0; g < PEEP_G; g++) memcpy(dst + g * H, v[g], (size_t)H * sizeof *dst);
        sg__unref(h1);
        sg__unref(h2);
        sg__unref(h3);
        break;
    }
    case SG__W_PROJ: {
        const float *s = fdata(p->w_hr, &h1);
        memcpy(dst, s, (size_t)(k->P * H) * sizeof *dst);
        sg__unref(h1);
        break;
    }
    }
}

/* Gradient g (PyTorch shape of t) accumulated into t when t wants one. Takes src as t's values. */
static int accum(sg_tensor *t, const float *src, void (*fill)(float *, const float *, const sg__rnn_prim *, int64_t, int64_t),
                 const sg__rnn_prim *prim, int64_t in, int64_t which) {
    if (!t || !(t->flags & SG_FLAG_REQUIRES_GRAD)) return SG_OK;
    sg_tensor *g = sg__alloc(SG_F32, t->ndim, t->shape, false);
    if (!g) return SG_ERR_MEM;
    fill((float *)sg__ptr(g), src, prim, in, which);
    return sg__grad_accum(t, g);
}

/* weight (G*H, in) from gate slots */
static void fill_w(float *g, const float *s, const sg__rnn_prim *prim, int64_t in, int64_t unused) {
    (void)unused;
    int64_t H = prim->key.H;
    for (int k = 0; k < prim->G; k++) memcpy(g + src_gate(prim, k) * H * in, s + k * H * in, (size_t)(H * in) * sizeof *g);
}
/* bias (G*H) from bias rows; which = 0 for b_ih, 1 for b_hh (they differ only in lbr's n rows) */
static void fill_b(float *g, const float *s, const sg__rnn_prim *prim, int64_t unused, int64_t which) {
    (void)unused;
    int64_t H = prim->key.H;
    for (int k = 0; k < prim->G; k++) memcpy(g + src_gate(prim, k) * H, s + k * H, (size_t)H * sizeof *g);
    if (prim->key.alg == SG__ALG_GRU_LBR)
        memcpy(g + (prim->G - 1) * H, s + (which ? LBR_N_HID : LBR_N_IN) * H, (size_t)H * sizeof *g);
}
/* a plain copy of n elements */
static void fill_copy(float *g, const float *s, const sg__rnn_prim *prim, int64_t n, int64_t unused) {
    (void)prim;
    (void)unused;
    memcpy(g, s, (size_t)n * sizeof *g);
}

/* Gradients of direction d's parameters from argument w's diff in the user layout. */
static int unpack_dir(const sg__rnn_prim *prim, int w, const sg_fused_dir_params *p, const float *s) {
    const sg__rnn_key *k = &prim->key;
    int64_t H = k->H;
    int rc = SG_OK;
    switch (w) {
    case SG__W_LAYER: return accum(p->w_ih, s, fill_w, prim, k->D, 0);
    case SG__W_ITER: return accum(p->w_hh, s, fill_w, prim, k->P, 0);
    case SG__W_BIAS:
        rc = accum(p->b_ih, s, fill_b, prim, 0, 0);
        return rc ? rc : accum(p->b_hh, s, fill_b, prim, 0, 1);
    case SG__W_PEEP:
        rc = accum(p->w_ci, s, fill_copy, prim, H, 0);
        if (!rc) rc = accum(p->w_cf, s + H, fill_copy, prim, H, 0);
        return rc ? rc : accum(p->w_co, s + 2 * H, fill_copy, prim, H, 0);
    case SG__W_PROJ: return accum(p->w_hr, s, fill_copy, prim, k->P * H, 0);
    }
    return rc;
}

static int64_t dir_elems(const sg__rnn_prim *prim, int w) {
    return (int64_t)(dnnl_memory_desc_get_size(&prim->user_md[w]) / sizeof(float)) / prim->key.dirs;
}

int sg__weights_grad_accum(const sg__rnn_prim *prim, const sg_fused_desc *d, const sg_fused_dir_params *p,
                           void *const diff[SG__W_COUNT]) {
    int rc = SG_OK;
    for (int w = 0; w < SG__W_COUNT && !rc; w++) {
        if (!prim->has_w[w] || (w == SG__W_BIAS && !d->bias)) continue;
        float *u = sg__dnnl_alloc(dnnl_memory_desc_get_size(&prim->user_md[w]), false);
        if (!u) return sg_set_error(SG_ERR_MEM, "sg_rnn_fused_layer: out of memory (weight gradients)");
        rc = sg__dnnl_run(prim->from_diff[w], 2,
                          (sg__dnnl_arg[]){{DNNL_ARG_FROM, &prim->diff_md[w], diff[w]}, {DNNL_ARG_TO, &prim->user_md[w], u}},
                          "diff weight reorder");
        for (int d = 0; d < prim->key.dirs && !rc; d++) rc = unpack_dir(prim, w, &p[d], u + d * dir_elems(prim, w));
        free(u);
    }
    return rc;
}

/* ---- the cache ---- */

static int make_sig(const sg__rnn_prim *prim, const sg_fused_dir_params *p, sig_entry *sig) {
    int n = 0;
    for (int d = 0; d < prim->key.dirs; d++)
        for (int i = 0; i < PARAMS_PER_DIR; i++) {
            const sg_tensor *t = dir_tensors(&p[d])[i];
            sig[n++] = t ? (sig_entry){t, t->storage, t->offset, t->storage->version} : (sig_entry){0};
        }
    return n;
}

static int repack(sg_fused_wcache *c, const sg__rnn_prim *prim, const sg_fused_dir_params *p) {
    for (int w = 0; w < SG__W_COUNT; w++) {
        for (int s = 0; s < SG__SLOT_COUNT; s++) c->svalid[s][w] = false;
        if (!prim->has_w[w]) continue;
        if (!c->user[w] || !dnnl_memory_desc_equal(&c->umd[w], &prim->user_md[w])) {
            free(c->user[w]);
            c->user[w] = sg__dnnl_alloc(dnnl_memory_desc_get_size(&prim->user_md[w]), false);
            c->umd[w] = prim->user_md[w];
            if (!c->user[w]) {
                c->packed = false;
                return sg_set_error(SG_ERR_MEM, "sg_rnn_fused_layer: out of memory (weights)");
            }
        }
        for (int d = 0; d < prim->key.dirs; d++) pack_dir(prim, w, &p[d], c->user[w] + d * dir_elems(prim, w));
    }
    c->packed = true;
    sg__dnnl_count(SG__STAT_PACK);
    return SG_OK;
}

int sg__wcache_get(sg_fused_wcache *c, const sg__rnn_prim *prim, int slot, const sg_fused_desc *d,
                   const sg_fused_dir_params *p, void *out[SG__W_COUNT]) {
    (void)d;
    sig_entry sig[MAX_SIG];
    int nsig = make_sig(prim, p, sig);
    bool fresh = c->packed && nsig == c->nsig && !memcmp(sig, c->sig, (size_t)nsig * sizeof *sig);
    for (int w = 0; fresh && w < SG__W_COUNT; w++)
        fresh = !prim->has_w[w] || (c->user[w] && dnnl_memory_desc_equal(&c->umd[w], &prim->user_md[w]));
    if (!fresh) {
        int rc = repack(c, prim, p);
        if (rc) return rc;
        memcpy(c->sig, sig, (size_t)nsig * sizeof *sig);
        c->nsig = nsig;
    }
    bool bwd = slot == SG__SLOT_BWD;
    for (int w = 0; w < SG__W_COUNT; w++) {
        out[w] = NULL;
        if (!prim->has_w[w]) continue;
        const dnnl_memory_desc_t *md = bwd ? &prim->bwd_md[w] : &prim->fwd_md[w];
        if (!c->svalid[slot][w] || !dnnl_memory_desc_equal(&c->smd[slot][w], md)) {
            size_t need = dnnl_memory_desc_get_size(md);
            if (!c->sbuf[slot][w] || dnnl_memory_desc_get_size(&c->smd[slot][w]) < need) {
                free(c->sbuf[slot][w]);
                c->sbuf[slot][w] = sg__dnnl_alloc(need, true);
                if (!c->sbuf[slot][w]) return sg_set_error(SG_ERR_MEM, "sg_rnn_fused_layer: out of memory (weights)");
            }
            c->smd[slot][w] = *md;
            c->svalid[slot][w] = false;
            int rc = sg__dnnl_run(bwd ? prim->to_bwd[w] : prim->to_fwd[w], 2,
                                  (sg__dnnl_arg[]){{DNNL_ARG_FROM, &prim->user_md[w], c->user[w]}, {DNNL_ARG_TO, md, c->sbuf[slot][w]}},
                                  "weight reorder");
            if (rc) return rc;
            c->svalid[slot][w] = true;
            sg__dnnl_count(SG__STAT_REORDER);
        }
        out[w] = c->sbuf[slot][w];
    }
    return SG_OK;
}

#else
typedef int sg__dnnl_rnn_weights_unused; /* ISO C: a translation unit must not be empty */
#endif
