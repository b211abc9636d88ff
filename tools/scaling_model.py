#!/usr/bin/env python3
"""Ring-allreduce scaling model for seqgrad's data-parallel training (docs/scaling.md).

T_comm(N) = 2 (N-1)/N * bytes / bandwidth + 2 (N-1) * latency           (ring allreduce)
Weak scaling (per-rank batch fixed): efficiency = T_c / (T_c + T_comm), i.e. no overlap (dist/ makes
progress only at grad-ready points, so on a real network assume little is hidden); overlap can at
best hide the part of the backward that runs after the first bucket is final.
Strong scaling (global batch fixed): per-rank compute T_c(N) = T_c(1) / N.

The measured inputs come from bench_dist's --json output (1 process x 1 thread step time, the
parameter counts, the 2-process loopback run and the reduction alone):
  flock /tmp/seqgrad-bench.lock build/bench_dist --seeds 3 --json build/bench_dist.json
  cp build/bench_dist.json docs/bench_dist.json    # the doc's data, committed beside it
  python3 tools/scaling_model.py --json docs/bench_dist.json --update docs/scaling.md
--update rewrites the part of the file between the BEGIN/END markers below (the tables and the
loopback check); --check FILE exits 1 when that part is not what the JSON gives (the CTest
dist_scaling_doc, on the committed docs/bench_dist.json); otherwise the markdown goes to stdout. Without --json the step times come from
--mnist-step/--imdb-step (seconds) and there is no loopback section. No dependencies.
"""
import argparse
import json
import re
import sys

GBPS = [10, 25, 100]
NS = [2, 4, 8, 16, 32, 64]
BEGIN = "<!-- BEGIN tools/scaling_model.py output: do not edit by hand -->"
END = "<!-- END tools/scaling_model.py output -->"
LOOPBACK_GBPS = 56.0  # ~7 GB/s: one core's memcpy through shared memory (the model's loopback "network")
LOOPBACK_LAT = 1e-6   # per message on shared memory
LM = "LSTM LM 4x1024, V 10k (GPU node, 10 TFLOP/s)"
# 4 LSTM layers of 1024 (input 1024) + embedding and softmax of a 10k vocabulary
LM_PARAMS = 4 * (4 * 1024 * 2048 + 8 * 1024) + 10000 * 1024 + 10000 * 1025

# key: (table title, parameters (overridden by the JSON), per-rank batch, bench_dist example name)
MODELS = [
    ("mnist_row", "mnist_row (LSTM 128)", 82186, 64, "mnist_row"),
    ("char_lm", "char_lm (LSTM 256, V 28)", 300060, 32, None),
    ("imdb", "imdb_sentiment (Emb 20002x128, BiLSTM 128)", 2824705, 64, "imdb_sentiment"),
    ("lm", LM, LM_PARAMS, 64, None),
]


def t_comm(n, nbytes, gbps, lat):
    return 2 * (n - 1) / n * nbytes / (gbps * 1e9 / 8) + 2 * (n - 1) * lat


def step_1x1(ex):
    """Measured compute per step (s) of 1 process x 1 thread: rank 0's mean total wall time per
    training step, else batch / examples-per-second."""
    c = ex["configs"]["1x1"]
    if c.get("step_ms"):
        return c["step_ms"][0]["wall"]["total"] / 1e3
    return ex["batch"] / c["eps_median"]


def tables(out, steps, params, lat_us):
    lat = lat_us * 1e-6
    out.append(f"latency {lat_us:g} us per message\n")
    for key, name, _, batch, _ in MODELS:
        p, tc = params[key], steps[key]
        nbytes = 4 * p
        out.append(f"#### {name}: {p:,} parameters, {nbytes / 1e6:.2f} MB of gradient, "
                   f"compute {1e3 * tc:.1f} ms/step at batch {batch} per rank\n")
        out.append("| N | " + " | ".join(f"{g} Gb/s: allreduce ms / weak / strong" for g in GBPS) + " |")
        out.append("|---|" + "---|" * len(GBPS))
        for n in NS:
            cells = []
            for g in GBPS:
                tcm = t_comm(n, nbytes, g, lat)
                weak = tc / (tc + tcm)
                tcn = tc / n  # strong scaling: the global batch split n ways (per-rank batch batch/n)
                strong = tcn / (tcn + tcm) if batch / n >= 1 else None
                st = f"{100 * strong:.0f} %" if strong is not None else "batch < 1"
                cells.append(f"{1e3 * tcm:.2f} / {100 * weak:.0f} % / {st}")
            out.append(f"| {n} | " + " | ".join(cells) + " |")
        out.append("")


