/* Internal: the row kernels of layer normalisation, shared by sg_layer_norm (ops/norm.c) and the
 * fused gate ops that normalise inside a row (ops/lnlstm_pointwise.c), so the statistics, the
 * input gradient and the weight/bias gradients are written once. Not an op and not installed.
 * Shape letters: R rows, D the normalised length of a row.
 *
 * The helpers are SG_ALWAYS_INLINE, to be called from an including file's SG_ISA_KERNEL
 * (tensor/isa_impl.h), so every instruction-set copy inlines them. Every result is thread-count
 * and instruction-set independent: a row's sums use SG_LN_LANES fixed accumulators added in lane
 * order, and a weight/bias gradient column is summed over the rows in row order by one thread
 * (the column pass), whatever the number of threads. */
#ifndef SG_NORM_ROW_H
#define SG_NORM_ROW_H

#include <math.h>
#include <stdint.h>

#include "../tensor/isa_impl.h"
#include "../tensor/kernels.h"

/* Row sums use this many independent double accumulators, lane j % SG_LN_LANES, added in lane
 * order at the end: the loop vectorises (a single accumulator is one serial add chain) and the
 * order is still fixed. */
#define SG_LN_LANES 8
/* Columns per task of the weight/bias gradient pass (its accumulators live on the stack). */
enum { SG_LN_COL_CHUNK = 64 };

/* acc = sum over j in [0, D) of EXPR (in double, j bound inside EXPR), lane-blocked as above. */
#define SG_LN_LANE_SUM(acc, D, EXPR)                                                               \
    do {                                                                                           \
        double l_[SG_LN_LANES] = {0};                                                              \
        int64_t b_ = 0;                                                                            \
        for (; b_ + SG_LN_LANES <= (D); b_ += SG_LN_LANES)                                         \
            for (int k_ = 0; k_ < SG_LN_LANES; k_++) {                                             \
                const int64_t j = b_ + k_;                                                         \
                l_[k_] += (EXPR);                                                                  \
            }                                                                                      \
        for (int k_ = 0; b_ + k_ < (D); k_++) {                                                    \
            const int64_t j = b_ + k_;                                                             \
            l_[k_] += (EXPR);                                                                      \
        }                                                                                          \
        acc = 0;                                                                                   \
        for (int k_ = 0; k_ < SG_LN_LANES; k_++) acc += l_[k_];                                    \
    } while (0)

/* The helpers for one element type T (float or double), suffix S (f32 / f64):
 *   sg__ln_stats_S(x, D, eps, &mean, &rstd)   x (D) -> its mean and 1/sqrt(var + eps) (biased
 *                                              variance; two passes in double, no cancellation)
 *   sg__ln_row_bw_S(x, g, w, mean, rstd, D, dx)
 *       x (D) the row, g (D) the gradient of y = xhat w + b (w (D) or NULL for 1), -> dx (D):
 *       dx = rstd (g w - mean_j(g w) - xhat mean_j(g w xhat)), xhat = (x - mean) rstd
 *   sg__ln_cols_S(R, n, x, xs, mean, rstd, g, gs, dw, db)
 *       n columns of rows x (R, .) with row stride xs and their statistics, and of gradients g
 *       (R, .) with row stride gs -> dw (n) = sum_r g xhat, db (n) = sum_r g (either may be NULL),
 *       each column summed in row order in double; n <= SG_LN_COL_CHUNK. */
