/* dist/ over MPI: the group, collectives for metrics and checks, the model broadcast, and the
 * bucketed gradient reduction (reduce-scatter in rank order, then allgather, point-to-point and
 * non-blocking, started from autograd's grad-ready hook). Not built without MPI (dist_none.c). */
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/autograd.h"
#include "dist_mpi_impl.h"

int sg__mpi_fail(const char *fn, const char *what, int rc) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "code %d", rc);
    return sg_set_error(SG_ERR_STATE, "%s: MPI %s failed: %s", fn, what, msg);
}

bool sg_dist_available(void) { return true; }

static int make_group(MPI_Comm base, bool owns, sg_dist **out) {
    sg_dist *d = calloc(1, sizeof *d);
    if (!d) return sg_set_error(SG_ERR_MEM, "sg_dist_init: out of memory");
    d->owns_mpi = owns;
    int rc = MPI_Comm_dup(base, &d->comm);
    if (rc != MPI_SUCCESS) {
        free(d);
        return sg__mpi_fail("sg_dist_init", "MPI_Comm_dup", rc);
    }
    MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->size);
    *out = d;
    return SG_OK;
}

int sg_dist_init(int *argc, char ***argv, sg_dist **out) {
    if (!out) return sg_set_error(SG_ERR_NULL, "sg_dist_init: argument 'out' is NULL");
    *out = NULL;
    int inited = 0, provided = 0;
    MPI_Initialized(&inited);
    bool owns = false;
    if (!inited) {
        int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) return sg_set_error(SG_ERR_STATE, "sg_dist_init: MPI_Init_thread failed (code %d)", rc);
        owns = true;
    } else {
        MPI_Query_thread(&provided);
    }
    if (provided < MPI_THREAD_FUNNELED) {
        if (owns) MPI_Finalize();
        return sg_set_error(SG_ERR_STATE, "sg_dist_init: MPI gives thread level %d, seqgrad needs FUNNELED", provided);
    }
    int rc = make_group(MPI_COMM_WORLD, owns, out);
    if (rc && owns) MPI_Finalize();
    return rc;
}

int sg_dist_adopt(const void *mpi_comm, sg_dist **out) {
    if (!out) return sg_set_error(SG_ERR_NULL, "sg_dist_adopt: argument 'out' is NULL");
    *out = NULL;
    if (!mpi_comm) return sg_set_error(SG_ERR_NULL, "sg_dist_adopt: argument 'mpi_comm' is NULL");
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) return sg_set_error(SG_ERR_STATE, "sg_dist_adopt: MPI is not initialised");
    return make_group(*(const MPI_Comm *)mpi_comm, false, out);
}

void sg_dist_finalize(sg_dist *d) {
    if (!d) return;
    MPI_Comm_free(&d->comm);
    int fin = 0;
    MPI_Finalized(&fin);
    if (d->owns_mpi && !fin) MPI_Finalize();
    free(d);
}

int sg_dist_rank(const sg_dist *d) { return d ? d->rank : 0; }
int sg_dist_size(const sg_dist *d) { return d ? d->size : 1; }

int sg_dist_barrier(sg_dist *d) {
    if (!d || d->size == 1) return SG_OK;
    MPI_TRY("sg_dist_barrier", MPI_Barrier(d->comm));
    return SG_OK;
}

void sg_dist_abort(sg_dist *d, int code, const char *fmt, ...) {
    char msg[SG__DIST_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "seqgrad: rank %d of %d: %s\n", sg_dist_rank(d), sg_dist_size(d), msg);
    fflush(stderr);
    fflush(stdout);
    MPI_Abort(d ? d->comm : MPI_COMM_WORLD, code ? code : 1);
    exit(code ? code : 1); /* not reached */
}

int sg_dist_sum(sg_dist *d, double *v, int n) {
    if (n < 0 || (n && !v)) return sg_set_error(SG_ERR_ARG, "sg_dist_sum: bad arguments (v %p, n %d)", (void *)v, n);
    if (!d || d->size == 1 || n == 0) return SG_OK;
    double *all = malloc((size_t)n * (size_t)d->size * sizeof *all);
    if (!all) return sg_set_error(SG_ERR_MEM, "sg_dist_sum: out of memory");
    int rc = MPI_Allgather(v, n, MPI_DOUBLE, all, n, MPI_DOUBLE, d->comm);
    if (rc != MPI_SUCCESS) {
        free(all);
        return sg__mpi_fail("sg_dist_sum", "MPI_Allgather", rc);
    }
    for (int i = 0; i < n; i++) { /* rank order: the same bits on every rank */
        double s = 0;
        for (int r = 0; r < d->size; r++) s += all[(size_t)r * (size_t)n + (size_t)i];
        v[i] = s;
    }
    free(all);
    return SG_OK;
}

int sg_dist_any(sg_dist *d, bool flag) {
    if (!d || d->size == 1) return flag;
    int in = flag, res = 0;
    MPI_TRY("sg_dist_any", MPI_Allreduce(&in, &res, 1, MPI_INT, MPI_LOR, d->comm));
    return res != 0;
}

/* Gathers one value from every rank: returns the first rank whose value differs from rank 0's, or
 * -1 when all agree; *v0 gets rank 0's value, *rc an MPI failure. */
