/* Zero blocks of a bucket, for the sparse reduction in grads_mpi.c: which blocks of SG__BLOCK
 * elements hold a bit that is not zero, and packing / unpacking the blocks a map selects. No MPI.
 * Block k of an n-element bucket covers elements [k * SG__BLOCK, min((k + 1) * SG__BLOCK, n)). */
#include <string.h>

#include "dist_impl.h"

int64_t sg__blocks_count(int64_t n) { return (n + SG__BLOCK - 1) / SG__BLOCK; }

/* Elements [*lo, *hi) of blocks [k0, k1) of an n-element bucket. */
static void span(int64_t k0, int64_t k1, int64_t n, int64_t *lo, int64_t *hi) {
    *lo = k0 * SG__BLOCK;
    *hi = k1 * SG__BLOCK < n ? k1 * SG__BLOCK : n;
}

/* OR of the bits of x[0..m) as words of es bytes (4 or 8): zero iff every element is +0.0. memcpy
 * loads, so that reading a float as bits is defined; the loop vectorises. */
static uint64_t bits_or(const char *x, int64_t m, size_t es) {
    uint64_t acc = 0;
    if (es == sizeof(uint32_t)) {
        uint32_t a = 0;
        for (int64_t i = 0; i < m; i++) {
            uint32_t w;
            memcpy(&w, x + (size_t)i * sizeof w, sizeof w);
            a |= w;
        }
        acc = a;
    } else {
        for (int64_t i = 0; i < m; i++) {
            uint64_t w;
            memcpy(&w, x + (size_t)i * sizeof w, sizeof w);
            acc |= w;
        }
    }
    return acc;
}

int64_t sg__blocks_map(uint8_t *map, const char *x, int64_t n, size_t es) {
    int64_t nb = sg__blocks_count(n), set = 0;
    for (int64_t k = 0; k < nb; k++) {
        int64_t lo, hi;
        span(k, k + 1, n, &lo, &hi);
        const char *b = x + (size_t)lo * es; /* a dense block is decided by its first element */
        map[k] = bits_or(b, 1, es) != 0 || bits_or(b, hi - lo, es) != 0;
        set += map[k];
    }
    return set;
}

/* Calls the run [lo, hi) of elements for each maximal run of selected blocks in [k0, k1). */
#define FOR_RUNS(map, k0, k1, n, BODY)                                                             \
    for (int64_t k_ = (k0); k_ < (k1);) {                                                          \
        if (!(map)[k_]) {                                                                          \
            k_++;                                                                                  \
            continue;                                                                              \
        }                                                                                          \
        int64_t e_ = k_ + 1;                                                                       \
        while (e_ < (k1) && (map)[e_]) e_++;                                                       \
        int64_t lo, hi;                                                                            \
        span(k_, e_, (n), &lo, &hi);                                                               \
        BODY;                                                                                      \
        k_ = e_;                                                                                   \
    }

int64_t sg__blocks_selected(const uint8_t *map, int64_t k0, int64_t k1, int64_t n) {
    int64_t m = 0;
    FOR_RUNS(map, k0, k1, n, m += hi - lo)
    return m;
}

/* The selected blocks among [k0, k1) of x to the packed buffer p, in order (pack), or back. */
static int64_t copy_blocks(char *p, char *x, const uint8_t *map, int64_t k0, int64_t k1, int64_t n, size_t es,
                           bool pack) {
    int64_t m = 0;
    FOR_RUNS(map, k0, k1, n, {
        char *packed = p + (size_t)m * es;
        char *in_place = x + (size_t)lo * es;
        memcpy(pack ? packed : in_place, pack ? in_place : packed, (size_t)(hi - lo) * es);
        m += hi - lo;
    })
    return m;
}

int64_t sg__blocks_pack(char *dst, const char *x, const uint8_t *map, int64_t k0, int64_t k1, int64_t n,
                        size_t es) {
    return copy_blocks(dst, (char *)x, map, k0, k1, n, es, true); /* x only read */
}

void sg__blocks_unpack(char *x, const char *src, const uint8_t *map, int64_t k0, int64_t k1, int64_t n,
                       size_t es) {
    copy_blocks((char *)src, x, map, k0, k1, n, es, false); /* src only read */
}
