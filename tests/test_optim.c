/* Optimizers against PyTorch: fixtures from tools/gen_fixtures.py (optim_<case>: a tiny LSTM(3,4) +
 * Linear(4,1) regression trained 5 steps by torch.optim SGD/Adam/AdamW/RMSprop configurations, some
 * with clip_grad_norm_) replayed with sg_optim: losses, clip norms, the parameters after every step
 * and the optimizer state as a checkpoint saves it must match (float64 1e-10, float32 5e-5, abs +
 * rel). Also lr schedules against torch's schedulers (optim_sched) and hand values, clipping and
 * single steps by hand, and error paths. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "util/testutil.h"

static const char *const OPT_FIXTURES[] = {
    "sgd",     "sgd_momentum_damp", "sgd_nesterov_wd", "adam",              "adam_wd",
    "adamw",   "rmsprop",           "rmsprop_centered_momentum", "sgd_momentum_clip", "adamw_clip",
};
enum { N_OPT = sizeof OPT_FIXTURES / sizeof *OPT_FIXTURES, OPT_D = 3, OPT_H = 4 };
#define TOL_F64 1e-10
#define TOL_F32 5e-5
#define TORCH_ADAMW_WEIGHT_DECAY 1e-2 /* torch.optim.AdamW's default, unlike seqgrad's 0 */


/* Metadata number, or dflt when absent. */
static double meta_num(sg_st_file *f, const char *key, double dflt) {
    const char *v = sg_st_meta(f, key);
    return v ? strtod(v, NULL) : dflt;
}
static bool meta_bool(sg_st_file *f, const char *key) {
    const char *v = sg_st_meta(f, key);
    return v && !strcmp(v, "True");
}

/* torch.optim constructor arguments (fixture metadata) -> sg_optim_config */
static sg_optim_config config_of(sg_st_file *f) {
    const char *kind = sg_st_meta(f, "kind");
    ck_assert_ptr_nonnull(kind);
    sg_optim_config c = {.lr = meta_num(f, "lr", 0), .weight_decay = meta_num(f, "weight_decay", 0),
                         .momentum = meta_num(f, "momentum", 0), .dampening = meta_num(f, "dampening", 0),
                         .nesterov = meta_bool(f, "nesterov"), .eps = meta_num(f, "eps", 0),
                         .alpha = meta_num(f, "alpha", 0), .centered = meta_bool(f, "centered")};
    if (!strcmp(kind, "SGD")) c.kind = SG_OPT_SGD;
    else if (!strcmp(kind, "Adam")) c.kind = SG_OPT_ADAM;
    else if (!strcmp(kind, "AdamW")) c.kind = SG_OPT_ADAMW;
    else if (!strcmp(kind, "RMSprop")) c.kind = SG_OPT_RMSPROP;
    else ck_abort_msg("unknown optimizer kind '%s'", kind);
    if (c.kind == SG_OPT_ADAMW && !sg_st_meta(f, "weight_decay")) c.weight_decay = TORCH_ADAMW_WEIGHT_DECAY;
    const char *betas = sg_st_meta(f, "betas");
    if (betas) {
        char *end;
        c.beta1 = strtod(betas, &end);
        ck_assert_int_eq(*end, ',');
        c.beta2 = strtod(end + 1, NULL);
    }
    return c;
}

/* The fixture's network: x (T,B,3) -> LSTM "lstm" -> Linear "fc" (4 -> 1). */
typedef struct {
    sg_model *m;
    sg_rnn *lstm;
    sg_linear_layer *fc;
} net_t;

static net_t net_new(sg_dtype dt) {
    net_t n = {.m = sg_model_new(dt)};
    sg_rnn_config cfg = {.cell = SG_CELL_LSTM, .input_size = OPT_D, .hidden_size = OPT_H, .backend = SG_BACKEND_COMPOSED};
    n.lstm = sg_rnn_new(n.m, "lstm", &cfg);
    n.fc = sg_linear_layer_new(n.m, "fc", OPT_H, 1, true);
    ck_assert_msg(n.lstm && n.fc && sg_model_finalize(n.m, 0) == 0, "%s", sg_last_error());
    return n;
}

