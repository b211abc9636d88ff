/* bench_rnn: the recurrent workloads W1-W5 of ../shared/bench/WORKLOADS.md timed on seqgrad's
 * composed and onednn backends, on the raw oneDNN primitives alone, against the machine's sgemm
 * ceiling and against PyTorch (torch_ref.py) in the same run, with ratios and peak memory.
 * Not a test suite: its only check is that composed, onednn and raw oneDNN compute the same loss
 * and input gradient from the same parameters (exit status 1 otherwise, or when composed / raw oneDNN cannot run).
 * Usage: bench_rnn [--threads 1,2] [--workloads W1,W3] [--steps 10] [--warmup 3] [--json FILE]
 *                  [--backends composed,onednn,raw,torch,sgemm] [--torch-ref PATH] [--smoke] */
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "seqgrad.h"

#if SEQGRAD_HAVE_DNNL
#include "dnnl_raw.h"
#endif

#ifndef BENCH_SOURCE_DIR
#define BENCH_SOURCE_DIR "."
#endif
#define DEFAULT_TORCH_REF BENCH_SOURCE_DIR "/../shared/bench/torch_ref.py"
#define DEFAULT_PYTHON "/usr/bin/python3"

enum {
    MAX_THREADS_LIST = 16,
    MAX_WORKLOADS = 5,
    DEFAULT_STEPS = 10,
    DEFAULT_WARMUP = 3,
    SMOKE_T = 6, /* --smoke shrinks T and B of the training workloads to at most these */
    SMOKE_B = 4,
    SQUARE_GEMM = 1024,
    GEMM_WARMUP_CALLS = 3,
    GEMM_MAX_REPS = 1 << 20,
    MAX_GEMMS = 1 + 2 * MAX_WORKLOADS,
    NOTE_LEN = 320,
    LINE_LEN = 1024,
};
#define GEMM_TARGET_S 0.05       /* one timed sgemm sample lasts about this long (as torch_ref.py) */
#define GEMM_TARGET_SMOKE_S 0.002
#define KB_PER_MB 1024.0
#define NOISY_OTHERS_PCT 10.0   /* other processes' CPU share above which timings are flagged */
#define CHECK_RTOL 1e-3          /* loss agreement between implementations (f32, different orders) */
/* targets from the task: onednn backend within 15% of the raw primitive; composed within 1.4x
 * of the onednn backend for training, 3x for batch-1 inference */
#define TARGET_ONEDNN_OVER_RAW 1.15
#define TARGET_COMPOSED_OVER_ONEDNN 1.4
#define TARGET_COMPOSED_OVER_ONEDNN_INFER 3.0

/* ---- workloads (WORKLOADS.md) ---- */
typedef struct {
    const char *id;
    sg_cell_kind cell;
    int64_t D, H, T, B;
    int layers, dirs;
    bool train; /* training step; else forward only under no-grad */
    bool full;  /* the published shape (false when --smoke shrank it) */
} workload;

static const workload WORKLOADS[MAX_WORKLOADS] = {
    {"W1", SG_CELL_LSTM, 28, 128, 28, 64, 1, 1, true, true},
    {"W2", SG_CELL_LSTM, 128, 128, 200, 64, 1, 2, true, true},
    {"W3", SG_CELL_LSTM, 512, 512, 64, 32, 2, 1, true, true},
    {"W4", SG_CELL_GRU, 128, 256, 100, 32, 1, 1, true, true},
    {"W5", SG_CELL_LSTM, 128, 256, 50, 1, 1, 1, false, true},
};

static int gates(const workload *w) { return w->cell == SG_CELL_LSTM ? 4 : 3; }

/* forward 2*T*B*G*H*(Din+H) per layer and direction; a training step counts 3x forward */
static double step_flops(const workload *w) {
    double f = 0, din = (double)w->D;
    for (int l = 0; l < w->layers; l++) {
        f += w->dirs * 2.0 * (double)w->T * (double)w->B * gates(w) * (double)w->H * (din + (double)w->H);
        din = (double)(w->dirs * w->H);
    }
    return w->train ? 3 * f : f;
}

/* ---- options ---- */
enum { BK_COMPOSED, BK_ONEDNN, BK_RAW, BK_TORCH, BK_COUNT };
static const char *const BK_NAME[BK_COUNT] = {"composed", "onednn", "raw", "torch"};
_Static_assert(sizeof BK_NAME / sizeof BK_NAME[0] == BK_COUNT, "backend names");

typedef struct {
    int threads[MAX_THREADS_LIST], nthreads;
    workload wl[MAX_WORKLOADS];
    int nwl;
    int steps, warmup;
    bool run[BK_COUNT], run_sgemm, smoke;
    const char *json, *torch_ref, *python;
    uint64_t seed;
} opts;

/* ---- results ---- */
typedef enum { RES_NOT_RUN = 0, RES_OK, RES_NA } res_state;
typedef struct {
    res_state state;
    char note[NOTE_LEN];
    double median_ms, min_ms, max_ms, gflops;
    double step_mb;  /* RSS high-water of one steady-state step above the RSS just before it */
    double total_mb; /* RSS high-water of setup + warm-up above the RSS before setup */
    double steal_pct;
    double others_pct; /* CPU time of other processes during the timed steps, % of all CPUs */
    double loss, dx_sq; /* first step's sum(output * R) and sum(dx * dx), for the cross-check */
    bool have_loss, have_dx;
} result;

typedef struct {
    workload w;
    int threads;
    double flops, ceiling;
    result r[BK_COUNT];
} row;

typedef struct {
    int threads;
    char name[64];
    int64_t M, K, N;
    bool wt; /* B is the transpose of an (N, K) weight, as in x @ W^T */
    double gflops;
} gemm_row;

/* Writing "5" to clear_refs resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0). */
static bool hwm_reset(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

/* Gives freed heap memory back to the kernel, so that the next high-water increase counts every
 * byte the next phase touches (glibc otherwise keeps freed chunks resident). */
static void release_free_memory(void) { malloc_trim(0); }

static double mb_above(long kb, long base_kb) { return kb < 0 || base_kb < 0 ? NAN : (double)(kb - base_kb) / KB_PER_MB; }

/* Jiffies of /proc/stat's cpu line (all CPUs) and this process's CPU time in jiffies. VM steal and
 * other processes' CPU use are the noise sources: with 2 threads on 2 cores, one busy neighbour
 * stalls every OpenMP barrier. */
typedef struct {
    double total, busy, steal, self;
    bool ok;
} cpu_stat;

static cpu_stat read_cpu_stat(void) {
    cpu_stat s = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return s;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]);
    fclose(f);
    if (n != 8) return s;
    for (int i = 0; i < 8; i++) s.total += (double)v[i];
    s.busy = s.total - (double)v[3] - (double)v[4]; /* minus idle and iowait */
    s.steal = (double)v[7];
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return s;
    double sec = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
                 1e-6 * (double)ru.ru_stime.tv_usec;
    s.self = sec * (double)sysconf(_SC_CLK_TCK);
    s.ok = true;
    return s;
}

