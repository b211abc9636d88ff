/* Shared helpers of the libFuzzer harnesses in fuzz/: a per-process scratch directory, writing the
 * input to a file (the loaders take paths), and an abort that names the broken promise.
 * Not part of the library; header-only so each harness stays one translation unit. */
#ifndef SG_FUZZ_UTIL_H
#define SG_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "seqgrad.h"

/* A harness-level invariant: print it and abort, so libFuzzer saves the input as a crash. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s: ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

enum { FUZZ_PATH = 512 };

/* "$TMPDIR/seqgrad-fuzz-<name>-<pid>" created once per process (mkdir, 0700); static storage. */
static inline const char *fuzz_dir(const char *name) {
    static char dir[FUZZ_PATH];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/seqgrad-fuzz-%s-%ld", t && *t ? t : "/tmp", name, (long)getpid());
        char cmd[FUZZ_PATH + 16];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
        FUZZ_CHECK(system(cmd) == 0, "cannot create %s", dir);
    }
    return dir;
}

/* dir/name into buf. */
static inline const char *fuzz_path(char *buf, const char *dir, const char *name) {
    snprintf(buf, FUZZ_PATH, "%s/%s", dir, name);
    return buf;
}

/* Writes n bytes to path (replacing it); aborts on failure (the harness, not the library). */
static inline void fuzz_write(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL, "cannot write %s", path);
    FUZZ_CHECK(n == 0 || fwrite(data, 1, n, f) == n, "short write to %s", path);
    FUZZ_CHECK(fclose(f) == 0, "close %s", path);
}

/* Every call must leave the thread's error state clean for the next input. */
static inline void fuzz_done(void) { sg_clear_error(); }

#endif