static sg_tensor *net_loss(net_t *n, sg_tensor *x, sg_tensor *target) {
    sg_rnn_out o;
    ck_assert_msg(sg_rnn_forward(n->lstm, x, NULL, NULL, NULL, &o) == 0, "%s", sg_last_error());
    sg_tensor *loss = sg_mse(sg_linear_layer_forward(n->fc, o.output), target, SG_REDUCE_MEAN);
    ck_assert_msg(loss != NULL, "%s", sg_last_error());
    return loss;
}

static void expect_near(double ref, double v, double tol, const char *what, int k) {
    ck_assert_msg(fabs(ref - v) <= tol * (1 + fabs(ref)), "%s at step %d: torch %.15g seqgrad %.15g (tol %.1g)", what,
                  k, ref, v, tol);
}

/* Every parameter against "step<k>.<name>"; returns the worst error for the log. */
static double expect_params(sg_st_file *f, sg_model *m, int k, double tol, const char *what) {
    char name[256];
    double worst = 0;
    for (int i = 0; i < sg_model_num_params(m); i++) {
        snprintf(name, sizeof name, "step%d.%s", k, sg_model_param_name(m, i));
        sg_tensor *ref = sg_st_get(f, name, SG_F64), *p = sg_model_param(m, i);
        ck_assert_msg(ref != NULL, "%s", sg_last_error());
        ck_assert_int_eq(sg_numel(ref), sg_numel(p));
        for (int64_t j = 0; j < sg_numel(ref); j++) {
            double r = sg_get_flat(ref, j), v = sg_get_flat(p, j), e = fabs(r - v);
            ck_assert_msg(e <= tol * (1 + fabs(r)), "%s: %s[%lld]: torch %.15g seqgrad %.15g (tol %.1g)", what, name,
                          (long long)j, r, v, tol);
            if (e > worst) worst = e;
        }
        sg_tensor_free(ref);
    }
    return worst;
}

/* The optimizer state as a checkpoint stores it ("optim.<key>.<param>", io/checkpoint.h) must be
 * torch's optimizer.state[param][key] ("state.<key>.<param>" in the fixture), key for key. */
static void expect_torch_state(sg_st_file *f, sg_model *m, sg_optim *opt, double tol, const char *what) {
    char path[1024];
    const char *dir = getenv("SEQGRAD_BUILD_DIR");
    snprintf(path, sizeof path, "%s/test_optim_%d_%s.safetensors", dir ? dir : "/tmp", (int)getpid(), what);
    ck_assert_msg(sg_checkpoint_save(path, m, opt, NULL) == 0, "%s", sg_last_error());
    sg_st_file *ck = sg_st_open(path);
    ck_assert_msg(ck != NULL, "%s", sg_last_error());
    remove(path);
    int n_torch = 0, n_ours = 0;
    for (int j = 0; j < sg_st_count(f); j++) n_torch += !strncmp(sg_st_name(f, j), "state.", 6);
    for (int j = 0; j < sg_st_count(ck); j++) {
        const char *name = sg_st_name(ck, j);
        if (strncmp(name, "optim.", 6)) continue;
        n_ours++;
        char ref_name[300];
        snprintf(ref_name, sizeof ref_name, "state.%s", name + 6);
        ck_assert_msg(sg_st_find(f, ref_name) >= 0, "%s: torch keeps no %s", what, ref_name);
        sg_tensor *ref = sg_st_get(f, ref_name, SG_F64), *ours = sg_st_get(ck, name, SG_F64);
        ck_assert_msg(ref && ours && sg_same_shape(ref, ours), "%s: %s: shapes differ", what, name);
        for (int64_t i = 0; i < sg_numel(ref); i++) {
            double r = sg_get_flat(ref, i), v = sg_get_flat(ours, i);
            ck_assert_msg(fabs(r - v) <= tol * (1 + fabs(r)), "%s: %s[%lld]: torch %.15g seqgrad %.15g", what, name,
                          (long long)i, r, v);
        }
        sg_tensor_free(ref);
        sg_tensor_free(ours);
    }
    ck_assert_msg(n_ours == n_torch, "%s: %d optimizer state tensors, torch has %d", what, n_ours, n_torch);
    ck_assert_int_eq(n_ours, sg_optim_state_count(opt) * sg_model_num_params(m));
    sg_st_close(ck);
}

