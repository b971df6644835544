#!/bin/sh
# Runs the unit tests with no etcd on PATH and, where the system lets us make one, in a new,
# empty network namespace (not even loopback is up): `unshare -n` (root), else `unshare -rn`
# (an unprivileged user namespace). Where neither is allowed (a container without the
# capability, or already inside such a namespace) the tests still run, without etcd on PATH, and
# the script says the network was not isolated: they never open a socket either way.
set -u
bin="$1"
# The script's own tools (unshare, env) from the system's directories, whatever PATH the caller
# has (also none, or one without them): only the tests run with PATH=/nonexistent.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
if unshare -n true 2>/dev/null; then
  exec unshare -n env PATH=/nonexistent "$bin"
elif unshare -rn true 2>/dev/null; then
  exec unshare -rn env PATH=/nonexistent "$bin"
fi
echo "note: unshare -n / -rn not permitted here; running without etcd on PATH, network not isolated"
exec env PATH=/nonexistent "$bin"
