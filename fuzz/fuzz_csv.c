/* libFuzzer harness: the CSV column reader (io/csv.c) on a file holding the input, by column
 * name and by index. The last input byte picks the index (0..3); the name is "value".
 * Checks: no crash, leak or hang; values are finite; a failure leaves an error and 0 rows. */
#include <math.h>

#include "fuzz_util.h"

static char path[FUZZ_PATH];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_path(path, fuzz_dir("csv"), "input.csv");
    return 0;
}

static void check(const double *v, int64_t n) {
    if (!v) {
        FUZZ_CHECK(n == 0 && sg_last_status() != SG_OK, "NULL without an error, or n %lld", (long long)n);
        sg_clear_error();
        return;
    }
    FUZZ_CHECK(n >= 0, "n %lld", (long long)n);
    for (int64_t i = 0; i < n; i++) FUZZ_CHECK(isfinite(v[i]), "value %lld not finite", (long long)i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    enum { INDEX_CHOICES = 4 };
    fuzz_write(path, data, size);
    int64_t n = -1;
    double *v = sg_csv_column(path, "value", 0, &n);
    check(v, n);
    sg_csv_free(v);
    n = -1;
    v = sg_csv_column(path, NULL, size ? data[size - 1] % INDEX_CHOICES : 0, &n);
    check(v, n);
    sg_csv_free(v);
    fuzz_done();
    return 0;
}
