/* The instruction-set level of seqgrad's element kernels (tensor/isa_impl.h): detected once from
 * the CPU, overridden by SEQGRAD_ISA at load or sg_set_isa later. Only the choice lives here; the
 * kernels' copies live with their ops. Not a CPU-feature registry: three levels, nothing else. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "isa_impl.h"
#include "tensor_impl.h"

static const char *const ISA_NAME[SG_ISA_COUNT] = {
    [SG_ISA_BASELINE] = "baseline", [SG_ISA_AVX2] = "avx2", [SG_ISA_AVX512] = "avx512"};
#define ISA_ENV "SEQGRAD_ISA"

static int g_level = -1;      /* atomic: the level in use; -1 until chosen */
static int g_best;            /* the best level this CPU and build support (set by choose) */
static int g_start;           /* the level chosen at start-up (sg_library_version reports it) */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* the best level the CPU supports, with the OS saving its registers (libgcc/compiler-rt check
 * XGETBV before reporting AVX or AVX-512 features) */
static int detect(void) {
#if SG_ISA_DISPATCH
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
                  __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                  __builtin_cpu_supports("avx512vl");
    if (avx2 && avx512) return SG_ISA_AVX512;
    if (avx2) return SG_ISA_AVX2;
#endif
    return SG_ISA_BASELINE;
}

/* once per process: detect, then apply SEQGRAD_ISA; a bad value is reported once on stderr (the
 * library never fails for it) and the detected level used */
static void choose(void) {
    g_best = detect();
    int level = g_best;
    const char *env = getenv(ISA_ENV);
    if (env && *env && strcasecmp(env, "auto") != 0) {
        int want = -1;
        for (int k = 0; k < SG_ISA_COUNT; k++)
            if (!strcasecmp(env, ISA_NAME[k])) want = k;
        if (want < 0)
            fprintf(stderr, "seqgrad: warning: %s='%s' is not one of baseline, avx2, avx512, auto; using %s\n",
                    ISA_ENV, env, ISA_NAME[level]);
        else if (want > g_best)
            fprintf(stderr, "seqgrad: warning: %s=%s: %s; using %s\n", ISA_ENV, env,
                    SG_ISA_DISPATCH ? "this CPU does not have it" : "this build has no run-time dispatch",
                    ISA_NAME[level]);
        else
            level = want;
    }
    g_start = level;
    __atomic_store_n(&g_level, level, __ATOMIC_RELAXED);
}

int sg__isa_level(void) {
    int l = __atomic_load_n(&g_level, __ATOMIC_RELAXED);
    if (l >= 0) return l;
    pthread_once(&g_once, choose);
    return __atomic_load_n(&g_level, __ATOMIC_RELAXED);
}

/* for sg_library_version(): the start-up level's name, "native" for a -march=native build */
const char *sg__isa_start_name(void) {
    pthread_once(&g_once, choose);
#ifdef SEQGRAD_NATIVE_BUILD
    return "native";
#else
    return ISA_NAME[g_start];
#endif
}

bool sg_isa_supported(sg_isa isa) {
    pthread_once(&g_once, choose);
    return (int)isa >= 0 && (int)isa <= g_best;
}

int sg_set_isa(sg_isa isa) {
    if ((int)isa < 0 || (int)isa >= SG_ISA_COUNT)
        return sg_set_error(SG_ERR_ARG, "sg_set_isa: isa %d is not an sg_isa (0 .. %d)", (int)isa, SG_ISA_COUNT - 1);
    if (!sg_isa_supported(isa))
        return sg_set_error(SG_ERR_UNSUPPORTED, "sg_set_isa: %s is not available (%s; best here: %s)", ISA_NAME[isa],
                            SG_ISA_DISPATCH ? "this CPU does not have it" : "this build has no run-time dispatch",
                            ISA_NAME[g_best]);
    __atomic_store_n(&g_level, (int)isa, __ATOMIC_RELAXED);
    return SG_OK;
}

sg_isa sg_get_isa(void) { return (sg_isa)sg__isa_level(); }

const char *sg_isa_name(sg_isa isa) { return (int)isa >= 0 && (int)isa < SG_ISA_COUNT ? ISA_NAME[isa] : "?"; }
