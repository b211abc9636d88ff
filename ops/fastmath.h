/* Internal: branch-free float32 exp, sigmoid and tanh that GCC vectorises (libm's scalar calls do
 * not vectorise without -ffast-math). exp uses Cody-Waite range reduction and the Cephes degree-6
 * polynomial: within 2 ulp of expf on [-87, 88], exactly 0 below, NaN for NaN; sigmoid and tanh
 * inherit a few ulp (tanh takes Cephes' odd polynomial for |x| < SG_TANHF_SMALL, so it keeps its
 * relative accuracy near 0). Used by every float32 sigmoid/tanh (ops/unary.c and the fused gate
 * ops). Not for float64, which keeps libm. */
#ifndef SG_FASTMATH_H
#define SG_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../tensor/isa_impl.h" /* SG_ALWAYS_INLINE: inlined into every instruction-set copy */

#define SG_EXPF_MAX 88.37626f
#define SG_EXPF_MIN -87.33654f
#define SG_LOG2E 1.44269504088896341f
#define SG_LN2_HI 0.693359375f
#define SG_LN2_LO -2.12194440e-4f
#define SG_FLT_EXP_BIAS 127
#define SG_FLT_MANT_BITS 23
#define SG_ROUND_MAGIC 12582912.0f /* 1.5 * 2^23: (v + M) - M rounds v to nearest for |v| < 2^22 */

#define SG_TANHF_SMALL 0.625f

static SG_ALWAYS_INLINE float sg__expf(float x0) {
    float lo = x0 < SG_EXPF_MIN ? SG_EXPF_MIN : x0; /* two plain selects (blends); fminf/fmaxf */
    float x = lo > SG_EXPF_MAX ? SG_EXPF_MAX : lo;  /* would not vectorise without -ffast-math */
    float n = (x * SG_LOG2E + SG_ROUND_MAGIC) - SG_ROUND_MAGIC; /* floorf would not vectorise */
    n = n == n ? n : 0.0f; /* NaN: no float-to-int conversion of NaN below (p stays NaN) */
    float r = x - n * SG_LN2_HI - n * SG_LN2_LO;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + SG_FLT_EXP_BIAS) << SG_FLT_MANT_BITS;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x0 < SG_EXPF_MIN ? 0.0f : p * scale; /* underflow to exactly 0, as expf */
}

/* 1 / (1 + e^-x), evaluated with e^-|x| so it never overflows */
static SG_ALWAYS_INLINE float sg__sigmoidf(float x) {
    float e = sg__expf(-fabsf(x));
    float s = 1.0f / (1.0f + e), es = e * s; /* both computed: the select becomes a blend */
    return x >= 0 ? s : es;
}

/* tanh(x) = sign(x) (1 - e^-2|x|) / (1 + e^-2|x|); for |x| < SG_TANHF_SMALL, where 1 - e would
 * cancel, Cephes' x + x^3 P(x^2). Both are computed (the select becomes a blend). */
static SG_ALWAYS_INLINE float sg__tanhf(float x) {
    float e = sg__expf(-2.0f * fabsf(x));
    float big = copysignf((1.0f - e) / (1.0f + e), x);
    float z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = p * z * x + x;
    return fabsf(x) < SG_TANHF_SMALL ? small : big;
}

/* float64 logistic with the same exact limits (libm exp of a non-positive number) */
static SG_ALWAYS_INLINE double sg__sigmoid(double x) {
    double e = exp(-fabs(x));
    return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

/* Gate functions by element type name, for kernels instantiated per dtype by a macro:
 * SG_SIGM(float, x) is sg__sigmoidf, SG_SIGM(double, x) sg__sigmoid; SG_TANH likewise. */
#define SG_SIGM_float(x) sg__sigmoidf(x)
#define SG_TANH_float(x) sg__tanhf(x)
#define SG_SIGM_double(x) sg__sigmoid(x)
#define SG_TANH_double(x) tanh(x)
#define SG_SIGM(T, x) SG_SIGM_##T(x)
#define SG_TANH(T, x) SG_TANH_##T(x)
/* `omp simd` for a float32 row loop of such kernels; none for float64, which calls libm, and none
 * under AddressSanitizer, whose checks keep clang from vectorising (clang warns, so -Werror fails,
 * on an omp simd it cannot do) */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SG_SIMD_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(SG_SIMD_UNDER_ASAN)
#define SG_SIMD_float
#else
#define SG_SIMD_float SG_PRAGMA(omp simd)
#endif
#define SG_SIMD_double
#define SG_SIMD(T) SG_SIMD_##T

#endif
