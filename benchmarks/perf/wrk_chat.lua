-- wrk script: POST a distinct chat completion request each time and print a JSON summary.
-- wrk -s wrk_chat.lua URL -- NONCE KEY MODEL
-- Loop detection masks short numbers, so the per-request counter has nine digits
-- (thread number first) and the run's nonce six.
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  nonce = args[1] or "123456"
  local key = args[2]
  model = args[3] or "gpt-4o"
  counter = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if key ~= nil and key ~= "" and key ~= "-" then
    wrk.headers["Authorization"] = "Bearer " .. key
  end
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"model":"%s","messages":[{"role":"system","content":"You are a terse assistant used in a benchmark."},' ..
    '{"role":"user","content":"Benchmark run %s, request %09d: answer in one sentence."}]}',
    model, nonce, 100000000 + tid * 10000000 + counter)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,' ..
    '"err_write":%d,"err_status":%d,"err_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
