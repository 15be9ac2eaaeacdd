#!/bin/bash
# Layers flow one way: fuzz/ -> oracle/ -> {reference/, device/} -> core/ (README "Layout").
#   core/       includes no other layer
#   device/     includes no reference/, fuzz/ or oracle/ header
#   reference/  includes no device/, fuzz/ or oracle/ header
#   fuzz/       (the generators, lockstep_fuzz) includes no oracle/ or device/ header: the oracle's registry
#               holds each op's generator, so generators sit below the oracle (oracle -> fuzz -> reference),
#               and a generator including the oracle would close a cycle. fuzz/loader/ is exempt: it is a
#               harness over the oracle's loader (its own executable), not a generator.
# and, from the link lists CMake generated (LINKS: lines "target: lib;lib;..."), the same rule for the
# libraries, transitively: lockstep_device never links lockstep_reference, and so on.
# Usage: layering_test.sh SOURCE_DIR LINKS_FILE      (exits 1 listing every violation)
#        layering_test.sh --self-test                (plants one violation of each kind; each must fail)
set -u

check() {
  local src=$1 links=$2 bad=0
  forbid() {  # layer, forbidden layers (regex alternation), optional subfolder of the layer to skip
    local hits
    hits=$(grep -rnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<]($2)/" "$src/$1" \
             --include='*.h' --include='*.cpp' --include='*.cu' --include='*.cuh' 2>/dev/null |
           { if [ -n "${3:-}" ]; then grep -v "^$src/$1/$3/"; else cat; fi; })
    if [ -n "$hits" ]; then
      echo "layering: $1/ must not include $2/:"
      echo "$hits" | sed "s#^$src/#  #"
      bad=1
    fi
  }
  forbid core 'reference|device|fuzz|oracle'
  forbid device 'reference|fuzz|oracle'
  forbid reference 'device|fuzz|oracle'
  forbid fuzz 'oracle|device' loader
  # Transitive link closure over the lockstep_* libraries.
  declare -A deps
  while IFS= read -r line; do
    [ -z "$line" ] && continue
    deps[${line%%:*}]=$(echo "${line#*: }" | tr ';' ' ')
  done <"$links"
  closure() {
    local seen=" " todo=("$1") t d
    while [ ${#todo[@]} -gt 0 ]; do
      t=${todo[0]}; todo=("${todo[@]:1}")
      for d in ${deps[$t]:-}; do
        case "$seen" in *" $d "*) continue ;; esac
        seen="$seen$d "; todo+=("$d")
      done
    done
    echo "$seen"
  }
  forbid_link() {  # target, forbidden libraries...
    local t=$1 c l; shift
    if [ -z "${deps[$t]+x}" ]; then echo "layering: no link list for $t in $links"; bad=1; return; fi
    c=$(closure "$t")
    for l in "$@"; do
      case "$c" in *" $l "*) echo "layering: $t must not link $l (links:$c)"; bad=1 ;; esac
    done
  }
  forbid_link lockstep_core lockstep_reference lockstep_device lockstep_fuzz lockstep_oracle
  forbid_link lockstep_device lockstep_reference lockstep_fuzz lockstep_oracle
  forbid_link lockstep_reference lockstep_device lockstep_fuzz lockstep_oracle
  forbid_link lockstep_fuzz lockstep_device lockstep_oracle
  return $bad
}

if [ "${1:-}" = "--self-test" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/core" "$tmp/device/kvcache" "$tmp/reference/kvcache" "$tmp/fuzz/kvcache" "$tmp/fuzz/loader"
  good_links=$'lockstep_core: fmt::fmt\nlockstep_device: lockstep_core;CUDA::cudart\nlockstep_reference: lockstep_core;Eigen3::Eigen\nlockstep_fuzz: lockstep_reference;rapidcheck'
  echo "$good_links" >"$tmp/links"
  echo '#include "core/tensor.h"' >"$tmp/device/kvcache/a.h"
  echo '#include "reference/kvcache/kv_trace.h"' >"$tmp/fuzz/kvcache/e.cpp"
  echo '#include "oracle/h5io.h"' >"$tmp/fuzz/loader/loader.cpp"  # the loader harness may
  check "$tmp" "$tmp/links" >/dev/null || { echo "FAILED: a clean tree was reported"; exit 1; }
  expect_fail() {  # what, then a command that plants the violation; the tree is restored afterwards
    local what=$1; shift
    cp -r "$tmp" "$tmp.bak"
    "$@"
    if check "$tmp" "$tmp/links" >"$tmp.out"; then echo "FAILED: $what not detected"; exit 1; fi
    echo "detected ($what): $(head -1 "$tmp.out")"
    rm -rf "$tmp" && mv "$tmp.bak" "$tmp"
  }
  expect_fail "device includes reference" sh -c "echo '#include \"reference/kvcache/page_table.h\"' >>'$tmp/device/kvcache/a.h'"
  expect_fail "device .cu includes oracle" sh -c "echo ' #  include \"oracle/op.h\"' >'$tmp/device/b.cu'"
  expect_fail "reference includes fuzz" sh -c "echo '#include \"fuzz/core/pick.h\"' >'$tmp/reference/kvcache/c.cpp'"
  expect_fail "core includes device" sh -c "echo '#include <device/core/backend.h>' >'$tmp/core/d.h'"
  expect_fail "device links reference" sh -c "sed -i 's/^lockstep_device: lockstep_core/lockstep_device: lockstep_core;lockstep_reference/' '$tmp/links'"
  expect_fail "device links reference transitively" sh -c "sed -i 's/^lockstep_core: fmt::fmt/lockstep_core: fmt::fmt;lockstep_reference/' '$tmp/links'"
  expect_fail "fuzz includes oracle" sh -c "echo '#include \"oracle/op.h\"' >>'$tmp/fuzz/kvcache/e.cpp'"
  expect_fail "fuzz links oracle" sh -c "sed -i 's/^lockstep_fuzz: lockstep_reference/lockstep_fuzz: lockstep_reference;lockstep_oracle/' '$tmp/links'"
  expect_fail "missing link list" sh -c "sed -i '/^lockstep_reference/d' '$tmp/links'"
  echo "self-test passed"
  exit 0
fi

check "$1" "$2" || exit 1
echo "layering: clean (core <- {reference, device}; no device -> reference, no reference -> fuzz, no fuzz -> oracle)"
