"""PyTorch reference fixtures for the primitive ops of ops/ (layer_norm, select, gather, ...).

Run through tools/gen_fixtures.py (or alone: /usr/bin/python3 tools/fixtures_ops.py). Writes
tests/fixtures/ops_<family>.safetensors, read by tests/test_ops_torch.c.

Format of one file: metadata "cases" lists the case names (comma-separated); case <c> has
  "<c>.in<k>"    float64 input k (values rounded to float32, so a float32 run sees the same inputs),
  "<c>.idx"      an index array (float64 holding integers) when the op takes one,
  "<c>.args"     float64 vector of the op's scalar arguments (dim, flags, eps, ...),
  "<c>.R"        the cotangent, "<c>.out" torch's output (float64),
  "<c>.grad<k>"  d sum(out * R) / d in<k>, for every differentiable input,
  "<c>.out<j>"   further outputs (indices of topk, ...) where an op has them.
Each case draws from its own generator seeded from its name, so adding a case changes no other.
"""
import os
import sys
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
F = torch.nn.functional


def gen_of(name):
    return torch.Generator().manual_seed(zlib.crc32(name.encode()))


def f32(t):
    """float32-representable values in float64 storage"""
    return t.float().double()


class Family:
    def __init__(self, fname):
        self.fname, self.t, self.names = fname, {}, []

    def case(self, name, fn, inputs, args=(), idx=None, grads=None, extra=None):
        """fn(*inputs) -> output tensor; grads: which inputs are differentiable (default all)."""
        gen = gen_of(self.fname + "/" + name)
        ins = [f32(x).requires_grad_(grads is None or k in grads) for k, x in enumerate(inputs)]
        out = fn(*ins)
        R = f32(torch.randn(out.shape, generator=gen, dtype=torch.float64))
        if any(x.requires_grad for x in ins):
            (out * R).sum().backward()
        for k, x in enumerate(ins):
            self.t["%s.in%d" % (name, k)] = x.detach().numpy()
            if x.requires_grad:
                self.t["%s.grad%d" % (name, k)] = x.grad.numpy()
        if idx is not None:
            self.t[name + ".idx"] = np.asarray(idx, dtype=np.float64)
        self.t[name + ".args"] = np.asarray(list(args) if args else [0.0], dtype=np.float64)
        self.t[name + ".R"] = R.numpy()
        self.t[name + ".out"] = out.detach().numpy()
        for j, e in enumerate(extra or []):
            self.t["%s.out%d" % (name, j + 1)] = np.asarray(e, dtype=np.float64)
        self.names.append(name)

    def rand(self, name, *shape, lo=-1.0, hi=1.0):
        g = gen_of(self.fname + "/" + name + "/in" + str(len(shape)) + str(shape))
        return torch.rand(shape, generator=g, dtype=torch.float64) * (hi - lo) + lo

    def save(self):
        st.save(os.path.join(OUT, "ops_%s.safetensors" % self.fname), self.t,
                {"cases": ",".join(self.names), "torch": torch.__version__})
        return 1


def layer_norm():
    fam = Family("layer_norm")
    # args: eps, has_weight, has_bias
    for name, shape, eps, hw, hb in [
        ("affine_2d", (5, 7), 1e-5, 1, 1),
        ("plain_3d", (2, 3, 6), 1e-5, 0, 0),
        ("weight_only", (4, 5), 1e-3, 1, 0),
        ("bias_only", (3, 1, 4), 0.1, 0, 1),
        ("wide_rows", (40, 9), 1e-5, 1, 1),  # more than one row block of the weight gradient
        ("d1", (3, 1), 1e-5, 1, 1),
    ]:
        D = shape[-1]
        x = fam.rand(name, *shape, lo=-2, hi=2)
        ins = [x]
        if hw:
            ins.append(fam.rand(name + "w", D, lo=0.5, hi=1.5))
        if hb:
            ins.append(fam.rand(name + "b", D))

        def fn(x, *p, hw=hw, hb=hb, D=D, eps=eps):
            w = p[0] if hw else None
            b = p[-1] if hb else None
            return F.layer_norm(x, (D,), w, b, eps)
        fam.case(name, fn, ins, args=(eps, hw, hb))
    return fam.save()


