#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite with ctest: unit tests and
# integration tests against real etcd processes that the tests start themselves (free loopback
# ports, temporary data dirs), or against $COORD_ENDPOINTS when that is set. Every process it
# started is stopped at the end, also on failure or Ctrl-C.
#   scripts/test.sh [--sanitize] [ctest arguments...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

extra_cmake=()
if [[ ${1:-} == --sanitize ]]; then
  shift
  BUILD_DIR=$ROOT/build-sanitize
  extra_cmake=(-DCOORD_SANITIZE=ON)
fi

install_dependencies
build_project "${extra_cmake[@]}"
setup_run_dir
log "running the test suite"
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 900 "$@"
