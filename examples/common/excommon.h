/* Shared plumbing for seqgrad's example programs: the common command-line flags, a progress bar
 * with throughput and ETA, a CSV training log, wall-clock timing. Not part of the library. */
#ifndef SG_EXCOMMON_H
#define SG_EXCOMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "seqgrad.h"

/* The most epochs a run (or a checkpoint's epoch count) may have. */
enum { EX_EPOCHS_MAX = 1000000 };

/* Flags every example takes. Parsed by ex_parse_common; unknown flags are left for the example. */
typedef struct {
    const char *data;      /* --data DIR|FILE */
    int epochs;            /* --epochs N */
    int batch;             /* --batch N */
    double lr;             /* --lr X */
    uint64_t seed;         /* --seed N */
    int threads;           /* --threads N: total threads (OpenMP kernels + OpenBLAS + oneDNN) */
    sg_backend backend;    /* --backend auto|composed|onednn */
    const char *out_dir;   /* --out DIR: where the CSV log and checkpoints go (default ".") */
    const char *resume;    /* --resume FILE: checkpoint to continue from */
    bool plot;             /* --plot: PNG of the training curves via gnuplot, if installed */
    bool quiet;            /* --quiet: no progress bar */
    int64_t limit;         /* --limit N: use only the first N training examples (quick runs) */
} ex_args;

/* Parses argv into a (pre-filled with the example's defaults) and returns the index of the first
 * argument it did not understand, or -1 after printing usage (--help) / an error. extra_usage is
 * printed under the common flags by --help. */
int ex_parse(int argc, char **argv, ex_args *a, const char *prog, const char *what, const char *extra_usage,
             int (*extra)(const char *flag, const char *value, void *ctx), void *ctx);

double ex_now(void);

/* Progress bar on stderr: "[epoch 2/10] ####....  45% 1234 ex/s  ETA 0:12  loss 0.345". */
typedef struct {
    int64_t total, done;
    double t0, last_draw;
    const char *label;
    bool quiet;
} ex_progress;
void ex_progress_start(ex_progress *p, const char *label, int64_t total, bool quiet);
void ex_progress_update(ex_progress *p, int64_t done, double loss);
void ex_progress_end(ex_progress *p);

/* CSV log: a header once, then one row per epoch; flushed after every row. */
typedef struct {
    FILE *f;
    char path[1024];
} ex_log;
/* Opens <out_dir>/<name>.csv (appending when resuming and it exists). */
int ex_log_open(ex_log *l, const char *out_dir, const char *name, const char *header, bool append);
void ex_log_row(ex_log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ex_log_close(ex_log *l);

/* Writes <out_dir>/<name>.png with gnuplot from the CSV log (columns x_col vs y_cols, 1-based).
 * Returns 0, or 1 with a message when gnuplot is not installed. */
int ex_plot(const ex_log *l, const char *out_dir, const char *name, int x_col, const int *y_cols, int ny,
            const char *const *titles);
/* Like ex_plot, with one curve per run for each y column: the rows whose column group_col
 * (1-based) holds each of the space-separated values in groups (e.g. "1 2 3" for seeds), so that
 * the runs of a multi-run log are not joined into one line. */
int ex_plot_groups(const ex_log *l, const char *out_dir, const char *name, int x_col, int group_col, const char *groups,
                   const int *y_cols, int ny, const char *const *titles);

/* Checkpoint of model + optimizer with the examples' metadata: "epoch", best_key = best (exact),
 * "best_epoch", "example" = prog, then extra_kv (NULL, or key, value, ..., NULL: e.g. "recipe").
 * On failure prints "<prog>: cannot save <path>: <why>", returns 1. */
int ex_save_checkpoint(const char *prog, const char *path, const sg_model *m, const sg_optim *opt, int epoch,
                       const char *best_key, double best, int best_epoch, const char *const *extra_kv);

/* ---- checkpoint metadata, validated: every value an example reads from a checkpoint goes
 * through one of these. A checkpoint is data from a file; a value that is missing, not a number,
 * out of range or trailing garbage prints "<prog>: cannot resume from <path>: <key> ..." naming
 * the value and the allowed range, and the call returns 1 (0 on success, *out set). */
/* An integer in [lo, hi] (decimal, no sign games: "-3" for lo 0 or "2147483647" for hi 1e6 fail). */
int ex_meta_int(const char *prog, const char *path, const char *key, int64_t lo, int64_t hi, int64_t *out);
/* A real in [lo, hi]; NaN never; "inf" only when hi is INFINITY. */
int ex_meta_real(const char *prog, const char *path, const char *key, double lo, double hi, double *out);
/* A comma-separated list ("" is empty) of reals in [lo, hi], n_min to n_max of them (*n gets the count). */
int ex_meta_reals(const char *prog, const char *path, const char *key, double lo, double hi, int n_min, int n_max,
                  double *out, int *n);
/* The checkpoint's value of key must equal want; else prints both: "<path> was made with <key>
 * '<theirs>', this run has '<want>' (<hint>)". For "recipe" descriptions and the like. */
int ex_meta_same(const char *prog, const char *path, const char *key, const char *want, const char *hint);

/* "<out_dir>/<name>" into buf */
char *ex_path(char *buf, size_t n, const char *out_dir, const char *name);

#endif
