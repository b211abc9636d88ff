/** @file
 * seqgrad primitive ops. Each returns a new tape-owned tensor (see autograd/autograd.h) and, when
 * gradients are enabled and an input requires grad, records its backward.
 *
 * Conventions for every op here:
 *   - Inputs of two or more tensors must share a dtype (float32 or float64); convert with sg_to_dtype.
 *   - Binary elementwise ops broadcast with NumPy rules (align right, size-1 dims stretch).
 *   - dim arguments may be negative (counting from the end).
 *   - On error the op returns NULL and records a message naming the op, the argument and the
 *     shapes; an op given NULL (a failed earlier result) returns NULL and keeps the first message,
 *     so a whole expression can be checked once at the end.
 * Shape letters in comments: N rows / batch, C classes, M K N for matmul. */
#ifndef SG_OPS_H
#define SG_OPS_H

#include "../autograd/autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/** How a loss reduces its per-element values (PyTorch's reduction=). */
typedef enum {
    SG_REDUCE_MEAN = 0, /**< the mean: a 0-d result */
    SG_REDUCE_SUM = 1,  /**< the sum: a 0-d result */
    SG_REDUCE_NONE = 2  /**< no reduction: one value per element */
} sg_reduction;

/* ---- elementwise, binary, broadcasting: a (...), b (...) -> broadcast(a,b) ---- */
/** a + b, broadcasting. Like every op: a tape-owned result, or NULL with an error (SG_ERR_SHAPE
 * naming both shapes, SG_ERR_DTYPE, or SG_ERR_PROPAGATED for a NULL input). */
sg_tensor *sg_add(sg_tensor *a, sg_tensor *b);
/** a - b, broadcasting. */
sg_tensor *sg_sub(sg_tensor *a, sg_tensor *b);
/** a * b elementwise, broadcasting. */
sg_tensor *sg_mul(sg_tensor *a, sg_tensor *b);
/** a / b elementwise, broadcasting. */
sg_tensor *sg_div(sg_tensor *a, sg_tensor *b);

/* ---- elementwise, unary: a (...) -> (...) ---- */
/** -a */
sg_tensor *sg_neg(sg_tensor *a);
/** a + s */
sg_tensor *sg_add_scalar(sg_tensor *a, double s);
/** a * s */
sg_tensor *sg_mul_scalar(sg_tensor *a, double s);
sg_tensor *sg_pow_scalar(sg_tensor *a, double p); /**< a^p; p non-integer needs a > 0 */
/** e^a */
sg_tensor *sg_exp(sg_tensor *a);
/** Natural log (-inf at 0, NaN below, as C's log). */
sg_tensor *sg_log(sg_tensor *a);
/** Square root (gradient inf at 0). */
sg_tensor *sg_sqrt(sg_tensor *a);
sg_tensor *sg_abs(sg_tensor *a);    /**< gradient 0 at 0 (as PyTorch's sign) */
/** 1 / (1 + e^-a), computed stably for large |a|. */
sg_tensor *sg_sigmoid(sg_tensor *a);
/** Hyperbolic tangent. */
sg_tensor *sg_tanh(sg_tensor *a);
sg_tensor *sg_relu(sg_tensor *a);   /**< gradient 0 at 0 */
/** GELU, exact form x * Phi(x), Phi the standard normal CDF (torch.nn.functional.gelu):
 * a (...) -> (...), a new tape-owned tensor; NULL (error recorded) only for a bad argument. */
sg_tensor *sg_gelu(sg_tensor *a);
/** GELU, tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (PyTorch's
 * approximate='tanh'): a (...) -> (...), a new tape-owned tensor; NULL only for a bad argument. */
sg_tensor *sg_gelu_tanh(sg_tensor *a);
/** min(max(a, lo), hi); gradient passes where lo <= a <= hi. Use -INFINITY/INFINITY for one side. */
sg_tensor *sg_clamp(sg_tensor *a, double lo, double hi);
/** Differentiable dtype conversion (gradient converted back). */
sg_tensor *sg_to_dtype(sg_tensor *a, sg_dtype dt);

/* ---- matrix products ---- */
/** float64 products always use OpenBLAS (dgemm). float32 products use oneDNN's JIT sgemm when
 * seqgrad is built with oneDNN (about 2x OpenBLAS 0.3.21 on AVX-512 machines, where OpenBLAS runs
 * its AVX2 kernels), else OpenBLAS. SG_GEMM_AUTO picks that; the others force one (ONEDNN without
 * oneDNN built in is SG_ERR_UNSUPPORTED). Both are tested against each other. Process-wide. */
