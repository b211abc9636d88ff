/* Bucketed gradient reduction over MPI. A bucket of n elements is split into N shards of whole
 * blocks (SG__BLOCK elements, dist_impl.h); rank s owns shard s. Phase 0: the ranks exchange maps
 * of their bucket's nonzero blocks; a block zero on every rank sums to zero and need not travel, so
 * when few blocks are nonzero anywhere (an embedding's rows a batch did not touch) the phases below
 * send only the blocks of the maps' union, packed, and the result has the same bits as sending all.
 * Phase 1 (reduce-scatter): every rank sends shard s of its gradient to rank s,
 * which sums the N contributions in rank order 0..N-1 (each element reduced exactly once, in a
 * fixed order). Phase 2 (allgather): the owner sends its summed shard to every rank. All messages
 * are non-blocking point-to-point with the bucket and phase in the tag, so buckets may start in any
 * order on different ranks; progress is made whenever the grad-ready hook runs and in end().
 * Ranks send their gradients unscaled and their step weights at begin(): the owner multiplies each
 * contribution by its rank's weight as it sums, the value the sender would have computed, so no
 * rank makes a separate scaling pass over its whole block.
 * Not a ring: 2(N-1) messages per bucket and rank, fine for the tens of ranks this targets. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/autograd.h"
#include "dist_mpi_impl.h"

typedef enum { B_IDLE = 0, B_MAP, B_SCATTER, B_GATHER, B_DONE } bucket_phase;
enum { TAG_PHASES = 3 }; /* tags per bucket; the weights' tag follows the last bucket's */
/* A bucket is sent sparse when at most 1 / SPARSE_MIN_RATIO of its blocks is nonzero on some rank:
 * packing costs a copy, so a denser bucket goes as it lies, without one. */
enum { SPARSE_MIN_RATIO = 2 };

typedef struct {
    int64_t lo, hi, nblk;
    int pending;       /* parameters whose gradient is not final yet */
    bucket_phase phase;
    bool sparse;       /* this step: only the blocks of u travel, packed */
    MPI_Request *req;  /* 2(N-1) */
    void *recv;        /* (N-1) shards of this rank's size, phase 1 */
    uint8_t *map;      /* N x nblk: rank q's nonzero blocks at map + q * nblk */
    uint8_t *u;        /* nblk: the union of the ranks' maps */
    char *pack;        /* n elements, made at the first sparse step: shard q packed at shard q's offset */
} bucket;

typedef struct {
    const sg_tensor *t;
    int index;
} param_key;

struct sg_dist_grads {
    sg__grads_head h; /* group, model, plan, step state, counters (common.c) */
    sg_dtype dt;
    size_t es;
    bucket *b;
    param_key *keys; /* sorted by address: leaf -> parameter index */
    int hook_status; /* first MPI failure inside the hook, reported by end() */
    double *w;       /* this step's weight of every rank, w[rank] (N) */
    MPI_Request *wreq; /* the weights' exchange, 2(N-1); wpending until it completed */
    bool wpending;
    double t_first;  /* this step's first bucket start (0: none yet) */
};

/* shard s of bucket b: blocks [*k0, *k1), elements [*off, *off + *cnt) */
static void shard(const bucket *b, int N, int s, int64_t *k0, int64_t *k1, int64_t *off, int64_t *cnt) {
    int64_t q = b->nblk / N, r = b->nblk % N, n = b->hi - b->lo;
    *k0 = s * q + (s < r ? s : r);
    *k1 = *k0 + q + (s < r);
    *off = *k0 * SG__BLOCK < n ? *k0 * SG__BLOCK : n;
    *cnt = (*k1 * SG__BLOCK < n ? *k1 * SG__BLOCK : n) - *off;
}

static int by_addr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)((const param_key *)a)->t, y = (uintptr_t)((const param_key *)b)->t;
    return x < y ? -1 : x > y;
}

void sg_dist_grads_free(sg_dist_grads *g) {
    if (!g) return;
    if (g->h.active) sg_set_grad_ready_hook(NULL, NULL);
    for (int i = 0; g->b && i < g->h.plan.nb; i++) {
        free(g->b[i].req);
        free(g->b[i].recv);
        free(g->b[i].map);
        free(g->b[i].u);
        free(g->b[i].pack);
    }
    free(g->b);
    free(g->keys);
    free(g->w);
    free(g->wreq);
    sg__grads_free_head(&g->h);
}

