/* Allocation-failure injection (issue 9), as SQLite tests it: a training step of a 2-layer
 * bidirectional LSTM (forward, backward, Adam step) and a checkpoint save and load, with the N-th
 * library allocation failing (tensor/alloc.h), for every N up to the number of allocations the
 * step makes; once with only that allocation failing and once with every later one failing too.
 * Each run must end in a clean error (SG_ERR_MEM as the first error, with a message) or in the
 * right numbers, never a crash, and leak nothing (ASan); and the model must be usable afterwards:
 * reloaded from its pristine checkpoint, the same step without injection gives the reference loss
 * and parameters bitwise. Both backends (composed graph and the default, oneDNN when built in). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SG_ALLOC_IMPL /* this file's own allocations are not counted */
#include "tensor/alloc.h"
#include "util/testutil.h"

enum { T = 3, B = 2, D = 3, H = 4, LAYERS = 2 };

typedef struct {
    sg_model *m;
    sg_rnn *r;
    sg_optim *o;
    sg_tensor *x;
} net;

static void build(net *n, sg_backend backend) {
    n->m = sg_model_new(SG_F32);
    sg_rnn_config c = {.cell = SG_CELL_LSTM, .input_size = D, .hidden_size = H, .num_layers = LAYERS,
                       .bidirectional = true, .backend = backend};
    n->r = sg_rnn_new(n->m, "lstm", &c);
    ck_assert_int_eq(sg_model_finalize(n->m, 5), SG_OK);
    n->o = sg_optim_new(n->m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = 0.01});
    sg_rng rng = sg_rng_new(9);
    n->x = sg_uniform(&rng, SG_F32, 3, (int64_t[]){T, B, D}, -1, 1);
    ck_assert(n->r && n->o && n->x);
}

static void destroy(net *n) {
    sg_tensor_free(n->x);
    sg_optim_free(n->o);
    sg_model_free(n->m);
}

/* The workload; stops at the first failure and returns its status. */
static int step(net *n, const char *path, double *loss_out) {
    sg_model_zero_grad(n->m);
    sg_rnn_out out;
    int rc = sg_rnn_forward(n->r, n->x, NULL, NULL, NULL, &out);
    sg_tensor *loss = rc ? NULL : sg_sum_all(sg_mul(out.output, out.output));
    if (!rc && !loss) rc = sg_last_status() ? sg_last_status() : SG_ERR_STATE;
    if (!rc) *loss_out = sg_item(loss);
    if (!rc) rc = sg_backward(loss);
    if (!rc) rc = sg_optim_step(n->o);
    sg_tape_clear();
    const char *meta[] = {"note", "alloc-fail", NULL};
    if (!rc) rc = sg_checkpoint_save(path, n->m, n->o, meta);
    if (rc) return rc;
    /* a failed load changes nothing (all or nothing): compare with a copy taken before it */
    sg_tensor *flat = sg_model_flat_params(n->m);
    int64_t np = sg_numel(flat), steps = sg_optim_steps(n->o);
    float *before = calloc((size_t)np, sizeof *before), *after = calloc((size_t)np, sizeof *after);
    ck_assert(before && after);
    sg_to_buffer(flat, before, SG_F32);
    rc = sg_checkpoint_load(path, n->m, n->o);
    if (rc) {
        bool pending = sg_has_error();
        sg_status st = sg_last_status();
        char msg[256];
        snprintf(msg, sizeof msg, "%s", sg_last_error());
        sg_clear_error();
        sg_to_buffer(flat, after, SG_F32);
        ck_assert_msg(memcmp(before, after, (size_t)np * sizeof *after) == 0 && sg_optim_steps(n->o) == steps,
                      "a failed checkpoint load changed the model or optimizer");
        if (pending) sg_set_error(st, "%s", msg); /* keep the load's error as the run's */
    }
    free(before);
    free(after);
    return rc;
}

static float *params(const sg_model *m, int64_t *count) {
    sg_tensor *flat = sg_model_flat_params(m);
    *count = sg_numel(flat);
    float *p = malloc((size_t)*count * sizeof *p);
    ck_assert_int_eq(sg_to_buffer(flat, p, SG_F32), SG_OK);
    return p;
}

