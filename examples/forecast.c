/* forecast: an LSTM forecaster for the monthly airline-passengers series (Box & Jenkins series G,
 * 1949-1960). Trains on 1949-1958, reports the RMSE (thousands of passengers) on the last 24 months
 * next to the seasonal-naive baseline y[t-12]. Not a forecasting library: one series, one step ahead.
 *
 * Evaluation is one-step-ahead with the TRUE history (teacher forcing at test time, as in the
 * PyTorch table's recipe): the prediction for month t sees the real values up to t-1, never its own
 * earlier predictions. Every seed trains a fresh model; the summary gives mean +- sample std.
 *
 * Default recipe (the seasonal change): the input is the last 12 values of d[t] = y[t] - y[t-12],
 * scaled by their training standard deviation; the LSTM(32) predicts d[t]; the forecast is
 * y[t-12] + d[t]. Adam 3e-3, batch 16, 100 epochs, 5 seeds (test RMSE 16.4 +- 0.5):
 *   build/forecast --data ../shared/data/airline-passengers.csv
 * PyTorch table recipe (levels): the input is the last 12 values y[t-12..t-1] / max(training y), the
 * LSTM(32) predicts y[t] / max; Adam 1e-2, batch 16, 100 epochs (the table does not give these three;
 * PyTorch 1.13: test RMSE 45.5 +- 7.5 over 5 seeds; seqgrad 47.6 +- 9.3):
 *   build/forecast --data ../shared/data/airline-passengers.csv --recipe torch
 * Writes <out>/forecast.csv (one row per seed and epoch), <out>/forecast.ckpt every epoch and
 * <out>/forecast.best.ckpt at the lowest test RMSE seen (selected on the test months, so it is NOT
 * the reported result: the summary uses each seed's final epoch). --resume continues a run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "excommon.h"
#include "io/checkpoint.h"

enum { SEASON = 12, TEST_MONTHS = 24, MAX_SEEDS = 100, REPORTS_PER_SEED = 10, META_BUF = 2048, NUM_BUF = 32,
       DESC_BUF = 128, SEEDS_BUF = MAX_SEEDS * 24 };
#define RMSE_MAX 1e300 /* what a checkpoint's finished-seed RMSE may be */
#define SCALE_MIN 1e-12 /* below this the training series is constant */
#define NAME "forecast"

typedef struct {
    bool levels;  /* torch recipe: predict scaled levels; else the seasonal change */
    int64_t hidden, window;
    int seeds;
} recipe;

static int extra_flag(const char *f, const char *v, void *ctx) {
    recipe *r = ctx;
    if (!v) return -1;
    if (!strcmp(f, "--recipe")) return 0; /* applied before parsing, see main */
    if (!strcmp(f, "--hidden")) return (r->hidden = atoll(v)) >= 1 ? 0 : -1;
    if (!strcmp(f, "--window")) return (r->window = atoll(v)) >= 1 ? 0 : -1;
    if (!strcmp(f, "--seeds")) return (r->seeds = atoi(v)) >= 1 && r->seeds <= MAX_SEEDS ? 0 : -1;
    return -1;
}

static const char *EXTRA_USAGE =
    "  --recipe R         default (predict y[t] - y[t-12]) | torch (the PyTorch table: predict y[t] / max);\n"
    "                     later flags override it\n"
    "  --seeds N          train N models with seeds seed, seed+1, ... (default 5)\n"
    "  --hidden N         LSTM hidden size (default 32)\n"
    "  --window N         months of history per input (default 12)\n"
    "  --limit N          use only the first N training windows\n";

/* The supervised problem: windows of the input series u ending before month t, target u[t];
 * forecast of y[t] = base[t] + scale * prediction. Months [first, n) have u defined. */
typedef struct {
    const double *y;
    int64_t n, n_train, first, W;
    double *u, *base, scale;
    int64_t *train_t, n_win; /* months t whose windows train the model */
} problem;

