/* Shape ops: reshape, transpose/permute, narrow, select, (un)squeeze, contiguous, concat, stack,
 * split, chunk. Views share the input's storage (zero-copy); reshape of a non-contiguous input, concat and
 * stack copy. Not here: selection by index lists (ops/index.c), in-place shape changes. */
#include <stdio.h>
#include <string.h>

#include "../autograd/node.h"
#include "ops.h"

/* The geometry of a view: shape, strides (elements) and absolute offset into the storage. */
typedef struct {
    int ndim;
    int64_t shape[SG_MAX_DIMS];
    int64_t stride[SG_MAX_DIMS];
    int64_t offset;
} geom;

/* Indices into sg_node.iarg for the ops that need arguments in backward. */
enum { ARG_DIM = 0, ARG_START = 1 };

static int64_t prod(int nd, const int64_t *s) {
    int64_t p = 1;
    for (int i = 0; i < nd; i++) p *= s[i];
    return p;
}

/* t's elements [start, start+len) along dim; with drop (len 1) the dim is removed. */
static geom slice_geom(const sg_tensor *t, int dim, int64_t start, int64_t len, bool drop) {
    geom g = {0};
    g.offset = t->offset + start * t->stride[dim];
    for (int i = 0; i < t->ndim; i++) {
        if (drop && i == dim) continue;
        g.shape[g.ndim] = i == dim ? len : t->shape[i];
        g.stride[g.ndim++] = t->stride[i];
    }
    return g;
}

/* Unregistered view (refcount 1) of a slice of t, for kernels. */
static sg_tensor *slice_view(const sg_tensor *t, int dim, int64_t start, int64_t len, bool drop) {
    geom g = slice_geom(t, dim, start, len, drop);
    return sg__view(t, g.ndim, g.shape, g.stride, g.offset);
}

/* Backward of every op whose output holds the input's elements in the input's row-major order
 * (reshape, squeeze, unsqueeze, contiguous): the gradient is gout read with the input's shape. */
static int same_order_bw(sg_node *n, const sg_tensor *g) {
    sg_tensor *a = n->in[0];
    if (!sg__wants_grad(n, 0)) return SG_OK;
    int64_t st[SG_MAX_DIMS];
    sg__contiguous_strides(a->ndim, a->shape, st);
    return sg__grad_accum(a, sg__view(g, a->ndim, a->shape, st, g->offset));
}

/* Record a one-input op whose backward needs no arguments. */
static sg_tensor *record1(sg_tensor *out, sg_tensor *a, const char *name, sg_backward_fn bw) {
    if (!out) return NULL;
    int err;
    sg_node *n = sg__record(out, name, bw, 1, &a, &err);
    if (n) n->reads = SG_READS_NONE; /* shape ops move gout, never read their input */
    return err ? NULL : out;
}

/* New tape-owned contiguous copy of a's elements with the given shape (same numel). */
static sg_tensor *copy_as_shape(const sg_tensor *a, int ndim, const int64_t *shape) {
    sg_tensor *out = sg__out(a->dtype, ndim, shape, false);
    if (!out) return NULL;
    int64_t st[SG_MAX_DIMS];
    sg__contiguous_strides(a->ndim, a->shape, st);
    sg_tensor *v = sg__view(out, a->ndim, a->shape, st, out->offset);
    if (!v) return NULL; /* out stays on the tape and is freed with it */
    sg__kcopy(v, a);
    sg__unref(v);
    return out;
}

