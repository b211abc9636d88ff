/* Internal layout of tensors and storage, shared by tensor/, autograd/, ops/ and nn/.
 * Not installed and not for users: they go through tensor.h accessors. */
#ifndef SG_TENSOR_IMPL_H
#define SG_TENSOR_IMPL_H

#include "alloc.h" /* every allocation of the library through one place */
#include "isa_impl.h" /* SG_ALWAYS_INLINE: sg__philox is inlined into every instruction-set copy */
#include "tensor.h"

typedef struct sg_node sg_node;

/* Bytes of data, shared by a tensor and its views. Freed when the last tensor drops it. */
typedef struct sg_storage {
    void *data;
    size_t nbytes;
    size_t capacity; /* bytes actually allocated (a storage-cache size class) */
    int refcount;     /* atomic (sg__ref/unref): the two directions of a layer may run on two threads */
    uint64_t version; /* bumped on every in-place write, with sg__bump */
    bool arena;       /* a slot of an sg__arena: the arena owns it, refcounts do not */
} sg_storage;

enum {
    SG_FLAG_REQUIRES_GRAD = 1u << 0, /* leaf wants .grad, or op result needs backward */
    SG_FLAG_TAPE = 1u << 1,          /* owned by the tape, not the user */
    SG_FLAG_USER_FREED = 1u << 2,    /* user dropped its reference; kept alive by the tape */
    SG_FLAG_IS_GRAD = 1u << 3,       /* the .grad of another tensor: owned by it */
    SG_FLAG_ARENA = 1u << 4,         /* a header slot of an sg__arena (tensor/arena.c): never on a tape */
};

struct sg_tensor {
    sg_dtype dtype;
    int ndim;
    int64_t shape[SG_MAX_DIMS];
    int64_t stride[SG_MAX_DIMS]; /* in elements */
    int64_t offset;              /* in elements */
    sg_storage *storage;
    int refcount;   /* owner (user or tape) + every node that holds it as parent or saved */
    unsigned flags;
    sg_tensor *grad; /* owned by this tensor; leaves keep it, intermediates drop it after use */
    sg_node *node;   /* recorded op that produced this tensor (NULL for leaves and no-grad results) */
    size_t tape_pos; /* index on the thread's tape (tape-owned tensors only) */
};

/* ---- construction helpers for ops ---- */
/* New contiguous tensor with fresh storage, uninitialised; not registered anywhere (refcount 1). */
sg_tensor *sg__alloc(sg_dtype dt, int ndim, const int64_t *shape, bool zero);
/* New tensor header viewing src's storage (refcount 1, no flags). */
sg_tensor *sg__view(const sg_tensor *src, int ndim, const int64_t *shape, const int64_t *stride,
                    int64_t offset);
/* Tensor over an existing storage (adds a storage reference). Used by nn/ for flat parameter blocks. */
sg_tensor *sg__from_storage(sg_storage *st, sg_dtype dt, int ndim, const int64_t *shape,
                            int64_t offset);
sg_storage *sg__storage_new(size_t nbytes, bool zero);
void sg__storage_unref(sg_storage *st);
/* Storage cache (tensor/pool.c): 64-byte aligned blocks of at least nbytes; *cap gets the size. */
void *sg__pool_alloc(size_t nbytes, size_t *cap);
void sg__pool_free(void *p, size_t cap);

/* Records an in-place write to st (atomic: parameter gradients share one storage and two threads may
 * accumulate into disjoint parts of it). */
static inline void sg__bump(sg_storage *st) { __atomic_add_fetch(&st->version, 1, __ATOMIC_RELAXED); }

/* Frees t's data (and so the data of every view of it) before the tape releases t: for an
 * intermediate that no recorded backward reads and that nothing will read again, such as a
 * layer's input products once its time loop has consumed them. The storage header stays, so
 * version checks still work; the data pointer becomes NULL, so a mistaken read faults at once
 * instead of reading stale memory. */
void sg__drop_data(sg_tensor *t);

/* Recycling arenas (tensor/arena.c). While a is current on this thread (sg__arena_enter), op
 * results (sg__alloc, sg__view, sg__from_storage) take a's slots instead of the heap; rewinding
 * to a mark frees the slots made after it for reuse. sg__arena_enter returns the previous one. */