static int problem_init(problem *p, const double *y, int64_t n, const recipe *r) {
    *p = (problem){.y = y, .n = n, .n_train = n - TEST_MONTHS, .W = r->window, .first = r->levels ? 0 : SEASON};
    p->u = calloc((size_t)n, sizeof(double));
    p->base = calloc((size_t)n, sizeof(double));
    p->train_t = calloc((size_t)n, sizeof(int64_t));
    if (!p->u || !p->base || !p->train_t) return sg_set_error(SG_ERR_MEM, "out of memory");
    double s = 0, ss = 0;
    int64_t cnt = 0;
    for (int64_t t = p->first; t < n; t++) {
        p->u[t] = r->levels ? y[t] : y[t] - y[t - SEASON];
        p->base[t] = r->levels ? 0 : y[t - SEASON];
        if (t < p->n_train) {
            s = r->levels ? fmax(s, p->u[t]) : s + p->u[t];
            ss += p->u[t] * p->u[t];
            cnt++;
        }
    }
    double mean = s / (double)cnt;
    p->scale = r->levels ? s : sqrt(fmax(ss / (double)cnt - mean * mean, 0)); /* max, or standard deviation */
    if (!(p->scale > SCALE_MIN) || !isfinite(p->scale))
        return sg_set_error(SG_ERR_ARG, "the training series %s (%s %g): nothing to learn, no scale for the inputs",
                            r->levels ? "has no positive value" : "has no seasonal change (constant y[t] - y[t-12])",
                            r->levels ? "max" : "std", p->scale);
    for (int64_t t = p->first; t < n; t++) p->u[t] /= p->scale;
    for (int64_t t = p->first + p->W; t < p->n_train; t++) p->train_t[p->n_win++] = t;
    return SG_OK;
}

static void problem_free(problem *p) {
    free(p->u), free(p->base), free(p->train_t);
}

/* Windows for months t[0..B) -> user-owned x (W, B, 1) and, when y_out, target (B, 1). */
static sg_tensor *make_x(const problem *p, const int64_t *t, int64_t B, sg_tensor **y_out) {
    sg_tensor *x = sg_empty(SG_F32, 3, (int64_t[]){p->W, B, 1});
    float *xp = sg_data_f32(x);
    if (!xp) return NULL;
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < p->W; k++) xp[k * B + b] = (float)p->u[t[b] - p->W + k];
    if (y_out) {
        *y_out = sg_empty(SG_F32, 2, (int64_t[]){B, 1});
        float *yp = sg_data_f32(*y_out);
        if (!yp) return sg_tensor_free(x), NULL;
        for (int64_t b = 0; b < B; b++) yp[b] = (float)p->u[t[b]];
    }
    return x;
}

typedef struct {
    sg_model *m;
    sg_rnn *lstm;
    sg_linear_layer *head;
} net_t;

/* x (W, B, 1) -> (B, 1) from the final hidden state */
static sg_tensor *forward(net_t *n, sg_tensor *x) {
    sg_rnn_out o;
    if (sg_rnn_forward(n->lstm, x, NULL, NULL, NULL, &o)) return NULL;
    return sg_linear_layer_forward(n->head, sg_squeeze(o.h_n, 0));
}

/* RMSE of the one-step forecasts of months t[0..B) (true history as input), in the data's units. */
static double rmse(net_t *n, const problem *p, const int64_t *t, int64_t B) {
    sg_model_train(n->m, false);
    bool prev = sg_set_grad_enabled(false);
    sg_tensor *x = make_x(p, t, B, NULL), *out = forward(n, x);
    double se = out ? 0 : NAN;
    for (int64_t b = 0; out && b < B; b++) {
        double e = p->base[t[b]] + p->scale * sg_get_flat(out, b) - p->y[t[b]];
        se += e * e;
    }
    sg_tensor_free(x);
    sg_tape_clear();
    sg_set_grad_enabled(prev);
    sg_model_train(n->m, true);
    return sqrt(se / (double)B);
}

static int build(net_t *n, const recipe *r, const ex_args *a, uint64_t seed, sg_optim **opt) {
    n->m = sg_model_new(SG_F32);
    sg_rnn_config cfg = {.cell = SG_CELL_LSTM, .input_size = 1, .hidden_size = r->hidden};
    n->lstm = sg_rnn_new(n->m, "lstm", &cfg);
    n->head = sg_linear_layer_new(n->m, "fc", r->hidden, 1, true);
    if (!n->lstm || !n->head || sg_model_finalize(n->m, seed)) return -1;
    *opt = sg_optim_new(n->m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = a->lr});
    return *opt ? 0 : -1;
}

