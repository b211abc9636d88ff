/* IDX reader (see idx.h): header validation, exact-size payload reads through zlib (which passes
 * raw files through unchanged), conversion to float32 images / int64 labels, MNIST file lookup.
 * Not a general IDX reader: unsigned-byte payloads in the MNIST shapes only. */
#include "idx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data_impl.h"

enum {
    IDX_MAGIC_BYTES = 4,
    IDX_DIM_BYTES = 4,
    IDX_MAX_DIMS = 3,
    IDX_CHUNK = 1 << 16,       /* bytes per read() and per inflate call */
    IDX_FIRST_ALLOC = 1 << 20, /* payload buffer grows past this only as bytes actually arrive */
    IDX_DIMS_BUF = 48,         /* "NxRxC" in messages */
    IDX_CTX = 512,             /* "fn: 'path': ..." prefix of a shape message */
    GZ_MAGIC0 = 0x1f,          /* RFC 1952 member header */
    GZ_MAGIC1 = 0x8b,
    GZ_WINDOW_BITS = 16 + MAX_WBITS, /* inflate: gzip wrapper only, trailer checked */
};
#define IDX_MAX_PAYLOAD ((uint64_t)1 << 40) /* sizes beyond this are taken as corruption */
#define IDX_PIXEL_MAX 255.0f

/* A parsed file: sizes and the raw payload bytes (malloc'd). */
typedef struct {
    int64_t dims[IDX_MAX_DIMS];
    uint8_t *data;
    uint64_t n_data;
} idx_raw;

/* The input of one file: raw bytes, or a gzip stream inflated here with zlib's inflate (not
 * gzread, which takes a stream cut inside its trailer for a clean end). A gzip stream must end
 * with its end-of-stream marker and an 8-byte trailer whose CRC-32 and length inflate checks;
 * concatenated gzip members are read in turn, like gunzip; anything else after the last member
 * is trailing data. */
typedef struct {
    int fd;
    const char *fn, *path;
    bool gz, member_end, eof; /* eof: read() returned 0 */
    bool z_ready;
    z_stream zs;
    unsigned char *in;     /* IDX_CHUNK bytes, malloc'd */
    size_t in_pos, in_len; /* raw: unread bytes in[in_pos, in_len); gzip: in zs */
    uint64_t pos;          /* uncompressed bytes handed out */
} idx_src;

/* More input into in[]; false after recording an I/O error. At end of file sets eof. */
static bool src_fill(idx_src *s) {
    for (;;) {
        ssize_t r = read(s->fd, s->in, IDX_CHUNK);
        if (r >= 0) {
            s->in_pos = 0;
            s->in_len = (size_t)r;
            s->eof = r == 0;
            return true;
        }
        if (errno != EINTR) {
            sg_set_error(SG_ERR_IO, "%s: cannot read '%s': %s", s->fn, s->path, strerror(errno));
            return false;
        }
    }
}

static bool src_open(idx_src *s, const char *fn, const char *path) {
    memset(s, 0, sizeof *s);
    s->fn = fn;
    s->path = path;
    s->fd = sg__open_regular(fn, path, NULL);
    if (s->fd < 0) return false;
    s->in = malloc(IDX_CHUNK);
    if (!s->in) {
        sg_set_error(SG_ERR_MEM, "%s: out of memory reading '%s'", fn, path);
        return false;
    }
    if (!src_fill(s)) return false;
    s->gz = s->in_len >= 2 && s->in[0] == GZ_MAGIC0 && s->in[1] == GZ_MAGIC1;
    if (!s->gz) return true;
    if (inflateInit2(&s->zs, GZ_WINDOW_BITS) != Z_OK) {
        sg_set_error(SG_ERR_MEM, "%s: cannot set up decompression of '%s'", fn, path);
        return false;
    }
    s->z_ready = true;
    s->zs.next_in = s->in;
    s->zs.avail_in = (uInt)s->in_len;
    return true;
}

static void src_close(idx_src *s) {
    if (s->z_ready) inflateEnd(&s->zs);
    if (s->fd >= 0) close(s->fd);
    free(s->in);
}

/* After a gzip member: another member (inflate reset, true), the end of the file (true, with
 * *done set) or other bytes (false, trailing data recorded). */
