/* Internal to dist/'s MPI build: the group struct and MPI error reporting. */
#ifndef SG_DIST_MPI_IMPL_H
#define SG_DIST_MPI_IMPL_H

#include <mpi.h>

#include "dist_impl.h"

struct sg_dist {
    MPI_Comm comm; /* our duplicate: seqgrad's messages never mix with the application's */
    int rank, size;
    bool owns_mpi; /* sg_dist_init started MPI, so finalize ends it */
};

enum { SG__DIST_MSG_MAX = 1024 };

#define MPI_TRY(fn, call)                                        \
    do {                                                         \
        int mpi_rc_ = (call);                                    \
        if (mpi_rc_ != MPI_SUCCESS) return sg__mpi_fail(fn, #call, mpi_rc_); \
    } while (0)

/* Records "fn: MPI what failed: <MPI's message>" as SG_ERR_STATE and returns it. */
int sg__mpi_fail(const char *fn, const char *what, int rc);
static inline MPI_Datatype sg__mpi_type(sg_dtype dt) { return dt == SG_F64 ? MPI_DOUBLE : MPI_FLOAT; }

#endif
