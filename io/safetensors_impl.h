/* Internal pieces shared by the safetensors reader and writer: the dtype table and little-endian
 * byte helpers. Not installed; users go through io/safetensors.h. */
#ifndef SG_SAFETENSORS_IMPL_H
#define SG_SAFETENSORS_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "safetensors.h"

/* Bytes of the u64 header-length prefix, and the alignment the header is padded to. */
#define SG_ST_PREFIX 8
#define SG_ST_ALIGN 8
#define SG_ST_METADATA_KEY "__metadata__"

/* Every dtype of the format with a whole-byte item size. */
typedef enum {
    SG_ST_BOOL,
    SG_ST_U8,
    SG_ST_I8,
    SG_ST_F8_E5M2,
    SG_ST_F8_E4M3,
    SG_ST_F8_E8M0,
    SG_ST_I16,
    SG_ST_U16,
    SG_ST_F16,
    SG_ST_BF16,
    SG_ST_I32,
    SG_ST_U32,
    SG_ST_F32,
    SG_ST_F64,
    SG_ST_I64,
    SG_ST_U64,
    SG_ST_DTYPE_COUNT
} sg_st_dtype_id;

typedef struct {
    const char *name; /* as in the header: "F32" */
    size_t size;      /* bytes per element */
} sg_st_dtype_info;

extern const sg_st_dtype_info sg__st_dtypes[SG_ST_DTYPE_COUNT];
/* Dtype id of a header dtype string, or -1 when unknown. */
int sg__st_dtype_parse(const char *s);

static inline bool sg__host_le(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static inline uint64_t sg__load_le(const unsigned char *p, size_t nbytes) {
    uint64_t v = 0;
    for (size_t i = 0; i < nbytes; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline void sg__store_le(unsigned char *p, uint64_t v, size_t nbytes) {
    for (size_t i = 0; i < nbytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Reverse the bytes of each of n items of itemsize bytes in place (host <-> little-endian on a
 * big-endian host). */
static inline void sg__swap_items(void *buf, size_t n, size_t itemsize) {
    unsigned char *b = buf;
    for (size_t i = 0; i < n; i++, b += itemsize)
        for (size_t j = 0; j < itemsize / 2; j++) {
            unsigned char t = b[j];
            b[j] = b[itemsize - 1 - j];
            b[itemsize - 1 - j] = t;
        }
}

#endif