/* a (...) -> (shape...) with the same numel; one entry may be -1 (inferred) */
sg_tensor *sg_reshape(sg_tensor *a, int ndim, const int64_t *shape) {
    const char *name = "sg_reshape";
    if (!sg__check_arg(a, name, "a")) return NULL;
    if (ndim < 0 || ndim > SG_MAX_DIMS) {
        sg_set_error(SG_ERR_ARG, "%s: ndim %d outside [0, %d]", name, ndim, SG_MAX_DIMS);
        return NULL;
    }
    if (ndim > 0 && !shape) {
        sg_set_error(SG_ERR_NULL, "%s: argument 'shape' is NULL", name);
        return NULL;
    }
    char sa[SG_SHAPE_BUF], ss[SG_SHAPE_BUF];
    int64_t shp[SG_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        shp[i] = shape[i];
        if (shape[i] == -1 && infer < 0) {
            infer = i;
        } else if (shape[i] < 0) {
            sg_set_error(SG_ERR_ARG, "%s: bad target shape %s (sizes must be >= 0, at most one -1)",
                         name, sg__shape_str(ndim, shape, ss, sizeof ss));
            return NULL;
        }
    }
    if (infer >= 0) shp[infer] = 1;
    if (!sg__shape_check(name, ndim, shp, &known)) return NULL; /* the known sizes' product fits */
    int64_t numel = sg__numel(a);
    if (infer >= 0) shp[infer] = (known > 0 && numel % known == 0) ? numel / known : -1;
    if ((infer >= 0 && shp[infer] < 0) || prod(ndim, shp) != numel) {
        sg_set_error(SG_ERR_SHAPE, "%s: cannot reshape %s (%lld elements) into %s", name,
                     sg__shape_str(a->ndim, a->shape, sa, sizeof sa), (long long)numel,
                     sg__shape_str(ndim, shape, ss, sizeof ss));
        return NULL;
    }
    sg_tensor *out;
    if (sg__is_contiguous(a)) {
        int64_t st[SG_MAX_DIMS];
        sg__contiguous_strides(ndim, shp, st);
        out = sg__out_view(a, ndim, shp, st, a->offset);
    } else {
        out = copy_as_shape(a, ndim, shp);
    }
    return record1(out, a, name, same_order_bw);
}

/* Output dim i is input dim perm[i] (stored in iarg); the gradient is gout with dims put back. */
static int permute_bw(sg_node *n, const sg_tensor *g) {
    sg_tensor *a = n->in[0];
    if (!sg__wants_grad(n, 0)) return SG_OK;
    int64_t shp[SG_MAX_DIMS], st[SG_MAX_DIMS];
    for (int i = 0; i < a->ndim; i++) {
        shp[n->iarg[i]] = g->shape[i];
        st[n->iarg[i]] = g->stride[i];
    }
    return sg__grad_accum(a, sg__view(g, a->ndim, shp, st, g->offset));
}

/* perm already validated and normalised. */
static sg_tensor *permute_impl(const char *name, sg_tensor *a, const int *perm) {
    geom g = {.ndim = a->ndim, .offset = a->offset};
    for (int i = 0; i < a->ndim; i++) {
        g.shape[i] = a->shape[perm[i]];
        g.stride[i] = a->stride[perm[i]];
    }
    sg_tensor *out = sg__out_view(a, g.ndim, g.shape, g.stride, g.offset);
    if (!out) return NULL;
    int err;
    sg_node *n = sg__record(out, name, permute_bw, 1, &a, &err);
    if (n) {
        n->reads = SG_READS_NONE;
        for (int i = 0; i < a->ndim; i++) n->iarg[i] = perm[i];
    }
    return err ? NULL : out;
}

/* a (..., d0, ..., d1, ...) -> the same with d0 and d1 swapped; view */
sg_tensor *sg_transpose(sg_tensor *a, int d0, int d1) {
    const char *name = "sg_transpose";
    if (!sg__check_arg(a, name, "a")) return NULL;
    int x = sg__norm_dim(name, d0, a->ndim);
    if (x < 0) return NULL;
    int y = sg__norm_dim(name, d1, a->ndim);
    if (y < 0) return NULL;
    int perm[SG_MAX_DIMS];
    for (int i = 0; i < a->ndim; i++) perm[i] = i;
    perm[x] = y;
    perm[y] = x;
    return permute_impl(name, a, perm);
}