static bool gz_next_member(idx_src *s, bool *done) {
    *done = false;
    if (s->zs.avail_in == 0 && !s->eof) {
        if (!src_fill(s)) return false;
        s->zs.next_in = s->in;
        s->zs.avail_in = (uInt)s->in_len;
    }
    if (s->zs.avail_in == 0) {
        *done = true;
        return true;
    }
    if (s->zs.next_in[0] != GZ_MAGIC0 || (s->zs.avail_in > 1 && s->zs.next_in[1] != GZ_MAGIC1)) {
        sg_set_error(SG_ERR_FORMAT, "%s: '%s': trailing data after the gzip stream (%llu bytes inflated)",
                     s->fn, s->path, (unsigned long long)s->pos);
        return false;
    }
    if (inflateReset(&s->zs) != Z_OK) {
        sg_set_error(SG_ERR_FORMAT, "%s: '%s': cannot restart inflate for the next gzip member", s->fn, s->path);
        return false;
    }
    s->member_end = false;
    return true;
}

/* Reads up to n bytes into buf; returns the count (short only at a clean end of the input), or -1
 * after recording an error (I/O, corrupt or truncated gzip data). */
static int64_t src_read(idx_src *s, void *buf, uint64_t n) {
    uint8_t *out = buf;
    uint64_t got = 0;
    while (got < n) {
        uint64_t want = n - got < IDX_CHUNK ? n - got : IDX_CHUNK;
        if (!s->gz) {
            if (s->in_pos == s->in_len) {
                if (s->eof) break;
                if (!src_fill(s)) return -1;
                if (s->eof) break;
            }
            size_t k = s->in_len - s->in_pos < want ? s->in_len - s->in_pos : (size_t)want;
            memcpy(out + got, s->in + s->in_pos, k);
            s->in_pos += k;
            got += k;
            s->pos += k;
            continue;
        }
        if (s->member_end) {
            bool done;
            if (!gz_next_member(s, &done)) return -1;
            if (done) break;
        }
        if (s->zs.avail_in == 0) {
            if (!s->eof && !src_fill(s)) return -1;
            s->zs.next_in = s->in;
            s->zs.avail_in = (uInt)s->in_len;
            if (s->zs.avail_in == 0) {
                sg_set_error(SG_ERR_FORMAT,
                             "%s: '%s': truncated gzip stream: the file ends after %llu uncompressed "
                             "bytes, before the end of the compressed data and its 8-byte trailer "
                             "(CRC-32 and length)",
                             s->fn, s->path, (unsigned long long)s->pos);
                return -1;
            }
        }
        s->zs.next_out = out + got;
        s->zs.avail_out = (uInt)want;
        int zr = inflate(&s->zs, Z_NO_FLUSH);
        uint64_t made = want - s->zs.avail_out;
        got += made;
        s->pos += made;
        if (zr == Z_STREAM_END) s->member_end = true;
        else if (zr == Z_MEM_ERROR) {
            sg_set_error(SG_ERR_MEM, "%s: '%s': out of memory inflating", s->fn, s->path);
            return -1;
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            sg_set_error(SG_ERR_FORMAT, "%s: '%s': corrupt gzip data after %llu bytes: %s", s->fn, s->path,
                         (unsigned long long)s->pos, s->zs.msg ? s->zs.msg : zError(zr));
            return -1;
        }
    }
    return (int64_t)got;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Whole-file read of an unsigned-byte IDX file with ndim dimensions. */
static int idx_read(const char *fn, const char *path, int ndim, idx_raw *out) {
    memset(out, 0, sizeof *out);
    if (!sg__data_nonnull(path, fn, "path")) return SG_ERR_NULL;
    idx_src src;
    if (!src_open(&src, fn, path)) {
        src_close(&src);
        return sg_last_status();
    }
    const uint64_t header = IDX_MAGIC_BYTES + (uint64_t)IDX_DIM_BYTES * (uint64_t)ndim;
    uint8_t hdr[IDX_MAGIC_BYTES + IDX_DIM_BYTES * IDX_MAX_DIMS];
    int status = SG_OK;
    int64_t got = src_read(&src, hdr, IDX_MAGIC_BYTES);
    if (got < 0) goto fail;
    const uint32_t want_magic = (uint32_t)SG_IDX_TYPE_UBYTE << 8 | (uint32_t)ndim;
    if (got < IDX_MAGIC_BYTES) {
        status = sg_set_error(SG_ERR_FORMAT, "%s: '%s': truncated header: expected %llu bytes, found %lld",
                              fn, path, (unsigned long long)header, (long long)got);
        goto fail;
    }
    if (be32(hdr) != want_magic) {
        status = sg_set_error(SG_ERR_FORMAT,
                              "%s: '%s': bad magic number 0x%08x (expected 0x%08x: unsigned bytes, %d "
                              "dimension%s)",
                              fn, path, be32(hdr), want_magic, ndim, ndim == 1 ? "" : "s");
        goto fail;
    }
    int64_t more = src_read(&src, hdr + IDX_MAGIC_BYTES, header - IDX_MAGIC_BYTES);
    if (more < 0) goto fail;
    if ((uint64_t)more < header - IDX_MAGIC_BYTES) {
        status = sg_set_error(SG_ERR_FORMAT, "%s: '%s': truncated header: expected %llu bytes, found %lld",
                              fn, path, (unsigned long long)header, (long long)(IDX_MAGIC_BYTES + more));
        goto fail;
    }
    uint64_t payload = 1;
    char dims_str[IDX_DIMS_BUF];
    dims_str[0] = '\0';
    for (int d = 0; d < ndim; d++) {
        uint32_t s = be32(hdr + IDX_MAGIC_BYTES + IDX_DIM_BYTES * d);
        out->dims[d] = s;
        size_t l = strlen(dims_str);
        snprintf(dims_str + l, sizeof dims_str - l, "%s%u", d ? "x" : "", s);
        if (s == 0 && d > 0) {
            status = sg_set_error(SG_ERR_FORMAT, "%s: '%s': dimension %d has size 0", fn, path, d);
            goto fail;
        }
    }
    /* THE shape check, with a count of 0 taken as 1, so that 0 images of 0xFFFFFFFF x 0xFFFFFFFF
     * pixels cannot overflow the strides of the tensor made from it; then a plausibility bound */
    int64_t numel;
    char ctx[IDX_CTX];
    snprintf(ctx, sizeof ctx, "%s: '%s': implausible sizes %s", fn, path, dims_str);
    if (!sg__file_shape_check(ctx, ndim, out->dims, &numel)) goto fail;
    if ((uint64_t)numel > IDX_MAX_PAYLOAD) {
        status = sg_set_error(SG_ERR_FORMAT, "%s: '%s': implausible sizes %s (over %llu bytes)", fn, path,
                              dims_str, (unsigned long long)IDX_MAX_PAYLOAD);
        goto fail;
    }
    payload = (uint64_t)numel;

    /* The buffer grows with the bytes that actually arrive, so a corrupt header claiming a huge
     * payload costs a truncation error, not a huge allocation. */
    uint64_t cap = payload < IDX_FIRST_ALLOC ? payload : IDX_FIRST_ALLOC, n = 0;
    uint8_t *buf = malloc(cap ? cap : 1);
    while (buf) {
        int64_t r = src_read(&src, buf + n, cap - n);
        if (r < 0) {
            free(buf);
            goto fail;
        }
        n += (uint64_t)r;
        if (n < cap || cap == payload) break;
        uint64_t ncap = cap * 2 < payload ? cap * 2 : payload;
        uint8_t *nb = realloc(buf, ncap);
        if (!nb) free(buf);
        buf = nb;
        cap = ncap;
    }
    if (!buf) {
        status = sg_set_error(SG_ERR_MEM, "%s: '%s': out of memory for %llu bytes", fn, path,
                              (unsigned long long)payload);
        goto fail;
    }
    if (n < payload) {
        status = sg_set_error(SG_ERR_FORMAT,
                              "%s: '%s': truncated: expected %llu bytes (%llu-byte header + %s payload), "
                              "found %llu",
                              fn, path, (unsigned long long)(header + payload), (unsigned long long)header,
                              dims_str, (unsigned long long)(header + n));
        free(buf);
        goto fail;
    }
    uint8_t probe;
    int64_t extra = src_read(&src, &probe, 1); /* also reaches the gzip trailer and its checks */
    if (extra != 0) {
        if (extra > 0)
            status = sg_set_error(SG_ERR_FORMAT,
                                  "%s: '%s': trailing data: expected %llu bytes (%llu-byte header + %s "
                                  "payload), found more",
                                  fn, path, (unsigned long long)(header + payload),
                                  (unsigned long long)header, dims_str);
        free(buf);
        goto fail;
    }
    src_close(&src);
    out->data = buf;
    out->n_data = payload;
    return SG_OK;
fail:
    src_close(&src);
    return status != SG_OK ? status : sg_last_status();
}

/* ubyte (N, rows, cols) -> float32 (N, rows, cols), byte / 255 */
sg_tensor *sg_idx_images(const char *path) {
    static const char *fn = "sg_idx_images";
    idx_raw raw;
    if (idx_read(fn, path, SG_IDX_IMAGE_DIMS, &raw) != SG_OK) return NULL;
    sg_tensor *t = sg_empty(SG_F32, SG_IDX_IMAGE_DIMS, raw.dims);
    if (t && raw.n_data > 0) {
        float *p = sg_data_f32(t);
        if (p) {
            for (uint64_t i = 0; i < raw.n_data; i++) p[i] = (float)raw.data[i] / IDX_PIXEL_MAX;
            sg_mark_modified(t);
        } else {
            sg_tensor_free(t);
            t = NULL;
        }
    }
    free(raw.data);
    return t;
}

/* ubyte (N) -> int64 (N) */
int64_t *sg_idx_labels(const char *path, int64_t *n) {
    static const char *fn = "sg_idx_labels";
    if (!sg__data_nonnull(n, fn, "n")) return NULL;
    *n = 0;
    idx_raw raw;
    if (idx_read(fn, path, SG_IDX_LABEL_DIMS, &raw) != SG_OK) return NULL;
    int64_t *labels = malloc(raw.n_data ? raw.n_data * sizeof *labels : 1);
    if (!labels) {
        sg_set_error(SG_ERR_MEM, "%s: '%s': out of memory", fn, path);
    } else {
        for (uint64_t i = 0; i < raw.n_data; i++) labels[i] = raw.data[i];
        *n = (int64_t)raw.n_data;
    }
    free(raw.data);
    return labels;
}

void sg_idx_labels_free(int64_t *labels) { free(labels); }

/* The first existing file among the MNIST spellings of <split>-<kind>; malloc'd path or NULL. */
static char *mnist_find(const char *dir, const char *split, const char *kind, const char *idx) {
    static const char *const patterns[] = {"%s-%s-%s-ubyte", "%s-%s-%s-ubyte.gz", "%s-%s.%s-ubyte",
                                           "%s-%s.%s-ubyte.gz"};
    enum { N_PATTERNS = sizeof patterns / sizeof patterns[0], NAME_MAX_ = 64 };
    for (int i = 0; i < N_PATTERNS; i++) {
        char name[NAME_MAX_];
        snprintf(name, sizeof name, patterns[i], split, kind, idx);
        char *p = sg__path_join("sg_mnist_load", dir, name);
        if (!p) return NULL;
        struct stat st;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) return p;
        free(p);
    }
    sg_set_error(SG_ERR_IO, "sg_mnist_load: no %s file for split '%s' in '%s' (tried %s-%s-%s-ubyte[.gz] and "
                 "%s-%s.%s-ubyte[.gz])", kind, split, dir, split, kind, idx, split, kind, idx);
    return NULL;
}

