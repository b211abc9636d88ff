/* safetensors reader/writer and its JSON parser: the committed PyTorch-style fixture checked value
 * by value, C write -> C read round trips (both dtypes, 0-d, empty, strided sources and
 * destinations), atomic save, one corrupt-file case per validation rule, and a mutation fuzz loop
 * (meant to run under ASan). Python interop is exercised only when /usr/bin/python3 has numpy. */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "autograd/node.h" /* sg__out_view: strided views without depending on the view ops */
#include "io/json_impl.h"
#include "io/safetensors.h"
#include "util/testutil.h"

/* ---- helpers ---- */

typedef struct {
    char dir[64];
} tmpdir;

static void tmp_new(tmpdir *t) {
    strcpy(t->dir, "/tmp/sg_st_test_XXXXXX");
    ck_assert_msg(mkdtemp(t->dir) != NULL, "mkdtemp failed");
}
static char *tmp_path(const tmpdir *t, const char *name, char *buf, size_t n) {
    snprintf(buf, n, "%s/%s", t->dir, name);
    return buf;
}
/* Names in the directory containing substring s (e.g. ".tmp."). */
static int tmp_count(const tmpdir *t, const char *s) {
    DIR *d = opendir(t->dir);
    ck_assert(d != NULL);
    int c = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, s)) c++;
    closedir(d);
    return c;
}
/* Remove the directory we created and the files in it (no recursion below one level of dirs). */
static void tmp_rm(const tmpdir *t) {
    DIR *d = opendir(t->dir);
    if (!d) return;
    char p[sizeof t->dir + sizeof((struct dirent *)0)->d_name + 2];
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", t->dir, e->d_name);
        if (unlink(p) != 0) rmdir(p);
    }
    closedir(d);
    rmdir(t->dir);
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)sz + 1);
    ck_assert(fread(b, 1, (size_t)sz, f) == (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static void write_all_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    ck_assert(fwrite(p, 1, n, f) == n);
    fclose(f);
}

/* A safetensors image from a header text (used as is, no padding) and data bytes. Returns size. */
enum { IMG_MAX = 8192 };
static size_t make_img(unsigned char *out, const char *header, const void *data, size_t dlen) {
    size_t h = strlen(header);
    ck_assert(8 + h + dlen <= IMG_MAX);
    for (int i = 0; i < 8; i++) out[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(out + 8, header, h);
    if (dlen) memcpy(out + 8 + h, data, dlen);
    return 8 + h + dlen;
}

static void assert_open_fails(const unsigned char *img, size_t n, sg_status s, const char *must) {
    sg_st_file *f = sg_st_open_memory(img, n);
    ck_assert_msg(f == NULL, "open unexpectedly succeeded (expected '%s')", must);
    tu_assert_error(s, must);
}

/* exact comparison, also distinguishing -0.0 and NaN payloads being equal as values */
static void assert_exact(const sg_tensor *t, const double *e, int64_t n) {
    ck_assert_int_eq(sg_numel(t), n);
    for (int64_t i = 0; i < n; i++) {
        double v = sg_get_flat(t, i);
        ck_assert_msg(v == e[i] && signbit(v) == signbit(e[i]), "element %lld: got %.17g expected %.17g",
                      (long long)i, v, e[i]);
    }
}

static const char *fixture_path(char *buf, size_t n) {
    snprintf(buf, n, "%s/tests/fixtures/st_basic.safetensors", tu_source_dir());
    return buf;
}

/* ---- the committed fixture (tools/make_st_fixture.py) ---- */

#define NAIVE "na\xc3\xafve \"quoted\"\\name" /* \xaf ends at the non-hex v */

START_TEST(fixture_values) {
    char path[512];
    sg_st_file *f = sg_st_open(fixture_path(path, sizeof path));
    ck_assert_msg(f != NULL, "%s", sg_last_error());
    static const char *const NAMES[] = {"f32.weight", "f64.bias", "i64.index", "scalar",
                                        "empty",      NAIVE,      "i32.small", "f16.half"};
    static const char *const DTYPES[] = {"F32", "F64", "I64", "F64", "F32", "F32", "I32", "F16"};
    ck_assert_int_eq(sg_st_count(f), 8);
    for (int i = 0; i < 8; i++) {
        ck_assert_str_eq(sg_st_name(f, i), NAMES[i]);
        ck_assert_str_eq(sg_st_dtype(f, i), DTYPES[i]);
        ck_assert_int_eq(sg_st_find(f, NAMES[i]), i);
    }
    ck_assert_int_eq(sg_st_find(f, "nope"), -1);
    ck_assert_str_eq(sg_st_meta(f, "format"), "pt");
    ck_assert_str_eq(sg_st_meta(f, "source"), "tools/make_st_fixture.py");
    ck_assert_ptr_null(sg_st_meta(f, "absent"));
    ck_assert_int_eq(sg_st_meta_count(f), 2);
    ck_assert_str_eq(sg_st_meta_key(f, 0), "format");

    sg_tensor *w = sg_st_get(f, "f32.weight", SG_F32);
    ck_assert_int_eq(sg_ndim(w), 2);
    ck_assert_int_eq(sg_size(w, 0), 2);
    ck_assert_int_eq(sg_size(w, 1), 3);
    assert_exact(w, (double[]){(float)0.1, -2.5, 3.25, (float)1e-3, 7, -0.0}, 6);
    sg_tensor *w64 = sg_st_get(f, "f32.weight", SG_F64); /* widening is exact */
    assert_exact(w64, (double[]){(float)0.1, -2.5, 3.25, (float)1e-3, 7, -0.0}, 6);
    sg_tensor *b = sg_st_get(f, "f64.bias", SG_F64);
    assert_exact(b, (double[]){0.1, -1.0 / 3.0, 1e300, -2.5e-310}, 4);
    sg_tensor *b32 = sg_st_get(f, "f64.bias", SG_F32);
    assert_exact(b32, (double[]){(float)0.1, (float)(-1.0 / 3.0), (float)1e300, (float)-2.5e-310}, 4);
    sg_tensor *s = sg_st_get(f, "scalar", SG_F64);
    ck_assert_int_eq(sg_ndim(s), 0);
    ck_assert(sg_item(s) == 3.5);
    sg_tensor *e = sg_st_get(f, "empty", SG_F32);
    ck_assert_int_eq(sg_ndim(e), 2);
    ck_assert_int_eq(sg_size(e, 0), 0);
    ck_assert_int_eq(sg_size(e, 1), 3);
    sg_tensor *q = sg_st_get(f, NAIVE, SG_F64);
    assert_exact(q, (double[]){1.5}, 1);
    sg_tensor *h = sg_st_get(f, "f16.half", SG_F64);
    assert_exact(h, (double[]){1, -2, 65504, 0x1p-24}, 4);

    int64_t *iv, n;
    ck_assert_int_eq(sg_st_get_i64(f, "i64.index", &iv, &n), SG_OK);
    ck_assert_int_eq(n, 4);
    ck_assert(iv[0] == 0 && iv[1] == -1 && iv[2] == ((int64_t)1 << 40) && iv[3] == INT64_MIN);
    free(iv);
    ck_assert_int_eq(sg_st_get_i64(f, "i32.small", &iv, &n), SG_OK);
    ck_assert(n == 3 && iv[0] == -7 && iv[1] == 8 && iv[2] == INT32_MAX);
    free(iv);
    ck_assert_int_eq(sg_st_ndim(f, 3), 0);
    ck_assert_ptr_nonnull(sg_st_shape(f, 3));
    ck_assert_int_eq(sg_st_numel(f, 4), 0);
    ck_assert_int_eq(sg_st_shape(f, 2)[0], 2);

    sg_tensor *all[] = {w, w64, b, b32, s, e, q, h};
    for (int i = 0; i < 8; i++) sg_tensor_free(all[i]);
    sg_st_close(f);
    tu_teardown();
}
END_TEST

/* ---- round trips ---- */

#define SH(...) {__VA_ARGS__}
static const struct {
    int ndim;
    int64_t shape[SG_MAX_DIMS];
} RT_SHAPES[] = {
    {0, {0}},
    {1, SH(0)},
    {1, SH(5)},
    {2, SH(3, 4)},
    {3, SH(2, 0, 3)},
    {3, SH(2, 3, 4)},
    {SG_MAX_DIMS, SH(2, 1, 2, 1, 1, 3, 1, 2)},
};
enum { N_RT = sizeof RT_SHAPES / sizeof RT_SHAPES[0] };

/* loop index: shape * 2 + dtype */
START_TEST(roundtrip) {
    sg_dtype dt = _i % 2 ? SG_F64 : SG_F32;
    int ndim = RT_SHAPES[_i / 2].ndim;
    const int64_t *shape = RT_SHAPES[_i / 2].shape;
    tmpdir td;
    tmp_new(&td);
    char path[256];
    tmp_path(&td, "rt.safetensors", path, sizeof path);

    sg_tensor *x = tu_rand(dt, ndim, shape, -3, 3, 42 + (uint64_t)_i, false);
    sg_tensor *y = tu_rand(dt == SG_F32 ? SG_F64 : SG_F32, 1, (int64_t[]){3}, -1, 1, 7, false);
    int64_t ishape[] = {2, 2}, ival[] = {INT64_MAX, INT64_MIN, 0, -5};
    sg_st_writer *w = sg_st_writer_new();
    ck_assert_int_eq(sg_st_writer_add(w, "model.x", x), SG_OK);
    ck_assert_int_eq(sg_st_writer_add(w, "odd \"name\"\\\n\t\x01 \xe2\x82\xac", y), SG_OK);
    ck_assert_int_eq(sg_st_writer_add_i64(w, "ids", 2, ishape, ival), SG_OK);
    ck_assert_int_eq(sg_st_writer_add_i64(w, "ids.empty", 1, (int64_t[]){0}, NULL), SG_OK);
    ck_assert_int_eq(sg_st_writer_add_i64(w, "step", 0, NULL, (int64_t[]){12345}), SG_OK);
    ck_assert_int_eq(sg_st_writer_meta(w, "format", "pt"), SG_OK);
    ck_assert_int_eq(sg_st_writer_meta(w, "note \"q\"", "line1\nline2 \xc3\xa9"), SG_OK);
    ck_assert_int_eq(sg_st_writer_save(w, path), SG_OK);
    sg_st_writer_free(w);
    ck_assert_int_eq(tmp_count(&td, ".tmp."), 0);

    /* header length is a multiple of 8 and the header is followed directly by the data */
    size_t sz;
    unsigned char *raw = read_all(path, &sz);
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)raw[i] << (8 * i);
    ck_assert_int_eq(hl % 8, 0);
    ck_assert_int_eq(raw[8], '{');
    free(raw);

    sg_st_file *f = sg_st_open(path);
    ck_assert_msg(f != NULL, "%s", sg_last_error());
    ck_assert_int_eq(sg_st_count(f), 5);
    ck_assert_str_eq(sg_st_name(f, 0), "model.x");
    ck_assert_str_eq(sg_st_dtype(f, 0), dt == SG_F32 ? "F32" : "F64");
    ck_assert_int_eq(sg_st_ndim(f, 0), ndim);
    for (int d = 0; d < ndim; d++) ck_assert_int_eq(sg_st_shape(f, 0)[d], shape[d]);
    ck_assert_str_eq(sg_st_meta(f, "note \"q\""), "line1\nline2 \xc3\xa9");

    int64_t n = sg_numel(x);
    double *ex = malloc(((size_t)n + 1) * sizeof *ex);
    sg_to_buffer(x, ex, SG_F64);
    sg_tensor *bx = sg_st_get(f, "model.x", dt);
    ck_assert(sg_same_shape(bx, x));
    assert_exact(bx, ex, n);
    sg_tensor *bx2 = sg_st_get(f, "model.x", dt == SG_F32 ? SG_F64 : SG_F32);
    ck_assert(sg_same_shape(bx2, x));
    for (int64_t i = 0; i < n; i++) /* other dtype: exact when widening, rounded when narrowing */
        ck_assert(sg_get_flat(bx2, i) == (dt == SG_F32 ? ex[i] : (double)(float)ex[i]));
    sg_tensor *by = sg_st_get(f, "odd \"name\"\\\n\t\x01 \xe2\x82\xac", sg_dtype_of(y));
    ck_assert_msg(by != NULL, "%s", sg_last_error());
    for (int64_t i = 0; i < 3; i++) ck_assert(sg_get_flat(by, i) == sg_get_flat(y, i));

    int64_t *iv, ni;
    ck_assert_int_eq(sg_st_get_i64(f, "ids", &iv, &ni), SG_OK);
    ck_assert_int_eq(ni, 4);
    for (int i = 0; i < 4; i++) ck_assert(iv[i] == ival[i]);
    free(iv);
    ck_assert_int_eq(sg_st_get_i64(f, "ids.empty", &iv, &ni), SG_OK);
    ck_assert(ni == 0 && iv != NULL);
    free(iv);
    ck_assert_int_eq(sg_st_get_i64(f, "step", &iv, &ni), SG_OK);
    ck_assert(ni == 1 && iv[0] == 12345 && sg_st_ndim(f, sg_st_find(f, "step")) == 0);
    free(iv);

    /* read_into a fresh tensor of the same shape bumps its version */
    sg_tensor *d = sg_zeros(dt, ndim, shape);
    uint64_t v0 = sg_version(d);
    ck_assert_int_eq(sg_st_read_into(f, "model.x", d), SG_OK);
    ck_assert(sg_version(d) > v0);
    assert_exact(d, ex, n);

    free(ex);
    sg_tensor *fr[] = {x, y, bx, bx2, by, d};
    for (int i = 0; i < 6; i++) sg_tensor_free(fr[i]);
    sg_st_close(f);
    tmp_rm(&td);
    tu_teardown();
}
END_TEST

/* A strided source is stored contiguous; a strided destination (a transposed, every-other-column
 * view of a parameter block) is filled through its strides, leaving the rest untouched. */
START_TEST(strided) {
    tmpdir td;
    tmp_new(&td);
    char path[256];
    tmp_path(&td, "s.safetensors", path, sizeof path);
    double vals[12];
    for (int i = 0; i < 12; i++) vals[i] = i + 1;
    sg_tensor *src = sg_from_buffer(SG_F64, 2, (int64_t[]){4, 3}, vals, SG_F64);
    /* view (3,4) of src^T */
    sg_tensor *srcT = sg__out_view(src, 2, (int64_t[]){3, 4}, (int64_t[]){1, 3}, 0);
    sg_st_writer *w = sg_st_writer_new();
    ck_assert_int_eq(sg_st_writer_add(w, "t", srcT), SG_OK);
    ck_assert_int_eq(sg_st_writer_save(w, path), SG_OK);
    sg_st_writer_free(w);
    sg_st_file *f = sg_st_open(path);
    ck_assert_msg(f != NULL, "%s", sg_last_error());
    sg_tensor *t = sg_st_get(f, "t", SG_F64);
    assert_exact(t, (double[]){1, 4, 7, 10, 2, 5, 8, 11, 3, 6, 9, 12}, 12);

    for (int k = 0; k < 2; k++) {
        sg_dtype dt = k ? SG_F32 : SG_F64;
        sg_tensor *block = sg_full(dt, 2, (int64_t[]){4, 6}, -1);
        /* dst[i][j] at 1 + 2i + 6j: rows of the view are every other column of block */
        sg_tensor *dst = sg__out_view(block, 2, (int64_t[]){3, 4}, (int64_t[]){2, 6}, 1);
        ck_assert(!sg_is_contiguous(dst));
        uint64_t v0 = sg_version(block);
        ck_assert_int_eq(sg_st_read_into(f, "t", dst), SG_OK);
        ck_assert(sg_version(block) > v0);
        double expect[24];
        for (int i = 0; i < 24; i++) expect[i] = -1;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++) expect[1 + 2 * i + 6 * j] = sg_get_flat(t, i * 4 + j);
        assert_exact(block, expect, 24);
        sg_tensor_free(block);
    }
    sg_tensor_free(src);
    sg_tensor_free(t);
    sg_st_close(f);
    tmp_rm(&td);
    tu_teardown();
}
END_TEST