/* ---- the generic timing loop ---- */
typedef struct {
    int (*prepare)(void *ctx, char *err, size_t n); /* before the memory baseline; may be NULL */
    int (*setup)(void *ctx, char *err, size_t n);
    int (*step)(void *ctx, char *err, size_t n);
    void (*teardown)(void *ctx); /* also after a failed prepare/setup/step */
} bench_ops;

static void run_bench(const bench_ops *ops, void *ctx, const opts *o, double flops, result *res) {
    char err[NOTE_LEN] = "";
    double *ts = NULL;
    memset(res, 0, sizeof *res);
    res->step_mb = res->total_mb = res->steal_pct = res->others_pct = NAN;
    if (ops->prepare && ops->prepare(ctx, err, sizeof err)) goto fail;
    release_free_memory();
    bool mem = hwm_reset();
    long rss0 = bu_status_kb("VmRSS");
    if (ops->setup(ctx, err, sizeof err)) goto fail;
    for (int i = 0; i < o->warmup; i++)
        if (ops->step(ctx, err, sizeof err)) goto fail;
    if (mem) res->total_mb = mb_above(bu_status_kb("VmHWM"), rss0);
    ts = calloc((size_t)o->steps, sizeof *ts);
    if (!ts) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    cpu_stat s0 = read_cpu_stat();
    for (int i = 0; i < o->steps; i++) {
        double t0 = bu_now_s();
        if (ops->step(ctx, err, sizeof err)) goto fail;
        ts[i] = (bu_now_s() - t0) * 1e3;
    }
    cpu_stat s1 = read_cpu_stat();
    if (s0.ok && s1.ok && s1.total > s0.total) {
        double dt = s1.total - s0.total, other = (s1.busy - s0.busy) - (s1.self - s0.self) - (s1.steal - s0.steal);
        res->steal_pct = 100.0 * (s1.steal - s0.steal) / dt;
        res->others_pct = fmax(0.0, 100.0 * other / dt);
    }
    res->median_ms = bu_median(ts, o->steps);
    res->min_ms = ts[0];
    res->max_ms = ts[o->steps - 1];
    res->gflops = flops / (res->median_ms * 1e-3) / 1e9;
    if (mem) { /* one more, untimed step from a freshly trimmed heap */
        release_free_memory();
        hwm_reset();
        long rss1 = bu_status_kb("VmRSS");
        if (ops->step(ctx, err, sizeof err)) goto fail;
        res->step_mb = mb_above(bu_status_kb("VmHWM"), rss1);
    }
    res->state = RES_OK;
    free(ts);
    ops->teardown(ctx);
    return;
fail:
    res->state = RES_NA;
    snprintf(res->note, sizeof res->note, "%s", err[0] ? err : "failed");
    free(ts);
    ops->teardown(ctx);
}

/* ---- seqgrad (composed / onednn backends) ---- */
typedef struct {
    const workload *w;
    sg_backend backend;
    uint64_t seed;
    sg_model *m;
    sg_rnn *r;
    sg_tensor *x, *R;
    int calls;
    size_t tape;     /* tape entries after the first step's forward + loss */
    size_t ref_tape; /* the composed backend's count (0: unknown) */
    double loss, dx_sq;
    bool have_loss, have_dx;
} sg_ctx;

static int sg_fail(char *err, size_t n, const char *what) {
    snprintf(err, n, "%s: %s", what, sg_last_error()[0] ? sg_last_error() : "failed");
    return -1;
}

/* model, x (T,B,D) ~ N(0,1) and R (T,B,dirs*H) ~ N(0,1); parameters uniform(-1/sqrt(H), 1/sqrt(H)) */
static int sg_ctx_build(sg_ctx *c, char *err, size_t n) {
    const workload *w = c->w;
    sg_clear_error();
    c->m = sg_model_new(SG_F32);
    sg_rnn_config cfg = {.cell = w->cell, .input_size = w->D, .hidden_size = w->H, .num_layers = w->layers,
                         .bidirectional = w->dirs == 2};
    c->r = c->m ? sg_rnn_new(c->m, NULL, &cfg) : NULL;
    if (!c->r || sg_model_finalize(c->m, c->seed)) return sg_fail(err, n, "model");
    sg_rng rng = sg_rng_new(c->seed + 1);
    c->x = sg_normal(&rng, SG_F32, 3, (int64_t[]){w->T, w->B, w->D}, 0, 1);
    c->R = sg_normal(&rng, SG_F32, 3, (int64_t[]){w->T, w->B, w->dirs * w->H}, 0, 1);
    if (!c->x || !c->R) return sg_fail(err, n, "inputs");
    if (w->train) sg_set_requires_grad(c->x, true);
    else sg_model_train(c->m, false);
    return 0;
}

static int sg_setup(void *ctx, char *err, size_t n) {
    sg_ctx *c = ctx;
    if (sg_ctx_build(c, err, n)) return -1;
    if (sg_rnn_set_backend(c->r, c->backend)) return sg_fail(err, n, "sg_rnn_set_backend");
    return 0;
}

/* training: zero grads, forward, backward from the output with cotangent R (the gradient of
 * loss = sum(output * R), exactly what the raw primitive gets as diff_dst), free the tape.
 * inference: forward under no-grad, free the tape. The first call also computes the loss value
 * (for the cross-check), outside the timed work of later steps. */