sg_dist_grads *sg_dist_grads_new(sg_dist *d, sg_model *m, size_t bucket_bytes) {
    sg_dist_grads *g = sg__grads_alloc(d, m, bucket_bytes, sizeof *g);
    if (!g) return NULL;
    g->dt = sg_model_dtype(m);
    g->es = sg_dtype_size(g->dt);
    int N = d->size, np = g->h.plan.np, *tag_ub = NULL, flag = 0;
    MPI_Comm_get_attr(d->comm, MPI_TAG_UB, &tag_ub, &flag);
    if (flag && tag_ub && (int64_t)g->h.plan.nb * TAG_PHASES + 1 > *tag_ub) {
        sg_set_error(SG_ERR_ARG, "sg_dist_grads_new: %d buckets exceed MPI's tag range; use larger buckets", g->h.plan.nb);
        sg_dist_grads_free(g);
        return NULL;
    }
    g->b = calloc((size_t)(g->h.plan.nb ? g->h.plan.nb : 1), sizeof *g->b);
    g->keys = malloc((size_t)(np ? np : 1) * sizeof *g->keys);
    g->w = malloc((size_t)N * sizeof *g->w);
    g->wreq = malloc((size_t)(N > 1 ? 2 * (N - 1) : 1) * sizeof *g->wreq);
    bool ok = g->b && g->keys && g->w && g->wreq;
    for (int i = 0; ok && i < g->h.plan.nb; i++) {
        bucket *b = &g->b[i];
        b->lo = g->h.plan.lo[i];
        b->hi = g->h.plan.hi[i];
        b->nblk = sg__blocks_count(b->hi - b->lo);
        int64_t k0, k1, off, cnt;
        shard(b, N, d->rank, &k0, &k1, &off, &cnt);
        if (N > 1) {
            b->req = malloc((size_t)(2 * (N - 1)) * sizeof *b->req);
            b->recv = malloc((size_t)((N - 1) * (cnt ? cnt : 1)) * g->es);
            b->map = malloc((size_t)(N * (b->nblk ? b->nblk : 1)));
            b->u = malloc((size_t)(b->nblk ? b->nblk : 1));
            ok = b->req && b->recv && b->map && b->u;
        }
    }
    for (int i = 0; ok && i < np; i++) g->keys[i] = (param_key){sg_model_param(m, i), i};
    if (!ok) {
        sg_set_error(SG_ERR_MEM, "sg_dist_grads_new: out of memory");
        sg_dist_grads_free(g);
        return NULL;
    }
    qsort(g->keys, (size_t)np, sizeof *g->keys, by_addr);
    return g;
}

static char *grad_base(sg_dist_grads *g) { return (char *)sg_data_const(sg_model_flat_grads(g->h.m)); }

static void scale(sg_dist_grads *g, int64_t lo, int64_t hi, double w) {
    if (w == 1.0) return;
    char *base = grad_base(g);
    if (g->dt == SG_F64) {
        double *x = (double *)base;
        for (int64_t i = lo; i < hi; i++) x[i] *= w;
    } else {
        float *x = (float *)base;
        float wf = (float)w;
        for (int64_t i = lo; i < hi; i++) x[i] *= wf;
    }
}

static char *bucket_base(sg_dist_grads *g, const bucket *b) { return grad_base(g) + (size_t)b->lo * g->es; }

/* Phase 0: map this rank's nonzero blocks, send the map to every rank, receive theirs. */
static int start_bucket(sg_dist_grads *g, int bi) {
    bucket *b = &g->b[bi];
    sg_dist *d = g->h.d;
    int N = d->size, me = d->rank, k = 0, tag = bi * TAG_PHASES;
    if (g->t_first == 0) g->t_first = MPI_Wtime();
    uint8_t *mine = b->map + (size_t)me * (size_t)b->nblk;
    sg__blocks_map(mine, bucket_base(g, b), b->hi - b->lo, g->es);
    for (int q = 0; q < N; q++) {
        if (q == me) continue;
        MPI_TRY("sg_dist_grads", MPI_Irecv(b->map + (size_t)q * (size_t)b->nblk, (int)b->nblk, MPI_BYTE, q, tag,
                                           d->comm, &b->req[k++]));
        MPI_TRY("sg_dist_grads", MPI_Isend(mine, (int)b->nblk, MPI_BYTE, q, tag, d->comm, &b->req[k++]));
        g->h.st.bytes_sent += b->nblk;
    }
    b->phase = B_MAP;
    return SG_OK;
}

