/* The per-thread tape: a creation-ordered list of op results. Creation order is a topological
 * order (inputs exist before outputs), so backward is one reverse loop: no recursion, no sort.
 * Two independent parts of a graph may be recorded concurrently (sg__tape_parallel): they land as
 * two adjacent segments, a "group", and backward runs the two segments concurrently too. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"

void sg__registry_remove(const void *p);

/* Parts run concurrently only at 2 or 3 threads: each part then runs on one thread (nested
 * OpenMP regions, oneDNN's and OpenBLAS's threading all go serial inside a parallel region), so
 * with more threads running the parts in turn, each on all threads, uses the machine better. */
enum { PAR_PARTS = 2, PAR_MAX_THREADS = 3, TAPE_MIN_CAP = 256, PART_MSG_MAX = 1024 };

/* tape items [start, mid) and [mid, end) were recorded concurrently and are independent */
typedef struct {
    size_t start, mid, end;
} tape_group;

typedef struct {
    sg_tensor **items;
    size_t len, cap;
    tape_group *groups; /* increasing, non-overlapping */
    size_t ngroups, gcap;
} tape_t;

static _Thread_local tape_t g_tape;
static _Thread_local bool g_no_grad;
static _Thread_local sg_grad_ready_fn g_ready_fn;
static _Thread_local void *g_ready_ctx;

void sg_set_grad_ready_hook(sg_grad_ready_fn fn, void *ctx) {
    g_ready_fn = fn;
    g_ready_ctx = fn ? ctx : NULL;
}

bool sg_set_grad_enabled(bool on) {
    bool prev = !g_no_grad;
    g_no_grad = !on;
    return prev;
}
bool sg_is_grad_enabled(void) { return !g_no_grad; }

size_t sg_tape_len(void) { return g_tape.len; }
size_t sg_tape_mark(void) { return g_tape.len; }

int sg_tape_release(size_t mark) {
    if (mark > g_tape.len)
        return sg_set_error(SG_ERR_ARG, "sg_tape_release: mark %zu is past the tape's end %zu", mark,
                            g_tape.len);
    while (g_tape.len > mark) {
        sg_tensor *t = g_tape.items[--g_tape.len];
        sg__registry_remove(t); /* dead to the user now, even if a reference remains */
        sg__unref(t);
    }
    while (g_tape.ngroups && g_tape.groups[g_tape.ngroups - 1].end > mark) g_tape.ngroups--;
    if (g_tape.len == 0) {
        free(g_tape.items);
        free(g_tape.groups);
        g_tape = (tape_t){0};
    }
    return SG_OK;
}

void sg_tape_clear(void) { sg_tape_release(0); }

static bool tape_push(sg_tensor *t) {
    if (!sg__register(t)) return false;
    if (g_tape.len == g_tape.cap) {
        size_t cap = g_tape.cap ? 2 * g_tape.cap : TAPE_MIN_CAP;
        sg_tensor **ni = realloc(g_tape.items, cap * sizeof *ni);
        if (!ni) return false;
        g_tape.items = ni;
        g_tape.cap = cap;
    }
    t->flags |= SG_FLAG_TAPE;
    t->tape_pos = g_tape.len;
    g_tape.items[g_tape.len++] = t;
    return true;
}

sg_tensor *sg__out_adopt(sg_tensor *t) {
    if (!t) return NULL;
    if (t->flags & SG_FLAG_ARENA) return t; /* an arena's slot: registered once, never on a tape */
    if (!tape_push(t)) {
        sg__unref(t);
        sg_set_error(SG_ERR_MEM, "out of memory (tape)");
        return NULL;
    }
    return t;
}

sg_tensor *sg__out(sg_dtype dt, int ndim, const int64_t *shape, bool zero) {
    return sg__out_adopt(sg__alloc(dt, ndim, shape, zero));
}

sg_tensor *sg__out_view(const sg_tensor *src, int ndim, const int64_t *shape, const int64_t *stride,
                        int64_t offset) {
    return sg__out_adopt(sg__view(src, ndim, shape, stride, offset));
}

bool sg__needs_grad(int n, sg_tensor *const *in) {
    if (g_no_grad) return false;
    for (int i = 0; i < n; i++)
        if (in[i] && (in[i]->flags & SG_FLAG_REQUIRES_GRAD)) return true;
    return false;
}