static int sg_step(void *ctx, char *err, size_t n) {
    sg_ctx *c = ctx;
    bool first = c->calls++ == 0, train = c->w->train;
    sg_clear_error();
    if (train && (sg_model_zero_grad(c->m) || sg_zero_grad(&c->x, 1))) return sg_fail(err, n, "zero_grad");
    bool prev = sg_set_grad_enabled(train);
    sg_rnn_out o;
    int rc = sg_rnn_forward(c->r, c->x, NULL, NULL, NULL, &o);
    const char *what = "sg_rnn_forward";
    if (!rc && first) {
        bool g = sg_set_grad_enabled(false);
        sg_tensor *loss = sg_sum_all(sg_mul(o.output, c->R));
        sg_set_grad_enabled(g);
        what = "loss";
        rc = loss ? 0 : sg_last_status();
        if (!rc) {
            c->loss = sg_item(loss);
            c->have_loss = true;
            c->tape = sg_tape_len();
        }
    }
    if (!rc && train) {
        what = "sg_backward_grad";
        rc = sg_backward_grad(o.output, c->R);
    }
    sg_set_grad_enabled(prev);
    if (rc) {
        sg_fail(err, n, what);
        sg_tape_clear();
        return -1;
    }
    sg_tape_clear();
    const float *g = first && train && sg_grad(c->x) ? sg_data_f32(sg_grad(c->x)) : NULL;
    if (g) {
        double s = 0;
        for (int64_t i = 0, ne = sg_numel(c->x); i < ne; i++) s += (double)g[i] * (double)g[i];
        c->dx_sq = s;
        c->have_dx = true;
    }
    /* A backend that is not implemented yet may silently run the composed graph: the fused op
     * records a handful of tape entries, the composed graph hundreds. */
    if (first && c->backend == SG_BACKEND_ONEDNN && c->ref_tape && c->tape >= c->ref_tape) {
        snprintf(err, n, "onednn backend not active: the forward recorded %zu tape entries, as many as composed",
                 c->tape);
        return -1;
    }
    return 0;
}

static void sg_teardown(void *ctx) {
    sg_ctx *c = ctx;
    sg_tape_clear();
    sg_tensor_free(c->x);
    sg_tensor_free(c->R);
    sg_model_free(c->m);
    c->x = c->R = NULL;
    c->m = NULL;
    c->r = NULL;
}

static const bench_ops SG_OPS = {NULL, sg_setup, sg_step, sg_teardown};

/* ---- raw oneDNN primitive ---- */
#if SEQGRAD_HAVE_DNNL
enum { RAW_PARAMS = 4 }; /* weight_ih, weight_hh, bias_ih, bias_hh */
static const char *const RAW_PARAM_NAME[RAW_PARAMS] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};

typedef struct {
    const workload *w;
    uint64_t seed;
    float *p[RAW_PARAMS][RAW_MAX_LAYERS * 2]; /* PyTorch-layout copies of seqgrad's parameters */
    float *x, *R;
    raw_rnn *r;
    int calls;
    double loss, dx_sq;
    bool have_loss, have_dx;
} raw_ctx;

static float *copy_out(sg_tensor *t) {
    float *b = t ? malloc((size_t)sg_numel(t) * sizeof *b) : NULL;
    if (b && sg_to_buffer(t, b, SG_F32)) {
        free(b);
        b = NULL;
    }
    return b;
}

/* The same parameters, x and R as the seqgrad runs (same seed), copied out of a seqgrad model. */
static int raw_prepare(void *ctx, char *err, size_t n) {
    raw_ctx *c = ctx;
    if (c->w->layers * c->w->dirs > RAW_MAX_LAYERS * 2) {
        snprintf(err, n, "too many layers");
        return -1;
    }
    sg_ctx s = {.w = c->w, .seed = c->seed};
    int rc = sg_ctx_build(&s, err, n);
    for (int l = 0; l < c->w->layers && !rc; l++)
        for (int d = 0; d < c->w->dirs && !rc; d++)
            for (int i = 0; i < RAW_PARAMS && !rc; i++)
                if (!(c->p[i][l * c->w->dirs + d] = copy_out(sg_rnn_param(s.r, RAW_PARAM_NAME[i], l, d))))
                    rc = sg_fail(err, n, RAW_PARAM_NAME[i]);
    if (!rc && (!(c->x = copy_out(s.x)) || !(c->R = copy_out(s.R)))) rc = sg_fail(err, n, "inputs");
    sg_teardown(&s);
    return rc;
}

static void raw_free_params(raw_ctx *c) {
    for (int i = 0; i < RAW_PARAMS; i++)
        for (int k = 0; k < RAW_MAX_LAYERS * 2; k++) {
            free(c->p[i][k]);
            c->p[i][k] = NULL;
        }
    free(c->x);
    free(c->R);
    c->x = c->R = NULL;
}

static int raw_setup(void *ctx, char *err, size_t n) {
    raw_ctx *c = ctx;
    const workload *w = c->w;
    raw_rnn_config cfg = {.gru = w->cell == SG_CELL_GRU, .D = w->D, .H = w->H, .T = w->T, .B = w->B,
                          .layers = w->layers, .dirs = w->dirs, .train = w->train,
                          .w_ih = (const float *const *)c->p[0], .w_hh = (const float *const *)c->p[1],
                          .b_ih = (const float *const *)c->p[2], .b_hh = (const float *const *)c->p[3],
                          .x = c->x, .R = c->R};
    c->r = raw_rnn_create(&cfg, err, n);
    raw_free_params(c);
    return c->r ? 0 : -1;
}

static int raw_step(void *ctx, char *err, size_t n) {
    raw_ctx *c = ctx;
    if (raw_rnn_step(c->r, err, n)) return -1;
    if (c->calls++ == 0) {
        c->loss = raw_rnn_loss(c->r);
        c->have_loss = true;
        c->dx_sq = raw_rnn_dx_sq(c->r);
        c->have_dx = c->w->train;
    }
    return 0;
}

static void raw_teardown(void *ctx) {
    raw_ctx *c = ctx;
    raw_rnn_free(c->r);
    c->r = NULL;
    raw_free_params(c);
}

static const bench_ops RAW_OPS = {raw_prepare, raw_setup, raw_step, raw_teardown};
#endif

/* ---- sgemm ceiling (OpenBLAS) ---- */
/* C (M,N) = A (M,K) @ B, B (K,N) or, with wt, the transpose of a row-major (N,K) weight. GFLOP/s
 * of the median sample, each sample a calibrated repeat count lasting about target_s. */
