/* The shipped LayerNorm-LSTM and MGU definitions (nn/cells.h) against PyTorch: outputs, final
 * states and the gradients of sum(out * R) to the input, the initial states and every parameter,
 * for one and two stacked layers, in float64 (1e-10) and float32 (1e-4). Fixture:
 * tests/fixtures/cells_torch.safetensors from tools/fixtures_cells.py (PyTorch's fastrnns form of
 * the LN-LSTM cell, a time loop per layer). */
#include <stdlib.h>
#include <string.h>

#include "util/testutil.h"

enum { NAME = 160, MAX_CASES = 8, MAX_STATES = 2 };

static void expect_close(sg_st_file *f, const char *key, const sg_tensor *got, double tol) {
    sg_tensor *want = sg_st_get(f, key, SG_F64);
    ck_assert_msg(want && got, "%s: %s", key, sg_last_error());
    ck_assert_int_eq(sg_numel(want), sg_numel(got));
    for (int64_t i = 0; i < sg_numel(want); i++) {
        double w = sg_get_flat(want, i), g = sg_get_flat(got, i);
        ck_assert_msg(fabs(w - g) <= tol * (1 + fabs(w)), "%s[%lld]: torch %.12g seqgrad %.12g", key, (long long)i, w,
                      g);
    }
    sg_tensor_free(want);
}

static void run_case(sg_st_file *f, const char *cs, sg_dtype dt, double tol) {
    char key[NAME], cell[NAME];
    snprintf(key, sizeof key, "%s.meta", cs);
    const char *meta = sg_st_meta(f, key);
    ck_assert_ptr_nonnull(meta);
    long D, H, L;
    ck_assert_int_eq(sscanf(meta, "%31[^,],%ld,%ld,%ld", cell, &D, &H, &L), 4);
    const sg_cell_def *def = !strcmp(cell, "lnlstm") ? &sg_cell_lnlstm : &sg_cell_mgu;
    sg_model *m = sg_model_new(dt);
    sg_rnn *r = sg_rnn_new(m, NULL, &(sg_rnn_config){.def = def, .input_size = D, .hidden_size = H, .num_layers = (int)L});
    ck_assert_msg(r && sg_model_finalize(m, 1) == 0, "%s", sg_last_error());
    for (int i = 0; i < sg_model_num_params(m); i++) {
        snprintf(key, sizeof key, "%s.p.%s", cs, sg_model_param_name(m, i));
        ck_assert_msg(sg_st_read_into(f, key, sg_model_param(m, i)) == 0, "%s: %s", key, sg_last_error());
    }
    int ns = sg_cell_num_states(def);
    snprintf(key, sizeof key, "%s.x", cs);
    sg_tensor *x = sg_st_get(f, key, dt), *s0[SG_CELL_MAX_STATES] = {0};
    ck_assert_ptr_nonnull(x);
    sg_set_requires_grad(x, true);
    for (int k = 0; k < ns; k++) {
        snprintf(key, sizeof key, "%s.s0_%d", cs, k);
        s0[k] = sg_st_get(f, key, dt);
        ck_assert_ptr_nonnull(s0[k]);
    }
    snprintf(key, sizeof key, "%s.R", cs);
    sg_tensor *R = sg_st_get(f, key, dt);
    sg_rnn_out o;
    ck_assert_msg(sg_rnn_forward_states(r, x, NULL, s0, &o) == 0, "%s: %s", cs, sg_last_error());
    snprintf(key, sizeof key, "%s.out", cs);
    expect_close(f, key, o.output, tol);
    snprintf(key, sizeof key, "%s.sn_0", cs);
    expect_close(f, key, o.h_n, tol);
    if (ns > 1) {
        snprintf(key, sizeof key, "%s.sn_1", cs);
        expect_close(f, key, o.c_n, tol);
    }
    ck_assert_int_eq(sg_backward_grad(o.output, R), 0);
    snprintf(key, sizeof key, "%s.gx", cs);
    expect_close(f, key, sg_grad(x), tol);
    for (int i = 0; i < sg_model_num_params(m); i++) {
        snprintf(key, sizeof key, "%s.g.%s", cs, sg_model_param_name(m, i));
        expect_close(f, key, sg_grad(sg_model_param(m, i)), tol);
    }
    sg_tape_clear();
    sg_tensor_free(x);
    sg_tensor_free(R);
    for (int k = 0; k < ns; k++) sg_tensor_free(s0[k]);
    sg_model_free(m);
}

static void run_all(sg_dtype dt, double tol) {
    sg_st_file *f = tu_open_fixture("cells_torch");
    char cases[1024];
    snprintf(cases, sizeof cases, "%s", sg_st_meta(f, "cases"));
    int n = 0;
    for (char *save, *c = strtok_r(cases, ",", &save); c; c = strtok_r(NULL, ",", &save), n++) run_case(f, c, dt, tol);
    ck_assert_int_ge(n, 4);
    sg_st_close(f);
    tu_teardown();
}

START_TEST(torch_f64) { run_all(SG_F64, 1e-10); }
END_TEST

START_TEST(torch_f32) { run_all(SG_F32, 1e-4); }
END_TEST

int main(void) {
    Suite *s = suite_create("cells_torch");
    TCase *tc = tcase_create("torch");
    tcase_add_test(tc, torch_f64);
    tcase_add_test(tc, torch_f32);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
