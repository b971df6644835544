#!/usr/bin/env bash
# Builds the libFuzzer targets of test/fuzz with clang (ASan + UBSan) and runs each for a bounded
# time, starting from the seed corpus in test/fuzz/corpus (copied: the repository's corpus is not
# changed). Exits non-zero when a target crashes; the crashing input is kept under build-fuzz/.
#   scripts/fuzz.sh [--time SECONDS] [TARGET...]     (default 60 s each, every target)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

seconds=60
targets=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --time) seconds=${2:?--time needs seconds}; shift 2 ;;
    -*) echo "usage: scripts/fuzz.sh [--time SECONDS] [TARGET...]" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=(fuzz_decoders fuzz_stream_reader fuzz_response_parser fuzz_base64)

PACKAGES+=(clang libclang-rt-14-dev)
install_dependencies
FUZZ_DIR=$ROOT/build-fuzz
# ASan finds the stack through /proc; without it (a bare chroot) it reports false errors on
# every throw, so there the targets get UBSan alone (libFuzzer still catches crashes).
sanitizers=address,undefined
if [[ ! -r /proc/self/maps ]]; then
  sanitizers=undefined
  log "no /proc here: AddressSanitizer cannot work, fuzzing with UBSan only"
fi
log "building ${targets[*]} in $FUZZ_DIR (clang, libFuzzer, $sanitizers)"
CXX=clang++ cmake -S "$ROOT" -B "$FUZZ_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCOORD_FUZZ_SANITIZERS="$sanitizers" -DCOORD_FUZZ=ON -DCOORD_BUILD_TESTS=OFF -DCOORD_BUILD_TOOLS=OFF -DCOORD_BUILD_EXAMPLES=OFF \
  -DCOORD_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$FUZZ_DIR" -j "$(nproc)" --target "${targets[@]}"

work=$(mktemp -d "${TMPDIR:-/tmp}/coord-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
# -print_funcs=0: printing newly covered functions symbolizes them, and without llvm-symbolizer
# (a bare Debian has none) libFuzzer 14's DescribePC trips ASan by itself. Leak checks are off
# (also built in, test/fuzz/sanitizer_defaults.cpp): LeakSanitizer fails fatally where it cannot
# read /proc (chroots); the parsers own their memory through RAII types, ASan still checks every
# access.
flags=(-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -print_funcs=0 -detect_leaks=0)
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t" "$FUZZ_DIR/artifacts/$t"
  cp -r "$ROOT/test/fuzz/corpus/$t/." "$work/$t/"
  log "fuzzing $t for $seconds s"
  if "$FUZZ_DIR/bin/$t" -max_total_time="$seconds" "${flags[@]}" \
    -artifact_prefix="$FUZZ_DIR/artifacts/$t/" "$work/$t" >"$work/$t.log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$')
    cov=$(grep -o 'cov: [0-9]*' "$work/$t.log" | tail -1)
    echo "$t: ${runs:-?} executions, $cov, no crash"
  else
    failed=1
    echo "$t: FAILED; the input is in $FUZZ_DIR/artifacts/$t/" >&2
    tail -40 "$work/$t.log" >&2
  fi
done
exit $failed
