/* The streaming step (stream.h): the packed fast path for the built-in kinds (one GEMV over
 * [W_ih | W_hh] per layer into preallocated buffers, then one fused pointwise loop) and the
 * general path for any definition (its step through ops on an arena's recycled tensors, no tape).
 * Not here: anything recorded for backward, bidirectional or ragged batches.
 *
 * Shape letters: B batch, D a layer's input size, H hidden, P = proj_size or H, K = D + P (a
 * layer's packed input [x | h]), R the packed rows (G*H, or 4H for PyTorch's GRU whose n gate
 * keeps W_in x and W_hn h apart). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../ops/fastmath.h"
#include "../ops/gemm_nt.h"
#include "../tensor/kernels.h"
#include "rnn_impl.h"
#include "stream.h"

enum { MAX_NAME = 32 };

typedef enum { FAST_NONE = 0, FAST_RNN_TANH, FAST_RNN_RELU, FAST_LSTM, FAST_GRU, FAST_GRU_RB } fast_kind;

/* the built-in definitions the fast path serves, one row each */
static const struct {
    const sg_cell_def *def;
    fast_kind kind;
} FAST_CELLS[] = {{&sg_cell_rnn_tanh, FAST_RNN_TANH}, {&sg_cell_rnn_relu, FAST_RNN_RELU}, {&sg_cell_lstm, FAST_LSTM},
                  {&sg_cell_gru, FAST_GRU},           {&sg_cell_gru_reset_before, FAST_GRU_RB}};
enum { N_FAST_CELLS = sizeof FAST_CELLS / sizeof FAST_CELLS[0] };

/* One layer of the fast path. Buffers in the model's dtype, all made at creation. */
typedef struct {
    int64_t D, K, R;
    void *w;      /* (R, K) packed rows */
    void *b;      /* (R) packed bias (zeros without bias) */
    void *w2, *b2; /* GRU reset-before: W_hn (H, P), b_hn (H) */
    void *wr;     /* LSTM proj: W_hr (P, H) */
    void *pc[3];  /* LSTM peephole: w_ci, w_cf, w_co (H) */
    void *xh;     /* (B, K): [x | h], h the layer's state 0 */
    void *c;      /* (B, H): LSTM's cell state */
    void *g;      /* (B, R): the gate pre-activations */
    void *tmp, *tmp2; /* (B, H) scratch: LSTM h before proj, GRU r (.) h and W_hn (r (.) h) */
} fast_layer;

struct sg_rnn_stream {
    const sg_rnn *r;
    sg_model *m;
    const sg__cell_info *ci;
    int L, ns;
    int64_t B, D0, H, P, t;
    sg_dtype dt;
    size_t es;
    fast_kind kind;
    fast_layer *fl; /* [L] fast path */
    /* general path */
    sg__arena *arena;
    sg__arena_mark floor; /* the prepared parameters live below it */
    sg_tensor *(*w)[SG_CELL_MAX_PARAMS]; /* [L] resolved parameters */
    sg_cell_ctx *ctx;                   /* [L] */
    sg_tensor **st;                     /* [2][L][ns] ping-pong state tensors (user tensors) */
    int cur;                            /* which half of st holds the states */
    sg_tensor *x_in;                    /* (B, D0) */
};

static sg_tensor **gstate(const sg_rnn_stream *s, int half, int l, int k) {
    return &s->st[((size_t)half * (size_t)s->L + (size_t)l) * (size_t)s->ns + (size_t)k];
}

/* ---- packing ---- */

static sg_tensor *param(const sg_rnn_stream *s, int l, const char *name) {
    const sg__cell_params *p = sg__rnn_params(s->r, l, 0);
    for (int i = 0; i < s->ci->n_rows; i++)
        if (!strcmp(s->ci->def->params[i].name, name)) return p->idx[i] >= 0 ? sg_model_param(s->m, p->idx[i]) : NULL;
    return NULL;
}

