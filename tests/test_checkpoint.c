/* Checkpoints (io/checkpoint.h): PyTorch interop both ways (a torch.nn.LSTM state_dict fixture loads
 * into seqgrad and reproduces torch's output; a seqgrad checkpoint loads into torch.nn.LSTM with
 * load_state_dict(strict=True), checked by tools/check_ckpt_torch.py when /usr/bin/python3 has torch,
 * otherwise reported as skipped), save -> load round trips and bitwise-identical resumed training,
 * metadata, exact mismatch reports, and corrupt, truncated or missing files leaving everything
 * untouched. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/testutil.h"

enum { NET_D = 3, NET_T = 4, NET_B = 2, TORCH_D = 4, TORCH_H = 3, TORCH_L = 2, TORCH_T = 5, TORCH_B = 2 };
#define TOL_F64 1e-10
#define TOL_F32 1e-5
#define PYTHON "/usr/bin/python3"

/* ---- per-test scratch directory (Check forks each test: setup/teardown run in the child) ---- */

static char g_dir[512];

static void scratch_setup(void) {
    const char *b = getenv("SEQGRAD_BUILD_DIR");
    snprintf(g_dir, sizeof g_dir, "%s/test_checkpoint_XXXXXX", b ? b : "/tmp");
    ck_assert_msg(mkdtemp(g_dir) != NULL, "mkdtemp %s failed", g_dir);
}

static void scratch_teardown(void) {
    DIR *d = opendir(g_dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
            remove(p);
        }
    closedir(d);
    rmdir(g_dir);
}

static const char *tpath(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", g_dir, name);
    return buf;
}

static const char *fixture(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/tests/fixtures/%s.safetensors", tu_source_dir(), name);
    return buf;
}

/* ---- a small network: x (T,B,3) -> LSTM "<prefix>" (H) -> Linear "fc" (H -> 1) ---- */

typedef struct {
    sg_model *m;
    sg_rnn *lstm;
    sg_linear_layer *fc;
} net_t;

static net_t net_new(sg_dtype dt, const char *prefix, int64_t H, uint64_t seed) {
    net_t n = {.m = sg_model_new(dt)};
    sg_rnn_config cfg = {.cell = SG_CELL_LSTM, .input_size = NET_D, .hidden_size = H, .backend = SG_BACKEND_COMPOSED};
    n.lstm = sg_rnn_new(n.m, prefix, &cfg);
    n.fc = sg_linear_layer_new(n.m, "fc", H, 1, true);
    ck_assert_msg(n.lstm && n.fc && sg_model_finalize(n.m, seed) == 0, "%s", sg_last_error());
    return n;
}

static void train(net_t *n, sg_optim *o, sg_tensor *x, sg_tensor *target, int steps) {
    for (int k = 0; k < steps; k++) {
        sg_optim_zero_grad(o);
        sg_rnn_out out;
        ck_assert_int_eq(sg_rnn_forward(n->lstm, x, NULL, NULL, NULL, &out), 0);
        sg_tensor *loss = sg_mse(sg_linear_layer_forward(n->fc, out.output), target, SG_REDUCE_MEAN);
        ck_assert_msg(sg_backward(loss) == 0, "%s", sg_last_error());
        ck_assert_int_eq(sg_optim_step(o), 0);
        sg_tape_clear();
    }
}

static void net_data(sg_dtype dt, sg_tensor **x, sg_tensor **target) {
    *x = tu_rand(dt, 3, (int64_t[]){NET_T, NET_B, NET_D}, -1, 1, 11, false);
    *target = tu_rand(dt, 3, (int64_t[]){NET_T, NET_B, 1}, -1, 1, 12, false);
}

/* ---- bitwise snapshots of a model's parameters and an optimizer's state ---- */

enum { SNAP_MAX = 4 };
typedef struct {
    sg_tensor *t[SNAP_MAX];
    int n;
} snap_t;

static snap_t snap(sg_model *m, sg_optim *o) {
    snap_t s = {.n = 1};
    s.t[0] = sg_copy(sg_model_flat_params(m));
    for (int i = 0; o && i < sg_optim_state_count(o); i++) s.t[s.n++] = sg_copy(sg_optim_state(o, i));
    return s;
}

