/* Tensor core: creation, shapes and strides, views (contiguous and not), element access, copies,
 * version counters, the Philox RNG (known answers, statistics, seeding, thread-count independence),
 * ownership rules and error paths. Not ops or autograd (see test_autograd.c). */
#include <stdlib.h>
#include <string.h>

#include "../autograd/node.h"
#include "util/testutil.h"

size_t sg__registry_count(void);

enum {
    STAT_N = 100000,              /* samples for the statistical checks */
    BIG_N = 4 * SG_PAR_MIN + 7,   /* above the parallel threshold, not a multiple of anything */
};

/* Every test ends here: no pending error, empty tape, and no live tensor left (nothing leaked). */
static void done(void) {
    tu_teardown();
    ck_assert_msg(sg__registry_count() == 0, "%zu tensors still live", sg__registry_count());
}

/* ---- creation ---- */

START_TEST(creation_values) {
    sg_dtype dt = _i ? SG_F64 : SG_F32;
    int64_t s23[] = {2, 3};
    sg_tensor *z = sg_zeros(dt, 2, s23), *o = sg_ones(dt, 2, s23), *f = sg_full(dt, 2, s23, -2.5);
    sg_tensor *sc = sg_scalar(dt, 7.25), *e = sg_empty(dt, 2, s23);
    ck_assert(z && o && f && sc && e);
    tu_assert_values(z, (double[]){0, 0, 0, 0, 0, 0}, 6, 0, 0);
    tu_assert_values(o, (double[]){1, 1, 1, 1, 1, 1}, 6, 0, 0);
    tu_assert_values(f, (double[]){-2.5, -2.5, -2.5, -2.5, -2.5, -2.5}, 6, 0, 0);
    ck_assert_int_eq(sg_dtype_of(z), dt);
    ck_assert_int_eq(sg_dtype_of(e), dt);
    ck_assert_int_eq(sg_ndim(f), 2);
    ck_assert_int_eq(sg_numel(e), 6);
    /* 0-d scalar */
    ck_assert_int_eq(sg_ndim(sc), 0);
    ck_assert_int_eq(sg_numel(sc), 1);
    ck_assert(sg_item(sc) == 7.25);
    ck_assert(sg_get_flat(sc, 0) == 7.25);
    /* f32 rounding of the fill value */
    sg_tensor *third = sg_full(dt, 1, (int64_t[]){3}, 1.0 / 3.0);
    ck_assert(sg_get_flat(third, 2) == (dt == SG_F32 ? (double)(float)(1.0 / 3.0) : 1.0 / 3.0));
    /* user-owned, no grad */
    ck_assert(!sg_requires_grad(z));
    ck_assert_ptr_null(sg_grad(z));
    ck_assert_int_eq(sg_version(z), 0);
    /* empty tensors: legal, numel 0 */
    sg_tensor *e1 = sg_zeros(dt, 2, (int64_t[]){0, 3}), *e2 = sg_ones(dt, 3, (int64_t[]){2, 0, 4});
    ck_assert(e1 && e2);
    ck_assert_int_eq(sg_numel(e1), 0);
    ck_assert_int_eq(sg_numel(e2), 0);
    ck_assert_int_eq(sg_size(e2, 1), 0);
    /* every rank up to SG_MAX_DIMS */
    int64_t ones8[SG_MAX_DIMS] = {1, 2, 1, 2, 1, 2, 1, 2};
    sg_tensor *r8 = sg_full(dt, SG_MAX_DIMS, ones8, 3);
    ck_assert_int_eq(sg_numel(r8), 16);
    ck_assert(sg_get_flat(r8, 15) == 3);
    sg_tensor *all[] = {z, o, f, sc, e, third, e1, e2, r8};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ck_assert_int_eq(sg_tensor_free(all[i]), SG_OK);
    done();
}
END_TEST

START_TEST(arange_cases) {
    sg_dtype dt = _i ? SG_F64 : SG_F32;
    sg_tensor *a = sg_arange(dt, 0, 5, 1);
    tu_assert_values(a, (double[]){0, 1, 2, 3, 4}, 5, 0, 0);
    sg_tensor *b = sg_arange(dt, 0, 1, 0.25);
    tu_assert_values(b, (double[]){0, 0.25, 0.5, 0.75}, 4, 0, 0);
    sg_tensor *c = sg_arange(dt, 5, 0, -2); /* negative step */
    tu_assert_values(c, (double[]){5, 3, 1}, 3, 0, 0);
    sg_tensor *d = sg_arange(dt, -1, -3.5, -0.5);
    tu_assert_values(d, (double[]){-1, -1.5, -2, -2.5, -3}, 5, 0, 0);
    sg_tensor *frac = sg_arange(dt, 0, 2.5, 1); /* ceil: 0, 1, 2 */
    tu_assert_values(frac, (double[]){0, 1, 2}, 3, 0, 0);
    /* empty ranges: start == stop, and a step pointing away from stop */
    sg_tensor *e1 = sg_arange(dt, 3, 3, 1), *e2 = sg_arange(dt, 3, 1, 1), *e3 = sg_arange(dt, 1, 3, -1);
    ck_assert(e1 && e2 && e3);
    ck_assert_int_eq(sg_ndim(e1), 1);
    ck_assert_int_eq(sg_numel(e1), 0);
    ck_assert_int_eq(sg_numel(e2), 0);
    ck_assert_int_eq(sg_numel(e3), 0);
    ck_assert_int_eq(sg_dtype_of(e3), dt);
    /* values are start + i*step rounded to the dtype, not accumulated */
    sg_tensor *t = sg_arange(dt, 0, 1, 0.1);
    ck_assert_int_eq(sg_numel(t), 10);
    double want = dt == SG_F32 ? (double)(float)(7 * 0.1) : 7 * 0.1;
    ck_assert(sg_get_flat(t, 7) == want);
    sg_tensor *all[] = {a, b, c, d, frac, e1, e2, e3, t};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sg_tensor_free(all[i]);
    done();
}
END_TEST