/* a (s_0..s_{n-1}) -> (s_perm[0]..s_perm[n-1]); view */
sg_tensor *sg_permute(sg_tensor *a, const int *perm) {
    const char *name = "sg_permute";
    if (!sg__check_arg(a, name, "a")) return NULL;
    if (!perm && a->ndim > 0) {
        sg_set_error(SG_ERR_NULL, "%s: argument 'perm' is NULL", name);
        return NULL;
    }
    int p[SG_MAX_DIMS];
    bool seen[SG_MAX_DIMS] = {false};
    for (int i = 0; i < a->ndim; i++) {
        int d = perm[i] < 0 ? perm[i] + a->ndim : perm[i];
        if (d < 0 || d >= a->ndim || seen[d]) {
            char sa[SG_SHAPE_BUF];
            sg_set_error(SG_ERR_ARG, "%s: perm[%d] = %d is %s; perm must be a permutation of the %d dims of %s",
                         name, i, perm[i], (d < 0 || d >= a->ndim) ? "out of range" : "repeated",
                         a->ndim, sg__shape_str(a->ndim, a->shape, sa, sizeof sa));
            return NULL;
        }
        seen[d] = true;
        p[i] = d;
    }
    return permute_impl(name, a, p);
}

/* The gradient of a slice: gout added into that slice of the input's gradient. */
static int narrow_bw(sg_node *n, const sg_tensor *g) {
    if (!sg__wants_grad(n, 0)) return SG_OK;
    sg__ref((sg_tensor *)g); /* accumulated straight into the slice of the input's gradient */
    return sg__grad_accum_slice(n->in[0], (sg_tensor *)g, (int)n->iarg[ARG_DIM], n->iarg[ARG_START]);
}

/* Arguments already validated (dim normalised, 0 <= start, start+len <= size). */
static sg_tensor *narrow_impl(const char *name, sg_tensor *a, int dim, int64_t start, int64_t len) {
    geom g = slice_geom(a, dim, start, len, false);
    sg_tensor *out = sg__out_view(a, g.ndim, g.shape, g.stride, g.offset);
    if (!out) return NULL;
    int err;
    sg_node *n = sg__record(out, name, narrow_bw, 1, &a, &err);
    if (n) {
        n->reads = SG_READS_NONE;
        n->iarg[ARG_DIM] = dim;
        n->iarg[ARG_START] = start;
    }
    return err ? NULL : out;
}

/* a (..., S, ...) -> (..., len, ...), elements [start, start+len) along dim; view */
sg_tensor *sg_narrow(sg_tensor *a, int dim, int64_t start, int64_t len) {
    const char *name = "sg_narrow";
    if (!sg__check_arg(a, name, "a")) return NULL;
    int d = sg__norm_dim(name, dim, a->ndim);
    if (d < 0) return NULL;
    if (start < 0 || len < 0 || start > a->shape[d] - len) {
        char sa[SG_SHAPE_BUF];
        sg_set_error(SG_ERR_ARG, "%s: start %lld, len %lld out of bounds for dim %d of size %lld in %s",
                     name, (long long)start, (long long)len, dim, (long long)a->shape[d],
                     sg__shape_str(a->ndim, a->shape, sa, sizeof sa));
        return NULL;
    }
    return narrow_impl(name, a, d, start, len);
}

/* The gradient of a select: gout, read with the dropped dim put back as size 1, added into that
 * slice of the input's gradient. */
static int select_bw(sg_node *n, const sg_tensor *g) {
    if (!sg__wants_grad(n, 0)) return SG_OK;
    const sg_tensor *a = n->in[0];
    int dim = (int)n->iarg[ARG_DIM];
    int64_t shp[SG_MAX_DIMS], st[SG_MAX_DIMS];
    for (int i = 0, j = 0; i < a->ndim; i++) {
        shp[i] = i == dim ? 1 : g->shape[j];
        st[i] = i == dim ? 1 : g->stride[j++];
    }
    return sg__grad_accum_slice(n->in[0], sg__view(g, a->ndim, shp, st, g->offset), dim, n->iarg[ARG_START]);
}

