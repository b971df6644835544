#!/usr/bin/env bash
# Same-run figures against the peers: this library (coord-bench), Go's clientv3 over gRPC
# (gobench, from ../shared/peers/gobench or --go-src) and, for the request path, the gateway's
# own floor (wrk sending the same requests, benchmarks/wrk/gateway.lua), all on one throwaway
# etcd, in one run, alternating: for each workload and client count, ROUNDS rounds of
#   wrk -> coord-bench -> gobench
# and each one's median over the rounds. A ratio is coord / wrk or coord / go of those medians.
#
# Workloads (coord-bench / gobench / wrk):
#   put            put of a 16-byte value, a key per client (/ put / BENCH_OP=put)
#   get            linearizable get of one key (/ get / BENCH_OP=range)
#   lock           uncontended lock + release, a lock name and a session per client (/ lock /
#                  BENCH_OP=lock: the acquire txn and the delete, two requests per op)
#   lock-contended one lock for every client: ops are hand-offs (/ lockcontended / none)
#
# Usage: scripts/bench_peers.sh [--duration S] [--rounds N] [--clients "1 16"]
#                               [--workloads "put get lock lock-contended"] [--no-build]
#                               [--go-src DIR] [--no-go]
# Needs Debian's golang-go and golang-etcd-server-dev (etcd 3.4's clientv3, built offline with
# GOPATH; installed when missing) and wrk. --no-go: without the Go peer (its columns say "-"),
# nothing of Go installed. Writes $BUILD_DIR/bench/peers.csv and prints a table.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

die() { echo "bench_peers.sh: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; }

DURATION=4 ROUNDS=3 CLIENTS="1 16" WORKLOADS="put get lock lock-contended" BUILD=1 GO=1
GO_SRC=$ROOT/../shared/peers/gobench
while [[ $# -gt 0 ]]; do
  case $1 in
    --duration) DURATION=${2:?--duration needs seconds}; shift ;;
    --rounds) ROUNDS=${2:?--rounds needs a number}; shift ;;
    --clients) CLIENTS=${2:?--clients needs a list}; shift ;;
    --workloads) WORKLOADS=${2:?--workloads needs a list}; shift ;;
    --go-src) GO_SRC=${2:?--go-src needs a directory}; shift ;;
    --no-build) BUILD=0 ;;
    --no-go) GO=0 ;;
    -h|--help) usage; exit 0 ;;
    *) usage; die "unknown argument: $1" ;;
  esac
  shift
done
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "--duration must be whole seconds >= 1: $DURATION"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a whole number >= 1: $ROUNDS"
for c in $CLIENTS; do [[ $c =~ ^[1-9][0-9]*$ ]] || die "client counts are whole numbers >= 1: $c"; done
for w in $WORKLOADS; do
  [[ $w =~ ^(put|get|lock|lock-contended)$ ]] || die "workloads are put get lock lock-contended, not: $w"
done
[[ $GO -eq 0 || -f $GO_SRC/main.go ]] || die "no Go peer at $GO_SRC/main.go (pass --go-src DIR, or --no-go)"

PACKAGES+=(wrk)
[[ $GO -eq 0 ]] || PACKAGES+=(golang-go golang-etcd-server-dev)
install_dependencies
[[ $BUILD -eq 0 ]] || BUILD_TARGETS="coord-bench coord-local-etcd" build_project
COORD_BENCH=$BUILD_DIR/bin/coord-bench
[[ -x $COORD_BENCH ]] || die "coord-bench not found at $COORD_BENCH"

