/** @file
 * seqgrad tensors: n-d arrays of float32 or float64 with shape, strides and offset over a
 * reference-counted storage. Views share storage. This header knows nothing of graphs except the
 * two ownership kinds below; ops and gradients live in autograd/ and ops/.
 *
 * Ownership. A tensor is either
 *   - user-owned: made by a creation function here (sg_zeros, sg_from_buffer, sg_copy, ...).
 *     The caller frees it with sg_tensor_free(); it survives sg_tape_clear().
 *   - tape-owned: returned by an op (sg_add, sg_matmul, ...). The thread's tape frees it in
 *     sg_tape_clear() / sg_tape_release(); never pass it to sg_tensor_free() (an error, not a crash).
 * A tensor passed to an op stays alive while the tape needs it even if the user frees it meanwhile.
 * Every public call checks that its tensor arguments are live; a freed pointer gives SG_ERR_STATE.
 *
 * Errors: functions returning a pointer return NULL on failure, those returning int return a
 * negative sg_status; the message is in sg_last_error(). A NULL tensor argument while an error is
 * already recorded is taken as propagation of that error (no new message). */
#ifndef SG_TENSOR_H
#define SG_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Most dimensions a tensor can have. */
#define SG_MAX_DIMS 8

/** Element type of a tensor. */
typedef enum {
    SG_F32 = 0,    /**< float (32-bit IEEE) */
    SG_F64 = 1,    /**< double (64-bit IEEE): what gradchecks use */
    SG_DTYPE_COUNT /**< number of dtypes (not a dtype) */
} sg_dtype;

/** An n-dimensional array (a view of reference-counted storage), opaque. User-owned when made by a
 * creation call (free with sg_tensor_free()), tape-owned when returned by an op (freed by
 * sg_tape_clear()). */
typedef struct sg_tensor sg_tensor;

/** "float32" or "float64"; "invalid-dtype" for an invalid dt. Static string. */
const char *sg_dtype_name(sg_dtype dt);
/** Bytes per element of dt: 8 for SG_F64, else 4. */
size_t sg_dtype_size(sg_dtype dt);

/* ---- creation (user-owned results) ---- */
/** New user-owned tensor of dtype dt with uninitialised values. shape: ndim sizes, each >= 0;
 * ndim 0 is a scalar. Returns NULL (SG_ERR_ARG, SG_ERR_MEM) on a bad shape or out of memory. */
sg_tensor *sg_empty(sg_dtype dt, int ndim, const int64_t *shape);
/** Like sg_empty(), filled with 0. */
sg_tensor *sg_zeros(sg_dtype dt, int ndim, const int64_t *shape);
/** Like sg_empty(), filled with 1. */
sg_tensor *sg_ones(sg_dtype dt, int ndim, const int64_t *shape);
/** Like sg_empty(), every element value (rounded to dt). */
sg_tensor *sg_full(sg_dtype dt, int ndim, const int64_t *shape, double value);
/** A user-owned 0-d tensor holding value. NULL on a bad dt or out of memory. */
sg_tensor *sg_scalar(sg_dtype dt, double value);
/** 1-D [start, start+step, ...) with n = ceil((stop-start)/step) elements; step != 0. */
sg_tensor *sg_arange(sg_dtype dt, double start, double stop, double step);
/** Copies numel elements of type src_dt from buf (contiguous, row-major) converting to dt. */
sg_tensor *sg_from_buffer(sg_dtype dt, int ndim, const int64_t *shape, const void *buf,
                          sg_dtype src_dt);
/** A random stream for seeded fills, counter-based (Philox4x32-10): element i of a call with
 * (seed, offset) is the same whatever the thread count. Each call on an sg_rng advances it by numel.
 * A plain value: copy it to fork a stream, no destructor. */
typedef struct {
    uint64_t seed;   /**< the Philox key */
    uint64_t offset; /**< counters consumed so far */
} sg_rng;
/** A stream with the given seed at offset 0. */
sg_rng sg_rng_new(uint64_t seed);
/** User-owned tensor (like sg_empty()) of independent uniform(lo, hi) values drawn from rng
 * (advanced by numel). NULL with an error on a bad shape or rng. */