static double time_sgemm(int64_t M, int64_t K, int64_t N, bool wt, double target_s, int samples) {
    float *a = malloc((size_t)(M * K) * sizeof *a), *b = malloc((size_t)(K * N) * sizeof *b);
    float *c = malloc((size_t)(M * N) * sizeof *c);
    double *ts = malloc((size_t)samples * sizeof *ts), g = NAN;
    if (!a || !b || !c || !ts) goto done;
    uint32_t s = 12345u; /* small deterministic values: no denormals, no overflow */
    for (int64_t i = 0; i < M * K; i++) a[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / (float)(1u << 24) - 0.5f;
    for (int64_t i = 0; i < K * N; i++) b[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / (float)(1u << 24) - 0.5f;
#define SGEMM_CALL()                                                                                        \
    cblas_sgemm(CblasRowMajor, CblasNoTrans, wt ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, a, \
                (int)K, b, wt ? (int)K : (int)N, 0.0f, c, (int)N)
    for (int i = 0; i < GEMM_WARMUP_CALLS; i++) SGEMM_CALL();
    int reps = 1;
    for (;;) {
        double t0 = bu_now_s();
        for (int i = 0; i < reps; i++) SGEMM_CALL();
        if (bu_now_s() - t0 >= target_s || reps >= GEMM_MAX_REPS) break;
        reps *= 2;
    }
    for (int k = 0; k < samples; k++) {
        double t0 = bu_now_s();
        for (int i = 0; i < reps; i++) SGEMM_CALL();
        ts[k] = (bu_now_s() - t0) / reps;
    }
#undef SGEMM_CALL
    g = 2.0 * (double)M * (double)K * (double)N / bu_median(ts, samples) / 1e9;
done:
    free(a);
    free(b);
    free(c);
    free(ts);
    return g;
}

/* square 1024, then each workload's input projection (T*B x Din)@(Din x G*H) and recurrent
 * product (B x H)@(H x G*H), both as x @ W^T like the layers. Returns the square-1024 GFLOP/s. */
static double run_sgemm(const opts *o, int threads, gemm_row *g, int *ng) {
    double target = o->smoke ? GEMM_TARGET_SMOKE_S : GEMM_TARGET_S;
    int samples = o->steps;
    *ng = 0;
    g[(*ng)++] = (gemm_row){threads, "square_1024", SQUARE_GEMM, SQUARE_GEMM, SQUARE_GEMM, false, 0};
    for (int i = 0; i < o->nwl; i++) {
        const workload *w = &o->wl[i];
        int64_t GH = gates(w) * w->H;
        gemm_row *r = &g[(*ng)++];
        *r = (gemm_row){threads, "", w->T * w->B, w->D, GH, true, 0};
        snprintf(r->name, sizeof r->name, "%s input proj (T*B x D)@(D x %dH)", w->id, gates(w));
        r = &g[(*ng)++];
        *r = (gemm_row){threads, "", w->B, w->H, GH, true, 0};
        snprintf(r->name, sizeof r->name, "%s recurrent (B x H)@(H x %dH)", w->id, gates(w));
    }
    printf("sgemm ceiling (%s; core %s; cblas_sgemm, %d thread%s; median of %d samples):\n",
           openblas_get_config(), openblas_get_corename(), threads, threads > 1 ? "s" : "", samples);
    for (int i = 0; i < *ng; i++) {
        g[i].gflops = time_sgemm(g[i].M, g[i].K, g[i].N, g[i].wt, target, samples);
        printf("  %-40s %5lld x %5lld x %5lld %s  %8.2f GFLOP/s\n", g[i].name, (long long)g[i].M, (long long)g[i].K,
               (long long)g[i].N, g[i].wt ? "x@W^T" : "A@B  ", g[i].gflops);
        fflush(stdout);
    }
    return g[0].gflops;
}

/* One-time initialisation of the libraries at this thread count (OpenBLAS buffers, the OpenMP
 * team, oneDNN's ISA detection and first JIT kernels), so that it is not charged to the first
 * workload measured. */
static void prime_libraries(void) {
    enum { PRIME_GEMM = 256, PRIME_N = 8 }; /* raw: T = B = 2, D = H = PRIME_N */
    (void)time_sgemm(PRIME_GEMM, PRIME_GEMM, PRIME_GEMM, false, 0, 1);
#if SEQGRAD_HAVE_DNNL
    static const float zeros[RAW_LSTM_GATES * PRIME_N * PRIME_N];
    const float *z[1] = {zeros};
    raw_rnn_config cfg = {.D = PRIME_N, .H = PRIME_N, .T = 2, .B = 2, .layers = 1, .dirs = 1, .train = true,
                          .w_ih = z, .w_hh = z, .b_ih = z, .b_hh = z, .x = zeros, .R = zeros};
    char err[NOTE_LEN];
    raw_rnn *r = raw_rnn_create(&cfg, err, sizeof err);
    if (r) raw_rnn_step(r, err, sizeof err);
    raw_rnn_free(r);
#endif
}

/* ---- PyTorch via torch_ref.py ---- */
static bool torch_ready(const opts *o, char *why, size_t n) {
    if (access(o->torch_ref, R_OK)) {
        snprintf(why, n, "torch_ref.py not found at %s (use --torch-ref PATH)", o->torch_ref);
        return false;
    }
    if (strchr(o->torch_ref, '\'') || strchr(o->python, '\'')) {
        snprintf(why, n, "paths with a single quote are not supported");
        return false;
    }
    char cmd[LINE_LEN];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import torch' >/dev/null 2>&1", o->python);
    if (system(cmd) != 0) {
        snprintf(why, n, "python3-torch not installed");
        return false;
    }
    return true;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, k;
    char chunk[4096];
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + k + 1 > cap) {
            cap = 2 * (len + k + 1);
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        memcpy(buf + len, chunk, k);
        len += k;
    }
    fclose(f);
    if (buf) buf[len] = 0;
    return buf;
}

/* The number after "key": in s (before end, if given); NAN if absent or not a number (null). */
static double json_number(const char *s, const char *end, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(s, pat);
    if (!p || (end && p >= end)) return NAN;
    p += strlen(pat);
    char *e;
    double v = strtod(p, &e);
    return e == p ? NAN : v;
}

/* The string after "key": "..." in s, copied into out. */
static bool json_string(const char *s, const char *key, char *out, size_t n) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    const char *p = strstr(s, pat);
    if (!p) return false;
    p += strlen(pat);
    size_t i = 0;
    while (p[i] && p[i] != '"' && i + 1 < n) {
        out[i] = p[i];
        i++;
    }
    out[i] = 0;
    return true;
}

static char g_torch_version[64];

