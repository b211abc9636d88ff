/* Out-of-tree consumer (scripts/consumer-test.sh): the README's ten-line example against an
 * installed seqgrad, plus the version API. Exits 0 only when the gradient is right and the loaded
 * OpenBLAS is the OpenMP build (one thread team). */
#include <seqgrad/seqgrad.h>
#include <math.h>
#include <stdio.h>

int main(void) {
    const sg_version_info *v = sg_library_version();
    printf("consumer (C): seqgrad %s (headers %s), oneDNN %s, OpenBLAS %s\n", v->string, SEQGRAD_VERSION_STRING,
           v->onednn ? "built in" : "off", v->blas_openmp ? "OpenMP" : "NOT OpenMP");
    sg_tensor *w = sg_from_buffer(SG_F64, 1, (int64_t[]){3}, (double[]){0.5, -1, 2}, SG_F64);
    sg_tensor *x = sg_from_buffer(SG_F64, 1, (int64_t[]){3}, (double[]){1, 2, 3}, SG_F64);
    sg_set_requires_grad(w, true);
    sg_tensor *y = sg_sum_all(sg_tanh(sg_mul(w, x)));
    if (!y || sg_backward(y)) {
        fprintf(stderr, "%s\n", sg_last_error());
        return 1;
    }
    sg_tensor *g = sg_grad(w);
    const double want[3] = {0.786448, 0.141302, 0.000074};
    int ok = v->blas_openmp && v->major == SEQGRAD_VERSION_MAJOR;
    for (int i = 0; i < 3; i++) ok &= fabs(sg_get_flat(g, i) - want[i]) < 1e-6;
    printf("grad %f %f %f: %s\n", sg_get_flat(g, 0), sg_get_flat(g, 1), sg_get_flat(g, 2), ok ? "ok" : "WRONG");
    sg_tape_clear();
    sg_tensor_free(w);
    sg_tensor_free(x);
    return ok ? 0 : 1;
}