/* element i of a contiguous parameter as double (packing only) */
static double at(const sg_tensor *t, int64_t i) {
    const void *p = sg__ptr(t);
    return t->dtype == SG_F64 ? ((const double *)p)[i] : ((const float *)p)[i];
}
static void put(void *buf, sg_dtype dt, int64_t i, double v) {
    if (dt == SG_F64) ((double *)buf)[i] = v;
    else ((float *)buf)[i] = (float)v;
}

/* Rows [r0, r0+n) of dst (R, K) from rows [s0, s0+n) of src (n, cols) at column c0. */
static void pack_block(void *dst, sg_dtype dt, int64_t K, int64_t r0, int64_t c0, const sg_tensor *src, int64_t s0,
                       int64_t n, int64_t cols) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < cols; j++) put(dst, dt, (r0 + i) * K + c0 + j, at(src, (s0 + i) * cols + j));
}

static void pack_vec(void *dst, sg_dtype dt, int64_t d0, const sg_tensor *src, int64_t s0, int64_t n, bool add) {
    for (int64_t i = 0; i < n && src; i++) {
        double v = at(src, s0 + i);
        if (add) v += dt == SG_F64 ? ((double *)dst)[d0 + i] : ((float *)dst)[d0 + i];
        put(dst, dt, d0 + i, v);
    }
}

static void pack_layer(sg_rnn_stream *s, int l) {
    fast_layer *f = &s->fl[l];
    sg_dtype dt = s->dt;
    int64_t H = s->H, P = s->P, D = f->D, K = f->K, GH = s->ci->G * H;
    sg_tensor *wih = param(s, l, "weight_ih"), *whh = param(s, l, "weight_hh");
    sg_tensor *bih = param(s, l, "bias_ih"), *bhh = param(s, l, "bias_hh");
    memset(f->w, 0, (size_t)(f->R * K) * s->es);
    memset(f->b, 0, (size_t)f->R * s->es);
    if (s->kind == FAST_GRU || s->kind == FAST_GRU_RB) { /* r, z: [W_i | W_h]; n: [W_in | 0] (+ [0 | W_hn]) */
        pack_block(f->w, dt, K, 0, 0, wih, 0, GH, D);
        pack_block(f->w, dt, K, 0, D, whh, 0, 2 * H, P);
        pack_vec(f->b, dt, 0, bih, 0, GH, false);
        pack_vec(f->b, dt, 0, bhh, 0, 2 * H, true);
        if (s->kind == FAST_GRU) {
            pack_block(f->w, dt, K, 3 * H, D, whh, 2 * H, H, P);
            pack_vec(f->b, dt, 3 * H, bhh, 2 * H, H, false);
        } else {
            pack_block(f->w2, dt, P, 0, 0, whh, 2 * H, H, P);
            memset(f->b2, 0, (size_t)H * s->es);
            pack_vec(f->b2, dt, 0, bhh, 2 * H, H, false);
        }
    } else {
        pack_block(f->w, dt, K, 0, 0, wih, 0, GH, D);
        pack_block(f->w, dt, K, 0, D, whh, 0, GH, P);
        pack_vec(f->b, dt, 0, bih, 0, GH, false);
        pack_vec(f->b, dt, 0, bhh, 0, GH, true);
    }
    if (f->wr) pack_block(f->wr, dt, H, 0, 0, param(s, l, "weight_hr"), 0, P, H);
    static const char *const PEEP[3] = {"weight_ci", "weight_cf", "weight_co"};
    for (int k = 0; k < 3; k++)
        if (f->pc[k]) pack_vec(f->pc[k], dt, 0, param(s, l, PEEP[k]), 0, H, false);
}

/* ---- the fast step, one version per dtype ---- */

static float relu_f(float x) { return x > 0 ? x : 0; }
static double relu_d(double x) { return x > 0 ? x : 0; }
static double sigmoid_d(double x) { return 1.0 / (1.0 + exp(-x)); }

