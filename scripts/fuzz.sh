#!/usr/bin/env bash
# Builds the libFuzzer harnesses of fuzz/ (clang, ASan+UBSan, -Werror: CI's clang build, a separate
# build in build-fuzz/) and runs each for a fixed time over its committed seed corpus, after
# replaying every committed crash reproducer in fuzz/crashes/<harness>/. Fails on any crash, leak,
# timeout or sanitizer report.
#   scripts/fuzz.sh [seconds-per-harness [harness ...]]   default: 20 s each, every harness
#   scripts/fuzz.sh --make-corpus                          rewrite fuzz/corpus/ (then commit it)
# Environment: FUZZ_BUILD (default build-fuzz), FUZZ_JOBS (build parallelism, default 2).
# New inputs the fuzzer finds go to a scratch directory, never into the committed corpus; a crash
# is saved as build-fuzz/artifacts/<harness>/crash-*: after fixing it, commit it to
# fuzz/crashes/<harness>/ so every later run replays it. A long campaign: see README "Fuzzing".
set -euo pipefail
cd "$(dirname "$0")/.."
build=${FUZZ_BUILD:-build-fuzz}
all=(json safetensors checkpoint idx csv chars imdb)
# bytes per input: files of every format stay small; 64 KB leaves room for gzip and tree inputs
max_len=65536

cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DSEQGRAD_FUZZ=ON -DSEQGRAD_TESTS=OFF \
  -DSEQGRAD_WITH_DNNL=OFF -DSEQGRAD_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEQGRAD_WERROR=ON >/dev/null
if ! cmake --build "$build" --target fuzz_all -j"${FUZZ_JOBS:-2}" >"$build/fuzz-build.log" 2>&1; then
  grep -E "error" "$build/fuzz-build.log" | head -20; echo "fuzz: build failed, see $build/fuzz-build.log"; exit 1
fi

if [ "${1:-}" = "--make-corpus" ]; then
  rm -rf fuzz/corpus
  "$build/fuzz/fuzz_gen_corpus" fuzz/corpus
  exit 0
fi

secs=${1:-20}
shift || true
[ $# -gt 0 ] && all=("$@")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
# tmpfs when there is one: the file harnesses write their input to a file on every run
scratch=$(mktemp -d /dev/shm/seqgrad-fuzz.XXXXXX 2>/dev/null || mktemp -d /tmp/seqgrad-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
export TMPDIR=$scratch # the harnesses' own scratch files
status=0
for h in "${all[@]}"; do
  bin="$build/fuzz/fuzz_$h"
  [ -x "$bin" ] || { echo "fuzz: no harness '$h'"; exit 2; }
  mkdir -p "$build/artifacts/$h" "$scratch/new-$h"
  repro=(fuzz/crashes/"$h"/*)
  repro=("${repro[@]/*\/.gitkeep/}")
  n_repro=0
  for f in "${repro[@]}"; do
    [ -f "$f" ] || continue
    n_repro=$((n_repro + 1))
    if ! "$bin" -timeout=10 "$f" >"$scratch/$h.repro.log" 2>&1; then
      echo "fuzz: $h: committed reproducer $f fails again:"; tail -30 "$scratch/$h.repro.log"; status=1
    fi
  done
  log="$scratch/$h.log"
  if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=$max_len \
       -print_final_stats=1 -artifact_prefix="$build/artifacts/$h/" \
       "$scratch/new-$h" "fuzz/corpus/$h" >"$log" 2>&1; then
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz: $h: ok, ${secs} s, $execs executions, $n_repro reproducer(s) replayed"
  else
    echo "fuzz: $h: FAILED (artifacts in $build/artifacts/$h/):"; grep -v '^#' "$log" | tail -40; status=1
  fi
done
exit $status
