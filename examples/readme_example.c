/* The README's example: build a small graph, call backward, read a gradient. */
#include <stdio.h>

#include "seqgrad.h"

int main(void) {
    int64_t shape[] = {3};
    double wv[] = {0.5, -1.0, 2.0}, xv[] = {1.0, 2.0, 3.0};
    sg_tensor *w = sg_from_buffer(SG_F64, 1, shape, wv, SG_F64);   /* user-owned leaves */
    sg_tensor *x = sg_from_buffer(SG_F64, 1, shape, xv, SG_F64);
    sg_set_requires_grad(w, true);
    sg_tensor *y = sg_sum_all(sg_tanh(sg_mul(w, x)));              /* y = sum(tanh(w * x)) */
    if (!y || sg_backward(y)) { fprintf(stderr, "%s\n", sg_last_error()); return 1; }
    sg_tensor *g = sg_grad(w);                                     /* dy/dw = x * (1 - tanh^2(w x)) */
    printf("y = %.6f\ndy/dw = [%.6f, %.6f, %.6f]\n", sg_item(y), sg_get_flat(g, 0), sg_get_flat(g, 1), sg_get_flat(g, 2));
    sg_tape_clear();                                               /* frees y and every intermediate */
    sg_tensor_free(w);
    sg_tensor_free(x);
    return 0;
}
