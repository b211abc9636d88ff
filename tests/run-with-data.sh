#!/usr/bin/env bash
# Runs one data-set test: tests/run-with-data.sh DEFAULT_DIR NEEDED COMMAND [ARGS...]
# The data directory is $SEQGRAD_DATA_DIR, else DEFAULT_DIR (CMake's SEQGRAD_DATA_DIR). When
# DIR/NEEDED is absent it prints "SKIPPED: ..." and exits 77 (CTest's SKIP_RETURN_CODE); otherwise
# it exports SEQGRAD_DATA_DIR, replaces @DATA@ in every argument by DIR and runs the command.
set -eu
default=$1 need=$2
shift 2
dir=${SEQGRAD_DATA_DIR:-$default}
if [ ! -e "$dir/$need" ]; then
  echo "SKIPPED: data set '$need' not found in '$dir' (set SEQGRAD_DATA_DIR to a directory holding it)"
  exit 77
fi
export SEQGRAD_DATA_DIR="$dir"
exec "${@//@DATA@/$dir}"
