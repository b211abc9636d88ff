/* Run-time instruction-set dispatch of the element kernels (tensor/isa_impl.h): every dispatched
 * kernel family gives BITWISE the same values and gradients at each level this CPU has (avx2,
 * avx512) as at SG_ISA_BASELINE, float32 and float64. Bitwise, not a tolerance: every dispatched
 * kernel is elementwise or sums in a fixed order that does not depend on the level (ops/norm.c's
 * lane sums, tensor/kernels.c's column sums), and the library is built without FMA contraction.
 * A new dispatched kernel family gets a row in FAMILIES. Also the level API (sg_set_isa and its
 * errors, names) and SEQGRAD_ISA as read at load: CTest runs this binary again with
 * SEQGRAD_ISA=baseline (SEQGRAD_ISA_EXPECT=baseline) and with a bad value. */
#include <stdlib.h>
#include <string.h>

#include "util/testutil.h"

/* ---- a growing byte image of tensors ---- */
enum { BLOB_MAX = 128 }; /* tensors per image */
typedef struct {
    unsigned char *p;
    size_t n, cap;
    int ntensors;
    size_t start[BLOB_MAX]; /* byte offset of each tensor, to name the first mismatch */
    sg_dtype dt[BLOB_MAX];
} blob;

static void blob_add(blob *b, const sg_tensor *t) {
    ck_assert_msg(t != NULL, "NULL tensor: %s", sg_last_error());
    sg_dtype dt = sg_dtype_of(t);
    size_t bytes = (size_t)sg_numel(t) * (dt == SG_F32 ? sizeof(float) : sizeof(double));
    if (b->n + bytes > b->cap) {
        b->cap = 2 * (b->n + bytes);
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    ck_assert_int_lt(b->ntensors, BLOB_MAX);
    b->start[b->ntensors] = b->n;
    b->dt[b->ntensors++] = dt;
    ck_assert_int_eq(sg_to_buffer(t, b->p + b->n, dt), 0);
    b->n += bytes;
}

/* inputs: uniform in [lo, hi]; a range around 0 also gets a few extremes (saturated gates, the
 * clamps of ops/fastmath.h's exp, signed zeros, a tiny value) at fixed places */
static sg_tensor *input(sg_dtype dt, int ndim, const int64_t *shape, double lo, double hi, uint64_t seed) {
    sg_tensor *t = tu_rand(dt, ndim, shape, lo, hi, seed, true);
    static const double EXTREME[] = {0.0, -0.0, 100.0, -100.0, 88.5, -87.5, 1e-30, 20.0, -20.0};
    enum { EVERY = 7, FIRST = 3 };
    int64_t n = sg_numel(t);
    for (int64_t k = 0; lo < 0 && k < (int64_t)(sizeof EXTREME / sizeof EXTREME[0]) && EVERY * k + FIRST < n; k++)
        ck_assert_int_eq(sg_set_flat(t, EVERY * k + FIRST, EXTREME[k]), 0);
    return t;
}

/* backward of sum(y * R) for a seeded cotangent R; appends y, then each input's gradient */
static void run_backward(blob *b, sg_tensor *y, sg_tensor *const *in, int n_in, uint64_t seed) {
    ck_assert_msg(y != NULL, "%s", sg_last_error());
    int64_t shape[SG_MAX_DIMS];
    int nd = sg_shape(y, shape);
    sg_tensor *R = tu_rand(sg_dtype_of(y), nd, shape, -1, 1, seed, false);
    ck_assert_int_eq(sg_backward_grad(y, R), 0);
    blob_add(b, y);
    for (int i = 0; i < n_in; i++)
        if (sg_grad(in[i])) blob_add(b, sg_grad(in[i]));
    sg_tape_clear();
    sg_tensor_free(R);
    for (int i = 0; i < n_in; i++) sg_tensor_free(in[i]);
}

/* ---- the kernel families ---- */
/* ops/rnn_pointwise.c: LSTM gates with two inputs and with one, at a size that runs in parallel */
static void fam_lstm(sg_dtype dt, blob *b) {
    const int64_t B[] = {3, 64}, H[] = {37, 256};
    for (int s = 0; s < 2; s++) {
        sg_tensor *in[3] = {input(dt, 2, (int64_t[]){B[s], 4 * H[s]}, -9, 9, 11),
                            input(dt, 2, (int64_t[]){B[s], 4 * H[s]}, -3, 3, 12),
                            input(dt, 2, (int64_t[]){B[s], H[s]}, -4, 4, 13)};
        run_backward(b, sg_lstm_pointwise(in[0], in[1], in[2]), in, 3, 14);
        sg_tensor *in1[2] = {input(dt, 2, (int64_t[]){B[s], 4 * H[s]}, -12, 12, 15),
                             input(dt, 2, (int64_t[]){B[s], H[s]}, -4, 4, 16)};
        run_backward(b, sg_lstm_pointwise(in1[0], NULL, in1[1]), in1, 2, 17);
    }
}

static void fam_gru(sg_dtype dt, blob *b) {
    const int64_t B[] = {5, 64}, H[] = {19, 192};
    for (int s = 0; s < 2; s++) {
        sg_tensor *in[3] = {input(dt, 2, (int64_t[]){B[s], 3 * H[s]}, -9, 9, 21),
                            input(dt, 2, (int64_t[]){B[s], 3 * H[s]}, -3, 3, 22),
                            input(dt, 2, (int64_t[]){B[s], H[s]}, -1, 1, 23)};
        run_backward(b, sg_gru_pointwise(in[0], in[1], in[2]), in, 3, 24);
    }
}

/* ops/lnlstm_pointwise.c: two gate inputs with weight and bias, one without; a size whose rows and
 * weight/bias column pass run in parallel */
static void fam_lnlstm(sg_dtype dt, blob *b) {
    const int64_t B[] = {3, 160}, H[] = {37, 256};
    for (int s = 0; s < 2; s++) {
        sg_tensor *in[5] = {input(dt, 2, (int64_t[]){B[s], 4 * H[s]}, -9, 9, 71),
                            input(dt, 2, (int64_t[]){B[s], 4 * H[s]}, -3, 3, 72),
                            input(dt, 2, (int64_t[]){B[s], H[s]}, -4, 4, 73), input(dt, 1, &H[s], 0.5, 1.5, 74),
                            input(dt, 1, &H[s], -1, 1, 75)};
        run_backward(b, sg_lnlstm_pointwise(in[0], in[1], in[2], in[3], in[4], 1e-5), in, 5, 76);
        sg_tensor *in1[2] = {input(dt, 2, (int64_t[]){B[s], 4 * H[s]}, -12, 12, 77),
                             input(dt, 2, (int64_t[]){B[s], H[s]}, -4, 4, 78)};
        run_backward(b, sg_lnlstm_pointwise(in1[0], NULL, in1[1], NULL, NULL, 1e-5), in1, 2, 79);
    }
}

/* ops/gated_update.c: one chunk, and several in parallel */
static void fam_gated_update(sg_dtype dt, blob *b) {
    const int64_t shape[2][2] = {{7, 29}, {64, 300}};
    for (int s = 0; s < 2; s++) {
        sg_tensor *in[3] = {input(dt, 2, shape[s], -9, 9, 81), input(dt, 2, shape[s], 0, 1, 82),
                            input(dt, 2, shape[s], -2, 2, 83)};
        run_backward(b, sg_gated_tanh_update(in[0], in[1], in[2]), in, 3, 84);
    }
}

/* ops/norm.c: with weight and bias, weight only, neither; several row blocks; odd D */
static void fam_layer_norm(sg_dtype dt, blob *b) {
    const int64_t R[] = {70, 9, 200}, D[] = {300, 5, 256};
    for (int s = 0; s < 3; s++) {
        sg_tensor *in[3] = {input(dt, 2, (int64_t[]){R[s], D[s]}, -3, 5, 31), input(dt, 1, &D[s], 0.5, 1.5, 32),
                            input(dt, 1, &D[s], -1, 1, 33)};
        sg_tensor *w = s == 2 ? NULL : in[1], *bias = s == 1 ? NULL : in[2];
        run_backward(b, sg_layer_norm(in[0], w, bias, 1e-5), in, 3, 34);
    }
}

/* ops/ew_kernels.c and tensor/kernels.c: broadcasting binary ops forward and backward (the
 * gradients reduce to shape: column sums and the general sum; div's b-gradient is NEGMULDIV),
 * strided inputs (a transposed view), gradient accumulation, dtype conversion both ways */
static void fam_elementwise(sg_dtype dt, blob *b) {
    sg_tensor *in[3] = {input(dt, 3, (int64_t[]){4, 1, 37}, -2, 2, 41), input(dt, 2, (int64_t[]){3, 37}, 0.5, 2, 42),
                        input(dt, 2, (int64_t[]){37, 3}, -2, 2, 43)};
    sg_tensor *bt = sg_transpose(in[2], 0, 1); /* (3, 37), strided */
    sg_tensor *y = sg_add(sg_mul(sg_sub(in[0], in[1]), bt), sg_div(in[0], in[1]));
    y = sg_add(y, sg_mul(y, in[1])); /* in[1] used three times: its gradient accumulates */
    run_backward(b, y, in, 3, 44);
    /* large: parallel loops, the bias-gradient column sums */
    sg_tensor *big[2] = {input(dt, 2, (int64_t[]){300, 257}, -2, 2, 45), input(dt, 1, (int64_t[]){257}, -1, 1, 46)};
    run_backward(b, sg_div(sg_add(big[0], big[1]), sg_add_scalar(sg_abs(big[1]), 1)), big, 2, 47);
    sg_dtype other = dt == SG_F32 ? SG_F64 : SG_F32;
    sg_tensor *cv[1] = {input(dt, 2, (int64_t[]){33, 65}, -1e3, 1e3, 48)};
    run_backward(b, sg_contiguous(sg_to_dtype(sg_transpose(cv[0], 0, 1), other)), cv, 1, 49);
}

/* ops/unary.c: every op of its table, forward and backward, contiguous (several chunks, parallel)
 * and strided */
static void fam_unary(sg_dtype dt, blob *b) {
    const int64_t shape[2][2] = {{160, 301}, {9, 13}};
    for (int s = 0; s < 2; s++) {
        for (int op = 0;; op++) {
            sg_tensor *x[1] = {input(dt, 2, shape[s], -6, 6, 51 + (uint64_t)op)};
            sg_tensor *a = s ? sg_transpose(x[0], 0, 1) : x[0], *y;
            switch (op) {
            case 0: y = sg_neg(a); break;
            case 1: y = sg_add_scalar(a, 0.3); break;
            case 2: y = sg_mul_scalar(a, -1.7); break;
            case 3: y = sg_pow_scalar(a, 3); break;
            case 4: y = sg_exp(a); break;
            case 5: y = sg_abs(a); break;
            case 6: y = sg_sigmoid(a); break;
            case 7: y = sg_tanh(a); break;
            case 8: y = sg_relu(a); break;
            case 9: y = sg_clamp(a, -1, 2); break;
            case 10: y = sg_gelu(a); break;
            case 11: y = sg_gelu_tanh(a); break;
            case 12: y = sg_log(sg_add_scalar(sg_abs(a), 0.1)); break;
            case 13: y = sg_sqrt(sg_add_scalar(sg_abs(a), 0.1)); break;
            case 14: y = sg_pow_scalar(sg_add_scalar(sg_abs(a), 0.1), 0.7); break;
            default: y = NULL;
            }
            if (!y) {
                sg_tensor_free(x[0]);
                break;
            }
            run_backward(b, y, x, 1, 60 + (uint64_t)op);
        }
    }
}

/* optim/optim.c: every optimizer's update (chunks of 4096 and a ragged tail) and the global-norm
 * clipping (its lane sums and the scaling), over three steps of seeded gradients */
static void fam_optim(sg_dtype dt, blob *b) {
    static const sg_optim_config CFG[] = {
        {.kind = SG_OPT_SGD, .lr = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01},
        {.kind = SG_OPT_SGD, .lr = 0.1},
        {.kind = SG_OPT_ADAM, .lr = 1e-2, .weight_decay = 0.01},
        {.kind = SG_OPT_ADAMW, .lr = 1e-2, .weight_decay = 0.1},
        {.kind = SG_OPT_RMSPROP, .lr = 1e-2, .momentum = 0.5, .centered = true},
        {.kind = SG_OPT_RMSPROP, .lr = 1e-2},
    };
    enum { STEPS = 3 };
    const int64_t shape[] = {9000 + 37};
    for (size_t c = 0; c < sizeof CFG / sizeof CFG[0]; c++) {
        sg_model *m = sg_model_new(dt);
        ck_assert_int_eq(sg_model_declare(m, "w", 1, shape, SG_INIT_UNIFORM, 1.0), 0);
        ck_assert_int_eq(sg_model_finalize(m, 7 + c), 0);
        sg_optim *o = sg_optim_new(m, &CFG[c]);
        ck_assert_msg(o != NULL, "%s", sg_last_error());
        for (int s = 0; s < STEPS; s++) {
            sg_tensor *g = sg_model_flat_grads(m), *r = input(dt, 1, shape, -3, 3, 90 + 10 * c + (uint64_t)s);
            void *gp = dt == SG_F32 ? (void *)sg_data_f32(g) : (void *)sg_data_f64(g);
            ck_assert_int_eq(sg_to_buffer(r, gp, dt), 0);
            sg_mark_modified(g);
            sg_tensor_free(r);
            ck_assert_double_gt(sg_clip_grad_norm(m, 1.0), 1.0); /* clipping active: the scaling runs */
            ck_assert_int_eq(sg_optim_step(o), 0);
        }
        blob_add(b, sg_model_flat_params(m));
        for (int i = 0; i < sg_optim_state_count(o); i++) blob_add(b, sg_optim_state(o, i));
        sg_optim_free(o);
        sg_model_free(m);
    }
}

/* ops/dropout.c: the mask and scaling, forward and backward, sizes below and above one chunk */
static void fam_dropout(sg_dtype dt, blob *b) {
    const int64_t shape[2][2] = {{3, 7}, {97, 301}};
    const double ps[] = {0.1, 0.5, 0.9};
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < 3; k++) {
            sg_tensor *x[1] = {input(dt, 2, shape[s], -2, 2, 71 + (uint64_t)k)};
            sg_rng rng = sg_rng_new(72 + (uint64_t)k);
            rng.offset = 0xFFFFFF00u; /* the counter's high word changes inside the tensor */
            run_backward(b, sg_dropout(x[0], ps[k], true, &rng), x, 1, 73 + (uint64_t)k);
        }
}

