/* Flat parameter/gradient blocks, declaration, initialisation and lookup of model parameters.
 * No layer logic here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/kernels.h"
#include "model.h"
#include "model_impl.h"

enum { SG_PARAM_NAME_MAX = 128, SG_INIT_STREAM_SHIFT = 40, SG_PARAM_ALIGN = 64 /* bytes */ };

typedef struct {
    char name[SG_PARAM_NAME_MAX];
    int ndim;
    int64_t shape[SG_MAX_DIMS];
    int64_t offset, numel;
    sg_init_kind init;
    double a;
    sg_tensor *t;
} param_t;

typedef struct {
    void *obj;
    void (*free_fn)(void *);
    int (*after_init)(void *);
} owned_t;

struct sg_model {
    sg_dtype dtype;
    param_t *p;
    int np, cap;
    owned_t *owned;
    int nowned, capowned;
    int64_t numel;
    sg_storage *data, *grad;
    sg_tensor *flat, *flat_grad;
    bool final, training;
    sg_rng rng;
};

sg_model *sg_model_new(sg_dtype dt) {
    if ((unsigned)dt >= SG_DTYPE_COUNT) {
        sg_set_error(SG_ERR_DTYPE, "sg_model_new: invalid dtype %d", (int)dt);
        return NULL;
    }
    sg_model *m = calloc(1, sizeof *m);
    if (!m) {
        sg_set_error(SG_ERR_MEM, "sg_model_new: out of memory");
        return NULL;
    }
    m->dtype = dt;
    m->training = true;
    return m;
}

static bool check_model(const sg_model *m, const char *fn) {
    if (m) return true;
    if (sg_has_error()) sg_set_error(SG_ERR_PROPAGATED, "%s: model came from a failed call", fn);
    else sg_set_error(SG_ERR_NULL, "%s: argument 'm' is NULL", fn);
    return false;
}

/* Drops a tensor the model made: a live one as the user's sg_tensor_free would (a parameter the
 * tape still holds lives on until sg_tape_clear), one that a failed finalize could not register
 * (so nobody else saw it) by its reference. */
static void drop(sg_tensor *t, bool failed_finalize) {
    if (!t) return;
    if (failed_finalize && !sg_is_live(t)) sg__unref(t);
    else sg_tensor_free(t);
}

/* Releases what sg_model_finalize made (the parameter tensors with their gradients, the flat views
 * and blocks), complete or not, and returns m to its declared state. */
static void unfinalize(sg_model *m, bool failed_finalize) {
    for (int i = 0; i < m->np; i++) {
        drop(m->p[i].t, failed_finalize);
        m->p[i].t = NULL;
    }
    drop(m->flat, failed_finalize);
    drop(m->flat_grad, failed_finalize);
    m->flat = m->flat_grad = NULL;
    sg__storage_unref(m->data);
    sg__storage_unref(m->grad);
    m->data = m->grad = NULL;
    m->final = false;
}

void sg_model_free(sg_model *m) {
    if (!m) return;
    for (int i = m->nowned - 1; i >= 0; i--) m->owned[i].free_fn(m->owned[i].obj);
    unfinalize(m, false);
    free(m->p);
    free(m->owned);
    free(m);
}

sg_dtype sg_model_dtype(const sg_model *m) { return m ? m->dtype : SG_F32; }

char *sg_param_name(char *buf, size_t n, const char *prefix, const char *name) {
    if (prefix && prefix[0]) snprintf(buf, n, "%s.%s", prefix, name);
    else snprintf(buf, n, "%s", name);
    return buf;
}

