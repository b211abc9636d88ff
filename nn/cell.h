/* Recurrent cells as definitions: a cell is data (an sg_cell_def: its name, gate rows, states and
 * parameter table) plus a step function written with ops. One layer driver (nn/rnn.h: sg_rnn_new
 * with sg_rnn_config.def) runs any definition with the whole layer machinery: stacking,
 * bidirectional (the reverse direction from lengths[b]-1 down to 0), ragged lengths, initial
 * states, inter-layer dropout, batch_first, concurrent directions at 2-3 threads, the one input
 * GEMM per layer and direction over all T, and PyTorch state_dict names. sg_rnn_cell_new runs a
 * definition one step at a time for custom loops. The built-in kinds (RNN, LSTM, GRU) are
 * definitions too (sg_cell_builtin). Not here: the driver itself (rnn.c) or any backward code (the
 * tape differentiates the step).
 *
 * Shape letters: T steps, B batch, D the layer's input size (input_size for layer 0, dirs*P above),
 * H hidden_size, P = proj_size if set else H, G the definition's gate rows.
 *
 * Per layer and direction the driver computes, once for all T,
 *   xp (T, B, G*H) = x W^T + b        (W the SG_PARAM_INPUT_WEIGHT row (G*H, D), b the
 *                                      SG_PARAM_INPUT_BIAS row (G*H) when declared)
 *   xp = hoist(ctx, p, xp)            (optional, e.g. layer norm over all T at once)
 * then for each step t (0..T-1 forward, T-1..0 reverse):
 *   step(ctx, p, xg = xp[t] (B, G*H), s = states in, t) -> s_out (the new states), out (B, P).
 * Past a sequence's end (t >= lengths[b]) the driver keeps row b's states and zeroes its output.
 *
 * A whole definition, step and table, is examples/ligru_cell.h (a Light GRU, the README's section
 * "Writing a new recurrent model"); the shipped cells are nn/cell_*.c and nn/rnn_cells.c. A layer:
 *   sg_rnn *r = sg_rnn_new(m, "ligru", &(sg_rnn_config){.def = &ligru_cell, .input_size = D,
 *                                                       .hidden_size = H, .bidirectional = true});
 *
 * Ownership: a definition is borrowed by every layer and cell made from it and must outlive them
 * (normally a static const). Tensors given to and made by the hooks are tape-owned. */
#ifndef SG_CELL_DEF_H
#define SG_CELL_DEF_H

#include "../ops/ops.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Limits of a definition: states per cell, rows of its parameter table (the step's parameter
 *  array p has SG_CELL_MAX_PARAMS entries: the table's rows, then free slots for the prepare
 *  hook), dimensions of a parameter. */
enum { SG_CELL_MAX_STATES = 4, SG_CELL_MAX_PARAMS = 16, SG_CELL_MAX_DIMS = 2 };

/** The symbol a size is written in: a constant, D (the layer's input size), H, P, or G*H. */
typedef enum { SG_SIZE_ONE = 0, SG_SIZE_D, SG_SIZE_H, SG_SIZE_P, SG_SIZE_GH, SG_SIZE_COUNT } sg_size_sym;

/** A size in a definition: mult * sym (mult 0 means 1; with SG_SIZE_ONE it is the constant mult). */
typedef struct {
    sg_size_sym sym; /**< the symbol */
    int64_t mult;    /**< its multiplier (0 means 1), or the constant with SG_SIZE_ONE */
} sg_cell_size;

/** Initialisers for sg_cell_size: SG_CELL_H is H, SG_CELL_HX(2) is 2H, SG_CELL_N(5) the constant 5. */
#define SG_CELL_D {SG_SIZE_D, 1}
#define SG_CELL_H {SG_SIZE_H, 1}
#define SG_CELL_P {SG_SIZE_P, 1}
#define SG_CELL_GH {SG_SIZE_GH, 1}
#define SG_CELL_HX(k) {SG_SIZE_H, (k)}
#define SG_CELL_N(k) {SG_SIZE_ONE, (k)}

/** The options of sg_rnn_config a parameter row or a definition depends on (bit set). */
typedef enum {
    SG_CELL_OPT_BIAS = 1u << 0,     /**< bias on (sg_rnn_config.no_bias unset) */
    SG_CELL_OPT_PROJ = 1u << 1,     /**< proj_size set (P < H) */
    SG_CELL_OPT_PEEPHOLE = 1u << 2, /**< peephole set */
} sg_cell_opt;

/** What the driver does with a parameter row: nothing (the step reads it), or it is the weight
 *  (G*H, D) / bias (G*H) of the hoisted input product. At most one of each; the input weight is
 *  required. */
typedef enum { SG_PARAM_PLAIN = 0, SG_PARAM_INPUT_WEIGHT, SG_PARAM_INPUT_BIAS } sg_param_role;

/** How a parameter is initialised by sg_model_finalize. DEFAULT is PyTorch's recurrent default,
 *  uniform(-1/sqrt(H), 1/sqrt(H)); the others take init_a as in sg_init_kind. */
typedef enum {
    SG_CELL_INIT_DEFAULT = 0,
    SG_CELL_INIT_ZEROS,
    SG_CELL_INIT_CONST,   /**< every element init_a (layer-norm gains: 1) */
    SG_CELL_INIT_UNIFORM, /**< uniform(-init_a, init_a) */
    SG_CELL_INIT_NORMAL,  /**< normal(0, init_a) */
} sg_cell_init;