typedef void (*family_fn)(sg_dtype dt, blob *b);
static const struct {
    const char *name;
    family_fn fn;
} FAMILIES[] = {
    {"lstm_pointwise", fam_lstm},
    {"gru_pointwise", fam_gru},
    {"layer_norm", fam_layer_norm},
    {"lnlstm_pointwise", fam_lnlstm},
    {"gated_tanh_update", fam_gated_update},
    {"elementwise, copies, sums to shape", fam_elementwise},
    {"unary", fam_unary},
    {"optimizer updates, gradient clipping", fam_optim},
    {"dropout", fam_dropout},
};
enum { N_FAMILIES = sizeof FAMILIES / sizeof FAMILIES[0] };

static void run_at(sg_isa isa, int fam, sg_dtype dt, blob *b) {
    ck_assert_int_eq(sg_set_isa(isa), SG_OK);
    ck_assert_int_eq(sg_get_isa(), isa);
    FAMILIES[fam].fn(dt, b);
}

/* index of the first differing element of tensor k, or -1 */
static int64_t first_mismatch(const blob *a, const blob *b, int k) {
    size_t es = a->dt[k] == SG_F32 ? sizeof(float) : sizeof(double);
    size_t end = k + 1 < a->ntensors ? a->start[k + 1] : a->n;
    for (size_t o = a->start[k]; o < end; o += es)
        if (memcmp(a->p + o, b->p + o, es)) return (int64_t)((o - a->start[k]) / es);
    return -1;
}

