/* add, sub, mul, div with NumPy broadcasting: a (...), b (...) -> broadcast(a, b).
 * Backward reduces each input's gradient over the dims it was broadcast along. */
#include "../autograd/node.h"
#include "ew_kernels.h"
#include "ops.h"

/* Shared front half: checks, broadcast shape, output, forward kernel, node. */
static sg_tensor *binary(const char *name, sg_kcode code, sg_backward_fn bw, sg_tensor *a, sg_tensor *b) {
    if (!sg__check_arg(a, name, "a") || !sg__check_arg(b, name, "b")) return NULL;
    if (!sg__same_dtype(name, a, b)) return NULL;
    int nd;
    int64_t shp[SG_MAX_DIMS];
    if (!sg__broadcast_shape(a->ndim, a->shape, b->ndim, b->shape, &nd, shp)) {
        char sa[SG_SHAPE_BUF], sb[SG_SHAPE_BUF];
        sg_set_error(SG_ERR_SHAPE, "%s: shapes %s and %s do not broadcast", name,
                     sg__shape_str(a->ndim, a->shape, sa, sizeof sa),
                     sg__shape_str(b->ndim, b->shape, sb, sizeof sb));
        return NULL;
    }
    sg_tensor *out = sg__out(a->dtype, nd, shp, false);
    if (!out) return NULL;
    sg__kmap(out, code, a, b, NULL);
    int err;
    sg_tensor *in[2] = {a, b};
    sg_node *n = sg__record(out, name, bw, 2, in, &err);
    if (n && (code == SG_K_ADD || code == SG_K_SUB)) n->reads = SG_READS_NONE; /* the gradient is gout */
    return err ? NULL : out;
}

/* Gradient of input k = f(gout, ...) at the output's shape, then reduced to input k's shape. */
static int accum_mapped(sg_node *n, int k, const sg_tensor *gout, sg_kcode code, const sg_tensor *x,
                        const sg_tensor *y) {
    if (!sg__wants_grad(n, k)) return SG_OK;
    sg_tensor *g = sg__alloc(gout->dtype, gout->ndim, gout->shape, false);
    if (!g) return SG_ERR_MEM;
    sg__kmap(g, code, gout, x, y);
    return sg__grad_accum_reduce(n->in[k], g);
}

static int accum_same(sg_node *n, int k, const sg_tensor *gout, double sign) {
    if (!sg__wants_grad(n, k)) return SG_OK;
    sg_tensor *g = sg__alloc(gout->dtype, gout->ndim, gout->shape, false);
    if (!g) return SG_ERR_MEM;
    if (sign > 0) sg__kcopy(g, gout);
    else {
        sg__kfill(g, 0.0);
        sg__kmap(g, SG_K_SUB, g, gout, NULL);
    }
    return sg__grad_accum_reduce(n->in[k], g);
}

static int add_bw(sg_node *n, const sg_tensor *g) {
    int rc = accum_same(n, 0, g, 1);
    return rc ? rc : accum_same(n, 1, g, 1);
}
static int sub_bw(sg_node *n, const sg_tensor *g) {
    int rc = accum_same(n, 0, g, 1);
    return rc ? rc : accum_same(n, 1, g, -1);
}
static int mul_bw(sg_node *n, const sg_tensor *g) {
    int rc = accum_mapped(n, 0, g, SG_K_MUL, n->in[1], NULL);
    return rc ? rc : accum_mapped(n, 1, g, SG_K_MUL, n->in[0], NULL);
}
static int div_bw(sg_node *n, const sg_tensor *g) {
    /* d(a/b)/da = 1/b; d(a/b)/db = -a/b^2 = -(out)/b */
    int rc = accum_mapped(n, 0, g, SG_K_DIV, n->in[1], NULL);
    return rc ? rc : accum_mapped(n, 1, g, SG_K_NEGMULDIV, n->out, n->in[1]);
}

sg_tensor *sg_add(sg_tensor *a, sg_tensor *b) { return binary("sg_add", SG_K_ADD, add_bw, a, b); }
sg_tensor *sg_sub(sg_tensor *a, sg_tensor *b) { return binary("sg_sub", SG_K_SUB, sub_bw, a, b); }
sg_tensor *sg_mul(sg_tensor *a, sg_tensor *b) { return binary("sg_mul", SG_K_MUL, mul_bw, a, b); }
sg_tensor *sg_div(sg_tensor *a, sg_tensor *b) { return binary("sg_div", SG_K_DIV, div_bw, a, b); }
