/* User-defined ops (autograd/custom_op.h): checks the inputs and outputs against the def, runs the
 * user's forward with gradients off, makes the outputs tape-owned and records one node whose
 * backward hands the user's backward registered handles of what it declared it reads.
 * Not here: any kernel; the user's forward and backward do the arithmetic.
 *
 * Layout on the tape. One output: the output itself carries the node (a view of the forward's
 * result, no copy). n outputs: one hidden 1-D block ("pack") carries the node, the outputs are
 * contiguous views of it, each with a small node passing its gradient into its part of the
 * block's gradient; the block's backward then sees every output's cotangent at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custom_op.h"
#include "node.h"

enum { NAME_MAX_LEN = 64, ARG_NAME_LEN = 96, SPEC_BUF = 160, SYM_UNSET = -1 };
_Static_assert((int)SG_CUSTOM_MAX_SAVED <= (int)SG_NODE_SAVED, "saved tensors live in the node's slots");
_Static_assert(SG_CUSTOM_MAX_IN <= 8 * (int)sizeof(unsigned), "reads_in is a bit mask");

/* iarg slot of an output's node: where its part starts in the block */
enum { ARG_PART_OFFSET = 0 };

struct sg_custom_ctx {
    const char *name;
    sg_tensor *const *in; /* the caller's inputs and the forward's (contiguous) ones */
    sg_tensor *const *fin;
    int n_in;
    sg_tensor *saved[SG_CUSTOM_MAX_SAVED];
    int n_saved;
};

/* node->ctx of a recorded custom op (freed with free() by the node) */
typedef struct {
    char name[NAME_MAX_LEN];
    sg_custom_backward_fn backward;
    void *user;
    unsigned reads_in, reads_out;
    int n_out, n_saved;
    int ndim[SG_CUSTOM_MAX_OUT];
    int64_t shape[SG_CUSTOM_MAX_OUT][SG_MAX_DIMS];
    int64_t part[SG_CUSTOM_MAX_OUT]; /* element offset of output k in the block (n_out > 1) */
} custom_node;

static const char *op_name(const sg_custom_op_def *def) {
    return def && def->name ? def->name : "sg_custom_op";
}

static void arg_name(char *buf, size_t n, const char *kind, int i, const sg_custom_arg *spec) {
    if (spec && spec->name) snprintf(buf, n, "%s %d ('%s')", kind, i, spec->name);
    else snprintf(buf, n, "%s %d", kind, i);
}

/* "(*,4,d1=5)": the required shape, symbols shown with the size they are bound to so far */
static void spec_str(const sg_custom_arg *s, const int64_t *sym, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int d = 0; d < s->ndim && k < n; d++) {
        int64_t w = s->shape[d];
        const char *sep = d ? "," : "";
        if (w >= 0) k += (size_t)snprintf(buf + k, n - k, "%s%lld", sep, (long long)w);
        else if (w == SG_DIM_ANY) k += (size_t)snprintf(buf + k, n - k, "%s*", sep);
        else if (sym[-2 - w] == SYM_UNSET) k += (size_t)snprintf(buf + k, n - k, "%sd%d", sep, (int)(-2 - w));
        else k += (size_t)snprintf(buf + k, n - k, "%sd%d=%lld", sep, (int)(-2 - w), (long long)sym[-2 - w]);
    }
    if (k < n) snprintf(buf + k, n - k, ")");
}