START_TEST(from_buffer_convert) {
    const double d[] = {0.1, -2.5, 1e-3, 3.0, 1.0 / 3.0, -0.0};
    const float f[] = {0.1f, -2.5f, 1e-3f, 3.0f, 1.0f / 3.0f, -0.0f};
    int64_t s[] = {2, 3};
    sg_tensor *dd = sg_from_buffer(SG_F64, 2, s, d, SG_F64), *df = sg_from_buffer(SG_F32, 2, s, d, SG_F64);
    sg_tensor *fd = sg_from_buffer(SG_F64, 2, s, f, SG_F32), *ff = sg_from_buffer(SG_F32, 2, s, f, SG_F32);
    ck_assert(dd && df && fd && ff);
    for (int i = 0; i < 6; i++) {
        ck_assert(sg_get_flat(dd, i) == d[i]);
        ck_assert(sg_get_flat(df, i) == (double)(float)d[i]);
        ck_assert(sg_get_flat(fd, i) == (double)f[i]);
        ck_assert(sg_get_flat(ff, i) == (double)f[i]);
    }
    ck_assert(signbit(sg_get_flat(df, 5)));
    /* the tensor owns a copy: changing the buffer afterwards does not change it */
    double buf[2] = {1, 2};
    sg_tensor *c = sg_from_buffer(SG_F64, 1, (int64_t[]){2}, buf, SG_F64);
    buf[0] = 99;
    ck_assert(sg_get_flat(c, 0) == 1);
    /* 0-d from a buffer, and an empty tensor from a (non-NULL) buffer */
    sg_tensor *z = sg_from_buffer(SG_F32, 0, NULL, d + 3, SG_F64);
    ck_assert(sg_item(z) == 3.0);
    sg_tensor *e = sg_from_buffer(SG_F64, 1, (int64_t[]){0}, d, SG_F64);
    ck_assert_int_eq(sg_numel(e), 0);
    sg_tensor *all[] = {dd, df, fd, ff, c, z, e};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sg_tensor_free(all[i]);
    done();
}
END_TEST

/* ---- shapes, strides, contiguity ---- */

