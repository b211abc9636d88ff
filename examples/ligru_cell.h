/* A recurrent cell seqgrad does not ship, written as a cell definition (nn/cell.h): the Light GRU
 * (Ravanelli, Brakel, Omologo and Bengio 2018; here without its batch norm), a GRU with no reset
 * gate and a ReLU candidate. The definition is data plus one step written with ops; the layer
 * driver gives it stacking, bidirectional, variable lengths, initial states, dropout and the one
 * input GEMM over all T. The tape differentiates it; no backward code is written here.
 *   z  = s(Wz x + bz + Uz h)
 *   h~ = relu(Wh x + bh + Uh h)
 *   h' = z (.) h + (1 - z) (.) h~
 * Gates G = 2: weight_ih (2H, D) holds Wz over Wh, bias_ih (2H) bz over bh, weight_hh (2H, H) Uz
 * over Uh, so one recurrent GEMM gives both gates. ligru_cell_fused is the same cell with its
 * pointwise tail as one custom op (a hand-written backward). Header-only so the example
 * (examples/custom_cell.c) and its tests (tests/test_custom_cell.c) share one definition. The cells
 * seqgrad ships (nn/cells.h: sg_cell_mgu, sg_cell_lnlstm, ...) are written the same way. */
#ifndef LIGRU_CELL_H
#define LIGRU_CELL_H

#include "seqgrad.h"

/* rows of the parameter table, in declaration (state_dict) order */
enum { LIGRU_W_IH = 0, LIGRU_W_HH, LIGRU_B_IH };

/* xg (B, 2H) = [Wz x + bz | Wh x + bh] for this step, s[0] = h (B, H) -> s_out[0] = h' (B, H);
 * the output is h' (out left NULL). */
static inline int ligru_step(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xg, sg_tensor *const *s,
                             int64_t t, sg_tensor **s_out, sg_tensor **out) {
    (void)t, (void)out;
    int64_t H = c->H;
    sg_tensor *h = s[0];
    sg_tensor *a = sg_linear_add(h, p[LIGRU_W_HH], NULL, xg); /* (B, 2H): both gates, one GEMM */
    sg_tensor *z = sg_sigmoid(sg_narrow(a, 1, 0, H));
    sg_tensor *hc = sg_relu(sg_narrow(a, 1, H, H));
    s_out[0] = sg_add(hc, sg_mul(z, sg_sub(h, hc))); /* z h + (1 - z) h~ */
    return s_out[0] ? SG_OK : sg_last_status();
}

/* The parameter table and states, written once for both definitions below. */
#define LIGRU_FIELDS                                                                               \
    .gates = 2, .states = {{"h", SG_CELL_H}},                                                      \
    .params = {[LIGRU_W_IH] = {"weight_ih", 2, {SG_CELL_GH, SG_CELL_D}, SG_PARAM_INPUT_WEIGHT, 0, 0, 0}, \
               [LIGRU_W_HH] = {"weight_hh", 2, {SG_CELL_GH, SG_CELL_H}, SG_PARAM_PLAIN, 0, 0, 0},        \
               [LIGRU_B_IH] = {"bias_ih", 1, {SG_CELL_GH}, SG_PARAM_INPUT_BIAS, SG_CELL_OPT_BIAS, 0, 0}}

static const sg_cell_def ligru_cell = {.name = "ligru", LIGRU_FIELDS, .step = ligru_step};

/* ---- the same cell with its pointwise tail fused (autograd/custom_op.h) ----
 * When a cell's step is many small ops, its tail (here sigmoid, relu and the interpolation: 6 ops,
 * their tape nodes and intermediates) can be one op with a hand-written backward. The tape still
 * differentiates the rest (the recurrent GEMM) and sg_gradcheck checks the whole.
 *   in: a (B, 2H) = [az | ah], h (B, H)      out: h' (B, H) = c + z (h - c), z = s(az), c = relu(ah)
 *   backward, g = dL/dh': d az += g (h - c) z (1 - z);  d ah += g (1 - z) [ah > 0];  d h += g z
 * The forward takes z from seqgrad's own sigmoid (vectorised, threaded; called inside a forward it
 * records nothing) and saves it, so neither pass calls exp per element: the loops below are plain
 * arithmetic, which the compiler vectorises. */
