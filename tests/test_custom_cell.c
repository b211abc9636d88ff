/* User-defined cells (nn/cell.h) run by the one layer driver: the README's Light GRU definition
 * (examples/ligru_cell.h) gradchecked in float64 over {uni, bi} x {1, 2 layers} x {equal, ragged
 * lengths} x {with, without initial states}, checked against a hand-written loop over its step
 * (reverse direction from lengths[b]-1 down to 0), and trained; the step index t; cells with
 * three states, a hoist hook and a step whose backward reads its input product; bad definitions
 * and bad steps give errors naming the cell; failed construction leaves no parameters behind;
 * which backend ran and why. */
#include <math.h>
#include <string.h>

#include "../examples/ligru_cell.h"
#include "util/testutil.h"

enum { GRID = 16, TT = 4, BB = 3, DD = 3, HH = 4 };

typedef struct {
    sg_rnn *r;
    const int64_t *lengths;
    bool with_h0;
} seq_ctx;

/* inputs: x, [h0,] parameters -> output and h_n, flattened */
static sg_tensor *seq_fn(sg_tensor *const *in, int n, void *ctx) {
    (void)n;
    seq_ctx *c = ctx;
    sg_rnn_out o;
    if (sg_rnn_forward(c->r, in[0], c->lengths, c->with_h0 ? in[1] : NULL, NULL, &o)) return NULL;
    sg_tensor *parts[2] = {sg_reshape(o.output, 1, (int64_t[]){-1}), sg_reshape(o.h_n, 1, (int64_t[]){-1})};
    return sg_concat(2, parts, 0);
}

/* gradcheck of one layer of def over x (T, B, D) and optionally h0, w.r.t. everything */
static void gradcheck_layer(const sg_rnn_config *cfg, const int64_t *lengths, bool with_h0) {
    sg_model *m = sg_model_new(SG_F64);
    sg_rnn *r = sg_rnn_new(m, "cell", cfg);
    ck_assert_msg(r != NULL, "%s", sg_last_error());
    ck_assert_int_eq(sg_model_finalize(m, 7), 0);
    int L = cfg->num_layers ? cfg->num_layers : 1, dirs = cfg->bidirectional ? 2 : 1, np = sg_model_num_params(m);
    int64_t P = cfg->proj_size ? cfg->proj_size : cfg->hidden_size;
    sg_tensor *in[64];
    int n = 0;
    in[n++] = tu_rand(SG_F64, 3, (int64_t[]){TT, BB, cfg->input_size}, -1, 1, 11, true);
    if (with_h0) in[n++] = tu_rand(SG_F64, 3, (int64_t[]){L * dirs, BB, P}, -1, 1, 12, true);
    ck_assert_int_le(n + np, 64);
    for (int i = 0; i < np; i++) in[n + i] = sg_model_param(m, i);
    seq_ctx sc = {r, lengths, with_h0};
    sg_gradcheck_result res;
    ck_assert_msg(sg_gradcheck(seq_fn, &sc, in, n + np, NULL, &res) == 0, "%s", sg_last_error());
    ck_assert_msg(res.ok, "%s", res.message);
    ck_assert_int_gt(res.n_compared, 50);
    for (int i = 0; i < n; i++) sg_tensor_free(in[i]);
    sg_model_free(m);
    tu_teardown();
}

/* {uni, bi} x {1, 2 layers} x {equal, ragged} x {with, without initial states} x {composed tail,
 * fused tail} */
START_TEST(ligru_gradcheck_grid) {
    static const int64_t ragged[BB] = {2, 4, 1};
    bool bi = _i & 1, two = _i & 2, rag = _i & 4, h0 = _i & 8, fused = _i & GRID;
    sg_rnn_config cfg = {.def = fused ? &ligru_cell_fused : &ligru_cell, .input_size = DD, .hidden_size = HH,
                         .num_layers = two ? 2 : 1, .bidirectional = bi};
    gradcheck_layer(&cfg, rag ? ragged : NULL, h0);
}
END_TEST

/* out_ref (T, B, P) and h_ref for one direction of a one-layer layer, by a loop over the
 * definition's step per sequence: forward 0..len-1, reverse len-1..0, zeros past the end. */
static void reference(sg_rnn *r, const sg_cell_def *def, int dir, sg_tensor *x, const int64_t *len, double *out_ref,
                      double *h_ref, int dirs) {
    sg_tensor *w[SG_CELL_MAX_PARAMS] = {0};
    for (int i = 0; i < sg_cell_num_params(def); i++) w[i] = sg_rnn_param(r, def->params[i].name, 0, dir);
    sg_cell_ctx c = {.def = def, .cfg = sg_rnn_get_config(r), .D = DD, .H = HH, .P = HH, .B = 1, .dir = dir,
                     .opts = SG_CELL_OPT_BIAS};
    for (int64_t b = 0; b < BB; b++) {
        sg_tensor *h = sg_zeros(SG_F64, 2, (int64_t[]){1, HH}), *hk = h;
        for (int64_t s = 0; s < len[b]; s++) {
            int64_t t = dir ? len[b] - 1 - s : s;
            sg_tensor *xt = sg_narrow(sg_select(x, 0, t), 0, b, 1); /* (1, D) */
            sg_tensor *xg = sg_linear(xt, w[LIGRU_W_IH], w[LIGRU_B_IH]);
            sg_tensor *so[SG_CELL_MAX_STATES] = {0}, *o = NULL;
            ck_assert_int_eq(def->step(&c, w, xg, &h, t, so, &o), 0);
            h = so[0];
            for (int64_t j = 0; j < HH; j++) out_ref[(t * BB + b) * dirs * HH + dir * HH + j] = sg_get_flat(h, j);
        }
        for (int64_t j = 0; j < HH; j++) h_ref[(dir * BB + b) * HH + j] = sg_get_flat(h, j);
        sg_tensor_free(hk);
    }
}

