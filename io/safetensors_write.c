/* safetensors writer: collects copies of tensors and metadata, then writes one file atomically
 * (temporary file in the same directory, fsync, rename). Not incremental: the whole file is
 * written by sg_st_writer_save from data already held in memory. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tensor/tensor_impl.h"
#include "data_impl.h"
#include "json_impl.h"
#include "safetensors_impl.h"

typedef struct {
    char *name;
    int dtype; /* sg_st_dtype_id */
    int ndim;
    int64_t shape[SG_MAX_DIMS];
    unsigned char *data; /* little-endian bytes, owned */
    size_t nbytes;
} w_entry;

struct sg_st_writer {
    int n, cap;
    w_entry *e;
    int nmeta, metacap;
    char **mkeys, **mvals;
};

sg_st_writer *sg_st_writer_new(void) {
    sg_st_writer *w = calloc(1, sizeof *w);
    if (!w) sg_set_error(SG_ERR_MEM, "sg_st_writer_new: out of memory");
    return w;
}

void sg_st_writer_free(sg_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) {
        free(w->e[i].name);
        free(w->e[i].data);
    }
    for (int i = 0; i < w->nmeta; i++) {
        free(w->mkeys[i]);
        free(w->mvals[i]);
    }
    free(w->e);
    free(w->mkeys);
    free(w->mvals);
    free(w);
}

static bool check_text(const char *s, const char *fn, const char *what) {
    if (!s) {
        sg_set_error(SG_ERR_NULL, "%s: argument '%s' is NULL", fn, what);
        return false;
    }
    if (!sg__json_utf8_valid(s, strlen(s))) {
        sg_set_error(SG_ERR_ARG, "%s: %s is not valid UTF-8", fn, what);
        return false;
    }
    return true;
}

/* Name rules shared by both add functions; also makes room for one more entry. */
static bool check_name(sg_st_writer *w, const char *name, const char *fn) {
    if (!w) {
        sg_set_error(SG_ERR_NULL, "%s: argument 'w' is NULL", fn);
        return false;
    }
    if (!check_text(name, fn, "name")) return false;
    if (!name[0] || strcmp(name, SG_ST_METADATA_KEY) == 0) {
        sg_set_error(SG_ERR_ARG, "%s: invalid tensor name '%s' (empty or reserved)", fn, name);
        return false;
    }
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->e[i].name, name) == 0) {
            sg_set_error(SG_ERR_ARG, "%s: duplicate tensor name '%.200s'", fn, name);
            return false;
        }
    if (w->n == w->cap) {
        int nc = w->cap ? 2 * w->cap : 16;
        w_entry *ne = realloc(w->e, (size_t)nc * sizeof *ne);
        if (!ne) {
            sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
            return false;
        }
        w->e = ne;
        w->cap = nc;
    }
    return true;
}

/* Takes ownership of data on success; frees it on failure. */
static int push(sg_st_writer *w, const char *name, int dtype, int ndim, const int64_t *shape,
                unsigned char *data, size_t nbytes, const char *fn) {
    char *nm = strdup(name);
    if (!nm) {
        free(data);
        return sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
    }
    if (!sg__host_le()) sg__swap_items(data, nbytes / sg__st_dtypes[dtype].size, sg__st_dtypes[dtype].size);
    w_entry *e = &w->e[w->n++];
    memset(e, 0, sizeof *e);
    e->name = nm;
    e->dtype = dtype;
    e->ndim = ndim;
    for (int d = 0; d < ndim; d++) e->shape[d] = shape[d];
    e->data = data;
    e->nbytes = nbytes;
    return SG_OK;
}

