-- Pipelined load for wrk: every write carries DEPTH GET requests back to back.
--
-- Usage: wrk -t1 -c256 -d10s -s bench/pipeline.lua http://127.0.0.1:PORT/ -- 16
-- The depth is the first argument after `--` (16 when omitted). wrk parses the
-- buffer returned by request() once, counts DEPTH requests in it, and then
-- expects DEPTH responses per write; Requests/sec counts every response, while
-- latency is measured per batch (first byte sent to last response received).

local depth = 16
local batch

init = function(args)
  depth = tonumber(args[1]) or depth
  local requests = {}
  for i = 1, depth do
    requests[i] = wrk.format(nil, "/")
  end
  batch = table.concat(requests)
end

request = function()
  return batch
end