typedef struct sg__arena sg__arena;
typedef struct {
    size_t nt, nst;
} sg__arena_mark;
sg__arena *sg__arena_new(void);
void sg__arena_free(sg__arena *a);
sg__arena *sg__arena_enter(sg__arena *a);
sg__arena *sg__arena_current(void);
sg__arena_mark sg__arena_mark_now(const sg__arena *a);
void sg__arena_rewind(sg__arena *a, sg__arena_mark m);
/* The next header slot (zeroed, registered, SG_FLAG_ARENA) / storage slot of nbytes; NULL on
 * allocation failure (no error recorded). */
sg_tensor *sg__arena_header(sg__arena *a);
sg_storage *sg__arena_storage(sg__arena *a, size_t nbytes, bool zero);

/* Bytes of tensor data (every storage made by sg__storage_new, pool cache excluded) live now and
 * the most live at once since the last sg__storage_peak_reset (which sets it to the live bytes). */
void sg__storage_stats(size_t *live, size_t *peak);
void sg__storage_peak_reset(void);

void sg__ref(sg_tensor *t);
void sg__unref(sg_tensor *t); /* frees at refcount 0 (and its grad and node) */

/* Registers t in the live-pointer registry (every public call validates against it). Returns
 * false with SG_ERR_MEM when the registry cannot grow; t is then not live and the caller must
 * release it with sg__unref (never hand it to the user). */
bool sg__register(sg_tensor *t);

/* Validate a tensor argument of a public call. On failure records the error (or treats NULL as
 * propagation when an error is pending) and returns false. */
bool sg__check_arg(const sg_tensor *t, const char *fn, const char *arg);
/* Is t (rows, cols)? If not, records SG_ERR_SHAPE "fn: arg must be (rows, cols), got (...)". */
bool sg__check_2d(const char *fn, const char *arg, const sg_tensor *t, int64_t rows, int64_t cols);
/* Adopts the process-wide sg_set_num_threads value on the calling thread if it has not yet
 * (tensor/threads.c). Called by sg__check_arg, so by every public call that takes a tensor. */
void sg__threads_sync(void);

static inline void *sg__ptr(const sg_tensor *t) {
    return (char *)t->storage->data + (size_t)t->offset * sg_dtype_size(t->dtype);
}
static inline int64_t sg__numel(const sg_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}
bool sg__is_contiguous(const sg_tensor *t);
/* The largest element count (and stride span) a shape may have: its byte size in the widest dtype
 * still fits int64_t and size_t, so no count, stride, offset or byte size derived from it overflows. */
#define SG__MAX_NUMEL ((int64_t)(INT64_MAX / (int64_t)sizeof(double)))
/* THE check of a shape, used by every tensor header (so by every creation, view and reshape) and
 * by sg_model_declare: 0 <= ndim <= SG_MAX_DIMS, shape non-NULL when ndim > 0, every size >= 0,
 * and the product of the sizes, counting zeros as 1 like the strides do, at most SG__MAX_NUMEL.
 * Returns true and sets *numel (if non-NULL) to the element count; else records SG_ERR_ARG,
 * SG_ERR_NULL or SG_ERR_SHAPE with a message naming fn and the shape, and returns false. */
bool sg__shape_check(const char *fn, int ndim, const int64_t *shape, int64_t *numel);
/* Row-major strides of a shape that passed sg__shape_check (sizes 0 count as 1). */
void sg__contiguous_strides(int ndim, const int64_t *shape, int64_t *stride);
/* Row-major flat index -> element offset from t's first element. */
int64_t sg__flat_to_offset(const sg_tensor *t, int64_t i);

/* Shape string helper for error messages: writes "(2,3)" into buf. */
char *sg__shape_str(int ndim, const int64_t *shape, char *buf, size_t n);
#define SG_SHAPE_BUF 96

/* Philox4x32-10 block for (key, counter): four 32-bit words. Inline so that per-element loops
 * (dropout masks, random fills) can keep it in registers and vectorise it. */
enum { SG__PHILOX_ROUNDS = 10 };
#define SG__PHILOX_M0 0xD2511F53u
#define SG__PHILOX_M1 0xCD9E8D57u
#define SG__PHILOX_W0 0x9E3779B9u
#define SG__PHILOX_W1 0xBB67AE85u
static SG_ALWAYS_INLINE void sg__philox(uint64_t key, uint64_t counter, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < SG__PHILOX_ROUNDS; r++) {
        uint64_t p0 = (uint64_t)SG__PHILOX_M0 * c0, p1 = (uint64_t)SG__PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += SG__PHILOX_W0;
        k1 += SG__PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}
/* (0,1) from 32 bits, never 0 */
static inline double sg__u01(uint32_t x) { return ((double)x + 0.5) * (1.0 / 4294967296.0); }

#endif
