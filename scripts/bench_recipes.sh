#!/usr/bin/env bash
# Same-run figures of the recipes against their baselines, on throwaway etcds:
#   stm       transfers/s of run_stm (stm-transfer) against the same transfer written by hand
#             (stm-transfer-bare), alternating, for each client count;
#   kv-cache  for each key count: heap bytes per cached key against a std::map copy of the same
#             range, and lookups/s of kv_cache::get() and of a snapshot's find() against
#             std::map::find and against serializable gets from etcd (coord-bench --workload
#             kv-cache; a fresh etcd per round, so earlier rounds' churn does not slow etcd).
# Each figure is the median over ROUNDS rounds.
#
# Usage: scripts/bench_recipes.sh [--duration S] [--rounds N] [--clients "1 8"]
#                                 [--keys "10000 100000"] [--no-build]
# (also: scripts/bench.sh --recipes ...). Writes $BUILD_DIR/bench/recipes.csv and prints a table.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

die() { echo "bench_recipes.sh: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; }

DURATION=3 ROUNDS=3 CLIENTS="1 8" KEYS="10000 100000" BUILD=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --duration) DURATION=${2:?--duration needs seconds}; shift ;;
    --rounds) ROUNDS=${2:?--rounds needs a number}; shift ;;
    --clients) CLIENTS=${2:?--clients needs a list}; shift ;;
    --keys) KEYS=${2:?--keys needs a list}; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) usage; exit 0 ;;
    *) usage; die "unknown argument: $1" ;;
  esac
  shift
done
[[ $DURATION =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--duration must be seconds: $DURATION"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a whole number >= 1: $ROUNDS"
for c in $CLIENTS; do [[ $c =~ ^[1-9][0-9]*$ ]] || die "client counts are whole numbers >= 1: $c"; done
for k in $KEYS; do [[ $k =~ ^[1-9][0-9]*$ ]] || die "key counts are whole numbers >= 1: $k"; done

install_dependencies
[[ $BUILD -eq 0 ]] || BUILD_TARGETS="coord-bench coord-local-etcd" build_project
COORD_BENCH=$BUILD_DIR/bin/coord-bench
[[ -x $COORD_BENCH ]] || die "coord-bench not found at $COORD_BENCH"
OUT=$BUILD_DIR/bench
RAW=$OUT/recipes-raw
mkdir -p "$RAW"
rm -f "$RAW"/*
setup_run_dir

# bench OUT ARGS...: one coord-bench run on the current etcd; sets LINE (its JSON line).
bench() {
  local out=$RAW/$1
  shift
  "$COORD_BENCH" --endpoints "$COORD_ENDPOINTS" "$@" --json >"$out" 2>&1 ||
    die "coord-bench $* failed: $(tail -3 "$out")"
  LINE=$(grep '"workload"' "$out" | tail -1) || die "no JSON line in $out"
}

CSV=$OUT/recipes.csv
echo "figure,setting,value,baseline,ratio,rounds" >"$CSV"
row() {  # FIGURE SETTING VALUES BASELINES: prints and records the medians and their ratio
  local v b r
  v=$(calc "$(median $3)" 1) b=$(calc "$(median $4)" 1)
  r=$(calc "$v / $b" 2)
  printf '%-34s %-12s %14s %14s %7s\n' "$1" "$2" "$v" "$b" "$r"
  echo "$1,$2,$v,$b,$r,$3 / $4" >>"$CSV"
}

ETCD_VERSION=$(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p' | head -1)
log "etcd $ETCD_VERSION; $DURATION s per run, $ROUNDS rounds; medians"
printf '%-34s %-12s %14s %14s %7s\n' figure setting value baseline ratio

start_local_etcd 1
for c in $CLIENTS; do
  stm=() bare=()
  for ((r = 1; r <= ROUNDS; r++)); do
    bench "stm-c$c-$r" --workload stm-transfer --clients "$c" --duration "$DURATION"
    stm+=("$(json_num "$LINE" ops_per_s)")
    bench "bare-c$c-$r" --workload stm-transfer-bare --clients "$c" --duration "$DURATION"
    bare+=("$(json_num "$LINE" ops_per_s)")
  done
  row "stm transfers/s (vs by hand)" "clients=$c" "${stm[*]}" "${bare[*]}"
done
stop_local_etcd

for k in $KEYS; do
  mem=() map_mem=() get=() find=() map_find=() etcd=()
  for ((r = 1; r <= ROUNDS; r++)); do
    start_local_etcd 1
    bench "kv-$k-$r" --workload kv-cache --keys "$k" --duration "$DURATION"
    stop_local_etcd
    mem+=("$(json_num "$LINE" cache_bytes_per_key)")
    map_mem+=("$(json_num "$LINE" baseline_map_bytes_per_key)")
    get+=("$(json_num "$LINE" get_per_s)")
    find+=("$(json_num "$LINE" snapshot_find_per_s)")
    map_find+=("$(json_num "$LINE" baseline_map_find_per_s)")
    etcd+=("$(json_num "$LINE" etcd_gets_per_s)")
  done
  row "kv_cache bytes/key (vs std::map)" "keys=$k" "${mem[*]}" "${map_mem[*]}"
  row "kv_cache get/s (vs std::map find)" "keys=$k" "${get[*]}" "${map_find[*]}"
  row "snapshot find/s (vs std::map find)" "keys=$k" "${find[*]}" "${map_find[*]}"
  row "kv_cache get/s (vs etcd get)" "keys=$k" "${get[*]}" "${etcd[*]}"
done
echo "csv: $CSV (every round's figures in the last column); raw outputs: $RAW"
