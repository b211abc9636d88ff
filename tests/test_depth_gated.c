/* The Depth-Gated LSTM example (examples/depth_gated.h), a custom loop over one-step cells whose
 * depth gate reads the lower layer's memory cell at the same step: float64 FULL gradcheck for 2 and
 * 3 layers with and without initial states, and the depth gate's weights reach the loss. */
#include "../examples/depth_gated.h"
#include "util/testutil.h"

enum { T = 3, B = 2, D = 2, H = 3, CONFIGS = 4, MAXIN = 40 };

typedef struct {
    const dg_stack *s;
    bool states;
} fctx;

static sg_tensor *fn(sg_tensor *const *in, int n, void *vc) {
    (void)n;
    fctx *c = vc;
    return dg_forward(c->s, in[0], c->states ? in[1] : NULL, c->states ? in[2] : NULL);
}

START_TEST(gradcheck_stack) {
    int L = 2 + _i % 2;
    bool states = _i / 2;
    sg_model *m = sg_model_new(SG_F64);
    dg_stack s;
    ck_assert_msg(dg_declare(&s, m, "dg", D, H, L) == 0 && sg_model_finalize(m, 7 + (uint64_t)_i) == 0, "%s",
                  sg_last_error());
    sg_tensor *in[MAXIN];
    int n = 0;
    in[n++] = tu_rand(SG_F64, 3, (int64_t[]){T, B, D}, -1, 1, 1, true);
    if (states) {
        in[n++] = tu_rand(SG_F64, 3, (int64_t[]){L, B, H}, -1, 1, 2, true);
        in[n++] = tu_rand(SG_F64, 3, (int64_t[]){L, B, H}, -1, 1, 3, true);
    }
    int nuser = n;
    for (int i = 0; i < sg_model_num_params(m); i++) in[n++] = sg_model_param(m, i);
    fctx c = {&s, states};
    sg_gradcheck_result res;
    ck_assert_msg(sg_gradcheck(fn, &c, in, n, NULL, &res) == 0, "%s", sg_last_error());
    ck_assert_msg(res.ok, "L %d states %d: %s", L, states, res.message);
    /* the depth gate is wired: its weight on the lower cell gets a nonzero gradient */
    sg_tensor *out = fn(in, n, &c);
    ck_assert_int_eq(sg_backward(sg_sum_all(out)), 0);
    sg_tensor *w_ld = sg_rnn_cell_param(s.cell[1], "weight_ld");
    ck_assert_ptr_nonnull(w_ld);
    double g = 0;
    for (int64_t j = 0; j < H; j++) g += fabs(sg_get_flat(sg_grad(w_ld), j));
    ck_assert(g > 1e-6);
    sg_tape_clear();
    for (int i = 0; i < nuser; i++) sg_tensor_free(in[i]);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("depth_gated");
    TCase *tc = tcase_create("gradcheck");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, gradcheck_stack, 0, CONFIGS);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