/* The weights every rank sent at begin(), before the first sum of the step. */
static int await_weights(sg_dist_grads *g) {
    if (!g->wpending) return SG_OK;
    MPI_TRY("sg_dist_grads", MPI_Waitall(2 * (g->h.d->size - 1), g->wreq, MPI_STATUSES_IGNORE));
    g->wpending = false;
    return SG_OK;
}

/* Zero blocks sum to +0.0 (what they hold) only when no weight is negative, infinite or NaN. */
static bool weights_keep_zero(const sg_dist_grads *g) {
    for (int q = 0; q < g->h.d->size; q++)
        if (!isfinite(g->w[q]) || signbit(g->w[q])) return false;
    return true;
}

/* Elements rank q's shard sends: all of it, or its blocks in the union. */
static int64_t shard_count(const bucket *b, int N, int q) {
    int64_t k0, k1, off, cnt;
    shard(b, N, q, &k0, &k1, &off, &cnt);
    return b->sparse ? sg__blocks_selected(b->u, k0, k1, b->hi - b->lo) : cnt;
}

/* Phase 1, once the maps are in: the union decides dense or sparse (the same on every rank); send
 * shard q of this rank's (unscaled) bucket to rank q, receive this rank's shard from all. */
static int scatter_bucket(sg_dist_grads *g, int bi) {
    bucket *b = &g->b[bi];
    sg_dist *d = g->h.d;
    int N = d->size, me = d->rank, k = 0, tag = bi * TAG_PHASES + 1;
    int64_t n = b->hi - b->lo, set = 0;
    int rc = await_weights(g);
    if (rc) return rc;
    for (int64_t j = 0; j < b->nblk; j++) {
        uint8_t any = 0;
        for (int q = 0; q < N; q++) any |= b->map[(size_t)q * (size_t)b->nblk + (size_t)j];
        b->u[j] = any;
        set += any;
    }
    b->sparse = set * SPARSE_MIN_RATIO <= b->nblk && weights_keep_zero(g);
    if (b->sparse && !b->pack) b->pack = malloc((size_t)(n ? n : 1) * g->es);
    if (!b->pack) b->sparse = false; /* out of memory: the dense path needs no buffer */
    char *base = bucket_base(g, b);
    MPI_Datatype ty = sg__mpi_type(g->dt);
    int64_t k0, k1, myoff, mycnt;
    shard(b, N, me, &k0, &k1, &myoff, &mycnt);
    int64_t mine = shard_count(b, N, me);
    for (int q = 0, slot = 0; q < N; q++) {
        if (q == me) continue;
        MPI_TRY("sg_dist_grads", MPI_Irecv((char *)b->recv + (size_t)(slot++ * mycnt) * g->es, (int)mine, ty, q, tag,
                                           d->comm, &b->req[k++]));
    }
    for (int q = 0; q < N; q++) {
        if (q == me) continue;
        int64_t qk0, qk1, off, cnt;
        shard(b, N, q, &qk0, &qk1, &off, &cnt);
        char *src = base + (size_t)off * g->es;
        if (b->sparse) {
            cnt = sg__blocks_pack(b->pack + (size_t)off * g->es, base, b->u, qk0, qk1, n, g->es);
            src = b->pack + (size_t)off * g->es;
        }
        MPI_TRY("sg_dist_grads", MPI_Isend(src, (int)cnt, ty, q, tag, d->comm, &b->req[k++]));
        g->h.st.bytes_sent += cnt * (int64_t)g->es;
    }
    g->h.st.buckets_sparse += b->sparse;
    g->h.st.bytes_dense += ((n - mycnt) + (int64_t)(N - 1) * mycnt) * (int64_t)g->es;
    b->phase = B_SCATTER;
    return SG_OK;
}

/* float32, two ranks: own = wa * own + wb * other, each product rounded to float as the senders'
 * scaling did. Rounding the exact sum of two floats once, as this does, gives the same bits as
 * rounding their double sum (double has more than 2 x 24 + 2 bits), and a + b is b + a, so this is
 * sum_into's rank-order double sum, four times faster in the portable build. */
static void add_f32(float *restrict own, const float *restrict other, int64_t n, float wa, float wb) {
    if (wa == 1.0f && wb == 1.0f)
        for (int64_t i = 0; i < n; i++) own[i] += other[i];
    else
        for (int64_t i = 0; i < n; i++) own[i] = own[i] * wa + other[i] * wb;
}

