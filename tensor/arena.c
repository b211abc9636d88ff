/* A recycling arena of tensor headers and storage, for computations that record nothing and must
 * not allocate once warm (nn/rnn_stream.c: a streaming step through a cell definition's ops).
 * While an arena is current on a thread, every op result (sg__alloc, sg__view) takes the next
 * header and storage slot of the arena instead of the heap; sg__arena_rewind makes the slots
 * after a mark free for the next round, which reuses them (a slot's data grows only when a round
 * needs more than any earlier one). Headers are registered once, when made, so ops accept them
 * as live arguments; they are never on a tape, and sg__unref leaves them alone.
 * Not a general allocator: user tensors (sg_zeros ...) never come from an arena, and results
 * made in an arena are dead (but still look live) after a rewind past them; the owner never hands
 * them to a user. */
#include <stdlib.h>
#include <string.h>

#include "tensor_impl.h"

bool sg__registry_add(const void *p);
void sg__registry_remove(const void *p);

enum { ARENA_MIN_SLOTS = 64, ARENA_ALIGN = 64 };

struct sg__arena {
    sg_tensor **t;    /* header slots: [0, nt) in use, [nt, made_t) free, capacity cap_t */
    size_t nt, made_t, cap_t;
    sg_storage **st;  /* storage slots, likewise */
    size_t nst, made_st, cap_st;
};

static _Thread_local sg__arena *g_cur;

sg__arena *sg__arena_new(void) { return calloc(1, sizeof(sg__arena)); }

sg__arena *sg__arena_enter(sg__arena *a) {
    sg__arena *prev = g_cur;
    g_cur = a;
    return prev;
}

sg__arena *sg__arena_current(void) { return g_cur; }

sg__arena_mark sg__arena_mark_now(const sg__arena *a) { return (sg__arena_mark){a->nt, a->nst}; }

void sg__arena_rewind(sg__arena *a, sg__arena_mark m) {
    for (size_t i = m.nt; i < a->nt; i++) {
        sg_tensor *t = a->t[i];
        if (t->storage && !t->storage->arena) sg__storage_unref(t->storage); /* a borrowed view */
        t->storage = NULL;
    }
    if (m.nt < a->nt) a->nt = m.nt;
    if (m.nst < a->nst) a->nst = m.nst;
}

void sg__arena_free(sg__arena *a) {
    if (!a) return;
    sg__arena_rewind(a, (sg__arena_mark){0, 0});
    for (size_t i = 0; i < a->made_t; i++) {
        sg__registry_remove(a->t[i]);
        free(a->t[i]);
    }
    for (size_t i = 0; i < a->made_st; i++) {
        free(a->st[i]->data);
        free(a->st[i]);
    }
    free(a->t);
    free(a->st);
    free(a);
}

/* grows a slot array to hold one more (amortised doubling) */
static bool room(void ***arr, size_t made, size_t *cap) {
    if (made < *cap) return true;
    size_t n = *cap ? 2 * *cap : ARENA_MIN_SLOTS;
    void **na = realloc(*arr, n * sizeof *na);
    if (!na) return false;
    *arr = na;
    *cap = n;
    return true;
}

sg_tensor *sg__arena_header(sg__arena *a) {
    if (a->nt == a->made_t) {
        if (!room((void ***)&a->t, a->made_t, &a->cap_t)) return NULL;
        sg_tensor *t = calloc(1, sizeof *t);
        if (!t) return NULL;
        if (!sg__registry_add(t)) {
            free(t);
            return NULL;
        }
        a->t[a->made_t++] = t;
    }
    sg_tensor *t = a->t[a->nt++];
    memset(t, 0, sizeof *t);
    t->flags = SG_FLAG_ARENA;
    t->refcount = 1;
    return t;
}

sg_storage *sg__arena_storage(sg__arena *a, size_t nbytes, bool zero) {
    size_t cap = (nbytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (!cap) cap = ARENA_ALIGN;
    if (a->nst == a->made_st) {
        if (!room((void ***)&a->st, a->made_st, &a->cap_st)) return NULL;
        sg_storage *st = calloc(1, sizeof *st);
        if (!st) return NULL;
        st->arena = true;
        a->st[a->made_st++] = st;
    }
    sg_storage *st = a->st[a->nst];
    if (st->capacity < cap) { /* this round needs more than any before it */
        void *d = aligned_alloc(ARENA_ALIGN, cap);
        if (!d) return NULL;
        free(st->data);
        st->data = d;
        st->capacity = cap;
    }
    a->nst++;
    st->nbytes = nbytes;
    st->refcount = 1;
    sg__bump(st); /* new contents: a stale reader's version check fails */
    if (zero) memset(st->data, 0, nbytes);
    return st;
}