int sg_model_declare(sg_model *m, const char *name, int ndim, const int64_t *shape, sg_init_kind init,
                     double a) {
    if (!check_model(m, "sg_model_declare")) return sg_last_status();
    if (!name || !name[0] || strlen(name) >= SG_PARAM_NAME_MAX)
        return sg_set_error(SG_ERR_ARG, "sg_model_declare: parameter name must have 1..%d characters",
                            SG_PARAM_NAME_MAX - 1);
    if (m->final)
        return sg_set_error(SG_ERR_STATE, "sg_model_declare: '%s' declared after sg_model_finalize", name);
    if (ndim < 1 || ndim > SG_MAX_DIMS)
        return sg_set_error(SG_ERR_ARG, "sg_model_declare: '%s' has ndim %d", name, ndim);
    int64_t numel;
    if (!sg__shape_check("sg_model_declare", ndim, shape, &numel)) return sg_last_status();
    /* keep each parameter 64-byte aligned inside the block */
    const int64_t align = SG_PARAM_ALIGN / (int64_t)sg_dtype_size(m->dtype);
    int64_t padded = (numel + align - 1) / align * align; /* numel <= SG__MAX_NUMEL: no overflow */
    if (padded > SG__MAX_NUMEL - m->numel)
        return sg_set_error(SG_ERR_SHAPE, "sg_model_declare: '%s' makes the model larger than %lld elements", name,
                            (long long)SG__MAX_NUMEL);
    for (int i = 0; i < m->np; i++)
        if (!strcmp(m->p[i].name, name))
            return sg_set_error(SG_ERR_ARG, "sg_model_declare: parameter '%s' declared twice", name);
    if (m->np == m->cap) {
        int cap = m->cap ? 2 * m->cap : 16;
        param_t *np = realloc(m->p, (size_t)cap * sizeof *np);
        if (!np) return sg_set_error(SG_ERR_MEM, "sg_model_declare: out of memory");
        m->p = np;
        m->cap = cap;
    }
    param_t *p = &m->p[m->np];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    memcpy(p->shape, shape, (size_t)ndim * sizeof *shape);
    p->numel = numel;
    p->offset = m->numel;
    p->init = init;
    p->a = a;
    m->numel += padded;
    return m->np++;
}

/* The work of sg_model_finalize; on failure the caller rolls back with unfinalize. */
static int finalize(sg_model *m, uint64_t seed) {
    size_t es = sg_dtype_size(m->dtype);
    m->data = sg__storage_new((size_t)m->numel * es, true);
    m->grad = sg__storage_new((size_t)m->numel * es, true);
    if (!m->data || !m->grad) return sg_set_error(SG_ERR_MEM, "sg_model_finalize: out of memory (%lld parameters)",
                                                  (long long)m->numel);
    for (int i = 0; i < m->np; i++) {
        param_t *p = &m->p[i];
        p->t = sg__from_storage(m->data, m->dtype, p->ndim, p->shape, p->offset);
        sg_tensor *g = sg__from_storage(m->grad, m->dtype, p->ndim, p->shape, p->offset);
        if (!p->t || !g) {
            if (g) sg__unref(g);
            return sg_has_error() ? sg_last_status() : sg_set_error(SG_ERR_MEM, "sg_model_finalize: out of memory");
        }
        p->t->flags |= SG_FLAG_REQUIRES_GRAD;
        g->flags |= SG_FLAG_IS_GRAD;
        p->t->grad = g;
        if (!sg__register(p->t) || !sg__register(g)) return SG_ERR_MEM;
        /* each parameter its own Philox stream: values depend on seed and index only */
        sg_rng r = {seed, (uint64_t)i << SG_INIT_STREAM_SHIFT};
        switch (p->init) {
        case SG_INIT_ZEROS: break;
        case SG_INIT_UNIFORM: sg_fill_uniform(p->t, &r, -p->a, p->a); break;
        case SG_INIT_NORMAL: sg_fill_normal(p->t, &r, 0.0, p->a); break;
        case SG_INIT_CONST: sg_fill(p->t, p->a); break;
        }
    }
    int64_t n = m->numel;
    m->flat = sg__from_storage(m->data, m->dtype, 1, &n, 0);
    m->flat_grad = sg__from_storage(m->grad, m->dtype, 1, &n, 0);
    if (!m->flat || !m->flat_grad || !sg__register(m->flat) || !sg__register(m->flat_grad))
        return sg_has_error() ? sg_last_status() : sg_set_error(SG_ERR_MEM, "sg_model_finalize: out of memory");
    m->rng = sg_rng_new(seed ^ 0xD1B54A32D192ED03ULL);
    m->final = true;
    for (int i = 0; i < m->nowned; i++)
        if (m->owned[i].after_init) {
            int rc = m->owned[i].after_init(m->owned[i].obj);
            if (rc) return rc;
        }
    return SG_OK;
}

