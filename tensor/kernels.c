/* Shared element-kernel machinery: iterator setup, fill, copy, accumulate, reduce-to-shape. */
#include <stdlib.h>
#include <string.h>

#include "isa_impl.h"
#include "kernels.h"

bool sg__broadcast_shape(int an, const int64_t *as, int bn, const int64_t *bs, int *on, int64_t *os) {
    int n = an > bn ? an : bn;
    for (int i = 0; i < n; i++) {
        int ai = an - n + i, bi = bn - n + i;
        int64_t a = ai >= 0 ? as[ai] : 1, b = bi >= 0 ? bs[bi] : 1;
        if (a != b && a != 1 && b != 1) return false;
        os[i] = a == 1 ? b : a;
    }
    *on = n;
    return true;
}

void sg__iter_init(sg_iter *it, int nops, const sg_tensor *const *ops, int ndim, const int64_t *shape) {
    SG_ASSERT(nops >= 1 && nops <= SG_ITER_MAXOPS);
    int64_t shp[SG_MAX_DIMS], str[SG_ITER_MAXOPS][SG_MAX_DIMS];
    int nd = 0;
    /* drop size-1 dims (their strides do not matter) */
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue;
        shp[nd] = shape[d];
        for (int k = 0; k < nops; k++) {
            const sg_tensor *t = ops[k];
            int td = t->ndim - ndim + d;
            str[k][nd] = (td >= 0 && t->shape[td] != 1) ? t->stride[td] : 0;
        }
        nd++;
    }
    if (nd == 0) {
        shp[0] = 1;
        for (int k = 0; k < nops; k++) str[k][0] = 0;
        nd = 1;
    }
    /* coalesce d-1 into d when every operand's stride[d-1] == stride[d]*shape[d] */
    int m = 0;
    it->shape[0] = shp[0];
    for (int k = 0; k < nops; k++) it->stride[k][0] = str[k][0];
    for (int d = 1; d < nd; d++) {
        bool ok = true;
        for (int k = 0; k < nops; k++)
            if (it->stride[k][m] != str[k][d] * shp[d]) ok = false;
        if (ok) {
            it->shape[m] *= shp[d];
            for (int k = 0; k < nops; k++) it->stride[k][m] = str[k][d];
        } else {
            m++;
            it->shape[m] = shp[d];
            for (int k = 0; k < nops; k++) it->stride[k][m] = str[k][d];
        }
    }
    /* A long contiguous run coalesces into few rows, and rows are the unit of parallel work: split
     * the innermost dim into (inner/b, b) blocks so OpenMP has rows to share. Only exact divisors,
     * so every row has the same length and loops need not know. */
    if (m + 1 < SG_MAX_DIMS) {
        int64_t outer = 1;
        for (int d = 0; d < m; d++) outer *= it->shape[d];
        if (outer < SG_ITER_MIN_ROWS && it->shape[m] >= SG_PAR_MIN) {
            for (int64_t b = SG_ITER_BLOCK_MAX; b >= SG_ITER_BLOCK_MIN; b /= 2) {
                if (it->shape[m] % b) continue;
                it->shape[m + 1] = b;
                it->shape[m] /= b;
                for (int k = 0; k < nops; k++) {
                    it->stride[k][m + 1] = it->stride[k][m];
                    it->stride[k][m] *= b;
                }
                m++;
                break;
            }
        }
    }
    it->ndim = m + 1;
    it->nops = nops;
    it->inner = it->shape[m];
    for (int k = 0; k < nops; k++) it->inner_stride[k] = it->stride[k][m];
    it->outer = 1;
    for (int d = 0; d < m; d++) it->outer *= it->shape[d];
    it->numel = it->outer * it->inner;
    for (int d = 0; d < ndim; d++)
        if (shape[d] == 0) it->numel = it->outer = 0;
}

#define FILL_LOOP(T)                                                                               \
    do {                                                                                           \
        T *base = (T *)sg__ptr(t);                                                                 \
        T val = (T)v;                                                                              \
        SG_PAR_FOR(it.numel >= SG_PAR_MIN,                                                         \
        for (int64_t o = 0; o < it.outer; o++) {                                                   \
            int64_t off[1] = {0};                                                                        \
            sg__iter_row(&it, o, off);                                                             \
            T *p = base + off[0];                                                                  \
            for (int64_t j = 0; j < it.inner; j++) p[j * it.inner_stride[0]] = val;                \
        })                                                                                         \
    } while (0)

void sg__kfill(sg_tensor *t, double v) {
    sg_iter it;
    const sg_tensor *ops[1] = {t};
    sg__iter_init(&it, 1, ops, t->ndim, t->shape);
    if (t->dtype == SG_F32) FILL_LOOP(float);
    else FILL_LOOP(double);
}

