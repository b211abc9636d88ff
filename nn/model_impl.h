/* Internal to nn/: what layers need from a model beyond the public nn/model.h. Not installed. */
#ifndef SG_MODEL_IMPL_H
#define SG_MODEL_IMPL_H

#include "model.h"

/* Layers register themselves so sg_model_free frees them, with an optional hook that runs at the
 * end of sg_model_finalize (e.g. zeroing an embedding's padding row). */
int sg__model_own(sg_model *m, void *obj, void (*free_fn)(void *), int (*after_init)(void *));

#endif
