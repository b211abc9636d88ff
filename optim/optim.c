/* Optimizer updates over the flat parameter and gradient blocks of a model. Elementwise, so each
 * element's update is independent and parallel loops stay bitwise reproducible. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/isa_impl.h"
#include "../tensor/kernels.h"
#include "optim.h"

#define ADAM_BETA1 0.9
#define ADAM_BETA2 0.999
#define OPT_EPS 1e-8
#define RMSPROP_ALPHA 0.99
#define CLIP_NORM_EPS 1e-6
enum { MAX_STATES = 3, NORM_BLOCK = 4096, NORM_LANES = 8, OPT_CHUNK = 4096 };

struct sg_optim {
    sg_model *m;
    sg_optim_config cfg;
    int64_t steps;
    int nstate;
    const char *state_name[MAX_STATES];
    sg_tensor *state[MAX_STATES];
};

static int validate(const sg_optim_config *c) {
    if (!c) return sg_set_error(SG_ERR_NULL, "sg_optim_new: argument 'cfg' is NULL");
    if ((unsigned)c->kind >= SG_OPT_COUNT) return sg_set_error(SG_ERR_ARG, "sg_optim_new: invalid optimizer kind %d", (int)c->kind);
    if (!(c->lr > 0) || !isfinite(c->lr)) return sg_set_error(SG_ERR_ARG, "sg_optim_new: lr must be > 0 (got %g)", c->lr);
    if (!(c->weight_decay >= 0)) return sg_set_error(SG_ERR_ARG, "sg_optim_new: weight_decay must be >= 0 (got %g)", c->weight_decay);
    if (!(c->momentum >= 0)) return sg_set_error(SG_ERR_ARG, "sg_optim_new: momentum must be >= 0 (got %g)", c->momentum);
    if (c->nesterov && (c->momentum <= 0 || c->dampening != 0))
        return sg_set_error(SG_ERR_ARG, "sg_optim_new: Nesterov momentum requires momentum > 0 and dampening 0");
    if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
        return sg_set_error(SG_ERR_ARG, "sg_optim_new: betas must be in [0, 1) (got %g, %g)", c->beta1, c->beta2);
    if (!(c->eps >= 0) || !(c->alpha >= 0 && c->alpha < 1))
        return sg_set_error(SG_ERR_ARG, "sg_optim_new: need eps >= 0 and alpha in [0, 1)");
    return SG_OK;
}

static bool add_state(sg_optim *o, const char *name) {
    int64_t n = sg_numel(sg_model_flat_params(o->m));
    sg_tensor *t = sg_zeros(sg_model_dtype(o->m), 1, &n);
    if (!t) return false;
    o->state_name[o->nstate] = name;
    o->state[o->nstate++] = t;
    return true;
}

sg_optim *sg_optim_new(sg_model *m, const sg_optim_config *cfg) {
    if (!m) {
        sg_set_error(SG_ERR_NULL, "sg_optim_new: argument 'm' is NULL");
        return NULL;
    }
    if (validate(cfg)) return NULL;
    if (!sg_model_is_final(m)) {
        sg_set_error(SG_ERR_STATE, "sg_optim_new: call sg_model_finalize first");
        return NULL;
    }
    sg_optim *o = calloc(1, sizeof *o);
    if (!o) {
        sg_set_error(SG_ERR_MEM, "sg_optim_new: out of memory");
        return NULL;
    }
    o->m = m;
    o->cfg = *cfg;
    sg_optim_config *c = &o->cfg;
    if (c->beta1 == 0 && c->beta2 == 0) {
        c->beta1 = ADAM_BETA1;
        c->beta2 = ADAM_BETA2;
    }
    if (c->eps == 0) c->eps = OPT_EPS;
    if (c->alpha == 0) c->alpha = RMSPROP_ALPHA;
    bool ok = true;
    switch (c->kind) {
    case SG_OPT_SGD:
        if (c->momentum > 0) ok = add_state(o, "momentum_buffer");
        break;
    case SG_OPT_ADAM:
    case SG_OPT_ADAMW: ok = add_state(o, "exp_avg") && add_state(o, "exp_avg_sq"); break;
    case SG_OPT_RMSPROP:
        ok = add_state(o, "square_avg");
        if (ok && c->momentum > 0) ok = add_state(o, "momentum_buffer");
        if (ok && c->centered) ok = add_state(o, "grad_avg");
        break;
    default: break;
    }
    if (!ok) {
        sg_optim_free(o);
        return NULL;
    }
    return o;
}

void sg_optim_free(sg_optim *o) {
    if (!o) return;
    for (int i = 0; i < o->nstate; i++) sg_tensor_free(o->state[i]);
    free(o);
}

static void *state_ptr(const sg_optim *o, const char *name) {
    for (int i = 0; i < o->nstate; i++)
        if (!strcmp(o->state_name[i], name)) return sg__ptr(o->state[i]);
    return NULL;
}

/* The update kernels, one per optimizer and dtype, each compiled per instruction set
 * (tensor/isa_impl.h: the same IEEE operations in the same order at every level, so the same bits)
 * and run by sg_optim_step over chunks of OPT_CHUNK elements in parallel. p, g: parameters and
 * gradients; s0, s1, s2: the optimizer's state blocks as each kernel names them (NULL when the
 * configuration has none); n elements. The constants are the configuration's, in double; each
 * kernel rounds them to T once, as the step always has. */
