/* Thread-local first-error store. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

enum { SG_ERRMSG_MAX = 1024 };

static _Thread_local sg_status g_status = SG_OK;
static _Thread_local char g_msg[SG_ERRMSG_MAX];
static _Thread_local unsigned long g_later;

sg_status sg_last_status(void) { return g_status; }
bool sg_has_error(void) { return g_status != SG_OK; }

const char *sg_last_error(void) { return g_status == SG_OK ? "" : g_msg; }

void sg_clear_error(void) {
    g_status = SG_OK;
    g_msg[0] = '\0';
    g_later = 0;
}

sg_status sg_set_error(sg_status s, const char *fmt, ...) {
    if (g_status != SG_OK) {
        g_later++;
        return s;
    }
    g_status = s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return s;
}

const char *sg_status_name(sg_status s) {
    switch (s) {
    case SG_OK: return "ok";
    case SG_ERR_NULL: return "null argument";
    case SG_ERR_SHAPE: return "shape mismatch";
    case SG_ERR_DTYPE: return "dtype mismatch";
    case SG_ERR_ARG: return "invalid argument";
    case SG_ERR_MEM: return "out of memory";
    case SG_ERR_IO: return "i/o error";
    case SG_ERR_FORMAT: return "malformed data";
    case SG_ERR_STATE: return "invalid state";
    case SG_ERR_UNSUPPORTED: return "unsupported";
    case SG_ERR_PROPAGATED: return "earlier error";
    }
    return "unknown status";
}

void sg__assert_fail(const char *cond, const char *file, int line) {
    fprintf(stderr, "seqgrad internal error: %s:%d: assertion '%s' failed\n", file, line, cond);
    abort();
}
