/** @file
 * seqgrad error state: a status code and a message per thread.
 * Every public call that can fail returns NULL or a negative sg_status and leaves a message here.
 * Not a logging system: it holds the FIRST error since the last sg_clear_error(). */
#ifndef SG_ERROR_H
#define SG_ERROR_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status of a call: 0 on success, a negative code naming the kind of failure (the message from
 * sg_last_error() says which argument and why). */
typedef enum {
    SG_OK = 0,               /**< success */
    SG_ERR_NULL = -1,        /**< a required argument was NULL */
    SG_ERR_SHAPE = -2,       /**< shapes do not fit the operation */
    SG_ERR_DTYPE = -3,       /**< dtypes do not fit the operation */
    SG_ERR_ARG = -4,         /**< an argument is out of range (dim, size, index, option) */
    SG_ERR_MEM = -5,         /**< allocation failed */
    SG_ERR_IO = -6,          /**< a file could not be opened, read or written */
    SG_ERR_FORMAT = -7,      /**< a file or buffer is malformed, truncated or corrupt */
    SG_ERR_STATE = -8,       /**< the object is in the wrong state (freed tape, no grad, ...) */
    SG_ERR_UNSUPPORTED = -9, /**< the configuration is valid but this build/backend cannot do it */
    SG_ERR_PROPAGATED = -10, /**< an input was the result of an earlier failed call */
} sg_status;

/** The first error recorded on this thread since the last sg_clear_error(), or SG_OK. */
sg_status sg_last_status(void);
/** Its message ("" when none). The pointer stays valid until the next sg_clear_error() on this thread. */
const char *sg_last_error(void);
/** Forget the recorded error. Call it after handling an error, before building new graphs. */
void sg_clear_error(void);
/** True when an error is recorded on this thread. */
bool sg_has_error(void);
/** Human name of a status ("shape mismatch", ...). */
const char *sg_status_name(sg_status s);

/** Record an error (used by the library and by user code built on it). Keeps the first one: later
 * errors are counted, not stored, so the message names the root cause. Returns s. */
sg_status sg_set_error(sg_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Always-on invariant check for programmer errors inside the library: prints file:line and aborts.
 * Never used for anything a caller can trigger with bad input. */
#define SG_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) sg__assert_fail(#cond, __FILE__, __LINE__);                                  \
    } while (0)
/** Implementation of SG_ASSERT (internal; prints the failed condition with file and line, then
 * aborts). */
void sg__assert_fail(const char *cond, const char *file, int line) __attribute__((noreturn));

#ifdef __cplusplus
}
#endif

#endif
