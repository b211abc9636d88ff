#!/usr/bin/env python3
"""Writes seqgrad's PyTorch reference fixtures (small safetensors files in tests/fixtures/).

Run with Debian's PyTorch:  /usr/bin/python3 tools/gen_fixtures.py
CI does not run this; the fixtures it writes are committed.

Each recurrent fixture holds, for one configuration: the parameters under PyTorch state_dict names,
the input x, optional lengths / h0 / c0, fixed random cotangents R (output), Rh (h_n), Rc (c_n),
PyTorch's output, h_n, c_n, and the gradients of loss = sum(output*R) + sum(h_n*Rh) + sum(c_n*Rc)
with respect to every parameter ("grad.<name>"), x ("grad.x"), h0 and c0.
Inputs and weights are rounded to float32 values, then everything is computed in float64, so a
seqgrad float64 run must match to ~1e-12 and a float32 run to ~1e-5.
The configuration is in the safetensors metadata (string values).

Training fixtures (write_optim_fixtures, write_checkpoint_fixtures; own generators, so the fixtures
above do not change when these are added to or edited):
  optim_<case>   a tiny LSTM(3,4) + Linear(4,1) regression in float64 trained N_OPT_STEPS steps by one
                 torch.optim configuration (optionally with clip_grad_norm_): initial parameters under
                 state_dict names, x, target, "loss" (before each step), "grad_norm" (clip cases),
                 the parameters after step k as "step<k>.<name>", and torch's optimizer state after
                 the last step as "state.<key>.<name>" (optimizer.state[p][key], "step" left out).
  optim_sched    learning rates of torch's StepLR, CosineAnnealingLR, LinearLR and SequentialLR
                 (warm-up then decay) per step, to pin sg_lr_at.
  ckpt_torch_lstm     the float32 state_dict of a torch.nn.LSTM(4, 3, num_layers=2, bidirectional=True),
                      exactly as a PyTorch user would save it (nothing else in the file);
  ckpt_torch_lstm_io  an input x for it and the module's output, h_n, c_n (float64 reference).
  train_sentiment     imdb_sentiment's whole model (Embedding -> packed BiLSTM -> final states ->
                      Linear -> BCE with logits) trained 3 Adam steps on ragged id batches.
"""
import copy
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402
import fixtures_ops  # noqa: E402  (ops_*.safetensors: tools/fixtures_ops.py)
import fixtures_cells  # noqa: E402  (cells_torch.safetensors: tools/fixtures_cells.py)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")

# name, cell, D, H, layers, bidirectional, T, B, packed lengths or None, h0, c0, proj, batch_first, bias
RNN_CASES = [
    ("lstm_uni_l1", "LSTM", 4, 3, 1, False, 5, 3, None, False, False, 0, False, True),
    ("lstm_bi_l2_h0", "LSTM", 4, 3, 2, True, 5, 3, None, True, True, 0, False, True),
    ("lstm_packed_bi_l2", "LSTM", 4, 3, 2, True, 5, 3, [5, 2, 4], True, True, 0, False, True),
    ("lstm_proj_bi_l2", "LSTM", 4, 3, 2, True, 4, 2, None, True, True, 2, False, True),
    ("lstm_proj_packed_uni_l1", "LSTM", 3, 4, 1, False, 4, 3, [2, 4, 1], False, False, 2, False, True),
    ("lstm_batch_first_nobias", "LSTM", 3, 3, 1, False, 4, 2, None, True, True, 0, True, False),
    ("gru_uni_l1", "GRU", 4, 3, 1, False, 5, 3, None, False, False, 0, False, True),
    ("gru_bi_l2_packed_h0", "GRU", 4, 3, 2, True, 5, 3, [3, 5, 1], True, False, 0, False, True),
    ("rnn_tanh_bi_l2", "RNN_TANH", 4, 3, 2, True, 4, 3, None, True, False, 0, False, True),
    ("rnn_relu_uni_l2_packed", "RNN_RELU", 3, 4, 2, False, 5, 2, [4, 2], False, False, 0, False, True),
]

