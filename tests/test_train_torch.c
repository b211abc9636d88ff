/* A whole model trained against PyTorch: imdb_sentiment's table recipe in miniature (fixture
 * train_sentiment from tools/gen_fixtures.py: Embedding with padding row -> bidirectional LSTM over
 * ragged lengths -> final forward and backward states -> Linear -> BCE with logits, 3 Adam steps on
 * batches of token ids). The loss before each step and every parameter after it must match
 * torch's: float64 to 1e-10 on the composed graph, float32 to 5e-5 on every backend, 1 and 2
 * threads (2 threads run the two directions concurrently). */
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "util/testutil.h"

#define TOL_F64 1e-10
#define TOL_F32 5e-5
enum { MAX_B = 64, MAX_TB = 4096 };

typedef struct {
    sg_model *m;
    sg_embedding_layer *emb;
    sg_rnn *lstm;
    sg_linear_layer *head;
} net_t;



/* The fixture's initial parameters, by state_dict name, into every model parameter. */
static void load_params(sg_st_file *f, sg_model *m) {
    for (int i = 0; i < sg_model_num_params(m); i++) {
        sg_tensor *ref = sg_st_get(f, sg_model_param_name(m, i), SG_F64);
        ck_assert_msg(ref != NULL, "%s", sg_last_error());
        sg_tensor *p = sg_model_param(m, i);
        ck_assert_int_eq(sg_numel(ref), sg_numel(p));
        for (int64_t j = 0; j < sg_numel(p); j++) sg_set_flat(p, j, sg_get_flat(ref, j));
        sg_tensor_free(ref);
    }
}

/* values of a fixture vector/matrix as int64 */
static int64_t get_ints(sg_st_file *f, const char *name, int64_t *out, int64_t cap, int64_t *shape0) {
    sg_tensor *t = sg_st_get(f, name, SG_F64);
    ck_assert_msg(t != NULL, "%s", sg_last_error());
    int64_t n = sg_numel(t);
    ck_assert(n <= cap);
    for (int64_t j = 0; j < n; j++) out[j] = (int64_t)sg_get_flat(t, j);
    if (shape0) *shape0 = sg_size(t, 0);
    sg_tensor_free(t);
    return n;
}

