#!/usr/bin/env bash
# Checks the direction of the #include lines of src/ and include/ against tools/layers.txt: a
# layer includes only itself and the layers below it; a public header only public headers.
# Usage: scripts/check_layers.sh [--root DIR]   (DIR: a tree with src/, include/ and
#        tools/layers.txt; default: this repository)
#        scripts/check_layers.sh --self-test    (shows that the check fails when it should)
# Exit 0 when every include goes the allowed way, 1 otherwise (each offence on one line).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root=$here

if [[ ${1:-} == --self-test ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/tools" "$tmp/src/transport" "$tmp/src/recipes/lock" "$tmp/include/coordination"
  printf 'transport 3\nrecipes 7\ncoordination 0\n' >"$tmp/tools/layers.txt"
  printf '#include "transport/pool.hpp"\n#include "coordination/error.hpp"\n' \
    >"$tmp/src/recipes/lock/ok.cpp"
  printf '#include <vector>\n' >"$tmp/include/coordination/api.hpp"
  "$0" --root "$tmp" >/dev/null || { echo "self-test: an allowed tree was refused"; exit 1; }
  printf '#include "recipes/lock/wait_set.hpp"\n' >"$tmp/src/transport/bad.hpp"
  if "$0" --root "$tmp" >/dev/null; then echo "self-test: an upward include passed"; exit 1; fi
  rm "$tmp/src/transport/bad.hpp"
  printf '#include "transport/pool.hpp"\n' >"$tmp/include/coordination/api.hpp"
  if "$0" --root "$tmp" >/dev/null; then echo "self-test: a public header reaching src/ passed"; exit 1; fi
  printf '#include <vector>\n' >"$tmp/include/coordination/api.hpp"
  printf 'allow src/transport/gone.hpp recipes/x.hpp\n' >>"$tmp/tools/layers.txt"
  if "$0" --root "$tmp" >/dev/null; then echo "self-test: a stale exception passed"; exit 1; fi
  echo "check_layers self-test: passed (4 cases)"
  exit 0
fi
if [[ ${1:-} == --root ]]; then
  root=$2
fi

rules=$root/tools/layers.txt
[[ -f $rules ]] || { echo "check_layers: no $rules"; exit 1; }
declare -A rank=()
declare -A allowed=()
declare -A used=()
while read -r a b c; do
  [[ -z ${a:-} || $a == \#* ]] && continue
  if [[ $a == allow ]]; then
    allowed["$b $c"]=1
  else
    rank[$a]=$b
  fi
done <"$rules"

failures=0
fail() {
  echo "$1"
  failures=$((failures + 1))
}

# src/<dir>/...: each quoted include's first path component must rank at or below <dir>.
while IFS= read -r file; do
  rel=${file#"$root"/}
  dir=${rel#src/}
  dir=${dir%%/*}
  [[ -n ${rank[$dir]:-} ]] || { fail "$rel: src/$dir is not a layer of tools/layers.txt"; continue; }
  while IFS= read -r inc; do
    top=${inc%%/*}
    [[ $inc == */* ]] || continue  # a neighbour in the same folder
    if [[ -z ${rank[$top]:-} ]]; then
      fail "$rel includes \"$inc\": $top is not a layer of tools/layers.txt"
    elif ((rank[$top] > rank[$dir])); then
      if [[ -n ${allowed["$rel $inc"]:-} ]]; then
        used["$rel $inc"]=1
      else
        fail "$rel includes \"$inc\": $dir (rank ${rank[$dir]}) may not include $top (rank ${rank[$top]})"
      fi
    fi
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$file")
done < <(find "$root/src" -type f \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' \) | sort)

# include/coordination/...: public headers include only public headers (and <system> ones).
while IFS= read -r file; do
  rel=${file#"$root"/}
  while IFS= read -r inc; do
    [[ $inc == coordination/* ]] || fail "$rel includes \"$inc\": a public header includes only coordination/ headers"
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$file")
done < <(find "$root/include" -type f -name '*.hpp' | sort)

for k in "${!allowed[@]}"; do
  [[ -n ${used[$k]:-} ]] || fail "tools/layers.txt: the exception '$k' no longer occurs: remove it"
done

if ((failures > 0)); then
  echo "check_layers: $failures include(s) against tools/layers.txt"
  exit 1
fi
echo "check_layers: every include of src/ and include/ goes the allowed way (${#allowed[@]} known exceptions left)"
