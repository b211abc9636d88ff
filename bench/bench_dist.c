/* bench_dist: data-parallel training throughput of the examples imdb_sentiment and mnist_row, in
 * one run: 1 process x 1 thread, 1 process x 2 threads and 2 processes x 1 thread (mpirun), each on
 * the same flags and seeds, interleaved. Prints examples/s per configuration (median over seeds),
 * the ratios 2x1/1x1 and 2x1/1x2 (the line "2x1/1x1 <ratio>" is imdb_sentiment's), the final test
 * accuracy of each seed with mean, spread and the 2x1 - 1x1 difference, every rank's mean time per
 * step in each phase (the examples' SEQGRAD_EX_PROFILE breakdown: wall/cpu ms), for the 2-process
 * runs the bytes sent per step, the allreduce time and the fraction hidden behind the backward,
 * the load average before and after, the reduction alone, and what two processes sharing the
 * machine cost without any communication (seed 1 at batch/2: one process alone, then two identical
 * ones at once; twice the shared one's examples/s bounds 2x1). --json FILE writes all of it for
 * tools/scaling_model.py (docs/scaling.md).
 * Not a micro-benchmark of MPI; it times the examples exactly as a user runs them (throughput =
 * training examples / training seconds as the example reports it: no evaluation, no start-up).
 * Wrap it in flock /tmp/seqgrad-bench.lock; two processes need two free cores.
 * The examples are found next to this binary; IMDB is unpacked into <that dir>/data if missing.
 * mpirun -np 2 bench_dist --allreduce-worker times sg_dist_grads_allreduce alone on the examples'
 * gradient sizes (the loopback check of docs/scaling.md). */
#include <libgen.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dist/dist.h"

enum { PATH_BUF = 1024, PATH_EXT = PATH_BUF + 64, JOB_MAX = 4096, CMD_MAX = 16384, LINE_MAX_ = 4096, MAX_SEEDS = 8, NCONF = 3, NEX = 2 };
enum { MAX_RANKS = 2, NPH = 7 }; /* the examples' phases (exdist.h) + their total */
static const char *const PH_NAMES[NPH] = {"batch", "forward", "backward", "wait", "update", "other", "total"};

typedef struct {
    const char *name;  /* "1x1" */
    int procs, threads;
} conf_t;
static const conf_t CONFS[NCONF] = {{"1x1", 1, 1}, {"1x2", 1, 2}, {"2x1", 2, 1}};

typedef struct {
    const char *name, *flags; /* example and its fixed flags (data path added) */
    const char *n_key;        /* header text before the training-set size */
} example_t;

typedef struct {
    double eps, acc, kb, kb_dense, comm_ms, exposed_ms, hidden, hook_ms, params, batch;
    double ph[MAX_RANKS][NPH][2]; /* ms per step: [rank][phase][wall, cpu] */
    int nranks;                   /* ranks whose breakdown was read */
    int ok;
} result_t;

