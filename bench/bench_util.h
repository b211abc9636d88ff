/* Small helpers shared by the bench programs that include it: wall and CPU clocks, medians, the
 * process's RSS and its high-water mark (/proc/self/status, reset through clear_refs), minor
 * faults. Header-only because CMake builds one executable per bench program. Not a timing framework. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "seqgrad.h"

enum { BU_LINE = 1024 };

/* Runs the reference script command cmd (without its --json option) with "--json TMP 2>&1"
 * appended, echoing each line it prints behind "    <tag>| ", and reads the JSON it wrote into
 * js (n bytes, NUL-terminated; "" when there is none). Returns the command's exit status, or -1
 * if it could not be started. */
static inline int bu_run_json(const char *cmd, const char *tag, char *js, size_t n) {
    js[0] = 0;
    char tmp[] = "/tmp/seqgrad_bench_json_XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) return -1;
    close(fd);
    char full[3 * BU_LINE];
    snprintf(full, sizeof full, "%s --json '%s' 2>&1", cmd, tmp);
    fflush(stdout);
    FILE *p = popen(full, "r");
    if (!p) {
        unlink(tmp);
        return -1;
    }
    char line[BU_LINE];
    while (fgets(line, sizeof line, p)) printf("    %s| %s", tag, line);
    int st = pclose(p);
    FILE *f = fopen(tmp, "r");
    size_t got = f ? fread(js, 1, n - 1, f) : 0;
    js[got] = 0;
    if (f) fclose(f);
    unlink(tmp);
    return st;
}

/* Stores in *v the number after "key": in js (a flat JSON object as the reference scripts write);
 * false, *v untouched, when the key is absent. */
static inline bool bu_json_num(const char *js, const char *key, double *v) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *q = strstr(js, pat);
    if (!q) return false;
    *v = strtod(q + strlen(pat), NULL);
    return true;
}
#define BU_KB_PER_MB 1024.0

static inline double bu_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* this process's user + system CPU seconds, user-only seconds and minor page faults so far */
typedef struct {
    double cpu_s, sys_s;
    long minflt;
} bu_usage;

static inline bu_usage bu_usage_now(void) {
    struct rusage ru;
    bu_usage u = {0};
    if (getrusage(RUSAGE_SELF, &ru)) return u;
    u.sys_s = (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
    u.cpu_s = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + u.sys_s;
    u.minflt = ru.ru_minflt;
    return u;
}

static inline int bu_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median as Python's statistics.median (mean of the middle two for an even count); sorts v */
static inline double bu_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, bu_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* a field of /proc/self/status in kB ("VmRSS", "VmHWM"), -1 if unreadable */
static inline long bu_status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[BU_LINE];
    long v = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

/* Writing "5" to clear_refs resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0). */
static inline int bu_hwm_reset(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return -1;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Gives freed heap memory back to the kernel, so that the next high-water increase counts every
 * byte the next phase touches (glibc otherwise keeps freed chunks resident). */
static inline void bu_trim(void) { malloc_trim(0); }

/* One line naming the build the numbers come from: version and the element kernels' instruction
 * set (SEQGRAD_ISA=baseline|avx2|avx512 picks it in a portable build). */
static inline void bu_print_build(void) {
    const sg_version_info *v = sg_library_version();
    printf("seqgrad %s, element kernels: %s (%s)\n", v->string, v->isa_dispatch ? sg_isa_name(sg_get_isa()) : v->isa,
           v->isa_dispatch ? "run-time dispatch" : "no run-time dispatch");
}

#endif
