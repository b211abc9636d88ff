/* bench_dist: data-parallel training throughput of the examples imdb_sentiment and mnist_row, in
 * one run: 1 process x 1 thread, 1 process x 2 threads and 2 processes x 1 thread (mpirun), each on
 * the same flags and seeds. Prints examples/s per configuration, the ratios 2x1/1x1 and 2x1/1x2
 * (the line "2x1/1x1 <ratio>" is imdb_sentiment's), the final test accuracy of each seed and its
 * spread, and for the 2-process runs the bytes sent per step, the allreduce time per step and the
 * fraction of it hidden behind the backward (from the examples' own dist/ report).
 * Not a micro-benchmark of MPI; it times the examples exactly as a user runs them. Medians over
 * --seeds runs (each seed is a separate training run). Wrap it in flock /tmp/seqgrad-bench.lock.
 * The examples are found next to this binary; IMDB is unpacked into <that dir>/data if missing.
 * Last, the reduction alone: mpirun -np 2 bench_dist --allreduce-worker times sg_dist_grads_allreduce
 * on the examples' gradient sizes (the loopback check of docs/scaling.md). */
#include <libgen.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dist/dist.h"

enum { PATH_BUF = 1024, PATH_EXT = PATH_BUF + 64, CMD_MAX = 16384, LINE_MAX_ = 4096, MAX_SEEDS = 8, NCONF = 3, NEX = 2 };

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
    double eps, acc, kb, comm_ms, exposed_ms, hidden;
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
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Runs one training and parses its output: training-set size from the header, the s/epoch of the
 * final line, the test accuracy, and the dist/ report line of multi-process runs. */
static result_t run_one(const example_t *ex, const char *data, const conf_t *c, int seed, const char *extra) {
    char cmd[CMD_MAX], out[PATH_EXT];
    result_t r = {0};
    snprintf(out, sizeof out, "%s/bench_dist_out", g_bindir);
    if (c->procs > 1)
        snprintf(cmd, sizeof cmd,
                 "mkdir -p '%s' && %s --oversubscribe -np %d -x OMP_WAIT_POLICY -x SEQGRAD_DIST_BUCKET_KB '%s/%s' --data '%s' %s "
                 "--threads %d --seed %d --quiet --out '%s' %s 2>&1",
                 out, g_mpirun, c->procs, g_bindir, ex->name, data, ex->flags, c->threads, seed, out, extra);
    else
        snprintf(cmd, sizeof cmd, "mkdir -p '%s' && '%s/%s' --data '%s' %s --threads %d --seed %d --quiet --out '%s' %s 2>&1",
                 out, g_bindir, ex->name, data, ex->flags, c->threads, seed, out, extra);
    FILE *p = popen(cmd, "r");
    if (!p) return r;
    char line[LINE_MAX_];
    double n = 0, spe = 0;
    while (fgets(line, sizeof line, p)) {
        char *s;
        if ((s = strstr(line, ex->n_key)) && n == 0) n = atof(s + strlen(ex->n_key));
        if ((s = strstr(line, "test accuracy ")) && strstr(line, "s/epoch train")) {
            r.acc = atof(s + strlen("test accuracy "));
            char *t = strstr(line, "; ");
            if (t) spe = atof(t + 2);
        }
        if ((s = strstr(line, "kB sent per step"))) {
            char *q = strstr(line, "processes: "), *a = strstr(line, "allreduce "), *w = strstr(line, "of which "),
                 *h = strstr(line, "waited after the backward, ");
            if (q) r.kb = atof(q + strlen("processes: "));
            if (a) r.comm_ms = atof(a + strlen("allreduce "));
            if (w) r.exposed_ms = atof(w + strlen("of which "));
            if (h) r.hidden = atof(h + strlen("waited after the backward, "));
        }
        if (strstr(line, "error") || strstr(line, "rank ")) fputs(line, stderr);
    }
    int st = pclose(p);
    r.ok = st == 0 && n > 0 && spe > 0;
    r.eps = r.ok ? n / spe : 0;
    if (!r.ok) fprintf(stderr, "bench_dist: failed (status %d): %s\n", st, cmd);
    return r;
}

/* --allreduce-worker (run under mpirun by main): times sg_dist_grads_allreduce alone on models with
 * the examples' parameter counts (one parameter each, one bucket), min and median of REPS. */
enum { REPS = 21 };
static int allreduce_worker(int argc, char **argv) {
    sg_dist *d;
    if (sg_dist_init(&argc, &argv, &d)) return 1;
    const char *names[] = {"imdb_sentiment", "mnist_row"};
    const int64_t sizes[] = {2824705, 82186};
    for (int k = 0; k < 2; k++) {
        sg_model *m = sg_model_new(SG_F32);
        sg_model_declare(m, "w", 1, &sizes[k], SG_INIT_UNIFORM, 1.0);
        sg_model_finalize(m, 1);
        sg_dist_grads *g = sg_dist_grads_new(d, m, (size_t)sizes[k] * sizeof(float));
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
            printf("allreduce %s %.2f MB over %d processes: min %.3f ms, median %.3f ms\n", names[k],
                   (double)sizes[k] * 4 / 1e6, sg_dist_size(d), 1e3 * mn, 1e3 * median(t, REPS));
        sg_dist_grads_free(g);
        sg_model_free(m);
    }
    sg_dist_finalize(d);
    return 0;
}