static bool same_bits(const sg_tensor *a, const sg_tensor *b) {
    return sg_numel(a) == sg_numel(b) && sg_dtype_of(a) == sg_dtype_of(b) &&
           !memcmp(sg_data_const(a), sg_data_const(b), (size_t)sg_numel(a) * sg_dtype_size(sg_dtype_of(a)));
}

static void expect_snap(const snap_t *s, sg_model *m, sg_optim *o, const char *what) {
    snap_t now = snap(m, o);
    ck_assert_int_eq(now.n, s->n);
    for (int i = 0; i < s->n; i++) ck_assert_msg(same_bits(s->t[i], now.t[i]), "%s: buffer %d differs", what, i);
    for (int i = 0; i < now.n; i++) sg_tensor_free(now.t[i]);
}

static void snap_free(snap_t *s) {
    for (int i = 0; i < s->n; i++) sg_tensor_free(s->t[i]);
}

static void expect_close(const sg_tensor *ref, const sg_tensor *x, double tol, const char *what) {
    ck_assert_msg(ref && x && sg_numel(ref) == sg_numel(x), "%s: missing or wrong size (%s)", what, sg_last_error());
    for (int64_t i = 0; i < sg_numel(ref); i++) {
        double r = sg_get_flat(ref, i), v = sg_get_flat(x, i);
        ck_assert_msg(fabs(r - v) <= tol * (1 + fabs(r)), "%s[%lld]: torch %.12g seqgrad %.12g", what, (long long)i, r, v);
    }
}

/* ---- PyTorch -> seqgrad ---- */

static sg_rnn *torch_lstm(sg_model *m) {
    sg_rnn_config cfg = {.cell = SG_CELL_LSTM, .input_size = TORCH_D, .hidden_size = TORCH_H, .num_layers = TORCH_L,
                         .bidirectional = true, .backend = SG_BACKEND_COMPOSED};
    sg_rnn *r = sg_rnn_new(m, NULL, &cfg);
    ck_assert_msg(r && sg_model_finalize(m, 5) == 0, "%s", sg_last_error());
    return r;
}

START_TEST(torch_state_dict_loads) {
    sg_dtype dt = _i ? SG_F32 : SG_F64;
    char p[1024], q[1024];
    sg_model *m = sg_model_new(dt);
    sg_rnn *r = torch_lstm(m);
    ck_assert_msg(sg_checkpoint_load(fixture(p, sizeof p, "ckpt_torch_lstm"), m, NULL) == 0, "%s", sg_last_error());
    sg_st_file *io = sg_st_open(fixture(q, sizeof q, "ckpt_torch_lstm_io"));
    ck_assert_msg(io != NULL, "%s", sg_last_error());
    ck_assert_int_eq(atoi(sg_st_meta(io, "hidden_size")), TORCH_H);
    sg_tensor *x = sg_st_get(io, "x", dt), *ref[3];
    sg_rnn_out o;
    ck_assert_int_eq(sg_rnn_forward(r, x, NULL, NULL, NULL, &o), 0);
    const char *names[] = {"output", "h_n", "c_n"};
    sg_tensor *got[] = {o.output, o.h_n, o.c_n};
    for (int i = 0; i < 3; i++) {
        ref[i] = sg_st_get(io, names[i], SG_F64);
        expect_close(ref[i], got[i], dt == SG_F64 ? TOL_F64 : TOL_F32, names[i]);
        sg_tensor_free(ref[i]);
    }
    sg_tensor_free(x);
    sg_st_close(io);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

/* ---- seqgrad -> PyTorch ---- */

static bool python_has_torch(void) { return system(PYTHON " -c 'import torch' >/dev/null 2>&1") == 0; }

static int run_checker(const char *ckpt, const char *io) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, PYTHON " '%s/tools/check_ckpt_torch.py' '%s' '%s'", tu_source_dir(), ckpt, io);
    return system(cmd);
}