/* t against spec s, binding symbols in sym; records the error and returns false on a mismatch */
static bool check_shape(const char *op, const char *what, const sg_custom_arg *s, const sg_tensor *t, int64_t *sym) {
    if (s->ndim == SG_DIM_ANY) return true;
    if (s->ndim < 0 || s->ndim > SG_MAX_DIMS) {
        sg_set_error(SG_ERR_ARG, "%s: the spec of %s has ndim %d (need SG_DIM_ANY or 0..%d)", op, what, s->ndim,
                     SG_MAX_DIMS);
        return false;
    }
    for (int d = 0; d < s->ndim; d++) {
        int64_t w = s->shape[d];
        if (w < SG_DIM_ANY && -2 - w >= SG_CUSTOM_MAX_SYMS) {
            sg_set_error(SG_ERR_ARG, "%s: the spec of %s uses symbol %lld (need 0..%d)", op, what,
                         (long long)(-2 - w), SG_CUSTOM_MAX_SYMS - 1);
            return false;
        }
    }
    char want[SPEC_BUF], got[SG_SHAPE_BUF];
    spec_str(s, sym, want, sizeof want); /* before binding: shows what earlier arguments fixed */
    bool ok = t->ndim == s->ndim;
    for (int d = 0; ok && d < s->ndim; d++) {
        int64_t w = s->shape[d];
        if (w >= 0) ok = t->shape[d] == w;
        else if (w < SG_DIM_ANY) {
            int64_t *b = &sym[-2 - w];
            if (*b == SYM_UNSET) *b = t->shape[d];
            ok = *b == t->shape[d];
        }
    }
    if (!ok)
        sg_set_error(SG_ERR_SHAPE, "%s: %s has shape %s but the op needs %s", op, what,
                     sg__shape_str(t->ndim, t->shape, got, sizeof got), want);
    return ok;
}

static bool check_def(const sg_custom_op_def *def, sg_tensor *const *in, sg_tensor **out) {
    const char *op = op_name(def);
    if (!def) return sg_set_error(SG_ERR_NULL, "sg_custom_op: argument 'def' is NULL"), false;
    if (!out) return sg_set_error(SG_ERR_NULL, "%s: argument 'out' is NULL", op), false;
    int n_out = def->n_out ? def->n_out : 1;
    if (def->n_in < 0 || def->n_in > SG_CUSTOM_MAX_IN || n_out < 0 || n_out > SG_CUSTOM_MAX_OUT)
        return sg_set_error(SG_ERR_ARG, "%s: n_in must be in [0, %d] and n_out in [1, %d] (got %d, %d)", op,
                            SG_CUSTOM_MAX_IN, SG_CUSTOM_MAX_OUT, def->n_in, def->n_out),
               false;
    if (!def->forward) return sg_set_error(SG_ERR_NULL, "%s: the def has no forward", op), false;
    if (def->n_in > 0 && !in) return sg_set_error(SG_ERR_NULL, "%s: argument 'in' is NULL", op), false;
    if (def->dtypes & ~((1u << SG_DTYPE_COUNT) - 1))
        return sg_set_error(SG_ERR_ARG, "%s: dtypes mask 0x%x has unknown bits", op, def->dtypes), false;
    return true;
}

static bool check_dtype(const sg_custom_op_def *def, const char *what, const sg_tensor *t, sg_dtype dt) {
    const char *op = op_name(def);
    if (t->dtype != dt) {
        sg_set_error(SG_ERR_DTYPE, "%s: %s is %s but the op's tensors are %s (one dtype for all; convert with "
                     "sg_to_dtype)", op, what, sg_dtype_name(t->dtype), sg_dtype_name(dt));
        return false;
    }
    if (def->dtypes && !(def->dtypes & (1u << t->dtype))) {
        sg_set_error(SG_ERR_DTYPE, "%s: %s is %s, which the op does not take", op, what, sg_dtype_name(t->dtype));
        return false;
    }
    return true;
}

int sg_custom_save(sg_custom_ctx *ctx, sg_tensor *t) {
    if (!ctx) return sg_set_error(SG_ERR_NULL, "sg_custom_save: argument 'ctx' is NULL");
    if (!sg__check_arg(t, ctx->name, "saved tensor")) return sg_last_status();
    for (int i = 0; i < ctx->n_in; i++)
        if (t == ctx->in[i] || t == ctx->fin[i])
            return sg_set_error(SG_ERR_ARG, "%s: sg_custom_save of input %d; declare it in reads_in instead",
                                ctx->name, i);
    for (int j = 0; j < ctx->n_saved; j++)
        if (ctx->saved[j] == t) return sg_set_error(SG_ERR_ARG, "%s: sg_custom_save of the same tensor twice", ctx->name);
    if (ctx->n_saved == SG_CUSTOM_MAX_SAVED)
        return sg_set_error(SG_ERR_ARG, "%s: more than %d tensors saved", ctx->name, SG_CUSTOM_MAX_SAVED);
    ctx->saved[ctx->n_saved++] = t;
    return SG_OK;
}

/* Frees the user-owned tensors among ts (each once): the forward handed them to the library. A
 * stream's arena slot (an op run by sg_rnn_stream over a definition) is the arena's to free. */
