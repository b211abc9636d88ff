/* Helpers for the data-loader suites (tests/test_io_*.c): scratch directories in the build tree
 * and small file writers for synthetic inputs. Not used by the op suites. */
#ifndef SG_DATATEST_H
#define SG_DATATEST_H

#include <stddef.h>

/* New empty directory under $SEQGRAD_BUILD_DIR (or /tmp): a malloc'd path; fails the test on error. */
char *tu_data_tmpdir(void);
/* Removes the directory tree and frees the path (NULL is a no-op). */
void tu_data_tmpdir_free(char *dir);
/* Writes len bytes to dir/name (creating parent directories); returns the malloc'd path. */
char *tu_data_write(const char *dir, const char *name, const void *bytes, size_t len);
/* Same, gzip-compressed. */
char *tu_data_write_gz(const char *dir, const char *name, const void *bytes, size_t len);
/* Whole file in a malloc'd buffer; fails the test on error. */
void *tu_data_read(const char *path, size_t *len);
/* malloc'd "dir/name" */
char *tu_data_path(const char *dir, const char *name);

#endif