typedef struct {
    double lr, wd, mu, damp, b1, b2, eps, step_size, bc2_sqrt, decay, alpha;
    bool first, nest, decoupled;
} upd_k;

#define UPDATE_KERNELS(T)                                                                          \
    SG_ISA_KERNEL(sgd_##T, (T *restrict p, const T *restrict g, T *restrict buf, T *restrict s1_,    \
                            T *restrict s2_, const upd_k *k, int64_t n),                           \
                  (p, g, buf, s1_, s2_, k, n)) {                                                   \
        (void)s1_, (void)s2_;                                                                      \
        const T lr = (T)k->lr, wd = (T)k->wd, mu = (T)k->mu, damp = (T)k->damp;                    \
        const bool first = k->first, nest = k->nest;                                              \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T d = g[i] + wd * p[i];                                                                \
            if (buf) {                                                                             \
                buf[i] = first ? d : mu * buf[i] + damp * d;                                       \
                d = nest ? d + mu * buf[i] : buf[i];                                               \
            }                                                                                      \
            p[i] -= lr * d;                                                                        \
        }                                                                                          \
    }                                                                                              \
    SG_ISA_KERNEL(adam_##T, (T *restrict p, const T *restrict g, T *restrict m1, T *restrict m2,     \
                             T *restrict s2_, const upd_k *k, int64_t n),                          \
                  (p, g, m1, m2, s2_, k, n)) {                                                     \
        (void)s2_;                                                                                 \
        const T b1 = (T)k->b1, b2 = (T)k->b2, eps = (T)k->eps, step_size = (T)k->step_size;       \
        const T bc2_sqrt = (T)k->bc2_sqrt, wd = (T)k->wd, decay = (T)k->decay;                    \
        const bool decoupled = k->decoupled;                                                       \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T d = g[i];                                                                            \
            if (decoupled) p[i] *= decay;                                                          \
            else d += wd * p[i];                                                                   \
            m1[i] = b1 * m1[i] + (1 - b1) * d;                                                     \
            m2[i] = b2 * m2[i] + (1 - b2) * d * d;                                                 \
            T denom = (T)sqrt(m2[i]) / bc2_sqrt + eps;                                             \
            p[i] -= step_size * m1[i] / denom;                                                     \
        }                                                                                          \
    }                                                                                              \
    SG_ISA_KERNEL(rmsprop_##T, (T *restrict p, const T *restrict g, T *restrict sq, T *restrict buf, \
                                T *restrict ga, const upd_k *k, int64_t n),                        \
                  (p, g, sq, buf, ga, k, n)) {                                                     \
        const T lr = (T)k->lr, wd = (T)k->wd, a = (T)k->alpha, eps = (T)k->eps, mu = (T)k->mu;     \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T d = g[i] + wd * p[i];                                                                \
            sq[i] = a * sq[i] + (1 - a) * d * d;                                                   \
            T avg;                                                                                 \
            if (ga) {                                                                              \
                ga[i] = a * ga[i] + (1 - a) * d;                                                   \
                avg = (T)sqrt(sq[i] - ga[i] * ga[i]) + eps;                                        \
            } else {                                                                               \
                avg = (T)sqrt(sq[i]) + eps;                                                        \
            }                                                                                      \
            if (buf) {                                                                             \
                buf[i] = mu * buf[i] + d / avg;                                                    \
                p[i] -= lr * buf[i];                                                               \
            } else {                                                                               \
                p[i] -= lr * d / avg;                                                              \
            }                                                                                      \
        }                                                                                          \
    }