/* C (B, N) (ldc) = A (B, Kd) (lda) W^T, W (N, Kd) row-major (ops/gemm_nt.h) */
#define DEF_PRODUCT(T, SUF, DT)                                                                                \
    static void product_##SUF(int64_t B, int64_t N, int64_t Kd, const T *W, const T *A, int64_t lda, T *C, \
                              int64_t ldc) {                                                               \
        sg__gemm_nt(DT, B, N, Kd, A, lda, W, C, ldc);                                                      \
    }
DEF_PRODUCT(float, f, SG_F32)
DEF_PRODUCT(double, d, SG_F64)

/* The pointwise rows, one function per kind with restrict pointers so each loop vectorises.
 * g: one row of gate pre-activations (R), b: the packed bias, h/c: the row's states. */
#define DEF_ROWS(T, SUF, SIG, TANH, RELU)                                                                        \
    static void rnn_row_##SUF(int64_t H, const T *restrict g, const T *restrict b, T *restrict h, bool relu) {   \
        if (relu)                                                                                                \
            for (int64_t j = 0; j < H; j++) h[j] = RELU(g[j] + b[j]);                                            \
        else                                                                                                     \
            for (int64_t j = 0; j < H; j++) h[j] = TANH(g[j] + b[j]);                                            \
    }                                                                                                            \
    /* c' = s(f) c + s(i) tanh(g), out = s(o) tanh(c') (out is h, or the pre-projection h) */                      \
    static void lstm_row_##SUF(int64_t H, const T *restrict g, const T *restrict b, T *restrict c,               \
                               T *restrict out) {                                                                \
        const T *gi = g, *gf = g + H, *gg = g + 2 * H, *go = g + 3 * H;                                          \
        const T *bi = b, *bf = b + H, *bg = b + 2 * H, *bo = b + 3 * H;                                          \
        for (int64_t j = 0; j < H; j++) {                                                                        \
            T cn = SIG(gf[j] + bf[j]) * c[j] + SIG(gi[j] + bi[j]) * TANH(gg[j] + bg[j]);                         \
            c[j] = cn;                                                                                           \
            out[j] = SIG(go[j] + bo[j]) * TANH(cn);                                                              \
        }                                                                                                        \
    }                                                                                                            \
    static void lstm_peep_row_##SUF(int64_t H, const T *restrict g, const T *restrict b, const T *restrict pci,  \
                                    const T *restrict pcf, const T *restrict pco, T *restrict c, T *restrict out) { \
        const T *gi = g, *gf = g + H, *gg = g + 2 * H, *go = g + 3 * H;                                          \
        const T *bi = b, *bf = b + H, *bg = b + 2 * H, *bo = b + 3 * H;                                          \
        for (int64_t j = 0; j < H; j++) {                                                                        \
            T cn = SIG(gf[j] + bf[j] + pcf[j] * c[j]) * c[j] + SIG(gi[j] + bi[j] + pci[j] * c[j]) * TANH(gg[j] + bg[j]); \
            c[j] = cn;                                                                                           \
            out[j] = SIG(go[j] + bo[j] + pco[j] * cn) * TANH(cn);                                                \
        }                                                                                                        \
    }                                                                                                            \
    /* PyTorch's GRU: n = tanh(nx + r (.) nh), h' = n + z (h - n) */                                             \
    static void gru_row_##SUF(int64_t H, const T *restrict g, const T *restrict b, T *restrict h) {             \
        const T *gr = g, *gz = g + H, *gnx = g + 2 * H, *gnh = g + 3 * H;                                        \
        const T *br = b, *bz = b + H, *bnx = b + 2 * H, *bnh = b + 3 * H;                                        \
        for (int64_t j = 0; j < H; j++) {                                                                        \
            T n = TANH(gnx[j] + bnx[j] + SIG(gr[j] + br[j]) * (gnh[j] + bnh[j]));                                \
            h[j] = n + SIG(gz[j] + bz[j]) * (h[j] - n);                                                          \
        }                                                                                                        \
    }                                                                                                            \
    /* reset-before, first pass: z into g's z block, rh = r (.) h */                                              \
    static void gru_rb_row1_##SUF(int64_t H, T *restrict g, const T *restrict b, const T *restrict h,            \
                                  T *restrict rh) {                                                              \
        for (int64_t j = 0; j < H; j++) {                                                                        \
            g[H + j] = SIG(g[H + j] + b[H + j]);                                                                 \
            rh[j] = SIG(g[j] + b[j]) * h[j];                                                                     \
        }                                                                                                        \
    }                                                                                                            \
    /* second pass: u = W_hn (r (.) h); n = tanh(nx + u + b_hn), h' = n + z (h - n) */                           \
    static void gru_rb_row2_##SUF(int64_t H, const T *restrict g, const T *restrict b, const T *restrict u,      \
                                  const T *restrict b2, T *restrict h) {                                         \
        for (int64_t j = 0; j < H; j++) {                                                                        \
            T n = TANH(g[2 * H + j] + b[2 * H + j] + u[j] + b2[j]);                                              \
            h[j] = n + g[H + j] * (h[j] - n);                                                                    \
        }                                                                                                        \
    }                                                                                                            \
    /* One layer: xh's x part is this step's input, its h part the state; writes the new states. */             \
    static void layer_##SUF(const sg_rnn_stream *s, fast_layer *f) {                                             \
        int64_t B = s->B, H = s->H, P = s->P, K = f->K, D = f->D, R = f->R;                                      \
        T *xh = f->xh, *g = f->g, *c = f->c, *tmp = f->tmp, *tmp2 = f->tmp2;                                     \
        const T *bias = f->b;                                                                                    \
        product_##SUF(B, R, K, f->w, xh, K, g, R);                                                              \
        for (int64_t bi = 0; bi < B; bi++) {                                                                     \
            T *gr = g + bi * R, *h = xh + bi * K + D;                                                            \
            switch (s->kind) {                                                                                   \
            case FAST_RNN_TANH: rnn_row_##SUF(H, gr, bias, h, false); break;                                     \
            case FAST_RNN_RELU: rnn_row_##SUF(H, gr, bias, h, true); break;                                      \
            case FAST_LSTM: {                                                                                    \
                T *out = f->wr ? tmp + bi * H : h;                                                               \
                if (f->pc[0]) lstm_peep_row_##SUF(H, gr, bias, f->pc[0], f->pc[1], f->pc[2], c + bi * H, out);   \
                else lstm_row_##SUF(H, gr, bias, c + bi * H, out);                                               \
                break;                                                                                           \
            }                                                                                                    \
            case FAST_GRU: gru_row_##SUF(H, gr, bias, h); break;                                                 \
            case FAST_GRU_RB: gru_rb_row1_##SUF(H, gr, bias, h, tmp + bi * H); break;                            \
            default: break;                                                                                      \
            }                                                                                                    \
        }                                                                                                        \
        if (s->kind == FAST_GRU_RB) {                                                                            \
            product_##SUF(B, H, P, f->w2, tmp, H, tmp2, H);                                                      \
            for (int64_t bi = 0; bi < B; bi++)                                                                   \
                gru_rb_row2_##SUF(H, g + bi * R, bias, tmp2 + bi * H, f->b2, xh + bi * K + D);                   \
        }                                                                                                        \
        if (s->kind == FAST_LSTM && f->wr) product_##SUF(B, P, H, f->wr, tmp, H, xh + D, K); /* h = W_hr h' */  \
    }
