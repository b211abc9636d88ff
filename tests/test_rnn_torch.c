/* Agreement with PyTorch: fixtures written by tools/gen_fixtures.py (torch.nn.LSTM/GRU/RNN and
 * their cells, float64 reference from float32-representable inputs) are loaded into seqgrad models
 * by state_dict name; outputs, h_n, c_n and every gradient must match. float64 runs agree to 1e-10,
 * float32 runs to 1e-5 (abs + rel). The fixtures pin gate order, bias handling and h_n layout. */
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "util/testutil.h"

static const char *const RNN_FIXTURES[] = {
    "lstm_uni_l1",        "lstm_bi_l2_h0",       "lstm_packed_bi_l2", "lstm_proj_bi_l2",
    "lstm_proj_packed_uni_l1", "lstm_batch_first_nobias", "gru_uni_l1", "gru_bi_l2_packed_h0",
    "rnn_tanh_bi_l2",     "rnn_relu_uni_l2_packed",
};
static const char *const CELL_FIXTURES[] = {"cell_lstm", "cell_gru", "cell_rnn_tanh"};
enum { N_RNN = sizeof RNN_FIXTURES / sizeof *RNN_FIXTURES, N_CELL = sizeof CELL_FIXTURES / sizeof *CELL_FIXTURES };
#define TOL_F64 1e-10
#define TOL_F32 1e-5



static sg_cell_kind cell_kind(const char *s) {
    if (!strcmp(s, "LSTM")) return SG_CELL_LSTM;
    if (!strcmp(s, "GRU")) return SG_CELL_GRU;
    if (!strcmp(s, "RNN_RELU")) return SG_CELL_RNN_RELU;
    return SG_CELL_RNN_TANH;
}

/* |ref - x| <= tol * (1 + |ref|) for every element; prints the first mismatches. */
static void expect_close(sg_st_file *f, const char *ref_name, const sg_tensor *x, double tol, const char *what) {
    ck_assert_msg(x != NULL, "%s: %s is missing (%s)", what, ref_name, sg_last_error());
    sg_tensor *ref = sg_st_get(f, ref_name, SG_F64);
    ck_assert_msg(ref != NULL, "%s", sg_last_error());
    ck_assert_msg(sg_numel(ref) == sg_numel(x), "%s: %s has %lld elements, seqgrad %lld", what, ref_name,
                  (long long)sg_numel(ref), (long long)sg_numel(x));
    int bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < sg_numel(ref); i++) {
        double r = sg_get_flat(ref, i), v = sg_get_flat(x, i), e = fabs(r - v);
        if (!(e <= tol * (1 + fabs(r)))) {
            if (bad++ < 5) fprintf(stderr, "  %s %s[%lld]: torch %.12g seqgrad %.12g\n", what, ref_name, (long long)i, r, v);
        }
        if (e > worst) worst = e;
    }
    sg_tensor_free(ref);
    ck_assert_msg(bad == 0, "%s: %s: %d mismatches (worst %.3g, tol %.1g)", what, ref_name, bad, worst, tol);
}

static sg_tensor *load_leaf(sg_st_file *f, const char *name, sg_dtype dt) {
    if (sg_st_find(f, name) < 0) return NULL;
    sg_tensor *t = sg_st_get(f, name, dt);
    ck_assert_msg(t != NULL, "%s", sg_last_error());
    sg_set_requires_grad(t, true);
    return t;
}

static void load_params(sg_st_file *f, sg_model *m) {
    for (int i = 0; i < sg_model_num_params(m); i++) {
        const char *name = sg_model_param_name(m, i);
        ck_assert_msg(sg_st_read_into(f, name, sg_model_param(m, i)) == 0, "loading %s: %s", name, sg_last_error());
    }
}

/* sum(y * R) as a 0-d tensor, R from the fixture in y's dtype (user-owned, freed by the caller) */
static sg_tensor *dot(sg_st_file *f, const char *rname, sg_tensor *y, sg_tensor **R) {
    *R = sg_st_get(f, rname, sg_dtype_of(y));
    ck_assert_msg(*R != NULL, "%s", sg_last_error());
    ck_assert_msg(sg_same_shape(y, *R), "cotangent %s does not have the output's shape", rname);
    return sg_sum_all(sg_mul(y, *R));
}