/* a (..., S, ...) -> (...) without dim: element index along dim (negative counts from the end); view */
sg_tensor *sg_select(sg_tensor *a, int dim, int64_t index) {
    const char *name = "sg_select";
    if (!sg__check_arg(a, name, "a")) return NULL;
    int d = sg__norm_dim(name, dim, a->ndim);
    if (d < 0) return NULL;
    int64_t S = a->shape[d], i = index < 0 ? index + S : index;
    if (i < 0 || i >= S) {
        char sa[SG_SHAPE_BUF];
        sg_set_error(SG_ERR_ARG, "%s: index %lld out of range [-%lld, %lld) for dim %d of %s", name,
                     (long long)index, (long long)S, (long long)S, dim,
                     sg__shape_str(a->ndim, a->shape, sa, sizeof sa));
        return NULL;
    }
    geom g = slice_geom(a, d, i, 1, true);
    sg_tensor *out = sg__out_view(a, g.ndim, g.shape, g.stride, g.offset);
    if (!out) return NULL;
    int err;
    sg_node *n = sg__record(out, name, select_bw, 1, &a, &err);
    if (n) {
        n->iarg[ARG_DIM] = d;
        n->iarg[ARG_START] = i;
    }
    return err ? NULL : out;
}

/* a (...) -> (..., 1, ...) with the new dim at position dim of the result; view */
sg_tensor *sg_unsqueeze(sg_tensor *a, int dim) {
    const char *name = "sg_unsqueeze";
    if (!sg__check_arg(a, name, "a")) return NULL;
    if (a->ndim >= SG_MAX_DIMS) {
        sg_set_error(SG_ERR_SHAPE, "%s: a already has the maximum of %d dims", name, SG_MAX_DIMS);
        return NULL;
    }
    int d = sg__norm_dim(name, dim, a->ndim + 1);
    if (d < 0) return NULL;
    geom g = {.ndim = a->ndim + 1, .offset = a->offset};
    for (int i = 0, j = 0; i < g.ndim; i++) {
        if (i == d) {
            g.shape[i] = 1;
            g.stride[i] = d < a->ndim ? a->shape[d] * a->stride[d] : 1; /* any stride is valid */
        } else {
            g.shape[i] = a->shape[j];
            g.stride[i] = a->stride[j++];
        }
    }
    return record1(sg__out_view(a, g.ndim, g.shape, g.stride, g.offset), a, name, same_order_bw);
}

/* a (..., 1, ...) -> (...) without that dim; view */
sg_tensor *sg_squeeze(sg_tensor *a, int dim) {
    const char *name = "sg_squeeze";
    if (!sg__check_arg(a, name, "a")) return NULL;
    int d = sg__norm_dim(name, dim, a->ndim);
    if (d < 0) return NULL;
    if (a->shape[d] != 1) {
        char sa[SG_SHAPE_BUF];
        sg_set_error(SG_ERR_SHAPE, "%s: dim %d of %s has size %lld, not 1", name, dim,
                     sg__shape_str(a->ndim, a->shape, sa, sizeof sa), (long long)a->shape[d]);
        return NULL;
    }
    geom g = slice_geom(a, d, 0, 1, true);
    return record1(sg__out_view(a, g.ndim, g.shape, g.stride, g.offset), a, name, same_order_bw);
}

/* a (...) -> (...) contiguous: a new handle on a's storage when a is contiguous, else a copy */
sg_tensor *sg_contiguous(sg_tensor *a) {
    const char *name = "sg_contiguous";
    if (!sg__check_arg(a, name, "a")) return NULL;
    sg_tensor *out = sg__is_contiguous(a) ? sg__out_view(a, a->ndim, a->shape, a->stride, a->offset)
                                          : copy_as_shape(a, a->ndim, a->shape);
    return record1(out, a, name, same_order_bw);
}

/* Checks shared by concat and stack: n >= 1 live tensors of one dtype and ndim. */
static bool check_list(const char *name, int n, sg_tensor *const *ts) {
    if (n < 1) {
        sg_set_error(SG_ERR_ARG, "%s: need at least one tensor (n = %d)", name, n);
        return false;
    }
    if (!ts) {
        sg_set_error(SG_ERR_NULL, "%s: argument 'ts' is NULL", name);
        return false;
    }
    for (int k = 0; k < n; k++) {
        char arg[32];
        snprintf(arg, sizeof arg, "ts[%d]", k);
        if (!sg__check_arg(ts[k], name, arg)) return false;
        if (k > 0 && !sg__same_dtype(name, ts[0], ts[k])) return false;
    }
    return true;
}

