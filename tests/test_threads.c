/* Threads: separate models trained on separate pthreads (the README's one tape per thread) on the
 * default backend (oneDNN when built in): a float32 LSTM and GRU, each trained on its own thread,
 * concurrently and one after the other with primitives made by another thread, match the results of
 * the same training on the main thread bitwise. Also sg_set_num_threads is process-wide. */
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/testutil.h"

enum { T = 7, B = 3, D = 5, H = 6, STEPS = 3, ROUNDS = 4, N_JOBS = 2 };

typedef struct {
    sg_cell_kind cell;
    int threads; /* sg_set_num_threads inside the job; 0 leaves it */
    int64_t n;
    float *params; /* malloc'ed flat parameters after training */
    float loss;
    int status;
} job;

/* Trains a small bidirectional 2-layer model a few Adam steps on fixed data; fills j. */
static void *train(void *arg) {
    job *j = arg;
    j->status = SG_OK;
    if (j->threads) sg_set_num_threads(j->threads);
    sg_model *m = sg_model_new(SG_F32);
    sg_rnn_config c = {.cell = j->cell, .input_size = D, .hidden_size = H, .num_layers = 2, .bidirectional = true};
    sg_rnn *r = sg_rnn_new(m, NULL, &c);
    sg_optim *o = NULL;
    sg_tensor *x = NULL;
    if (!r || sg_model_finalize(m, 11)) goto fail;
    o = sg_optim_new(m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = 0.01});
    sg_rng rng = sg_rng_new(5);
    x = sg_uniform(&rng, SG_F32, 3, (int64_t[]){T, B, D}, -1, 1);
    if (!o || !x) goto fail;
    for (int s = 0; s < STEPS; s++) {
        sg_model_zero_grad(m);
        sg_rnn_out out;
        if (sg_rnn_forward(r, x, NULL, NULL, NULL, &out)) goto fail;
        sg_tensor *loss = sg_sum_all(sg_mul(out.output, out.output));
        if (!loss) goto fail;
        sg_to_buffer(loss, &j->loss, SG_F32);
        if (sg_backward(loss)) goto fail;
        sg_optim_step(o);
        sg_tape_clear();
    }
    sg_tensor *flat = sg_model_flat_params(m);
    j->n = sg_numel(flat);
    j->params = malloc((size_t)j->n * sizeof *j->params);
    if (!j->params || sg_to_buffer(flat, j->params, SG_F32)) goto fail;
    goto done;
fail:
    j->status = sg_has_error() ? sg_last_status() : SG_ERR_STATE;
    fprintf(stderr, "job %d failed: %s\n", (int)j->cell, sg_last_error());
done:
    sg_tape_clear();
    sg_clear_error();
    sg_tensor_free(x);
    sg_optim_free(o);
    sg_model_free(m);
    return NULL;
}

static void assert_same(const job *a, const job *ref, const char *what) {
    ck_assert_msg(a->status == SG_OK, "%s: cell %d failed", what, (int)a->cell);
    ck_assert_int_eq(a->n, ref->n);
    ck_assert_msg(memcmp(a->params, ref->params, (size_t)a->n * sizeof *a->params) == 0 && a->loss == ref->loss,
                  "%s: cell %d differs from the sequential run (loss %.9g vs %.9g)", what, (int)a->cell, a->loss,
                  ref->loss);
}

static const sg_cell_kind CELLS[N_JOBS] = {SG_CELL_LSTM, SG_CELL_GRU};

/* References: each model trained on the main thread. */
static void reference(job ref[N_JOBS], int threads) {
    for (int k = 0; k < N_JOBS; k++) {
        ref[k] = (job){.cell = CELLS[k], .threads = threads};
        train(&ref[k]);
        ck_assert_int_eq(ref[k].status, SG_OK);
    }
}

static void run_rounds(int threads_a, int threads_b, bool concurrent) {
    int prev = sg_get_num_threads();
    job ref[N_JOBS][2];
    job r0[N_JOBS], r1[N_JOBS];
    reference(r0, threads_a);
    reference(r1, threads_b);
    for (int k = 0; k < N_JOBS; k++) ref[k][0] = r0[k], ref[k][1] = r1[k];
    for (int round = 0; round < ROUNDS; round++) {
        job jobs[N_JOBS];
        pthread_t th[N_JOBS];
        for (int k = 0; k < N_JOBS; k++) {
            int which = (k + round) % 2; /* the thread count alternates between the threads */
            jobs[k] = (job){.cell = CELLS[k], .threads = which ? threads_b : threads_a};
            ck_assert_int_eq(pthread_create(&th[k], NULL, train, &jobs[k]), 0);
            if (!concurrent) ck_assert_int_eq(pthread_join(th[k], NULL), 0);
        }
        for (int k = 0; k < N_JOBS && concurrent; k++) ck_assert_int_eq(pthread_join(th[k], NULL), 0);
        for (int k = 0; k < N_JOBS; k++) {
            assert_same(&jobs[k], &ref[k][(k + round) % 2], concurrent ? "concurrent" : "one after the other");
            free(jobs[k].params);
        }
    }
    for (int k = 0; k < N_JOBS; k++) free(ref[k][0].params), free(ref[k][1].params);
    sg_set_num_threads(prev);
    tu_teardown();
}

/* The crash of issue 9: a primitive made on one thread, executed on another. */
START_TEST(sequential_threads_reuse_primitives) { run_rounds(1, 1, false); }
END_TEST
START_TEST(sequential_threads_two_thread_counts) { run_rounds(1, 2, false); }
END_TEST
START_TEST(concurrent_threads) { run_rounds(1, 1, true); }
END_TEST
START_TEST(concurrent_threads_two_thread_counts) { run_rounds(1, 2, true); }
END_TEST

int main(void) {
    Suite *s = suite_create("threads");
    TCase *t = tcase_create("default_backend");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, sequential_threads_reuse_primitives);
    tcase_add_test(t, sequential_threads_two_thread_counts);
    tcase_add_test(t, concurrent_threads);
    tcase_add_test(t, concurrent_threads_two_thread_counts);
    suite_add_tcase(s, t);
    return tu_run(s);
}