/* BF16 and F16 decode (hand-built image: tools/st.py needs torch for BF16) */
START_TEST(half_types) {
    /* BF16: 1.0 = 0x3F80, -2.5 = 0xC020, 0x0001 is the smallest subnormal 2^-133;
     * F16: 0x7C00 = +inf, 0x0001 = 2^-24, 0x3555 = 0.333251953125 */
    const unsigned char data[] = {0x80, 0x3F, 0x20, 0xC0, 0x01, 0x00, 0x00, 0x7C, 0x01,
                                  0x00, 0x55, 0x35, 1,    2,    3,    4,    5,    6};
    unsigned char img[IMG_MAX];
    size_t n = make_img(img,
                        "{\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,6]},"
                        "\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[6,12]},"
                        "\"q\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[12,14]},"
                        "\"u\":{\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[14,18]}}",
                        data, sizeof data);
    sg_st_file *f = sg_st_open_memory(img, n);
    ck_assert_msg(f != NULL, "%s", sg_last_error());
    sg_tensor *b = sg_st_get(f, "b", SG_F32), *h = sg_st_get(f, "h", SG_F64);
    assert_exact(b, (double[]){1.0, -2.5, 0x1p-133}, 3);
    assert_exact(h, (double[]){INFINITY, 0x1p-24, 0.333251953125}, 3);
    ck_assert_ptr_null(sg_st_get(f, "q", SG_F32));
    tu_assert_error(SG_ERR_UNSUPPORTED, "F8_E4M3");
    int64_t *iv, ni;
    ck_assert_int_eq(sg_st_get_i64(f, "u", &iv, &ni), SG_OK);
    ck_assert(ni == 2 && iv[0] == 0x0403 && iv[1] == 0x0605);
    free(iv);
    sg_tensor_free(b);
    sg_tensor_free(h);
    sg_st_close(f);
    tu_teardown();
}
END_TEST