static int first_mismatch(sg_dist *d, uint64_t v, uint64_t *v0, uint64_t *vbad, int *rc) {
    *rc = SG_OK;
    *v0 = *vbad = v;
    if (!d || d->size == 1) return -1;
    uint64_t *all = malloc((size_t)d->size * sizeof *all);
    if (!all) {
        *rc = sg_set_error(SG_ERR_MEM, "sg_dist: out of memory");
        return -1;
    }
    int mrc = MPI_Allgather(&v, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, d->comm);
    int bad = -1;
    if (mrc != MPI_SUCCESS) *rc = sg__mpi_fail("sg_dist", "MPI_Allgather", mrc);
    else
        for (int r = 1; r < d->size && bad < 0; r++)
            if (all[r] != all[0]) bad = r;
    *v0 = all[0];
    if (bad >= 0) *vbad = all[bad];
    free(all);
    return bad;
}

int sg_dist_check_model(sg_dist *d, const sg_model *m) {
    if (!m) return sg_set_error(SG_ERR_NULL, "sg_dist_check_model: argument 'm' is NULL");
    if (!sg_model_is_final(m)) return sg_set_error(SG_ERR_STATE, "sg_dist_check_model: the model is not finalized");
    uint64_t h0, hb, counts = ((uint64_t)sg_model_num_params(m) << 40) ^ (uint64_t)sg_model_numel(m), c0, cb;
    int rc, bad = first_mismatch(d, sg_dist_shape_hash(m), &h0, &hb, &rc);
    if (rc) return rc;
    int badc = first_mismatch(d, counts, &c0, &cb, &rc);
    if (rc) return rc;
    if (bad >= 0 || badc >= 0) {
        int r = bad >= 0 ? bad : badc;
        return sg_set_error(SG_ERR_SHAPE,
                            "sg_dist_check_model: rank %d's model differs from rank 0's (parameter names, "
                            "shapes or dtype; rank 0 has %d parameters in %lld elements, rank %d %d in %lld)",
                            r, (int)(c0 >> 40), (long long)(c0 & ((1ull << 40) - 1)), r, (int)(cb >> 40),
                            (long long)(cb & ((1ull << 40) - 1)));
    }
    return SG_OK;
}

int sg_dist_check_params(sg_dist *d, const sg_model *m) {
    if (!m) return sg_set_error(SG_ERR_NULL, "sg_dist_check_params: argument 'm' is NULL");
    uint64_t h0, hb, h = sg_dist_param_hash(m);
    int rc, bad = first_mismatch(d, h, &h0, &hb, &rc);
    if (rc) return rc;
    if (bad >= 0)
        return sg_set_error(SG_ERR_STATE,
                            "sg_dist_check_params: rank %d's parameters differ from rank 0's (hash %016llx "
                            "on rank 0, %016llx on rank %d)",
                            bad, (unsigned long long)h0, (unsigned long long)hb, bad);
    return SG_OK;
}

/* MPI counts are int: large blocks go in chunks */
static int bcast_block(sg_dist *d, sg_tensor *t, int root) {
    size_t es = sg_dtype_size(sg_dtype_of(t));
    char *p = (char *)sg_data_const(t);
    int64_t n = sg_numel(t);
    const int64_t chunk = 1 << 28;
    for (int64_t off = 0; off < n; off += chunk) {
        int cnt = (int)(n - off < chunk ? n - off : chunk);
        MPI_TRY("sg_dist_broadcast_model", MPI_Bcast(p + (size_t)off * es, cnt, sg__mpi_type(sg_dtype_of(t)), root, d->comm));
    }
    sg_mark_modified(t);
    return SG_OK;
}

int sg_dist_broadcast_model(sg_dist *d, sg_model *m, sg_optim *o, int root) {
    if (!m) return sg_set_error(SG_ERR_NULL, "sg_dist_broadcast_model: argument 'm' is NULL");
    if (!d || d->size == 1) return SG_OK;
    if (root < 0 || root >= d->size)
        return sg_set_error(SG_ERR_ARG, "sg_dist_broadcast_model: root %d is not a rank in [0, %d)", root, d->size);
    int rc = sg_dist_check_model(d, m);
    if (rc) return rc;
    uint64_t o0, ob, odesc = o ? ((uint64_t)sg_optim_get_config(o)->kind + 1) << 8 | (uint64_t)sg_optim_state_count(o) : 0;
    int bad = first_mismatch(d, odesc, &o0, &ob, &rc);
    if (rc) return rc;
    if (bad >= 0)
        return sg_set_error(SG_ERR_STATE, "sg_dist_broadcast_model: rank %d's optimizer differs from rank 0's", bad);
    if ((rc = bcast_block(d, sg_model_flat_params(m), root))) return rc;
    if (!o) return SG_OK;
    for (int i = 0; i < sg_optim_state_count(o); i++)
        if ((rc = bcast_block(d, sg_optim_state(o, i), root))) return rc;
    int64_t steps = sg_optim_steps(o);
    MPI_TRY("sg_dist_broadcast_model", MPI_Bcast(&steps, 1, MPI_INT64_T, root, d->comm));
    return sg_optim_set_steps(o, steps);
}