START_TEST(shapes_strides) {
    int64_t s[] = {2, 3, 4};
    sg_tensor *t = sg_zeros(SG_F64, 3, s);
    ck_assert_int_eq(sg_ndim(t), 3);
    ck_assert_int_eq(sg_numel(t), 24);
    ck_assert_int_eq(sg_size(t, 0), 2);
    ck_assert_int_eq(sg_size(t, -1), 4);
    ck_assert_int_eq(sg_size(t, -3), 2);
    int64_t out[SG_MAX_DIMS] = {0};
    ck_assert_int_eq(sg_shape(t, out), 3);
    ck_assert(out[0] == 2 && out[1] == 3 && out[2] == 4);
    ck_assert(t->stride[0] == 12 && t->stride[1] == 4 && t->stride[2] == 1 && t->offset == 0);
    ck_assert(sg_is_contiguous(t));
    char buf[SG_SHAPE_BUF];
    ck_assert_str_eq(sg_shape_str(t, buf, sizeof buf), "(2,3,4)");
    /* 0-d */
    sg_tensor *sc = sg_scalar(SG_F32, 1);
    ck_assert_int_eq(sg_shape(sc, out), 0);
    ck_assert(sg_is_contiguous(sc));
    ck_assert_str_eq(sg_shape_str(sc, buf, sizeof buf), "()");
    /* same_shape */
    sg_tensor *u = sg_ones(SG_F32, 3, s), *v = sg_ones(SG_F64, 2, s);
    ck_assert(sg_same_shape(t, u));
    ck_assert(!sg_same_shape(t, v));
    ck_assert(!sg_same_shape(t, sc));
    /* empty tensors are contiguous whatever dim is 0 */
    sg_tensor *e1 = sg_zeros(SG_F64, 2, (int64_t[]){0, 3}), *e2 = sg_zeros(SG_F64, 2, (int64_t[]){3, 0});
    ck_assert(sg_is_contiguous(e1));
    ck_assert(sg_is_contiguous(e2));
    ck_assert_ptr_nonnull(sg_data_f64(e2));
    /* size-1 dims do not break contiguity whatever their stride */
    sg_tensor *v1 = sg__out_view(t, 3, (int64_t[]){1, 3, 4}, (int64_t[]){999, 4, 1}, 12);
    ck_assert(sg_is_contiguous(v1));
    ck_assert(sg_get_flat(v1, 0) == 0);
    /* bad dims */
    ck_assert_int_eq(sg_size(t, 3), -1);
    tu_assert_error(SG_ERR_ARG, "dim 3 out of range");
    ck_assert_int_eq(sg_size(t, -4), -1);
    tu_assert_error(SG_ERR_ARG, "dim -4");
    ck_assert_int_eq(sg_size(sc, 0), -1);
    tu_assert_error(SG_ERR_ARG, "0-d");
    ck_assert_int_lt(sg_shape(t, NULL), 0);
    tu_assert_error(SG_ERR_NULL, "'out'");
    sg_tensor *all[] = {t, sc, u, v, e1, e2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sg_tensor_free(all[i]);
    done();
}
END_TEST

/* ---- views and element access ---- */

START_TEST(views_access) {
    sg_dtype dt = _i ? SG_F64 : SG_F32;
    sg_tensor *base = sg_arange(dt, 0, 6, 1); /* storage 0..5, viewed as (2,3) */
    sg_tensor *m = sg__out_view(base, 2, (int64_t[]){2, 3}, (int64_t[]){3, 1}, 0);
    sg_tensor *tr = sg__out_view(base, 2, (int64_t[]){3, 2}, (int64_t[]){1, 3}, 0); /* m^T */
    sg_tensor *col = sg__out_view(base, 1, (int64_t[]){2}, (int64_t[]){3}, 1);      /* m[:,1] */
    sg_tensor *one = sg__out_view(base, 0, NULL, NULL, 5);                           /* m[1,2] */
    sg_tensor *bc = sg__out_view(base, 2, (int64_t[]){2, 3}, (int64_t[]){0, 1}, 3);  /* row 1 twice */
    ck_assert(m && tr && col && one && bc);
    ck_assert(sg_is_contiguous(m));
    ck_assert(!sg_is_contiguous(tr));
    ck_assert(!sg_is_contiguous(col));
    ck_assert(!sg_is_contiguous(bc));
    tu_assert_values(tr, (double[]){0, 3, 1, 4, 2, 5}, 6, 0, 0);
    tu_assert_values(col, (double[]){1, 4}, 2, 0, 0);
    tu_assert_values(bc, (double[]){3, 4, 5, 3, 4, 5}, 6, 0, 0);
    ck_assert(sg_item(one) == 5);
    /* to_buffer in row-major logical order, both destination dtypes */
    double d6[6];
    float f6[6];
    ck_assert_int_eq(sg_to_buffer(tr, d6, SG_F64), SG_OK);
    ck_assert_int_eq(sg_to_buffer(tr, f6, SG_F32), SG_OK);
    const double want[] = {0, 3, 1, 4, 2, 5};
    for (int i = 0; i < 6; i++) ck_assert(d6[i] == want[i] && f6[i] == (float)want[i]);
    double d2[2];
    ck_assert_int_eq(sg_to_buffer(col, d2, SG_F64), SG_OK);
    ck_assert(d2[0] == 1 && d2[1] == 4);
    ck_assert_int_eq(sg_to_buffer(bc, d6, SG_F64), SG_OK);
    ck_assert(d6[0] == 3 && d6[3] == 3 && d6[5] == 5);
    /* sg_data_const points at the view's first element */
    const void *p = sg_data_const(col);
    ck_assert(dt == SG_F64 ? ((const double *)p)[0] == 1 : ((const float *)p)[0] == 1);
    /* typed pointers need contiguity and the right dtype */
    ck_assert_ptr_null(dt == SG_F64 ? (void *)sg_data_f64(tr) : (void *)sg_data_f32(tr));
    tu_assert_error(SG_ERR_ARG, "not contiguous");
    ck_assert_ptr_null(dt == SG_F64 ? (void *)sg_data_f32(m) : (void *)sg_data_f64(m));
    tu_assert_error(SG_ERR_DTYPE, sg_dtype_name(dt));
    ck_assert_ptr_nonnull(dt == SG_F64 ? (void *)sg_data_f64(m) : (void *)sg_data_f32(m));
    /* writes through a view land in the shared storage and bump the shared version */
    uint64_t v0 = sg_version(base);
    ck_assert_int_eq(sg_set_flat(tr, 1, -7), SG_OK); /* tr[0,1] = m[1,0] = storage[3] */
    ck_assert(sg_get_flat(base, 3) == -7);
    ck_assert(sg_get_flat(col, 1) == 4);
    ck_assert(sg_get_flat(bc, 0) == -7 && sg_get_flat(bc, 3) == -7);
    ck_assert_int_eq(sg_set_flat(col, 1, 40), SG_OK);
    ck_assert(sg_get_flat(base, 4) == 40);
    ck_assert_int_eq(sg_version(base), v0 + 2);
    ck_assert_int_eq(sg_version(tr), v0 + 2);
    /* copies of views: contiguous, user-owned, independent, surviving the tape */
    sg_tensor *ct = sg_copy(tr), *ct2 = sg_copy_as(tr, dt == SG_F64 ? SG_F32 : SG_F64);
    sg_tensor *cc = sg_copy(col);
    ck_assert(ct && ct2 && cc);
    ck_assert(sg_is_contiguous(ct) && sg_is_contiguous(cc));
    ck_assert_int_eq(sg_dtype_of(ct), dt);
    ck_assert_int_eq(sg_dtype_of(ct2), dt == SG_F64 ? SG_F32 : SG_F64);
    tu_assert_values(ct, (double[]){0, -7, 1, 40, 2, 5}, 6, 0, 0);
    tu_assert_values(ct2, (double[]){0, -7, 1, 40, 2, 5}, 6, 0, 0);
    tu_assert_values(cc, (double[]){1, 40}, 2, 0, 0);
    ck_assert_int_eq(sg_tape_len(), 5);
    sg_tape_clear();
    ck_assert(!sg_is_live(tr));
    ck_assert(sg_is_live(ct));
    tu_assert_values(ct, (double[]){0, -7, 1, 40, 2, 5}, 6, 0, 0);
    ck_assert_int_eq(sg_set_flat(ct, 0, 11), SG_OK);
    ck_assert(sg_get_flat(base, 0) == 0);
    sg_tensor_free(ct);
    sg_tensor_free(ct2);
    sg_tensor_free(cc);
    sg_tensor_free(base);
    done();
}
END_TEST

/* A user-owned strided view (sg__view + register): element access and random fills follow the
 * logical row-major order, and freeing the view leaves the base intact. */
START_TEST(user_view_fill) {
    sg_tensor *base = sg_zeros(SG_F64, 2, (int64_t[]){4, 5});
    sg_tensor *tv = sg__view(base, 2, (int64_t[]){5, 4}, (int64_t[]){1, 5}, 0); /* transpose */
    ck_assert_ptr_nonnull(tv);
    sg__register(tv);
    sg_rng r1 = sg_rng_new(42), r2 = sg_rng_new(42);
    ck_assert_int_eq(sg_fill_uniform(tv, &r1, -1, 1), SG_OK);
    sg_tensor *ref = sg_uniform(&r2, SG_F64, 2, (int64_t[]){5, 4}, -1, 1);
    for (int i = 0; i < 20; i++) ck_assert(sg_get_flat(tv, i) == sg_get_flat(ref, i));
    /* base (4,5) is the transpose of tv */
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++) ck_assert(sg_get_flat(base, j * 5 + i) == sg_get_flat(ref, i * 4 + j));
    ck_assert_int_eq(sg_fill(tv, 2.5), SG_OK);
    ck_assert(sg_get_flat(base, 19) == 2.5);
    ck_assert_int_eq(sg_tensor_free(tv), SG_OK);
    ck_assert(sg_get_flat(base, 0) == 2.5);
    sg_tensor_free(ref);
    sg_tensor_free(base);
    done();
}
END_TEST

