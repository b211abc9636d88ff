/* Shared plumbing for the examples (see excommon.h). */
#include "excommon.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { BAR_WIDTH = 24, SECONDS_PER_MINUTE = 60, NUM_BUF = 64 };
#define REDRAW_SECONDS 0.2

double ex_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(const ex_args *a, const char *prog, const char *what, const char *extra) {
    printf("usage: %s [options]\n%s\n\ncommon options:\n"
           "  --data PATH        data set location (default %s)\n"
           "  --epochs N         training epochs (default %d)\n"
           "  --batch N          batch size (default %d)\n"
           "  --lr X             learning rate (default %g)\n"
           "  --seed N           random seed (default %llu)\n"
           "  --threads N        total threads: kernels, OpenBLAS and oneDNN together (default %d)\n"
           "  --backend B        recurrent layers: auto, composed or onednn (default auto)\n"
           "  --out DIR          directory for the CSV log and checkpoints (default %s)\n"
           "  --resume FILE      continue training from a checkpoint\n"
           "  --limit N          train on the first N examples only (quick runs)\n"
           "  --plot             write a PNG of the training curves (needs gnuplot)\n"
           "  --quiet            no progress bar\n"
           "  --help             this text\n%s%s",
           prog, what, a->data ? a->data : "-", a->epochs, a->batch, a->lr, (unsigned long long)a->seed,
           a->threads, a->out_dir, extra ? "\nexample options:\n" : "", extra ? extra : "");
}

int ex_parse(int argc, char **argv, ex_args *a, const char *prog, const char *what, const char *extra_usage,
             int (*extra)(const char *flag, const char *value, void *ctx), void *ctx) {
    if (!a->out_dir) a->out_dir = ".";
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool used_value = true;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            usage(a, prog, what, extra_usage);
            return -1;
        } else if (!strcmp(f, "--plot")) {
            a->plot = true;
            used_value = false;
        } else if (!strcmp(f, "--quiet")) {
            a->quiet = true;
            used_value = false;
        } else if (!v) {
            if (extra && extra(f, NULL, ctx) >= 0) continue; /* a flag without value, last on the line */
            fprintf(stderr, "%s: %s needs a value (see --help)\n", prog, f);
            return -2;
        } else if (!strcmp(f, "--data")) a->data = v;
        else if (!strcmp(f, "--epochs")) a->epochs = atoi(v);
        else if (!strcmp(f, "--batch")) a->batch = atoi(v);
        else if (!strcmp(f, "--lr")) a->lr = atof(v);
        else if (!strcmp(f, "--seed")) a->seed = strtoull(v, NULL, 10);
        else if (!strcmp(f, "--threads")) a->threads = atoi(v);
        else if (!strcmp(f, "--out")) a->out_dir = v;
        else if (!strcmp(f, "--resume")) a->resume = v;
        else if (!strcmp(f, "--limit")) a->limit = atoll(v);
        else if (!strcmp(f, "--backend")) {
            a->backend = sg_backend_parse(v);
            if (a->backend == SG_BACKEND_DEFAULT) {
                fprintf(stderr, "%s: %s\n", prog, sg_last_error());
                return -2;
            }
        } else if (extra) {
            int r = extra(f, v, ctx); /* 0: flag+value used, 1: flag only used, <0: unknown/bad */
            if (r < 0) {
                fprintf(stderr, "%s: unknown or bad option %s (see --help)\n", prog, f);
                return -2;
            }
            used_value = r == 0;
        } else {
            fprintf(stderr, "%s: unknown option %s (see --help)\n", prog, f);
            return -2;
        }
        if (used_value) i++;
    }
    if (a->epochs < 1 || a->batch < 1 || !(a->lr > 0) || a->threads < 1 || a->limit < 0) {
        fprintf(stderr, "%s: --epochs, --batch, --threads must be >= 1 and --lr > 0\n", prog);
        return -2;
    }
    if (sg_set_num_threads(a->threads) || (a->backend && sg_rnn_set_default_backend(a->backend))) {
        fprintf(stderr, "%s: %s\n", prog, sg_last_error());
        return -2;
    }
    return 0;
}

void ex_progress_start(ex_progress *p, const char *label, int64_t total, bool quiet) {
    *p = (ex_progress){.total = total, .t0 = ex_now(), .label = label, .quiet = quiet || !isatty(STDERR_FILENO)};
}

