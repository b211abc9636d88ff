/* Tensor and storage lifetime, creation, inspection and element access.
 * No kernels here beyond plain fills and copies (see kernels.c); no graph logic (see autograd/). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "tensor_impl.h"

bool sg__registry_add(const void *p);
void sg__registry_remove(const void *p);
bool sg__registry_has(const void *p);
void sg__node_free(sg_node *n); /* autograd/tape.c */

static const char *const DTYPE_NAMES[] = {"float32", "float64"};
_Static_assert(sizeof DTYPE_NAMES / sizeof DTYPE_NAMES[0] == SG_DTYPE_COUNT, "dtype name table");

const char *sg_dtype_name(sg_dtype dt) {
    return (unsigned)dt < SG_DTYPE_COUNT ? DTYPE_NAMES[dt] : "invalid-dtype";
}
size_t sg_dtype_size(sg_dtype dt) { return dt == SG_F64 ? sizeof(double) : sizeof(float); }

/* ---- storage ---- */

/* Bytes of tensor data live now and their high-water mark (sg__storage_stats): tests use them
 * to bound the working set of a computation. */
static size_t g_live_bytes, g_peak_bytes;

static void live_add(size_t n) {
    size_t now = __atomic_add_fetch(&g_live_bytes, n, __ATOMIC_RELAXED);
    size_t pk = __atomic_load_n(&g_peak_bytes, __ATOMIC_RELAXED);
    while (now > pk && !__atomic_compare_exchange_n(&g_peak_bytes, &pk, now, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}
static void live_sub(size_t n) { __atomic_sub_fetch(&g_live_bytes, n, __ATOMIC_RELAXED); }

void sg__storage_stats(size_t *live, size_t *peak) {
    if (live) *live = __atomic_load_n(&g_live_bytes, __ATOMIC_RELAXED);
    if (peak) *peak = __atomic_load_n(&g_peak_bytes, __ATOMIC_RELAXED);
}
void sg__storage_peak_reset(void) {
    __atomic_store_n(&g_peak_bytes, __atomic_load_n(&g_live_bytes, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}

sg_storage *sg__storage_new(size_t nbytes, bool zero) {
    sg_storage *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    /* 64-byte aligned (SIMD kernels, BLAS), from the storage cache (tensor/pool.c) */
    st->data = sg__pool_alloc(nbytes, &st->capacity);
    if (!st->data) {
        free(st);
        return NULL;
    }
    if (zero) memset(st->data, 0, nbytes); /* the slack of the size class is never read */
    st->nbytes = nbytes;
    st->refcount = 1;
    live_add(nbytes);
    return st;
}

void sg__storage_unref(sg_storage *st) {
    if (!st || st->arena || __atomic_sub_fetch(&st->refcount, 1, __ATOMIC_ACQ_REL) > 0) return;
    live_sub(st->nbytes);
    sg__pool_free(st->data, st->capacity);
    free(st);
}

/* ---- headers ---- */

char *sg__shape_str(int ndim, const int64_t *shape, char *buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "(");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, ")");
    return buf;
}

void sg__contiguous_strides(int ndim, const int64_t *shape, int64_t *stride) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        stride[i] = s;
        s *= shape[i] > 0 ? shape[i] : 1;
    }
}

bool sg__is_contiguous(const sg_tensor *t) {
    if (sg__numel(t) == 0) return true; /* no elements: nothing to lay out */
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return false;
        s *= t->shape[i];
    }
    return true;
}

bool sg__shape_check(const char *fn, int ndim, const int64_t *shape, int64_t *numel) {
    if (ndim < 0 || ndim > SG_MAX_DIMS) {
        sg_set_error(SG_ERR_ARG, "%s: ndim %d outside [0, %d]", fn, ndim, SG_MAX_DIMS);
        return false;
    }
    if (ndim > 0 && !shape) {
        sg_set_error(SG_ERR_NULL, "%s: argument 'shape' is NULL", fn);
        return false;
    }
    int64_t n = 1, span = 1; /* span: the product with zeros counted as 1 (the strides' product) */
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            sg_set_error(SG_ERR_SHAPE, "%s: dimension %d has negative size %lld", fn, i, (long long)shape[i]);
            return false;
        }
        int64_t s = shape[i] > 0 ? shape[i] : 1;
        if (span > SG__MAX_NUMEL / s) {
            char b[SG_SHAPE_BUF];
            sg_set_error(SG_ERR_SHAPE, "%s: shape %s is too large (more than %lld elements, or strides that overflow)",
                         fn, sg__shape_str(ndim, shape, b, sizeof b), (long long)SG__MAX_NUMEL);
            return false;
        }
        span *= s;
        n *= shape[i];
    }
    if (numel) *numel = n;
    return true;
}