DEF_ROWS(float, f, sg__sigmoidf, sg__tanhf, relu_f)
DEF_ROWS(double, d, sigmoid_d, tanh, relu_d)

static void fast_step(sg_rnn_stream *s, const void *x, void *y) {
    size_t es = s->es;
    int64_t B = s->B, P = s->P;
    for (int l = 0; l < s->L; l++) {
        fast_layer *f = &s->fl[l];
        char *xh = f->xh;
        if (l == 0)
            for (int64_t b = 0; b < B; b++) memcpy(xh + (size_t)(b * f->K) * es, (const char *)x + (size_t)(b * f->D) * es, (size_t)f->D * es);
        else {
            const fast_layer *pl = &s->fl[l - 1];
            for (int64_t b = 0; b < B; b++)
                memcpy(xh + (size_t)(b * f->K) * es, (const char *)pl->xh + (size_t)(b * pl->K + pl->D) * es, (size_t)P * es);
        }
        if (s->dt == SG_F64) layer_d(s, f);
        else layer_f(s, f);
    }
    const fast_layer *top = &s->fl[s->L - 1];
    for (int64_t b = 0; y && b < B; b++)
        memcpy((char *)y + (size_t)(b * P) * es, (const char *)top->xh + (size_t)(b * top->K + top->D) * es, (size_t)P * es);
}

