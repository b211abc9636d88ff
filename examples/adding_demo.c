/* The main demo: an LSTM learns Hochreiter & Schmidhuber's adding problem (generated data, no
 * download), then seqgrad's gradcheck verifies the LSTM's gradients in float64.
 * Each input step is (value in [0,1), marker in {0,1}); exactly two steps are marked; the target is
 * the sum of the two marked values. Predicting the mean scores MSE ~0.167; a trained LSTM ~0.001. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/layers.h"
#include "nn/rnn.h"
#include "optim/optim.h"
#include "excommon.h"
#include "seqgrad.h"

enum { FEATURES = 2 };
#define BASELINE_MSE (1.0 / 6.0) /* variance of the sum of two U(0,1) */

typedef struct {
    int64_t T, B, H, steps;
    double lr;
    uint64_t seed;
    int threads;
} opts_t;

/* x (T, B, 2) and y (B, 1), user-owned */
static void make_batch(sg_rng *rng, int64_t T, int64_t B, sg_tensor **x, sg_tensor **y) {
    *x = sg_zeros(SG_F32, 3, (int64_t[]){T, B, FEATURES});
    *y = sg_zeros(SG_F32, 2, (int64_t[]){B, 1});
    float *xp = sg_data_f32(*x), *yp = sg_data_f32(*y);
    for (int64_t b = 0; b < B; b++) {
        int64_t i = (int64_t)sg_rng_below(rng, (uint64_t)T / 2), j = T / 2 + (int64_t)sg_rng_below(rng, (uint64_t)(T - T / 2));
        for (int64_t t = 0; t < T; t++) xp[(t * B + b) * FEATURES] = (float)sg_rng_uniform(rng);
        xp[(i * B + b) * FEATURES + 1] = 1;
        xp[(j * B + b) * FEATURES + 1] = 1;
        yp[b] = xp[(i * B + b) * FEATURES] + xp[(j * B + b) * FEATURES];
    }
}

typedef struct {
    sg_rnn *lstm;
    sg_linear_layer *head;
} net_t;

/* x (T,B,2) -> prediction (B,1) from the last output step */
static sg_tensor *predict(net_t *n, sg_tensor *x) {
    sg_rnn_out o;
    if (sg_rnn_forward(n->lstm, x, NULL, NULL, NULL, &o)) return NULL;
    int64_t T = sg_size(x, 0);
    sg_tensor *last = sg_squeeze(sg_narrow(o.output, 0, T - 1, 1), 0);
    return sg_linear_layer_forward(n->head, last);
}

static int train(const opts_t *op) {
    sg_model *m = sg_model_new(SG_F32);
    net_t net;
    sg_rnn_config cfg = {.cell = SG_CELL_LSTM, .input_size = FEATURES, .hidden_size = op->H};
    net.lstm = sg_rnn_new(m, "lstm", &cfg);
    net.head = sg_linear_layer_new(m, "head", op->H, 1, true);
    if (!net.lstm || !net.head || sg_model_finalize(m, op->seed)) goto fail;
    sg_optim *opt = sg_optim_new(m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = op->lr});
    if (!opt) goto fail;
    printf("adding problem: T=%lld, batch %lld, LSTM(%lld) -> Linear(1), %lld parameters, Adam lr %g, %d thread(s)\n",
           (long long)op->T, (long long)op->B, (long long)op->H, (long long)sg_model_numel(m), op->lr, op->threads);
    printf("baseline (predict the mean): MSE %.4f\n", BASELINE_MSE);
    sg_rng data = sg_rng_new(op->seed + 1);
    double t0 = ex_now(), avg = 0;
    const int64_t report = op->steps / 10 > 0 ? op->steps / 10 : 1;
    for (int64_t s = 1; s <= op->steps; s++) {
        sg_tensor *x, *y;
        make_batch(&data, op->T, op->B, &x, &y);
        sg_model_zero_grad(m);
        sg_tensor *loss = sg_mse(predict(&net, x), y, SG_REDUCE_MEAN);
        if (!loss || sg_backward(loss)) goto fail;
        avg += sg_item(loss);
        sg_clip_grad_norm(m, 1.0);
        sg_optim_step(opt);
        sg_tape_clear();
        sg_tensor_free(x);
        sg_tensor_free(y);
        if (s % report == 0) {
            printf("step %5lld  train MSE %.5f  (%.1f s)\n", (long long)s, avg / (double)report, ex_now() - t0);
            avg = 0;
        }
    }
    /* held-out evaluation */
    sg_model_train(m, false);
    bool prev = sg_set_grad_enabled(false);
    sg_tensor *x, *y;
    make_batch(&data, op->T, 1000, &x, &y);
    sg_tensor *loss = sg_mse(predict(&net, x), y, SG_REDUCE_MEAN);
    double test = loss ? sg_item(loss) : -1;
    sg_set_grad_enabled(prev);
    sg_tape_clear();
    sg_tensor_free(x);
    sg_tensor_free(y);
    printf("test MSE on 1000 new sequences: %.5f (baseline %.4f) -> %s\n", test, BASELINE_MSE,
           test >= 0 && test < BASELINE_MSE / 10 ? "learned" : "not learned yet (try more --steps)");
    sg_optim_free(opt);
    sg_model_free(m);
    return test >= 0 ? 0 : 1;
