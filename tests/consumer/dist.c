/* Out-of-tree consumer of seqgrad::dist (scripts/consumer-test.sh), alone or under mpirun -np N:
 * every rank's gradient is rank + 1 in every element, so the average over the group must be
 * (N + 1) / 2 on every rank; the model check, broadcast and parameter-hash check must pass. Rank 0
 * prints "...: ok" when every rank agrees. Built without MPI, the group is one process. */
#include <seqgrad/dist/dist.h>
#include <seqgrad/seqgrad.h>
#include <stdio.h>

enum { N_ELEMS = 5 };

int main(int argc, char **argv) {
    sg_dist *d;
    if (sg_dist_init(&argc, &argv, &d)) {
        fprintf(stderr, "consumer (dist): %s\n", sg_last_error());
        return 1;
    }
    int rank = sg_dist_rank(d), n = sg_dist_size(d);
    sg_model *m = sg_model_new(SG_F32);
    const int64_t shape[1] = {N_ELEMS};
    int ok = m && !sg_model_declare(m, "w", 1, shape, SG_INIT_UNIFORM, 1.0) && !sg_model_finalize(m, 1u + (unsigned)rank) &&
             !sg_dist_check_model(d, m) && !sg_dist_broadcast_model(d, m, NULL, 0);
    sg_dist_grads *g = ok ? sg_dist_grads_new(d, m, 0) : NULL;
    if (g) {
        float *gr = sg_data_f32(sg_model_flat_grads(m));
        for (int i = 0; i < N_ELEMS; i++) gr[i] = (float)(rank + 1);
        ok = !sg_dist_grads_allreduce(g, 1.0 / n) && !sg_dist_check_params(d, m);
        for (int i = 0; i < N_ELEMS; i++) ok &= gr[i] == (float)(n + 1) / 2;
    }
    if (!ok) fprintf(stderr, "consumer (dist): rank %d: %s\n", rank, sg_last_error());
    double all_ok = ok;
    if (sg_dist_sum(d, &all_ok, 1)) all_ok = 0;
    if (rank == 0)
        printf("consumer (dist): %d process(es), %s: %s\n", n, sg_dist_available() ? "MPI" : "one-process build",
               all_ok == n ? "ok" : "WRONG");
    sg_dist_grads_free(g);
    sg_model_free(m);
    sg_dist_finalize(d);
    return all_ok == n ? 0 : 1;
}
