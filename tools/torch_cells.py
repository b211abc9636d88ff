#!/usr/bin/env python3
"""PyTorch side of bench/bench_cells: one training step (forward over T, backward of
sum(out * R) to every parameter and the input) of nn.LSTM and of custom cells written the way
PyTorch's benchmarks/fastrnns writes them (a cell module, a layer that loops over time), eager and
TorchScript (torch.jit.script of the layer). Prints and writes (--json) median ms per step.

Cells (same formulas as seqgrad's nn/cells.h):
  LayerNorm-LSTM: gates = LN_i(x W_ih^T) + LN_h(h W_hh^T); c~ = s(f) c + s(i) tanh(g);
                  c' = LN_c(c~); h' = s(o) tanh(c').
  MGU: f = s(Wf x + bf + Uf h); n = tanh(Wh x + bh + Uh (f h)); h' = (1 - f) h + f n.

--stream: inference instead, one step per call at batch 1 with the state carried, under
torch.no_grad() (nn.LSTM, nn.LSTMCell, the MGU cell): median microseconds per step.

Usage: torch_cells.py [--threads N] [--D 128 --H 256 --T 100 --B 32] [--warmup 3] [--steps 15]
                      [--impls torch_lstm,torch_lnlstm_eager,...] [--json FILE]
       torch_cells.py --stream [--D 128 --H 256] [--warmup 300] [--steps 25] [--block 200] [--json FILE]
This is a benchmark driver, not a test; bench_cells runs it in its own process per thread count.
"""
import argparse
import json
import statistics
import sys
import time
from typing import List, Tuple

import torch
import torch.nn as nn
from torch import Tensor


class LNLSTMCell(nn.Module):
    def __init__(self, D: int, H: int):
        super().__init__()
        k = H ** -0.5
        self.weight_ih = nn.Parameter(torch.empty(4 * H, D).uniform_(-k, k))
        self.weight_hh = nn.Parameter(torch.empty(4 * H, H).uniform_(-k, k))
        self.ln_i = nn.LayerNorm(4 * H)
        self.ln_h = nn.LayerNorm(4 * H)
        self.ln_c = nn.LayerNorm(H)

    def forward(self, x: Tensor, state: Tuple[Tensor, Tensor]) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
        h, c = state
        gates = self.ln_i(torch.mm(x, self.weight_ih.t())) + self.ln_h(torch.mm(h, self.weight_hh.t()))
        i, f, g, o = gates.chunk(4, 1)
        c2 = self.ln_c(torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g))
        h2 = torch.sigmoid(o) * torch.tanh(c2)
        return h2, (h2, c2)


class MGUCell(nn.Module):
    def __init__(self, D: int, H: int):
        super().__init__()
        k = H ** -0.5
        self.weight_ih = nn.Parameter(torch.empty(2 * H, D).uniform_(-k, k))
        self.weight_hf = nn.Parameter(torch.empty(H, H).uniform_(-k, k))
        self.weight_hh = nn.Parameter(torch.empty(H, H).uniform_(-k, k))
        self.bias_ih = nn.Parameter(torch.empty(2 * H).uniform_(-k, k))

    def forward(self, x: Tensor, state: Tuple[Tensor, Tensor]) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
        h = state[0]
        xf, xh = (torch.mm(x, self.weight_ih.t()) + self.bias_ih).chunk(2, 1)
        f = torch.sigmoid(xf + torch.mm(h, self.weight_hf.t()))
        n = torch.tanh(xh + torch.mm(f * h, self.weight_hh.t()))
        h2 = h + f * (n - h)
        return h2, (h2, state[1])


class Layer(nn.Module):
    """A time loop over a cell (fastrnns' LSTMLayer): x (T, B, D) -> outputs (T, B, H)."""

    def __init__(self, cell: nn.Module):
        super().__init__()
        self.cell = cell

    def forward(self, x: Tensor, state: Tuple[Tensor, Tensor]) -> Tensor:
        outs: List[Tensor] = []
        for t in range(x.size(0)):
            out, state = self.cell(x[t], state)
            outs.append(out)
        return torch.stack(outs)


