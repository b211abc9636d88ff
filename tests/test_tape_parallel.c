/* Two parts of a graph recorded and differentiated concurrently (sg__tape_parallel), and the
 * bidirectional composed layers that use it: the parts really run on two threads at 2 threads,
 * values and gradients equal the one-after-the-other run, failures keep their message, marks
 * inside a group work, backward from inside a group works, and a bidirectional layer at 2 threads
 * passes a float64 gradcheck, agrees with 1 thread and is bitwise reproducible. */
#include <omp.h>
#include <string.h>

#include "../autograd/node.h"
#include "util/testutil.h"

enum { N = 6, CHAIN = 40, PARTS = 2 };

/* part k: y_k = sum over a chain of CHAIN steps of tanh(y * w_k + s) from x_k; s is shared and
 * read-only (no gradient), w_k and x_k belong to part k only. */
typedef struct {
    sg_tensor *x[PARTS], *w[PARTS], *shared;
    sg_tensor *y[PARTS];
    int thread[PARTS];
    int fail_part; /* -1: none */
} job_t;

static int part(int k, void *arg) {
    job_t *j = arg;
    j->thread[k] = omp_get_thread_num() + (omp_in_parallel() ? 100 : 0);
    if (k == j->fail_part) return sg_set_error(SG_ERR_ARG, "part %d failed on purpose", k);
    sg_tensor *y = j->x[k];
    for (int s = 0; s < CHAIN && y; s++) y = sg_tanh(sg_add(sg_mul(y, j->w[k]), j->shared));
    j->y[k] = y;
    return y ? SG_OK : sg_last_status();
}

static job_t make_job(void) {
    job_t j = {.fail_part = -1};
    for (int k = 0; k < PARTS; k++) {
        j.x[k] = tu_rand(SG_F64, 1, (int64_t[]){N}, -1, 1, 10 + (uint64_t)k, true);
        j.w[k] = tu_rand(SG_F64, 1, (int64_t[]){N}, 0.5, 1.5, 20 + (uint64_t)k, true);
    }
    j.shared = tu_rand(SG_F64, 1, (int64_t[]){N}, -0.3, 0.3, 30, false);
    return j;
}

static void free_job(job_t *j) {
    for (int k = 0; k < PARTS; k++) {
        sg_tensor_free(j->x[k]);
        sg_tensor_free(j->w[k]);
    }
    sg_tensor_free(j->shared);
}

/* runs both parts (in parallel or not per the thread count), backward of sum(y0 * y1); copies
 * y and the four leaf gradients into out (5 * PARTS * N values) */
static void run(int threads, double *out, int *threads_used) {
    sg_set_num_threads(threads);
    job_t j = make_job();
    ck_assert_int_eq(sg__tape_parallel(part, &j), SG_OK);
    ck_assert_int_eq(sg_backward(sg_sum_all(sg_mul(j.y[0], j.y[1]))), SG_OK);
    for (int k = 0; k < PARTS; k++) {
        sg_tensor *t[] = {j.y[k], sg_grad(j.x[k]), sg_grad(j.w[k])};
        for (int i = 0; i < 3; i++) sg_to_buffer(t[i], out + (k * 3 + i) * N, SG_F64);
        if (threads_used) threads_used[k] = j.thread[k];
    }
    sg_tape_clear();
    free_job(&j);
}

START_TEST(parts_run_concurrently_and_match_serial) {
    int prev = sg_get_num_threads();
    double serial[PARTS * 3 * N], par[PARTS * 3 * N];
    int used1[PARTS], used2[PARTS];
    run(1, serial, used1);
    run(2, par, used2);
    ck_assert_int_eq(sg_get_num_threads(), 2); /* the parts' one-thread setting stays inside them */
    sg_set_num_threads(prev);
    ck_assert_msg(used1[0] == 0 && used1[1] == 0, "1 thread: both parts on the caller (%d, %d)", used1[0], used1[1]);
    if (omp_get_thread_limit() >= 2 && !omp_get_dynamic()) /* else the runtime may give a team of 1 */
        ck_assert_msg(used2[0] == 100 && used2[1] == 101, "2 threads: parts on threads 0 and 1 of a team (%d, %d)",
                      used2[0], used2[1]);
    /* the same element kernels on the same values, one thread each: exactly equal */
    ck_assert_msg(memcmp(serial, par, sizeof serial) == 0, "concurrent parts differ from serial ones");
    double g = 0;
    for (int i = 0; i < PARTS * 3 * N; i++) g += fabs(par[i]);
    ck_assert(g > 1); /* not trivially zero */
    tu_teardown();
}
END_TEST

