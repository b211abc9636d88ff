/** @file
 * Training checkpoints: a model's parameters under their PyTorch state_dict names and, optionally,
 * an optimizer's state, in one safetensors file (io/safetensors.h), written atomically.
 * Not a general archive: data-loader position, RNG streams etc. travel only as metadata strings.
 *
 * File layout (all tensors in the model's dtype, row-major, each parameter's own shape):
 *   \<param name>                each model parameter, e.g. "lstm.weight_ih_l0", "fc.bias"
 *   optim.\<state>.\<param name>  each optimizer state buffer ("momentum_buffer", "exp_avg",
 *                               "exp_avg_sq", "square_avg", "grad_avg") cut into one tensor per
 *                               parameter, shaped like it: PyTorch's optimizer.state[p][\<state>]
 *   __metadata__                "seqgrad.checkpoint": format version "1";
 *                               with an optimizer "optim.kind" (sg_opt_kind_name), "optim.steps",
 *                               "optim.lr", "optim.weight_decay", "optim.momentum", "optim.dampening",
 *                               "optim.nesterov", "optim.beta1", "optim.beta2", "optim.eps",
 *                               "optim.alpha", "optim.centered" (numbers as "%.17g": exact);
 *                               and the caller's own key/value pairs, stored under their own keys.
 * A checkpoint saved without an optimizer is exactly a state_dict: in Python,
 *   module.load_state_dict({k: torch.from_numpy(v) for k, v in st.load(path).items()}, strict=True)
 * (tools/st.py; drop the "optim." keys when an optimizer was saved). Conversely a file holding only a
 * PyTorch state_dict (e.g. safetensors.torch.save_file(module.state_dict(), path)) loads with
 * sg_checkpoint_load into a seqgrad model declared with the same names.
 *
 * Errors: negative sg_status, message in sg_last_error(). */
#ifndef SG_CHECKPOINT_H
#define SG_CHECKPOINT_H

#include <stddef.h>

#include "../nn/model.h"
#include "../optim/optim.h"
#include "safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Current value of "seqgrad.checkpoint"; metadata keys starting with these prefixes are reserved. */
#define SG_CKPT_FORMAT "1"
/** Metadata and tensor-name prefix of the optimizer section (reserved). */
#define SG_CKPT_OPTIM_PREFIX "optim."
/** Metadata key prefix reserved for seqgrad itself. */
#define SG_CKPT_RESERVED_PREFIX "seqgrad."
/** How many names of each kind (missing, unexpected, mismatched) a load error lists. */
#define SG_CKPT_REPORT_MAX 4

/** Write m's parameters and, when opt is not NULL, its state (opt must update m) to path, atomically
 * (sg_st_writer_save: a failed save leaves an existing file untouched; temporaries of killed
 * saves of the same path are removed). Concurrent saves to one path, from threads or processes,
 * each succeed: the last rename wins and path holds one whole checkpoint, never a mix of two. meta_kv: NULL, or a
 * NULL-terminated array of key, value, key, value, ..., NULL strings (valid UTF-8; keys unique,
 * not starting with "optim." or "seqgrad."). m must be finalized.
 * Returns 0, or SG_ERR_NULL / SG_ERR_STATE (m not finalized) / SG_ERR_ARG (bad or reserved key,
 * optimizer of another model, odd meta_kv) / SG_ERR_MEM / SG_ERR_IO. */
int sg_checkpoint_save(const char *path, const sg_model *m, const sg_optim *opt, const char *const *meta_kv);

/** Load path into m (finalized) and, when opt is not NULL and the file holds optimizer state, into opt.
 * All or nothing: the whole file is validated first, and on any error neither m nor opt changes.
 * Model check (like torch's load_state_dict(strict=True)): every parameter of m must be in the file
 * with the same shape and a float dtype (F32, F64, F16, BF16; converted to m's dtype), and every
 * tensor of the file must be a parameter of m or belong to the file's optimizer section.
 * Optimizer section: present when the metadata has "optim.kind"; without opt it is ignored. With
 * opt: its kind must equal opt's (SG_ERR_ARG naming both), and its tensors must be exactly
 * optim.\<state>.\<param> for every state opt keeps and every parameter (a momentum buffer saved by
 * an optimizer without momentum, or the reverse, shows as unexpected or missing names). Loads the
 * state, the step count and the lr; the other hyper-parameters stay those of opt's own config.
 * A file without an optimizer section leaves opt untouched (check sg_optim_steps to tell).
 * Errors (the message lists up to SG_CKPT_REPORT_MAX names of each problem, with shapes, and how
 * many more there are):
 *   SG_ERR_IO      missing or unreadable file        SG_ERR_FORMAT  corrupt or truncated file,
 *                                                                   or bad optim.* metadata
 *   SG_ERR_ARG     missing or unexpected names, optimizer kind differs
 *   SG_ERR_SHAPE   only shape mismatches             SG_ERR_DTYPE   only non-float dtypes
 *   SG_ERR_UNSUPPORTED  "seqgrad.checkpoint" present but not SG_CKPT_FORMAT
 *   SG_ERR_NULL / SG_ERR_STATE (m not finalized) / SG_ERR_ARG (opt updates another model). */
int sg_checkpoint_load(const char *path, sg_model *m, sg_optim *opt);
/** The same from a file already opened with sg_st_open, e.g. to read metadata and load the
 * parameters from one read of the file:
 *   sg_st_file *f = sg_st_open(path);  const char *epoch = sg_st_meta(f, "epoch");
 *   sg_checkpoint_load_st(f, m, opt);  ...  sg_st_close(f); */
int sg_checkpoint_load_st(const sg_st_file *f, sg_model *m, sg_optim *opt);

/** Copy the metadata value of key in the checkpoint at path into buf (n bytes, always
 * NUL-terminated when n > 0, truncated like snprintf). Reads and validates the whole file.
 * Returns the value's full length in bytes (>= n means truncated), or SG_ERR_ARG when the key is
 * absent, SG_ERR_IO / SG_ERR_FORMAT for the file, SG_ERR_NULL for a NULL path, key or buf (n > 0). */
int sg_checkpoint_meta(const char *path, const char *key, char *buf, size_t n);

#ifdef __cplusplus
}
#endif

#endif