typedef enum {
    SG_GEMM_AUTO = 0, /**< oneDNN when built in, else OpenBLAS */
    SG_GEMM_OPENBLAS, /**< OpenBLAS sgemm */
    SG_GEMM_ONEDNN    /**< oneDNN's JIT sgemm */
} sg_gemm_backend;
/** Chooses the float32 GEMM backend (process-wide). Returns 0, or SG_ERR_UNSUPPORTED for ONEDNN
 * without oneDNN built in, SG_ERR_ARG for an unknown value. */
int sg_set_gemm_backend(sg_gemm_backend b);
/** The backend float32 products use now (never AUTO). */
sg_gemm_backend sg_get_gemm_backend(void);

/** Matrix product with batched, broadcasting leading dims (torch.matmul for operands of 2 or more
 * dims): a (..., M, K) @ b (..., K, N) -> (broadcast(a..., b...), M, N), a new tape-owned tensor.
 * 2-D @ 2-D, and 3-D with an equal batch or a 2-D side shared by every batch entry, take the
 * original paths; other shapes run one GEMM per broadcast batch entry, and the gradient of a
 * broadcast operand is summed over the dims it was broadcast along. Returns NULL with
 * SG_ERR_SHAPE naming both shapes for a 0-d/1-d operand, K mismatch, leading dims that do not
 * broadcast, or a result of more than SG_MAX_DIMS dims; SG_ERR_DTYPE for mixed dtypes. */
sg_tensor *sg_matmul(sg_tensor *a, sg_tensor *b);
/** Same with optional transposes: op(a) @ op(b), op(x) = x^T (last two dims) when the flag is set. */
sg_tensor *sg_matmul_t(sg_tensor *a, bool trans_a, sg_tensor *b, bool trans_b);
/** x (..., In) @ w^T (In, Out) + bias (Out) -> (..., Out); bias may be NULL. One GEMM. */
sg_tensor *sg_linear(sg_tensor *x, sg_tensor *w, sg_tensor *bias);
/** add + x @ w^T + bias, add (..., Out) of the result's shape: one GEMM accumulating onto add (a
 * recurrent step's h W_hh^T + b_hh on top of the precomputed input products). Backward never reads
 * add's values. */
sg_tensor *sg_linear_add(sg_tensor *x, sg_tensor *w, sg_tensor *bias, sg_tensor *add);

/* ---- softmax family: a (...) -> same shape, normalised along dim ---- */
/** Stable (the slice maximum is subtracted; computed in double). a needs at least one dim. A NaN in
 * a slice, or a slice that is all -inf, gives NaN in that slice; a -inf entry gets probability 0. */
sg_tensor *sg_softmax(sg_tensor *a, int dim);
/** log(softmax(a, dim)), computed directly (stable; same NaN and -inf rules). */
sg_tensor *sg_log_softmax(sg_tensor *a, int dim);

/* ---- reductions ----
 * Deterministic: each output is accumulated sequentially in a fixed order (float32 in double);
 * reductions over every dim add fixed-size blocks (a size independent of the thread count) in
 * order, so results are bitwise identical for any thread count. */
/** Sum over the n dims listed (n == 0: all dims). keepdim keeps them as size 1. A dim listed
 * twice or out of range is SG_ERR_ARG. The sum over nothing is 0; the mean over nothing is NaN
 * (as PyTorch). */
sg_tensor *sg_sum(sg_tensor *a, int n, const int *dims, bool keepdim);
/** Mean over the n dims listed (same rules as sg_sum()). */
sg_tensor *sg_mean(sg_tensor *a, int n, const int *dims, bool keepdim);
/** Maximum along one dim; gradient goes to the first maximal element. NaN counts as the largest
 * value: a slice with a NaN gives NaN and the first NaN gets the gradient (as PyTorch). An empty
 * dim is SG_ERR_SHAPE. */
