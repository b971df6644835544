#!/usr/bin/env bash
# coordctl end to end against a real etcd: output for people and for scripts, exit codes, errors.
#   coordctl_test.sh BIN_DIR
set -uo pipefail
BIN=$1
CTL=$BIN/coordctl
WORK=$(mktemp -d "${TMPDIR:-/tmp}/coordctl-test.XXXXXX")
failures=0
passes=0

"$BIN/coord-local-etcd" --endpoints-file "$WORK/endpoints" &
ETCD=$!
cleanup() { kill "$ETCD" 2>/dev/null; wait "$ETCD" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 300); do [[ -s $WORK/endpoints ]] && break; sleep 0.1; done
[[ -s $WORK/endpoints ]] || { echo "etcd did not start"; exit 1; }
export COORD_ENDPOINTS=$(cat "$WORK/endpoints")

# check NAME EXPECTED_EXIT EXPECTED_STDOUT_REGEX -- command...
check() {
  local name=$1 want_rc=$2 want_out=$3
  shift 4
  local out rc
  out=$("$@" 2>"$WORK/stderr"); rc=$?
  if [[ $rc -ne $want_rc ]] || ! [[ $out =~ $want_out ]]; then
    echo "FAIL $name: exit $rc (want $want_rc), stdout: '$out', stderr: '$(cat "$WORK/stderr")'"
    failures=$((failures + 1))
  else
    passes=$((passes + 1))
  fi
}
stderr_has() {
  if grep -q -- "$2" "$WORK/stderr"; then passes=$((passes + 1)); else
    echo "FAIL $1: stderr lacks '$2': $(cat "$WORK/stderr")"; failures=$((failures + 1)); fi
}
stderr_lacks() {
  if grep -q -- "$2" "$WORK/stderr"; then
    echo "FAIL $1: stderr shows '$2'"; failures=$((failures + 1)); else passes=$((passes + 1)); fi
}

check put 0 '^OK$' -- "$CTL" put /ctl/a 1
check put-second 0 '^OK$' -- "$CTL" put /ctl/b "two words"
check get 0 $'^/ctl/a\n1$' -- "$CTL" get /ctl/a
check get-missing 0 '^$' -- "$CTL" get /ctl/none
check get-prefix 0 $'^/ctl/a\n1\n/ctl/b\ntwo words$' -- "$CTL" get /ctl/ --prefix
check get-json 0 '"key":"/ctl/b".*"value":"two words"' -- "$CTL" --json get /ctl/b
check get-json-count 0 '"count":2' -- "$CTL" --json get --prefix /ctl/
rev=$("$CTL" --json get /ctl/a | sed -E 's/.*"mod_revision":([0-9]+).*/\1/')
check put-overwrite 0 '^OK$' -- "$CTL" put /ctl/a 2
check get-at-rev 0 $'^/ctl/a\n1$' -- "$CTL" get /ctl/a --rev "$rev"
check put-ttl-json 0 '"lease":[1-9][0-9]*' -- "$CTL" --json put /ctl/leased x --ttl 30
check del 0 '^1$' -- "$CTL" del /ctl/a
check del-prefix-json 0 '"deleted":2' -- "$CTL" --json del /ctl/ --prefix

# Errors: one line on stderr, a non-zero exit, in time; secrets never echoed.
check empty-key 2 '^$' -- "$CTL" get ""
stderr_has empty-key-says "key: must not be empty"
check bad-url 2 '^$' -- "$CTL" --endpoints "ftp://x" get k
stderr_has bad-url-says "endpoints"
check bad-ttl 2 '^$' -- "$CTL" put k v --ttl 0
stderr_has bad-ttl-says "ttl"
check usage 2 '' -- "$CTL" frobnicate
check no-etcd 1 '^$' -- "$CTL" --endpoints http://127.0.0.1:1 --timeout 1 get k
stderr_has no-etcd-says "unavailable"
check wrong-password 1 '^$' -- "$CTL" --user root --password s3cret-pw get k
stderr_lacks wrong-password-hides "s3cret-pw"
[[ $(wc -l <"$WORK/stderr") -le 1 ]] && passes=$((passes + 1)) || { echo "FAIL error is more than one line"; failures=$((failures + 1)); }
check help 0 'get' -- "$CTL" --help

# watch: one line per event until interrupted, JSON with --json, resumes from a past revision.
start=$("$CTL" --json put /w/a 1 | sed -E 's/.*"revision":([0-9]+).*/\1/')
"$CTL" put /w/b 2 >/dev/null
"$CTL" del /w/a >/dev/null
"$CTL" watch /w/ --prefix --rev "$start" >"$WORK/watch.txt" 2>"$WORK/watch.err" &
wpid=$!
"$CTL" --json watch /w/ --prefix --rev "$start" >"$WORK/watch.json" 2>&1 &
jpid=$!
for _ in $(seq 100); do [[ $(wc -l <"$WORK/watch.txt") -ge 3 && $(wc -l <"$WORK/watch.json") -ge 3 ]] && break; sleep 0.1; done
kill -INT $wpid $jpid
wait $wpid; wrc=$?
wait $jpid
if [[ $wrc -eq 0 && "$(cat "$WORK/watch.txt")" == $'PUT /w/a 1\nPUT /w/b 2\nDELETE /w/a ' ]]; then passes=$((passes + 1)); else
  echo "FAIL watch: exit $wrc, got: $(cat "$WORK/watch.txt") $(cat "$WORK/watch.err")"; failures=$((failures + 1)); fi
if grep -q '"type":"DELETE"' "$WORK/watch.json" && grep -q '"mod_revision":'"$start" "$WORK/watch.json"; then passes=$((passes + 1)); else
  echo "FAIL watch --json: $(cat "$WORK/watch.json")"; failures=$((failures + 1)); fi

echo "$passes passed, $failures failed"
[[ $failures -eq 0 ]]
