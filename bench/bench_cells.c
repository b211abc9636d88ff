/* bench_cells: recurrent cells timed side by side with PyTorch in one run (see bench/README.md).
 * Modes:
 *   (default)  one training step (forward over T, backward of sum(out * R) from the cotangent R to
 *              every parameter and the input) of D=128, H=256, T=100, B=32, float32, for the
 *              built-in LSTM (composed, onednn), the shipped cells (nn/cells.h: lnlstm, mgu,
 *              clockwork), a bidirectional MGU, a user's cell (examples/ligru_cell.h: the Light
 *              GRU composed, and with its tail as one custom op), and PyTorch (tools/torch_cells.py:
 *              nn.LSTM, the LayerNorm-LSTM eager and TorchScript, MGU eager and TorchScript), at 1
 *              and 2 threads: medians of --repeats x --steps steps (implementations interleaved per
 *              repeat), ratios.
 *   --stream   the streaming inference step (nn/stream.h), LSTM D=128 H=256 batch 1, 1 thread, us/step,
 *              side by side with PyTorch eager under no_grad (bench/cells_stream.h).
 *   --tscale   cost of one training step of a 1-layer LSTM (D=64, H=128, B=16) as T grows: wall and
 *              CPU time per time step, page faults, and peak memory per (T x B x H) element.
 * Not a test suite: its only check is that every seqgrad implementation runs (exit status 1).
 * Usage: bench_cells [--threads 1,2] [--steps 15] [--repeats 4] [--warmup 3] [--json FILE] [--smoke]
 *                    [--no-torch] [--python PATH]
 *        bench_cells --stream [--json FILE] [--smoke] [--no-torch]
 *        bench_cells --tscale [--tlist 100,1000,10000,30000] [--steps 3] [--warmup 1] [--json FILE] */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../examples/ligru_cell.h"
#include "bench_util.h"
#include "seqgrad.h"

enum {
    MAX_LIST = 16,
    NOTE_LEN = 320,
    TS_D = 64, /* the T-scaling layer (issue 10) */
    TS_H = 128,
    TS_B = 16,
    TS_REF_T = 1000, /* per-step times are compared with this T */
    TS_DEFAULT_STEPS = 3,
    TS_DEFAULT_WARMUP = 1,
};
/* targets (issue 10): per-step time at T=30000 within 1.2x of T=1000, memory <= 67 B per TBH */
#define TS_TARGET_RATIO 1.2
#define TS_TARGET_BYTES 67.0
static const int64_t TS_DEFAULT_TLIST[] = {100, 1000, 10000, 30000};

typedef struct {
    bool tscale, stream, smoke, torch;
    int64_t tlist[MAX_LIST];
    int ntl;
    int threads[MAX_LIST], nthreads;
    int steps, warmup, repeats;
    const char *json, *python;
    uint64_t seed;
} opts;

#ifndef BENCH_SOURCE_DIR
#define BENCH_SOURCE_DIR "."
#endif
#define TORCH_SCRIPT BENCH_SOURCE_DIR "/tools/torch_cells.py"
#define DEFAULT_PYTHON "/usr/bin/python3"

/* ---- the cells workload ---- */
enum {
    CW_D = 128, CW_H = 256, CW_T = 100, CW_B = 32, /* issue 10's workload */
    SMOKE_T = 4, SMOKE_B = 2,
    CW_DEFAULT_STEPS = 15, CW_DEFAULT_REPEATS = 4, CW_DEFAULT_WARMUP = 3,
    MAX_SAMPLES = 4096,
};
/* targets (issue 10), both thread counts */
#define TARGET_LNLSTM 1.3
#define TARGET_LNLSTM_STRETCH 1.15
#define TARGET_MGU 0.8
#define TARGET_BI_SPEEDUP 1.5