/** One row of a parameter table. */
typedef struct {
    const char *name;  /**< short name, e.g. "weight_ih"; a layer adds "_l{k}" and "_reverse" */
    int ndim;          /**< 1 or 2 */
    sg_cell_size shape[SG_CELL_MAX_DIMS]; /**< the ndim sizes */
    sg_param_role role; /**< what the driver does with it */
    unsigned when;     /**< SG_CELL_OPT_* bits that must all hold for the row to exist (0: always) */
    sg_cell_init init; /**< how sg_model_finalize() initialises it */
    double init_a;     /**< the initialiser's argument */
} sg_cell_param;

/** One state of a cell: its name and size (each state is (B, size)). State 0 is what h0 and h_n
 *  of sg_rnn_forward refer to, state 1 what c0 and c_n refer to. */
typedef struct {
    const char *name;  /**< e.g. "h", "c" (for messages) */
    sg_cell_size size; /**< each state is (B, size) */
} sg_cell_state;

typedef struct sg_cell_def sg_cell_def;
struct sg_rnn_config;

/** What a hook knows about the layer, direction and call it runs for. Borrowed, valid during the
 *  call only. B is 0 in after_init. */
typedef struct {
    const sg_cell_def *def;          /**< the definition being run */
    const struct sg_rnn_config *cfg; /**< the layer's (or cell's) configuration */
    int64_t D;       /**< input size of this layer */
    int64_t H;       /**< hidden size */
    int64_t P;       /**< output size (proj_size if set, else H) */
    int64_t B;       /**< batch size of this call (0 in after_init) */
    int layer;       /**< layer index, 0-based */
    int dir;         /**< dir 1: the reverse direction */
    unsigned opts;   /**< the SG_CELL_OPT_* bits that hold */
    const void *data; /**< sg_rnn_config.cell_data (borrowed) */
} sg_cell_ctx;

/** One step. p[i]: parameter row i of the table (NULL where its `when` does not hold), then any
 *  tensors prepare added. xg (B, G*H): the hoisted input product of this step (a view; the step
 *  must not write it). s[k] (B, size_k): state k before the step. t: the time index of this step
 *  (0..T-1, also in the reverse direction, where it runs down). The step writes s_out[k] (B,
 *  size_k) for every state and may write *out (B, P), the step's output; left NULL, the output is
 *  s_out[0], which must then be (B, P). Returns 0 or a negative status (an op's NULL result:
 *  return sg_last_status()). */
typedef int (*sg_cell_step_fn)(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xg, sg_tensor *const *s,
                               int64_t t, sg_tensor **s_out, sg_tensor **out);

/** Optional: replaces the hoisted input product xp (T, B, G*H) of one layer and direction by a
 *  tensor of the same shape computed from it over all T at once (e.g. a layer norm of each row).
 *  Returns the new tensor, or NULL with an error recorded. */
typedef sg_tensor *(*sg_cell_hoist_fn)(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xp);

/** Optional: runs once per forward call, layer and direction, before the time loop. It may fill
 *  the free slots p[n_rows..SG_CELL_MAX_PARAMS) with tensors derived from the parameters (row
 *  blocks of a weight, a masked weight) so the steps do not rebuild them each step. Returns 0 or
 *  a negative status. */
typedef int (*sg_cell_prepare_fn)(const sg_cell_ctx *c, sg_tensor **p);

/** Optional: runs at the end of sg_model_finalize for each layer and direction, to set
 *  parameters after the table's initialisation (e.g. a forget-gate bias). Returns 0 or a status. */
typedef int (*sg_cell_init_fn)(const sg_cell_ctx *c, sg_tensor *const *p);

/** A cell definition. Zero-initialise and set the fields; the tables end at the first row whose
 *  name is NULL (or at their capacity). */
struct sg_cell_def {
    const char *name;   /**< used in every error message about the cell */
    int gates;          /**< G >= 1: the hoisted input product has G*H columns */
    sg_cell_state states[SG_CELL_MAX_STATES]; /**< the states, ending at the first NULL name */
    sg_cell_param params[SG_CELL_MAX_PARAMS]; /**< the parameter table, ending at the first NULL name */
    unsigned allows;    /**< SG_CELL_OPT_PROJ / _PEEPHOLE this cell accepts (BIAS always) */
    sg_cell_step_fn step;       /**< required */
    sg_cell_hoist_fn hoist;     /**< optional */
    sg_cell_prepare_fn prepare; /**< optional */
    sg_cell_init_fn after_init; /**< optional */
};

/** Checks a definition: a name, gates >= 1, a step, 1..SG_CELL_MAX_STATES states, valid and unique
 *  parameter rows (ndim 1 or 2, known size symbols, positive sizes), exactly one input weight of
 *  shape (G*H, D) and at most one input bias of shape (G*H). fn names the caller in the message.
 *  Returns 0, or SG_ERR_NULL / SG_ERR_ARG with a message naming the cell and the row. */
int sg_cell_def_check(const sg_cell_def *def, const char *fn);

/** Number of states / parameter-table rows of a definition (0 for NULL). */
int sg_cell_num_states(const sg_cell_def *def);
/** See sg_cell_num_states. */
int sg_cell_num_params(const sg_cell_def *def);

/** Resolves a size for sizes D, H, P and gate rows G (no error: sizes are checked by
 *  sg_cell_def_check). */
int64_t sg_cell_size_eval(sg_cell_size s, int64_t D, int64_t H, int64_t P, int G);

/** The built-in definitions: one table row each (nn/rnn_cells.c). Parameter names, order, shapes
 *  and initialisation are PyTorch's (nn/rnn.h). LSTM accepts proj and peephole; GRU is PyTorch's
 *  form, gru_reset_before the original Cho et al. form. */
extern const sg_cell_def sg_cell_rnn_tanh, sg_cell_rnn_relu, sg_cell_lstm, sg_cell_gru, sg_cell_gru_reset_before;

#ifdef __cplusplus
}
#endif

#endif
