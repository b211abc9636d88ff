/* Writes the small seed corpus of every harness into <out>/<harness>/ (fuzz/corpus/ in the
 * repository): a handful of tiny valid inputs per loader, made with the library's own writers
 * where it has them, so the fuzzer starts from inside each format. Run by
 * `scripts/fuzz.sh --make-corpus`; the output is committed. Not a test. */
#include <sys/stat.h>
#include <zlib.h>

#include "fuzz_model.h"
#include "fuzz_util.h"

static const char *out_root;

static const char *seed_path(char *buf, const char *harness, const char *name) {
    char dir[FUZZ_PATH];
    snprintf(dir, sizeof dir, "%s/%s", out_root, harness);
    FUZZ_CHECK(mkdir(dir, 0755) == 0 || access(dir, F_OK) == 0, "mkdir %s", dir);
    return fuzz_path(buf, dir, name);
}

static void seed(const char *harness, const char *name, const void *data, size_t n) {
    char p[FUZZ_PATH];
    fuzz_write(seed_path(p, harness, name), data, n);
}

#define SEED_STR(h, name, s) seed(h, name, s, sizeof s - 1)

/* A safetensors file from a header and data bytes (the header padded to 8 bytes with spaces). */
static void seed_st(const char *name, const char *header, const void *data, size_t dlen) {
    size_t hl = strlen(header), padded = (hl + 7) / 8 * 8;
    unsigned char *b = calloc(8 + padded + dlen, 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(b + 8, header, hl);
    memset(b + 8 + hl, ' ', padded - hl);
    if (dlen) memcpy(b + 8 + padded, data, dlen);
    seed("safetensors", name, b, 8 + padded + dlen);
    free(b);
}

/* An IDX file: magic, sizes, payload i*37 mod 256. */
static size_t make_idx(unsigned char *b, int ndim, const uint32_t *dims) {
    size_t n = 4, payload = 1;
    b[0] = b[1] = 0;
    b[2] = SG_IDX_TYPE_UBYTE;
    b[3] = (unsigned char)ndim;
    for (int d = 0; d < ndim; d++) {
        for (int k = 0; k < 4; k++) b[n++] = (unsigned char)(dims[d] >> (24 - 8 * k));
        payload *= dims[d];
    }
    for (size_t i = 0; i < payload; i++) b[n++] = (unsigned char)(i * 37 % 10);
    return n;
}

/* The IDX harness's input: a container byte, then the file (gzip-compressed here when gz). */
static void seed_idx(const char *name, int container, const unsigned char *file, size_t n, bool gz) {
    unsigned char buf[1024];
    buf[0] = (unsigned char)container;
    size_t len = n;
    if (gz) {
        z_stream zs = {0};
        FUZZ_CHECK(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK, "deflate");
        zs.next_in = (unsigned char *)file;
        zs.avail_in = (uInt)n;
        zs.next_out = buf + 1;
        zs.avail_out = sizeof buf - 1;
        FUZZ_CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END, "deflate");
        len = zs.total_out;
        deflateEnd(&zs);
    } else {
        memcpy(buf + 1, file, n);
    }
    seed("idx", name, buf, 1 + len);
}