/* The implementations: seqgrad ones run here, torch ones in tools/torch_cells.py. */
#define IMPLS(X)                                                                         \
    X(LSTM_COMPOSED, "lstm_composed", &sg_cell_lstm, SG_BACKEND_COMPOSED, false, true)   \
    X(LSTM_ONEDNN, "lstm_onednn", &sg_cell_lstm, SG_BACKEND_ONEDNN, false, true)         \
    X(LNLSTM, "lnlstm", &sg_cell_lnlstm, SG_BACKEND_COMPOSED, false, true)               \
    X(MGU, "mgu", &sg_cell_mgu, SG_BACKEND_COMPOSED, false, true)                        \
    X(CLOCKWORK, "clockwork", &sg_cell_clockwork, SG_BACKEND_COMPOSED, false, true)      \
    X(MGU_BI, "mgu_bi", &sg_cell_mgu, SG_BACKEND_COMPOSED, true, true)                   \
    X(LNLSTM_BI, "lnlstm_bi", &sg_cell_lnlstm, SG_BACKEND_COMPOSED, true, true)          \
    X(LIGRU, "ligru", &ligru_cell, SG_BACKEND_COMPOSED, false, true)                     \
    X(LIGRU_FUSED, "ligru_fused", &ligru_cell_fused, SG_BACKEND_COMPOSED, false, true)   \
    X(TORCH_LSTM, "torch_lstm", NULL, 0, false, false)                                   \
    X(TORCH_LNLSTM_EAGER, "torch_lnlstm_eager", NULL, 0, false, false)                   \
    X(TORCH_LNLSTM_SCRIPT, "torch_lnlstm_script", NULL, 0, false, false)                 \
    X(TORCH_MGU_EAGER, "torch_mgu_eager", NULL, 0, false, false)                         \
    X(TORCH_MGU_SCRIPT, "torch_mgu_script", NULL, 0, false, false)
#define AS_ENUM(id, name, def, backend, bi, ours) IM_##id,
enum { IMPLS(AS_ENUM) IM_COUNT };
typedef struct {
    const char *name;
    const sg_cell_def *def;
    sg_backend backend;
    bool bi, ours;
} impl_info;
#define AS_ROW(id, name, def, backend, bi, ours) {name, def, backend, bi, ours},
static const impl_info IMPL[IM_COUNT] = {IMPLS(AS_ROW)};

typedef struct {
    sg_model *m;
    sg_rnn *r;
    sg_tensor *x, *R;
} cell_ctx;

static void cell_free(cell_ctx *c) {
    sg_tape_clear();
    sg_tensor_free(c->x);
    sg_tensor_free(c->R);
    sg_model_free(c->m);
    memset(c, 0, sizeof *c);
}

static int cell_build(const opts *o, const impl_info *im, int64_t T, int64_t B, cell_ctx *c) {
    sg_clear_error();
    c->m = sg_model_new(SG_F32);
    sg_rnn_config cfg = {.def = im->def, .input_size = CW_D, .hidden_size = CW_H, .bidirectional = im->bi,
                         .backend = im->backend};
    c->r = c->m ? sg_rnn_new(c->m, NULL, &cfg) : NULL;
    if (!c->r || sg_model_finalize(c->m, o->seed)) return -1;
    sg_rng rng = sg_rng_new(o->seed + 1);
    c->x = sg_normal(&rng, SG_F32, 3, (int64_t[]){T, B, CW_D}, 0, 1);
    c->R = sg_normal(&rng, SG_F32, 3, (int64_t[]){T, B, (im->bi ? 2 : 1) * CW_H}, 0, 1);
    if (!c->x || !c->R) return -1;
    sg_set_requires_grad(c->x, true);
    return 0;
}

/* one training step; returns its wall time in ms, or a negative value on failure */
static double cell_step(cell_ctx *c) {
    double t0 = bu_now_s();
    sg_rnn_out out;
    int rc = sg_model_zero_grad(c->m);
    if (!rc) rc = sg_zero_grad(&c->x, 1);
    if (!rc) rc = sg_rnn_forward(c->r, c->x, NULL, NULL, NULL, &out);
    if (!rc) rc = sg_backward_grad(out.output, c->R);
    sg_tape_clear();
    return rc ? -1.0 : (bu_now_s() - t0) * 1e3;
}

