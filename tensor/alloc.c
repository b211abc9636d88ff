/* seqgrad's allocation functions and the failure-injection hook (see alloc.h). */
#define SG_ALLOC_IMPL
#include "alloc.h"

static int64_t g_count;  /* allocations since the last arm/disarm */
static int64_t g_fail_at; /* 0: disarmed */
static int64_t g_failed;
static bool g_sticky;

/* true when this allocation is to fail */
static bool inject(void) {
    int64_t k = __atomic_add_fetch(&g_count, 1, __ATOMIC_RELAXED);
    int64_t at = __atomic_load_n(&g_fail_at, __ATOMIC_RELAXED);
    if (at == 0 || k < at || (k > at && !__atomic_load_n(&g_sticky, __ATOMIC_RELAXED))) return false;
    __atomic_add_fetch(&g_failed, 1, __ATOMIC_RELAXED);
    return true;
}

void *sg__malloc(size_t n) { return inject() ? NULL : malloc(n); }
void *sg__calloc(size_t n, size_t size) { return inject() ? NULL : calloc(n, size); }
void *sg__realloc(void *p, size_t n) { return inject() ? NULL : realloc(p, n); }
void *sg__aligned_alloc(size_t align, size_t n) { return inject() ? NULL : aligned_alloc(align, n); }
char *sg__strdup(const char *s) { return inject() ? NULL : strdup(s); }
char *sg__strndup(const char *s, size_t n) { return inject() ? NULL : strndup(s, n); }

void sg__alloc_fail_at(int64_t n, bool sticky) {
    __atomic_store_n(&g_fail_at, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&g_count, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&g_failed, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&g_sticky, sticky, __ATOMIC_RELAXED);
    __atomic_store_n(&g_fail_at, n > 0 ? n : 0, __ATOMIC_RELEASE);
}
int64_t sg__alloc_count(void) { return __atomic_load_n(&g_count, __ATOMIC_RELAXED); }
int64_t sg__alloc_failed(void) { return __atomic_load_n(&g_failed, __ATOMIC_RELAXED); }