static void run(sg_backend backend, bool sticky) {
    /* in tmpfs when there is one: each run saves twice, and fsync on a disk would dominate */
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : ".";
    char pristine[128], work[128];
    snprintf(pristine, sizeof pristine, "%s/seqgrad_alloc_fail_%d_a.ckpt", dir, (int)getpid());
    snprintf(work, sizeof work, "%s/seqgrad_alloc_fail_%d_b.ckpt", dir, (int)getpid());
    /* the reference: the step without injection, and how many allocations it makes */
    net n;
    build(&n, backend);
    ck_assert_int_eq(sg_checkpoint_save(pristine, n.m, NULL, NULL), SG_OK);
    double ref_loss = 0;
    sg__alloc_fail_at(0, false);
    ck_assert_int_eq(step(&n, work, &ref_loss), SG_OK);
    int64_t allocs = sg__alloc_count(), np;
    float *ref = params(n.m, &np);
    destroy(&n);
    ck_assert_int_gt(allocs, 10);
    int64_t failed_runs = 0;
    for (int64_t k = 1;; k++) {
        ck_assert_msg(k <= 4 * allocs + 100, "allocation %lld still fails the step", (long long)k);
        build(&n, backend);
        double loss = 0;
        sg__alloc_fail_at(k, sticky);
        int rc = step(&n, work, &loss);
        int64_t failed = sg__alloc_failed();
        sg__alloc_fail_at(0, false);
        if (rc) {
            failed_runs++;
            ck_assert_msg(failed > 0, "allocation %lld: status %d without an injected failure: %s", (long long)k, rc,
                          sg_last_error());
            ck_assert_msg(sg_last_status() == SG_ERR_MEM && strlen(sg_last_error()) > 0,
                          "allocation %lld: first error %d '%s', expected SG_ERR_MEM", (long long)k, sg_last_status(),
                          sg_last_error());
        } else {
            ck_assert_msg(loss == ref_loss, "allocation %lld: a run that succeeded has loss %.9g, not %.9g", (long long)k,
                          loss, ref_loss);
        }
        sg_tape_clear();
        sg_clear_error();
        /* usable afterwards: a fresh optimizer, the pristine weights, the same step */
        sg_optim_free(n.o);
        n.o = sg_optim_new(n.m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = 0.01});
        ck_assert_int_eq(sg_checkpoint_load(pristine, n.m, NULL), SG_OK);
        ck_assert_msg(step(&n, work, &loss) == SG_OK, "allocation %lld: the next run failed: %s", (long long)k,
                      sg_last_error());
        int64_t np2;
        float *p = params(n.m, &np2);
        ck_assert_msg(loss == ref_loss && np2 == np && memcmp(p, ref, (size_t)np * sizeof *p) == 0,
                      "allocation %lld: the next run's loss %.9g (reference %.9g) or parameters differ", (long long)k, loss,
                      ref_loss);
        free(p);
        destroy(&n);
        sg_tape_clear();
        if (!rc && failed == 0) break; /* k is past the last allocation */
    }
    fprintf(stderr, "alloc_fail: backend %s, %s: %lld allocations, %lld runs failed cleanly\n", sg_backend_name(backend),
            sticky ? "every allocation from the N-th failing" : "only the N-th allocation failing", (long long)allocs,
            (long long)failed_runs);
    ck_assert_int_gt(failed_runs, allocs / 2);
    free(ref);
    remove(pristine);
    remove(work);
    tu_teardown();
}

/* Building the model, its layers and optimizer with the N-th allocation failing: a clean error and
 * no leak (sg_model_free and sg_optim_free take whatever was built). */
static void build_runs(bool sticky) {
    sg__alloc_fail_at(0, false);
    net n;
    build(&n, SG_BACKEND_COMPOSED);
    int64_t allocs = sg__alloc_count();
    destroy(&n);
    for (int64_t k = 1; k <= allocs + 1; k++) {
        sg__alloc_fail_at(k, sticky);
        sg_model *m = sg_model_new(SG_F32);
        sg_rnn_config c = {.cell = SG_CELL_LSTM, .input_size = D, .hidden_size = H, .num_layers = LAYERS,
                           .bidirectional = true, .backend = SG_BACKEND_COMPOSED};
        sg_rnn *r = m ? sg_rnn_new(m, "lstm", &c) : NULL;
        int rc = r ? sg_model_finalize(m, 5) : SG_ERR_MEM;
        sg_optim *o = rc ? NULL : sg_optim_new(m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = 0.01});
        int64_t failed = sg__alloc_failed();
        sg__alloc_fail_at(0, false);
        if (failed)
            ck_assert_msg(!o && sg_last_status() == SG_ERR_MEM && strlen(sg_last_error()) > 0,
                          "build, allocation %lld: %s (status %d)", (long long)k, o ? "succeeded" : sg_last_error(),
                          sg_last_status());
        else
            ck_assert_msg(o != NULL, "build, allocation %lld: failed without injection: %s", (long long)k, sg_last_error());
        sg_clear_error();
        sg_optim_free(o);
        sg_model_free(m);
    }
    tu_teardown();
}

START_TEST(build_one_failure) { build_runs(false); }
END_TEST
START_TEST(build_sticky) { build_runs(true); }
END_TEST

START_TEST(composed_one_failure) { run(SG_BACKEND_COMPOSED, false); }
END_TEST
START_TEST(composed_sticky) { run(SG_BACKEND_COMPOSED, true); }
END_TEST
START_TEST(default_backend_one_failure) { run(SG_BACKEND_DEFAULT, false); }
END_TEST
START_TEST(default_backend_sticky) { run(SG_BACKEND_DEFAULT, true); }
END_TEST

int main(void) {
    sg_set_num_threads(1);
    Suite *s = suite_create("alloc_fail");
    TCase *t = tcase_create("every_allocation");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, composed_one_failure);
    tcase_add_test(t, composed_sticky);
    tcase_add_test(t, default_backend_one_failure);
    tcase_add_test(t, default_backend_sticky);
    tcase_add_test(t, build_one_failure);
    tcase_add_test(t, build_sticky);
    suite_add_tcase(s, t);
    return tu_run(s);
}