int sg_st_writer_add(sg_st_writer *w, const char *name, const sg_tensor *t) {
    const char *fn = "sg_st_writer_add";
    if (!check_name(w, name, fn) || !sg__check_arg(t, fn, "t")) return sg_last_status();
    size_t nbytes = (size_t)sg__numel(t) * sg_dtype_size(t->dtype);
    unsigned char *data = malloc(nbytes ? nbytes : 1);
    if (!data) return sg_set_error(SG_ERR_MEM, "%s: out of memory (%zu bytes)", fn, nbytes);
    if (sg_to_buffer(t, data, t->dtype) != SG_OK) {
        free(data);
        return sg_last_status();
    }
    return push(w, name, t->dtype == SG_F64 ? SG_ST_F64 : SG_ST_F32, t->ndim, t->shape, data, nbytes, fn);
}

int sg_st_writer_add_i64(sg_st_writer *w, const char *name, int ndim, const int64_t *shape,
                         const int64_t *data) {
    const char *fn = "sg_st_writer_add_i64";
    if (!check_name(w, name, fn)) return sg_last_status();
    if (ndim < 0 || ndim > SG_MAX_DIMS)
        return sg_set_error(SG_ERR_ARG, "%s: ndim %d outside [0, %d]", fn, ndim, SG_MAX_DIMS);
    if (ndim > 0 && !shape) return sg_set_error(SG_ERR_NULL, "%s: argument 'shape' is NULL", fn);
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++)
        if (shape[d] < 0 || __builtin_mul_overflow(numel, shape[d], &numel))
            return sg_set_error(SG_ERR_SHAPE, "%s: invalid size %lld in dimension %d", fn,
                                (long long)shape[d], d);
    if (numel > 0 && !data) return sg_set_error(SG_ERR_NULL, "%s: argument 'data' is NULL", fn);
    size_t nbytes;
    if (__builtin_mul_overflow((size_t)numel, sizeof(int64_t), &nbytes))
        return sg_set_error(SG_ERR_SHAPE, "%s: %lld elements overflow", fn, (long long)numel);
    unsigned char *buf = malloc(nbytes ? nbytes : 1);
    if (!buf) return sg_set_error(SG_ERR_MEM, "%s: out of memory (%zu bytes)", fn, nbytes);
    if (nbytes) memcpy(buf, data, nbytes);
    return push(w, name, SG_ST_I64, ndim, shape, buf, nbytes, fn);
}

int sg_st_writer_meta(sg_st_writer *w, const char *key, const char *value) {
    const char *fn = "sg_st_writer_meta";
    if (!w) return sg_set_error(SG_ERR_NULL, "%s: argument 'w' is NULL", fn);
    if (!check_text(key, fn, "key") || !check_text(value, fn, "value")) return sg_last_status();
    for (int i = 0; i < w->nmeta; i++)
        if (strcmp(w->mkeys[i], key) == 0)
            return sg_set_error(SG_ERR_ARG, "%s: duplicate metadata key '%.200s'", fn, key);
    if (w->nmeta == w->metacap) {
        int nc = w->metacap ? 2 * w->metacap : 8;
        char **k = realloc(w->mkeys, (size_t)nc * sizeof *k);
        if (k) w->mkeys = k;
        char **v = k ? realloc(w->mvals, (size_t)nc * sizeof *v) : NULL;
        if (v) w->mvals = v;
        if (!k || !v) return sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
        w->metacap = nc;
    }
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
    }
    w->mkeys[w->nmeta] = k;
    w->mvals[w->nmeta] = v;
    w->nmeta++;
    return SG_OK;
}

/* ---- header text ---- */

typedef struct {
    char *s;
    size_t len, cap;
    bool oom;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (b->len + n + 1 > nc) nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

__attribute__((format(printf, 2, 3))) static void sb_printf(strbuf *b, const char *fmt, ...) {
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    SG_ASSERT(n >= 0 && (size_t)n < sizeof tmp); /* only used for short numeric pieces */
    sb_put(b, tmp, (size_t)n);
}

/* s as a JSON string literal: quotes, backslashes and control characters escaped; other UTF-8
 * (already validated) passes through. */
static void sb_json_string(strbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sb_put(b, esc, 2);
        } else if (c < 0x20) {
            sb_printf(b, "\\u%04x", c);
        } else {
            sb_put(b, p, 1);
        }
    }
    sb_put(b, "\"", 1);
}

