#!/bin/sh
# The examples' error paths and resume behaviour (issues 9 and 12), on tiny inputs generated here
# in the build tree (no ../shared/data needed). Usage: run.sh CASE BIN_DIR WORK_DIR
# Each case exits 0 when every check holds, else 1 naming the failed check and its output.
set -u
case_name=$1 bin=$2 work=$3/$1
tool=$bin/seqgrad_extool
rm -rf "$work" && mkdir -p "$work" || exit 1
cd "$work" || exit 1
export OMP_WAIT_POLICY=passive
n=0

die() { echo "FAIL: $*"; [ -f out.txt ] && sed 's/^/  | /' out.txt; exit 1; }
# run EXPECTED_RC REGEX CMD...: CMD's stdout+stderr (into one file) must match REGEX, its exit code EXPECTED_RC
run() {
  want_rc=$1 re=$2; shift 2
  n=$((n + 1))
  "$@" >out.txt 2>&1; rc=$?
  [ "$rc" = "$want_rc" ] || die "check $n: exit $rc, expected $want_rc: $*"
  grep -Eq -- "$re" out.txt || die "check $n: no line matches /$re/: $*"
}
# lacks REGEX: the last run's output has no such line
lacks() { grep -Eq -- "$1" out.txt && die "check $n: output has /$1/"; return 0; }
# order A B: the last run's output has a line matching A before one matching B
order() {
  a=$(grep -En -- "$1" out.txt | head -1 | cut -d: -f1) b=$(grep -En -- "$2" out.txt | head -1 | cut -d: -f1)
  [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ] || die "check $n: /$1/ (line $a) not before /$2/ (line $b)"
}
edit() { "$tool" ckpt-edit "$@" || die "ckpt-edit $*"; }

case $case_name in
forecast_resume)
  "$tool" series s.csv 72 seasonal || die "series"
  F="$bin/forecast --data s.csv --hidden 4 --quiet --out ."
  run 0 "over 1 seed" $F --epochs 2 --seeds 1
  cp forecast.ckpt good.ckpt
  for v in -3 2147483647 1 abc "" 0x1; do
    edit good.ckpt bad.ckpt "seed_index=$v"
    run 1 "cannot resume from bad.ckpt: metadata 'seed_index' is \"$v\", expected an integer in \[0, 0\]" $F --epochs 3 --seeds 1 --resume bad.ckpt
    lacks "resumed"
    order "seasonal-naive baseline" "cannot resume"
  done
  edit good.ckpt bad.ckpt "epoch=-1"
  run 1 "metadata 'epoch' is \"-1\", expected an integer in \[0, 1000000\]" $F --epochs 3 --seeds 1 --resume bad.ckpt
  edit good.ckpt bad.ckpt "done=1,2,3"
  run 1 "metadata 'done' is \"1,2,3\", expected 0 to 1 comma-separated" $F --epochs 3 --seeds 1 --resume bad.ckpt
  edit good.ckpt bad.ckpt "best_test_rmse=nan"
  run 1 "metadata 'best_test_rmse' is \"nan\"" $F --epochs 3 --seeds 1 --resume bad.ckpt
  edit good.ckpt bad.ckpt "-seed_index"
  run 1 "cannot resume from bad.ckpt: no valid 'seed_index'" $F --epochs 3 --seeds 1 --resume bad.ckpt
  # a conflicting recipe is refused, naming both
  run 1 "it was made with recipe \"default hidden=4 window=12\", this run has \"torch hidden=4 window=12\"" \
    $F --epochs 3 --seeds 1 --recipe torch --resume good.ckpt
  # valid metadata, weights that do not load: no "resumed" line before the error, banner first
  edit good.ckpt bad.ckpt drop:fc.bias
  run 1 "forecast: error: .*fc.bias" $F --epochs 3 --seeds 1 --resume bad.ckpt
  lacks "resumed"
  order "seasonal-naive baseline" "forecast: error"
  # the good one resumes mid-seed
  run 0 "resumed from good.ckpt: seed 1 of 1 at epoch 2.*" $F --epochs 3 --seeds 1 --resume good.ckpt
  ;;
forecast_degenerate)
  "$tool" series c.csv 72 constant && "$tool" series z.csv 72 zero || die "series"
  run 1 "forecast: error: the training series has no seasonal change \(constant y\[t\] - y\[t-12\]\)" \
    "$bin/forecast" --data c.csv --epochs 1 --seeds 1 --out .
  lacks "nan"
  run 1 "forecast: error: the training series has no positive value" "$bin/forecast" --data z.csv --recipe torch --epochs 1 --out .
  lacks "nan"
  ;;
forecast_plot)
  "$tool" series s.csv 72 seasonal || die "series"
  run 0 "over 2 seed" "$bin/forecast" --data s.csv --hidden 4 --epochs 2 --seeds 2 --quiet --out . --plot
  # one curve per seed against the epoch (column 1), not all rows against the row number
  grep -q "for \[g in '1 2'\] '[^']*forecast.csv' skip 1 using 1:(strcol(5) eq g ? \$4 : 1/0)" forecast.gp ||
    die "forecast.gp does not plot per seed: $(cat forecast.gp)"
  if command -v gnuplot >/dev/null 2>&1; then
    grep -q "plot: .*forecast.png" out.txt && [ -s forecast.png ] || die "no PNG"
  else
    echo "gnuplot not installed: PNG not checked"
  fi
  ;;
