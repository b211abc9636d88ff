/* Tensor printing and model summaries: exact expected strings. The tensor reprs are PyTorch's
 * (torch 1.13 repr() of the same values, with seqgrad's ", shape=..., dtype=..." suffix in place of
 * PyTorch's dtype suffix), so this also checks the formatter follows PyTorch's rules. */
#include <stdlib.h>
#include <string.h>

#include "util/testutil.h"

enum { BIG = 8192 };

typedef struct {
    const char *name, *want;
} repr_case;

static const repr_case CASES[] = {
    {"fixed", "tensor([[-0.2000, -0.1000,  0.0000],\n        [ 0.1000,  0.2000,  0.3000]], shape=(2,3), dtype=float64)"},
    {"ints", "tensor([ 1., -2., 30.], shape=(3), dtype=float32)"},
    {"sci", "tensor([ 1.0000e-05,  1.0000e+00, -2.5000e+02], shape=(3), dtype=float64)"},
    {"nonfinite", "tensor([   nan, 1.5000,   -inf, 0.0000], shape=(4), dtype=float32)"},
    {"summary", "tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 4.7000e+01, 4.8000e+01,\n         4.9000e+01],\n        [5.0000e+01, 5.1000e+01, 5.2000e+01,  ..., 9.7000e+01, 9.8000e+01,\n         9.9000e+01],\n        [1.0000e+02, 1.0100e+02, 1.0200e+02,  ..., 1.4700e+02, 1.4800e+02,\n         1.4900e+02],\n        ...,\n        [1.8500e+03, 1.8510e+03, 1.8520e+03,  ..., 1.8970e+03, 1.8980e+03,\n         1.8990e+03],\n        [1.9000e+03, 1.9010e+03, 1.9020e+03,  ..., 1.9470e+03, 1.9480e+03,\n         1.9490e+03],\n        [1.9500e+03, 1.9510e+03, 1.9520e+03,  ..., 1.9970e+03, 1.9980e+03,\n         1.9990e+03]], shape=(40,50), dtype=float64)"},
    {"cube", "tensor([[[0.0000, 0.5000],\n         [1.0000, 1.5000]],\n\n        [[2.0000, 2.5000],\n         [3.0000, 3.5000]]], shape=(2,2,2), dtype=float32)"},
    {"wrap", "tensor([ 0.0000,  1.2500,  2.5000,  3.7500,  5.0000,  6.2500,  7.5000,  8.7500,\n        10.0000, 11.2500, 12.5000, 13.7500, 15.0000, 16.2500, 17.5000, 18.7500,\n        20.0000, 21.2500, 22.5000, 23.7500, 25.0000, 26.2500, 27.5000, 28.7500,\n        30.0000, 31.2500, 32.5000, 33.7500, 35.0000, 36.2500], shape=(30), dtype=float32)"},
    {"scalar", "tensor(3.2500, shape=(), dtype=float32)"},
    {"zeros", "tensor([[0., 0.],\n        [0., 0.]], shape=(2,2), dtype=float32)"},
    {"transposed", "tensor([[-0.2000,  0.1000],\n        [-0.1000,  0.2000],\n        [ 0.0000,  0.3000]], shape=(3,2), dtype=float64)"},
    {"opts", "tensor([[ 0.,  ...,  3.],\n        ...,\n        [ 8.,  ..., 11.]], shape=(3,4), dtype=float32)"},
};
enum { N_CASES = sizeof CASES / sizeof CASES[0] };

static sg_tensor *arange_scaled(sg_dtype dt, int64_t n, double scale, double shift) {
    sg_tensor *t = sg_arange(dt, 0, (double)n, 1);
    for (int64_t i = 0; i < n; i++) sg_set_flat(t, i, sg_get_flat(t, i) * scale + shift);
    return t;
}

/* The tensor of case k (user-owned) and the print options it uses. */
static sg_tensor *make(int k, sg_print_opts *o) {
    const char *name = CASES[k].name;
    *o = sg_print_defaults();
    if (!strcmp(name, "fixed") || !strcmp(name, "transposed")) {
        sg_tensor *a = arange_scaled(SG_F64, 6, 0.1, -0.2), *r = sg_copy(sg_reshape(a, 2, (int64_t[]){2, 3}));
        sg_tensor_free(a);
        return r; /* "transposed" prints the strided view sg_transpose(r, 0, 1) */
    }
    if (!strcmp(name, "ints")) return sg_from_buffer(SG_F32, 1, (int64_t[]){3}, (double[]){1, -2, 30}, SG_F64);
    if (!strcmp(name, "sci")) return sg_from_buffer(SG_F64, 1, (int64_t[]){3}, (double[]){1e-5, 1, -250}, SG_F64);
    if (!strcmp(name, "nonfinite"))
        return sg_from_buffer(SG_F32, 1, (int64_t[]){4}, (double[]){NAN, 1.5, -INFINITY, 0}, SG_F64);
    if (!strcmp(name, "summary")) {
        sg_tensor *a = arange_scaled(SG_F64, 2000, 1, 0), *r = sg_copy(sg_reshape(a, 2, (int64_t[]){40, 50}));
        sg_tensor_free(a);
        return r;
    }
    if (!strcmp(name, "cube")) {
        sg_tensor *a = arange_scaled(SG_F32, 8, 0.5, 0), *r = sg_copy(sg_reshape(a, 3, (int64_t[]){2, 2, 2}));
        sg_tensor_free(a);
        return r;
    }
    if (!strcmp(name, "wrap")) return arange_scaled(SG_F32, 30, 1.25, 0);
    if (!strcmp(name, "scalar")) return sg_scalar(SG_F32, 3.25);
    if (!strcmp(name, "zeros")) return sg_zeros(SG_F32, 2, (int64_t[]){2, 2});
    o->threshold = 5;
    o->edgeitems = 1;
    sg_tensor *a = arange_scaled(SG_F32, 12, 1, 0), *r = sg_copy(sg_reshape(a, 2, (int64_t[]){3, 4}));
    sg_tensor_free(a);
    return r;
}

