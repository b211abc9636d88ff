/* bench_cells: recurrent cells timed side by side with PyTorch in one run (see bench/README.md).
 * Modes:
 *   --tscale   cost of one training step of a 1-layer LSTM (D=64, H=128, B=16) as T grows: wall and
 *              CPU time per time step, page faults, and peak memory per (T x B x H) element.
 * Not a test suite: its only checks are that every seqgrad implementation runs.
 * Usage: bench_cells --tscale [--tlist 100,1000,10000,30000] [--steps 3] [--warmup 1] [--json FILE] */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    bool tscale;
    int64_t tlist[MAX_LIST];
    int ntl;
    int steps, warmup;
    const char *json;
    uint64_t seed;
} opts;

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
    fprintf(f, "usage: bench_cells --tscale [options]\n"
               "  --tscale            T-scaling of a 1-layer LSTM training step\n"
               "  --tlist LIST        sequence lengths for --tscale (default 100,1000,10000,30000)\n"
               "  --steps N           timed steps, median reported\n"
               "  --warmup N          untimed warm-up steps\n"
               "  --json FILE         also write the numbers as JSON\n"
               "  --seed N            parameter/input seed (default 1)\n");
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
    enum { O_TSCALE = 256, O_TLIST, O_STEPS, O_WARMUP, O_JSON, O_SEED };
    static const struct option lo[] = {
        {"tscale", no_argument, 0, O_TSCALE},    {"tlist", required_argument, 0, O_TLIST},
        {"steps", required_argument, 0, O_STEPS}, {"warmup", required_argument, 0, O_WARMUP},
        {"json", required_argument, 0, O_JSON},   {"seed", required_argument, 0, O_SEED},
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0}};
    *o = (opts){.steps = -1, .warmup = -1, .seed = 1};
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
    }
    return 0;
}

int main(int argc, char **argv) {
    opts o;
    if (parse_args(argc, argv, &o)) return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (o.tscale) return ts_main(&o);
    usage(stderr);
    return 2;
}