void sg__node_free(sg_node *n) {
    if (!n) return;
    for (int i = 0; i < n->n_in; i++) sg__unref(n->in[i]);
    for (int i = 0; i < SG_NODE_SAVED; i++)
        if (n->saved[i]) sg__unref(n->saved[i]);
    if (n->ctx) (n->ctx_free ? n->ctx_free : free)(n->ctx);
    free(n->in);
    free(n->in_version);
    free(n);
}

sg_node *sg__record(sg_tensor *out, const char *name, sg_backward_fn bw, int n_in,
                    sg_tensor *const *in, int *err) {
    *err = SG_OK;
    if (!sg__needs_grad(n_in, in)) return NULL;
    sg_node *n = calloc(1, sizeof *n);
    if (n) {
        n->in = malloc((size_t)n_in * sizeof *n->in);
        n->in_version = malloc((size_t)n_in * sizeof *n->in_version);
    }
    if (!n || !n->in || !n->in_version) {
        if (n) {
            free(n->in);
            free(n->in_version);
            free(n);
        }
        *err = sg_set_error(SG_ERR_MEM, "%s: out of memory recording the graph", name);
        return NULL;
    }
    n->reads = SG_READS_ALL;
    n->name = name;
    n->backward = bw;
    n->out = out;
    n->n_in = n_in;
    for (int i = 0; i < n_in; i++) {
        n->in[i] = in[i];
        sg__ref(in[i]);
        n->in_version[i] = in[i]->storage->version;
    }
    n->out_version = out->storage->version;
    out->node = n;
    out->flags |= SG_FLAG_REQUIRES_GRAD;
    return n;
}

void sg__save(sg_node *n, int i, sg_tensor *t) {
    SG_ASSERT(i >= 0 && i < SG_NODE_SAVED && !n->saved[i]);
    sg__ref(t);
    n->saved[i] = t;
    n->saved_version[i] = t->storage->version;
}

/* ---- backward ---- */

/* Every tensor a backward may read (inputs, the output, saved tensors) must still hold the
 * values it had when the op ran. */
static int check_versions(const sg_node *n) {
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k]->storage->version != n->in_version[k])
            return sg_set_error(SG_ERR_STATE,
                                "sg_backward: input %d of '%s' was modified in place after the op "
                                "used it; its gradient would be wrong",
                                k, n->name);
    if (n->out->storage->version != n->out_version)
        return sg_set_error(SG_ERR_STATE,
                            "sg_backward: the output of '%s' was modified in place after the op "
                            "made it; its gradient would be wrong",
                            n->name);
    for (int i = 0; i < SG_NODE_SAVED; i++)
        if (n->saved[i] && n->saved[i]->storage->version != n->saved_version[i])
            return sg_set_error(SG_ERR_STATE,
                                "sg_backward: a tensor saved by '%s' was modified in place after "
                                "the op used it; its gradient would be wrong",
                                n->name);
    return SG_OK;
}

/* Backward of the nodes of items [lo, hi), last first. After a failure (rc != 0) it only drops the
 * intermediate gradients. Returns the first failure. */
static int backward_range(sg_tensor **items, size_t lo, size_t hi, int rc) {
    for (size_t i = hi; i-- > lo;) {
        sg_tensor *t = items[i];
        sg_node *n = t->node;
        if (!n || !t->grad) continue;
        if (rc == SG_OK) rc = check_versions(n);
        if (rc == SG_OK) rc = n->backward(n, t->grad);
        sg__unref(t->grad); /* intermediate grads are dropped as soon as they are used */
        t->grad = NULL;
    }
    return rc;
}

static bool can_run_parts(void) {
    int nthr = omp_get_max_threads();
    return nthr >= PAR_PARTS && nthr <= PAR_MAX_THREADS && !omp_in_parallel();
}

/* Copies a failure recorded on a helper thread into the calling thread's error state. */
typedef struct {
    int status;
    char msg[PART_MSG_MAX];
} part_error;

static void keep_error(part_error *e, int rc) {
    e->status = rc;
    if (rc) snprintf(e->msg, sizeof e->msg, "%s", sg_last_error());
}

static int first_error(const part_error *e) {
    for (int k = 0; k < PAR_PARTS; k++)
        if (e[k].status) return sg_set_error((sg_status)e[k].status, "%s", e[k].msg);
    return SG_OK;
}

