/* The distributed-training check, run under mpirun by the dist_* CTests: a 2-layer bidirectional
 * LSTM classifier on ragged sequences, each example's input offset by its row of a lookup table (so
 * that, as an embedding's, most of that gradient is zero and its bucket goes sparse), trained for a
 * few Adam steps on N ranks (each rank its share
 * of every global batch, the last batch uneven) must match the same training in one process on the
 * whole global batch, computed in this very process: losses and parameters within --rtol
 * (inf-norm relative), and every rank's parameters bitwise equal after every step. The reduced
 * gradient must also be bitwise its definition: every rank's share recomputed here on a copy of the
 * parameters, scaled by its weight in the gradient's dtype, summed in rank order in double.
 * Fault modes for the failure tests: --kill-rank R (that rank SIGKILLs itself at --kill-step),
 * --bad-model-rank R (a different hidden size there), --bad-data-rank R (an out-of-range label).
 * Not a Check suite: Check's forked tests and MPI do not mix. Exit 0 and "dist_lstm: ok" on success. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seqgrad.h"
#include "dist/dist.h"

enum { D_IN = 5, HID = 6, CLASSES = 3, T_MAX = 7, N_EX = 22, GLOBAL_BATCH = 10, STEPS = 5, NO_RANK = -1 };
enum { TAB_ROWS = 2048, TAB_STRIDE = 37 }; /* example e uses row e * TAB_STRIDE % TAB_ROWS */
static const uint64_t DATA_SEED = 1234, INIT_SEED = 77, PERM_SEED = 99;
static const double LR = 0.01;

typedef struct {
    sg_dtype dt;
    double rtol;
    size_t bucket_bytes;
    int kill_rank, kill_step, bad_model_rank, bad_data_rank;
} opts;

typedef struct {
    sg_model *m;
    sg_embedding_layer *tab; /* declared first: the last gradient to be final */
    sg_rnn *rnn;
    sg_linear_layer *fc;
    sg_optim *opt;
} net;

/* the data: example e has lengths[e] steps of D_IN features and a class label */
static double g_x[N_EX][T_MAX][D_IN];
static int64_t g_len[N_EX], g_label[N_EX], g_perm[N_EX];

static void make_data(void) {
    sg_rng rng = sg_rng_new(DATA_SEED);
    for (int e = 0; e < N_EX; e++) {
        g_len[e] = 1 + (int64_t)sg_rng_below(&rng, T_MAX);
        g_label[e] = (int64_t)sg_rng_below(&rng, CLASSES);
        for (int t = 0; t < T_MAX; t++)
            for (int k = 0; k < D_IN; k++) g_x[e][t][k] = 2 * sg_rng_uniform(&rng) - 1;
    }
    for (int e = 0; e < N_EX; e++) g_perm[e] = e;
    sg_rng pr = sg_rng_new(PERM_SEED);
    for (int e = N_EX - 1; e > 0; e--) { /* Fisher-Yates with the seeded generator */
        int j = (int)sg_rng_below(&pr, (uint64_t)e + 1);
        int64_t t = g_perm[e];
        g_perm[e] = g_perm[j];
        g_perm[j] = t;
    }
}

static int net_make(net *n, sg_dtype dt, int64_t hidden) {
    n->m = sg_model_new(dt);
    n->tab = sg_embedding_layer_new(n->m, "tab", TAB_ROWS, D_IN, -1);
    sg_rnn_config c = {.cell = SG_CELL_LSTM, .input_size = D_IN, .hidden_size = hidden, .num_layers = 2,
                       .bidirectional = true, .backend = SG_BACKEND_COMPOSED};
    n->rnn = sg_rnn_new(n->m, "lstm", &c);
    n->fc = sg_linear_layer_new(n->m, "fc", 2 * hidden, CLASSES, true);
    if (!n->tab || !n->rnn || !n->fc || sg_model_finalize(n->m, INIT_SEED)) return -1;
    sg_optim_config oc = {.kind = SG_OPT_ADAM, .lr = LR};
    n->opt = sg_optim_new(n->m, &oc);
    return n->opt ? 0 : -1;
}

