#!/usr/bin/env bash
# Installs what is missing, builds, starts a throwaway local etcd and runs the quickstart example
# against it (or against $COORD_ENDPOINTS when that is set), then stops etcd.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

install_dependencies
build_project
setup_run_dir
if [[ -z ${COORD_ENDPOINTS:-} ]]; then
  start_local_etcd 1
fi
log "running examples/quickstart"
"$BUILD_DIR/bin/quickstart"
stop_local_etcd
log "demo done"