/* Runs part(0, ctx) and part(1, ctx) on a team of two threads, each part's own kernels on its
 * thread, keeping each part's failure in e[k]. A team of one (thread limit, dynamic threads) runs
 * both in turn. */
static void run_two(sg_part_fn part, void *ctx, part_error *e) {
    SG_PRAGMA(omp parallel num_threads(PAR_PARTS))
    {
        int self = omp_get_thread_num(), nt = omp_get_num_threads();
        if (self) sg_clear_error(); /* a helper thread's state from an earlier call */
        omp_set_num_threads(1);     /* nested regions of this part stay on this thread */
        for (int k = self; k < PAR_PARTS; k += nt) keep_error(&e[k], part(k, ctx));
    }
}

typedef struct {
    sg_tensor **items;
    const tape_group *g;
} group_bw;

/* part 0: the group's second segment (recorded last), part 1: its first */
static int backward_part(int k, void *ctx) {
    const group_bw *b = ctx;
    bool prev = sg_set_grad_enabled(false);
    int rc = k == 0 ? backward_range(b->items, b->g->mid, b->g->end, SG_OK)
                    : backward_range(b->items, b->g->start, b->g->mid, SG_OK);
    sg_set_grad_enabled(prev);
    return rc;
}

/* The two segments of a group, concurrently when the thread count allows (they are independent:
 * neither accumulates into a tensor the other touches). */
static int backward_group(sg_tensor **items, const tape_group *g, int rc) {
    if (rc || !can_run_parts()) {
        rc = backward_range(items, g->mid, g->end, rc);
        return backward_range(items, g->start, g->mid, rc);
    }
    part_error e[PAR_PARTS] = {0};
    run_two(backward_part, &(group_bw){items, g}, e);
    return first_error(e);
}

/* ---- grad-ready reports: each leaf's lowest tape position that reads it ---- */

typedef struct {
    sg_tensor *leaf;
    size_t pos; /* the leaf's gradient is final once the backward has run every item >= pos */
} leaf_use;

typedef struct {
    leaf_use *use; /* one per leaf, by decreasing pos (the order backward finishes them) */
    size_t n, next;
} ready_list;

static int by_leaf_then_pos(const void *a, const void *b) {
    const leaf_use *x = a, *y = b;
    if (x->leaf != y->leaf) return (uintptr_t)x->leaf < (uintptr_t)y->leaf ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}
static int by_pos_desc(const void *a, const void *b) {
    const leaf_use *x = a, *y = b;
    return x->pos < y->pos ? 1 : x->pos > y->pos ? -1 : 0;
}

/* Every (leaf, node position) edge of items [0, pos], reduced to each leaf's lowest position. */
static int ready_build(ready_list *r, size_t pos) {
    *r = (ready_list){0};
    size_t n = 0, cap = 0;
    for (size_t i = 0; i <= pos; i++) {
        sg_node *nd = g_tape.items[i]->node;
        for (int k = 0; nd && k < nd->n_in; k++) {
            sg_tensor *x = nd->in[k];
            if (x->node || !(x->flags & SG_FLAG_REQUIRES_GRAD)) continue;
            if (n == cap) {
                cap = cap ? 2 * cap : TAPE_MIN_CAP;
                leaf_use *nu = realloc(r->use, cap * sizeof *nu);
                if (!nu) {
                    free(r->use);
                    r->use = NULL;
                    return sg_set_error(SG_ERR_MEM, "sg_backward: out of memory (grad-ready list)");
                }
                r->use = nu;
            }
            r->use[n++] = (leaf_use){x, i};
        }
    }
    if (!n) return SG_OK;
    qsort(r->use, n, sizeof *r->use, by_leaf_then_pos);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!m || r->use[m - 1].leaf != r->use[i].leaf) r->use[m++] = r->use[i];
    qsort(r->use, m, sizeof *r->use, by_pos_desc);
    r->n = m;
    return SG_OK;
}

/* Reports every leaf whose lowest reader is at or above done (the backward has run [done, ...)). */
static void ready_fire(ready_list *r, size_t done) {
    while (r->next < r->n && r->use[r->next].pos >= done) {
        g_ready_fn(r->use[r->next].leaf, g_ready_ctx);
        r->next++;
    }
}