static double elem(const blob *x, int k, int64_t i) {
    const unsigned char *p = x->p + x->start[k];
    if (x->dt[k] == SG_F32) {
        float f;
        memcpy(&f, p + (size_t)i * sizeof f, sizeof f);
        return f;
    }
    double d;
    memcpy(&d, p + (size_t)i * sizeof d, sizeof d);
    return d;
}

START_TEST(same_bits_at_every_level) {
    int fam = _i / 2;
    sg_dtype dt = _i % 2 ? SG_F64 : SG_F32;
    sg_isa start = sg_get_isa();
    blob ref = {0};
    run_at(SG_ISA_BASELINE, fam, dt, &ref);
    ck_assert_int_gt(ref.ntensors, 0);
    int compared = 0;
    for (int l = SG_ISA_BASELINE + 1; l < SG_ISA_COUNT; l++) {
        if (!sg_isa_supported((sg_isa)l)) continue;
        blob got = {0};
        run_at((sg_isa)l, fam, dt, &got);
        ck_assert_int_eq(got.ntensors, ref.ntensors);
        ck_assert_uint_eq(got.n, ref.n);
        for (int k = 0; k < ref.ntensors; k++) {
            int64_t i = first_mismatch(&ref, &got, k);
            ck_assert_msg(i < 0, "%s %s: tensor %d differs at %s from baseline, first at element %lld: %.17g vs %.17g",
                          FAMILIES[fam].name, dt == SG_F32 ? "f32" : "f64", k, sg_isa_name((sg_isa)l), (long long)i,
                          elem(&got, k, i), elem(&ref, k, i));
        }
        compared++;
        free(got.p);
    }
    /* a machine without AVX2 has nothing to compare; say so rather than pass silently */
    if (!compared) fprintf(stderr, "test_isa: %s: only the baseline level here, nothing compared\n", FAMILIES[fam].name);
    ck_assert_int_eq(sg_set_isa(start), SG_OK);
    free(ref.p);
}
END_TEST