/* One torch_ref.py process per workload and thread count: its ru_maxrss is then this workload's. */
static void run_torch(const opts *o, const workload *w, int threads, result *res) {
    memset(res, 0, sizeof *res);
    res->step_mb = res->total_mb = res->steal_pct = res->others_pct = NAN;
    res->state = RES_NA;
    char tmp[] = "/tmp/bench_rnn_torch_XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(res->note, sizeof res->note, "mkstemp: %s", strerror(errno));
        return;
    }
    close(fd);
    char cmd[2 * LINE_LEN];
    snprintf(cmd, sizeof cmd, "'%s' '%s' --threads %d --workloads %s --mkldnn on --warmup %d --steps %d --json '%s' 2>&1",
             o->python, o->torch_ref, threads, w->id, o->warmup, o->steps, tmp);
    fflush(stdout);
    FILE *p = popen(cmd, "r");
    if (!p) {
        snprintf(res->note, sizeof res->note, "popen failed: %s", strerror(errno));
        unlink(tmp);
        return;
    }
    char line[LINE_LEN];
    while (fgets(line, sizeof line, p)) printf("    torch_ref.py| %s", line);
    int st = pclose(p);
    char *js = read_file(tmp);
    unlink(tmp);
    const char *entry = js ? strstr(js, "\"workload\": \"") : NULL;
    if (st != 0 || !entry) {
        snprintf(res->note, sizeof res->note, "torch_ref.py failed (exit status %d)", st);
        free(js);
        return;
    }
    if (!g_torch_version[0]) json_string(js, "torch", g_torch_version, sizeof g_torch_version);
    res->median_ms = json_number(entry, NULL, "median_ms");
    res->min_ms = json_number(entry, NULL, "min_ms");
    res->max_ms = json_number(entry, NULL, "max_ms");
    res->gflops = json_number(entry, NULL, "gflops_per_s");
    res->steal_pct = json_number(entry, NULL, "steal_pct");
    res->total_mb = json_number(entry, NULL, "maxrss_mb_delta_vs_import");
    free(js);
    if (isnan(res->median_ms)) {
        snprintf(res->note, sizeof res->note, "median_ms missing in torch_ref.py's JSON");
        return;
    }
    res->state = RES_OK;
}

/* ---- printing ---- */
static void print_result(const char *name, const result *r, double ceiling) {
    if (r->state == RES_NOT_RUN) return;
    if (r->state == RES_NA) {
        printf("  %-9s n/a (%s)\n", name, r->note);
        return;
    }
    printf("  %-9s %10.3f ms/step (min %.3f, max %.3f)  %7.2f GFLOP/s", name, r->median_ms, r->min_ms, r->max_ms,
           r->gflops);
    if (ceiling > 0) printf("  %.2f of sgemm ceiling", r->gflops / ceiling);
    if (!isnan(r->step_mb)) printf("  step peak %.1f MB", r->step_mb);
    if (!isnan(r->total_mb)) printf("  %s %.1f MB", name[0] == 't' ? "maxrss-import" : "total", r->total_mb);
    if (!isnan(r->steal_pct)) printf("  steal %.1f%%", r->steal_pct);
    if (!isnan(r->others_pct)) printf("  others %.0f%%", r->others_pct);
    if (r->have_loss) printf("  loss %.6e", r->loss);
    if (r->have_dx) printf("  sum(dx^2) %.6e", r->dx_sq);
    printf("\n");
}

static double ratio(const result *a, const result *b) {
    return a->state == RES_OK && b->state == RES_OK && b->median_ms > 0 ? a->median_ms / b->median_ms : NAN;
}

static double composed_target(const workload *w) {
    return w->train ? TARGET_COMPOSED_OVER_ONEDNN : TARGET_COMPOSED_OVER_ONEDNN_INFER;
}


/* The ratios reported per workload, with their targets (0: none). */
enum { NRATIOS = 5 };
static const char *const RATIO_NAME[NRATIOS] = {"onednn/raw", "composed/onednn", "composed/raw", "composed/torch",
                                                "onednn/torch"};
static void ratios_of(const row *rw, double *v, double *target) {
    const result *r = rw->r;
    v[0] = ratio(&r[BK_ONEDNN], &r[BK_RAW]);
    v[1] = ratio(&r[BK_COMPOSED], &r[BK_ONEDNN]);
    v[2] = ratio(&r[BK_COMPOSED], &r[BK_RAW]);
    v[3] = ratio(&r[BK_COMPOSED], &r[BK_TORCH]);
    v[4] = ratio(&r[BK_ONEDNN], &r[BK_TORCH]);
    double t[NRATIOS] = {TARGET_ONEDNN_OVER_RAW, composed_target(&rw->w), 0, 0, 0};
    memcpy(target, t, sizeof t);
}

/* Prints the ratios and the loss cross-check; returns the number of cross-check failures. */
static int print_ratios(const row *rw) {
    const result *r = rw->r;
    double v[NRATIOS], tg[NRATIOS];
    ratios_of(rw, v, tg);
    bool any = false;
    for (int k = 0; k < NRATIOS; k++) {
        if (isnan(v[k])) continue;
        printf("%s %s %.2f", any ? " " : "  ratios:", RATIO_NAME[k], v[k]);
        if (tg[k] > 0) printf(" (target <= %.2f%s)", tg[k], v[k] <= tg[k] ? "" : ", OVER");
        any = true;
    }
    if (any) printf("\n");
    /* the implementations compute the same loss and input gradient from the same parameters */
    const result *ref = &r[BK_COMPOSED];
    int bad = 0;
    for (int b = BK_ONEDNN; b <= BK_RAW; b++) {
        for (int k = 0; k < 2; k++) {
            bool have = k ? r[b].have_dx && ref->have_dx : r[b].have_loss && ref->have_loss;
            double x = k ? r[b].dx_sq : r[b].loss, y = k ? ref->dx_sq : ref->loss;
            double d = fabs(x - y) / fmax(fabs(y), 1e-30);
            if (!have || d <= CHECK_RTOL) continue;
            printf("  ERROR: %s %s %.6e differs from composed %.6e (rel %.1e > %.0e)\n", BK_NAME[b],
                   k ? "sum(dx^2)" : "loss", x, y, d, CHECK_RTOL);
            bad++;
        }
    }
    return bad;
}

static void cell_ms(const result *r) {
    if (r->state == RES_OK) printf(" %10.2f", r->median_ms);
    else printf(" %10s", r->state == RES_NA ? "n/a" : "-");
}

static void cell_num(double v, const char *fmt, int width) {
    if (isnan(v)) printf(" %*s", width, "-");
    else printf(fmt, width, v);
}

