-- wrk script of benchmarks/bench_http.py: POST the JSON bodies of a file (one per line), cycling through them.
--   wrk -t1 -c32 -d15s --latency -s benchmarks/wrk_bodies.lua http://127.0.0.1:3000/score -- bodies.jsonl
local bodies = {}
local idx = 0
local headers = {["Content-Type"] = "application/json"}

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  idx = math.random(#bodies) - 1
end

function request()
  idx = idx % #bodies + 1
  return wrk.format("POST", wrk.path, headers, bodies[idx])
end
