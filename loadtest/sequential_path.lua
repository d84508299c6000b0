-- wrk script: walks the paths of WRK_PATHS in order, the threads interleaved
-- (thread k takes lines k, k+T, k+2T, ...), to touch every code once, e.g.
-- to fill a cache. Run it for at least as many requests as there are lines.
local threads = 0
local paths = {}
local next_index

setup = function(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

init = function(args)
  for line in io.lines(os.getenv("WRK_PATHS")) do
    paths[#paths + 1] = line
  end
  next_index = thread_number
end

request = function()
  local path = paths[next_index]
  next_index = next_index + tonumber(os.getenv("WRK_THREADS") or "2")
  if next_index > #paths then next_index = next_index - #paths end
  return wrk.format("GET", path)
end
