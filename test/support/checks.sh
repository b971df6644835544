# Shared by the bash end-to-end tests (test/examples, test/prometheus): counted checks, a
# bounded wait for a file, and an HTTP GET over bash's /dev/tcp (no curl needed). Sourced.

failures=0
checks=0
pass() { checks=$((checks + 1)); echo "ok   $1"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL $1"; }
expect() {  # expect DESCRIPTION COMMAND... : the command succeeds
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

# Waits (bounded: 30 s) until FILE is non-empty.
wait_for_file() {
  local i
  for ((i = 0; i < 300; i++)); do
    [[ -s $1 ]] && return 0
    sleep 0.1
  done
  return 1
}

# http_get PORT PATH: one GET to 127.0.0.1:PORT over a fresh connection; prints the body (headers
# dropped), fails on a status other than 200.
http_get() {
  local port=$1 path=$2 response status
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$path" >&3
  response=$(timeout 20 cat <&3)
  exec 3<&-
  status=$(head -1 <<<"$response" | tr -d '\r')
  [[ $status == "HTTP/1.1 200 OK" ]] || { echo "GET $path: $status" >&2; return 1; }
  sed '1,/^\r$/d' <<<"$response"
}
