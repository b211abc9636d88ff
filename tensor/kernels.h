/* Element-kernel infrastructure shared by ops: a broadcasting strided iterator, OpenMP policy,
 * fills, copies, dtype conversion and deterministic reduce-to-shape.
 * Internal: not installed. Kernels never record graph nodes and never set user-facing errors
 * except for allocation failure. */
#ifndef SG_KERNELS_H
#define SG_KERNELS_H

#include "tensor_impl.h"

#include <omp.h>

/* Below this many elements a kernel runs on one thread: forking costs more than it saves. */
#define SG_PAR_MIN 32768
#define SG_PRAGMA(x) _Pragma(#x)
/* SG_PAR_FOR(cond, for (...) body): the loop as an OpenMP parallel for when cond holds (typically
 * total work >= SG_PAR_MIN) and more than one thread is allowed here, else as a plain loop. Static
 * schedule: each thread gets the same slice for a given size and thread count, so results are
 * reproducible and every output element is computed by exactly one thread in a fixed order; one
 * thread runs the iterations in order, exactly as the plain loop does. The plain branch is not an
 * `if(cond)` clause on purpose: libgomp still forms a team of one for a false clause and ends it
 * with a futex system call, about 0.4 us per op, thousands of times per training step. */
#define SG_PAR_FOR(cond, ...)                                                                      \
    if ((cond) && omp_get_max_threads() > 1) {                                                     \
        SG_PRAGMA(omp parallel for schedule(static))                                               \
        __VA_ARGS__                                                                                \
    } else {                                                                                       \
        __VA_ARGS__                                                                                \
    }

enum {
    SG_ITER_MAXOPS = 4,
    SG_ITER_MIN_ROWS = 64,    /* fewer rows than this: split the inner run into blocks */
    SG_ITER_BLOCK_MAX = 4096, /* block lengths tried, halving, for that split */
    SG_ITER_BLOCK_MIN = 256,
    SG_SUMROWS_BLOCK = 256, /* columns per task when summing rows (bias gradients) */
};

/* Iteration over an output shape with up to SG_ITER_MAXOPS operands, each broadcast to it
 * (operand 0 is usually the output). Dimensions are coalesced where every operand allows, the
 * last (innermost) dimension is iterated by the kernel with per-operand stride inner_stride[k]. */
typedef struct {
    int nops;
    int ndim; /* after coalescing, >= 1 */
    int64_t shape[SG_MAX_DIMS];
    int64_t stride[SG_ITER_MAXOPS][SG_MAX_DIMS];
    int64_t inner;                        /* shape[ndim-1] */
    int64_t inner_stride[SG_ITER_MAXOPS]; /* stride[k][ndim-1] */
    int64_t outer;                        /* product of the other dims */
    int64_t numel;
} sg_iter;

/* ops[k] must be broadcastable to (ndim, shape) (checked by the caller). */
void sg__iter_init(sg_iter *it, int nops, const sg_tensor *const *ops, int ndim, const int64_t *shape);
/* Element offsets (relative to each operand's first element) of outer row o. */
static inline void sg__iter_row(const sg_iter *it, int64_t o, int64_t *off) {
    for (int k = 0; k < it->nops; k++) off[k] = 0;
    for (int d = it->ndim - 2; d >= 0; d--) {
        int64_t s = it->shape[d], i = o % s;
        o /= s;
        for (int k = 0; k < it->nops; k++) off[k] += i * it->stride[k][d];
    }
}

/* Broadcast the shapes of a and b (NumPy rules) into out; false if incompatible. */
bool sg__broadcast_shape(int an, const int64_t *as, int bn, const int64_t *bs, int *on, int64_t *os);

void sg__kfill(sg_tensor *t, double v);
/* dst = src elementwise (same logical shape, any strides, converting dtype). */
void sg__kcopy(sg_tensor *dst, const sg_tensor *src);
/* dst += src (same shape and dtype, any strides). */
void sg__kaccum(sg_tensor *dst, const sg_tensor *src);
/* n contiguous elements, converting dtype. */
void sg__convert(void *dst, sg_dtype ddt, const void *src, sg_dtype sdt, int64_t n);
/* New contiguous tensor (unregistered, refcount 1) = src summed down to (ndim, shape), where src's
 * shape is a broadcast of it. Each output element is summed in a fixed order (deterministic). */
sg_tensor *sg__sum_to_shape(const sg_tensor *src, int ndim, const int64_t *shape);
/* New contiguous copy (unregistered); src itself returned with a new reference when contiguous. */
sg_tensor *sg__contig(const sg_tensor *src);

#endif
