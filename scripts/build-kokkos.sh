#!/usr/bin/env bash
# Builds Kokkos 3.4.01 with other backends than Debian's (Serial only) and installs it into a
# local prefix, for -DKokkos_ROOT=PREFIX (README.md, "Other Kokkos backends").
#
# The source is Debian's own: `apt-get source trilinos` (bookworm's 13.2.0 carries Kokkos 3.4.01,
# the version Debian's libtrilinos-kokkos-dev is built from). Only packages/kokkos is kept
# (without its tests, about 8 MB), in third_party/kokkos-3.4.01, patched with
# scripts/patches/kokkos-3.4.01-*.patch (`patch -p1`):
#   cuda-half        skip the CUDA half_t block, which does not compile with CUDA 13's cuda_fp16.h
#   cuda13-prefetch  cudaMemPrefetchAsync takes a cudaMemLocation from CUDA 13 on
#   hopper90         Kokkos_ARCH_HOPPER90 (sm_90: H100, H200); 3.4 aborts on a device whose major
#                    compute capability differs from the one it was compiled for
# A present, patched source is never downloaded again (so the tree can travel to a machine
# without network: bench/gpu-check.sh). Fetching needs root (or sudo) once: it adds a deb-src
# line (/etc/apt/sources.list.d/grpo-deb-src.sources) when apt knows no source of trilinos.
#
# Usage: bash scripts/build-kokkos.sh [--backend B[,B...]] [--arch A] [--prefix DIR] [--jobs N]
#                                     [--source-only]
#   --backend  cuda, openmp, serial, comma-separated (default cuda; cuda alone adds serial as
#              its host backend)
#   --arch     with cuda: AMPERE80 (default; sm_80, A100) or HOPPER90 (sm_90, H100/H200)
#   --prefix   install prefix (default third_party/kokkos-<backends>[-<arch>])
#   --jobs     parallel compile jobs (default: nproc)
#   --source-only   fetch, extract and patch the source, build nothing
# A prefix already built from the same source, patches, backends, arch and compilers is kept
# (its .grpo-kokkos stamp says so): a rerun costs nothing. CUDA needs nvcc on PATH or in
# /usr/local/cuda/bin; the install's bin/nvcc_wrapper is the C++ compiler of projects built
# against it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

backends=cuda
arch=AMPERE80
prefix=""
jobs=$(nproc)
source_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backends=$2; shift 2 ;;
    --backend=*) backends=${1#*=}; shift ;;
    --arch) arch=$2; shift 2 ;;
    --arch=*) arch=${1#*=}; shift ;;
    --prefix) prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --jobs) jobs=$2; shift 2 ;;
    --jobs=*) jobs=${1#*=}; shift ;;
    --source-only) source_only=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-kokkos: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

src=${GRPO_KOKKOS_SOURCE:-$root/third_party/kokkos-3.4.01}
# The patches apply, and are hashed, in the C locale's order on every machine.
export LC_ALL=C
patches=("$root"/scripts/patches/kokkos-3.4.01-*.patch)
patch_hash=$(cat "${patches[@]}" | sha256sum | cut -c1-16)

# --- 1. the source: packages/kokkos of Debian's trilinos, trimmed and patched ---------------
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_deb_src() {
  if apt-cache showsrc trilinos 2> /dev/null | grep -q '^Package: trilinos$'; then
    return
  fi
  local codename list=/etc/apt/sources.list.d/grpo-deb-src.sources
  codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2> /dev/null)
  codename=${codename:-bookworm}
  local want="Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $codename
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
  if [ "$(cat "$list" 2> /dev/null)" != "$want" ]; then
    echo "build-kokkos: adding a deb-src line for $codename ($list)"
    printf '%s\n' "$want" | as_root tee "$list" > /dev/null
  fi
  as_root apt-get update -qq
}

fetch_source() {
  if [ -f "$src/grpo-source.stamp" ] && [ "$(cat "$src/grpo-source.stamp")" = "$patch_hash" ]; then
    echo "build-kokkos: source $src present and patched: no download"
    return
  fi
  if [ -f "$src/grpo-source.stamp" ]; then
    echo "build-kokkos: $src was patched with $(cat "$src/grpo-source.stamp"), the patches now hash to $patch_hash: fetching again"
  fi
  ensure_deb_src
  mkdir -p "$root/third_party"
  dl=""
  dl=$(mktemp -d "$root/third_party/.trilinos-src.XXXXXX")
  trap 'rm -rf "$dl"' EXIT
  echo "build-kokkos: apt-get source --download-only trilinos (166 MB) into $dl"
  if ! (cd "$dl" && apt-get source --download-only -qq trilinos > apt.log 2>&1); then
    cat "$dl/apt.log" >&2
    echo "build-kokkos: apt-get source trilinos failed" >&2
    exit 1
  fi
  local orig
  orig=$(find "$dl" -maxdepth 1 -name 'trilinos_*.orig.tar.gz' | head -n 1)
  if [ -z "$orig" ]; then
    echo "build-kokkos: apt-get source trilinos fetched no .orig.tar.gz" >&2
    exit 1
  fi
  mkdir -p "$dl/x"
  tar -xzf "$orig" -C "$dl/x" --strip-components=2 --wildcards '*/packages/kokkos/*'
  local k="$dl/x/kokkos"
  local version
  version=$(sed -n 's/^set(Kokkos_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\))$/\2/Ip' \
    "$k/CMakeLists.txt" | paste -sd.)
  if [ "$version" != "3.4.01" ]; then
    echo "build-kokkos: expected Kokkos 3.4.01 in $(basename "$orig"), found '$version'" >&2
    exit 1
  fi
  # Only the libraries: no tests, benchmarks or documentation (Kokkos' CMake always enters
  # example/, which builds nothing unless asked).
  rm -rf "$k"/core/unit_test "$k"/core/perf_test "$k"/containers/unit_tests \
    "$k"/containers/performance_tests "$k"/algorithms/unit_tests "$k"/benchmarks "$k"/doc
  for p in "${patches[@]}"; do
    echo "build-kokkos: patch -p1 < ${p#"$root"/}"
    patch -p1 -d "$k" --forward --batch --quiet < "$p"
  done
  echo "$patch_hash" > "$k/grpo-source.stamp"
  rm -rf "$src"
  mkdir -p "$(dirname "$src")"
  mv "$k" "$src"
  rm -rf "$dl"
  trap - EXIT
  echo "build-kokkos: source in $src ($(du -sh "$src" | cut -f1))"
}