static void run_fixture(const char *name, sg_dtype dt) {
    sg_clear_error();
    char fname[128];
    snprintf(fname, sizeof fname, "optim_%s", name);
    sg_st_file *f = tu_open_fixture(fname);
    double tol = dt == SG_F64 ? TOL_F64 : TOL_F32, clip = meta_num(f, "clip_grad_norm", 0);
    int steps = (int)meta_num(f, "steps", 0);
    ck_assert_int_gt(steps, 0);
    sg_optim_config cfg = config_of(f);
    net_t n = net_new(dt);
    for (int i = 0; i < sg_model_num_params(n.m); i++)
        ck_assert_msg(sg_st_read_into(f, sg_model_param_name(n.m, i), sg_model_param(n.m, i)) == 0, "%s",
                      sg_last_error());
    sg_tensor *x = sg_st_get(f, "x", dt), *target = sg_st_get(f, "target", dt);
    sg_tensor *losses = sg_st_get(f, "loss", SG_F64), *norms = clip > 0 ? sg_st_get(f, "grad_norm", SG_F64) : NULL;
    ck_assert_msg(x && target && losses && (clip == 0 || norms), "%s", sg_last_error());
    sg_optim *opt = sg_optim_new(n.m, &cfg);
    ck_assert_msg(opt != NULL, "%s: %s", name, sg_last_error());
    double worst = 0;
    for (int k = 1; k <= steps; k++) {
        ck_assert_int_eq(sg_optim_zero_grad(opt), 0);
        sg_tensor *loss = net_loss(&n, x, target);
        expect_near(sg_get_flat(losses, k - 1), sg_item(loss), tol, "loss", k);
        ck_assert_msg(sg_backward(loss) == 0, "%s", sg_last_error());
        if (clip > 0) expect_near(sg_get_flat(norms, k - 1), sg_clip_grad_norm(n.m, clip), tol, "grad norm", k);
        ck_assert_int_eq(sg_optim_step(opt), 0);
        ck_assert_int_eq(sg_optim_steps(opt), k);
        sg_tape_clear();
        worst = fmax(worst, expect_params(f, n.m, k, tol, name));
    }
    fprintf(stderr, "optim %-26s %s: worst parameter error %.2g\n", name, sg_dtype_name(dt), worst);
    expect_torch_state(f, n.m, opt, tol, name);
    sg_optim_free(opt);
    sg_tensor_free(x);
    sg_tensor_free(target);
    sg_tensor_free(losses);
    sg_tensor_free(norms);
    sg_model_free(n.m);
    sg_st_close(f);
    tu_teardown();
}

START_TEST(torch_f64) { run_fixture(OPT_FIXTURES[_i], SG_F64); }
END_TEST
START_TEST(torch_f32) { run_fixture(OPT_FIXTURES[_i], SG_F32); }
END_TEST

/* Negative control: plain Adam replayed on the AdamW fixture (L2 instead of decoupled decay) must fail. */
START_TEST(torch_fixture_discriminates) {
    sg_st_file *f = tu_open_fixture("optim_adamw");
    sg_optim_config cfg = config_of(f);
    cfg.kind = SG_OPT_ADAM;
    net_t n = net_new(SG_F64);
    for (int i = 0; i < sg_model_num_params(n.m); i++) sg_st_read_into(f, sg_model_param_name(n.m, i), sg_model_param(n.m, i));
    sg_tensor *x = sg_st_get(f, "x", SG_F64), *target = sg_st_get(f, "target", SG_F64);
    sg_optim *opt = sg_optim_new(n.m, &cfg);
    ck_assert_int_eq(sg_backward(net_loss(&n, x, target)), 0);
    sg_optim_step(opt);
    sg_tape_clear();
    double worst = 0;
    for (int i = 0; i < sg_model_num_params(n.m); i++) {
        char name[256];
        snprintf(name, sizeof name, "step1.%s", sg_model_param_name(n.m, i));
        sg_tensor *ref = sg_st_get(f, name, SG_F64);
        for (int64_t j = 0; j < sg_numel(ref); j++)
            worst = fmax(worst, fabs(sg_get_flat(ref, j) - sg_get_flat(sg_model_param(n.m, i), j)));
        sg_tensor_free(ref);
    }
    ck_assert_msg(worst > 1e-6, "Adam and AdamW agree to %g: the fixture does not pin decoupled decay", worst);
    sg_optim_free(opt);
    sg_tensor_free(x);
    sg_tensor_free(target);
    sg_model_free(n.m);
    sg_st_close(f);
    tu_teardown();
}
END_TEST

/* ---- single steps by hand, on one scalar parameter ---- */

