/* safetensors reader: reads a whole file, validates header and data layout once, then hands out
 * tensors by name (converted to float32/float64) or int64 arrays.
 * Not memory-mapped and not lazy: the file's bytes live in the sg_st_file until sg_st_close. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tensor/kernels.h"
#include "data_impl.h"
#include "json_impl.h"
#include "safetensors_impl.h"

const sg_st_dtype_info sg__st_dtypes[SG_ST_DTYPE_COUNT] = {
    [SG_ST_BOOL] = {"BOOL", 1},       [SG_ST_U8] = {"U8", 1},           [SG_ST_I8] = {"I8", 1},
    [SG_ST_F8_E5M2] = {"F8_E5M2", 1}, [SG_ST_F8_E4M3] = {"F8_E4M3", 1}, [SG_ST_F8_E8M0] = {"F8_E8M0", 1},
    [SG_ST_I16] = {"I16", 2},         [SG_ST_U16] = {"U16", 2},         [SG_ST_F16] = {"F16", 2},
    [SG_ST_BF16] = {"BF16", 2},       [SG_ST_I32] = {"I32", 4},         [SG_ST_U32] = {"U32", 4},
    [SG_ST_F32] = {"F32", 4},         [SG_ST_F64] = {"F64", 8},         [SG_ST_I64] = {"I64", 8},
    [SG_ST_U64] = {"U64", 8},
};

int sg__st_dtype_parse(const char *s) {
    for (int d = 0; d < SG_ST_DTYPE_COUNT; d++)
        if (strcmp(s, sg__st_dtypes[d].name) == 0) return d;
    return -1;
}

/* IEEE half: 1 sign, 5 exponent (bias 15), 10 mantissa bits. */
enum {
    HALF_EXP_SHIFT = 10,
    HALF_EXP_MASK = 0x1F,
    HALF_MANT_MASK = 0x3FF,
    HALF_EXP_BIAS_MANT = 25,
    HALF_SUBNORMAL_SCALE = -24,
    BF16_SHIFT = 16
};

static float half_to_float(uint16_t h) {
    int exp = (h >> HALF_EXP_SHIFT) & HALF_EXP_MASK;
    int mant = h & HALF_MANT_MASK;
    float v;
    if (exp == 0) v = ldexpf((float)mant, HALF_SUBNORMAL_SCALE);
    else if (exp == HALF_EXP_MASK) v = mant ? NAN : INFINITY;
    else v = ldexpf((float)(mant | (HALF_MANT_MASK + 1)), exp - HALF_EXP_BIAS_MANT);
    return (h >> 15) ? -v : v;
}

typedef struct {
    char *name;
    int dtype; /* sg_st_dtype_id */
    int ndim;
    int64_t *shape; /* ndim + 1 entries, so never NULL */
    int64_t numel;
    uint64_t begin, end; /* byte range in the data buffer */
} st_entry;

typedef struct {
    const char *name;
    int idx;
} name_ix;

struct sg_st_file {
    char *label; /* path, for messages */
    unsigned char *buf;
    size_t size;
    const unsigned char *data; /* after the header */
    size_t data_len;
    int n;
    st_entry *e;
    name_ix *by_name; /* sorted by name for sg_st_find */
    int nmeta;
    char **meta_keys, **meta_vals;
};

void sg_st_close(sg_st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) {
        free(f->e[i].name);
        free(f->e[i].shape);
    }
    for (int i = 0; i < f->nmeta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_vals[i]);
    }
    free(f->e);
    free(f->by_name);
    free(f->meta_keys);
    free(f->meta_vals);
    free(f->buf);
    free(f->label);
    free(f);
}

/* ---- validation of the header ---- */

enum { SG_ST_CTX = 512 }; /* "sg_st_open: 'path': tensor 'name'" prefix of a shape message */
#define FMT_FAIL(...) (sg_set_error(SG_ERR_FORMAT, __VA_ARGS__), false)

