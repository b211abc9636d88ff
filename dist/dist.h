/** @file
 * seqgrad data-parallel training over MPI (Open MPI): a communicator, model checks and broadcast,
 * and gradient averaging in buckets that overlaps the backward. Every rank ends a step with
 * bitwise-identical gradients by construction: each element is summed exactly once, by the rank
 * that owns its shard, in rank order 0..N-1, and the result is sent to every rank (a
 * reduce-scatter then an allgather, both point-to-point).
 * Not a transport of its own, not model parallelism, no fault tolerance beyond ending the job
 * cleanly. Built without MPI, the same API gives a one-process world (rank 0 of 1) in which every
 * call is a no-op, so programs need no \#ifdef; sg_dist_available() tells the two apart.
 *
 * Threads: every call is made from one thread, the one that runs sg_backward (MPI is initialised
 * at MPI_THREAD_FUNNELED). Ownership: sg_dist and sg_dist_grads objects are owned by the caller
 * and freed with their own free call; models and optimizers are borrowed.
 *
 * Library libseqgrad_dist (CMake: find_package(seqgrad COMPONENTS dist), target seqgrad::dist or
 * seqgrad::dist_static; pkg-config: seqgrad-dist); include <seqgrad/dist/dist.h>. */
#ifndef SG_DIST_H
#define SG_DIST_H

#include "../nn/model.h"
#include "../optim/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A group of processes training one model (an MPI communicator). */
typedef struct sg_dist sg_dist;

/** sg_dist_abort's attributes: never returns, printf-style format (checked by GCC and Clang). */
#define SG_DIST_ABORT_ATTRS __attribute__((noreturn, format(printf, 3, 4)))

/** True when seqgrad was built with MPI (SEQGRAD_WITH_MPI); false in the one-process fallback. */
bool sg_dist_available(void);

/** Initialises MPI if the application has not (MPI_Init_thread, FUNNELED; argc/argv may be NULL)
 * and returns a group over MPI_COMM_WORLD in *out. Without MPI, a one-process group. Returns 0, or
 * a negative sg_status with sg_last_error() set (MPI could not start, too low a thread level);
 * *out is then NULL. Free with sg_dist_finalize. */
int sg_dist_init(int *argc, char ***argv, sg_dist **out);
/** Wraps a communicator the application already has: mpi_comm points to an MPI_Comm (it is
 * duplicated, so seqgrad's messages never mix with the application's). MPI stays the
 * application's to finalize. Returns 0 or a negative status (NULL argument, MPI not initialised,
 * or built without MPI: SG_ERR_STATE). */
int sg_dist_adopt(const void *mpi_comm, sg_dist **out);
/** Frees the group; calls MPI_Finalize when sg_dist_init initialised MPI. NULL is a no-op. */
void sg_dist_finalize(sg_dist *d);
/** This process's rank in [0, size) (0 for NULL d). */
int sg_dist_rank(const sg_dist *d);
/** The number of processes in the group (1 for NULL d). */
int sg_dist_size(const sg_dist *d);
/** Waits for every rank. Returns 0 or SG_ERR_STATE naming the MPI failure. */
int sg_dist_barrier(sg_dist *d);
/** Ends the whole job: prints "rank R: <message>" on stderr and calls MPI_Abort(code) (exit(code)
 * without MPI). For a program's fatal path; the library itself never calls it. Never returns. */
void sg_dist_abort(sg_dist *d, int code, const char *fmt, ...) SG_DIST_ABORT_ATTRS;

/** Sums n doubles across ranks in place, in rank order (so every rank gets the same bits): for
 * losses, example counts and metrics. Returns 0 or a negative status. */
int sg_dist_sum(sg_dist *d, double *v, int n);
/** Logical OR of a flag across ranks, e.g. "some rank failed to load its data": lets every rank
 * take the same branch instead of one rank waiting forever. Returns the OR (0/1), or a negative
 * status. */
int sg_dist_any(sg_dist *d, bool flag);

/** A 64-bit FNV-1a hash of the model's dtype, parameter names and shapes (not the values). */
uint64_t sg_dist_shape_hash(const sg_model *m);
/** A 64-bit FNV-1a hash of the model's flat parameter bytes. */
uint64_t sg_dist_param_hash(const sg_model *m);
/** Start-up check: every rank has a model of the same dtype, parameter names and shapes. A
 * collective of fixed size, so a mismatch never hangs: returns SG_ERR_SHAPE naming the first rank
 * whose model differs from rank 0's (with both parameter counts) on every rank, else 0. */
