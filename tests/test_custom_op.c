/* Internal side of user-defined ops (autograd/custom_op.h; the public side is
 * tests/public/test_custom_op_public.c): the node records what the backward reads, so the tape's
 * sg__tape_reads (used to free dead intermediates) sees the declaration. */
#include "autograd/node.h"
#include "util/testutil.h"

/* y = 2 b; a is an input whose values the backward never needs (its gradient is zero) */
static int fwd(sg_custom_ctx *ctx, sg_tensor *const *in, sg_tensor **out, void *user) {
    (void)ctx, (void)user;
    out[0] = sg_mul_scalar(in[1], 2);
    return out[0] ? 0 : sg_last_status();
}
static int bwd(const sg_custom_bw_args *a, void *user) {
    (void)user;
    ck_assert_ptr_null(a->in[0]); /* not declared: not handed over */
    ck_assert_ptr_nonnull(a->in[1]);
    if (a->grad_in[1]) {
        double *d = sg_data_f64(a->grad_in[1]);
        const double *g = sg_data_const(a->grad_out[0]);
        for (int64_t i = 0; i < sg_numel(a->grad_out[0]); i++) d[i] += 2 * g[i];
    }
    return 0;
}
static const sg_custom_op_def OP = {.name = "twice_b", .n_in = 2, .forward = fwd, .backward = bwd, .reads_in = 1u << 1};

static int two_fwd(sg_custom_ctx *ctx, sg_tensor *const *in, sg_tensor **out, void *user) {
    (void)ctx, (void)user;
    out[0] = sg_copy(in[0]);
    out[1] = sg_copy(in[0]);
    return 0;
}
static int two_bwd(const sg_custom_bw_args *a, void *user) {
    (void)a, (void)user;
    return 0;
}
static const sg_custom_op_def TWO = {.name = "two", .n_in = 1, .n_out = 2, .forward = two_fwd, .backward = two_bwd};

START_TEST(reads_declaration_reaches_the_tape) {
    sg_tensor *a = tu_rand(SG_F64, 1, (int64_t[]){3}, -1, 1, 1, true), *b = tu_rand(SG_F64, 1, (int64_t[]){3}, -1, 1, 2, true);
    size_t mark = sg_tape_mark();
    sg_tensor *y = sg_custom_op1(&OP, (sg_tensor *[]){a, b}, NULL);
    ck_assert_ptr_nonnull(y);
    ck_assert(!sg__tape_reads(mark, a));
    ck_assert(sg__tape_reads(mark, b));
    ck_assert_int_eq(sg_backward(sg_sum_all(y)), SG_OK);
    tu_assert_values(sg_grad(b), (double[]){2, 2, 2}, 3, 0, 0);
    tu_assert_values(sg_grad(a), (double[]){0, 0, 0}, 3, 0, 0); /* the backward added nothing to it */
    sg_tape_clear();
    /* two outputs: the block's node reads nothing declared, the output nodes never read the block */
    mark = sg_tape_mark();
    sg_tensor *o[2];
    ck_assert_int_eq(sg_custom_op(&TWO, &a, o, NULL), SG_OK);
    ck_assert(!sg__tape_reads(mark, a));
    ck_assert(!sg__tape_reads(mark, o[0]));
    sg_tape_clear();
    sg_tensor_free(a);
    sg_tensor_free(b);
}
END_TEST

int main(void) {
    Suite *s = suite_create("custom_op");
    TCase *tc = tcase_create("custom_op");
    tcase_add_checked_fixture(tc, NULL, tu_teardown);
    tcase_add_test(tc, reads_declaration_reaches_the_tape);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
