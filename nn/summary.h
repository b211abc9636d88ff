/** @file
 * A model summary: one line per parameter (name, shape, element count) and the total, as a table.
 *
 *   parameter          shape    count
 *   fc.weight          (3,4)       12
 *   fc.bias            (3)          3
 *   total: 15 parameters in 2 tensors (float32, 60 bytes)
 *
 * Not a layer graph: seqgrad models are flat parameter blocks (nn/model.h), so this lists those. */
#ifndef SG_SUMMARY_H
#define SG_SUMMARY_H

#include <stddef.h>
#include <stdio.h>

#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Writes the summary of a finalized model to f. Returns the number of characters written, or a
 *  negative sg_status (SG_ERR_NULL for f or m, SG_ERR_STATE before sg_model_finalize, SG_ERR_IO
 *  when writing fails). */
int sg_model_summary(FILE *f, const sg_model *m);

/** The same summary into buf, truncated to n - 1 characters and NUL-terminated when n > 0 (buf
 *  may be NULL when n == 0). Returns the full length, as snprintf does, or a negative sg_status. */
int sg_model_summary_str(char *buf, size_t n, const sg_model *m);

#ifdef __cplusplus
}
#endif

#endif