static void write_io(const char *path, sg_tensor *x, sg_rnn_out *o, double perturb) {
    sg_st_writer *w = sg_st_writer_new();
    sg_tensor *out = sg_copy(o->output);
    sg_set_flat(out, 3, sg_get_flat(out, 3) + perturb);
    ck_assert_int_eq(sg_st_writer_add(w, "x", x), 0);
    ck_assert_int_eq(sg_st_writer_add(w, "output", out), 0);
    ck_assert_int_eq(sg_st_writer_add(w, "h_n", o->h_n), 0);
    ck_assert_int_eq(sg_st_writer_add(w, "c_n", o->c_n), 0);
    char v[32];
    const char *keys[] = {"input_size", "hidden_size", "num_layers", "bidirectional"};
    const int vals[] = {TORCH_D, TORCH_H, TORCH_L, 1};
    for (int i = 0; i < 4; i++) {
        snprintf(v, sizeof v, "%d", vals[i]);
        sg_st_writer_meta(w, keys[i], v);
    }
    ck_assert_msg(sg_st_writer_save(w, path) == 0, "%s", sg_last_error());
    sg_tensor_free(out);
    sg_st_writer_free(w);
}

START_TEST(seqgrad_checkpoint_loads_in_torch) {
    char ck[1024], io[1024], bad[1024];
    sg_model *m = sg_model_new(SG_F32);
    sg_rnn *r = torch_lstm(m);
    sg_tensor *x = tu_rand(SG_F32, 3, (int64_t[]){TORCH_T, TORCH_B, TORCH_D}, -1, 1, 3, false);
    sg_rnn_out o;
    ck_assert_int_eq(sg_rnn_forward(r, x, NULL, NULL, NULL, &o), 0);
    const char *meta[] = {"epoch", "3", NULL};
    ck_assert_msg(sg_checkpoint_save(tpath(ck, sizeof ck, "lstm.safetensors"), m, NULL, meta) == 0, "%s",
                  sg_last_error());
    write_io(tpath(io, sizeof io, "io.safetensors"), x, &o, 0);
    write_io(tpath(bad, sizeof bad, "io_bad.safetensors"), x, &o, 1e-3);
    /* without an optimizer the file is exactly the state_dict: the names and nothing else */
    sg_st_file *f = sg_st_open(ck);
    ck_assert_int_eq(sg_st_count(f), sg_model_num_params(m));
    for (int i = 0; i < sg_model_num_params(m); i++) {
        int j = sg_st_find(f, sg_model_param_name(m, i));
        ck_assert_int_ge(j, 0);
        ck_assert_str_eq(sg_st_dtype(f, j), "F32");
    }
    ck_assert_int_ge(sg_st_find(f, "weight_hh_l1_reverse"), 0);
    ck_assert_str_eq(sg_st_meta(f, "epoch"), "3");
    ck_assert_str_eq(sg_st_meta(f, "seqgrad.checkpoint"), SG_CKPT_FORMAT);
    sg_st_close(f);
    if (!python_has_torch()) {
        fprintf(stderr, "seqgrad_checkpoint_loads_in_torch: SKIPPED the PyTorch side (" PYTHON
                        " cannot import torch); the file checks above ran\n");
    } else {
        ck_assert_msg(run_checker(ck, io) == 0, "torch could not load the checkpoint or disagrees (see stderr)");
        ck_assert_msg(run_checker(ck, bad) != 0, "negative control: a perturbed output was accepted");
    }
    sg_tensor_free(x);
    sg_model_free(m);
    sg_clear_error();
    tu_teardown();
}
END_TEST

/* ---- round trip and resumed training ---- */

static const sg_optim_config RESUME_CFGS[] = {
    {.kind = SG_OPT_SGD, .lr = 0.1, .momentum = 0.9, .dampening = 0.1},
    {.kind = SG_OPT_ADAM, .lr = 0.01, .weight_decay = 0.01},
    {.kind = SG_OPT_RMSPROP, .lr = 0.01, .momentum = 0.5, .centered = true},
};
enum { N_RESUME = sizeof RESUME_CFGS / sizeof *RESUME_CFGS, STEPS_BEFORE = 2, STEPS_AFTER = 3 };

