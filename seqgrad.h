/** @file
 * seqgrad: recurrent neural networks in C11 with exact reverse-mode gradients.
 * One include for the whole public API. */
#ifndef SEQGRAD_H
#define SEQGRAD_H

#ifdef __cplusplus
extern "C" {
#endif

#include "version.h"
#include "tensor/tensor.h"
#include "autograd/autograd.h"
#include "autograd/gradcheck.h"
#include "autograd/custom_op.h"
#include "tensor/print.h"
#include "ops/ops.h"
#include "nn/model.h"
#include "nn/layers.h"
#include "nn/cell.h"
#include "nn/cells.h"
#include "nn/rnn.h"
#include "nn/stream.h"
#include "nn/summary.h"
#include "ops/rnn_fused.h"
#include "optim/optim.h"
#include "io/safetensors.h"
#include "io/checkpoint.h"
#include "io/idx.h"
#include "io/text.h"
#include "io/csv.h"
#include "io/batch.h"

#ifdef __cplusplus
}
#endif

#endif