/* own[0..cnt) = sum over ranks q in order 0..N-1 of w[q] * (q's contribution): own's at position
 * me, the others' at recv + slot * stride elements; each product rounded to the gradient's dtype
 * (what scaling in place gives), the sum in double, in chunks so the inner loops vectorise. */
enum { SUM_CHUNK = 1024 };
static void sum_into(sg_dist_grads *g, char *own, const char *recv, int64_t cnt, int64_t stride) {
    int N = g->h.d->size, me = g->h.d->rank;
    if (g->dt == SG_F32 && N == 2) {
        add_f32((float *)own, (const float *)recv, cnt, (float)g->w[me], (float)g->w[1 - me]);
        return;
    }
    double acc[SUM_CHUNK];
    for (int64_t c0 = 0; c0 < cnt; c0 += SUM_CHUNK) {
        int64_t m = cnt - c0 < SUM_CHUNK ? cnt - c0 : SUM_CHUNK;
        for (int q = 0, slot = 0; q < N; q++) {
            const char *src = q == me ? own : recv + (size_t)(slot++ * stride) * g->es;
            if (g->dt == SG_F64) {
                const double *x = (const double *)src + c0, wq = g->w[q];
                if (q == 0) for (int64_t i = 0; i < m; i++) acc[i] = x[i] * wq;
                else for (int64_t i = 0; i < m; i++) acc[i] += x[i] * wq;
            } else {
                const float *x = (const float *)src + c0, wq = (float)g->w[q];
                if (q == 0) for (int64_t i = 0; i < m; i++) acc[i] = x[i] * wq;
                else for (int64_t i = 0; i < m; i++) acc[i] += x[i] * wq;
            }
        }
        if (g->dt == SG_F64) memcpy((double *)own + c0, acc, (size_t)m * sizeof *acc);
        else
            for (int64_t i = 0; i < m; i++) ((float *)own)[c0 + i] = (float)acc[i];
    }
}

/* Phase 2: sum this rank's shard, send it to every rank, receive every other shard (in place, or
 * packed into its place in b->pack). */
static int gather_bucket(sg_dist_grads *g, int bi) {
    bucket *b = &g->b[bi];
    sg_dist *d = g->h.d;
    int N = d->size, me = d->rank, k = 0, tag = bi * TAG_PHASES + 2;
    int64_t n = b->hi - b->lo, k0, k1, myoff, mycnt;
    shard(b, N, me, &k0, &k1, &myoff, &mycnt);
    char *base = bucket_base(g, b), *own = base + (size_t)myoff * g->es, *dst = base;
    int64_t m = mycnt;
    if (b->sparse) {
        own = b->pack + (size_t)myoff * g->es;
        dst = b->pack;
        m = sg__blocks_pack(own, base, b->u, k0, k1, n, g->es);
    }
    sum_into(g, own, b->recv, m, mycnt);
    if (b->sparse) sg__blocks_unpack(base, own, b->u, k0, k1, n, g->es);
    MPI_Datatype ty = sg__mpi_type(g->dt);
    for (int q = 0; q < N; q++) {
        if (q == me) continue;
        int64_t qk0, qk1, off, cnt;
        shard(b, N, q, &qk0, &qk1, &off, &cnt);
        MPI_TRY("sg_dist_grads", MPI_Irecv(dst + (size_t)off * g->es, (int)shard_count(b, N, q), ty, q, tag, d->comm,
                                           &b->req[k++]));
        MPI_TRY("sg_dist_grads", MPI_Isend(own, (int)m, ty, q, tag, d->comm, &b->req[k++]));
        g->h.st.bytes_sent += m * (int64_t)g->es;
    }
    b->phase = B_GATHER;
    return SG_OK;
}

/* The other shards, received packed, into their blocks. */
static void finish_bucket(sg_dist_grads *g, bucket *b) {
    int N = g->h.d->size;
    for (int q = 0; b->sparse && q < N; q++) {
        if (q == g->h.d->rank) continue;
        int64_t k0, k1, off, cnt;
        shard(b, N, q, &k0, &k1, &off, &cnt);
        sg__blocks_unpack(bucket_base(g, b), b->pack + (size_t)off * g->es, b->u, k0, k1, b->hi - b->lo, g->es);
    }
    b->phase = B_DONE;
}

