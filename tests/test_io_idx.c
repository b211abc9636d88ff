/* IDX / MNIST loader: the real MNIST files in the shared data directory (counts, shapes, first
 * labels, pixel values), synthetic raw and gzip files, and every error path with its message
 * (bad magic, truncation with expected vs found bytes, trailing data, corrupt gzip, missing files). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/datatest.h"
#include "util/testutil.h"

enum { MNIST_N = 10000, MNIST_SIDE = 28, N_FIRST = 10 };
/* first labels, read with: python3 -c "import gzip; print(list(gzip.open(F).read()[8:18]))" */
static const int64_t T10K_FIRST[N_FIRST] = {7, 2, 1, 0, 4, 1, 4, 9, 5, 9};
static const int64_t TRAIN_FIRST[N_FIRST] = {5, 4, 0, 1, 7, 5, 0, 5, 5, 3};
/* sum of the bytes of the first t10k image, and its bytes at row 10, cols 10..14 */
enum { T10K_IMG0_SUM = 18454 };
static const unsigned char T10K_IMG0_ROW10[] = {0x00, 0x11, 0x42, 0x0e, 0x43};

static char *mnist_path(const char *name) { return tu_data_path(tu_data_dir(), name); }

START_TEST(real_t10k) {
    char *ip = mnist_path("mnist/t10k-images-idx3-ubyte.gz"), *lp = mnist_path("mnist/t10k-labels-idx1-ubyte.gz");
    sg_tensor *img = sg_idx_images(ip);
    ck_assert_msg(img != NULL, "%s", sg_last_error());
    ck_assert_int_eq(sg_dtype_of(img), SG_F32);
    ck_assert_int_eq(sg_ndim(img), 3);
    ck_assert_int_eq(sg_size(img, 0), MNIST_N);
    ck_assert_int_eq(sg_size(img, 1), MNIST_SIDE);
    ck_assert_int_eq(sg_size(img, 2), MNIST_SIDE);
    const float *p = sg_data_const(img);
    double sum = 0, lo = 1, hi = 0;
    for (int i = 0; i < MNIST_SIDE * MNIST_SIDE; i++) sum += p[i];
    for (int64_t i = 0; i < sg_numel(img); i++) {
        lo = p[i] < lo ? p[i] : lo;
        hi = p[i] > hi ? p[i] : hi;
    }
    ck_assert_double_eq_tol(sum, T10K_IMG0_SUM / 255.0, 1e-3);
    ck_assert(lo == 0.0 && hi == 1.0);
    for (int c = 0; c < 5; c++) ck_assert_float_eq(p[10 * MNIST_SIDE + 10 + c], T10K_IMG0_ROW10[c] / 255.0f);

    int64_t n = -1;
    int64_t *lab = sg_idx_labels(lp, &n);
    ck_assert_msg(lab != NULL, "%s", sg_last_error());
    ck_assert_int_eq(n, MNIST_N);
    for (int i = 0; i < N_FIRST; i++) ck_assert_int_eq(lab[i], T10K_FIRST[i]);
    sg_idx_labels_free(lab);
    sg_tensor_free(img);
    free(ip);
    free(lp);
    tu_teardown();
}
END_TEST

START_TEST(real_mnist_load) {
    char *dir = mnist_path("mnist");
    static const char *const splits[] = {"t10k", "train"};
    const int64_t *first[] = {T10K_FIRST, TRAIN_FIRST};
    for (int s = 0; s < 2; s++) {
        sg_mnist m;
        ck_assert_msg(sg_mnist_load(dir, splits[s], &m) == 0, "%s", sg_last_error());
        ck_assert_int_eq(m.n, MNIST_N);
        ck_assert_int_eq(m.rows, MNIST_SIDE);
        ck_assert_int_eq(m.cols, MNIST_SIDE);
        ck_assert_int_eq(sg_size(m.images, 0), MNIST_N);
        for (int i = 0; i < N_FIRST; i++) ck_assert_int_eq(m.labels[i], first[s][i]);
        int64_t per_class[SG_MNIST_CLASSES] = {0};
        for (int64_t i = 0; i < m.n; i++) per_class[m.labels[i]]++;
        for (int c = 0; c < SG_MNIST_CLASSES; c++) ck_assert_int_gt(per_class[c], 800);
        sg_mnist_free(&m);
        ck_assert_ptr_null(m.images);
    }
    free(dir);
    tu_teardown();
}
END_TEST