def make(impl: str, D: int, H: int):
    if impl == "torch_lstm":
        lstm = nn.LSTM(D, H)
        return lambda x, s: lstm(x, s)[0]
    cell = LNLSTMCell(D, H) if "lnlstm" in impl else MGUCell(D, H)
    layer = Layer(cell)
    return torch.jit.script(layer) if impl.endswith("_script") else layer


STREAM_IMPLS = ["torch_stream_lstm", "torch_stream_lstmcell", "torch_stream_mgu"]


def stream_main(a) -> int:
    """--stream: inference one step per call, batch 1, state carried, under torch.no_grad();
    median over --steps blocks of --block steps, in microseconds per step."""
    res = {}
    x = torch.randn(1, a.D)
    with torch.no_grad():
        for impl in STREAM_IMPLS:
            if impl == "torch_stream_lstm":
                lstm = nn.LSTM(a.D, a.H)
                x3 = x.unsqueeze(0)
                st = (torch.zeros(1, 1, a.H), torch.zeros(1, 1, a.H))

                def step(st):
                    return lstm(x3, st)[1]
            elif impl == "torch_stream_lstmcell":
                cell = nn.LSTMCell(a.D, a.H)
                st = (torch.zeros(1, a.H), torch.zeros(1, a.H))

                def step(st):
                    return cell(x, st)
            else:
                mgu = MGUCell(a.D, a.H)
                st = (torch.zeros(1, a.H), torch.zeros(1, a.H))

                def step(st):
                    return mgu(x, st)[1]
            for _ in range(a.warmup):
                st = step(st)
            times = []
            for _ in range(a.steps):
                t0 = time.perf_counter()
                for _ in range(a.block):
                    st = step(st)
                times.append((time.perf_counter() - t0) * 1e6 / a.block)
            res[impl] = statistics.median(times)
            print(f"{impl:22s} {res[impl]:9.2f} us/step (median of {a.steps} x {a.block} steps, {a.threads} thread(s))",
                  flush=True)
    if a.json:
        with open(a.json, "w") as fp:
            json.dump({"torch": torch.__version__, "threads": a.threads, "us": res}, fp)
    return 0


IMPLS = ["torch_lstm", "torch_lnlstm_eager", "torch_lnlstm_script", "torch_mgu_eager", "torch_mgu_script"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--D", type=int, default=128)
    ap.add_argument("--H", type=int, default=256)
    ap.add_argument("--T", type=int, default=100)
    ap.add_argument("--B", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--impls", default=",".join(IMPLS))
    ap.add_argument("--json")
    ap.add_argument("--stream", action="store_true", help="streaming inference step (us/step), see stream_main")
    ap.add_argument("--block", type=int, default=200, help="--stream: steps per timed block")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    if a.stream:
        return stream_main(a)
    impls = [s for s in a.impls.split(",") if s]
    for s in impls:
        if s not in IMPLS:
            print(f"torch_cells.py: unknown impl {s} (expected {','.join(IMPLS)})", file=sys.stderr)
            return 2
    x = torch.randn(a.T, a.B, a.D, requires_grad=True)
    R = torch.randn(a.T, a.B, a.H)
    s0 = (torch.zeros(1, a.B, a.H), torch.zeros(1, a.B, a.H))
    res = {}
    for impl in impls:
        f = make(impl, a.D, a.H)
        state = (s0[0], s0[1]) if impl == "torch_lstm" else (s0[0][0], s0[1][0])
        times = []
        for i in range(a.warmup + a.steps):
            t0 = time.perf_counter()
            out = f(x, state)
            (out * R).sum().backward()
            dt = (time.perf_counter() - t0) * 1e3
            if i >= a.warmup:
                times.append(dt)
        res[impl] = statistics.median(times)
        print(f"{impl:22s} {res[impl]:9.2f} ms/step (median of {a.steps}, {a.threads} thread(s))", flush=True)
    if a.json:
        with open(a.json, "w") as fp:
            json.dump({"torch": torch.__version__, "threads": a.threads, "ms": res}, fp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