int main(int argc, char **argv) {
    FUZZ_CHECK(argc == 2, "usage: %s <corpus dir>", argv[0]);
    out_root = argv[1];
    mkdir(out_root, 0755);
    char p[FUZZ_PATH];

    /* json */
    SEED_STR("json", "object", "{\"a\":[1,2.5,-3e2,true,false,null],\"b\":{\"c\":\"\\u00e9\\ud83d\\ude00\\n\"}}");
    SEED_STR("json", "array", "[[], {}, \"x\", 0, -0.0, 12345678901234567890]");
    SEED_STR("json", "header", "{\"__metadata__\":{\"k\":\"v\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}");
    SEED_STR("json", "string", "\"caf\xc3\xa9 \\\"q\\\" \\\\ \\/ \\t\"");

    /* safetensors: the writer's own files, and hand-made ones for the dtypes it does not write */
    sg_st_writer *w = sg_st_writer_new();
    sg_tensor *a = sg_from_buffer(SG_F32, 2, (int64_t[]){2, 3}, (float[]){1, -2, 3.5f, 0, 1e-3f, 7}, SG_F32);
    sg_tensor *s = sg_from_buffer(SG_F64, 0, NULL, (double[]){0.25}, SG_F64);
    sg_tensor *e = sg_zeros(SG_F32, 2, (int64_t[]){0, 3});
    FUZZ_CHECK(w && a && s && e, "%s", sg_last_error());
    sg_st_writer_add(w, "lstm.weight", a);
    sg_st_writer_add(w, "scalar", s);
    sg_st_writer_add(w, "empty", e);
    sg_st_writer_add_i64(w, "ids", 1, (int64_t[]){3}, (int64_t[]){-1, 0, 5});
    sg_st_writer_meta(w, "format", "pt");
    FUZZ_CHECK(sg_st_writer_save(w, seed_path(p, "safetensors", "writer")) == SG_OK, "%s", sg_last_error());
    sg_st_writer_free(w);
    sg_tensor_free(a);
    sg_tensor_free(s);
    sg_tensor_free(e);
    const uint16_t half[4] = {0x3c00, 0xc000, 0x7c00, 0x0001};
    seed_st("f16_bf16", "{\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                        "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[4,8]}}", half, sizeof half);
    const uint8_t ints[8] = {1, 0, 255, 7, 0x80, 0xff, 0xff, 0x7f};
    seed_st("ints", "{\"u\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                    "\"t\":{\"dtype\":\"BOOL\",\"shape\":[1,1],\"data_offsets\":[2,3]},"
                    "\"i\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[3,4]},"
                    "\"j\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[4,8]}}", ints, sizeof ints);
    seed_st("f8", "{\"q\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", ints, 2);

    /* checkpoint: the harness's own model, with and without the optimizer, with metadata */
    fuzz_model fm;
    FUZZ_CHECK(fuzz_model_new(&fm) == SG_OK, "%s", sg_last_error());
    const char *meta[] = {"epoch", "3", "note", "seed corpus", NULL};
    FUZZ_CHECK(sg_checkpoint_save(seed_path(p, "checkpoint", "with_optim"), fm.m, fm.opt, meta) == SG_OK, "%s",
               sg_last_error());
    FUZZ_CHECK(sg_checkpoint_save(seed_path(p, "checkpoint", "params_only"), fm.m, NULL, NULL) == SG_OK, "%s",
               sg_last_error());
    fuzz_model_free(&fm);

    /* idx: raw and gzip images and labels; container byte 0 = as is, 1 = the harness compresses */
    unsigned char f[512];
    size_t n = make_idx(f, 3, (uint32_t[]){2, 3, 4});
    seed_idx("images_raw", 0, f, n, false);
    seed_idx("images_gz", 0, f, n, true);
    seed_idx("images_harness_gz", 1, f, n, false);
    n = make_idx(f, 1, (uint32_t[]){5});
    seed_idx("labels_raw", 0, f, n, false);
    seed_idx("labels_gz", 0, f, n, true);
    n = make_idx(f, 3, (uint32_t[]){0, 28, 28});
    seed_idx("images_none", 0, f, n, false);

    /* csv */
    SEED_STR("csv", "plain", "t,value\n1,10\n2,20.5\n3,-3e2\n");
    SEED_STR("csv", "quoted", "\xEF\xBB\xBF\"t\",\"value\"\r\n\"1\",\" 7 \"\r\n\"a,b\",\"8\"\r\n");
    SEED_STR("csv", "blank_lines", "value,x\n\n 1 , 2\n\t\n4,5");

    /* character corpus */
    SEED_STR("chars", "text", "The Time Machine, by H. G. Wells [1898]\n\nI\n\nThe Time Traveller (for so it\n");
    SEED_STR("chars", "bytes", "caf\xc3\xa9 \x01\x02 ABC abc\n");
    SEED_STR("chars", "one", "a");

    /* imdb: chunks split at 0xFF; first byte = label bit + name choice */
    SEED_STR("imdb", "two_reviews", "\x05" "A good film, really good.<br /><br />Loved it!\xff"
                                    "\x02" "Bad. Very bad film; don't.");
    SEED_STR("imdb", "odd_names", "\x17" "name without a rating\xff\x19" "not a txt\xff\x01\xff\x00" "x y z x");
    puts("gen_corpus: done");
    return 0;
}