static void print_summary(const row *rows, int nrows) {
    printf("\n== Summary: ms/step (median) and ratios; '!' marks a ratio over its target ==\n");
    printf("%-4s %3s %10s %10s %10s %10s | %10s %10s %10s %10s %10s\n", "wl", "thr", "composed", "onednn", "raw",
           "torch", "onednn/raw", "comp/onedn", "comp/raw", "comp/torch", "onedn/torch");
    for (int i = 0; i < nrows; i++) {
        const row *rw = &rows[i];
        const result *r = rw->r;
        printf("%-4s %3d", rw->w.id, rw->threads);
        for (int b = 0; b < BK_COUNT; b++) cell_ms(&r[b]);
        printf(" |");
        double v[NRATIOS], tg[NRATIOS];
        ratios_of(rw, v, tg);
        for (int k = 0; k < NRATIOS; k++) {
            if (isnan(v[k])) printf(" %10s", "-");
            else printf(" %9.2f%c", v[k], tg[k] > 0 && v[k] > tg[k] ? '!' : ' ');
        }
        printf("\n");
    }
    printf("\n== Summary: GFLOP/s, fraction of the square-1024 sgemm ceiling, memory (MB) ==\n");
    printf("%-4s %3s %7s | %7s %7s %7s %7s | %5s %5s %5s | %7s %7s %7s | %7s %7s %7s %7s\n", "wl", "thr", "ceiling",
           "comp", "onednn", "raw", "torch", "comp", "onedn", "raw", "pk comp", "pk onen", "pk raw", "tot cmp",
           "tot one", "tot raw", "torch");
    for (int i = 0; i < nrows; i++) {
        const row *rw = &rows[i];
        const result *r = rw->r;
        printf("%-4s %3d", rw->w.id, rw->threads);
        cell_num(rw->ceiling > 0 ? rw->ceiling : NAN, " %*.1f", 7);
        printf(" |");
        for (int b = 0; b < BK_COUNT; b++) cell_num(r[b].state == RES_OK ? r[b].gflops : NAN, " %*.1f", 7);
        printf(" |");
        for (int b = 0; b <= BK_RAW; b++)
            cell_num(r[b].state == RES_OK && rw->ceiling > 0 ? r[b].gflops / rw->ceiling : NAN, " %*.2f", 5);
        printf(" |");
        for (int b = 0; b <= BK_RAW; b++) cell_num(r[b].state == RES_OK ? r[b].step_mb : NAN, " %*.1f", 7);
        printf(" |");
        for (int b = 0; b < BK_COUNT; b++) cell_num(r[b].state == RES_OK ? r[b].total_mb : NAN, " %*.1f", 7);
        printf("\n");
    }
    printf("pk = RSS high-water of one steady-state step above the RSS just before it; tot = high-water of\n"
           "setup + warm-up above the RSS before setup; torch = its ru_maxrss after the run minus after import.\n");
    for (int i = 0; i < nrows; i++)
        for (int b = 0; b <= BK_RAW; b++)
            if (rows[i].r[b].state == RES_OK && rows[i].r[b].others_pct > NOISY_OTHERS_PCT)
                printf("WARNING: %s %d thr %s: other processes used %.0f%% of the CPUs while it was timed: unreliable\n",
                       rows[i].w.id, rows[i].threads, BK_NAME[b], rows[i].r[b].others_pct);
}

/* ---- JSON ---- */
static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, const char *key, double v, bool comma) {
    fprintf(f, "\"%s\": ", key);
    if (isnan(v) || isinf(v)) fprintf(f, "null");
    else fprintf(f, "%.9g", v);
    if (comma) fprintf(f, ", ");
}

static void json_result(FILE *f, const char *name, const result *r, double ceiling) {
    fprintf(f, "    \"%s\": {\"status\": ", name);
    json_str(f, r->state == RES_OK ? "ok" : r->state == RES_NA ? "n/a" : "not run");
    if (r->state == RES_NA) {
        fprintf(f, ", \"note\": ");
        json_str(f, r->note);
    }
    if (r->state == RES_OK) {
        fprintf(f, ", ");
        json_num(f, "median_ms", r->median_ms, true);
        json_num(f, "min_ms", r->min_ms, true);
        json_num(f, "max_ms", r->max_ms, true);
        json_num(f, "gflops_per_s", r->gflops, true);
        json_num(f, "fraction_of_ceiling", ceiling > 0 ? r->gflops / ceiling : NAN, true);
        json_num(f, "step_peak_mb", r->step_mb, true);
        json_num(f, "total_mb", r->total_mb, true);
        json_num(f, "steal_pct", r->steal_pct, true);
        json_num(f, "others_busy_pct", r->others_pct, true);
        json_num(f, "loss", r->have_loss ? r->loss : NAN, true);
        json_num(f, "dx_sq", r->have_dx ? r->dx_sq : NAN, false);
    }
    fprintf(f, "}");
}

static int write_json(const opts *o, const row *rows, int nrows, const gemm_row *g, int ng) {
    FILE *f = fopen(o->json, "w");
    if (!f) {
        fprintf(stderr, "bench_rnn: cannot write %s: %s\n", o->json, strerror(errno));
        return -1;
    }
    fprintf(f, "{\n  \"meta\": {\"warmup\": %d, \"steps\": %d, \"smoke\": %s, \"threads\": [", o->warmup, o->steps,
            o->smoke ? "true" : "false");
    for (int i = 0; i < o->nthreads; i++) fprintf(f, "%s%d", i ? ", " : "", o->threads[i]);
    fprintf(f, "], \"torch\": ");
    if (g_torch_version[0]) json_str(f, g_torch_version);
    else fprintf(f, "null");
    fprintf(f, ", \"cpus\": %ld, \"openblas\": ", sysconf(_SC_NPROCESSORS_ONLN));
    json_str(f, openblas_get_config());
    fprintf(f, ", \"openblas_core\": ");
    json_str(f, openblas_get_corename());
    fprintf(f, "},\n  \"sgemm\": [");
    for (int i = 0; i < ng; i++) {
        fprintf(f, "%s\n    {\"threads\": %d, \"name\": ", i ? "," : "", g[i].threads);
        json_str(f, g[i].name);
        fprintf(f, ", \"M\": %lld, \"K\": %lld, \"N\": %lld, \"layout\": \"%s\", ", (long long)g[i].M,
                (long long)g[i].K, (long long)g[i].N, g[i].wt ? "x@W^T" : "A@B");
        json_num(f, "gflops_per_s", g[i].gflops, false);
        fprintf(f, "}");
    }
    fprintf(f, "\n  ],\n  \"results\": [");
    for (int i = 0; i < nrows; i++) {
        const row *rw = &rows[i];
        const workload *w = &rw->w;
        fprintf(f, "%s\n   {\"workload\": \"%s\", \"threads\": %d, \"cell\": \"%s\", \"D\": %lld, \"H\": %lld, "
                   "\"T\": %lld, \"B\": %lld, \"layers\": %d, \"dirs\": %d, \"train\": %s, \"full_size\": %s, ",
                i ? "," : "", w->id, rw->threads, w->cell == SG_CELL_LSTM ? "LSTM" : "GRU", (long long)w->D,
                (long long)w->H, (long long)w->T, (long long)w->B, w->layers, w->dirs, w->train ? "true" : "false",
                w->full ? "true" : "false");
        json_num(f, "flops_step", rw->flops, true);
        json_num(f, "sgemm_ceiling_gflops", rw->ceiling > 0 ? rw->ceiling : NAN, false);
        fprintf(f, ",\n");
        for (int b = 0; b < BK_COUNT; b++) {
            json_result(f, BK_NAME[b], &rw->r[b], rw->ceiling);
            fprintf(f, ",\n");
        }
        static const char *const key[NRATIOS] = {"onednn_over_raw", "composed_over_onednn", "composed_over_raw",
                                                 "composed_over_torch", "onednn_over_torch"};
        double v[NRATIOS], tg[NRATIOS];
        ratios_of(rw, v, tg);
        fprintf(f, "    \"ratios\": {");
        for (int k = 0; k < NRATIOS; k++) json_num(f, key[k], v[k], k + 1 < NRATIOS);
        fprintf(f, "}, \"ratio_targets\": {");
        json_num(f, "onednn_over_raw", tg[0], true);
        json_num(f, "composed_over_onednn", tg[1], false);
        fprintf(f, "}}");
    }
    fprintf(f, "\n  ]\n}\n");
    return fclose(f) ? -1 : 0;
}