static bool take_meta(sg_st_file *f, sg_json *m) {
    if (m->type != SG_JSON_OBJECT)
        return FMT_FAIL("sg_st_open: '%s': \"__metadata__\" at header byte %zu is a JSON %s, expected an "
                        "object of strings",
                        f->label, m->pos, sg__json_type_name(m->type));
    f->meta_keys = calloc((size_t)m->n + 1, sizeof *f->meta_keys);
    f->meta_vals = calloc((size_t)m->n + 1, sizeof *f->meta_vals);
    if (!f->meta_keys || !f->meta_vals) {
        sg_set_error(SG_ERR_MEM, "sg_st_open: out of memory");
        return false;
    }
    for (int j = 0; j < m->n; j++) {
        if (m->items[j].type != SG_JSON_STRING)
            return FMT_FAIL("sg_st_open: '%s': metadata value of \"%.100s\" at header byte %zu is a JSON %s, "
                            "expected a string",
                            f->label, m->keys[j], m->items[j].pos, sg__json_type_name(m->items[j].type));
        f->meta_keys[j] = m->keys[j];
        f->meta_vals[j] = m->items[j].str;
        m->keys[j] = NULL; /* ownership moves to f */
        m->items[j].str = NULL;
        f->nmeta++;
    }
    return true;
}

/* Non-negative integer array member `key` of entry v, into out (room for n + 1). */
static bool int_array(sg_st_file *f, const char *tname, const sg_json *v, const char *key, int64_t **out,
                      int *count) {
    const sg_json *a = sg__json_get(v, key);
    if (!a)
        return FMT_FAIL("sg_st_open: '%s': tensor '%.200s' (header byte %zu) has no \"%s\"", f->label, tname,
                        v->pos, key);
    if (a->type != SG_JSON_ARRAY)
        return FMT_FAIL(
            "sg_st_open: '%s': tensor '%.200s': \"%s\" at header byte %zu is a JSON %s, expected an "
            "array of integers",
            f->label, tname, key, a->pos, sg__json_type_name(a->type));
    *out = malloc(((size_t)a->n + 1) * sizeof **out);
    if (!*out) {
        sg_set_error(SG_ERR_MEM, "sg_st_open: out of memory");
        return false;
    }
    for (int j = 0; j < a->n; j++) {
        const sg_json *x = &a->items[j];
        if (x->type != SG_JSON_NUMBER || !x->is_int || x->ival < 0)
            return FMT_FAIL("sg_st_open: '%s': tensor '%.200s': \"%s\" entry %d at header byte %zu is not "
                            "a non-negative integer",
                            f->label, tname, key, j, x->pos);
        (*out)[j] = x->ival;
    }
    *count = a->n;
    return true;
}