typedef struct {
    double ms[MAX_LIST]; /* per thread-count index; NAN when not measured */
    char note[NOTE_LEN];
} impl_res;

/* torch_cells.py at one thread count: fills the torch rows' medians */
static void run_torch(const opts *o, int ti, int64_t T, int64_t B, impl_res *res) {
    char cmd[2 * BU_LINE], js[4 * BU_LINE];
    snprintf(cmd, sizeof cmd, "'%s' '%s' --threads %d --D %d --H %d --T %lld --B %lld --warmup %d --steps %d",
             o->python, TORCH_SCRIPT, o->threads[ti], CW_D, CW_H, (long long)T, (long long)B, o->warmup,
             o->steps * o->repeats);
    int st = bu_run_json(cmd, "torch_cells.py", js, sizeof js);
    for (int k = 0; k < IM_COUNT; k++) {
        if (IMPL[k].ours) continue;
        if (st != 0 || !bu_json_num(js, IMPL[k].name, &res[k].ms[ti]))
            snprintf(res[k].note, sizeof res[k].note, "torch_cells.py failed (status %d)", st);
    }
}

static double ratio_at(const impl_res *res, int a, int b, int ti) {
    double x = res[a].ms[ti], y = res[b].ms[ti];
    return isnan(x) || isnan(y) || y <= 0 ? NAN : x / y;
}

static void print_ratio(const char *what, double v, double target, bool below) {
    if (isnan(v)) {
        printf("  %-34s    -\n", what);
        return;
    }
    if (isinf(target)) { /* no target: information */
        printf("  %-34s %6.2f\n", what, v);
        return;
    }
    bool ok = below ? v <= target : v >= target;
    printf("  %-34s %6.2f  (target %s %.2f%s)\n", what, v, below ? "<=" : ">=", target, ok ? "" : ", MISSED");
}

static void load_avg(double *l) {
    FILE *f = fopen("/proc/loadavg", "r");
    l[0] = NAN;
    if (f) {
        if (fscanf(f, "%lf", l) != 1) l[0] = NAN;
        fclose(f);
    }
}