/* ---- command line ---- */
static void usage(FILE *f) {
    fprintf(f,
            "usage: bench_rnn [options]\n"
            "  --threads LIST      thread counts, e.g. 1,2 (default 1,2)\n"
            "  --workloads LIST    W1..W5 or all (default all)\n"
            "  --steps N           timed steps per measurement, median reported (default %d)\n"
            "  --warmup N          untimed warm-up steps (default %d)\n"
            "  --backends LIST     of composed,onednn,raw,torch,sgemm (default all)\n"
            "  --json FILE         also write every number as JSON\n"
            "  --torch-ref PATH    torch_ref.py (default %s)\n"
            "  --python PATH       interpreter with torch (default %s)\n"
            "  --seed N            parameter/input seed (default 1)\n"
            "  --smoke             1 warm-up + 1 step, T<=%d and B<=%d (W5 full size), quick check\n",
            DEFAULT_STEPS, DEFAULT_WARMUP, DEFAULT_TORCH_REF, DEFAULT_PYTHON, SMOKE_T, SMOKE_B);
}

static int parse_int(const char *s, int lo, int *out) {
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || *e || v < lo || v > (1 << 20)) return -1;
    *out = (int)v;
    return 0;
}

static int parse_threads(const char *s, opts *o) {
    char buf[LINE_LEN];
    snprintf(buf, sizeof buf, "%s", s);
    o->nthreads = 0;
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (o->nthreads >= MAX_THREADS_LIST || parse_int(tok, 1, &o->threads[o->nthreads++])) return -1;
    return o->nthreads ? 0 : -1;
}

static int parse_workloads(const char *s, opts *o) {
    o->nwl = 0;
    if (!strcmp(s, "all")) {
        for (int i = 0; i < MAX_WORKLOADS; i++) o->wl[o->nwl++] = WORKLOADS[i];
        return 0;
    }
    char buf[LINE_LEN];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int k = -1;
        for (int i = 0; i < MAX_WORKLOADS; i++)
            if (!strcasecmp(tok, WORKLOADS[i].id)) k = i;
        if (k < 0 || o->nwl >= MAX_WORKLOADS) return -1;
        o->wl[o->nwl++] = WORKLOADS[k];
    }
    return o->nwl ? 0 : -1;
}