static void usage(void) {
    printf("usage: bench_dist [--seeds K] [--imdb DIR] [--mnist DIR] [--mpirun PATH] [--quick]\n"
           "  --seeds K      training runs per configuration (default 3, at most %d)\n"
           "  --quick        tiny settings (a smoke run, seconds)\n", MAX_SEEDS);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--allreduce-worker")) return allreduce_worker(argc, argv);
    int seeds = 3;
    bool quick = false;
    char imdb[PATH_EXT], mnist[PATH_EXT], self[PATH_BUF];
    snprintf(self, sizeof self, "%s", argv[0]);
    snprintf(g_bindir, sizeof g_bindir, "%s", dirname(self));
    snprintf(imdb, sizeof imdb, "%s/data/aclImdb", g_bindir);
    snprintf(mnist, sizeof mnist, "%s/../shared/data/mnist", BENCH_SOURCE_DIR);
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--quick")) quick = true;
        else if (!strcmp(argv[i], "--seeds") && v) seeds = atoi(argv[++i]);
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
    setenv("OMP_WAIT_POLICY", "passive", 0);
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    setenv("SEQGRAD_DIST_BUCKET_KB", "1024", 0); /* DDP's small first bucket: the LSTM and head go early */
    const example_t EX[NEX] = {
        {"imdb_sentiment",
         quick ? "--limit 256 --test-limit 256 --max-len 64 --epochs 1" : "--limit 5000 --test-limit 5000 --max-len 200 --epochs 2",
         "imdb_sentiment: "},
        {"mnist_row", quick ? "--limit 512 --test-limit 500 --epochs 1" : "--limit 10000 --epochs 3", "mnist_row: "},
    };
    printf("bench_dist: %d seed(s) per configuration; flags: imdb_sentiment %s, mnist_row %s; buckets %s kB\n", seeds,
           EX[0].flags, EX[1].flags, getenv("SEQGRAD_DIST_BUCKET_KB"));
    for (int e = 0; e < NEX; e++) {
        const char *data = e == 0 ? imdb : mnist;
        double eps[NCONF][MAX_SEEDS], acc[NCONF][MAX_SEEDS], med[NCONF] = {0};
        result_t last = {0};
        int fails = 0;
        for (int s = 0; s < seeds; s++)
            for (int c = 0; c < NCONF; c++) { /* interleaved, so a load change hits every configuration */
                result_t r = run_one(&EX[e], data, &CONFS[c], s + 1, "");
                fails += !r.ok;
                eps[c][s] = r.eps;
                acc[c][s] = r.acc;
                if (CONFS[c].procs > 1 && r.ok) last = r;
            }
        printf("\n%s (examples/s, median of %d; test accuracy per seed)\n", EX[e].name, seeds);
        for (int c = 0; c < NCONF; c++) {
            double a[MAX_SEEDS], mean = 0, sd = 0;
            for (int s = 0; s < seeds; s++) a[s] = acc[c][s], mean += a[s] / seeds;
            for (int s = 0; s < seeds; s++) sd += (a[s] - mean) * (a[s] - mean) / (seeds > 1 ? seeds - 1 : 1);
            double tmp[MAX_SEEDS];
            memcpy(tmp, eps[c], sizeof tmp);
            med[c] = median(tmp, seeds);
            printf("  %s  %8.1f ex/s   accuracy %.2f +- %.2f %% (", CONFS[c].name, med[c], mean, sqrt(sd));
            for (int s = 0; s < seeds; s++) printf("%s%.2f", s ? ", " : "", acc[c][s]);
            printf(")\n");
        }
        printf("  2 processes: %.0f kB sent per step by rank 0, allreduce %.2f ms/step, %.2f ms of it exposed, %.0f %% hidden "
               "behind the backward\n", last.kb, last.comm_ms, last.exposed_ms, last.hidden);
        if (e == 0) printf("2x1/1x1 %.3f\n", med[0] > 0 ? med[2] / med[0] : 0);
        else printf("%s 2x1/1x1 %.3f\n", EX[e].name, med[0] > 0 ? med[2] / med[0] : 0);
        printf("%s 2x1/1x2 %.3f\n", EX[e].name, med[1] > 0 ? med[2] / med[1] : 0);
        if (fails) printf("%s: %d run(s) FAILED\n", EX[e].name, fails);
    }
    char cmd[CMD_MAX];
    snprintf(cmd, sizeof cmd, "%s --oversubscribe -np 2 '%s' --allreduce-worker", g_mpirun, argv[0]);
    printf("\nthe reduction alone (loopback, shared memory):\n");
    fflush(stdout);
    if (system(cmd) != 0) printf("  (allreduce worker failed: %s)\n", cmd);
    return 0;
}