sg_tensor *sg_max(sg_tensor *a, int dim, bool keepdim);
/** Whole-tensor reductions -> 0-d (same rules; sg_max_all of an empty tensor is SG_ERR_SHAPE). */
sg_tensor *sg_sum_all(sg_tensor *a);
/** Mean of every element -> 0-d (NaN for an empty tensor). */
sg_tensor *sg_mean_all(sg_tensor *a);
/** Largest element -> 0-d (NaN if any is NaN; SG_ERR_SHAPE when empty). */
sg_tensor *sg_max_all(sg_tensor *a);
/** Minimum along one dim: a (...) -> a's shape without dim (size 1 with keepdim). The same rules
 * as sg_max: the first minimal element gets the gradient, NaN counts as the smallest value (a slice
 * with a NaN gives NaN), an empty dim is SG_ERR_SHAPE. Returns a tape-owned tensor or NULL. */
sg_tensor *sg_min(sg_tensor *a, int dim, bool keepdim);
/** Minimum of all elements -> 0-d (rules of sg_min); an empty tensor is SG_ERR_SHAPE. */
sg_tensor *sg_min_all(sg_tensor *a);
/** Index along dim of the maximum of each slice (the first one on ties; NaN counts as the
 * largest), as torch.argmax: for a (..., S, ...) writes one index in [0, S) per slice to idx, in
 * row-major order over a's shape without dim. seqgrad tensors are float only, so index results
 * are int64_t arrays owned by the caller, as the indices sg_index_select, sg_embedding and
 * sg_cross_entropy take. cap is idx's room. Returns the number of indices written (the numel of
 * a's shape without dim), or a negative status: SG_ERR_ARG when cap is too small (message gives
 * the count needed) or dim is bad, SG_ERR_SHAPE for an empty dim, SG_ERR_NULL for a NULL idx.
 * No graph is recorded. */
int64_t sg_argmax(const sg_tensor *a, int dim, int64_t *idx, int64_t cap);
/** Index of the minimum of each slice along dim; as sg_argmax (NaN counts as the smallest). */
int64_t sg_argmin(const sg_tensor *a, int dim, int64_t *idx, int64_t cap);
/** The k largest (largest = true) or smallest elements of each slice along dim, sorted (largest
 * first, or smallest first; ties by the lower index; NaN ranks above every number, as in
 * torch.topk): a (..., S, ...) -> values (..., k, ...), a tape-owned tensor whose gradient goes to
 * the elements the values came from. When indices is not NULL, their positions along dim (in
 * [0, S)) are written there in the values' row-major order; cap is its room (pass NULL, 0 for
 * none). Returns NULL with SG_ERR_ARG when k is outside [0, S] or cap is too small, or a bad-dim
 * error. */
sg_tensor *sg_topk(sg_tensor *a, int64_t k, int dim, bool largest, int64_t *indices, int64_t cap);
/** Variance over the n dims listed (n == 0: all dims): a (...) -> a's shape without them (size 1
 * with keepdim). sum (x - mean)^2 / (N - 1) when unbiased (Bessel's correction, torch.var's
 * default), / N otherwise; NaN when N - ddof <= 0 (as PyTorch). One fused op (statistics in
 * double). Returns a tape-owned tensor, or NULL for a bad or repeated dim (SG_ERR_ARG). */
sg_tensor *sg_var(sg_tensor *a, int n, const int *dims, bool unbiased, bool keepdim);
/** Standard deviation: sqrt of sg_var with the same arguments; where it is 0 the gradient is 0
 * (as PyTorch). */
sg_tensor *sg_std(sg_tensor *a, int n, const int *dims, bool unbiased, bool keepdim);
/** Cumulative sum along dim (torch.cumsum): a (...) -> same shape, y_j = sum of x_i for i <= j,
 * accumulated in double in index order. A 0-d a takes dim 0 or -1 and is returned as it is.
 * Returns a tape-owned tensor, or NULL for a bad dim. */
sg_tensor *sg_cumsum(sg_tensor *a, int dim);

/* ---- shape ops (views where the data allows) ---- */
/** New shape with the same numel; one entry may be -1 (inferred). A view when a is contiguous. */
sg_tensor *sg_reshape(sg_tensor *a, int ndim, const int64_t *shape);
sg_tensor *sg_transpose(sg_tensor *a, int d0, int d1);     /**< view */
sg_tensor *sg_permute(sg_tensor *a, const int *perm);      /**< view; perm has ndim entries */
sg_tensor *sg_narrow(sg_tensor *a, int dim, int64_t start, int64_t len); /**< view */
sg_tensor *sg_unsqueeze(sg_tensor *a, int dim);            /**< view; dim in [-(ndim+1), ndim] */
sg_tensor *sg_squeeze(sg_tensor *a, int dim);              /**< view; that dim must have size 1 */
/** Element `index` along `dim`, with that dim removed (torch.select): a (..., S, ...) -> (...).
 * A tape-owned view of a's storage (no copy); the gradient goes into that slice of a's gradient.
 * dim and index may be negative (index -1 is the last element). Returns NULL with SG_ERR_ARG
 * naming the op, the index and the shape when index is outside [-S, S), or a bad-dim error. */