/* the comparison itself catches a one-bit difference (so a pass above means equal bits) */
START_TEST(mismatch_is_detected) {
    blob a = {0}, b = {0};
    fam_gru(SG_F32, &a);
    fam_gru(SG_F32, &b);
    ck_assert_int_eq(first_mismatch(&a, &b, 0), -1);
    b.p[b.start[1] + 5 * sizeof(float)] ^= 1; /* lowest mantissa bit of element 5 of tensor 1 */
    ck_assert_int_eq(first_mismatch(&a, &b, 1), 5);
    free(a.p);
    free(b.p);
}
END_TEST

START_TEST(level_api) {
    sg_isa start = sg_get_isa();
    ck_assert(sg_isa_supported(SG_ISA_BASELINE));
    ck_assert(sg_isa_supported(start));
    ck_assert_str_eq(sg_isa_name(SG_ISA_BASELINE), "baseline");
    ck_assert_str_eq(sg_isa_name(SG_ISA_AVX2), "avx2");
    ck_assert_str_eq(sg_isa_name(SG_ISA_AVX512), "avx512");
    ck_assert_str_eq(sg_isa_name(SG_ISA_COUNT), "?");
    ck_assert_int_eq(sg_set_isa(SG_ISA_COUNT), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "sg_set_isa");
    ck_assert_int_eq(sg_set_isa((sg_isa)-1), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "sg_set_isa");
    /* levels are ordered: supported ones form a prefix */
    bool seen_unsupported = false;
    for (int l = 0; l < SG_ISA_COUNT; l++) {
        bool ok = sg_isa_supported((sg_isa)l);
        ck_assert_msg(!(ok && seen_unsupported), "level %d supported after an unsupported one", l);
        seen_unsupported |= !ok;
        if (!ok) {
            ck_assert_int_eq(sg_set_isa((sg_isa)l), SG_ERR_UNSUPPORTED);
            tu_assert_error(SG_ERR_UNSUPPORTED, sg_isa_name((sg_isa)l));
            ck_assert_int_eq(sg_get_isa(), start); /* unchanged */
        }
    }
    const sg_version_info *v = sg_library_version();
    ck_assert_ptr_nonnull(v->isa);
    if (!v->isa_dispatch) {
        ck_assert(!sg_isa_supported(SG_ISA_AVX2));
    } else {
#if defined(__x86_64__)
        /* every x86-64 CPU this suite runs on in CI has AVX2; a dispatch build that found none is a
         * broken detection, not an old CPU (SEQGRAD_TEST_NO_AVX2=1 to run on one anyway) */
        const char *old = getenv("SEQGRAD_TEST_NO_AVX2");
        if (!(old && *old == '1')) ck_assert_msg(sg_isa_supported(SG_ISA_AVX2), "no AVX2 detected");
#endif
    }
    ck_assert_int_eq(sg_set_isa(start), SG_OK);
}
END_TEST