/* The header JSON, padded with spaces to a multiple of SG_ST_ALIGN bytes. */
static bool build_header(const sg_st_writer *w, strbuf *b) {
    sb_put(b, "{", 1);
    bool first = true;
    if (w->nmeta) {
        sb_json_string(b, SG_ST_METADATA_KEY);
        sb_put(b, ":{", 2);
        for (int i = 0; i < w->nmeta; i++) {
            if (i) sb_put(b, ",", 1);
            sb_json_string(b, w->mkeys[i]);
            sb_put(b, ":", 1);
            sb_json_string(b, w->mvals[i]);
        }
        sb_put(b, "}", 1);
        first = false;
    }
    uint64_t at = 0;
    for (int i = 0; i < w->n; i++) {
        const w_entry *e = &w->e[i];
        if (!first) sb_put(b, ",", 1);
        first = false;
        sb_json_string(b, e->name);
        sb_printf(b, ":{\"dtype\":\"%s\",\"shape\":[", sg__st_dtypes[e->dtype].name);
        for (int d = 0; d < e->ndim; d++) sb_printf(b, d ? ",%lld" : "%lld", (long long)e->shape[d]);
        sb_printf(b, "],\"data_offsets\":[%llu,", (unsigned long long)at);
        at += e->nbytes;
        sb_printf(b, "%llu]}", (unsigned long long)at);
    }
    sb_put(b, "}", 1);
    while (!b->oom && b->len % SG_ST_ALIGN) sb_put(b, " ", 1);
    return !b->oom;
}

/* ---- atomic save ---- */

static bool write_all(FILE *fp, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, fp) == n; }

int sg_st_writer_save(const sg_st_writer *w, const char *path) {
    const char *fn = "sg_st_writer_save";
    if (!w) return sg_set_error(SG_ERR_NULL, "%s: argument 'w' is NULL", fn);
    if (!path) return sg_set_error(SG_ERR_NULL, "%s: argument 'path' is NULL", fn);
    strbuf hb = {0};
    if (!build_header(w, &hb)) {
        free(hb.s);
        return sg_set_error(SG_ERR_MEM, "%s: out of memory building the header", fn);
    }
    sg__tmp_sweep(path);
    char *tmp;
    int fd = sg__tmp_create(fn, path, &tmp);
    if (fd < 0) {
        free(hb.s);
        return fd;
    }
    /* each step runs only if the previous ones succeeded; stage names the one that failed */
    const char *stage = NULL;
    int err = 0;
    FILE *fp = fdopen(fd, "wb");
    if (!fp) {
        err = errno;
        stage = "opening a stream on the temporary file";
        close(fd);
    }
    unsigned char prefix[SG_ST_PREFIX];
    sg__store_le(prefix, (uint64_t)hb.len, SG_ST_PREFIX);
    bool wrote = fp && write_all(fp, prefix, sizeof prefix) && write_all(fp, hb.s, hb.len);
    for (int i = 0; wrote && i < w->n; i++) wrote = write_all(fp, w->e[i].data, w->e[i].nbytes);
    if (fp && (!wrote || fflush(fp) != 0)) {
        err = errno;
        stage = "writing";
    }
    if (fp && !stage && fsync(fileno(fp)) != 0) {
        err = errno;
        stage = "fsync";
    }
    if (fp && fclose(fp) != 0 && !stage) {
        err = errno;
        stage = "closing the temporary file";
    }
    if (!stage && rename(tmp, path) != 0) {
        err = errno;
        stage = "renaming the temporary file over it";
    }
    bool ok = stage == NULL;
    if (!ok) {
        unlink(tmp);
        sg_set_error(SG_ERR_IO, "%s: cannot save '%s': %s failed: %s; any existing file is unchanged", fn,
                     path, stage, strerror(err));
    } else {
        sg__sync_parent_dir(path);
    }
    free(tmp);
    free(hb.s);
    return ok ? SG_OK : SG_ERR_IO;
}