static void release_user(sg_tensor **ts, int n) {
    for (int i = 0; i < n; i++) {
        sg_tensor *t = ts[i];
        if (!t || !sg_is_live(t) || (t->flags & (SG_FLAG_TAPE | SG_FLAG_IS_GRAD | SG_FLAG_USER_FREED | SG_FLAG_ARENA)))
            continue;
        bool dup = false;
        for (int j = 0; j < i && !dup; j++) dup = ts[j] == t;
        if (!dup) sg_tensor_free(t);
    }
}

/* The output nodes of a multi-output op: pass gout into this output's part of the block's grad. */
static int part_bw(sg_node *n, const sg_tensor *gout) {
    int64_t len = sg__numel(gout), unit = 1;
    return sg__grad_accum_slice(n->in[0], sg__view(gout, 1, &len, &unit, gout->offset), 0, n->iarg[ARG_PART_OFFSET]);
}

/* A registered, tape-owned, contiguous handle of t (a view, or a copy when t is strided). */
static sg_tensor *handle(const sg_tensor *t) {
    if (sg__is_contiguous(t)) return sg__out_view(t, t->ndim, t->shape, t->stride, t->offset);
    return sg__out_adopt(sg__contig(t));
}

/* Output k (or its cotangent) inside the block b: b itself for one output. */
static sg_tensor *part_handle(const custom_node *c, const sg_tensor *b, int k) {
    if (c->n_out == 1) return handle(b);
    int64_t st[SG_MAX_DIMS];
    sg__contiguous_strides(c->ndim[k], c->shape[k], st);
    return sg__out_view(b, c->ndim[k], c->shape[k], st, b->offset + c->part[k]);
}

static int custom_bw(sg_node *n, const sg_tensor *gout) {
    custom_node *c = n->ctx;
    size_t mark = sg_tape_mark();
    sg_tensor *in[SG_CUSTOM_MAX_IN] = {0}, *gin[SG_CUSTOM_MAX_IN] = {0}, *gbuf[SG_CUSTOM_MAX_IN] = {0};
    sg_tensor *out[SG_CUSTOM_MAX_OUT] = {0}, *gov[SG_CUSTOM_MAX_OUT] = {0}, *sv[SG_CUSTOM_MAX_SAVED] = {0};
    bool ok = true;
    for (int i = 0; i < n->n_in; i++) {
        const sg_tensor *x = n->in[i];
        if (c->reads_in & (1u << i)) ok = ok && (in[i] = handle(x));
        if (!sg__wants_grad(n, i)) continue;
        gbuf[i] = sg__alloc(x->dtype, x->ndim, x->shape, true);
        ok = ok && gbuf[i] && (gin[i] = sg__out_view(gbuf[i], x->ndim, x->shape, gbuf[i]->stride, 0));
    }
    for (int k = 0; k < c->n_out; k++) {
        if (c->reads_out & (1u << k)) ok = ok && (out[k] = part_handle(c, n->out, k));
        ok = ok && (gov[k] = part_handle(c, gout, k));
    }
    for (int j = 0; j < c->n_saved; j++) ok = ok && (sv[j] = handle(n->saved[j]));
    int rc = ok ? SG_OK : SG_ERR_MEM;
    if (ok) {
        sg_custom_bw_args a = {.in = in, .out = out, .saved = sv, .grad_out = gov, .grad_in = gin,
                               .n_in = n->n_in, .n_out = c->n_out, .n_saved = c->n_saved};
        rc = c->backward(&a, c->user);
        if (rc) {
            if (!sg_has_error()) sg_set_error(SG_ERR_STATE, "%s: the custom backward failed (returned %d)", c->name, rc);
            rc = sg_last_status() ? sg_last_status() : SG_ERR_STATE;
        }
    }
    sg_tape_release(mark); /* the handles; the gradient buffers stay (gbuf) */
    for (int i = 0; i < n->n_in; i++) {
        if (!gbuf[i]) continue;
        if (rc == SG_OK) rc = sg__grad_accum(n->in[i], gbuf[i]);
        else sg__unref(gbuf[i]);
    }
    return rc;
}

/* The tape-owned outputs over the forward's results res (already checked): out[k], and the tensor
 * that will carry the node (*block). */
