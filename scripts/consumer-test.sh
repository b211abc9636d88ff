#!/usr/bin/env bash
# Out-of-tree consumer test: builds and runs tests/consumer/main.c and main.cpp against an
# INSTALLED seqgrad by find_package (shared and static targets), by pkg-config (shared and
# --static) and by plain `cc -lseqgrad`; each program checks its gradient and that the OpenMP
# OpenBLAS was loaded (no seqgrad warning on stderr allowed); and tests/consumer/dist.c against
# seqgrad::dist / seqgrad::dist_static and pkg-config seqgrad-dist, in one process and, when
# seqgrad was built with MPI, under mpirun -np 2 (a few seconds).
# Usage: scripts/consumer-test.sh --install BUILD_DIR   install BUILD_DIR into a temporary prefix, test it
#        scripts/consumer-test.sh --deb BUILD_DIR       cpack -G DEB in BUILD_DIR, dpkg -i, test /usr, dpkg -r
#        scripts/consumer-test.sh PREFIX                test what is installed in PREFIX
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD/tests/consumer
work=$(mktemp -d /tmp/seqgrad-consumer.XXXXXX)
deb_pkg=""
cleanup() {
  [ -n "$deb_pkg" ] && dpkg -r "$deb_pkg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

case "${1:-}" in
  --install)
    prefix=$work/prefix
    cmake --install "$2" --prefix "$prefix" >/dev/null
    ;;
  --deb)
    if command -v doxygen >/dev/null; then cmake --build "$2" --target docs >/dev/null; fi
    (cd "$2" && cpack -G DEB >/dev/null)
    deb=$(ls -t "$2"/libseqgrad-dev_*.deb | head -1)
    echo "consumer-test: $(basename "$deb"): $(dpkg-deb -c "$deb" | wc -l) entries"
    deb_pkg=libseqgrad-dev
    $SUDO dpkg -i "$deb" >/dev/null
    # the package installs under the build's CMAKE_INSTALL_PREFIX (CI configures /usr)
    prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$2/CMakeCache.txt")
    ;;
  "" | -*) echo "usage: $0 --install BUILD_DIR | --deb BUILD_DIR | PREFIX" >&2; exit 2 ;;
  *) prefix=$1 ;;
esac

pc=$(find "$prefix" -path '*/pkgconfig/seqgrad.pc' 2>/dev/null | head -1)
[ -n "$pc" ] || { echo "consumer-test: no seqgrad.pc under $prefix" >&2; exit 1; }
libdir=$(dirname "$(dirname "$pc")")
export PKG_CONFIG_PATH="$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

# the installed tree: public headers only, versioned soname, RUNPATH to the OpenMP OpenBLAS
if find "$prefix/include/seqgrad" \( -name '*_impl.h' -o -name node.h -o -name '*kernels.h' \) | grep .; then
  echo "consumer-test: internal headers installed (above)" >&2; exit 1