static void check_grads(sg_st_file *f, sg_model *m, double tol, const char *what) {
    char g[256];
    for (int i = 0; i < sg_model_num_params(m); i++) {
        snprintf(g, sizeof g, "grad.%s", sg_model_param_name(m, i));
        expect_close(f, g, sg_grad(sg_model_param(m, i)), tol, what);
    }
}

static void run_rnn(const char *name, sg_dtype dt) {
    sg_clear_error();
    sg_st_file *f = tu_open_fixture(name);
    double tol = dt == SG_F64 ? TOL_F64 : TOL_F32;
    sg_rnn_config cfg = {
        .cell = cell_kind(sg_st_meta(f, "cell")), .input_size = tu_meta_int(f, "input_size"),
        .hidden_size = tu_meta_int(f, "hidden_size"), .num_layers = (int)tu_meta_int(f, "num_layers"),
        .bidirectional = tu_meta_int(f, "bidirectional"), .proj_size = tu_meta_int(f, "proj_size"),
        .batch_first = tu_meta_int(f, "batch_first"), .no_bias = !tu_meta_int(f, "bias"), .backend = SG_BACKEND_COMPOSED};
    sg_model *m = sg_model_new(dt);
    sg_rnn *r = sg_rnn_new(m, NULL, &cfg);
    ck_assert_msg(r && sg_model_finalize(m, 0) == 0, "%s", sg_last_error());
    ck_assert_int_eq(sg_model_num_params(m), sg_st_count(f) > 0 ? sg_model_num_params(m) : -1);
    load_params(f, m);
    sg_tensor *x = load_leaf(f, "x", dt), *h0 = load_leaf(f, "h0", dt), *c0 = load_leaf(f, "c0", dt);
    int64_t *lengths = NULL;
    if (sg_st_find(f, "lengths") >= 0) ck_assert_int_eq(sg_st_get_i64(f, "lengths", &lengths, NULL), 0);
    sg_rnn_out o;
    ck_assert_msg(sg_rnn_forward(r, x, lengths, h0, c0, &o) == 0, "%s: %s", name, sg_last_error());
    expect_close(f, "output", o.output, tol, name);
    expect_close(f, "h_n", o.h_n, tol, name);
    if (o.c_n) expect_close(f, "c_n", o.c_n, tol, name);
    sg_tensor *R, *Rh, *Rc = NULL;
    sg_tensor *loss = sg_add(dot(f, "R", o.output, &R), dot(f, "Rh", o.h_n, &Rh));
    if (o.c_n) loss = sg_add(loss, dot(f, "Rc", o.c_n, &Rc));
    ck_assert_msg(sg_backward(loss) == 0, "%s", sg_last_error());
    check_grads(f, m, tol, name);
    expect_close(f, "grad.x", sg_grad(x), tol, name);
    if (h0) expect_close(f, "grad.h0", sg_grad(h0), tol, name);
    if (c0) expect_close(f, "grad.c0", sg_grad(c0), tol, name);
    sg_tensor *fr[] = {x, h0, c0, R, Rh, Rc};
    for (int i = 0; i < 6; i++) sg_tensor_free(fr[i]);
    free(lengths);
    sg_model_free(m);
    sg_st_close(f);
    tu_teardown();
}