/* Shape mismatch message: names the first offending tensor and both shapes. */
static void list_shape_error(const char *name, sg_tensor *const *ts, int k, const char *rule) {
    char s0[SG_SHAPE_BUF], sk[SG_SHAPE_BUF];
    sg_set_error(SG_ERR_SHAPE, "%s: ts[0] %s and ts[%d] %s %s", name,
                 sg__shape_str(ts[0]->ndim, ts[0]->shape, s0, sizeof s0), k,
                 sg__shape_str(ts[k]->ndim, ts[k]->shape, sk, sizeof sk), rule);
}

/* Input k gets gout's slice along dim (iarg[ARG_DIM]); drop (stack) removes that dim. */
static int joined_bw(sg_node *n, const sg_tensor *g, bool drop) {
    int dim = (int)n->iarg[ARG_DIM];
    int64_t start = 0;
    for (int k = 0; k < n->n_in; k++) {
        sg_tensor *x = n->in[k];
        int64_t len = drop ? 1 : x->shape[dim];
        if (sg__wants_grad(n, k)) {
            sg_tensor *v = slice_view(g, dim, start, len, drop);
            sg_tensor *gx = v ? sg__alloc(x->dtype, x->ndim, x->shape, false) : NULL;
            if (gx) sg__kcopy(gx, v);
            if (v) sg__unref(v);
            int rc = sg__grad_accum(x, gx);
            if (rc) return rc;
        }
        start += len;
    }
    return SG_OK;
}
static int concat_bw(sg_node *n, const sg_tensor *g) { return joined_bw(n, g, false); }
static int stack_bw(sg_node *n, const sg_tensor *g) { return joined_bw(n, g, true); }

/* Copy each input into its slice of out along dim, then record. */
static sg_tensor *join(const char *name, int n, sg_tensor *const *ts, int dim, bool drop, sg_tensor *out,
                       sg_backward_fn bw) {
    if (!out) return NULL;
    int64_t start = 0;
    for (int k = 0; k < n; k++) {
        int64_t len = drop ? 1 : ts[k]->shape[dim];
        sg_tensor *v = slice_view(out, dim, start, len, drop);
        if (!v) return NULL;
        sg__kcopy(v, ts[k]);
        sg__unref(v);
        start += len;
    }
    int err;
    sg_node *nd = sg__record(out, name, bw, n, ts, &err);
    if (nd) {
        nd->reads = SG_READS_NONE;
        nd->iarg[ARG_DIM] = dim;
    }
    return err ? NULL : out;
}

/* n tensors (..., S_k, ...) equal except along dim -> (..., sum S_k, ...) */
sg_tensor *sg_concat(int n, sg_tensor *const *ts, int dim) {
    const char *name = "sg_concat";
    if (!check_list(name, n, ts)) return NULL;
    int nd = ts[0]->ndim;
    int d = sg__norm_dim(name, dim, nd);
    if (d < 0) return NULL;
    int64_t shp[SG_MAX_DIMS];
    memcpy(shp, ts[0]->shape, sizeof shp);
    shp[d] = 0;
    for (int k = 0; k < n; k++) {
        bool ok = ts[k]->ndim == nd;
        for (int i = 0; ok && i < nd; i++) ok = i == d || ts[k]->shape[i] == ts[0]->shape[i];
        if (!ok) {
            char rule[64];
            snprintf(rule, sizeof rule, "differ outside dim %d", dim);
            list_shape_error(name, ts, k, rule);
            return NULL;
        }
        shp[d] += ts[k]->shape[d];
    }
    return join(name, n, ts, d, false, sg__out(ts[0]->dtype, nd, shp, false), concat_bw);
}

