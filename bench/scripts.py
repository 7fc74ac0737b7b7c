"""wrk Lua scripts of the benchmarks (bench/wrk.py adds `tid` and the data tables).

KEYS is the list of API keys (one per merchant); requests rotate over them, as real
traffic comes from many merchants (a single merchant at 1,000 requests/s would be
over any plan's rate limit). Every create carries an Idempotency-Key unique to the
run, the phase, the wrk thread and the request.
"""

CREATE = """
local counter = 0
local body = '{"amount": "1050", "currency": "USD", "description": "Bench order"}'
request = function()
  counter = counter + 1
  local key = KEYS[(counter + tid) % #KEYS + 1]
  return wrk.format("POST", "/api/v2/payments/create", {
    ["Content-Type"] = "application/json", ["X-API-Key"] = key,
    ["Idempotency-Key"] = string.format("%s-%d-%d", PHASE, tid, counter)}, body)
end
"""

# PAIRS = {{key index, payment id}, ...}; each thread walks its own share.
GET = """
local counter = 0
request = function()
  counter = counter + 1
  local item = PAIRS[(counter * THREADS + tid) % #PAIRS + 1]
  return wrk.format("GET", "/api/v2/payments/" .. item[2], {["X-API-Key"] = KEYS[item[1]]})
end
"""

CONFIRM_BODY = ('{"paymentMethod": "VISA_MASTER", "card": {"number": "4242424242424242", '
                '"expMonth": 12, "expYear": 2099, "cvc": "123"}}')

# Each pending payment is confirmed once: thread t takes items t+1, t+1+THREADS, ...
CONFIRM = """
local counter = 0
request = function()
  local item = PAIRS[(counter * THREADS + tid) % #PAIRS + 1]
  counter = counter + 1
  return wrk.format("POST", "/api/v2/payments/" .. item[2] .. "/confirm", {
    ["Content-Type"] = "application/json", ["X-API-Key"] = KEYS[item[1]]}, CONFIRM_BODY)
end
"""

FEE_QUOTE = """
local counter = 0
local body = '{"amount": 105.50, "currency": "USD"}'
request = function()
  counter = counter + 1
  return wrk.format("POST", "/api/v1/test-charge-calculation", {
    ["Content-Type"] = "application/json", ["X-API-Key"] = KEYS[(counter + tid) % #KEYS + 1]},
    body)
end
"""

# Whole payments at a steady pace: each thread sends its n-th request at start + n *
# INTERVAL_MS (monotonic clock through LuaJIT's ffi; wrk's delay() holds a connection
# until then), so the rate holds whatever the latency, as long as a connection is free.
# A created payment is confirmed by the next request of the same thread; its amount
# (1000 + key index) tells which merchant's key may confirm it.
PACED = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *ts);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local start, scheduled = nil, 0
local counter = 0
local created = {}
request = function()
  counter = counter + 1
  if #created > 0 then
    local item = table.remove(created, 1)
    return wrk.format("POST", "/api/v2/payments/" .. item[2] .. "/confirm", {
      ["Content-Type"] = "application/json", ["X-API-Key"] = KEYS[item[1]]}, CONFIRM_BODY)
  end
  local k = (counter + tid) % #KEYS + 1
  return wrk.format("POST", "/api/v2/payments/create", {
    ["Content-Type"] = "application/json", ["X-API-Key"] = KEYS[k],
    ["Idempotency-Key"] = string.format("%s-%d-%d", PHASE, tid, counter)},
    string.format('{"amount": "%d", "currency": "USD"}', 1000 + k))
end
response = function(status, headers, body)
  if status == 201 then
    local pid = body:match('"paymentId":"([^"]+)"')
    local amount = body:match('"amount":"(%d+)"')
    if pid and amount then
      created[#created + 1] = {tonumber(amount) - 1000, pid}
    end
  end
end
delay = function()
  local now = now_ms()
  start = start or now
  local due = start + scheduled * INTERVAL_MS
  scheduled = scheduled + 1
  if due <= now then
    return 0
  end
  return math.floor(due - now)
end
"""
