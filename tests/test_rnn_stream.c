/* The streaming step (nn/stream.h): over T steps it equals sg_rnn_forward of the whole sequence
 * (outputs and final states) for every built-in kind and option (RNN tanh/relu, LSTM plain, proj,
 * peephole, both; GRU both forms) on the fast path and the composed path, and for the shipped
 * definitions (lnlstm, mgu, clockwork: the step index t), 1 and 2 layers, B 1 and 3, float32
 * (1e-5) and float64 (1e-12); nothing is allocated and nothing lands on the tape once warm;
 * reset, get/set of states, the parameter snapshot and sync; bad input gives a status naming the
 * argument; allocation failures during creation report SG_ERR_MEM and leave nothing behind. */
#include <string.h>

#include "nn/cells.h"
#include "tensor/tensor_impl.h"
#include "util/testutil.h"

size_t sg__registry_count(void);

enum { SD = 5, SH = 8, SP = 3, ST = 11, WARM = 20, MEASURE = 128 };

typedef struct {
    const char *name;
    const sg_cell_def *def;
    int64_t proj;
    bool peephole;
} stream_case;

static const stream_case CASES[] = {
    {"rnn_tanh", &sg_cell_rnn_tanh, 0, false}, {"rnn_relu", &sg_cell_rnn_relu, 0, false},
    {"lstm", &sg_cell_lstm, 0, false},         {"lstm_proj", &sg_cell_lstm, SP, false},
    {"lstm_peep", &sg_cell_lstm, 0, true},     {"lstm_proj_peep", &sg_cell_lstm, SP, true},
    {"gru", &sg_cell_gru, 0, false},           {"gru_reset_before", &sg_cell_gru_reset_before, 0, false},
    {"lnlstm", &sg_cell_lnlstm, 0, false},     {"mgu", &sg_cell_mgu, 0, false},
    {"clockwork", &sg_cell_clockwork, 0, false},
};
enum { N_CASES = sizeof CASES / sizeof CASES[0] };

static sg_rnn *make_layer(sg_model **m, sg_dtype dt, const stream_case *c, int layers) {
    *m = sg_model_new(dt);
    sg_rnn *r = sg_rnn_new(*m, "s", &(sg_rnn_config){.def = c->def, .input_size = SD, .hidden_size = SH,
                                                      .num_layers = layers, .proj_size = c->proj,
                                                      .peephole = c->peephole, .backend = SG_BACKEND_COMPOSED});
    ck_assert_msg(r != NULL, "%s: %s", c->name, sg_last_error());
    ck_assert_int_eq(sg_model_finalize(*m, 17), 0);
    return r;
}

static bool close_enough(double a, double e, double tol) { return fabs(a - e) <= tol + tol * fabs(e); }