START_TEST(copy_semantics) {
    sg_tensor *x = sg_from_buffer(SG_F64, 2, (int64_t[]){2, 2}, (double[]){1, 2, 3, 4}, SG_F64);
    sg_set_requires_grad(x, true);
    sg_tensor *c = sg_copy(x);
    ck_assert(!sg_requires_grad(c));
    ck_assert_ptr_null(sg_grad(c));
    ck_assert_ptr_ne(sg_data_const(c), sg_data_const(x));
    sg_set_flat(c, 0, 100);
    ck_assert(sg_get_flat(x, 0) == 1);
    /* a copy of an op result is user-owned and outlives the tape */
    sg_tensor *y = sg_add(x, x);
    sg_tensor *yc = sg_copy(y);
    ck_assert_int_eq(sg_tensor_free(y), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "owned by the tape");
    sg_tape_clear();
    tu_assert_values(yc, (double[]){2, 4, 6, 8}, 4, 0, 0);
    ck_assert(!sg_requires_grad(yc));
    /* copy_as rounds to float32 */
    sg_tensor *t = sg_scalar(SG_F64, 0.1);
    sg_tensor *t32 = sg_copy_as(t, SG_F32), *back = sg_copy_as(t32, SG_F64);
    ck_assert(sg_item(t32) == (double)0.1f);
    ck_assert(sg_item(back) == (double)0.1f);
    /* empty */
    sg_tensor *e = sg_zeros(SG_F32, 2, (int64_t[]){0, 4}), *ec = sg_copy(e);
    ck_assert(ec && sg_numel(ec) == 0 && sg_size(ec, 1) == 4);
    sg_tensor *all[] = {x, c, yc, t, t32, back, e, ec};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ck_assert_int_eq(sg_tensor_free(all[i]), SG_OK);
    done();
}
END_TEST

START_TEST(element_access) {
    sg_tensor *f = sg_zeros(SG_F32, 2, (int64_t[]){2, 3});
    ck_assert_int_eq(sg_set_flat(f, 4, 0.1), SG_OK);
    ck_assert(sg_get_flat(f, 4) == (double)0.1f);
    ck_assert(sg_data_f32(f)[4] == 0.1f);
    sg_tensor *d = sg_zeros(SG_F64, 1, (int64_t[]){3});
    sg_data_f64(d)[2] = 6.5;
    sg_mark_modified(d);
    ck_assert(sg_get_flat(d, 2) == 6.5);
    sg_tensor *one = sg_full(SG_F64, 2, (int64_t[]){1, 1}, -3);
    ck_assert(sg_item(one) == -3);
    double back[6] = {0};
    ck_assert_int_eq(sg_to_buffer(f, back, SG_F64), SG_OK);
    ck_assert(back[4] == (double)0.1f && back[0] == 0);
    sg_tensor_free(f);
    sg_tensor_free(d);
    sg_tensor_free(one);
    done();
}
END_TEST

START_TEST(version_counter) {
    sg_tensor *t = sg_zeros(SG_F64, 1, (int64_t[]){8});
    sg_rng r = sg_rng_new(1);
    uint64_t v = sg_version(t);
    ck_assert_int_eq(v, 0);
    sg_set_flat(t, 0, 1);
    ck_assert_int_eq(sg_version(t), ++v);
    sg_fill(t, 2);
    ck_assert_int_eq(sg_version(t), ++v);
    sg_fill_uniform(t, &r, 0, 1);
    ck_assert_int_eq(sg_version(t), ++v);
    sg_fill_normal(t, &r, 0, 1);
    ck_assert_int_eq(sg_version(t), ++v);
    sg_mark_modified(t);
    ck_assert_int_eq(sg_version(t), ++v);
    /* reads do not bump */
    double buf[8];
    (void)sg_get_flat(t, 3);
    sg_to_buffer(t, buf, SG_F64);
    (void)sg_data_const(t);
    sg_tensor *c = sg_copy(t);
    ck_assert_int_eq(sg_version(t), v);
    ck_assert_int_eq(sg_version(c), 0);
    /* failed writes do not bump */
    ck_assert_int_lt(sg_set_flat(t, 8, 0), 0);
    tu_assert_error(SG_ERR_ARG, "out of range");
    ck_assert_int_lt(sg_fill_uniform(t, &r, 1, 0), 0);
    tu_assert_error(SG_ERR_ARG, "bad parameters");
    ck_assert_int_eq(sg_version(t), v);
    sg_tensor_free(t);
    sg_tensor_free(c);
    done();
}
END_TEST

/* ---- random numbers ---- */

static void moments(const sg_tensor *t, double *mean, double *sd, double *lo, double *hi) {
    int64_t n = sg_numel(t);
    double s = 0, s2 = 0;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        double x = sg_get_flat(t, i);
        s += x;
        s2 += x * x;
        if (x < *lo) *lo = x;
        if (x > *hi) *hi = x;
    }
    *mean = s / (double)n;
    *sd = sqrt(s2 / (double)n - *mean * *mean);
}

START_TEST(uniform_stats) {
    sg_dtype dt = _i ? SG_F64 : SG_F32;
    sg_rng r = sg_rng_new(12345);
    const double lo = -2, hi = 3;
    sg_tensor *t = sg_uniform(&r, dt, 2, (int64_t[]){STAT_N / 100, 100}, lo, hi);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(r.offset, STAT_N);
    double mean, sd, mn, mx;
    moments(t, &mean, &sd, &mn, &mx);
    double sd_true = (hi - lo) / sqrt(12.0), se = sd_true / sqrt((double)STAT_N);
    ck_assert_msg(fabs(mean - 0.5) < 6 * se, "mean %g", mean);
    ck_assert_msg(fabs(sd - sd_true) < 0.01 * sd_true, "std %g vs %g", sd, sd_true);
    /* range: inside (lo, hi) in float64; float32 rounding may reach an end exactly */
    if (dt == SG_F64) ck_assert_msg(mn > lo && mx < hi, "range [%.17g, %.17g]", mn, mx);
    else ck_assert_msg(mn >= lo && mx <= hi, "range [%.9g, %.9g]", mn, mx);
    ck_assert_msg(mn < lo + 1e-3 && mx > hi - 1e-3, "range [%g, %g] not filled", mn, mx);
    /* each decile holds ~10% */
    int64_t bins[10] = {0};
    for (int64_t i = 0; i < STAT_N; i++) {
        int b = (int)((sg_get_flat(t, i) - lo) / (hi - lo) * 10);
        bins[b > 9 ? 9 : b]++;
    }
    for (int b = 0; b < 10; b++) ck_assert_msg(llabs(bins[b] - STAT_N / 10) < 600, "bin %d: %lld", b, (long long)bins[b]);
    sg_tensor_free(t);
    done();
}
END_TEST

