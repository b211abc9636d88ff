/* Internal: graph nodes and the helpers every op uses to create outputs, record itself, and
 * accumulate gradients into its inputs. Not installed. */
#ifndef SG_NODE_H
#define SG_NODE_H

#include "../tensor/kernels.h"
#include "autograd.h"

enum { SG_NODE_SAVED = 4, SG_NODE_IARGS = 2 * SG_MAX_DIMS + 2, SG_NODE_FARGS = 4 };

/* Backward of one node: reads gout (the gradient of n->out, same shape, contiguous) and
 * accumulates into its inputs with sg__grad_accum*(). Never records (grad mode is off). Returns
 * 0 or a negative status (allocation failure). */
typedef int (*sg_backward_fn)(sg_node *n, const sg_tensor *gout);

struct sg_node {
    const char *name; /* op name for messages */
    sg_backward_fn backward;
    sg_tensor *out;   /* weak: the node is owned by out */
    int n_in;
    sg_tensor **in;       /* inputs, each referenced */
    uint64_t *in_version; /* storage versions of the inputs when recorded */
    uint64_t out_version; /* storage version of out when recorded (backward may read out) */
    sg_tensor *saved[SG_NODE_SAVED]; /* extra tensors kept for backward, referenced */
    uint64_t saved_version[SG_NODE_SAVED]; /* their storage versions when saved */
    int64_t iarg[SG_NODE_IARGS];
    double farg[SG_NODE_FARGS];
    uint64_t reads; /* what backward reads: bit k = input k's values (bit 63: inputs 63 and later);
                     * sg__record sets every bit, an op clears the inputs it never reads. Code that
                     * frees data asks this (sg__tape_reads), never a rule of its own. */
    void *ctx; /* op-specific, freed with free() unless ctx_free is set; an op that keeps an
                * input's data in ctx keeps that input's bit set */
    void (*ctx_free)(void *);
};

/* New op result owned by the tape: contiguous, registered. NULL on allocation failure. */
sg_tensor *sg__out(sg_dtype dt, int ndim, const int64_t *shape, bool zero);
/* New tape-owned view of src's storage. */
sg_tensor *sg__out_view(const sg_tensor *src, int ndim, const int64_t *shape, const int64_t *stride,
                        int64_t offset);
/* Wrap an already built unregistered tensor as a tape-owned op result. */
sg_tensor *sg__out_adopt(sg_tensor *t);

/* True when an op on these inputs must record a node (grad enabled and some input requires grad). */
bool sg__needs_grad(int n, sg_tensor *const *in);
/* Record a node for out if needed. Returns the node (to fill saved/args), or NULL if no node was
 * needed. *err is set to an error status on allocation failure (then out is unusable). */
sg_node *sg__record(sg_tensor *out, const char *name, sg_backward_fn bw, int n_in,
                    sg_tensor *const *in, int *err);
/* The reads bit of input k (see sg_node.reads). */
enum { SG_READS_LAST_BIT = 63 };
#define SG_READS_ALL UINT64_MAX
#define SG_READS_NONE ((uint64_t)0)
static inline uint64_t sg__reads_bit(int k) { return (uint64_t)1 << (k < SG_READS_LAST_BIT ? k : SG_READS_LAST_BIT); }
/* Whether the backward of a node on the tape at or after mark reads t's storage: as an input
 * whose reads bit is set, or as a saved tensor. Used to free dead intermediates early. */
bool sg__tape_reads(size_t mark, const sg_tensor *t);

/* Keep t alive for backward in slot i. */
void sg__save(sg_node *n, int i, sg_tensor *t);

/* Accumulate g (exactly t's shape and dtype) into t->grad. Consumes the caller's reference to g. */
int sg__grad_accum(sg_tensor *t, sg_tensor *g);
/* Same, where g's shape is a broadcast of t's: sums over the broadcast dims first. */
int sg__grad_accum_reduce(sg_tensor *t, sg_tensor *g);
/* Accumulate g into the slice [start, start + g->shape[dim]) along dim of t's gradient (g has the
 * slice's shape): the backward of a view. Allocates t's gradient (zeros) only if it has none, so a
 * per-step slice of a large tensor costs the slice, not the tensor. Consumes g. */
int sg__grad_accum_slice(sg_tensor *t, sg_tensor *g, int dim, int64_t start);
/* True when input k of the node wants a gradient. */
static inline bool sg__wants_grad(const sg_node *n, int k) {
    return (n->in[k]->flags & SG_FLAG_REQUIRES_GRAD) != 0;
}

/* Two independent parts of one graph, e.g. the two directions of a bidirectional layer: runs
 * fn(0, arg) and fn(1, arg) concurrently, one thread each, when the thread count is 2 or 3, else
 * one after the other. Each part records onto its own segment of the calling thread's tape and
 * backward runs the two segments concurrently as well. The caller guarantees independence: no
 * tensor that a node of one part accumulates a gradient into may be used by the other part (make
 * each part's inputs before the call); tensors both only read (no gradient) may be shared. fn
 * must not clear the tape or release anything it did not record itself (a part may release back
 * to a mark it took, which frees only its own results). Results are the same for the same thread count.
 * Returns the first failure of the two parts (its message is kept), else 0. */
typedef int (*sg_part_fn)(int part, void *arg);
int sg__tape_parallel(sg_part_fn fn, void *arg);

/* Argument checks shared by ops (record the error and return false). */
bool sg__same_dtype(const char *op, const sg_tensor *a, const sg_tensor *b);
int sg__norm_dim(const char *op, int dim, int ndim); /* -> [0,ndim) or -1 with error */

#endif
