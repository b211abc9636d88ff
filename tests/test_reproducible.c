/* Reproducibility: the same seed and thread count give bitwise the same parameters after training
 * (dropout, ragged lengths, Adam, clipping), at 1 and at 2 threads; the default backend included. */
#include <stdlib.h>
#include <string.h>

#include "util/testutil.h"

enum { T = 6, B = 4, D = 5, H = 8, STEPS = 4 };

/* trains a small 2-layer LSTM with inter-layer dropout; returns a malloc'ed copy of the flat params */
static float *train(int threads, sg_backend backend, bool ragged, int64_t *n) {
    sg_set_num_threads(threads);
    sg_model *m = sg_model_new(SG_F32);
    sg_rnn_config c = {.cell = SG_CELL_LSTM, .input_size = D, .hidden_size = H, .num_layers = 2,
                       .dropout = ragged ? 0.3 : 0, .backend = backend};
    sg_rnn *r = sg_rnn_new(m, NULL, &c);
    ck_assert_int_eq(sg_model_finalize(m, 42), 0);
    sg_optim *o = sg_optim_new(m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = 0.01});
    sg_tensor *x = tu_rand(SG_F32, 3, (int64_t[]){T, B, D}, -1, 1, 7, false);
    const int64_t lengths[B] = {6, 3, 5, 1};
    for (int s = 0; s < STEPS; s++) {
        sg_model_zero_grad(m);
        sg_rnn_out out;
        ck_assert_int_eq(sg_rnn_forward(r, x, ragged ? lengths : NULL, NULL, NULL, &out), 0);
        ck_assert_int_eq(sg_backward(sg_sum_all(sg_mul(out.output, out.output))), 0);
        sg_clip_grad_norm(m, 1.0);
        sg_optim_step(o);
        sg_tape_clear();
    }
    sg_tensor *flat = sg_model_flat_params(m);
    *n = sg_numel(flat);
    float *p = malloc((size_t)*n * sizeof *p);
    sg_to_buffer(flat, p, SG_F32);
    sg_tensor_free(x);
    sg_optim_free(o);
    sg_model_free(m);
    return p;
}

static void same_twice(int threads, sg_backend backend, bool ragged) {
    int64_t n1, n2;
    float *a = train(threads, backend, ragged, &n1), *b = train(threads, backend, ragged, &n2);
    ck_assert_int_eq(n1, n2);
    ck_assert_msg(memcmp(a, b, (size_t)n1 * sizeof *a) == 0, "threads %d backend %s ragged %d: runs differ", threads,
                  sg_backend_name(backend), ragged);
    free(a);
    free(b);
    tu_teardown();
}

START_TEST(composed_ragged_dropout_1t) { same_twice(1, SG_BACKEND_COMPOSED, true); }
END_TEST
START_TEST(composed_ragged_dropout_2t) { same_twice(2, SG_BACKEND_COMPOSED, true); }
END_TEST
START_TEST(default_backend_1t) { same_twice(1, SG_BACKEND_DEFAULT, false); }
END_TEST
START_TEST(default_backend_2t) { same_twice(2, SG_BACKEND_DEFAULT, false); }
END_TEST

int main(void) {
    Suite *s = suite_create("reproducible");
    TCase *t = tcase_create("bitwise");
    tcase_add_test(t, composed_ragged_dropout_1t);
    tcase_add_test(t, composed_ragged_dropout_2t);
    tcase_add_test(t, default_backend_1t);
    tcase_add_test(t, default_backend_2t);
    suite_add_tcase(s, t);
    return tu_run(s);
}