static int cells_main(const opts *o) {
    int64_t T = o->smoke ? SMOKE_T : CW_T, B = o->smoke ? SMOKE_B : CW_B;
    impl_res res[IM_COUNT];
    for (int k = 0; k < IM_COUNT; k++)
        for (int ti = 0; ti < MAX_LIST; ti++) res[k].ms[ti] = NAN;
    for (int k = 0; k < IM_COUNT; k++) res[k].note[0] = 0;
    double load0, load1;
    load_avg(&load0);
    printf("bench_cells: training step D=%d H=%d T=%lld B=%lld float32 (forward + backward of sum(out*R)), "
           "%d warm-up + median of %d x %d steps%s; load average %.2f\n",
           CW_D, CW_H, (long long)T, (long long)B, o->warmup, o->repeats, o->steps,
           o->smoke ? ", SMOKE (shapes shrunk)" : "", load0);
    bu_print_build();
    int fails = 0;
    for (int ti = 0; ti < o->nthreads; ti++) {
        sg_set_num_threads(o->threads[ti]);
        cell_ctx ctx[IM_COUNT] = {0};
        double *samples[IM_COUNT] = {0};
        int ns[IM_COUNT] = {0};
        bool alive[IM_COUNT] = {0};
        for (int k = 0; k < IM_COUNT; k++) {
            if (!IMPL[k].ours) continue;
            alive[k] = cell_build(o, &IMPL[k], T, B, &ctx[k]) == 0;
            for (int i = 0; i < o->warmup && alive[k]; i++) alive[k] = cell_step(&ctx[k]) >= 0;
            samples[k] = calloc((size_t)(o->repeats * o->steps), sizeof(double));
            if (!alive[k] || !samples[k]) {
                snprintf(res[k].note, sizeof res[k].note, "%s", sg_last_error()[0] ? sg_last_error() : "failed");
                alive[k] = false;
                fails += k != IM_LSTM_ONEDNN || sg_fused_available(); /* onednn may be absent */
            }
        }
        for (int rep = 0; rep < o->repeats; rep++) /* interleaved: drifting load hits all alike */
            for (int k = 0; k < IM_COUNT; k++)
                for (int i = 0; i < o->steps && alive[k]; i++) {
                    double ms = cell_step(&ctx[k]);
                    if (ms < 0) {
                        snprintf(res[k].note, sizeof res[k].note, "%s", sg_last_error());
                        alive[k] = false;
                        fails++;
                    } else {
                        samples[k][ns[k]++] = ms;
                    }
                }
        for (int k = 0; k < IM_COUNT; k++) {
            if (alive[k] && ns[k]) res[k].ms[ti] = bu_median(samples[k], ns[k]);
            free(samples[k]);
            if (IMPL[k].ours) cell_free(&ctx[k]);
        }
        sg_release_cached_memory();
        if (o->torch) run_torch(o, ti, T, B, res);
    }
    load_avg(&load1);
    printf("\n%-22s", "ms/step (median)");
    for (int ti = 0; ti < o->nthreads; ti++) printf(" %8d thr", o->threads[ti]);
    printf("\n");
    for (int k = 0; k < IM_COUNT; k++) {
        if (!IMPL[k].ours && !o->torch) continue;
        printf("%-22s", IMPL[k].name);
        for (int ti = 0; ti < o->nthreads; ti++) {
            if (isnan(res[k].ms[ti])) printf(" %12s", "n/a");
            else printf(" %12.2f", res[k].ms[ti]);
        }
        if (res[k].note[0]) printf("  (%s)", res[k].note);
        printf("\n");
    }
    printf("\nratios (same run):\n");
    for (int ti = 0; ti < o->nthreads; ti++) {
        char w[NOTE_LEN];
        int th = o->threads[ti];
        snprintf(w, sizeof w, "lnlstm / lstm_composed, %d thr", th);
        print_ratio(w, ratio_at(res, IM_LNLSTM, IM_LSTM_COMPOSED, ti), TARGET_LNLSTM, true);
        snprintf(w, sizeof w, "mgu / lstm_composed, %d thr", th);
        print_ratio(w, ratio_at(res, IM_MGU, IM_LSTM_COMPOSED, ti), TARGET_MGU, true);
        snprintf(w, sizeof w, "ligru_fused / ligru, %d thr", th); /* a user cell's own fused tail */
        print_ratio(w, ratio_at(res, IM_LIGRU_FUSED, IM_LIGRU, ti), INFINITY, true);
        snprintf(w, sizeof w, "lstm_composed / lstm_onednn, %d thr", th);
        print_ratio(w, ratio_at(res, IM_LSTM_COMPOSED, IM_LSTM_ONEDNN, ti), INFINITY, true);
        if (o->torch) {
            snprintf(w, sizeof w, "lnlstm / torch_lnlstm_script, %d thr", th);
            print_ratio(w, ratio_at(res, IM_LNLSTM, IM_TORCH_LNLSTM_SCRIPT, ti), INFINITY, true);
            snprintf(w, sizeof w, "mgu / torch_mgu_script, %d thr", th);
            print_ratio(w, ratio_at(res, IM_MGU, IM_TORCH_MGU_SCRIPT, ti), INFINITY, true);
            snprintf(w, sizeof w, "lstm_composed / torch_lstm, %d thr", th);
            print_ratio(w, ratio_at(res, IM_LSTM_COMPOSED, IM_TORCH_LSTM, ti), INFINITY, true);
        }
    }
    int t1 = -1, t2 = -1;
    for (int ti = 0; ti < o->nthreads; ti++) {
        if (o->threads[ti] == 1) t1 = ti;
        if (o->threads[ti] == 2) t2 = ti;
    }
    if (t1 >= 0 && t2 >= 0) {
        print_ratio("mgu_bi 1 thr / 2 thr", res[IM_MGU_BI].ms[t1] / res[IM_MGU_BI].ms[t2], TARGET_BI_SPEEDUP, false);
        print_ratio("lnlstm_bi 1 thr / 2 thr", res[IM_LNLSTM_BI].ms[t1] / res[IM_LNLSTM_BI].ms[t2], TARGET_BI_SPEEDUP,
                    false);
    }
    printf("load average %.2f before, %.2f after (2 CPUs: above ~0.5 the timings are unreliable)\n", load0, load1);
    if (o->json) {
        FILE *f = fopen(o->json, "w");
        if (!f) {
            fprintf(stderr, "bench_cells: cannot write %s: %s\n", o->json, strerror(errno));
            return 1;
        }
        fprintf(f, "{\"workload\": {\"D\": %d, \"H\": %d, \"T\": %lld, \"B\": %lld, \"smoke\": %s}, "
                   "\"load\": [%.2f, %.2f],\n \"ms\": {",
                CW_D, CW_H, (long long)T, (long long)B, o->smoke ? "true" : "false", load0, load1);
        for (int k = 0, first = 1; k < IM_COUNT; k++) {
            if (!IMPL[k].ours && !o->torch) continue;
            fprintf(f, "%s\n  \"%s\": {", first ? "" : ",", IMPL[k].name);
            first = 0;
            for (int ti = 0; ti < o->nthreads; ti++) {
                fprintf(f, "%s\"%d\": ", ti ? ", " : "", o->threads[ti]);
                if (isnan(res[k].ms[ti])) fprintf(f, "null");
                else fprintf(f, "%.4f", res[k].ms[ti]);
            }
            fprintf(f, "}");
        }
        fprintf(f, "\n}}\n");
        if (fclose(f)) return 1;
        printf("JSON written to %s\n", o->json);
    }
    return fails ? 1 : 0;
}

