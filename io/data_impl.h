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

/* False (and SG_ERR_NULL "fn: argument 'arg' is NULL") when p is NULL. */
bool sg__data_nonnull(const void *p, const char *fn, const char *arg);

/* Reads the whole regular file at path into a malloc'd, NUL-terminated buffer (*len excludes the
 * NUL). On failure returns a negative status with "fn: cannot open/read 'path': reason" recorded
 * and leaves *buf NULL. */
int sg__read_file(const char *fn, const char *path, char **buf, size_t *len);

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