/* ---- the general step ---- */

/* Resolves every layer's parameters (the prepare hooks run here, on the arena) and sets the floor. */
static int general_prepare(sg_rnn_stream *s) {
    sg__arena_rewind(s->arena, (sg__arena_mark){0, 0});
    sg__arena *prev = sg__arena_enter(s->arena);
    bool grad = sg_set_grad_enabled(false);
    int rc = SG_OK;
    for (int l = 0; l < s->L && !rc; l++)
        rc = sg__cell_resolve(s->m, s->ci, sg__rnn_params(s->r, l, 0), &s->ctx[l], s->w[l]);
    sg_set_grad_enabled(grad);
    sg__arena_enter(prev);
    s->floor = sg__arena_mark_now(s->arena);
    return rc;
}

static int general_step(sg_rnn_stream *s, const void *x, void *y) {
    const char *fn = "sg_rnn_stream_step";
    sg__arena_rewind(s->arena, s->floor);
    memcpy(sg__ptr(s->x_in), x, (size_t)(s->B * s->D0) * s->es);
    sg__bump(s->x_in->storage);
    sg__arena *prev = sg__arena_enter(s->arena);
    bool grad = sg_set_grad_enabled(false);
    int rc = SG_OK, nxt = 1 - s->cur;
    sg_tensor *inp = s->x_in, *o = NULL;
    for (int l = 0; l < s->L && !rc; l++) {
        sg_tensor *xg = sg__cell_input(s->ci, &s->ctx[l], s->w[l], inp, NULL);
        sg_tensor *sin[SG_CELL_MAX_STATES], *sn[SG_CELL_MAX_STATES];
        for (int k = 0; k < s->ns; k++) sin[k] = *gstate(s, s->cur, l, k);
        rc = xg ? sg__cell_step(s->ci, &s->ctx[l], s->w[l], xg, sin, s->t, sn, &o, fn) : sg_last_status();
        for (int k = 0; k < s->ns && !rc; k++) { /* into the other half: views of the old states stay valid */
            sg_tensor *dst = *gstate(s, nxt, l, k);
            sg__kcopy(dst, sn[k]);
            sg__bump(dst->storage);
        }
        inp = o;
    }
    if (!rc && y) {
        sg_tensor dst = *o; /* a contiguous header over y: no allocation */
        sg_storage st = {.data = y, .nbytes = (size_t)(s->B * s->P) * s->es};
        dst.storage = &st;
        dst.offset = 0;
        sg__contiguous_strides(dst.ndim, dst.shape, dst.stride);
        sg__kcopy(&dst, o);
    }
    sg_set_grad_enabled(grad);
    sg__arena_enter(prev);
    if (!rc) s->cur = nxt;
    return rc;
}

/* ---- public ---- */