static bool take_entry(sg_st_file *f, st_entry *e, const char *name, const sg_json *v) {
    if (v->type != SG_JSON_OBJECT)
        return FMT_FAIL(
            "sg_st_open: '%s': tensor '%.200s' at header byte %zu is a JSON %s, expected an object", f->label,
            name, v->pos, sg__json_type_name(v->type));
    const sg_json *dt = sg__json_get(v, "dtype");
    if (!dt || dt->type != SG_JSON_STRING)
        return FMT_FAIL("sg_st_open: '%s': tensor '%.200s' (header byte %zu) has no string \"dtype\"",
                        f->label, name, v->pos);
    e->dtype = sg__st_dtype_parse(dt->str);
    if (e->dtype < 0)
        return FMT_FAIL("sg_st_open: '%s': tensor '%.200s': unknown dtype \"%.40s\" at header byte %zu",
                        f->label, name, dt->str, dt->pos);
    if (!int_array(f, name, v, "shape", &e->shape, &e->ndim)) return false;
    int64_t *off = NULL;
    int noff = 0;
    bool ok = int_array(f, name, v, "data_offsets", &off, &noff);
    if (ok && noff != 2)
        ok = FMT_FAIL("sg_st_open: '%s': tensor '%.200s': \"data_offsets\" has %d entries, expected 2",
                      f->label, name, noff);
    if (ok) {
        e->begin = (uint64_t)off[0];
        e->end = (uint64_t)off[1];
    }
    free(off);
    if (!ok) return false;
    char sb[SG_SHAPE_BUF];
    int64_t numel;
    char ctx[SG_ST_CTX];
    snprintf(ctx, sizeof ctx, "sg_st_open: '%s': tensor '%.200s'", f->label, name);
    /* also bounds the strides of a tensor with a 0 in its shape, e.g. [0, 2^40, 2^40] */
    if (!sg__file_shape_check(ctx, e->ndim, e->shape, &numel)) return false;
    e->numel = numel;
    const uint64_t nbytes = (uint64_t)numel * (uint64_t)sg__st_dtypes[e->dtype].size; /* <= INT64_MAX */
    if (e->begin > e->end || e->end > f->data_len)
        return FMT_FAIL("sg_st_open: '%s': tensor '%.200s': data_offsets [%llu,%llu] outside the data "
                        "buffer of %zu bytes (file truncated?)",
                        f->label, name, (unsigned long long)e->begin, (unsigned long long)e->end,
                        f->data_len);
    if (e->end - e->begin != nbytes)
        return FMT_FAIL("sg_st_open: '%s': tensor '%.200s': data_offsets [%llu,%llu] span %llu bytes but "
                        "shape %s of %s needs %llu",
                        f->label, name, (unsigned long long)e->begin, (unsigned long long)e->end,
                        (unsigned long long)(e->end - e->begin),
                        sg__shape_str(e->ndim, e->shape, sb, sizeof sb), sg__st_dtypes[e->dtype].name,
                        (unsigned long long)nbytes);
    return true;
}

typedef struct {
    uint64_t begin, end;
    int idx;
} span;

/* By offset; ties (zero-size tensors) in header order, so the order is fully determined. */
static int cmp_spans(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->idx - y->idx;
}

/* The tensors must tile [0, data_len) exactly: sorted by offset, each starts where the last ended. */
static bool check_tiling(sg_st_file *f) {
    span *sp = malloc(((size_t)f->n + 1) * sizeof *sp);
    if (!sp) {
        sg_set_error(SG_ERR_MEM, "sg_st_open: out of memory");
        return false;
    }
    for (int i = 0; i < f->n; i++) sp[i] = (span){f->e[i].begin, f->e[i].end, i};
    qsort(sp, (size_t)f->n, sizeof *sp, cmp_spans);
    uint64_t at = 0;
    const st_entry *prev = NULL;
    bool ok = true;
    for (int k = 0; k < f->n && ok; k++) {
        const st_entry *e = &f->e[sp[k].idx];
        if (e->begin < at)
            ok = FMT_FAIL("sg_st_open: '%s': tensor '%.200s' data_offsets [%llu,%llu] overlap tensor "
                          "'%.200s' [%llu,%llu]",
                          f->label, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                          prev->name, (unsigned long long)prev->begin, (unsigned long long)prev->end);
        else if (e->begin > at)
            ok = FMT_FAIL("sg_st_open: '%s': gap in the data buffer: bytes [%llu,%llu) before tensor "
                          "'%.200s' belong to no tensor",
                          f->label, (unsigned long long)at, (unsigned long long)e->begin, e->name);
        at = e->end;
        prev = e;
    }
    if (ok && at != f->data_len)
        ok = FMT_FAIL("sg_st_open: '%s': data buffer has %zu bytes but the tensors cover %llu (trailing "
                      "bytes)",
                      f->label, f->data_len, (unsigned long long)at);
    free(sp);
    return ok;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(((const name_ix *)a)->name, ((const name_ix *)b)->name);
}

