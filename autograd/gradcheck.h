/** @file
 * Gradient checking, public API: compares the tape's vector-Jacobian products with float64
 * central differences. Build test suites for your own ops and models on it.
 *
 *   sg_tensor *f(sg_tensor *const *in, int n, void *ctx);   // builds the output from the inputs
 *
 * The output y may have any shape. A random cotangent v (normal, seeded) is drawn and the scalar
 * s(x) = <v, f(x)> is differentiated (never a plain sum, which hides errors such as a softmax
 * gradient that is off by a constant). Inputs that require grad are checked; others are held fixed.
 *
 * Modes: FULL perturbs every element of every checked input (2 evaluations each) and compares
 * d s / d x_j with the analytic gradient element by element. FAST draws n_directions random
 * directions u and compares (s(x+eps u) - s(x-eps u)) / 2eps with <grad, u> (2 evaluations each).
 * The comparison fails on NaN: pass iff |analytic - numeric| <= atol + rtol * |numeric|.
 *
 * f must be deterministic (seed any dropout inside it) and must not keep the tensors it makes.
 * gradcheck perturbs the inputs in place and restores them exactly; it leaves their .grad as it
 * found it and frees everything it recorded on the tape. */
#ifndef SG_GRADCHECK_H
#define SG_GRADCHECK_H

#include "autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The function under test: computes an output from the n inputs (by ops, so the tape records it)
 * and returns it, or NULL on failure (with an error). ctx is the caller's pointer, passed through. */
typedef sg_tensor *(*sg_gradcheck_fn)(sg_tensor *const *inputs, int n, void *ctx);

/** How many comparisons sg_gradcheck() makes. */
typedef enum {
    SG_GRADCHECK_FULL = 0, /**< every input element: central difference against the vector-Jacobian product */
    SG_GRADCHECK_FAST = 1  /**< n_directions random directions (directional derivatives) */
} sg_gradcheck_mode;

/** Options of sg_gradcheck(); start from sg_gradcheck_defaults(). */
typedef struct {
    sg_gradcheck_mode mode; /**< FULL or FAST */
    double eps;        /**< finite-difference step */
    double atol;       /**< absolute tolerance: pass iff |a - n| <= atol + rtol * |n| */
    double rtol;       /**< relative tolerance (see atol) */
    int n_directions;  /**< FAST mode */
    uint64_t seed;     /**< cotangent and directions */
    bool check_twice;  /**< a second backward on the same tape gives identical gradients */
    bool check_unused; /**< an input the output does not depend on gets an exactly zero (or no) grad */
} sg_gradcheck_opts;

/** Defaults: float64 eps 1e-6, atol 1e-5, rtol 1e-3 (PyTorch's); float32 eps 1e-2, atol 1e-2,
 * rtol 1e-2 (a float32 check is coarse: use float64 for real tests). FULL mode, 8 directions,
 * seed 0, both optional checks on. */
sg_gradcheck_opts sg_gradcheck_defaults(sg_dtype dt);

/** What sg_gradcheck() found. */
typedef struct {
    bool ok;              /**< true when every comparison passed (and the optional checks) */
    int64_t n_compared;   /**< elements (FULL) or directions (FAST) compared */
    int worst_input;      /**< input index of the worst comparison (-1: all inputs, FAST mode) */
    int64_t worst_index;  /**< flat element index (FULL) or direction (FAST) */
    double analytic;      /**< at the worst comparison (the largest abs_err/tol): the tape's value */
    double numeric;       /**< at the worst comparison: the finite-difference value */
    double abs_err;       /**< at the worst comparison: |analytic - numeric| */
    double tol;           /**< at the worst comparison: atol + rtol * |numeric| */
    char message[320];    /**< one-line summary, "ok" or what failed and where */
} sg_gradcheck_result;

/** Checks f's gradients with respect to every input that requires grad: the tape's vector-Jacobian
 * products against central finite differences, with a random cotangent, failing on NaN.
 * Returns SG_OK when the check ran (res->ok says whether it passed) or a negative status when it
 * could not run (bad arguments, f failed: the message says why). opts may be NULL (defaults for
 * the first input's dtype). */
int sg_gradcheck(sg_gradcheck_fn f, void *ctx, sg_tensor *const *inputs, int n,
                 const sg_gradcheck_opts *opts, sg_gradcheck_result *res);

#ifdef __cplusplus
}
#endif

#endif
