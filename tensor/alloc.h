/* The one place seqgrad's library code allocates heap memory, with a test-only failure hook.
 * Internal (not installed). Included by tensor_impl.h, so every library file that includes it
 * has malloc, calloc, realloc, aligned_alloc, strdup and strndup routed to sg__malloc & co. below (the
 * system headers are included first, so their declarations are untouched); free() stays free().
 * Memory from them is released with free() as usual. Allocations made inside other libraries
 * (OpenBLAS, oneDNN, libc's stdio) are not counted.
 *
 * Allocation-failure injection (tests/test_alloc_fail.c, as SQLite's malloc tests): after
 * sg__alloc_fail_at(n, sticky) the n-th library allocation from then on (1-based, all threads
 * counted together) returns NULL, and with sticky every later one too, until
 * sg__alloc_fail_at(0, false) disarms it. sg__alloc_count() is the number of allocations since
 * the last sg__alloc_fail_at call (failed ones included), so a test learns how many allocations a
 * workload makes and then fails each of them in turn. Always compiled in: the cost is one
 * relaxed atomic increment and one load per allocation. */
#ifndef SG_ALLOC_H
#define SG_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *sg__malloc(size_t n);
void *sg__calloc(size_t n, size_t size);
void *sg__realloc(void *p, size_t n);
void *sg__aligned_alloc(size_t align, size_t n);
char *sg__strdup(const char *s);
char *sg__strndup(const char *s, size_t n);

/* Arms (n >= 1) or disarms (n == 0) the failure of the n-th allocation from now; resets the count. */
void sg__alloc_fail_at(int64_t n, bool sticky);
/* Allocations since the last sg__alloc_fail_at (or process start), failed ones included. */
int64_t sg__alloc_count(void);
/* Allocations that the hook made fail since the last sg__alloc_fail_at. */
int64_t sg__alloc_failed(void);

#ifndef SG_ALLOC_IMPL
#define malloc(n) sg__malloc(n)
#define calloc(n, s) sg__calloc(n, s)
#define realloc(p, n) sg__realloc(p, n)
#define aligned_alloc(a, n) sg__aligned_alloc(a, n)
#define strdup(s) sg__strdup(s)
#define strndup(s, n) sg__strndup(s, n)
#endif

#endif
