/* Recurrent layers and cells: float64 FULL gradcheck over the configuration grid
 * {RNN, LSTM, LSTM+peephole, LSTM+proj, GRU, GRU-original} x {uni, bi} x {1, 2 layers}
 * x {equal, ragged lengths} x {with, without initial states}, swept with tcase_add_loop_test,
 * plus padding invariance, batch_first, truncated BPTT, cells, and bad configurations. */
#include <stdlib.h>
#include <string.h>

#include "util/testutil.h"

enum { T = 4, B = 3, D = 3, H = 3, PROJ = 2, KINDS = 6, GRID = KINDS * 2 * 2 * 2 * 2, MAXIN = 64 };
static const int64_t RAGGED[B] = {4, 1, 3};

static sg_rnn_config grid_config(int i, bool *ragged, bool *states) {
    int kind = i % KINDS, rest = i / KINDS;
    sg_rnn_config c = {.input_size = D, .hidden_size = H};
    switch (kind) {
    case 0: c.cell = SG_CELL_RNN_TANH; break;
    case 1: c.cell = SG_CELL_LSTM; break;
    case 2: c.cell = SG_CELL_LSTM; c.peephole = true; break;
    case 3: c.cell = SG_CELL_LSTM; c.proj_size = PROJ; break;
    case 4: c.cell = SG_CELL_GRU; break;
    default: c.cell = SG_CELL_GRU; c.gru_reset_before = true; break;
    }
    c.bidirectional = rest & 1;
    c.num_layers = (rest & 2) ? 2 : 1;
    *ragged = rest & 4;
    *states = rest & 8;
    c.backend = SG_BACKEND_COMPOSED;
    return c;
}

typedef struct {
    sg_rnn *r;
    const int64_t *lengths;
    bool states, lstm;
} fctx;

/* in: x, [h0, (c0)], params... -> concat(flat output, flat h_n, flat c_n) */
static sg_tensor *rnn_fn(sg_tensor *const *in, int n, void *vc) {
    (void)n;
    fctx *c = vc;
    sg_rnn_out o;
    sg_tensor *h0 = c->states ? in[1] : NULL, *c0 = (c->states && c->lstm) ? in[2] : NULL;
    if (sg_rnn_forward(c->r, in[0], c->lengths, h0, c0, &o)) return NULL;
    int64_t flat[] = {-1};
    sg_tensor *parts[3] = {sg_reshape(o.output, 1, flat), sg_reshape(o.h_n, 1, flat), NULL};
    int np = 2;
    if (o.c_n) parts[np++] = sg_reshape(o.c_n, 1, flat);
    return sg_concat(np, parts, 0);
}