def select():
    fam = Family("select")
    # args: dim, index
    for name, shape, dim, index in [("dim0", (3, 4), 0, 2), ("mid_neg", (2, 3, 4), 1, -1), ("last", (2, 5), -1, 0)]:
        fam.case(name, lambda x, dim=dim, index=index: torch.select(x, dim, index), [fam.rand(name, *shape)],
                 args=(dim, index))
    return fam.save()


# op codes of the "order" family (tests/test_ops_torch.c has the same table)
ORD_MIN, ORD_ARGMAX, ORD_ARGMIN, ORD_TOPK, ORD_VAR, ORD_STD, ORD_VAR_ALL, ORD_CUMSUM, ORD_GELU, ORD_GELU_TANH = range(10)


def order():
    """min/argmax/argmin/topk/var/std/cumsum/gelu; args: op code, dim, p1, p2."""
    fam = Family("order")
    x = lambda name, *shape, **kw: fam.rand(name, *shape, **kw)  # noqa: E731
    c = fam.case
    c("min_dim1", lambda a: torch.min(a, 1).values, [x("min_dim1", 3, 5)], args=(ORD_MIN, 1, 0, 0))
    c("min_keep", lambda a: torch.min(a, 0, keepdim=True).values, [x("min_keep", 4, 2, 3)], args=(ORD_MIN, 0, 1, 0))
    a = x("argmax", 4, 6)
    c("argmax", lambda a: torch.max(a, -1).values, [a], args=(ORD_ARGMAX, -1, 0, 0),
      extra=[torch.argmax(a, -1).numpy()])
    a = x("argmin", 3, 4, 2)
    c("argmin", lambda a: torch.min(a, 1).values, [a], args=(ORD_ARGMIN, 1, 0, 0), extra=[torch.argmin(a, 1).numpy()])
    for name, shape, dim, k, largest in [("topk_last", (3, 7), -1, 3, 1), ("topk_small_dim0", (5, 2, 3), 0, 2, 0),
                                         ("topk_full", (2, 4), 1, 4, 1)]:
        a = x(name, *shape)
        r = torch.topk(a, k, dim, largest=bool(largest))
        c(name, lambda a, k=k, dim=dim, largest=largest: torch.topk(a, k, dim, largest=bool(largest)).values, [a],
          args=(ORD_TOPK, dim, k, largest), extra=[r.indices.numpy()])
    c("var_dim1_unbiased", lambda a: torch.var(a, 1, unbiased=True), [x("var1", 3, 5)], args=(ORD_VAR, 1, 1, 0))
    c("var_dim0_biased", lambda a: torch.var(a, 0, unbiased=False), [x("var0", 4, 3)], args=(ORD_VAR, 0, 0, 0))
    c("std_dim_last", lambda a: torch.std(a, -1, unbiased=True), [x("std", 2, 3, 4)], args=(ORD_STD, -1, 1, 0))
    c("std_biased", lambda a: torch.std(a, 1, unbiased=False), [x("stdb", 3, 6)], args=(ORD_STD, 1, 0, 0))
    c("var_all", lambda a: torch.var(a), [x("varall", 3, 4)], args=(ORD_VAR_ALL, 0, 1, 0))
    c("cumsum_dim0", lambda a: torch.cumsum(a, 0), [x("cs0", 5, 3)], args=(ORD_CUMSUM, 0, 0, 0))
    c("cumsum_mid", lambda a: torch.cumsum(a, 1), [x("cs1", 2, 4, 3)], args=(ORD_CUMSUM, 1, 0, 0))
    c("gelu", lambda a: F.gelu(a), [x("gelu", 4, 6, lo=-4, hi=4)], args=(ORD_GELU, 0, 0, 0))
    c("gelu_tanh", lambda a: F.gelu(a, approximate="tanh"), [x("gelut", 4, 6, lo=-4, hi=4)],
      args=(ORD_GELU_TANH, 0, 0, 0))
    return fam.save()