static int parse_backends(const char *s, opts *o) {
    memset(o->run, 0, sizeof o->run);
    o->run_sgemm = false;
    char buf[LINE_LEN];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        bool found = !strcmp(tok, "sgemm");
        if (found) o->run_sgemm = true;
        for (int b = 0; b < BK_COUNT; b++)
            if (!strcmp(tok, BK_NAME[b])) o->run[b] = found = true;
        if (!found) return -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, opts *o) {
    enum { O_THREADS = 256, O_WORKLOADS, O_STEPS, O_WARMUP, O_BACKENDS, O_JSON, O_TORCH_REF, O_PYTHON, O_SEED, O_SMOKE };
    static const struct option lo[] = {
        {"threads", required_argument, 0, O_THREADS}, {"workloads", required_argument, 0, O_WORKLOADS},
        {"steps", required_argument, 0, O_STEPS},     {"warmup", required_argument, 0, O_WARMUP},
        {"backends", required_argument, 0, O_BACKENDS}, {"json", required_argument, 0, O_JSON},
        {"torch-ref", required_argument, 0, O_TORCH_REF}, {"python", required_argument, 0, O_PYTHON},
        {"seed", required_argument, 0, O_SEED},       {"smoke", no_argument, 0, O_SMOKE},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};
    *o = (opts){.steps = DEFAULT_STEPS, .warmup = DEFAULT_WARMUP, .torch_ref = DEFAULT_TORCH_REF,
                .python = DEFAULT_PYTHON, .seed = 1, .run_sgemm = true};
    for (int b = 0; b < BK_COUNT; b++) o->run[b] = true;
    parse_threads("1,2", o);
    parse_workloads("all", o);
    bool steps_set = false, warmup_set = false;
    int c, seed;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case O_THREADS: bad = parse_threads(optarg, o); break;
        case O_WORKLOADS: bad = parse_workloads(optarg, o); break;
        case O_STEPS: bad = parse_int(optarg, 1, &o->steps), steps_set = true; break;
        case O_WARMUP: bad = parse_int(optarg, 0, &o->warmup), warmup_set = true; break;
        case O_BACKENDS: bad = parse_backends(optarg, o); break;
        case O_JSON: o->json = optarg; break;
        case O_TORCH_REF: o->torch_ref = optarg; break;
        case O_PYTHON: o->python = optarg; break;
        case O_SEED: bad = parse_int(optarg, 0, &seed), o->seed = (uint64_t)seed; break;
        case O_SMOKE: o->smoke = true; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
        if (bad) {
            fprintf(stderr, "bench_rnn: bad value '%s' for --%s\n", optarg, lo[c - O_THREADS].name);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bench_rnn: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (o->smoke) {
        if (!steps_set) o->steps = 1;
        if (!warmup_set) o->warmup = 1;
        for (int i = 0; i < o->nwl; i++) {
            workload *w = &o->wl[i];
            if (!w->train) continue; /* W5 is cheap at full size, and stays comparable to PyTorch */
            w->T = w->T < SMOKE_T ? w->T : SMOKE_T;
            w->B = w->B < SMOKE_B ? w->B : SMOKE_B;
            w->full = false;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    opts o;
    if (parse_args(argc, argv, &o)) return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int nrows = o.nthreads * o.nwl;
    row *rows = calloc((size_t)nrows, sizeof *rows);
    gemm_row *gemms = calloc((size_t)(o.nthreads * MAX_GEMMS), sizeof *gemms);
    if (!rows || !gemms) {
        fprintf(stderr, "bench_rnn: out of memory\n");
        return 1;
    }
    char why[NOTE_LEN] = "";
    bool torch = o.run[BK_TORCH] && torch_ready(&o, why, sizeof why);
    bool mem = hwm_reset();
    printf("bench_rnn: seqgrad RNN workloads (WORKLOADS.md), %d warm-up + median of %d steps%s, %ld CPUs\n",
           o.warmup, o.steps, o.smoke ? ", SMOKE (shapes shrunk: not comparable)" : "", sysconf(_SC_NPROCESSORS_ONLN));
    bu_print_build();
    if (!mem) printf("memory: /proc/self/clear_refs not writable: peak memory not measured\n");
    if (o.run[BK_TORCH] && !torch) printf("PyTorch: skipped (%s)\n", why);
#if !SEQGRAD_HAVE_DNNL
    if (o.run[BK_RAW]) printf("raw oneDNN: skipped (seqgrad built without oneDNN)\n");
#endif
    int ngemm = 0, failures = 0;
    for (int ti = 0; ti < o.nthreads; ti++) {
        int thr = o.threads[ti];
        if (sg_set_num_threads(thr)) {
            fprintf(stderr, "bench_rnn: %s\n", sg_last_error());
            return 1;
        }
        printf("\n==== %d thread%s ====\n", thr, thr > 1 ? "s" : "");
        prime_libraries();
        /* The OpenBLAS sgemm ceilings are measured after ALL workloads (below): running OpenBLAS's
         * thread team first slowed every measurement that followed it (composed W1 at 2 threads 3.4 ->
         * 5.0 ms). The per-workload lines therefore omit the fraction; the summary has it. */
        double ceiling = 0;
        for (int wi = 0; wi < o.nwl; wi++) {
            row *rw = &rows[ti * o.nwl + wi];
            const workload *w = &o.wl[wi];
            rw->w = *w;
            rw->threads = thr;
            rw->flops = step_flops(w);
            rw->ceiling = ceiling;
            printf("\n%s %s D=%lld H=%lld T=%lld B=%lld layers=%d dirs=%d, %s, %.3f GFLOP/step%s\n", w->id,
                   w->cell == SG_CELL_LSTM ? "LSTM" : "GRU", (long long)w->D, (long long)w->H, (long long)w->T,
                   (long long)w->B, w->layers, w->dirs, w->train ? "training step" : "forward only, no grad",
                   rw->flops / 1e9, w->full ? "" : " (smoke shape)");
            size_t composed_tape = 0;
            for (int b = BK_COMPOSED; b <= BK_ONEDNN; b++) {
                if (!o.run[b]) continue;
                sg_ctx c = {.w = w, .backend = b == BK_COMPOSED ? SG_BACKEND_COMPOSED : SG_BACKEND_ONEDNN,
                            .seed = o.seed, .ref_tape = composed_tape};
                run_bench(&SG_OPS, &c, &o, rw->flops, &rw->r[b]);
                rw->r[b].loss = c.loss;
                rw->r[b].have_loss = c.have_loss && rw->r[b].state == RES_OK;
                rw->r[b].dx_sq = c.dx_sq;
                rw->r[b].have_dx = c.have_dx && rw->r[b].state == RES_OK;
                if (b == BK_COMPOSED && rw->r[b].state == RES_OK) composed_tape = c.tape;
                print_result(BK_NAME[b], &rw->r[b], ceiling);
            }
#if SEQGRAD_HAVE_DNNL
            if (o.run[BK_RAW]) {
                raw_ctx c = {.w = w, .seed = o.seed};
                run_bench(&RAW_OPS, &c, &o, rw->flops, &rw->r[BK_RAW]);
                rw->r[BK_RAW].loss = c.loss;
                rw->r[BK_RAW].have_loss = c.have_loss && rw->r[BK_RAW].state == RES_OK;
                rw->r[BK_RAW].dx_sq = c.dx_sq;
                rw->r[BK_RAW].have_dx = c.have_dx && rw->r[BK_RAW].state == RES_OK;
                print_result("raw", &rw->r[BK_RAW], ceiling);
            }
#endif
            if (torch && w->full) {
                run_torch(&o, w, thr, &rw->r[BK_TORCH]);
                print_result("torch", &rw->r[BK_TORCH], ceiling);
            } else if (torch) {
                printf("  torch     skipped (smoke shape differs from torch_ref.py's)\n");
            }
            failures += print_ratios(rw);
            /* the onednn backend and PyTorch may legitimately be unavailable; these may not */
            failures += rw->r[BK_COMPOSED].state == RES_NA;
#if SEQGRAD_HAVE_DNNL
            failures += rw->r[BK_RAW].state == RES_NA;
#endif
        }
    }
    if (o.run_sgemm)
        for (int ti = 0; ti < o.nthreads; ti++) {
            int ng;
            sg_set_num_threads(o.threads[ti]);
            double ceiling = run_sgemm(&o, o.threads[ti], gemms + ngemm, &ng);
            ngemm += ng;
            for (int wi = 0; wi < o.nwl; wi++) rows[ti * o.nwl + wi].ceiling = ceiling;
        }
    print_summary(rows, nrows);
    int rc = 0;
    if (o.json) {
        rc = write_json(&o, rows, nrows, gemms, ngemm);
        if (!rc) printf("\nJSON written to %s\n", o.json);
    }
    if (failures) printf("\nbench_rnn: %d failure(s): composed or raw oneDNN did not run, or losses disagree\n", failures);
    free(rows);
    free(gemms);
    return rc || failures ? 1 : 0;
}