int sg_mnist_load(const char *dir, const char *split, sg_mnist *out) {
    static const char *fn = "sg_mnist_load";
    if (!sg__data_nonnull(out, fn, "out")) return SG_ERR_NULL;
    memset(out, 0, sizeof *out);
    if (!sg__data_nonnull(dir, fn, "dir") || !sg__data_nonnull(split, fn, "split")) return SG_ERR_NULL;
    if (strcmp(split, "train") != 0 && strcmp(split, "t10k") != 0)
        return sg_set_error(SG_ERR_ARG, "%s: split must be \"train\" or \"t10k\", got \"%s\"", fn, split);
    char *ipath = mnist_find(dir, split, "images", "idx3");
    char *lpath = ipath ? mnist_find(dir, split, "labels", "idx1") : NULL;
    sg_mnist m = {0};
    int status = SG_OK;
    if (!lpath) goto done;
    m.images = sg_idx_images(ipath);
    if (!m.images) goto done;
    m.labels = sg_idx_labels(lpath, &m.n);
    if (!m.labels) goto done;
    if (sg_size(m.images, 0) != m.n) {
        status = sg_set_error(SG_ERR_FORMAT, "%s: '%s' holds %lld images but '%s' holds %lld labels", fn,
                              ipath, (long long)sg_size(m.images, 0), lpath, (long long)m.n);
        goto done;
    }
    for (int64_t i = 0; i < m.n; i++)
        if (m.labels[i] >= SG_MNIST_CLASSES) {
            status = sg_set_error(SG_ERR_FORMAT, "%s: '%s': label %lld at index %lld is outside 0..%d", fn,
                                  lpath, (long long)m.labels[i], (long long)i, SG_MNIST_CLASSES - 1);
            goto done;
        }
    m.rows = sg_size(m.images, 1);
    m.cols = sg_size(m.images, 2);
    *out = m;
    free(ipath);
    free(lpath);
    return SG_OK;
done:
    if (status == SG_OK) status = sg_last_status();
    sg_mnist_free(&m);
    free(ipath);
    free(lpath);
    return status;
}

void sg_mnist_free(sg_mnist *m) {
    if (!m) return;
    sg_tensor_free(m->images);
    sg_idx_labels_free(m->labels);
    memset(m, 0, sizeof *m);
}