static void run(sg_dtype dt, sg_backend backend, int threads, double tol) {
    sg_clear_error();
    int prev = sg_get_num_threads();
    sg_set_num_threads(threads);
    sg_st_file *f = tu_open_fixture("train_sentiment");
    int64_t V = tu_meta_int(f, "vocab"), E = tu_meta_int(f, "embed"), H = tu_meta_int(f, "hidden");
    int steps = (int)tu_meta_int(f, "steps");
    double lr = strtod(sg_st_meta(f, "lr"), NULL);
    net_t n = {.m = sg_model_new(dt)};
    sg_rnn_config cfg = {.cell = SG_CELL_LSTM, .input_size = E, .hidden_size = H, .bidirectional = true,
                         .backend = backend};
    n.emb = sg_embedding_layer_new(n.m, "emb", V, E, 0);
    n.lstm = sg_rnn_new(n.m, "lstm", &cfg);
    n.head = sg_linear_layer_new(n.m, "head", 2 * H, 1, true);
    ck_assert_msg(n.emb && n.lstm && n.head && sg_model_finalize(n.m, 0) == 0, "%s", sg_last_error());
    load_params(f, n.m);
    sg_optim *opt = sg_optim_new(n.m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = lr});
    ck_assert_ptr_nonnull(opt);
    sg_tensor *losses = sg_st_get(f, "loss", SG_F64);
    ck_assert_ptr_nonnull(losses);
    for (int k = 1; k <= steps; k++) {
        char name[64];
        int64_t ids[MAX_TB], lengths[MAX_B], T, B;
        snprintf(name, sizeof name, "ids%d", k);
        int64_t nid = get_ints(f, name, ids, MAX_TB, &T);
        snprintf(name, sizeof name, "lengths%d", k);
        B = get_ints(f, name, lengths, MAX_B, NULL);
        ck_assert_int_eq(nid, T * B);
        snprintf(name, sizeof name, "labels%d", k);
        sg_tensor *y = sg_st_get(f, name, dt);
        ck_assert_ptr_nonnull(y);
        ck_assert_int_eq(sg_numel(y), B);

        sg_model_zero_grad(n.m);
        sg_tensor *x = sg_embedding_layer_forward(n.emb, 2, (int64_t[]){T, B}, ids);
        sg_rnn_out o;
        ck_assert_msg(x && sg_rnn_forward(n.lstm, x, lengths, NULL, NULL, &o) == 0, "%s", sg_last_error());
        sg_tensor *h[2];
        ck_assert_int_eq(sg_chunk(o.h_n, 2, 0, h), 0);
        sg_tensor *feat = sg_concat(2, (sg_tensor *[]){sg_squeeze(h[0], 0), sg_squeeze(h[1], 0)}, 1);
        sg_tensor *logits = sg_reshape(sg_linear_layer_forward(n.head, feat), 1, (int64_t[]){B});
        sg_tensor *loss = sg_bce_with_logits(logits, y, SG_REDUCE_MEAN);
        ck_assert_msg(loss != NULL, "%s", sg_last_error());
        double ref = sg_get_flat(losses, k - 1), v = sg_item(loss);
        ck_assert_msg(fabs(ref - v) <= tol * (1 + fabs(ref)), "step %d loss: torch %.15g seqgrad %.15g", k, ref, v);
        ck_assert_int_eq(sg_backward(loss), 0);
        ck_assert_int_eq(sg_optim_step(opt), 0);
        sg_tape_clear();
        sg_tensor_free(y);

        for (int i = 0; i < sg_model_num_params(n.m); i++) {
            snprintf(name, sizeof name, "step%d.%s", k, sg_model_param_name(n.m, i));
            sg_tensor *r = sg_st_get(f, name, SG_F64), *p = sg_model_param(n.m, i);
            ck_assert_msg(r != NULL, "%s", sg_last_error());
            for (int64_t j = 0; j < sg_numel(p); j++) {
                double a = sg_get_flat(r, j), b = sg_get_flat(p, j);
                ck_assert_msg(fabs(a - b) <= tol * (1 + fabs(a)), "%s %s threads %d: %s[%lld]: torch %.15g seqgrad %.15g",
                              sg_dtype_name(dt), sg_backend_name(backend), threads, name, (long long)j, a, b);
            }
            sg_tensor_free(r);
        }
    }
    sg_tensor_free(losses);
    sg_optim_free(opt);
    sg_model_free(n.m);
    sg_st_close(f);
    sg_set_num_threads(prev);
    tu_teardown();
}

START_TEST(f64_composed) {
    run(SG_F64, SG_BACKEND_COMPOSED, 1, TOL_F64);
    run(SG_F64, SG_BACKEND_COMPOSED, 2, TOL_F64);
}
END_TEST

/* float32 with the default backend: ragged batches fall back to the composed graph, the full-length
 * one (if any) may use oneDNN */
START_TEST(f32_default) {
    run(SG_F32, SG_BACKEND_DEFAULT, 1, TOL_F32);
    run(SG_F32, SG_BACKEND_DEFAULT, 2, TOL_F32);
}
END_TEST

/* a wrong reference must fail: the check is not vacuous */
START_TEST(padding_row_matters) {
    sg_st_file *f = tu_open_fixture("train_sentiment");
    sg_tensor *w0 = sg_st_get(f, "emb.weight", SG_F64), *w1 = sg_st_get(f, "step1.emb.weight", SG_F64);
    ck_assert(w0 && w1);
    int64_t E = sg_size(w0, 1);
    double moved = 0, pad = 0;
    for (int64_t j = 0; j < sg_numel(w0); j++) {
        double d = fabs(sg_get_flat(w1, j) - sg_get_flat(w0, j));
        if (j < E) pad += d + fabs(sg_get_flat(w0, j));
        else moved += d;
    }
    ck_assert_msg(pad == 0, "torch's padding row must stay zero");
    ck_assert_msg(moved > 1e-3, "one Adam step must move the embeddings (moved %g)", moved);
    sg_tensor_free(w0);
    sg_tensor_free(w1);
    sg_st_close(f);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("train_torch");
    TCase *t = tcase_create("sentiment");
    tcase_add_test(t, f64_composed);
    tcase_add_test(t, f32_default);
    tcase_add_test(t, padding_row_matters);
    suite_add_tcase(s, t);
    return tu_run(s);
}