START_TEST(failure_in_a_helper_thread_keeps_its_message) {
    int prev = sg_get_num_threads();
    for (int threads = 1; threads <= 2; threads++) {
        sg_set_num_threads(threads);
        job_t j = make_job();
        j.fail_part = 1;
        ck_assert_int_eq(sg__tape_parallel(part, &j), SG_ERR_ARG);
        tu_assert_error(SG_ERR_ARG, "part 1 failed on purpose");
        if (threads == 2) ck_assert(sg_tape_len() > 0); /* part 0's results are owned by the tape */
        sg_tape_clear();
        ck_assert_int_eq((int)sg_tape_len(), 0);
        free_job(&j);
    }
    sg_set_num_threads(prev);
    tu_teardown();
}
END_TEST

START_TEST(backward_from_inside_a_group_and_release_into_it) {
    int prev = sg_get_num_threads();
    sg_set_num_threads(2);
    double ref[PARTS * 3 * N];
    run(1, ref, NULL);
    sg_set_num_threads(2);
    job_t j = make_job();
    ck_assert_int_eq(sg__tape_parallel(part, &j), SG_OK);
    /* y0 was recorded in the group's first segment: a backward from it walks part of the group */
    ck_assert_int_eq(sg_backward(sg_sum_all(j.y[0])), SG_OK);
    double g0[N];
    sg_to_buffer(sg_grad(j.w[0]), g0, SG_F64);
    ck_assert_ptr_null(sg_grad(j.w[1]));
    double s = 0;
    for (int i = 0; i < N; i++) s += fabs(g0[i]);
    ck_assert(s > 0);
    /* release to a mark inside the group: the group is dropped, the rest still differentiates */
    size_t mark = j.y[0] ? sg_tape_len() - 3 : 0;
    ck_assert_int_eq(sg_tape_release(mark), SG_OK);
    sg_zero_grad(j.w, PARTS);
    sg_zero_grad(j.x, PARTS);
    job_t k = j;
    k.fail_part = -1;
    ck_assert_int_eq(sg__tape_parallel(part, &k), SG_OK);
    ck_assert_int_eq(sg_backward(sg_sum_all(sg_mul(k.y[0], k.y[1]))), SG_OK);
    double gw1[N];
    sg_to_buffer(sg_grad(k.w[1]), gw1, SG_F64);
    for (int i = 0; i < N; i++) ck_assert_double_eq(gw1[i], ref[(1 * 3 + 2) * N + i]);
    sg_tape_clear();
    free_job(&j);
    sg_set_num_threads(prev);
    tu_teardown();
}
END_TEST

/* ---- bidirectional layers ---- */

enum { LT = 7, LB = 3, LD = 4, LH = 5, MAX_IN = 24 };

typedef struct {
    sg_rnn *r;
} bi_ctx;

static sg_tensor *bi_fn(sg_tensor *const *in, int n_in, void *ctx) {
    (void)n_in;
    bi_ctx *c = ctx;
    sg_rnn_out out;
    static const int64_t lengths[LB] = {7, 2, 5};
    if (sg_rnn_forward(c->r, in[0], lengths, in[1], NULL, &out)) return NULL;
    return sg_add(sg_sum_all(sg_mul(out.output, out.output)), sg_sum_all(out.h_n));
}

static sg_rnn *bi_layer(sg_model *m, sg_cell_kind cell, sg_dtype dt) {
    (void)dt;
    sg_rnn_config c = {.cell = cell, .input_size = LD, .hidden_size = LH, .num_layers = 2, .bidirectional = true,
                       .backend = SG_BACKEND_COMPOSED};
    sg_rnn *r = sg_rnn_new(m, NULL, &c);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(sg_model_finalize(m, 5), 0);
    return r;
}