sg_tensor *sg_select(sg_tensor *a, int dim, int64_t index);
sg_tensor *sg_contiguous(sg_tensor *a); /**< a itself (new handle) when already contiguous */
/** n tensors of equal shape except along dim -> joined along dim. */
sg_tensor *sg_concat(int n, sg_tensor *const *ts, int dim);
/** n tensors of equal shape -> new dim inserted at dim. */
sg_tensor *sg_stack(int n, sg_tensor *const *ts, int dim);
/** Split along dim into n pieces of the given sizes (summing to the dim's size); writes n views
 * into out. Returns 0 or a negative status. */
int sg_split(sg_tensor *a, int dim, int n, const int64_t *sizes, sg_tensor **out);
/** Split into n equal chunks (the dim's size must be divisible by n). */
int sg_chunk(sg_tensor *a, int n, int dim, sg_tensor **out);

/* ---- indexing ---- */
/** Select n entries along dim by index (each in [0, size)); -> a's shape with dim's size = n. */
sg_tensor *sg_index_select(sg_tensor *a, int dim, int64_t n, const int64_t *idx);
/** Embedding lookup: weight (V,E), idx of shape (ndim, shape) with values in [0,V) ->
 * (shape..., E). Rows equal to padding_idx get no gradient (padding_idx < 0: none). */
sg_tensor *sg_embedding(sg_tensor *weight, int ndim, const int64_t *shape, const int64_t *idx,
                        int64_t padding_idx);
/** torch.gather along dim: out[..., j, ...] = x[..., index[..., j, ...], ...], for x (..., S, ...) and
 * an index array of x's ndim with shape index_shape (sizes <= x's off dim, any size along dim),
 * given row-major as int64_t (seqgrad tensors are float only; see sg_argmax). -> index_shape, a new
 * tape-owned tensor. The gradient is scatter-added into x (duplicates summed in index order,
 * deterministic). index is copied. Returns NULL with SG_ERR_ARG naming the position of an index
 * outside [0, S) (negative indices are not allowed, as torch.gather), SG_ERR_SHAPE for an index
 * shape that does not fit, SG_ERR_NULL for a NULL index or index_shape, or a bad-dim error. */
sg_tensor *sg_gather(sg_tensor *x, int dim, const int64_t *index_shape, const int64_t *index);
/** torch.scatter_add along dim: a copy of x with src[..., j, ...] added at x[..., index[..., j, ...], ...]
 * for every position of the index (shape index_shape, x's ndim, sizes <= src's and <= x's off
 * dim; src's elements outside it are not used). -> x's shape, a new tape-owned tensor,
 * differentiable w.r.t. x (gradient gout) and src (gout gathered at the index). Duplicates are
 * summed in index order: deterministic for any thread count. Errors as sg_gather, plus
 * SG_ERR_DTYPE / SG_ERR_SHAPE for a src of another dtype or ndim. */
sg_tensor *sg_scatter_add(sg_tensor *x, int dim, const int64_t *index_shape, const int64_t *index, sg_tensor *src);
/** cond ? a : b elementwise with broadcasting; cond is any tensor, nonzero meaning true; no
 * gradient flows to cond. */
sg_tensor *sg_where(sg_tensor *cond, sg_tensor *a, sg_tensor *b);
/** a with value where mask (broadcast to a) is nonzero; those positions get no gradient. */
sg_tensor *sg_masked_fill(sg_tensor *a, sg_tensor *mask, double value);

/* ---- fused recurrent gate ops (speed; each equals its composition of the ops above) ---- */
/** LSTM step after the matrix products: xg, hg (B, 4H) gate pre-activations in PyTorch order
 * i, f, g, o (x W_ih^T + b_ih and h W_hh^T + b_hh), c (B, H) -> (2, B, H) holding h' and c':
 * c' = s(f) c + s(i) tanh(g), h' = s(o) tanh(c'). hg may be NULL: xg is then the whole
 * pre-activation (e.g. sg_linear_add(h, W_hh, b_hh, x W_ih^T + b_ih)). */