static void net_free(net *n) {
    sg_optim_free(n->opt);
    sg_model_free(n->m);
}

/* mean cross-entropy over examples ex[0..b) (b >= 1); backward into the model's gradients */
static int forward_backward(net *n, const int64_t *ex, int b, bool corrupt, double *loss) {
    int64_t T = 1, lens[GLOBAL_BATCH], labels[GLOBAL_BATCH], rows[GLOBAL_BATCH];
    if (b < 1 || b > GLOBAL_BATCH) return -1;
    for (int i = 0; i < b; i++) T = g_len[ex[i]] > T ? g_len[ex[i]] : T;
    double *buf = calloc((size_t)T * (size_t)b * D_IN, sizeof *buf);
    if (!buf) return -1;
    for (int i = 0; i < b; i++) {
        lens[i] = g_len[ex[i]];
        rows[i] = ex[i] * TAB_STRIDE % TAB_ROWS;
        labels[i] = corrupt && i == 0 ? CLASSES + 5 : g_label[ex[i]];
        for (int t = 0; t < lens[i]; t++)
            for (int k = 0; k < D_IN; k++) buf[(t * b + i) * D_IN + k] = g_x[ex[i]][t][k];
    }
    int64_t shape[3] = {T, b, D_IN};
    sg_tensor *x0 = sg_from_buffer(sg_model_dtype(n->m), 3, shape, buf, SG_F64);
    free(buf);
    sg_tensor *x = x0 ? sg_add(x0, sg_embedding_layer_forward(n->tab, 2, (int64_t[]){1, b}, rows)) : NULL; /* (T, b, D_IN) + (1, b, D_IN) */
    sg_rnn_out o;
    int rc = x ? sg_rnn_forward(n->rnn, x, lens, NULL, NULL, &o) : -1;
    sg_tensor *l = NULL;
    if (rc == 0) { /* last layer's two final states (2, B, H) -> (B, 2H) */
        sg_tensor *top = sg_contiguous(sg_transpose(sg_narrow(o.h_n, 0, 2, 2), 0, 1));
        int64_t s2[2] = {b, -1};
        sg_tensor *logits = sg_linear_layer_forward(n->fc, sg_reshape(top, 2, s2));
        l = sg_cross_entropy(logits, labels, -1, SG_REDUCE_MEAN);
        rc = l ? sg_backward(l) : -1;
    }
    if (rc == 0) *loss = sg_item(l);
    sg_tensor_free(x0);
    sg_tape_clear();
    return rc;
}

/* this rank's share of a global batch of B: a contiguous slice [*off, *off + return) */
static int share(int B, int N, int rank, int *off) {
    int q = B / N, r = B % N;
    *off = rank * q + (rank < r ? rank : r);
    return q + (rank < r);
}

/* The reduction's definition, computed here: sum over ranks q = 0..N-1 of (T)w_q * g_q, each
 * product rounded to the dtype T, accumulated in double from the first term, rounded to T; g_q is
 * rank q's gradient on its share, recomputed with sc holding a copy of dn's parameters. Returns
 * whether dn's reduced gradient has exactly those bits. */
