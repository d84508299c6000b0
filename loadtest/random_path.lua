-- wrk script: every request asks for a random path from the file named by
-- WRK_PATHS (one path per line), e.g. a random short code of the set.
local paths = {}

init = function(args)
  for line in io.lines(os.getenv("WRK_PATHS")) do
    paths[#paths + 1] = line
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
