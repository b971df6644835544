-- wrk script: the etcd v3 JSON gateway requests scripts/bench.sh compares coord-bench's `put` and
-- `get` workloads with. Every connection sends the same request, built once per thread:
--   BENCH_OP=put    POST /v3/kv/put    {"key":"<base64 key>","value":"<base64 value>"}
--   BENCH_OP=range  POST /v3/kv/range  {"key":"<base64 key>"}  (linearizable: no "serializable";
--                   the key must exist: scripts/bench.sh writes it first)
-- Environment (scripts/bench.sh sets them; base64 done with `base64 -w0`):
--   BENCH_OP         put or range (default put)
--   BENCH_KEY_B64    key, base64 (default: "bench/put/wrk" for put, "bench/get/0" for range)
--   BENCH_VALUE_B64  put's value, base64 (default: 128 bytes of 'x')
--   BENCH_CHECK=1    also inspect every response (slower: wrk then copies each body into Lua);
--                    done() reports as "bad" each one that is not a 200 with a header revision
--                    (put) or holding exactly one kv (range)
-- done() prints one machine-readable line:
--   wrk-result {"requests":N,"duration_us":D,"errors":E,"p50_us":X,"p99_us":Y[,"checked":C,"bad":B]}

local op = os.getenv("BENCH_OP") or "put"
if op ~= "put" and op ~= "range" then error("BENCH_OP must be put or range, not " .. op) end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local expected_text
if op == "put" then
  local key = os.getenv("BENCH_KEY_B64") or "YmVuY2gvcHV0L3dyaw=="   -- bench/put/wrk
  local value = os.getenv("BENCH_VALUE_B64") or (string.rep("eHh4", 42) .. "eHg=")  -- 128 x 'x'
  wrk.path = "/v3/kv/put"
  wrk.body = '{"key":"' .. key .. '","value":"' .. value .. '"}'
  expected_text = '"revision"'
else
  local key = os.getenv("BENCH_KEY_B64") or "YmVuY2gvZ2V0LzA="   -- bench/get/0
  wrk.path = "/v3/kv/range"
  wrk.body = '{"key":"' .. key .. '"}'
  expected_text = '"count":"1"'
end

local function expected(status, body)
  return status == 200 and body:find(expected_text, 1, true) ~= nil
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

if os.getenv("BENCH_CHECK") == "1" then
  checked, bad, first_bad = 0, 0, ""
  function response(status, headers, body)
    checked = checked + 1
    if not expected(status, body) then
      bad = bad + 1
      if first_bad == "" then first_bad = status .. " " .. body:sub(1, 300) end
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local line = string.format(
    'wrk-result {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99))
  if os.getenv("BENCH_CHECK") == "1" then
    local c, b, first = 0, 0, ""
    for _, t in ipairs(threads) do
      c = c + (t:get("checked") or 0)
      b = b + (t:get("bad") or 0)
      local f = t:get("first_bad")
      if first == "" and f then first = f end
    end
    line = line .. string.format(',"checked":%d,"bad":%d', c, b)
    if first ~= "" then io.stderr:write("first bad response: " .. first .. "\n") end
  end
  io.write(line .. "}\n")
end
