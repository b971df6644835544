#!/usr/bin/env bash
# Installs what is missing, builds, starts a throwaway local etcd and runs the quickstart example
# against it (or against $COORD_ENDPOINTS when that is set), then stops etcd.
#   scripts/demo.sh [--etcd 3.4|3.5]   (default 3.4, Debian 12's; see scripts/etcd_versions.sh)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

etcd_version=3.4
case ${1:-} in
  --etcd) etcd_version=${2:?--etcd needs a version: 3.4 or 3.5} ;;
  "") ;;
  *) echo "usage: scripts/demo.sh [--etcd 3.4|3.5]" >&2; exit 2 ;;
esac

install_dependencies
# Only what the demo runs: the library, the quickstart and the local etcd launcher
# (scripts/test.sh builds everything else in the same build directory).
BUILD_TARGETS="quickstart coord-local-etcd" build_project
setup_run_dir
if [[ -z ${COORD_ENDPOINTS:-} ]]; then
  select_etcd "$etcd_version"
  start_local_etcd 1
fi
log "running examples/quickstart"
"$BUILD_DIR/bin/quickstart"
stop_local_etcd
log "demo done"
