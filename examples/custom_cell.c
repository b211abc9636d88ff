/* Writing a new recurrent model: a Minimal Gated Unit built only from ops (examples/mgu_cell.h),
 * trained on the adding problem, then gradchecked in float64. See the README section
 * "Writing a new recurrent model". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgu_cell.h"

enum { T = 20, B = 64, H = 24, FEATURES = 2, STEPS = 1500, REPORT = 300 };
#define LR 1e-2
#define BASELINE_MSE (1.0 / 6.0)

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
}

static sg_tensor *seq_fn(sg_tensor *const *in, int n, void *ctx) {
    (void)n;
    return mgu_sequence(ctx, in[0], in[1]);
}

int main(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: %s [STEPS]\nA Minimal Gated Unit built from ops, trained on the adding problem (default %d "
               "Adam steps), then gradchecked in float64.\n", argv[0], STEPS);
        return 0;
    }
    int steps = argc > 1 ? atoi(argv[1]) : STEPS;
    if (steps < 1) {
        fprintf(stderr, "%s: STEPS must be a number >= 1 (got '%s'; see --help)\n", argv[0], argv[1]);
        return 2;
    }
    sg_set_num_threads(2);
    sg_model *m = sg_model_new(SG_F32);
    mgu_cell cell;
    sg_linear_layer *head = NULL;
    if (mgu_declare(&cell, m, "mgu", FEATURES, H) || !(head = sg_linear_layer_new(m, "head", H, 1, true)) ||
        sg_model_finalize(m, 1))
        goto fail;
    sg_optim *opt = sg_optim_new(m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = LR});
    sg_tensor *h0 = sg_zeros(SG_F32, 2, (int64_t[]){B, H});
    sg_rng rng = sg_rng_new(2);
    double avg = 0;
    printf("MGU(%d) on the adding problem, T=%d (baseline MSE %.3f)\n", H, T, BASELINE_MSE);
    for (int s = 1; s <= steps; s++) {
        sg_tensor *x, *y;
        batch(&rng, &x, &y);
        sg_model_zero_grad(m);
        sg_tensor *loss = sg_mse(sg_linear_layer_forward(head, mgu_sequence(&cell, x, h0)), y, SG_REDUCE_MEAN);
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
    sg_tensor_free(h0);
    sg_optim_free(opt);
    sg_model_free(m);

    /* gradcheck the same cell in float64 over a short sequence, w.r.t. input, h0 and parameters */
    sg_model *m64 = sg_model_new(SG_F64);
    mgu_cell c64;
    if (mgu_declare(&c64, m64, "mgu", 3, 4) || sg_model_finalize(m64, 3)) goto fail;
    sg_rng r = sg_rng_new(5);
    sg_tensor *in[6] = {sg_normal(&r, SG_F64, 3, (int64_t[]){5, 2, 3}, 0, 1), sg_normal(&r, SG_F64, 2, (int64_t[]){2, 4}, 0, 1)};
    sg_set_requires_grad(in[0], true);
    sg_set_requires_grad(in[1], true);
    for (int i = 0; i < 4; i++) in[2 + i] = sg_model_param(m64, i);
    sg_gradcheck_result res;
    int rc = sg_gradcheck(seq_fn, &c64, in, 6, NULL, &res);
    printf("gradcheck of the MGU (float64, full): %s\n", rc ? sg_last_error() : res.message);
    sg_tensor_free(in[0]);
    sg_tensor_free(in[1]);
    sg_model_free(m64);
    return rc == 0 && res.ok ? 0 : 1;
fail:
    fprintf(stderr, "error: %s\n", sg_last_error());
    return 1;
}