CELL_CASES = [
    ("cell_lstm", "LSTM", 4, 3, 3),
    ("cell_gru", "GRU", 4, 3, 3),
    ("cell_rnn_tanh", "RNN_TANH", 4, 3, 2),
]


def f32(a):
    """Round to float32 values, keep float64 storage."""
    return torch.as_tensor(np.asarray(a, dtype=np.float32).astype(np.float64))


def make_module(cell, D, H, L, bi, proj, batch_first, bias):
    kw = dict(input_size=D, hidden_size=H, num_layers=L, bidirectional=bi, batch_first=batch_first, bias=bias)
    if cell == "LSTM":
        return torch.nn.LSTM(proj_size=proj, **kw)
    if cell == "GRU":
        return torch.nn.GRU(**kw)
    return torch.nn.RNN(nonlinearity="tanh" if cell == "RNN_TANH" else "relu", **kw)


def rnn_case(name, cell, D, H, L, bi, T, B, lengths, use_h0, use_c0, proj, batch_first, bias, gen):
    mod = make_module(cell, D, H, L, bi, proj, batch_first, bias).double()
    with torch.no_grad():
        for p in mod.parameters():
            p.copy_(f32(torch.empty_like(p).uniform_(-0.6, 0.6, generator=gen)))
    dirs = 2 if bi else 1
    P = proj if proj else H
    xshape = (B, T, D) if batch_first else (T, B, D)
    x = f32(torch.randn(*xshape, generator=gen)).requires_grad_(True)
    h0 = f32(torch.randn(L * dirs, B, P, generator=gen)).requires_grad_(True) if use_h0 else None
    c0 = f32(torch.randn(L * dirs, B, H, generator=gen)).requires_grad_(True) if use_c0 else None
    state = None
    if cell == "LSTM" and (use_h0 or use_c0):
        h0 = h0 if h0 is not None else torch.zeros(L * dirs, B, P, dtype=torch.float64, requires_grad=True)
        c0 = c0 if c0 is not None else torch.zeros(L * dirs, B, H, dtype=torch.float64, requires_grad=True)
        state = (h0, c0)
    elif use_h0:
        state = h0
    if lengths is not None:
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first,
                                                         enforce_sorted=False)
        out_p, st_out = mod(packed, state)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out_p, batch_first=batch_first, total_length=T)
    else:
        out, st_out = mod(x, state)
    hn, cn = st_out if cell == "LSTM" else (st_out, None)
    R = f32(torch.randn(out.shape, generator=gen))
    Rh = f32(torch.randn(hn.shape, generator=gen))
    loss = (out * R).sum() + (hn * Rh).sum()
    Rc = None
    if cn is not None:
        Rc = f32(torch.randn(cn.shape, generator=gen))
        loss = loss + (cn * Rc).sum()
    loss.backward()
    t = {}
    for pname, p in mod.named_parameters():
        t[pname] = p.detach().numpy()
        t["grad." + pname] = p.grad.numpy()
    t["x"] = x.detach().numpy()
    t["grad.x"] = x.grad.numpy()
    t["R"] = R.numpy()
    t["Rh"] = Rh.numpy()
    t["output"] = out.detach().numpy()
    t["h_n"] = hn.detach().numpy()
    if cn is not None:
        t["Rc"] = Rc.numpy()
        t["c_n"] = cn.detach().numpy()
    if use_h0:
        t["h0"] = h0.detach().numpy()
        t["grad.h0"] = h0.grad.numpy()
    if use_c0:
        t["c0"] = c0.detach().numpy()
        t["grad.c0"] = c0.grad.numpy()
    if lengths is not None:
        t["lengths"] = np.asarray(lengths, dtype=np.int64)
    meta = dict(cell=cell, input_size=D, hidden_size=H, num_layers=L, bidirectional=int(bi), T=T, B=B,
                proj_size=proj, batch_first=int(batch_first), bias=int(bias), torch=torch.__version__)
    st.save(os.path.join(OUT, name + ".safetensors"), t, {k: str(v) for k, v in meta.items()})