static int make_outputs(const char *op, int n_out, sg_tensor **res, sg_tensor **out, sg_tensor **block) {
    sg_tensor *r0 = res[0];
    if (n_out == 1) {
        *block = out[0] = sg__is_contiguous(r0) ? sg__out_view(r0, r0->ndim, r0->shape, r0->stride, r0->offset)
                                                : sg__out_adopt(sg__contig(r0));
        return out[0] ? SG_OK : sg_set_error(SG_ERR_MEM, "%s: out of memory", op);
    }
    int64_t total = 0;
    for (int k = 0; k < n_out; k++) total += sg__numel(res[k]);
    *block = sg__out(r0->dtype, 1, &total, false);
    if (!*block) return sg_set_error(SG_ERR_MEM, "%s: out of memory", op);
    int64_t at = 0;
    for (int k = 0; k < n_out; k++) {
        int64_t st[SG_MAX_DIMS];
        sg__contiguous_strides(res[k]->ndim, res[k]->shape, st);
        out[k] = sg__out_view(*block, res[k]->ndim, res[k]->shape, st, at);
        if (!out[k]) return sg_set_error(SG_ERR_MEM, "%s: out of memory", op);
        sg__kcopy(out[k], res[k]);
        at += sg__numel(res[k]);
    }
    return SG_OK;
}

/* Records the op on block (and the output nodes), keeping the saved tensors. */
static int record(const sg_custom_op_def *def, sg_tensor *const *in, int n_out, sg_tensor **out, sg_tensor *block,
                  const sg_custom_ctx *ctx, void *user) {
    int err;
    const char *op = op_name(def);
    custom_node *c = calloc(1, sizeof *c);
    if (!c) return sg_set_error(SG_ERR_MEM, "%s: out of memory recording the graph", op);
    sg_node *n = sg__record(block, op, custom_bw, def->n_in, in, &err);
    if (!n) {
        free(c);
        return err;
    }
    snprintf(c->name, sizeof c->name, "%s", op);
    n->name = c->name; /* lives with the node, not with the caller's def */
    n->ctx = c;
    n->reads = SG_READS_NONE; /* the declaration, for code that frees dead data (sg__tape_reads) */
    for (int i = 0; i < def->n_in; i++)
        if (def->reads_in & (1u << i)) n->reads |= sg__reads_bit(i);
    c->backward = def->backward;
    c->user = user;
    c->reads_in = def->reads_in;
    c->reads_out = def->reads_out;
    c->n_out = n_out;
    c->n_saved = ctx->n_saved;
    for (int j = 0; j < ctx->n_saved; j++) sg__save(n, j, ctx->saved[j]);
    int64_t at = 0;
    for (int k = 0; k < n_out; k++) {
        c->ndim[k] = out[k]->ndim;
        memcpy(c->shape[k], out[k]->shape, sizeof c->shape[k]);
        c->part[k] = at;
        at += sg__numel(out[k]);
        if (n_out == 1) break;
        sg_node *p = sg__record(out[k], "sg_custom_op (output)", part_bw, 1, &block, &err);
        if (err) return err;
        p->iarg[ARG_PART_OFFSET] = c->part[k];
        p->reads = SG_READS_NONE; /* passes its gradient on; never reads the block */
    }
    return SG_OK;
}

/* The forward's results: present, live, new, of the op's dtype and the declared shapes. */
static bool check_results(const sg_custom_op_def *def, const sg_custom_ctx *ctx, int n_out, sg_tensor **res,
                          sg_dtype dt, int64_t *sym) {
    const char *op = op_name(def);
    for (int k = 0; k < n_out; k++) {
        char what[ARG_NAME_LEN];
        arg_name(what, sizeof what, "output", k, def->out_spec ? &def->out_spec[k] : NULL);
        if (!res[k]) {
            if (!sg_has_error()) sg_set_error(SG_ERR_NULL, "%s: the forward did not set %s", op, what);
            return false;
        }
        if (!sg__check_arg(res[k], op, what)) return false;
        for (int i = 0; i < ctx->n_in; i++)
            if (res[k] == ctx->in[i] || res[k] == ctx->fin[i])
                return sg_set_error(SG_ERR_ARG, "%s: the forward returned input %d as %s; return a copy (sg_copy)",
                                    op, i, what),
                       false;
        for (int j = 0; j < k; j++)
            if (res[j] == res[k])
                return sg_set_error(SG_ERR_ARG, "%s: the forward returned one tensor as outputs %d and %d", op, j, k),
                       false;
        if (!check_dtype(def, what, res[k], dt)) return false;
        if (def->out_spec && !check_shape(op, what, &def->out_spec[k], res[k], sym)) return false;
    }
    return true;
}

