/* Internal: the raw matrix product of the streaming step (nn/rnn_stream.c), on the library's GEMM
 * backends without tensors, checks or graph. Not installed. */
#ifndef SG_GEMM_NT_H
#define SG_GEMM_NT_H

#include "../tensor/tensor.h"

/* C (M, N) (row stride ldc) = A (M, K) (row stride lda) W^T, W (N, K) row-major contiguous, in dt.
 * float32 runs on sg_get_gemm_backend()'s sgemm (oneDNN's JIT sgemm is the faster one for M = 1),
 * float64 on OpenBLAS dgemm. One thread's fixed-order sums at a given thread count. */
void sg__gemm_nt(sg_dtype dt, int64_t M, int64_t N, int64_t K, const void *A, int64_t lda, const void *W, void *C,
                 int64_t ldc);

#endif
