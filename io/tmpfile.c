/* Temporary files of atomic saves (see data_impl.h): a unique "<path>.tmp.<pid>.<n>" next to the
 * target, removal of the ones that crashed or killed savers of the same path left behind, and the
 * fsync of the directory after the rename. Not a general temp-file API: names are tied to a target.
 *
 * Uniqueness: <pid> separates processes, <n> (a process-wide atomic counter) separates the saves
 * of one process, O_EXCL catches a leftover of an earlier process that had the same pid.
 * Stale = a regular file of ours whose name is exactly "<base>.tmp.<digits>" (the format before
 * the counter, never created now) or "<base>.tmp.<pid>.<digits>" with <pid> not a live process
 * (kill(pid, 0) fails with ESRCH) and not our own pid (our own are other threads' saves in
 * progress). Nothing else in the directory is ever touched. Pids are only meaningful on this
 * machine: a directory shared over the network with savers on other hosts may lose their
 * in-progress temporaries (their renames then fail cleanly; the target stays whole). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "data_impl.h"

enum {
    TMP_NAME_EXTRA = 64, /* ".tmp.<pid>.<n>" */
    TMP_TRIES = 100,     /* O_EXCL collisions tolerated (leftovers with our pid) */
    TMP_FILE_MODE = 0666 /* before the umask, like fopen(path, "w") */
};
#define TMP_INFIX ".tmp."

static unsigned long tmp_counter; /* next <n>; atomic */

/* Splits path into a malloc'd directory ("." when none) and a pointer to the base name. */
static char *dir_of(const char *path, const char **base) {
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    return slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
}

/* Parses decimal digits at *s (at least one, no sign); advances *s. */
static bool parse_digits(const char **s, unsigned long long *v) {
    const char *p = *s;
    unsigned long long x = 0;
    if (*p < '0' || *p > '9') return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (x > (~0ULL - 9) / 10) return false;
        x = x * 10 + (unsigned long long)(*p - '0');
    }
    *s = p;
    *v = x;
    return true;
}

/* True when name is a temporary of base that no live saver can still own. */
static bool is_stale(const char *name, const char *base, size_t lbase) {
    if (strncmp(name, base, lbase) != 0 || strncmp(name + lbase, TMP_INFIX, strlen(TMP_INFIX)) != 0)
        return false;
    const char *p = name + lbase + strlen(TMP_INFIX);
    unsigned long long pid, n;
    if (!parse_digits(&p, &pid)) return false;
    if (*p == '\0') return true; /* old "<path>.tmp.<pid>": no saver creates these any more */
    if (*p++ != '.' || !parse_digits(&p, &n) || *p != '\0') return false;
    if (pid == 0 || pid > (unsigned long long)INT32_MAX || (pid_t)pid == getpid()) return false;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

void sg__tmp_sweep(const char *path) {
    const char *base;
    char *dir = dir_of(path, &base);
    size_t lbase = strlen(base);
    DIR *d = dir && lbase ? opendir(dir) : NULL;
    if (!d) {
        free(dir);
        return;
    }
    int dfd = dirfd(d);
    uid_t me = geteuid();
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!is_stale(de->d_name, base, lbase)) continue;
        struct stat st;
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (!S_ISREG(st.st_mode) || st.st_uid != me) continue;
        (void)unlinkat(dfd, de->d_name, 0); /* best effort: another sweeper may have won */
    }
    closedir(d);
    free(dir);
}

int sg__tmp_create(const char *fn, const char *path, char **tmp) {
    *tmp = NULL;
    size_t n = strlen(path) + TMP_NAME_EXTRA;
    char *name = malloc(n);
    if (!name) return sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
    int fd = -1;
    for (int k = 0; k < TMP_TRIES && fd < 0; k++) {
        unsigned long c = __atomic_fetch_add(&tmp_counter, 1, __ATOMIC_RELAXED);
        snprintf(name, n, "%s" TMP_INFIX "%ld.%lu", path, (long)getpid(), c);
        fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, TMP_FILE_MODE);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        int e = errno;
        sg_set_error(SG_ERR_IO, "%s: cannot create '%s' (temporary for '%s'): %s", fn, name, path, strerror(e));
        free(name);
        return SG_ERR_IO;
    }
    *tmp = name;
    return fd;
}

void sg__sync_parent_dir(const char *path) {
    const char *base;
    char *dir = dir_of(path, &base);
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}
