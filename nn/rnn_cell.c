/* Running a cell definition (cell.h): a configuration checked against its definition, the
 * parameter table declared into a model, the hooks' context, the hoisted input product and the
 * checked step that the layer driver (rnn.c) and the public one-step cells share; then the
 * public one-step cell API (sg_rnn_cell_*). Deliberately no hand-written backward: the tape
 * differentiates the composition. The built-in definitions are in rnn_cells.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/node.h"
#include "rnn_impl.h"
#include "model_impl.h"

enum { NAME_BUF = 160 };

int sg__cell_info_make(const sg_rnn_config *c, const char *fn, bool cell, sg__cell_info *ci) {
    memset(ci, 0, sizeof *ci);
    if (!c) return sg_set_error(SG_ERR_NULL, "%s: argument 'cfg' is NULL", fn);
    if (!c->def && (unsigned)c->cell >= SG_CELL_COUNT) return sg_set_error(SG_ERR_ARG, "%s: invalid cell kind %d", fn, (int)c->cell);
    const sg_cell_def *d = sg_rnn_config_def(c);
    if (sg_cell_def_check(d, fn)) return sg_last_status();
    const char *nm = d->name;
    if (c->input_size < 1) return sg_set_error(SG_ERR_ARG, "%s: input_size must be >= 1 (got %lld)", fn, (long long)c->input_size);
    if (c->hidden_size < 1) return sg_set_error(SG_ERR_ARG, "%s: hidden_size must be >= 1 (got %lld)", fn, (long long)c->hidden_size);
    if (c->num_layers < 0) return sg_set_error(SG_ERR_ARG, "%s: num_layers must be >= 1 (got %d)", fn, c->num_layers);
    if (!(c->dropout >= 0 && c->dropout < 1)) return sg_set_error(SG_ERR_ARG, "%s: dropout must be in [0, 1) (got %g)", fn, c->dropout);
    if (c->proj_size && !(d->allows & SG_CELL_OPT_PROJ))
        return sg_set_error(SG_ERR_ARG, "%s: proj_size is for LSTM only (cell '%s' does not accept it)", fn, nm);
    if (c->proj_size < 0 || (c->proj_size && c->proj_size >= c->hidden_size))
        return sg_set_error(SG_ERR_ARG, "%s: proj_size must be in [1, hidden_size=%lld) (got %lld)", fn,
                            (long long)c->hidden_size, (long long)c->proj_size);
    if (c->peephole && !(d->allows & SG_CELL_OPT_PEEPHOLE))
        return sg_set_error(SG_ERR_ARG, "%s: peephole is for LSTM only (cell '%s' does not accept it)", fn, nm);
    if (c->set_forget_bias && d != &sg_cell_lstm)
        return sg_set_error(SG_ERR_ARG, "%s: forget_bias is for LSTM only (cell '%s')", fn, nm);
    if (c->gru_reset_before && (c->def || c->cell != SG_CELL_GRU))
        return sg_set_error(SG_ERR_ARG, "%s: gru_reset_before is for GRU only (cell '%s')", fn, nm);
    if (cell && (c->num_layers > 1 || c->bidirectional || c->dropout != 0 || c->batch_first))
        return sg_set_error(SG_ERR_ARG, "%s: cells take one step of one layer: num_layers, "
                                        "bidirectional, dropout and batch_first must be unset", fn);
    ci->def = d;
    ci->cfg = c;
    ci->G = d->gates;
    ci->n_states = sg_cell_num_states(d);
    ci->n_rows = sg_cell_num_params(d);
    ci->H = c->hidden_size;
    ci->P = c->proj_size ? c->proj_size : c->hidden_size;
    ci->opts = (c->no_bias ? 0u : SG_CELL_OPT_BIAS) | (c->proj_size ? SG_CELL_OPT_PROJ : 0u) |
               (c->peephole ? SG_CELL_OPT_PEEPHOLE : 0u);
    ci->w_in = ci->b_in = -1;
    for (int i = 0; i < ci->n_rows; i++) {
        if (d->params[i].role == SG_PARAM_INPUT_WEIGHT) ci->w_in = i;
        if (d->params[i].role == SG_PARAM_INPUT_BIAS) ci->b_in = i;
    }
    for (int k = 0; k < ci->n_states; k++)
        ci->state_size[k] = sg_cell_size_eval(d->states[k].size, 0, ci->H, ci->P, ci->G);
    return SG_OK;
}

static bool row_exists(const sg__cell_info *ci, int i) { return (ci->def->params[i].when & ~ci->opts) == 0; }

int sg__cell_declare(sg_model *m, const char *prefix, const char *sfx, const sg__cell_info *ci, int64_t D,
                     sg__cell_params *p) {
    int n0 = sg_model_num_params(m);
    double k = 1.0 / sqrt((double)ci->H);
    p->D = D;
    for (int i = 0; i < SG_CELL_MAX_PARAMS; i++) p->idx[i] = -1;
    for (int i = 0; i < ci->n_rows; i++) {
        const sg_cell_param *r = &ci->def->params[i];
        if (!row_exists(ci, i)) continue;
        int64_t shape[SG_CELL_MAX_DIMS];
        for (int a = 0; a < r->ndim; a++) shape[a] = sg_cell_size_eval(r->shape[a], D, ci->H, ci->P, ci->G);
        sg_init_kind init = SG_INIT_UNIFORM;
        double a = k;
        switch (r->init) {
        case SG_CELL_INIT_ZEROS: init = SG_INIT_ZEROS, a = 0; break;
        case SG_CELL_INIT_CONST: init = SG_INIT_CONST, a = r->init_a; break;
        case SG_CELL_INIT_UNIFORM: init = SG_INIT_UNIFORM, a = r->init_a; break;
        case SG_CELL_INIT_NORMAL: init = SG_INIT_NORMAL, a = r->init_a; break;
        default: break;
        }
        char short_name[NAME_BUF], full[NAME_BUF];
        snprintf(short_name, sizeof short_name, "%s%s", r->name, sfx);
        p->idx[i] = sg_model_declare(m, sg_param_name(full, sizeof full, prefix, short_name), r->ndim, shape, init, a);
        if (p->idx[i] < 0) { /* nothing of this cell stays declared */
            int rc = p->idx[i];
            sg__model_forget(m, n0);
            return rc;
        }
    }
    return SG_OK;
}

