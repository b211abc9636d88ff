/* Strict recursive-descent JSON parser into an owned tree (see json_impl.h).
 * Every read of the input is checked against its length; it is not a streaming parser and keeps
 * no floating-point values. */
#include "json_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    UNI_SURROGATE_HI_MIN = 0xD800,
    UNI_SURROGATE_HI_MAX = 0xDBFF,
    UNI_SURROGATE_LO_MIN = 0xDC00,
    UNI_SURROGATE_LO_MAX = 0xDFFF,
    UNI_SUPPLEMENTARY_BASE = 0x10000,
    HEX_ESCAPE_DIGITS = 4,
    JSON_FIRST_PRINTABLE = 0x20, /* bytes below are control characters, not allowed raw in strings */
};

typedef struct {
    const char *s;
    size_t n, i;
    int depth;
    long nvalues;
    sg_json_error *err;
} parser;

__attribute__((format(printf, 3, 4))) static bool fail_at(parser *p, size_t pos, const char *fmt, ...) {
    p->err->pos = pos;
    p->err->oom = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
    va_end(ap);
    return false;
}
static bool fail_oom(parser *p) {
    fail_at(p, p->i, "out of memory");
    p->err->oom = true;
    return false;
}

static void skip_ws(parser *p) {
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->i++;
    }
}

