#!/bin/sh
# imdb_sentiment on 1, 2 and 3 processes must print the same losses and accuracies every epoch:
# tiny generated reviews of ragged lengths, global batch 7 (uneven shares, an uneven last batch),
# dropout off (its masks are drawn per process). Checks the interleaved shares of a length-sorted
# batch (examples/common/exdist.h, ex_dist_pick) and their weighting; SEQGRAD_DIST_DEBUG checks
# every rank's parameters are bitwise equal after every step.
# Usage: example_imdb.sh MPIEXEC EXTOOL IMDB_SENTIMENT WORK_DIR
set -u
mpi=$1 tool=$2 imdb=$3 work=$4
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
"$tool" imdb tiny 40 30 >/dev/null || { echo "FAIL: seqgrad_extool imdb"; exit 1; }
export SEQGRAD_DIST_DEBUG=1
for np in 1 2 3; do
  "$mpi" --oversubscribe -np $np "$imdb" --data tiny --embed 8 --hidden 8 --vocab 50 --batch 7 --epochs 2 \
    --emb-dropout 0 --dropout 0 --threads 1 --quiet --out . >out$np.txt 2>&1 || { echo "FAIL: $np process(es):"; cat out$np.txt; exit 1; }
  # the epoch lines without their timings
  sed -n 's/^\(epoch .*test loss [0-9.]* acc *[0-9.]* %\).*/\1/p' out$np.txt >ep$np.txt
  [ "$(wc -l <ep$np.txt)" -eq 2 ] || { echo "FAIL: $np process(es): expected 2 epoch lines"; cat out$np.txt; exit 1; }
done
grep -q "data parallel: 3 processes" out3.txt || { echo "FAIL: no 'data parallel: 3 processes' line"; cat out3.txt; exit 1; }
for np in 2 3; do
  cmp -s ep1.txt ep$np.txt || { echo "FAIL: $np processes differ from one:"; diff ep1.txt ep$np.txt; exit 1; }
done
cat ep3.txt
echo "example_imdb: 1, 2 and 3 processes agree"