#include "cells_stream.h" /* --stream */

/* ---- T-scaling ---- */
typedef struct {
    int64_t T;
    double wall_us, cpu_us, sys_pct, faults; /* per time step, medians over the timed steps */
    double bytes_per_tbh;                      /* peak RSS of one step above its start / (T*B*H) */
    char note[NOTE_LEN];
    bool ok;
} ts_row;

typedef struct {
    sg_model *m;
    sg_rnn *r;
    sg_tensor *x, *R;
} ts_ctx;

static void ts_free(ts_ctx *c) {
    sg_tape_clear();
    sg_tensor_free(c->x);
    sg_tensor_free(c->R);
    sg_model_free(c->m);
    memset(c, 0, sizeof *c);
}

/* one training step: zero grads, forward, backward from the cotangent R, free the tape */
static int ts_step(ts_ctx *c) {
    sg_rnn_out o;
    int rc = sg_model_zero_grad(c->m);
    if (!rc) rc = sg_zero_grad(&c->x, 1);
    if (!rc) rc = sg_rnn_forward(c->r, c->x, NULL, NULL, NULL, &o);
    if (!rc) rc = sg_backward_grad(o.output, c->R);
    sg_tape_clear();
    return rc;
}

static void ts_run(const opts *o, int64_t T, ts_row *row) {
    memset(row, 0, sizeof *row);
    row->T = T;
    ts_ctx c = {0};
    sg_clear_error();
    c.m = sg_model_new(SG_F32);
    sg_rnn_config cfg = {.cell = SG_CELL_LSTM, .input_size = TS_D, .hidden_size = TS_H,
                         .backend = SG_BACKEND_COMPOSED};
    c.r = c.m ? sg_rnn_new(c.m, NULL, &cfg) : NULL;
    sg_rng rng = sg_rng_new(o->seed);
    if (c.r && !sg_model_finalize(c.m, o->seed)) {
        c.x = sg_uniform(&rng, SG_F32, 3, (int64_t[]){T, TS_B, TS_D}, -1, 1);
        c.R = sg_uniform(&rng, SG_F32, 3, (int64_t[]){T, TS_B, TS_H}, -1, 1);
    }
    double *wall = calloc((size_t)o->steps, sizeof *wall), *cpu = calloc((size_t)o->steps, sizeof *cpu);
    double *sys = calloc((size_t)o->steps, sizeof *sys), *flt = calloc((size_t)o->steps, sizeof *flt);
    int rc = c.x && c.R && wall && cpu && sys && flt ? 0 : -1;
    if (!rc) sg_set_requires_grad(c.x, true);
    for (int i = 0; i < o->warmup && !rc; i++) rc = ts_step(&c);
    /* memory: one step from an empty storage cache and a trimmed heap */
    if (!rc) {
        sg_release_cached_memory();
        bu_trim();
        bool mem = bu_hwm_reset() == 0;
        long rss0 = bu_status_kb("VmRSS");
        rc = ts_step(&c);
        long hwm = bu_status_kb("VmHWM");
        row->bytes_per_tbh = mem && rss0 > 0 && hwm > 0 ? (double)(hwm - rss0) * 1024.0 / (double)(T * TS_B * TS_H)
                                                        : NAN;
    }
    for (int i = 0; i < o->steps && !rc; i++) {
        bu_usage u0 = bu_usage_now();
        double t0 = bu_now_s();
        rc = ts_step(&c);
        double t1 = bu_now_s();
        bu_usage u1 = bu_usage_now();
        wall[i] = (t1 - t0) * 1e6 / (double)T;
        cpu[i] = (u1.cpu_s - u0.cpu_s) * 1e6 / (double)T;
        sys[i] = u1.cpu_s > u0.cpu_s ? 100.0 * (u1.sys_s - u0.sys_s) / (u1.cpu_s - u0.cpu_s) : 0;
        flt[i] = (double)(u1.minflt - u0.minflt) / (double)T;
    }
    if (rc) {
        snprintf(row->note, sizeof row->note, "%s", sg_last_error()[0] ? sg_last_error() : "out of memory");
    } else {
        row->wall_us = bu_median(wall, o->steps);
        row->cpu_us = bu_median(cpu, o->steps);
        row->sys_pct = bu_median(sys, o->steps);
        row->faults = bu_median(flt, o->steps);
        row->ok = true;
    }
    free(wall);
    free(cpu);
    free(sys);
    free(flt);
    ts_free(&c);
    sg_release_cached_memory(); /* the next T starts from an empty cache */
}