START_TEST(normal_stats) {
    sg_dtype dt = _i ? SG_F64 : SG_F32;
    sg_rng r = sg_rng_new(777);
    const double mu = 1.5, sigma = 2.0;
    sg_tensor *t = sg_normal(&r, dt, 1, (int64_t[]){STAT_N}, mu, sigma);
    ck_assert_ptr_nonnull(t);
    double mean, sd, mn, mx;
    moments(t, &mean, &sd, &mn, &mx);
    ck_assert_msg(fabs(mean - mu) < 6 * sigma / sqrt((double)STAT_N), "mean %g", mean);
    ck_assert_msg(fabs(sd - sigma) < 0.015 * sigma, "std %g", sd);
    int64_t in1 = 0, tail3 = 0;
    double skew = 0;
    for (int64_t i = 0; i < STAT_N; i++) {
        double z = (sg_get_flat(t, i) - mu) / sigma;
        ck_assert(isfinite(z));
        if (fabs(z) < 1) in1++;
        if (fabs(z) > 3) tail3++;
        skew += z * z * z;
    }
    skew /= STAT_N;
    ck_assert_msg(fabs((double)in1 / STAT_N - 0.6827) < 0.01, "within 1 sd: %lld", (long long)in1);
    ck_assert_msg(tail3 > 150 && tail3 < 400, "beyond 3 sd: %lld (expect ~270)", (long long)tail3);
    ck_assert_msg(fabs(skew) < 0.06, "skewness %g", skew);
    /* std 0 is a constant fill */
    sg_tensor *c = sg_normal(&r, dt, 1, (int64_t[]){5}, -4, 0);
    tu_assert_values(c, (double[]){-4, -4, -4, -4, -4}, 5, 0, 0);
    sg_tensor_free(t);
    sg_tensor_free(c);
    done();
}
END_TEST

static int64_t count_equal(const sg_tensor *a, const sg_tensor *b) {
    int64_t n = 0;
    for (int64_t i = 0; i < sg_numel(a); i++) n += sg_get_flat(a, i) == sg_get_flat(b, i);
    return n;
}

START_TEST(rng_seeding) {
    int64_t s[] = {1000};
    sg_rng a = sg_rng_new(5), b = sg_rng_new(5), c = sg_rng_new(6);
    ck_assert(a.seed == 5 && a.offset == 0);
    sg_tensor *ta = sg_uniform(&a, SG_F64, 1, s, 0, 1), *tb = sg_uniform(&b, SG_F64, 1, s, 0, 1);
    sg_tensor *tc = sg_uniform(&c, SG_F64, 1, s, 0, 1);
    ck_assert_int_eq(count_equal(ta, tb), 1000); /* same seed: same numbers */
    ck_assert_int_eq(count_equal(ta, tc), 0);    /* different seed: different numbers */
    /* the offset advances by numel, so a second fill differs from the first */
    ck_assert(a.offset == 1000);
    sg_tensor *ta2 = sg_uniform(&a, SG_F64, 1, s, 0, 1);
    ck_assert(a.offset == 2000);
    ck_assert_int_eq(count_equal(ta, ta2), 0);
    /* counter-based: two fills of 300 and 700 equal one fill of 1000 */
    sg_rng d = sg_rng_new(5);
    sg_tensor *p1 = sg_uniform(&d, SG_F64, 1, (int64_t[]){300}, 0, 1);
    sg_tensor *p2 = sg_uniform(&d, SG_F64, 1, (int64_t[]){700}, 0, 1);
    for (int i = 0; i < 300; i++) ck_assert(sg_get_flat(p1, i) == sg_get_flat(ta, i));
    for (int i = 0; i < 700; i++) ck_assert(sg_get_flat(p2, i) == sg_get_flat(ta, 300 + i));
    /* fills in place behave the same, and advance the offset */
    sg_rng e = sg_rng_new(5);
    sg_tensor *f = sg_zeros(SG_F64, 1, s);
    ck_assert_int_eq(sg_fill_uniform(f, &e, 0, 1), SG_OK);
    ck_assert(e.offset == 1000);
    ck_assert_int_eq(count_equal(ta, f), 1000);
    /* a seed differing in the high 32 bits also gives different numbers */
    sg_rng h = sg_rng_new(5 | (1ULL << 40));
    sg_tensor *th = sg_uniform(&h, SG_F64, 1, s, 0, 1);
    ck_assert_int_eq(count_equal(ta, th), 0);
    /* normal fills share the counter stream rules */
    sg_rng n1 = sg_rng_new(9), n2 = sg_rng_new(9);
    sg_tensor *na = sg_normal(&n1, SG_F32, 1, s, 0, 1), *nb = sg_normal(&n2, SG_F32, 1, s, 0, 1);
    ck_assert_int_eq(count_equal(na, nb), 1000);
    ck_assert(n1.offset == 1000);
    sg_tensor *all[] = {ta, tb, tc, ta2, p1, p2, f, th, na, nb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sg_tensor_free(all[i]);
    done();
}
END_TEST

START_TEST(rng_scalar_draws) {
    sg_rng r = sg_rng_new(3);
    double mn = 1, mx = 0;
    for (int i = 0; i < 10000; i++) {
        double u = sg_rng_uniform(&r);
        ck_assert(u >= 0 && u < 1);
        if (u < mn) mn = u;
        if (u > mx) mx = u;
    }
    ck_assert(r.offset == 10000);
    ck_assert(mn < 1e-3 && mx > 1 - 1e-3);
    int seen[5] = {0};
    for (int i = 0; i < 1000; i++) {
        uint64_t k = sg_rng_below(&r, 5);
        ck_assert(k < 5);
        seen[k]++;
    }
    for (int k = 0; k < 5; k++) ck_assert_msg(seen[k] > 140 && seen[k] < 260, "value %d seen %d times", k, seen[k]);
    ck_assert(sg_rng_below(&r, 1) == 0);
    ck_assert(sg_rng_below(&r, 0) == 0);
    ck_assert(sg_rng_below(NULL, 10) == 0);
    ck_assert(sg_rng_uniform(NULL) == 0);
    sg_rng a = sg_rng_new(8), b = sg_rng_new(8);
    for (int i = 0; i < 100; i++) ck_assert(sg_rng_uniform(&a) == sg_rng_uniform(&b));
    done();
}
END_TEST

/* Reference Philox4x32-10 as specified in Random123 (philox.h): full 4-word counter, 2-word key,
 * key bumped before every round but the first. Written independently of tensor/rng.c. */
static void ref_philox(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]}, k[2] = {key[0], key[1]};
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k[0] += W0;
            k[1] += W1;
        }
        uint64_t p0 = (uint64_t)M0 * c[0], p1 = (uint64_t)M1 * c[2];
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0, hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        uint32_t n[4] = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
        memcpy(c, n, sizeof c);
    }
    memcpy(out, c, sizeof c);
}