/* the stream's T steps against one sg_rnn_forward of x (T, B, D) */
static void check_against_forward(const stream_case *c, sg_dtype dt, int layers, int64_t B, unsigned flags) {
    double tol = dt == SG_F64 ? 1e-12 : 1e-5;
    sg_model *m;
    sg_rnn *r = make_layer(&m, dt, c, layers);
    int64_t P = c->proj ? c->proj : SH;
    sg_tensor *x = tu_rand(dt, 3, (int64_t[]){ST, B, SD}, -1, 1, 23, false);
    sg_rnn_out ref;
    bool prev = sg_set_grad_enabled(false);
    ck_assert_msg(sg_rnn_forward_states(r, x, NULL, NULL, &ref) == 0, "%s", sg_last_error());
    sg_set_grad_enabled(prev);
    sg_tensor *out = sg_contiguous(ref.output);
    sg_rnn_stream *s = sg_rnn_stream_new(r, B, flags);
    ck_assert_msg(s != NULL, "%s: %s", c->name, sg_last_error());
    bool builtin = c->def != &sg_cell_lnlstm && c->def != &sg_cell_mgu && c->def != &sg_cell_clockwork;
    ck_assert_int_eq(sg_rnn_stream_is_fast(s), builtin && !flags);
    sg_tensor *xt = sg_zeros(dt, 2, (int64_t[]){B, SD}), *y = sg_zeros(dt, 2, (int64_t[]){B, P});
    for (int64_t t = 0; t < ST; t++) {
        for (int64_t i = 0; i < B * SD; i++) sg_set_flat(xt, i, sg_get_flat(x, t * B * SD + i));
        ck_assert_msg(sg_rnn_stream_step(s, xt, y) == 0, "%s: %s", c->name, sg_last_error());
        for (int64_t i = 0; i < B * P; i++) {
            double a = sg_get_flat(y, i), e = sg_get_flat(out, t * B * P + i);
            ck_assert_msg(close_enough(a, e, tol), "%s L%d B%lld %s flags %u: y[t=%lld][%lld] = %.17g, forward %.17g",
                          c->name, layers, (long long)B, sg_dtype_name(dt), flags, (long long)t, (long long)i, a, e);
        }
    }
    ck_assert_int_eq(sg_rnn_stream_time(s), ST);
    for (int k = 0; k < sg_cell_num_states(c->def); k++) {
        sg_tensor *fin = sg_contiguous(ref.states[k]);
        sg_tensor *got = sg_zeros(dt, 3, (int64_t[]){layers, B, sg_size(fin, 2)});
        ck_assert_int_eq(sg_rnn_stream_get_state(s, k, got), 0);
        for (int64_t i = 0; i < sg_numel(got); i++)
            ck_assert_msg(close_enough(sg_get_flat(got, i), sg_get_flat(fin, i), tol), "%s: state %d [%lld] %.17g vs %.17g",
                          c->name, k, (long long)i, sg_get_flat(got, i), sg_get_flat(fin, i));
        sg_tensor_free(got);
    }
    sg_rnn_stream_free(s);
    sg_tensor_free(xt);
    sg_tensor_free(y);
    sg_tensor_free(x);
    sg_model_free(m);
    tu_teardown();
}

/* _i: case x {1, 2 layers} x {f32, f64}; B 1 and 3; built-ins also through their ops */
START_TEST(stream_equals_forward) {
    const stream_case *c = &CASES[_i / 4];
    int layers = 1 + (_i & 1);
    sg_dtype dt = _i & 2 ? SG_F64 : SG_F32;
    for (int64_t B = 1; B <= 3; B += 2) {
        check_against_forward(c, dt, layers, B, 0);
        check_against_forward(c, dt, layers, B, SG_STREAM_COMPOSED);
    }
}
END_TEST

/* after WARM steps, MEASURE more allocate nothing and leave the tape as it was */
static void check_no_alloc(const sg_cell_def *def, unsigned flags, sg_dtype dt) {
    stream_case c = {"alloc", def, 0, false};
    sg_model *m;
    sg_rnn *r = make_layer(&m, dt, &c, 2);
    sg_rnn_stream *s = sg_rnn_stream_new(r, 1, flags);
    ck_assert_msg(s != NULL, "%s", sg_last_error());
    sg_tensor *x = tu_rand(dt, 2, (int64_t[]){1, SD}, -1, 1, 3, false), *y = sg_zeros(dt, 2, (int64_t[]){1, SH});
    for (int i = 0; i < WARM; i++) ck_assert_int_eq(sg_rnn_stream_step(s, x, y), 0);
    size_t tape = sg_tape_len(), reg = sg__registry_count();
    sg__alloc_fail_at(0, false); /* resets the count */
    for (int i = 0; i < MEASURE; i++) ck_assert_int_eq(sg_rnn_stream_step(s, x, y), 0);
    ck_assert_msg(sg__alloc_count() == 0, "%s: %lld allocations in %d warm steps", def->name,
                  (long long)sg__alloc_count(), MEASURE);
    ck_assert_uint_eq(sg_tape_len(), tape);
    ck_assert_uint_eq(sg__registry_count(), reg);
    ck_assert_int_eq(sg_rnn_stream_reset(s), 0); /* reset allocates nothing either */
    ck_assert_int_eq(sg_rnn_stream_step(s, x, y), 0);
    ck_assert_int_eq(sg__alloc_count(), 0);
    sg_rnn_stream_free(s);
    sg_tensor_free(x);
    sg_tensor_free(y);
    sg_model_free(m);
    tu_teardown();
}