def gather():
    """torch.gather (args 0, dim) and torch.scatter_add (args 1, dim); "<c>.idx" has the index shape. src has the
    index shape: torch 1.13 cannot differentiate scatter_add with a larger src (test_ops_gather covers it)."""
    fam = Family("gather")
    for name, xs, dim, ishape, ss in [("g_dim1", (3, 5), 1, (3, 4), None), ("g_dim0", (4, 3), 0, (6, 2), None),
                                      ("g_3d", (2, 3, 4), 2, (2, 2, 6), None),
                                      ("s_dim1", (3, 5), 1, (3, 4), (3, 4)), ("s_dim0", (4, 3), 0, (6, 2), (6, 2)),
                                      ("s_3d", (2, 3, 4), 1, (2, 5, 4), (2, 5, 4))]:
        g = gen_of("gather/" + name)
        idx = torch.randint(0, xs[dim], ishape, generator=g)
        ins = [fam.rand(name, *xs)]
        if ss is None:
            fam.case(name, lambda x, idx=idx, dim=dim: torch.gather(x, dim, idx), ins, args=(0, dim), idx=idx.numpy())
        else:
            ins.append(fam.rand(name + "src", *ss))
            fam.case(name, lambda x, src, idx=idx, dim=dim: torch.scatter_add(x, dim, idx, src), ins, args=(1, dim),
                     idx=idx.numpy())
    return fam.save()


def matmul():
    """torch.matmul with broadcast leading dims; args: trans_a, trans_b (transposes of the last two dims)."""
    fam = Family("matmul")
    for name, sa, sb, ta, tb in [("4d", (2, 3, 4, 5), (2, 3, 5, 2), 0, 0), ("bcast_4d_3d", (2, 1, 3, 4), (5, 4, 2), 0, 0),
                                 ("batch1", (1, 3, 4), (3, 4, 6), 0, 0), ("4d_2d", (2, 2, 3, 4), (4, 3), 0, 0),
                                 ("2d_4d_aT", (4, 3), (2, 2, 4, 5), 1, 0), ("5d_bT", (2, 1, 2, 3, 4), (3, 1, 5, 4), 0, 1)]:
        def fn(a, b, ta=ta, tb=tb):
            return torch.matmul(a.transpose(-1, -2) if ta else a, b.transpose(-1, -2) if tb else b)
        fam.case(name, fn, [fam.rand(name + "a", *sa), fam.rand(name + "b", *sb)], args=(ta, tb))
    return fam.save()


def cross_entropy():
    """F.cross_entropy with the class dim last (moved to dim 1 for torch); "<c>.idx" are the targets;
    args: ignore_index, label_smoothing, reduction (0 mean, 1 sum, 2 none: seqgrad's sg_reduction)."""
    fam = Family("cross_entropy")
    reds = ["mean", "sum", "none"]
    for name, shape, ign_rows, eps, red in [("tbv_mean", (4, 3, 5), 0, 0.0, 0), ("tbv_ignore_smooth", (4, 3, 5), 3, 0.1, 0),
                                            ("nc_smooth_sum", (6, 4), 2, 0.2, 1), ("tbv_none", (3, 2, 6), 1, 0.3, 2),
                                            ("nc_plain", (5, 3), 0, 0.0, 0), ("all_ignored_sum", (2, 2, 3), 4, 0.1, 1)]:
        g = gen_of("cross_entropy/" + name)
        C = shape[-1]
        t = torch.randint(0, C, shape[:-1], generator=g)
        flat = t.reshape(-1)
        for k in torch.randperm(flat.numel(), generator=g)[:ign_rows]:
            flat[k] = -100

        def fn(x, t=t, eps=eps, red=red):
            xm = x.movedim(-1, 1) if x.dim() > 2 else x
            return F.cross_entropy(xm, t, ignore_index=-100, label_smoothing=eps, reduction=reds[red])
        fam.case(name, fn, [fam.rand(name, *shape, lo=-3, hi=3)], args=(-100, eps, red), idx=t.numpy())
    return fam.save()


def write_ops_fixtures():
    """Writes every ops_*.safetensors; returns the number of files."""
    os.makedirs(OUT, exist_ok=True)
    return sum(f() for f in FAMILIES)


FAMILIES = [layer_norm, select, order, gather, matmul, cross_entropy]

if __name__ == "__main__":
    print("wrote %d op fixtures" % write_ops_fixtures())