/* An IDX file in memory: magic 0x0000 08 ndim, sizes, payload bytes 0, 1, 2, ... (mod 256). */
typedef struct {
    unsigned char b[256];
    size_t len;
} idx_bytes;

static idx_bytes make_idx(int ndim, const uint32_t *dims) {
    idx_bytes x = {{0}, 0};
    x.b[2] = SG_IDX_TYPE_UBYTE;
    x.b[3] = (unsigned char)ndim;
    x.len = 4;
    size_t payload = 1;
    for (int d = 0; d < ndim; d++) {
        for (int k = 0; k < 4; k++) x.b[x.len++] = (unsigned char)(dims[d] >> (24 - 8 * k));
        payload *= dims[d];
    }
    ck_assert_uint_le(x.len + payload, sizeof x.b);
    for (size_t i = 0; i < payload; i++) x.b[x.len++] = (unsigned char)(i * 37 % 256);
    return x;
}

START_TEST(synthetic_raw_and_gz) {
    char *dir = tu_data_tmpdir();
    idx_bytes im = make_idx(3, (uint32_t[]){2, 3, 4}), lb = make_idx(1, (uint32_t[]){2});
    lb.b[8] = 3;
    lb.b[9] = 9;
    char *files[] = {tu_data_write(dir, "raw-images", im.b, im.len), tu_data_write_gz(dir, "gz-images", im.b, im.len)};
    for (int f = 0; f < 2; f++) {
        sg_tensor *t = sg_idx_images(files[f]);
        ck_assert_msg(t != NULL, "%s", sg_last_error());
        char buf[64];
        ck_assert_str_eq(sg_shape_str(t, buf, sizeof buf), "(2,3,4)");
        double want[24];
        for (int i = 0; i < 24; i++) want[i] = (double)(float)((float)(i * 37 % 256) / 255.0f);
        tu_assert_values(t, want, 24, 0, 0);
        sg_tensor_free(t);
        free(files[f]);
    }
    /* an MNIST directory with gzip images and raw labels */
    free(tu_data_write_gz(dir, "mn/train-images-idx3-ubyte.gz", im.b, im.len));
    free(tu_data_write(dir, "mn/train-labels-idx1-ubyte", lb.b, lb.len));
    char *mn = tu_data_path(dir, "mn");
    sg_mnist m;
    ck_assert_msg(sg_mnist_load(mn, "train", &m) == 0, "%s", sg_last_error());
    ck_assert_int_eq(m.n, 2);
    ck_assert_int_eq(m.rows, 3);
    ck_assert_int_eq(m.cols, 4);
    ck_assert_int_eq(m.labels[0], 3);
    ck_assert_int_eq(m.labels[1], 9);
    sg_mnist_free(&m);
    /* zero images is a valid (empty) file */
    idx_bytes empty = make_idx(3, (uint32_t[]){0, 28, 28});
    char *ep = tu_data_write(dir, "empty", empty.b, empty.len);
    sg_tensor *t = sg_idx_images(ep);
    ck_assert_msg(t != NULL, "%s", sg_last_error());
    ck_assert_int_eq(sg_numel(t), 0);
    sg_tensor_free(t);
    free(ep);
    free(mn);
    tu_data_tmpdir_free(dir);
    tu_teardown();
}
END_TEST