/* A contiguous header of a checked shape; NULL with an error. From the thread's current arena
 * when there is one and arena_ok (op results; never user tensors). */
static sg_tensor *header(const char *fn, sg_dtype dt, int ndim, const int64_t *shape, bool arena_ok) {
    if (!sg__shape_check(fn, ndim, shape, NULL)) return NULL;
    sg__arena *a = arena_ok ? sg__arena_current() : NULL;
    sg_tensor *t = a ? sg__arena_header(a) : calloc(1, sizeof *t);
    if (!t) {
        sg_set_error(SG_ERR_MEM, "%s: out of memory (tensor header)", fn);
        return NULL;
    }
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    sg__contiguous_strides(ndim, shape, t->stride);
    t->refcount = 1;
    return t;
}

static sg_tensor *alloc_named(const char *fn, sg_dtype dt, int ndim, const int64_t *shape, bool zero, bool arena_ok) {
    sg_tensor *t = header(fn, dt, ndim, shape, arena_ok);
    if (!t) return NULL;
    int64_t n = sg__numel(t);
    size_t nbytes = (size_t)n * sg_dtype_size(dt);
    bool arena = t->flags & SG_FLAG_ARENA;
    t->storage = arena ? sg__arena_storage(sg__arena_current(), nbytes, zero) : sg__storage_new(nbytes, zero);
    if (!t->storage) {
        if (!arena) free(t); /* an arena header stays the arena's */
        sg_set_error(SG_ERR_MEM, "%s: out of memory allocating a tensor of %lld elements", fn, (long long)n);
        return NULL;
    }
    return t;
}

sg_tensor *sg__alloc(sg_dtype dt, int ndim, const int64_t *shape, bool zero) {
    return alloc_named("tensor allocation", dt, ndim, shape, zero, true);
}

sg_tensor *sg__from_storage(sg_storage *st, sg_dtype dt, int ndim, const int64_t *shape,
                            int64_t offset) {
    sg_tensor *t = header("tensor view", dt, ndim, shape, true);
    if (!t) return NULL;
    t->storage = st;
    __atomic_add_fetch(&st->refcount, 1, __ATOMIC_RELAXED);
    t->offset = offset;
    return t;
}

sg_tensor *sg__view(const sg_tensor *src, int ndim, const int64_t *shape, const int64_t *stride,
                    int64_t offset) {
    sg_tensor *t = sg__from_storage(src->storage, src->dtype, ndim, shape, offset);
    if (!t) return NULL;
    for (int i = 0; i < ndim; i++) t->stride[i] = stride[i];
    return t;
}

void sg__drop_data(sg_tensor *t) {
    sg_storage *st = t->storage;
    if (st->arena) return; /* the arena reuses it */
    live_sub(st->nbytes);
    sg__pool_free(st->data, st->capacity);
    st->data = NULL;
    st->nbytes = st->capacity = 0;
}

void sg__ref(sg_tensor *t) { __atomic_add_fetch(&t->refcount, 1, __ATOMIC_RELAXED); }

void sg__unref(sg_tensor *t) {
    if (!t || (t->flags & SG_FLAG_ARENA) || __atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) > 0) return;
    sg__registry_remove(t);
    if (t->node) sg__node_free(t->node);
    if (t->grad) sg__unref(t->grad);
    sg__storage_unref(t->storage);
    free(t);
}

bool sg__register(sg_tensor *t) {
    if (sg__registry_add(t)) return true;
    sg_set_error(SG_ERR_MEM, "out of memory (tensor registry)");
    return false;
}

bool sg__check_2d(const char *fn, const char *arg, const sg_tensor *t, int64_t rows, int64_t cols) {
    if (t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols) return true;
    char b[SG_SHAPE_BUF];
    sg_set_error(SG_ERR_SHAPE, "%s: %s must be (%lld, %lld), got %s", fn, arg, (long long)rows, (long long)cols,
                 sg__shape_str(t->ndim, t->shape, b, sizeof b));
    return false;
}