fail:
    fprintf(stderr, "error: %s\n", sg_last_error());
    sg_model_free(m);
    return 1;
}

/* ---- gradcheck of a tiny float64 LSTM with respect to its input, h0, c0 and every parameter ---- */
typedef struct {
    sg_rnn *lstm;
} gc_ctx;

static sg_tensor *lstm_fn(sg_tensor *const *in, int n, void *ctx) {
    (void)n;
    gc_ctx *c = ctx;
    sg_rnn_out o;
    if (sg_rnn_forward(c->lstm, in[0], (const int64_t[]){4, 2}, in[1], in[2], &o)) return NULL;
    return sg_concat(2, (sg_tensor *[]){sg_reshape(o.output, 1, (int64_t[]){-1}), sg_reshape(o.h_n, 1, (int64_t[]){-1})}, 0);
}

static int gradcheck_demo(void) {
    sg_model *m = sg_model_new(SG_F64);
    sg_rnn_config cfg = {.cell = SG_CELL_LSTM, .input_size = 3, .hidden_size = 3, .num_layers = 2, .bidirectional = true};
    gc_ctx c = {sg_rnn_new(m, NULL, &cfg)};
    if (!c.lstm || sg_model_finalize(m, 7)) goto fail;
    sg_rng rng = sg_rng_new(11);
    sg_tensor *x = sg_normal(&rng, SG_F64, 3, (int64_t[]){4, 2, 3}, 0, 1);
    sg_tensor *h0 = sg_normal(&rng, SG_F64, 3, (int64_t[]){4, 2, 3}, 0, 1);
    sg_tensor *c0 = sg_normal(&rng, SG_F64, 3, (int64_t[]){4, 2, 3}, 0, 1);
    sg_set_requires_grad(x, true);
    sg_set_requires_grad(h0, true);
    sg_set_requires_grad(c0, true);
    enum { MAXIN = 40 };
    sg_tensor *in[MAXIN] = {x, h0, c0};
    int n = 3;
    for (int i = 0; i < sg_model_num_params(m) && n < MAXIN; i++) in[n++] = sg_model_param(m, i);
    sg_gradcheck_result r;
    int rc = sg_gradcheck(lstm_fn, &c, in, n, NULL, &r);
    printf("gradcheck (float64, full): 2-layer bidirectional LSTM, ragged lengths {4,2}, input + h0 + c0 + %d parameters: %s\n",
           sg_model_num_params(m), rc ? sg_last_error() : r.message);
    sg_tensor_free(x);
    sg_tensor_free(h0);
    sg_tensor_free(c0);
    sg_model_free(m);
    return rc == 0 && r.ok ? 0 : 1;
fail:
    fprintf(stderr, "error: %s\n", sg_last_error());
    sg_model_free(m);
    return 1;
}

static void usage(void) {
    puts("usage: adding_demo [--steps N] [--T N] [--batch N] [--hidden N] [--lr X] [--seed N] [--threads N]\n"
         "Trains an LSTM on the adding problem, then gradchecks a small LSTM in float64.");
}

int main(int argc, char **argv) {
    opts_t op = {.T = 30, .B = 64, .H = 32, .steps = 1000, .lr = 1e-2, .seed = 1, .threads = 1}; /* tiny model: 1 thread is fastest */
    static const struct option lo[] = {{"steps", 1, 0, 's'}, {"T", 1, 0, 'T'},    {"batch", 1, 0, 'b'},
                                       {"hidden", 1, 0, 'H'}, {"lr", 1, 0, 'l'},  {"seed", 1, 0, 'r'},
                                       {"threads", 1, 0, 'j'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    for (int ch; (ch = getopt_long(argc, argv, "h", lo, NULL)) != -1;) {
        switch (ch) {
        case 's': op.steps = atoll(optarg); break;
        case 'T': op.T = atoll(optarg); break;
        case 'b': op.B = atoll(optarg); break;
        case 'H': op.H = atoll(optarg); break;
        case 'l': op.lr = atof(optarg); break;
        case 'r': op.seed = strtoull(optarg, NULL, 10); break;
        case 'j': op.threads = atoi(optarg); break;
        case 'h': usage(); return 0;
        default: usage(); return 2;
        }
    }
    if (op.T < 2 || op.B < 1 || op.H < 1 || op.steps < 1 || !(op.lr > 0) || sg_set_num_threads(op.threads)) {
        fprintf(stderr, "adding_demo: bad arguments %s\n", sg_last_error());
        usage();
        return 2;
    }
    int rc = train(&op);
    rc |= gradcheck_demo();
    return rc;
}
