#!/usr/bin/python3
"""PyTorch run of the imdb_sentiment table recipes, on the same preprocessing as seqgrad's io/ loader,
to tell recipe differences from implementation differences. Not used by the tests or CI.

  /usr/bin/python3 tools/imdb_torch_ref.py --data build/data/aclImdb [--pool final|max] [--seed N]

Recipe (the issue's table): lower-case, "<br />" removed, split on non-alphanumerics; the 20,000
most frequent training words (count, then word) plus padding (0) and unknown (1); the first 200
words of each review; Embedding(20002, 128, padding_idx=0) -> bidirectional LSTM(128) over the true
lengths (packed) -> final forward and backward states, or max over time -> Linear(256, 1) -> logit;
BCEWithLogitsLoss; Adam 1e-3; batch 64, shuffled; 3 epochs; accuracy on all 25,000 test reviews.
Prints one line per epoch: train loss, test accuracy, train and eval seconds.
"""
import argparse
import collections
import os
import re
import time

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

PAD, UNK = 0, 1
WORD = re.compile(r"[a-z0-9]+")


def tokens(text):
    return WORD.findall(re.sub(r"<br />", " ", text, flags=re.IGNORECASE).lower())


def read_split(root, split):
    out = []
    for label, sub in ((1, "pos"), (0, "neg")):
        d = os.path.join(root, split, sub)
        for name in sorted(os.listdir(d)):
            if name.endswith(".txt"):
                with open(os.path.join(d, name), encoding="utf-8", errors="replace") as f:
                    out.append((tokens(f.read()), label))
    return out


class Net(nn.Module):
    def __init__(self, vocab, embed, hidden, pool):
        super().__init__()
        self.pool = pool
        self.emb = nn.Embedding(vocab, embed, padding_idx=PAD)
        self.lstm = nn.LSTM(embed, hidden, bidirectional=True)
        self.head = nn.Linear(2 * hidden, 1)

    def forward(self, ids, lengths):  # ids (T, B)
        packed = pack_padded_sequence(self.emb(ids), lengths, enforce_sorted=False)
        out, (h_n, _) = self.lstm(packed)
        if self.pool == "final":
            feat = torch.cat([h_n[0], h_n[1]], dim=1)
        else:
            out, _ = pad_packed_sequence(out, padding_value=float("-inf"))
            feat = out.max(dim=0).values
        return self.head(feat).squeeze(1)


def batches(data, order, size, max_len):
    for i in range(0, len(order), size):
        rows = [data[j] for j in order[i:i + size]]
        lens = [min(len(ids), max_len) or 1 for ids, _ in rows]
        ids = torch.full((max(lens), len(rows)), PAD, dtype=torch.long)
        for b, (seq, _) in enumerate(rows):
            ids[:lens[b], b] = torch.tensor(seq[:lens[b]] or [UNK])
        yield ids, torch.tensor(lens), torch.tensor([lab for _, lab in rows], dtype=torch.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="build/data/aclImdb")
    ap.add_argument("--pool", choices=("final", "max"), default="final")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-len", type=int, default=200)
    ap.add_argument("--vocab", type=int, default=20000)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    train, test = read_split(a.data, "train"), read_split(a.data, "test")
    counts = collections.Counter(w for toks, _ in train for w in toks)
    words = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:a.vocab]
    index = {w: i + 2 for i, (w, _) in enumerate(words)}

    def encode(split):
        return [([index.get(w, UNK) for w in toks[:a.max_len]], lab) for toks, lab in split]

    train, test = encode(train), encode(test)
    net = Net(a.vocab + 2, 128, 128, a.pool)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    g = torch.Generator().manual_seed(a.seed)
    for epoch in range(1, a.epochs + 1):
        t0, total, n = time.time(), 0.0, 0
        net.train()
        order = torch.randperm(len(train), generator=g).tolist()
        for ids, lens, y in batches(train, order, 64, a.max_len):
            opt.zero_grad()
            loss = loss_fn(net(ids, lens), y)
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
            n += len(y)
        t1 = time.time()
        net.eval()
        correct = 0
        with torch.no_grad():
            for ids, lens, y in batches(test, list(range(len(test))), 256, a.max_len):
                correct += ((net(ids, lens) > 0).float() == y).sum().item()
        t2 = time.time()
        print(f"epoch {epoch} train loss {total / n:.4f} test acc {100 * correct / len(test):.2f} % "
              f"train {t1 - t0:.0f} s eval {t2 - t1:.0f} s", flush=True)


if __name__ == "__main__":
    main()
