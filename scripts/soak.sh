#!/usr/bin/env bash
# The randomized soak of issue #29 (test/integration/test_soak.cpp): every recipe's workload at
# once on a 3-member etcd cluster behind fault proxies, under lost, late and replayed answers,
# member pauses, a kill and compactions, then checks of what etcd holds. Runs one seed after
# another and stops at the first failure, printing its seed (COORD_SOAK_SEED=N reproduces it).
#   scripts/soak.sh [--seeds N] [--seconds S] [--seed X] [--bin PATH]
# Defaults: 20 random seeds of 8 s, the test binary of $BUILD_DIR (build/), built first if missing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seeds=20
seconds=8
fixed=""
bin=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --seeds) seeds=${2:?}; shift 2 ;;
    --seconds) seconds=${2:?}; shift 2 ;;
    --seed) fixed=${2:?}; seeds=1; shift 2 ;;
    --bin) bin=${2:?}; shift 2 ;;
    *) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ -z $bin ]]; then
  build=${BUILD_DIR:-$ROOT/build}
  bin=$build/bin/coord_integration_tests
  [[ -x $bin ]] || cmake --build "$build" --target coord_integration_tests
fi
started=$SECONDS
for ((i = 1; i <= seeds; i++)); do
  seed=${fixed:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
  echo "soak $i/$seeds: seed $seed, ${seconds} s"
  if ! COORD_SOAK_SEED=$seed COORD_SOAK_SECONDS=$seconds "$bin" --run_test=soak_suite; then
    echo "soak: FAILED with seed $seed (COORD_SOAK_SEED=$seed $bin --run_test=soak_suite)" >&2
    exit 1
  fi
done
echo "soak: $seeds seed(s) passed in $((SECONDS - started)) s"
