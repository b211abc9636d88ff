/* Central-difference gradient checking against the tape's vector-Jacobian products. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "node.h"

enum { GC_DEFAULT_DIRECTIONS = 8, GC_MAX_INPUTS = 64 };

sg_gradcheck_opts sg_gradcheck_defaults(sg_dtype dt) {
    sg_gradcheck_opts o = {.mode = SG_GRADCHECK_FULL, .n_directions = GC_DEFAULT_DIRECTIONS,
                           .check_twice = true, .check_unused = true};
    if (dt == SG_F64) {
        o.eps = 1e-6;
        o.atol = 1e-5;
        o.rtol = 1e-3;
    } else {
        o.eps = 1e-2;
        o.atol = 1e-2;
        o.rtol = 1e-2;
    }
    return o;
}

typedef struct {
    sg_gradcheck_fn f;
    void *ctx;
    sg_tensor *const *in;
    int n;
    sg_tensor *v; /* cotangent, user-style tensor (unregistered) */
} gc_t;

/* f gave no usable output: pass its error through, or record one if it set none (a negative
 * return must always come with a message). */
static int f_failed(void) {
    if (sg_has_error()) return sg_last_status();
    return sg_set_error(SG_ERR_STATE, "sg_gradcheck: f returned NULL or a dead tensor without recording "
                                      "an error");
}

/* s = <v, f(x)> in double, with no recording. NAN (and an error) if f failed. */
static double eval_s(gc_t *g, int *rc) {
    size_t mark = sg_tape_mark();
    bool prev = sg_set_grad_enabled(false);
    sg_tensor *y = g->f(g->in, g->n, g->ctx);
    sg_set_grad_enabled(prev);
    double s = NAN;
    if (!y || !sg_is_live(y)) {
        *rc = f_failed();
    } else if (!sg_same_shape(y, g->v)) {
        *rc = sg_set_error(SG_ERR_SHAPE, "sg_gradcheck: f returned a different shape on a perturbed input");
    } else {
        s = 0;
        int64_t m = sg__numel(y);
        for (int64_t i = 0; i < m; i++) s += sg_get_flat(y, i) * sg_get_flat(g->v, i);
    }
    sg_tape_release(mark);
    return s;
}

static bool close_enough(double a, double num, const sg_gradcheck_opts *o, double *tol) {
    *tol = o->atol + o->rtol * fabs(num);
    return fabs(a - num) <= *tol; /* false on NaN */
}

static void note(sg_gradcheck_result *r, int input, int64_t idx, double a, double num, double tol) {
    double err = fabs(a - num);
    double ratio = isnan(err) ? INFINITY : err / tol;
    double worst = isnan(r->abs_err) ? INFINITY : r->abs_err / (r->tol > 0 ? r->tol : 1);
    if (r->n_compared == 0 || ratio > worst || (isinf(ratio) && !isinf(worst))) {
        r->worst_input = input;
        r->worst_index = idx;
        r->analytic = a;
        r->numeric = num;
        r->abs_err = err;
        r->tol = tol;
    }
    r->n_compared++;
}

/* Analytic gradients: run f with recording, backward with v; returns copies (unregistered,
 * one per input, NULL where no gradient arrived). */