/* ---- atomic save ---- */

START_TEST(atomic_save) {
    tmpdir td;
    tmp_new(&td);
    char path[256], bad[256], adir[256];
    tmp_path(&td, "ck.safetensors", path, sizeof path);
    sg_tensor *a = sg_from_buffer(SG_F32, 1, (int64_t[]){3}, (float[]){1, 2, 3}, SG_F32);
    sg_st_writer *w1 = sg_st_writer_new();
    ck_assert_int_eq(sg_st_writer_add(w1, "a", a), SG_OK);
    ck_assert_int_eq(sg_st_writer_save(w1, path), SG_OK);
    size_t n0;
    unsigned char *orig = read_all(path, &n0);

    enum { BIG = 100000 };
    sg_tensor *big = sg_full(SG_F32, 1, (int64_t[]){BIG}, 9);
    sg_st_writer *w2 = sg_st_writer_new();
    ck_assert_int_eq(sg_st_writer_add(w2, "a", big), SG_OK);

    /* 1. directory does not exist */
    tmp_path(&td, "missing/ck.safetensors", bad, sizeof bad);
    ck_assert_int_eq(sg_st_writer_save(w2, bad), SG_ERR_IO);
    tu_assert_error(SG_ERR_IO, "missing/ck.safetensors");
    ck_assert_int_eq(sg_st_writer_save(w2, bad), SG_ERR_IO);
    tu_assert_error(SG_ERR_IO, "No such file or directory");

    /* 2. rename fails: the target is a non-empty directory */
    tmp_path(&td, "adir", adir, sizeof adir);
    ck_assert_int_eq(mkdir(adir, 0700), 0);
    char inner[300];
    snprintf(inner, sizeof inner, "%s/keep", adir);
    write_all_file(inner, "x", 1);
    ck_assert_int_eq(sg_st_writer_save(w2, adir), SG_ERR_IO);
    tu_assert_error(SG_ERR_IO, "renaming");
    struct stat st;
    ck_assert(stat(adir, &st) == 0 && S_ISDIR(st.st_mode));
    ck_assert_int_eq(tmp_count(&td, ".tmp."), 0);
    unlink(inner);

    /* 3. write fails part-way (file size limit): the old file is intact, no temp file remains */
    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 4096;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = sg_st_writer_save(w2, path);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    ck_assert_int_eq(rc, SG_ERR_IO);
    tu_assert_error(SG_ERR_IO, "File too large");
    size_t n1;
    unsigned char *now = read_all(path, &n1);
    ck_assert(n1 == n0 && memcmp(now, orig, n0) == 0);
    free(now);
    ck_assert_int_eq(tmp_count(&td, ".tmp."), 0);

    /* 4. a stale temporary of ours is replaced; the overwrite then succeeds */
    char stale[300];
    snprintf(stale, sizeof stale, "%s.tmp.%ld", path, (long)getpid());
    write_all_file(stale, "junk", 4);
    ck_assert_int_eq(sg_st_writer_save(w2, path), SG_OK);
    ck_assert_int_eq(tmp_count(&td, ".tmp."), 0);
    sg_st_file *f = sg_st_open(path);
    ck_assert_msg(f != NULL, "%s", sg_last_error());
    ck_assert_int_eq(sg_st_numel(f, 0), BIG);
    sg_tensor *back = sg_st_get(f, "a", SG_F32);
    ck_assert(sg_get_flat(back, 0) == 9 && sg_get_flat(back, BIG - 1) == 9);

    free(orig);
    sg_tensor_free(back);
    sg_tensor_free(a);
    sg_tensor_free(big);
    sg_st_close(f);
    sg_st_writer_free(w1);
    sg_st_writer_free(w2);
    tmp_rm(&td);
    tu_teardown();
}
END_TEST