static sg_model *scalar_model(sg_dtype dt, double p0) {
    sg_model *m = sg_model_new(dt);
    ck_assert_int_ge(sg_model_declare(m, "p", 1, (int64_t[]){1}, SG_INIT_CONST, p0), 0);
    ck_assert_int_eq(sg_model_finalize(m, 0), 0);
    return m;
}
static void set_grad(sg_model *m, double g) { ck_assert_int_eq(sg_set_flat(sg_grad(sg_model_param(m, 0)), 0, g), 0); }
static double pval(sg_model *m) { return sg_get_flat(sg_model_param(m, 0), 0); }

START_TEST(hand_steps) {
    /* SGD momentum 0.9, dampening 0.5, lr 0.1; g = 1, 2: buf 1 -> 0.9*1 + 0.5*2 = 1.9 */
    sg_model *m = scalar_model(SG_F64, 1);
    sg_optim *o = sg_optim_new(m, &(sg_optim_config){.kind = SG_OPT_SGD, .lr = 0.1, .momentum = 0.9, .dampening = 0.5});
    set_grad(m, 1);
    sg_optim_step(o);
    ck_assert_double_eq_tol(pval(m), 0.9, 1e-15);
    set_grad(m, 2);
    sg_optim_step(o);
    ck_assert_double_eq_tol(pval(m), 0.9 - 0.1 * 1.9, 1e-15);
    ck_assert_double_eq_tol(sg_get_flat(sg_optim_state(o, 0), 0), 1.9, 1e-15);
    sg_optim_free(o);
    sg_model_free(m);
    /* Nesterov mu 0.5, wd 0.1, lr 0.1, p 1, g 1: d = 1.1, buf = 1.1, step d + mu*buf = 1.65 */
    m = scalar_model(SG_F64, 1);
    o = sg_optim_new(m, &(sg_optim_config){.kind = SG_OPT_SGD, .lr = 0.1, .momentum = 0.5, .nesterov = true, .weight_decay = 0.1});
    set_grad(m, 1);
    sg_optim_step(o);
    ck_assert_double_eq_tol(pval(m), 1 - 0.1 * 1.65, 1e-15);
    sg_optim_free(o);
    sg_model_free(m);
    /* Adam step 1: bias corrections make m_hat = g, v_hat = g^2: p -= lr * g / (|g| + eps) */
    m = scalar_model(SG_F64, 1);
    o = sg_optim_new(m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = 0.1});
    set_grad(m, -2);
    sg_optim_step(o);
    ck_assert_double_eq_tol(pval(m), 1 + 0.1 * 2 / (2 + 1e-8), 1e-15);
    sg_optim_free(o);
    sg_model_free(m);
    /* AdamW: p *= 1 - lr*wd first, then the Adam step on the raw gradient */
    m = scalar_model(SG_F64, 1);
    o = sg_optim_new(m, &(sg_optim_config){.kind = SG_OPT_ADAMW, .lr = 0.1, .weight_decay = 0.5});
    set_grad(m, 2);
    sg_optim_step(o);
    ck_assert_double_eq_tol(pval(m), 0.95 - 0.1 * 2 / (2 + 1e-8), 1e-15);
    sg_optim_free(o);
    sg_model_free(m);
    /* RMSprop: sq = (1 - 0.99) * g^2 = 0.04, p -= lr * g / (sqrt(sq) + eps) */
    m = scalar_model(SG_F64, 1);
    o = sg_optim_new(m, &(sg_optim_config){.kind = SG_OPT_RMSPROP, .lr = 0.01});
    set_grad(m, 2);
    sg_optim_step(o);
    ck_assert_double_eq_tol(pval(m), 1 - 0.01 * 2 / (sqrt(0.01 * 4) + 1e-8), 1e-15);
    sg_optim_free(o);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

