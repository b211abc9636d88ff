/* Data-parallel plumbing shared by the examples (mnist_row, imdb_sentiment, char_lm) so each runs
 * unchanged under `mpirun -np N` and alone: rank 0 prints, logs and writes checkpoints, every rank
 * trains on its share of each global batch (--batch is the global batch) and the gradients are
 * averaged by dist/ with the uneven-batch weighting. Without MPI, or with one process, every call
 * is a no-op. Not part of the library. Environment: SEQGRAD_DIST_DEBUG=1 checks after every step
 * that all ranks hold bitwise-equal parameters (a hash gathered from every rank);
 * SEQGRAD_DIST_BUCKET_KB=K sets the gradient bucket size (default dist/'s 25 MB);
 * SEQGRAD_EX_PROFILE=1 adds process CPU time to the per-rank step-time breakdown (ex_dist_phase). */
#ifndef SG_EXDIST_H
#define SG_EXDIST_H

#include <stdbool.h>
#include <stdint.h>

#include "seqgrad.h"
#include "dist/dist.h" /* libseqgrad_dist */

/* Where a training step's time goes, per rank: the example marks the start of each phase with
 * ex_dist_phase; EX_PH_IDLE (evaluation, checkpoints, start-up) is not counted, so the counted
 * phases add up to the training time the example reports. */
typedef enum {
    EX_PH_BATCH,    /* building the batch: gather, copy, labels */
    EX_PH_FORWARD,  /* forward and loss */
    EX_PH_BACKWARD, /* sg_backward (including the buckets started from its hook) */
    EX_PH_WAIT,     /* ex_dist_end: the allreduce not hidden behind the backward */
    EX_PH_UPDATE,   /* clipping and the optimizer step */
    EX_PH_OTHER,    /* zeroing, tape clearing, progress, the rest of the loop */
    EX_PH_COUNT,
    EX_PH_IDLE = EX_PH_COUNT
} ex_phase;

typedef struct {
    sg_dist *d;
    sg_dist_grads *g;
    int rank, size;
    bool debug;
    int64_t step_examples; /* examples of the current global batch, set by ex_dist_begin */
    bool profile;          /* SEQGRAD_EX_PROFILE: also sample process CPU time */
    ex_phase phase;        /* the phase being timed (EX_PH_IDLE: none) */
    double mark_wall, mark_cpu;                      /* when it started */
    double ph_wall[EX_PH_COUNT], ph_cpu[EX_PH_COUNT]; /* seconds per phase, summed over steps */
    int64_t steps;                                   /* ex_dist_begin calls */
} ex_dist;

/* Starts MPI (or the one-process world). On ranks other than 0 stdout goes to /dev/null, so the
 * examples' printf calls need no guard. Returns 0, or 1 after printing why. */
int ex_dist_start(ex_dist *x, int *argc, char ***argv, const char *prog);
/* After the model and optimizer are built (and resumed from a checkpoint on every rank): checks
 * that every rank has the same model, broadcasts rank 0's parameters and optimizer state, creates
 * the gradient averager. Returns 0, or a negative status with sg_last_error() set. */
int ex_dist_setup(ex_dist *x, sg_model *m, sg_optim *o);
/* Checks the global batch fits the process count (every rank must get an example of a full batch).
 * Returns 0, or 1 after printing why (the same on every rank). */
int ex_dist_check_batch(const ex_dist *x, const char *prog, int64_t batch);
/* This rank's share of n items: [*off, *off + *cnt), contiguous, sizes differing by at most one. */
void ex_dist_share(const ex_dist *x, int64_t n, int64_t *off, int64_t *cnt);
/* This rank's share of a batch idx[0..n), interleaved: rank r takes idx[r], idx[r + N], ... into
 * out (room for n / N + 1). A batch sorted by length so gives every rank the same mix of lengths
 * (contiguous shares would give the last rank the longest reviews and every other rank a wait for
 * it each step). Sizes differ by at most one, as ex_dist_share's. Returns the count. */
int64_t ex_dist_pick(const ex_dist *x, const int64_t *idx, int64_t n, int64_t *out);
/* Before the backward of a global batch of B examples of which this rank has n (n may be 0:
 * then skip forward and backward but still call ex_dist_end). Returns 0 or a negative status. */
int ex_dist_begin(ex_dist *x, int64_t n, int64_t B);
/* After the backward: every rank now holds the gradient of the global batch's mean loss. With
 * SEQGRAD_DIST_DEBUG, call ex_dist_check after the optimizer step. Returns 0 or a status. */
int ex_dist_end(ex_dist *x);
/* The debug check (no-op unless SEQGRAD_DIST_DEBUG is set): every rank's parameters are equal. */
int ex_dist_check(ex_dist *x, const sg_model *m);
/* Sums n values over ranks in place (metrics: loss sums, correct counts). Returns 0 or a status. */
int ex_dist_sum(ex_dist *x, double *v, int n);
/* rank 0? */
static inline bool ex_dist_root(const ex_dist *x) { return x->rank == 0; }
/* A failure on this rank with more than one process: prints "rank R of N: <prog>: error: <msg>"
 * and ends the whole job (MPI_Abort), so no rank waits forever. With one process it returns and
 * the example exits as it always did. */
void ex_dist_fail(ex_dist *x, const char *prog, const char *msg);
/* With more than one process, prints (rank 0) the gradient traffic per step and the time this rank
 * waited for it after the backward (sg_dist_stats). */
void ex_dist_report(const ex_dist *x, const char *prog);
/* Ends the phase being timed and starts p (EX_PH_IDLE: stop timing). */
void ex_dist_phase(ex_dist *x, ex_phase p);
/* Prints (rank 0) every rank's mean time per training step in each phase, in ms: one line per rank
 * "<prog>: step time rank R of N (ms): batch .. forward .. backward .. wait .. update .. other ..
 * total ..", with the process CPU time after a slash when SEQGRAD_EX_PROFILE is set. A collective:
 * every rank calls it. */
void ex_dist_report_phases(ex_dist *x, const char *prog);
/* Frees the averager and ends MPI. */
void ex_dist_stop(ex_dist *x);

#endif