bool sg__check_arg(const sg_tensor *t, const char *fn, const char *arg) {
    sg__threads_sync();
    if (!t) {
        if (sg_has_error()) sg_set_error(SG_ERR_PROPAGATED, "%s: '%s' came from a failed call", fn, arg);
        else sg_set_error(SG_ERR_NULL, "%s: argument '%s' is NULL", fn, arg);
        return false;
    }
    if (!sg__registry_has(t)) {
        sg_set_error(SG_ERR_STATE,
                     "%s: argument '%s' is not a live tensor (freed, or released by sg_tape_clear?)",
                     fn, arg);
        return false;
    }
    return true;
}

bool sg_is_live(const sg_tensor *t) { return t && sg__registry_has(t); }

/* ---- creation ---- */

static sg_tensor *user_new(const char *fn, sg_dtype dt, int ndim, const int64_t *shape, bool zero) {
    if ((unsigned)dt >= SG_DTYPE_COUNT) {
        sg_set_error(SG_ERR_DTYPE, "%s: invalid dtype %d", fn, (int)dt);
        return NULL;
    }
    sg_tensor *t = alloc_named(fn, dt, ndim, shape, zero, false);
    if (t && !sg__register(t)) {
        sg__unref(t);
        return NULL;
    }
    return t;
}

sg_tensor *sg_empty(sg_dtype dt, int ndim, const int64_t *shape) {
    return user_new("sg_empty", dt, ndim, shape, false);
}
sg_tensor *sg_zeros(sg_dtype dt, int ndim, const int64_t *shape) {
    return user_new("sg_zeros", dt, ndim, shape, true);
}
sg_tensor *sg_full(sg_dtype dt, int ndim, const int64_t *shape, double value) {
    sg_tensor *t = user_new("sg_full", dt, ndim, shape, false);
    if (t) sg__kfill(t, value);
    return t;
}
sg_tensor *sg_ones(sg_dtype dt, int ndim, const int64_t *shape) { return sg_full(dt, ndim, shape, 1.0); }
sg_tensor *sg_scalar(sg_dtype dt, double value) { return sg_full(dt, 0, NULL, value); }

sg_tensor *sg_arange(sg_dtype dt, double start, double stop, double step) {
    if (step == 0 || !isfinite(start) || !isfinite(stop) || !isfinite(step)) {
        sg_set_error(SG_ERR_ARG, "sg_arange: need finite start/stop and step != 0 (got %g, %g, %g)",
                     start, stop, step);
        return NULL;
    }
    double nd = ceil((stop - start) / step);
    int64_t n = nd > 0 ? (int64_t)nd : 0;
    sg_tensor *t = user_new("sg_arange", dt, 1, &n, false);
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++) {
        double v = start + (double)i * step;
        if (dt == SG_F32) ((float *)sg__ptr(t))[i] = (float)v;
        else ((double *)sg__ptr(t))[i] = v;
    }
    return t;
}

sg_tensor *sg_from_buffer(sg_dtype dt, int ndim, const int64_t *shape, const void *buf,
                          sg_dtype src_dt) {
    if (!buf) {
        sg_set_error(SG_ERR_NULL, "sg_from_buffer: argument 'buf' is NULL");
        return NULL;
    }
    if ((unsigned)src_dt >= SG_DTYPE_COUNT) {
        sg_set_error(SG_ERR_DTYPE, "sg_from_buffer: invalid source dtype %d", (int)src_dt);
        return NULL;
    }
    sg_tensor *t = user_new("sg_from_buffer", dt, ndim, shape, false);
    if (!t) return NULL;
    int64_t n = sg__numel(t);
    sg__convert(sg__ptr(t), dt, buf, src_dt, n);
    return t;
}

sg_tensor *sg_copy_as(const sg_tensor *src, sg_dtype dt) {
    if (!sg__check_arg(src, "sg_copy", "t")) return NULL;
    sg_tensor *t = user_new("sg_copy", dt, src->ndim, src->shape, false);
    if (!t) return NULL;
    sg__kcopy(t, src);
    return t;
}
sg_tensor *sg_copy(const sg_tensor *src) {
    if (!sg__check_arg(src, "sg_copy", "t")) return NULL;
    return sg_copy_as(src, src->dtype);
}