void sg__convert(void *dst, sg_dtype ddt, const void *src, sg_dtype sdt, int64_t n) {
    if (ddt == sdt) {
        memmove(dst, src, (size_t)n * sg_dtype_size(ddt));
    } else if (ddt == SG_F32) {
        float *d = dst;
        const double *s = src;
        for (int64_t i = 0; i < n; i++) d[i] = (float)s[i];
    } else {
        double *d = dst;
        const float *s = src;
        for (int64_t i = 0; i < n; i++) d[i] = (double)s[i];
    }
}

/* d[j*ds] OP s[j*ss] for one row (OP is = or +=, converting TS to TD), per instruction set; d and s
 * may overlap, as before (no restrict) */
#define COPY_ROW(name, TD, TS, OP)                                                                 \
    SG_ISA_KERNEL(name, (TD *d, const TS *s, int64_t n, int64_t ds, int64_t ss), (d, s, n, ds, ss)) { \
        if (ds == 1 && ss == 1)                                                                    \
            for (int64_t j = 0; j < n; j++) d[j] OP(TD) s[j];                                      \
        else                                                                                       \
            for (int64_t j = 0; j < n; j++) d[j * ds] OP(TD) s[j * ss];                            \
    }
COPY_ROW(copy_f32_f32, float, float, =)
COPY_ROW(copy_f64_f64, double, double, =)
COPY_ROW(copy_f32_f64, float, double, =)
COPY_ROW(copy_f64_f32, double, float, =)
COPY_ROW(accum_f32, float, float, +=)
COPY_ROW(accum_f64, double, double, +=)

#define COPY_LOOP(TD, TS, ROW)                                                                     \
    do {                                                                                           \
        TD *db = (TD *)sg__ptr(dst);                                                               \
        const TS *sb = (const TS *)sg__ptr(src);                                                   \
        SG_ISA_FN(ROW) *row = SG_ISA_PICK(ROW);                                                    \
        SG_PAR_FOR(it.numel >= SG_PAR_MIN,                                                         \
        for (int64_t o = 0; o < it.outer; o++) {                                                   \
            int64_t off[2] = {0, 0};                                                               \
            sg__iter_row(&it, o, off);                                                             \
            row(db + off[0], sb + off[1], it.inner, it.inner_stride[0], it.inner_stride[1]);       \
        })                                                                                         \
    } while (0)

void sg__kcopy(sg_tensor *dst, const sg_tensor *src) {
    sg_iter it;
    const sg_tensor *ops[2] = {dst, src};
    sg__iter_init(&it, 2, ops, dst->ndim, dst->shape);
    if (dst->dtype == SG_F32 && src->dtype == SG_F32) COPY_LOOP(float, float, copy_f32_f32);
    else if (dst->dtype == SG_F64 && src->dtype == SG_F64) COPY_LOOP(double, double, copy_f64_f64);
    else if (dst->dtype == SG_F32) COPY_LOOP(float, double, copy_f32_f64);
    else COPY_LOOP(double, float, copy_f64_f32);
}

void sg__kaccum(sg_tensor *dst, const sg_tensor *src) {
    SG_ASSERT(dst->dtype == src->dtype);
    sg_iter it;
    const sg_tensor *ops[2] = {dst, src};
    sg__iter_init(&it, 2, ops, dst->ndim, dst->shape);
    if (dst->dtype == SG_F32) COPY_LOOP(float, float, accum_f32);
    else COPY_LOOP(double, double, accum_f64);
}

sg_tensor *sg__contig(const sg_tensor *src) {
    if (sg__is_contiguous(src)) {
        sg__ref((sg_tensor *)src);
        return (sg_tensor *)src;
    }
    sg_tensor *t = sg__alloc(src->dtype, src->ndim, src->shape, false);
    if (t) sg__kcopy(t, src);
    return t;
}

/* Sum src (shape S) down to shape R, S a broadcast of R. Output elements are independent; each
 * one sums its preimage sequentially in row-major order of the reduced dims. */
#define SUMTO_LOOP(T)                                                                              \
    do {                                                                                           \
        const T *sb = (const T *)sg__ptr(src);                                                     \
        T *ob = (T *)sg__ptr(out);                                                                 \
        SG_PAR_FOR(total >= SG_PAR_MIN && nout > 1,                                                \
        for (int64_t o = 0; o < nout; o++) {                                                       \
            int64_t base = 0, rem = o;                                                             \
            for (int d = nk - 1; d >= 0; d--) {                                                    \
                base += (rem % kshape[d]) * kstride[d];                                            \
                rem /= kshape[d];                                                                  \
            }                                                                                      \
            double acc = 0;                                                                        \
            for (int64_t r = 0; r < nred; r++) {                                                   \
                int64_t off = base, q = r;                                                         \
                for (int d = nr - 1; d >= 0; d--) {                                                \
                    off += (q % rshape[d]) * rstride[d];                                           \
                    q /= rshape[d];                                                                \
                }                                                                                  \
                acc += (double)sb[off];                                                            \
            }                                                                                      \
            ob[o] = (T)acc;                                                                        \
        })                                                                                         \
    } while (0)

