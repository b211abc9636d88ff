/* Shared plumbing for the examples (see excommon.h). */
#include "excommon.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { BAR_WIDTH = 24, SECONDS_PER_MINUTE = 60, NUM_BUF = 64, META_BUF = 2048, META_MAX_KV = 16 };
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
    /* line-buffered: progress lines reach a log as they happen, and stdout and stderr sent to one
     * file keep their order (an error never lands before the banner printed ahead of it) */
    setvbuf(stdout, NULL, _IOLBF, 0);
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
    if (a->epochs < 1 || a->epochs > EX_EPOCHS_MAX || a->batch < 1 || !(a->lr > 0) || a->threads < 1 || a->limit < 0) {
        fprintf(stderr, "%s: --epochs must be in [1, %d], --batch and --threads >= 1, --lr > 0\n", prog, EX_EPOCHS_MAX);
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

int ex_plot_groups(const ex_log *l, const char *out_dir, const char *name, int x_col, int group_col, const char *groups,
                   const int *y_cols, int ny, const char *const *titles) {
    char png[1024], gp[1024], file[512], cmd[2 * 1024];
    snprintf(file, sizeof file, "%s.png", name);
    ex_path(png, sizeof png, out_dir, file);
    snprintf(file, sizeof file, "%s.gp", name);
    ex_path(gp, sizeof gp, out_dir, file);
    FILE *f = fopen(gp, "w"); /* the script stays next to the PNG: rerun it with gnuplot FILE */
    if (!f) {
        fprintf(stderr, "--plot: cannot write %s; no PNG written\n", gp);
        return 1;
    }
    fprintf(f, "set terminal png size 900,500\nset output '%s'\nset datafile separator ','\nset xlabel '%s'\nplot ", png,
            x_col ? "epoch" : "row");
    for (int i = 0; i < ny; i++) {
        if (group_col) /* one curve per group: rows of other groups are undefined (1/0) for it */
            fprintf(f, "%sfor [g in '%s'] '%s' skip 1 using %d:(strcol(%d) eq g ? $%d : 1/0) with linespoints title '%s, seed '.g",
                    i ? ", \\\n     " : "", groups, l->path, x_col, group_col, y_cols[i], titles[i]);
        else
            fprintf(f, "%s'%s' skip 1 using %d:%d with linespoints title '%s'", i ? ", \\\n     " : "", l->path, x_col,
                    y_cols[i], titles[i]);
    }
    fprintf(f, "\n");
    fclose(f);
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "--plot: gnuplot is not installed (apt-get install gnuplot-nox, or scripts/install-deps.sh); "
                        "wrote %s, no PNG\n", gp);
        return 1;
    }
    snprintf(cmd, sizeof cmd, "gnuplot '%s'", gp);
    int rc = system(cmd);
    if (rc == 0) printf("plot: %s (script %s)\n", png, gp);
    else fprintf(stderr, "--plot: gnuplot failed on %s (exit %d); no PNG written\n", gp, rc);
    return rc == 0 ? 0 : 1;
}

int ex_plot(const ex_log *l, const char *out_dir, const char *name, int x_col, const int *y_cols, int ny,
            const char *const *titles) {
    return ex_plot_groups(l, out_dir, name, x_col, 0, "", y_cols, ny, titles);
}

int ex_save_checkpoint(const char *prog, const char *path, const sg_model *m, const sg_optim *opt, int epoch,
                       const char *best_key, double best, int best_epoch, const char *const *extra_kv) {
    char e[NUM_BUF], b[NUM_BUF], be[NUM_BUF];
    snprintf(e, sizeof e, "%d", epoch);
    snprintf(b, sizeof b, "%.17g", best);
    snprintf(be, sizeof be, "%d", best_epoch);
    const char *meta[META_MAX_KV * 2 + 1] = {"epoch", e, best_key, b, "best_epoch", be, "example", prog};
    int k = 8;
    for (int i = 0; extra_kv && extra_kv[i] && k + 2 < META_MAX_KV * 2 + 1; i++) meta[k++] = extra_kv[i];
    meta[k] = NULL;
    if (!sg_checkpoint_save(path, m, opt, meta)) return 0;
    fprintf(stderr, "%s: cannot save %s: %s\n", prog, path, sg_last_error());
    return 1;
}

