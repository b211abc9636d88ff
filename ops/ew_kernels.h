/* Internal typed elementwise kernels over sg_iter with broadcasting, shared by ops' forward and
 * backward passes. Each kernel writes operand 0 from up to three inputs. Not installed. */
#ifndef SG_EW_KERNELS_H
#define SG_EW_KERNELS_H

#include "../tensor/kernels.h"

typedef enum {
    SG_K_ADD,     /* a + b */
    SG_K_SUB,     /* a - b */
    SG_K_MUL,     /* a * b */
    SG_K_DIV,     /* a / b */
    SG_K_NEGMULDIV, /* -(a * b) / c: the gradient of a/b w.r.t. b is -(g * out) / b */
    SG_K_COUNT
} sg_kcode;

/* out = f(a, b[, c]) elementwise; out has the broadcast shape, inputs broadcast to it, all the same
 * dtype. c is NULL for two-input codes. */
void sg__kmap(sg_tensor *out, sg_kcode code, const sg_tensor *a, const sg_tensor *b, const sg_tensor *c);

#endif