sg_cell_ctx sg__cell_ctx(const sg__cell_info *ci, const sg__cell_params *p, int layer, int dir, int64_t B) {
    return (sg_cell_ctx){.def = ci->def, .cfg = ci->cfg, .D = p->D, .H = ci->H, .P = ci->P, .B = B, .layer = layer,
                         .dir = dir, .opts = ci->opts, .data = ci->cfg->cell_data};
}

/* a hook's failure always leaves a message naming the cell */
static int hook_failed(const sg__cell_info *ci, const char *fn, const char *hook, int rc) {
    if (sg_has_error()) return sg_last_status();
    return sg_set_error(rc < 0 ? rc : SG_ERR_ARG, "%s: cell '%s': %s failed (%d) without an error message", fn,
                        ci->def->name, hook, rc);
}

int sg__cell_resolve(const sg_model *m, const sg__cell_info *ci, const sg__cell_params *p, const sg_cell_ctx *c,
                     sg_tensor **w) {
    for (int i = 0; i < SG_CELL_MAX_PARAMS; i++) w[i] = p->idx[i] >= 0 ? sg_model_param(m, p->idx[i]) : NULL;
    if (!ci->def->prepare) return SG_OK;
    int rc = ci->def->prepare(c, w);
    return rc ? hook_failed(ci, "sg_rnn_forward", "prepare", rc) : SG_OK;
}

