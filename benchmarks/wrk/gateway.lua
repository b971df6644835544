-- wrk script: the etcd v3 JSON gateway requests scripts/bench.sh compares coord-bench's `put` and
-- `get` workloads with. Every connection sends the same request, built once per thread:
--   BENCH_OP=put    POST /v3/kv/put    {"key":"<base64 key>","value":"<base64 value>"}
--   BENCH_OP=range  POST /v3/kv/range  {"key":"<base64 key>"}  (linearizable: no "serializable";
--                   the key must exist: scripts/bench.sh writes it first)
--   BENCH_OP=lock   the requests of an uncontended lock + release, alternating on each thread:
--                   POST /v3/kv/txn, the acquire of Go's concurrency.Mutex and of this library
--                   (if the key's create revision is 0: put it and range the lock's first
--                   owner, else get it and the owner), then POST /v3/kv/deleterange of that
--                   key: bench/wrk-lock/<thread>/<0..63>/holder, lock names taken in turn. No lease (the
--                   lock's keys have one; etcd's cost of attaching it is not measured here).
--                   Two requests per lock + release: halve the request rate.
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
if op ~= "put" and op ~= "range" and op ~= "lock" then
  error("BENCH_OP must be put, range or lock, not " .. op)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local expected_text
if op == "put" then
  local key = os.getenv("BENCH_KEY_B64") or "YmVuY2gvcHV0L3dyaw=="   -- bench/put/wrk
  local value = os.getenv("BENCH_VALUE_B64") or (string.rep("eHh4", 42) .. "eHg=")  -- 128 x 'x'
  wrk.path = "/v3/kv/put"
  wrk.body = '{"key":"' .. key .. '","value":"' .. value .. '"}'
  expected_text = '"revision"'
elseif op == "lock" then
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
  thread:set("thread_id", #threads)
end

if op == "lock" then
  -- base64 without a library: the keys are short ASCII.
  local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  local function b64(data)
    return ((data:gsub(".", function(x)
      local r, b = "", x:byte()
      for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
      return r
    end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
      if #x < 6 then return "" end
      local c = 0
      for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
      return chars:sub(c + 1, c + 1)
    end) .. ({ "", "==", "=" })[#data % 3 + 1])
  end
  -- 64 lock names per thread, taken in turn and reused: a new key per lock would leave a
  -- tombstone per pair under one prefix, and the owner range would walk all of them. Each
  -- name's two requests are formatted once.
  local slots, n = {}, 0
  local function slot(i)
    if slots[i] then return slots[i] end
    local name = "bench/wrk-lock/" .. (thread_id or 0) .. "/" .. i .. "/"
    local prefix, prefix_end = b64(name), b64(name:sub(1, -2) .. "0")  -- '/' + 1 = '0'
    local key = b64(name .. "holder")
    local owner = '{"request_range":{"key":"' .. prefix .. '","range_end":"' .. prefix_end ..
      '","sort_order":"ASCEND","sort_target":"CREATE","limit":"1"}}'
    local body = '{"compare":[{"key":"' .. key .. '","target":"CREATE","create_revision":"0"}],' ..
      '"success":[{"request_put":{"key":"' .. key .. '","value":""}},' .. owner .. '],' ..
      '"failure":[{"request_range":{"key":"' .. key .. '"}},' .. owner .. ']}'
    slots[i] = { wrk.format("POST", "/v3/kv/txn", nil, body),
                 wrk.format("POST", "/v3/kv/deleterange", nil, '{"key":"' .. key .. '"}') }
    return slots[i]
  end
  function request()
    n = n + 1
    return slot(math.floor((n - 1) / 2) % 64)[2 - n % 2]
  end
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
