/** @file
 * The fused recurrent-layer backend's public side: whether this build has it, its process-wide
 * primitive cache and counters. The op itself, its descriptor and weight cache are internal
 * (ops/rnn_fused_impl.h); nn/rnn.c decides per layer whether it can serve (sg_fused_can_serve in
 * nn/rnn.h) and sg_rnn_last_backend says what ran. */
#ifndef SG_RNN_FUSED_H
#define SG_RNN_FUSED_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** True when this build has the oneDNN backend (SEQGRAD_HAVE_DNNL). */
bool sg_fused_available(void);

/** Drops the process-wide cache of oneDNN primitives (recreated on demand). Primitives still used
 *  by recorded forwards stay alive until those nodes are freed. Also runs at exit. */
void sg_fused_cache_clear(void);

/** Counters for tests and tuning: primitive sets created, weight-cache rebuilds (packing from the
 *  PyTorch layout) and weight reorders into primitive layouts, since process start. */
typedef struct {
    uint64_t prims_created;   /**< oneDNN primitive sets created */
    uint64_t weight_packs;    /**< weight-cache rebuilds from the PyTorch layout */
    uint64_t weight_reorders; /**< weight reorders into primitive layouts */
    int cache_entries;        /**< primitive sets in the process-wide cache now */
} sg_fused_stats;
/** See sg_fused_stats; all zero without oneDNN. */
sg_fused_stats sg_fused_get_stats(void);

#ifdef __cplusplus
}
#endif

#endif