static const ts_row *ts_find(const ts_row *rows, int n, int64_t T) {
    for (int i = 0; i < n; i++)
        if (rows[i].T == T && rows[i].ok) return &rows[i];
    return NULL;
}

static int ts_main(const opts *o) {
    ts_row rows[MAX_LIST];
    sg_set_num_threads(1);
    printf("bench_cells --tscale: 1-layer LSTM D=%d H=%d B=%d, composed, 1 thread, training step (forward + "
           "backward from a cotangent R), %d warm-up + median of %d steps\n",
           TS_D, TS_H, TS_B, o->warmup, o->steps);
    printf("%8s %12s %12s %8s %12s %12s %10s\n", "T", "wall us/t", "cpu us/t", "sys %", "faults/t", "B/(T*B*H)",
           "vs T=1000");
    for (int i = 0; i < o->ntl; i++) {
        ts_run(o, o->tlist[i], &rows[i]);
        const ts_row *r = &rows[i], *ref = ts_find(rows, i + 1, TS_REF_T);
        if (!r->ok) {
            printf("%8lld n/a (%s)\n", (long long)r->T, r->note);
            continue;
        }
        printf("%8lld %12.2f %12.2f %8.1f %12.2f %12.1f", (long long)r->T, r->wall_us, r->cpu_us, r->sys_pct,
               r->faults, r->bytes_per_tbh);
        if (ref) printf(" %10.2f", r->wall_us / ref->wall_us);
        printf("\n");
    }
    const ts_row *ref = ts_find(rows, o->ntl, TS_REF_T);
    int fails = 0;
    for (int i = 0; i < o->ntl; i++) {
        const ts_row *r = &rows[i];
        fails += !r->ok;
        if (!r->ok || !ref || r->T <= TS_REF_T) continue;
        double q = r->wall_us / ref->wall_us;
        printf("T=%lld: per-step time %.2fx of T=%d (target <= %.1f%s); memory %.1f B per TBH (target <= %.0f%s)\n",
               (long long)r->T, q, TS_REF_T, TS_TARGET_RATIO, q <= TS_TARGET_RATIO ? "" : ", OVER", r->bytes_per_tbh,
               TS_TARGET_BYTES, r->bytes_per_tbh <= TS_TARGET_BYTES ? "" : ", OVER");
    }
    if (o->json) {
        FILE *f = fopen(o->json, "w");
        if (!f) {
            fprintf(stderr, "bench_cells: cannot write %s: %s\n", o->json, strerror(errno));
            return 1;
        }
        fprintf(f, "{\"tscale\": {\"D\": %d, \"H\": %d, \"B\": %d, \"rows\": [", TS_D, TS_H, TS_B);
        for (int i = 0, k = 0; i < o->ntl; i++) {
            const ts_row *r = &rows[i];
            if (!r->ok) continue;
            fprintf(f, "%s\n  {\"T\": %lld, \"wall_us_per_t\": %.4g, \"cpu_us_per_t\": %.4g, \"sys_pct\": %.3g, "
                       "\"faults_per_t\": %.4g, \"bytes_per_tbh\": %.4g}",
                    k++ ? "," : "", (long long)r->T, r->wall_us, r->cpu_us, r->sys_pct, r->faults, r->bytes_per_tbh);
        }
        fprintf(f, "\n]}}\n");
        if (fclose(f)) return 1;
        printf("JSON written to %s\n", o->json);
    }
    return fails ? 1 : 0;
}