START_TEST(philox_known_answers) {
    /* Random123 kat_vectors, philox4x32 10: counter, key -> output */
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e,
         0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb,
         0x5001e420, 0x24126ea1},
    };
    for (int k = 0; k < 3; k++) {
        uint32_t o[4];
        ref_philox(kat[k], kat[k] + 4, o);
        for (int w = 0; w < 4; w++)
            ck_assert_msg(o[w] == kat[k][6 + w], "reference KAT %d word %d: %08x", k, w, o[w]);
    }
    /* the library's zero KAT */
    uint32_t o[4];
    sg__philox(0, 0, o);
    ck_assert_msg(o[0] == 0x6627e8d5 && o[1] == 0xe169c58d && o[2] == 0xbc57ac4c && o[3] == 0x9b00dbd8,
                  "sg__philox(0,0) = %08x %08x %08x %08x", o[0], o[1], o[2], o[3]);
    /* sg__philox(key, counter) == reference with counter {lo, hi, 0, 0}, key {lo, hi} */
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 2000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
        uint64_t key = x, ctr = x * 0xD1342543DE82EF95ULL + (uint64_t)i;
        if (i < 3) key = i == 0 ? 0 : ~0ULL, ctr = i == 2 ? ~0ULL : (uint64_t)i;
        uint32_t c4[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), 0, 0}, k2[2] = {(uint32_t)key, (uint32_t)(key >> 32)};
        uint32_t want[4], got[4];
        ref_philox(c4, k2, want);
        sg__philox(key, ctr, got);
        ck_assert_msg(memcmp(want, got, sizeof want) == 0, "mismatch at key %llx counter %llx",
                      (unsigned long long)key, (unsigned long long)ctr);
    }
    /* u01 maps to the open interval (0,1) */
    ck_assert(sg__u01(0) > 0);
    ck_assert(sg__u01(0xffffffffu) < 1);
    done();
}
END_TEST

/* Element i of a fill with (seed, offset) is a function of Philox(seed, offset + i) only. */
START_TEST(fill_uses_counter_offset_plus_i) {
    sg_rng r = sg_rng_new(0xABCDEF0123ULL);
    r.offset = 1000;
    sg_tensor *u = sg_uniform(&r, SG_F64, 1, (int64_t[]){64}, -3, 5);
    sg_tensor *nrm = sg_normal(&r, SG_F64, 1, (int64_t[]){64}, 0.5, 2);
    for (int i = 0; i < 64; i++) {
        uint32_t w[4];
        sg__philox(0xABCDEF0123ULL, 1000 + (uint64_t)i, w);
        ck_assert(sg_get_flat(u, i) == -3 + 8 * sg__u01(w[0]));
        sg__philox(0xABCDEF0123ULL, 1064 + (uint64_t)i, w);
        double z = sqrt(-2.0 * log(sg__u01(w[0]))) * cos(2.0 * M_PI * sg__u01(w[1]));
        ck_assert(fabs(sg_get_flat(nrm, i) - (0.5 + 2 * z)) <= 1e-14 * (1 + fabs(z)));
    }
    sg_tensor_free(u);
    sg_tensor_free(nrm);
    done();
}
END_TEST

/* Results must be bitwise identical with 1 and 2 threads, above the parallel threshold. */
static void run_threads(int nthreads, int which, unsigned char *out, size_t nbytes) {
    ck_assert_int_eq(sg_set_num_threads(nthreads), SG_OK);
    ck_assert_int_eq(sg_get_num_threads(), nthreads);
    int64_t n = BIG_N;
    sg_rng r = sg_rng_new(2024);
    sg_tensor *t = NULL;
    switch (which) {
    case 0: t = sg_uniform(&r, SG_F32, 1, &n, -1, 1); break;
    case 1: t = sg_uniform(&r, SG_F64, 1, &n, -1, 1); break;
    case 2: t = sg_normal(&r, SG_F32, 1, &n, 0, 1); break;
    case 3: t = sg_normal(&r, SG_F64, 1, &n, 0, 1); break;
    case 4: { /* non-contiguous fill of a transposed view, then a strided copy */
        int64_t R = BIG_N / 7, C = 7;
        sg_tensor *base = sg_zeros(SG_F64, 2, (int64_t[]){R, C});
        sg_tensor *v = sg__out_view(base, 2, (int64_t[]){C, R}, (int64_t[]){1, C}, 0);
        ck_assert_int_eq(sg_fill_normal(v, &r, 0, 1), SG_OK);
        t = sg_copy(v);
        sg_tensor_free(base);
        break;
    }
    case 5: case 6: { /* elementwise ops with broadcasting, and a strided copy */
        sg_tensor *a = sg_uniform(&r, SG_F64, 2, (int64_t[]){BIG_N / 7, 7}, -1, 1);
        sg_tensor *b = sg_uniform(&r, SG_F64, 1, (int64_t[]){7}, 0.5, 1);
        sg_tensor *y = which == 5 ? sg_div(sg_mul(a, a), b) : sg_add(a, b);
        t = sg_copy(sg__out_view(y, 2, (int64_t[]){7, BIG_N / 7}, (int64_t[]){1, 7}, 0));
        sg_tensor_free(a);
        sg_tensor_free(b);
        break;
    }
    }
    ck_assert_msg(t != NULL, "%s", sg_last_error());
    ck_assert((size_t)sg_numel(t) * sg_dtype_size(sg_dtype_of(t)) <= nbytes);
    ck_assert_int_eq(sg_to_buffer(t, out, sg_dtype_of(t)), SG_OK);
    sg_tensor_free(t);
    sg_tape_clear();
}

START_TEST(threads_bitwise) {
    size_t nbytes = (size_t)BIG_N * sizeof(double);
    unsigned char *one = calloc(1, nbytes), *two = calloc(1, nbytes);
    int prev = sg_get_num_threads();
    run_threads(1, _i, one, nbytes);
    run_threads(2, _i, two, nbytes);
    ck_assert_msg(memcmp(one, two, nbytes) == 0, "case %d differs between 1 and 2 threads", _i);
    sg_set_num_threads(prev);
    free(one);
    free(two);
    done();
}
END_TEST