static int analytic(gc_t *g, sg_tensor **grads, const sg_gradcheck_opts *o, uint64_t seed, bool twice,
                    sg_gradcheck_result *res) {
    sg_tensor *stash[GC_MAX_INPUTS];
    for (int i = 0; i < g->n; i++) {
        stash[i] = g->in[i]->grad;
        g->in[i]->grad = NULL;
        grads[i] = NULL;
    }
    size_t mark = sg_tape_mark();
    bool prev = sg_set_grad_enabled(true);
    int rc = SG_OK;
    sg_tensor *y = g->f(g->in, g->n, g->ctx);
    if (!y || !sg_is_live(y)) rc = f_failed();
    else if (!(y->flags & SG_FLAG_REQUIRES_GRAD))
        rc = sg_set_error(SG_ERR_STATE, "sg_gradcheck: the output does not depend on any input that requires grad");
    if (!rc && !g->v) {
        sg_rng rng = sg_rng_new(seed);
        g->v = sg__alloc(SG_F64, y->ndim, y->shape, false);
        if (!g->v) rc = SG_ERR_MEM;
        else {
            sg__register(g->v);
            sg_fill_normal(g->v, &rng, 0.0, 1.0);
        }
    }
    sg_tensor *vy = NULL;
    if (!rc) {
        vy = sg__alloc(y->dtype, y->ndim, y->shape, false);
        if (!vy) rc = SG_ERR_MEM;
        else {
            sg__kcopy(vy, g->v);
            sg__register(vy);
        }
    }
    if (!rc) rc = sg_backward_grad(y, vy);
    for (int i = 0; i < g->n; i++) {
        grads[i] = g->in[i]->grad; /* take ownership */
        g->in[i]->grad = NULL;
    }
    if (!rc && twice) {
        rc = sg_backward_grad(y, vy);
        for (int i = 0; !rc && i < g->n; i++) {
            sg_tensor *g2 = g->in[i]->grad;
            g->in[i]->grad = NULL;
            bool same = (g2 == NULL) == (grads[i] == NULL);
            for (int64_t j = 0; same && g2 && j < sg__numel(g2); j++) {
                double a = sg_get_flat(grads[i], j), b = sg_get_flat(g2, j);
                if (!(a == b || (isnan(a) && isnan(b)))) {
                    same = false;
                    snprintf(res->message, sizeof res->message,
                             "second backward differs: input %d index %lld: %.10g then %.10g", i,
                             (long long)j, a, b);
                }
            }
            if (g2) sg__unref(g2);
            if (!same && res->ok) {
                res->ok = false;
                if (!res->message[0])
                    snprintf(res->message, sizeof res->message,
                             "second backward differs: input %d got a gradient only once", i);
            }
        }
    }
    (void)o;
    if (vy) sg_tensor_free(vy);
    sg_set_grad_enabled(prev);
    sg_tape_release(mark);
    for (int i = 0; i < g->n; i++) {
        g->in[i]->grad = stash[i];
        if (grads[i]) grads[i]->flags &= ~SG_FLAG_IS_GRAD; /* ours now */
    }
    return rc;
}

static double get_d(sg_tensor *t, int64_t i) { return sg_get_flat(t, i); }
/* Set element i to v (rounded to t's dtype) and return the value actually stored. */
static double set_d(sg_tensor *t, int64_t i, double v) {
    sg_set_flat(t, i, v);
    return get_d(t, i);
}