int sg_tensor_free(sg_tensor *t) {
    if (!t) return SG_OK;
    if (!sg__registry_has(t))
        return sg_set_error(SG_ERR_STATE, "sg_tensor_free: not a live tensor (double free?)");
    if (t->flags & SG_FLAG_TAPE)
        return sg_set_error(SG_ERR_STATE,
                            "sg_tensor_free: tensor is owned by the tape (an op result); it is "
                            "freed by sg_tape_clear()");
    if (t->flags & SG_FLAG_ARENA)
        return sg_set_error(SG_ERR_STATE, "sg_tensor_free: tensor belongs to a stream's arena, which frees it");
    if (t->flags & SG_FLAG_IS_GRAD)
        return sg_set_error(SG_ERR_STATE,
                            "sg_tensor_free: tensor is the gradient of another tensor, which owns it");
    if (t->flags & SG_FLAG_USER_FREED)
        return sg_set_error(SG_ERR_STATE, "sg_tensor_free: tensor was already freed");
    t->flags |= SG_FLAG_USER_FREED;
    if (t->refcount > 1) sg__registry_remove(t); /* the tape still holds it, but the user may not */
    sg__unref(t);
    return SG_OK;
}

/* ---- inspection ---- */

sg_dtype sg_dtype_of(const sg_tensor *t) { return sg__check_arg(t, "sg_dtype_of", "t") ? t->dtype : SG_F32; }
int sg_ndim(const sg_tensor *t) { return sg__check_arg(t, "sg_ndim", "t") ? t->ndim : -1; }

int64_t sg_size(const sg_tensor *t, int d) {
    if (!sg__check_arg(t, "sg_size", "t")) return -1;
    int dd = d < 0 ? d + t->ndim : d;
    if (dd < 0 || dd >= t->ndim) {
        sg_set_error(SG_ERR_ARG, "sg_size: dim %d out of range for a %d-d tensor", d, t->ndim);
        return -1;
    }
    return t->shape[dd];
}

int sg_shape(const sg_tensor *t, int64_t *out) {
    if (!sg__check_arg(t, "sg_shape", "t")) return sg_last_status();
    if (!out) return sg_set_error(SG_ERR_NULL, "sg_shape: argument 'out' is NULL");
    memcpy(out, t->shape, (size_t)t->ndim * sizeof *out);
    return t->ndim;
}

int64_t sg_numel(const sg_tensor *t) { return sg__check_arg(t, "sg_numel", "t") ? sg__numel(t) : -1; }
bool sg_is_contiguous(const sg_tensor *t) {
    return sg__check_arg(t, "sg_is_contiguous", "t") && sg__is_contiguous(t);
}
bool sg_same_shape(const sg_tensor *a, const sg_tensor *b) {
    if (!sg__check_arg(a, "sg_same_shape", "a") || !sg__check_arg(b, "sg_same_shape", "b")) return false;
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}
char *sg_shape_str(const sg_tensor *t, char *buf, size_t n) {
    if (!buf || n == 0) return buf;
    if (!sg_is_live(t)) {
        snprintf(buf, n, "(dead)");
        return buf;
    }
    return sg__shape_str(t->ndim, t->shape, buf, n);
}

/* ---- element access ---- */

int64_t sg__flat_to_offset(const sg_tensor *t, int64_t i) {
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        int64_t s = t->shape[d];
        off += (i % s) * t->stride[d];
        i /= s;
    }
    return off;
}

static bool flat_ok(const sg_tensor *t, int64_t i, const char *fn) {
    if (!sg__check_arg(t, fn, "t")) return false;
    if (i < 0 || i >= sg__numel(t)) {
        sg_set_error(SG_ERR_ARG, "%s: index %lld out of range for %lld elements", fn, (long long)i,
                     (long long)sg__numel(t));
        return false;
    }
    return true;
}

double sg_get_flat(const sg_tensor *t, int64_t i) {
    if (!flat_ok(t, i, "sg_get_flat")) return NAN;
    int64_t off = sg__flat_to_offset(t, i);
    return t->dtype == SG_F32 ? (double)((const float *)sg__ptr(t))[off] : ((const double *)sg__ptr(t))[off];
}

int sg_set_flat(sg_tensor *t, int64_t i, double v) {
    if (!flat_ok(t, i, "sg_set_flat")) return sg_last_status();
    int64_t off = sg__flat_to_offset(t, i);
    if (t->dtype == SG_F32) ((float *)sg__ptr(t))[off] = (float)v;
    else ((double *)sg__ptr(t))[off] = v;
    sg__bump(t->storage);
    return SG_OK;
}