/* loss and every gradient (x, h0, parameters) of a ragged 2-layer bidirectional layer */
static void bi_grads(sg_cell_kind cell, int threads, double *out, int64_t *n) {
    sg_set_num_threads(threads);
    sg_model *m = sg_model_new(SG_F64);
    bi_ctx c = {bi_layer(m, cell, SG_F64)};
    sg_tensor *x = tu_rand(SG_F64, 3, (int64_t[]){LT, LB, LD}, -1, 1, 3, true);
    sg_tensor *h0 = tu_rand(SG_F64, 3, (int64_t[]){4, LB, LH}, -1, 1, 4, true);
    sg_tensor *in[] = {x, h0};
    sg_tensor *loss = bi_fn(in, 2, &c);
    ck_assert_ptr_nonnull(loss);
    ck_assert_int_eq(sg_backward(loss), 0);
    int64_t k = 0;
    out[k++] = sg_item(loss);
    sg_tensor *g[] = {sg_grad(x), sg_grad(h0), sg_model_flat_grads(m)};
    for (int i = 0; i < 3; i++) {
        sg_to_buffer(g[i], out + k, SG_F64);
        k += sg_numel(g[i]);
    }
    *n = k;
    sg_tape_clear();
    sg_tensor_free(x);
    sg_tensor_free(h0);
    sg_model_free(m);
}

static void bi_check(sg_cell_kind cell) {
    int prev = sg_get_num_threads();
    enum { MAXV = 4096 };
    static double a[MAXV], b[MAXV], c[MAXV];
    int64_t na, nb, nc;
    bi_grads(cell, 1, a, &na);
    bi_grads(cell, 2, b, &nb);
    bi_grads(cell, 2, c, &nc);
    ck_assert(na < MAXV && na == nb && nb == nc);
    ck_assert_msg(memcmp(b, c, (size_t)nb * sizeof *b) == 0, "two runs at 2 threads differ");
    for (int64_t i = 0; i < na; i++)
        ck_assert_msg(fabs(a[i] - b[i]) <= 1e-12 + 1e-12 * fabs(a[i]), "value %lld: 1 thread %.17g, 2 threads %.17g",
                      (long long)i, a[i], b[i]);
    /* float64 gradcheck at 2 threads (the directions run concurrently there) */
    sg_set_num_threads(2);
    sg_model *m = sg_model_new(SG_F64);
    bi_ctx ctx = {bi_layer(m, cell, SG_F64)};
    sg_tensor *x = tu_rand(SG_F64, 3, (int64_t[]){LT, LB, LD}, -1, 1, 3, true);
    sg_tensor *h0 = tu_rand(SG_F64, 3, (int64_t[]){4, LB, LH}, -1, 1, 4, true);
    sg_tensor *in[MAX_IN] = {x, h0};
    int n = 2;
    for (int i = 0; i < sg_model_num_params(m) && n < MAX_IN; i++) in[n++] = sg_model_param(m, i);
    ck_assert_int_eq(n, 2 + sg_model_num_params(m));
    sg_gradcheck_result res;
    int rc = sg_gradcheck(bi_fn, &ctx, in, n, NULL, &res);
    ck_assert_msg(rc == 0 && res.ok, "gradcheck at 2 threads: %s %s", res.message, sg_last_error());
    sg_tape_clear();
    sg_tensor_free(x);
    sg_tensor_free(h0);
    sg_model_free(m);
    sg_set_num_threads(prev);
    tu_teardown();
}

START_TEST(bidirectional_lstm_two_threads) { bi_check(SG_CELL_LSTM); }
END_TEST
START_TEST(bidirectional_gru_two_threads) { bi_check(SG_CELL_GRU); }
END_TEST

int main(void) {
    Suite *s = suite_create("tape_parallel");
    TCase *t = tcase_create("parts");
    tcase_add_test(t, parts_run_concurrently_and_match_serial);
    tcase_add_test(t, failure_in_a_helper_thread_keeps_its_message);
    tcase_add_test(t, backward_from_inside_a_group_and_release_into_it);
    tcase_add_test(t, bidirectional_lstm_two_threads);
    tcase_add_test(t, bidirectional_gru_two_threads);
    tcase_set_timeout(t, 120);
    suite_add_tcase(s, t);
    return tu_run(s);
}
