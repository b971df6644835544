#!/usr/bin/env bash
# Benchmarks coord-bench against wrk on the same etcd JSON gateway.
#
# Starts a throwaway local etcd (or uses $BENCH_ENDPOINTS), and for each workload (put, get) and
# each client count c runs, back to back against the same gateway URL:
#   wrk -c c (before)  ->  coord-bench --clients c --connections c  ->  wrk -c c (after)
# wrk sends the same request bodies (benchmarks/wrk/gateway.lua). It is the ceiling of what
# any HTTP/1.1 client gets from this gateway on this machine, so coord-bench / wrk (mean of the
# before and after runs) measures the client's overhead. Client CPU per operation is compared
# too: wrk's is its process CPU time (user + sys) divided by its requests.
#
# Usage: scripts/bench.sh [--plot] [--quick] [--duration S] [--clients "1 16 64"]
#                         [--workloads "put get"] [--value-size B] [--rounds N] [--no-build]
#        scripts/bench.sh --faults [--duration S] [--no-build]
#        scripts/bench.sh --peers [bench_peers.sh options]
#        scripts/bench.sh --recipes [bench_recipes.sh options]
#   --peers       instead: same-run figures against Go's clientv3 (gRPC) and the gateway's floor
#                 (wrk), for put, get, lock and lock-contended: runs scripts/bench_peers.sh
#                 (needs Debian's golang-go and golang-etcd-server-dev, installed when missing)
#   --recipes     instead: the STM and the kv_cache against their baselines (run_stm against the
#                 transfer by hand; the cache's memory and lookups against std::map and etcd
#                 gets): runs scripts/bench_recipes.sh
#   --faults      instead: latency while a member fails. coord-fault-bench starts a 3-member
#                 cluster and runs get, put and lock (+ release) at once through five phases of
#                 S seconds (default 4): healthy, member 0 paused (SIGSTOP), resumed, killed
#                 (SIGKILL), restarted; per workload and phase: ops, p50/p99/max, errors,
#                 failovers, and p99/max as ratios of the healthy phase (the baseline).
#                 Then coord-lost-answer-bench: one member behind the tests' fault proxy, one
#                 client; get, put, lock + release and config set, each with phases (3 rounds
#                 of S/2 s each) losing no answer, 1% and 5% (reset), 1% and 5% (silent):
#                 ops/s as a ratio of the no-loss phase of the same round, p50/p99/max, errors.
#   --plot        also write docs/bench.svg (throughput and p99 against client count)
#   --quick       2 s per run, clients "1 16" (explicit --duration/--clients still win)
#   --rounds N    N coord-bench runs per row, each between two wrk runs (wrk, coord, wrk, coord,
#                 ..., wrk); the row is the round with the median ratio (default 1). On a
#                 shared machine one run's ratio swings by about 0.1; the median of 3-5 less so.
#   --no-build    use the binaries already in $BUILD_DIR instead of building
# Environment: BENCH_ENDPOINTS (use this etcd instead of a throwaway one; its first URL is used;
# `put` writes keys under bench/), COORD_BENCH (the coord-bench binary), WRK_THREADS (wrk -t,
# default min(c, 2)).
# Writes every row to $BUILD_DIR/bench/results.csv, raw outputs to $BUILD_DIR/bench/raw/.
set -euo pipefail
if [[ ${1:-} == --peers ]]; then
  shift
  exec bash "$(dirname "${BASH_SOURCE[0]}")/bench_peers.sh" "$@"
fi
if [[ ${1:-} == --recipes ]]; then
  shift
  exec bash "$(dirname "${BASH_SOURCE[0]}")/bench_recipes.sh" "$@"
fi
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; }
die() { echo "bench.sh: $*" >&2; exit 1; }

