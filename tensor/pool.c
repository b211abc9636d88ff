/* A cache of freed tensor storage, so the intermediates of each training step reuse the previous
 * step's memory instead of faulting in fresh pages (large blocks come from mmap and would go back
 * to the OS on every free). Blocks are grouped in size classes, four per power of two (at most 25 %
 * slack). The cache holds at most SG_POOL_MAX_BYTES, or more when the process has already had
 * more storage live at once: then up to 1.25 times that high-water mark minus what is live now, so
 * the cache never grows the footprint (live + cached) much past a size the process already
 * reached, and a step larger than SG_POOL_MAX_BYTES (a long sequence) does not fault in its memory
 * afresh every time.
 * Emptied (and the high-water mark forgotten) by sg_release_cached_memory() and at exit.
 * Compiled out under AddressSanitizer so sanitizer runs see every allocation. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tensor_impl.h"

#if defined(__SANITIZE_ADDRESS__)
#define SG_POOL_ENABLED 0
#else
#define SG_POOL_ENABLED 1
#endif

enum {
    SG_POOL_ALIGN = 64,
    SG_POOL_MIN_SHIFT = 8,  /* classes start at 256 bytes */
    SG_POOL_SUB = 4,        /* classes per power of two */
    SG_POOL_CLASSES = 4 * 40,
    SG_POOL_PEAK_SLACK_DIV = 4, /* footprint up to 1 + 1/4 of the live high-water mark */
};
#define SG_POOL_MAX_BYTES ((size_t)1 << 30)

typedef struct block {
    struct block *next;
} block;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static block *g_free[SG_POOL_CLASSES];
static size_t g_cached;
static size_t g_live; /* bytes of size-class blocks handed out and not returned */
static size_t g_peak; /* high-water mark of g_live since the last release */
static bool g_atexit;

/* class index and its byte size for a request of n bytes */
static int size_class(size_t n, size_t *cap) {
    if (n < ((size_t)1 << SG_POOL_MIN_SHIFT)) n = (size_t)1 << SG_POOL_MIN_SHIFT;
    int p = 63 - __builtin_clzll((unsigned long long)n); /* 2^p <= n < 2^(p+1) */
    size_t step = ((size_t)1 << p) / SG_POOL_SUB;
    size_t k = (n - ((size_t)1 << p) + step - 1) / step; /* 0..SG_POOL_SUB */
    *cap = ((size_t)1 << p) + k * step;
    int c = (p - SG_POOL_MIN_SHIFT) * SG_POOL_SUB + (int)k;
    return c < SG_POOL_CLASSES ? c : -1;
}

/* byte size of class c (inverse of size_class) */
static size_t class_bytes(int c) {
    int p = c / SG_POOL_SUB + SG_POOL_MIN_SHIFT, k = c % SG_POOL_SUB;
    return ((size_t)1 << p) + (size_t)k * (((size_t)1 << p) / SG_POOL_SUB);
}

void sg_release_cached_memory(void) {
    pthread_mutex_lock(&g_lock);
    for (int c = 0; c < SG_POOL_CLASSES; c++)
        while (g_free[c]) {
            block *b = g_free[c];
            g_free[c] = b->next;
            free(b);
        }
    g_cached = 0;
    g_peak = g_live;
    pthread_mutex_unlock(&g_lock);
}

/* The most the cache may hold now (g_lock held): SG_POOL_MAX_BYTES, or what keeps the footprint
 * (live + cached) within SG_POOL_PEAK_SLACK times the live high-water mark. The slack is for
 * blocks of sizes a step needs later than its peak (they stay cached while the peak's sizes are
 * live); without it a step's largest blocks would be dropped and faulted in again every step. */
static size_t cache_limit(void) {
    size_t fp = g_peak + g_peak / SG_POOL_PEAK_SLACK_DIV;
    size_t room = fp > g_live ? fp - g_live : 0;
    return room > SG_POOL_MAX_BYTES ? room : SG_POOL_MAX_BYTES;
}

/* With g_lock held: drops cached blocks of classes other than keep, largest classes first, until
 * `need` more bytes fit under the limit. The sizes in use now (this step's) must not be locked out
 * by sizes a previous model or phase left behind. */
static void evict(int keep, size_t need) {
    for (int k = SG_POOL_CLASSES - 1; k >= 0 && g_cached + need > cache_limit(); k--) {
        if (k == keep) continue;
        size_t kcap = class_bytes(k);
        while (g_free[k] && g_cached + need > cache_limit()) {
            block *b = g_free[k];
            g_free[k] = b->next;
            g_cached -= kcap;
            free(b);
        }
    }
}

void *sg__pool_alloc(size_t nbytes, size_t *cap) {
    int c = size_class(nbytes, cap);
    if (SG_POOL_ENABLED && c >= 0) {
        pthread_mutex_lock(&g_lock);
        block *b = g_free[c];
        if (b) {
            g_free[c] = b->next;
            g_cached -= *cap;
        }
        g_live += *cap;
        if (g_live > g_peak) g_peak = g_live;
        if (!b) evict(-1, 0); /* a fresh block: keep live + cached within the limit */
        pthread_mutex_unlock(&g_lock);
        if (b) return b;
    }
    if (c < 0) *cap = (nbytes + SG_POOL_ALIGN - 1) & ~(size_t)(SG_POOL_ALIGN - 1);
    void *p = aligned_alloc(SG_POOL_ALIGN, *cap);
    if (!p && SG_POOL_ENABLED && c >= 0) {
        pthread_mutex_lock(&g_lock);
        g_live -= *cap;
        pthread_mutex_unlock(&g_lock);
    }
    return p;
}

void sg__pool_free(void *p, size_t cap) {
    if (!p) return;
    size_t c_cap;
    int c = SG_POOL_ENABLED ? size_class(cap, &c_cap) : -1;
    if (c >= 0 && c_cap == cap) {
        pthread_mutex_lock(&g_lock);
        g_live -= cap;
        evict(c, cap);
        bool keep = g_cached + cap <= cache_limit();
        if (keep) {
            ((block *)p)->next = g_free[c];
            g_free[c] = p;
            g_cached += cap;
            if (!g_atexit) g_atexit = atexit(sg_release_cached_memory) == 0;
        }
        pthread_mutex_unlock(&g_lock);
        if (keep) return;
    }
    free(p);
}