static int run_backward(sg_tensor *out, const sg_tensor *seed) {
    if (!out->node) { /* a leaf: the gradient is the seed itself */
        sg_tensor *g = sg__alloc(out->dtype, out->ndim, out->shape, false);
        if (!g) return SG_ERR_MEM;
        sg__kcopy(g, seed);
        return sg__grad_accum(out, g);
    }
    size_t pos = out->tape_pos;
    if (pos >= g_tape.len || g_tape.items[pos] != out) /* the registry is global, tapes are not */
        return sg_set_error(SG_ERR_STATE, "sg_backward: the output was recorded on another thread's "
                                          "tape (tapes are per thread)");
    for (size_t i = 0; i <= pos; i++) { /* stale intermediate grads from an aborted backward */
        sg_tensor *t = g_tape.items[i];
        if (t->node && t->grad) {
            sg__unref(t->grad);
            t->grad = NULL;
        }
    }
    out->grad = sg__alloc(out->dtype, out->ndim, out->shape, false);
    if (!out->grad) return SG_ERR_MEM;
    sg__kcopy(out->grad, seed);

    ready_list ready = {0};
    int rc = g_ready_fn ? ready_build(&ready, pos) : SG_OK;
    bool prev = sg_set_grad_enabled(false);
    size_t gi = g_tape.ngroups; /* groups ending at or before pos run concurrently */
    while (gi && g_tape.groups[gi - 1].end > pos + 1) gi--;
    for (size_t i = pos + 1; i > 0;) {
        if (gi && g_tape.groups[gi - 1].end == i) {
            const tape_group *g = &g_tape.groups[--gi];
            rc = backward_group(g_tape.items, g, rc);
            i = g->start;
        } else {
            i--;
            rc = backward_range(g_tape.items, i, i + 1, rc);
        }
        if (ready.n && rc == SG_OK) ready_fire(&ready, i);
    }
    free(ready.use);
    sg_set_grad_enabled(prev);
    return rc;
}

int sg_backward_grad(sg_tensor *out, const sg_tensor *grad_out) {
    if (!sg__check_arg(out, "sg_backward", "out") || !sg__check_arg(grad_out, "sg_backward", "grad_out"))
        return sg_last_status();
    if (!(out->flags & SG_FLAG_REQUIRES_GRAD))
        return sg_set_error(SG_ERR_STATE, "sg_backward: the output does not require grad (no input "
                                          "requires grad, or it was computed in no-grad mode)");
    if (grad_out->dtype != out->dtype)
        return sg_set_error(SG_ERR_DTYPE, "sg_backward: grad_out is %s but the output is %s",
                            sg_dtype_name(grad_out->dtype), sg_dtype_name(out->dtype));
    bool same = grad_out->ndim == out->ndim;
    for (int i = 0; same && i < out->ndim; i++) same = grad_out->shape[i] == out->shape[i];
    if (!same) {
        char a[SG_SHAPE_BUF], b[SG_SHAPE_BUF];
        return sg_set_error(SG_ERR_SHAPE, "sg_backward: grad_out has shape %s but the output has %s",
                            sg__shape_str(grad_out->ndim, grad_out->shape, a, sizeof a),
                            sg__shape_str(out->ndim, out->shape, b, sizeof b));
    }
    return run_backward(out, grad_out);
}

int sg_backward(sg_tensor *loss) {
    if (!sg__check_arg(loss, "sg_backward", "loss")) return sg_last_status();
    if (sg__numel(loss) != 1) {
        char b[SG_SHAPE_BUF];
        return sg_set_error(SG_ERR_SHAPE,
                            "sg_backward: loss of shape %s is not a single value; use "
                            "sg_backward_grad with a cotangent",
                            sg__shape_str(loss->ndim, loss->shape, b, sizeof b));
    }
    if (!(loss->flags & SG_FLAG_REQUIRES_GRAD))
        return sg_set_error(SG_ERR_STATE, "sg_backward: the loss does not require grad (no input "
                                          "requires grad, or it was computed in no-grad mode)");
    sg_tensor *one = sg__alloc(loss->dtype, loss->ndim, loss->shape, false);
    if (!one) return SG_ERR_MEM;
    sg__kfill(one, 1.0);
    int rc = run_backward(loss, one);
    sg__unref(one);
    return rc;
}

