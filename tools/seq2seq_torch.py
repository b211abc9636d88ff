#!/usr/bin/python3
"""PyTorch twin of examples/seq2seq.c: the same encoder-decoder with Luong attention ("general"
score, input feeding), the same hyper-parameters and schedule, trained on exactly the same batches
(the same splitmix64 streams), decoded greedily and with the same beam search. Prints the times and
accuracies so the README can put seqgrad and PyTorch side by side. Needs only Debian's python3-torch.

  /usr/bin/python3 tools/seq2seq_torch.py --task reverse
  /usr/bin/python3 tools/seq2seq_torch.py --task sort --threads 2

Not a test and not used by CI. Initialisation follows PyTorch's defaults, which are the same
distributions seqgrad uses but not the same numbers, so the two runs are not bitwise comparable."""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

N_DIGITS, EOS, BOS, PAD, VOCAB, IGNORE = 10, 10, 11, 12, 13, -1
MASK64 = (1 << 64) - 1
DATA_STREAM, VAL_STREAM, TEST_STREAM = 0x5EEDDA7A, 0x7A1, 0x7E57
MIN_LR_FRACTION, EVAL_BATCH = 0.02, 500


class SplitMix64:
    def __init__(self, state):
        self.s = state & MASK64

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n):
        return self.next() % n


def make_batch(rng, B, a):
    """The batch examples/seq2seq.c's make_batch draws from the same stream state."""
    lens, seqs = [], []
    for _ in range(B):
        L = a.min_len + rng.below(a.max_len - a.min_len + 1)
        lens.append(L)
        seqs.append([rng.below(N_DIGITS) for _ in range(L)])
    Ts = max(lens)
    Td = Ts + 1
    src = torch.full((Ts, B), PAD, dtype=torch.long)
    tgt = torch.full((Td, B), IGNORE, dtype=torch.long)
    dec_in = torch.full((Td, B), PAD, dtype=torch.long)
    for b, (L, s) in enumerate(zip(lens, seqs)):
        ans = s[::-1] if a.task == "reverse" else sorted(s)
        src[:L, b] = torch.tensor(s)
        tgt[:L, b] = torch.tensor(ans)
        tgt[L, b] = EOS
        dec_in[0, b] = BOS
        dec_in[1:L + 1, b] = tgt[:L, b]
    mask = (src == PAD).t().contiguous()  # (B, Ts), True at padding
    return src, torch.tensor(lens), dec_in, tgt, mask


class Seq2Seq(nn.Module):
    def __init__(self, E, H):
        super().__init__()
        self.enc_emb = nn.Embedding(VOCAB, E, padding_idx=PAD)
        self.dec_emb = nn.Embedding(VOCAB, E, padding_idx=PAD)
        self.encoder = nn.LSTM(E, H)
        self.decoder = nn.LSTMCell(E + H, H)
        self.attn = nn.Linear(H, H, bias=False)
        self.combine = nn.Linear(2 * H, H)
        self.out = nn.Linear(H, VOCAB)
        self.H = H

    def encode(self, src, lens, mask):
        x = self.enc_emb(src)
        packed = nn.utils.rnn.pack_padded_sequence(x, lens, enforce_sorted=False)
        out, (h, c) = self.encoder(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=src.shape[0])
        enc = out.transpose(0, 1).contiguous()  # (B, Ts, H)
        return (enc, self.attn(enc), mask), (h[0], c[0], torch.zeros_like(h[0]))

    def step(self, mem, e, st):
        enc, keys, mask = mem
        h, c, ht = st
        h, c = self.decoder(torch.cat([e, ht], 1), (h, c))
        scores = torch.bmm(keys, h.unsqueeze(2)).squeeze(2).masked_fill(mask, float("-inf"))
        ctx = torch.bmm(torch.softmax(scores, 1).unsqueeze(1), enc).squeeze(1)
        ht = torch.tanh(self.combine(torch.cat([ctx, h], 1)))
        return h, c, ht

    def loss(self, src, lens, dec_in, tgt, mask):
        mem, st = self.encode(src, lens, mask)
        emb = self.dec_emb(dec_in)
        hts = []
        for t in range(dec_in.shape[0]):
            st = self.step(mem, emb[t], st)
            hts.append(st[2])
        logits = self.out(torch.stack(hts))
        return F.cross_entropy(logits.reshape(-1, VOCAB), tgt.reshape(-1), ignore_index=IGNORE)


def exact(tgt, b, pred):
    for t in range(tgt.shape[0]):
        want = int(tgt[t, b])
        if want == IGNORE:
            return True
        if t >= len(pred) or pred[t] != want:
            return False
    return True


def greedy(model, batch):
    src, lens, _, tgt, mask = batch
    B, steps = src.shape[1], src.shape[0] + 1
    mem, st = model.encode(src, lens, mask)
    tok = torch.full((B,), BOS, dtype=torch.long)
    done = torch.zeros(B, dtype=torch.bool)
    preds = []
    for _ in range(steps):
        st = model.step(mem, model.dec_emb(tok), st)
        tok = torch.where(done, torch.full_like(tok, PAD), model.out(st[2]).argmax(1))
        preds.append(tok)
        done = done | (tok == EOS)
        if bool(done.all()):
            break
    P = torch.stack(preds, 1).tolist()
    return sum(exact(tgt, b, P[b]) for b in range(B))


