/* Internal helpers shared by the data loaders in io/ (idx, text, csv, batch): argument checks,
 * whole-file reads with uniform error messages, path joining and a growable byte buffer.
 * Not installed and not for users. */
#ifndef SG_DATA_IMPL_H
#define SG_DATA_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../tensor/alloc.h" /* allocations through one place (failure injection) */
#include "../tensor/error.h"

struct stat;

/* False (and SG_ERR_NULL "fn: argument 'arg' is NULL") when p is NULL. */
bool sg__data_nonnull(const void *p, const char *fn, const char *arg);

/* Opens path read-only for a loader, refusing anything that is not a regular file (a FIFO, a
 * device, a directory, a socket) without ever blocking: the open uses O_NONBLOCK (so a FIFO with
 * no writer cannot hang it), fstat checks S_ISREG, then O_NONBLOCK is cleared again. Returns the
 * descriptor (the caller closes it) and fills *st when st is not NULL, or a negative status with
 * "fn: cannot open 'path': reason" / "fn: cannot read 'path': not a regular file (a FIFO)"
 * recorded. Every file loader in io/ opens its input through this. */
int sg__open_regular(const char *fn, const char *path, struct stat *st);

/* A shape read from a file, checked by THE shape check (sg__shape_check, tensor/tensor_impl.h:
 * sizes >= 0, rank <= SG_MAX_DIMS, element count and strides within SG__MAX_NUMEL), with its
 * message recorded as SG_ERR_FORMAT (a bad shape in a file is a corrupt file). ctx prefixes the
 * message (e.g. "sg_st_open: 'f.safetensors': tensor 'w'"). True with the count in *numel. */
bool sg__file_shape_check(const char *ctx, int ndim, const int64_t *shape, int64_t *numel);

/* Reads the whole regular file at path into a malloc'd, NUL-terminated buffer (*len excludes the
 * NUL). On failure returns a negative status with "fn: cannot open/read 'path': reason" recorded
 * and leaves *buf NULL. */
int sg__read_file(const char *fn, const char *path, char **buf, size_t *len);

/* ---- atomic saves (tmpfile.c) ---- */
/* Creates a new temporary "<path>.tmp.<pid>.<n>" next to path (O_EXCL, unique per process and
 * per save, so concurrent saves to one path never share one). Returns the write descriptor and
 * the malloc'd name in *tmp, or a negative status (SG_ERR_IO naming both paths) with *tmp NULL. */
int sg__tmp_create(const char *fn, const char *path, char **tmp);
/* Removes temporaries of path left by savers that died (see tmpfile.c for exactly which names);
 * best effort, never fails, never touches any other file. */
void sg__tmp_sweep(const char *path);
/* fsync of the directory holding path, to make a rename durable (best effort). */
void sg__sync_parent_dir(const char *path);

/* "a/b" in a malloc'd string (NULL with SG_ERR_MEM recorded under fn). */
char *sg__path_join(const char *fn, const char *a, const char *b);

/* Growable array of elements of a fixed size. */
typedef struct {
    void *data;
    size_t n, cap, elem;
} sg__vec;
void sg__vec_init(sg__vec *v, size_t elem);
/* Room for one more element; returns its address or NULL (SG_ERR_MEM recorded under fn). */
void *sg__vec_push(sg__vec *v, const char *fn);
void sg__vec_free(sg__vec *v);

#endif
