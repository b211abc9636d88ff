/** @file
 * Optimizers over a model's flat parameter block (nn/model.h): SGD (momentum, Nesterov, weight
 * decay), Adam, AdamW, RMSprop, with PyTorch's update formulas; gradient clipping by global norm
 * and by value; learning-rate schedules. One pass over one array per step.
 *
 * Ownership: sg_optim_new allocates the optimizer state (one flat buffer per state kind, same
 * layout as the parameter block); sg_optim_free frees it. The model must outlive the optimizer. */
#ifndef SG_OPTIM_H
#define SG_OPTIM_H

#include "../nn/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Optimizer algorithm (each matches its torch.optim namesake). */
typedef enum {
    SG_OPT_SGD = 0, /**< SGD with optional momentum, dampening, Nesterov */
    SG_OPT_ADAM,    /**< Adam (L2 weight decay) */
    SG_OPT_ADAMW,   /**< AdamW (decoupled weight decay) */
    SG_OPT_RMSPROP, /**< RMSprop, optionally centered, with momentum */
    SG_OPT_COUNT    /**< number of kinds (not a kind) */
} sg_opt_kind;

/** Hyper-parameters of sg_optim_new(); zero fields mean PyTorch's defaults where noted. */
typedef struct {
    sg_opt_kind kind;    /**< the algorithm */
    double lr;           /**< > 0 */
    double weight_decay; /**< >= 0; L2 added to the gradient (SGD, Adam, RMSprop) or decoupled (AdamW) */
    /** SGD and RMSprop */
    double momentum;     /**< >= 0 */
    double dampening;    /**< SGD */
    bool nesterov;       /**< SGD: needs momentum > 0 and dampening 0 */
    /** Adam / AdamW */
    double beta1;        /**< in [0, 1); 0 (with beta2 0) means PyTorch's 0.9 */
    double beta2;        /**< in [0, 1); 0 (with beta1 0) means PyTorch's 0.999 */
    double eps;          /**< 0 means PyTorch's default: 1e-8 (RMSprop too) */
    /** RMSprop */
    double alpha;        /**< 0 means 0.99 */
    bool centered;       /**< RMSprop: normalise by the centered second moment */
} sg_optim_config;

/** An optimizer over one model's flat parameter block, with its state buffers; opaque. Caller-owned:
 * sg_optim_free() while the model it updates (borrowed) is alive. */
typedef struct sg_optim sg_optim;

/** Returns NULL with a message for invalid hyper-parameters or a model not finalized. */
sg_optim *sg_optim_new(sg_model *m, const sg_optim_config *cfg);
/** Frees the optimizer and its state (not the model). NULL is a no-op. */
void sg_optim_free(sg_optim *o);
/** One update of every parameter from its gradient. Bumps the parameter block's version. */
int sg_optim_step(sg_optim *o);
/** Zero the model's gradients (same as sg_model_zero_grad). */
int sg_optim_zero_grad(sg_optim *o);
/** Sets the learning rate for the next steps (> 0). Returns 0 or SG_ERR_ARG. */
int sg_optim_set_lr(sg_optim *o, double lr);
/** The current learning rate (0 for NULL o). */
double sg_optim_lr(const sg_optim *o);
/** Number of steps taken (or loaded from a checkpoint); 0 for NULL o. */
int64_t sg_optim_steps(const sg_optim *o);
/** The optimizer's configuration (borrowed), or NULL for NULL o. */
const sg_optim_config *sg_optim_get_config(const sg_optim *o);
/** The model this optimizer updates (borrowed), or NULL for NULL o. */
sg_model *sg_optim_model(const sg_optim *o);
/** "sgd", "adam", "adamw", "rmsprop" (the names checkpoints store), or NULL for an invalid kind. */
const char *sg_opt_kind_name(sg_opt_kind k);