/* The raw value of key into buf; 1 with a message when absent or unreadable. */
static int meta_raw(const char *prog, const char *path, const char *key, char *buf, size_t n) {
    int r = sg_checkpoint_meta(path, key, buf, n);
    if (r >= 0 && (size_t)r < n) return 0;
    fflush(stdout);
    if (r >= 0) {
        fprintf(stderr, "%s: cannot resume from %s: metadata '%s' is %d bytes long, more than any valid value\n", prog, path,
                key, r);
        return 1;
    }
    fprintf(stderr, "%s: cannot resume from %s: no valid '%s' in its metadata: %s\n", prog, path, key, sg_last_error());
    sg_clear_error();
    return 1;
}

static int meta_bad(const char *prog, const char *path, const char *key, const char *v, const char *want) {
    fflush(stdout);
    fprintf(stderr, "%s: cannot resume from %s: metadata '%s' is \"%s\", expected %s\n", prog, path, key, v, want);
    return 1;
}

int ex_meta_int(const char *prog, const char *path, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    char buf[META_BUF], want[2 * NUM_BUF];
    if (meta_raw(prog, path, key, buf, sizeof buf)) return 1;
    snprintf(want, sizeof want, "an integer in [%lld, %lld]", (long long)lo, (long long)hi);
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (!buf[0] || *end || errno || v < lo || v > hi) return meta_bad(prog, path, key, buf, want);
    *out = v;
    return 0;
}

static bool parse_real(const char *s, const char **end, double lo, double hi, double *out) {
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    *end = e;
    if (e == s || errno == ERANGE || isnan(v) || v < lo || v > hi) return false;
    if (isinf(v) && !isinf(hi)) return false;
    *out = v;
    return true;
}

int ex_meta_real(const char *prog, const char *path, const char *key, double lo, double hi, double *out) {
    char buf[META_BUF], want[2 * NUM_BUF];
    if (meta_raw(prog, path, key, buf, sizeof buf)) return 1;
    snprintf(want, sizeof want, "a number in [%g, %g]", lo, hi);
    const char *end;
    if (!parse_real(buf, &end, lo, hi, out) || *end) return meta_bad(prog, path, key, buf, want);
    return 0;
}

int ex_meta_reals(const char *prog, const char *path, const char *key, double lo, double hi, int n_min, int n_max,
                  double *out, int *n_out) {
    char buf[META_BUF], want[4 * NUM_BUF];
    if (meta_raw(prog, path, key, buf, sizeof buf)) return 1;
    snprintf(want, sizeof want, "%d to %d comma-separated number(s) in [%g, %g]", n_min, n_max, lo, hi);
    int n = 0;
    for (const char *s = buf; *s;) {
        const char *end;
        if (n == n_max || !parse_real(s, &end, lo, hi, &out[n])) return meta_bad(prog, path, key, buf, want);
        n++;
        if (*end == ',' && end[1]) s = end + 1;
        else if (*end) return meta_bad(prog, path, key, buf, want);
        else s = end;
    }
    if (n < n_min) return meta_bad(prog, path, key, buf, want);
    *n_out = n;
    return 0;
}

int ex_meta_same(const char *prog, const char *path, const char *key, const char *want, const char *hint) {
    char buf[META_BUF];
    if (meta_raw(prog, path, key, buf, sizeof buf)) return 1;
    if (!strcmp(buf, want)) return 0;
    fflush(stdout);
    fprintf(stderr, "%s: cannot resume from %s: it was made with %s \"%s\", this run has \"%s\"%s%s\n", prog, path, key,
            buf, want, hint ? " " : "", hint ? hint : "");
    return 1;
}