int sg__cell_after_init(const sg_model *m, const sg__cell_info *ci, const sg__cell_params *p, int layer, int dir) {
    if (!ci->def->after_init) return SG_OK;
    sg_tensor *w[SG_CELL_MAX_PARAMS];
    for (int i = 0; i < SG_CELL_MAX_PARAMS; i++) w[i] = p->idx[i] >= 0 ? sg_model_param(m, p->idx[i]) : NULL;
    sg_cell_ctx c = sg__cell_ctx(ci, p, layer, dir, 0);
    int rc = ci->def->after_init(&c, w);
    return rc ? hook_failed(ci, "sg_model_finalize", "after_init", rc) : SG_OK;
}

sg_tensor *sg__cell_input(const sg__cell_info *ci, const sg_cell_ctx *c, sg_tensor *const *w, sg_tensor *x,
                          sg_tensor **raw) {
    sg_tensor *xp = sg_linear(x, w[ci->w_in], ci->b_in >= 0 ? w[ci->b_in] : NULL);
    if (raw) *raw = xp;
    if (!xp || !ci->def->hoist) return xp;
    bool one_step = sg_ndim(xp) == 2; /* a cell's (B, G*H): the hook sees (1, B, G*H) */
    int64_t B = sg_size(xp, one_step ? 0 : 1), GH = ci->G * ci->H, T = one_step ? 1 : sg_size(xp, 0);
    if (one_step) xp = sg_reshape(xp, 3, (int64_t[]){1, B, GH});
    sg_tensor *xh = xp ? ci->def->hoist(c, w, xp) : NULL;
    if (!xh) {
        if (!sg_has_error()) sg_set_error(SG_ERR_ARG, "sg_rnn_forward: cell '%s': hoist returned NULL", ci->def->name);
        return NULL;
    }
    if (sg_ndim(xh) != 3 || sg_size(xh, 0) != T || sg_size(xh, 1) != B || sg_size(xh, 2) != GH ||
        sg_dtype_of(xh) != sg_dtype_of(xp)) {
        char b[SG_SHAPE_BUF];
        sg_set_error(SG_ERR_SHAPE, "sg_rnn_forward: cell '%s': hoist must return (%lld, %lld, %lld) %s, got %s %s",
                     ci->def->name, (long long)T, (long long)B, (long long)GH, sg_dtype_name(sg_dtype_of(xp)),
                     sg_shape_str(xh, b, sizeof b), sg_dtype_name(sg_dtype_of(xh)));
        return NULL;
    }
    return one_step ? sg_reshape(xh, 2, (int64_t[]){B, GH}) : xh;
}

/* r must be a live (B, n) tensor of dtype dt */
static int check_result(const sg__cell_info *ci, const char *fn, const char *what, const char *name, sg_tensor *r,
                        int64_t B, int64_t n, sg_dtype dt) {
    const char *cn = ci->def->name;
    if (!r) {
        char prev[SG_SHAPE_BUF * 2];
        snprintf(prev, sizeof prev, "%s", sg_has_error() ? sg_last_error() : "no error recorded");
        return sg_set_error(SG_ERR_ARG, "%s: cell '%s': the step returned success but %s '%s' is NULL (%s)", fn, cn,
                            what, name, prev);
    }
    if (!sg_is_live(r)) return sg_set_error(SG_ERR_STATE, "%s: cell '%s': %s '%s' is not a live tensor", fn, cn, what, name);
    if (sg_ndim(r) != 2 || sg_size(r, 0) != B || sg_size(r, 1) != n || sg_dtype_of(r) != dt) {
        char b[SG_SHAPE_BUF];
        return sg_set_error(SG_ERR_SHAPE, "%s: cell '%s': the step must return %s '%s' as (%lld, %lld) %s, got %s %s", fn,
                            cn, what, name, (long long)B, (long long)n, sg_dtype_name(dt), sg_shape_str(r, b, sizeof b),
                            sg_dtype_name(sg_dtype_of(r)));
    }
    return SG_OK;
}

