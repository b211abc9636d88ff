/* The model the checkpoint harness loads into, shared with the seed-corpus generator so the seeds
 * are valid checkpoints of it: x (T,B,3) -> LSTM "lstm" (H 4, composed backend) -> Linear "fc"
 * (4 -> 1), float32, with an Adam optimizer that has taken FUZZ_TRAIN_STEPS steps (so its state
 * is not all zeros). Header-only; not part of the library. */
#ifndef SG_FUZZ_MODEL_H
#define SG_FUZZ_MODEL_H

#include "seqgrad.h"

enum { FUZZ_T = 3, FUZZ_B = 2, FUZZ_D = 3, FUZZ_H = 4, FUZZ_TRAIN_STEPS = 2, FUZZ_SEED = 7 };

typedef struct {
    sg_model *m;
    sg_rnn *lstm;
    sg_linear_layer *fc;
    sg_optim *opt;
} fuzz_model;

/* Builds and trains the model; returns 0 or a status (message in sg_last_error()). */
static inline int fuzz_model_new(fuzz_model *fm) {
    fm->m = sg_model_new(SG_F32);
    sg_rnn_config cfg = {.cell = SG_CELL_LSTM, .input_size = FUZZ_D, .hidden_size = FUZZ_H,
                         .backend = SG_BACKEND_COMPOSED};
    fm->lstm = sg_rnn_new(fm->m, "lstm", &cfg);
    fm->fc = sg_linear_layer_new(fm->m, "fc", FUZZ_H, 1, true);
    if (!fm->lstm || !fm->fc || sg_model_finalize(fm->m, FUZZ_SEED) != SG_OK) return sg_last_status();
    sg_optim_config oc = {.kind = SG_OPT_ADAM, .lr = 0.01};
    fm->opt = sg_optim_new(fm->m, &oc);
    if (!fm->opt) return sg_last_status();
    sg_rng rng = sg_rng_new(FUZZ_SEED);
    sg_tensor *x = sg_uniform(&rng, SG_F32, 3, (int64_t[]){FUZZ_T, FUZZ_B, FUZZ_D}, -1, 1);
    sg_tensor *y = sg_uniform(&rng, SG_F32, 3, (int64_t[]){FUZZ_T, FUZZ_B, 1}, -1, 1);
    int st = x && y ? SG_OK : sg_last_status();
    for (int k = 0; st == SG_OK && k < FUZZ_TRAIN_STEPS; k++) {
        sg_optim_zero_grad(fm->opt);
        sg_rnn_out out;
        st = sg_rnn_forward(fm->lstm, x, NULL, NULL, NULL, &out);
        sg_tensor *loss = st == SG_OK ? sg_mse(sg_linear_layer_forward(fm->fc, out.output), y, SG_REDUCE_MEAN) : NULL;
        if (st == SG_OK) st = loss ? sg_backward(loss) : sg_last_status();
        if (st == SG_OK) st = sg_optim_step(fm->opt);
        sg_tape_clear();
    }
    sg_tensor_free(x);
    sg_tensor_free(y);
    return st;
}

static inline void fuzz_model_free(fuzz_model *fm) {
    sg_optim_free(fm->opt);
    sg_model_free(fm->m);
}

#endif
