# Shared by scripts/demo.sh, scripts/test.sh and scripts/bench.sh: install what is missing, build.
# Sourced, not run.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}

# Debian packages the build, the tests and the demo need.
PACKAGES=(g++ cmake ninja-build pkgconf libboost1.81-dev libboost-test1.81-dev nlohmann-json3-dev
          libspdlog-dev libssl-dev openssl libcli11-dev prometheus-cpp-dev libsimdjson-dev etcd-server etcd-client
          ca-certificates)

# The bench scripts' JSON and arithmetic helpers. json_num JSON NAME: the number of a top-level
# field (also when quoted); empty when absent. calc EXPR [DECIMALS].
json_num() {
  sed -n "s/.*\"$2\": *\"\{0,1\}\(-\{0,1\}[0-9][0-9.eE+-]*\).*/\1/p" <<<"$1" | head -1
}
calc() { awk "BEGIN { printf \"%.${2:-1}f\", ($1) }"; }
# median NUMBERS...: the median (the lower middle one of an even count); empty for none.
median() { tr ' ' '\n' <<<"$*" | { grep . || true; } | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# select_etcd VERSION: which etcd the tests and the demo start.
source "$ROOT/scripts/etcd_versions.sh"

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

install_dependencies() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing: ${missing[*]}"
    if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null; then
      echo "need root (or sudo) to install: ${missing[*]}" >&2
      exit 1
    fi
    # apt's output (debconf's notes on stderr among it) is shown only when it fails.
    local out
    out=$(mktemp)
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$out" 2>&1; then
      cat "$out" >&2
      rm -f "$out"
      exit 1
    fi
    # etcd-server's package would start a system etcd on 2379 where an init system runs; the
    # project never uses it (it starts its own on free ports), so keep it from starting.
    if ! as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -q \
      --no-install-recommends "${missing[@]}" >"$out" 2>&1; then
      cat "$out" >&2
      rm -f "$out"
      exit 1
    fi
    rm -f "$out"
  fi
}

# RelWithDebInfo with line tables only (-g1): file:line in backtraces and sanitizer reports,
# without the full debug info that made a quarter of the compile time (and a 270 MB library).
build_project() {
  log "building in $BUILD_DIR ($BUILD_TYPE)"
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="${COORD_RELWITHDEBINFO_FLAGS:--O2 -g1 -DNDEBUG}" "$@" >/dev/null
  # shellcheck disable=SC2086
  cmake --build "$BUILD_DIR" -j "$(nproc)" ${BUILD_TARGETS:+--target $BUILD_TARGETS}
}

# Every etcd the scripts and tests start keeps its data under $COORD_RUN_DIR: at exit, whatever
# still runs from there is killed and the directory removed, also after a failure or Ctrl-C.
setup_run_dir() {
  COORD_RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/coord-run.XXXXXX")
  export TMPDIR=$COORD_RUN_DIR
  trap cleanup_run_dir EXIT
  trap 'exit 130' INT TERM
}

cleanup_run_dir() {
  local rc=$?
  [[ -n ${LOCAL_ETCD_PID:-} ]] && kill "$LOCAL_ETCD_PID" 2>/dev/null && wait "$LOCAL_ETCD_PID" 2>/dev/null
  if [[ -n ${COORD_RUN_DIR:-} && -d $COORD_RUN_DIR ]]; then
    local pid cmd
    for pid in /proc/[0-9]*; do
      # (the process may be gone by now: the braces also silence the failed redirection)
      cmd=$( { tr '\0' ' ' <"$pid/cmdline"; } 2>/dev/null) || continue
      [[ $cmd == *"$COORD_RUN_DIR"* ]] && kill -9 "${pid#/proc/}" 2>/dev/null
    done
    rm -rf "$COORD_RUN_DIR"
  fi
  return $rc
}

# Starts a throwaway etcd (N members) on free loopback ports; sets COORD_ENDPOINTS.
start_local_etcd() {
  local members=${1:-1}
  local file=$COORD_RUN_DIR/endpoints
  "$BUILD_DIR/bin/coord-local-etcd" --members "$members" --endpoints-file "$file" &
  LOCAL_ETCD_PID=$!
  local waited=0
  while [[ ! -s $file ]]; do
    if ! kill -0 "$LOCAL_ETCD_PID" 2>/dev/null; then
      echo "local etcd failed to start" >&2
      exit 1
    fi
    sleep 0.1
    waited=$((waited + 1))
    [[ $waited -lt 600 ]] || { echo "local etcd not ready after 60 s" >&2; exit 1; }
  done
  COORD_ENDPOINTS=$(cat "$file")
  export COORD_ENDPOINTS
  log "etcd at $COORD_ENDPOINTS"
}

stop_local_etcd() {
  if [[ -n ${LOCAL_ETCD_PID:-} ]]; then
    kill "$LOCAL_ETCD_PID" 2>/dev/null
    wait "$LOCAL_ETCD_PID" 2>/dev/null || true
    LOCAL_ETCD_PID=
  fi
}