sg_tensor *sg_uniform(sg_rng *rng, sg_dtype dt, int ndim, const int64_t *shape, double lo, double hi);
/** User-owned tensor of independent normal(mean, std) values drawn from rng (advanced by numel).
 * NULL with an error on a bad shape or rng. */
sg_tensor *sg_normal(sg_rng *rng, sg_dtype dt, int ndim, const int64_t *shape, double mean, double std);
/** In-place fills of an existing tensor (any strides); bump its storage version. */
int sg_fill_uniform(sg_tensor *t, sg_rng *rng, double lo, double hi);
/** In place: normal(mean, std) values from rng. Returns 0 or a negative status. */
int sg_fill_normal(sg_tensor *t, sg_rng *rng, double mean, double std);
/** In place: every element value. Returns 0 or a negative status. */
int sg_fill(sg_tensor *t, double value);
/** Next uniform double in [0,1) from the generator (for shuffling, sampling). */
double sg_rng_uniform(sg_rng *rng);
/** Uniform integer in [0, n) (n > 0). */
uint64_t sg_rng_below(sg_rng *rng, uint64_t n);

/** User-owned deep copy: contiguous, same dtype, no gradient, no graph. Works on any live tensor
 * (also tape-owned ones: the way to keep a value beyond sg_tape_clear()). */
sg_tensor *sg_copy(const sg_tensor *t);
/** User-owned contiguous copy converted to dt (no graph; the differentiable one is sg_to_dtype). */
sg_tensor *sg_copy_as(const sg_tensor *t, sg_dtype dt);

/** Drop the caller's reference to a user-owned tensor (NULL is a no-op). Returns 0, or
 * SG_ERR_STATE for a tape-owned or already freed tensor. */
int sg_tensor_free(sg_tensor *t);

/* ---- inspection ---- */
/** True when t is a tensor that has not been freed or released (checked in the live-pointer
 * registry; never dereferences a dead t). */
bool sg_is_live(const sg_tensor *t);
/** Element type of t (SG_F32 with an error for a dead tensor). */
sg_dtype sg_dtype_of(const sg_tensor *t);
/** Number of dimensions (0 for a scalar), -1 on a bad call. */
int sg_ndim(const sg_tensor *t);
/** Size of dimension d; negative d counts from the end. -1 on a bad call. */
int64_t sg_size(const sg_tensor *t, int d);
/** Copies the ndim sizes into out (room for SG_MAX_DIMS). Returns ndim or a negative status. */
int sg_shape(const sg_tensor *t, int64_t *out);
/** Number of elements (1 for a scalar), -1 on a bad call. */
int64_t sg_numel(const sg_tensor *t);
/** True when t is laid out row-major without gaps. */
bool sg_is_contiguous(const sg_tensor *t);
/** True when a and b have the same dimensions and sizes. */
bool sg_same_shape(const sg_tensor *a, const sg_tensor *b);
/** "(2,3,4)" into buf; returns buf. */
char *sg_shape_str(const sg_tensor *t, char *buf, size_t n);

/* ---- element access (for tests, loaders and small user loops; not for hot paths) ---- */
/** Value at a flat row-major index of the logical shape, as double. NaN on a bad call. */
double sg_get_flat(const sg_tensor *t, int64_t i);
/** Sets the element at a flat row-major index to v (rounded to t's dtype). Returns 0 or a negative
 * status (SG_ERR_ARG for an index out of range). */
int sg_set_flat(sg_tensor *t, int64_t i, double v);
/** Value of a 0-d or 1-element tensor. NaN on a bad call. */
double sg_item(const sg_tensor *t);
/** Copy all elements, row-major, converted to dst_dt, into buf (numel elements). */
int sg_to_buffer(const sg_tensor *t, void *buf, sg_dtype dst_dt);
/** Pointer to the first element when t is contiguous and of dtype dt, else NULL (with an error).
 * Writing through it must be followed by sg_mark_modified(t). The pointer is borrowed. */
float *sg_data_f32(sg_tensor *t);
/** As sg_data_f32(), for a float64 tensor. */
double *sg_data_f64(sg_tensor *t);
/** Read-only pointer to the first element of a contiguous tensor of any dtype, else NULL (with an
 * error). Borrowed. */