/* SEQGRAD_ISA as read at load: without it the best level; with it (CTest isa_env_baseline) that one */
START_TEST(env_level) {
    const sg_version_info *v = sg_library_version();
    const char *env = getenv("SEQGRAD_ISA"), *expect = getenv("SEQGRAD_ISA_EXPECT");
    if (!v->isa_dispatch) {
        ck_assert(!strcmp(v->isa, "native") || !strcmp(v->isa, "baseline"));
        return;
    }
    if (expect) {
        ck_assert_str_eq(v->isa, expect);
        ck_assert_str_eq(sg_isa_name(sg_get_isa()), expect);
    } else if (!env || !*env) {
        int best = 0;
        while (best + 1 < SG_ISA_COUNT && sg_isa_supported((sg_isa)(best + 1))) best++;
        ck_assert_str_eq(v->isa, sg_isa_name((sg_isa)best));
        ck_assert_int_eq(sg_get_isa(), best);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("isa");
    TCase *t = tcase_create("isa");
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, same_bits_at_every_level, 0, 2 * N_FAMILIES);
    tcase_add_test(t, mismatch_is_detected);
    tcase_add_test(t, level_api);
    tcase_add_test(t, env_level);
    tcase_add_checked_fixture(t, NULL, tu_teardown);
    suite_add_tcase(s, t);
    return tu_run(s);
}