int sg_custom_op(const sg_custom_op_def *def, sg_tensor *const *in, sg_tensor **out, void *user) {
    if (!check_def(def, in, out)) return sg_last_status();
    const char *op = op_name(def);
    int n_in = def->n_in, n_out = def->n_out ? def->n_out : 1;
    for (int k = 0; k < n_out; k++) out[k] = NULL;
    int64_t sym[SG_CUSTOM_MAX_SYMS];
    for (int s = 0; s < SG_CUSTOM_MAX_SYMS; s++) sym[s] = SYM_UNSET;
    for (int i = 0; i < n_in; i++) {
        char what[ARG_NAME_LEN];
        arg_name(what, sizeof what, "input", i, def->in_spec ? &def->in_spec[i] : NULL);
        if (!sg__check_arg(in[i], op, what) || !check_dtype(def, what, in[i], in[0]->dtype)) return sg_last_status();
        if (def->in_spec && !check_shape(op, what, &def->in_spec[i], in[i], sym)) return sg_last_status();
    }
    /* the forward runs without recording; strided inputs reach it as contiguous copies */
    bool prev = sg_set_grad_enabled(false);
    sg_tensor *fin[SG_CUSTOM_MAX_IN];
    for (int i = 0; i < n_in; i++) fin[i] = sg__is_contiguous(in[i]) ? in[i] : handle(in[i]);
    sg_tensor *res[SG_CUSTOM_MAX_OUT] = {0};
    sg_custom_ctx ctx = {.name = op, .in = in, .fin = fin, .n_in = n_in};
    int rc = SG_OK;
    for (int i = 0; i < n_in && rc == SG_OK; i++)
        if (!fin[i]) rc = sg_last_status();
    if (rc == SG_OK) {
        rc = def->forward(&ctx, fin, res, user);
        if (rc && !sg_has_error()) sg_set_error(SG_ERR_STATE, "%s: the custom forward failed (returned %d)", op, rc);
        if (rc) rc = sg_last_status() ? sg_last_status() : SG_ERR_STATE;
    }
    sg_set_grad_enabled(prev);
    /* outputs and saved tensors must not be inputs or dead before anything takes them over */
    sg_dtype dt = n_in ? in[0]->dtype : (res[0] && sg_is_live(res[0]) ? res[0]->dtype : SG_F32);
    if (rc == SG_OK && !check_results(def, &ctx, n_out, res, dt, sym)) rc = sg_last_status();
    sg_tensor *block = NULL;
    if (rc == SG_OK) rc = make_outputs(op, n_out, res, out, &block);
    if (rc == SG_OK && def->backward && sg__needs_grad(n_in, in)) rc = record(def, in, n_out, out, block, &ctx, user);
    /* the library's now: the outputs hold their storage, the node holds the saved tensors */
    sg_tensor *owned[SG_CUSTOM_MAX_OUT + SG_CUSTOM_MAX_SAVED];
    int n_owned = 0;
    for (int k = 0; k < n_out; k++) owned[n_owned++] = res[k];
    for (int j = 0; j < ctx.n_saved; j++) owned[n_owned++] = ctx.saved[j];
    release_user(owned, n_owned);
    if (rc != SG_OK)
        for (int k = 0; k < n_out; k++) out[k] = NULL; /* tape-owned leftovers go with the tape */
    return rc;
}

sg_tensor *sg_custom_op1(const sg_custom_op_def *def, sg_tensor *const *in, void *user) {
    if (def && def->n_out > 1) {
        sg_set_error(SG_ERR_ARG, "%s: sg_custom_op1 is for one output (def has %d); use sg_custom_op", op_name(def),
                     def->n_out);
        return NULL;
    }
    sg_tensor *out = NULL;
    return sg_custom_op(def, in, &out, user) ? NULL : out;
}