static bool reduced_is_definition(net *sc, net *dn, const int64_t *batch, int B, int N) {
    sg_tensor *pd = sg_model_flat_params(dn->m), *ps = sg_model_flat_params(sc->m);
    int64_t n = sg_numel(pd);
    double *acc = malloc((size_t)n * sizeof *acc), *gq = malloc((size_t)n * sizeof *gq);
    bool f32 = sg_model_dtype(dn->m) == SG_F32, ok = acc && gq;
    if (ok) { /* the parameters, bit for bit */
        size_t bytes = (size_t)n * (f32 ? sizeof(float) : sizeof(double));
        memcpy(f32 ? (void *)sg_data_f32(ps) : (void *)sg_data_f64(ps), sg_data_const(pd), bytes);
        sg_mark_modified(ps);
    }
    for (int q = 0; ok && q < N; q++) {
        int off, nb = share(B, N, q, &off);
        double loss, w = (double)nb / B;
        sg_model_zero_grad(sc->m);
        ok = (nb == 0 || forward_backward(sc, batch + off, nb, false, &loss) == 0) &&
             sg_to_buffer(sg_model_flat_grads(sc->m), gq, SG_F64) == 0;
        for (int64_t i = 0; ok && i < n; i++) {
            double t = f32 ? (double)((float)w * (float)gq[i]) : w * gq[i];
            acc[i] = q == 0 ? t : acc[i] + t;
        }
    }
    for (int64_t i = 0; ok && f32 && i < n; i++) acc[i] = (double)(float)acc[i];
    ok = ok && sg_to_buffer(sg_model_flat_grads(dn->m), gq, SG_F64) == 0 && memcmp(acc, gq, (size_t)n * sizeof *gq) == 0;
    free(acc);
    free(gq);
    return ok;
}

static double max_abs(const sg_tensor *t) {
    double m = 0;
    for (int64_t i = 0; i < sg_numel(t); i++) m = fmax(m, fabs(sg_get_flat(t, i)));
    return m;
}
static double rel_diff(const sg_tensor *a, const sg_tensor *b) {
    double d = 0;
    for (int64_t i = 0; i < sg_numel(a); i++) d = fmax(d, fabs(sg_get_flat(a, i) - sg_get_flat(b, i)));
    return d / fmax(max_abs(b), 1e-300);
}

static void usage_fail(const char *a) {
    fprintf(stderr, "dist_lstm: unknown or incomplete argument '%s'\n", a);
    exit(2);
}

static opts parse(int argc, char **argv) {
    opts o = {.dt = SG_F64, .rtol = 1e-12, .kill_rank = NO_RANK, .kill_step = 2, .bad_model_rank = NO_RANK,
              .bad_data_rank = NO_RANK};
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage_fail(a);
        if (!strcmp(a, "--dtype")) o.dt = !strcmp(v, "f32") ? SG_F32 : SG_F64;
        else if (!strcmp(a, "--rtol")) o.rtol = atof(v);
        else if (!strcmp(a, "--bucket-bytes")) o.bucket_bytes = (size_t)atol(v);
        else if (!strcmp(a, "--kill-rank")) o.kill_rank = atoi(v);
        else if (!strcmp(a, "--kill-step")) o.kill_step = atoi(v);
        else if (!strcmp(a, "--bad-model-rank")) o.bad_model_rank = atoi(v);
        else if (!strcmp(a, "--bad-data-rank")) o.bad_data_rank = atoi(v);
        else usage_fail(a);
    }
    return o;
}

