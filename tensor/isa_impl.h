/* Run-time choice of instruction set for seqgrad's own element kernels (the portable build is
 * compiled for baseline x86-64; oneDNN and OpenBLAS choose their kernels themselves). A kernel
 * written once with SG_ISA_KERNEL is compiled three times, for baseline, AVX2+FMA and AVX-512, and
 * SG_ISA_PICK returns the copy for the level in use (tensor/isa.c: the best the CPU has, or
 * SEQGRAD_ISA / sg_set_isa). Not a target_clones/ifunc scheme: the level must be switchable at run
 * time (tests, SEQGRAD_ISA=baseline for reproducing results across machines).
 *
 * Use, in an op's .c file:
 *
 *     SG_ISA_KERNEL(scale_row, (float *restrict y, const float *restrict x, float s, int64_t n),
 *                   (y, x, s, n)) {
 *         for (int64_t j = 0; j < n; j++) y[j] = x[j] * s;
 *     }
 *     ...
 *     SG_ISA_FN(scale_row) *row = SG_ISA_PICK(scale_row);
 *     SG_PAR_FOR(R * D >= SG_PAR_MIN,
 *                for (int64_t i = 0; i < R; i++) row(y + i * D, x + i * D, s, D);)
 *
 * Rules: the kernel returns void (it writes through its pointer arguments); pick the copy OUTSIDE
 * any `omp parallel` region and call it inside (an OpenMP-outlined region body is a function of
 * its own, so the parallel loop must not be the kernel: its body calls the kernel). Helpers the
 * kernel calls must be SG_ALWAYS_INLINE (ops/fastmath.h's are), else the copies call the baseline
 * helper and lose the vector code. Every copy computes the same IEEE operations in the same order
 * (C11 semantics, -ffp-contract=off: no FMA contraction), so elementwise results are bitwise the
 * same at every level; a kernel that reorders a reduction per level would not be, so none does.
 * Without dispatch (not x86, another compiler, -DSEQGRAD_NATIVE=ON, or SEQGRAD_NO_ISA_DISPATCH)
 * SG_ISA_KERNEL is a plain static function and SG_ISA_PICK its address. */
#ifndef SG_ISA_IMPL_H
#define SG_ISA_IMPL_H

#include "tensor.h"

#if defined(__GNUC__) || defined(__clang__)
#define SG_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define SG_ALWAYS_INLINE inline
#endif

#if !defined(SEQGRAD_NO_ISA_DISPATCH) && (defined(__x86_64__) || defined(__i386__)) &&                      \
    (defined(__GNUC__) || defined(__clang__))
#define SG_ISA_DISPATCH 1
#else
#define SG_ISA_DISPATCH 0
#endif

/* The level in use (an sg_isa; always SG_ISA_BASELINE without dispatch). One relaxed atomic load
 * once the level is chosen; the first call chooses it (tensor/isa.c). */
int sg__isa_level(void);
/* The name of the level chosen at start-up ("native" in a -march=native build), for
 * sg_library_version(). */
const char *sg__isa_start_name(void);

#if SG_ISA_DISPATCH
/* Feature lists, not "arch=x86-64-v3": a function whose arch differs from its callee's cannot
 * inline it (GCC), and the kernels depend on inlining their default-target helpers. */
#define SG_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define SG_TARGET_AVX512 __attribute__((target("avx2,fma,avx512f,avx512cd,avx512bw,avx512dq,avx512vl")))

/* Declares the kernel's function type name__fn, its body `name` (always inlined), its three
 * compiled copies name__base, name__avx2, name__avx512 and their table name__isa (indexed by
 * sg_isa), then opens the body's definition: the braces after the macro are the kernel.
 * params: the parenthesised parameter list; args: the same names, parenthesised. */
#define SG_ISA_KERNEL(name, params, args)                                                          \
    typedef void name##__fn params;                                                                \
    static SG_ALWAYS_INLINE void name params;                                                      \
    static void name##__base params { name args; }                                                 \
    static SG_TARGET_AVX2 void name##__avx2 params { name args; }                                  \
    static SG_TARGET_AVX512 void name##__avx512 params { name args; }                              \
    static name##__fn *const name##__isa[SG_ISA_COUNT] = {                                         \
        [SG_ISA_BASELINE] = name##__base, [SG_ISA_AVX2] = name##__avx2, [SG_ISA_AVX512] = name##__avx512}; \
    static SG_ALWAYS_INLINE void name params
/* The copy of kernel `name` for the level in use (a function pointer). */
#define SG_ISA_PICK(name) (name##__isa[sg__isa_level()])
#else
#define SG_ISA_KERNEL(name, params, args)                                                          \
    typedef void name##__fn params;                                                                \
    static void name params
#define SG_ISA_PICK(name) (&name)
#endif
/* The function type of kernel `name`, for the variable that holds SG_ISA_PICK(name). */
#define SG_ISA_FN(name) name##__fn

#endif