int sg_gradcheck(sg_gradcheck_fn f, void *ctx, sg_tensor *const *inputs, int n,
                 const sg_gradcheck_opts *opts, sg_gradcheck_result *res) {
    if (!res) return sg_set_error(SG_ERR_NULL, "sg_gradcheck: argument 'res' is NULL");
    memset(res, 0, sizeof *res);
    res->worst_input = -1;
    res->worst_index = -1;
    if (!f) return sg_set_error(SG_ERR_NULL, "sg_gradcheck: argument 'f' is NULL");
    if (n < 1 || n > GC_MAX_INPUTS || !inputs)
        return sg_set_error(SG_ERR_ARG, "sg_gradcheck: need 1..%d inputs (got %d)", GC_MAX_INPUTS, n);
    for (int i = 0; i < n; i++) {
        if (!sg__check_arg(inputs[i], "sg_gradcheck", "inputs[i]")) return sg_last_status();
        if (inputs[i]->node)
            return sg_set_error(SG_ERR_ARG, "sg_gradcheck: input %d is an op result; pass leaves", i);
        for (int k = 0; k < i; k++)
            if (inputs[k] == inputs[i])
                return sg_set_error(SG_ERR_ARG, "sg_gradcheck: input %d is the same tensor as input %d; "
                                                "pass each tensor once", i, k);
    }
    sg_gradcheck_opts o = opts ? *opts : sg_gradcheck_defaults(inputs[0]->dtype);
    if (!(o.eps > 0) || o.atol < 0 || o.rtol < 0 || (o.mode == SG_GRADCHECK_FAST && o.n_directions < 1) ||
        (o.mode != SG_GRADCHECK_FULL && o.mode != SG_GRADCHECK_FAST))
        return sg_set_error(SG_ERR_ARG, "sg_gradcheck: need mode FULL or FAST, eps > 0, atol, rtol >= 0, "
                                        "n_directions >= 1");

    gc_t g = {f, ctx, inputs, n, NULL};
    sg_tensor *grads[GC_MAX_INPUTS];
    res->ok = true;
    int rc = analytic(&g, grads, &o, o.seed, o.check_twice, res);
    if (rc) {
        snprintf(res->message, sizeof res->message, "could not run: %s", sg_last_error());
        res->ok = false;
        goto done;
    }

    if (o.mode == SG_GRADCHECK_FULL) {
        for (int i = 0; i < n && !rc; i++) {
            sg_tensor *x = inputs[i];
            if (!(x->flags & SG_FLAG_REQUIRES_GRAD)) continue;
            bool all_zero_num = true, all_zero_an = true;
            for (int64_t j = 0; j < sg__numel(x) && !rc; j++) {
                double x0 = get_d(x, j);
                double xp = set_d(x, j, x0 + o.eps);
                double sp = eval_s(&g, &rc);
                double xm = set_d(x, j, x0 - o.eps);
                double sm = eval_s(&g, &rc);
                set_d(x, j, x0);
                double num = (sp - sm) / (xp - xm);
                double an = grads[i] ? get_d(grads[i], j) : 0.0;
                if (num != 0) all_zero_num = false;
                if (an != 0) all_zero_an = false;
                double tol;
                if (!close_enough(an, num, &o, &tol)) res->ok = false;
                note(res, i, j, an, num, tol);
            }
            if (!rc && o.check_unused && all_zero_num && !all_zero_an && res->ok) {
                res->ok = false;
                snprintf(res->message, sizeof res->message,
                         "input %d does not affect the output, but its gradient is not exactly zero", i);
            }
        }
    } else {
        sg_rng rng = sg_rng_new(o.seed ^ 0x5851F42D4C957F2DULL);
        for (int d = 0; d < o.n_directions && !rc; d++) {
            sg_tensor *u[GC_MAX_INPUTS] = {0}, *x0[GC_MAX_INPUTS] = {0};
            double an = 0;
            for (int i = 0; i < n; i++) {
                if (!(inputs[i]->flags & SG_FLAG_REQUIRES_GRAD)) continue;
                u[i] = sg__alloc(SG_F64, inputs[i]->ndim, inputs[i]->shape, false);
                x0[i] = sg__alloc(SG_F64, inputs[i]->ndim, inputs[i]->shape, false);
                if (!u[i] || !x0[i]) { rc = SG_ERR_MEM; break; }
                sg__register(u[i]);
                sg__register(x0[i]); /* read back with sg_get_flat, which wants live tensors */
                sg_fill_normal(u[i], &rng, 0.0, 1.0);
                sg__kcopy(x0[i], inputs[i]);
                for (int64_t j = 0; grads[i] && j < sg__numel(u[i]); j++)
                    an += get_d(grads[i], j) * get_d(u[i], j);
            }
            double sp = 0, sm = 0;
            for (int sgn = 1; sgn >= -1 && !rc; sgn -= 2) {
                for (int i = 0; i < n; i++)
                    for (int64_t j = 0; u[i] && j < sg__numel(u[i]); j++)
                        set_d(inputs[i], j, get_d(x0[i], j) + sgn * o.eps * get_d(u[i], j));
                double s = eval_s(&g, &rc);
                if (sgn > 0) sp = s;
                else sm = s;
            }
            for (int i = 0; i < n; i++) {
                if (x0[i]) {
                    sg__kcopy(inputs[i], x0[i]);
                    sg__bump(inputs[i]->storage);
                    sg__unref(x0[i]);
                }
                if (u[i]) sg_tensor_free(u[i]);
            }
            double num = (sp - sm) / (2 * o.eps), tol;
            if (!close_enough(an, num, &o, &tol)) res->ok = false;
            note(res, -1, d, an, num, tol);
        }
    }
    if (rc) {
        res->ok = false;
        snprintf(res->message, sizeof res->message, "could not run: %s", sg_last_error());
    } else if (!res->message[0]) {
        if (res->ok)
            snprintf(res->message, sizeof res->message, "ok: %lld comparisons, worst |a-n|=%.3g (tol %.3g)",
                     (long long)res->n_compared, res->abs_err, res->tol);
        else
            snprintf(res->message, sizeof res->message,
                     "gradient mismatch at input %d index %lld: analytic %.10g numeric %.10g "
                     "(|diff| %.3g > tol %.3g)",
                     res->worst_input, (long long)res->worst_index, res->analytic, res->numeric,
                     res->abs_err, res->tol);
    }
done:
    for (int i = 0; i < n; i++)
        if (grads[i]) sg__unref(grads[i]);
    if (g.v) sg_tensor_free(g.v);
    return rc;
}
