/* Writing a new recurrent model: a Light GRU (a cell seqgrad does not ship) given as a cell definition
 * (examples/ligru_cell.h), run by seqgrad's layer driver as a bidirectional layer over batches of
 * variable-length sequences, trained on the adding problem, then gradchecked in float64 with
 * ragged lengths, both directions and initial states. See the README section "Writing a new
 * recurrent model". Usage: custom_cell [--fused] [steps] (--fused: the definition whose pointwise
 * tail is one custom op, ligru_cell_fused). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ligru_cell.h"

enum { T = 20, B = 64, H = 24, FEATURES = 2, STEPS = 1500, REPORT = 300, DIRS = 2 };
#define LR 1e-2
#define BASELINE_MSE (1.0 / 6.0)

/* Adding problem with lengths in [T/2, T]: two marked values inside each sequence's valid part;
 * the target is their sum. Padding past a length is left at zero (the driver ignores it). */
static void batch(sg_rng *rng, sg_tensor **x, sg_tensor **y, int64_t *len) {
    *x = sg_zeros(SG_F32, 3, (int64_t[]){T, B, FEATURES});
    *y = sg_zeros(SG_F32, 2, (int64_t[]){B, 1});
    float *xp = sg_data_f32(*x), *yp = sg_data_f32(*y);
    for (int64_t b = 0; b < B; b++) {
        len[b] = T / 2 + (int64_t)sg_rng_below(rng, T - T / 2 + 1);
        int64_t half = len[b] / 2;
        int64_t i = (int64_t)sg_rng_below(rng, (uint64_t)half), j = half + (int64_t)sg_rng_below(rng, (uint64_t)(len[b] - half));
        for (int64_t t = 0; t < len[b]; t++) xp[(t * B + b) * FEATURES] = (float)sg_rng_uniform(rng);
        xp[(i * B + b) * FEATURES + 1] = xp[(j * B + b) * FEATURES + 1] = 1;
        yp[b] = xp[(i * B + b) * FEATURES] + xp[(j * B + b) * FEATURES];
    }
}

/* h_n (2, B, H) of a one-layer bidirectional layer -> (B, 2H): forward and reverse final states */
static sg_tensor *both_directions(sg_tensor *h_n) {
    sg_tensor *d[DIRS] = {sg_select(h_n, 0, 0), sg_select(h_n, 0, 1)};
    return sg_concat(DIRS, d, 1);
}

/* for the gradcheck: inputs x, h0, then the parameters; returns output and h_n, flattened */
typedef struct {
    sg_rnn *r;
    const int64_t *lengths;
} seq_ctx;

static sg_tensor *seq_fn(sg_tensor *const *in, int n, void *ctx) {
    (void)n;
    seq_ctx *c = ctx;
    sg_rnn_out o;
    if (sg_rnn_forward(c->r, in[0], c->lengths, in[1], NULL, &o)) return NULL;
    sg_tensor *parts[2] = {sg_reshape(o.output, 1, (int64_t[]){-1}), sg_reshape(o.h_n, 1, (int64_t[]){-1})};
    return sg_concat(2, parts, 0);
}

int main(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: %s [--fused] [STEPS]\nA Light GRU given as a cell definition, run as a bidirectional layer over "
               "variable-length batches of the adding problem (default %d Adam steps), then gradchecked in float64.\n"
               "--fused: the definition whose pointwise tail is one custom op (ligru_cell_fused).\n",
               argv[0], STEPS);
        return 0;
    }
    const sg_cell_def *def = &ligru_cell;
    if (argc > 1 && !strcmp(argv[1], "--fused")) def = &ligru_cell_fused, argc--, argv++;
    int steps = argc > 1 ? atoi(argv[1]) : STEPS;
    if (steps < 1) {
        fprintf(stderr, "%s: STEPS must be a number >= 1 (got '%s'; see --help)\n", argv[0], argv[1]);
        return 2;
    }
    sg_set_num_threads(2); /* the two directions run concurrently */
    sg_model *m = sg_model_new(SG_F32);
    sg_rnn_config cfg = {.def = def, .input_size = FEATURES, .hidden_size = H, .bidirectional = true};
    sg_rnn *cell = sg_rnn_new(m, "ligru", &cfg); /* ligru.weight_ih_l0, ..., ligru.bias_ih_l0_reverse */
    sg_linear_layer *head = NULL;
    if (!cell || !(head = sg_linear_layer_new(m, "head", DIRS * H, 1, true)) || sg_model_finalize(m, 1)) goto fail;
    sg_optim *opt = sg_optim_new(m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = LR});
    sg_rng rng = sg_rng_new(2);
    int64_t len[B];
    double avg = 0;
    printf("bidirectional Light GRU(%d) (definition %s) on the adding problem, lengths %d..%d (baseline MSE %.3f)\n", H,
           def->name, T / 2, T, BASELINE_MSE);
    for (int s = 1; s <= steps; s++) {
        sg_tensor *x, *y;
        batch(&rng, &x, &y, len);
        sg_model_zero_grad(m);
        sg_rnn_out o;
        if (sg_rnn_forward(cell, x, len, NULL, NULL, &o)) goto fail;
        sg_tensor *loss = sg_mse(sg_linear_layer_forward(head, both_directions(o.h_n)), y, SG_REDUCE_MEAN);
        if (!loss || sg_backward(loss)) goto fail;
        avg += sg_item(loss);
        sg_optim_step(opt);
        sg_tape_clear();
        sg_tensor_free(x);
        sg_tensor_free(y);
        if (s % REPORT == 0) {
            printf("step %4d  train MSE %.5f\n", s, avg / REPORT);
            avg = 0;
        }
    }
    const char *why;
    sg_backend ran = sg_rnn_last_backend(cell, &why);
    printf("backend: %s (%s)\n", sg_backend_name(ran), why);
    sg_optim_free(opt);
    sg_model_free(m);

    /* gradcheck the same layer in float64: ragged lengths, both directions, an initial state;
     * with respect to the input, h0 and every parameter */
    sg_model *m64 = sg_model_new(SG_F64);
    sg_rnn_config c64 = {.def = def, .input_size = 3, .hidden_size = 4, .bidirectional = true};
    sg_rnn *r64 = sg_rnn_new(m64, "ligru", &c64);
    if (!r64 || sg_model_finalize(m64, 3)) goto fail;
    sg_rng r = sg_rng_new(5);
    int np = sg_model_num_params(m64);
    sg_tensor *in[2 + 2 * 4] = {sg_normal(&r, SG_F64, 3, (int64_t[]){5, 3, 3}, 0, 1),
                                sg_normal(&r, SG_F64, 3, (int64_t[]){DIRS, 3, 4}, 0, 1)};
    sg_set_requires_grad(in[0], true);
    sg_set_requires_grad(in[1], true);
    for (int i = 0; i < np; i++) in[2 + i] = sg_model_param(m64, i);
    int64_t lengths[3] = {5, 2, 4};
    seq_ctx sc = {r64, lengths};
    sg_gradcheck_result res;
    int rc = sg_gradcheck(seq_fn, &sc, in, 2 + np, NULL, &res);
    printf("gradcheck of the bidirectional Light GRU layer (float64, ragged lengths, h0): %s\n", rc ? sg_last_error() : res.message);
    sg_tensor_free(in[0]);
    sg_tensor_free(in[1]);
    sg_model_free(m64);
    return rc == 0 && res.ok ? 0 : 1;
fail:
    fprintf(stderr, "error: %s\n", sg_last_error());
    return 1;
}