fetch_source
if [ "$source_only" -eq 1 ]; then
  exit 0
fi

# --- 2. configure, build, install ------------------------------------------------------------
IFS=, read -r -a list <<< "$backends"
cuda=OFF openmp=OFF serial=OFF
for b in "${list[@]}"; do
  case "${b,,}" in
    cuda) cuda=ON ;;
    openmp) openmp=ON ;;
    serial) serial=ON ;;
    *) echo "build-kokkos: unknown backend '$b' (cuda, openmp, serial)" >&2; exit 2 ;;
  esac
done
if [ "$cuda" = ON ] && [ "$openmp" = OFF ]; then
  serial=ON # the host backend beside Cuda
fi
name=""
if [ "$cuda" = ON ]; then name="$name-cuda"; fi
if [ "$openmp" = ON ]; then name="$name-openmp"; fi
if [ "$serial" = ON ]; then name="$name-serial"; fi

opts=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_STANDARD=17 -DCMAKE_CXX_EXTENSIONS=OFF
  "-DKokkos_ENABLE_SERIAL=$serial" "-DKokkos_ENABLE_OPENMP=$openmp" "-DKokkos_ENABLE_CUDA=$cuda"
  -DKokkos_ENABLE_TESTS=OFF -DKokkos_ENABLE_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF)
compiler=${CXX:-g++}
if [ "$cuda" = ON ]; then
  case "$arch" in
    AMPERE80) sm=sm_80 ;;
    HOPPER90) sm=sm_90 ;;
    *) echo "build-kokkos: unknown --arch '$arch' (AMPERE80, HOPPER90)" >&2; exit 2 ;;
  esac
  if ! command -v nvcc > /dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH=/usr/local/cuda/bin:$PATH
  fi
  if ! command -v nvcc > /dev/null; then
    echo "build-kokkos: the cuda backend needs nvcc (PATH or /usr/local/cuda/bin)" >&2
    exit 1
  fi
  name="$name-${arch,,}"
  compiler=$src/bin/nvcc_wrapper
  [ -x "$compiler" ] || chmod +x "$compiler" # a copied tree may lose the mode bits
  # -arch in CMAKE_CXX_FLAGS too: nvcc_wrapper's default (sm_35) is unknown to CUDA 12+, and
  # CMake's compiler checks run before Kokkos adds its own -arch.
  opts+=("-DCMAKE_CXX_FLAGS=-arch=$sm" "-DKokkos_ARCH_$arch=ON" -DKokkos_ENABLE_CUDA_LAMBDA=ON
    -DKokkos_ENABLE_CUDA_CONSTEXPR=ON)
fi
opts+=(-DCMAKE_CXX_COMPILER="$compiler")
prefix=${prefix:-$root/third_party/kokkos${name}}
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)

compiler_version=$("$compiler" --version 2>&1 | head -n 1)
if [ "$cuda" = ON ]; then compiler_version="$compiler_version; $(nvcc --version | tail -n 1)"; fi
stamp="source=$patch_hash options=${opts[*]} compiler=$compiler_version"
if [ -f "$prefix/.grpo-kokkos" ] && [ "$(cat "$prefix/.grpo-kokkos")" = "$stamp" ]; then
  echo "build-kokkos: $prefix is up to date (backends${name//-/ }): nothing to do"
  exit 0
fi

build="$prefix.build"
rm -rf "$build"
echo "build-kokkos: configuring Kokkos (backends${name//-/ }) for $prefix"
start=$(date +%s)
cmake -S "$src" -B "$build" -DCMAKE_INSTALL_PREFIX="$prefix" "${opts[@]}" > "$build.log" 2>&1 || {
  tail -n 40 "$build.log"
  exit 1
}
echo "build-kokkos: building with $jobs jobs (log: $build.log)"
if ! cmake --build "$build" -j"$jobs" >> "$build.log" 2>&1 ||
  ! cmake --install "$build" >> "$build.log" 2>&1; then
  tail -n 40 "$build.log"
  exit 1
fi
echo "$stamp" > "$prefix/.grpo-kokkos"
rm -rf "$build"
echo "build-kokkos: installed in $prefix ($(($(date +%s) - start)) s)"
