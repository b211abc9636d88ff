/* The README's custom-cell example (examples/mgu_cell.h, a Minimal Gated Unit written only with
 * ops) passes a float64 full gradcheck over a sequence, and learns: its loss on a fixed toy task
 * drops under training. */
#include "../examples/mgu_cell.h"
#include "util/testutil.h"

static sg_tensor *seq_fn(sg_tensor *const *in, int n, void *ctx) {
    (void)n;
    return mgu_sequence(ctx, in[0], in[1]);
}

START_TEST(mgu_gradcheck) {
    sg_model *m = sg_model_new(SG_F64);
    mgu_cell c;
    ck_assert_int_eq(mgu_declare(&c, m, "mgu", 3, 4), 0);
    ck_assert_int_eq(sg_model_finalize(m, 3), 0);
    sg_tensor *in[6] = {tu_rand(SG_F64, 3, (int64_t[]){4, 2, 3}, -1, 1, 1, true),
                        tu_rand(SG_F64, 2, (int64_t[]){2, 4}, -1, 1, 2, true)};
    for (int i = 0; i < 4; i++) in[2 + i] = sg_model_param(m, i);
    sg_gradcheck_result r;
    ck_assert_int_eq(sg_gradcheck(seq_fn, &c, in, 6, NULL, &r), 0);
    ck_assert_msg(r.ok, "%s", r.message);
    ck_assert_int_gt(r.n_compared, 60);
    sg_tensor_free(in[0]);
    sg_tensor_free(in[1]);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

/* fit a fixed target from a fixed sequence: the loss must fall by 10x in 200 Adam steps */
START_TEST(mgu_learns) {
    sg_model *m = sg_model_new(SG_F32);
    mgu_cell c;
    ck_assert_int_eq(mgu_declare(&c, m, NULL, 2, 8), 0);
    ck_assert_int_eq(sg_model_finalize(m, 1), 0);
    sg_optim *o = sg_optim_new(m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = 0.02});
    sg_tensor *x = tu_rand(SG_F32, 3, (int64_t[]){6, 4, 2}, -1, 1, 3, false);
    sg_tensor *y = tu_rand(SG_F32, 2, (int64_t[]){4, 8}, -0.5, 0.5, 4, false);
    sg_tensor *h0 = sg_zeros(SG_F32, 2, (int64_t[]){4, 8});
    double first = 0, last = 0;
    for (int s = 0; s < 200; s++) {
        sg_model_zero_grad(m);
        sg_tensor *loss = sg_mse(mgu_sequence(&c, x, h0), y, SG_REDUCE_MEAN);
        ck_assert_int_eq(sg_backward(loss), 0);
        if (s == 0) first = sg_item(loss);
        last = sg_item(loss);
        sg_optim_step(o);
        sg_tape_clear();
    }
    ck_assert_msg(last < first / 10, "loss %g -> %g", first, last);
    sg_tensor_free(x);
    sg_tensor_free(y);
    sg_tensor_free(h0);
    sg_optim_free(o);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("custom_cell");
    TCase *t = tcase_create("mgu");
    tcase_add_test(t, mgu_gradcheck);
    tcase_add_test(t, mgu_learns);
    suite_add_tcase(s, t);
    return tu_run(s);
}