sg_tensor *sg_lstm_pointwise(sg_tensor *xg, sg_tensor *hg, sg_tensor *c);
/** GRU step (PyTorch form) after the matrix products: xg (B, 3H) = x W_ih^T + b_ih, hg (B, 3H) =
 * h W_hh^T + b_hh, order r, z, n; h (B, H) -> h' (B, H):
 * r = s(xr + hr), z = s(xz + hz), n = tanh(xn + r hn), h' = (1 - z) n + z h. */
sg_tensor *sg_gru_pointwise(sg_tensor *xg, sg_tensor *hg, sg_tensor *h);
/** The convex gated update of a recurrent state: a, z, h of one shape (any) -> (1 - z) h + z tanh(a)
 * (the tail of a Minimal Gated Unit step, z the update gate's value, a the candidate's
 * pre-activation). One pass and one closed-form backward (to a, z and h) instead of sg_tanh,
 * sg_sub, sg_mul and sg_add, which it equals; elements run in parallel (results do not depend on
 * the thread count). Strided inputs are read through contiguous copies. Returns a tape-owned
 * tensor, or NULL: SG_ERR_NULL for a NULL input, SG_ERR_SHAPE (naming z or h) when the shapes
 * differ, SG_ERR_DTYPE for mixed dtypes. */
sg_tensor *sg_gated_tanh_update(sg_tensor *a, sg_tensor *z, sg_tensor *h);
/** LayerNorm-LSTM step after the matrix products and the gates' layer norms (Ba et al. 2016, the
 * form of PyTorch's benchmarks/fastrnns LayerNormLSTMCell): xg, hg (B, 4H) gate pre-activations in
 * order i, f, g, o (hg may be NULL: xg is then the whole pre-activation), c (B, H), weight and bias
 * (H) or NULL (each independently) -> (2, B, H) holding h' and c':
 *   c~ = s(f) c + s(i) tanh(g),  c' = layer_norm(c~) weight + bias,  h' = s(o) tanh(c'),
 * the layer norm over H with eps (biased variance, as sg_layer_norm). One pass per batch row and
 * one closed-form backward (to xg, hg, c, weight, bias); it equals sg_lstm_pointwise(xg, hg, c)'s
 * c' through sg_layer_norm, sg_tanh and sg_mul. Rows run in parallel; the weight/bias gradients
 * are summed in row order, so results do not depend on the thread count. Returns a tape-owned
 * tensor, or NULL: SG_ERR_NULL for a NULL xg or c, SG_ERR_SHAPE (naming the argument) unless c is
 * (B, H), xg and hg (B, 4H), weight and bias (H); SG_ERR_DTYPE for mixed dtypes; SG_ERR_ARG for eps
 * negative, NaN or infinite. */
sg_tensor *sg_lnlstm_pointwise(sg_tensor *xg, sg_tensor *hg, sg_tensor *c, sg_tensor *weight, sg_tensor *bias,
                               double eps);

/* ---- normalisation ---- */
/** Layer normalisation over the last dim, one fused op: x (..., D) -> (..., D),
 * y = (x - mean) / sqrt(var + eps) * weight + bias, mean and the biased variance taken over the last
 * dim of each row (as torch.nn.functional.layer_norm with normalized_shape (D)). weight and bias
 * are (D) tensors of x's dtype, or NULL for none (each independently). The per-row mean and
 * 1/sqrt(var + eps) are kept for the fused backward, which gives the gradients of x, weight and
 * bias. Statistics are computed in double; rows run in parallel and each weight/bias gradient
 * column is summed over the rows in row order, so results do not depend on the thread count.
 * Returns a tape-owned tensor, or NULL: SG_ERR_SHAPE for a 0-d x or a weight/bias that is not (D),
 * SG_ERR_DTYPE for mixed dtypes, SG_ERR_ARG for eps negative, NaN or infinite. */
sg_tensor *sg_layer_norm(sg_tensor *x, sg_tensor *weight, sg_tensor *bias, double eps);

/* ---- regularisation ---- */
/** Inverted dropout: in training, zero each element with probability p and scale the rest by
 * 1/(1-p), with the mask drawn from rng (advances it by numel); identity (a new handle sharing a's
 * data; the gradient passes; rng untouched and may be NULL) when !training or p == 0. p outside
 * [0,1) is SG_ERR_ARG. Element i (row-major) uses Philox counter rng->offset + i, so the mask is the
 * same for any thread count or layout of a; backward regenerates it from the saved seed/offset. */