def cell_case(name, cell, D, H, B, gen):
    if cell == "LSTM":
        mod = torch.nn.LSTMCell(D, H)
    elif cell == "GRU":
        mod = torch.nn.GRUCell(D, H)
    else:
        mod = torch.nn.RNNCell(D, H, nonlinearity="tanh")
    mod = mod.double()
    with torch.no_grad():
        for p in mod.parameters():
            p.copy_(f32(torch.empty_like(p).uniform_(-0.6, 0.6, generator=gen)))
    x = f32(torch.randn(B, D, generator=gen)).requires_grad_(True)
    h = f32(torch.randn(B, H, generator=gen)).requires_grad_(True)
    t = {}
    if cell == "LSTM":
        c = f32(torch.randn(B, H, generator=gen)).requires_grad_(True)
        h1, c1 = mod(x, (h, c))
        Rc = f32(torch.randn(B, H, generator=gen))
    else:
        h1 = mod(x, h)
    Rh = f32(torch.randn(B, H, generator=gen))
    loss = (h1 * Rh).sum()
    if cell == "LSTM":
        loss = loss + (c1 * Rc).sum()
    loss.backward()
    for pname, p in mod.named_parameters():
        t[pname] = p.detach().numpy()
        t["grad." + pname] = p.grad.numpy()
    t.update({"x": x.detach().numpy(), "grad.x": x.grad.numpy(), "h0": h.detach().numpy(),
              "grad.h0": h.grad.numpy(), "Rh": Rh.numpy(), "h_n": h1.detach().numpy()})
    if cell == "LSTM":
        t.update({"c0": c.detach().numpy(), "grad.c0": c.grad.numpy(), "Rc": Rc.numpy(),
                  "c_n": c1.detach().numpy()})
    meta = dict(cell=cell, input_size=D, hidden_size=H, B=B, torch=torch.__version__)
    st.save(os.path.join(OUT, name + ".safetensors"), t, {k: str(v) for k, v in meta.items()})


# ---- optimizers, schedules, checkpoints ----

N_OPT_STEPS = 5
OPT_D, OPT_H, OPT_T, OPT_B = 3, 4, 5, 2
# name, torch.optim class, keyword arguments, clip_grad_norm_ max_norm (None: no clipping)
OPTIM_CASES = [
    ("sgd", "SGD", dict(lr=0.1), None),
    ("sgd_momentum_damp", "SGD", dict(lr=0.1, momentum=0.9, dampening=0.25), None),
    ("sgd_nesterov_wd", "SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01), None),
    ("adam", "Adam", dict(lr=0.01), None),
    ("adam_wd", "Adam", dict(lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.05), None),
    ("adamw", "AdamW", dict(lr=0.01, weight_decay=0.1), None),
    ("rmsprop", "RMSprop", dict(lr=0.01), None),
    ("rmsprop_centered_momentum", "RMSprop",
     dict(lr=0.005, alpha=0.9, eps=1e-6, momentum=0.5, centered=True, weight_decay=0.02), None),
    ("sgd_momentum_clip", "SGD", dict(lr=0.1, momentum=0.9), 0.1),
    ("adamw_clip", "AdamW", dict(lr=0.01, weight_decay=0.1), 0.35),  # clips steps 1-2 only
]


class OptNet(torch.nn.Module):
    """x (T, B, D) -> LSTM -> Linear(H, 1) -> (T, B, 1)"""

    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(OPT_D, OPT_H)
        self.fc = torch.nn.Linear(OPT_H, 1)

    def forward(self, x):
        return self.fc(self.lstm(x)[0])


def optim_case(name, cls, kw, max_norm, gen):
    net = OptNet().double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(f32(torch.empty_like(p).uniform_(-0.6, 0.6, generator=gen)))
    x = f32(torch.randn(OPT_T, OPT_B, OPT_D, generator=gen))
    target = f32(torch.randn(OPT_T, OPT_B, 1, generator=gen))
    t = {n: p.detach().clone().numpy() for n, p in net.named_parameters()}
    t["x"] = x.numpy()
    t["target"] = target.numpy()
    opt = getattr(torch.optim, cls)(net.parameters(), **kw)
    losses, norms = [], []
    for k in range(1, N_OPT_STEPS + 1):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), target)
        loss.backward()
        losses.append(loss.item())
        if max_norm is not None:
            norms.append(torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm).item())
        opt.step()
        for n, p in net.named_parameters():
            t["step%d.%s" % (k, n)] = p.detach().clone().numpy()
    for n, p in net.named_parameters():  # torch's optimizer state after the last step
        for key, v in opt.state[p].items():
            if key != "step" and v is not None:  # plain SGD keeps momentum_buffer None
                t["state.%s.%s" % (key, n)] = v.detach().clone().numpy()
    t["loss"] = np.asarray(losses)
    if max_norm is not None:
        t["grad_norm"] = np.asarray(norms)
        assert any(v > max_norm for v in norms), name + ": max_norm never clips"
    meta = dict(kind=cls, steps=N_OPT_STEPS, torch=torch.__version__)
    meta.update({k: (repr(v) if not isinstance(v, tuple) else ",".join(map(repr, v))) for k, v in kw.items()})
    if max_norm is not None:
        meta["clip_grad_norm"] = repr(max_norm)
    st.save(os.path.join(OUT, "optim_" + name + ".safetensors"), t, {k: str(v) for k, v in meta.items()})