/* Checkpoint metadata: the seed being trained, its finished epochs, the final RMSE of every
 * finished seed ("done", comma-separated) and the best test RMSE so far. */
static int save_ckpt(const char *out, const char *file, net_t *n, sg_optim *opt, int seed_i, int epoch,
                     const double *done, int n_done, double best, const char *desc) {
    char path[1024], si[NUM_BUF], ep[NUM_BUF], bs[NUM_BUF], dn[META_BUF] = "";
    snprintf(si, sizeof si, "%d", seed_i);
    snprintf(ep, sizeof ep, "%d", epoch);
    snprintf(bs, sizeof bs, "%.17g", best);
    for (int i = 0, k = 0; i < n_done; i++)
        k += snprintf(dn + k, sizeof dn - (size_t)k, "%s%.17g", i ? "," : "", done[i]);
    const char *meta[] = {"seed_index", si, "epoch", ep, "done", dn, "best_test_rmse", bs, "example", NAME,
                          "recipe", desc, NULL};
    if (!sg_checkpoint_save(ex_path(path, sizeof path, out, file), n->m, opt, meta)) return 0;
    fprintf(stderr, NAME ": cannot save %s: %s\n", path, sg_last_error());
    return 1;
}

/* Reads and validates the resume state of ckpt (issue 9: every value checked, nothing trusted). */
static int read_resume(const char *ckpt, const char *desc, int seeds, int *seed0, int *ep0, double *best, double *done,
                       int *n_done) {
    int64_t si, ep;
    if (ex_meta_same(NAME, ckpt, "recipe", desc, "(use the same --recipe, --hidden, --window)") ||
        ex_meta_int(NAME, ckpt, "seed_index", 0, seeds - 1, &si) ||
        ex_meta_int(NAME, ckpt, "epoch", 0, EX_EPOCHS_MAX, &ep) ||
        ex_meta_real(NAME, ckpt, "best_test_rmse", 0, INFINITY, best) ||
        ex_meta_reals(NAME, ckpt, "done", 0, RMSE_MAX, (int)si, (int)si + 1, done, n_done))
        return 1;
    *seed0 = (int)si, *ep0 = (int)ep;
    return 0;
}

