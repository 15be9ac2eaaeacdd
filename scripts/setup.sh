#!/usr/bin/env bash
# Installs lockstep's dependencies from Debian packages (only what is missing) and builds it into
# ./build (or $LOCKSTEP_BUILD_DIR). CUDA code is compiled when nvcc exists (/usr/local/cuda/bin/nvcc).
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS="build-essential cmake libeigen3-dev librapidcheck-dev libhdf5-dev hdf5-tools libfmt-dev libcli11-dev
      nlohmann-json3-dev libgtest-dev libbenchmark-dev python3 python3-h5py python3-numpy python3-yaml python3-matplotlib
      python3-venv python3-torch clang libclang-rt-14-dev llvm"
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
# Python workers (--impl python:..., workers/): a project-local virtual environment .venv with the peers'
# packages (CPU jax ~20 s and ~650 MB from PyPI). lockstep runs workers with .venv/bin/python3. Without the
# package index the venv is left out and the tests that need it skip, printing the reason kept in
# .venv-missing. LOCKSTEP_NO_VENV=1 skips this step.
if [ "${LOCKSTEP_NO_VENV:-0}" != 1 ]; then
  if .venv/bin/python3 -c "import jax, h5py, numpy" 2>/dev/null; then
    rm -f .venv-missing
  else
    rm -rf .venv
    if log=$( { python3 -m venv .venv && .venv/bin/pip install -q --disable-pip-version-check --timeout 20 --retries 1 \
                  jax==0.10.2 h5py numpy; } 2>&1 ); then
      rm -f .venv-missing
      echo "setup: .venv ready ($(.venv/bin/python3 -c 'import jax; print("jax", jax.__version__)'))"
    else
      rm -rf .venv
      printf 'scripts/setup.sh could not create .venv (python3 -m venv; pip install jax h5py numpy):\n%s\n' \
        "$(printf '%s\n' "$log" | tail -n 3)" > .venv-missing
      echo "setup: no .venv for the Python workers: $(tail -n 1 .venv-missing)"
    fi
  fi
fi

BUILD=${LOCKSTEP_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} ${LOCKSTEP_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD" -j "$(nproc)"
