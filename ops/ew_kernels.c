/* Broadcasting elementwise kernels. The row loop is stamped out per (dtype, code) so the compiler
 * vectorises the unit-stride case, and compiled per instruction set (tensor/isa_impl.h). */
#include "../tensor/isa_impl.h"
#include "ew_kernels.h"

/* one row: po[j*so] = EXPR(x = pa[j*sa], y = pb[j*sb], z = pc[j*sc]) (pc may be NULL) */
#define EW_ROW(T, EXPR)                                                                            \
    do {                                                                                           \
        if (so == 1 && sa == 1 && sb == 1 && (!pc || sc == 1)) {                                   \
            for (int64_t j = 0; j < n; j++) {                                                      \
                T x = pa[j], y = pb[j], z = pc ? pc[j] : (T)0;                                     \
                (void)z;                                                                           \
                po[j] = (EXPR);                                                                    \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t j = 0; j < n; j++) {                                                      \
                T x = pa[j * sa], y = pb[j * sb], z = pc ? pc[j * sc] : (T)0;                      \
                (void)z;                                                                           \
                po[j * so] = (EXPR);                                                               \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define EW_ROW_KERNEL(T)                                                                           \
    SG_ISA_KERNEL(kmap_row_##T,                                                                    \
                  (sg_kcode code, T *po, const T *pa, const T *pb, const T *pc, int64_t n, int64_t so, \
                   int64_t sa, int64_t sb, int64_t sc),                                            \
                  (code, po, pa, pb, pc, n, so, sa, sb, sc)) {                                     \
        switch (code) {                                                                            \
        case SG_K_ADD: EW_ROW(T, x + y); break;                                                    \
        case SG_K_SUB: EW_ROW(T, x - y); break;                                                    \
        case SG_K_MUL: EW_ROW(T, x * y); break;                                                    \
        case SG_K_DIV: EW_ROW(T, x / y); break;                                                    \
        case SG_K_NEGMULDIV: EW_ROW(T, -(x * y) / z); break;                                       \
        default: SG_ASSERT(!"bad kernel code");                                                    \
        }                                                                                          \
    }
EW_ROW_KERNEL(float)
EW_ROW_KERNEL(double)

#define EW_LOOP(T)                                                                                 \
    do {                                                                                           \
        T *ob = (T *)sg__ptr(out);                                                                 \
        const T *ab = (const T *)sg__ptr(a), *bb = (const T *)sg__ptr(b);                          \
        const T *cb = c ? (const T *)sg__ptr(c) : NULL;                                            \
        SG_ISA_FN(kmap_row_##T) *row = SG_ISA_PICK(kmap_row_##T);                                  \
        SG_PAR_FOR(it.numel >= SG_PAR_MIN,                                                         \
        for (int64_t o = 0; o < it.outer; o++) {                                                   \
            int64_t off[4] = {0, 0, 0, 0};                                                         \
            sg__iter_row(&it, o, off);                                                             \
            row(code, ob + off[0], ab + off[1], bb + off[2], cb ? cb + off[3] : NULL, it.inner,    \
                it.inner_stride[0], it.inner_stride[1], it.inner_stride[2],                        \
                it.nops > 3 ? it.inner_stride[3] : 0);                                             \
        })                                                                                         \
    } while (0)

void sg__kmap(sg_tensor *out, sg_kcode code, const sg_tensor *a, const sg_tensor *b, const sg_tensor *c) {
    sg_iter it;
    const sg_tensor *ops[4] = {out, a, b, c};
    sg__iter_init(&it, c ? 4 : 3, ops, out->ndim, out->shape);
    if (out->dtype == SG_F32) EW_LOOP(float);
    else EW_LOOP(double);
}
