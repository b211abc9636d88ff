/* Checks and sizes of cell definitions (cell.h). Not here: the built-in definitions
 * (rnn_cells.c) or the driver that runs them (rnn.c, rnn_cell.c). */
#include <string.h>

#include "cell.h"

int sg_cell_num_states(const sg_cell_def *def) {
    int n = 0;
    while (def && n < SG_CELL_MAX_STATES && def->states[n].name) n++;
    return n;
}

int sg_cell_num_params(const sg_cell_def *def) {
    int n = 0;
    while (def && n < SG_CELL_MAX_PARAMS && def->params[n].name) n++;
    return n;
}

int64_t sg_cell_size_eval(sg_cell_size s, int64_t D, int64_t H, int64_t P, int G) {
    int64_t k = s.mult ? s.mult : 1;
    switch (s.sym) {
    case SG_SIZE_ONE: return k;
    case SG_SIZE_D: return k * D;
    case SG_SIZE_H: return k * H;
    case SG_SIZE_P: return k * P;
    case SG_SIZE_GH: return k * G * H;
    default: return -1;
    }
}

static bool size_ok(sg_cell_size s) { return (unsigned)s.sym < SG_SIZE_COUNT && s.mult >= 0; }

static bool is_size(sg_cell_size s, sg_size_sym sym) { return s.sym == sym && (s.mult == 0 || s.mult == 1); }

int sg_cell_def_check(const sg_cell_def *d, const char *fn) {
    if (!fn) fn = "sg_cell_def_check";
    if (!d) return sg_set_error(SG_ERR_NULL, "%s: the cell definition is NULL", fn);
    if (!d->name || !d->name[0]) return sg_set_error(SG_ERR_ARG, "%s: the cell definition has no name", fn);
    const char *c = d->name;
    if (!d->step) return sg_set_error(SG_ERR_NULL, "%s: cell '%s' has no step function", fn, c);
    if (d->gates < 1) return sg_set_error(SG_ERR_ARG, "%s: cell '%s' has gates = %d (need >= 1)", fn, c, d->gates);
    if (d->allows & ~(unsigned)(SG_CELL_OPT_BIAS | SG_CELL_OPT_PROJ | SG_CELL_OPT_PEEPHOLE))
        return sg_set_error(SG_ERR_ARG, "%s: cell '%s' allows unknown options 0x%x", fn, c, d->allows);
    int ns = sg_cell_num_states(d), np = sg_cell_num_params(d);
    if (ns < 1) return sg_set_error(SG_ERR_ARG, "%s: cell '%s' declares no state (states[0] is h)", fn, c);
    for (int k = 0; k < ns; k++)
        if (!size_ok(d->states[k].size) || d->states[k].size.sym == SG_SIZE_D)
            return sg_set_error(SG_ERR_ARG, "%s: cell '%s' state '%s' has an invalid size (symbol %d, mult %lld; D is not allowed)",
                                fn, c, d->states[k].name, (int)d->states[k].size.sym, (long long)d->states[k].size.mult);
    int n_w = 0, n_b = 0;
    for (int i = 0; i < np; i++) {
        const sg_cell_param *p = &d->params[i];
        if (p->ndim < 1 || p->ndim > SG_CELL_MAX_DIMS)
            return sg_set_error(SG_ERR_ARG, "%s: cell '%s' parameter '%s' has ndim %d (need 1 or 2)", fn, c, p->name, p->ndim);
        for (int a = 0; a < p->ndim; a++)
            if (!size_ok(p->shape[a]))
                return sg_set_error(SG_ERR_ARG, "%s: cell '%s' parameter '%s' dim %d has an invalid size (symbol %d, mult %lld)",
                                    fn, c, p->name, a, (int)p->shape[a].sym, (long long)p->shape[a].mult);
        if ((unsigned)p->init > SG_CELL_INIT_NORMAL)
            return sg_set_error(SG_ERR_ARG, "%s: cell '%s' parameter '%s' has an unknown init %d", fn, c, p->name, (int)p->init);
        if (p->when & ~(unsigned)(SG_CELL_OPT_BIAS | SG_CELL_OPT_PROJ | SG_CELL_OPT_PEEPHOLE))
            return sg_set_error(SG_ERR_ARG, "%s: cell '%s' parameter '%s' depends on unknown options 0x%x", fn, c, p->name, p->when);
        for (int j = 0; j < i; j++)
            if (!strcmp(d->params[j].name, p->name))
                return sg_set_error(SG_ERR_ARG, "%s: cell '%s' declares parameter '%s' twice", fn, c, p->name);
        if (p->role == SG_PARAM_INPUT_WEIGHT) {
            n_w++;
            if (p->ndim != 2 || !is_size(p->shape[0], SG_SIZE_GH) || !is_size(p->shape[1], SG_SIZE_D) || p->when)
                return sg_set_error(SG_ERR_ARG, "%s: cell '%s' input weight '%s' must be (G*H, D) and unconditional", fn, c, p->name);
        } else if (p->role == SG_PARAM_INPUT_BIAS) {
            n_b++;
            if (p->ndim != 1 || !is_size(p->shape[0], SG_SIZE_GH))
                return sg_set_error(SG_ERR_ARG, "%s: cell '%s' input bias '%s' must be (G*H)", fn, c, p->name);
        } else if (p->role != SG_PARAM_PLAIN) {
            return sg_set_error(SG_ERR_ARG, "%s: cell '%s' parameter '%s' has an unknown role %d", fn, c, p->name, (int)p->role);
        }
    }
    if (n_w != 1)
        return sg_set_error(SG_ERR_ARG, "%s: cell '%s' needs exactly one SG_PARAM_INPUT_WEIGHT row (G*H, D), has %d", fn, c, n_w);
    if (n_b > 1) return sg_set_error(SG_ERR_ARG, "%s: cell '%s' has %d input bias rows (at most 1)", fn, c, n_b);
    return SG_OK;
}
