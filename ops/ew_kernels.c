/* Broadcasting elementwise kernels. The loop is stamped out per (dtype, code) so the compiler
 * vectorises the unit-stride case. */
#include "ew_kernels.h"

#define EW_LOOP(T, EXPR)                                                                           \
    do {                                                                                           \
        T *ob = (T *)sg__ptr(out);                                                                 \
        const T *ab = (const T *)sg__ptr(a), *bb = (const T *)sg__ptr(b);                          \
        const T *cb = c ? (const T *)sg__ptr(c) : NULL;                                            \
        SG_OMP_FOR_IF(it.numel >= SG_PAR_MIN)                                                      \
        for (int64_t o = 0; o < it.outer; o++) {                                                   \
            int64_t off[4] = {0, 0, 0, 0};                                                         \
            sg__iter_row(&it, o, off);                                                             \
            T *po = ob + off[0];                                                                   \
            const T *pa = ab + off[1], *pb = bb + off[2], *pc = cb ? cb + off[3] : NULL;           \
            int64_t so = it.inner_stride[0], sa = it.inner_stride[1], sb = it.inner_stride[2];     \
            int64_t sc = it.nops > 3 ? it.inner_stride[3] : 0;                                     \
            (void)pc;                                                                              \
            (void)sc;                                                                              \
            if (so == 1 && sa == 1 && sb == 1 && (!pc || sc == 1)) {                               \
                for (int64_t j = 0; j < it.inner; j++) {                                           \
                    T x = pa[j], y = pb[j], z = pc ? pc[j] : (T)0;                                 \
                    (void)z;                                                                       \
                    po[j] = (EXPR);                                                                \
                }                                                                                  \
            } else {                                                                               \
                for (int64_t j = 0; j < it.inner; j++) {                                           \
                    T x = pa[j * sa], y = pb[j * sb], z = pc ? pc[j * sc] : (T)0;                  \
                    (void)z;                                                                       \
                    po[j * so] = (EXPR);                                                           \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define EW_DISPATCH(T)                                                                             \
    switch (code) {                                                                                \
    case SG_K_ADD: EW_LOOP(T, x + y); break;                                                       \
    case SG_K_SUB: EW_LOOP(T, x - y); break;                                                       \
    case SG_K_MUL: EW_LOOP(T, x * y); break;                                                       \
    case SG_K_DIV: EW_LOOP(T, x / y); break;                                                       \
    case SG_K_NEGMULDIV: EW_LOOP(T, -(x * y) / z); break;                                          \
    default: SG_ASSERT(!"bad kernel code");                                                        \
    }

void sg__kmap(sg_tensor *out, sg_kcode code, const sg_tensor *a, const sg_tensor *b, const sg_tensor *c) {
    sg_iter it;
    const sg_tensor *ops[4] = {out, a, b, c};
    sg__iter_init(&it, c ? 4 : 3, ops, out->ndim, out->shape);
    if (out->dtype == SG_F32) {
        EW_DISPATCH(float)
    } else {
        EW_DISPATCH(double)
    }
}