START_TEST(format_errors) {
    char *dir = tu_data_tmpdir();
    idx_bytes im = make_idx(3, (uint32_t[]){2, 3, 4}); /* 16 + 24 = 40 bytes */
    int64_t n;

    char *p = tu_data_write(dir, "trunc", im.b, 30);
    ck_assert_ptr_null(sg_idx_images(p));
    tu_assert_error(SG_ERR_FORMAT, "truncated: expected 40 bytes (16-byte header + 2x3x4 payload), found 30");
    free(p);
    p = tu_data_write_gz(dir, "trunc.gz", im.b, 30);
    ck_assert_ptr_null(sg_idx_images(p));
    tu_assert_error(SG_ERR_FORMAT, "trunc.gz': truncated: expected 40 bytes");
    free(p);
    p = tu_data_write(dir, "hdr", im.b, 10);
    ck_assert_ptr_null(sg_idx_images(p));
    tu_assert_error(SG_ERR_FORMAT, "truncated header: expected 16 bytes, found 10");
    free(p);
    p = tu_data_write(dir, "tiny", im.b, 2);
    ck_assert_ptr_null(sg_idx_images(p));
    tu_assert_error(SG_ERR_FORMAT, "truncated header: expected 16 bytes, found 2");
    free(p);

    /* labels file given as images, and a float-typed file */
    idx_bytes lb = make_idx(1, (uint32_t[]){5});
    p = tu_data_write(dir, "labels", lb.b, lb.len);
    ck_assert_ptr_null(sg_idx_images(p));
    tu_assert_error(SG_ERR_FORMAT, "bad magic number 0x00000801 (expected 0x00000803: unsigned bytes, 3 dimensions)");
    free(p);
    p = tu_data_write(dir, "images", im.b, im.len);
    ck_assert_ptr_null(sg_idx_labels(p, &n));
    tu_assert_error(SG_ERR_FORMAT, "bad magic number 0x00000803 (expected 0x00000801: unsigned bytes, 1 dimension)");
    free(p);
    idx_bytes fl = im;
    fl.b[2] = 0x0D;
    p = tu_data_write(dir, "float", fl.b, fl.len);
    ck_assert_ptr_null(sg_idx_images(p));
    tu_assert_error(SG_ERR_FORMAT, "sg_idx_images: '");
    free(p);

    /* trailing data */
    idx_bytes tr = im;
    tr.b[tr.len++] = 0;
    p = tu_data_write(dir, "trailing", tr.b, tr.len);
    ck_assert_ptr_null(sg_idx_images(p));
    tu_assert_error(SG_ERR_FORMAT, "trailing data: expected 40 bytes");
    free(p);

    /* zero rows */
    idx_bytes z = make_idx(3, (uint32_t[]){2, 0, 4});
    p = tu_data_write(dir, "zero", z.b, z.len);
    ck_assert_ptr_null(sg_idx_images(p));
    tu_assert_error(SG_ERR_FORMAT, "dimension 1 has size 0");
    free(p);

    /* a header claiming 4e9 x 4e9 x 4e9 bytes: an error, not a giant allocation */
    idx_bytes huge = make_idx(3, (uint32_t[]){1, 1, 1});
    memset(huge.b + 4, 0xff, 12);
    p = tu_data_write(dir, "huge", huge.b, huge.len);
    ck_assert_ptr_null(sg_idx_images(p));
    tu_assert_error(SG_ERR_FORMAT, "implausible sizes");
    free(p);
    /* large but plausible claim with little data: truncation, reported with the byte counts */
    idx_bytes big = make_idx(1, (uint32_t[]){3});
    big.b[4] = 0x7f;
    p = tu_data_write(dir, "big", big.b, big.len);
    ck_assert_ptr_null(sg_idx_labels(p, &n));
    tu_assert_error(SG_ERR_FORMAT, "truncated: expected 2130706443 bytes (8-byte header + 2130706435 payload), found 11");
    ck_assert_int_eq(n, 0);
    free(p);
    tu_data_tmpdir_free(dir);
    tu_teardown();
}
END_TEST

/* gzip-level damage: a stream cut inside its trailer, and a wrong CRC */
START_TEST(gzip_errors) {
    char *dir = tu_data_tmpdir();
    idx_bytes im = make_idx(3, (uint32_t[]){2, 3, 4});
    char *good = tu_data_write_gz(dir, "good.gz", im.b, im.len);
    size_t len;
    char *gz = tu_data_read(good, &len);
    char *cut = tu_data_write(dir, "cut.gz", gz, len - 4);
    ck_assert_ptr_null(sg_idx_images(cut));
    tu_assert_error(SG_ERR_FORMAT, "truncated gzip stream");
    gz[len - 6] ^= 0x5a; /* inside the CRC-32 */
    char *crc = tu_data_write(dir, "crc.gz", gz, len);
    ck_assert_ptr_null(sg_idx_images(crc));
    /* the CRC is checked once all 40 bytes are out */
    tu_assert_error(SG_ERR_FORMAT, "crc.gz': corrupt gzip data after 40 bytes: incorrect data check");
    free(gz);
    free(good);
    free(cut);
    free(crc);
    tu_data_tmpdir_free(dir);
    tu_teardown();
}
END_TEST