int main(int argc, char **argv) {
    ex_args a = {.epochs = 100, .batch = 16, .lr = 3e-3, .seed = 1, .threads = 1,
                 .data = "../shared/data/airline-passengers.csv"};
    recipe r = {.hidden = 32, .window = SEASON, .seeds = 5};
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--recipe")) {
            if (!strcmp(argv[i + 1], "torch")) r.levels = true, a.lr = 1e-2;
            else if (strcmp(argv[i + 1], "default")) {
                fprintf(stderr, NAME ": unknown --recipe %s (expected default or torch)\n", argv[i + 1]);
                return 2;
            }
        }
    int pr = ex_parse(argc, argv, &a, NAME, "LSTM forecaster for the airline-passengers series (test: last 24 months).",
                      EXTRA_USAGE, extra_flag, &r);
    if (pr) return pr == -1 ? 0 : 2;

    int64_t n = 0;
    double *y = sg_csv_column(a.data, "Passengers", 0, &n);
    if (!y) {
        fprintf(stderr, NAME ": cannot read '%s': %s\n  (expected the airline-passengers CSV with a header "
                        "\"Month\",\"Passengers\" and one row per month)\n", a.data, sg_last_error());
        return 1;
    }
    problem p;
    if (n < TEST_MONTHS + SEASON + r.window + 1) {
        fprintf(stderr, NAME ": '%s' has %lld months; need at least %lld\n", a.data, (long long)n,
                (long long)(TEST_MONTHS + SEASON + r.window + 1));
        sg_csv_free(y);
        return 1;
    }
    int rc = 1, seed0 = 0, ep0 = 0, n_done = 0;
    bool reported = false; /* the failure's message is printed already */
    double done[MAX_SEEDS], best = INFINITY, se = 0, t_all = ex_now();
    ex_log log = {0};
    net_t net = {0};
    sg_optim *opt = NULL;
    if (problem_init(&p, y, n, &r)) goto fail;
    if (a.limit && a.limit < p.n_win) p.n_win = a.limit;
    int64_t test_t[TEST_MONTHS];
    for (int i = 0; i < TEST_MONTHS; i++) test_t[i] = p.n_train + i;
    for (int64_t t = p.n_train; t < n; t++) se += (y[t] - y[t - SEASON]) * (y[t] - y[t - SEASON]);
    const double naive = sqrt(se / TEST_MONTHS);
    printf(NAME ": %lld months, train %lld (%lld windows), test the last %d; %s recipe: %s, scale %.4g\n"
           "  LSTM(%lld) -> Linear(1), window %lld, Adam lr %g, batch %d, %d epochs, %d seed(s), %d thread(s), backend %s\n"
           "  evaluation: one step ahead from the true history (teacher forcing)\n",
           (long long)n, (long long)p.n_train, (long long)p.n_win, TEST_MONTHS, r.levels ? "torch" : "default",
           r.levels ? "predict y[t] / max(train y)" : "predict (y[t] - y[t-12]) / std", p.scale, (long long)r.hidden,
           (long long)r.window, a.lr, a.batch, a.epochs, r.seeds, a.threads, sg_backend_name(sg_rnn_default_backend()));
    printf("seasonal-naive baseline (y[t-12]): test RMSE %.2f\n", naive);

    char desc[DESC_BUF]; /* what a resumed run must share with the checkpoint's run */
    snprintf(desc, sizeof desc, "%s hidden=%lld window=%lld", r.levels ? "torch" : "default", (long long)r.hidden,
             (long long)r.window);
    if (a.resume) { /* seed index, finished epochs and the finished seeds' results from the metadata */
        if (read_resume(a.resume, desc, r.seeds, &seed0, &ep0, &best, done, &n_done)) {
            reported = true;
            goto fail;
        }
        if (ep0 >= a.epochs) seed0++, ep0 = 0; /* that seed had finished */
        if (n_done > seed0) n_done = seed0;    /* a seed trained on for more epochs reports anew */
        if (ep0 == 0) /* nothing to load: the next seed starts fresh */
            printf("resumed from %s: %d seed(s) finished, starting seed %d of %d\n", a.resume, n_done, seed0 + 1, r.seeds);
    }
    if (ex_log_open(&log, a.out_dir, NAME, "epoch,train_loss,train_rmse,test_rmse,seed,seconds", a.resume != NULL))
        goto fail;
    const int report = a.epochs / REPORTS_PER_SEED > 0 ? a.epochs / REPORTS_PER_SEED : 1;
    double t_train = 0;
    int64_t epochs_run = 0;
    for (int si = seed0; si < r.seeds; si++) {
        uint64_t seed = a.seed + (uint64_t)si;
        if (build(&net, &r, &a, seed, &opt)) goto fail;
        int start = 0;
        if (a.resume && si == seed0 && ep0 > 0) {
            if (sg_checkpoint_load(a.resume, net.m, opt)) goto fail;
            start = ep0;
            printf("resumed from %s: seed %d of %d at epoch %d, %d seed(s) finished\n", a.resume, seed0 + 1, r.seeds, ep0,
                   n_done);
        }
        sg_batcher bt;
        if (sg_batcher_init(&bt, p.n_win, a.batch, false)) goto fail;
        int64_t *tb = malloc((size_t)a.batch * sizeof(int64_t));
        if (!tb) {
            sg_batcher_free(&bt);
            sg_set_error(SG_ERR_MEM, "out of memory");
            goto fail;
        }
        sg_rng rng = sg_rng_new(seed + MAX_SEEDS);
        double test = NAN;
        for (int ep = start; ep < a.epochs; ep++) {
            double t0 = ex_now(), sum = 0;
            sg_rng erng = {rng.seed, rng.offset + (uint64_t)ep * (uint64_t)p.n_win}; /* same order after a resume */
            sg_batcher_shuffle(&bt, &erng);
            for (int64_t k = 0; k < bt.n_batches; k++) {
                const int64_t *idx;
                int64_t B = sg_batcher_batch(&bt, k, &idx);
                for (int64_t b = 0; b < B; b++) tb[b] = p.train_t[idx[b]];
                sg_tensor *target = NULL, *x = make_x(&p, tb, B, &target);
                sg_model_zero_grad(net.m);
                sg_tensor *loss = sg_mse(forward(&net, x), target, SG_REDUCE_MEAN);
                int bad = !loss || sg_backward(loss);
                if (!bad) sum += sg_item(loss) * (double)B;
                sg_tensor_free(x), sg_tensor_free(target);
                if (bad) { free(tb), sg_batcher_free(&bt); goto fail; }
                sg_optim_step(opt);
                sg_tape_clear();
            }
            double dt = ex_now() - t0, train_rmse = rmse(&net, &p, p.train_t, p.n_win);
            test = rmse(&net, &p, test_t, TEST_MONTHS);
            t_train += dt, epochs_run++;
            bool last = ep + 1 == a.epochs, improved = test < best;
            if (improved) best = test;
            if (last) done[n_done++] = test;
            ex_log_row(&log, "%d,%.6g,%.4f,%.4f,%llu,%.4f", ep + 1, sum / (double)p.n_win, train_rmse, test,
                       (unsigned long long)seed, dt);
            if (!a.quiet && ((ep + 1) % report == 0 || last))
                printf("seed %llu epoch %4d  train loss %.5f  train RMSE %7.2f  test RMSE %7.2f\n",
                       (unsigned long long)seed, ep + 1, sum / (double)p.n_win, train_rmse, test);
            if (save_ckpt(a.out_dir, NAME ".ckpt", &net, opt, si, ep + 1, done, n_done, best, desc) ||
                (improved && save_ckpt(a.out_dir, NAME ".best.ckpt", &net, opt, si, ep + 1, done, n_done, best, desc))) {
                free(tb), sg_batcher_free(&bt);
                reported = true;
                goto fail;
            }
        }
        free(tb);
        sg_batcher_free(&bt);
        printf("seed %llu: test RMSE %.2f (seasonal naive %.2f)\n", (unsigned long long)seed, test, naive);
        sg_optim_free(opt), opt = NULL;
        sg_model_free(net.m), net.m = NULL;
    }
    double mean = 0, var = 0;
    for (int i = 0; i < n_done; i++) mean += done[i] / n_done;
    for (int i = 0; i < n_done; i++) var += (done[i] - mean) * (done[i] - mean) / (n_done > 1 ? n_done - 1 : 1);
    printf("per-seed test RMSE:");
    for (int i = 0; i < n_done; i++) printf(" %.2f", done[i]);
    printf("\n" NAME ": test RMSE %.2f +- %.2f over %d seed(s) (seasonal naive %.2f); %.3f s/epoch; wall %.1f s\n", mean,
           sqrt(var), n_done, naive, epochs_run ? t_train / (double)epochs_run : 0, ex_now() - t_all);
    if (a.plot) { /* one curve per seed against the epoch (column 5 is the seed) */
        char seeds[SEEDS_BUF];
        for (int i = 0, k = 0; i < r.seeds && k < (int)sizeof seeds; i++)
            k += snprintf(seeds + k, sizeof seeds - (size_t)k, "%s%llu", i ? " " : "", (unsigned long long)(a.seed + (uint64_t)i));
        ex_plot_groups(&log, a.out_dir, NAME, 1, 5, seeds, (const int[]){3, 4}, 2,
                       (const char *const[]){"train RMSE", "test RMSE"});
    }
    rc = 0;
fail:
    if (rc && !reported) fprintf(stderr, NAME ": error: %s\n", sg_last_error());
    sg_tape_clear();
    ex_log_close(&log);
    sg_optim_free(opt);
    sg_model_free(net.m);
    problem_free(&p);
    sg_csv_free(y);
    return rc;
}
