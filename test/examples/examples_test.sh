#!/usr/bin/env bash
# Runs every example against a throwaway etcd and checks what it prints; the HTTP server one is
# driven with plain bash (/dev/tcp), no curl needed.
# Usage: examples_test.sh BIN_DIR
set -uo pipefail
BIN=${1:?usage: examples_test.sh BIN_DIR}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/coord-examples.XXXXXX")
ETCD_PID=
SERVER_PID=
cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null
  [[ -n $ETCD_PID ]] && kill "$ETCD_PID" 2>/dev/null && wait "$ETCD_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

source "$(dirname "${BASH_SOURCE[0]}")/../support/checks.sh"

"$BIN/coord-local-etcd" --endpoints-file "$WORK/endpoints" >"$WORK/etcd.log" 2>&1 &
ETCD_PID=$!
wait_for_file "$WORK/endpoints" || { echo "etcd did not start"; cat "$WORK/etcd.log"; exit 1; }
export COORD_ENDPOINTS=$(cat "$WORK/endpoints")

for example in quickstart lock_fencing election registry_connect config_watch callers; do
  if timeout 120 "$BIN/$example" >"$WORK/$example.out" 2>&1 && grep -q "^$example: OK$" "$WORK/$example.out"; then
    pass "$example"
  else
    fail "$example"
    sed 's/^/    /' "$WORK/$example.out"
  fi
done
expect "lock_fencing: no increment lost" grep -q "counter = 40" "$WORK/lock_fencing.out"
expect "lock_fencing: stale write refused" grep -q "late write refused: lock lost" "$WORK/lock_fencing.out"
expect "registry_connect: weighted 2/2/4" grep -q "echo-1=2 echo-2=2 echo-3=4" "$WORK/registry_connect.out"
expect "config_watch: invalid value refused" grep -q "refused: invalid argument" "$WORK/config_watch.out"
expect "callers: a callback got the value" grep -q "^callback: max_conns = 64$" "$WORK/callers.out"
expect "callers: a future rethrew not_found" grep -q "^future: a missing key threw not found$" "$WORK/callers.out"
expect "callers: as_result gave locked, then the lock" grep -q "^as_result: the second try_lock found it locked (.*); after the release it got it$" "$WORK/callers.out"

timeout 120 "$BIN/http_server" --port-file "$WORK/port" >"$WORK/http.out" 2>&1 &
SERVER_PID=$!
if wait_for_file "$WORK/port"; then
  port=$(cat "$WORK/port")
  expect "http_server: /healthz" test "$(http_get "$port" /healthz)" = ok
  # 20 requests, 4 at a time, on one counter: the lock serialises them, nothing is lost.
  for round in 1 2 3 4 5; do
    clients=()
    for i in 1 2 3 4; do
      http_get "$port" /counter/visits >"$WORK/c.$round.$i" &
      clients+=($!)
    done
    wait "${clients[@]}"
  done
  expect "http_server: 20 answers, all different" \
    test "$(cat "$WORK"/c.* | sort -un | wc -l)" -eq 20
  last=$(http_get "$port" /counter/visits)
  expect "http_server: 20 locked increments, then 21 (got $last)" test "$last" = 21
  expect "http_server: registered itself" grep -q "^http-[0-9]* 127.0.0.1:$port$" \
    <(http_get "$port" /services)
  http_get "$port" /metrics >"$WORK/metrics"
  expect "http_server: /metrics has lock waits" \
    grep -q '^coordination_lock_wait_seconds_count{recipe="mutex"} 21' "$WORK/metrics"
  expect "http_server: /metrics has etcd calls" \
    grep -q '^coordination_requests_total{call="/v3/kv/txn"}' "$WORK/metrics"
  expect "http_server: unknown path is 404" \
    bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$port; printf 'GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3; timeout 10 cat <&3) | head -1 | grep -q 200"
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID"
  rc=$?
  SERVER_PID=
  expect "http_server: SIGTERM stops it cleanly (rc $rc)" test "$rc" -eq 0
  expect "http_server: deregistered on the way out" \
    test -z "$("$BIN/coordctl" service list examples-http 2>&1 | grep "127.0.0.1:$port")"
else
  fail "http_server: never wrote its port"
  cat "$WORK/http.out"
fi
expect "http_server: bad --port is refused with exit 2" \
  bash -c "\"$BIN/http_server\" --port nope 2>&1; test \$? -eq 2"

echo "$checks checks, $failures failed"
[[ $failures -eq 0 ]]
