/* Internal: branch-free float32 exp, sigmoid and tanh that GCC vectorises (libm's scalar calls do
 * not vectorise without -ffast-math). exp uses Cody-Waite range reduction and the Cephes degree-6
 * polynomial: within 2 ulp of expf on [-87, 88]; sigmoid and tanh inherit a few ulp. Not for
 * float64, which keeps libm. */
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

static SG_ALWAYS_INLINE float sg__expf(float x) {
    float lo = x < SG_EXPF_MIN ? SG_EXPF_MIN : x; /* two plain selects (blends); fminf/fmaxf */
    x = lo > SG_EXPF_MAX ? SG_EXPF_MAX : lo;      /* would not vectorise without -ffast-math */
    float n = (x * SG_LOG2E + SG_ROUND_MAGIC) - SG_ROUND_MAGIC; /* floorf would not vectorise */
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
    return p * scale;
}

/* 1 / (1 + e^-x), evaluated with e^-|x| so it never overflows */
static SG_ALWAYS_INLINE float sg__sigmoidf(float x) {
    float e = sg__expf(-fabsf(x));
    float s = 1.0f / (1.0f + e), es = e * s; /* both computed: the select becomes a blend */
    return x >= 0 ? s : es;
}

/* tanh(x) = sign(x) (1 - e^-2|x|) / (1 + e^-2|x|) */
static SG_ALWAYS_INLINE float sg__tanhf(float x) {
    float e = sg__expf(-2.0f * fabsf(x));
    return copysignf((1.0f - e) / (1.0f + e), x);
}

#endif