/* Issue 9 defect 7: temporaries left by killed savers of the same path are removed on the next
 * save, and nothing else is: not our own pid's (another thread's save in progress), not a live
 * process's, not another path's, not near-miss names, not directories or symlinks. */
START_TEST(stale_temp_sweep) {
    tmpdir td;
    tmp_new(&td);
    char path[256];
    tmp_path(&td, "ck.safetensors", path, sizeof path);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) _exit(0);
    ck_assert_int_eq(waitpid(child, NULL, 0), child); /* reaped: a pid no process has */
    long dead = (long)child, me = (long)getpid(), live = (long)getppid();
    enum { N_NAMES = 10, NAME = 96 };
    char names[N_NAMES][NAME];
    const bool stale[N_NAMES] = {true, true, false, false, false, false, false, false, false, false};
    snprintf(names[0], NAME, "ck.safetensors.tmp.%ld.3", dead);
    snprintf(names[1], NAME, "ck.safetensors.tmp.%ld", dead); /* the format before issue 9 */
    snprintf(names[2], NAME, "ck.safetensors.tmp.%ld.999", me);
    snprintf(names[3], NAME, "ck.safetensors.tmp.%ld.1", live);
    snprintf(names[4], NAME, "other.safetensors.tmp.%ld.1", dead);
    snprintf(names[5], NAME, "ck.safetensors.tmp.%ld.1x", dead);
    snprintf(names[6], NAME, "ck.safetensors.tmp.notes");
    snprintf(names[7], NAME, "xck.safetensors.tmp.%ld.2", dead);
    snprintf(names[8], NAME, "ck.safetensors.tmp.%ld.4", dead); /* a directory */
    snprintf(names[9], NAME, "ck.safetensors.tmp.%ld.5", dead); /* a symlink to a user file */
    char p[sizeof td.dir + sizeof names + 2], user[300];
    tmp_path(&td, "user-data", user, sizeof user);
    write_all_file(user, "keep", 4);
    for (int i = 0; i < N_NAMES; i++) {
        tmp_path(&td, names[i], p, sizeof p);
        if (i == 8) ck_assert_int_eq(mkdir(p, 0700), 0);
        else if (i == 9) ck_assert_int_eq(symlink(user, p), 0);
        else write_all_file(p, "junk", 4);
    }
    sg_tensor *a = sg_from_buffer(SG_F32, 1, (int64_t[]){2}, (float[]){1, 2}, SG_F32);
    sg_st_writer *w = sg_st_writer_new();
    ck_assert_int_eq(sg_st_writer_add(w, "a", a), SG_OK);
    ck_assert_int_eq(sg_st_writer_save(w, path), SG_OK);
    for (int i = 0; i < N_NAMES; i++) {
        struct stat st;
        tmp_path(&td, names[i], p, sizeof p);
        ck_assert_msg((lstat(p, &st) == 0) == !stale[i], "%s: %s", names[i], stale[i] ? "kept" : "removed");
    }
    size_t n;
    unsigned char *u = read_all(user, &n);
    ck_assert(n == 4 && memcmp(u, "keep", 4) == 0);
    free(u);
    sg_st_writer_free(w);
    sg_tensor_free(a);
    tmp_rm(&td);
    tu_teardown();
}
END_TEST

/* Issue 9 defect 7: two threads saving to one path, many times: no failure (a shared temporary
 * name made 174 of 5,660 fail with ENOENT), and the final file is whole, from one of them. */
enum { CONC_SAVES = 300, CONC_N = 1000 };
typedef struct {
    const char *path;
    float value;
    int failures;
    char first_error[256];
} conc_arg;

static void *conc_saver(void *p) {
    conc_arg *a = p;
    sg_tensor *t = sg_full(SG_F32, 1, (int64_t[]){CONC_N}, a->value);
    sg_st_writer *w = sg_st_writer_new();
    if (!t || !w || sg_st_writer_add(w, "v", t) != SG_OK) a->failures = CONC_SAVES;
    for (int i = 0; w && t && i < CONC_SAVES && !a->failures; i++)
        if (sg_st_writer_save(w, a->path) != SG_OK) {
            if (!a->failures++) snprintf(a->first_error, sizeof a->first_error, "%s", sg_last_error());
            sg_clear_error();
        }
    sg_st_writer_free(w);
    sg_tensor_free(t);
    return NULL;
}

START_TEST(concurrent_save) {
    tmpdir td;
    tmp_new(&td);
    char path[256];
    tmp_path(&td, "shared.safetensors", path, sizeof path);
    conc_arg args[2] = {{path, 1.0f, 0, ""}, {path, 2.0f, 0, ""}};
    pthread_t th[2];
    for (int k = 0; k < 2; k++) ck_assert_int_eq(pthread_create(&th[k], NULL, conc_saver, &args[k]), 0);
    for (int k = 0; k < 2; k++) pthread_join(th[k], NULL);
    for (int k = 0; k < 2; k++)
        ck_assert_msg(args[k].failures == 0, "thread %d: %d failures, first: %s", k, args[k].failures,
                      args[k].first_error);
    ck_assert_int_eq(tmp_count(&td, ".tmp."), 0);
    sg_st_file *f = sg_st_open(path);
    ck_assert_msg(f != NULL, "%s", sg_last_error());
    sg_tensor *v = sg_st_get(f, "v", SG_F32);
    ck_assert_ptr_nonnull(v);
    float first = (float)sg_get_flat(v, 0);
    ck_assert(first == 1.0f || first == 2.0f);
    for (int64_t i = 0; i < CONC_N; i++) ck_assert(sg_get_flat(v, i) == first);
    sg_tensor_free(v);
    sg_st_close(f);
    tmp_rm(&td);
    tu_teardown();
}
END_TEST

/* ---- corrupt files ---- */

#define ENT(name, dt, shape, off)                                                                            \
    "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" off "}"