/* Advances bucket bi by one phase if its messages are complete (wait: block until they are). */
static int advance(sg_dist_grads *g, int bi, bool wait) {
    bucket *b = &g->b[bi];
    if (b->phase != B_MAP && b->phase != B_SCATTER && b->phase != B_GATHER) return SG_OK;
    int nreq = 2 * (g->h.d->size - 1), done = 1;
    if (wait) MPI_TRY("sg_dist_grads", MPI_Waitall(nreq, b->req, MPI_STATUSES_IGNORE));
    else MPI_TRY("sg_dist_grads", MPI_Testall(nreq, b->req, &done, MPI_STATUSES_IGNORE));
    if (!done) return SG_OK;
    if (b->phase == B_MAP) return scatter_bucket(g, bi);
    if (b->phase == B_SCATTER) return gather_bucket(g, bi);
    finish_bucket(g, b);
    return SG_OK;
}

static int progress(sg_dist_grads *g) {
    int rc = SG_OK;
    for (int i = 0; i < g->h.plan.nb && rc == SG_OK; i++) rc = advance(g, i, false);
    return rc;
}

/* grad-ready hook: a parameter's gradient is final; start its bucket once all of it is. An MPI
 * failure here is kept for end() (the hook cannot fail the backward). */
static void on_ready(sg_tensor *leaf, void *ctx) {
    sg_dist_grads *g = ctx;
    double t0 = MPI_Wtime();
    param_key key = {leaf, 0}, *k = bsearch(&key, g->keys, (size_t)g->h.plan.np, sizeof key, by_addr);
    int rc = SG_OK;
    if (k) {
        bucket *b = &g->b[g->h.plan.of_param[k->index]];
        if (--b->pending == 0 && b->phase == B_IDLE) {
            rc = start_bucket(g, g->h.plan.of_param[k->index]);
            g->h.st.buckets_early++;
        }
    }
    if (rc == SG_OK) rc = progress(g);
    if (rc && !g->hook_status) g->hook_status = rc;
    g->h.st.t_in_backward += MPI_Wtime() - t0;
}

int sg_dist_grads_begin(sg_dist_grads *g, double weight) {
    int rc = sg__grads_begin_head(g ? &g->h : NULL, weight);
    if (rc) return rc;
    for (int i = 0; i < g->h.plan.nb; i++) {
        g->b[i].phase = B_IDLE;
        g->b[i].pending = g->h.plan.nparams[i];
    }
    g->hook_status = SG_OK;
    g->t_first = 0;
    sg_dist *d = g->h.d;
    int N = d->size, me = d->rank, k = 0, tag = g->h.plan.nb * TAG_PHASES;
    if (N == 1) return SG_OK;
    g->w[me] = weight;
    for (int q = 0; q < N; q++) {
        if (q == me) continue;
        MPI_TRY("sg_dist_grads_begin", MPI_Irecv(&g->w[q], 1, MPI_DOUBLE, q, tag, d->comm, &g->wreq[k++]));
        MPI_TRY("sg_dist_grads_begin", MPI_Isend(&g->w[me], 1, MPI_DOUBLE, q, tag, d->comm, &g->wreq[k++]));
    }
    g->wpending = true;
    sg_set_grad_ready_hook(on_ready, g);
    return SG_OK;
}

int sg_dist_grads_end(sg_dist_grads *g) {
    int rc = sg__grads_end_head(g ? &g->h : NULL);
    if (rc) return rc;
    double t0 = MPI_Wtime();
    if (g->h.d->size == 1) {
        scale(g, 0, sg_numel(sg_model_flat_grads(g->h.m)), g->h.weight);
    } else {
        sg_set_grad_ready_hook(NULL, NULL);
        rc = g->hook_status;
        for (int i = 0; i < g->h.plan.nb && rc == SG_OK; i++)
            if (g->b[i].phase == B_IDLE) rc = start_bucket(g, i);
        for (int i = 0; i < g->h.plan.nb && rc == SG_OK; i++) /* every bucket has started: its phases */
            while (rc == SG_OK && g->b[i].phase != B_DONE) rc = advance(g, i, true);
        if (rc == SG_OK) rc = await_weights(g); /* no bucket needed them: a model without parameters */
    }
    sg_mark_modified(sg_model_flat_grads(g->h.m));
    double t1 = MPI_Wtime();
    g->h.st.t_exposed += t1 - t0;
    if (g->t_first > 0) g->h.st.t_comm += t1 - g->t_first;
    g->h.st.steps++;
    return rc;
}
