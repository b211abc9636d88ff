/* Unary elementwise ops, a (...) -> (...): neg, scalar add/mul/pow, exp, log, sqrt, abs, sigmoid,
 * tanh, relu, clamp, GELU (exact and tanh forms), and the differentiable dtype conversion
 * sg_to_dtype. Inputs may be strided.
 * Not here: anything with a second tensor operand or broadcasting (ops/binary.c). */
#include <tgmath.h> /* type-generic exp/log/pow/...: expf on float elements, exp on double */

#include "../autograd/node.h"
#include "../tensor/isa_impl.h"
#include "fastmath.h"
#include "ops.h"

/* What the backward of an op reads besides gout. */
typedef enum {
    READS_NONE,   /* derivative is a constant (neg, add/mul scalar) */
    READS_INPUT,  /* derivative from the input a (n->in[0], possibly strided) */
    READS_OUTPUT, /* derivative from the output y (n->out; exp, sqrt, sigmoid, tanh) */
} ureads;

/* The op table: each op's forward and backward side by side.
 * Forward:  y = F(x), x an element of a.
 * Backward: da = B(g, v), g an element of gout, v the element the op reads (see ureads).
 * s0, s1 are the op's scalars (s for add/mul, p for pow, lo/hi for clamp), already in the element
 * type. pow with non-integer p gives NaN for negative x (C pow, as PyTorch); its gradient is
 * p*x^(p-1), defined as exactly 0 when p == 0. abs and relu take gradient 0 at 0; clamp passes the
 * gradient where lo <= x <= hi (bounds included). NaN inputs give NaN outputs (relu and clamp too). */
/*  code          public name      backward reads forward F(x)                       backward B(g, v)   */
#define UNARY_OPS(X)                                                                               \
    X(U_NEG,        "sg_neg",        READS_NONE,   -x,                                -g)          \
    X(U_ADD_SCALAR, "sg_add_scalar", READS_NONE,   x + s0,                            g)           \
    X(U_MUL_SCALAR, "sg_mul_scalar", READS_NONE,   x * s0,                            g * s0)      \
    X(U_POW_SCALAR, "sg_pow_scalar", READS_INPUT,  pow(x, s0),                        s0 == 0 ? 0 : g * s0 * pow(v, s0 - 1)) \
    X(U_EXP,        "sg_exp",        READS_OUTPUT, exp(x),                            g * v)       \
    X(U_LOG,        "sg_log",        READS_INPUT,  log(x),                            g / v)       \
    X(U_SQRT,       "sg_sqrt",       READS_OUTPUT, sqrt(x),                           g / (2 * v)) \
    X(U_ABS,        "sg_abs",        READS_INPUT,  fabs(x),                           v > 0 ? g : (v < 0 ? -g : 0)) \
    X(U_SIGMOID,    "sg_sigmoid",    READS_OUTPUT, SIGMOID(x),                        g * v * (1 - v))     \
    X(U_TANH,       "sg_tanh",       READS_OUTPUT, TANH(x),                           g * (1 - v * v))     \
    X(U_RELU,       "sg_relu",       READS_INPUT,  x < 0 ? 0 : x,                     v > 0 ? g : 0)       \
    X(U_CLAMP,      "sg_clamp",      READS_INPUT,  x < s0 ? s0 : (x > s1 ? s1 : x),   v >= s0 && v <= s1 ? g : 0) \
    X(U_GELU,       "sg_gelu",       READS_INPUT,  GELU(x),                           g * GELU_D(v))       \
    X(U_GELU_TANH,  "sg_gelu_tanh",  READS_INPUT,  GELU_TANH(x),                      g * GELU_TANH_D(v))

#define AS_ENUM(code, name, reads, F, B) code,
typedef enum { UNARY_OPS(AS_ENUM) U_COUNT } ucode;
#undef AS_ENUM

#define AS_INFO(code, name, reads, F, B) [code] = {name, reads},
static const struct {
    const char *name;
    ureads reads;
} U_INFO[] = {UNARY_OPS(AS_INFO)};
#undef AS_INFO
_Static_assert(sizeof U_INFO / sizeof U_INFO[0] == U_COUNT, "one U_INFO entry per unary op");

/* Logistic function, exact limits for large |x|: exp of a non-positive number never overflows, so
 * sigmoid(+-1000) is exactly 1 and 0 with no inf/inf. float32 sigmoid and tanh are fastmath.h's
 * vectorisable ones (a few ulp, the same the fused gate ops use); float64 keeps libm. */
