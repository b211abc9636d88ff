/** @file
 * User-defined ops with a hand-written backward (PyTorch's autograd.Function, in C). A user gives
 * a forward, a backward (the vector-Jacobian product, accumulated into the inputs' gradients) and
 * which inputs and outputs the backward reads; sg_custom_op runs the forward and records the op on
 * the tape like any built-in op: sg_backward, sg_gradcheck, no-grad mode, sg_tape_clear and the
 * in-place-modification check all work on it. Not a kernel library: the forward and backward are
 * the user's C code (raw loops over sg_data_f64/sg_data_f32, or seqgrad ops, or both).
 *
 *   forward(ctx, in, out, user):  in[0..n_in) the inputs, contiguous; sets out[0..n_out) to NEW
 *                                 tensors (sg_empty, sg_zeros, sg_copy, ..., or results of ops).
 *                                 Runs with gradients disabled (ops inside it record nothing).
 *                                 May keep tensors for the backward with sg_custom_save(ctx, t).
 *   backward(a, user):            adds d<grad_out, out>/d in[i] into a->grad_in[i] for every i
 *                                 with a->grad_in[i] != NULL. Runs with gradients disabled; ops
 *                                 called inside it are freed when it returns.
 *
 * Ownership: tensors the forward creates with creation functions and passes as outputs or to
 * sg_custom_save become the library's (never free them); the outputs sg_custom_op returns are
 * tape-owned like any op result. Every tensor the backward sees is a borrowed handle valid only
 * during the call. The def and user pointer must stay valid while the tape holds the op (until
 * sg_tape_clear / sg_tape_release). */
#ifndef SG_CUSTOM_OP_H
#define SG_CUSTOM_OP_H

#include "autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Limits of one custom op: inputs, outputs and tensors saved for the backward. */
enum { SG_CUSTOM_MAX_IN = 8, SG_CUSTOM_MAX_OUT = 4, SG_CUSTOM_MAX_SAVED = 4, SG_CUSTOM_MAX_SYMS = 8 };

/** A dimension of any size in an sg_custom_arg shape. */
#define SG_DIM_ANY (-1)
/** A named size k in [0, SG_CUSTOM_MAX_SYMS): every place symbol k appears (in any input or
 *  output) must have the same size, e.g. x (B, D) and w (H, D) share D. */
#define SG_DIM_SYM(k) (-2 - (k))

/** What an input or output must look like. ndim SG_DIM_ANY accepts any rank (shape unused);
 *  otherwise each of shape[0..ndim) is a size >= 0, SG_DIM_ANY or SG_DIM_SYM(k). */
typedef struct {
    const char *name; /**< for messages ("x", "weight"); NULL: "input 2" / "output 0" */
    int ndim;         /**< required rank, or SG_DIM_ANY */
    int64_t shape[SG_MAX_DIMS]; /**< the ndim sizes: each >= 0, SG_DIM_ANY or SG_DIM_SYM(k) */
} sg_custom_arg;

/** Handle a forward gets to save tensors for its backward (opaque). */
typedef struct sg_custom_ctx sg_custom_ctx;

/** What a backward is given. Tensors are borrowed handles, valid during the call only. */
typedef struct {
    sg_tensor *const *in;        /**< n_in inputs (contiguous); NULL for those not in reads_in */
    sg_tensor *const *out;       /**< n_out outputs; NULL for those not in reads_out */
    sg_tensor *const *saved;     /**< n_saved tensors from sg_custom_save, in saving order */
    sg_tensor *const *grad_out;  /**< n_out cotangents, each its output's shape (zeros when that
                                      output received no gradient), contiguous; read-only */
    sg_tensor *const *grad_in;   /**< n_in buffers of the inputs' shapes and dtype, contiguous,
                                      starting at zero: add the products into them (write through
                                      sg_data_f64 / sg_data_f32). NULL where the input needs no
                                      gradient. */
    int n_in;                    /**< number of inputs */
    int n_out;                   /**< number of outputs */
    int n_saved;                 /**< number of saved tensors */
} sg_custom_bw_args;

/** Forward: set out[0..n_out) to new tensors; return 0, or a negative sg_status (set a message
 *  with sg_set_error, else a generic one names the op). */
typedef int (*sg_custom_forward_fn)(sg_custom_ctx *ctx, sg_tensor *const *in, sg_tensor **out, void *user);
/** Backward: accumulate into a->grad_in; return 0 or a negative sg_status. */
typedef int (*sg_custom_backward_fn)(const sg_custom_bw_args *a, void *user);

/** The definition of a custom op. Usually a static const struct next to its two functions. */
typedef struct {
    const char *name;                /**< op name for messages and the tape ("my_gelu") */
    int n_in;                        /**< inputs, 0..SG_CUSTOM_MAX_IN */
    int n_out;                       /**< outputs, 1..SG_CUSTOM_MAX_OUT (0 means 1) */
    const sg_custom_arg *in_spec;    /**< n_in entries checked before the forward, or NULL */
    const sg_custom_arg *out_spec;   /**< n_out entries checked after it, or NULL */
    unsigned dtypes;                 /**< allowed dtypes as bits (1u << SG_F32 | 1u << SG_F64); 0: both */
    sg_custom_forward_fn forward;    /**< required */
    sg_custom_backward_fn backward;  /**< NULL: not differentiable (outputs carry no gradient) */
    unsigned reads_in;               /**< bit i: the backward reads input i's values */
    unsigned reads_out;              /**< bit k: the backward reads output k's values */
} sg_custom_op_def;

/** Runs def's forward on in[0..def->n_in) and writes def->n_out tape-owned outputs into out.
 *  All inputs and outputs share one dtype. When gradients are enabled, a backward is given and
 *  some input requires grad, the op is recorded on the tape with its saved tensors and the
 *  declaration of what its backward reads (code that frees data no recorded backward reads, such
 *  as the recurrent layers' input products, asks it); otherwise nothing is kept beyond the outputs.
 *  Strided inputs reach the forward as contiguous copies. With more than one output the outputs
 *  are copied into one block (one extra copy). Returns 0 or a negative sg_status: SG_ERR_ARG for a
 *  bad def, SG_ERR_SHAPE / SG_ERR_DTYPE when an input or output does not fit the def (naming it),
 *  or whatever the forward returned; out is then all NULL. A NULL input after an earlier failure
 *  propagates it (SG_ERR_PROPAGATED). */
int sg_custom_op(const sg_custom_op_def *def, sg_tensor *const *in, sg_tensor **out, void *user);

/** sg_custom_op for a one-output op: returns the output (tape-owned) or NULL on failure. */
sg_tensor *sg_custom_op1(const sg_custom_op_def *def, sg_tensor *const *in, void *user);

/** Inside a forward: keep t for the backward (a->saved, in the order saved). t becomes the op's:
 *  a user-owned t is taken over (do not free it), a tape-owned one is referenced. Not needed for
 *  inputs and outputs (declare them in reads_in / reads_out instead). Under no-grad the saved
 *  tensors are dropped when the forward returns. Returns 0, or SG_ERR_ARG when more than
 *  SG_CUSTOM_MAX_SAVED are saved or t is an input. */
int sg_custom_save(sg_custom_ctx *ctx, sg_tensor *t);

#ifdef __cplusplus
}
#endif

#endif
