/** @file
 * seqgrad's reverse-mode tape (define-by-run). Every op called while gradients are enabled and
 * on an input that requires grad records a node on the calling thread's tape; sg_backward walks
 * the tape from the output down in reverse creation order (a topological order, no recursion) and
 * accumulates (+=) into the .grad of leaves that require grad.
 *
 * Lifetime: op results are owned by the tape. sg_tape_clear() frees all of them in one call;
 * sg_tape_mark()/sg_tape_release() free only what was recorded after a mark (nested scopes, e.g. an
 * evaluation inside a training step). Using a released tensor afterwards (backward included) is
 * a clear SG_ERR_STATE error. Leaves and their .grad are user-owned and survive both.
 * A tape can be walked backward more than once (gradients then accumulate again).
 * Tapes are per thread; building one graph from several threads is not supported. */
#ifndef SG_AUTOGRAD_H
#define SG_AUTOGRAD_H

#include "../tensor/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Backward from a tensor with exactly one element (seed 1). Returns 0 or a negative sg_status. */
int sg_backward(sg_tensor *loss);
/** Backward from any output with a given cotangent grad_out of the same shape and dtype. */
int sg_backward_grad(sg_tensor *out, const sg_tensor *grad_out);
/** Called during a backward on the calling thread when a leaf's gradient is final for that
 * backward: every recorded node that reads the leaf has run (so, in a stack of layers, the top
 * layer's parameters are reported before the lower layers' backward runs). Each leaf that requires
 * grad and is an input of a node the backward visits is reported once, in backward order; leaves
 * read inside two concurrent parts are reported after both parts end. A backward that fails stops
 * reporting. leaf and its .grad are borrowed; the hook must not record ops or touch the tape. */
typedef void (*sg_grad_ready_fn)(sg_tensor *leaf, void *ctx);
/** Installs fn (NULL removes it) as the calling thread's grad-ready hook with its context ctx
 * (borrowed). Costs nothing when unset. Used by data-parallel training (dist/) to start a
 * gradient bucket's communication while the rest of the backward runs. */
void sg_set_grad_ready_hook(sg_grad_ready_fn fn, void *ctx);

/** Set the .grad of each tensor to zero (keeps the buffers; NULL grads stay NULL). */
int sg_zero_grad(sg_tensor *const *ts, int n);

/** No-grad mode for inference: ops record nothing. Returns the previous setting. */
bool sg_set_grad_enabled(bool on);
/** True unless no-grad mode is on (per thread; default on). */
bool sg_is_grad_enabled(void);

/** Scopes over the thread's tape: the current position, to pass to sg_tape_release() later. */
size_t sg_tape_mark(void);
/** Frees every op result recorded after mark. Returns 0, or SG_ERR_ARG if mark is in the future. */
int sg_tape_release(size_t mark);
/** Frees every op result on this thread's tape (same as sg_tape_release(0)). */
void sg_tape_clear(void);
/** Number of op results currently owned by the tape. */
size_t sg_tape_len(void);

/** A tape-owned tensor sharing t's data with no history: gradients do not flow through it. */
sg_tensor *sg_detach(sg_tensor *t);

#ifdef __cplusplus
}
#endif

#endif