/** State for checkpoints: named flat buffers ("exp_avg", "exp_avg_sq", "momentum_buffer",
 * "square_avg", "grad_avg"), each a 1-D tensor over the whole block (borrowed), and the step count.
 * sg_optim_state_count/name enumerate what this optimizer keeps. */
int sg_optim_state_count(const sg_optim *o);
/** Name of state buffer i (borrowed), or NULL when i is out of range (no error recorded). */
const char *sg_optim_state_name(const sg_optim *o, int i);
/** State buffer i (borrowed, owned by the optimizer), or NULL when i is out of range. */
sg_tensor *sg_optim_state(const sg_optim *o, int i);
/** Sets the step count (>= 0), as a checkpoint load does (Adam's bias correction reads it). */
int sg_optim_set_steps(sg_optim *o, int64_t steps);

/** Global-norm clipping of the model's gradients (PyTorch clip_grad_norm_): scales them by
 * max_norm / (norm + 1e-6) when the norm exceeds max_norm. Returns the norm before clipping, or
 * a negative value on error. */
double sg_clip_grad_norm(sg_model *m, double max_norm);
/** Clamps every gradient element to [-clip, clip]. */
int sg_clip_grad_value(sg_model *m, double clip);

/** Learning-rate schedules: the lr to use for optimizer step `step` (0-based) from base_lr, with
 * W = warmup_steps and k = step - W:
 *   step < W     base_lr * (step + 1) / W           linear warm-up, reaching base_lr at step W-1
 *   CONSTANT     base_lr
 *   STEP         base_lr * gamma^floor(k / step_size)
 *   COSINE       min_lr + (base_lr - min_lr) * (1 + cos(pi * k / K)) / 2 for k < K = total_steps - W,
 *                min_lr for k >= K (stays there)
 * PyTorch equivalents (tests/test_optim.c checks them against torch's own values), with lr read
 * before each scheduler.step():
 *   warm-up      LinearLR(start_factor=1/W, end_factor=1, total_iters=W-1)
 *   STEP         StepLR(step_size, gamma)
 *   COSINE       CosineAnnealingLR(T_max=K, eta_min=min_lr) for step <= total_steps; torch's is
 *                periodic and rises again after T_max, sg_lr_at holds min_lr
 *   warm-up then STEP/COSINE: SequentialLR([warm-up, StepLR/CosineAnnealingLR], milestones=[W])
 * Invalid input returns NaN with SG_ERR_ARG (NULL s: SG_ERR_NULL): step < 0, base_lr not finite or
 * < 0, warmup_steps < 0, unknown kind, STEP with step_size < 1 or gamma not finite or < 0, COSINE
 * with total_steps <= warmup_steps or min_lr not finite or < 0. */
typedef enum {
    SG_SCHED_CONSTANT = 0, /**< base_lr after the warm-up */
    SG_SCHED_STEP,         /**< multiplied by gamma every step_size steps */
    SG_SCHED_COSINE,       /**< cosine decay to min_lr at total_steps */
    SG_SCHED_COUNT         /**< number of kinds (not a kind) */
} sg_sched_kind;
/** A learning-rate schedule for sg_lr_at() (a plain value; zero fields are unused by other kinds). */
typedef struct {
    sg_sched_kind kind;   /**< the shape of the schedule */
    int64_t warmup_steps; /**< W >= 0; 0: no warm-up */
    int64_t step_size;    /**< STEP: multiply by gamma every step_size steps */
    double gamma;         /**< STEP: factor, >= 0 */
    int64_t total_steps;  /**< COSINE: reach min_lr at total_steps (counted from step 0, warm-up included) */
    double min_lr;        /**< COSINE: final lr, >= 0 */
} sg_lr_schedule;
/** The learning rate of step `step` under schedule s from base_lr (formulas above), or NaN with an
 * error. */
double sg_lr_at(const sg_lr_schedule *s, double base_lr, int64_t step);

#ifdef __cplusplus
}
#endif

#endif