DURATION=5
CLIENTS="1 16 64"
WORKLOADS="put get"
VALUE_SIZE=128
PLOT=0
FAULTS=0
BUILD=1
ROUNDS=1
quick=0 duration_set=0 clients_set=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --plot) PLOT=1 ;;
    --faults) FAULTS=1 ;;
    --quick) quick=1 ;;
    --no-build) BUILD=0 ;;
    --duration) [[ $# -ge 2 ]] || die "--duration needs a value"; DURATION=$2; duration_set=1; shift ;;
    --clients) [[ $# -ge 2 ]] || die "--clients needs a value"; CLIENTS=$2; clients_set=1; shift ;;
    --workloads) [[ $# -ge 2 ]] || die "--workloads needs a value"; WORKLOADS=$2; shift ;;
    --value-size) [[ $# -ge 2 ]] || die "--value-size needs a value"; VALUE_SIZE=$2; shift ;;
    --rounds) [[ $# -ge 2 ]] || die "--rounds needs a value"; ROUNDS=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage; die "unknown argument: $1" ;;
  esac
  shift
done
if [[ $quick -eq 1 ]]; then
  [[ $duration_set -eq 1 ]] || DURATION=2
  [[ $clients_set -eq 1 ]] || CLIENTS="1 16"
fi
if [[ $FAULTS -eq 1 ]]; then
  [[ $duration_set -eq 1 ]] || DURATION=4
  [[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "--duration must be a whole number of seconds >= 1: $DURATION"
  install_dependencies
  [[ $BUILD -eq 0 ]] || BUILD_TARGETS="coord-fault-bench coord-lost-answer-bench" build_project
  FAULT_BENCH=$BUILD_DIR/bin/coord-fault-bench
  LOST_BENCH=$BUILD_DIR/bin/coord-lost-answer-bench
  [[ -x $FAULT_BENCH && -x $LOST_BENCH ]] || die "coord-fault-bench or coord-lost-answer-bench not found in $BUILD_DIR/bin (needs the tests and benchmarks built)"
  setup_run_dir
  mkdir -p "$BUILD_DIR/bench"
  log "fault phases of $DURATION s: healthy, paused, resumed, killed, restarted"
  "$FAULT_BENCH" --phase-seconds "$DURATION" | tee "$BUILD_DIR/bench/faults.txt"
  log "lost answers: 3 rounds of phases of $((DURATION / 2)).$((DURATION % 2 * 5)) s"
  "$LOST_BENCH" --rounds 3 --phase-seconds "$((DURATION / 2)).$((DURATION % 2 * 5))" |
    tee "$BUILD_DIR/bench/lost_answers.txt"
  echo "tables: $BUILD_DIR/bench/faults.txt $BUILD_DIR/bench/lost_answers.txt"
  exit 0
fi
CLIENTS=${CLIENTS//,/ }
WORKLOADS=${WORKLOADS//,/ }
# wrk takes whole seconds only
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "--duration must be a whole number of seconds >= 1: $DURATION"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a whole number >= 1: $ROUNDS"
[[ $VALUE_SIZE =~ ^[0-9]+$ ]] || die "--value-size must be a number of bytes: $VALUE_SIZE"
# wrk gets the base64 value in an environment variable, which Linux caps at 128 KiB
[[ $VALUE_SIZE -le 65536 ]] || die "--value-size must be at most 65536: $VALUE_SIZE"
[[ -n ${CLIENTS// /} ]] || die "--clients is empty"
for c in $CLIENTS; do
  [[ $c =~ ^[1-9][0-9]*$ ]] || die "client counts must be whole numbers >= 1: $c"
done
[[ -n ${WORKLOADS// /} ]] || die "--workloads is empty"
for w in $WORKLOADS; do
  [[ $w == put || $w == get ]] || die "workloads are put and get, not: $w"
done
if [[ -n ${WRK_THREADS:-} && ! $WRK_THREADS =~ ^[1-9][0-9]*$ ]]; then
  die "WRK_THREADS must be a whole number >= 1: $WRK_THREADS"
fi

# --------------------------------------------------------------------------- set-up ----
install_dependencies
bench_packages=(wrk)
[[ $PLOT -eq 1 ]] && bench_packages+=(gnuplot-nox)
missing=()
for p in "${bench_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing: ${missing[*]}"
  if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null; then
    die "need root (or sudo) to install: ${missing[*]}"
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
command -v wrk >/dev/null || die "wrk not found after installing it"
[[ $PLOT -eq 0 ]] || command -v gnuplot >/dev/null || die "gnuplot not found after installing it"

if [[ $BUILD -eq 1 ]]; then
  build_project
fi
COORD_BENCH=${COORD_BENCH:-$BUILD_DIR/bin/coord-bench}
[[ -x $COORD_BENCH ]] || die "coord-bench not found at $COORD_BENCH (built with -DCOORD_BUILD_BENCHMARKS=ON; set COORD_BENCH to use another)"
WRK_DIR=$ROOT/benchmarks/wrk
[[ -f $WRK_DIR/gateway.lua ]] || die "missing $WRK_DIR/gateway.lua"

OUT_DIR=$BUILD_DIR/bench
RAW_DIR=$OUT_DIR/raw
CSV=$OUT_DIR/results.csv
mkdir -p "$RAW_DIR"
rm -f "$RAW_DIR"/*

setup_run_dir
if [[ -n ${BENCH_ENDPOINTS:-} ]]; then
  ENDPOINTS=$BENCH_ENDPOINTS
  ETCD_DESC="etcd at $ENDPOINTS"
else
  start_local_etcd 1
  ENDPOINTS=$COORD_ENDPOINTS
  ETCD_DESC="local etcd $(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p' | head -1)"
fi
# One gateway for both clients: the first URL, without a trailing slash.
URL=${ENDPOINTS%%,*}
URL=${URL%/}
[[ $URL =~ ^https?://[^/]+$ ]] || die "endpoint must look like http://host:port, not: $URL"
log "benchmarking against $URL: workloads '$WORKLOADS', clients '$CLIENTS', $DURATION s per run, values of $VALUE_SIZE B"

VALUE=$(head -c "$VALUE_SIZE" /dev/zero | tr '\0' x)
VALUE_B64=$(printf '%s' "$VALUE" | base64 -w0)
PUT_KEY_B64=$(printf '%s' bench/put/wrk | base64 -w0)
GET_KEY_B64=$(printf '%s' bench/get/0 | base64 -w0)

# ------------------------------------------------------------------------- helpers ----

# run_wrk WORKLOAD CLIENTS SECONDS TAG [check|seed]: runs wrk; sets W_OPS W_P50 W_P99 W_CPU W_ERR
# W_REQ. A check run (BENCH_CHECK=1) inspects every response and fails on any unexpected one; a
# seed run is a checked put run writing the key the get workload reads.
run_wrk() {
  local w=$1 c=$2 secs=$3 tag=$4 mode=${5:-} check=
  local op key threads out=$RAW_DIR/$tag
  if [[ $w == put ]]; then op=put key=$PUT_KEY_B64; else op=range key=$GET_KEY_B64; fi
  [[ -n $mode ]] && check=1
  [[ $mode == seed ]] && op=put key=$GET_KEY_B64
  threads=${WRK_THREADS:-2}
  [[ $c -lt $threads ]] && threads=$c
  local TIMEFORMAT='%3U %3S' rc=0
  { time env BENCH_OP="$op" BENCH_KEY_B64="$key" BENCH_VALUE_B64="$VALUE_B64" BENCH_CHECK="${check:+1}" \
      wrk -t "$threads" -c "$c" -d "${secs}s" -s "$WRK_DIR/gateway.lua" "$URL" >"$out.out" 2>"$out.err"
  } 2>"$out.cpu" || rc=$?
  local line
  line=$(grep '^wrk-result ' "$out.out" | tail -1 || true)
  if [[ $rc -ne 0 || -z $line ]]; then
    cat "$out.out" "$out.err" >&2
    die "wrk failed ($w, $c connections, exit $rc); output in $out.out"
  fi
  line=${line#wrk-result }
  W_REQ=$(json_num "$line" requests)
  local dur_us; dur_us=$(json_num "$line" duration_us)
  W_ERR=$(json_num "$line" errors)
  W_P50=$(json_num "$line" p50_us)
  W_P99=$(json_num "$line" p99_us)
  [[ $W_REQ -gt 0 ]] || die "wrk completed no request ($w, $c connections); output in $out.out"
  local u s
  read -r u s <"$out.cpu" || die "no CPU time for wrk in $out.cpu"
  W_OPS=$(calc "$W_REQ / ($dur_us / 1e6)")
  W_CPU=$(calc "($u + $s) * 1e6 / $W_REQ" 2)
  if [[ -n $check ]]; then
    local bad; bad=$(json_num "$line" bad)
    if [[ -z $bad || $bad -ne 0 || $W_ERR -ne 0 ]]; then
      cat "$out.err" >&2
      die "check of $script against $URL failed: $bad unexpected responses, $W_ERR errors in $W_REQ requests"
    fi
  fi
}

# run_coord WORKLOAD CLIENTS TAG: runs coord-bench; sets C_OPS C_P50 C_P99 C_CPU C_PCPU C_ERR.
run_coord() {
  local w=$1 c=$2 tag=$3 out=$RAW_DIR/$3
  local TIMEFORMAT='%3U %3S' rc=0
  { time "$COORD_BENCH" --endpoints "$URL" --workload "$w" --clients "$c" --connections "$c" \
      --duration "$DURATION" --value-size "$VALUE_SIZE" --json >"$out.out" 2>"$out.err"
  } 2>"$out.cpu" || rc=$?
  local line
  line=$(grep '^ *{' "$out.out" | grep '"workload"' | tail -1 || true)
  if [[ $rc -ne 0 || -z $line ]]; then
    tail -n 20 "$out.out" "$out.err" >&2
    [[ $rc -ne 0 ]] || rc="0 but no JSON line with \"workload\""
    die "coord-bench failed ($w, $c clients, exit $rc); output in $out.out, $out.err"
  fi
  local ops; ops=$(json_num "$line" ops)
  C_OPS=$(json_num "$line" ops_per_s)
  C_P50=$(json_num "$line" p50_us)
  C_P99=$(json_num "$line" p99_us)
  C_ERR=$(json_num "$line" errors)
  C_CPU=$(json_num "$line" client_cpu_us_per_op)
  [[ -n $C_OPS && -n $C_P99 ]] || die "coord-bench's JSON lacks ops_per_s or p99_us: $line"
  [[ -n $ops ]] || ops=$(calc "$C_OPS * $DURATION" 0)
  [[ -n $C_P50 ]] || C_P50=nan
  [[ -n $C_ERR ]] || C_ERR=0
  local u s
  read -r u s <"$out.cpu" || die "no CPU time for coord-bench in $out.cpu"
  # Whole-process CPU, measured as wrk's is (includes start-up and connecting).
  if [[ $(calc "$ops > 0" 0) -eq 1 ]]; then C_PCPU=$(calc "($u + $s) * 1e6 / $ops" 2); else C_PCPU=nan; fi
  [[ -n $C_CPU ]] || C_CPU=$C_PCPU
  C_OPS=$(calc "$C_OPS" 1)
  C_P99=$(calc "$C_P99" 0)
  [[ $C_P50 == nan ]] || C_P50=$(calc "$C_P50" 0)
  [[ $C_CPU == nan ]] || C_CPU=$(calc "$C_CPU" 2)
}

CSV_HEADER="workload,clients,connections,duration_s,value_size,wrk_ops_per_s,coord_ops_per_s,ratio"
CSV_HEADER+=",wrk_p99_us,coord_p99_us,wrk_p50_us,coord_p50_us,wrk_cpu_us_per_op,coord_cpu_us_per_op"
CSV_HEADER+=",cpu_ratio,coord_process_cpu_us_per_op,wrk_before_ops_per_s,wrk_after_ops_per_s"
CSV_HEADER+=",wrk_errors,coord_errors"
echo "$CSV_HEADER" >"$CSV"

# -------------------------------------------------------------------------- runs ----
for w in $WORKLOADS; do
  if [[ $w == get ]]; then
    # The key every get reads: written with the same value bytes, by wrk itself.
    run_wrk put 1 1 seed-get seed
  fi
  log "$w: checking the wrk script's responses (1 s, also a warm-up)"
  run_wrk "$w" 2 1 "check-$w" check
  for c in $CLIENTS; do
    run_wrk "$w" "$c" "$DURATION" "$w-c$c-wrk-0"
    b_ops=$W_OPS b_p50=$W_P50 b_p99=$W_P99 b_cpu=$W_CPU b_err=$W_ERR
    rows=()
    for ((r = 1; r <= ROUNDS; r++)); do
      suffix=$([[ $ROUNDS -gt 1 ]] && echo "-r$r" || true)
      run_coord "$w" "$c" "$w-c$c-coord$suffix"
      run_wrk "$w" "$c" "$DURATION" "$w-c$c-wrk-$r"
      a_ops=$W_OPS a_p50=$W_P50 a_p99=$W_P99 a_cpu=$W_CPU a_err=$W_ERR
      wrk_ops=$(calc "($b_ops + $a_ops) / 2")
      wrk_p50=$(calc "($b_p50 + $a_p50) / 2" 0)
      wrk_p99=$(calc "($b_p99 + $a_p99) / 2" 0)
      wrk_cpu=$(calc "($b_cpu + $a_cpu) / 2" 2)
      ratio=$(calc "$C_OPS / $wrk_ops" 3)
      if [[ $C_CPU == nan ]]; then cpu_ratio=nan; else cpu_ratio=$(calc "$C_CPU / $wrk_cpu" 2); fi
      rows+=("$ratio $w,$c,$c,$DURATION,$VALUE_SIZE,$wrk_ops,$C_OPS,$ratio,$wrk_p99,$C_P99,$wrk_p50,$C_P50,$wrk_cpu,$C_CPU,$cpu_ratio,$C_PCPU,$b_ops,$a_ops,$((b_err + a_err)),$C_ERR")
      log "$w c=$c${suffix:+ round $r}: wrk $b_ops / $a_ops ops/s (before/after), coord-bench $C_OPS ops/s: ratio $ratio, CPU ratio $cpu_ratio"
      b_ops=$a_ops b_p50=$a_p50 b_p99=$a_p99 b_cpu=$a_cpu b_err=$a_err
    done
    # The round with the median ratio (the lower middle one for an even count).
    printf '%s\n' "${rows[@]}" | sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p" | cut -d' ' -f2- >>"$CSV"
  done
done
stop_local_etcd

# ------------------------------------------------------------------------ report ----
echo
echo "coord-bench vs wrk: $ETCD_DESC, $(nproc) cores, $DURATION s per run, values of $VALUE_SIZE B"
echo "wrk = mean of its runs right before and after coord-bench; ratio = coord-bench / wrk"
[[ $ROUNDS -eq 1 ]] || echo "each row: the round with the median ratio of $ROUNDS rounds"
echo "CPU = client process CPU (user + sys) per operation"
for w in $WORKLOADS; do
  echo
  echo "== $w"
  awk -F, -v w="$w" '
    BEGIN {
      printf "%7s  %10s  %12s  %6s  %8s  %9s  %10s  %12s  %9s  %s\n", "clients", "wrk ops/s",
             "coord ops/s", "ratio", "wrk p99", "coord p99", "wrk CPU", "coord CPU", "CPU ratio", "errors"
      printf "%7s  %10s  %12s  %6s  %8s  %9s  %10s  %12s  %9s  %s\n", "", "", "", "", "ms", "ms",
             "us/op", "us/op", "", "wrk/coord"
    }
    NR > 1 && $1 == w {
      flag = ($15 != "nan" && ($15 + 0) > 1.5) ? " !" : "  "
      printf "%7d  %10.0f  %12.0f  %6.3f  %8.2f  %9.2f  %10.2f  %12.2f  %7s%s  %d/%d\n", $2, $6, $7,
             $8, $9 / 1000, $10 / 1000, $13, $14, $15, flag, $19, $20
    }' "$CSV"
done
echo
awk -F, 'NR > 1 && $15 != "nan" && $15 + 0 > 1.5 { n++ } END {
  if (n) print "! CPU per operation above 1.5 x wrk'"'"'s in " n " row(s)" }' "$CSV"
echo "rows: $CSV"

if [[ $PLOT -eq 1 ]]; then
  mkdir -p "$ROOT/docs"
  subtitle="$ETCD_DESC, $(nproc) cores, $DURATION s per run, $VALUE_SIZE-byte values"
  gnuplot -e "datafile='$CSV'; outfile='$ROOT/docs/bench.svg'; workloads='$WORKLOADS'; subtitle='$subtitle'" \
    "$ROOT/benchmarks/plot.gp"
  echo "chart: $ROOT/docs/bench.svg"
fi
