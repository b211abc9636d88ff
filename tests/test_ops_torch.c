/* The primitive ops of ops/ against PyTorch: every case of the tests/fixtures/ops_<family>
 * files written by tools/fixtures_ops.py runs forward and backward (cotangent R) in float64 (to
 * 1e-10) and float32 (to 1e-4), comparing the output, the gradient of every differentiable input,
 * and integer outputs (indices) where the fixture has "<case>.out<j>". The fixture format is
 * described in tools/fixtures_ops.py. */
#include <stdlib.h>
#include <string.h>

#include "util/testutil.h"

enum { MAX_ARGS = 8, MAX_IDX = 256, MAX_EXTRA = 2 };
#define F64_TOL 1e-10
#define F32_TOL 1e-4

/* One case as the op function sees it: scalar args and the index array of the fixture. */
typedef struct {
    double args[MAX_ARGS];
    int64_t idx[MAX_IDX];
    int64_t n_idx;
    int idx_ndim;
    int64_t idx_shape[SG_MAX_DIMS];
    int64_t extra[MAX_EXTRA][MAX_IDX]; /* integer outputs written by the op (indices) */
} fx_case;

/* Builds the op's output from the inputs; may fill c->extra. */
typedef sg_tensor *(*fx_fn)(sg_tensor *const *in, int n, fx_case *c);

/* ---- the ops, one adapter per family ---- */

/* args: eps, has_weight, has_bias; inputs x[, weight][, bias] */
static sg_tensor *fx_layer_norm(sg_tensor *const *in, int n, fx_case *c) {
    (void)n;
    int hw = (int)c->args[1], hb = (int)c->args[2];
    return sg_layer_norm(in[0], hw ? in[1] : NULL, hb ? in[hw ? 2 : 1] : NULL, c->args[0]);
}

/* args: dim, index */
static sg_tensor *fx_select(sg_tensor *const *in, int n, fx_case *c) {
    (void)n;
    return sg_select(in[0], (int)c->args[0], (int64_t)c->args[1]);
}

/* op codes of the "order" family (as tools/fixtures_ops.py) */
enum { ORD_MIN, ORD_ARGMAX, ORD_ARGMIN, ORD_TOPK, ORD_VAR, ORD_STD, ORD_VAR_ALL, ORD_CUMSUM, ORD_GELU, ORD_GELU_TANH };
/* args: op code, dim, p1, p2; the argmax/argmin cases return the max/min values and write the
 * indices to extra[0], topk writes its indices there */
static sg_tensor *fx_order(sg_tensor *const *in, int n, fx_case *c) {
    (void)n;
    int dim = (int)c->args[1];
    double p1 = c->args[2], p2 = c->args[3];
    switch ((int)c->args[0]) {
    case ORD_MIN: return sg_min(in[0], dim, p1 != 0);
    case ORD_ARGMAX:
        ck_assert_int_ge(sg_argmax(in[0], dim, c->extra[0], MAX_IDX), 0);
        return sg_max(in[0], dim, false);
    case ORD_ARGMIN:
        ck_assert_int_ge(sg_argmin(in[0], dim, c->extra[0], MAX_IDX), 0);
        return sg_min(in[0], dim, false);
    case ORD_TOPK: return sg_topk(in[0], (int64_t)p1, dim, p2 != 0, c->extra[0], MAX_IDX);
    case ORD_VAR: return sg_var(in[0], 1, &dim, p1 != 0, false);
    case ORD_STD: return sg_std(in[0], 1, &dim, p1 != 0, false);
    case ORD_VAR_ALL: return sg_var(in[0], 0, NULL, p1 != 0, false);
    case ORD_CUMSUM: return sg_cumsum(in[0], dim);
    case ORD_GELU: return sg_gelu(in[0]);
    case ORD_GELU_TANH: return sg_gelu_tanh(in[0]);
    default: ck_abort_msg("bad order op code %g", c->args[0]);
    }
    return NULL;
}

/* args: 0 gather / 1 scatter_add, dim; index c->idx with shape c->idx_shape; inputs x[, src] */
static sg_tensor *fx_gather(sg_tensor *const *in, int n, fx_case *c) {
    (void)n;
    int dim = (int)c->args[1];
    if (c->args[0] == 0) return sg_gather(in[0], dim, c->idx_shape, c->idx);
    return sg_scatter_add(in[0], dim, c->idx_shape, c->idx, in[1]);
}

/* args: trans_a, trans_b */
static sg_tensor *fx_matmul(sg_tensor *const *in, int n, fx_case *c) {
    (void)n;
    return sg_matmul_t(in[0], c->args[0] != 0, in[1], c->args[1] != 0);
}

/* args: ignore_index, label_smoothing, reduction; targets c->idx */
static sg_tensor *fx_cross_entropy(sg_tensor *const *in, int n, fx_case *c) {
    (void)n;
    return sg_cross_entropy_nd(in[0], c->idx, (int64_t)c->args[0], c->args[1], (sg_reduction)(int)c->args[2]);
}

typedef struct {
    const char *family;
    fx_fn fn;
} fx_family;

static const fx_family FAMILIES[] = {
    {"layer_norm", fx_layer_norm},
    {"select", fx_select},
    {"order", fx_order},
    {"gather", fx_gather},
    {"matmul", fx_matmul},
    {"cross_entropy", fx_cross_entropy},
};
enum { NFAMILIES = sizeof FAMILIES / sizeof FAMILIES[0] };

