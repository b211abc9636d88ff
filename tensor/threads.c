/* One thread count for every pool: our OpenMP kernels, OpenBLAS (the OpenMP build, which uses the
 * same libgomp team) and oneDNN (also OpenMP). sg_set_num_threads(N) means N threads in total.
 *
 * Process-wide: OpenMP's team size (nthreads-var) belongs to each thread, and a new thread starts
 * from OMP_NUM_THREADS. So the setting is kept here as a global with a generation number, and
 * every thread adopts it (omp_set_num_threads) at its next seqgrad call that takes a tensor
 * (sg__threads_sync from sg__check_arg), before any parallel region of that call. Inside a
 * parallel region (level > 0, e.g. the parts of sg__tape_parallel) nothing is changed. */
#include <omp.h>

#include "tensor_impl.h"
#include "../version.h"

void openblas_set_num_threads(int n);

static int g_threads;           /* the last sg_set_num_threads value (0: never set) */
static unsigned g_gen;          /* bumped by each sg_set_num_threads */
static _Thread_local unsigned t_gen; /* the generation this thread has adopted */

void sg__threads_sync(void) {
    unsigned gen = __atomic_load_n(&g_gen, __ATOMIC_ACQUIRE);
    if (gen == t_gen || omp_get_level() > 0) return;
    t_gen = gen;
    omp_set_num_threads(__atomic_load_n(&g_threads, __ATOMIC_RELAXED));
}

int sg_set_num_threads(int n) {
    if (n < 1) return sg_set_error(SG_ERR_ARG, "sg_set_num_threads: need n >= 1 (got %d)", n);
    (void)sg_library_version(); /* warns once if a pthreads OpenBLAS was loaded */
    __atomic_store_n(&g_threads, n, __ATOMIC_RELAXED);
    t_gen = __atomic_add_fetch(&g_gen, 1, __ATOMIC_RELEASE);
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
    return SG_OK;
}

int sg_get_num_threads(void) {
    sg__threads_sync();
    return omp_get_max_threads();
}