const void *sg_data_const(const sg_tensor *t);
/** Tell the library the data changed in place (bumps the storage version counter that caches
 * and the autograd version check read). */
void sg_mark_modified(sg_tensor *t);
/** The storage version counter of t: bumped by every in-place write (sg_mark_modified(), fills,
 * optimizer steps). 0 on a bad call. */
uint64_t sg_version(const sg_tensor *t);

/* ---- gradients of leaves (see autograd/autograd.h for the tape) ---- */
/** Marks a user-owned leaf as a parameter whose gradient backward accumulates (on = true) or not.
 * Returns 0 or a negative status (SG_ERR_STATE for a tape-owned tensor). */
int sg_set_requires_grad(sg_tensor *t, bool on);
/** True when gradients flow to or through t (a leaf set by sg_set_requires_grad(), or an op result on one). */
bool sg_requires_grad(const sg_tensor *t);
/** The accumulated gradient of a leaf, or NULL before any backward. Borrowed: owned by t. */
sg_tensor *sg_grad(const sg_tensor *t);

/* ---- memory ---- */
/** Freed tensor memory is kept in a cache (at most 1 GiB) so each training step reuses the last
 * step's buffers; this returns the cache to the system (also done at exit). */
void sg_release_cached_memory(void);

/* ---- threads ---- */
/** Sets the total number of threads for seqgrad's OpenMP kernels, OpenBLAS and oneDNN together
 *  (n >= 1; else SG_ERR_ARG and nothing changes). Process-wide: the calling thread uses n at
 *  once, and every other thread, including threads started later, adopts n at its next seqgrad
 *  call that takes a tensor (OpenMP's team size is per thread; seqgrad sets it for that thread
 *  then). A thread's own omp_set_num_threads after that holds until the next sg_set_num_threads.
 *  Inside a parallel region the region's setting is left alone. Returns SG_OK or the status. */
int sg_set_num_threads(int n);
/** The team size the calling thread's next parallel region will use (after adopting the
 *  process-wide setting, as sg_set_num_threads describes): OMP_NUM_THREADS or the core count
 *  before any sg_set_num_threads. */
int sg_get_num_threads(void);

/* ---- instruction set of seqgrad's own element kernels ---- */
/** Instruction-set levels of seqgrad's own element kernels (the fused gate ops, layer norm,
 *  element-wise ops, copies, optimizer updates). oneDNN and OpenBLAS choose theirs themselves. */
typedef enum {
    SG_ISA_BASELINE = 0, /**< what the library was compiled for (x86-64 baseline in the portable build) */
    SG_ISA_AVX2 = 1,     /**< AVX2 + FMA (x86-64-v3 class CPUs) */
    SG_ISA_AVX512 = 2,   /**< AVX-512 F/CD/BW/DQ/VL (x86-64-v4 class CPUs) */
    SG_ISA_COUNT = 3     /**< number of levels */
} sg_isa;
/** Makes seqgrad's element kernels use level isa from now on, process-wide. Each level gives
 *  bitwise the same results (only speed differs); SG_ISA_BASELINE is for comparing and timing.
 *  Returns SG_OK; SG_ERR_ARG for a value outside sg_isa; SG_ERR_UNSUPPORTED (nothing changes) when
 *  this CPU lacks the level or the build has no run-time dispatch (non-x86, or
 *  -DSEQGRAD_NATIVE=ON: then only SG_ISA_BASELINE, the build's own flags, exists). Without a call
 *  the level is the best the CPU has, or the environment variable SEQGRAD_ISA
 *  (baseline|avx2|avx512) read once at load. */
int sg_set_isa(sg_isa isa);
/** The level seqgrad's element kernels use now. */
sg_isa sg_get_isa(void);
/** True when sg_set_isa(isa) would succeed: the CPU has the level and the build dispatches to it. */
bool sg_isa_supported(sg_isa isa);
/** The name of a level: "baseline", "avx2", "avx512" (the SEQGRAD_ISA spellings), "?" outside sg_isa.
 *  Static, never NULL. */
const char *sg_isa_name(sg_isa isa);

#ifdef __cplusplus
}
#endif

#endif