#define B10 "[[[[[[[[[["
static const struct {
    const char *what, *header;
    size_t dlen;
    const char *must;
} CORRUPT[] = {
    {"unclosed object", "{" ENT("a", "F32", "[2]", "[0,8]"), 8, "expected ',' or '}' in object"},
    {"not an object", "[1,2]", 0, "header is a JSON array, expected an object"},
    {"empty header", "", 0, "header byte 0 (file offset 8): unexpected end of input"},
    {"garbage after", "{}  x", 0, "header byte 4 (file offset 12): unexpected 'x' after the end"},
    {"trailing comma", "{\"a\":1,}", 0, "expected a string key"},
    {"bad literal", "{\"__metadata__\":nul}", 0, "expected a value"},
    {"bad escape", "{\"a\\q\":1}", 0, "invalid escape '\\' followed by 'q'"},
    {"short \\u", "{\"a\\u12\":1}", 0, "4 hex digits"},
    {"lone low surrogate", "{\"a\\udc00\":1}", 0, "lone low surrogate"},
    {"unpaired high surrogate", "{\"a\\ud800x\":1}", 0, "not followed by a low surrogate"},
    {"\\u0000", "{\"a\\u0000\":1}", 0, "\\u0000 in string"},
    {"raw control char", "{\"a\tb\":1}", 0, "control character 0x09"},
    {"bad utf8", "{\"a\xff\":1}", 0, "invalid UTF-8"},
    {"overlong utf8", "{\"a\xc0\xaf\":1}", 0, "invalid UTF-8"},
    {"unterminated string", "{\"abc", 0, "unterminated string"},
    {"leading zero", "{" ENT("a", "F32", "[02]", "[0,8]") "}", 8, "leading zero"},
    {"deep nesting", "{\"__metadata__\":" B10 B10 B10 B10 B10 B10 B10, 0, "nesting deeper than 64"},
    {"duplicate name", "{" ENT("a", "F32", "[1]", "[0,4]") "," ENT("a", "F32", "[1]", "[4,8]") "}", 8,
     "duplicate key \"a\""},
    {"metadata not object", "{\"__metadata__\":[]}", 0, "\"__metadata__\" at header byte 16 is a JSON array"},
    {"metadata value", "{\"__metadata__\":{\"k\":1}}", 0, "metadata value of \"k\""},
    {"entry not object", "{\"a\":5}", 0, "tensor 'a' at header byte 5 is a JSON number"},
    {"no dtype", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
     "tensor 'a' (header byte 5) has no string \"dtype\""},
    {"wrong dtype", "{" ENT("a", "F33", "[2]", "[0,8]") "}", 8, "tensor 'a': unknown dtype \"F33\""},
    {"lowercase dtype", "{" ENT("a", "f32", "[2]", "[0,8]") "}", 8, "unknown dtype \"f32\""},
    {"no shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "has no \"shape\""},
    {"shape not array", "{" ENT("a", "F32", "2", "[0,8]") "}", 8,
     "\"shape\" at header byte 28 is a JSON number"},
    {"shape float", "{" ENT("a", "F32", "[2.0]", "[0,8]") "}", 8,
     "\"shape\" entry 0 at header byte 29 is not a non-negative integer"},
    {"shape negative", "{" ENT("a", "F32", "[2,-2]", "[0,8]") "}", 8, "\"shape\" entry 1"},
    {"shape string", "{" ENT("a", "F32", "[\"2\"]", "[0,8]") "}", 8, "not a non-negative integer"},
    {"shape beyond int64", "{" ENT("a", "F32", "[99999999999999999999]", "[0,8]") "}", 8,
     "not a non-negative integer"},
    {"shape overflow", "{" ENT("a", "F32", "[4294967296,4294967296,4]", "[0,8]") "}", 8,
     "tensor 'a': shape (4294967296,4294967296,4) is too large"},
    /* issue 9 defect 2: no element, but strides of 2^80 (passed sg_st_open, overflowed in sg_st_get) */
    {"empty shape, overflowing strides", "{" ENT("a", "F32", "[0,1099511627776,1099511627776]", "[0,0]") "}", 0,
     "tensor 'a': shape (0,1099511627776,1099511627776) is too large"},
    {"empty shape, strides x itemsize", "{" ENT("a", "F64", "[0,2,1152921504606846976]", "[0,0]") "}", 0,
     "is too large"},
    {"offsets count", "{" ENT("a", "F32", "[2]", "[0,8,8]") "}", 8,
     "\"data_offsets\" has 3 entries, expected 2"},
    {"offsets not ints", "{" ENT("a", "F32", "[2]", "[0,8e0]") "}", 8, "\"data_offsets\" entry 1"},
    {"offsets reversed", "{" ENT("a", "F32", "[2]", "[8,0]") "}", 8,
     "data_offsets [8,0] outside the data buffer"},
    {"offsets beyond", "{" ENT("a", "F32", "[2]", "[4,12]") "}", 8,
     "data_offsets [4,12] outside the data buffer of 8 bytes"},
    {"size mismatch", "{" ENT("a", "F32", "[3]", "[0,8]") "}", 8,
     "span 8 bytes but shape (3) of F32 needs 12"},
    {"overlap", "{" ENT("a", "F32", "[2]", "[0,8]") "," ENT("b", "F32", "[2]", "[4,12]") "}", 12,
     "tensor 'b' data_offsets [4,12] overlap tensor 'a' [0,8]"},
    {"gap", "{" ENT("a", "F32", "[2]", "[0,8]") "," ENT("b", "F32", "[2]", "[12,20]") "}", 20,
     "gap in the data buffer: bytes [8,12) before tensor 'b'"},
    {"not from 0", "{" ENT("a", "F32", "[2]", "[4,12]") "}", 12, "bytes [0,4) before tensor 'a'"},
    {"trailing bytes", "{" ENT("a", "F32", "[2]", "[0,8]") "}", 12,
     "data buffer has 12 bytes but the tensors cover 8"},
};
enum { N_CORRUPT = sizeof CORRUPT / sizeof CORRUPT[0] };

START_TEST(corrupt) {
    unsigned char img[IMG_MAX], zeros[64] = {0};
    size_t n = make_img(img, CORRUPT[_i].header, zeros, CORRUPT[_i].dlen);
    sg_st_file *f = sg_st_open_memory(img, n);
    ck_assert_msg(f == NULL, "%s: open succeeded", CORRUPT[_i].what);
    ck_assert_msg(sg_last_status() == SG_ERR_FORMAT, "%s: status %d: %s", CORRUPT[_i].what, sg_last_status(),
                  sg_last_error());
    ck_assert_msg(strstr(sg_last_error(), CORRUPT[_i].must), "%s: message '%s' lacks '%s'", CORRUPT[_i].what,
                  sg_last_error(), CORRUPT[_i].must);
    ck_assert_msg(strstr(sg_last_error(), "<memory>"), "%s: no file label in '%s'", CORRUPT[_i].what,
                  sg_last_error());
    sg_clear_error();
    tu_teardown();
}
END_TEST

/* A valid image built by the writer (names with escapes, metadata, 0-d, empty, all dtypes). */
static unsigned char *valid_image(size_t *n, uint64_t *hlen) {
    tmpdir td;
    tmp_new(&td);
    char path[256];
    tmp_path(&td, "v.safetensors", path, sizeof path);
    sg_st_writer *w = sg_st_writer_new();
    sg_tensor *a = tu_rand(SG_F32, 2, (int64_t[]){2, 3}, -1, 1, 1, false);
    sg_tensor *b = tu_rand(SG_F64, 1, (int64_t[]){3}, -1, 1, 2, false);
    sg_tensor *s = sg_scalar(SG_F64, -4.5);
    sg_tensor *e = sg_zeros(SG_F32, 2, (int64_t[]){0, 2});
    ck_assert_int_eq(sg_st_writer_meta(w, "format", "pt"), SG_OK);
    ck_assert_int_eq(sg_st_writer_add(w, "layer.0.weight", a), SG_OK);
    ck_assert_int_eq(sg_st_writer_add(w, "q\"\\\xc3\xa9", b), SG_OK);
    ck_assert_int_eq(sg_st_writer_add(w, "s", s), SG_OK);
    ck_assert_int_eq(sg_st_writer_add(w, "e", e), SG_OK);
    ck_assert_int_eq(sg_st_writer_add_i64(w, "i", 1, (int64_t[]){2}, (int64_t[]){-1, 7}), SG_OK);
    ck_assert_int_eq(sg_st_writer_save(w, path), SG_OK);
    unsigned char *img = read_all(path, n);
    *hlen = 0;
    for (int i = 0; i < 8; i++) *hlen |= (uint64_t)img[i] << (8 * i);
    sg_st_writer_free(w);
    sg_tensor_free(a);
    sg_tensor_free(b);
    sg_tensor_free(s);
    sg_tensor_free(e);
    tmp_rm(&td);
    return img;
}