int sg_zero_grad(sg_tensor *const *ts, int n) {
    if (n > 0 && !ts) return sg_set_error(SG_ERR_NULL, "sg_zero_grad: argument 'ts' is NULL");
    for (int i = 0; i < n; i++) {
        if (!sg__check_arg(ts[i], "sg_zero_grad", "ts[i]")) return sg_last_status();
        if (ts[i]->grad) {
            sg__kfill(ts[i]->grad, 0.0);
            sg__bump(ts[i]->grad->storage);
        }
    }
    return SG_OK;
}

/* Appends the items of part p (recorded on a helper tape) to this thread's tape. */
static bool splice(tape_t *p) {
    size_t need = g_tape.len + p->len;
    if (need > g_tape.cap) {
        size_t cap = g_tape.cap ? g_tape.cap : TAPE_MIN_CAP;
        while (cap < need) cap *= 2;
        sg_tensor **ni = realloc(g_tape.items, cap * sizeof *ni);
        if (!ni) return false;
        g_tape.items = ni;
        g_tape.cap = cap;
    }
    for (size_t i = 0; i < p->len; i++) {
        p->items[i]->tape_pos = g_tape.len;
        g_tape.items[g_tape.len++] = p->items[i];
    }
    p->len = 0;
    return true;
}

static void drop_part(tape_t *p) {
    while (p->len) {
        sg_tensor *t = p->items[--p->len];
        sg__registry_remove(t);
        sg__unref(t);
    }
    free(p->items);
    free(p->groups);
}

static bool add_group(tape_group g) {
    if (g_tape.ngroups == g_tape.gcap) {
        size_t cap = g_tape.gcap ? 2 * g_tape.gcap : TAPE_MIN_CAP;
        tape_group *ng = realloc(g_tape.groups, cap * sizeof *ng);
        if (!ng) return false;
        g_tape.groups = ng;
        g_tape.gcap = cap;
    }
    g_tape.groups[g_tape.ngroups++] = g;
    return true;
}

typedef struct {
    sg_part_fn fn;
    void *arg;
    bool grad;                /* the caller's grad mode, for both parts */
    tape_t tape[PAR_PARTS];   /* what each part recorded */
} record_job;

/* Part k on a fresh tape of its own; the thread's own tape and grad mode are restored after. */
static int record_part(int k, void *ctx) {
    record_job *j = ctx;
    tape_t own = g_tape; /* the caller's tape on thread 0; the helper's (normally empty) on 1 */
    bool own_no_grad = g_no_grad;
    g_tape = (tape_t){0};
    g_no_grad = !j->grad;
    int rc = j->fn(k, j->arg);
    j->tape[k] = g_tape;
    g_tape = own;
    g_no_grad = own_no_grad;
    return rc;
}

int sg__tape_parallel(sg_part_fn fn, void *arg) {
    if (!can_run_parts()) {
        int rc = fn(0, arg);
        return rc ? rc : fn(1, arg);
    }
    record_job j = {.fn = fn, .arg = arg, .grad = !g_no_grad};
    part_error e[PAR_PARTS] = {0};
    run_two(record_part, &j, e);
    size_t start = g_tape.len, mid = start + j.tape[0].len, end = mid + j.tape[1].len;
    bool ok = true;
    for (int k = 0; k < PAR_PARTS; k++) {
        ok = ok && splice(&j.tape[k]);
        drop_part(&j.tape[k]); /* frees only what could not be spliced */
    }
    if (ok && mid > start && end > mid) ok = add_group((tape_group){start, mid, end});
    if (!ok) return sg_set_error(SG_ERR_MEM, "out of memory (tape)");
    return first_error(e);
}

sg_tensor *sg_detach(sg_tensor *t) {
    if (!sg__check_arg(t, "sg_detach", "t")) return NULL;
    return sg__out_view(t, t->ndim, t->shape, t->stride, t->offset);
}

bool sg__tape_reads(size_t mark, const sg_tensor *t) {
    const sg_storage *st = t->storage;
    for (size_t i = mark; i < g_tape.len; i++) {
        const sg_node *n = g_tape.items[i]->node;
        if (!n) continue;
        for (int k = 0; k < n->n_in; k++)
            if ((n->reads & sg__reads_bit(k)) && n->in[k]->storage == st) return true;
        for (int k = 0; k < SG_NODE_SAVED; k++)
            if (n->saved[k] && n->saved[k]->storage == st) return true;
    }
    return false;
}