START_TEST(threads_errors) {
    int prev = sg_get_num_threads();
    ck_assert_int_eq(sg_set_num_threads(0), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "n >= 1");
    ck_assert_int_eq(sg_set_num_threads(-3), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "-3");
    ck_assert_int_eq(sg_get_num_threads(), prev);
    ck_assert_int_eq(sg_set_num_threads(1), SG_OK);
    ck_assert_int_eq(sg_get_num_threads(), 1);
    ck_assert_int_eq(sg_set_num_threads(prev), SG_OK);
    ck_assert_int_eq(sg_get_num_threads(), prev);
    done();
}
END_TEST

/* ---- error paths ---- */

START_TEST(errors_creation) {
    int64_t neg[] = {2, -1}, big[SG_MAX_DIMS + 1];
    for (int i = 0; i <= SG_MAX_DIMS; i++) big[i] = 1;
    ck_assert_ptr_null(sg_zeros(SG_F64, 2, neg));
    tu_assert_error(SG_ERR_SHAPE, "dimension 1 has negative size -1");
    ck_assert_ptr_null(sg_full(SG_F32, 2, neg, 1));
    tu_assert_error(SG_ERR_SHAPE, "sg_full");
    ck_assert_ptr_null(sg_empty(SG_F64, SG_MAX_DIMS + 1, big));
    tu_assert_error(SG_ERR_ARG, "ndim 9");
    ck_assert_ptr_null(sg_ones(SG_F64, -1, big));
    tu_assert_error(SG_ERR_ARG, "ndim -1");
    ck_assert_ptr_null(sg_zeros(SG_F64, 2, NULL));
    tu_assert_error(SG_ERR_NULL, "'shape'");
    ck_assert_ptr_null(sg_zeros((sg_dtype)7, 1, big));
    tu_assert_error(SG_ERR_DTYPE, "invalid dtype 7");
    ck_assert_ptr_null(sg_scalar(SG_DTYPE_COUNT, 1));
    tu_assert_error(SG_ERR_DTYPE, "invalid dtype");
    ck_assert_ptr_null(sg_from_buffer(SG_F64, 1, big, NULL, SG_F64));
    tu_assert_error(SG_ERR_NULL, "'buf'");
    double d[4] = {0};
    ck_assert_ptr_null(sg_from_buffer(SG_F64, 1, big, d, (sg_dtype)-1));
    tu_assert_error(SG_ERR_DTYPE, "source dtype");
    ck_assert_ptr_null(sg_from_buffer((sg_dtype)2, 1, big, d, SG_F64));
    tu_assert_error(SG_ERR_DTYPE, "invalid dtype");
    ck_assert_ptr_null(sg_from_buffer(SG_F64, 1, neg + 1, d, SG_F64));
    tu_assert_error(SG_ERR_SHAPE, "negative size");
    ck_assert_ptr_null(sg_arange(SG_F64, 0, 1, 0));
    tu_assert_error(SG_ERR_ARG, "step != 0");
    ck_assert_ptr_null(sg_arange(SG_F64, 0, INFINITY, 1));
    tu_assert_error(SG_ERR_ARG, "finite");
    ck_assert_ptr_null(sg_arange(SG_F64, NAN, 1, 1));
    tu_assert_error(SG_ERR_ARG, "sg_arange");
    ck_assert_ptr_null(sg_arange((sg_dtype)5, 0, 1, 1));
    tu_assert_error(SG_ERR_DTYPE, "invalid dtype");
    sg_tensor *t = sg_zeros(SG_F64, 1, big);
    ck_assert_ptr_null(sg_copy_as(t, (sg_dtype)9));
    tu_assert_error(SG_ERR_DTYPE, "invalid dtype");
    ck_assert_ptr_null(sg_copy(NULL));
    tu_assert_error(SG_ERR_NULL, "'t' is NULL");
    ck_assert_str_eq(sg_dtype_name((sg_dtype)9), "invalid-dtype");
    ck_assert_str_eq(sg_dtype_name(SG_F32), "float32");
    sg_tensor_free(t);
    done();
}
END_TEST

