/* Scratch directories and file writers for the data-loader suites (see datatest.h). */
#include "datatest.h"

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

enum { TMP_FDS = 16 };

char *tu_data_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

char *tu_data_tmpdir(void) {
    const char *base = getenv("SEQGRAD_BUILD_DIR");
    char *tmpl = tu_data_path(base ? base : "/tmp", "io_test_XXXXXX");
    ck_assert_msg(mkdtemp(tmpl) != NULL, "mkdtemp(%s): %s", tmpl, strerror(errno));
    return tmpl;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

void tu_data_tmpdir_free(char *dir) {
    if (!dir) return;
    nftw(dir, rm_entry, TMP_FDS, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* mkdir -p of the parent directories of path */
static void make_parents(char *path) {
    for (char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        int r = mkdir(path, 0755);
        ck_assert_msg(r == 0 || errno == EEXIST, "mkdir %s: %s", path, strerror(errno));
        *s = '/';
    }
}

char *tu_data_write(const char *dir, const char *name, const void *bytes, size_t len) {
    char *p = tu_data_path(dir, name);
    make_parents(p);
    FILE *f = fopen(p, "wb");
    ck_assert_msg(f != NULL, "fopen %s: %s", p, strerror(errno));
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    return p;
}

char *tu_data_write_gz(const char *dir, const char *name, const void *bytes, size_t len) {
    char *p = tu_data_path(dir, name);
    make_parents(p);
    gzFile g = gzopen(p, "wb");
    ck_assert_msg(g != NULL, "gzopen %s", p);
    ck_assert_int_eq(gzwrite(g, bytes, (unsigned)len), (int)len);
    ck_assert_int_eq(gzclose(g), Z_OK);
    return p;
}

void *tu_data_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
    size_t cap = 1 << 12, n = 0;
    char *b = malloc(cap);
    for (size_t got; b && (got = fread(b + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) b = realloc(b, cap *= 2);
    }
    ck_assert_ptr_nonnull(b);
    fclose(f);
    *len = n;
    return b;
}
