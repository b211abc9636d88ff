/* LD_PRELOAD shim for the blas_pool_warning test: makes the loaded OpenBLAS report that it is the
 * pthreads build (openblas_get_parallel() == 1), as when the alternatives link or LD_LIBRARY_PATH
 * swaps libopenblas-pthread in. Not linked into anything. */
int openblas_get_parallel(void);
int openblas_get_parallel(void) { return 1; }