START_TEST(state_names) {
    sg_model *m = scalar_model(SG_F32, 0);
    struct {
        sg_optim_config c;
        int n;
        const char *names[3];
    } rows[] = {
        {{.kind = SG_OPT_SGD, .lr = 1}, 0, {NULL}},
        {{.kind = SG_OPT_SGD, .lr = 1, .momentum = 0.9}, 1, {"momentum_buffer"}},
        {{.kind = SG_OPT_ADAM, .lr = 1}, 2, {"exp_avg", "exp_avg_sq"}},
        {{.kind = SG_OPT_ADAMW, .lr = 1}, 2, {"exp_avg", "exp_avg_sq"}},
        {{.kind = SG_OPT_RMSPROP, .lr = 1}, 1, {"square_avg"}},
        {{.kind = SG_OPT_RMSPROP, .lr = 1, .momentum = 0.5, .centered = true}, 3, {"square_avg", "momentum_buffer", "grad_avg"}},
    };
    for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
        sg_optim *o = sg_optim_new(m, &rows[r].c);
        ck_assert_int_eq(sg_optim_state_count(o), rows[r].n);
        for (int i = 0; i < rows[r].n; i++) {
            ck_assert_str_eq(sg_optim_state_name(o, i), rows[r].names[i]);
            ck_assert_int_eq(sg_numel(sg_optim_state(o, i)), sg_numel(sg_model_flat_params(m)));
        }
        ck_assert_ptr_null(sg_optim_state_name(o, rows[r].n));
        ck_assert_ptr_null(sg_optim_state(o, -1));
        ck_assert_ptr_eq(sg_optim_model(o), m);
        sg_optim_free(o);
    }
    /* defaults filled in */
    sg_optim *o = sg_optim_new(m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = 1});
    ck_assert_double_eq(sg_optim_get_config(o)->beta1, 0.9);
    ck_assert_double_eq(sg_optim_get_config(o)->beta2, 0.999);
    ck_assert_double_eq(sg_optim_get_config(o)->eps, 1e-8);
    sg_optim_free(o);
    ck_assert_str_eq(sg_opt_kind_name(SG_OPT_RMSPROP), "rmsprop");
    ck_assert_ptr_null(sg_opt_kind_name(SG_OPT_COUNT));
    sg_model_free(m);
    tu_teardown();
}
END_TEST