UPDATE_KERNELS(float)
UPDATE_KERNELS(double)

/* elements in block b of blk-element blocks over n (the last one may be short) */
static inline int64_t block_len(int64_t b, int64_t blk, int64_t n) { return n - b * blk < blk ? n - b * blk : blk; }

/* off + lo, or NULL for an absent state block */
#define AT(q, lo) ((q) ? (q) + (lo) : NULL)
/* Runs kernel K##_##T over the flat blocks in chunks of OPT_CHUNK (parallel when large). */
#define RUN_UPDATE(K, T, S0, S1, S2)                                                               \
    do {                                                                                           \
        SG_ISA_FN(K##_##T) *f = SG_ISA_PICK(K##_##T);                                              \
        T *p = P, *s0 = S0, *s1 = S1, *s2 = S2;                                                    \
        const T *g = G;                                                                            \
        int64_t nc = (n + OPT_CHUNK - 1) / OPT_CHUNK;                                              \
        SG_PAR_FOR(n >= SG_PAR_MIN,                                                                \
        for (int64_t ch = 0; ch < nc; ch++) {                                                      \
            int64_t lo = ch * OPT_CHUNK;                                                           \
            f(p + lo, g + lo, AT(s0, lo), AT(s1, lo), AT(s2, lo), &k, block_len(ch, OPT_CHUNK, n)); \
        })                                                                                         \
    } while (0)
#define RUN_BY_DTYPE(K, S0, S1, S2)                                                                \
    do {                                                                                           \
        if (f32) RUN_UPDATE(K, float, S0, S1, S2);                                                 \
        else RUN_UPDATE(K, double, S0, S1, S2);                                                    \
    } while (0)

int sg_optim_step(sg_optim *o) {
    if (!o) return sg_set_error(SG_ERR_NULL, "sg_optim_step: argument 'o' is NULL");
    sg_tensor *fp = sg_model_flat_params(o->m), *fg = sg_model_flat_grads(o->m);
    void *P = sg__ptr(fp), *G = sg__ptr(fg);
    int64_t n = sg__numel(fp);
    const sg_optim_config *c = &o->cfg;
    bool f32 = fp->dtype == SG_F32;
    const double t = (double)(o->steps + 1);
    const upd_k k = {.lr = c->lr, .wd = c->weight_decay, .mu = c->momentum, .damp = 1.0 - c->dampening,
                     .b1 = c->beta1, .b2 = c->beta2, .eps = c->eps, .alpha = c->alpha,
                     .step_size = c->lr / (1.0 - pow(c->beta1, t)), .bc2_sqrt = sqrt(1.0 - pow(c->beta2, t)),
                     .decay = 1.0 - c->lr * c->weight_decay, .first = o->steps == 0, .nest = c->nesterov,
                     .decoupled = c->kind == SG_OPT_ADAMW};
    switch (c->kind) {
    case SG_OPT_SGD: RUN_BY_DTYPE(sgd, state_ptr(o, "momentum_buffer"), NULL, NULL); break;
    case SG_OPT_ADAM:
    case SG_OPT_ADAMW: RUN_BY_DTYPE(adam, state_ptr(o, "exp_avg"), state_ptr(o, "exp_avg_sq"), NULL); break;
    case SG_OPT_RMSPROP:
        RUN_BY_DTYPE(rmsprop, state_ptr(o, "square_avg"), state_ptr(o, "momentum_buffer"), state_ptr(o, "grad_avg"));
        break;
    default: return sg_set_error(SG_ERR_ARG, "sg_optim_step: invalid optimizer");
    }
    o->steps++;
    sg__bump(fp->storage);
    return SG_OK;
}

int sg_optim_zero_grad(sg_optim *o) {
    return o ? sg_model_zero_grad(o->m) : sg_set_error(SG_ERR_NULL, "sg_optim_zero_grad: argument 'o' is NULL");
}
int sg_optim_set_lr(sg_optim *o, double lr) {
    if (!o) return sg_set_error(SG_ERR_NULL, "sg_optim_set_lr: argument 'o' is NULL");
    if (!(lr > 0) || !isfinite(lr)) return sg_set_error(SG_ERR_ARG, "sg_optim_set_lr: lr must be > 0 (got %g)", lr);
    o->cfg.lr = lr;
    return SG_OK;
}
double sg_optim_lr(const sg_optim *o) { return o ? o->cfg.lr : 0; }
int64_t sg_optim_steps(const sg_optim *o) { return o ? o->steps : 0; }
const sg_optim_config *sg_optim_get_config(const sg_optim *o) { return o ? &o->cfg : NULL; }
sg_model *sg_optim_model(const sg_optim *o) { return o ? o->m : NULL; }

static const char *const KIND_NAMES[] = {"sgd", "adam", "adamw", "rmsprop"};
_Static_assert(sizeof KIND_NAMES / sizeof *KIND_NAMES == SG_OPT_COUNT, "one name per optimizer kind");
const char *sg_opt_kind_name(sg_opt_kind k) { return (unsigned)k < SG_OPT_COUNT ? KIND_NAMES[k] : NULL; }
int sg_optim_state_count(const sg_optim *o) { return o ? o->nstate : 0; }
const char *sg_optim_state_name(const sg_optim *o, int i) { return (o && i >= 0 && i < o->nstate) ? o->state_name[i] : NULL; }
sg_tensor *sg_optim_state(const sg_optim *o, int i) { return (o && i >= 0 && i < o->nstate) ? o->state[i] : NULL; }
int sg_optim_set_steps(sg_optim *o, int64_t steps) {
    if (!o || steps < 0) return sg_set_error(SG_ERR_ARG, "sg_optim_set_steps: bad arguments");
    o->steps = steps;
    return SG_OK;
}

/* ---- clipping ---- */

/* Sum of squares of one block of at most NORM_BLOCK elements in NORM_LANES interleaved partial
 * sums (element i goes to lane i % NORM_LANES) added in lane order: a fixed order whatever the
 * thread count or instruction set, and independent chains so the loop is not bound by one
 * addition's latency. Per instruction set (tensor/isa_impl.h); *out gets the block's sum. */
#define NORM_KERNEL(T)                                                                             \
    SG_ISA_KERNEL(sumsq_##T, (const T *restrict g, int64_t n, double *restrict out), (g, n, out)) {  \
        double lane[NORM_LANES] = {0}, acc = 0;                                                    \
        int64_t i = 0;                                                                             \
        for (; i + NORM_LANES <= n; i += NORM_LANES)                                               \
            for (int k = 0; k < NORM_LANES; k++) lane[k] += (double)g[i + k] * (double)g[i + k];   \
        for (int k = 0; i + k < n; k++) lane[k] += (double)g[i + k] * (double)g[i + k];            \
        for (int k = 0; k < NORM_LANES; k++) acc += lane[k];                                       \
        *out = acc;                                                                                \
    }                                                                                              \
    SG_ISA_KERNEL(scale_##T, (T *restrict g, T s, int64_t n), (g, s, n)) {                         \
        for (int64_t i = 0; i < n; i++) g[i] *= s;                                                 \
    }
NORM_KERNEL(float)
NORM_KERNEL(double)

#define NORM_LOOP(T)                                                                               \
    do {                                                                                           \
        SG_ISA_FN(sumsq_##T) *f = SG_ISA_PICK(sumsq_##T);                                          \
        const T *g = sg__ptr(fg);                                                                  \
        SG_PAR_FOR(n >= SG_PAR_MIN,                                                                \
        for (int64_t b = 0; b < nb; b++)                                                           \
            f(g + b * NORM_BLOCK, block_len(b, NORM_BLOCK, n), &part[b]);)                         \
    } while (0)
#define SCALE_LOOP(T)                                                                              \
    do {                                                                                           \
        SG_ISA_FN(scale_##T) *f = SG_ISA_PICK(scale_##T);                                          \
        T *g = sg__ptr(fg);                                                                        \
        SG_PAR_FOR(n >= SG_PAR_MIN,                                                                \
        for (int64_t b = 0; b < nb; b++)                                                           \
            f(g + b * NORM_BLOCK, (T)coef, block_len(b, NORM_BLOCK, n));)                          \
    } while (0)

double sg_clip_grad_norm(sg_model *m, double max_norm) {
    if (!(max_norm > 0)) {
        sg_set_error(SG_ERR_ARG, "sg_clip_grad_norm: max_norm must be > 0 (got %g)", max_norm);
        return -1;
    }
    sg_tensor *fg = sg_model_flat_grads(m);
    if (!fg) return -1;
    int64_t n = sg__numel(fg), nb = (n + NORM_BLOCK - 1) / NORM_BLOCK;
    double *part = calloc((size_t)(nb ? nb : 1), sizeof *part);
    if (!part) {
        sg_set_error(SG_ERR_MEM, "sg_clip_grad_norm: out of memory");
        return -1;
    }
    if (fg->dtype == SG_F32) NORM_LOOP(float);
    else NORM_LOOP(double);
    double total = 0;
    for (int64_t b = 0; b < nb; b++) total += part[b]; /* fixed order: reproducible */
    free(part);
    double norm = sqrt(total), coef = max_norm / (norm + CLIP_NORM_EPS);
    if (coef < 1) {
        if (fg->dtype == SG_F32) SCALE_LOOP(float);
        else SCALE_LOOP(double);
        sg__bump(fg->storage);
    }
    return norm;
}

int sg_clip_grad_value(sg_model *m, double clip) {
    if (!(clip >= 0)) return sg_set_error(SG_ERR_ARG, "sg_clip_grad_value: clip must be >= 0 (got %g)", clip);
    sg_tensor *fg = sg_model_flat_grads(m);
    if (!fg) return sg_last_status();
    int64_t n = sg__numel(fg);
    if (fg->dtype == SG_F32) {
        float *g = sg__ptr(fg), c = (float)clip;
        for (int64_t i = 0; i < n; i++) g[i] = g[i] > c ? c : g[i] < -c ? -c : g[i];
    } else {
        double *g = sg__ptr(fg);
        for (int64_t i = 0; i < n; i++) g[i] = g[i] > clip ? clip : g[i] < -clip ? -clip : g[i];
    }
    sg__bump(fg->storage);
    return SG_OK;
}

/* ---- schedules ---- */

static double sched_error(sg_status st, const char *msg, double v) {
    sg_set_error(st, "sg_lr_at: %s (got %g)", msg, v);
    return NAN;
}

double sg_lr_at(const sg_lr_schedule *s, double base_lr, int64_t step) {
    if (!s) return sched_error(SG_ERR_NULL, "argument 's' is NULL", 0);
    if (step < 0) return sched_error(SG_ERR_ARG, "step must be >= 0", (double)step);
    if (!isfinite(base_lr) || base_lr < 0) return sched_error(SG_ERR_ARG, "base_lr must be finite and >= 0", base_lr);
    if (s->warmup_steps < 0) return sched_error(SG_ERR_ARG, "warmup_steps must be >= 0", (double)s->warmup_steps);
    switch (s->kind) {
    case SG_SCHED_CONSTANT: break;
    case SG_SCHED_STEP:
        if (s->step_size < 1) return sched_error(SG_ERR_ARG, "STEP needs step_size >= 1", (double)s->step_size);
        if (!isfinite(s->gamma) || s->gamma < 0) return sched_error(SG_ERR_ARG, "STEP needs a finite gamma >= 0", s->gamma);
        break;
    case SG_SCHED_COSINE:
        if (s->total_steps <= s->warmup_steps)
            return sched_error(SG_ERR_ARG, "COSINE needs total_steps > warmup_steps", (double)s->total_steps);
        if (!isfinite(s->min_lr) || s->min_lr < 0) return sched_error(SG_ERR_ARG, "COSINE needs a finite min_lr >= 0", s->min_lr);
        break;
    default: return sched_error(SG_ERR_ARG, "invalid schedule kind", (double)s->kind);
    }
    if (step < s->warmup_steps) return base_lr * (double)(step + 1) / (double)s->warmup_steps;
    int64_t k = step - s->warmup_steps;
    switch (s->kind) {
    case SG_SCHED_STEP: return base_lr * pow(s->gamma, (double)(k / s->step_size));
    case SG_SCHED_COSINE: {
        int64_t total = s->total_steps - s->warmup_steps;
        if (k >= total) return s->min_lr;
        return s->min_lr + 0.5 * (base_lr - s->min_lr) * (1 + cos(M_PI * (double)k / (double)total));
    }
    default: return base_lr;
    }
}