int sg__cell_step(const sg__cell_info *ci, const sg_cell_ctx *c, sg_tensor *const *w, sg_tensor *xg,
                  sg_tensor *const *s, int64_t t, sg_tensor **s_out, sg_tensor **out, const char *fn) {
    for (int k = 0; k < SG_CELL_MAX_STATES; k++) s_out[k] = NULL;
    *out = NULL;
    int rc = ci->def->step(c, w, xg, s, t, s_out, out);
    if (rc) return hook_failed(ci, fn, "step", rc);
    int64_t B = sg_size(xg, 0);
    sg_dtype dt = sg_dtype_of(xg);
    for (int k = 0; k < ci->n_states; k++) {
        rc = check_result(ci, fn, "state", ci->def->states[k].name, s_out[k], B, ci->state_size[k], dt);
        if (rc) return rc;
    }
    if (!*out) *out = s_out[0];
    return check_result(ci, fn, "output", "out", *out, B, ci->P, dt);
}

/* ---- public cell ---- */

struct sg_rnn_cell {
    sg_model *m;
    sg_rnn_config cfg;
    sg__cell_info ci;
    sg__cell_params p;
};

static int cell_after_init(void *obj) {
    sg_rnn_cell *c = obj;
    return sg__cell_after_init(c->m, &c->ci, &c->p, 0, 0);
}

sg_rnn_cell *sg_rnn_cell_new(sg_model *m, const char *prefix, const sg_rnn_config *cfg) {
    const char *fn = "sg_rnn_cell_new";
    if (!m) {
        sg_set_error(SG_ERR_NULL, "%s: argument 'm' is NULL", fn);
        return NULL;
    }
    sg__cell_info ci;
    if (sg__cell_info_make(cfg, fn, true, &ci)) return NULL;
    sg_rnn_cell *c = calloc(1, sizeof *c);
    if (!c) {
        sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
        return NULL;
    }
    c->m = m;
    c->cfg = *cfg;
    c->cfg.num_layers = 1;
    c->ci = ci;
    c->ci.cfg = &c->cfg;
    int n0 = sg_model_num_params(m);
    if (sg__cell_declare(m, prefix, "", &c->ci, cfg->input_size, &c->p)) {
        free(c);
        return NULL;
    }
    if (sg__model_own(m, c, free, cell_after_init)) {
        sg__model_forget(m, n0);
        free(c);
        return NULL;
    }
    return c;
}

sg_tensor *sg_rnn_cell_param(const sg_rnn_cell *cell, const char *name) {
    if (!cell || !name) {
        sg_set_error(SG_ERR_NULL, "sg_rnn_cell_param: cell and name are required");
        return NULL;
    }
    for (int i = 0; i < cell->ci.n_rows; i++)
        if (!strcmp(cell->ci.def->params[i].name, name))
            return cell->p.idx[i] >= 0 ? sg_model_param(cell->m, cell->p.idx[i]) : NULL;
    sg_set_error(SG_ERR_ARG, "sg_rnn_cell_param: cell '%s' has no parameter '%s'", cell->ci.def->name, name);
    return NULL;
}

static bool check_2d(const char *fn, sg_tensor *t, const char *arg, int64_t B, int64_t n, sg_dtype dt) {
    char b[SG_SHAPE_BUF];
    if (!t) return true;
    if (!sg_is_live(t) || sg_ndim(t) != 2 || sg_size(t, 0) != B || sg_size(t, 1) != n || sg_dtype_of(t) != dt) {
        if (sg_is_live(t))
            sg_set_error(SG_ERR_SHAPE, "%s: %s must be (%lld, %lld) %s, got %s %s", fn, arg, (long long)B, (long long)n,
                         sg_dtype_name(dt), sg_shape_str(t, b, sizeof b), sg_dtype_name(sg_dtype_of(t)));
        else
            sg_set_error(SG_ERR_STATE, "%s: %s is not a live tensor", fn, arg);
        return false;
    }
    return true;
}