void sg_rnn_stream_free(sg_rnn_stream *s) {
    if (!s) return;
    for (int l = 0; s->fl && l < s->L; l++) {
        fast_layer *f = &s->fl[l];
        void *bufs[] = {f->w, f->b, f->w2, f->b2, f->wr, f->pc[0], f->pc[1], f->pc[2], f->xh, f->c, f->g, f->tmp, f->tmp2};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    }
    free(s->fl);
    for (size_t i = 0; s->st && i < (size_t)(2 * s->L * s->ns); i++) sg_tensor_free(s->st[i]);
    free(s->st);
    sg_tensor_free(s->x_in);
    sg__arena_free(s->arena);
    free(s->w);
    free(s->ctx);
    free(s);
}

/* a zeroed buffer of n elements (n may be 0: a 1-element one) */
static void *zbuf(const sg_rnn_stream *s, int64_t n) { return calloc((size_t)(n > 0 ? n : 1), s->es); }

static int fast_alloc(sg_rnn_stream *s) {
    s->fl = calloc((size_t)s->L, sizeof *s->fl);
    if (!s->fl) return SG_ERR_MEM;
    int64_t H = s->H, P = s->P, B = s->B;
    for (int l = 0; l < s->L; l++) {
        fast_layer *f = &s->fl[l];
        f->D = l == 0 ? s->D0 : P;
        f->K = f->D + P;
        f->R = s->kind == FAST_GRU ? 4 * H : s->ci->G * H;
        bool ok = (f->w = zbuf(s, f->R * f->K)) && (f->b = zbuf(s, f->R)) && (f->xh = zbuf(s, B * f->K)) &&
                  (f->g = zbuf(s, B * f->R)) && (f->tmp = zbuf(s, B * H)) && (f->tmp2 = zbuf(s, B * H));
        if (ok && s->kind == FAST_LSTM) ok = (f->c = zbuf(s, B * H)) != NULL;
        if (ok && s->kind == FAST_GRU_RB) ok = (f->w2 = zbuf(s, H * P)) && (f->b2 = zbuf(s, H));
        if (ok && s->kind == FAST_LSTM && P != H) ok = (f->wr = zbuf(s, P * H)) != NULL;
        for (int k = 0; ok && k < 3 && s->kind == FAST_LSTM && (s->ci->opts & SG_CELL_OPT_PEEPHOLE); k++)
            ok = (f->pc[k] = zbuf(s, H)) != NULL;
        if (!ok) return SG_ERR_MEM;
    }
    return SG_OK;
}

static int general_alloc(sg_rnn_stream *s) {
    s->arena = sg__arena_new();
    s->w = calloc((size_t)s->L, sizeof *s->w);
    s->ctx = calloc((size_t)s->L, sizeof *s->ctx);
    s->st = calloc((size_t)(2 * s->L * s->ns), sizeof *s->st);
    if (!s->arena || !s->w || !s->ctx || !s->st) return SG_ERR_MEM;
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < s->L; l++)
            for (int k = 0; k < s->ns; k++)
                if (!(*gstate(s, h, l, k) = sg_zeros(s->dt, 2, (int64_t[]){s->B, s->ci->state_size[k]})))
                    return sg_last_status();
    if (!(s->x_in = sg_zeros(s->dt, 2, (int64_t[]){s->B, s->D0}))) return sg_last_status();
    for (int l = 0; l < s->L; l++) s->ctx[l] = sg__cell_ctx(s->ci, sg__rnn_params(s->r, l, 0), l, 0, s->B);
    return general_prepare(s);
}