mnist_row)
  "$tool" mnist empty 0 && "$tool" mnist tiny 64 || die "mnist"
  run 1 "mnist_row: 'empty' holds 0 training and 0 test images; need at least one of each" \
    "$bin/mnist_row" --data empty --epochs 1 --out .
  lacks "nan"
  M="$bin/mnist_row --data tiny --hidden 8 --batch 16 --quiet --out ."
  run 0 "final test accuracy" $M --epochs 2
  lr2=$(tail -1 mnist_row.csv | cut -d, -f6)
  cp mnist_row.ckpt good.ckpt
  # a resumed run continues the original (2-epoch cosine) schedule: it ended at min lr 1e-05
  run 0 "continuing its cosine schedule: lr 0.002, 4 warm-up and 8 total steps, now at step 8" $M --epochs 4 --resume good.ckpt
  lr3=$(sed -n 4p mnist_row.csv | cut -d, -f6) lr4=$(sed -n 5p mnist_row.csv | cut -d, -f6)
  [ "$lr3" = "1e-05" ] && [ "$lr4" = "1e-05" ] || die "lr after the schedule's end: $lr3 $lr4 (epoch 2 had $lr2)"
  run 1 "it was made with recipe \"hidden=8 layers=1 bidirectional=0 pixels=standardised clip=1 schedule=cosine\", this run has \"hidden=8 layers=1 bidirectional=0 pixels=raw clip=0 schedule=constant\"" \
    $M --epochs 4 --recipe torch --hidden 8 --resume good.ckpt
  lacks "resumed"
  for kv in epoch=-5 epoch=2147483647 best_test_acc=1.5 sched_total_steps=0 sched_warmup_steps=99 sched_lr=inf; do
    edit good.ckpt bad.ckpt "$kv"
    run 1 "cannot resume from bad.ckpt: metadata '${kv%%=*}' is \"${kv#*=}\", expected" $M --epochs 4 --resume bad.ckpt
    lacks "resumed"
  done
  ;;
imdb_sentiment)
  "$tool" imdb none 0 0 && "$tool" imdb notest 3 0 && "$tool" imdb tiny 4 2 || die "imdb"
  I="$bin/imdb_sentiment --embed 4 --hidden 4 --vocab 20 --batch 4 --quiet --out ."
  run 1 "cannot load --data none: none/train/pos and none/train/neg hold no reviews" $I --data none --epochs 1
  run 1 "cannot load --data notest: notest/test/pos and notest/test/neg hold no reviews" $I --data notest --epochs 1
  run 0 "imdb_sentiment done" $I --data tiny --epochs 1
  cp imdb_sentiment.ckpt good.ckpt
  run 1 "it was made with recipe \"pool=max .*\", this run has \"pool=final " $I --data tiny --epochs 2 --recipe torch --resume good.ckpt
  lacks "resumed"
  for kv in epoch=-1 epoch=99999999 best_test_acc=7 best_epoch=5; do
    edit good.ckpt bad.ckpt "$kv"
    run 1 "cannot resume from bad.ckpt: metadata '${kv%%=*}' is \"${kv#*=}\", expected" $I --data tiny --epochs 2 --resume bad.ckpt
    lacks "resumed"
  done
  run 0 "resumed from good.ckpt after epoch 1" $I --data tiny --epochs 2 --resume good.ckpt
  ;;
char_lm)
  i=0; : >t.txt
  while [ $i -lt 40 ]; do echo "the time traveller for so it will be convenient to speak of him" >>t.txt; i=$((i + 1)); done
  gzip -c t.txt >t.txt.gz && "$tool" binary b.bin || die "inputs"
  run 1 "char_lm: --data t.txt.gz is gzip-compressed" "$bin/char_lm" --data t.txt.gz --out .
  run 1 "char_lm: --data b.bin contains NUL bytes: a binary file, not text" "$bin/char_lm" --data b.bin --out .
  : >e.txt
  run 1 "char_lm: --data e.txt is empty" "$bin/char_lm" --data e.txt --out .
  C="$bin/char_lm --data t.txt --hidden 8 --seq 8 --batch 2 --sample-len 0 --quiet --out ."
  run 0 "char_lm done" $C --epochs 1
  cp char_lm.ckpt good.ckpt
  run 1 "it was made with recipe \"hidden=8 seq=8 partition=random clip=1\", this run has \"hidden=16 " \
    "$bin/char_lm" --data t.txt --hidden 16 --seq 8 --batch 2 --sample-len 0 --quiet --out . --epochs 2 --resume good.ckpt
  for kv in epoch=2147483647 best_val_ppl=0.5 best_epoch=-1; do
    edit good.ckpt bad.ckpt "$kv"
    run 1 "cannot resume from bad.ckpt: metadata '${kv%%=*}' is \"${kv#*=}\", expected" $C --epochs 2 --resume bad.ckpt
    lacks "resumed"
  done
  run 0 "resumed from good.ckpt after epoch 1" $C --epochs 2 --resume good.ckpt
  ;;
custom_cell)
  run 0 "^usage: .*custom_cell \[--fused\] \[STEPS\]" "$bin/custom_cell" --help
  lacks "^(step|gradcheck)"
  run 2 "STEPS must be a number >= 1" "$bin/custom_cell" nonsense
  run 2 "STEPS must be a number >= 1" "$bin/custom_cell" --fused nonsense
  # the fused-tail definition trains a step and passes the float64 gradcheck
  run 0 "gradcheck of the bidirectional Light GRU layer .*: ok" "$bin/custom_cell" --fused 1
  order "definition ligru_fused" "gradcheck"
  ;;
*) die "unknown case $case_name" ;;
esac
echo "PASS $case_name: $n checks"