START_TEST(repr_matches_pytorch) {
    sg_print_opts o;
    sg_tensor *t = make(_i, &o);
    ck_assert_ptr_nonnull(t);
    sg_tensor *shown = strcmp(CASES[_i].name, "transposed") ? t : sg_transpose(t, 0, 1);
    static char buf[BIG];
    int n = sg_tensor_snprint(buf, sizeof buf, shown, &o);
    ck_assert_msg(!strcmp(buf, CASES[_i].want), "%s:\n got: %s\nwant: %s", CASES[_i].name, buf, CASES[_i].want);
    ck_assert_int_eq(n, (int)strlen(CASES[_i].want));
    sg_tape_clear();
    sg_tensor_free(t);
}
END_TEST

START_TEST(snprint_truncates_like_snprintf_and_fprint_adds_a_newline) {
    sg_tensor *t = sg_from_buffer(SG_F32, 1, (int64_t[]){2}, (double[]){1, 2}, SG_F64);
    const char *want = "tensor([1., 2.], shape=(2), dtype=float32)";
    char small[8];
    ck_assert_int_eq(sg_tensor_snprint(small, sizeof small, t, NULL), (int)strlen(want));
    ck_assert_str_eq(small, "tensor(");
    ck_assert_int_eq(sg_tensor_snprint(NULL, 0, t, NULL), (int)strlen(want));
    sg_set_requires_grad(t, true);
    char buf[128];
    sg_tensor_snprint(buf, sizeof buf, t, NULL);
    ck_assert_str_eq(buf, "tensor([1., 2.], shape=(2), dtype=float32, requires_grad=True)");
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(sg_tensor_fprint(f, t, NULL), (int)strlen(buf) + 1);
    rewind(f);
    char back[128] = {0};
    ck_assert_uint_eq(fread(back, 1, sizeof back - 1, f), strlen(buf) + 1);
    fclose(f);
    ck_assert_int_eq(back[strlen(buf)], '\n');
    ck_assert_int_eq(strncmp(back, buf, strlen(buf)), 0);
    sg_tensor *e = sg_zeros(SG_F64, 2, (int64_t[]){0, 3});
    sg_tensor_snprint(buf, sizeof buf, e, NULL);
    ck_assert_str_eq(buf, "tensor([], shape=(0,3), dtype=float64)");
    sg_tensor_free(e);
    sg_tensor_free(t);
}
END_TEST

START_TEST(print_errors) {
    char buf[64];
    sg_tensor *t = sg_zeros(SG_F32, 1, (int64_t[]){2});
    sg_print_opts o = sg_print_defaults();
    o.edgeitems = 0;
    ck_assert_int_eq(sg_tensor_snprint(buf, sizeof buf, t, &o), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "sg_tensor_snprint: bad print options");
    ck_assert_int_eq(sg_tensor_fprint(NULL, t, NULL), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "argument 'f' is NULL");
    sg_tensor_free(t);
    ck_assert_int_eq(sg_tensor_snprint(buf, sizeof buf, t, NULL), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "sg_tensor_snprint: argument 't' is not a live tensor");
}
END_TEST

START_TEST(model_summary_table) {
    sg_model *m = sg_model_new(SG_F32);
    char buf[1024];
    sg_linear_layer *fc = sg_linear_layer_new(m, "fc", 4, 3, true);
    ck_assert_ptr_nonnull(fc);
    ck_assert_int_eq(sg_model_summary_str(buf, sizeof buf, m), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "sg_model_summary_str: the model is not finalized");
    ck_assert_ptr_nonnull(sg_rnn_cell_new(m, "decoder", &(sg_rnn_config){.cell = SG_CELL_LSTM, .input_size = 3, .hidden_size = 10}));
    ck_assert_int_eq(sg_model_finalize(m, 1), SG_OK);
    const char *want = "parameter          shape    count\n"
                       "fc.weight          (3,4)       12\n"
                       "fc.bias            (3)          3\n"
                       "decoder.weight_ih  (40,3)     120\n"
                       "decoder.weight_hh  (40,10)    400\n"
                       "decoder.bias_ih    (40)        40\n"
                       "decoder.bias_hh    (40)        40\n"
                       "total: 615 parameters in 6 tensors (float32, 2460 bytes)\n";
    int len = sg_model_summary_str(buf, sizeof buf, m);
    ck_assert_msg(!strcmp(buf, want), "got:\n%s", buf);
    ck_assert_int_eq(len, (int)strlen(want));
    FILE *f = tmpfile();
    ck_assert_int_eq(sg_model_summary(f, m), (int)strlen(want));
    fclose(f);
    ck_assert_int_eq(sg_model_summary(NULL, m), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "argument 'f' is NULL");
    ck_assert_int_eq(sg_model_summary_str(buf, sizeof buf, NULL), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "argument 'm' is NULL");
    sg_model_free(m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("print");
    TCase *tc = tcase_create("print");
    tcase_add_checked_fixture(tc, NULL, tu_teardown);
    tcase_add_loop_test(tc, repr_matches_pytorch, 0, N_CASES);
    tcase_add_test(tc, snprint_truncates_like_snprintf_and_fprint_adds_a_newline);
    tcase_add_test(tc, print_errors);
    tcase_add_test(tc, model_summary_table);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
