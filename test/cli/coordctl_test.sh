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
# Invalid input through every kind of flag: exit 2, the field named, nothing written.
check bad-ttl-negative 2 '^$' -- "$CTL" put /ctl/never v --ttl -5
stderr_has bad-ttl-negative-says "ttl"
check bad-rev 2 '^$' -- "$CTL" get /ctl/x --rev -1
stderr_has bad-rev-says "rev"
check bad-timeout 2 '^$' -- "$CTL" --timeout 0 get k
stderr_has bad-timeout-says "timeout"
check bad-timeout-text 2 '^$' -- "$CTL" --timeout soon get k
check bad-url-port 2 '^$' -- "$CTL" --endpoints http://127.0.0.1:99999 get k
stderr_has bad-url-port-says "endpoints"
check bad-url-path 2 '^$' -- "$CTL" --endpoints http://127.0.0.1:2379/v3 get k
stderr_has bad-url-path-says "endpoints"
check bad-cacert 2 '^$' -- "$CTL" --endpoints https://127.0.0.1:2379 --cacert "$WORK/none.pem" get k
stderr_has bad-cacert-says "tls.ca_file"
echo "not a certificate" >"$WORK/garbage.pem"
check bad-cert 2 '^$' -- "$CTL" --endpoints https://127.0.0.1:2379 --cert "$WORK/garbage.pem" --key "$WORK/garbage.pem" get k
stderr_has bad-cert-says "tls.cert_file"
check cert-without-key 2 '^$' -- "$CTL" --endpoints https://127.0.0.1:2379 --cert "$WORK/garbage.pem" get k
stderr_has cert-without-key-says "tls.cert_file/tls.key_file"
check lock-bad-ttl 2 '^$' -- "$CTL" lock /ctl/badlock --ttl 0
stderr_has lock-bad-ttl-says "ttl"
check lock-empty-name 2 '^$' -- "$CTL" lock ""
stderr_has lock-empty-name-says "name"
check elect-empty-name 2 '^$' -- "$CTL" elect "" me
stderr_has elect-empty-name-says "election name"
check service-bad-weight 2 '^$' -- "$CTL" service register api i1 127.0.0.1:1 --weight 2000000
stderr_has service-bad-weight-says "weight"
check service-bad-ttl 2 '^$' -- "$CTL" service register api i1 127.0.0.1:1 --ttl 0
stderr_has service-bad-ttl-says "ttl"
check config-bad-version 2 '^$' -- "$CTL" config set k v --expect-version -1
stderr_has config-bad-version-says "expected_version"
check nothing-written 0 '^$' -- "$CTL" get /ctl/never
check no-etcd 1 '^$' -- "$CTL" --endpoints http://127.0.0.1:1 --timeout 1 get k
stderr_has no-etcd-says "unavailable"
check wrong-password 1 '^$' -- "$CTL" --user root --password s3cret-pw get k
stderr_lacks wrong-password-hides "s3cret-pw"
[[ $(wc -l <"$WORK/stderr") -le 1 ]] && passes=$((passes + 1)) || { echo "FAIL error is more than one line"; failures=$((failures + 1)); }
check help 0 'get' -- "$CTL" --help
# --help on every subcommand: usage on stdout, exit 0.
for sub in get put del watch lock config "config get" "config set" "config rm" "config history" \
  "config list" "config watch" service "service register" "service list" "service watch" \
  "service pick" elect completion queue "queue push" "queue pop" counter "counter get" \
  "counter add" barrier "barrier hold" "barrier enter"; do
  # shellcheck disable=SC2086
  check "help-$sub" 0 'Usage' -- "$CTL" $sub --help
