/* Minimal strict JSON parser for file headers (safetensors): objects, arrays, strings with escapes
 * (\uXXXX incl. surrogate pairs -> UTF-8), numbers, true/false/null, into a small tree.
 * Internal to io/, not installed. Not a general JSON library: no doubles are kept (only whether a
 * number is an exact int64), no serialisation, no comments or other extensions.
 *
 * Safety: reads only s[0..n) (no NUL terminator needed), bounded recursion depth, bounded number
 * of values, rejects invalid UTF-8, control characters in strings, "\u0000" (strings are C
 * strings), duplicate object keys and trailing garbage (trailing whitespace is allowed). */
#ifndef SG_IO_JSON_H
#define SG_IO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../tensor/alloc.h" /* allocations through one place (failure injection) */

#define SG_JSON_MAX_DEPTH 64         /* nesting of arrays/objects */
#define SG_JSON_MAX_VALUES (1 << 22) /* values in one document (bounds memory per input byte) */
#define SG_JSON_MSG 160

typedef enum {
    SG_JSON_NULL,
    SG_JSON_BOOL,
    SG_JSON_NUMBER,
    SG_JSON_STRING,
    SG_JSON_ARRAY,
    SG_JSON_OBJECT,
    SG_JSON_TYPE_COUNT
} sg_json_type;

typedef struct sg_json sg_json;
struct sg_json {
    sg_json_type type;
    size_t pos;     /* byte offset of the value's first character in the input */
    bool bval;      /* BOOL */
    bool is_int;    /* NUMBER: written without fraction/exponent and fits int64 */
    int64_t ival;   /* NUMBER when is_int */
    char *str;      /* STRING: decoded UTF-8, NUL-terminated (owned) */
    size_t len;     /* STRING: bytes in str without the NUL */
    int n;          /* ARRAY/OBJECT: member count */
    sg_json *items; /* ARRAY/OBJECT: n members in document order (owned) */
    char **keys;    /* OBJECT: n decoded keys, NUL-terminated (owned) */
};

typedef struct {
    size_t pos;            /* byte offset in the input where the problem was found */
    bool oom;              /* failure was an allocation, not the input */
    char msg[SG_JSON_MSG]; /* what is wrong, e.g. "expected ':' after object key" */
} sg_json_error;

/* Parse the n bytes at s as one JSON value. Returns an owned tree (free with sg__json_free), or
 * NULL with *err filled. Never sets the seqgrad error state (the caller adds context). */
sg_json *sg__json_parse(const char *s, size_t n, sg_json_error *err);
void sg__json_free(sg_json *v);
/* Member of an object by key, or NULL (also when obj is not an object). Borrowed. */
const sg_json *sg__json_get(const sg_json *obj, const char *key);
const char *sg__json_type_name(sg_json_type t);
/* True when s[0..n) is valid UTF-8 (same rules as the parser: no overlong forms or surrogates). */
bool sg__json_utf8_valid(const char *s, size_t n);

#endif
