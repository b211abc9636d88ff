/* libFuzzer harness: the IDX loaders (io/idx.c), sg_idx_images and sg_idx_labels, on a file
 * holding the input. The first input byte chooses the container: odd = the rest is gzip-compressed
 * here first (so the fuzzer explores IDX headers inside valid gzip streams), even = the rest is
 * written as is (raw IDX, or gzip bytes the fuzzer made itself: truncated, corrupt, multi-member).
 * Checks: no crash, leak or hang; results have the shape and value range promised in io/idx.h. */
#include <zlib.h>

#include "fuzz_util.h"

static char path[FUZZ_PATH];

static void write_gz(const uint8_t *data, size_t size) {
    gzFile g = gzopen(path, "wb");
    FUZZ_CHECK(g != NULL, "gzopen %s", path);
    FUZZ_CHECK(size == 0 || gzwrite(g, data, (unsigned)size) == (int)size, "gzwrite");
    FUZZ_CHECK(gzclose(g) == Z_OK, "gzclose");
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    sg_set_num_threads(1);
    fuzz_path(path, fuzz_dir("idx"), "input-idx");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    if (data[0] & 1) write_gz(data + 1, size - 1);
    else fuzz_write(path, data + 1, size - 1);
    sg_tensor *t = sg_idx_images(path);
    if (t) {
        FUZZ_CHECK(sg_ndim(t) == SG_IDX_IMAGE_DIMS && sg_dtype_of(t) == SG_F32, "images: rank or dtype");
        const float *p = sg_data_const(t);
        for (int64_t i = 0; i < sg_numel(t); i++) FUZZ_CHECK(p[i] >= 0.0f && p[i] <= 1.0f, "pixel %g", p[i]);
    } else {
        FUZZ_CHECK(sg_last_status() != SG_OK, "images: NULL without an error");
    }
    sg_tensor_free(t);
    sg_clear_error();
    int64_t n = -1;
    int64_t *labels = sg_idx_labels(path, &n);
    if (labels) {
        for (int64_t i = 0; i < n; i++) FUZZ_CHECK(labels[i] >= 0 && labels[i] <= UINT8_MAX, "label");
    } else {
        FUZZ_CHECK(n == 0 && sg_last_status() != SG_OK, "labels: NULL without an error, or n %lld", (long long)n);
    }
    sg_idx_labels_free(labels);
    fuzz_done();
    return 0;
}
