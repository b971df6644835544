#!/usr/bin/env bash
# Builds the API reference (HTML) from the public headers with Debian's Doxygen into
# build/docs/html (open build/docs/html/index.html); fails, listing them, on any warning: an
# undocumented public type or function, or a doc comment Doxygen cannot read.
#   scripts/docs.sh [OUTPUT_DIR]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PACKAGES=(doxygen)
install_dependencies
out=${1:-$BUILD_DIR/docs}
rm -rf "$out" && mkdir -p "$out"
version=$(sed -n 's/^project(coordination VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")
log "building the API reference into $out/html"
cd "$ROOT"
if ! COORD_DOCS_DIR=$out COORD_VERSION=$version doxygen docs/Doxyfile || [[ -s $out/warnings.log ]]; then
  echo "docs: Doxygen warnings (every public type and function needs a doc comment):" >&2
  cat "$out/warnings.log" >&2
  exit 1
fi
log "API reference: $out/html/index.html"