/* Issue 9 defect 5: a gzip file cut anywhere inside its 8-byte trailer (CRC-32 + length), or with
 * the whole trailer missing, is an error, for a 100-image file and (when the data is there) the
 * real t10k images; a second gzip member is read, other bytes after the stream are not. */
START_TEST(gzip_trailer_cut) {
    char *dir = tu_data_tmpdir();
    enum { N = 100, SIDE = 28, HDR = 16, TRAILER = 8 };
    size_t raw_len = HDR + (size_t)N * SIDE * SIDE;
    unsigned char *raw = calloc(raw_len, 1);
    raw[2] = SG_IDX_TYPE_UBYTE;
    raw[3] = 3;
    raw[7] = N;
    raw[11] = SIDE;
    raw[15] = SIDE;
    for (size_t i = HDR; i < raw_len; i++) raw[i] = (unsigned char)(i * 2654435761u >> 13);
    char *good = tu_data_write_gz(dir, "img100.gz", raw, raw_len);
    char *real = tu_data_path(tu_data_dir(), "mnist/t10k-images-idx3-ubyte.gz");
    const char *files[] = {good, real};
    for (int k = 0; k < 2; k++) {
        if (access(files[k], R_OK) != 0) {
            printf("gzip_trailer_cut: skipping the real t10k file: %s not found\n", files[k]);
            continue;
        }
        size_t len;
        char *gz = tu_data_read(files[k], &len);
        sg_tensor *whole = sg_idx_images(files[k]);
        ck_assert_msg(whole != NULL, "%s", sg_last_error());
        sg_tensor_free(whole);
        for (int cut = 1; cut <= TRAILER + 1; cut++) {
            char *p = tu_data_write(dir, "cut.gz", gz, len - (size_t)cut);
            sg_tensor *t = sg_idx_images(p);
            ck_assert_msg(t == NULL, "%s cut by %d bytes loaded", files[k], cut);
            tu_assert_error(SG_ERR_FORMAT, "truncated gzip stream");
            free(p);
        }
        free(gz);
    }
    /* two members (like `cat a.gz b.gz`): the IDX bytes split across them load whole */
    size_t l1, l2;
    char *m1 = tu_data_write_gz(dir, "m1.gz", raw, 100), *m2 = tu_data_write_gz(dir, "m2.gz", raw + 100, raw_len - 100);
    char *b1 = tu_data_read(m1, &l1), *b2 = tu_data_read(m2, &l2);
    char *both = malloc(l1 + l2 + 1);
    memcpy(both, b1, l1);
    memcpy(both + l1, b2, l2);
    char *p = tu_data_write(dir, "two.gz", both, l1 + l2);
    sg_tensor *t = sg_idx_images(p);
    ck_assert_msg(t != NULL, "%s", sg_last_error());
    ck_assert_float_eq(sg_get_flat(t, 5), raw[HDR + 5] / 255.0f);
    sg_tensor_free(t);
    free(p);
    both[l1 + l2] = 'x'; /* one junk byte after the last member */
    p = tu_data_write(dir, "junk.gz", both, l1 + l2 + 1);
    ck_assert_ptr_null(sg_idx_images(p));
    tu_assert_error(SG_ERR_FORMAT, "trailing data after the gzip stream");
    free(p);
    free(both);
    free(b1);
    free(b2);
    free(m1);
    free(m2);
    free(raw);
    free(good);
    free(real);
    tu_data_tmpdir_free(dir);
    tu_teardown();
}
END_TEST

/* Issue 9 defect 2: 0 images of 0xFFFFFFFF x 0xFFFFFFFF pixels holds no byte but its strides
 * overflow int64: refused as implausible, raw and gzip; 0 images of 28 x 28 still load. */
