/* Internal deterministic whole-tensor sums shared by reductions and losses. Not installed.
 * Results depend only on the data and SG_SUM_BLOCK, never on the thread count. */
#ifndef SG_REDUCE_KERNELS_H
#define SG_REDUCE_KERNELS_H

#include "../tensor/kernels.h"

/* Elements per block of a whole-tensor sum. Each block is summed sequentially in row-major order
 * (in double), blocks run in parallel, and the block partials are added in block order. A fixed
 * constant, so sums are bitwise identical for any thread count. */
enum { SG_SUM_BLOCK = 4096 };

/* Sum of all elements of t (any strides, either dtype), in double, by the block scheme above.
 * Never fails (without memory for the partials the same blocks are summed on one thread). */
double sg__sum_blocks(const sg_tensor *t);
/* The same scheme over n contiguous doubles. */
double sg__sum_blocks_f64(const double *p, int64_t n);

#endif