START_TEST(optim_errors) {
    sg_model *m = scalar_model(SG_F64, 0);
    struct {
        sg_optim_config c;
        const char *msg;
    } bad[] = {
        {{.kind = SG_OPT_SGD, .lr = 0}, "lr must be > 0"},
        {{.kind = SG_OPT_SGD, .lr = -1}, "lr must be > 0"},
        {{.kind = SG_OPT_SGD, .lr = NAN}, "lr must be > 0"},
        {{.kind = SG_OPT_SGD, .lr = INFINITY}, "lr must be > 0"},
        {{.kind = SG_OPT_SGD, .lr = 1, .weight_decay = -0.1}, "weight_decay"},
        {{.kind = SG_OPT_SGD, .lr = 1, .momentum = -0.5}, "momentum"},
        {{.kind = SG_OPT_SGD, .lr = 1, .nesterov = true}, "Nesterov"},
        {{.kind = SG_OPT_SGD, .lr = 1, .nesterov = true, .momentum = 0.9, .dampening = 0.1}, "Nesterov"},
        {{.kind = SG_OPT_ADAM, .lr = 1, .beta1 = 1, .beta2 = 0.9}, "betas"},
        {{.kind = SG_OPT_ADAM, .lr = 1, .beta1 = 0.9, .beta2 = 1.5}, "betas"},
        {{.kind = SG_OPT_ADAM, .lr = 1, .beta1 = -0.1, .beta2 = 0.9}, "betas"},
        {{.kind = SG_OPT_ADAM, .lr = 1, .eps = -1e-8}, "eps"},
        {{.kind = SG_OPT_RMSPROP, .lr = 1, .alpha = 1}, "alpha"},
        {{.kind = (sg_opt_kind)7, .lr = 1}, "invalid optimizer kind"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_ptr_null(sg_optim_new(m, &bad[i].c));
        tu_assert_error(SG_ERR_ARG, bad[i].msg);
    }
    ck_assert_ptr_null(sg_optim_new(m, NULL));
    tu_assert_error(SG_ERR_NULL, "cfg");
    ck_assert_ptr_null(sg_optim_new(NULL, &(sg_optim_config){.lr = 1}));
    tu_assert_error(SG_ERR_NULL, "'m'");
    sg_model *raw = sg_model_new(SG_F64);
    ck_assert_ptr_null(sg_optim_new(raw, &(sg_optim_config){.lr = 1}));
    tu_assert_error(SG_ERR_STATE, "sg_model_finalize");
    sg_model_free(raw);
    sg_optim *o = sg_optim_new(m, &(sg_optim_config){.kind = SG_OPT_SGD, .lr = 0.5});
    ck_assert_int_eq(sg_optim_set_lr(o, 0), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "lr must be > 0");
    ck_assert_double_eq(sg_optim_lr(o), 0.5);
    ck_assert_int_eq(sg_optim_set_lr(o, 0.25), 0);
    ck_assert_double_eq(sg_optim_lr(o), 0.25);
    ck_assert_int_eq(sg_optim_set_steps(o, -1), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "sg_optim_set_steps");
    ck_assert_int_eq(sg_optim_step(NULL), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "sg_optim_step");
    sg_optim_free(o);
    sg_optim_free(NULL);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

/* ---- clipping ---- */

/* params a (4) and b (2, 1) with gradients set by hand */
static sg_model *clip_model(sg_dtype dt, const double *ga, const double *gb) {
    sg_model *m = sg_model_new(dt);
    sg_model_declare(m, "a", 1, (int64_t[]){4}, SG_INIT_CONST, 1);
    sg_model_declare(m, "b", 2, (int64_t[]){2, 1}, SG_INIT_CONST, 1);
    ck_assert_int_eq(sg_model_finalize(m, 0), 0);
    for (int i = 0; i < 4; i++) sg_set_flat(sg_grad(sg_model_param(m, 0)), i, ga[i]);
    for (int i = 0; i < 2; i++) sg_set_flat(sg_grad(sg_model_param(m, 1)), i, gb[i]);
    return m;
}

START_TEST(clip_norm_values) {
    /* norm = sqrt(9 + 16 + 144) = 13 across both parameters */
    const double ga[] = {3, 0, 0, -4}, gb[] = {12, 0};
    for (int d = 0; d < 2; d++) {
        sg_dtype dt = d ? SG_F32 : SG_F64;
        double tol = dt == SG_F64 ? 1e-15 : 1e-7;
        struct {
            double max_norm, coef; /* coef: expected scale of the gradients */
        } rows[] = {{6.5, 6.5 / (13 + 1e-6)}, {13, 13 / (13 + 1e-6)}, {13.5, 1}, {1e9, 1}};
        for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
            sg_model *m = clip_model(dt, ga, gb);
            ck_assert_double_eq_tol(sg_clip_grad_norm(m, rows[r].max_norm), 13, 13 * tol);
            double ea[4], eb[2];
            for (int i = 0; i < 4; i++) ea[i] = ga[i] * rows[r].coef;
            for (int i = 0; i < 2; i++) eb[i] = gb[i] * rows[r].coef;
            tu_assert_values(sg_grad(sg_model_param(m, 0)), ea, 4, 0, tol);
            tu_assert_values(sg_grad(sg_model_param(m, 1)), eb, 2, 0, tol);
            sg_model_free(m);
        }
    }
    /* all-zero gradients: norm 0, nothing changes */
    const double z[] = {0, 0, 0, 0};
    sg_model *m = clip_model(SG_F64, z, z);
    ck_assert_double_eq(sg_clip_grad_norm(m, 1), 0);
    tu_assert_values(sg_grad(sg_model_param(m, 0)), z, 4, 0, 0);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

START_TEST(clip_value_values) {
    const double ga[] = {-3, 0.5, 2, -0.2}, gb[] = {1.5, -1};
    const double ea[] = {-1, 0.5, 1, -0.2}, eb[] = {1, -1}, z[] = {0, 0, 0, 0};
    for (int d = 0; d < 2; d++) {
        sg_dtype dt = d ? SG_F32 : SG_F64;
        sg_model *m = clip_model(dt, ga, gb);
        ck_assert_int_eq(sg_clip_grad_value(m, 1), 0);
        tu_assert_values(sg_grad(sg_model_param(m, 0)), ea, 4, 0, 1e-7);
        tu_assert_values(sg_grad(sg_model_param(m, 1)), eb, 2, 0, 1e-7);
        ck_assert_int_eq(sg_clip_grad_value(m, 0), 0);
        tu_assert_values(sg_grad(sg_model_param(m, 0)), z, 4, 0, 0);
        tu_assert_values(sg_grad(sg_model_param(m, 1)), z, 2, 0, 0);
        sg_model_free(m);
    }
    tu_teardown();
}
END_TEST

START_TEST(clip_errors) {
    const double g[] = {1, 2, 3, 4};
    sg_model *m = clip_model(SG_F64, g, g);
    const double bad_norm[] = {0, -1, NAN};
    for (size_t i = 0; i < sizeof bad_norm / sizeof *bad_norm; i++) {
        ck_assert_double_lt(sg_clip_grad_norm(m, bad_norm[i]), 0);
        tu_assert_error(SG_ERR_ARG, "max_norm must be > 0");
    }
    ck_assert_int_eq(sg_clip_grad_value(m, -1), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "clip must be >= 0");
    ck_assert_int_eq(sg_clip_grad_value(m, NAN), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "clip must be >= 0");
    tu_assert_values(sg_grad(sg_model_param(m, 0)), g, 4, 0, 0); /* failed calls changed nothing */
    ck_assert_double_lt(sg_clip_grad_norm(NULL, 1), 0);
    tu_assert_error(SG_ERR_NULL, "'m'");
    ck_assert_int_lt(sg_clip_grad_value(NULL, 1), 0);
    tu_assert_error(SG_ERR_NULL, "'m'");
    sg_model *raw = sg_model_new(SG_F64);
    ck_assert_double_lt(sg_clip_grad_norm(raw, 1), 0);
    tu_assert_error(SG_ERR_STATE, "sg_model_finalize");
    sg_model_free(raw);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

/* ---- learning-rate schedules ---- */

/* optim_sched holds torch's lr per step for these schedules (see tools/gen_fixtures.py). */
static const struct {
    const char *name;
    sg_lr_schedule s;
    int64_t valid_until; /* compare steps [0, valid_until): torch's cosine rises again after T_max */
} SCHED_ROWS[] = {
    {"step", {.kind = SG_SCHED_STEP, .step_size = 3, .gamma = 0.5}, 14},
    {"cosine", {.kind = SG_SCHED_COSINE, .total_steps = 12, .min_lr = 0.001}, 13},
    {"warmup", {.kind = SG_SCHED_CONSTANT, .warmup_steps = 4}, 14},
    {"warmup_cosine", {.kind = SG_SCHED_COSINE, .warmup_steps = 4, .total_steps = 12, .min_lr = 0.001}, 13},
    {"warmup_step", {.kind = SG_SCHED_STEP, .warmup_steps = 4, .step_size = 3, .gamma = 0.5}, 14},
};
enum { N_SCHED = sizeof SCHED_ROWS / sizeof *SCHED_ROWS };

START_TEST(sched_torch) {
    sg_st_file *f = tu_open_fixture("optim_sched");
    double base = meta_num(f, "base_lr", 0);
    sg_tensor *ref = sg_st_get(f, SCHED_ROWS[_i].name, SG_F64);
    ck_assert_msg(ref != NULL, "%s", sg_last_error());
    ck_assert_int_ge(sg_numel(ref), SCHED_ROWS[_i].valid_until);
    for (int64_t k = 0; k < sg_numel(ref); k++) {
        double lr = sg_lr_at(&SCHED_ROWS[_i].s, base, k), r = sg_get_flat(ref, k);
        if (k < SCHED_ROWS[_i].valid_until)
            ck_assert_msg(fabs(lr - r) <= 1e-12 * r, "%s step %lld: torch %.15g seqgrad %.15g", SCHED_ROWS[_i].name,
                          (long long)k, r, lr);
        else /* past total_steps: seqgrad holds min_lr, torch's cosine is periodic */
            ck_assert_msg(lr == SCHED_ROWS[_i].s.min_lr && r > lr, "%s step %lld: %g (torch %g)", SCHED_ROWS[_i].name,
                          (long long)k, lr, r);
    }
    sg_tensor_free(ref);
    sg_st_close(f);
    tu_teardown();
}
END_TEST

START_TEST(sched_hand) {
    sg_lr_schedule c = {.kind = SG_SCHED_CONSTANT};
    ck_assert_double_eq(sg_lr_at(&c, 0.3, 0), 0.3);
    ck_assert_double_eq(sg_lr_at(&c, 0.3, 1000000), 0.3);
    sg_lr_schedule w1 = {.kind = SG_SCHED_CONSTANT, .warmup_steps = 1};
    ck_assert_double_eq(sg_lr_at(&w1, 0.3, 0), 0.3);
    sg_lr_schedule w = {.kind = SG_SCHED_CONSTANT, .warmup_steps = 5};
    const double ew[] = {0.2, 0.4, 0.6, 0.8, 1, 1};
    for (int k = 0; k < 6; k++) ck_assert_double_eq_tol(sg_lr_at(&w, 1, k), ew[k], 1e-15);
    sg_lr_schedule st = {.kind = SG_SCHED_STEP, .step_size = 2, .gamma = 0.1};
    const double es[] = {1, 1, 0.1, 0.1, 0.01, 0.01, 0.001};
    for (int k = 0; k < 7; k++) ck_assert_double_eq_tol(sg_lr_at(&st, 1, k), es[k], 1e-15);
    sg_lr_schedule cs = {.kind = SG_SCHED_COSINE, .total_steps = 10, .min_lr = 0.2};
    ck_assert_double_eq(sg_lr_at(&cs, 1, 0), 1);
    ck_assert_double_eq_tol(sg_lr_at(&cs, 1, 5), 0.6, 1e-15); /* halfway: (base + min) / 2 */
    ck_assert_double_eq_tol(sg_lr_at(&cs, 1, 9), 0.2 + 0.4 * (1 + cos(M_PI * 0.9)), 1e-15);
    ck_assert_double_eq(sg_lr_at(&cs, 1, 10), 0.2);
    ck_assert_double_eq(sg_lr_at(&cs, 1, 50), 0.2);
    sg_lr_schedule wc = {.kind = SG_SCHED_COSINE, .warmup_steps = 2, .total_steps = 6};
    const double ewc[] = {0.5, 1, 1, 0.5 * (1 + cos(M_PI * 0.25)), 0.5, 0.5 * (1 + cos(M_PI * 0.75)), 0, 0};
    for (int k = 0; k < 8; k++) ck_assert_double_eq_tol(sg_lr_at(&wc, 1, k), ewc[k], 1e-15);
    tu_teardown();
}
END_TEST

START_TEST(sched_errors) {
    struct {
        sg_lr_schedule s;
        double base;
        int64_t step;
        const char *msg;
    } bad[] = {
        {{.kind = SG_SCHED_CONSTANT}, 0.1, -1, "step must be >= 0"},
        {{.kind = SG_SCHED_CONSTANT}, NAN, 0, "base_lr"},
        {{.kind = SG_SCHED_CONSTANT}, -0.1, 0, "base_lr"},
        {{.kind = SG_SCHED_CONSTANT, .warmup_steps = -2}, 0.1, 0, "warmup_steps"},
        {{.kind = SG_SCHED_STEP, .step_size = 0, .gamma = 0.5}, 0.1, 0, "step_size"},
        {{.kind = SG_SCHED_STEP, .step_size = 2, .gamma = -0.5}, 0.1, 0, "gamma"},
        {{.kind = SG_SCHED_STEP, .step_size = 2, .gamma = NAN}, 0.1, 0, "gamma"},
        {{.kind = SG_SCHED_COSINE, .total_steps = 0}, 0.1, 0, "total_steps > warmup_steps"},
        {{.kind = SG_SCHED_COSINE, .warmup_steps = 5, .total_steps = 5}, 0.1, 0, "total_steps > warmup_steps"},
        {{.kind = SG_SCHED_COSINE, .total_steps = 5, .min_lr = -1}, 0.1, 0, "min_lr"},
        {{.kind = SG_SCHED_COUNT}, 0.1, 0, "invalid schedule kind"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(isnan(sg_lr_at(&bad[i].s, bad[i].base, bad[i].step)), "row %zu accepted", i);
        tu_assert_error(SG_ERR_ARG, bad[i].msg);
    }
    ck_assert(isnan(sg_lr_at(NULL, 0.1, 0)));
    tu_assert_error(SG_ERR_NULL, "'s'");
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("optim");
    TCase *t = tcase_create("torch");
    tcase_add_loop_test(t, torch_f64, 0, N_OPT);
    tcase_add_loop_test(t, torch_f32, 0, N_OPT);
    tcase_add_test(t, torch_fixture_discriminates);
    tcase_add_loop_test(t, sched_torch, 0, N_SCHED);
    suite_add_tcase(s, t);
    TCase *u = tcase_create("unit");
    tcase_add_test(u, hand_steps);
    tcase_add_test(u, state_names);
    tcase_add_test(u, optim_errors);
    tcase_add_test(u, clip_norm_values);
    tcase_add_test(u, clip_value_values);
    tcase_add_test(u, clip_errors);
    tcase_add_test(u, sched_hand);
    tcase_add_test(u, sched_errors);
    suite_add_tcase(s, u);
    return tu_run(s);
}
