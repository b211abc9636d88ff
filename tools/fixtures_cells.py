"""PyTorch reference fixtures for the shipped cell definitions (nn/cells.h): the LayerNorm-LSTM in
the form of PyTorch's benchmarks/fastrnns LayerNormLSTMCell and the MGU, each as a time loop over
the cell (one or two stacked layers, unidirectional, with initial states), in float64.

Run through tools/gen_fixtures.py (or alone: /usr/bin/python3 tools/fixtures_cells.py). Writes
tests/fixtures/cells_torch.safetensors, read by tests/test_cells_torch.c. Metadata "cases" lists
the cases; case <c> has "<c>.x" (T, B, D), "<c>.s0_<k>" (L, B, H) initial state k, "<c>.R",
"<c>.out" (T, B, H), "<c>.sn_<k>" final states, "<c>.gx", and for every parameter its seqgrad
name "<c>.p.<name>" and gradient "<c>.g.<name>" (of sum(out * R)); metadata "<c>.meta" is
"cell,D,H,L".
"""
import os
import sys
import zlib

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
EPS = 1e-5  # SG_LNLSTM_EPS


def lnlstm_step(p, x, h, c):
    H = h.shape[1]
    gates = F.layer_norm(x @ p["weight_ih"].t(), (4 * H,), p["ln_i_weight"], p["ln_i_bias"], EPS) + F.layer_norm(
        h @ p["weight_hh"].t(), (4 * H,), p["ln_h_weight"], p["ln_h_bias"], EPS)
    i, f, g, o = gates.chunk(4, 1)
    c2 = F.layer_norm(torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g), (H,), p["ln_c_weight"],
                      p["ln_c_bias"], EPS)
    return [torch.sigmoid(o) * torch.tanh(c2), c2]


def mgu_step(p, x, h):
    xf, xh = (x @ p["weight_ih"].t() + p["bias_ih"]).chunk(2, 1)
    f = torch.sigmoid(xf + h @ p["weight_hf"].t())
    n = torch.tanh(xh + (f * h) @ p["weight_hh"].t())
    return [h + f * (n - h)]


CELLS = {  # name -> (rows as (name, shape in D/H), states, step)
    "lnlstm": ([("weight_ih", ("4H", "D")), ("weight_hh", ("4H", "H")), ("ln_i_weight", ("4H",)),
                ("ln_i_bias", ("4H",)), ("ln_h_weight", ("4H",)), ("ln_h_bias", ("4H",)),
                ("ln_c_weight", ("H",)), ("ln_c_bias", ("H",))], 2, lnlstm_step),
    "mgu": ([("weight_ih", ("2H", "D")), ("weight_hf", ("H", "H")), ("weight_hh", ("H", "H")),
             ("bias_ih", ("2H",))], 1, mgu_step),
}


def size(sym, D, H):
    return {"D": D, "H": H, "2H": 2 * H, "4H": 4 * H}[sym]


def case(t, meta, name, cell, D, H, L, T, B):
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    rows, ns, step = CELLS[cell]

    def rnd(*shape):
        return (torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1).float().double()

    params = []
    for l in range(L):
        p = {}
        for pname, shape in rows:
            v = rnd(*[size(s, D if l == 0 else H, H) for s in shape]) * 0.5
            if pname.endswith("_weight"):
                v = v + 1.0  # layer-norm gains near 1
            p[pname] = v.requires_grad_(True)
            t["%s.p.%s_l%d" % (name, pname, l)] = v.detach().numpy()
        params.append(p)
    x = rnd(T, B, D).requires_grad_(True)
    s0 = [rnd(L, B, H).requires_grad_(True) for _ in range(ns)]
    inp = x
    finals = [[] for _ in range(ns)]
    for l in range(L):
        s = [s0[k][l] for k in range(ns)]
        outs = []
        for step_t in range(T):
            s = step(params[l], inp[step_t], *s)
            outs.append(s[0])
        inp = torch.stack(outs)
        for k in range(ns):
            finals[k].append(s[k])
    out = inp
    R = rnd(*out.shape)
    (out * R).sum().backward()
    t[name + ".x"] = x.detach().numpy()
    t[name + ".gx"] = x.grad.numpy()
    t[name + ".R"] = R.numpy()
    t[name + ".out"] = out.detach().numpy()
    for k in range(ns):
        t["%s.s0_%d" % (name, k)] = s0[k].detach().numpy()
        t["%s.sn_%d" % (name, k)] = torch.stack(finals[k]).detach().numpy()
    for l in range(L):
        for pname, _ in rows:
            t["%s.g.%s_l%d" % (name, pname, l)] = params[l][pname].grad.numpy()
    meta[name + ".meta"] = "%s,%d,%d,%d" % (cell, D, H, L)


CASES = [("lnlstm_1layer", "lnlstm", 3, 4, 1, 5, 2), ("lnlstm_2layer", "lnlstm", 3, 5, 2, 4, 3),
         ("mgu_1layer", "mgu", 4, 3, 1, 5, 2), ("mgu_2layer", "mgu", 2, 4, 2, 3, 3)]


def write_cells_fixtures():
    """Writes cells_torch.safetensors; returns the number of files."""
    os.makedirs(OUT, exist_ok=True)
    t, meta = {}, {}
    for c in CASES:
        case(t, meta, *c)
    meta["cases"] = ",".join(c[0] for c in CASES)
    meta["torch"] = torch.__version__
    st.save(os.path.join(OUT, "cells_torch.safetensors"), t, meta)
    return 1


if __name__ == "__main__":
    print("wrote %d cell fixtures" % write_cells_fixtures())
