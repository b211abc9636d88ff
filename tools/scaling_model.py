#!/usr/bin/env python3
"""Ring-allreduce scaling model for seqgrad's data-parallel training (docs/scaling.md).

T_comm(N) = 2 (N-1)/N * bytes / bandwidth + 2 (N-1) * latency           (ring allreduce)
Weak scaling (per-rank batch fixed): efficiency = T_c / (T_c + T_comm), i.e. no overlap (dist/ makes
progress only at grad-ready points, so on a real network assume little is hidden); overlap can at
best hide the part of the backward that runs after the first bucket is final.
Strong scaling (global batch fixed): per-rank compute T_c(N) = T_c(1) * b(N)/b(1), b(N) = B/N.
Prints markdown tables; numbers for the example models come from bench_dist (1 process x 1 thread).
Usage: tools/scaling_model.py [--latency-us 25]"""
import argparse

GBPS = [10, 25, 100]
NS = [2, 4, 8, 16, 32, 64]

# name: (parameters, bytes per parameter, unused, per-rank batch, unused)
MODELS = {
    "mnist_row (LSTM 128)": (82186, 4, None, 64, 0.5),
    "char_lm (LSTM 256, V 28)": (300060, 4, None, 32, 0.5),
    "imdb_sentiment (Emb 20002x128, BiLSTM 128)": (2824705, 4, None, 64, 0.05),
    # 4 LSTM layers of 1024 (input 1024) + embedding and softmax of a 10k vocabulary
    "LSTM LM 4x1024, V 10k (GPU node, 10 TFLOP/s)": (4 * (4 * 1024 * 2048 + 8 * 1024) + 10000 * 1024 + 10000 * 1025,
                                                     4, None, 64, 0.6),
}


def t_comm(n, nbytes, gbps, lat):
    return 2 * (n - 1) / n * nbytes / (gbps * 1e9 / 8) + 2 * (n - 1) * lat


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency-us", type=float, default=25.0, help="per message (TCP ~25, RDMA ~2)")
    ap.add_argument("--mnist-step", type=float, default=0.030, help="measured 1x1 seconds per step (batch 64)")
    ap.add_argument("--char-step", type=float, default=0.020, help="measured 1x1 seconds per step (batch 32)")
    ap.add_argument("--imdb-step", type=float, default=0.150, help="measured 1x1 seconds per step (batch 64)")
    a = ap.parse_args()
    lat = a.latency_us * 1e-6
    steps = [a.mnist_step, a.char_step, a.imdb_step]
    # the large LM: 6 FLOPs per parameter per token (forward + backward), 64 x 35 tokens per rank
    lm_params = MODELS["LSTM LM 4x1024, V 10k (GPU node, 10 TFLOP/s)"][0]
    steps.append(6 * lm_params * 64 * 35 / 10e12)
    print(f"latency {a.latency_us:g} us per message\n")
    for (name, (p, es, _, batch, _)), tc in zip(MODELS.items(), steps):
        nbytes = p * es
        print(f"### {name}: {p:,} parameters, {nbytes / 1e6:.2f} MB of gradient, "
              f"compute {1e3 * tc:.1f} ms/step at batch {batch} per rank\n")
        print("| N | " + " | ".join(f"{g} Gb/s: allreduce ms / weak / strong" for g in GBPS) + " |")
        print("|---|" + "---|" * len(GBPS))
        for n in NS:
            cells = []
            for g in GBPS:
                tcm = t_comm(n, nbytes, g, lat)
                weak = tc / (tc + tcm)
                tcn = tc / n  # strong scaling: the global batch split n ways (per-rank batch batch/n)
                strong = tcn / (tcn + tcm) if batch / n >= 1 else None
                st = f"{100 * strong:.0f} %" if strong is not None else "batch < 1"
                cells.append(f"{1e3 * tcm:.2f} / {100 * weak:.0f} % / {st}")
            print(f"| {n} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