/* "end of input" or "'x'" / "byte 0x.." for messages */
static const char *describe(const parser *p, size_t at, char *buf, size_t bn) {
    if (at >= p->n) return "end of input";
    unsigned char c = (unsigned char)p->s[at];
    if (c >= JSON_FIRST_PRINTABLE && c < 0x7F) snprintf(buf, bn, "'%c'", c);
    else snprintf(buf, bn, "byte 0x%02X", c);
    return buf;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* 4 hex digits at s[k..k+4) (caller checked bounds) -> code unit, or -1 */
static long hex4(const char *s, size_t k) {
    long v = 0;
    for (int d = 0; d < HEX_ESCAPE_DIGITS; d++) {
        int h = hexval(s[k + (size_t)d]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

static size_t utf8_encode(unsigned long cp, char *o) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence starting at s[k] (k < end), or 0 if invalid
 * (overlong forms, surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_seq(const unsigned char *s, size_t k, size_t end) {
    unsigned char c = s[k];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if (end - k < len) return 0;
    if (s[k + 1] < lo || s[k + 1] > hi) return 0;
    for (size_t j = 2; j < len; j++)
        if (s[k + j] < 0x80 || s[k + j] > 0xBF) return 0;
    return len;
}

/* p->i at the opening quote. Decodes into a fresh NUL-terminated buffer. */
static bool parse_string(parser *p, char **out, size_t *outlen) {
    size_t start = p->i + 1, end = start;
    while (end < p->n && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->n) return fail_at(p, p->i, "unterminated string");
    char *buf = malloc(end - start + 1); /* decoding never grows the text */
    if (!buf) return fail_oom(p);
    const unsigned char *u = (const unsigned char *)p->s;
    size_t o = 0, k = start;
    while (k < end) {
        unsigned char c = u[k];
        if (c < JSON_FIRST_PRINTABLE) {
            free(buf);
            return fail_at(p, k, "control character 0x%02X in string (must be escaped)", c);
        }
        if (c >= 0x80) {
            size_t len = utf8_seq(u, k, end);
            if (!len) {
                free(buf);
                return fail_at(p, k, "invalid UTF-8 in string");
            }
            memcpy(buf + o, p->s + k, len);
            o += len;
            k += len;
            continue;
        }
        if (c != '\\') {
            buf[o++] = (char)c;
            k++;
            continue;
        }
        char e = p->s[k + 1]; /* k + 1 < end: the scan above consumed escapes in pairs */
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e != '\0' && simple && e != 'u') {
            static const char MAP[] = "\"\\/\b\f\n\r\t";
            buf[o++] = MAP[simple - "\"\\/bfnrt"];
            k += 2;
            continue;
        }
        if (e != 'u') {
            char d[16];
            free(buf);
            return fail_at(p, k, "invalid escape '\\' followed by %s", describe(p, k + 1, d, sizeof d));
        }
        if (end - k < 2 + HEX_ESCAPE_DIGITS || hex4(p->s, k + 2) < 0) {
            free(buf);
            return fail_at(p, k, "\\u escape needs 4 hex digits");
        }
        unsigned long cp = (unsigned long)hex4(p->s, k + 2);
        k += 2 + HEX_ESCAPE_DIGITS;
        if (cp >= UNI_SURROGATE_HI_MIN && cp <= UNI_SURROGATE_HI_MAX) {
            long lo = -1;
            if (end - k >= 2 + HEX_ESCAPE_DIGITS && p->s[k] == '\\' && p->s[k + 1] == 'u')
                lo = hex4(p->s, k + 2);
            if (lo < UNI_SURROGATE_LO_MIN || lo > UNI_SURROGATE_LO_MAX) {
                free(buf);
                return fail_at(p, k, "high surrogate \\u%04lX not followed by a low surrogate", cp);
            }
            cp = UNI_SUPPLEMENTARY_BASE + ((cp - UNI_SURROGATE_HI_MIN) << 10) +
                 ((unsigned long)lo - UNI_SURROGATE_LO_MIN);
            k += 2 + HEX_ESCAPE_DIGITS;
        } else if (cp >= UNI_SURROGATE_LO_MIN && cp <= UNI_SURROGATE_LO_MAX) {
            free(buf);
            return fail_at(p, k, "lone low surrogate \\u%04lX", cp);
        } else if (cp == 0) {
            free(buf);
            return fail_at(p, k, "\\u0000 in string is not supported");
        }
        o += utf8_encode(cp, buf + o);
    }
    buf[o] = '\0';
    *out = buf;
    *outlen = o;
    p->i = end + 1;
    return true;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool parse_number(parser *p, sg_json *v) {
    size_t k = p->i;
    bool neg = false, overflow = false, integral = true;
    uint64_t mag = 0;
    if (p->s[k] == '-') {
        neg = true;
        k++;
    }
    if (k >= p->n || !is_digit(p->s[k])) return fail_at(p, k, "invalid number: expected a digit");
    if (p->s[k] == '0') {
        k++;
        if (k < p->n && is_digit(p->s[k])) return fail_at(p, k, "invalid number: leading zero");
    } else {
        while (k < p->n && is_digit(p->s[k])) {
            uint64_t d = (uint64_t)(p->s[k] - '0');
            if (mag > (UINT64_MAX - d) / 10) overflow = true;
            else mag = mag * 10 + d;
            k++;
        }
    }
    if (k < p->n && p->s[k] == '.') {
        integral = false;
        k++;
        if (k >= p->n || !is_digit(p->s[k])) return fail_at(p, k, "invalid number: digit expected after '.'");
        while (k < p->n && is_digit(p->s[k])) k++;
    }
    if (k < p->n && (p->s[k] == 'e' || p->s[k] == 'E')) {
        integral = false;
        k++;
        if (k < p->n && (p->s[k] == '+' || p->s[k] == '-')) k++;
        if (k >= p->n || !is_digit(p->s[k]))
            return fail_at(p, k, "invalid number: digit expected in exponent");
        while (k < p->n && is_digit(p->s[k])) k++;
    }
    const uint64_t neg_limit = (uint64_t)INT64_MAX + 1;
    v->type = SG_JSON_NUMBER;
    v->is_int = integral && !overflow && mag <= (neg ? neg_limit : (uint64_t)INT64_MAX);
    if (v->is_int) v->ival = neg ? (mag == neg_limit ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    p->i = k;
    return true;
}

static bool parse_literal(parser *p, const char *word) {
    size_t len = strlen(word);
    if (p->n - p->i < len || memcmp(p->s + p->i, word, len) != 0) {
        char d[16];
        return fail_at(p, p->i, "unexpected %s (expected a value)", describe(p, p->i, d, sizeof d));
    }
    p->i += len;
    return true;
}

static int cmp_keys(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Duplicate keys are found by sorting a copy of the key pointers (objects may hold many keys). */
static bool check_duplicates(parser *p, const sg_json *v) {
    if (v->n < 2) return true;
    char **ks = malloc((size_t)v->n * sizeof *ks);
    if (!ks) return fail_oom(p);
    memcpy(ks, v->keys, (size_t)v->n * sizeof *ks);
    qsort(ks, (size_t)v->n, sizeof *ks, cmp_keys);
    for (int j = 1; j < v->n; j++)
        if (strcmp(ks[j - 1], ks[j]) == 0) {
            fail_at(p, v->pos, "duplicate key \"%.80s\" in object", ks[j]);
            free(ks);
            return false;
        }
    free(ks);
    return true;
}

static bool parse_value(parser *p, sg_json *v);

/* Make room for member n of v (items, and keys for objects); the new slot is zeroed. */
static bool grow(parser *p, sg_json *v, int *cap) {
    if (v->n < *cap) return true;
    int nc = *cap ? *cap * 2 : 4;
    sg_json *it = realloc(v->items, (size_t)nc * sizeof *it);
    if (!it) return fail_oom(p);
    v->items = it;
    if (v->type == SG_JSON_OBJECT) {
        char **ks = realloc(v->keys, (size_t)nc * sizeof *ks);
        if (!ks) return fail_oom(p);
        v->keys = ks;
    }
    *cap = nc;
    return true;
}

/* p->i at '[' or '{'. Members are counted in v->n as soon as their slot exists, so a failure
 * part-way leaves a tree sg__json_free can release. */
static bool parse_container(parser *p, sg_json *v, bool object) {
    char d[16];
    char close = object ? '}' : ']';
    if (++p->depth > SG_JSON_MAX_DEPTH)
        return fail_at(p, p->i, "nesting deeper than %d levels", SG_JSON_MAX_DEPTH);
    v->type = object ? SG_JSON_OBJECT : SG_JSON_ARRAY;
    int cap = 0;
    p->i++;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == close) {
        p->i++;
        p->depth--;
        return true;
    }
    for (;;) {
        if (!grow(p, v, &cap)) return false;
        sg_json *m = &v->items[v->n];
        memset(m, 0, sizeof *m);
        if (object) {
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != '"')
                return fail_at(p, p->i, "expected a string key in object, found %s",
                               describe(p, p->i, d, sizeof d));
            char *key;
            size_t klen;
            if (!parse_string(p, &key, &klen)) return false;
            v->keys[v->n] = key;
            v->n++;
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':')
                return fail_at(p, p->i, "expected ':' after object key, found %s",
                               describe(p, p->i, d, sizeof d));
            p->i++;
        } else {
            v->n++;
        }
        if (!parse_value(p, m)) return false;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == close) {
            p->i++;
            break;
        }
        return fail_at(p, p->i, "expected ',' or '%c' in %s, found %s", close, object ? "object" : "array",
                       describe(p, p->i, d, sizeof d));
    }
    p->depth--;
    return object ? check_duplicates(p, v) : true;
}

static bool parse_value(parser *p, sg_json *v) {
    char d[16];
    skip_ws(p);
    v->pos = p->i;
    if (++p->nvalues > SG_JSON_MAX_VALUES)
        return fail_at(p, p->i, "more than %d values in document", SG_JSON_MAX_VALUES);
    if (p->i >= p->n) return fail_at(p, p->i, "unexpected end of input (expected a value)");
    char c = p->s[p->i];
    switch (c) {
    case '{':
        return parse_container(p, v, true);
    case '[':
        return parse_container(p, v, false);
    case '"':
        v->type = SG_JSON_STRING;
        return parse_string(p, &v->str, &v->len);
    case 't':
        v->type = SG_JSON_BOOL;
        v->bval = true;
        return parse_literal(p, "true");
    case 'f':
        v->type = SG_JSON_BOOL;
        return parse_literal(p, "false");
    case 'n':
        v->type = SG_JSON_NULL;
        return parse_literal(p, "null");
    default:
        if (c == '-' || is_digit(c)) return parse_number(p, v);
        return fail_at(p, p->i, "unexpected %s (expected a value)", describe(p, p->i, d, sizeof d));
    }
}

static void free_contents(sg_json *v) {
    if (v->type == SG_JSON_STRING) free(v->str);
    if (v->type == SG_JSON_ARRAY || v->type == SG_JSON_OBJECT) {
        for (int j = 0; j < v->n; j++) {
            free_contents(&v->items[j]);
            if (v->keys) free(v->keys[j]);
        }
        free(v->items);
        free(v->keys);
    }
}

void sg__json_free(sg_json *v) {
    if (!v) return;
    free_contents(v);
    free(v);
}

sg_json *sg__json_parse(const char *s, size_t n, sg_json_error *err) {
    sg_json_error dummy;
    if (!err) err = &dummy;
    memset(err, 0, sizeof *err);
    parser p = {.s = s, .n = s ? n : 0, .err = err};
    sg_json *root = calloc(1, sizeof *root);
    if (!root) {
        fail_oom(&p);
        return NULL;
    }
    bool ok = parse_value(&p, root);
    if (ok) {
        skip_ws(&p);
        if (p.i < p.n) {
            char d[16];
            ok = fail_at(&p, p.i, "unexpected %s after the end of the JSON value",
                         describe(&p, p.i, d, sizeof d));
        }
    }
    if (!ok) {
        sg__json_free(root);
        return NULL;
    }
    return root;
}

const sg_json *sg__json_get(const sg_json *obj, const char *key) {
    if (!obj || obj->type != SG_JSON_OBJECT || !key) return NULL;
    for (int j = 0; j < obj->n; j++)
        if (strcmp(obj->keys[j], key) == 0) return &obj->items[j];
    return NULL;
}

const char *sg__json_type_name(sg_json_type t) {
    static const char *const NAMES[] = {"null", "boolean", "number", "string", "array", "object"};
    _Static_assert(sizeof NAMES / sizeof NAMES[0] == SG_JSON_TYPE_COUNT, "json type names");
    return (unsigned)t < SG_JSON_TYPE_COUNT ? NAMES[t] : "?";
}

bool sg__json_utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t k = 0; k < n;) {
        if (u[k] < 0x80) {
            k++;
            continue;
        }
        size_t len = utf8_seq(u, k, n);
        if (!len) return false;
        k += len;
    }
    return true;
}
