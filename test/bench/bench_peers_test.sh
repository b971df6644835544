#!/usr/bin/env bash
# scripts/bench_peers.sh end to end, briefly and without the Go peer: a throwaway etcd, wrk's
# floor (the lock path's acquire txn + delete too) and coord-bench, 1 s each; every row of the
# CSV must have positive figures for both, and the Go columns none. (No figure is judged: timed
# assertions belong in benchmarks, not tests.)
# Usage: bench_peers_test.sh BUILD_DIR
set -uo pipefail
BUILD=${1:?usage: bench_peers_test.sh BUILD_DIR}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/test/support/checks.sh"

out=$(BUILD_DIR=$BUILD bash "$ROOT/scripts/bench_peers.sh" --no-go --no-build --duration 1 \
  --rounds 1 --clients 1 --workloads "get lock" 2>&1)
rc=$?
[[ $rc -eq 0 ]] && pass "bench_peers.sh ran (exit 0)" || { echo "$out"; fail "bench_peers.sh exit $rc"; }
csv=$BUILD/bench/peers.csv
for w in get lock; do
  row=$(grep "^$w,1," "$csv" 2>/dev/null)
  IFS=, read -r _ _ wrk coord go _ <<<"$row"
  if awk -v a="$wrk" -v b="$coord" 'BEGIN { exit !(a > 0 && b > 0) }' && [[ -z $go ]]; then
    pass "$w: wrk $wrk ops/s, coord-bench $coord ops/s, no Go figure"
  else
    echo "$out"
    fail "$w: row '$row'"
  fi
done
echo "$checks checks, $failures failed"
[[ $failures -eq 0 ]]
