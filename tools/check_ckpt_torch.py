#!/usr/bin/env python3
"""Loads a seqgrad checkpoint into torch.nn.LSTM with load_state_dict(strict=True) and compares the
module's output on an input with seqgrad's. Run by tests/test_checkpoint.c when /usr/bin/python3 can
import torch; not needed otherwise.

usage: check_ckpt_torch.py CKPT IO
  CKPT  written by sg_checkpoint_save (tensors named like the LSTM's state_dict; "optim." ones skipped)
  IO    x, seqgrad's output, h_n, c_n; metadata input_size, hidden_size, num_layers, bidirectional
Exit status 0 when torch's output matches to 1e-5 (abs + rel), 1 otherwise (message on stderr).
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

TOL = 1e-5


def main(ckpt, io):
    state, meta = st.load(ckpt, with_metadata=True)
    state = {k: torch.from_numpy(v) for k, v in state.items() if not k.startswith("optim.")}
    t, cfg = st.load(io, with_metadata=True)
    mod = torch.nn.LSTM(int(cfg["input_size"]), int(cfg["hidden_size"]), num_layers=int(cfg["num_layers"]),
                        bidirectional=bool(int(cfg["bidirectional"])))
    mod.load_state_dict(state, strict=True)  # raises on any missing or unexpected name or shape
    with torch.no_grad():
        out, (hn, cn) = mod(torch.from_numpy(t["x"]))
    bad = []
    for name, ours in (("output", out), ("h_n", hn), ("c_n", cn)):
        ref = t[name].astype(np.float64)
        err = np.abs(ours.numpy().astype(np.float64) - ref)
        if not np.all(err <= TOL * (1 + np.abs(ref))):
            bad.append("%s: max error %.3g" % (name, err.max()))
    if bad:
        print("check_ckpt_torch: torch disagrees with seqgrad: " + "; ".join(bad), file=sys.stderr)
        return 1
    print("check_ckpt_torch: torch.nn.LSTM loaded %d tensors strictly (metadata %s), outputs match"
          % (len(state), sorted(meta)))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