static void resume_case(const sg_optim_config *cfg, sg_dtype dt) {
    char ck[1024];
    sg_tensor *x, *target;
    net_data(dt, &x, &target);
    net_t a = net_new(dt, "lstm", 4, 1);
    sg_optim *oa = sg_optim_new(a.m, cfg);
    train(&a, oa, x, target, STEPS_BEFORE);
    ck_assert_int_eq(sg_optim_set_lr(oa, cfg->lr * 0.7), 0); /* a schedule moved it: must come back */
    const char *meta[] = {"epoch", "2", "note", "hello", NULL};
    ck_assert_msg(sg_checkpoint_save(tpath(ck, sizeof ck, "a.safetensors"), a.m, oa, meta) == 0, "%s", sg_last_error());
    snap_t saved = snap(a.m, oa);
    train(&a, oa, x, target, STEPS_AFTER);
    snap_t uninterrupted = snap(a.m, oa);

    net_t b = net_new(dt, "lstm", 4, 99); /* other initial values */
    sg_optim *ob = sg_optim_new(b.m, cfg);
    ck_assert_msg(sg_checkpoint_load(ck, b.m, ob) == 0, "%s", sg_last_error());
    expect_snap(&saved, b.m, ob, "after load");
    ck_assert_int_eq(sg_optim_steps(ob), STEPS_BEFORE);
    ck_assert_msg(sg_optim_lr(ob) == cfg->lr * 0.7, "lr %.17g not restored", sg_optim_lr(ob));
    train(&b, ob, x, target, STEPS_AFTER);
    expect_snap(&uninterrupted, b.m, ob, "resumed training");

    /* metadata */
    char buf[16];
    ck_assert_int_eq(sg_checkpoint_meta(ck, "epoch", buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "2");
    ck_assert_int_eq(sg_checkpoint_meta(ck, "note", buf, 3), 5); /* truncated like snprintf */
    ck_assert_str_eq(buf, "he");
    ck_assert_int_eq(sg_checkpoint_meta(ck, "note", NULL, 0), 5);
    ck_assert_int_eq(sg_checkpoint_meta(ck, "optim.kind", buf, sizeof buf), (int)strlen(sg_opt_kind_name(cfg->kind)));
    ck_assert_str_eq(buf, sg_opt_kind_name(cfg->kind));
    ck_assert_int_eq(sg_checkpoint_meta(ck, "optim.steps", buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "2");

    /* the model alone from a training checkpoint: the optimizer section is skipped */
    net_t c = net_new(dt, "lstm", 4, 5);
    ck_assert_msg(sg_checkpoint_load(ck, c.m, NULL) == 0, "%s", sg_last_error());
    ck_assert(same_bits(saved.t[0], sg_model_flat_params(c.m)));

    snap_free(&saved);
    snap_free(&uninterrupted);
    sg_optim_free(oa);
    sg_optim_free(ob);
    sg_model_free(a.m);
    sg_model_free(b.m);
    sg_model_free(c.m);
    sg_tensor_free(x);
    sg_tensor_free(target);
    tu_teardown();
}

START_TEST(resume_f64) { resume_case(&RESUME_CFGS[_i], SG_F64); }
END_TEST
START_TEST(resume_f32) { resume_case(&RESUME_CFGS[_i], SG_F32); }
END_TEST

/* Loading through an opened file: metadata and parameters from one read. */
START_TEST(load_from_open_file) {
    char ck[1024];
    net_t a = net_new(SG_F64, "lstm", 4, 1), b = net_new(SG_F64, "lstm", 4, 2);
    const char *meta[] = {"epoch", "12", NULL};
    ck_assert_int_eq(sg_checkpoint_save(tpath(ck, sizeof ck, "a.safetensors"), a.m, NULL, meta), 0);
    sg_st_file *f = sg_st_open(ck);
    ck_assert_str_eq(sg_st_meta(f, "epoch"), "12");
    ck_assert_msg(sg_checkpoint_load_st(f, b.m, NULL) == 0, "%s", sg_last_error());
    ck_assert(same_bits(sg_model_flat_params(a.m), sg_model_flat_params(b.m)));
    sg_st_close(f);
    ck_assert_int_eq(sg_checkpoint_load_st(NULL, b.m, NULL), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'f'");
    sg_model_free(a.m);
    sg_model_free(b.m);
    tu_teardown();
}
END_TEST

/* ---- mismatches: exact reports, nothing loaded ---- */

/* Loads path into m (and o), expects status st with every string of must[] in the message, and
 * m / o unchanged. */
static void expect_load_fails(const char *path, sg_model *m, sg_optim *o, sg_status st, const char *const *must) {
    snap_t before = snap(m, o);
    int64_t steps = sg_optim_steps(o);
    double lr = sg_optim_lr(o);
    ck_assert_int_eq(sg_checkpoint_load(path, m, o), st);
    for (int i = 0; must && must[i]; i++)
        ck_assert_msg(strstr(sg_last_error(), must[i]), "message '%s' lacks '%s'", sg_last_error(), must[i]);
    tu_assert_error(st, NULL);
    expect_snap(&before, m, o, "after a failed load");
    ck_assert_int_eq(sg_optim_steps(o), steps);
    ck_assert(sg_optim_lr(o) == lr);
    snap_free(&before);
}

START_TEST(model_mismatch_reports) {
    char ck[1024], dtp[1024];
    net_t a = net_new(SG_F64, "lstm", 4, 1);
    ck_assert_int_eq(sg_checkpoint_save(tpath(ck, sizeof ck, "a.safetensors"), a.m, NULL, NULL), 0);
    /* other prefix: the lstm names are missing and the file's are unexpected; fc matches */
    net_t b = net_new(SG_F64, "enc", 4, 2);
    expect_load_fails(ck, b.m, NULL, SG_ERR_ARG,
                      (const char *[]){"does not match the model", "nothing loaded", "missing 4: enc.weight_ih_l0 (16,3)",
                                       "enc.bias_hh_l0 (16)", "unexpected 4: lstm.weight_ih_l0 (16,3)", NULL});
    ck_assert_int_eq(sg_checkpoint_load(ck, b.m, NULL), SG_ERR_ARG); /* names that match are not listed */
    ck_assert_msg(!strstr(sg_last_error(), "fc.weight"), "matching names reported: %s", sg_last_error());
    sg_clear_error();
    /* other hidden size: 5 shape mismatches, 4 listed, then "..." */
    net_t c = net_new(SG_F64, "lstm", 5, 3);
    expect_load_fails(ck, c.m, NULL, SG_ERR_SHAPE,
                      (const char *[]){"shape mismatch 5: lstm.weight_ih_l0 file (16,3) model (20,3)",
                                       "lstm.weight_hh_l0 file (16,4) model (20,5)", ", ...", NULL});
    ck_assert_msg(!strstr(sg_last_error(), "missing") && !strstr(sg_last_error(), "unexpected"), "%s", sg_last_error());
    /* an integer tensor under a parameter's name */
    sg_st_writer *w = sg_st_writer_new();
    for (int i = 0; i < sg_model_num_params(a.m); i++)
        if (strcmp(sg_model_param_name(a.m, i), "fc.bias"))
            sg_st_writer_add(w, sg_model_param_name(a.m, i), sg_model_param(a.m, i));
    sg_st_writer_add_i64(w, "fc.bias", 1, (int64_t[]){1}, (int64_t[]){7});
    sg_st_writer_add_i64(w, "extra", 0, NULL, (int64_t[]){1});
    ck_assert_int_eq(sg_st_writer_save(w, tpath(dtp, sizeof dtp, "dtype.safetensors")), 0);
    sg_st_writer_free(w);
    net_t d = net_new(SG_F64, "lstm", 4, 4);
    expect_load_fails(dtp, d.m, NULL, SG_ERR_ARG, (const char *[]){"unexpected 1: extra ()", "not a float dtype 1: fc.bias I64", NULL});
    sg_model_free(a.m);
    sg_model_free(b.m);
    sg_model_free(c.m);
    sg_model_free(d.m);
    tu_teardown();
}
END_TEST

START_TEST(optimizer_mismatch_reports) {
    char adam[1024], sgdm[1024], plain[1024];
    net_t a = net_new(SG_F64, "lstm", 4, 1);
    sg_tensor *x, *target;
    net_data(SG_F64, &x, &target);
    sg_optim *oa = sg_optim_new(a.m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = 0.01});
    train(&a, oa, x, target, 1);
    ck_assert_int_eq(sg_checkpoint_save(tpath(adam, sizeof adam, "adam.safetensors"), a.m, oa, NULL), 0);
    sg_optim *om = sg_optim_new(a.m, &(sg_optim_config){.kind = SG_OPT_SGD, .lr = 0.1, .momentum = 0.9});
    train(&a, om, x, target, 1);
    ck_assert_int_eq(sg_checkpoint_save(tpath(sgdm, sizeof sgdm, "sgdm.safetensors"), a.m, om, NULL), 0);
    ck_assert_int_eq(sg_checkpoint_save(tpath(plain, sizeof plain, "plain.safetensors"), a.m, NULL, NULL), 0);

    net_t b = net_new(SG_F64, "lstm", 4, 2);
    sg_optim *sgd = sg_optim_new(b.m, &(sg_optim_config){.kind = SG_OPT_SGD, .lr = 0.1});
    sg_optim *sgd_m = sg_optim_new(b.m, &(sg_optim_config){.kind = SG_OPT_SGD, .lr = 0.1, .momentum = 0.5});
    train(&b, sgd_m, x, target, 1); /* non-zero state that must survive failed loads */
    expect_load_fails(adam, b.m, sgd, SG_ERR_ARG, (const char *[]){"'adam' optimizer, 'opt' is 'sgd'", NULL});
    /* momentum buffers saved, this SGD keeps none: unexpected state tensors */
    expect_load_fails(sgdm, b.m, sgd, SG_ERR_ARG,
                      (const char *[]){"unexpected 6: optim.momentum_buffer.lstm.weight_ih_l0 (16,3)", NULL});
    /* the reverse: this SGD needs momentum buffers that a plain SGD checkpoint lacks */
    sg_optim *sa = sg_optim_new(a.m, &(sg_optim_config){.kind = SG_OPT_SGD, .lr = 0.1});
    char sgdp[1024];
    ck_assert_int_eq(sg_checkpoint_save(tpath(sgdp, sizeof sgdp, "sgd_plain.safetensors"), a.m, sa, NULL), 0);
    expect_load_fails(sgdp, b.m, sgd_m, SG_ERR_ARG,
                      (const char *[]){"does not match the model and optimizer", "missing 6: optim.momentum_buffer.lstm.weight_ih_l0 (16,3)", NULL});
    /* a file without an optimizer section: parameters load, the optimizer is left alone */
    snap_t before = snap(b.m, sgd_m);
    ck_assert_int_eq(sg_checkpoint_load(plain, b.m, sgd_m), 0);
    ck_assert(same_bits(sg_model_flat_params(a.m), sg_model_flat_params(b.m)));
    ck_assert(same_bits(before.t[1], sg_optim_state(sgd_m, 0)));
    ck_assert_int_eq(sg_optim_steps(sgd_m), 1);
    snap_free(&before);
    /* an optimizer of another model */
    ck_assert_int_eq(sg_checkpoint_load(adam, b.m, oa), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "another model");
    ck_assert_int_eq(sg_checkpoint_save(adam, b.m, oa, NULL), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "another model");
    sg_optim *objs[] = {oa, om, sgd, sgd_m, sa};
    for (int i = 0; i < 5; i++) sg_optim_free(objs[i]);
    sg_model_free(a.m);
    sg_model_free(b.m);
    sg_tensor_free(x);
    sg_tensor_free(target);
    tu_teardown();
}
END_TEST

/* ---- damaged files ---- */

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    ck_assert_uint_eq(fread(b, 1, *n, fp), *n);
    fclose(fp);
    return b;
}

static void spit(const char *path, const unsigned char *b, size_t n) {
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(b, 1, n, fp), n);
    fclose(fp);
}

