-- wrk script: paid-call cycles against the PBX API.
--
-- Each thread keeps a queue of authorized calls: a connection that is free
-- ends the oldest authorized call if there is one, else authorizes a new
-- call. wrk calls response() before it asks request() for the connection's
-- next request, so a call is only ended after its authorize answer arrived.
-- Call ids are unique per run: "<run>-<thread>-<counter>".
--
-- Arguments after "--": token, number of accounts, run tag.

local thread_index = 0
local threads = {}

function setup(thread)
  thread:set("id", thread_index)
  thread_index = thread_index + 1
  table.insert(threads, thread)
end

function init(args)
  token = args[1]
  accounts = tonumber(args[2])
  tag = args[3]
  counter = 0
  queue = {}
  head, tail = 1, 0
  cycles, authorized, denied, ended, failed = 0, 0, 0, 0, 0
  auth_headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }
end

function request()
  if head <= tail then
    local call_id = queue[head]
    queue[head] = nil
    head = head + 1
    return wrk.format("POST", "/pbx/v1/calls/" .. call_id .. "/end", auth_headers,
      '{"answered_seconds":65,"hangup_cause":"normal"}')
  end
  counter = counter + 1
  local call_id = tag .. "-" .. id .. "-" .. counter
  local n = id * 7919 + counter
  local body = string.format(
    '{"call_id":"%s","account":"office-%04d","extension":"10%d",'
      .. '"destination":"+44 7400 %06d"}',
    call_id, n % accounts, 1 + n % 5, (n * 31) % 1000000)
  return wrk.format("POST", "/pbx/v1/authorize", auth_headers, body)
end

function response(status, headers, body)
  if status ~= 200 then
    failed = failed + 1
    return
  end
  if string.find(body, '"billed_seconds"', 1, true) then
    ended = ended + 1
    return
  end
  local call_id = string.match(body, '"call_id":"([^"]+)"')
  if string.find(body, '"allow":true', 1, true) and call_id then
    authorized = authorized + 1
    tail = tail + 1
    queue[tail] = call_id
  else
    denied = denied + 1
  end
end

function done(summary, latency, requests)
  local totals = {authorized = 0, denied = 0, ended = 0, failed = 0}
  for _, thread in ipairs(threads) do
    for key, _ in pairs(totals) do
      totals[key] = totals[key] + (thread:get(key) or 0)
    end
  end
  local out = {
    string.format('"requests":%d', summary.requests),
    string.format('"duration_us":%d', summary.duration),
    string.format('"socket_errors":%d', summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout),
    string.format('"non_2xx":%d', summary.errors.status),
    string.format('"latency_mean_us":%.1f', latency.mean),
    string.format('"latency_max_us":%d', latency.max),
  }
  for _, p in ipairs({50, 90, 95, 99, 99.9}) do
    table.insert(out, string.format('"p%s_us":%d', tostring(p):gsub("%.", "_"),
      latency:percentile(p)))
  end
  for key, value in pairs(totals) do
    table.insert(out, string.format('"%s":%d', key, value))
  end
  io.write("BENCH-JSON {" .. table.concat(out, ",") .. "}\n")
end