int sg_dist_check_model(sg_dist *d, const sg_model *m);
/** Debug check: every rank's parameters are bitwise equal (hash of the flat block gathered from
 * every rank). Returns SG_ERR_STATE naming the first rank that differs from rank 0, else 0. */
int sg_dist_check_params(sg_dist *d, const sg_model *m);
/** Copies root's parameters, and when o is not NULL its optimizer state buffers and step count,
 * to every rank (after sg_dist_check_model; o's kind must match on every rank). Returns 0 or a
 * negative status. */
int sg_dist_broadcast_model(sg_dist *d, sg_model *m, sg_optim *o, int root);

/** Gradient averaging for one model: its flat gradient block split into buckets of whole
 * parameters, taken in reverse declaration order (the order a stack's backward finishes them). */
typedef struct sg_dist_grads sg_dist_grads;

/** Default bucket size in bytes (PyTorch DDP's 25 MB). */
#define SG_DIST_BUCKET_BYTES ((size_t)25 << 20)

/** Creates the averager for a finalized model m (borrowed; must outlive it) over group d.
 * bucket_bytes: target bucket size (0: SG_DIST_BUCKET_BYTES); a parameter larger than it gets a
 * bucket of its own. NULL with a message on bad arguments or out of memory. */
sg_dist_grads *sg_dist_grads_new(sg_dist *d, sg_model *m, size_t bucket_bytes);
/** Frees it (waits for nothing: call after sg_dist_grads_end). NULL is a no-op. */
void sg_dist_grads_free(sg_dist_grads *g);
/** Number of buckets (0 for NULL g). */
int sg_dist_grads_buckets(const sg_dist_grads *g);
/** Bucket b's element range [*lo, *hi) in the flat gradient block (buckets are numbered in the
 * order the backward completes them: bucket 0 holds the last parameters). Returns 0, SG_ERR_NULL
 * or SG_ERR_ARG (b out of range). */
int sg_dist_grads_bucket_range(const sg_dist_grads *g, int b, int64_t *lo, int64_t *hi);

/** Starts a step before sg_backward: installs a grad-ready hook (autograd/autograd.h) on the
 * calling thread, so a bucket's communication starts as soon as its gradients are final. The
 * result of the step is sum over ranks r of weight_r * grad_r; weight = 1/N averages, and
 * weight = n_r / n (this rank's examples over the global batch) turns per-rank mean losses into
 * the gradient of the combined batch's mean loss. Every rank sends its weight to every other here
 * (non-blocking); the owner of each shard applies them as it sums. Returns 0 or a negative status
 * (a step already begun, SG_ERR_STATE naming an MPI failure). */
int sg_dist_grads_begin(sg_dist_grads *g, double weight);
/** Ends the step after sg_backward: removes the hook, starts the buckets not yet started, waits
 * for all and leaves the reduced gradient in the model's gradient block, bitwise equal on every
 * rank. Every rank must call it once per begin. Returns 0 or SG_ERR_STATE naming the MPI failure. */
int sg_dist_grads_end(sg_dist_grads *g);
/** Begin + end without a backward in between: a blocking reduction of the whole block. */
int sg_dist_grads_allreduce(sg_dist_grads *g, double weight);

/** Counters since creation or the last reset (all times wall-clock seconds, summed over steps).
 * The fraction of the allreduce hidden behind the backward is 1 - t_exposed / t_comm. Both include
 * waiting for a slower rank: on a loaded machine that, not the transport, can dominate. */
typedef struct {
    int64_t steps;         /**< begin/end pairs */
    int64_t bytes_sent;    /**< bytes this rank sent (both phases) */
    double t_comm;         /**< per step: from the first bucket's start to the last bucket's completion */
    double t_exposed;      /**< time spent in sg_dist_grads_end: communication not hidden */
    double t_in_backward;  /**< time spent in the hook during the backward (posting, summing) */
    int64_t buckets_early; /**< buckets started during the backward (the rest start in end) */
    int64_t bytes_dense;   /**< what this rank would have sent with every bucket dense (both phases) */
    int64_t buckets_sparse; /**< bucket reductions that sent only the blocks nonzero on some rank */
} sg_dist_stats;
/** Copies the counters into *out (zeros for NULL g; NULL out is a no-op). */
void sg_dist_grads_stats(const sg_dist_grads *g, sg_dist_stats *out);
/** Sets the counters to zero (NULL g is a no-op). */
void sg_dist_grads_reset_stats(sg_dist_grads *g);

#ifdef __cplusplus
}
#endif

#endif