sg_tensor *sg_dropout(sg_tensor *a, double p, bool training, sg_rng *rng);

/* ---- sampling for generation (no gradient, no graph) ---- */
/** One class id per row drawn from softmax(logits / temperature): logits (..., C) -> prod(...) ids
 * in [0, C), written row-major to out (room cap; owned by the caller). Reproducible: row i uses
 * Philox counter rng->offset + i of rng's seed, so the same seed gives the same ids for any thread
 * count; rng advances by the number of rows. Lower temperature sharpens towards the argmax.
 * -inf logits are never drawn. Returns the number of ids, or a negative status: SG_ERR_ARG for a
 * temperature that is <= 0, NaN or infinite, a NaN or +inf logit (message names row and class), a
 * row that is all -inf, or cap too small; SG_ERR_NULL for a NULL rng or out; SG_ERR_SHAPE for 0-d
 * logits or C == 0. On error rng is unchanged and out may be partly written. */
int64_t sg_sample_logits(const sg_tensor *logits, double temperature, sg_rng *rng, int64_t *out, int64_t cap);
/** One class id per row drawn in proportion to non-negative weights (torch.multinomial with one
 * sample; rows need not be normalised): probs (..., C) -> prod(...) ids into out. Same RNG use
 * and failures as sg_sample_logits, with SG_ERR_ARG for a negative, NaN or infinite weight or a
 * row of zeros. */
int64_t sg_multinomial(const sg_tensor *probs, sg_rng *rng, int64_t *out, int64_t cap);

/* ---- losses ---- */
/** logits (N,C), targets[N] class ids in [0,C) or ignore_index -> 0-d (mean over non-ignored rows,
 * or sum) or (N) for SG_REDUCE_NONE (0 at ignored rows). Computed via log-softmax, gradient
 * softmax - onehot (scaled). With every row ignored, MEAN is NaN (0/0, as PyTorch) and the gradient
 * is 0. A target outside [0,C) that is not ignore_index is SG_ERR_ARG naming the row and value.
 * targets is copied (may be NULL when N == 0). */
sg_tensor *sg_cross_entropy(sg_tensor *logits, const int64_t *targets, int64_t ignore_index,
                            sg_reduction red);
/** Cross-entropy over (..., C) logits with class-index targets, ignore_index and label smoothing:
 * the semantics of torch.nn.functional.cross_entropy (no class weights), with the class dim LAST
 * (a (T,B,V) decoder output as it is; torch puts it at dim 1). targets holds one int64 class id per
 * row, row-major over the leading dims (numel / C of them), each in [0,C) or equal to
 * ignore_index; it is copied. Row loss with smoothing e in [0,1]:
 * (1 - e) * (-log p_target) + e * mean_j(-log p_j). Ignored rows lose 0 and get no gradient.
 * SG_REDUCE_MEAN divides the sum by the number of non-ignored rows (with or without smoothing, as
 * PyTorch 1.13; NaN when every row is ignored, gradient 0), SUM sums, NONE returns the per-row
 * losses with the leading dims' shape. Returns a tape-owned tensor, or NULL: SG_ERR_ARG naming
 * the first bad target (position and value) or a label_smoothing outside [0,1], SG_ERR_SHAPE for
 * 0-d logits, SG_ERR_NULL for NULL targets with rows to score. sg_cross_entropy is this with
 * (N,C) logits and no smoothing. */
sg_tensor *sg_cross_entropy_nd(sg_tensor *logits, const int64_t *targets, int64_t ignore_index,
                               double label_smoothing, sg_reduction red);
/** Binary cross-entropy on logits, numerically stable: max(x,0) - x*t + log1p(exp(-|x|)). logits
 * (...), targets (...) same shape (no broadcasting), values in [0,1]. No gradient to targets (they
 * are not a graph input; modifying them in place before backward makes backward fail with
 * SG_ERR_STATE). MEAN averages over all elements (NaN when empty). */
sg_tensor *sg_bce_with_logits(sg_tensor *logits, sg_tensor *targets, sg_reduction red);
/** Mean squared error: (a-b)^2 reduced (MEAN over all elements, NaN when empty). Gradient to both.
 * Shapes must match exactly (no broadcasting). */
sg_tensor *sg_mse(sg_tensor *a, sg_tensor *b, sg_reduction red);

#ifdef __cplusplus
}
#endif

#endif