START_TEST(grid_gradcheck) {
    bool ragged, states;
    sg_rnn_config cfg = grid_config(_i, &ragged, &states);
    sg_model *m = sg_model_new(SG_F64);
    sg_rnn *r = sg_rnn_new(m, NULL, &cfg);
    ck_assert_msg(r && sg_model_finalize(m, 100 + (uint64_t)_i) == 0, "%s", sg_last_error());
    int dirs = cfg.bidirectional ? 2 : 1, L = cfg.num_layers;
    int64_t P = cfg.proj_size ? cfg.proj_size : H;
    fctx c = {r, ragged ? RAGGED : NULL, states, cfg.cell == SG_CELL_LSTM};
    sg_tensor *in[MAXIN];
    int n = 0;
    in[n++] = tu_rand(SG_F64, 3, (int64_t[]){T, B, D}, -1, 1, 7, true);
    if (states) {
        in[n++] = tu_rand(SG_F64, 3, (int64_t[]){L * dirs, B, P}, -1, 1, 8, true);
        if (c.lstm) in[n++] = tu_rand(SG_F64, 3, (int64_t[]){L * dirs, B, H}, -1, 1, 9, true);
    }
    int nuser = n;
    for (int i = 0; i < sg_model_num_params(m); i++) in[n++] = sg_model_param(m, i);
    sg_gradcheck_result res;
    int rc = sg_gradcheck(rnn_fn, &c, in, n, NULL, &res);
    ck_assert_msg(rc == 0, "config %d: %s", _i, sg_last_error());
    ck_assert_msg(res.ok, "config %d (cell %d peep %d proj %lld reset_before %d bi %d L %d ragged %d states %d): %s", _i,
                  cfg.cell, cfg.peephole, (long long)cfg.proj_size, cfg.gru_reset_before, cfg.bidirectional, L, ragged,
                  states, res.message);
    for (int i = 0; i < nuser; i++) sg_tensor_free(in[i]);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

/* The same sequences padded to T and to T+2 with different garbage give identical outputs on the
 * valid steps, identical h_n/c_n and identical parameter and input gradients; padded steps get
 * exactly zero output and zero input gradient. */
START_TEST(padding_invariance) {
    const int64_t T2 = T + 2;
    for (int kind = 0; kind < 3; kind++) {
        sg_rnn_config cfg = {.cell = kind == 0 ? SG_CELL_LSTM : kind == 1 ? SG_CELL_GRU : SG_CELL_RNN_TANH,
                             .input_size = D, .hidden_size = H, .num_layers = 2, .bidirectional = true,
                             .backend = SG_BACKEND_COMPOSED};
        sg_model *m = sg_model_new(SG_F64);
        sg_rnn *r = sg_rnn_new(m, NULL, &cfg);
        ck_assert_int_eq(sg_model_finalize(m, 5), 0);
        sg_tensor *xa = tu_rand(SG_F64, 3, (int64_t[]){T, B, D}, -1, 1, 1, true);
        sg_tensor *xb = tu_rand(SG_F64, 3, (int64_t[]){T2, B, D}, -5, 5, 2, true); /* garbage */
        for (int64_t t = 0; t < T; t++)
            for (int64_t b = 0; b < B; b++)
                for (int64_t d = 0; d < D; d++)
                    if (t < RAGGED[b]) sg_set_flat(xb, (t * B + b) * D + d, sg_get_flat(xa, (t * B + b) * D + d));
        sg_tensor *ga = NULL, *gb = NULL, *outs[2], *hns[2];
        double *pg[2];
        int64_t np = sg_numel(sg_model_flat_grads(m));
        for (int v = 0; v < 2; v++) {
            sg_model_zero_grad(m);
            sg_rnn_out o;
            ck_assert_int_eq(sg_rnn_forward(r, v ? xb : xa, RAGGED, NULL, NULL, &o), 0);
            /* loss weights only the valid region, identical for both paddings */
            sg_tensor *valid = sg_narrow(o.output, 0, 0, T);
            sg_tensor *w = tu_rand(SG_F64, 3, (int64_t[]){T, B, 2 * H}, -1, 1, 3, false);
            sg_tensor *loss = sg_add(sg_sum_all(sg_mul(valid, w)), sg_sum_all(o.h_n));
            ck_assert_int_eq(sg_backward(loss), 0);
            outs[v] = sg_copy(o.output);
            hns[v] = sg_copy(o.h_n);
            pg[v] = malloc((size_t)np * sizeof(double));
            sg_to_buffer(sg_model_flat_grads(m), pg[v], SG_F64);
            sg_tensor_free(w);
            sg_tape_clear();
        }
        ga = sg_grad(xa);
        gb = sg_grad(xb);
        for (int64_t i = 0; i < np; i++) ck_assert_msg(fabs(pg[0][i] - pg[1][i]) <= 1e-12 * (1 + fabs(pg[0][i])),
                                                        "param grad %lld differs: %g vs %g", (long long)i, pg[0][i], pg[1][i]);
        for (int64_t i = 0; i < sg_numel(hns[0]); i++)
            ck_assert_double_eq_tol(sg_get_flat(hns[0], i), sg_get_flat(hns[1], i), 1e-12);
        for (int64_t t = 0; t < T2; t++)
            for (int64_t b = 0; b < B; b++)
                for (int64_t j = 0; j < 2 * H; j++) {
                    double vb = sg_get_flat(outs[1], (t * B + b) * 2 * H + j);
                    if (t >= RAGGED[b]) ck_assert_msg(vb == 0.0, "padded output (%lld,%lld) = %g", (long long)t, (long long)b, vb);
                    else ck_assert_double_eq_tol(vb, sg_get_flat(outs[0], (t * B + b) * 2 * H + j), 1e-12);
                }
        for (int64_t t = 0; t < T2; t++)
            for (int64_t b = 0; b < B; b++)
                for (int64_t d = 0; d < D; d++) {
                    double g2 = sg_get_flat(gb, (t * B + b) * D + d);
                    if (t >= RAGGED[b]) ck_assert_msg(g2 == 0.0, "padded input got gradient %g", g2);
                    else ck_assert_double_eq_tol(g2, sg_get_flat(ga, (t * B + b) * D + d), 1e-12);
                }
        for (int v = 0; v < 2; v++) {
            sg_tensor_free(outs[v]);
            sg_tensor_free(hns[v]);
            free(pg[v]);
        }
        sg_tensor_free(xa);
        sg_tensor_free(xb);
        sg_model_free(m);
        tu_teardown();
    }
}
END_TEST

/* batch_first gives the transposed output of the time-major layer with the same weights. */
START_TEST(batch_first_matches) {
    sg_rnn_config cfg = {.cell = SG_CELL_GRU, .input_size = D, .hidden_size = H, .bidirectional = true};
    sg_model *m1 = sg_model_new(SG_F64), *m2 = sg_model_new(SG_F64);
    sg_rnn *r1 = sg_rnn_new(m1, NULL, &cfg);
    cfg.batch_first = true;
    sg_rnn *r2 = sg_rnn_new(m2, NULL, &cfg);
    sg_model_finalize(m1, 3);
    sg_model_finalize(m2, 3); /* same seed, same declaration order: same weights */
    sg_tensor *x = tu_rand(SG_F64, 3, (int64_t[]){T, B, D}, -1, 1, 4, false);
    sg_rnn_out o1, o2;
    ck_assert_int_eq(sg_rnn_forward(r1, x, RAGGED, NULL, NULL, &o1), 0);
    ck_assert_int_eq(sg_rnn_forward(r2, sg_contiguous(sg_transpose(x, 0, 1)), RAGGED, NULL, NULL, &o2), 0);
    sg_tensor *o2t = sg_contiguous(sg_transpose(o2.output, 0, 1));
    for (int64_t i = 0; i < sg_numel(o1.output); i++) ck_assert_double_eq(sg_get_flat(o1.output, i), sg_get_flat(o2t, i));
    for (int64_t i = 0; i < sg_numel(o1.h_n); i++) ck_assert_double_eq(sg_get_flat(o1.h_n, i), sg_get_flat(o2.h_n, i));
    sg_tensor_free(x);
    sg_model_free(m1);
    sg_model_free(m2);
    tu_teardown();
}
END_TEST

/* Truncated BPTT: running 2+2 steps with the state carried (sg_copy) gives the full 4-step forward,
 * and the second chunk's gradients stop at the carried state. */
START_TEST(tbptt_chunks) {
    sg_rnn_config cfg = {.cell = SG_CELL_LSTM, .input_size = D, .hidden_size = H};
    sg_model *m = sg_model_new(SG_F64);
    sg_rnn *r = sg_rnn_new(m, NULL, &cfg);
    sg_model_finalize(m, 9);
    sg_tensor *x = tu_rand(SG_F64, 3, (int64_t[]){T, B, D}, -1, 1, 5, false);
    sg_rnn_out full, a, b;
    ck_assert_int_eq(sg_rnn_forward(r, x, NULL, NULL, NULL, &full), 0);
    sg_tensor *full_out = sg_copy(full.output);
    sg_tape_clear();
    ck_assert_int_eq(sg_rnn_forward(r, sg_narrow(x, 0, 0, 2), NULL, NULL, NULL, &a), 0);
    sg_tensor *h = sg_copy(a.h_n), *c = sg_copy(a.c_n);
    sg_tape_clear();
    sg_set_requires_grad(h, true);
    ck_assert_int_eq(sg_rnn_forward(r, sg_narrow(x, 0, 2, 2), NULL, h, c, &b), 0);
    for (int64_t i = 0; i < sg_numel(b.output); i++)
        ck_assert_double_eq_tol(sg_get_flat(b.output, i), sg_get_flat(full_out, 2 * B * H + i), 1e-14);
    ck_assert_int_eq(sg_backward(sg_sum_all(b.output)), 0);
    ck_assert_ptr_nonnull(sg_grad(h)); /* the carried state is a leaf of this chunk */
    sg_tensor_free(h);
    sg_tensor_free(c);
    sg_tensor_free(full_out);
    sg_tensor_free(x);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

typedef struct {
    sg_rnn_cell *cell;
    bool lstm;
} cctx;
static sg_tensor *cell_fn(sg_tensor *const *in, int n, void *vc) {
    (void)n;
    cctx *c = vc;
    sg_tensor *h, *cc = NULL;
    if (sg_rnn_cell_forward(c->cell, in[0], in[1], c->lstm ? in[2] : NULL, &h, c->lstm ? &cc : NULL)) return NULL;
    return cc ? sg_concat(2, (sg_tensor *[]){h, cc}, 1) : h;
}

START_TEST(cells_gradcheck) {
    for (int kind = 0; kind < KINDS + 1; kind++) {
        bool r, s;
        sg_rnn_config cfg = grid_config(kind % KINDS, &r, &s);
        if (kind == KINDS) cfg.cell = SG_CELL_RNN_RELU;
        cfg.backend = SG_BACKEND_DEFAULT;
        sg_model *m = sg_model_new(SG_F64);
        cctx c = {sg_rnn_cell_new(m, "cell", &cfg), cfg.cell == SG_CELL_LSTM};
        ck_assert_msg(c.cell && sg_model_finalize(m, 1) == 0, "%s", sg_last_error());
        int64_t P = cfg.proj_size ? cfg.proj_size : H;
        sg_tensor *in[MAXIN];
        int n = 0;
        in[n++] = tu_rand(SG_F64, 2, (int64_t[]){B, D}, -1, 1, 1, true);
        in[n++] = tu_rand(SG_F64, 2, (int64_t[]){B, P}, -1, 1, 2, true);
        if (c.lstm) in[n++] = tu_rand(SG_F64, 2, (int64_t[]){B, H}, -1, 1, 3, true);
        int nuser = n;
        for (int i = 0; i < sg_model_num_params(m); i++) in[n++] = sg_model_param(m, i);
        sg_gradcheck_result res;
        ck_assert_int_eq(sg_gradcheck(cell_fn, &c, in, n, NULL, &res), 0);
        ck_assert_msg(res.ok, "cell kind %d: %s", kind, res.message);
        for (int i = 0; i < nuser; i++) sg_tensor_free(in[i]);
        sg_model_free(m);
        tu_teardown();
    }
}
END_TEST

START_TEST(bad_configs) {
    sg_model *m = sg_model_new(SG_F32);
    sg_rnn_config c = {.cell = SG_CELL_LSTM, .input_size = D, .hidden_size = 0};
    ck_assert_ptr_null(sg_rnn_new(m, NULL, &c));
    tu_assert_error(SG_ERR_ARG, "hidden_size");
    c.hidden_size = H;
    c.proj_size = H;
    ck_assert_ptr_null(sg_rnn_new(m, NULL, &c));
    tu_assert_error(SG_ERR_ARG, "proj_size");
    c.proj_size = 0;
    c.dropout = 1.0;
    ck_assert_ptr_null(sg_rnn_new(m, NULL, &c));
    tu_assert_error(SG_ERR_ARG, "dropout");
    c.dropout = 0;
    sg_rnn_config g = {.cell = SG_CELL_GRU, .input_size = D, .hidden_size = H, .peephole = true};
    ck_assert_ptr_null(sg_rnn_new(m, NULL, &g));
    tu_assert_error(SG_ERR_ARG, "peephole");
    sg_rnn *r = sg_rnn_new(m, NULL, &c);
    ck_assert_ptr_nonnull(r);
    sg_rnn_out o;
    sg_tensor *x = sg_zeros(SG_F32, 3, (int64_t[]){T, B, D});
    ck_assert_int_eq(sg_rnn_forward(r, x, NULL, NULL, NULL, &o), SG_ERR_STATE); /* not finalized */
    tu_assert_error(SG_ERR_STATE, "finalize");
    ck_assert_int_eq(sg_model_finalize(m, 1), 0);
    sg_tensor *xbad = sg_zeros(SG_F32, 3, (int64_t[]){T, B, D + 1});
    ck_assert_int_eq(sg_rnn_forward(r, xbad, NULL, NULL, NULL, &o), SG_ERR_SHAPE);
    tu_assert_error(SG_ERR_SHAPE, "input_size 3");
    ck_assert_int_eq(sg_rnn_forward(r, x, (int64_t[]){4, 0, 2}, NULL, NULL, &o), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "lengths[1] = 0");
    ck_assert_int_eq(sg_rnn_forward(r, x, (int64_t[]){4, 5, 2}, NULL, NULL, &o), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "lengths[1] = 5");
    sg_tensor *h0 = sg_zeros(SG_F32, 3, (int64_t[]){2, B, H});
    ck_assert_int_eq(sg_rnn_forward(r, x, NULL, h0, NULL, &o), SG_ERR_SHAPE);
    tu_assert_error(SG_ERR_SHAPE, "h0 must be (1, 3, 3)");
    sg_tensor *x64 = sg_zeros(SG_F64, 3, (int64_t[]){T, B, D});
    ck_assert_int_eq(sg_rnn_forward(r, x64, NULL, NULL, NULL, &o), SG_ERR_DTYPE);
    tu_assert_error(SG_ERR_DTYPE, "float64");
    ck_assert_ptr_null(o.output);
    sg_tensor *fr[] = {x, xbad, h0, x64};
    for (int i = 0; i < 4; i++) sg_tensor_free(fr[i]);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

/* Names and shapes follow PyTorch's state_dict order. */
START_TEST(param_names) {
    sg_model *m = sg_model_new(SG_F32);
    sg_rnn_config c = {.cell = SG_CELL_LSTM, .input_size = 5, .hidden_size = 4, .num_layers = 2,
                       .bidirectional = true, .proj_size = 3};
    ck_assert_ptr_nonnull(sg_rnn_new(m, "lstm", &c));
    ck_assert_int_eq(sg_model_finalize(m, 0), 0);
    static const char *names[] = {"lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0",
                                  "lstm.weight_hr_l0", "lstm.weight_ih_l0_reverse", "lstm.weight_hh_l0_reverse",
                                  "lstm.bias_ih_l0_reverse", "lstm.bias_hh_l0_reverse", "lstm.weight_hr_l0_reverse",
                                  "lstm.weight_ih_l1"};
    for (int i = 0; i < (int)(sizeof names / sizeof *names); i++) ck_assert_str_eq(sg_model_param_name(m, i), names[i]);
    ck_assert_int_eq(sg_model_num_params(m), 20);
    sg_tensor *w = sg_model_find(m, "lstm.weight_ih_l1");
    ck_assert_int_eq(sg_size(w, 0), 16);
    ck_assert_int_eq(sg_size(w, 1), 6); /* dirs * proj */
    ck_assert_int_eq(sg_size(sg_model_find(m, "lstm.weight_hh_l1_reverse"), 1), 3);
    /* PyTorch init bound 1/sqrt(H) */
    for (int i = 0; i < sg_model_num_params(m); i++) {
        sg_tensor *p = sg_model_param(m, i);
        for (int64_t j = 0; j < sg_numel(p); j++) ck_assert(fabs(sg_get_flat(p, j)) <= 0.5);
    }
    sg_model_free(m);
    tu_teardown();
}
END_TEST

START_TEST(forget_bias) {
    sg_model *m = sg_model_new(SG_F32);
    sg_rnn_config c = {.cell = SG_CELL_LSTM, .input_size = 2, .hidden_size = 3, .set_forget_bias = true, .forget_bias = 1.0};
    sg_rnn *r = sg_rnn_new(m, NULL, &c);
    ck_assert_int_eq(sg_model_finalize(m, 0), 0);
    sg_tensor *bi = sg_rnn_param(r, "bias_ih", 0, 0), *bh = sg_rnn_param(r, "bias_hh", 0, 0);
    for (int j = 3; j < 6; j++) {
        ck_assert_double_eq(sg_get_flat(bi, j), 1.0);
        ck_assert_double_eq(sg_get_flat(bh, j), 0.0);
    }
    ck_assert(sg_get_flat(bi, 0) != 1.0);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("rnn_grad");
    TCase *t = tcase_create("rnn");
    tcase_set_timeout(t, 600);
    tcase_add_loop_test(t, grid_gradcheck, 0, GRID);
    tcase_add_test(t, padding_invariance);
    tcase_add_test(t, batch_first_matches);
    tcase_add_test(t, tbptt_chunks);
    tcase_add_test(t, cells_gradcheck);
    tcase_add_test(t, bad_configs);
    tcase_add_test(t, param_names);
    tcase_add_test(t, forget_bias);
    suite_add_tcase(s, t);
    return tu_run(s);
}
