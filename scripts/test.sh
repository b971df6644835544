#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite with ctest: unit tests and
# integration tests against real etcd processes that the tests start themselves (free loopback
# ports, temporary data dirs), or against $COORD_ENDPOINTS when that is set. Every process it
# started is stopped at the end, also on failure or Ctrl-C.
#   scripts/test.sh [--etcd 3.4|3.5] [--sanitize | --tsan] [ctest arguments...]
# --etcd: which etcd the tests start (default 3.4, Debian 12's package; 3.5 is fetched from
#         Debian's sid or trixie suite into build/etcd-releases, see scripts/etcd_versions.sh).
# --sanitize: everything built with ASan + UBSan (build-sanitize/), the whole suite.
# --tsan: ThreadSanitizer (build-tsan/), the suite that runs clients on a multi-threaded
#         io_context (integration.threads).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

extra_cmake=()
etcd_version=3.4
ctest_args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --etcd)
      etcd_version=${2:?--etcd needs a version: 3.4 or 3.5}
      shift 2
      ;;
    --sanitize)
      shift
      BUILD_DIR=$ROOT/build-sanitize
      extra_cmake=(-DCOORD_SANITIZE=ON)
      ;;
    --tsan)
      shift
      BUILD_DIR=$ROOT/build-tsan
      extra_cmake=(-DCOORD_TSAN=ON -DCOORD_BUILD_EXAMPLES=OFF -DCOORD_BUILD_BENCHMARKS=OFF)
      BUILD_TARGETS=coord_integration_tests
      ctest_args+=(-R '^integration\.threads$')
      export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1}
      ;;
    *)
      ctest_args+=("$1")
      shift
      ;;
  esac
done
set -- "${ctest_args[@]}"

if [[ ${extra_cmake[0]:-} == -DCOORD_SANITIZE=ON || ${extra_cmake[0]:-} == -DCOORD_TSAN=ON ]] &&
  ! [[ -r /proc/self/maps ]]; then
  # ASan and TSan read the process's memory map at start-up; without /proc (a bare chroot) they
  # report false errors or abort. Say so loudly instead of failing on the tool.
  log "SKIPPED: the sanitizer builds need /proc (not mounted here); nothing was run"
  exit 0
fi

# (Only the tests need Prometheus, which scrapes the http_server example in test/prometheus,
# and wrk, the gateway floor of the bench_peers test.)
PACKAGES+=(prometheus wrk)
install_dependencies
build_project "${extra_cmake[@]}"
select_etcd "$etcd_version"
setup_run_dir
log "running the test suite"
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 900 "$@"
