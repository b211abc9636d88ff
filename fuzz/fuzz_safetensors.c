/* libFuzzer harness: safetensors files (io/safetensors_read.c) from memory and, for every tensor
 * that validates, each way of reading it (float32, float64, int64, into an existing tensor).
 * Checks: no crash, leak or hang; a refused open leaves an error; shapes and counts agree. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sg_st_file *f = sg_st_open_memory(data, size);
    if (!f) {
        FUZZ_CHECK(sg_last_status() != SG_OK, "open failed without an error");
        fuzz_done();
        return 0;
    }
    int n = sg_st_count(f);
    FUZZ_CHECK(n >= 0, "count %d", n);
    for (int i = 0; i < sg_st_meta_count(f); i++) {
        const char *k = sg_st_meta_key(f, i);
        FUZZ_CHECK(k && sg_st_meta(f, k), "metadata key %d", i);
    }
    for (int i = 0; i < n; i++) {
        const char *name = sg_st_name(f, i);
        FUZZ_CHECK(name && sg_st_find(f, name) == i, "tensor %d not found by name", i);
        int nd = sg_st_ndim(f, i);
        const int64_t *shape = sg_st_shape(f, i);
        int64_t numel = sg_st_numel(f, i), prod = 1;
        for (int d = 0; d < nd; d++) prod *= shape[d]; /* sg_st_open checked this product */
        FUZZ_CHECK(prod == numel, "numel %lld vs product %lld", (long long)numel, (long long)prod);
        (void)sg_st_dtype(f, i);
        for (int k = 0; k < 2; k++) {
            sg_tensor *t = sg_st_get(f, name, k ? SG_F64 : SG_F32);
            if (t) {
                FUZZ_CHECK(sg_numel(t) == numel, "get: numel differs");
                /* read_into a fresh tensor of the same shape must also work */
                sg_tensor *dst = sg_zeros(k ? SG_F32 : SG_F64, sg_ndim(t), shape);
                FUZZ_CHECK(dst != NULL, "zeros for a shape sg_st_get accepted: %s", sg_last_error());
                FUZZ_CHECK(sg_st_read_into(f, name, dst) == SG_OK, "read_into: %s", sg_last_error());
                sg_tensor_free(dst);
            }
            sg_tensor_free(t);
            sg_clear_error();
        }
        int64_t *ints = NULL, m = -1;
        if (sg_st_get_i64(f, name, &ints, &m) == SG_OK) FUZZ_CHECK(ints && m == numel, "get_i64 count");
        free(ints);
        sg_clear_error();
    }
    sg_st_close(f);
    fuzz_done();
    return 0;
}
