#!/usr/bin/env bash
# Installs lockstep's dependencies from Debian packages (only what is missing) and builds it into
# ./build (or $LOCKSTEP_BUILD_DIR). CUDA code is compiled when nvcc exists (/usr/local/cuda/bin/nvcc).
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS="build-essential cmake libeigen3-dev librapidcheck-dev libhdf5-dev hdf5-tools libfmt-dev libcli11-dev
      nlohmann-json3-dev libgtest-dev libbenchmark-dev python3 python3-h5py python3-numpy python3-yaml python3-matplotlib
      clang libclang-rt-14-dev llvm"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing$missing"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
BUILD=${LOCKSTEP_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} ${LOCKSTEP_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD" -j "$(nproc)"
