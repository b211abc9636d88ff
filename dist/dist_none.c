/* dist/ without MPI: a one-process world (rank 0 of 1). Every collective is the identity, the
 * gradient "reduction" only applies the weight, so programs written for dist/ run unchanged. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "dist_impl.h"

struct sg_dist {
    int unused;
};

struct sg_dist_grads {
    sg__grads_head h; /* all this build needs */
};

bool sg_dist_available(void) { return false; }

int sg_dist_init(int *argc, char ***argv, sg_dist **out) {
    (void)argc;
    (void)argv;
    if (!out) return sg_set_error(SG_ERR_NULL, "sg_dist_init: argument 'out' is NULL");
    *out = calloc(1, sizeof **out);
    return *out ? SG_OK : sg_set_error(SG_ERR_MEM, "sg_dist_init: out of memory");
}

int sg_dist_adopt(const void *mpi_comm, sg_dist **out) {
    (void)mpi_comm;
    if (out) *out = NULL;
    return sg_set_error(SG_ERR_UNSUPPORTED, "sg_dist_adopt: seqgrad was built without MPI (SEQGRAD_WITH_MPI)");
}

void sg_dist_finalize(sg_dist *d) { free(d); }
int sg_dist_rank(const sg_dist *d) { (void)d; return 0; }
int sg_dist_size(const sg_dist *d) { (void)d; return 1; }
int sg_dist_barrier(sg_dist *d) { (void)d; return SG_OK; }

void sg_dist_abort(sg_dist *d, int code, const char *fmt, ...) {
    (void)d;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "seqgrad: rank 0 of 1: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fflush(stdout);
    exit(code ? code : 1);
}

int sg_dist_sum(sg_dist *d, double *v, int n) {
    (void)d;
    if (n < 0 || (n && !v)) return sg_set_error(SG_ERR_ARG, "sg_dist_sum: bad arguments (n %d)", n);
    return SG_OK;
}
int sg_dist_any(sg_dist *d, bool flag) { (void)d; return flag; }

int sg_dist_check_model(sg_dist *d, const sg_model *m) {
    (void)d;
    if (!m) return sg_set_error(SG_ERR_NULL, "sg_dist_check_model: argument 'm' is NULL");
    return sg_model_is_final(m) ? SG_OK : sg_set_error(SG_ERR_STATE, "sg_dist_check_model: the model is not finalized");
}
int sg_dist_check_params(sg_dist *d, const sg_model *m) {
    (void)d;
    return m ? SG_OK : sg_set_error(SG_ERR_NULL, "sg_dist_check_params: argument 'm' is NULL");
}
int sg_dist_broadcast_model(sg_dist *d, sg_model *m, sg_optim *o, int root) {
    (void)d;
    (void)o;
    if (!m) return sg_set_error(SG_ERR_NULL, "sg_dist_broadcast_model: argument 'm' is NULL");
    return root == 0 ? SG_OK : sg_set_error(SG_ERR_ARG, "sg_dist_broadcast_model: root %d is not a rank in [0, 1)", root);
}

sg_dist_grads *sg_dist_grads_new(sg_dist *d, sg_model *m, size_t bucket_bytes) {
    return sg__grads_alloc(d, m, bucket_bytes, sizeof(sg_dist_grads));
}

void sg_dist_grads_free(sg_dist_grads *g) { sg__grads_free_head(g ? &g->h : NULL); }

int sg_dist_grads_begin(sg_dist_grads *g, double weight) { return sg__grads_begin_head(g ? &g->h : NULL, weight); }

int sg_dist_grads_end(sg_dist_grads *g) {
    int rc = sg__grads_end_head(g ? &g->h : NULL);
    if (rc) return rc;
    g->h.st.steps++;
    if (g->h.weight == 1.0) return SG_OK;
    sg_tensor *gr = sg_model_flat_grads(g->h.m);
    int64_t n = sg_numel(gr);
    if (sg_model_dtype(g->h.m) == SG_F64) {
        double *x = sg_data_f64(gr);
        for (int64_t i = 0; i < n; i++) x[i] *= g->h.weight;
    } else {
        float *x = sg_data_f32(gr);
        for (int64_t i = 0; i < n; i++) x[i] *= (float)g->h.weight;
    }
    sg_mark_modified(gr);
    return SG_OK;
}
