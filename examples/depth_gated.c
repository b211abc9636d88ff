/* A Depth-Gated LSTM stack (examples/depth_gated.h) as a custom loop over one-step cells: the depth
 * gate of layer l reads layer l-1's memory cell at the same step, so all layers advance together
 * each step instead of layer by layer. Trained on the adding problem, then gradchecked in float64
 * with initial states. See the README section "Writing a new recurrent model".
 * Usage: depth_gated [STEPS]. */
#include <stdlib.h>
#include <string.h>

#include "depth_gated.h"

enum { T = 20, B = 64, H = 24, L = 3, FEATURES = 2, STEPS = 600, REPORT = 100 };
#define LR 1e-2
#define BASELINE_MSE (1.0 / 6.0)

/* adding problem: two marked values in each sequence; the target is their sum */
static void batch(sg_rng *rng, sg_tensor **x, sg_tensor **y) {
    *x = sg_zeros(SG_F32, 3, (int64_t[]){T, B, FEATURES});
    *y = sg_zeros(SG_F32, 2, (int64_t[]){B, 1});
    float *xp = sg_data_f32(*x), *yp = sg_data_f32(*y);
    for (int64_t b = 0; b < B; b++) {
        int64_t i = (int64_t)sg_rng_below(rng, T / 2), j = T / 2 + (int64_t)sg_rng_below(rng, T - T / 2);
        for (int64_t t = 0; t < T; t++) xp[(t * B + b) * FEATURES] = (float)sg_rng_uniform(rng);
        xp[(i * B + b) * FEATURES + 1] = xp[(j * B + b) * FEATURES + 1] = 1;
        yp[b] = xp[(i * B + b) * FEATURES] + xp[(j * B + b) * FEATURES];
    }
    sg_mark_modified(*x);
    sg_mark_modified(*y);
}

typedef struct {
    const dg_stack *s;
} seq_ctx;

/* gradcheck inputs: x, h0, c0, then the parameters */
static sg_tensor *seq_fn(sg_tensor *const *in, int n, void *ctx) {
    (void)n;
    return dg_forward(((seq_ctx *)ctx)->s, in[0], in[1], in[2]);
}

int main(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: %s [STEPS]\nA %d-layer Depth-Gated LSTM (a custom loop over cells) on the adding problem "
               "(default %d Adam steps), then gradchecked in float64.\n", argv[0], L, STEPS);
        return 0;
    }
    int steps = argc > 1 ? atoi(argv[1]) : STEPS;
    if (steps < 1) {
        fprintf(stderr, "%s: STEPS must be a number >= 1 (see --help)\n", argv[0]);
        return 2;
    }
    sg_model *m = sg_model_new(SG_F32);
    dg_stack dg;
    sg_linear_layer *head = NULL;
    if (dg_declare(&dg, m, "dg", FEATURES, H, L) || !(head = sg_linear_layer_new(m, "head", H, 1, true)) ||
        sg_model_finalize(m, 1))
        goto fail;
    sg_optim *opt = sg_optim_new(m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = LR});
    sg_rng rng = sg_rng_new(2);
    double avg = 0;
    printf("%d-layer Depth-Gated LSTM(%d) on the adding problem, T=%d (baseline MSE %.3f)\n", L, H, T, BASELINE_MSE);
    for (int s = 1; s <= steps; s++) {
        sg_tensor *x, *y;
        batch(&rng, &x, &y);
        sg_model_zero_grad(m);
        sg_tensor *out = dg_forward(&dg, x, NULL, NULL);
        sg_tensor *loss = out ? sg_mse(sg_linear_layer_forward(head, sg_select(out, 0, T - 1)), y, SG_REDUCE_MEAN) : NULL;
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
    sg_optim_free(opt);
    sg_model_free(m);

    /* the same stack in float64, gradchecked with initial states against every parameter */
    sg_model *m64 = sg_model_new(SG_F64);
    dg_stack d64;
    if (dg_declare(&d64, m64, "dg", 3, 4, 2) || sg_model_finalize(m64, 3)) goto fail;
    sg_rng r = sg_rng_new(5);
    enum { NUSER = 3, MAXP = 32 };
    int np = sg_model_num_params(m64);
    sg_tensor *in[NUSER + MAXP] = {sg_normal(&r, SG_F64, 3, (int64_t[]){5, 3, 3}, 0, 1),
                                   sg_normal(&r, SG_F64, 3, (int64_t[]){2, 3, 4}, 0, 1),
                                   sg_normal(&r, SG_F64, 3, (int64_t[]){2, 3, 4}, 0, 1)};
    for (int i = 0; i < NUSER; i++) sg_set_requires_grad(in[i], true);
    for (int i = 0; i < np && i < MAXP; i++) in[NUSER + i] = sg_model_param(m64, i);
    seq_ctx sc = {&d64};
    sg_gradcheck_result res;
    int rc = sg_gradcheck(seq_fn, &sc, in, NUSER + np, NULL, &res);
    printf("gradcheck of the 2-layer Depth-Gated LSTM (float64, h0, c0): %s\n", rc ? sg_last_error() : res.message);
    for (int i = 0; i < NUSER; i++) sg_tensor_free(in[i]);
    sg_model_free(m64);
    return rc == 0 && res.ok ? 0 : 1;
fail:
    fprintf(stderr, "error: %s\n", sg_last_error());
    return 1;
}
