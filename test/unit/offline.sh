#!/bin/sh
# Runs the unit tests with no network (a new, empty network namespace: not even loopback is up)
# and no etcd on PATH.  Exit 77 (ctest: skipped) where unshare -n is not permitted.
set -u
bin="$1"
if ! unshare -n true 2>/dev/null; then
  echo "skipped: unshare -n is not permitted here"
  exit 77
fi
exec unshare -n env PATH=/nonexistent "$bin"
