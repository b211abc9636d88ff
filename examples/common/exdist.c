/* The examples' data-parallel plumbing (see exdist.h). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "excommon.h"
#include "exdist.h"

int ex_dist_start(ex_dist *x, int *argc, char ***argv, const char *prog) {
    *x = (ex_dist){.size = 1};
    if (sg_dist_init(argc, argv, &x->d)) {
        fprintf(stderr, "%s: cannot start MPI: %s\n", prog, sg_last_error());
        return 1;
    }
    x->rank = sg_dist_rank(x->d);
    x->size = sg_dist_size(x->d);
    const char *dbg = getenv("SEQGRAD_DIST_DEBUG");
    x->debug = dbg && *dbg && *dbg != '0';
    const char *prof = getenv("SEQGRAD_EX_PROFILE");
    x->profile = prof && *prof && *prof != '0';
    x->phase = EX_PH_IDLE;
    if (x->rank != 0 && !freopen("/dev/null", "w", stdout)) {
        fprintf(stderr, "%s: rank %d cannot silence stdout\n", prog, x->rank);
        return 1;
    }
    return 0;
}

int ex_dist_setup(ex_dist *x, sg_model *m, sg_optim *o) {
    int rc = sg_dist_check_model(x->d, m);
    if (!rc) rc = sg_dist_broadcast_model(x->d, m, o, 0);
    const char *kb = getenv("SEQGRAD_DIST_BUCKET_KB");
    size_t bytes = kb && atol(kb) > 0 ? (size_t)atol(kb) << 10 : 0;
    if (!rc && !(x->g = sg_dist_grads_new(x->d, m, bytes))) rc = sg_last_status();
    if (!rc && x->size > 1)
        printf("data parallel: %d processes, %d gradient bucket(s); --batch is the global batch%s\n", x->size,
               sg_dist_grads_buckets(x->g), x->debug ? "; SEQGRAD_DIST_DEBUG: parameters checked every step" : "");
    return rc;
}

int ex_dist_check_batch(const ex_dist *x, const char *prog, int64_t batch) {
    if (batch >= x->size) return 0;
    fprintf(stderr, "%s: the global batch %lld is smaller than the number of processes %d: every process needs at "
                    "least one example per batch (use --batch >= %d or fewer processes)\n",
            prog, (long long)batch, x->size, x->size);
    return 1;
}

void ex_dist_share(const ex_dist *x, int64_t n, int64_t *off, int64_t *cnt) {
    int64_t q = n / x->size, r = n % x->size;
    *off = x->rank * q + (x->rank < r ? x->rank : r);
    *cnt = q + (x->rank < r);
}

int64_t ex_dist_pick(const ex_dist *x, const int64_t *idx, int64_t n, int64_t *out) {
    int64_t k = 0;
    for (int64_t i = x->rank; i < n; i += x->size) out[k++] = idx[i];
    return k;
}

int ex_dist_begin(ex_dist *x, int64_t n, int64_t B) {
    x->step_examples = B;
    x->steps++;
    return sg_dist_grads_begin(x->g, B > 0 ? (double)n / (double)B : 0.0);
}

int ex_dist_end(ex_dist *x) { return sg_dist_grads_end(x->g); }

int ex_dist_check(ex_dist *x, const sg_model *m) { return x->debug ? sg_dist_check_params(x->d, m) : 0; }

int ex_dist_sum(ex_dist *x, double *v, int n) { return sg_dist_sum(x->d, v, n); }

void ex_dist_fail(ex_dist *x, const char *prog, const char *msg) {
    if (x->size > 1) sg_dist_abort(x->d, 1, "%s: error: %s", prog, msg);
}

void ex_dist_report(const ex_dist *x, const char *prog) {
    sg_dist_stats st;
    sg_dist_grads_stats(x->g, &st);
    if (x->size < 2 || st.steps == 0) return;
    double s = (double)st.steps;
    printf("%s: data parallel over %d processes: %.0f kB sent per step by rank 0 (%.0f kB with every bucket dense; "
           "%lld of %lld bucket reductions sparse), allreduce %.2f ms/step of which "
           "%.2f ms waited after the backward, %.0f %% hidden (%lld of %lld buckets started during it; %.3f ms/step "
           "spent in the backward's grad-ready hook)\n",
           prog, x->size, (double)st.bytes_sent / s / 1e3, (double)st.bytes_dense / s / 1e3,
           (long long)st.buckets_sparse, (long long)(st.steps * sg_dist_grads_buckets(x->g)), 1e3 * st.t_comm / s,
           1e3 * st.t_exposed / s,
           st.t_comm > 0 ? 100 * (1 - st.t_exposed / st.t_comm) : 0.0, (long long)st.buckets_early,
           (long long)(st.steps * sg_dist_grads_buckets(x->g)), 1e3 * st.t_in_backward / s);
}

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ex_dist_phase(ex_dist *x, ex_phase p) {
    double w = ex_now(), c = x->profile ? cpu_seconds() : 0;
    if (x->phase < EX_PH_COUNT) {
        x->ph_wall[x->phase] += w - x->mark_wall;
        x->ph_cpu[x->phase] += c - x->mark_cpu;
    }
    x->phase = p;
    x->mark_wall = w;
    x->mark_cpu = c;
}

static const char *const PHASE_NAMES[EX_PH_COUNT] = {"batch", "forward", "backward", "wait", "update", "other"};

void ex_dist_report_phases(ex_dist *x, const char *prog) {
    enum { PER_RANK = 2 * EX_PH_COUNT + 1 }; /* wall per phase, cpu per phase, steps */
    double *v = calloc((size_t)x->size * PER_RANK, sizeof *v);
    if (!v) return;
    double *mine = v + (size_t)x->rank * PER_RANK;
    for (int p = 0; p < EX_PH_COUNT; p++) mine[p] = x->ph_wall[p], mine[EX_PH_COUNT + p] = x->ph_cpu[p];
    mine[2 * EX_PH_COUNT] = (double)x->steps;
    if (ex_dist_sum(x, v, x->size * PER_RANK) == 0) /* every other rank adds zeros to a slot */
        for (int r = 0; r < x->size; r++) {
            const double *q = v + (size_t)r * PER_RANK, s = q[2 * EX_PH_COUNT] > 0 ? 1e3 / q[2 * EX_PH_COUNT] : 0;
            double tw = 0, tc = 0;
            printf("%s: step time rank %d of %d (ms%s):", prog, r, x->size, x->profile ? ", wall/cpu" : "");
            for (int p = 0; p < EX_PH_COUNT; p++) {
                tw += q[p], tc += q[EX_PH_COUNT + p];
                if (x->profile) printf(" %s %.3f/%.3f", PHASE_NAMES[p], s * q[p], s * q[EX_PH_COUNT + p]);
                else printf(" %s %.3f", PHASE_NAMES[p], s * q[p]);
            }
            if (x->profile) printf(" total %.3f/%.3f\n", s * tw, s * tc);
            else printf(" total %.3f\n", s * tw);
        }
    free(v);
}

void ex_dist_stop(ex_dist *x) {
    sg_dist_grads_free(x->g);
    sg_dist_finalize(x->d);
    *x = (ex_dist){.size = 1};
}
