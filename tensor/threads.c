/* One thread count for every pool: our OpenMP kernels, OpenBLAS (the OpenMP build, which uses the
 * same libgomp team) and oneDNN (also OpenMP). sg_set_num_threads(N) means N threads in total. */
#include <omp.h>

#include "tensor.h"
#include "../version.h"

void openblas_set_num_threads(int n);

int sg_set_num_threads(int n) {
    if (n < 1) return sg_set_error(SG_ERR_ARG, "sg_set_num_threads: need n >= 1 (got %d)", n);
    (void)sg_library_version(); /* warns once if a pthreads OpenBLAS was loaded */
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
    return SG_OK;
}

int sg_get_num_threads(void) { return omp_get_max_threads(); }