START_TEST(stream_no_alloc_when_warm) {
    check_no_alloc(&sg_cell_lstm, 0, SG_F32);
    check_no_alloc(&sg_cell_gru_reset_before, 0, SG_F64);
    check_no_alloc(&sg_cell_lstm, SG_STREAM_COMPOSED, SG_F32);
    check_no_alloc(&sg_cell_mgu, 0, SG_F32);
    check_no_alloc(&sg_cell_lnlstm, 0, SG_F64);
    check_no_alloc(&sg_cell_clockwork, 0, SG_F32); /* t-dependent shapes: WARM covers every pattern */
}
END_TEST

/* y after n steps of the constant input x into ys[n * P] */
static void run_steps(sg_rnn_stream *s, sg_tensor *x, sg_tensor *y, int n, double *ys) {
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(sg_rnn_stream_step(s, x, y), 0);
        for (int64_t j = 0; j < sg_numel(y); j++) ys[i * sg_numel(y) + j] = sg_get_flat(y, j);
    }
}

/* reset restarts the sequence; set_state continues one; the snapshot holds until sync */
START_TEST(stream_reset_state_sync) {
    const sg_cell_def *def = _i ? &sg_cell_clockwork : &sg_cell_lstm;
    stream_case c = {"sync", def, 0, false};
    enum { N = 9 };
    double a[N * SH], b[N * SH];
    sg_model *m;
    sg_rnn *r = make_layer(&m, SG_F64, &c, 2);
    sg_rnn_stream *s = sg_rnn_stream_new(r, 1, 0);
    sg_tensor *x = tu_rand(SG_F64, 2, (int64_t[]){1, SD}, -1, 1, 3, false), *y = sg_zeros(SG_F64, 2, (int64_t[]){1, SH});
    run_steps(s, x, y, N, a);
    ck_assert_int_eq(sg_rnn_stream_reset(s), 0);
    ck_assert_int_eq(sg_rnn_stream_time(s), 0);
    run_steps(s, x, y, N, b);
    ck_assert_msg(!memcmp(a, b, sizeof a), "reset does not restart the sequence");
    /* states out and back in: the continuation is the same */
    int ns = sg_cell_num_states(def);
    sg_tensor *st[2] = {0};
    for (int k = 0; k < ns; k++) {
        st[k] = sg_zeros(SG_F64, 3, (int64_t[]){2, 1, SH});
        ck_assert_int_eq(sg_rnn_stream_get_state(s, k, st[k]), 0);
    }
    run_steps(s, x, y, 1, a);
    for (int k = 0; k < ns; k++) ck_assert_int_eq(sg_rnn_stream_set_state(s, k, st[k]), 0);
    run_steps(s, x, y, 1, b); /* clockwork: t moved on, so only the LSTM repeats exactly */
    if (!_i) ck_assert_msg(!memcmp(a, b, SH * sizeof(double)), "set_state does not restore the states");
    /* parameter change: old values until sync, the new ones after */
    sg_rnn_stream *fresh_before = sg_rnn_stream_new(r, 1, 0);
    run_steps(fresh_before, x, y, N, a);
    sg_tensor *w = sg_rnn_param(r, "weight_hh", 0, 0);
    for (int64_t i = 0; i < sg_numel(w); i++) sg_set_flat(w, i, 2 * sg_get_flat(w, i));
    ck_assert_int_eq(sg_rnn_stream_reset(s), 0);
    run_steps(s, x, y, N, b);
    ck_assert_msg(!memcmp(a, b, sizeof a), "the stream saw a parameter change before sync");
    ck_assert_int_eq(sg_rnn_stream_sync(s), 0);
    ck_assert_int_eq(sg_rnn_stream_reset(s), 0);
    run_steps(s, x, y, N, b);
    sg_rnn_stream *fresh_after = sg_rnn_stream_new(r, 1, 0);
    run_steps(fresh_after, x, y, N, a);
    ck_assert_msg(!memcmp(a, b, sizeof a), "after sync the stream differs from a new one");
    bool differs = false;
    run_steps(fresh_before, x, y, 1, b);
    for (int j = 0; j < SH; j++) differs |= b[j] != a[(N - 1) * SH + j];
    ck_assert_msg(differs, "the parameter change changed nothing (the test cannot fail)");
    for (int k = 0; k < ns; k++) sg_tensor_free(st[k]);
    sg_rnn_stream_free(fresh_before);
    sg_rnn_stream_free(fresh_after);
    sg_rnn_stream_free(s);
    sg_tensor_free(x);
    sg_tensor_free(y);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

START_TEST(stream_bad_input) {
    stream_case c = {"bad", &sg_cell_lstm, 0, false};
    ck_assert_ptr_null(sg_rnn_stream_new(NULL, 1, 0));
    tu_assert_error(SG_ERR_NULL, "'r'");
    sg_model *mb = sg_model_new(SG_F32);
    sg_rnn *bi = sg_rnn_new(mb, "bi", &(sg_rnn_config){.cell = SG_CELL_GRU, .input_size = SD, .hidden_size = SH,
                                                        .bidirectional = true});
    ck_assert_ptr_null(sg_rnn_stream_new(bi, 1, 0));
    tu_assert_error(SG_ERR_ARG, "bidirectional");
    sg_model_free(mb);
    sg_model *mn = sg_model_new(SG_F32);
    sg_rnn *nf = sg_rnn_new(mn, "nf", &(sg_rnn_config){.cell = SG_CELL_LSTM, .input_size = SD, .hidden_size = SH});
    ck_assert_ptr_null(sg_rnn_stream_new(nf, 1, 0));
    tu_assert_error(SG_ERR_STATE, "finalize");
    sg_model_free(mn);
    sg_model *m;
    sg_rnn *r = make_layer(&m, SG_F32, &c, 1);
    ck_assert_ptr_null(sg_rnn_stream_new(r, 0, 0));
    tu_assert_error(SG_ERR_ARG, "'batch'");
    ck_assert_ptr_null(sg_rnn_stream_new(r, 1, 1u << 7));
    tu_assert_error(SG_ERR_ARG, "'flags'");
    sg_rnn_stream *s = sg_rnn_stream_new(r, 2, 0);
    sg_tensor *x = sg_zeros(SG_F32, 2, (int64_t[]){2, SD}), *y = sg_zeros(SG_F32, 2, (int64_t[]){2, SH});
    sg_tensor *x64 = sg_zeros(SG_F64, 2, (int64_t[]){2, SD}), *xb = sg_zeros(SG_F32, 2, (int64_t[]){1, SD});
    sg_tensor *yb = sg_zeros(SG_F32, 2, (int64_t[]){2, SH + 1}), *st = sg_zeros(SG_F32, 3, (int64_t[]){1, 2, SH});
    ck_assert_int_eq(sg_rnn_stream_step(NULL, x, y), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'s'");
    ck_assert_int_eq(sg_rnn_stream_step(s, NULL, y), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'x'");
    ck_assert_int_eq(sg_rnn_stream_step_data(s, NULL, NULL), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'x'");
    ck_assert_int_eq(sg_rnn_stream_step(s, x64, y), SG_ERR_DTYPE);
    tu_assert_error(SG_ERR_DTYPE, "x is float64");
    ck_assert_int_eq(sg_rnn_stream_step(s, xb, y), SG_ERR_SHAPE);
    tu_assert_error(SG_ERR_SHAPE, "x must be");
    ck_assert_int_eq(sg_rnn_stream_step(s, x, yb), SG_ERR_SHAPE);
    tu_assert_error(SG_ERR_SHAPE, "y must be");
    sg_tensor *xt = sg_transpose(sg_zeros(SG_F32, 2, (int64_t[]){SD, 2}), 0, 1); /* (2, D), not contiguous */
    ck_assert_int_eq(sg_rnn_stream_step(s, xt, y), SG_ERR_SHAPE);
    tu_assert_error(SG_ERR_SHAPE, "not contiguous");
    ck_assert_int_eq(sg_rnn_stream_get_state(s, 2, st), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "'k'");
    ck_assert_int_eq(sg_rnn_stream_get_state(s, 0, yb), SG_ERR_SHAPE);
    tu_assert_error(SG_ERR_SHAPE, "dst must be");
    ck_assert_int_eq(sg_rnn_stream_set_state(s, 1, NULL), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'src'");
    ck_assert_int_eq(sg_rnn_stream_reset(NULL), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'s'");
    ck_assert_int_eq(sg_rnn_stream_sync(NULL), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'s'");
    ck_assert_int_eq(sg_rnn_stream_time(NULL), -1);
    sg_rnn_stream_free(NULL);
    sg_tensor *all[] = {x, y, x64, xb, yb, st};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sg_tensor_free(all[i]);
    sg_rnn_stream_free(s);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

/* every allocation of sg_rnn_stream_new fails in turn: SG_ERR_MEM, and nothing stays allocated */
START_TEST(stream_alloc_failure) {
    const sg_cell_def *defs[] = {&sg_cell_lstm, &sg_cell_clockwork, &sg_cell_mgu};
    stream_case c = {"fail", defs[_i], 0, false};
    sg_model *m;
    sg_rnn *r = make_layer(&m, SG_F32, &c, 2);
    size_t reg = sg__registry_count(), tape = sg_tape_len();
    sg__alloc_fail_at(0, false);
    sg_rnn_stream_free(sg_rnn_stream_new(r, 1, 0));
    int64_t n = sg__alloc_count();
    ck_assert_int_gt(n, 3);
    for (int64_t k = 1; k <= n; k++) {
        sg__alloc_fail_at(k, false);
        sg_rnn_stream *s = sg_rnn_stream_new(r, 1, 0);
        sg__alloc_fail_at(0, false);
        if (!s) tu_assert_error(SG_ERR_MEM, NULL);
        sg_rnn_stream_free(s);
        ck_assert_uint_eq(sg__registry_count(), reg);
        ck_assert_uint_eq(sg_tape_len(), tape);
    }
    sg_model_free(m);
    tu_teardown();
}
END_TEST

/* the README's snippet ("Streaming inference, one step at a time"), verbatim but for asserts */
START_TEST(stream_readme_snippet) {
    sg_model *m = sg_model_new(SG_F32);
    sg_rnn *lstm = sg_rnn_new(m, "lstm", &(sg_rnn_config){.cell = SG_CELL_LSTM, .input_size = 128,
                                                          .hidden_size = 256, .num_layers = 2});
    sg_model_finalize(m, 1);                             /* or load a checkpoint */
    sg_rnn_stream *s = sg_rnn_stream_new(lstm, 1, 0);    /* batch 1; states zero, t = 0 */
    float x[128] = {0}, y[256];
    for (int t = 0; t < 1000; t++) {                     /* x: frame t in; y: the top layer's h out */
        if (sg_rnn_stream_step_data(s, x, y)) fprintf(stderr, "%s\n", sg_last_error());
    }
    ck_assert_int_eq(sg_rnn_stream_time(s), 1000);
    ck_assert(isfinite(y[0]) && y[0] != 0);
    sg_rnn_stream_reset(s);                              /* zero states, t = 0: a new sequence */
    sg_rnn_stream_free(s);                               /* before sg_model_free(m) */
    sg_model_free(m);
    tu_teardown();
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("rnn_stream");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, stream_equals_forward, 0, N_CASES * 4);
    tcase_add_test(tc, stream_no_alloc_when_warm);
    tcase_add_loop_test(tc, stream_reset_state_sync, 0, 2);
    tcase_add_test(tc, stream_bad_input);
    tcase_add_loop_test(tc, stream_alloc_failure, 0, 3);
    tcase_add_test(tc, stream_readme_snippet);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run(suite()); }