/* n tensors (...) of one shape -> (..., n, ...) with the new dim at position dim */
sg_tensor *sg_stack(int n, sg_tensor *const *ts, int dim) {
    const char *name = "sg_stack";
    if (!check_list(name, n, ts)) return NULL;
    int nd = ts[0]->ndim;
    if (nd >= SG_MAX_DIMS) {
        sg_set_error(SG_ERR_SHAPE, "%s: inputs already have the maximum of %d dims", name, SG_MAX_DIMS);
        return NULL;
    }
    int d = sg__norm_dim(name, dim, nd + 1);
    if (d < 0) return NULL;
    for (int k = 1; k < n; k++) {
        bool ok = ts[k]->ndim == nd;
        for (int i = 0; ok && i < nd; i++) ok = ts[k]->shape[i] == ts[0]->shape[i];
        if (!ok) {
            list_shape_error(name, ts, k, "differ (stack needs equal shapes)");
            return NULL;
        }
    }
    int64_t shp[SG_MAX_DIMS];
    for (int i = 0, j = 0; i < nd + 1; i++) shp[i] = i == d ? n : ts[0]->shape[j++];
    return join(name, n, ts, d, true, sg__out(ts[0]->dtype, nd + 1, shp, false), stack_bw);
}

/* Pieces of sizes[k] (or `each` when sizes is NULL) along d as narrow views. On failure every
 * out[k] is NULL; pieces already made stay on the tape (freed with it). */
static int split_impl(const char *name, sg_tensor *a, int d, int n, const int64_t *sizes, int64_t each,
                      sg_tensor **out) {
    int64_t start = 0;
    for (int k = 0; k < n; k++) {
        int64_t len = sizes ? sizes[k] : each;
        out[k] = narrow_impl(name, a, d, start, len);
        if (!out[k]) {
            for (int j = 0; j < n; j++) out[j] = NULL;
            return sg_has_error() ? sg_last_status() : SG_ERR_MEM;
        }
        start += len;
    }
    return SG_OK;
}

/* Shared front: a, out and n checked, dim normalised (-1 with the error recorded). */
static int split_front(const char *name, sg_tensor *a, int dim, int n, sg_tensor **out) {
    if (!out) {
        sg_set_error(SG_ERR_NULL, "%s: argument 'out' is NULL", name);
        return -1;
    }
    for (int k = 0; k < n; k++) out[k] = NULL;
    if (!sg__check_arg(a, name, "a")) return -1;
    if (n < 1) {
        sg_set_error(SG_ERR_ARG, "%s: need n >= 1 pieces (got %d)", name, n);
        return -1;
    }
    return sg__norm_dim(name, dim, a->ndim);
}

/* a (..., S, ...) -> n views (..., sizes[k], ...), sum sizes[k] == S */
int sg_split(sg_tensor *a, int dim, int n, const int64_t *sizes, sg_tensor **out) {
    const char *name = "sg_split";
    int d = split_front(name, a, dim, n, out);
    if (d < 0) return sg_last_status();
    if (!sizes) return sg_set_error(SG_ERR_NULL, "%s: argument 'sizes' is NULL", name);
    int64_t total = 0;
    bool ok = true;
    for (int k = 0; k < n; k++) {
        if (sizes[k] < 0) ok = false;
        total += sizes[k];
    }
    if (!ok || total != a->shape[d]) {
        char sa[SG_SHAPE_BUF];
        return sg_set_error(SG_ERR_ARG,
                            "%s: %d sizes (each >= 0) summing to %lld do not split dim %d of size %lld in %s",
                            name, n, (long long)total, dim, (long long)a->shape[d],
                            sg__shape_str(a->ndim, a->shape, sa, sizeof sa));
    }
    return split_impl(name, a, d, n, sizes, 0, out);
}

/* a (..., S, ...) -> n views (..., S/n, ...); S divisible by n */
int sg_chunk(sg_tensor *a, int n, int dim, sg_tensor **out) {
    const char *name = "sg_chunk";
    int d = split_front(name, a, dim, n, out);
    if (d < 0) return sg_last_status();
    if (a->shape[d] % n != 0) {
        char sa[SG_SHAPE_BUF];
        return sg_set_error(SG_ERR_ARG, "%s: dim %d of size %lld in %s is not divisible into %d chunks",
                            name, dim, (long long)a->shape[d],
                            sg__shape_str(a->ndim, a->shape, sa, sizeof sa), n);
    }
    return split_impl(name, a, d, n, NULL, a->shape[d] / n, out);
}
