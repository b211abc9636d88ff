/* sg_library_version(): the version and build of the loaded library, the check that the OpenBLAS
 * loaded at run time is the OpenMP build seqgrad was linked against (one thread team, see
 * tensor/threads.c), and the instruction set of the element kernels (tensor/isa.c). Not a feature
 * registry: just what a user needs to report a bug. */
#include "../version.h"

#include "isa_impl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

int openblas_get_parallel(void); /* OpenBLAS: 0 sequential, 1 pthreads, 2 OpenMP */
char *openblas_get_config(void);

enum { BLAS_PARALLEL_OPENMP = 2 };

static sg_version_info info = {
    .major = SEQGRAD_VERSION_MAJOR, .minor = SEQGRAD_VERSION_MINOR, .patch = SEQGRAD_VERSION_PATCH,
    .string = SEQGRAD_VERSION_STRING, .onednn = SEQGRAD_HAVE_DNNL != 0, .isa_dispatch = SG_ISA_DISPATCH != 0,
};
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void probe(void) {
    int par = openblas_get_parallel();
    info.blas_openmp = par == BLAS_PARALLEL_OPENMP;
    info.blas = openblas_get_config();
    info.isa = sg__isa_start_name(); /* reads SEQGRAD_ISA: a bad value is reported at load */
    const char *quiet = getenv("SEQGRAD_NO_BLAS_WARNING");
    if (!info.blas_openmp && !(quiet && *quiet && *quiet != '0'))
        fprintf(stderr,
                "seqgrad: warning: the OpenBLAS loaded at run time is its %s build (%s), not the OpenMP "
                "build seqgrad links: BLAS keeps its own thread pool beside seqgrad's OpenMP team. Load "
                "libopenblas0-openmp's library (check LD_LIBRARY_PATH / LD_PRELOAD, or link with the "
                "flags from pkg-config seqgrad). SEQGRAD_NO_BLAS_WARNING=1 silences this.\n",
                par == 1 ? "pthreads" : "sequential", info.blas ? info.blas : "?");
}

const sg_version_info *sg_library_version(void) {
    pthread_once(&once, probe);
    return &info;
}

/* in the shared library: check as soon as it is loaded */
__attribute__((constructor)) static void check_at_load(void) { (void)sg_library_version(); }
