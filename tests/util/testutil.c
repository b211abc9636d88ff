/* Shared helpers for the Check suites (see testutil.h). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

size_t sg__registry_count(void);

sg_tensor *tu_rand(sg_dtype dt, int ndim, const int64_t *shape, double lo, double hi, uint64_t seed,
                   bool requires_grad) {
    sg_rng rng = sg_rng_new(seed);
    sg_tensor *t = sg_uniform(&rng, dt, ndim, shape, lo, hi);
    ck_assert_msg(t != NULL, "tu_rand: %s", sg_last_error());
    if (requires_grad) sg_set_requires_grad(t, true);
    return t;
}

sg_tensor *tu_from(sg_dtype dt, int ndim, const int64_t *shape, const double *values) {
    sg_tensor *t = sg_from_buffer(dt, ndim, shape, values, SG_F64);
    ck_assert_msg(t != NULL, "tu_from: %s", sg_last_error());
    return t;
}

static void make_inputs(const tu_case *c, sg_dtype dt, sg_tensor **in) {
    double lo = c->lo, hi = c->hi;
    if (lo == 0 && hi == 0) {
        lo = -1;
        hi = 1;
    }
    for (int i = 0; i < c->n_in; i++)
        in[i] = tu_rand(dt, c->ndim[i], c->shape[i], lo, hi, 1000 + (uint64_t)i * 7919,
                        !(c->no_grad_mask & (1u << i)));
}

void tu_check_case_grad(const tu_case *c) {
    sg_clear_error();
    sg_tensor *in[TU_MAX_IN];
    make_inputs(c, SG_F64, in);
    sg_gradcheck_opts o = sg_gradcheck_defaults(SG_F64);
    if (c->atol > 0) o.atol = c->atol;
    if (c->rtol > 0) o.rtol = c->rtol;
    sg_gradcheck_result r;
    int rc = sg_gradcheck(c->fn, (void *)c, in, c->n_in, &o, &r);
    ck_assert_msg(rc == SG_OK, "%s: gradcheck could not run: %s", c->name, sg_last_error());
    ck_assert_msg(r.ok, "%s: %s", c->name, r.message);
    ck_assert_msg(r.n_compared > 0 || c->no_grad_mask == (1u << c->n_in) - 1, "%s: nothing compared", c->name);
    for (int i = 0; i < c->n_in; i++) sg_tensor_free(in[i]);
    tu_teardown();
}

void tu_check_case_f32(const tu_case *c) {
    sg_clear_error();
    sg_tensor *i64[TU_MAX_IN], *i32[TU_MAX_IN];
    make_inputs(c, SG_F64, i64);
    for (int i = 0; i < c->n_in; i++) {
        i32[i] = sg_copy_as(i64[i], SG_F32);
        if (!(c->no_grad_mask & (1u << i))) sg_set_requires_grad(i32[i], true);
    }
    sg_tensor *y64 = c->fn(i64, c->n_in, (void *)c);
    sg_tensor *y32 = c->fn(i32, c->n_in, (void *)c);
    ck_assert_msg(y64 && y32, "%s: forward failed: %s", c->name, sg_last_error());
    ck_assert_int_eq(sg_dtype_of(y32), SG_F32);
    ck_assert_msg(sg_same_shape(y64, y32), "%s: f32 and f64 shapes differ", c->name);
    double tol = c->f32_tol > 0 ? c->f32_tol : 1e-5;
    for (int64_t j = 0; j < sg_numel(y64); j++) {
        double a = sg_get_flat(y64, j), b = sg_get_flat(y32, j);
        ck_assert_msg(fabs(a - b) <= tol * (1 + fabs(a)), "%s: f32 %.9g vs f64 %.9g at %lld", c->name,
                      b, a, (long long)j);
    }
    sg_tape_clear();
    for (int i = 0; i < c->n_in; i++) {
        sg_tensor_free(i64[i]);
        sg_tensor_free(i32[i]);
    }
    tu_teardown();
}

void tu_assert_values(const sg_tensor *t, const double *e, int64_t n, double atol, double rtol) {
    ck_assert_msg(t != NULL, "tensor is NULL: %s", sg_last_error());
    ck_assert_int_eq(sg_numel(t), n);
    for (int64_t i = 0; i < n; i++) {
        double v = sg_get_flat(t, i);
        ck_assert_msg(fabs(v - e[i]) <= atol + rtol * fabs(e[i]), "value %lld: got %.10g expected %.10g",
                      (long long)i, v, e[i]);
    }
}

void tu_assert_error(sg_status s, const char *must_contain) {
    ck_assert_msg(sg_last_status() == s, "expected status %d (%s), got %d: '%s'", s, sg_status_name(s),
                  sg_last_status(), sg_last_error());
    if (must_contain)
        ck_assert_msg(strstr(sg_last_error(), must_contain) != NULL, "message '%s' lacks '%s'",
                      sg_last_error(), must_contain);
    sg_clear_error();
}

void tu_teardown(void) {
    ck_assert_msg(!sg_has_error(), "unexpected pending error: %s", sg_last_error());
    sg_tape_clear();
}

int tu_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

const char *tu_source_dir(void) {
    const char *s = getenv("SEQGRAD_SOURCE_DIR");
    return s ? s : ".";
}

const char *tu_data_dir(void) {
#ifndef SEQGRAD_DEFAULT_DATA_DIR
#define SEQGRAD_DEFAULT_DATA_DIR "../shared/data"
#endif
    const char *d = getenv("SEQGRAD_DATA_DIR");
    return d && *d ? d : SEQGRAD_DEFAULT_DATA_DIR;
}

TCase *tu_data_tcase(Suite *s, const char *name) {
    TCase *t = tcase_create(name);
    tcase_set_tags(t, "data");
    suite_add_tcase(s, t);
    return t;
}

sg_st_file *tu_open_fixture(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/%s.safetensors", tu_source_dir(), name);
    sg_st_file *f = sg_st_open(path);
    ck_assert_msg(f != NULL, "%s", sg_last_error());
    return f;
}

int64_t tu_meta_int(sg_st_file *f, const char *key) {
    const char *v = sg_st_meta(f, key);
    ck_assert_msg(v != NULL, "fixture lacks metadata '%s'", key);
    return atoll(v);
}
