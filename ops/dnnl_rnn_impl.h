/* Internal to the fused RNN op (ops/rnn_fused.c), compiled only with oneDNN: the process-wide
 * cache of oneDNN RNN primitives (dnnl_rnn.c) and the PyTorch <-> oneDNN weight mapping with the
 * per-layer cache of reordered weights (dnnl_rnn_weights.c). Not installed; no autograd here.
 * Shape letters: T steps, B batch, D input, H hidden, P = proj_size or H, G gates, dirs 1 or 2. */
#ifndef SG_DNNL_RNN_H
#define SG_DNNL_RNN_H

#include <dnnl.h>

#include "../tensor/tensor_impl.h"
#include "rnn_fused_impl.h"

/* oneDNN cell variant. */
typedef enum { SG__ALG_RNN_TANH = 0, SG__ALG_RNN_RELU, SG__ALG_LSTM, SG__ALG_GRU_LBR, SG__ALG_GRU_RESET_BEFORE } sg__alg;

/* Weight-like arguments, in oneDNN's naming. */
enum { SG__W_LAYER = 0, SG__W_ITER, SG__W_PEEP, SG__W_PROJ, SG__W_BIAS, SG__W_COUNT };
/* Data arguments (the diff arguments use the same descriptors). */
enum { SG__D_SRC_LAYER = 0, SG__D_SRC_ITER, SG__D_SRC_ITER_C, SG__D_DST_LAYER, SG__D_DST_ITER, SG__D_DST_ITER_C, SG__D_COUNT };
/* Which primitive a weight copy is laid out for. */
enum { SG__SLOT_TRAIN = 0, SG__SLOT_INFER, SG__SLOT_BWD, SG__SLOT_COUNT };

typedef struct {
    sg__alg alg;
    int dirs;
    int64_t T, B, D, H, P;
    bool peephole, proj, training;
    int threads; /* oneDNN fixes a primitive's parallel decomposition when it is created */
} sg__rnn_key;

/* One primitive set: forward (training or inference) and, for training, backward, plus the
 * reorders between the plain user layouts (ldgoi/ldgo/ldoi, PyTorch order) and the primitives'.
 * Reference-counted: the cache holds one reference, each user (a recorded node) another. */
typedef struct sg__rnn_prim {
    sg__rnn_key key;
    int refcount;
    struct sg__rnn_prim *next; /* cache list, most recently used first */
    int G, G_bias;
    bool has_w[SG__W_COUNT];
    dnnl_memory_desc_t data_md[SG__D_COUNT];
    dnnl_memory_desc_t user_md[SG__W_COUNT];
    dnnl_memory_desc_t fwd_md[SG__W_COUNT], bwd_md[SG__W_COUNT], diff_md[SG__W_COUNT], ws_md;
    dnnl_primitive_t fwd, bwd;
    dnnl_primitive_t to_fwd[SG__W_COUNT], to_bwd[SG__W_COUNT], from_diff[SG__W_COUNT];
    size_t ws_bytes;
} sg__rnn_prim;

/* The primitive set for key, from the cache or created (a new reference; NULL with an error). */
sg__rnn_prim *sg__rnn_prim_get(const sg__rnn_key *key);
void sg__rnn_prim_unref(sg__rnn_prim *p);

/* Buffers of one execution (not owned): data in the explicit plain layouts of data_md (the diffs
 * too), weights in the primitive's layouts, the workspace. NULL for absent arguments. */
typedef struct {
    void *data[SG__D_COUNT], *w[SG__W_COUNT], *ws;
    void *diff_data[SG__D_COUNT], *diff_w[SG__W_COUNT];
} sg__rnn_bufs;
/* Runs the forward (bwd false) or backward primitive of p on b. Returns 0 or a status. */
int sg__rnn_exec(const sg__rnn_prim *p, bool bwd, const sg__rnn_bufs *b);

/* One execution argument: oneDNN argument id, its descriptor and the data (not owned). */
typedef struct {
    int arg;
    const dnnl_memory_desc_t *md;
    void *ptr;
} sg__dnnl_arg;
/* Executes prim on the shared stream and waits. Returns 0 or a status with a message. */
int sg__dnnl_run(dnnl_primitive_t prim, int n, const sg__dnnl_arg *args, const char *what);
/* 64-byte aligned, optionally zeroed buffer of at least one byte (free with free()). */
void *sg__dnnl_alloc(size_t bytes, bool zero);
/* Bumps a counter of sg_fused_stats (under the cache lock). */
enum { SG__STAT_PACK = 0, SG__STAT_REORDER };
void sg__dnnl_count(int which);

/* ---- weights (dnnl_rnn_weights.c) ---- */
/* Pointers to the layer's weights laid out for prim's slot (SG__SLOT_*), rebuilt as needed:
 * repacked from p[dirs] when a parameter's storage version changed, reordered when the cached
 * copy has another layout. out[w] NULL for absent arguments. Pointers stay valid until the next
 * call on the same cache. */
int sg__wcache_get(sg_fused_wcache *c, const sg__rnn_prim *prim, int slot, const sg_fused_desc *d,
                   const sg_fused_dir_params *p, void *out[SG__W_COUNT]);
sg_fused_wcache *sg__wcache_ref(sg_fused_wcache *c);
/* diff[w] (in prim's diff layouts, after backward): reorder to the user layouts and accumulate
 * into the PyTorch-layout gradients of p[dirs] (only parameters that require grad). */
int sg__weights_grad_accum(const sg__rnn_prim *prim, const sg_fused_desc *d, const sg_fused_dir_params *p,
                           void *const diff[SG__W_COUNT]);

#endif