SCHED_BASE_LR, SCHED_STEPS = 0.1, 14


def lr_trace(make):
    """lr used by each of SCHED_STEPS optimizer steps under the scheduler make(opt)."""
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=SCHED_BASE_LR)
    sched = make(opt)
    out = []
    for _ in range(SCHED_STEPS):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.asarray(out)


def sched_fixture():
    S = torch.optim.lr_scheduler
    W, TOTAL, STEP, GAMMA, MIN_LR = 4, 12, 3, 0.5, 0.001
    warm = lambda o: S.LinearLR(o, start_factor=1.0 / W, end_factor=1.0, total_iters=W - 1)  # noqa: E731
    t = {
        "step": lr_trace(lambda o: S.StepLR(o, step_size=STEP, gamma=GAMMA)),
        "cosine": lr_trace(lambda o: S.CosineAnnealingLR(o, T_max=TOTAL, eta_min=MIN_LR)),
        "warmup": lr_trace(warm),
        "warmup_cosine": lr_trace(lambda o: S.SequentialLR(
            o, [warm(o), S.CosineAnnealingLR(o, T_max=TOTAL - W, eta_min=MIN_LR)], milestones=[W])),
        "warmup_step": lr_trace(lambda o: S.SequentialLR(
            o, [warm(o), S.StepLR(o, step_size=STEP, gamma=GAMMA)], milestones=[W])),
    }
    meta = dict(base_lr=SCHED_BASE_LR, warmup=W, total_steps=TOTAL, step_size=STEP, gamma=GAMMA, min_lr=MIN_LR,
                torch=torch.__version__)
    st.save(os.path.join(OUT, "optim_sched.safetensors"), t, {k: str(v) for k, v in meta.items()})


def write_optim_fixtures():
    gen = torch.Generator().manual_seed(20261125)
    for c in OPTIM_CASES:
        optim_case(*c, gen)
    import warnings
    with warnings.catch_warnings():  # SequentialLR calls scheduler.step(0): a deprecation warning
        warnings.simplefilter("ignore")
        sched_fixture()
    return len(OPTIM_CASES) + 1


CKPT_D, CKPT_H, CKPT_L, CKPT_T, CKPT_B = 4, 3, 2, 5, 2