static inline double tanh_f64(double x) { return tanh(x); }
#define SIGMOID(x) _Generic((x), float: sg__sigmoidf, double: sg__sigmoid)(x)
#define TANH(x) _Generic((x), float: sg__tanhf, double: tanh_f64)(x)

/* GELU, exact: x Phi(x) with Phi the standard normal CDF, Phi(x) = (1 + erf(x / sqrt 2)) / 2;
 * derivative Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi). Tanh form (PyTorch's
 * approximate='tanh'): x (1 + tanh u) / 2 with u = sqrt(2/pi) (x + GELU_C x^3). */
#define GELU_C 0.044715
#define SQRT_2_OVER_PI 0.79788456080286535588 /* sqrt(2/pi) */
#define INV_SQRT_2PI 0.39894228040143267794   /* 1/sqrt(2 pi) */
#define INV_SQRT_2 0.70710678118654752440     /* 1/sqrt(2) */
#define GELU_FNS(T, sfx)                                                                           \
    static inline T gelu_##sfx(T x) { return (T)0.5 * x * (1 + erf(x * (T)INV_SQRT_2)); }           \
    static inline T gelu_d_##sfx(T x) {                                                            \
        return (T)0.5 * (1 + erf(x * (T)INV_SQRT_2)) + x * (T)INV_SQRT_2PI * exp((T)-0.5 * x * x);  \
    }                                                                                              \
    static inline T gelu_tanh_##sfx(T x) {                                                         \
        return (T)0.5 * x * (1 + tanh((T)SQRT_2_OVER_PI * (x + (T)GELU_C * x * x * x)));           \
    }                                                                                              \
    static inline T gelu_tanh_d_##sfx(T x) {                                                       \
        T t = tanh((T)SQRT_2_OVER_PI * (x + (T)GELU_C * x * x * x));                               \
        return (T)0.5 * (1 + t) +                                                                  \
               (T)0.5 * x * (1 - t * t) * (T)SQRT_2_OVER_PI * (1 + 3 * (T)GELU_C * x * x);         \
    }
GELU_FNS(float, f32)
GELU_FNS(double, f64)
#define GELU(x) _Generic((x), float: gelu_f32, double: gelu_f64)(x)
#define GELU_D(x) _Generic((x), float: gelu_d_f32, double: gelu_d_f64)(x)
#define GELU_TANH(x) _Generic((x), float: gelu_tanh_f32, double: gelu_tanh_f64)(x)
#define GELU_TANH_D(x) _Generic((x), float: gelu_tanh_d_f32, double: gelu_tanh_d_f64)(x)

/* One row: po[j*so] = EXPR, binding A to pp's element and B to pq's (pq may be pp), ET the element
 * type. The unit-stride case takes a flat loop (vectorisable). */
