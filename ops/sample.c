/* Seeded categorical sampling for generation: one class id per row of (..., C) logits (softmax with
 * a temperature) or of non-negative weights (torch.multinomial with one sample). No gradient, no
 * graph. Row i draws its uniform from Philox counter rng->offset + i (tensor/rng.c's scheme), so a
 * seed gives the same ids for any thread count; each call advances rng by the number of rows.
 * Not here: sampling without replacement, several samples per row, top-k/top-p filtering (use
 * sg_topk and sg_masked_fill on the logits first). */
#include <math.h>
#include <stdlib.h>

#include "../autograd/node.h"
#include "ops.h"

/* Inverse CDF of row weights w[0..C) (non-negative, positive sum) at u in (0,1): the first j whose
 * running sum exceeds u * total, never a zero-weight class (rounding falls back to the last
 * positive one). */
static int64_t pick(const double *w, int64_t C, double total, double u) {
    double target = u * total, run = 0;
    int64_t last = -1;
    for (int64_t j = 0; j < C; j++) {
        if (w[j] <= 0) continue;
        run += w[j];
        last = j;
        if (run > target) return j;
    }
    return last;
}

/* Shared driver. logits: weights w = exp((x - max) / temperature); else w = x as given. */
static int64_t sample_rows(const char *name, const sg_tensor *x, bool logits, double temperature, sg_rng *rng,
                           int64_t *out, int64_t cap) {
    char buf[SG_SHAPE_BUF];
    if (!sg__check_arg(x, name, logits ? "logits" : "probs")) return sg_last_status();
    if (!rng) return sg_set_error(SG_ERR_NULL, "%s: argument 'rng' is NULL", name);
    if (x->ndim < 1) return sg_set_error(SG_ERR_SHAPE, "%s: need a class dim (..., C), got 0-d", name);
    if (logits && !(temperature > 0 && isfinite(temperature)))
        return sg_set_error(SG_ERR_ARG, "%s: temperature must be finite and > 0 (got %g)", name, temperature);
    int64_t C = x->shape[x->ndim - 1], R = 1;
    for (int d = 0; d < x->ndim - 1; d++) R *= x->shape[d];
    if (R > 0 && C == 0)
        return sg_set_error(SG_ERR_SHAPE, "%s: %s has no classes to sample from", name,
                            sg__shape_str(x->ndim, x->shape, buf, sizeof buf));
    if (R > 0 && !out) return sg_set_error(SG_ERR_NULL, "%s: argument 'out' is NULL", name);
    if (cap < R)
        return sg_set_error(SG_ERR_ARG, "%s: out has room for %lld ids (cap), %s needs %lld", name, (long long)cap,
                            sg__shape_str(x->ndim, x->shape, buf, sizeof buf), (long long)R);
    double *w = malloc((size_t)(C > 0 ? C : 1) * sizeof *w);
    sg_tensor *xc = w ? sg__contig(x) : NULL;
    if (!xc) {
        free(w);
        return sg_set_error(SG_ERR_MEM, "%s: out of memory", name);
    }
    const float *xf = xc->dtype == SG_F32 ? (const float *)sg__ptr(xc) : NULL;
    const double *xd = xc->dtype == SG_F64 ? (const double *)sg__ptr(xc) : NULL;
    for (int64_t i = 0; i < R; i++) {
        double m = -INFINITY, total = 0;
        for (int64_t j = 0; j < C; j++) {
            double v = xf ? (double)xf[i * C + j] : xd[i * C + j];
            if (isnan(v) || (logits && v == INFINITY) || (!logits && (v < 0 || isinf(v)))) {
                free(w);
                sg__unref(xc);
                return sg_set_error(SG_ERR_ARG, "%s: row %lld class %lld of %s is %g (%s)", name, (long long)i,
                                    (long long)j, logits ? "logits" : "probs", v,
                                    logits ? "logits must not be NaN or +inf" : "weights must be finite and >= 0");
            }
            w[j] = v;
            if (v > m) m = v;
        }
        for (int64_t j = 0; j < C; j++) {
            if (logits) w[j] = exp((w[j] - m) / temperature);
            total += w[j];
        }
        if (!(total > 0)) {
            free(w);
            sg__unref(xc);
            return sg_set_error(SG_ERR_ARG, "%s: row %lld of %s has no positive weight (%s)", name, (long long)i,
                                sg__shape_str(x->ndim, x->shape, buf, sizeof buf),
                                logits ? "every logit is -inf" : "all zero");
        }
        uint32_t bits[4];
        sg__philox(rng->seed, rng->offset + (uint64_t)i, bits);
        out[i] = pick(w, C, total, sg__u01(bits[0]));
    }
    free(w);
    sg__unref(xc);
    rng->offset += (uint64_t)R;
    return R;
}

/* logits (..., C) -> prod(...) ids into out */
int64_t sg_sample_logits(const sg_tensor *logits, double temperature, sg_rng *rng, int64_t *out, int64_t cap) {
    return sample_rows("sg_sample_logits", logits, true, temperature, rng, out, cap);
}

/* probs (..., C) -> prod(...) ids into out */
int64_t sg_multinomial(const sg_tensor *probs, sg_rng *rng, int64_t *out, int64_t cap) {
    return sample_rows("sg_multinomial", probs, false, 1.0, rng, out, cap);
}
