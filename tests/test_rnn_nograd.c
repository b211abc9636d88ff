/* The layer driver without gradients (nn/rnn.c, run_direction_nograd): a no-grad forward frees
 * each step's intermediates inside the driver, so the peak of live tensor data over a long
 * sequence is the input products, the outputs and an O(B x H) working set, not O(T x step
 * intermediates); the outputs and final states are bitwise those of the recorded forward (up to
 * the last bit of the input product once it is computed in several chunks: T*B > 4096 rows), for
 * built-in and custom cells, uni and bidirectional, 1 and 2 layers, equal and ragged lengths. */
#include <string.h>

#include "nn/cells.h"
#include "tensor/tensor_impl.h"
#include "util/testutil.h"

/* CHUNK: the driver's CHUNK_ROWS (nn/rnn.c) */
enum { LONG_T = 3000, NB = 3, ND = 5, NH = 8, CASES = 16, CHUNK = 4096 };

static const sg_cell_def *def_of(int k) {
    static const sg_cell_def *defs[] = {&sg_cell_lstm, &sg_cell_mgu, &sg_cell_gru, &sg_cell_lnlstm};
    return defs[k];
}

/* |a - b| <= tol (1 + |b|) elementwise; tol 0: bitwise */
static void assert_close(sg_tensor *a, sg_tensor *b, const char *what, double tol) {
    ck_assert_msg(a && b, "%s missing", what);
    ck_assert_int_eq(sg_numel(a), sg_numel(b));
    sg_tensor *ca = sg_contiguous(a), *cb = sg_contiguous(b);
    double md = 0;
    int64_t first = -1;
    for (int64_t i = 0; i < sg_numel(a); i++) {
        double d = fabs(sg_get_flat(ca, i) - sg_get_flat(cb, i)) / (1 + fabs(sg_get_flat(cb, i)));
        if (!(d <= tol) && first < 0) first = i; /* NaN fails too */
        if (d > md) md = d;
    }
    ck_assert_msg(first < 0, "%s differs: max |diff| %g (allowed %g), first at %lld", what, md, tol, (long long)first);
}
static void assert_same(sg_tensor *a, sg_tensor *b, const char *what) { assert_close(a, b, what, 0); }

/* _i bits: 2 bits cell, bidirectional, two layers */
START_TEST(nograd_equals_recorded) {
    const sg_cell_def *def = def_of(_i & 3);
    bool bi = _i & 4, two = _i & 8;
    sg_model *m = sg_model_new(SG_F64);
    sg_rnn *r = sg_rnn_new(m, "l", &(sg_rnn_config){.def = def, .input_size = ND, .hidden_size = NH,
                                                     .num_layers = two ? 2 : 1, .bidirectional = bi});
    ck_assert_msg(r != NULL, "%s", sg_last_error());
    ck_assert_int_eq(sg_model_finalize(m, 3), 0);
    enum { T = 7 };
    static const int64_t lengths[NB] = {7, 3, 5};
    sg_tensor *x = tu_rand(SG_F64, 3, (int64_t[]){T, NB, ND}, -1, 1, 5, false);
    for (int rag = 0; rag < 2; rag++) {
        const int64_t *len = rag ? lengths : NULL;
        sg_rnn_out a, b;
        ck_assert_int_eq(sg_rnn_forward_states(r, x, len, NULL, &a), 0);
        bool prev = sg_set_grad_enabled(false);
        ck_assert_int_eq(sg_rnn_forward_states(r, x, len, NULL, &b), 0);
        sg_set_grad_enabled(prev);
        assert_same(a.output, b.output, "output");
        for (int k = 0; k < sg_cell_num_states(def); k++) assert_same(a.states[k], b.states[k], "final state");
        sg_tape_clear();
    }
    sg_tensor_free(x);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

/* peak live tensor bytes of one forward of T steps, relative to what was live before it */
static size_t peak_of(sg_rnn *r, int64_t T, bool grad, sg_tensor **out) {
    sg_tensor *x = tu_rand(SG_F64, 3, (int64_t[]){T, NB, ND}, -1, 1, 9, false);
    size_t live0;
    sg__storage_stats(&live0, NULL);
    sg__storage_peak_reset();
    bool prev = sg_set_grad_enabled(grad);
    sg_rnn_out o;
    ck_assert_msg(sg_rnn_forward(r, x, NULL, NULL, NULL, &o) == 0, "%s", sg_last_error());
    sg_set_grad_enabled(prev);
    size_t peak;
    sg__storage_stats(NULL, &peak);
    *out = sg_copy(o.output); /* user-owned: survives the clear */
    sg_tape_clear();
    sg_tensor_free(x);
    return peak - live0;
}

/* A long no-grad forward keeps at most the layer outputs (x2 for the concatenation), one chunk
 * of the input products per direction (CHUNK rows of G*H) and a constant working set; the
 * recorded forward of the same layer keeps every step's intermediates and all input products
 * (the bound must be able to fail). */
START_TEST(nograd_peak_bounded) {
    const sg_cell_def *def = _i ? &sg_cell_lstm : &sg_cell_mgu;
    int G = def->gates;
    sg_model *m = sg_model_new(SG_F64);
    sg_rnn *r = sg_rnn_new(m, "l", &(sg_rnn_config){.def = def, .input_size = ND, .hidden_size = NH, .num_layers = 2,
                                                     .bidirectional = true, .backend = SG_BACKEND_COMPOSED});
    ck_assert_int_eq(sg_model_finalize(m, 3), 0);
    size_t es = sizeof(double), per_step = (size_t)NB * es * (size_t)(3 * 2 * NH + ND);
    size_t bound = (size_t)LONG_T * per_step + 2 * (size_t)CHUNK * es * (size_t)(G * NH) + (64u << 10);
    sg_tensor *o_nograd, *o_recorded;
    size_t nograd = peak_of(r, LONG_T, false, &o_nograd), recorded = peak_of(r, LONG_T, true, &o_recorded);
    /* T*B > CHUNK rows: the chunks' GEMMs may round the last bit differently from one GEMM */
    assert_close(o_nograd, o_recorded, "output over several input-product chunks", 1e-14);
    sg_tensor_free(o_nograd);
    sg_tensor_free(o_recorded);
    ck_assert_msg(nograd <= bound, "no-grad peak %zu bytes > bound %zu", nograd, bound);
    if (getenv("SEQGRAD_TEST_VERBOSE")) printf("%s: no-grad peak %zu bytes, recorded %zu, bound %zu\n", def->name, nograd, recorded, bound);
    ck_assert_msg(recorded > bound, "the recorded forward (%zu bytes) should exceed the bound %zu", recorded, bound);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("rnn_nograd");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, nograd_equals_recorded, 0, CASES);
    tcase_add_loop_test(tc, nograd_peak_bounded, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run(suite()); }