sg_rnn_stream *sg_rnn_stream_new(const sg_rnn *r, int64_t batch, unsigned flags) {
    const char *fn = "sg_rnn_stream_new";
    if (!r) {
        sg_set_error(SG_ERR_NULL, "%s: argument 'r' is NULL", fn);
        return NULL;
    }
    const sg_rnn_config *cfg = sg_rnn_get_config(r);
    if (cfg->bidirectional) {
        sg_set_error(SG_ERR_ARG, "%s: argument 'r' is a bidirectional layer: a stream runs forward in time only", fn);
        return NULL;
    }
    if (batch < 1) {
        sg_set_error(SG_ERR_ARG, "%s: argument 'batch' must be >= 1, got %lld", fn, (long long)batch);
        return NULL;
    }
    if (flags & ~(unsigned)SG_STREAM_COMPOSED) {
        sg_set_error(SG_ERR_ARG, "%s: argument 'flags' has unknown bits 0x%x", fn, flags);
        return NULL;
    }
    sg_model *m = sg__rnn_model(r);
    if (!sg_model_is_final(m)) {
        sg_set_error(SG_ERR_STATE, "%s: the layer's model is not finalized (call sg_model_finalize first)", fn);
        return NULL;
    }
    sg_rnn_stream *s = calloc(1, sizeof *s);
    if (!s) {
        sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
        return NULL;
    }
    s->r = r;
    s->m = m;
    s->ci = sg__rnn_info(r);
    s->L = cfg->num_layers;
    s->ns = s->ci->n_states;
    s->B = batch;
    s->D0 = cfg->input_size;
    s->H = s->ci->H;
    s->P = s->ci->P;
    s->dt = sg_model_dtype(m);
    s->es = sg_dtype_size(s->dt);
    for (int i = 0; i < N_FAST_CELLS && !(flags & SG_STREAM_COMPOSED); i++)
        if (FAST_CELLS[i].def == s->ci->def) s->kind = FAST_CELLS[i].kind;
    int rc = s->kind ? fast_alloc(s) : general_alloc(s);
    if (rc) {
        if (rc == SG_ERR_MEM && sg_last_status() != SG_ERR_MEM) sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
        sg_rnn_stream_free(s);
        return NULL;
    }
    for (int l = 0; s->kind && l < s->L; l++) pack_layer(s, l);
    return s;
}

int sg_rnn_stream_step_data(sg_rnn_stream *s, const void *x, void *y) {
    const char *fn = "sg_rnn_stream_step";
    if (!s) return sg_set_error(SG_ERR_NULL, "%s: argument 's' is NULL", fn);
    if (!x) return sg_set_error(SG_ERR_NULL, "%s: argument 'x' is NULL", fn);
    int rc = SG_OK;
    if (s->kind) fast_step(s, x, y);
    else rc = general_step(s, x, y);
    if (!rc) s->t++;
    return rc;
}

/* t must be a live contiguous (n0, n1[, n2]) tensor of dtype dt */
static int check_buf(const char *fn, const char *arg, const sg_tensor *t, sg_dtype dt, int nd, const int64_t *shape) {
    if (!sg__check_arg(t, fn, arg)) return sg_last_status();
    if (t->dtype != dt)
        return sg_set_error(SG_ERR_DTYPE, "%s: %s is %s but the model is %s", fn, arg, sg_dtype_name(t->dtype),
                            sg_dtype_name(dt));
    bool ok = t->ndim == nd && sg__is_contiguous(t);
    for (int i = 0; ok && i < nd; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        char a[SG_SHAPE_BUF], b[SG_SHAPE_BUF];
        return sg_set_error(SG_ERR_SHAPE, "%s: %s must be a contiguous %s tensor, got %s%s", fn, arg,
                            sg__shape_str(nd, shape, a, sizeof a), sg__shape_str(t->ndim, t->shape, b, sizeof b),
                            sg__is_contiguous(t) ? "" : " (not contiguous)");
    }
    return SG_OK;
}

int sg_rnn_stream_step(sg_rnn_stream *s, const sg_tensor *x, sg_tensor *y) {
    const char *fn = "sg_rnn_stream_step";
    if (!s) return sg_set_error(SG_ERR_NULL, "%s: argument 's' is NULL", fn);
    if (check_buf(fn, "x", x, s->dt, 2, (int64_t[]){s->B, s->D0})) return sg_last_status();
    if (y && check_buf(fn, "y", y, s->dt, 2, (int64_t[]){s->B, s->P})) return sg_last_status();
    int rc = sg_rnn_stream_step_data(s, sg__ptr(x), y ? sg__ptr(y) : NULL);
    if (!rc && y) sg__bump(y->storage);
    return rc;
}