/* Parse and validate f->buf (f->size bytes). */
static bool parse_file(sg_st_file *f) {
    if (f->size < SG_ST_PREFIX)
        return FMT_FAIL("sg_st_open: '%s': file is %zu bytes, shorter than the %d-byte header length",
                        f->label, f->size, SG_ST_PREFIX);
    uint64_t hlen = sg__load_le(f->buf, SG_ST_PREFIX);
    if (hlen > SG_ST_MAX_HEADER)
        return FMT_FAIL("sg_st_open: '%s': header length %llu (bytes 0-7) exceeds the limit of %u bytes "
                        "(not a safetensors file?)",
                        f->label, (unsigned long long)hlen, SG_ST_MAX_HEADER);
    if (hlen > f->size - SG_ST_PREFIX)
        return FMT_FAIL("sg_st_open: '%s': header length %llu (bytes 0-7) exceeds the %zu bytes after it "
                        "(file truncated?)",
                        f->label, (unsigned long long)hlen, f->size - SG_ST_PREFIX);
    f->data = f->buf + SG_ST_PREFIX + hlen;
    f->data_len = f->size - SG_ST_PREFIX - (size_t)hlen;
    sg_json_error jerr;
    sg_json *root = sg__json_parse((const char *)f->buf + SG_ST_PREFIX, (size_t)hlen, &jerr);
    if (!root) {
        if (jerr.oom)
            sg_set_error(SG_ERR_MEM, "sg_st_open: '%s': out of memory parsing the header", f->label);
        else
            sg_set_error(SG_ERR_FORMAT,
                         "sg_st_open: '%s': header JSON invalid at header byte %zu (file offset "
                         "%zu): %s",
                         f->label, jerr.pos, jerr.pos + SG_ST_PREFIX, jerr.msg);
        return false;
    }
    bool ok = true;
    if (root->type != SG_JSON_OBJECT)
        ok = FMT_FAIL("sg_st_open: '%s': header is a JSON %s, expected an object", f->label,
                      sg__json_type_name(root->type));
    if (ok) {
        f->e = calloc((size_t)root->n + 1, sizeof *f->e);
        if (!f->e) ok = (sg_set_error(SG_ERR_MEM, "sg_st_open: out of memory"), false);
    }
    for (int j = 0; ok && j < root->n; j++) {
        if (strcmp(root->keys[j], SG_ST_METADATA_KEY) == 0) {
            ok = take_meta(f, &root->items[j]);
            continue;
        }
        st_entry *e = &f->e[f->n];
        e->name = root->keys[j];
        root->keys[j] = NULL;
        f->n++;
        ok = take_entry(f, e, e->name, &root->items[j]);
    }
    sg__json_free(root);
    if (!ok || !check_tiling(f)) return false;
    f->by_name = malloc(((size_t)f->n + 1) * sizeof *f->by_name);
    if (!f->by_name) {
        sg_set_error(SG_ERR_MEM, "sg_st_open: out of memory");
        return false;
    }
    for (int i = 0; i < f->n; i++) f->by_name[i] = (name_ix){f->e[i].name, i};
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_names);
    return true;
}

static sg_st_file *file_new(const char *label) {
    sg_st_file *f = calloc(1, sizeof *f);
    if (f) f->label = strdup(label);
    if (!f || !f->label) {
        free(f);
        sg_set_error(SG_ERR_MEM, "sg_st_open: out of memory");
        return NULL;
    }
    return f;
}