/* ---- command line ---- */
static void usage(FILE *f) {
    fprintf(f, "usage: bench_cells [options]\n"
               "  --threads LIST      thread counts (default 1,2)\n"
               "  --repeats N         rounds of --steps steps per implementation, interleaved (default %d)\n"
               "  --no-torch          leave out PyTorch (tools/torch_cells.py)\n"
               "  --python PATH       interpreter with torch (default %s)\n"
               "  --smoke             T=%d, B=%d, 1 warm-up + 1 step, no PyTorch: a quick check that all run\n"
               "  --tscale            T-scaling of a 1-layer LSTM training step\n"
               "  --stream            streaming inference step (nn/stream.h), batch 1, 1 thread, vs PyTorch\n"
               "  --tlist LIST        sequence lengths for --tscale (default 100,1000,10000,30000)\n"
               "  --steps N           timed steps, median reported\n"
               "  --warmup N          untimed warm-up steps\n"
               "  --json FILE         also write the numbers as JSON\n"
               "  --seed N            parameter/input seed (default 1)\n",
            CW_DEFAULT_REPEATS, DEFAULT_PYTHON, SMOKE_T, SMOKE_B);
}

static int parse_i64(const char *s, int64_t lo, int64_t *out) {
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (errno || e == s || *e || v < lo || v > ((int64_t)1 << 40)) return -1;
    *out = v;
    return 0;
}

