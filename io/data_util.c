/* Internal helpers of the io/ data loaders (see data_impl.h): file reading with uniform errors,
 * path joining, growable arrays. No parsing lives here. */
#include "data_impl.h"

#include "../tensor/tensor_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { SG_READ_CHUNK = 1 << 16, SG_FILE_MSG = 1024 /* a shape message moved to SG_ERR_FORMAT */ };

bool sg__data_nonnull(const void *p, const char *fn, const char *arg) {
    if (p) return true;
    sg_set_error(SG_ERR_NULL, "%s: argument '%s' is NULL", fn, arg);
    return false;
}

int sg__open_regular(const char *fn, const char *path, struct stat *out) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return sg_set_error(SG_ERR_IO, "%s: cannot open '%s': %s", fn, path, strerror(errno));
    struct stat st;
    int e = fstat(fd, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
    if (e || !S_ISREG(st.st_mode)) {
        close(fd);
        return sg_set_error(SG_ERR_IO, "%s: cannot read '%s': %s", fn, path,
                            e                         ? strerror(e)
                            : S_ISFIFO(st.st_mode)    ? "not a regular file (a FIFO)"
                            : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "not a regular file (a device)"
                            : S_ISSOCK(st.st_mode)    ? "not a regular file (a socket)"
                                                      : "not a regular file");
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        e = errno;
        close(fd);
        return sg_set_error(SG_ERR_IO, "%s: cannot read '%s': %s", fn, path, strerror(e));
    }
    if (out) *out = st;
    return fd;
}

bool sg__file_shape_check(const char *ctx, int ndim, const int64_t *shape, int64_t *numel) {
    if (sg__shape_check(ctx, ndim, shape, numel)) return true;
    char msg[SG_FILE_MSG];
    snprintf(msg, sizeof msg, "%s", sg_last_error());
    sg_clear_error();
    sg_set_error(SG_ERR_FORMAT, "%s", msg);
    return false;
}

int sg__read_file(const char *fn, const char *path, char **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    struct stat st;
    int fd = sg__open_regular(fn, path, &st);
    if (fd < 0) return fd;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return sg_set_error(SG_ERR_MEM, "%s: cannot open a stream on '%s': %s", fn, path, strerror(errno));
    }
    /* room for the NUL and one byte more, so that a file of the stat'ed size ends in one read */
    size_t cap = (size_t)st.st_size + 2, n = 0;
    char *p = malloc(cap);
    for (;;) {
        if (!p) {
            fclose(f);
            return sg_set_error(SG_ERR_MEM, "%s: out of memory reading '%s'", fn, path);
        }
        n += fread(p + n, 1, cap - 1 - n, f);
        if (n + 1 < cap || feof(f) || ferror(f)) break;
        char *q = realloc(p, cap + SG_READ_CHUNK); /* the file grew since fstat */
        if (!q) free(p);
        p = q;
        cap += SG_READ_CHUNK;
    }
    if (ferror(f)) {
        int err = errno;
        free(p);
        fclose(f);
        return sg_set_error(SG_ERR_IO, "%s: cannot read '%s': %s", fn, path, strerror(err));
    }
    fclose(f);
    p[n] = '\0';
    *buf = p;
    *len = n;
    return SG_OK;
}

char *sg__path_join(const char *fn, const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    bool slash = la > 0 && a[la - 1] != '/';
    char *p = malloc(la + slash + lb + 1);
    if (!p) {
        sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
        return NULL;
    }
    memcpy(p, a, la);
    if (slash) p[la] = '/';
    memcpy(p + la + slash, b, lb + 1);
    return p;
}

void sg__vec_init(sg__vec *v, size_t elem) {
    v->data = NULL;
    v->n = v->cap = 0;
    v->elem = elem;
}

void *sg__vec_push(sg__vec *v, const char *fn) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 16;
        void *d = realloc(v->data, cap * v->elem);
        if (!d) {
            sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
            return NULL;
        }
        v->data = d;
        v->cap = cap;
    }
    return (char *)v->data + v->elem * v->n++;
}

void sg__vec_free(sg__vec *v) {
    free(v->data);
    sg__vec_init(v, v->elem);
}