#define MAP_ROW(A, B, EXPR)                                                                        \
    do {                                                                                           \
        if (so == 1 && sp == 1 && sq == 1) {                                                       \
            ET *restrict o_ = po;                                                                  \
            const ET *restrict p_ = pp, *restrict q_ = pq;                                         \
            for (int64_t j = 0; j < n; j++) {                                                      \
                const ET A = p_[j], B = q_[j];                                                     \
                (void)A;                                                                           \
                (void)B;                                                                           \
                o_[j] = (EXPR);                                                                    \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t j = 0; j < n; j++) {                                                      \
                const ET A = pp[j * sp], B = pq[j * sq];                                           \
                (void)A;                                                                           \
                (void)B;                                                                           \
                po[j * so] = (EXPR);                                                               \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define FWD_CASE(code, name, reads, F, B)                                                          \
    case code: MAP_ROW(x, x_unused, F); break;
#define BWD_CASE(code, name, reads, F, B)                                                          \
    case code: MAP_ROW(g, v, B); break;

/* The row kernel of one dtype, compiled per instruction set (tensor/isa_impl.h). Forward: out =
 * F(p), q is p. Backward: out = B(p = gout, q = the value read). s0, s1 are the op's scalars. */
#define UNARY_ROW(T)                                                                               \
    SG_ISA_KERNEL(unary_row_##T,                                                                   \
                  (bool backward, ucode code, T *po, const T *pp, const T *pq, int64_t n, int64_t so, \
                   int64_t sp, int64_t sq, T s0, T s1),                                            \
                  (backward, code, po, pp, pq, n, so, sp, sq, s0, s1)) {                           \
        typedef T ET;                                                                              \
        (void)s1;                                                                                  \
        if (backward) {                                                                            \
            switch (code) {                                                                        \
                UNARY_OPS(BWD_CASE)                                                                \
            default: SG_ASSERT(!"bad unary op code");                                             \
            }                                                                                      \
        } else {                                                                                   \
            switch (code) {                                                                        \
                UNARY_OPS(FWD_CASE)                                                                \
            default: SG_ASSERT(!"bad unary op code");                                             \
            }                                                                                      \
        }                                                                                          \
    }
UNARY_ROW(float)
UNARY_ROW(double)

/* Contiguous operands go in chunks of UNARY_CHUNK elements, strided ones row by row through
 * sg_iter; parallel above SG_PAR_MIN elements. Each element is written by exactly one call, so
 * results do not depend on the thread count. */
enum { UNARY_CHUNK = 4096 };
#define UNARY_LOOP(T)                                                                              \
    do {                                                                                           \
        const T s0 = (T)s0d, s1 = (T)s1d;                                                          \
        T *ob = (T *)sg__ptr(out);                                                                 \
        const T *pb = (const T *)sg__ptr(p), *qb = (const T *)sg__ptr(q);                          \
        SG_ISA_FN(unary_row_##T) *row = SG_ISA_PICK(unary_row_##T);                                \
        if (contig) {                                                                              \
            int64_t nchunk = (n + UNARY_CHUNK - 1) / UNARY_CHUNK;                                  \
            SG_PAR_FOR(n >= SG_PAR_MIN,                                                            \
            for (int64_t c = 0; c < nchunk; c++) {                                                 \
                int64_t j0 = c * UNARY_CHUNK, len = n - j0 < UNARY_CHUNK ? n - j0 : UNARY_CHUNK;   \
                row(backward, code, ob + j0, pb + j0, qb + j0, len, 1, 1, 1, s0, s1);              \
            })                                                                                     \
        } else {                                                                                   \
            SG_PAR_FOR(n >= SG_PAR_MIN,                                                            \
            for (int64_t r = 0; r < it.outer; r++) {                                               \
                int64_t off[SG_ITER_MAXOPS];                                                       \
                sg__iter_row(&it, r, off);                                                         \
                row(backward, code, ob + off[0], pb + off[1], qb + off[2], it.inner,               \
                    it.inner_stride[0], it.inner_stride[1], it.inner_stride[2], s0, s1);           \
            })                                                                                     \
        }                                                                                          \
    } while (0)

static void kernel_f32(bool backward, ucode code, sg_tensor *out, const sg_tensor *p,
                       const sg_tensor *q, double s0d, double s1d, bool contig, const sg_iter *itp,
                       int64_t n) {
    const sg_iter it = *itp;
    UNARY_LOOP(float);
}
static void kernel_f64(bool backward, ucode code, sg_tensor *out, const sg_tensor *p,
                       const sg_tensor *q, double s0d, double s1d, bool contig, const sg_iter *itp,
                       int64_t n) {
    const sg_iter it = *itp;
    UNARY_LOOP(double);
}

/* out (contiguous, fresh) = op(p[, q]) elementwise; p and q have out's shape and dtype. */
static void umap(bool backward, ucode code, sg_tensor *out, const sg_tensor *p, const sg_tensor *q,
                 double s0, double s1) {
    int64_t n = sg__numel(out);
    if (n == 0) return;
    bool contig = sg__is_contiguous(p) && sg__is_contiguous(q);
    sg_iter it = {0};
    if (!contig) {
        const sg_tensor *ops[3] = {out, p, q};
        sg__iter_init(&it, 3, ops, out->ndim, out->shape);
    }
    if (out->dtype == SG_F32) kernel_f32(backward, code, out, p, q, s0, s1, contig, &it, n);
    else kernel_f64(backward, code, out, p, q, s0, s1, contig, &it, n);
}

/* da += B(gout, v) with v per the op's table entry. */
static int unary_bw(sg_node *n, const sg_tensor *gout) {
    if (!sg__wants_grad(n, 0)) return SG_OK;
    ucode code = (ucode)n->iarg[0];
    ureads reads = U_INFO[code].reads;
    const sg_tensor *v = reads == READS_INPUT ? n->in[0] : reads == READS_OUTPUT ? n->out : gout;
    sg_tensor *g = sg__alloc(gout->dtype, gout->ndim, gout->shape, false);
    if (!g) return SG_ERR_MEM;
    umap(true, code, g, gout, v, n->farg[0], n->farg[1]);
    return sg__grad_accum(n->in[0], g);
}

/* The shared driver: check, allocate, compute, record (scalars in farg, op code in iarg[0]). */
static sg_tensor *unary(ucode code, sg_tensor *a, double s0, double s1) {
    const char *name = U_INFO[code].name;
    if (!sg__check_arg(a, name, "a")) return NULL;
    sg_tensor *out = sg__out(a->dtype, a->ndim, a->shape, false);
    if (!out) return NULL;
    umap(false, code, out, a, a, s0, s1);
    int err;
    sg_node *n = sg__record(out, name, unary_bw, 1, &a, &err);
    if (n) {
        n->reads = U_INFO[code].reads == READS_INPUT ? sg__reads_bit(0) : SG_READS_NONE;
        n->iarg[0] = code;
        n->farg[0] = s0;
        n->farg[1] = s1;
    }
    return err ? NULL : out;
}

/* a (...) -> (...) for each of these */
sg_tensor *sg_neg(sg_tensor *a) { return unary(U_NEG, a, 0, 0); }
sg_tensor *sg_add_scalar(sg_tensor *a, double s) { return unary(U_ADD_SCALAR, a, s, 0); }
sg_tensor *sg_mul_scalar(sg_tensor *a, double s) { return unary(U_MUL_SCALAR, a, s, 0); }
sg_tensor *sg_pow_scalar(sg_tensor *a, double p) { return unary(U_POW_SCALAR, a, p, 0); }
sg_tensor *sg_exp(sg_tensor *a) { return unary(U_EXP, a, 0, 0); }
sg_tensor *sg_log(sg_tensor *a) { return unary(U_LOG, a, 0, 0); }
sg_tensor *sg_sqrt(sg_tensor *a) { return unary(U_SQRT, a, 0, 0); }
sg_tensor *sg_abs(sg_tensor *a) { return unary(U_ABS, a, 0, 0); }
sg_tensor *sg_sigmoid(sg_tensor *a) { return unary(U_SIGMOID, a, 0, 0); }
sg_tensor *sg_tanh(sg_tensor *a) { return unary(U_TANH, a, 0, 0); }
sg_tensor *sg_relu(sg_tensor *a) { return unary(U_RELU, a, 0, 0); }
sg_tensor *sg_gelu(sg_tensor *a) { return unary(U_GELU, a, 0, 0); }
sg_tensor *sg_gelu_tanh(sg_tensor *a) { return unary(U_GELU_TANH, a, 0, 0); }

/* a (...) -> (...); lo <= hi, neither NaN (infinities leave that side open) */
sg_tensor *sg_clamp(sg_tensor *a, double lo, double hi) {
    if (!sg__check_arg(a, "sg_clamp", "a")) return NULL;
    if (isnan(lo) || isnan(hi) || lo > hi) {
        sg_set_error(SG_ERR_ARG, "sg_clamp: need lo <= hi and neither NaN (got lo %g, hi %g)", lo, hi);
        return NULL;
    }
    return unary(U_CLAMP, a, lo, hi);
}

/* ---- dtype conversion: a (...) -> (...) in dt; the gradient is converted back ---- */

static int to_dtype_bw(sg_node *n, const sg_tensor *gout) {
    if (!sg__wants_grad(n, 0)) return SG_OK;
    sg_tensor *a = n->in[0];
    sg_tensor *g = sg__alloc(a->dtype, a->ndim, a->shape, false);
    if (!g) return SG_ERR_MEM;
    sg__kcopy(g, gout); /* converts gout's dtype to a's */
    return sg__grad_accum(a, g);
}

/* Same dtype: a new tape-owned view of a (no copy) that still passes the gradient. */
sg_tensor *sg_to_dtype(sg_tensor *a, sg_dtype dt) {
    const char *name = "sg_to_dtype";
    if (!sg__check_arg(a, name, "a")) return NULL;
    if ((unsigned)dt >= SG_DTYPE_COUNT) {
        sg_set_error(SG_ERR_DTYPE, "%s: argument 'dt' is not a valid dtype (%d)", name, (int)dt);
        return NULL;
    }
    sg_tensor *out;
    if (dt == a->dtype) {
        out = sg__out_view(a, a->ndim, a->shape, a->stride, a->offset);
    } else {
        out = sg__out(dt, a->ndim, a->shape, false);
        if (out) sg__kcopy(out, a);
    }
    if (!out) return NULL;
    int err;
    sg__record(out, name, to_dtype_bw, 1, &a, &err);
    return err ? NULL : out;
}
