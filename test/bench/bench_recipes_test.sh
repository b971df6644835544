#!/usr/bin/env bash
# scripts/bench_recipes.sh end to end, briefly: one round of half a second per run, 1 client,
# 2000 cached keys; every row of the CSV must have a positive value, baseline and ratio. (No
# figure is judged: timed assertions belong in benchmarks, not tests.)
# Usage: bench_recipes_test.sh BUILD_DIR
set -uo pipefail
BUILD=${1:?usage: bench_recipes_test.sh BUILD_DIR}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/test/support/checks.sh"

out=$(BUILD_DIR=$BUILD bash "$ROOT/scripts/bench.sh" --recipes --no-build --duration 0.5 \
  --rounds 1 --clients 1 --keys 2000 2>&1)
rc=$?
[[ $rc -eq 0 ]] && pass "bench_recipes.sh ran (exit 0)" || { echo "$out"; fail "bench_recipes.sh exit $rc"; }
csv=$BUILD/bench/recipes.csv
rows=0
while IFS=, read -r figure setting value baseline ratio _; do
  [[ $figure == figure ]] && continue
  rows=$((rows + 1))
  if awk -v a="$value" -v b="$baseline" -v r="$ratio" 'BEGIN { exit !(a > 0 && b > 0 && r > 0) }'; then
    pass "$figure $setting: $value against $baseline"
  else
    fail "$figure $setting: value '$value', baseline '$baseline', ratio '$ratio'"
  fi
done <"$csv"
[[ $rows -eq 5 ]] && pass "5 rows" || { echo "$out"; fail "$rows rows in $csv, not 5"; }
echo "$checks checks, $failures failed"
[[ $failures -eq 0 ]]