static void fmt_time(char *b, size_t n, double s) {
    long t = (long)(s + 0.5);
    snprintf(b, n, "%ld:%02ld", t / SECONDS_PER_MINUTE, t % SECONDS_PER_MINUTE);
}

void ex_progress_update(ex_progress *p, int64_t done, double loss) {
    p->done = done;
    double now = ex_now();
    if (p->quiet || (now - p->last_draw < REDRAW_SECONDS && done < p->total)) return;
    p->last_draw = now;
    double el = now - p->t0, rate = el > 0 ? (double)done / el : 0;
    double frac = p->total ? (double)done / (double)p->total : 1;
    char bar[BAR_WIDTH + 1], eta[32];
    int fill = (int)(frac * BAR_WIDTH);
    for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < fill ? '#' : '.';
    bar[BAR_WIDTH] = 0;
    fmt_time(eta, sizeof eta, rate > 0 ? (double)(p->total - done) / rate : 0);
    fprintf(stderr, "\r%s %s %3d%% %7.0f ex/s  ETA %s  loss %.4f ", p->label, bar, (int)(100 * frac), rate, eta, loss);
    fflush(stderr);
}

void ex_progress_end(ex_progress *p) {
    if (!p->quiet) fprintf(stderr, "\r%*s\r", 100, "");
}

char *ex_path(char *buf, size_t n, const char *out_dir, const char *name) {
    snprintf(buf, n, "%s/%s", out_dir && out_dir[0] ? out_dir : ".", name);
    return buf;
}

int ex_log_open(ex_log *l, const char *out_dir, const char *name, const char *header, bool append) {
    char file[512];
    snprintf(file, sizeof file, "%s.csv", name);
    ex_path(l->path, sizeof l->path, out_dir, file);
    bool exists = access(l->path, F_OK) == 0;
    l->f = fopen(l->path, append ? "a" : "w");
    if (!l->f) return sg_set_error(SG_ERR_IO, "cannot open log %s", l->path);
    if (!append || !exists) {
        fprintf(l->f, "%s\n", header);
        fflush(l->f);
    }
    return SG_OK;
}

void ex_log_row(ex_log *l, const char *fmt, ...) {
    if (!l->f) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(l->f, fmt, ap);
    va_end(ap);
    fputc('\n', l->f);
    fflush(l->f);
}

void ex_log_close(ex_log *l) {
    if (l->f) fclose(l->f);
    l->f = NULL;
}

int ex_plot(const ex_log *l, const char *out_dir, const char *name, int x_col, const int *y_cols, int ny,
            const char *const *titles) {
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "--plot: gnuplot is not installed (apt-get install gnuplot-nox); no PNG written\n");
        return 1;
    }
    char png[1024], script[4096];
    char file[512];
    snprintf(file, sizeof file, "%s.png", name);
    ex_path(png, sizeof png, out_dir, file);
    int k = snprintf(script, sizeof script,
                     "gnuplot -e \"set terminal png size 900,500; set output '%s'; set datafile separator ','; "
                     "set key autotitle columnhead; set xlabel 'epoch'; plot ",
                     png);
    for (int i = 0; i < ny && k < (int)sizeof script; i++)
        k += snprintf(script + k, sizeof script - (size_t)k, "%s'%s' using %d:%d with linespoints title '%s'",
                      i ? ", " : "", l->path, x_col, y_cols[i], titles[i]);
    if (k < (int)sizeof script) snprintf(script + k, sizeof script - (size_t)k, "\"");
    int rc = system(script);
    if (rc == 0) printf("plot: %s\n", png);
    return rc == 0 ? 0 : 1;
}

int ex_save_checkpoint(const char *prog, const char *path, const sg_model *m, const sg_optim *opt, int epoch,
                       const char *best_key, double best, int best_epoch) {
    char e[NUM_BUF], b[NUM_BUF], be[NUM_BUF];
    snprintf(e, sizeof e, "%d", epoch);
    snprintf(b, sizeof b, "%.17g", best);
    snprintf(be, sizeof be, "%d", best_epoch);
    const char *meta[] = {"epoch", e, best_key, b, "best_epoch", be, "example", prog, NULL};
    if (!sg_checkpoint_save(path, m, opt, meta)) return 0;
    fprintf(stderr, "%s: cannot save %s: %s\n", prog, path, sg_last_error());
    return 1;
}

double ex_meta_num(const char *path, const char *key, double dflt) {
    char buf[NUM_BUF];
    return sg_checkpoint_meta(path, key, buf, sizeof buf) > 0 ? atof(buf) : dflt;
}
