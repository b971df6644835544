-- wrk script: etcd v3 JSON gateway range of one key, linearizable (no "serializable" flag): the
-- ceiling scripts/bench.sh compares coord-bench's `get` workload with. Every connection sends the
-- same request, built once per thread:
--   POST /v3/kv/range  {"key":"<base64 key>"}
-- The key must exist (scripts/bench.sh writes it first); BENCH_CHECK=1 verifies that it does.
-- Environment (scripts/bench.sh sets it; base64 done with `base64 -w0`):
--   BENCH_KEY_B64    key, base64 (default: "bench/get/0")
--   BENCH_CHECK=1    also inspect every response (slower: wrk then copies each body into Lua);
--                    done() reports as "bad" each one that is not a 200 holding exactly one kv
-- done() prints one machine-readable line:
--   wrk-result {"requests":N,"duration_us":D,"errors":E,"p50_us":X,"p99_us":Y[,"checked":C,"bad":B]}

local key = os.getenv("BENCH_KEY_B64") or "YmVuY2gvZ2V0LzA="   -- bench/get/0

wrk.method = "POST"
wrk.path = "/v3/kv/range"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"key":"' .. key .. '"}'

local function expected(status, body)
  return status == 200 and body:find('"count":"1"', 1, true) ~= nil
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