OUT=$BUILD_DIR/bench
RAW=$OUT/peers-raw
mkdir -p "$RAW"
rm -f "$RAW"/*
GO_DIR=$OUT/gobench
GO_VERSION="no Go peer"
if [[ $GO -eq 1 ]]; then
  log "building the Go peer from $GO_SRC (GOPATH with Debian's etcd sources, offline)"
  rm -rf "$GO_DIR" && mkdir -p "$GO_DIR/src/gobench" && cp "$GO_SRC/main.go" "$GO_DIR/src/gobench/"
  (cd "$GO_DIR/src/gobench" && GO111MODULE=off GOPATH="$GO_DIR:/usr/share/gocode" \
    GOCACHE="$GO_DIR/cache" go build -o "$GO_DIR/gobench" .) || die "go build of the peer failed"
  GO_VERSION=$(go version | awk '{print $3}')
fi

setup_run_dir
start_local_etcd 1
URL=${COORD_ENDPOINTS%%,*}
HOSTPORT=${URL#http://}
ETCD_VERSION=$(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p' | head -1)
WRK_LUA=$ROOT/benchmarks/wrk/gateway.lua
VALUE_B64=$(printf '%s' value-0123456789 | base64 -w0)  # gobench's value, 16 bytes
GET_KEY_B64=$(printf '%s' bench/get/0 | base64 -w0)     # the key wrk's get reads


# figures JSON: OPS P50 P99 from coord-bench's or gobench's JSON line (both name them alike).
figures() {
  OPS=$(calc "$(json_num "$1" ops_per_s)") P50=$(calc "$(json_num "$1" p50_us)" 0)
  P99=$(calc "$(json_num "$1" p99_us)" 0)
}

# Each sets OPS P50 P99 (empty OPS: not applicable).
run_wrk() {  # WORKLOAD CLIENTS TAG
  local w=$1 c=$2 out=$RAW/$3 op div=1 line
  case $w in
    put) op=put ;;
    get) op=range ;;
    lock) op=lock div=2 ;;
    *) OPS= P50= P99=; return ;;
  esac
  env BENCH_OP=$op BENCH_KEY_B64="$GET_KEY_B64" BENCH_VALUE_B64="$VALUE_B64" \
    wrk -t "$((c < 2 ? c : 2))" -c "$c" -d "${DURATION}s" -s "$WRK_LUA" "$URL" >"$out" 2>&1 ||
    die "wrk failed ($w, $c): $out"
  line=$(grep '^wrk-result ' "$out" | tail -1) || die "no wrk-result in $out"
  [[ $(json_num "$line" errors) == 0 ]] || die "wrk saw errors ($w, $c): $line"
  OPS=$(calc "$(json_num "$line" requests) / $div / ($(json_num "$line" duration_us) / 1e6)")
  P50=$(json_num "$line" p50_us) P99=$(json_num "$line" p99_us)
  if [[ $div -eq 2 ]]; then P50= P99=; fi  # (per request, not per lock + release)
}
run_coord() {
  local w=$1 c=$2 out=$RAW/$3 line
  "$COORD_BENCH" --endpoints "$URL" --workload "$w" --clients "$c" --connections "$c" \
    --duration "$DURATION" --value-size 16 --json >"$out" 2>&1 || die "coord-bench failed ($w, $c): $out"
  line=$(grep '"workload"' "$out" | tail -1) || die "no JSON line in $out"
  figures "$line"
}
run_go() {
  local w=$1 c=$2 out=$RAW/$3 line
  if [[ $GO -eq 0 ]]; then OPS= P50= P99=; return; fi
  [[ $w == lock-contended ]] && w=lockcontended
  "$GO_DIR/gobench" --endpoints "$HOSTPORT" --workload "$w" --clients "$c" \
    --duration "${DURATION}s" >"$out" 2>&1 || die "gobench failed ($w, $c): $out"
  line=$(grep '"ops_per_s"' "$out" | tail -1) || die "no JSON line in $out"
  figures "$line"
}

"$COORD_BENCH" --endpoints "$URL" --workload put --clients 1 --duration 1 >/dev/null  # warm-up
env BENCH_OP=put BENCH_KEY_B64="$GET_KEY_B64" BENCH_VALUE_B64="$VALUE_B64" \
  wrk -t 1 -c 1 -d 1s -s "$WRK_LUA" "$URL" >/dev/null  # the key the get workloads read

log "etcd $ETCD_VERSION at $URL; $DURATION s per run, $ROUNDS rounds of wrk -> coord-bench -> go ($GO_VERSION)"
CSV=$OUT/peers.csv
echo "workload,clients,wrk_ops_per_s,coord_ops_per_s,go_ops_per_s,coord_per_wrk,coord_per_go,wrk_p99_us,coord_p99_us,go_p99_us,rounds_wrk,rounds_coord,rounds_go" >"$CSV"
printf '%-15s %3s | %10s %10s %10s | %8s %8s | %11s %8s %8s\n' workload c "wrk ops/s" "coord" "go" \
  coord/wrk coord/go "wrk p99 us" coord go
for w in $WORKLOADS; do
  for c in $CLIENTS; do
    wo=() co=() go=() wp=() cp=() gp=()
    for ((r = 1; r <= ROUNDS; r++)); do
      run_wrk "$w" "$c" "$w-c$c-wrk-$r"
      [[ -z $OPS ]] || wo+=("$OPS")
      [[ -z $P99 ]] || wp+=("$P99")
      run_coord "$w" "$c" "$w-c$c-coord-$r"; co+=("$OPS"); cp+=("$P99")
      run_go "$w" "$c" "$w-c$c-go-$r"
      [[ -z $OPS ]] || { go+=("$OPS"); gp+=("$P99"); }
    done
    mw=$(median "${wo[@]:-}") mc=$(median "${co[@]}") mg=$(median "${go[@]:-}")
    pw=$(median "${wp[@]:-}"); pw=${pw:--} pc=$(median "${cp[@]}") pg=$(median "${gp[@]:-}")
    pg=${pg:--}
    rw=-; [[ -n $mw ]] && rw=$(calc "$mc / $mw" 2)
    rg=-; [[ -n $mg ]] && rg=$(calc "$mc / $mg" 2)
    printf '%-15s %3s | %10s %10s %10s | %8s %8s | %11s %8s %8s\n' "$w" "$c" "${mw:--}" "$mc" \
      "${mg:--}" "$rw" "$rg" "$pw" "$pc" "$pg"
    echo "$w,$c,${mw:-},$mc,${mg:-},$rw,$rg,$pw,$pc,$pg,${wo[*]:-},${co[*]},${go[*]:-}" >>"$CSV"
  done
done
echo "csv: $CSV (every round's figures in the last columns); raw outputs: $RAW"