START_TEST(zero_images_huge_sides) {
    char *dir = tu_data_tmpdir();
    idx_bytes z = make_idx(3, (uint32_t[]){0, 1, 1});
    memset(z.b + 8, 0xff, 8);
    char *p = tu_data_write(dir, "zero-huge", z.b, z.len);
    ck_assert_ptr_null(sg_idx_images(p));
    tu_assert_error(SG_ERR_FORMAT, "implausible sizes 0x4294967295x4294967295");
    free(p);
    p = tu_data_write_gz(dir, "zero-huge.gz", z.b, z.len);
    ck_assert_ptr_null(sg_idx_images(p));
    tu_assert_error(SG_ERR_FORMAT, "implausible sizes");
    free(p);
    idx_bytes ok = make_idx(3, (uint32_t[]){0, 28, 28});
    p = tu_data_write(dir, "zero-ok", ok.b, ok.len);
    sg_tensor *t = sg_idx_images(p);
    ck_assert_msg(t != NULL, "%s", sg_last_error());
    ck_assert_int_eq(sg_numel(t), 0);
    ck_assert_int_eq(sg_size(t, 2), 28);
    sg_tensor_free(t);
    free(p);
    tu_data_tmpdir_free(dir);
    tu_teardown();
}
END_TEST

START_TEST(io_and_arg_errors) {
    char *dir = tu_data_tmpdir();
    char *missing = tu_data_path(dir, "nope-idx3-ubyte");
    int64_t n = 5;
    ck_assert_ptr_null(sg_idx_images(missing));
    tu_assert_error(SG_ERR_IO, "cannot open '");
    ck_assert_ptr_null(sg_idx_labels(missing, &n));
    tu_assert_error(SG_ERR_IO, "nope-idx3-ubyte': No such file or directory");
    ck_assert_int_eq(n, 0);
    ck_assert_ptr_null(sg_idx_images(dir));
    tu_assert_error(SG_ERR_IO, "Is a directory");
    ck_assert_ptr_null(sg_idx_images(NULL));
    tu_assert_error(SG_ERR_NULL, "'path' is NULL");

    sg_mnist m;
    ck_assert_int_eq(sg_mnist_load(dir, "valid", &m), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "\"train\" or \"t10k\", got \"valid\"");
    ck_assert_int_eq(sg_mnist_load(dir, "t10k", &m), SG_ERR_IO);
    tu_assert_error(SG_ERR_IO, "no images file for split 't10k'");
    ck_assert_ptr_null(m.images);

    /* 2 images but 3 labels; then a label of 10 */
    idx_bytes im = make_idx(3, (uint32_t[]){2, 3, 4}), lb = make_idx(1, (uint32_t[]){3});
    free(tu_data_write(dir, "t10k-images-idx3-ubyte", im.b, im.len));
    free(tu_data_write(dir, "t10k-labels-idx1-ubyte", lb.b, lb.len));
    ck_assert_int_eq(sg_mnist_load(dir, "t10k", &m), SG_ERR_FORMAT);
    tu_assert_error(SG_ERR_FORMAT, "holds 2 images but '");
    lb = make_idx(1, (uint32_t[]){2});
    lb.b[8] = 1;
    lb.b[9] = 10;
    free(tu_data_write(dir, "t10k-labels-idx1-ubyte", lb.b, lb.len));
    ck_assert_int_eq(sg_mnist_load(dir, "t10k", &m), SG_ERR_FORMAT);
    tu_assert_error(SG_ERR_FORMAT, "label 10 at index 1 is outside 0..9");
    ck_assert_ptr_null(m.labels);
    free(missing);
    tu_data_tmpdir_free(dir);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("io_idx");
    TCase *t = tcase_create("idx");
    tcase_add_test(t, synthetic_raw_and_gz);
    tcase_add_test(t, format_errors);
    tcase_add_test(t, gzip_errors);
    tcase_add_test(t, gzip_trailer_cut);
    tcase_add_test(t, zero_images_huge_sides);
    tcase_add_test(t, io_and_arg_errors);
    suite_add_tcase(s, t);
    TCase *d = tu_data_tcase(s, "idx_data");
    tcase_add_test(d, real_t10k);
    tcase_add_test(d, real_mnist_load);
    return tu_run(s);
}