int main(int argc, char **argv) {
    sg_dist *d = NULL;
    if (sg_dist_init(&argc, &argv, &d)) {
        fprintf(stderr, "dist_lstm: %s\n", sg_last_error());
        return 1;
    }
    opts o = parse(argc, argv);
    int rank = sg_dist_rank(d), N = sg_dist_size(d);
    sg_set_num_threads(1);
    make_data();
    net ref = {0}, dn = {0}, sc = {0}; /* sc: the scratch copy reduced_is_definition recomputes on */
    if (net_make(&ref, o.dt, HID) || net_make(&sc, o.dt, HID) ||
        net_make(&dn, o.dt, rank == o.bad_model_rank ? HID + 1 : HID))
        sg_dist_abort(d, 1, "building the model: %s", sg_last_error());
    if (sg_dist_check_model(d, dn.m) || sg_dist_broadcast_model(d, dn.m, dn.opt, 0))
        sg_dist_abort(d, 1, "%s", sg_last_error());
    sg_dist_grads *g = sg_dist_grads_new(d, dn.m, o.bucket_bytes);
    if (!g) sg_dist_abort(d, 1, "%s", sg_last_error());

    int fails = 0, pos = 0;
    double worst_loss = 0, worst_param = 0;
    for (int step = 0; step < STEPS; step++) {
        if (rank == o.kill_rank && step == o.kill_step) raise(SIGKILL);
        if (pos >= N_EX) pos = 0;
        int B = N_EX - pos < GLOBAL_BATCH ? N_EX - pos : GLOBAL_BATCH; /* the epoch's last batch is short */
        const int64_t *batch = g_perm + pos;
        pos += B;
        /* reference: one process, the whole global batch */
        double lref = 0, lloc = 0;
        sg_model_zero_grad(ref.m);
        if (forward_backward(&ref, batch, B, false, &lref) || sg_optim_step(ref.opt))
            sg_dist_abort(d, 1, "reference step %d: %s", step, sg_last_error());
        /* this rank's share: a contiguous slice of the global batch */
        int off, nb = share(B, N, rank, &off);
        sg_model_zero_grad(dn.m);
        if (sg_dist_grads_begin(g, (double)nb / B)) sg_dist_abort(d, 1, "%s", sg_last_error());
        if (nb > 0 && forward_backward(&dn, batch + off, nb, rank == o.bad_data_rank, &lloc))
            sg_dist_abort(d, 1, "step %d: bad data on this rank: %s", step, sg_last_error());
        if (sg_dist_grads_end(g)) sg_dist_abort(d, 1, "step %d: %s", step, sg_last_error());
        bool exact = reduced_is_definition(&sc, &dn, batch, B, N);
        if (!exact) fprintf(stderr, "dist_lstm: step %d, rank %d: the reduced gradient is not the rank-order sum\n", step, rank);
        if (sg_optim_step(dn.opt)) sg_dist_abort(d, 1, "step %d: %s", step, sg_last_error());
        double lsum = lloc * nb;
        if (sg_dist_sum(d, &lsum, 1)) sg_dist_abort(d, 1, "%s", sg_last_error());
        double lrel = fabs(lsum / B - lref) / fabs(lref), prel = rel_diff(sg_model_flat_params(dn.m), sg_model_flat_params(ref.m));
        worst_loss = fmax(worst_loss, lrel);
        worst_param = fmax(worst_param, prel);
        int same = sg_dist_check_params(d, dn.m);
        if (same) fprintf(stderr, "dist_lstm: step %d: %s\n", step, sg_last_error());
        if (!(lrel <= o.rtol) || !(prel <= o.rtol) || same || !exact) fails++;
        if (rank == 0)
            printf("step %d: global batch %d (this rank %d), loss %.17g vs one process %.17g: rel %.2e, params rel "
                   "%.2e, ranks bitwise equal: %s, reduction = rank-order sum: %s\n",
                   step, B, nb, lsum / B, lref, lrel, prel, same ? "NO" : "yes", exact ? "yes" : "NO");
    }
    sg_dist_stats st;
    sg_dist_grads_stats(g, &st);
    int early_ok = N == 1 || st.buckets_early > 0 || sg_dist_grads_buckets(g) == 1;
    int sparse_ok = N == 1 || (st.buckets_sparse > 0 && st.bytes_sent < st.bytes_dense);
    if (!early_ok || !sparse_ok) fails++;
    double f = fails;
    sg_dist_sum(d, &f, 1);
    if (rank == 0) {
        printf("%d ranks, %s, %d bucket(s), %lld started during the backward, %lld sparse, %lld bytes sent by rank 0 "
               "(%lld dense)\n",
               N, o.dt == SG_F64 ? "float64" : "float32", sg_dist_grads_buckets(g), (long long)st.buckets_early,
               (long long)st.buckets_sparse, (long long)st.bytes_sent, (long long)st.bytes_dense);
        printf("worst relative difference: loss %.2e, params %.2e (tolerance %.0e)\n", worst_loss, worst_param, o.rtol);
        printf(f == 0 ? "dist_lstm: ok\n" : "dist_lstm: FAILED (%g failed checks)\n", f);
    }
    sg_dist_grads_free(g);
    net_free(&ref);
    net_free(&sc);
    net_free(&dn);
    sg_dist_finalize(d);
    return f == 0 ? 0 : 1;
}