START_TEST(ligru_matches_step_loop) {
    sg_model *m = sg_model_new(SG_F64);
    sg_rnn *r = sg_rnn_new(m, NULL, &(sg_rnn_config){.def = &ligru_cell, .input_size = DD, .hidden_size = HH,
                                                     .bidirectional = true});
    ck_assert_int_eq(sg_model_finalize(m, 3), 0);
    ck_assert_str_eq(sg_model_param_name(m, 0), "weight_ih_l0");
    ck_assert_str_eq(sg_model_param_name(m, 3), "weight_ih_l0_reverse");
    ck_assert_int_eq(sg_model_num_params(m), 6);
    sg_tensor *x = tu_rand(SG_F64, 3, (int64_t[]){TT, BB, DD}, -1, 1, 5, false);
    const int64_t len[BB] = {3, 4, 1}; /* unsorted */
    double out_ref[TT * BB * 2 * HH] = {0}, h_ref[2 * BB * HH];
    for (int d = 0; d < 2; d++) reference(r, &ligru_cell, d, x, len, out_ref, h_ref, 2);
    sg_rnn_out o;
    ck_assert_int_eq(sg_rnn_forward(r, x, len, NULL, NULL, &o), 0);
    tu_assert_values(sg_contiguous(o.output), out_ref, TT * BB * 2 * HH, 1e-12, 1e-12);
    tu_assert_values(o.h_n, h_ref, 2 * BB * HH, 1e-12, 1e-12);
    ck_assert_ptr_null(o.c_n);
    const char *why;
    ck_assert_int_eq(sg_rnn_last_backend(r, &why), SG_BACKEND_COMPOSED);
    ck_assert_msg(strstr(why, "ligru") != NULL, "%s", why);
    sg_tensor_free(x);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

/* The fused-tail definition gives the composed one's outputs, final states and every gradient: a
 * 2-layer bidirectional layer, ragged lengths, initial states, float64 and float32. */
static void ligru_run(const sg_cell_def *def, sg_dtype dt, double *out, double *grads, int64_t *n_out, int64_t *n_g) {
    static const int64_t len[BB] = {3, 4, 1};
    sg_model *m = sg_model_new(dt);
    sg_rnn *r = sg_rnn_new(m, NULL, &(sg_rnn_config){.def = def, .input_size = DD, .hidden_size = HH,
                                                     .num_layers = 2, .bidirectional = true});
    ck_assert_msg(r != NULL, "%s", sg_last_error());
    ck_assert_int_eq(sg_model_finalize(m, 9), 0);
    sg_tensor *x = tu_rand(dt, 3, (int64_t[]){TT, BB, DD}, -1, 1, 21, true);
    sg_tensor *h0 = tu_rand(dt, 3, (int64_t[]){4, BB, HH}, -1, 1, 22, true);
    sg_rnn_out o;
    ck_assert_int_eq(sg_rnn_forward(r, x, len, h0, NULL, &o), 0);
    sg_tensor *R = tu_rand(dt, 3, (int64_t[]){TT, BB, 2 * HH}, -1, 1, 23, false);
    sg_tensor *loss = sg_add(sg_sum_all(sg_mul(o.output, R)), sg_sum_all(sg_mul(o.h_n, o.h_n)));
    ck_assert_int_eq(sg_backward(loss), 0);
    *n_out = sg_numel(o.output);
    ck_assert_int_eq(sg_to_buffer(sg_contiguous(o.output), out, SG_F64), 0);
    sg_tensor *g = sg_model_flat_grads(m);
    *n_g = sg_numel(g);
    ck_assert_int_eq(sg_to_buffer(g, grads, SG_F64), 0);
    ck_assert_int_eq(sg_to_buffer(sg_grad(x), grads + *n_g, SG_F64), 0);
    ck_assert_int_eq(sg_to_buffer(sg_grad(h0), grads + *n_g + TT * BB * DD, SG_F64), 0);
    *n_g += TT * BB * DD + 4 * BB * HH;
    sg_tensor_free(x), sg_tensor_free(h0), sg_tensor_free(R);
    sg_model_free(m);
    tu_teardown();
}

START_TEST(ligru_fused_matches_composed) {
    enum { NMAX = 4096 };
    sg_dtype dt = _i ? SG_F32 : SG_F64;
    double tol = _i ? 1e-5 : 1e-12;
    static double o1[NMAX], o2[NMAX], g1[NMAX], g2[NMAX];
    int64_t no1, no2, ng1, ng2;
    ligru_run(&ligru_cell, dt, o1, g1, &no1, &ng1);
    ligru_run(&ligru_cell_fused, dt, o2, g2, &no2, &ng2);
    ck_assert_int_eq(no1, no2);
    ck_assert_int_eq(ng1, ng2);
    ck_assert_int_le(ng1, NMAX);
    double worst = 0;
    for (int64_t i = 0; i < no1; i++) worst = fmax(worst, fabs(o1[i] - o2[i]) / (1 + fabs(o1[i])));
    for (int64_t i = 0; i < ng1; i++) worst = fmax(worst, fabs(g1[i] - g2[i]) / (1 + fabs(g1[i])));
    ck_assert_msg(worst <= tol, "fused vs composed Light GRU (%s): worst relative difference %.3g > %.3g",
                  _i ? "f32" : "f64", worst, tol);
    double gsum = 0;
    for (int64_t i = 0; i < ng1; i++) gsum += fabs(g1[i]);
    ck_assert_double_gt(gsum, 1e-3); /* the gradients compared are not all zero */
}
END_TEST

/* without a tape: a no-grad forward (the op saves nothing then) and the streaming step (nn/stream.h,
 * the definition's ops on a recycled arena) give the composed definition's values */
START_TEST(ligru_fused_nograd_and_stream) {
    enum { STEPS = 5 };
    double ref[2][TT * BB * HH], got[2][TT * BB * HH];
    const sg_cell_def *defs[2] = {&ligru_cell, &ligru_cell_fused};
    for (int k = 0; k < 2; k++) {
        sg_model *m = sg_model_new(SG_F64);
        sg_rnn *r = sg_rnn_new(m, NULL,
                               &(sg_rnn_config){.def = defs[k], .input_size = DD, .hidden_size = HH, .num_layers = 2});
        ck_assert_int_eq(sg_model_finalize(m, 4), 0);
        sg_tensor *x = tu_rand(SG_F64, 3, (int64_t[]){TT, BB, DD}, -1, 1, 31, false);
        bool prev = sg_set_grad_enabled(false);
        sg_rnn_out o;
        ck_assert_int_eq(sg_rnn_forward(r, x, NULL, NULL, NULL, &o), 0);
        ck_assert_int_eq(sg_to_buffer(sg_contiguous(o.output), ref[k], SG_F64), 0);
        sg_set_grad_enabled(prev);
        sg_rnn_stream *st = sg_rnn_stream_new(r, BB, 0);
        ck_assert_msg(st != NULL, "%s", sg_last_error());
        const double *xp = sg_data_const(x);
        for (int64_t t = 0; t < TT; t++)
            ck_assert_int_eq(sg_rnn_stream_step_data(st, xp + t * BB * DD, got[k] + t * BB * HH), 0);
        for (int s = 0; s < STEPS; s++) ck_assert_int_eq(sg_rnn_stream_step_data(st, xp, NULL), 0); /* warm */
        sg_rnn_stream_free(st);
        sg_tensor_free(x);
        sg_model_free(m);
        tu_teardown();
    }
    for (int64_t i = 0; i < TT * BB * HH; i++) {
        ck_assert_msg(fabs(ref[1][i] - ref[0][i]) <= 1e-12, "no-grad forward, element %lld: %.17g vs %.17g",
                      (long long)i, ref[1][i], ref[0][i]);
        ck_assert_msg(fabs(got[1][i] - ref[0][i]) <= 1e-12, "stream, element %lld: %.17g vs %.17g", (long long)i,
                      got[1][i], ref[0][i]);
    }
}
END_TEST

/* the tail op's own shape check: a must be (B, 2H) for h (B, H), with the same B */
START_TEST(ligru_tail_bad_shapes) {
    sg_tensor *a = tu_rand(SG_F64, 2, (int64_t[]){3, 5}, -1, 1, 1, false);
    sg_tensor *h = tu_rand(SG_F64, 2, (int64_t[]){3, 3}, -1, 1, 2, false);
    ck_assert_ptr_null(sg_custom_op1(&LIGRU_TAIL, (sg_tensor *[]){a, h}, NULL));
    tu_assert_error(SG_ERR_SHAPE, "ligru_tail: a has 5 columns, h 3");
    sg_tensor *h2 = tu_rand(SG_F64, 2, (int64_t[]){2, 3}, -1, 1, 3, false);
    sg_tensor *a2 = tu_rand(SG_F64, 2, (int64_t[]){3, 6}, -1, 1, 4, false);
    ck_assert_ptr_null(sg_custom_op1(&LIGRU_TAIL, (sg_tensor *[]){a2, h2}, NULL));
    tu_assert_error(SG_ERR_SHAPE, "ligru_tail");
    sg_tensor_free(a), sg_tensor_free(h), sg_tensor_free(h2), sg_tensor_free(a2);
    tu_teardown();
}
END_TEST

/* fit a fixed target from a fixed sequence: the loss must fall by 10x in 200 Adam steps (targets in
 * [0.05, 0.5]: from h0 = 0 the Light GRU's states stay >= 0, a mix of ReLU outputs) */
START_TEST(ligru_learns) {
    sg_model *m = sg_model_new(SG_F32);
    sg_rnn *r = sg_rnn_new(m, NULL, &(sg_rnn_config){.def = &ligru_cell, .input_size = 2, .hidden_size = 8});
    ck_assert_int_eq(sg_model_finalize(m, 1), 0);
    sg_optim *o = sg_optim_new(m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = 0.02});
    sg_tensor *x = tu_rand(SG_F32, 3, (int64_t[]){6, 4, 2}, -1, 1, 3, false);
    sg_tensor *y = tu_rand(SG_F32, 3, (int64_t[]){1, 4, 8}, 0.05, 0.5, 4, false);
    double first = 0, last = 0;
    for (int s = 0; s < 200; s++) {
        sg_model_zero_grad(m);
        sg_rnn_out out;
        ck_assert_int_eq(sg_rnn_forward(r, x, NULL, NULL, NULL, &out), 0);
        sg_tensor *loss = sg_mse(out.h_n, y, SG_REDUCE_MEAN);
        ck_assert_int_eq(sg_backward(loss), 0);
        if (s == 0) first = sg_item(loss);
        last = sg_item(loss);
        sg_optim_step(o);
        sg_tape_clear();
    }
    ck_assert_msg(last < first / 10, "loss %g -> %g", first, last);
    sg_tensor_free(x);
    sg_tensor_free(y);
    sg_optim_free(o);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

/* ---- a cell that records the step indices, has three states and reads its xg ---- */

enum { MAX_SEEN = 64 };
static int64_t g_seen[2][MAX_SEEN];
static int g_nseen[2];

/* s0' = tanh(xg (.) xg + U s0) (its backward reads xg), s1' = s1 + s0', s2' = t */
static int three_step(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xg, sg_tensor *const *s, int64_t t,
                      sg_tensor **s_out, sg_tensor **out) {
    if (g_nseen[c->dir] < MAX_SEEN) g_seen[c->dir][g_nseen[c->dir]++] = t;
    s_out[0] = sg_tanh(sg_linear_add(s[0], p[1], NULL, sg_mul(xg, xg)));
    s_out[1] = sg_add(s[1], s_out[0]);
    s_out[2] = sg_add_scalar(sg_mul_scalar(s[2], 0.0), (double)t);
    *out = sg_mul(s_out[0], s_out[1]);
    return s_out[0] && s_out[1] && s_out[2] && *out ? SG_OK : sg_last_status();
}

static const sg_cell_def three_cell = {
    .name = "three",
    .gates = 1,
    .states = {{"h", SG_CELL_H}, {"acc", SG_CELL_H}, {"tick", SG_CELL_N(1)}},
    .params = {{"weight_ih", 2, {SG_CELL_GH, SG_CELL_D}, SG_PARAM_INPUT_WEIGHT, 0, 0, 0},
               {"weight_hh", 2, {SG_CELL_H, SG_CELL_H}, SG_PARAM_PLAIN, 0, 0, 0}},
    .step = three_step,
};

START_TEST(step_index_and_states) {
    sg_model *m = sg_model_new(SG_F64);
    sg_rnn *r = sg_rnn_new(m, "c", &(sg_rnn_config){.def = &three_cell, .input_size = DD, .hidden_size = HH,
                                                    .bidirectional = true});
    ck_assert_int_eq(sg_model_finalize(m, 2), 0);
    sg_tensor *x = tu_rand(SG_F64, 3, (int64_t[]){TT, BB, DD}, -1, 1, 9, false);
    memset(g_nseen, 0, sizeof g_nseen);
    sg_rnn_out o;
    ck_assert_int_eq(sg_rnn_forward(r, x, NULL, NULL, NULL, &o), SG_ERR_ARG); /* three states: not h0/c0 */
    tu_assert_error(SG_ERR_ARG, "sg_rnn_forward_states");
    ck_assert_int_eq(sg_rnn_forward_states(r, x, NULL, NULL, &o), 0);
    ck_assert_int_eq(g_nseen[0], TT);
    ck_assert_int_eq(g_nseen[1], TT);
    for (int s = 0; s < TT; s++) {
        ck_assert_int_eq(g_seen[0][s], s);
        ck_assert_int_eq(g_seen[1][s], TT - 1 - s);
    }
    ck_assert_int_eq(sg_ndim(o.states[2]), 3);
    ck_assert_int_eq(sg_size(o.states[2], 0), 2);
    ck_assert_int_eq(sg_size(o.states[2], 2), 1);
    ck_assert_double_eq(sg_get_flat(o.states[2], 0), TT - 1); /* forward ends at t = T-1 */
    ck_assert_double_eq(sg_get_flat(o.states[2], BB), 0);     /* reverse ends at t = 0 */
    ck_assert_ptr_eq(o.h_n, o.states[0]);
    ck_assert_ptr_eq(o.c_n, o.states[1]);
    sg_tape_clear();
    sg_tensor_free(x);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

/* The step's backward reads xg (sg_mul): the driver must keep the input products (it asks the
 * tape) and the gradients must be right, over ragged bidirectional 2-layer stacks. */
static sg_tensor *three_fn(sg_tensor *const *in, int n, void *ctx) {
    (void)n;
    sg_tensor *s0[SG_CELL_MAX_STATES] = {in[1]};
    sg_rnn_out o;
    if (sg_rnn_forward_states(ctx, in[0], (const int64_t[]){4, 1, 3}, s0, &o)) return NULL;
    sg_tensor *parts[3] = {sg_reshape(o.output, 1, (int64_t[]){-1}), sg_reshape(o.states[0], 1, (int64_t[]){-1}),
                           sg_reshape(o.states[1], 1, (int64_t[]){-1})};
    return sg_concat(3, parts, 0);
}

START_TEST(reads_xg_gradcheck) {
    sg_model *m = sg_model_new(SG_F64);
    sg_rnn *r = sg_rnn_new(m, NULL, &(sg_rnn_config){.def = &three_cell, .input_size = DD, .hidden_size = HH,
                                                     .num_layers = 2, .bidirectional = true});
    ck_assert_int_eq(sg_model_finalize(m, 4), 0);
    int np = sg_model_num_params(m);
    sg_tensor *in[2 + 8] = {tu_rand(SG_F64, 3, (int64_t[]){TT, BB, DD}, -1, 1, 1, true),
                            tu_rand(SG_F64, 3, (int64_t[]){4, BB, HH}, -1, 1, 2, true)};
    for (int i = 0; i < np; i++) in[2 + i] = sg_model_param(m, i);
    sg_gradcheck_result res;
    ck_assert_msg(sg_gradcheck(three_fn, r, in, 2 + np, NULL, &res) == 0, "%s", sg_last_error());
    ck_assert_msg(res.ok, "%s", res.message);
    sg_tensor_free(in[0]);
    sg_tensor_free(in[1]);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

/* ---- a hoist hook (layer norm of x W^T over all T at once, like an LN-LSTM's) ---- */

static sg_tensor *ln_hoist(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xp) {
    (void)c;
    return sg_layer_norm(xp, p[2], NULL, 1e-5);
}

static sg_tensor *bad_hoist(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xp) {
    (void)c, (void)p;
    return sg_narrow(xp, 2, 0, 1);
}

static int rnn_step(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xg, sg_tensor *const *s, int64_t t,
                    sg_tensor **s_out, sg_tensor **out) {
    (void)c, (void)t, (void)out;
    s_out[0] = sg_tanh(sg_linear_add(s[0], p[1], NULL, xg));
    return s_out[0] ? SG_OK : sg_last_status();
}

#define ROWS_RNN {"weight_ih", 2, {SG_CELL_GH, SG_CELL_D}, SG_PARAM_INPUT_WEIGHT, 0, 0, 0}, \
                 {"weight_hh", 2, {SG_CELL_H, SG_CELL_H}, SG_PARAM_PLAIN, 0, 0, 0}
static const sg_cell_def ln_cell = {
    .name = "ln_rnn", .gates = 1, .states = {{"h", SG_CELL_H}}, .step = rnn_step, .hoist = ln_hoist,
    .params = {ROWS_RNN, {"ln_weight", 1, {SG_CELL_GH}, SG_PARAM_PLAIN, 0, SG_CELL_INIT_CONST, 1.0}}};

START_TEST(hoist_gradcheck) {
    static const int64_t ragged[BB] = {4, 2, 3};
    sg_rnn_config cfg = {.def = &ln_cell, .input_size = DD, .hidden_size = HH, .bidirectional = true};
    gradcheck_layer(&cfg, ragged, true);
    /* the gain starts at 1 (SG_CELL_INIT_CONST) */
    sg_model *m = sg_model_new(SG_F32);
    sg_rnn *r = sg_rnn_new(m, NULL, &cfg);
    ck_assert_int_eq(sg_model_finalize(m, 1), 0);
    ck_assert_double_eq(sg_get_flat(sg_rnn_param(r, "ln_weight", 0, 1), 2), 1.0);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

/* ---- errors ---- */

static int wrong_shape_step(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xg, sg_tensor *const *s, int64_t t,
                            sg_tensor **s_out, sg_tensor **out) {
    (void)c, (void)p, (void)s, (void)t, (void)out;
    s_out[0] = xg; /* (B, G*H) with G = 2: not (B, H) */
    return SG_OK;
}

static int forgets_state_step(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xg, sg_tensor *const *s,
                              int64_t t, sg_tensor **s_out, sg_tensor **out) {
    (void)c, (void)p, (void)xg, (void)s, (void)t, (void)s_out, (void)out;
    return SG_OK;
}

static int failing_step(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xg, sg_tensor *const *s, int64_t t,
                        sg_tensor **s_out, sg_tensor **out) {
    (void)c, (void)p, (void)xg, (void)s, (void)t, (void)s_out, (void)out;
    return sg_set_error(SG_ERR_ARG, "failing_step: refused");
}

#define GOOD_W {"weight_ih", 2, {SG_CELL_GH, SG_CELL_D}, SG_PARAM_INPUT_WEIGHT, 0, 0, 0}
#define H_STATE {{"h", SG_CELL_H}}
static const struct {
    sg_cell_def def;
    sg_status status;
    const char *msg;
} BAD_DEFS[] = {
    {{.name = "no_step", .gates = 2, .states = H_STATE, .params = {GOOD_W}}, SG_ERR_NULL,
     "cell 'no_step' has no step function"},
    {{.name = "no_gates", .states = H_STATE, .params = {GOOD_W}, .step = ligru_step}, SG_ERR_ARG,
     "cell 'no_gates' has gates = 0"},
    {{.name = "no_state", .gates = 2, .params = {GOOD_W}, .step = ligru_step}, SG_ERR_ARG,
     "cell 'no_state' declares no state"},
    {{.name = "state_d", .gates = 2, .states = {{"h", SG_CELL_D}}, .params = {GOOD_W}, .step = ligru_step}, SG_ERR_ARG,
     "cell 'state_d' state 'h' has an invalid size"},
    {{.name = "no_input", .gates = 2, .states = H_STATE, .step = ligru_step,
      .params = {{"weight_hh", 2, {SG_CELL_H, SG_CELL_H}, SG_PARAM_PLAIN, 0, 0, 0}}},
     SG_ERR_ARG, "cell 'no_input' needs exactly one SG_PARAM_INPUT_WEIGHT"},
    {{.name = "input_shape", .gates = 2, .states = H_STATE, .step = ligru_step,
      .params = {{"w", 2, {SG_CELL_H, SG_CELL_D}, SG_PARAM_INPUT_WEIGHT, 0, 0, 0}}},
     SG_ERR_ARG, "cell 'input_shape' input weight 'w' must be (G*H, D)"},
    {{.name = "twice", .gates = 2, .states = H_STATE, .step = ligru_step,
      .params = {GOOD_W, {"weight_ih", 1, {SG_CELL_H}, SG_PARAM_PLAIN, 0, 0, 0}}},
     SG_ERR_ARG, "cell 'twice' declares parameter 'weight_ih' twice"},
    {{.name = "ndim3", .gates = 2, .states = H_STATE, .step = ligru_step,
      .params = {GOOD_W, {"u", 3, {SG_CELL_H}, SG_PARAM_PLAIN, 0, 0, 0}}},
     SG_ERR_ARG, "cell 'ndim3' parameter 'u' has ndim 3"},
    {{.name = "bad_sym", .gates = 2, .states = H_STATE, .step = ligru_step,
      .params = {GOOD_W, {"u", 1, {{(sg_size_sym)42, 1}}, SG_PARAM_PLAIN, 0, 0, 0}}},
     SG_ERR_ARG, "cell 'bad_sym' parameter 'u' dim 0 has an invalid size"},
};
enum { N_BAD = sizeof BAD_DEFS / sizeof BAD_DEFS[0] };

START_TEST(bad_definitions) {
    const sg_cell_def *def = &BAD_DEFS[_i].def;
    sg_model *m = sg_model_new(SG_F32);
    sg_rnn_config cfg = {.def = def, .input_size = 2, .hidden_size = 3};
    ck_assert_ptr_null(sg_rnn_new(m, "x", &cfg));
    tu_assert_error(BAD_DEFS[_i].status, BAD_DEFS[_i].msg);
    ck_assert_ptr_null(sg_rnn_cell_new(m, "x", &cfg));
    tu_assert_error(BAD_DEFS[_i].status, BAD_DEFS[_i].msg);
    ck_assert_int_eq(sg_cell_def_check(def, "test"), BAD_DEFS[_i].status);
    tu_assert_error(BAD_DEFS[_i].status, BAD_DEFS[_i].msg);
    ck_assert_int_eq(sg_model_num_params(m), 0);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

START_TEST(bad_config_for_cell) {
    sg_model *m = sg_model_new(SG_F32);
    ck_assert_ptr_null(sg_rnn_new(m, NULL, &(sg_rnn_config){.def = &ligru_cell, .input_size = 2, .hidden_size = 4, .proj_size = 2}));
    tu_assert_error(SG_ERR_ARG, "cell 'ligru' does not accept it");
    ck_assert_ptr_null(sg_rnn_new(m, NULL, &(sg_rnn_config){.def = &ligru_cell, .input_size = 2, .hidden_size = 4, .peephole = true}));
    tu_assert_error(SG_ERR_ARG, "peephole");
    ck_assert_ptr_null(sg_rnn_new(m, NULL, &(sg_rnn_config){.def = &ligru_cell, .input_size = 2, .hidden_size = 4, .set_forget_bias = true}));
    tu_assert_error(SG_ERR_ARG, "forget_bias");
    ck_assert_int_eq(sg_model_num_params(m), 0);
    /* no_bias drops the rows that depend on the bias */
    sg_rnn *r = sg_rnn_new(m, NULL, &(sg_rnn_config){.def = &ligru_cell, .input_size = 2, .hidden_size = 4, .no_bias = true});
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(sg_model_num_params(m), 2);
    ck_assert_ptr_null(sg_rnn_param(r, "bias_ih", 0, 0));
    ck_assert_ptr_null(sg_rnn_param(r, "nope", 0, 0));
    tu_assert_error(SG_ERR_ARG, "unknown parameter 'nope' (cell 'ligru')");
    sg_model_free(m);
    tu_teardown();
}
END_TEST

static const sg_cell_def wrong_shape_cell = {.name = "wrong_shape", .gates = 2, .states = {{"h", SG_CELL_H}},
                                             .params = {ROWS_RNN}, .step = wrong_shape_step};
static const sg_cell_def forgets_cell = {.name = "forgets", .gates = 1, .states = {{"h", SG_CELL_H}},
                                         .params = {ROWS_RNN}, .step = forgets_state_step};
static const sg_cell_def failing_cell = {.name = "failing", .gates = 1, .states = {{"h", SG_CELL_H}},
                                         .params = {ROWS_RNN}, .step = failing_step};
static const sg_cell_def bad_hoist_cell = {.name = "bad_hoist", .gates = 1, .states = {{"h", SG_CELL_H}},
                                           .params = {ROWS_RNN}, .step = rnn_step, .hoist = bad_hoist};

START_TEST(bad_steps) {
    static const struct {
        const sg_cell_def *def;
        sg_status status;
        const char *msg;
    } rows[] = {
        {&wrong_shape_cell, SG_ERR_SHAPE, "cell 'wrong_shape': the step must return state 'h' as (3, 4) float64, got (3,8)"},
        {&forgets_cell, SG_ERR_ARG, "cell 'forgets': the step returned success but state 'h' is NULL"},
        {&failing_cell, SG_ERR_ARG, "failing_step: refused"},
        {&bad_hoist_cell, SG_ERR_SHAPE, "cell 'bad_hoist': hoist must return (4, 3, 4)"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        sg_model *m = sg_model_new(SG_F64);
        sg_rnn_config cfg = {.def = rows[i].def, .input_size = DD, .hidden_size = HH, .bidirectional = true};
        sg_rnn *r = sg_rnn_new(m, NULL, &cfg);
        cfg.bidirectional = false;
        sg_rnn_cell *c = sg_rnn_cell_new(m, "cell", &cfg);
        ck_assert_ptr_nonnull(r);
        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(sg_model_finalize(m, 1), 0);
        sg_tensor *x = tu_rand(SG_F64, 3, (int64_t[]){TT, BB, DD}, -1, 1, 1, false);
        sg_rnn_out o;
        ck_assert_int_eq(sg_rnn_forward(r, x, NULL, NULL, NULL, &o), rows[i].status);
        tu_assert_error(rows[i].status, rows[i].msg);
        ck_assert_ptr_null(o.output);
        sg_tensor *h = NULL;
        ck_assert_int_eq(sg_rnn_cell_forward(c, sg_select(x, 0, 0), NULL, NULL, &h, NULL), rows[i].status);
        tu_assert_error(rows[i].status, rows[i].def->name);
        ck_assert_ptr_null(h);
        sg_tape_clear();
        sg_tensor_free(x);
        sg_model_free(m);
    }
    tu_teardown();
}
END_TEST

/* A stale recorded error must not fail construction; a construction that fails half-way leaves
 * no parameters behind, so a retry works. */
START_TEST(stale_error_and_rollback) {
    sg_model *m = sg_model_new(SG_F32);
    sg_set_error(SG_ERR_ARG, "an old, unrelated error");
    sg_rnn_config lstm = {.cell = SG_CELL_LSTM, .input_size = 2, .hidden_size = 3, .num_layers = 2};
    ck_assert_ptr_nonnull(sg_rnn_new(m, "a", &lstm));
    sg_set_error(SG_ERR_ARG, "an old, unrelated error");
    sg_rnn_config one = {.cell = SG_CELL_GRU, .input_size = 2, .hidden_size = 3};
    ck_assert_ptr_nonnull(sg_rnn_cell_new(m, "b", &one));
    sg_clear_error();
    int n = sg_model_num_params(m);
    ck_assert_int_eq(n, 8 + 4);
    /* "c.weight_hh_l1" taken: the layer fails at its second layer and rolls back */
    ck_assert_int_ge(sg_model_declare(m, "c.weight_hh_l1", 1, (int64_t[]){1}, SG_INIT_ZEROS, 0), 0);
    ck_assert_ptr_null(sg_rnn_new(m, "c", &lstm));
    tu_assert_error(SG_ERR_ARG, "declared twice");
    ck_assert_int_eq(sg_model_num_params(m), n + 1);
    ck_assert_ptr_nonnull(sg_rnn_new(m, "d", &lstm)); /* retry under another prefix */
    ck_assert_int_eq(sg_model_num_params(m), n + 1 + 8);
    ck_assert_int_eq(sg_model_finalize(m, 1), 0);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

/* which backend ran the last forward, and why */
START_TEST(last_backend) {
    sg_model *m = sg_model_new(SG_F32);
    sg_rnn *r = sg_rnn_new(m, NULL, &(sg_rnn_config){.cell = SG_CELL_LSTM, .input_size = 2, .hidden_size = 3,
                                                     .backend = SG_BACKEND_AUTO});
    ck_assert_int_eq(sg_model_finalize(m, 1), 0);
    const char *why;
    ck_assert_int_eq(sg_rnn_last_backend(r, &why), SG_BACKEND_DEFAULT);
    sg_tensor *x = tu_rand(SG_F32, 3, (int64_t[]){3, 2, 2}, -1, 1, 1, false);
    sg_rnn_out o;
    ck_assert_int_eq(sg_rnn_forward(r, x, (const int64_t[]){3, 1}, NULL, NULL, &o), 0);
    ck_assert_int_eq(sg_rnn_last_backend(r, &why), SG_BACKEND_COMPOSED);
    ck_assert_msg(strstr(why, sg_fused_available() ? "variable-length" : "built without oneDNN"), "%s", why);
    ck_assert_int_eq(sg_rnn_forward(r, x, NULL, NULL, NULL, &o), 0);
    ck_assert_int_eq(sg_rnn_last_backend(r, &why), sg_fused_available() ? SG_BACKEND_ONEDNN : SG_BACKEND_COMPOSED);
    sg_rnn_set_backend(r, SG_BACKEND_COMPOSED);
    ck_assert_int_eq(sg_rnn_forward(r, x, NULL, NULL, NULL, &o), 0);
    ck_assert_int_eq(sg_rnn_last_backend(r, &why), SG_BACKEND_COMPOSED);
    ck_assert_msg(strstr(why, "composed"), "%s", why);
    sg_tape_clear();
    sg_tensor_free(x);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

/* the one-step cell API runs definitions too: sg_rnn_cell_step equals the layer's first step */
START_TEST(cell_step_matches_layer) {
    sg_model *m = sg_model_new(SG_F64);
    sg_rnn_config cfg = {.def = &ligru_cell, .input_size = DD, .hidden_size = HH};
    sg_rnn *r = sg_rnn_new(m, "layer", &cfg);
    sg_rnn_cell *c = sg_rnn_cell_new(m, "cell", &cfg);
    ck_assert_int_eq(sg_model_finalize(m, 1), 0);
    for (int i = 0; i < sg_cell_num_params(&ligru_cell); i++) { /* same weights */
        sg_tensor *dst = sg_rnn_cell_param(c, ligru_cell.params[i].name), *src = sg_rnn_param(r, ligru_cell.params[i].name, 0, 0);
        for (int64_t j = 0; j < sg_numel(src); j++) sg_set_flat(dst, j, sg_get_flat(src, j));
    }
    sg_tensor *x = tu_rand(SG_F64, 3, (int64_t[]){1, BB, DD}, -1, 1, 1, false);
    sg_rnn_out o;
    ck_assert_int_eq(sg_rnn_forward(r, x, NULL, NULL, NULL, &o), 0);
    sg_tensor *s[SG_CELL_MAX_STATES], *out;
    ck_assert_int_eq(sg_rnn_cell_step(c, sg_select(x, 0, 0), NULL, 0, s, &out), 0);
    double ref[BB * HH];
    for (int i = 0; i < BB * HH; i++) ref[i] = sg_get_flat(o.h_n, i);
    tu_assert_values(s[0], ref, BB * HH, 1e-14, 1e-14);
    tu_assert_values(out, ref, BB * HH, 1e-14, 1e-14);
    ck_assert_ptr_null(sg_rnn_cell_param(c, "weight_hr"));
    tu_assert_error(SG_ERR_ARG, "cell 'ligru' has no parameter 'weight_hr'");
    sg_tape_clear();
    sg_tensor_free(x);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("custom_cell");
    TCase *t = tcase_create("cells");
    tcase_set_timeout(t, 300);
    tcase_add_loop_test(t, ligru_gradcheck_grid, 0, 2 * GRID);
    tcase_add_loop_test(t, ligru_fused_matches_composed, 0, 2);
    tcase_add_test(t, ligru_tail_bad_shapes);
    tcase_add_test(t, ligru_fused_nograd_and_stream);
    tcase_add_test(t, ligru_matches_step_loop);
    tcase_add_test(t, ligru_learns);
    tcase_add_test(t, step_index_and_states);
    tcase_add_test(t, reads_xg_gradcheck);
    tcase_add_test(t, hoist_gradcheck);
    tcase_add_loop_test(t, bad_definitions, 0, N_BAD);
    tcase_add_test(t, bad_config_for_cell);
    tcase_add_test(t, bad_steps);
    tcase_add_test(t, stale_error_and_rollback);
    tcase_add_test(t, last_backend);
    tcase_add_test(t, cell_step_matches_layer);
    suite_add_tcase(s, t);
    return tu_run(s);
}
