/* Live-tensor registry: a pointer hash set so that every public call can tell a live tensor from a
 * freed or foreign pointer without dereferencing it. Open addressing with tombstones, one mutex.
 * It is a safety net for user calls, not an allocator. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "tensor_impl.h"

#define TOMBSTONE ((const void *)(uintptr_t)1)
enum { REG_MIN_CAP = 1024 };

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static const void **g_slots;
static size_t g_cap, g_used, g_live; /* used counts live + tombstones */

static size_t hash_ptr(const void *p) {
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static bool grow(size_t want) {
    size_t cap = REG_MIN_CAP;
    while (cap < 2 * want) cap *= 2;
    const void **ns = calloc(cap, sizeof *ns);
    if (!ns) return false;
    for (size_t i = 0; i < g_cap; i++) {
        const void *p = g_slots[i];
        if (!p || p == TOMBSTONE) continue;
        size_t h = hash_ptr(p) & (cap - 1);
        while (ns[h]) h = (h + 1) & (cap - 1);
        ns[h] = p;
    }
    free(g_slots);
    g_slots = ns;
    g_cap = cap;
    g_used = g_live;
    return true;
}

bool sg__registry_add(const void *p) {
    pthread_mutex_lock(&g_lock);
    bool ok = true;
    if ((g_used + 1) * 4 > g_cap * 3) ok = grow(g_live + 1);
    if (ok) {
        size_t h = hash_ptr(p) & (g_cap - 1);
        while (g_slots[h] && g_slots[h] != TOMBSTONE) h = (h + 1) & (g_cap - 1);
        if (!g_slots[h]) g_used++;
        g_slots[h] = p;
        g_live++;
    }
    pthread_mutex_unlock(&g_lock);
    return ok;
}

static size_t find(const void *p) {
    if (!g_cap) return SIZE_MAX;
    size_t h = hash_ptr(p) & (g_cap - 1);
    while (g_slots[h]) {
        if (g_slots[h] == p) return h;
        h = (h + 1) & (g_cap - 1);
    }
    return SIZE_MAX;
}

void sg__registry_remove(const void *p) {
    pthread_mutex_lock(&g_lock);
    size_t h = find(p);
    if (h != SIZE_MAX) {
        g_slots[h] = TOMBSTONE;
        g_live--;
        if (g_live == 0) { /* everything freed: release the table (keeps leak checkers quiet) */
            free(g_slots);
            g_slots = NULL;
            g_cap = g_used = 0;
        }
    }
    pthread_mutex_unlock(&g_lock);
}

bool sg__registry_has(const void *p) {
    pthread_mutex_lock(&g_lock);
    bool r = find(p) != SIZE_MAX;
    pthread_mutex_unlock(&g_lock);
    return r;
}

size_t sg__registry_count(void) {
    pthread_mutex_lock(&g_lock);
    size_t n = g_live;
    pthread_mutex_unlock(&g_lock);
    return n;
}