def write_checkpoint_fixtures():
    gen = torch.Generator().manual_seed(20261126)
    mod = torch.nn.LSTM(CKPT_D, CKPT_H, num_layers=CKPT_L, bidirectional=True)  # float32, as users save it
    with torch.no_grad():
        for p in mod.parameters():
            p.copy_(torch.empty_like(p).uniform_(-0.6, 0.6, generator=gen))
    x = torch.randn(CKPT_T, CKPT_B, CKPT_D, generator=gen)
    with torch.no_grad():
        out, (hn, cn) = copy.deepcopy(mod).double()(x.double())
    meta = dict(input_size=CKPT_D, hidden_size=CKPT_H, num_layers=CKPT_L, bidirectional=1, torch=torch.__version__)
    st.save(os.path.join(OUT, "ckpt_torch_lstm.safetensors"), mod.state_dict())
    st.save(os.path.join(OUT, "ckpt_torch_lstm_io.safetensors"),
            {"x": x, "output": out.numpy(), "h_n": hn.numpy(), "c_n": cn.numpy()},
            {k: str(v) for k, v in meta.items()})
    return 2


SENT_V, SENT_E, SENT_H, SENT_T, SENT_B, SENT_STEPS, SENT_LR = 12, 5, 4, 6, 4, 3, 0.05


class SentimentNet(torch.nn.Module):
    """imdb_sentiment's model with the table recipe: Embedding (padding 0) -> bidirectional LSTM over
    the true lengths (packed) -> final forward and backward states -> Linear -> logit."""

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(SENT_V, SENT_E, padding_idx=0)
        self.lstm = torch.nn.LSTM(SENT_E, SENT_H, bidirectional=True)
        self.head = torch.nn.Linear(2 * SENT_H, 1)

    def forward(self, ids, lengths):
        packed = torch.nn.utils.rnn.pack_padded_sequence(self.emb(ids), lengths, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)
        return self.head(torch.cat([h_n[0], h_n[1]], dim=1)).squeeze(1)


def write_sentiment_fixture():
    """train_sentiment: SENT_STEPS Adam steps of SentimentNet in float64 on ragged batches of token ids
    (time-major, padded with 0): initial parameters, per step "ids<k>" (T, B), "lengths<k>", "labels<k>",
    "loss" (before each step) and the parameters after step k as "step<k>.<name>"."""
    gen = torch.Generator().manual_seed(20261127)
    net = SentimentNet().double()
    with torch.no_grad():
        for n, p in net.named_parameters():
            p.copy_(f32(torch.randn(p.shape, generator=gen) if n == "emb.weight"
                        else torch.empty_like(p).uniform_(-0.5, 0.5, generator=gen)))
        net.emb.weight[0].zero_()
    t = {n: p.detach().clone().numpy() for n, p in net.named_parameters()}
    opt = torch.optim.Adam(net.parameters(), lr=SENT_LR)
    losses = []
    for k in range(1, SENT_STEPS + 1):
        lengths = torch.randint(1, SENT_T + 1, (SENT_B,), generator=gen)
        lengths[0] = SENT_T
        ids = torch.randint(1, SENT_V, (SENT_T, SENT_B), generator=gen)
        for b in range(SENT_B):
            ids[lengths[b]:, b] = 0
        labels = torch.randint(0, 2, (SENT_B,), generator=gen).double()
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(ids, lengths), labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        t["ids%d" % k] = ids.double().numpy()
        t["lengths%d" % k] = lengths.double().numpy()
        t["labels%d" % k] = labels.numpy()
        for n, p in net.named_parameters():
            t["step%d.%s" % (k, n)] = p.detach().clone().numpy()
    t["loss"] = np.asarray(losses)
    meta = dict(vocab=SENT_V, embed=SENT_E, hidden=SENT_H, steps=SENT_STEPS, lr=SENT_LR, torch=torch.__version__)
    st.save(os.path.join(OUT, "train_sentiment.safetensors"), t, {k: str(v) for k, v in meta.items()})
    return 1


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(20261124)
    for c in RNN_CASES:
        rnn_case(*c, gen)
    for c in CELL_CASES:
        cell_case(*c, gen)
    n_train = write_optim_fixtures() + write_checkpoint_fixtures() + write_sentiment_fixture()
    n_train += fixtures_ops.write_ops_fixtures()
    n_train += fixtures_cells.write_cells_fixtures()
    print("wrote %d fixtures to %s" % (len(RNN_CASES) + len(CELL_CASES) + n_train, os.path.normpath(OUT)))


if __name__ == "__main__":
    main()