done
# Bash completion generated from the command tree.
check completion 0 'complete -o default -F _coordctl coordctl' -- "$CTL" completion
words=$(bash -c 'source <("$1" completion); COMP_WORDS=(coordctl config s); COMP_CWORD=2; _coordctl
  echo "${COMPREPLY[*]}"; COMP_WORDS=(coordctl service register --w); COMP_CWORD=3; _coordctl
  echo "${COMPREPLY[*]}"' _ "$CTL")
if [[ $words == $'set\n--weight' ]]; then passes=$((passes + 1)); else
  echo "FAIL completion-words: '$words'"; failures=$((failures + 1)); fi

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

# lock: runs CMD holding the lock with its key and token; exits with CMD's status.
check lock-cmd 3 '^L1/[0-9a-f]+ [0-9]+$' -- "$CTL" lock L1 -- sh -c 'echo "$COORD_LOCK_KEY $COORD_FENCING_TOKEN"; exit 3'
# Held by coordctl: etcdctl lock on the same name waits; after coordctl lets go it gets it.
"$CTL" lock L2 >"$WORK/lock.out" 2>&1 &
lpid=$!
for _ in $(seq 100); do [[ -s $WORK/lock.out ]] && break; sleep 0.1; done
if grep -q '^L2/' "$WORK/lock.out"; then passes=$((passes + 1)); else echo "FAIL lock-hold: $(cat "$WORK/lock.out")"; failures=$((failures + 1)); fi
timeout 2 etcdctl --endpoints="$COORD_ENDPOINTS" lock L2 echo etcdctl-got-it >"$WORK/etcdctl.out" 2>&1
if [[ $? -eq 124 ]]; then passes=$((passes + 1)); else echo "FAIL etcdctl got a lock coordctl held: $(cat "$WORK/etcdctl.out")"; failures=$((failures + 1)); fi
kill -INT $lpid; wait $lpid; lrc=$?
[[ $lrc -eq 0 ]] && passes=$((passes + 1)) || { echo "FAIL lock release exit $lrc"; failures=$((failures + 1)); }
check etcdctl-after 0 'etcdctl-got-it' -- timeout 10 etcdctl --endpoints="$COORD_ENDPOINTS" lock L2 echo etcdctl-got-it
# Lost while CMD runs (its key deleted from outside): CMD gets SIGTERM, exit non-zero.
"$CTL" lock L3 -- sleep 30 2>"$WORK/lost.err" &
lpid=$!
for _ in $(seq 100); do [[ -n $("$CTL" get L3/ --prefix) ]] && break; sleep 0.1; done
"$CTL" del L3/ --prefix >/dev/null
start=$SECONDS
wait $lpid; lrc=$?
if [[ $lrc -ne 0 && $((SECONDS - start)) -lt 10 ]] && grep -q "was lost" "$WORK/lost.err"; then passes=$((passes + 1)); else
  echo "FAIL lock-lost: exit $lrc after $((SECONDS - start)) s: $(cat "$WORK/lost.err")"; failures=$((failures + 1)); fi

# config: versioned values, compare-and-set, history, list, watch; KEY relative to the prefix.
check config-set 0 '^OK version 1$' -- "$CTL" config set app/x hello --meta owner=ops
check config-get 0 '^hello$' -- "$CTL" config get app/x
check config-plain 0 $'^/coordination/config/app/x\nhello$' -- "$CTL" get /coordination/config/app/x
check config-cas 0 '^OK version 2$' -- "$CTL" config set app/x world --expect-version 1
check config-conflict 1 '^$' -- "$CTL" config set app/x again --expect-version 1
stderr_has config-conflict-says "conflict"
check config-create-only 1 '^$' -- "$CTL" config set app/x again --expect-version 0
check config-get-json 0 '"metadata":\{"owner":"ops"\}.*"version":2' -- "$CTL" config get app/x --json
check config-history 0 $'^2 [0-9T:Z-]+ world\n1 [0-9T:Z-]+ hello$' -- "$CTL" config history app/x
check config-history-limit 0 $'^2 [0-9T:Z-]+ world$' -- "$CTL" config history app/x --limit 1
check config-set-y 0 '^OK version 1$' -- "$CTL" config set app/y 5
check config-list 0 $'^app/x = world\napp/y = 5$' -- "$CTL" config list app/
check config-bad-meta 2 '^$' -- "$CTL" config set app/z v --meta novalue
"$CTL" config watch app/ --prefix >"$WORK/cwatch.txt" 2>&1 &
cwpid=$!
for _ in $(seq 50); do "$CTL" config set app/probe p >/dev/null; grep -q probe "$WORK/cwatch.txt" && break; sleep 0.1; done
"$CTL" config set app/y 6 >/dev/null
"$CTL" config rm app/y >/dev/null
for _ in $(seq 100); do grep -q '^DELETE app/y' "$WORK/cwatch.txt" && break; sleep 0.1; done
kill -INT $cwpid; wait $cwpid; cwrc=$?
if [[ $cwrc -eq 0 ]] && grep -q '^UPDATE app/y 5 -> 6$' "$WORK/cwatch.txt" && grep -q '^DELETE app/y$' "$WORK/cwatch.txt"; then passes=$((passes + 1)); else
  echo "FAIL config watch: exit $cwrc: $(cat "$WORK/cwatch.txt")"; failures=$((failures + 1)); fi
check config-rm-conflict 1 '^$' -- "$CTL" config rm app/x --expect-version 9
check config-rm 0 '^OK$' -- "$CTL" config rm app/x --expect-version 2
check config-get-missing 1 '^$' -- "$CTL" config get app/x
stderr_has config-missing-says "not found"
check config-history-after-rm 0 $'^- [0-9T:Z-]+ \\(removed\\)\n2 ' -- "$CTL" config history app/x

# service: register holds the registration until interrupted; list, pick, watch; conflicts.
"$CTL" service register api a1 127.0.0.1:8001 --meta zone=eu >"$WORK/reg1.out" 2>&1 &
r1=$!
"$CTL" service register api a2 127.0.0.1:8002 --weight 3 >"$WORK/reg2.out" 2>&1 &
r2=$!
for _ in $(seq 100); do grep -q registered "$WORK/reg1.out" && grep -q registered "$WORK/reg2.out" && break; sleep 0.1; done
check service-list 0 $'^a1 127.0.0.1:8001 healthy\na2 127.0.0.1:8002 healthy$' -- "$CTL" service list api
check service-list-json 0 '"metadata":\{"zone":"eu"\}' -- "$CTL" service list api --json
check service-pick 0 '^a[12] 127.0.0.1:800[12]$' -- "$CTL" service pick api --strategy weighted
check service-bad-strategy 2 '^$' -- "$CTL" service pick api --strategy bogus
check service-conflict 1 '^$' -- "$CTL" service register api a1 127.0.0.1:9
stderr_has service-conflict-says "conflict"
check service-bad-addr 2 '^$' -- "$CTL" service register api a3 nohostport
stderr_has service-bad-addr-says "address"
check service-etcd-layout 0 '/coordination/services/api/a1' -- "$CTL" get /coordination/services/api/ --prefix
"$CTL" service watch api >"$WORK/swatch.txt" 2>&1 &
swpid=$!
for _ in $(seq 100); do grep -q 'a2 ' "$WORK/swatch.txt" && break; sleep 0.1; done
kill -INT $r2; wait $r2; r2rc=$?
for _ in $(seq 100); do grep -q '1 instance(s)' "$WORK/swatch.txt" && break; sleep 0.1; done
kill -INT $swpid; wait $swpid; swrc=$?
if [[ $r2rc -eq 0 && $swrc -eq 0 ]] && grep -q '^-- api: 2 instance(s)$' "$WORK/swatch.txt" && grep -q '^-- api: 1 instance(s)$' "$WORK/swatch.txt"; then passes=$((passes + 1)); else
  echo "FAIL service watch/deregister: exits $r2rc $swrc: $(cat "$WORK/swatch.txt")"; failures=$((failures + 1)); fi
kill -TERM $r1; wait $r1
check service-empty 0 '^$' -- "$CTL" service list api

# elect: coordctl and etcdctl elect see and respect each other's leaders.
"$CTL" elect E1 --listen >"$WORK/listen.txt" 2>&1 &
lipid=$!
"$CTL" elect E1 first >"$WORK/e1.out" 2>&1 &
e1=$!
for _ in $(seq 100); do grep -q '^first$' "$WORK/e1.out" && break; sleep 0.1; done
if grep -q '^first$' "$WORK/e1.out"; then passes=$((passes + 1)); else echo "FAIL elect: $(cat "$WORK/e1.out")"; failures=$((failures + 1)); fi
timeout 2 etcdctl --endpoints="$COORD_ENDPOINTS" elect E1 from-etcdctl >"$WORK/ectl.out" 2>&1
if [[ $? -eq 124 ]] && ! grep -q from-etcdctl "$WORK/ectl.out"; then passes=$((passes + 1)); else echo "FAIL etcdctl elect led while coordctl led: $(cat "$WORK/ectl.out")"; failures=$((failures + 1)); fi
check elect-listen-etcdctl 124 'first' -- timeout 2 etcdctl --endpoints="$COORD_ENDPOINTS" elect -l E1
"$CTL" elect E1 second >"$WORK/e2.out" 2>&1 &
e2=$!
sleep 0.5
kill -INT $e1; wait $e1; e1rc=$?
for _ in $(seq 100); do grep -q '^second$' "$WORK/e2.out" && break; sleep 0.1; done
for _ in $(seq 100); do grep -q '^second$' "$WORK/listen.txt" && break; sleep 0.1; done
kill -INT $e2 $lipid; wait $e2; e2rc=$?; wait $lipid; lirc=$?
if [[ $e1rc -eq 0 && $e2rc -eq 0 && $lirc -eq 0 && "$(cat "$WORK/listen.txt")" == $'first\nsecond' ]]; then passes=$((passes + 1)); else
  echo "FAIL elect hand-over: exits $e1rc $e2rc $lirc, listen: $(cat "$WORK/listen.txt"), e2: $(cat "$WORK/e2.out")"; failures=$((failures + 1)); fi
check elect-no-proposal 2 '^$' -- "$CTL" elect E1
check elect-help 0 'listen' -- "$CTL" elect --help

# Operators' commands: endpoint status / health, member list (etcdctl's first three).
check endpoint-status 0 '^http://127\.0\.0\.1:[0-9]+, [0-9a-f]+, 3\.[0-9]+\.[0-9]+, [0-9]+ B, true, [0-9]+, [0-9]+$' -- "$CTL" endpoint status
check endpoint-status-json 0 '"is_leader":true.*"raft_index":[1-9]' -- "$CTL" --json endpoint status
dead=http://127.0.0.1:9
check endpoint-status-dead 1 '^http://127' -- "$CTL" --timeout 2 --endpoints "$COORD_ENDPOINTS,$dead" endpoint status
stderr_has endpoint-status-dead-says "$dead"
check endpoint-health 0 '^http://127\.0\.0\.1:[0-9]+ is healthy: took = [0-9.]+ms$' -- "$CTL" endpoint health
check endpoint-health-dead 1 "is unhealthy" -- "$CTL" --timeout 2 --endpoints "$COORD_ENDPOINTS,$dead" endpoint health
check endpoint-health-json 0 '"health":true' -- "$CTL" --json endpoint health
check member-list 0 '^[0-9a-f]+, started, [^,]+, http://127\.0\.0\.1:[0-9]+, http://127\.0\.0\.1:[0-9]+, false$' -- "$CTL" member list
check member-list-json 0 '"client_urls":\["http://127\.0\.0\.1:[0-9]+"\]' -- "$CTL" --json member list
check endpoint-no-sub 2 '^$' -- "$CTL" endpoint

# queue and counter: several processes at once, each item to one popper, every add counted.
check queue-push 0 '^[1-9][0-9]*$' -- "$CTL" queue push /ctl-q first
check queue-push-json 0 '"revision":[1-9]' -- "$CTL" --json queue push /ctl-q second
check queue-pop 0 '^first$' -- "$CTL" queue pop /ctl-q
check queue-pop-json 0 '"value":"second"' -- "$CTL" --json queue pop /ctl-q
check queue-pop-empty 1 '^$' -- "$CTL" queue pop /ctl-q
stderr_has queue-pop-empty-says "queue /ctl-q is empty"
check queue-pop-wait-none 1 '^$' -- "$CTL" queue pop /ctl-q --wait 0.3
stderr_has queue-pop-wait-says "waited"
"$CTL" queue pop /ctl-q --wait 20 >"$WORK/waited.out" 2>&1 &
waiter=$!
sleep 0.5  # (the pop is waiting on an empty queue; a push before it started is also fine)
"$CTL" queue push /ctl-q later >/dev/null
wait "$waiter"; wrc=$?
if [[ $wrc -eq 0 && $(cat "$WORK/waited.out") == later ]]; then passes=$((passes + 1)); else
  echo "FAIL queue pop --wait: exit $wrc, $(cat "$WORK/waited.out")"; failures=$((failures + 1)); fi
# (wait on these jobs only: etcd runs in the background too)
jobs_of() { jobs -p | grep -vx "$ETCD"; }
for i in $(seq 1 12); do "$CTL" queue push /ctl-q2 "item$i" >/dev/null & done
wait $(jobs_of)
for p in 1 2 3 4; do
  (while "$CTL" queue pop /ctl-q2 >>"$WORK/popped.$p"; do :; done) &
done
wait $(jobs_of)
sort "$WORK"/popped.* >"$WORK/popped"
if [[ $(wc -l <"$WORK/popped") -eq 12 && $(sort -u "$WORK/popped" | wc -l) -eq 12 ]]; then
  passes=$((passes + 1)); else echo "FAIL 4 popping processes: $(tr '\n' ' ' <"$WORK/popped")"
  failures=$((failures + 1)); fi
check queue-empty-name 2 '^$' -- "$CTL" queue push "" v
stderr_has queue-empty-name-says "queue name"
# a priority queue: the lowest number first, FIFO within one
"$CTL" queue push /ctl-pq low --priority 9 >/dev/null
"$CTL" queue push /ctl-pq urgent --priority 0 >/dev/null
"$CTL" queue push /ctl-pq later --priority 9 >/dev/null
check pqueue-pop-first 0 '^urgent$' -- "$CTL" queue pop /ctl-pq --priority
check pqueue-pop-second 0 '^low$' -- "$CTL" queue pop /ctl-pq --priority
check pqueue-pop-third 0 '^later$' -- "$CTL" queue pop /ctl-pq --priority
check pqueue-pop-empty 1 '^$' -- "$CTL" queue pop /ctl-pq --priority
check pqueue-bad-priority 2 '^$' -- "$CTL" queue push /ctl-pq v --priority 70000
stderr_has pqueue-bad-priority-says "0 to 65535"
check counter-get-absent 0 '^0$' -- "$CTL" counter get /ctl-n
for i in $(seq 1 8); do (for k in 1 2 3; do "$CTL" counter add /ctl-n 1 >/dev/null; done) & done
wait $(jobs_of)
check counter-sum 0 '^24$' -- "$CTL" counter get /ctl-n
check counter-add-negative 0 '^14$' -- "$CTL" counter add /ctl-n -10
check counter-add-json 0 '"value":15' -- "$CTL" --json counter add /ctl-n 1
"$CTL" put /ctl-text abc >/dev/null
check counter-not-a-number 2 '^$' -- "$CTL" counter add /ctl-text 1
stderr_has counter-not-a-number-says "holds 'abc'"
check counter-bad-delta 2 '^$' -- "$CTL" counter add /ctl-n x

# barrier: hold / wait / release; double barrier: no CMD starts before the last participant
# entered, and each exits with its CMD's status once all have left.
check barrier-hold 0 '^held$' -- "$CTL" barrier hold /ctl-b
check barrier-hold-again 0 '^already held$' -- "$CTL" barrier hold /ctl-b
"$CTL" barrier wait /ctl-b >/dev/null 2>&1 &
bwaiter=$!
sleep 0.3
if kill -0 "$bwaiter" 2>/dev/null; then passes=$((passes + 1)); else
  echo "FAIL barrier wait returned while held"; failures=$((failures + 1)); fi
check barrier-release 0 '^released$' -- "$CTL" barrier release /ctl-b
wait "$bwaiter"; bwrc=$?
if [[ $bwrc -eq 0 ]]; then passes=$((passes + 1)); else echo "FAIL barrier wait: exit $bwrc"; failures=$((failures + 1)); fi
check barrier-wait-free 0 '^$' -- "$CTL" barrier wait /ctl-b
for p in 1 2; do
  "$CTL" barrier enter /ctl-db --count 3 -- sh -c "date +%s%N >>$WORK/db.times; exit $p" &
  eval "db$p=\$!"
done
sleep 1  # (the first two are waiting; the barrier must hold them until the third enters)
last_entry=$(date +%s%N)
"$CTL" barrier enter /ctl-db --count 3 -- sh -c "date +%s%N >>$WORK/db.times"
db3rc=$?
wait "$db1"; db1rc=$?
wait "$db2"; db2rc=$?
early=$(awk -v t="$last_entry" '$1 < t' "$WORK/db.times" | wc -l)
if [[ $(wc -l <"$WORK/db.times") -eq 3 && $early -eq 0 && "$db1rc $db2rc $db3rc" == "1 2 0" ]]; then
  passes=$((passes + 1)); else echo "FAIL double barrier: exits $db1rc $db2rc $db3rc, $early early, times $(tr '\n' ' ' <"$WORK/db.times"), last entry $last_entry"
  failures=$((failures + 1)); fi
check barrier-enter-no-count 2 '^$' -- "$CTL" barrier enter /ctl-db -- true

echo "$passes passed, $failures failed"
[[ $failures -eq 0 ]]