int sg_model_finalize(sg_model *m, uint64_t seed) {
    if (!check_model(m, "sg_model_finalize")) return sg_last_status();
    if (m->final) return sg_set_error(SG_ERR_STATE, "sg_model_finalize: already finalized");
    int rc = finalize(m, seed);
    if (rc) unfinalize(m, true); /* all or nothing: m stays declared, finalize may be called again */
    return rc;
}

bool sg_model_is_final(const sg_model *m) { return m && m->final; }

int sg__model_own(sg_model *m, void *obj, void (*free_fn)(void *), int (*after_init)(void *)) {
    if (!check_model(m, "sg__model_own")) return sg_last_status();
    if (m->nowned == m->capowned) {
        int cap = m->capowned ? 2 * m->capowned : 8;
        owned_t *no = realloc(m->owned, (size_t)cap * sizeof *no);
        if (!no) return sg_set_error(SG_ERR_MEM, "sg__model_own: out of memory");
        m->owned = no;
        m->capowned = cap;
    }
    m->owned[m->nowned++] = (owned_t){obj, free_fn, after_init};
    return SG_OK;
}

int sg_model_num_params(const sg_model *m) { return m ? m->np : 0; }
int64_t sg_model_numel(const sg_model *m) {
    int64_t n = 0;
    for (int i = 0; m && i < m->np; i++) n += m->p[i].numel;
    return n;
}

int64_t sg_model_flat_numel(const sg_model *m) { return m ? m->numel : 0; }

static bool final_ok(const sg_model *m, const char *fn) {
    if (!check_model(m, fn)) return false;
    if (!m->final) {
        sg_set_error(SG_ERR_STATE, "%s: call sg_model_finalize first", fn);
        return false;
    }
    return true;
}

sg_tensor *sg_model_param(const sg_model *m, int i) {
    if (!final_ok(m, "sg_model_param")) return NULL;
    if (i < 0 || i >= m->np) {
        sg_set_error(SG_ERR_ARG, "sg_model_param: index %d out of range [0, %d)", i, m->np);
        return NULL;
    }
    return m->p[i].t;
}

const char *sg_model_param_name(const sg_model *m, int i) {
    return (m && i >= 0 && i < m->np) ? m->p[i].name : NULL;
}

sg_tensor *sg_model_find(const sg_model *m, const char *name) {
    if (!final_ok(m, "sg_model_find")) return NULL;
    for (int i = 0; name && i < m->np; i++)
        if (!strcmp(m->p[i].name, name)) return m->p[i].t;
    sg_set_error(SG_ERR_ARG, "sg_model_find: no parameter named '%s'", name ? name : "(null)");
    return NULL;
}

sg_tensor *sg_model_flat_params(const sg_model *m) { return final_ok(m, "sg_model_flat_params") ? m->flat : NULL; }
sg_tensor *sg_model_flat_grads(const sg_model *m) { return final_ok(m, "sg_model_flat_grads") ? m->flat_grad : NULL; }

int sg_model_zero_grad(sg_model *m) {
    if (!final_ok(m, "sg_model_zero_grad")) return sg_last_status();
    memset(m->grad->data, 0, m->grad->nbytes);
    sg__bump(m->grad);
    return SG_OK;
}

void sg_model_train(sg_model *m, bool training) {
    if (m) m->training = training;
}
bool sg_model_is_training(const sg_model *m) { return m && m->training; }
sg_rng *sg_model_rng(sg_model *m) { return m ? &m->rng : NULL; }
void sg_model_seed_dropout(sg_model *m, uint64_t seed) {
    if (m) m->rng = sg_rng_new(seed);
}

/* Internal (nn/rnn_impl.h): undo the declarations after the first n, before finalize. */
void sg__model_forget(sg_model *m, int n) {
    if (!m || m->final || n < 0 || n >= m->np) return;
    m->numel = m->p[n].offset;
    m->np = n;
}