/* Copy of checkpoint src with metadata key set to value (NULL: removed). */
static void rewrite_meta(const char *src, const char *dst, const char *key, const char *value) {
    sg_st_file *f = sg_st_open(src);
    sg_st_writer *w = sg_st_writer_new();
    for (int i = 0; i < sg_st_count(f); i++) {
        sg_tensor *t = sg_st_get(f, sg_st_name(f, i), SG_F64);
        sg_st_writer_add(w, sg_st_name(f, i), t);
        sg_tensor_free(t);
    }
    for (int i = 0; i < sg_st_meta_count(f); i++)
        if (strcmp(sg_st_meta_key(f, i), key)) sg_st_writer_meta(w, sg_st_meta_key(f, i), sg_st_meta(f, sg_st_meta_key(f, i)));
    if (value) sg_st_writer_meta(w, key, value);
    ck_assert_msg(sg_st_writer_save(w, dst) == 0, "%s", sg_last_error());
    sg_st_writer_free(w);
    sg_st_close(f);
}

START_TEST(damaged_files) {
    char ck[1024], bad[1024];
    net_t a = net_new(SG_F64, "lstm", 4, 1);
    sg_tensor *x, *target;
    net_data(SG_F64, &x, &target);
    sg_optim *oa = sg_optim_new(a.m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = 0.01});
    train(&a, oa, x, target, 1);
    ck_assert_int_eq(sg_checkpoint_save(tpath(ck, sizeof ck, "a.safetensors"), a.m, oa, NULL), 0);
    net_t b = net_new(SG_F64, "lstm", 4, 2);
    sg_optim *ob = sg_optim_new(b.m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = 0.02});
    train(&b, ob, x, target, 1);
    size_t n;
    unsigned char *buf = slurp(ck, &n);
    tpath(bad, sizeof bad, "bad.safetensors");
    /* truncations: inside the data, inside the header, inside the length prefix */
    const size_t cuts[] = {n - 1, n / 2, 40, 4, 0};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        spit(bad, buf, cuts[i]);
        expect_load_fails(bad, b.m, ob, SG_ERR_FORMAT, (const char *[]){bad, NULL});
    }
    /* corrupt bytes: header length beyond the file, broken JSON, trailing garbage */
    unsigned char *c = malloc(n + 3);
    memcpy(c, buf, n);
    c[7] = 0x40;
    spit(bad, c, n);
    expect_load_fails(bad, b.m, ob, SG_ERR_FORMAT, NULL);
    memcpy(c, buf, n);
    c[8] = 'x'; /* the JSON's opening brace */
    spit(bad, c, n);
    expect_load_fails(bad, b.m, ob, SG_ERR_FORMAT, NULL);
    memcpy(c, buf, n);
    memcpy(c + n, "abc", 3);
    spit(bad, c, n + 3);
    expect_load_fails(bad, b.m, ob, SG_ERR_FORMAT, (const char *[]){"trailing", NULL});
    free(c);
    /* well-formed files with a bad optimizer section or format version */
    rewrite_meta(ck, bad, "optim.steps", "-3");
    expect_load_fails(bad, b.m, ob, SG_ERR_FORMAT, (const char *[]){"optim.steps is '-3'", NULL});
    rewrite_meta(ck, bad, "optim.lr", NULL);
    expect_load_fails(bad, b.m, ob, SG_ERR_FORMAT, (const char *[]){"optim.lr is missing", NULL});
    rewrite_meta(ck, bad, "optim.kind", "lbfgs");
    expect_load_fails(bad, b.m, ob, SG_ERR_FORMAT, (const char *[]){"unknown optimizer kind 'lbfgs'", NULL});
    rewrite_meta(ck, bad, "seqgrad.checkpoint", "2");
    expect_load_fails(bad, b.m, ob, SG_ERR_UNSUPPORTED, (const char *[]){"version '2'", NULL});
    /* without an optimizer its section is not read, so only the parameters matter */
    rewrite_meta(ck, bad, "optim.steps", "-3");
    ck_assert_int_eq(sg_checkpoint_load(bad, b.m, NULL), 0);
    ck_assert(same_bits(sg_model_flat_params(a.m), sg_model_flat_params(b.m)));
    /* missing file, a directory */
    expect_load_fails(tpath(bad, sizeof bad, "nope.safetensors"), b.m, ob, SG_ERR_IO,
                      (const char *[]){"nope.safetensors", NULL});
    expect_load_fails(g_dir, b.m, ob, SG_ERR_IO, (const char *[]){"directory", NULL});
    ck_assert_int_eq(sg_checkpoint_meta(bad, "epoch", NULL, 0), SG_ERR_IO);
    tu_assert_error(SG_ERR_IO, "nope.safetensors");
    ck_assert_int_eq(sg_checkpoint_meta(ck, "epoch", NULL, 0), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "no metadata key 'epoch'");
    free(buf);
    sg_optim_free(oa);
    sg_optim_free(ob);
    sg_model_free(a.m);
    sg_model_free(b.m);
    sg_tensor_free(x);
    sg_tensor_free(target);
    tu_teardown();
}
END_TEST

