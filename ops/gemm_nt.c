/* The streaming step's raw product (gemm_nt.h): row-major C = A W^T on oneDNN's sgemm or OpenBLAS.
 * Not an op: no tensors, no tape, no argument checks (the caller's sizes are its own buffers). */
#include <cblas.h>
#if SEQGRAD_HAVE_DNNL
#include <dnnl.h>
#endif

#include "../tensor/tensor_impl.h"
#include "gemm_nt.h"
#include "ops.h"

void sg__gemm_nt(sg_dtype dt, int64_t M, int64_t N, int64_t K, const void *A, int64_t lda, const void *W, void *C,
                 int64_t ldc) {
    if (dt == SG_F64) {
        if (M == 1) cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)N, (int)K, 1, W, (int)K, A, 1, 0, C, 1);
        else cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1, A, (int)lda, W, (int)K, 0,
                         C, (int)ldc);
        return;
    }
#if SEQGRAD_HAVE_DNNL
    if (sg_get_gemm_backend() == SG_GEMM_ONEDNN) {
        dnnl_status_t st = dnnl_sgemm('N', 'T', M, N, K, 1.0f, A, lda, W, K, 0.0f, C, ldc);
        SG_ASSERT(st == dnnl_success); /* sizes are the caller's own buffers: a failure is a library bug */
        return;
    }
#endif
    if (M == 1) cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)N, (int)K, 1, W, (int)K, A, 1, 0, C, 1);
    else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1, A, (int)lda, W, (int)K, 0, C,
                     (int)ldc);
}
