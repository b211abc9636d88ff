/* The README's ten-line example, verbatim inside main: build a small graph, call backward, read a
 * gradient. CTest checks that it prints what the README says. */
#include <stdio.h>

#include "seqgrad.h"

int main(void) {
    sg_tensor *w = sg_from_buffer(SG_F64, 1, (int64_t[]){3}, (double[]){0.5, -1, 2}, SG_F64);
    sg_tensor *x = sg_from_buffer(SG_F64, 1, (int64_t[]){3}, (double[]){1, 2, 3}, SG_F64);
    sg_set_requires_grad(w, true);
    sg_tensor *y = sg_sum_all(sg_tanh(sg_mul(w, x)));   /* y = sum(tanh(w*x)) */
    if (!y || sg_backward(y)) fprintf(stderr, "%s\n", sg_last_error());
    sg_tensor *g = sg_grad(w);                          /* dy/dw = x*(1 - tanh^2(w*x)) */
    printf("%f %f %f\n", sg_get_flat(g, 0), sg_get_flat(g, 1), sg_get_flat(g, 2));
    sg_tape_clear();                                    /* frees y and every intermediate */
    sg_tensor_free(w); sg_tensor_free(x);
    return sg_has_error() ? 1 : 0;
}
