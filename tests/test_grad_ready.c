/* autograd's grad-ready hook (sg_set_grad_ready_hook), which dist/ uses to start a gradient
 * bucket's communication during the backward: in a stack the top layer's parameters are reported
 * first, each leaf once, and a reported gradient is already final (bitwise equal to the gradient
 * after the whole backward); also with a bidirectional layer whose directions run concurrently at
 * 2 threads, and never when no hook is set. */
#include <string.h>

#include "util/testutil.h"

enum { MAX_SEEN = 64, IN = 4, HID = 5, OUT = 3, B = 2, T = 6 };

typedef struct {
    int n;
    sg_tensor *leaf[MAX_SEEN];
    double snap[MAX_SEEN]; /* sum of |grad| when reported */
} seen_t;

static double abs_sum(const sg_tensor *g) {
    double s = 0;
    for (int64_t i = 0; g && i < sg_numel(g); i++) s += fabs(sg_get_flat(g, i));
    return s;
}

static void on_ready(sg_tensor *leaf, void *ctx) {
    seen_t *s = ctx;
    if (s->n < MAX_SEEN) {
        s->leaf[s->n] = leaf;
        s->snap[s->n++] = abs_sum(sg_grad(leaf));
    }
}

static int index_of(const seen_t *s, const sg_tensor *t) {
    for (int i = 0; i < s->n; i++)
        if (s->leaf[i] == t) return i;
    return -1;
}

/* Linear -> tanh -> (Bi)LSTM -> Linear on a random input; backward with the hook set. */
static void check_stack(bool bidir, int threads) {
    sg_set_num_threads(threads);
    sg_model *m = sg_model_new(SG_F64);
    sg_linear_layer *l1 = sg_linear_layer_new(m, "l1", IN, HID, true);
    sg_rnn *r = sg_rnn_new(m, "rnn", &(sg_rnn_config){.cell = SG_CELL_LSTM, .input_size = HID, .hidden_size = HID,
                                                     .bidirectional = bidir, .backend = SG_BACKEND_COMPOSED});
    int dirs = bidir ? 2 : 1;
    sg_linear_layer *l2 = sg_linear_layer_new(m, "l2", dirs * HID, OUT, true);
    ck_assert_int_eq(sg_model_finalize(m, 5), 0);
    sg_rng rng = sg_rng_new(3);
    sg_tensor *x = sg_uniform(&rng, SG_F64, 3, (int64_t[]){T, B, IN}, -1, 1);
    seen_t seen = {0};
    sg_set_grad_ready_hook(on_ready, &seen);
    sg_rnn_out o;
    ck_assert_int_eq(sg_rnn_forward(r, sg_tanh(sg_linear_layer_forward(l1, x)), (int64_t[]){T, T - 2}, NULL, NULL, &o), 0);
    sg_tensor *loss = sg_sum_all(sg_mul(sg_linear_layer_forward(l2, o.output), sg_linear_layer_forward(l2, o.output)));
    ck_assert_int_eq(sg_backward(loss), 0);
    sg_set_grad_ready_hook(NULL, NULL);
    int np = sg_model_num_params(m);
    ck_assert_int_eq(seen.n, np); /* every parameter once; x does not require grad */
    for (int i = 0; i < np; i++) {
        sg_tensor *p = sg_model_param(m, i);
        int k = index_of(&seen, p);
        ck_assert_msg(k >= 0, "parameter %s never reported", sg_model_param_name(m, i));
        ck_assert_msg(seen.snap[k] == abs_sum(sg_grad(p)) && seen.snap[k] > 0,
                      "parameter %s reported before its gradient was final", sg_model_param_name(m, i));
    }
    /* top first: both l2 parameters before any rnn parameter, every rnn parameter before l1's */
    int l2w = index_of(&seen, sg_linear_layer_weight(l2)), l1w = index_of(&seen, sg_linear_layer_weight(l1));
    for (int i = 0; i < np; i++) {
        const char *nm = sg_model_param_name(m, i);
        int k = index_of(&seen, sg_model_param(m, i));
        if (!strncmp(nm, "rnn.", 4)) ck_assert_msg(l2w < k && k < l1w, "%s reported out of order", nm);
    }
    /* no hook: nothing reported */
    seen.n = 0;
    ck_assert_int_eq(sg_backward(loss), 0);
    ck_assert_int_eq(seen.n, 0);
    sg_tape_clear();
    sg_tensor_free(x);
    sg_model_free(m);
    sg_set_num_threads(1);
}

START_TEST(stack_top_first_and_final) { check_stack(false, 1); }
END_TEST
START_TEST(bidirectional_two_threads) { check_stack(true, 2); }
END_TEST

int main(void) {
    Suite *s = suite_create("grad_ready");
    TCase *t = tcase_create("hook");
    tcase_add_test(t, stack_top_first_and_final);
    tcase_add_test(t, bidirectional_two_threads);
    suite_add_tcase(s, t);
    return tu_run(s);
}