#define LIGRU_TAIL_KERNELS(T)                                                                      \
    static void ligru_tail_fwd_##T(const T *restrict a, const T *restrict h, const T *restrict z,    \
                                   T *restrict y, int64_t B, int64_t H) {                          \
        for (int64_t b = 0; b < B; b++)                                                            \
            for (int64_t j = 0; j < H; j++) {                                                      \
                const T ah = a[b * 2 * H + H + j], c = ah > 0 ? ah : 0;                            \
                y[b * H + j] = c + z[b * H + j] * (h[b * H + j] - c);                              \
            }                                                                                      \
    }                                                                                              \
    static void ligru_tail_bwd_##T(const T *restrict a, const T *restrict h, const T *restrict z,    \
                                   const T *restrict g, T *restrict da, T *restrict dh, int64_t B, int64_t H) { \
        for (int64_t b = 0; b < B; b++)                                                            \
            for (int64_t j = 0; j < H; j++) {                                                      \
                const T ah = a[b * 2 * H + H + j], c = ah > 0 ? ah : 0, zj = z[b * H + j], gj = g[b * H + j]; \
                if (da) {                                                                          \
                    da[b * 2 * H + j] += gj * (h[b * H + j] - c) * zj * (1 - zj);                  \
                    da[b * 2 * H + H + j] += ah > 0 ? gj * (1 - zj) : 0;                           \
                }                                                                                  \
                if (dh) dh[b * H + j] += gj * zj;                                                  \
            }                                                                                      \
    }
LIGRU_TAIL_KERNELS(float)
LIGRU_TAIL_KERNELS(double)

/* a's columns must be twice h's (the symbols of in_spec check the rows) */
static int ligru_tail_fwd(sg_custom_ctx *ctx, sg_tensor *const *in, sg_tensor **out, void *user) {
    (void)user;
    int64_t sa[2], sh[2];
    sg_shape(in[0], sa), sg_shape(in[1], sh);
    if (sa[1] != 2 * sh[1])
        return sg_set_error(SG_ERR_SHAPE, "ligru_tail: a has %lld columns, h %lld: need a = (B, 2H), h = (B, H)",
                            (long long)sa[1], (long long)sh[1]);
    sg_tensor *z = sg_sigmoid(sg_narrow(in[0], 1, 0, sh[1])); /* (B, H), contiguous, tape-owned */
    out[0] = z ? sg_empty(sg_dtype_of(in[1]), 2, sh) : NULL; /* every element written below */
    if (!out[0] || sg_custom_save(ctx, z)) return sg_last_status();
    if (sg_dtype_of(in[1]) == SG_F32)
        ligru_tail_fwd_float(sg_data_const(in[0]), sg_data_const(in[1]), sg_data_const(z), sg_data_f32(out[0]), sh[0],
                             sh[1]);
    else
        ligru_tail_fwd_double(sg_data_const(in[0]), sg_data_const(in[1]), sg_data_const(z), sg_data_f64(out[0]),
                              sh[0], sh[1]);
    return SG_OK;
}

static int ligru_tail_bwd(const sg_custom_bw_args *a, void *user) {
    (void)user;
    int64_t sh[2];
    sg_shape(a->in[1], sh);
    if (sg_dtype_of(a->in[1]) == SG_F32)
        ligru_tail_bwd_float(sg_data_const(a->in[0]), sg_data_const(a->in[1]), sg_data_const(a->saved[0]),
                             sg_data_const(a->grad_out[0]), a->grad_in[0] ? sg_data_f32(a->grad_in[0]) : NULL,
                             a->grad_in[1] ? sg_data_f32(a->grad_in[1]) : NULL, sh[0], sh[1]);
    else
        ligru_tail_bwd_double(sg_data_const(a->in[0]), sg_data_const(a->in[1]), sg_data_const(a->saved[0]),
                              sg_data_const(a->grad_out[0]), a->grad_in[0] ? sg_data_f64(a->grad_in[0]) : NULL,
                              a->grad_in[1] ? sg_data_f64(a->grad_in[1]) : NULL, sh[0], sh[1]);
    return SG_OK;
}

static const sg_custom_arg LIGRU_TAIL_IN[2] = {{"a", 2, {SG_DIM_SYM(0), SG_DIM_ANY}},
                                               {"h", 2, {SG_DIM_SYM(0), SG_DIM_ANY}}};
static const sg_custom_op_def LIGRU_TAIL = {.name = "ligru_tail", .n_in = 2, .in_spec = LIGRU_TAIL_IN,
                                            .forward = ligru_tail_fwd, .backward = ligru_tail_bwd,
                                            .reads_in = 3u /* a, h */};

/* ligru_step with the tail fused: the recurrent GEMM, then one op */
static inline int ligru_step_fused(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xg, sg_tensor *const *s,
                                   int64_t t, sg_tensor **s_out, sg_tensor **out) {
    (void)c, (void)t, (void)out;
    sg_tensor *a = sg_linear_add(s[0], p[LIGRU_W_HH], NULL, xg); /* (B, 2H) */
    s_out[0] = sg_custom_op1(&LIGRU_TAIL, (sg_tensor *[]){a, s[0]}, NULL);
    return s_out[0] ? SG_OK : sg_last_status();
}

static const sg_cell_def ligru_cell_fused = {.name = "ligru_fused", LIGRU_FIELDS, .step = ligru_step_fused};

#endif
