-- wrk script of the load benchmark (benches/load/run.sh): replays a list of tile paths, one
-- per line of the file given after `--`, and prints one machine-readable RESULT line.
--   wrk ... -s trace.lua URL -- paths.txt          each thread starts at its own place in the
--                                                   list: concurrent connections ask for
--                                                   different tiles (the cold and warm passes)
--   wrk ... -s trace.lua URL -- paths.txt shared   every thread starts at the first line: run
--                                                   with as many threads as connections, every
--                                                   connection replays the same trace from the
--                                                   same start (a room opening the same view)
local next_thread = 0
local threads = {}

function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

local paths = {}
local counter = 0
walked = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      paths[#paths + 1] = line
    end
  end
  if #paths == 0 then
    error("no paths in " .. args[1])
  end
  if args[2] == "shared" then
    counter = 0
  else
    counter = ((tid or 0) * 7919) % #paths
  end
  npaths = #paths
end

function request()
  counter = counter % #paths + 1
  walked = walked + 1
  return wrk.format("GET", paths[counter])
end

function done(summary, latency, requests)
  local e = summary.errors
  -- Distinct tiles asked for: in a shared replay, as far as the furthest connection got.
  local furthest, n = 0, 0
  for _, t in ipairs(threads) do
    furthest = math.max(furthest, t:get("walked") or 0)
    n = t:get("npaths") or n
  end
  io.write(string.format(
    "RESULT requests=%d duration_us=%d bytes=%d errors=%d timeouts=%d p50_us=%d p99_us=%d mean_us=%.0f max_us=%d distinct=%d\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect + e.read + e.write + e.status + e.timeout, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max, math.min(furthest, n)))
end
