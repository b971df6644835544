#!/usr/bin/env bash
# A real Prometheus (Debian's) scrapes the http_server example's /metrics on loopback while lock
# traffic runs; then its HTTP API must give the lock wait histogram and the request counter with
# the values the example itself reports, and every query of the Grafana dashboard
# (docs/grafana/coordination.json) must be valid PromQL that Prometheus answers. Plain bash
# (/dev/tcp): no curl, no jq.
# Usage: prometheus_test.sh BIN_DIR DASHBOARD_JSON
set -uo pipefail
BIN=${1:?usage: prometheus_test.sh BIN_DIR DASHBOARD_JSON}
DASHBOARD=${2:?usage: prometheus_test.sh BIN_DIR DASHBOARD_JSON}
command -v prometheus >/dev/null ||
  { echo "prometheus is not installed (apt-get install prometheus; scripts/test.sh does)"; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/coord-prometheus.XXXXXX")
ETCD_PID= SERVER_PID= PROM_PID=
cleanup() {
  local p
  for p in $PROM_PID $SERVER_PID $ETCD_PID; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

source "$(dirname "${BASH_SOURCE[0]}")/../support/checks.sh"

urlencode() {
  local s=$1 out= c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [a-zA-Z0-9._~-]) out+=$c ;;
      *) printf -v c '%%%02X' "'$c"; out+=$c ;;
    esac
  done
  printf '%s' "$out"
}

# query EXPR: Prometheus's answer (JSON) to an instant query.
query() { http_get "$PROM_PORT" "/api/v1/query?query=$(urlencode "$1")"; }

# value EXPR: the single sample's value of an instant query ("" when there is none).
value() {
  query "$1" | tr -d '\n' | sed -n 's/.*"value":\[[^,]*,"\([^"]*\)"\].*/\1/p'
}

# wait_value EXPR WANT: polls (bounded, 30 s) until the query gives WANT; prints the last value.
wait_value() {
  local i v=
  for ((i = 0; i < 60; i++)); do
    v=$(value "$1")
    [[ $v == "$2" ]] && break
    sleep 0.5
  done
  printf '%s' "$v"
}

# A loopback port nothing listens on now.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

"$BIN/coord-local-etcd" --endpoints-file "$WORK/endpoints" >"$WORK/etcd.log" 2>&1 &
ETCD_PID=$!
wait_for_file "$WORK/endpoints" || { echo "etcd did not start"; cat "$WORK/etcd.log"; exit 1; }
export COORD_ENDPOINTS=$(cat "$WORK/endpoints")

"$BIN/http_server" --port-file "$WORK/port" >"$WORK/http.out" 2>&1 &
SERVER_PID=$!
wait_for_file "$WORK/port" || { echo "http_server did not start"; cat "$WORK/http.out"; exit 1; }
APP_PORT=$(cat "$WORK/port")

# Prometheus on loopback, scraping the example every second (a few tries: the port is picked
# before Prometheus binds it).
for attempt in 1 2 3; do
  PROM_PORT=$(free_port)
  cat >"$WORK/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: coordination
    static_configs:
      - targets: ['127.0.0.1:$APP_PORT']
YML
  prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
  PROM_PID=$!
  for ((i = 0; i < 100; i++)); do
    http_get "$PROM_PORT" /-/ready >/dev/null 2>&1 && break
    kill -0 "$PROM_PID" 2>/dev/null || break
    sleep 0.2
  done
  http_get "$PROM_PORT" /-/ready >/dev/null 2>&1 && break
  kill "$PROM_PID" 2>/dev/null; wait "$PROM_PID" 2>/dev/null; PROM_PID=
done
[[ -n $PROM_PID ]] || { echo "prometheus did not start"; cat "$WORK/prometheus.log"; exit 1; }
pass "prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}') ready on 127.0.0.1:$PROM_PORT"

v=$(wait_value 'up{job="coordination"}' 1)
[[ $v == 1 ]] && pass "the example's /metrics is scraped (up = 1)" || fail "up = '$v'"

# Lock traffic: 24 GET /counter/traffic, 4 at a time; each takes the lock once.
for round in 1 2 3 4 5 6; do
  clients=()
  for i in 1 2 3 4; do
    http_get "$APP_PORT" /counter/traffic >/dev/null &
    clients+=($!)
  done
  wait "${clients[@]}"
done
last=$(http_get "$APP_PORT" /counter/traffic)
[[ $last == 25 ]] && pass "25 locked increments" || fail "the counter is '$last', not 25"

# What the example reports itself, now that the traffic is over.
http_get "$APP_PORT" /metrics >"$WORK/metrics"
own_waits=$(sed -n 's/^coordination_lock_wait_seconds_count{recipe="mutex"} //p' "$WORK/metrics")
own_txns=$(sed -n 's|^coordination_requests_total{call="/v3/kv/txn"} ||p' "$WORK/metrics")
[[ $own_waits == 25 ]] && pass "the example counts 25 lock waits" || fail "own count '$own_waits'"

v=$(wait_value 'coordination_lock_wait_seconds_count{recipe="mutex"}' 25)
[[ $v == 25 ]] && pass "Prometheus: lock wait histogram count 25" || fail "lock wait count '$v'"
v=$(value 'coordination_lock_wait_seconds_bucket{recipe="mutex",le="+Inf"}')
[[ $v == 25 ]] && pass "Prometheus: lock wait +Inf bucket 25" || fail "+Inf bucket '$v'"
v=$(value 'coordination_lock_wait_seconds_sum{recipe="mutex"} > 0')
[[ -n $v ]] && pass "Prometheus: lock wait sum $v s" || fail "lock wait sum not > 0"
v=$(wait_value 'coordination_requests_total{call="/v3/kv/txn"}' "$own_txns")
[[ -n $own_txns && $v == "$own_txns" ]] && ((own_txns >= 50)) &&
  pass "Prometheus: txn request counter $v, as the example says" ||
  fail "txn counter: Prometheus '$v', the example '$own_txns' (>= 50 expected)"

# Every query of the dashboard: Prometheus accepts it (Grafana's $__rate_interval and $__range
# stand in as 1m and 5m).
exprs=$(grep -o '"expr": "[^"]*"' "$DASHBOARD" | sed 's/^"expr": "//; s/"$//')
n=$(grep -c . <<<"$exprs")
bad=0
while IFS= read -r e; do
  q=${e//\$__rate_interval/1m}
  q=${q//\$__range/5m}
  answer=$(query "$q" 2>&1)
  [[ $answer == *'"status":"success"'* ]] || { bad=$((bad + 1)); echo "    $q -> $answer"; }
done <<<"$exprs"
((n >= 20 && bad == 0)) && pass "all $n dashboard queries are valid PromQL" ||
  fail "$bad of $n dashboard queries refused"
# A rate needs two samples of the counter that differ: the traffic above may have come and gone
# between two scrapes (the series then starts at 25 and stays there), so one more locked request
# after Prometheus has seen 25, and the rate is there once it has seen 26.
http_get "$APP_PORT" /counter/traffic >/dev/null
v=$(wait_value 'coordination_lock_wait_seconds_count{recipe="mutex"}' 26)
[[ $v == 26 ]] || fail "lock wait count after one more request: '$v', not 26"
v=$(value 'sum(rate(coordination_lock_wait_seconds_count[1m])) > 0')
[[ -n $v ]] && pass "the dashboard's lock rate has data ($v/s)" || fail "lock rate empty"

echo "$checks checks, $failures failed"
[[ $failures -eq 0 ]]