def beam_one(model, batch, b, K):
    """examples/seq2seq.c's beam_one: K rows, finished hypotheses kept aside, stop when the best
    finished one beats every live one."""
    src, lens, _, _, _ = batch
    L = int(lens[b])
    one = src[:L, b:b + 1]
    mem, st = model.encode(one, torch.tensor([L]), torch.zeros(1, L, dtype=torch.bool))
    rep = torch.zeros(K, dtype=torch.long)
    mem = (mem[0][rep], mem[1][rep], torch.zeros(K, L, dtype=torch.bool))
    st = tuple(s[rep] for s in st)
    alive = [(0.0 if k == 0 else -math.inf, []) for k in range(K)]
    best = (-math.inf, [])
    tok = torch.full((K,), BOS, dtype=torch.long)
    for t in range(L + 1):
        st = model.step(mem, model.dec_emb(tok), st)
        lp = torch.log_softmax(model.out(st[2]), 1).tolist()
        cand = sorted(((alive[i // VOCAB][0] + lp[i // VOCAB][i % VOCAB], i) for i in range(K * VOCAB)
                       if alive[i // VOCAB][0] > -math.inf), key=lambda x: -x[0])
        nxt, parent, toks = [], [], []
        for s, i in cand:
            if len(nxt) == K:
                break
            k, v = divmod(i, VOCAB)
            if v == EOS or t == L:
                if s > best[0]:
                    best = (s, alive[k][1] + [v])
                continue
            nxt.append((s, alive[k][1] + [v]))
            parent.append(k)
            toks.append(v)
        while len(nxt) < K:
            nxt.append((-math.inf, []))
            parent.append(0)
            toks.append(PAD)
        alive = nxt
        if not alive[0][0] > best[0]:
            break
        idx = torch.tensor(parent)
        st = tuple(s[idx] for s in st)
        tok = torch.tensor(toks)
    return best[1]


@torch.no_grad()
def accuracy(model, a, seed, count, K):
    rng = SplitMix64(seed)
    right, done = 0, 0
    while done < count:
        B = min(EVAL_BATCH, count - done)
        batch = make_batch(rng, B, a)
        if K <= 1:
            right += greedy(model, batch)
        else:
            right += sum(exact(batch[3], b, beam_one(model, batch, b, K)) for b in range(B))
        done += B
    return 100.0 * right / count


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", choices=["reverse", "sort"], default="reverse")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--embed", type=int, default=32)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--min-len", type=int, default=1)
    p.add_argument("--max-len", type=int, default=10)
    p.add_argument("--val", type=int, default=500)
    p.add_argument("--test", type=int, default=1000)
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--clip", type=float, default=1.0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = Seq2Seq(a.embed, a.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    total, min_lr = a.epochs * a.steps, a.lr * MIN_LR_FRACTION
    print(f"seq2seq_torch --task {a.task}: torch {torch.__version__}, {a.threads} thread(s), "
          f"{sum(q.numel() for q in model.parameters())} parameters")
    train_time, step, t_start = 0.0, 0, time.time()
    for ep in range(1, a.epochs + 1):
        rng = SplitMix64(a.seed ^ DATA_STREAM ^ (ep << 32))
        t0, tot = time.time(), 0.0
        for _ in range(a.steps):
            batch = make_batch(rng, a.batch, a)
            for g in opt.param_groups:
                g["lr"] = min_lr + (a.lr - min_lr) * (1 + math.cos(math.pi * step / total)) / 2
            opt.zero_grad()
            loss = model.loss(*batch)
            loss.backward()
            if a.clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            opt.step()
            step += 1
            tot += loss.item()
        dt = time.time() - t0
        train_time += dt
        val = accuracy(model, a, a.seed ^ VAL_STREAM, a.val, 1) if a.val else float("nan")
        print(f"epoch {ep:2d}  train loss {tot / a.steps:.4f}  val accuracy {val:.2f}% (greedy)  {dt:.2f} s train")
    t2 = time.time()
    g = accuracy(model, a, a.seed ^ TEST_STREAM, a.test, 1)
    t3 = time.time()
    bm = accuracy(model, a, a.seed ^ TEST_STREAM, a.test, a.beam) if a.beam > 1 else g
    t4 = time.time()
    line = f"test ({a.test} sequences): greedy {g:.2f}% ({t3 - t2:.2f} s)"
    if a.beam > 1:
        line += f", beam {a.beam} {bm:.2f}% ({t4 - t3:.2f} s)"
    print(f"{line}; training {train_time:.1f} s, wall {time.time() - t_start:.1f} s")
    print(f"sequence accuracy: {a.task} {bm:.2f}%")


if __name__ == "__main__":
    main()