fi
soname=$(readelf -d "$libdir/libseqgrad.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
runpath=$(readelf -d "$libdir/libseqgrad.so" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
echo "consumer-test: $libdir/libseqgrad.so: soname $soname, RUNPATH $runpath"
[[ "$soname" =~ ^libseqgrad\.so\.[0-9]+$ ]] || { echo "consumer-test: bad soname" >&2; exit 1; }
[[ "$runpath" == *openblas-openmp* ]] || { echo "consumer-test: no RUNPATH to openblas-openmp" >&2; exit 1; }
[ -f "$libdir/libseqgrad.a" ] || { echo "consumer-test: no libseqgrad.a" >&2; exit 1; }

# run NAME PROGRAM: must exit 0, print "ok", say nothing on stderr; the dynamic loader must pick
# the OpenMP OpenBLAS (and, for static links, no libseqgrad.so)
run() {
  local name=$1 exe=$2
  if ! "$exe" >"$work/out" 2>"$work/err" || ! grep -q ': ok$' "$work/out" || [ -s "$work/err" ]; then
    echo "consumer-test: $name FAILED"; cat "$work/out" "$work/err"; exit 1
  fi
  local blas
  blas=$(ldd "$exe" | awk '/libopenblas/ {print $3}')
  [[ "$blas" == *openblas-openmp* ]] || { echo "consumer-test: $name loads OpenBLAS $blas" >&2; exit 1; }
  if [[ "$name" == *static* ]] && ldd "$exe" | grep -q libseqgrad; then
    echo "consumer-test: $name links libseqgrad.so" >&2; exit 1
  fi
  echo "consumer-test: $name: $(tail -1 "$work/out")"
}

# 1. find_package(seqgrad): seqgrad::seqgrad and seqgrad::seqgrad_static, C and C++
cmake -S "$src" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/cmake" -j2 >/dev/null
for t in consumer_c consumer_c_static consumer_cxx consumer_cxx_static; do run "find_package $t" "$work/cmake/$t"; done

# 2. pkg-config, shared: the .so's RUNPATH pins OpenBLAS; the program needs an rpath only for a
#    non-system prefix
rp=""
[ "$libdir" != "/usr/lib/$(gcc -print-multiarch)" ] && rp="-Wl,-rpath,$libdir"
cc -Wall -Wextra -Werror -o "$work/pc_c" "$src/main.c" $(pkg-config --cflags --libs seqgrad) -lm $rp
run "pkg-config C" "$work/pc_c"
c++ -Wall -Wextra -Werror -o "$work/pc_cxx" "$src/main.cpp" $(pkg-config --cflags --libs seqgrad) $rp
run "pkg-config C++" "$work/pc_cxx"

# 3. pkg-config --static: libseqgrad.a and its Libs.private / Requires.private
static_libs=$(pkg-config --libs --static seqgrad | sed 's/-lseqgrad\b/-l:libseqgrad.a/')
cc -Wall -Wextra -Werror -o "$work/pc_c_static" "$src/main.c" $(pkg-config --cflags seqgrad) $static_libs
run "pkg-config --static C" "$work/pc_c_static"
c++ -Wall -Wextra -Werror -o "$work/pc_cxx_static" "$src/main.cpp" $(pkg-config --cflags seqgrad) $static_libs
run "pkg-config --static C++" "$work/pc_cxx_static"

# 4. plain cc -lseqgrad (for /usr no flags at all)
if [ "$prefix" = /usr ]; then
  cc -o "$work/plain_c" "$src/main.c" -lseqgrad -lm
else
  cc -o "$work/plain_c" "$src/main.c" -I"$prefix/include" -L"$libdir" -Wl,-rpath,"$libdir" -lseqgrad -lm
fi
run "cc -lseqgrad" "$work/plain_c"
# 5. libseqgrad_dist: find_package(seqgrad COMPONENTS dist) and pkg-config seqgrad-dist, one
#    process; under mpirun -np 2 when seqgrad was built with MPI
dist_cmake=$(find "$prefix" -path '*/cmake/seqgrad/seqgrad-dist.cmake' 2>/dev/null | head -1)
[ -n "$dist_cmake" ] || { echo "consumer-test: no seqgrad-dist.cmake under $prefix" >&2; exit 1; }
for t in consumer_dist consumer_dist_static; do
  [ -x "$work/cmake/$t" ] || { echo "consumer-test: find_package(seqgrad) defined no seqgrad::dist ($t)" >&2; exit 1; }
  run "find_package $t" "$work/cmake/$t"
done
cc -Wall -Wextra -Werror -o "$work/pc_dist" "$src/dist.c" $(pkg-config --cflags --libs seqgrad-dist) $rp
run "pkg-config seqgrad-dist" "$work/pc_dist"
if grep -q 'seqgrad_dist_WITH_MPI 1' "$dist_cmake"; then
  mpi_out=$(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader,tcp \
            OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo \
            timeout 60 mpirun --oversubscribe -np 2 "$work/cmake/consumer_dist" 2>&1) || true
  grep -q '2 process(es), MPI: ok$' <<<"$mpi_out" || { echo "consumer-test: mpirun -np 2 consumer_dist FAILED"; echo "$mpi_out"; exit 1; }
  echo "consumer-test: mpirun -np 2 consumer_dist: $(tail -1 <<<"$mpi_out")"
fi
# 6. add_subdirectory(seqgrad) (configure only: checks that nothing leaks into the consumer)
cmake -S "$src/subdir" -B "$work/subdir" -DSEQGRAD_SOURCE="$PWD" | grep 'add_subdirectory(seqgrad)'
echo "consumer-test: all ok ($prefix)"