START_TEST(save_errors) {
    char p[1024];
    net_t a = net_new(SG_F32, "lstm", 4, 1);
    tpath(p, sizeof p, "s.safetensors");
    ck_assert_int_eq(sg_checkpoint_save(NULL, a.m, NULL, NULL), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'path'");
    ck_assert_int_eq(sg_checkpoint_save(p, NULL, NULL, NULL), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'m'");
    sg_model *raw = sg_model_new(SG_F32);
    ck_assert_int_eq(sg_checkpoint_save(p, raw, NULL, NULL), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "sg_model_finalize");
    ck_assert_int_eq(sg_checkpoint_load(p, raw, NULL), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "sg_model_finalize");
    sg_model_free(raw);
    const char *reserved[] = {"optim.lr", "1", NULL}, *reserved2[] = {"seqgrad.checkpoint", "9", NULL};
    const char *odd[] = {"epoch", NULL}, *dup[] = {"k", "1", "k", "2", NULL};
    ck_assert_int_eq(sg_checkpoint_save(p, a.m, NULL, reserved), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "'optim.lr' is reserved");
    ck_assert_int_eq(sg_checkpoint_save(p, a.m, NULL, reserved2), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "is reserved");
    ck_assert_int_eq(sg_checkpoint_save(p, a.m, NULL, odd), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "'epoch' has no value");
    ck_assert_int_eq(sg_checkpoint_save(p, a.m, NULL, dup), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, NULL);
    ck_assert_int_ne(access(p, F_OK), 0); /* no failed save left a file */
    char nodir[1024];
    ck_assert_int_eq(sg_checkpoint_save(tpath(nodir, sizeof nodir, "no/such/dir.safetensors"), a.m, NULL, NULL), SG_ERR_IO);
    tu_assert_error(SG_ERR_IO, "no/such/dir");
    /* a failed save leaves an existing checkpoint as it was */
    ck_assert_int_eq(sg_checkpoint_save(p, a.m, NULL, NULL), 0);
    size_t n0, n1;
    unsigned char *before = slurp(p, &n0);
    ck_assert_int_eq(sg_checkpoint_save(p, a.m, NULL, odd), SG_ERR_ARG);
    sg_clear_error();
    unsigned char *after = slurp(p, &n1);
    ck_assert(n0 == n1 && !memcmp(before, after, n0));
    free(before);
    free(after);
    sg_model_free(a.m);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("checkpoint");
    TCase *t = tcase_create("checkpoint");
    tcase_add_checked_fixture(t, scratch_setup, scratch_teardown);
    tcase_add_loop_test(t, torch_state_dict_loads, 0, 2);
    tcase_add_test(t, seqgrad_checkpoint_loads_in_torch);
    tcase_add_loop_test(t, resume_f64, 0, N_RESUME);
    tcase_add_loop_test(t, resume_f32, 0, N_RESUME);
    tcase_add_test(t, load_from_open_file);
    tcase_add_test(t, model_mismatch_reports);
    tcase_add_test(t, optimizer_mismatch_reports);
    tcase_add_test(t, damaged_files);
    tcase_add_test(t, save_errors);
    suite_add_tcase(s, t);
    return tu_run(s);
}