static void assert_close(const char *what, const sg_tensor *got, const sg_tensor *want, double tol) {
    ck_assert_msg(got && want, "%s: missing tensor (%s)", what, sg_last_error());
    ck_assert_msg(sg_numel(got) == sg_numel(want), "%s: %lld elements, torch has %lld", what,
                  (long long)sg_numel(got), (long long)sg_numel(want));
    for (int64_t i = 0; i < sg_numel(want); i++) {
        double g = sg_get_flat(got, i), w = sg_get_flat(want, i);
        ck_assert_msg(fabs(g - w) <= tol * (1 + fabs(w)), "%s[%lld]: %.12g, torch %.12g", what, (long long)i, g, w);
    }
}

static void run_case(sg_st_file *f, const fx_family *fam, const char *cs, sg_dtype dt) {
    char key[160], what[200];
    fx_case c = {{0}};
    snprintf(key, sizeof key, "%s.args", cs);
    sg_tensor *args = sg_st_get(f, key, SG_F64);
    ck_assert_msg(args != NULL, "%s", sg_last_error());
    for (int64_t i = 0; i < sg_numel(args) && i < MAX_ARGS; i++) c.args[i] = sg_get_flat(args, i);
    sg_tensor_free(args);
    snprintf(key, sizeof key, "%s.idx", cs);
    if (sg_st_find(f, key) >= 0) {
        sg_tensor *ix = sg_st_get(f, key, SG_F64);
        c.n_idx = sg_numel(ix);
        ck_assert_int_le(c.n_idx, MAX_IDX);
        c.idx_ndim = sg_shape(ix, c.idx_shape);
        for (int64_t i = 0; i < c.n_idx; i++) c.idx[i] = (int64_t)sg_get_flat(ix, i);
        sg_tensor_free(ix);
    }
    sg_tensor *in[TU_MAX_IN] = {0};
    bool diff[TU_MAX_IN] = {false};
    int n = 0;
    for (; n < TU_MAX_IN; n++) {
        snprintf(key, sizeof key, "%s.in%d", cs, n);
        if (sg_st_find(f, key) < 0) break;
        in[n] = sg_st_get(f, key, dt);
        snprintf(key, sizeof key, "%s.grad%d", cs, n);
        diff[n] = sg_st_find(f, key) >= 0;
        if (diff[n]) sg_set_requires_grad(in[n], true);
    }
    double tol = dt == SG_F64 ? F64_TOL : F32_TOL;
    sg_tensor *y = fam->fn(in, n, &c);
    snprintf(what, sizeof what, "%s/%s %s out", fam->family, cs, sg_dtype_name(dt));
    snprintf(key, sizeof key, "%s.out", cs);
    sg_tensor *want = sg_st_get(f, key, SG_F64);
    assert_close(what, y, want, tol);
    sg_tensor_free(want);
    for (int j = 0; j < MAX_EXTRA; j++) {
        snprintf(key, sizeof key, "%s.out%d", cs, j + 1);
        if (sg_st_find(f, key) < 0) continue;
        sg_tensor *e = sg_st_get(f, key, SG_F64);
        ck_assert_msg(e != NULL, "%s", sg_last_error());
        for (int64_t i = 0; i < sg_numel(e); i++)
            ck_assert_msg(c.extra[j][i] == (int64_t)sg_get_flat(e, i), "%s/%s %s out%d[%lld]: %lld, torch %lld",
                          fam->family, cs, sg_dtype_name(dt), j + 1, (long long)i, (long long)c.extra[j][i],
                          (long long)sg_get_flat(e, i));
        sg_tensor_free(e);
    }
    bool any = false;
    for (int k = 0; k < n; k++) any |= diff[k];
    if (any) {
        snprintf(key, sizeof key, "%s.R", cs);
        sg_tensor *R = sg_st_get(f, key, dt);
        ck_assert_msg(R != NULL, "%s", sg_last_error());
        ck_assert_int_eq(sg_backward_grad(y, R), SG_OK);
        sg_tensor_free(R);
        for (int k = 0; k < n; k++) {
            if (!diff[k]) continue;
            snprintf(key, sizeof key, "%s.grad%d", cs, k);
            snprintf(what, sizeof what, "%s/%s %s grad of in%d", fam->family, cs, sg_dtype_name(dt), k);
            sg_tensor *g = sg_st_get(f, key, SG_F64);
            assert_close(what, sg_grad(in[k]), g, tol);
            sg_tensor_free(g);
        }
    }
    sg_tape_clear();
    for (int k = 0; k < n; k++) sg_tensor_free(in[k]);
    tu_teardown();
}

START_TEST(torch_family) {
    const fx_family *fam = &FAMILIES[_i];
    char name[96];
    snprintf(name, sizeof name, "ops_%s", fam->family);
    sg_st_file *f = tu_open_fixture(name);
    const char *list = sg_st_meta(f, "cases");
    ck_assert_ptr_nonnull(list);
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", list);
    int count = 0;
    for (char *save = NULL, *cs = strtok_r(buf, ",", &save); cs; cs = strtok_r(NULL, ",", &save)) {
        run_case(f, fam, cs, SG_F64);
        run_case(f, fam, cs, SG_F32);
        count++;
    }
    ck_assert_int_gt(count, 0);
    sg_st_close(f);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("ops_torch");
    TCase *tc = tcase_create("fixtures");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, torch_family, 0, NFAMILIES);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run(suite()); }