static int cell_run(sg_rnn_cell *cell, const char *fn, sg_tensor *x, sg_tensor *const *s, int64_t t, sg_tensor **s_out,
                    sg_tensor **out) {
    const sg__cell_info *ci = &cell->ci;
    if (!sg__check_arg(x, fn, "x")) return sg_last_status();
    sg_dtype dt = sg_model_dtype(cell->m);
    if (sg_ndim(x) != 2) {
        char b[SG_SHAPE_BUF];
        return sg_set_error(SG_ERR_SHAPE, "%s: x must be (B, %lld), got %s", fn, (long long)cell->cfg.input_size,
                            sg_shape_str(x, b, sizeof b));
    }
    int64_t B = sg_size(x, 0);
    if (!check_2d(fn, x, "x", B, cell->cfg.input_size, dt)) return sg_last_status();
    sg_tensor *s0[SG_CELL_MAX_STATES] = {0};
    for (int k = 0; k < ci->n_states; k++) {
        char arg[NAME_BUF];
        snprintf(arg, sizeof arg, "%s", k == 0 ? "h" : k == 1 ? "c" : ci->def->states[k].name);
        if (s && !check_2d(fn, s[k], arg, B, ci->state_size[k], dt)) return sg_last_status();
        s0[k] = s && s[k] ? s[k] : sg__out(dt, 2, (int64_t[]){B, ci->state_size[k]}, true); /* tape-owned zeros */
        if (!s0[k]) return sg_last_status();
    }
    sg_cell_ctx c = sg__cell_ctx(ci, &cell->p, 0, 0, B);
    sg_tensor *w[SG_CELL_MAX_PARAMS];
    if (sg__cell_resolve(cell->m, ci, &cell->p, &c, w)) return sg_last_status();
    sg_tensor *xg = sg__cell_input(ci, &c, w, x, NULL);
    if (!xg) return sg_last_status();
    return sg__cell_step(ci, &c, w, xg, s0, t, s_out, out, fn);
}

int sg_rnn_cell_step(sg_rnn_cell *cell, sg_tensor *x, sg_tensor *const *s, int64_t t, sg_tensor **s_out,
                     sg_tensor **out) {
    const char *fn = "sg_rnn_cell_step";
    if (!cell || !s_out) return sg_set_error(SG_ERR_NULL, "%s: cell and s_out are required", fn);
    for (int k = 0; k < cell->ci.n_states; k++) s_out[k] = NULL;
    if (out) *out = NULL;
    sg_tensor *so[SG_CELL_MAX_STATES], *o = NULL;
    int rc = cell_run(cell, fn, x, s, t, so, &o);
    if (rc) return rc;
    for (int k = 0; k < cell->ci.n_states; k++) s_out[k] = so[k];
    if (out) *out = o;
    return SG_OK;
}

int sg_rnn_cell_forward(sg_rnn_cell *cell, sg_tensor *x, sg_tensor *h, sg_tensor *c, sg_tensor **h_out,
                        sg_tensor **c_out) {
    const char *fn = "sg_rnn_cell_forward";
    if (!cell || !h_out) return sg_set_error(SG_ERR_NULL, "%s: cell and h_out are required", fn);
    *h_out = NULL;
    if (c_out) *c_out = NULL;
    int ns = cell->ci.n_states;
    const char *cn = cell->ci.def->name;
    if (ns > 2) return sg_set_error(SG_ERR_ARG, "%s: cell '%s' has %d states: use sg_rnn_cell_step", fn, cn, ns);
    if (ns == 2 && !c_out) return sg_set_error(SG_ERR_NULL, "%s: an LSTM cell needs c_out (cell '%s' has 2 states)", fn, cn);
    if (ns == 1 && c) return sg_set_error(SG_ERR_ARG, "%s: c is for LSTM cells only (cell '%s' has 1 state)", fn, cn);
    sg_tensor *s[2] = {h, c}, *so[SG_CELL_MAX_STATES], *o = NULL;
    int rc = cell_run(cell, fn, x, s, 0, so, &o);
    if (rc) return rc;
    *h_out = so[0];
    if (c_out) *c_out = ns == 2 ? so[1] : NULL;
    return SG_OK;
}