/* row b of state k of layer l: size_k elements */
static char *state_row(const sg_rnn_stream *s, int k, int l, int64_t b) {
    if (s->kind) {
        const fast_layer *f = &s->fl[l];
        if (k == 0) return (char *)f->xh + (size_t)(b * f->K + f->D) * s->es;
        return (char *)f->c + (size_t)(b * s->H) * s->es;
    }
    sg_tensor *t = *gstate(s, s->cur, l, k);
    return (char *)sg__ptr(t) + (size_t)(b * s->ci->state_size[k]) * s->es;
}

int sg_rnn_stream_reset(sg_rnn_stream *s) {
    if (!s) return sg_set_error(SG_ERR_NULL, "sg_rnn_stream_reset: argument 's' is NULL");
    for (int k = 0; k < s->ns; k++)
        for (int l = 0; l < s->L; l++)
            for (int64_t b = 0; b < s->B; b++) memset(state_row(s, k, l, b), 0, (size_t)s->ci->state_size[k] * s->es);
    for (int l = 0; !s->kind && l < s->L; l++)
        for (int k = 0; k < s->ns; k++) sg__bump((*gstate(s, s->cur, l, k))->storage);
    s->t = 0;
    return SG_OK;
}

int sg_rnn_stream_sync(sg_rnn_stream *s) {
    if (!s) return sg_set_error(SG_ERR_NULL, "sg_rnn_stream_sync: argument 's' is NULL");
    if (s->kind) {
        for (int l = 0; l < s->L; l++) pack_layer(s, l);
        return SG_OK;
    }
    return general_prepare(s);
}

static int state_check(const sg_rnn_stream *s, const char *fn, int k, const char *arg, const sg_tensor *t) {
    if (!s) return sg_set_error(SG_ERR_NULL, "%s: argument 's' is NULL", fn);
    if (k < 0 || k >= s->ns)
        return sg_set_error(SG_ERR_ARG, "%s: argument 'k' = %d: cell '%s' has %d state(s)", fn, k, s->ci->def->name, s->ns);
    return check_buf(fn, arg, t, s->dt, 3, (int64_t[]){s->L, s->B, s->ci->state_size[k]});
}

int sg_rnn_stream_get_state(const sg_rnn_stream *s, int k, sg_tensor *dst) {
    if (state_check(s, "sg_rnn_stream_get_state", k, "dst", dst)) return sg_last_status();
    size_t row = (size_t)s->ci->state_size[k] * s->es;
    char *d = sg__ptr(dst);
    for (int l = 0; l < s->L; l++)
        for (int64_t b = 0; b < s->B; b++) memcpy(d + ((size_t)l * (size_t)s->B + (size_t)b) * row, state_row(s, k, l, b), row);
    sg__bump(dst->storage);
    return SG_OK;
}

int sg_rnn_stream_set_state(sg_rnn_stream *s, int k, const sg_tensor *src) {
    if (state_check(s, "sg_rnn_stream_set_state", k, "src", src)) return sg_last_status();
    size_t row = (size_t)s->ci->state_size[k] * s->es;
    const char *d = sg__ptr(src);
    for (int l = 0; l < s->L; l++) {
        for (int64_t b = 0; b < s->B; b++) memcpy(state_row(s, k, l, b), d + ((size_t)l * (size_t)s->B + (size_t)b) * row, row);
        if (!s->kind) sg__bump((*gstate(s, s->cur, l, k))->storage);
    }
    return SG_OK;
}

int64_t sg_rnn_stream_time(const sg_rnn_stream *s) { return s ? s->t : -1; }

int sg_rnn_stream_is_fast(const sg_rnn_stream *s) { return s ? s->kind != FAST_NONE : -1; }
