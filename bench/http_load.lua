-- wrk script for bench/http_load.py: POST one case, or a batch of `size` cases, each with an external id never
-- sent before (prefix, wrk thread, counter), so that no request is an idempotent replay.
-- Arguments after `--`: prefix, a file of field objects (one JSON object a line), batch size (1: a single case).
local prefix, size, fields, counter = "", 1, {}, 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  prefix, size = args[1], tonumber(args[3])
  for line in io.lines(args[2]) do
    fields[#fields + 1] = line
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local cases = {}
  for i = 1, size do
    counter = counter + 1
    cases[i] = string.format('{"external_id":"%s-%d-%d","fields":%s}', prefix, thread_id, counter,
      fields[counter % #fields + 1])
  end
  local body = size == 1 and cases[1] or '{"cases":[' .. table.concat(cases, ",") .. ']}'
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"status_errors":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