static int parse_list(const char *s, int64_t *v, int *n) {
    char buf[BU_LINE];
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (*n >= MAX_LIST || parse_i64(tok, 1, &v[(*n)++])) return -1;
    return *n ? 0 : -1;
}

static int parse_args(int argc, char **argv, opts *o) {
    enum { O_TSCALE = 256, O_TLIST, O_STEPS, O_WARMUP, O_JSON, O_SEED, O_THREADS, O_REPEATS, O_NO_TORCH, O_PYTHON,
           O_SMOKE, O_STREAM };
    static const struct option lo[] = {
        {"tscale", no_argument, 0, O_TSCALE},    {"tlist", required_argument, 0, O_TLIST},
        {"steps", required_argument, 0, O_STEPS}, {"warmup", required_argument, 0, O_WARMUP},
        {"json", required_argument, 0, O_JSON},   {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS}, {"repeats", required_argument, 0, O_REPEATS},
        {"no-torch", no_argument, 0, O_NO_TORCH}, {"python", required_argument, 0, O_PYTHON},
        {"smoke", no_argument, 0, O_SMOKE},       {"stream", no_argument, 0, O_STREAM},
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0}};
    *o = (opts){.steps = -1, .warmup = -1, .repeats = CW_DEFAULT_REPEATS, .seed = 1, .torch = true,
                .python = DEFAULT_PYTHON, .nthreads = 2, .threads = {1, 2}};
    o->ntl = (int)(sizeof TS_DEFAULT_TLIST / sizeof TS_DEFAULT_TLIST[0]);
    memcpy(o->tlist, TS_DEFAULT_TLIST, sizeof TS_DEFAULT_TLIST);
    int c;
    int64_t v;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case O_TSCALE: o->tscale = true; break;
        case O_TLIST: bad = parse_list(optarg, o->tlist, &o->ntl); break;
        case O_STEPS: bad = parse_i64(optarg, 1, &v), o->steps = (int)v; break;
        case O_WARMUP: bad = parse_i64(optarg, 0, &v), o->warmup = (int)v; break;
        case O_JSON: o->json = optarg; break;
        case O_SEED: bad = parse_i64(optarg, 0, &v), o->seed = (uint64_t)v; break;
        case O_THREADS: {
            int64_t tl[MAX_LIST];
            bad = parse_list(optarg, tl, &o->nthreads);
            for (int i = 0; !bad && i < o->nthreads; i++) o->threads[i] = (int)tl[i];
            break;
        }
        case O_REPEATS: bad = parse_i64(optarg, 1, &v), o->repeats = (int)v; break;
        case O_NO_TORCH: o->torch = false; break;
        case O_PYTHON: o->python = optarg; break;
        case O_SMOKE: o->smoke = true; break;
        case O_STREAM: o->stream = true; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
        if (bad) {
            fprintf(stderr, "bench_cells: bad value '%s' for --%s\n", optarg, lo[c - O_TSCALE].name);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bench_cells: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (o->tscale) {
        if (o->steps < 0) o->steps = TS_DEFAULT_STEPS;
        if (o->warmup < 0) o->warmup = TS_DEFAULT_WARMUP;
    } else if (o->stream) {
        if (o->smoke) o->torch = false;
    } else if (o->smoke) {
        if (o->steps < 0) o->steps = 1;
        if (o->warmup < 0) o->warmup = 1;
        o->repeats = 1;
        o->torch = false;
    } else {
        if (o->steps < 0) o->steps = CW_DEFAULT_STEPS;
        if (o->warmup < 0) o->warmup = CW_DEFAULT_WARMUP;
    }
    if (o->repeats * o->steps > MAX_SAMPLES) {
        fprintf(stderr, "bench_cells: --repeats x --steps must be at most %d\n", MAX_SAMPLES);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    opts o;
    if (parse_args(argc, argv, &o)) return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    return o.tscale ? ts_main(&o) : o.stream ? stream_main(&o) : cells_main(&o);
}
