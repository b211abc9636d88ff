/* Shared helpers for seqgrad's Check suites: random inputs, a table-driven op checker
 * (float64 full gradcheck + float32-vs-float64 forward agreement), and value assertions. */
#ifndef SG_TESTUTIL_H
#define SG_TESTUTIL_H

#include <check.h>
#include <math.h>
#include <stdio.h>

#include "io/safetensors.h"
#include "seqgrad.h"
#include "nn/rnn_impl.h" /* internal: the fused op's configuration-level entry (test_rnn_fused) */

enum { TU_MAX_IN = 6 };

/* One row of an op table. The function reads its extra arguments from the row via ctx. */
typedef struct tu_case {
    const char *name;
    sg_gradcheck_fn fn;
    int n_in;
    int ndim[TU_MAX_IN];
    int64_t shape[TU_MAX_IN][SG_MAX_DIMS];
    double lo, hi;        /* inputs uniform in [lo, hi] (default [-1, 1] when both 0) */
    unsigned no_grad_mask; /* bit i: input i does not require grad */
    int iarg[4];
    double farg[4];
    double atol, rtol;    /* gradcheck overrides (0: defaults) */
    double f32_tol;       /* forward f32 vs f64 tolerance (0: 1e-5 relative) */
} tu_case;

/* Random leaf tensor, uniform in [lo, hi], seeded. requires_grad as given. User-owned. */
sg_tensor *tu_rand(sg_dtype dt, int ndim, const int64_t *shape, double lo, double hi, uint64_t seed,
                   bool requires_grad);
/* User-owned tensor of dtype dt from float64 values (fails the test on error). */
sg_tensor *tu_from(sg_dtype dt, int ndim, const int64_t *shape, const double *values);
/* Full float64 gradcheck of the case; fails the test with the gradcheck message. */
void tu_check_case_grad(const tu_case *c);
/* Runs the case's function in float32 and float64 on the same values; asserts agreement. */
void tu_check_case_f32(const tu_case *c);
/* Asserts t (any dtype) equals expected[] elementwise within atol + rtol*|e|. */
void tu_assert_values(const sg_tensor *t, const double *expected, int64_t n, double atol, double rtol);
/* Asserts the current error status is s (and clears it). */
void tu_assert_error(sg_status s, const char *must_contain);
/* Asserts no error is pending and the tape is empty after sg_tape_clear (no leaked registry). */
void tu_teardown(void);
/* Standard runner: runs the suite, returns EXIT_SUCCESS/FAILURE. */
int tu_run(Suite *s);
/* The data-set directory: $SEQGRAD_DATA_DIR, else the one CMake configured (default ../shared/data).
 * Test cases that read it are tagged "data" and registered by CMakeLists.txt as their own CTest. */
const char *tu_data_dir(void);
/* New test case `name` of s, tagged "data" (its tests read tu_data_dir()): CTest runs it as
 * <suite binary>_<name>, skipped when the data set is absent, and the binary's main CTest excludes it. */
TCase *tu_data_tcase(Suite *s, const char *name);
/* tests/fixtures/<name>.safetensors (written by tools/gen_fixtures.py), open; fails the test if not. */
sg_st_file *tu_open_fixture(const char *name);
/* Integer metadata value of a fixture; fails the test when the key is missing. */
int64_t tu_meta_int(sg_st_file *f, const char *key);
const char *tu_source_dir(void);

#endif
