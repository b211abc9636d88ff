/** @file version.h
 * seqgrad's version: compile-time macros (the one place the version is set; CMakeLists.txt reads
 * it from here) and a run-time call describing the library actually loaded, its oneDNN backend,
 * the OpenBLAS threading it found and the instruction set of its own kernels. */
#ifndef SEQGRAD_VERSION_H
#define SEQGRAD_VERSION_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Major version: bumped with incompatible API or ABI changes (also the shared library's soname). */
#define SEQGRAD_VERSION_MAJOR 0
/** Minor version: bumped with compatible additions. */
#define SEQGRAD_VERSION_MINOR 1
/** Patch version: bumped with fixes only. */
#define SEQGRAD_VERSION_PATCH 0
/** The version as one integer, MAJOR * 10000 + MINOR * 100 + PATCH, for `#if` comparisons. */
#define SEQGRAD_VERSION (SEQGRAD_VERSION_MAJOR * 10000 + SEQGRAD_VERSION_MINOR * 100 + SEQGRAD_VERSION_PATCH)
/** The version as a string, "MAJOR.MINOR.PATCH". */
#define SEQGRAD_VERSION_STRING "0.1.0"

/** What sg_library_version() reports about the library loaded at run time (which may be newer than the
 * headers a program was compiled with). Fields are only ever added at the end. */
typedef struct sg_version_info {
    int major;            /**< SEQGRAD_VERSION_MAJOR of the library */
    int minor;            /**< SEQGRAD_VERSION_MINOR of the library */
    int patch;            /**< SEQGRAD_VERSION_PATCH of the library */
    const char *string;   /**< "MAJOR.MINOR.PATCH" */
    bool onednn;          /**< true when the oneDNN backend is built in (same as sg_fused_available()) */
    bool blas_openmp;     /**< true when the loaded OpenBLAS is its OpenMP build, so BLAS shares
                               seqgrad's OpenMP team; false means a second BLAS thread pool */
    const char *blas;     /**< the loaded OpenBLAS's own configuration string (openblas_get_config()) */
    bool isa_dispatch;    /**< true when seqgrad's own element kernels choose their instruction set at
                               run time (the portable x86 build; see sg_set_isa()) */
    const char *isa;      /**< the instruction set they started with: "baseline", "avx2" or "avx512"
                               (the best the CPU has, or SEQGRAD_ISA), "native" in a -march=native
                               build; sg_get_isa() gives the one in use after sg_set_isa() */
} sg_version_info;

/** The loaded library's version and build. Never fails; the result is static, owned by the library.
 * The first call (or loading the shared library) also prints one warning on stderr when the loaded
 * OpenBLAS is not its OpenMP build (set SEQGRAD_NO_BLAS_WARNING=1 to silence it). */
const sg_version_info *sg_library_version(void);

#ifdef __cplusplus
}
#endif

#endif
