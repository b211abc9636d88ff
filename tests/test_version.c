/* The version API: macros agree with each other and with the loaded library, the oneDNN flag with
 * sg_fused_available(), and the OpenBLAS threading check (expected from SEQGRAD_EXPECT_BLAS:
 * "openmp" by default, "pthreads" in the blas_pool_warning CTest, which preloads a shim). */
#include <stdlib.h>
#include <string.h>

#include "util/testutil.h"

START_TEST(macros_and_runtime) {
    const sg_version_info *v = sg_library_version();
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->major, SEQGRAD_VERSION_MAJOR);
    ck_assert_int_eq(v->minor, SEQGRAD_VERSION_MINOR);
    ck_assert_int_eq(v->patch, SEQGRAD_VERSION_PATCH);
    char s[32];
    snprintf(s, sizeof s, "%d.%d.%d", SEQGRAD_VERSION_MAJOR, SEQGRAD_VERSION_MINOR, SEQGRAD_VERSION_PATCH);
    ck_assert_str_eq(v->string, s);
    ck_assert_str_eq(SEQGRAD_VERSION_STRING, s);
    ck_assert_int_eq(SEQGRAD_VERSION, SEQGRAD_VERSION_MAJOR * 10000 + SEQGRAD_VERSION_MINOR * 100 + SEQGRAD_VERSION_PATCH);
    ck_assert_int_eq(v->onednn, sg_fused_available());
    ck_assert_ptr_eq(sg_library_version(), v);
}
END_TEST

START_TEST(blas_threading) {
    const char *want = getenv("SEQGRAD_EXPECT_BLAS");
    bool openmp = !want || strcmp(want, "pthreads") != 0;
    const sg_version_info *v = sg_library_version();
    ck_assert_msg(v->blas_openmp == openmp, "blas_openmp = %d, expected %d (OpenBLAS: %s)", v->blas_openmp,
                  openmp, v->blas ? v->blas : "?");
    ck_assert_ptr_nonnull(v->blas);
    ck_assert_msg(strstr(v->blas, "OpenBLAS") != NULL, "config string '%s'", v->blas);
}
END_TEST

int main(void) {
    Suite *s = suite_create("version");
    TCase *t = tcase_create("version");
    tcase_add_test(t, macros_and_runtime);
    tcase_add_test(t, blas_threading);
    suite_add_tcase(s, t);
    return tu_run(s);
}