sg_st_file *sg_st_open(const char *path) {
    if (!path) {
        sg_set_error(SG_ERR_NULL, "sg_st_open: argument 'path' is NULL");
        return NULL;
    }
    struct stat st;
    int fd = sg__open_regular("sg_st_open", path, &st);
    if (fd < 0) return NULL;
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        sg_set_error(SG_ERR_MEM, "sg_st_open: cannot open a stream on '%s': %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    sg_st_file *f = file_new(path);
    if (!f) {
        fclose(fp);
        return NULL;
    }
    f->size = (size_t)st.st_size;
    f->buf = malloc(f->size ? f->size : 1);
    if (!f->buf) {
        sg_set_error(SG_ERR_MEM, "sg_st_open: out of memory reading '%s' (%zu bytes)", path, f->size);
        fclose(fp);
        sg_st_close(f);
        return NULL;
    }
    size_t got = fread(f->buf, 1, f->size, fp);
    int rerr = ferror(fp) ? errno : 0;
    fclose(fp);
    if (got != f->size) {
        sg_set_error(SG_ERR_IO, "sg_st_open: reading '%s': got %zu of %zu bytes: %s", path, got, f->size,
                     rerr ? strerror(rerr) : "file shrank while reading");
        sg_st_close(f);
        return NULL;
    }
    if (!parse_file(f)) {
        sg_st_close(f);
        return NULL;
    }
    return f;
}

sg_st_file *sg_st_open_memory(const void *data, size_t size) {
    if (!data && size) {
        sg_set_error(SG_ERR_NULL, "sg_st_open_memory: argument 'data' is NULL");
        return NULL;
    }
    sg_st_file *f = file_new("<memory>");
    if (!f) return NULL;
    f->size = size;
    f->buf = malloc(size ? size : 1);
    if (!f->buf) {
        sg_set_error(SG_ERR_MEM, "sg_st_open_memory: out of memory (%zu bytes)", size);
        sg_st_close(f);
        return NULL;
    }
    if (size) memcpy(f->buf, data, size);
    if (!parse_file(f)) {
        sg_st_close(f);
        return NULL;
    }
    return f;
}

/* ---- queries ---- */

static bool check_file(const sg_st_file *f, const char *fn) {
    if (!f) sg_set_error(SG_ERR_NULL, "%s: argument 'f' is NULL", fn);
    return f != NULL;
}

static const st_entry *entry_at(const sg_st_file *f, int i, const char *fn) {
    if (!check_file(f, fn)) return NULL;
    if (i < 0 || i >= f->n) {
        sg_set_error(SG_ERR_ARG, "%s: index %d outside [0, %d)", fn, i, f->n);
        return NULL;
    }
    return &f->e[i];
}

int sg_st_count(const sg_st_file *f) { return check_file(f, "sg_st_count") ? f->n : sg_last_status(); }

const char *sg_st_name(const sg_st_file *f, int i) {
    const st_entry *e = entry_at(f, i, "sg_st_name");
    return e ? e->name : NULL;
}

int sg_st_find(const sg_st_file *f, const char *name) {
    if (!f || !name) return -1;
    name_ix key = {name, 0};
    const name_ix *hit = bsearch(&key, f->by_name, (size_t)f->n, sizeof key, cmp_names);
    return hit ? hit->idx : -1;
}

const char *sg_st_dtype(const sg_st_file *f, int i) {
    const st_entry *e = entry_at(f, i, "sg_st_dtype");
    return e ? sg__st_dtypes[e->dtype].name : NULL;
}

int sg_st_ndim(const sg_st_file *f, int i) {
    const st_entry *e = entry_at(f, i, "sg_st_ndim");
    return e ? e->ndim : sg_last_status();
}

const int64_t *sg_st_shape(const sg_st_file *f, int i) {
    const st_entry *e = entry_at(f, i, "sg_st_shape");
    return e ? e->shape : NULL;
}

int64_t sg_st_numel(const sg_st_file *f, int i) {
    const st_entry *e = entry_at(f, i, "sg_st_numel");
    return e ? e->numel : sg_last_status();
}

const char *sg_st_meta(const sg_st_file *f, const char *key) {
    if (!f || !key) return NULL;
    for (int i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_vals[i];
    return NULL;
}

int sg_st_meta_count(const sg_st_file *f) {
    return check_file(f, "sg_st_meta_count") ? f->nmeta : sg_last_status();
}

const char *sg_st_meta_key(const sg_st_file *f, int i) {
    if (!check_file(f, "sg_st_meta_key")) return NULL;
    if (i < 0 || i >= f->nmeta) {
        sg_set_error(SG_ERR_ARG, "sg_st_meta_key: index %d outside [0, %d)", i, f->nmeta);
        return NULL;
    }
    return f->meta_keys[i];
}

/* ---- data access ---- */

static const st_entry *lookup(const sg_st_file *f, const char *name, const char *fn) {
    if (!check_file(f, fn)) return NULL;
    if (!name) {
        sg_set_error(SG_ERR_NULL, "%s: argument 'name' is NULL", fn);
        return NULL;
    }
    int i = sg_st_find(f, name);
    if (i < 0) {
        sg_set_error(SG_ERR_ARG, "%s: no tensor '%.200s' in '%s'", fn, name, f->label);
        return NULL;
    }
    return &f->e[i];
}

static bool is_float_dtype(int dt) {
    return dt == SG_ST_F32 || dt == SG_ST_F64 || dt == SG_ST_F16 || dt == SG_ST_BF16;
}

/* Can tensor e become a float tensor? Records the error if not. */
static bool check_float(const sg_st_file *f, const st_entry *e, const char *fn) {
    if (is_float_dtype(e->dtype)) return true;
    const char *dn = sg__st_dtypes[e->dtype].name;
    if (dn[0] == 'F')
        sg_set_error(SG_ERR_UNSUPPORTED,
                     "%s: tensor '%.200s' in '%s' has dtype %s, which seqgrad cannot "
                     "convert",
                     fn, e->name, f->label, dn);
    else
        sg_set_error(SG_ERR_DTYPE, "%s: tensor '%.200s' in '%s' has integer dtype %s (use sg_st_get_i64)", fn,
                     e->name, f->label, dn);
    return false;
}

/* Decode the e->numel float elements of e into dst (contiguous, dtype want). */
#define DECODE_LOOP(T, EXPR)                                                                                 \
    do {                                                                                                     \
        T *o = dst;                                                                                          \
        for (int64_t i = 0; i < n; i++) {                                                                    \
            const unsigned char *p = src + (size_t)i * isz;                                                  \
            o[i] = (T)(EXPR);                                                                                \
        }                                                                                                    \
    } while (0)

static double load_float(const unsigned char *p, int dt) {
    switch (dt) {
    case SG_ST_F32: {
        uint32_t b = (uint32_t)sg__load_le(p, sizeof b);
        float v;
        memcpy(&v, &b, sizeof v);
        return v;
    }
    case SG_ST_F64: {
        uint64_t b = sg__load_le(p, sizeof b);
        double v;
        memcpy(&v, &b, sizeof v);
        return v;
    }
    case SG_ST_F16:
        return half_to_float((uint16_t)sg__load_le(p, 2));
    default: { /* BF16: the high half of a float32 */
        uint32_t b = (uint32_t)sg__load_le(p, 2) << BF16_SHIFT;
        float v;
        memcpy(&v, &b, sizeof v);
        return v;
    }
    }
}

static void decode_float(const sg_st_file *f, const st_entry *e, void *dst, sg_dtype want) {
    const unsigned char *src = f->data + e->begin;
    int64_t n = e->numel;
    size_t isz = sg__st_dtypes[e->dtype].size;
    bool same = (want == SG_F32 && e->dtype == SG_ST_F32) || (want == SG_F64 && e->dtype == SG_ST_F64);
    if (same && sg__host_le()) {
        memcpy(dst, src, (size_t)n * isz);
        return;
    }
    int dt = e->dtype;
    if (want == SG_F32) DECODE_LOOP(float, load_float(p, dt));
    else DECODE_LOOP(double, load_float(p, dt));
}

static bool check_want(sg_dtype want, const char *fn) {
    if ((unsigned)want >= SG_DTYPE_COUNT) {
        sg_set_error(SG_ERR_DTYPE, "%s: invalid dtype %d (want SG_F32 or SG_F64)", fn, (int)want);
        return false;
    }
    return true;
}

sg_tensor *sg_st_get(const sg_st_file *f, const char *name, sg_dtype want) {
    const st_entry *e = lookup(f, name, "sg_st_get");
    if (!e || !check_float(f, e, "sg_st_get") || !check_want(want, "sg_st_get")) return NULL;
    if (e->ndim > SG_MAX_DIMS) {
        sg_set_error(SG_ERR_UNSUPPORTED, "sg_st_get: tensor '%.200s' in '%s' has %d dims, more than %d",
                     e->name, f->label, e->ndim, SG_MAX_DIMS);
        return NULL;
    }
    sg_tensor *t = sg_empty(want, e->ndim, e->shape);
    if (!t) return NULL;
    if (e->numel) decode_float(f, e, sg__ptr(t), want);
    return t;
}

int sg_st_read_into(const sg_st_file *f, const char *name, sg_tensor *dst) {
    const char *fn = "sg_st_read_into";
    const st_entry *e = lookup(f, name, fn);
    if (!e) return sg_last_status();
    if (!sg__check_arg(dst, fn, "dst")) return sg_last_status();
    bool same = e->ndim == dst->ndim;
    for (int d = 0; same && d < e->ndim; d++) same = e->shape[d] == dst->shape[d];
    if (!same) {
        char a[SG_SHAPE_BUF], b[SG_SHAPE_BUF];
        return sg_set_error(SG_ERR_SHAPE,
                            "%s: tensor '%.200s' in '%s' has shape %s (%s), the destination "
                            "expects %s (%s)",
                            fn, e->name, f->label, sg__shape_str(e->ndim, e->shape, a, sizeof a),
                            sg__st_dtypes[e->dtype].name, sg__shape_str(dst->ndim, dst->shape, b, sizeof b),
                            sg_dtype_name(dst->dtype));
    }
    if (!check_float(f, e, fn)) return sg_last_status();
    if (e->numel > 0) {
        if (sg__is_contiguous(dst)) {
            decode_float(f, e, sg__ptr(dst), dst->dtype);
        } else {
            sg_tensor *tmp = sg__alloc(dst->dtype, dst->ndim, dst->shape, false);
            if (!tmp) return sg_last_status();
            decode_float(f, e, sg__ptr(tmp), dst->dtype);
            sg__kcopy(dst, tmp);
            sg__unref(tmp);
        }
    }
    sg_mark_modified(dst);
    return SG_OK;
}

/* Sign- or zero-extend one little-endian integer of dtype dt. */
static int64_t load_int(const unsigned char *p, int dt) {
    size_t sz = sg__st_dtypes[dt].size;
    uint64_t u = sg__load_le(p, sz);
    switch (dt) {
    case SG_ST_I8:
        return (int8_t)u;
    case SG_ST_I16:
        return (int16_t)u;
    case SG_ST_I32:
        return (int32_t)u;
    case SG_ST_I64:
        return (int64_t)u;
    case SG_ST_BOOL:
        return u != 0;
    default:
        return (int64_t)u; /* U8, U16, U32: fit */
    }
}

int sg_st_get_i64(const sg_st_file *f, const char *name, int64_t **out, int64_t *n) {
    const char *fn = "sg_st_get_i64";
    if (out) *out = NULL;
    const st_entry *e = lookup(f, name, fn);
    if (!e) return sg_last_status();
    if (!out) return sg_set_error(SG_ERR_NULL, "%s: argument 'out' is NULL", fn);
    int dt = e->dtype;
    bool ok = dt == SG_ST_I64 || dt == SG_ST_I32 || dt == SG_ST_I16 || dt == SG_ST_I8 || dt == SG_ST_U32 ||
              dt == SG_ST_U16 || dt == SG_ST_U8 || dt == SG_ST_BOOL;
    if (!ok)
        return sg_set_error(SG_ERR_DTYPE,
                            "%s: tensor '%.200s' in '%s' has dtype %s, not an integer type that "
                            "fits int64",
                            fn, e->name, f->label, sg__st_dtypes[dt].name);
    int64_t *a = malloc(((size_t)e->numel + 1) * sizeof *a);
    if (!a) return sg_set_error(SG_ERR_MEM, "%s: out of memory (%lld elements)", fn, (long long)e->numel);
    size_t isz = sg__st_dtypes[dt].size;
    const unsigned char *src = f->data + e->begin;
    for (int64_t i = 0; i < e->numel; i++) a[i] = load_int(src + (size_t)i * isz, dt);
    *out = a;
    if (n) *n = e->numel;
    return SG_OK;
}