START_TEST(errors_random) {
    int64_t s[] = {4};
    sg_rng r = sg_rng_new(1);
    ck_assert_ptr_null(sg_uniform(&r, SG_F64, 1, s, 1, 0));
    tu_assert_error(SG_ERR_ARG, "sg_uniform");
    ck_assert_ptr_null(sg_uniform(&r, SG_F64, 1, s, 0, INFINITY));
    tu_assert_error(SG_ERR_ARG, "bad parameters");
    ck_assert_ptr_null(sg_normal(&r, SG_F32, 1, s, 0, -1));
    tu_assert_error(SG_ERR_ARG, "sg_normal");
    ck_assert_ptr_null(sg_normal(&r, SG_F32, 1, s, NAN, 1));
    tu_assert_error(SG_ERR_ARG, "bad parameters");
    ck_assert_ptr_null(sg_uniform(NULL, SG_F64, 1, s, 0, 1));
    tu_assert_error(SG_ERR_NULL, "'rng'");
    ck_assert_ptr_null(sg_normal(&r, SG_F64, 1, (int64_t[]){-4}, 0, 1));
    tu_assert_error(SG_ERR_SHAPE, "negative size");
    ck_assert(r.offset == 0); /* failures consume nothing */
    sg_tensor *t = sg_zeros(SG_F64, 1, s);
    ck_assert_int_eq(sg_fill_uniform(t, NULL, 0, 1), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "sg_fill_uniform: argument 'rng'");
    ck_assert_int_eq(sg_fill_normal(NULL, &r, 0, 1), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'t' is NULL");
    ck_assert_int_eq(sg_fill(NULL, 1), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "sg_fill");
    ck_assert(r.offset == 0);
    sg_tensor_free(t);
    done();
}
END_TEST

START_TEST(errors_access) {
    sg_tensor *t = sg_zeros(SG_F64, 2, (int64_t[]){2, 3});
    ck_assert(isnan(sg_item(t)));
    tu_assert_error(SG_ERR_SHAPE, "(2,3) has 6 elements");
    ck_assert(isnan(sg_get_flat(t, 6)));
    tu_assert_error(SG_ERR_ARG, "index 6 out of range for 6");
    ck_assert(isnan(sg_get_flat(t, -1)));
    tu_assert_error(SG_ERR_ARG, "index -1");
    ck_assert_int_eq(sg_set_flat(t, 100, 1), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "sg_set_flat");
    sg_tensor *e = sg_zeros(SG_F64, 1, (int64_t[]){0});
    ck_assert(isnan(sg_item(e)));
    tu_assert_error(SG_ERR_SHAPE, "0 elements");
    ck_assert(isnan(sg_get_flat(e, 0)));
    tu_assert_error(SG_ERR_ARG, "out of range");
    ck_assert_int_eq(sg_to_buffer(t, NULL, SG_F64), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'buf'");
    double buf[6];
    ck_assert_int_eq(sg_to_buffer(t, buf, (sg_dtype)3), SG_ERR_DTYPE);
    tu_assert_error(SG_ERR_DTYPE, "sg_to_buffer");
    ck_assert_int_eq(sg_to_buffer(NULL, buf, SG_F64), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "sg_to_buffer");
    ck_assert_ptr_null(sg_data_f32(t));
    tu_assert_error(SG_ERR_DTYPE, "float64");
    ck_assert(isnan(sg_item(NULL)));
    tu_assert_error(SG_ERR_NULL, "sg_item");
    ck_assert_int_eq(sg_numel(NULL), -1);
    tu_assert_error(SG_ERR_NULL, "sg_numel");
    ck_assert_int_eq(sg_ndim(NULL), -1);
    tu_assert_error(SG_ERR_NULL, "sg_ndim");
    ck_assert(!sg_is_live(NULL));
    /* NULL with an error pending is propagation: the first message is kept */
    ck_assert_ptr_null(sg_zeros(SG_F64, 1, (int64_t[]){-2}));
    ck_assert_int_eq(sg_numel(NULL), -1);
    ck_assert(isnan(sg_get_flat(NULL, 0)));
    tu_assert_error(SG_ERR_SHAPE, "negative size -2");
    ck_assert_int_eq(sg_set_requires_grad(NULL, true), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "sg_set_requires_grad");
    sg_tensor_free(t);
    sg_tensor_free(e);
    done();
}
END_TEST

START_TEST(errors_ownership) {
    sg_tensor *t = sg_ones(SG_F64, 1, (int64_t[]){3});
    ck_assert_int_eq(sg_tensor_free(NULL), SG_OK);
    ck_assert(!sg_has_error());
    ck_assert_int_eq(sg_tensor_free(t), SG_OK);
    /* double free: an error, not a crash (run under ASan) */
    ck_assert_int_eq(sg_tensor_free(t), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "double free");
    ck_assert(!sg_is_live(t));
    ck_assert_int_eq(sg_numel(t), -1);
    tu_assert_error(SG_ERR_STATE, "not a live tensor");
    ck_assert(isnan(sg_get_flat(t, 0)));
    tu_assert_error(SG_ERR_STATE, "sg_get_flat");
    ck_assert_ptr_null(sg_copy(t));
    tu_assert_error(SG_ERR_STATE, "not a live tensor");
    /* a tape-owned op result */
    sg_tensor *a = sg_ones(SG_F64, 1, (int64_t[]){3});
    sg_set_requires_grad(a, true);
    sg_tensor *y = sg_mul(a, a);
    ck_assert_int_eq(sg_tensor_free(y), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "owned by the tape");
    ck_assert(sg_is_live(y)); /* the failed free did nothing */
    ck_assert_int_eq(sg_backward_grad(y, a), SG_OK);
    /* the .grad of a leaf belongs to the leaf */
    sg_tensor *g = sg_grad(a);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(sg_tensor_free(g), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "gradient of another tensor");
    ck_assert(sg_is_live(g));
    tu_assert_values(g, (double[]){2, 2, 2}, 3, 0, 0);
    sg_tape_clear();
    ck_assert(sg_is_live(g)); /* survives the tape with its leaf */
    ck_assert_int_eq(sg_tensor_free(a), SG_OK);
    ck_assert(!sg_is_live(g)); /* and dies with it */
    done();
}
END_TEST

START_TEST(requires_grad_flags) {
    sg_tensor *t = sg_zeros(SG_F32, 1, (int64_t[]){2});
    ck_assert(!sg_requires_grad(t));
    ck_assert_int_eq(sg_set_requires_grad(t, true), SG_OK);
    ck_assert(sg_requires_grad(t));
    ck_assert_ptr_null(sg_grad(t));
    ck_assert(!sg_has_error());
    ck_assert_int_eq(sg_set_requires_grad(t, false), SG_OK);
    ck_assert(!sg_requires_grad(t));
    sg_tensor_free(t);
    done();
}
END_TEST

int main(void) {
    Suite *s = suite_create("tensor");
    TCase *c = tcase_create("core");
    tcase_set_timeout(c, 600);
    tcase_add_loop_test(c, creation_values, 0, 2);
    tcase_add_loop_test(c, arange_cases, 0, 2);
    tcase_add_test(c, from_buffer_convert);
    tcase_add_test(c, shapes_strides);
    tcase_add_loop_test(c, views_access, 0, 2);
    tcase_add_test(c, user_view_fill);
    tcase_add_test(c, copy_semantics);
    tcase_add_test(c, element_access);
    tcase_add_test(c, version_counter);
    tcase_add_test(c, requires_grad_flags);
    suite_add_tcase(s, c);
    TCase *r = tcase_create("rng");
    tcase_set_timeout(r, 600);
    tcase_add_loop_test(r, uniform_stats, 0, 2);
    tcase_add_loop_test(r, normal_stats, 0, 2);
    tcase_add_test(r, rng_seeding);
    tcase_add_test(r, rng_scalar_draws);
    tcase_add_test(r, philox_known_answers);
    tcase_add_test(r, fill_uses_counter_offset_plus_i);
    tcase_add_loop_test(r, threads_bitwise, 0, 7);
    tcase_add_test(r, threads_errors);
    suite_add_tcase(s, r);
    TCase *e = tcase_create("errors");
    tcase_add_test(e, errors_creation);
    tcase_add_test(e, errors_random);
    tcase_add_test(e, errors_access);
    tcase_add_test(e, errors_ownership);
    suite_add_tcase(s, e);
    return tu_run(s);
}