START_TEST(truncated) {
    size_t n;
    uint64_t hl;
    unsigned char *img = valid_image(&n, &hl);
    sg_st_file *ok = sg_st_open_memory(img, n);
    ck_assert_msg(ok != NULL, "%s", sg_last_error());
    sg_st_close(ok);
    tmpdir td;
    tmp_new(&td);
    char path[256];
    tmp_path(&td, "t.safetensors", path, sizeof path);
    for (size_t k = 0; k < n; k++) {
        const char *must = k < 8        ? "shorter than the 8-byte header length"
                           : k < 8 + hl ? "exceeds the"
                                        : "outside the data buffer";
        assert_open_fails(img, k, SG_ERR_FORMAT, must);
        if (k % 7 == 0) { /* the file path gives the same diagnosis, naming the file */
            write_all_file(path, img, k);
            ck_assert_ptr_null(sg_st_open(path));
            ck_assert_msg(strstr(sg_last_error(), path) && strstr(sg_last_error(), must), "%s",
                          sg_last_error());
            tu_assert_error(SG_ERR_FORMAT, NULL);
        }
    }
    /* header length fields: absurd, one past the end */
    unsigned char big[IMG_MAX];
    memcpy(big, img, n);
    for (int i = 0; i < 8; i++) big[i] = 0xFF;
    assert_open_fails(big, n, SG_ERR_FORMAT,
                      "header length 18446744073709551615 (bytes 0-7) exceeds the limit");
    uint64_t past = n - 8 + 1;
    for (int i = 0; i < 8; i++) big[i] = (unsigned char)(past >> (8 * i));
    assert_open_fails(big, n, SG_ERR_FORMAT, "exceeds the");
    /* shorter header length: the JSON is cut */
    uint64_t cut = hl - 3;
    for (int i = 0; i < 8; i++) big[i] = (unsigned char)(cut >> (8 * i));
    assert_open_fails(big, n, SG_ERR_FORMAT, "header JSON invalid");
    free(img);
    tmp_rm(&td);
    tu_teardown();
}
END_TEST