def phase_row(label, st):
    w, c = st["wall"], st["cpu"]
    cols = ["batch", "forward", "backward", "wait", "update", "other", "total"]
    return f"| {label} | " + " | ".join(f"{w[k]:.3f} / {c[k]:.3f}" for k in cols) + " |"


def loopback(out, b):
    ex = b["examples"]
    names = [n for n in ("imdb_sentiment", "mnist_row") if n in ex]
    out.append("## Checked against the loopback measurement\n")
    out.append(f"Measured by `bench_dist --seeds {b['seeds']}` on {b['date']}: load average "
               f"{b['load_before'][0]:.2f} before and {b['load_after'][0]:.2f} after (1-minute), "
               f"OMP_WAIT_POLICY {b['omp_wait_policy']}, {b['bucket_kb']} kB buckets. "
               "Two processes need two free cores: a run at a load above about 0.5 says nothing "
               "about scaling.\n")
    out.append("| | " + " | ".join(names) + " |")
    out.append("|---|" + "---|" * len(names))

    def row(label, f):
        out.append(f"| {label} | " + " | ".join(f(ex[n], n) for n in names) + " |")

    ar = b.get("allreduce_alone", {})
    row("parameters (float32 gradient)", lambda e, n: f"{e['params']:,.0f} ({4 * e['params'] / 1e6:.2f} MB)")
    row("sent per step by rank 0 (N = 2), and with every bucket dense (S)",
        lambda e, n: f"{e['dist_2x1']['kb_sent_per_step'] / 1e3:.2f} MB, "
                     f"{e['dist_2x1'].get('kb_dense_per_step', e['dist_2x1']['kb_sent_per_step']) / 1e3:.2f} MB")
    row("the reduction alone, min / median of 21",
        lambda e, n: f"{ar.get(n, {}).get('min_ms', 0):.3f} / {ar.get(n, {}).get('median_ms', 0):.3f} ms")
    row(f"model at loopback speed (S / {LOOPBACK_GBPS / 8:.0f} GB/s + 2 x 1 us)",
        lambda e, n: f"{1e3 * t_comm(2, 4 * e['params'], LOOPBACK_GBPS, LOOPBACK_LAT):.3f} ms")
    row("allreduce per step inside training / exposed / hidden",
        lambda e, n: f"{e['dist_2x1']['allreduce_ms']:.2f} / {e['dist_2x1']['exposed_ms']:.2f} ms / "
                     f"{e['dist_2x1']['hidden_pct']:.0f} %")
    row("throughput 1x1 / 1x2 / 2x1 (examples/s, median)",
        lambda e, n: " / ".join(f"{e['configs'][c]['eps_median']:.0f}" for c in ("1x1", "1x2", "2x1")))
    row("**2x1 / 1x1** (target 1.8) and 2x1 / 1x2 (target 1)",
        lambda e, n: f"**{e['ratio_2x1_1x1']:.3f}**, {e['ratio_2x1_1x2']:.2f}")

    def acc(e, c):
        a = e["configs"][c]
        return f"{a['acc_mean']:.2f} +- {a['acc_sd']:.2f}"
    row("test accuracy 1x1 vs 2x1 (mean +- sd over seeds, %)", lambda e, n: f"{acc(e, '1x1')} vs {acc(e, '2x1')}")
    row("accuracy 2x1 - 1x1 (points)", lambda e, n: f"{e['acc_diff_2x1_1x1']:+.2f}")

    def bound(clock):
        # the best 2x1 can do given what each rank computed: the 1x1 step over the slower rank's
        # phases without the wait, plus the reduction alone; and with the 1x1 step exactly halved
        def f(e, n):
            s1 = e["configs"]["1x1"]["step_ms"][0][clock]["total"]
            comp = max(r[clock]["total"] - r[clock]["wait"] for r in e["configs"]["2x1"]["step_ms"])
            red = ar.get(n, {}).get("min_ms", 0)
            return (f"{s1:.2f} / ({comp:.2f} + {red:.2f}) = {s1 / (comp + red):.2f}; "
                    f"halved exactly: {s1 / (s1 / 2 + red):.2f}")
        return f
    if all(ex[n]["configs"]["1x1"].get("step_ms") and ex[n]["configs"]["2x1"].get("step_ms") for n in names):
        row("2x1/1x1 bound, wall ms: 1x1 step / (slower rank's compute + reduction alone)", bound("wall"))
        row("the same from CPU time (what the ranks computed, whatever the load)", bound("cpu"))
    if all("sharing" in ex[n] for n in names):
        # two identical batch/2 jobs at once, no MPI: what sharing the machine costs by itself
        def share(e, n):
            h = e["sharing"]
            return (f"{h['alone_step_ms']:.2f} -> {h['shared_step_ms']:.2f} ms "
                    f"({100 * (h['shared_step_ms'] / h['alone_step_ms'] - 1):+.1f} %); 2x1/1x1 <= {h['bound_2x1_1x1']:.2f}")
        row("machine sharing alone: a batch/2 step, one process -> two at once without MPI; the 2x1/1x1 "
            "this leaves with a free reduction", share)
    out.append("")
    out.append("Where each process's time per training step goes (ms, wall / cpu, mean over seeds; "
               "the examples' `SEQGRAD_EX_PROFILE` breakdown; *wait* is the allreduce not hidden "
               "behind the backward, including waiting for the slower rank):\n")
    for n in names:
        out.append(f"{n}:\n")
        out.append("| config, rank | batch | forward | backward | wait | update | other | total |")
        out.append("|---|---|---|---|---|---|---|---|")
        for c in ("1x1", "1x2", "2x1"):
            for r in ex[n]["configs"][c].get("step_ms", []):
                out.append(phase_row(f"{c}, rank {r['rank']}", r))
        out.append("")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--latency-us", type=float, default=25.0, help="per message (TCP ~25, RDMA ~2)")
    ap.add_argument("--json", help="bench_dist --json output: the measured step times, sizes and loopback run")
    ap.add_argument("--update", help="markdown file whose BEGIN/END block to replace (else stdout)")
    ap.add_argument("--check", help="markdown file whose BEGIN/END block must equal the output")
    ap.add_argument("--mnist-step", type=float, default=0.006, help="1x1 seconds per step (batch 64) without --json")
    ap.add_argument("--char-step", type=float, default=0.020, help="1x1 seconds per step (batch 32, estimated)")
    ap.add_argument("--imdb-step", type=float, default=0.270, help="1x1 seconds per step (batch 64) without --json")
    a = ap.parse_args()
    params = {k: p for k, _, p, _, _ in MODELS}
    steps = {"mnist_row": a.mnist_step, "char_lm": a.char_step, "imdb": a.imdb_step,
             # the large LM: 6 FLOPs per parameter per token (forward + backward), 64 x 35 tokens per rank
             "lm": 6 * LM_PARAMS * 64 * 35 / 10e12}
    b = None
    if a.json:
        with open(a.json) as f:
            b = json.load(f)
        for key, _, _, _, exname in MODELS:
            if exname and exname in b["examples"]:
                e = b["examples"][exname]
                params[key] = int(e["params"]) or params[key]
                steps[key] = step_1x1(e)
    out = []
    src = f"`python3 tools/scaling_model.py --json {a.json}`" if a.json else \
        f"`python3 tools/scaling_model.py --mnist-step {a.mnist_step} --imdb-step {a.imdb_step}`"
    out.append("## Model sizes\n")
    out.append("| model | parameters | gradient (float32) | compute per step, batch per rank |")
    out.append("|---|---|---|---|")
    how = {"mnist_row": "measured, 1x1", "char_lm": "estimated from the README's char_lm times",
           "imdb": "measured, 1x1", "lm": "estimated: 6 FLOP/parameter/token, 64 x 35 tokens, 10 TFLOP/s"}
    if not b:
        how["mnist_row"] = how["imdb"] = "given on the command line"
    for key, name, _, batch, _ in MODELS:
        out.append(f"| {name} | {params[key]:,} | {4 * params[key] / 1e6:.2f} MB | "
                   f"{1e3 * steps[key]:.1f} ms ({batch}; {how[key]}) |")
    out.append("")
    out.append("## Tables\n")
    out.append("Each cell: ring-allreduce time per step / weak-scaling efficiency / strong-scaling efficiency "
               f"(global batch 64, or 32 for char_lm, split N ways), no overlap. {src}:\n")
    tables(out, steps, params, a.latency_us)
    if b:
        loopback(out, b)
    text = "\n".join(out).rstrip() + "\n"
    path = a.update or a.check
    if not path:
        sys.stdout.write(text)
        return
    with open(path) as f:
        doc = f.read()
    pat = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pat.search(doc):
        sys.exit(f"scaling_model.py: no {BEGIN} ... {END} block in {path}")
    new = pat.sub(lambda _: BEGIN + "\n\n" + text + "\n" + END, doc)
    if a.check:
        if new != doc:
            sys.exit(f"scaling_model.py: {path} is not what {a.json} gives: rerun with --update {path}")
        print(f"{path}: in sync with {a.json}")
        return
    with open(path, "w") as f:
        f.write(new)
    print(f"updated {path}")


if __name__ == "__main__":
    main()
