/** @file
 * Printing tensors the way PyTorch's repr does: nested brackets, one number format for the whole
 * tensor (fixed with `precision` decimals, integers as "3.", or scientific when the magnitudes
 * span more than 1e3, exceed 1e8 or go below 1e-4), right-aligned columns, rows wrapped at
 * `linewidth`, and tensors of more than `threshold` elements summarised with "..." keeping
 * `edgeitems` entries at each end of every long dimension. The shape and dtype always follow:
 *
 *   tensor([[0.1000, 2.0000, 3.0000],
 *           [4.0000, 5.0000, 6.0000]], shape=(2,3), dtype=float32)
 *
 * Not a serialiser: the printed values are rounded (see io/safetensors.h to store tensors). */
#ifndef SG_PRINT_H
#define SG_PRINT_H

#include <stdint.h>
#include <stdio.h>

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Print options; sg_print_defaults() gives PyTorch's (precision 4, threshold 1000, edgeitems 3,
 *  linewidth 80). */
typedef struct {
    int precision;     /**< digits after the point, 0..17 */
    int64_t threshold; /**< summarise when numel > threshold */
    int edgeitems;     /**< entries kept at each end of a summarised dimension, >= 1 */
    int linewidth;     /**< wrap rows of numbers beyond this many characters, >= 1 */
} sg_print_opts;

/** PyTorch's default print options. */
sg_print_opts sg_print_defaults(void);

/** Writes the repr of t followed by a newline to f. opts NULL: the defaults. Returns the number of
 *  characters written, or a negative sg_status (SG_ERR_NULL for f, SG_ERR_STATE for a dead t,
 *  SG_ERR_ARG for bad options, SG_ERR_IO when writing fails). */
int sg_tensor_fprint(FILE *f, const sg_tensor *t, const sg_print_opts *opts);

/** Writes the repr of t (no trailing newline) into buf, truncated to n - 1 characters and always
 *  NUL-terminated when n > 0 (buf may be NULL when n == 0). Returns the full length of the repr,
 *  as snprintf does (so a second call with a buffer of that length + 1 gets all of it), or a
 *  negative sg_status as for sg_tensor_fprint. */
int sg_tensor_snprint(char *buf, size_t n, const sg_tensor *t, const sg_print_opts *opts);

/** sg_tensor_fprint to stdout with the defaults. */
int sg_tensor_print(const sg_tensor *t);

#ifdef __cplusplus
}
#endif

#endif