/* wall clock for the worker (no MPI header here: dist/ wraps MPI) */
static double wall_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char g_bindir[PATH_BUF], g_mpirun[PATH_BUF] = "mpirun";

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(const double *v, int n) {
    double t[MAX_SEEDS > 32 ? MAX_SEEDS : 32];
    memcpy(t, v, (size_t)n * sizeof *t);
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static void loadavg(double out[3]) {
    out[0] = out[1] = out[2] = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return;
    if (fscanf(f, "%lf %lf %lf", &out[0], &out[1], &out[2]) != 3) out[0] = out[1] = out[2] = -1;
    fclose(f);
}

static double after(const char *line, const char *key) {
    const char *s = strstr(line, key);
    return s ? atof(s + strlen(key)) : 0;
}

/* "<prog>: step time rank R of N (ms, wall/cpu): batch w/c forward w/c ... total w/c" */
static void parse_phases(const char *line, result_t *r) {
    const char *s = strstr(line, "step time rank ");
    if (!s) return;
    int rank = atoi(s + strlen("step time rank "));
    if (rank < 0 || rank >= MAX_RANKS) return;
    for (int p = 0; p < NPH; p++) {
        char key[32];
        snprintf(key, sizeof key, " %s ", PH_NAMES[p]);
        const char *k = strstr(s, key);
        if (!k) continue;
        char *end;
        r->ph[rank][p][0] = strtod(k + strlen(key), &end);
        r->ph[rank][p][1] = *end == '/' ? atof(end + 1) : 0;
    }
    if (rank + 1 > r->nranks) r->nranks = rank + 1;
}

/* Runs one training and parses its output: training-set size, parameters and batch from the
 * header, the s/epoch of the final line, the test accuracy, the step-time breakdown and the dist/
 * report line of multi-process runs. */
/* extra: flags appended (NULL: none); twin (one process only): an identical job, without MPI and
 * with its own output directory, runs at the same time and its output is discarded (the cost of two
 * processes sharing the machine, communication apart). */
static result_t run_one(const example_t *ex, const char *data, const conf_t *c, int seed, const char *extra, bool twin) {
    char cmd[CMD_MAX], out[PATH_EXT], job[JOB_MAX];
    result_t r = {0};
    snprintf(out, sizeof out, "%s/bench_dist_out", g_bindir);
    snprintf(job, sizeof job, "'%s/%s' --data '%s' %s --threads %d --seed %d --quiet %s --out", g_bindir, ex->name, data,
             ex->flags, c->threads, seed, extra ? extra : "");
    if (c->procs > 1)
        snprintf(cmd, sizeof cmd,
                 "mkdir -p '%s' && %s --oversubscribe -np %d -x OMP_WAIT_POLICY -x SEQGRAD_DIST_BUCKET_KB -x SEQGRAD_EX_PROFILE "
                 "%s '%s' 2>&1", out, g_mpirun, c->procs, job, out);
    else if (twin)
        snprintf(cmd, sizeof cmd, "mkdir -p '%s' '%s_twin' && { %s '%s_twin' >/dev/null 2>&1 & %s '%s' 2>&1; wait; }", out,
                 out, job, out, job, out);
    else
        snprintf(cmd, sizeof cmd, "mkdir -p '%s' && %s '%s' 2>&1", out, job, out);
    FILE *p = popen(cmd, "r");
    if (!p) return r;
    char line[LINE_MAX_];
    double n = 0, spe = 0;
    while (fgets(line, sizeof line, p)) {
        char *s;
        if ((s = strstr(line, ex->n_key)) && n == 0) n = atof(s + strlen(ex->n_key));
        if ((s = strstr(line, " parameters")) && r.params == 0) {
            while (s > line && s[-1] >= '0' && s[-1] <= '9') s--;
            r.params = atof(s);
        }
        if ((s = strstr(line, ", batch ")) && r.batch == 0) r.batch = atof(s + strlen(", batch "));
        if ((s = strstr(line, "test accuracy ")) && strstr(line, "s/epoch train")) {
            r.acc = atof(s + strlen("test accuracy "));
            char *t = strstr(line, "; ");
            if (t) spe = atof(t + 2);
        }
        if (strstr(line, "kB sent per step")) {
            r.kb = after(line, "processes: ");
            r.kb_dense = after(line, "by rank 0 (");
            r.comm_ms = after(line, "allreduce ");
            r.exposed_ms = after(line, "of which ");
            r.hidden = after(line, "waited after the backward, ");
            r.hook_ms = after(line, "started during it; ");
        }
        parse_phases(line, &r);
        if (strstr(line, "error") || strstr(line, "seqgrad: rank ")) fputs(line, stderr); /* failures, named */
    }
    int st = pclose(p);
    r.ok = st == 0 && n > 0 && spe > 0;
    r.eps = r.ok ? n / spe : 0;
    if (!r.ok) fprintf(stderr, "bench_dist: failed (status %d): %s\n", st, cmd);
    return r;
}

/* --allreduce-worker (run under mpirun by main): times sg_dist_grads_allreduce alone on models with
 * the examples' parameter counts (one parameter each, one bucket, every block nonzero: the dense
 * reduction), min and median of REPS. */
enum { REPS = 21 };
static const char *const AR_NAMES[NEX] = {"imdb_sentiment", "mnist_row"};
static const int64_t AR_SIZES[NEX] = {2824705, 82186};
static int allreduce_worker(int argc, char **argv) {
    sg_dist *d;
    if (sg_dist_init(&argc, &argv, &d)) return 1;
    for (int k = 0; k < NEX; k++) {
        sg_model *m = sg_model_new(SG_F32);
        sg_model_declare(m, "w", 1, &AR_SIZES[k], SG_INIT_UNIFORM, 1.0);
        sg_model_finalize(m, 1);
        sg_dist_grads *g = sg_dist_grads_new(d, m, (size_t)AR_SIZES[k] * sizeof(float));
        sg_tensor *gr = sg_model_flat_grads(m); /* ones: dense (zeros would go sparse and send nothing); */
        float *gp = sg_data_f32(gr);            /* 0.5 + 0.5 keeps them ones, rep after rep */
        for (int64_t i = 0; gp && i < sg_numel(gr); i++) gp[i] = 1.0f;
        sg_mark_modified(gr);
        double t[REPS];
        for (int r = 0; r < REPS; r++) {
            sg_dist_barrier(d);
            double t0 = wall_seconds();
            sg_dist_grads_allreduce(g, 0.5);
            t[r] = wall_seconds() - t0;
        }
        double mn = t[0];
        for (int r = 1; r < REPS; r++) mn = t[r] < mn ? t[r] : mn;
        if (sg_dist_rank(d) == 0)
            printf("allreduce %s %.2f MB over %d processes: min %.3f ms, median %.3f ms\n", AR_NAMES[k],
                   (double)AR_SIZES[k] * 4 / 1e6, sg_dist_size(d), 1e3 * mn, 1e3 * median(t, REPS));
        sg_dist_grads_free(g);
        sg_model_free(m);
    }
    sg_dist_finalize(d);
    return 0;
}

static void usage(void) {
    printf("usage: bench_dist [--seeds K] [--imdb DIR] [--mnist DIR] [--mpirun PATH] [--json FILE] [--passive] [--quick]\n"
           "  --seeds K      training runs per configuration (default 3, at most %d)\n"
           "  --json FILE    also write every number as JSON (tools/scaling_model.py --json FILE)\n"
           "  --passive      OMP_WAIT_POLICY=passive for every run (a loaded machine); default: the\n"
           "                 environment's, unset = libgomp's spin-then-sleep, what a user gets\n"
           "  --quick        tiny settings (a smoke run, seconds)\n", MAX_SEEDS);
}

typedef struct {
    double eps[NCONF][MAX_SEEDS], acc[NCONF][MAX_SEEDS], med[NCONF], mean[NCONF], sd[NCONF];
    double ph[NCONF][MAX_RANKS][NPH][2]; /* mean over seeds */
    int nranks[NCONF], fails;
    result_t dist; /* the 2-process report, mean over seeds */
    double params, batch;
    result_t half, shared; /* seed 1 at batch/2, one process alone and beside an identical twin */
} ex_result;

/* The bound machine sharing alone puts on 2x1/1x1: two ranks of a free reduction would each run a
 * batch/2 step as fast as the twin-shared job does, so 2x1 <= 2 x its examples/s. */
static double sharing_bound(const ex_result *e) { return e->med[0] > 0 ? 2 * e->shared.eps / e->med[0] : 0; }

static void print_phases(const ex_result *e, int c) {
    for (int r = 0; r < e->nranks[c]; r++) {
        printf("    %s rank %d ms/step (wall/cpu):", CONFS[c].name, r);
        for (int p = 0; p < NPH; p++) printf(" %s %.3f/%.3f", PH_NAMES[p], e->ph[c][r][p][0], e->ph[c][r][p][1]);
        printf("\n");
    }
}

static void json_ex(FILE *f, const example_t *ex, const ex_result *e, int seeds, bool last) {
    fprintf(f, "    \"%s\": {\"flags\": \"%s\", \"params\": %.0f, \"batch\": %.0f, \"gradient_bytes\": %.0f,\n", ex->name,
            ex->flags, e->params, e->batch, 4 * e->params);
    fprintf(f, "      \"configs\": {\n");
    for (int c = 0; c < NCONF; c++) {
        fprintf(f, "        \"%s\": {\"procs\": %d, \"threads\": %d, \"eps_median\": %.3f, \"eps\": [", CONFS[c].name,
                CONFS[c].procs, CONFS[c].threads, e->med[c]);
        for (int s = 0; s < seeds; s++) fprintf(f, "%s%.3f", s ? ", " : "", e->eps[c][s]);
        fprintf(f, "], \"acc\": [");
        for (int s = 0; s < seeds; s++) fprintf(f, "%s%.2f", s ? ", " : "", e->acc[c][s]);
        fprintf(f, "], \"acc_mean\": %.4f, \"acc_sd\": %.4f,\n          \"step_ms\": [", e->mean[c], e->sd[c]);
        for (int r = 0; r < e->nranks[c]; r++) {
            fprintf(f, "%s{\"rank\": %d", r ? ", " : "", r);
            for (int w = 0; w < 2; w++) {
                fprintf(f, ", \"%s\": {", w ? "cpu" : "wall");
                for (int p = 0; p < NPH; p++) fprintf(f, "%s\"%s\": %.4f", p ? ", " : "", PH_NAMES[p], e->ph[c][r][p][w]);
                fprintf(f, "}");
            }
            fprintf(f, "}");
        }
        fprintf(f, "]}%s\n", c + 1 < NCONF ? "," : "");
    }
    fprintf(f, "      },\n      \"dist_2x1\": {\"kb_sent_per_step\": %.1f, \"kb_dense_per_step\": %.1f, \"allreduce_ms\": %.4f, "
               "\"exposed_ms\": %.4f, \"hidden_pct\": %.1f, \"hook_ms\": %.4f},\n", e->dist.kb, e->dist.kb_dense, e->dist.comm_ms, e->dist.exposed_ms,
            e->dist.hidden, e->dist.hook_ms);
    fprintf(f, "      \"sharing\": {\"batch\": %.0f, \"alone_step_ms\": %.4f, \"shared_step_ms\": %.4f, \"alone_eps\": %.3f, "
               "\"shared_eps\": %.3f, \"bound_2x1_1x1\": %.4f},\n", e->batch / 2, e->half.ph[0][NPH - 1][0],
            e->shared.ph[0][NPH - 1][0], e->half.eps, e->shared.eps, sharing_bound(e));
    fprintf(f, "      \"ratio_2x1_1x1\": %.4f, \"ratio_2x1_1x2\": %.4f, \"acc_diff_2x1_1x1\": %.4f, \"failed_runs\": %d\n    }%s\n",
            e->med[0] > 0 ? e->med[2] / e->med[0] : 0, e->med[1] > 0 ? e->med[2] / e->med[1] : 0, e->mean[2] - e->mean[0],
            e->fails, last ? "" : ",");
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--allreduce-worker")) return allreduce_worker(argc, argv);
    int seeds = 3;
    bool quick = false, passive = false;
    const char *json = NULL;
    char imdb[PATH_EXT], mnist[PATH_EXT], self[PATH_BUF];
    snprintf(self, sizeof self, "%s", argv[0]);
    snprintf(g_bindir, sizeof g_bindir, "%s", dirname(self));
    snprintf(imdb, sizeof imdb, "%s/data/aclImdb", g_bindir);
    snprintf(mnist, sizeof mnist, "%s/../shared/data/mnist", BENCH_SOURCE_DIR);
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--quick")) quick = true;
        else if (!strcmp(argv[i], "--passive")) passive = true;
        else if (!strcmp(argv[i], "--seeds") && v) seeds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && v) json = argv[++i];
        else if (!strcmp(argv[i], "--imdb") && v) snprintf(imdb, sizeof imdb, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--mnist") && v) snprintf(mnist, sizeof mnist, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--mpirun") && v) snprintf(g_mpirun, sizeof g_mpirun, "%s", argv[++i]);
        else {
            usage();
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (seeds < 1 || seeds > MAX_SEEDS) {
        fprintf(stderr, "bench_dist: --seeds must be in [1, %d]\n", MAX_SEEDS);
        return 2;
    }
    if (access(imdb, F_OK) != 0) { /* unpack into the build tree, never the source tree */
        char cmd[CMD_MAX];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s/data' && tar xzf '%s/../shared/data/aclImdb-labeled.tar.gz' -C '%s/data'",
                 g_bindir, BENCH_SOURCE_DIR, g_bindir);
        printf("unpacking IMDB: %s\n", cmd);
        if (system(cmd) != 0) {
            fprintf(stderr, "bench_dist: cannot unpack IMDB (give --imdb DIR)\n");
            return 1;
        }
    }
    if (passive) setenv("OMP_WAIT_POLICY", "passive", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    setenv("SEQGRAD_DIST_BUCKET_KB", "1024", 0); /* DDP's small first bucket: the LSTM and head go early */
    setenv("SEQGRAD_EX_PROFILE", "1", 1);        /* the per-rank step breakdown with CPU time */
    const char *wait = getenv("OMP_WAIT_POLICY");
    const example_t EX[NEX] = {
        {"imdb_sentiment",
         quick ? "--limit 256 --test-limit 256 --max-len 64 --epochs 1" : "--limit 5000 --test-limit 5000 --max-len 200 --epochs 2",
         "imdb_sentiment: "},
        {"mnist_row", quick ? "--limit 512 --test-limit 500 --epochs 1" : "--limit 10000 --epochs 3", "mnist_row: "},
    };
    double load0[3], load1[3];
    loadavg(load0);
    time_t now = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
    printf("bench_dist %s: %d seed(s) per configuration; flags: imdb_sentiment %s, mnist_row %s; buckets %s kB; "
           "OMP_WAIT_POLICY %s\n", date, seeds, EX[0].flags, EX[1].flags, getenv("SEQGRAD_DIST_BUCKET_KB"),
           wait ? wait : "unset (libgomp: spin, then sleep)");
    printf("load average before: %.2f %.2f %.2f (2 processes need 2 free cores: a loaded machine says nothing about "
           "scaling)\n", load0[0], load0[1], load0[2]);
    fflush(stdout);
    static ex_result R[NEX];
    for (int e = 0; e < NEX; e++) {
        const char *data = e == 0 ? imdb : mnist;
        ex_result *x = &R[e];
        int ndist = 0;
        for (int s = 0; s < seeds; s++)
            for (int c = 0; c < NCONF; c++) { /* interleaved, so a load change hits every configuration */
                result_t r = run_one(&EX[e], data, &CONFS[c], s + 1, NULL, false);
                x->fails += !r.ok;
                x->eps[c][s] = r.eps;
                x->acc[c][s] = r.acc;
                if (r.params > 0) x->params = r.params, x->batch = r.batch;
                if (r.nranks > x->nranks[c]) x->nranks[c] = r.nranks;
                for (int k = 0; k < r.nranks; k++)
                    for (int p = 0; p < NPH; p++)
                        for (int w = 0; w < 2; w++) x->ph[c][k][p][w] += r.ph[k][p][w] / seeds;
                if (CONFS[c].procs > 1 && r.ok) {
                    ndist++;
                    x->dist.kb += r.kb, x->dist.kb_dense += r.kb_dense, x->dist.comm_ms += r.comm_ms;
                    x->dist.exposed_ms += r.exposed_ms;
                    x->dist.hidden += r.hidden, x->dist.hook_ms += r.hook_ms;
                }
            }
        char half[64]; /* the machine alone: batch/2 steps, one process, then two at once without MPI */
        snprintf(half, sizeof half, "--batch %.0f", x->batch / 2);
        x->half = run_one(&EX[e], data, &CONFS[0], 1, half, false);
        x->shared = run_one(&EX[e], data, &CONFS[0], 1, half, true);
        x->fails += !x->half.ok + !x->shared.ok;
        if (ndist) {
            x->dist.kb /= ndist, x->dist.kb_dense /= ndist, x->dist.comm_ms /= ndist, x->dist.exposed_ms /= ndist;
            x->dist.hidden /= ndist, x->dist.hook_ms /= ndist;
        }
        printf("\n%s: %.0f parameters, batch %.0f (examples/s, median of %d; test accuracy per seed)\n", EX[e].name,
               x->params, x->batch, seeds);
        for (int c = 0; c < NCONF; c++) {
            double mean = 0, sd = 0;
            for (int s = 0; s < seeds; s++) mean += x->acc[c][s] / seeds;
            for (int s = 0; s < seeds; s++) sd += (x->acc[c][s] - mean) * (x->acc[c][s] - mean) / (seeds > 1 ? seeds - 1 : 1);
            x->med[c] = median(x->eps[c], seeds), x->mean[c] = mean, x->sd[c] = sqrt(sd);
            printf("  %s  %8.1f ex/s   accuracy %.2f +- %.2f %% (", CONFS[c].name, x->med[c], mean, x->sd[c]);
            for (int s = 0; s < seeds; s++) printf("%s%.2f", s ? ", " : "", x->acc[c][s]);
            printf(")\n");
        }
        printf("  step time per rank, mean over seeds (the example's phases; wall/cpu ms per training step):\n");
        for (int c = 0; c < NCONF; c++) print_phases(x, c);
        printf("  2 processes: %.0f kB sent per step by rank 0 (%.0f kB with every bucket dense), allreduce %.2f ms/step, "
               "%.2f ms of it exposed, %.0f %% hidden behind the backward, %.3f ms/step in the grad-ready hook\n",
               x->dist.kb, x->dist.kb_dense, x->dist.comm_ms, x->dist.exposed_ms, x->dist.hidden, x->dist.hook_ms);
        double alone = x->half.ph[0][NPH - 1][0], both = x->shared.ph[0][NPH - 1][0]; /* wall ms per step */
        printf("  machine sharing, no MPI (seed 1, batch %.0f, 1 thread): one process %.3f ms/step, two at once %.3f "
               "ms/step (%+.1f %%): with a free reduction 2x1/1x1 <= %.3f\n", x->batch / 2, alone, both,
               alone > 0 ? 100 * (both / alone - 1) : 0.0, sharing_bound(x));
        double diff = x->mean[2] - x->mean[0], noise = x->sd[0] > x->sd[2] ? x->sd[0] : x->sd[2];
        if (seeds > 1)
            printf("  accuracy 2x1 - 1x1: %+.2f points (means of %d seeds); seed-to-seed sd %.2f (1x1), %.2f (2x1): %s\n", diff,
                   seeds, x->sd[0], x->sd[2], fabs(diff) <= noise ? "within noise (|difference| <= the larger sd)"
                                                                   : "OUTSIDE the seed spread");
        else
            printf("  accuracy 2x1 - 1x1: %+.2f points (one seed: no spread; use --seeds 3)\n", diff);
        if (e == 0) printf("2x1/1x1 %.3f\n", x->med[0] > 0 ? x->med[2] / x->med[0] : 0);
        else printf("%s 2x1/1x1 %.3f\n", EX[e].name, x->med[0] > 0 ? x->med[2] / x->med[0] : 0);
        printf("%s 2x1/1x2 %.3f\n", EX[e].name, x->med[1] > 0 ? x->med[2] / x->med[1] : 0);
        if (x->fails) printf("%s: %d run(s) FAILED\n", EX[e].name, x->fails);
        fflush(stdout);
    }
    char cmd[CMD_MAX];
    snprintf(cmd, sizeof cmd, "%s --oversubscribe -np 2 '%s' --allreduce-worker", g_mpirun, argv[0]);
    printf("\nthe reduction alone (loopback, shared memory):\n");
    fflush(stdout);
    double ar[NEX][2] = {{0}};
    FILE *p = popen(cmd, "r");
    char line[LINE_MAX_];
    while (p && fgets(line, sizeof line, p)) {
        fputs(line, stdout);
        for (int k = 0; k < NEX; k++) {
            char key[64];
            snprintf(key, sizeof key, "allreduce %s ", AR_NAMES[k]);
            if (strstr(line, key)) ar[k][0] = after(line, "min "), ar[k][1] = after(line, "median ");
        }
    }
    if (!p || pclose(p) != 0) printf("  (allreduce worker failed: %s)\n", cmd);
    loadavg(load1);
    printf("load average after: %.2f %.2f %.2f\n", load1[0], load1[1], load1[2]);
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) {
            fprintf(stderr, "bench_dist: cannot write %s\n", json);
            return 1;
        }
        fprintf(f, "{\n  \"bench\": \"bench_dist\", \"date\": \"%s\", \"seeds\": %d, \"quick\": %s,\n", date, seeds,
                quick ? "true" : "false");
        fprintf(f, "  \"omp_wait_policy\": \"%s\", \"bucket_kb\": %s,\n", wait ? wait : "unset", getenv("SEQGRAD_DIST_BUCKET_KB"));
        fprintf(f, "  \"load_before\": [%.2f, %.2f, %.2f], \"load_after\": [%.2f, %.2f, %.2f],\n", load0[0], load0[1],
                load0[2], load1[0], load1[1], load1[2]);
        fprintf(f, "  \"examples\": {\n");
        for (int e = 0; e < NEX; e++) json_ex(f, &EX[e], &R[e], seeds, e + 1 == NEX);
        fprintf(f, "  },\n  \"allreduce_alone\": {");
        for (int k = 0; k < NEX; k++)
            fprintf(f, "%s\"%s\": {\"bytes\": %lld, \"min_ms\": %.4f, \"median_ms\": %.4f}", k ? ", " : "", AR_NAMES[k],
                    (long long)AR_SIZES[k] * 4, ar[k][0], ar[k][1]);
        fprintf(f, "}\n}\n");
        fclose(f);
        printf("wrote %s\n", json);
    }
    return 0;
}
