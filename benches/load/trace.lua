-- wrk script of the load benchmark (benches/load/run.sh): replays a list of tile paths, one
-- per line of the file given after `--`, each thread starting at its own place in the list so
-- that concurrent connections ask for different tiles; prints one machine-readable RESULT line.
local next_thread = 0

function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
end

local paths = {}
local counter = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      paths[#paths + 1] = line
    end
  end
  if #paths == 0 then
    error("no paths in " .. args[1])
  end
  counter = ((tid or 0) * 7919) % #paths
end

function request()
  counter = counter % #paths + 1
  return wrk.format("GET", paths[counter])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d bytes=%d errors=%d timeouts=%d p50_us=%d p99_us=%d mean_us=%.0f max_us=%d\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect + e.read + e.write + e.status + e.timeout, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