static void run_cell(const char *name, sg_dtype dt) {
    sg_clear_error();
    sg_st_file *f = tu_open_fixture(name);
    double tol = dt == SG_F64 ? TOL_F64 : TOL_F32;
    sg_rnn_config cfg = {.cell = cell_kind(sg_st_meta(f, "cell")), .input_size = tu_meta_int(f, "input_size"),
                         .hidden_size = tu_meta_int(f, "hidden_size")};
    sg_model *m = sg_model_new(dt);
    sg_rnn_cell *c = sg_rnn_cell_new(m, NULL, &cfg);
    ck_assert_msg(c && sg_model_finalize(m, 0) == 0, "%s", sg_last_error());
    load_params(f, m);
    sg_tensor *x = load_leaf(f, "x", dt), *h0 = load_leaf(f, "h0", dt), *c0 = load_leaf(f, "c0", dt);
    sg_tensor *h1, *c1 = NULL;
    bool lstm = cfg.cell == SG_CELL_LSTM;
    ck_assert_msg(sg_rnn_cell_forward(c, x, h0, c0, &h1, lstm ? &c1 : NULL) == 0, "%s", sg_last_error());
    expect_close(f, "h_n", h1, tol, name);
    if (lstm) expect_close(f, "c_n", c1, tol, name);
    sg_tensor *Rh, *Rc = NULL;
    sg_tensor *loss = dot(f, "Rh", h1, &Rh);
    if (lstm) loss = sg_add(loss, dot(f, "Rc", c1, &Rc));
    ck_assert_msg(sg_backward(loss) == 0, "%s", sg_last_error());
    check_grads(f, m, tol, name);
    expect_close(f, "grad.x", sg_grad(x), tol, name);
    expect_close(f, "grad.h0", sg_grad(h0), tol, name);
    if (c0) expect_close(f, "grad.c0", sg_grad(c0), tol, name);
    sg_tensor *fr[] = {x, h0, c0, Rh, Rc};
    for (int i = 0; i < 5; i++) sg_tensor_free(fr[i]);
    sg_model_free(m);
    sg_st_close(f);
    tu_teardown();
}

START_TEST(rnn_f64) { run_rnn(RNN_FIXTURES[_i], SG_F64); }
END_TEST
START_TEST(rnn_f32) { run_rnn(RNN_FIXTURES[_i], SG_F32); }
END_TEST
START_TEST(cell_f64) { run_cell(CELL_FIXTURES[_i], SG_F64); }
END_TEST
START_TEST(cell_f32) { run_cell(CELL_FIXTURES[_i], SG_F32); }
END_TEST

/* Negative control: a fixture must reject a swapped gate order (LSTM i <-> f). */
START_TEST(gate_order_pinned) {
    sg_st_file *f = tu_open_fixture("lstm_uni_l1");
    sg_rnn_config cfg = {.cell = SG_CELL_LSTM, .input_size = tu_meta_int(f, "input_size"), .hidden_size = tu_meta_int(f, "hidden_size")};
    int64_t H = cfg.hidden_size;
    sg_model *m = sg_model_new(SG_F64);
    sg_rnn *r = sg_rnn_new(m, NULL, &cfg);
    sg_model_finalize(m, 0);
    load_params(f, m);
    sg_tensor *w = sg_rnn_param(r, "weight_ih", 0, 0);
    for (int64_t row = 0; row < H; row++) /* swap the i and f row blocks */
        for (int64_t j = 0; j < cfg.input_size; j++) {
            int64_t a = row * cfg.input_size + j, b = (row + H) * cfg.input_size + j;
            double va = sg_get_flat(w, a);
            sg_set_flat(w, a, sg_get_flat(w, b));
            sg_set_flat(w, b, va);
        }
    sg_tensor *x = sg_st_get(f, "x", SG_F64), *ref = sg_st_get(f, "output", SG_F64);
    sg_rnn_out o;
    ck_assert_int_eq(sg_rnn_forward(r, x, NULL, NULL, NULL, &o), 0);
    double worst = 0;
    for (int64_t i = 0; i < sg_numel(ref); i++) worst = fmax(worst, fabs(sg_get_flat(ref, i) - sg_get_flat(o.output, i)));
    ck_assert_msg(worst > 1e-3, "swapped gates still match (%g): the fixture does not pin gate order", worst);
    sg_tensor_free(x);
    sg_tensor_free(ref);
    sg_model_free(m);
    sg_st_close(f);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("rnn_torch");
    TCase *t = tcase_create("fixtures");
    tcase_add_loop_test(t, rnn_f64, 0, N_RNN);
    tcase_add_loop_test(t, rnn_f32, 0, N_RNN);
    tcase_add_loop_test(t, cell_f64, 0, N_CELL);
    tcase_add_loop_test(t, cell_f32, 0, N_CELL);
    tcase_add_test(t, gate_order_pinned);
    suite_add_tcase(s, t);
    return tu_run(s);
}