double sg_item(const sg_tensor *t) {
    if (!sg__check_arg(t, "sg_item", "t")) return NAN;
    if (sg__numel(t) != 1) {
        char b[SG_SHAPE_BUF];
        sg_set_error(SG_ERR_SHAPE, "sg_item: tensor of shape %s has %lld elements, need 1",
                     sg__shape_str(t->ndim, t->shape, b, sizeof b), (long long)sg__numel(t));
        return NAN;
    }
    return sg_get_flat(t, 0);
}

int sg_to_buffer(const sg_tensor *t, void *buf, sg_dtype dst_dt) {
    if (!sg__check_arg(t, "sg_to_buffer", "t")) return sg_last_status();
    if (!buf) return sg_set_error(SG_ERR_NULL, "sg_to_buffer: argument 'buf' is NULL");
    if ((unsigned)dst_dt >= SG_DTYPE_COUNT) return sg_set_error(SG_ERR_DTYPE, "sg_to_buffer: invalid dtype");
    if (sg__is_contiguous(t)) {
        sg__convert(buf, dst_dt, sg__ptr(t), t->dtype, sg__numel(t));
        return SG_OK;
    }
    int64_t n = sg__numel(t);
    size_t es = sg_dtype_size(t->dtype);
    for (int64_t i = 0; i < n; i++) {
        const char *src = (const char *)sg__ptr(t) + (size_t)sg__flat_to_offset(t, i) * es;
        sg__convert((char *)buf + (size_t)i * sg_dtype_size(dst_dt), dst_dt, src, t->dtype, 1);
    }
    return SG_OK;
}

static void *data_ptr(const sg_tensor *t, sg_dtype dt, const char *fn) {
    if (!sg__check_arg(t, fn, "t")) return NULL;
    if (t->dtype != dt) {
        sg_set_error(SG_ERR_DTYPE, "%s: tensor is %s", fn, sg_dtype_name(t->dtype));
        return NULL;
    }
    if (!sg__is_contiguous(t)) {
        sg_set_error(SG_ERR_ARG, "%s: tensor is not contiguous (use sg_contiguous or sg_copy)", fn);
        return NULL;
    }
    return sg__ptr(t);
}
float *sg_data_f32(sg_tensor *t) { return data_ptr(t, SG_F32, "sg_data_f32"); }
double *sg_data_f64(sg_tensor *t) { return data_ptr(t, SG_F64, "sg_data_f64"); }
const void *sg_data_const(const sg_tensor *t) {
    return sg__check_arg(t, "sg_data_const", "t") ? sg__ptr(t) : NULL;
}
void sg_mark_modified(sg_tensor *t) {
    if (sg__check_arg(t, "sg_mark_modified", "t")) sg__bump(t->storage);
}
uint64_t sg_version(const sg_tensor *t) {
    return sg__check_arg(t, "sg_version", "t") ? t->storage->version : 0;
}

/* ---- fills ---- */

int sg_fill(sg_tensor *t, double value) {
    if (!sg__check_arg(t, "sg_fill", "t")) return sg_last_status();
    sg__kfill(t, value);
    sg__bump(t->storage);
    return SG_OK;
}

/* ---- leaf gradients ---- */

int sg_set_requires_grad(sg_tensor *t, bool on) {
    if (!sg__check_arg(t, "sg_set_requires_grad", "t")) return sg_last_status();
    if (t->node)
        return sg_set_error(SG_ERR_STATE, "sg_set_requires_grad: only leaf tensors (not op results) "
                                          "take requires_grad; use sg_detach or sg_copy first");
    if (t->dtype != SG_F32 && t->dtype != SG_F64)
        return sg_set_error(SG_ERR_DTYPE, "sg_set_requires_grad: dtype has no gradient");
    if (on) t->flags |= SG_FLAG_REQUIRES_GRAD;
    else t->flags &= ~SG_FLAG_REQUIRES_GRAD;
    return SG_OK;
}
bool sg_requires_grad(const sg_tensor *t) {
    return sg__check_arg(t, "sg_requires_grad", "t") && (t->flags & SG_FLAG_REQUIRES_GRAD);
}
sg_tensor *sg_grad(const sg_tensor *t) {
    if (!sg__check_arg(t, "sg_grad", "t")) return NULL;
    return t->grad;
}