START_TEST(api_errors) {
    size_t n;
    uint64_t hl;
    unsigned char *img = valid_image(&n, &hl);
    sg_st_file *f = sg_st_open_memory(img, n);
    free(img);
    ck_assert_msg(f != NULL, "%s", sg_last_error());

    ck_assert_ptr_null(sg_st_open("/nonexistent-dir-sg/x.safetensors"));
    ck_assert_msg(strstr(sg_last_error(), "/nonexistent-dir-sg/x.safetensors"), "%s", sg_last_error());
    tu_assert_error(SG_ERR_IO, "No such file or directory");
    ck_assert_ptr_null(sg_st_open("/tmp"));
    tu_assert_error(SG_ERR_IO, "directory");
    ck_assert_ptr_null(sg_st_open(NULL));
    tu_assert_error(SG_ERR_NULL, "path");

    ck_assert_ptr_null(sg_st_get(f, "missing.weight", SG_F32));
    tu_assert_error(SG_ERR_ARG, "no tensor 'missing.weight'");
    int64_t *iv = (int64_t *)1;
    ck_assert_int_eq(sg_st_get_i64(f, "missing", &iv, NULL), SG_ERR_ARG);
    ck_assert_ptr_null(iv);
    tu_assert_error(SG_ERR_ARG, "no tensor 'missing'");
    ck_assert_ptr_null(sg_st_get(f, "i", SG_F32));
    tu_assert_error(SG_ERR_DTYPE, "use sg_st_get_i64");
    ck_assert_int_eq(sg_st_get_i64(f, "s", &iv, NULL), SG_ERR_DTYPE);
    tu_assert_error(SG_ERR_DTYPE, "has dtype F64");
    ck_assert_ptr_null(sg_st_get(f, "s", (sg_dtype)7));
    tu_assert_error(SG_ERR_DTYPE, "invalid dtype 7");
    ck_assert_ptr_null(sg_st_name(f, 99));
    tu_assert_error(SG_ERR_ARG, "index 99 outside [0, 5)");
    ck_assert_int_eq(sg_st_count(NULL), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'f'");

    /* read_into: wrong shape, wrong rank, integer source, dead destination; dst stays unchanged */
    sg_tensor *d = sg_full(SG_F64, 2, (int64_t[]){3, 2}, 5);
    uint64_t v0 = sg_version(d);
    ck_assert_int_eq(sg_st_read_into(f, "layer.0.weight", d), SG_ERR_SHAPE);
    ck_assert_msg(strstr(sg_last_error(), "(2,3) (F32)") &&
                      strstr(sg_last_error(), "expects (3,2) (float64)"),
                  "%s", sg_last_error());
    tu_assert_error(SG_ERR_SHAPE, "tensor 'layer.0.weight'");
    sg_tensor *sc = sg_scalar(SG_F32, 0);
    ck_assert_int_eq(sg_st_read_into(f, "layer.0.weight", sc), SG_ERR_SHAPE);
    tu_assert_error(SG_ERR_SHAPE, "expects () (float32)");
    sg_tensor *d2 = sg_zeros(SG_F64, 1, (int64_t[]){2});
    ck_assert_int_eq(sg_st_read_into(f, "i", d2), SG_ERR_DTYPE);
    tu_assert_error(SG_ERR_DTYPE, "integer dtype I64");
    ck_assert_int_eq(sg_st_read_into(f, "nope", d), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "no tensor 'nope'");
    ck_assert_int_eq(sg_st_read_into(f, "s", NULL), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'dst'");
    ck_assert(sg_version(d) == v0);
    for (int i = 0; i < 6; i++) ck_assert(sg_get_flat(d, i) == 5);
    sg_tensor *dead = sg_zeros(SG_F64, 0, NULL);
    sg_tensor_free(dead);
    ck_assert_int_eq(sg_st_read_into(f, "s", dead), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, "not a live tensor");

    /* writer misuse leaves the writer as it was */
    sg_st_writer *w = sg_st_writer_new();
    ck_assert_int_eq(sg_st_writer_add(w, "a", d), SG_OK);
    ck_assert_int_eq(sg_st_writer_add(w, "a", d), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "duplicate tensor name 'a'");
    ck_assert_int_eq(sg_st_writer_add_i64(w, "a", 0, NULL, (int64_t[]){1}), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "duplicate tensor name 'a'");
    ck_assert_int_eq(sg_st_writer_add(w, "__metadata__", d), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "reserved");
    ck_assert_int_eq(sg_st_writer_add(w, "", d), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "empty");
    ck_assert_int_eq(sg_st_writer_add(w, "bad\xff", d), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "not valid UTF-8");
    ck_assert_int_eq(sg_st_writer_add(w, NULL, d), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'name'");
    ck_assert_int_eq(sg_st_writer_add(w, "b", NULL), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'t'");
    ck_assert_int_eq(sg_st_writer_add(w, "b", dead), SG_ERR_STATE);
    tu_assert_error(SG_ERR_STATE, NULL);
    ck_assert_int_eq(sg_st_writer_add_i64(w, "b", 1, (int64_t[]){-1}, NULL), SG_ERR_SHAPE);
    tu_assert_error(SG_ERR_SHAPE, "invalid size -1");
    ck_assert_int_eq(sg_st_writer_add_i64(w, "b", SG_MAX_DIMS + 1, (int64_t[SG_MAX_DIMS + 1]){0}, NULL),
                     SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "ndim 9");
    ck_assert_int_eq(sg_st_writer_add_i64(w, "b", 1, (int64_t[]){2}, NULL), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'data'");
    ck_assert_int_eq(sg_st_writer_meta(w, "k", "v"), SG_OK);
    ck_assert_int_eq(sg_st_writer_meta(w, "k", "w"), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "duplicate metadata key 'k'");
    ck_assert_int_eq(sg_st_writer_meta(w, "k2", "\xc0\xaf"), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "value is not valid UTF-8");
    ck_assert_int_eq(sg_st_writer_save(w, NULL), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'path'");
    sg_st_writer_free(NULL);
    sg_st_close(NULL);

    sg_tensor_free(d);
    sg_tensor_free(d2);
    sg_tensor_free(sc);
    sg_st_writer_free(w);
    sg_st_close(f);
    tu_teardown();
}
END_TEST

/* ---- JSON parser ---- */

static sg_json *jparse(const char *s) {
    sg_json_error e;
    sg_json *v = sg__json_parse(s, strlen(s), &e);
    ck_assert_msg(v != NULL, "'%s': %s at %zu", s, e.msg, e.pos);
    return v;
}

static const struct {
    const char *text;
    size_t pos;
    const char *must;
} JSON_BAD[] = {
    {"[1,]", 3, "expected a value"},
    {"[1 2]", 3, "expected ',' or ']' in array"},
    {"01", 1, "leading zero"},
    {"-", 1, "expected a digit"},
    {"1.", 2, "after '.'"},
    {"1e+", 3, "in exponent"},
    {"tru", 0, "expected a value"},
    {"\"abc", 0, "unterminated string"},
    {"{\"a\" 1}", 5, "expected ':'"},
    {"{1:2}", 1, "expected a string key"},
    {"", 0, "end of input"},
    {"[] []", 3, "after the end"},
    {"{\"a\":1,\"a\":2}", 0, "duplicate key \"a\""},
    {"[\"\\u00e\"]", 2, "4 hex digits"},
    {"\"\\", 0, "unterminated string"},
    {"[1,\x01]", 3, "byte 0x01"},
};
enum { N_JSON_BAD = sizeof JSON_BAD / sizeof JSON_BAD[0] };

START_TEST(json_parser) {
    sg_json *v = jparse(" {\"a\" : [1, -2, 3.5, 1e3, true, false, null, "
                        "\"x\\n\\u00e9\\ud83d\\ude00\\/\\\"\\\\\\b\\f\\r\\t\"], \"b\": {}} \n");
    ck_assert_int_eq(v->type, SG_JSON_OBJECT);
    const sg_json *a = sg__json_get(v, "a");
    ck_assert(a && a->type == SG_JSON_ARRAY && a->n == 8);
    ck_assert(a->items[0].is_int && a->items[0].ival == 1);
    ck_assert(a->items[1].is_int && a->items[1].ival == -2);
    ck_assert(!a->items[2].is_int && !a->items[3].is_int);
    ck_assert(a->items[4].type == SG_JSON_BOOL && a->items[4].bval && !a->items[5].bval);
    ck_assert(a->items[6].type == SG_JSON_NULL);
    ck_assert_str_eq(a->items[7].str, "x\n\xc3\xa9\xf0\x9f\x98\x80/\"\\\b\f\r\t");
    ck_assert_int_eq(a->items[7].len, strlen(a->items[7].str));
    ck_assert_int_eq(a->items[3].pos, 21); /* the "1e3" */
    ck_assert(sg__json_get(v, "b")->type == SG_JSON_OBJECT && sg__json_get(v, "b")->n == 0);
    ck_assert_ptr_null(sg__json_get(v, "c"));
    sg__json_free(v);

    static const struct {
        const char *t;
        bool is_int;
        int64_t v;
    } NUMS[] = {{"-9223372036854775808", true, INT64_MIN},
                {"9223372036854775807", true, INT64_MAX},
                {"9223372036854775808", false, 0},
                {"-9223372036854775809", false, 0},
                {"-0", true, 0},
                {"0.0", false, 0},
                {"1E2", false, 0},
                {"184467440737095516160", false, 0}};
    for (size_t i = 0; i < sizeof NUMS / sizeof NUMS[0]; i++) {
        v = jparse(NUMS[i].t);
        ck_assert_msg(v->type == SG_JSON_NUMBER && v->is_int == NUMS[i].is_int, "%s", NUMS[i].t);
        if (NUMS[i].is_int) ck_assert_msg(v->ival == NUMS[i].v, "%s", NUMS[i].t);
        sg__json_free(v);
    }

    /* only n bytes are read: no terminator needed */
    sg_json_error e;
    v = sg__json_parse("12345", 2, &e);
    ck_assert(v && v->ival == 12);
    sg__json_free(v);
    ck_assert_ptr_null(sg__json_parse("[1]", 2, &e));
    ck_assert_int_eq(e.pos, 2);

    for (int i = 0; i < N_JSON_BAD; i++) {
        v = sg__json_parse(JSON_BAD[i].text, strlen(JSON_BAD[i].text), &e);
        ck_assert_msg(v == NULL, "'%s' parsed", JSON_BAD[i].text);
        ck_assert_msg(!e.oom && e.pos == JSON_BAD[i].pos && strstr(e.msg, JSON_BAD[i].must),
                      "'%s': got '%s' at %zu, expected '%s' at %zu", JSON_BAD[i].text, e.msg, e.pos,
                      JSON_BAD[i].must, JSON_BAD[i].pos);
    }

    /* depth: exactly the limit parses, one more does not */
    char deep[2 * SG_JSON_MAX_DEPTH + 3];
    for (int extra = 0; extra < 2; extra++) {
        int d = SG_JSON_MAX_DEPTH + extra;
        for (int i = 0; i < d; i++) {
            deep[i] = '[';
            deep[d + i] = ']';
        }
        v = sg__json_parse(deep, 2 * (size_t)d, &e);
        ck_assert_msg((v != NULL) == (extra == 0), "depth %d: %s", d, e.msg);
        sg__json_free(v);
    }
    ck_assert(sg__json_utf8_valid("a\xc3\xa9\xf0\x9f\x98\x80", 7));
    ck_assert(!sg__json_utf8_valid("\xed\xa0\x80", 3));     /* encoded surrogate */
    ck_assert(!sg__json_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    ck_assert(!sg__json_utf8_valid("\xe2\x82", 2));         /* truncated */
    tu_teardown();
}
END_TEST

/* ---- fuzz: random mutations and truncations of a valid file never crash and fail cleanly ---- */

enum { FUZZ_ITERS = 4000, FUZZ_SLACK = 64 };
static const char FUZZ_TOKENS[] = "{}[]\":,\\u0123456789-+.eE tfnaFI_\x80\xc3\xff";

START_TEST(fuzz) {
    size_t n0;
    uint64_t hl;
    unsigned char *img = valid_image(&n0, &hl);
    sg_rng rng = sg_rng_new(20240601);
    unsigned char *buf = malloc(n0 + FUZZ_SLACK);
    int opened = 0, rejected = 0, json_ok = 0;
    for (int it = 0; it < FUZZ_ITERS; it++) {
        memcpy(buf, img, n0);
        size_t n = n0;
        int nmut = 1 + (int)sg_rng_below(&rng, 4);
        for (int m = 0; m < nmut && n > 0; m++) {
            /* mostly inside the header, sometimes anywhere */
            size_t pos =
                sg_rng_below(&rng, 4) == 0 || hl == 0 ? sg_rng_below(&rng, n) : 8 + sg_rng_below(&rng, hl);
            if (pos >= n) pos = n - 1;
            unsigned char tok = (unsigned char)FUZZ_TOKENS[sg_rng_below(&rng, sizeof FUZZ_TOKENS - 1)];
            switch (sg_rng_below(&rng, 6)) {
            case 0:
                buf[pos] ^= (unsigned char)(1u << sg_rng_below(&rng, 8));
                break;
            case 1:
                buf[pos] = tok;
                break;
            case 2:
                n = pos;
                break;
            case 3:
                memmove(buf + pos, buf + pos + 1, n - pos - 1);
                n--;
                break;
            case 4:
                if (n < n0 + FUZZ_SLACK) {
                    memmove(buf + pos + 1, buf + pos, n - pos);
                    buf[pos] = tok;
                    n++;
                }
                break;
            default: { /* header length off by a little, or anything */
                uint64_t h = sg_rng_below(&rng, 2)
                                 ? hl + sg_rng_below(&rng, 9) - 4
                                 : (uint64_t)sg_rng_below(&rng, UINT32_MAX) << sg_rng_below(&rng, 33);
                for (int i = 0; i < 8 && i < (int)n; i++) buf[i] = (unsigned char)(h >> (8 * i));
            }
            }
        }
        /* the JSON parser alone, on an allocation of exactly the header bytes (ASan sees overreads) */
        size_t hn = n > 8 ? (n - 8 < hl ? n - 8 : (size_t)hl) : 0;
        char *h = malloc(hn ? hn : 1);
        if (hn) memcpy(h, buf + 8, hn);
        sg_json_error e;
        sg_json *v = sg__json_parse(h, hn, &e);
        if (v) json_ok++;
        else ck_assert_msg(e.msg[0] && e.pos <= hn && !e.oom, "json error without message at iter %d", it);
        sg__json_free(v);
        free(h);
        /* the whole reader, on an exact-size copy */
        unsigned char *exact = malloc(n ? n : 1);
        memcpy(exact, buf, n);
        sg_st_file *f = sg_st_open_memory(exact, n);
        free(exact);
        if (!f) {
            ck_assert_msg(sg_last_status() == SG_ERR_FORMAT && sg_last_error()[0], "iter %d: status %d '%s'",
                          it, sg_last_status(), sg_last_error());
            sg_clear_error();
            rejected++;
            continue;
        }
        opened++;
        for (int i = 0; i < sg_st_count(f); i++) {
            const char *nm = sg_st_name(f, i);
            sg_tensor *t = sg_st_get(f, nm, SG_F64);
            int64_t *iv = NULL, ni;
            if (!t) sg_st_get_i64(f, nm, &iv, &ni);
            sg_tensor_free(t);
            free(iv);
            sg_clear_error(); /* dtype mismatches are expected here */
        }
        sg_st_close(f);
    }
    ck_assert_msg(opened > 0 && rejected > FUZZ_ITERS / 2 && json_ok > 0, "opened %d rejected %d json_ok %d",
                  opened, rejected, json_ok);
    free(buf);
    free(img);
    tu_teardown();
}
END_TEST

/* ---- C -> Python, when /usr/bin/python3 has numpy (never required) ---- */

START_TEST(python_interop) {
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        printf("python_interop: /usr/bin/python3 with numpy not available, skipped\n");
        return;
    }
    tmpdir td;
    tmp_new(&td);
    char path[256], cmd[2048];
    tmp_path(&td, "c.safetensors", path, sizeof path);
    sg_tensor *w =
        sg_from_buffer(SG_F32, 2, (int64_t[]){2, 3}, (float[]){0.5f, -1, 2, 3, 4.25f, -0.0f}, SG_F32);
    sg_tensor *s = sg_scalar(SG_F64, 0.1);
    sg_tensor *e = sg_zeros(SG_F64, 2, (int64_t[]){3, 0});
    sg_st_writer *wr = sg_st_writer_new();
    ck_assert_int_eq(sg_st_writer_add(wr, "w", w), SG_OK);
    ck_assert_int_eq(sg_st_writer_add(wr, "s \"\xc3\xa9\"", s), SG_OK);
    ck_assert_int_eq(sg_st_writer_add(wr, "e", e), SG_OK);
    ck_assert_int_eq(sg_st_writer_add_i64(wr, "i", 1, (int64_t[]){2}, (int64_t[]){INT64_MIN, 3}), SG_OK);
    ck_assert_int_eq(sg_st_writer_meta(wr, "format", "pt"), SG_OK);
    ck_assert_int_eq(sg_st_writer_save(wr, path), SG_OK);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c '"
             "import sys; sys.path.insert(0, sys.argv[1]); import st, numpy as np\n"
             "t, m = st.load(sys.argv[2], with_metadata=True)\n"
             "assert m == {\"format\": \"pt\"}, m\n"
             "assert list(t) == [\"w\", \"s \\\"\\u00e9\\\"\", \"e\", \"i\"], list(t)\n"
             "assert t[\"w\"].dtype == np.float32 and t[\"w\"].tolist() == [[0.5, -1, 2], [3, 4.25, 0]]\n"
             "assert np.signbit(t[\"w\"][1, 2])\n"
             "s = t[\"s \\\"\\u00e9\\\"\"]; assert s.dtype == np.float64 and s.shape == () and s == 0.1\n"
             "assert t[\"e\"].shape == (3, 0) and t[\"i\"].tolist() == [-2**63, 3]\n"
             "' %s/tools %s",
             tu_source_dir(), path);
    ck_assert_int_eq(system(cmd), 0);
    sg_st_writer_free(wr);
    sg_tensor_free(w);
    sg_tensor_free(s);
    sg_tensor_free(e);
    tmp_rm(&td);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("safetensors");
    TCase *t = tcase_create("safetensors");
    tcase_add_test(t, fixture_values);
    tcase_add_loop_test(t, roundtrip, 0, 2 * N_RT);
    tcase_add_test(t, strided);
    tcase_add_test(t, half_types);
    tcase_add_test(t, atomic_save);
    tcase_add_test(t, stale_temp_sweep);
    tcase_add_test(t, concurrent_save);
    tcase_add_loop_test(t, corrupt, 0, N_CORRUPT);
    tcase_add_test(t, truncated);
    tcase_add_test(t, api_errors);
    tcase_add_test(t, json_parser);
    tcase_add_test(t, fuzz);
    tcase_add_test(t, python_interop);
    suite_add_tcase(s, t);
    return tu_run(s);
}