/* Fast path: src contiguous and every reduced dim before every kept one (the bias-gradient case,
 * (rows, cols) -> (cols)). Columns are independent; each sums its rows in order, the same order as
 * the general loop, so both paths give identical bits. */
#define SUMROWS_BLOCK(T)                                                                           \
    SG_ISA_KERNEL(sumrows_##T, (T *restrict ob, const T *restrict sb, int64_t rows, int64_t cols, int64_t nj), \
                  (ob, sb, rows, cols, nj)) {                                                      \
        double acc[SG_SUMROWS_BLOCK];                                                              \
        for (int64_t j = 0; j < nj; j++) acc[j] = 0;                                               \
        for (int64_t r = 0; r < rows; r++) {                                                       \
            const T *restrict row = sb + r * cols;                                                 \
            for (int64_t j = 0; j < nj; j++) acc[j] += (double)row[j];                             \
        }                                                                                          \
        for (int64_t j = 0; j < nj; j++) ob[j] = (T)acc[j];                                        \
    }
SUMROWS_BLOCK(float)
SUMROWS_BLOCK(double)

#define SUMROWS_LOOP(T)                                                                            \
    do {                                                                                           \
        const T *sb = (const T *)sg__ptr(src);                                                     \
        T *ob = (T *)sg__ptr(out);                                                                 \
        int64_t nblk = (cols + SG_SUMROWS_BLOCK - 1) / SG_SUMROWS_BLOCK;                           \
        SG_ISA_FN(sumrows_##T) *blkfn = SG_ISA_PICK(sumrows_##T);                                  \
        SG_PAR_FOR(rows * cols >= SG_PAR_MIN && nblk > 1,                                          \
        for (int64_t blk = 0; blk < nblk; blk++) {                                                 \
            int64_t j0 = blk * SG_SUMROWS_BLOCK;                                                   \
            int64_t nj = cols - j0 < SG_SUMROWS_BLOCK ? cols - j0 : SG_SUMROWS_BLOCK;              \
            blkfn(ob + j0, sb + j0, rows, cols, nj);                                               \
        })                                                                                         \
    } while (0)

static bool sum_rows_shape(const sg_tensor *src, int ndim, const int64_t *shape, int64_t *rows, int64_t *cols) {
    if (!sg__is_contiguous(src)) return false;
    int lead = src->ndim - ndim; /* missing leading dims are reduced */
    int d = 0;
    *rows = 1;
    for (; d < src->ndim; d++) { /* reduced prefix: size-1 in shape or absent */
        int od = d - lead;
        if (od >= 0 && shape[od] == src->shape[d]) break;
        *rows *= src->shape[d];
    }
    *cols = 1;
    for (; d < src->ndim; d++) {
        int od = d - lead;
        if (od < 0 || shape[od] != src->shape[d]) return false; /* a reduced dim after a kept one */
        *cols *= src->shape[d];
    }
    return true;
}

sg_tensor *sg__sum_to_shape(const sg_tensor *src, int ndim, const int64_t *shape) {
    sg_tensor *out = sg__alloc(src->dtype, ndim, shape, false);
    if (!out) return NULL;
    int64_t rows, cols;
    if (sum_rows_shape(src, ndim, shape, &rows, &cols)) {
        if (src->dtype == SG_F32) SUMROWS_LOOP(float);
        else SUMROWS_LOOP(double);
        return out;
    }
    /* split src dims into kept (present in out with equal size) and reduced ones */
    int64_t kshape[SG_MAX_DIMS], kstride[SG_MAX_DIMS], rshape[SG_MAX_DIMS], rstride[SG_MAX_DIMS];
    int nk = 0, nr = 0;
    for (int d = 0; d < src->ndim; d++) {
        int od = d - (src->ndim - ndim);
        bool kept = od >= 0 && shape[od] == src->shape[d];
        if (kept) {
            kshape[nk] = src->shape[d];
            kstride[nk++] = src->stride[d];
        } else {
            rshape[nr] = src->shape[d];
            rstride[nr++] = src->stride[d];
        }
    }
    int64_t nout = sg__numel(out), nred = 1, total;
    for (int d = 0; d < nr; d++) nred *= rshape[d];
    total = nout * nred;
    if (nk == 0) { kshape[0] = 1; kstride[0] = 0; nk = 1; }
    if (nr == 0) { rshape[0] = 1; rstride[0] = 0; nr = 1; }
    if (src->dtype == SG_F32) SUMTO_LOOP(float);
    else SUMTO_LOOP(double);
    return out;
}
