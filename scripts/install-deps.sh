#!/usr/bin/env bash
# Installs seqgrad's build and test dependencies from Debian packages, quietly and idempotently.
# gnuplot-nox draws the examples' --plot PNGs.
# --with-torch also installs PyTorch (only needed to regenerate test fixtures and for bench ratios).
set -euo pipefail
pkgs=(build-essential cmake pkg-config libopenblas-openmp-dev libdnnl-dev check libsubunit-dev zlib1g-dev gnuplot-nox
      doxygen dpkg-dev binutils
      libopenmpi-dev openmpi-bin) # Open MPI: dist/ and the dist_* tests (optional: without it they skip)
pkgs+=(clang libclang-rt-14-dev libomp-dev) # clang + libFuzzer + OpenMP: fuzz/ (scripts/fuzz.sh)
[ "${1:-}" = "--with-torch" ] && pkgs+=(python3-torch python3-numpy)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