#define SG_LN_ROW_HELPERS(T, S)                                                                    \
    static SG_ALWAYS_INLINE void sg__ln_stats_##S(const T *restrict x, int64_t D, double eps,     \
                                                  double *mean, double *rstd) {                    \
        double s, q;                                                                               \
        SG_LN_LANE_SUM(s, D, (double)x[j]);                                                        \
        double m = s / (double)D;                                                                  \
        SG_LN_LANE_SUM(q, D, ((double)x[j] - m) * ((double)x[j] - m));                             \
        *mean = m;                                                                                 \
        *rstd = 1.0 / sqrt(q / (double)D + eps);                                                   \
    }                                                                                              \
    static SG_ALWAYS_INLINE void sg__ln_row_bw_##S(const T *restrict x, const T *restrict g,      \
                                                   const T *restrict w, double mean, double rstd,  \
                                                   int64_t D, T *restrict dx) {                    \
        const T mt = (T)mean, rt = (T)rstd;                                                        \
        double sa, sb;                                                                             \
        if (w) {                                                                                   \
            SG_LN_LANE_SUM(sa, D, (double)(g[j] * w[j]));                                          \
            SG_LN_LANE_SUM(sb, D, (double)(g[j] * w[j] * ((x[j] - mt) * rt)));                     \
        } else {                                                                                   \
            SG_LN_LANE_SUM(sa, D, (double)g[j]);                                                   \
            SG_LN_LANE_SUM(sb, D, (double)(g[j] * ((x[j] - mt) * rt)));                            \
        }                                                                                          \
        const T a = (T)(sa / (double)D), b = (T)(sb / (double)D);                                  \
        if (w)                                                                                     \
            for (int64_t j = 0; j < D; j++) dx[j] = rt * (g[j] * w[j] - a - (x[j] - mt) * rt * b); \
        else                                                                                       \
            for (int64_t j = 0; j < D; j++) dx[j] = rt * (g[j] - a - (x[j] - mt) * rt * b);        \
    }                                                                                              \
    static SG_ALWAYS_INLINE void sg__ln_cols_##S(int64_t R, int64_t n, const T *x, int64_t xs,    \
                                                 const double *mean, const double *rstd,           \
                                                 const T *g, int64_t gs, T *dw, T *db) {           \
        double aw[SG_LN_COL_CHUNK] = {0}, ab[SG_LN_COL_CHUNK] = {0};                               \
        for (int64_t r = 0; r < R; r++) {                                                          \
            const T *restrict px = x + r * xs, *restrict pg = g + r * gs;                          \
            const T mt = (T)mean[r], rt = (T)rstd[r];                                              \
            if (dw)                                                                                \
                for (int64_t j = 0; j < n; j++) aw[j] += (double)(pg[j] * ((px[j] - mt) * rt));    \
            if (db)                                                                                \
                for (int64_t j = 0; j < n; j++) ab[j] += (double)pg[j];                            \
        }                                                                                          \
        for (int64_t j = 0; j < n; j++) {                                                          \
            if (dw) dw[j] = (T)aw[j];                                                              \
            if (db) db[j] = (T)ab[j];                                                              \
        }                                                                                          \
    }

SG_LN_ROW_HELPERS(float, f32)
SG_LN_ROW_HELPERS(double, f64)

/* Defines, in the including file, the column pass for element type T (suffix S): the kernel
 * ln_cols_kernel_S (one chunk of columns) and
 *   ln_param_grads_S(R, D, x, xs, mean, rstd, g, gs, dw, db): dw, db (D) as sg__ln_cols_S over
 *   all D columns, chunks in parallel (above SG_PAR_MIN elements). */
#define SG_LN_PARAM_GRADS(T, S)                                                                    \
    SG_ISA_KERNEL(ln_cols_kernel_##S,                                                              \
                  (int64_t R, int64_t n, const T *x, int64_t xs, const double *mean, const double *rstd, \
                   const T *g, int64_t gs, T *dw, T *db),                                          \
                  (R, n, x, xs, mean, rstd, g, gs, dw, db)) {                                      \
        sg__ln_cols_##S(R, n, x, xs, mean, rstd, g, gs, dw, db);                                   \
    }                                                                                              \
    static void ln_param_grads_##S(int64_t R, int64_t D, const T *x, int64_t xs, const double *mean, \
                                   const double *rstd, const T *g, int64_t gs, T *dw, T *db) {     \
        int64_t nchunk = (D + SG_LN_COL_CHUNK - 1) / SG_LN_COL_CHUNK;                              \
        SG_ISA_FN(ln_cols_kernel_##S) *cols = SG_ISA_PICK(ln_cols_kernel_##S);                     \
        SG_PAR_FOR(nchunk > 1 && R * D >= SG_PAR_MIN,                                              \
        for (int64_t k = 0; k < nchunk; k++) {                                                     \
            int64_t j0 = k * SG_LN_COL_CHUNK;                                                      \
            int64_t n = D - j0 < SG_LN_COL_CHUNK ? D - j0 : SG_LN_COL_CHUNK;                       \
            cols(R, n, x + j0, xs, mean, rstd, g + j0, gs, dw ? dw + j0 : NULL, db ? db + j0 : NULL); \
        })                                                                                         \
    }

#endif
