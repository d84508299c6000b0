-- wrk script: asks for the benchmark's generated codes by index, with no path
-- file (ten million lines per wrk thread would not fit in memory): index i of
-- WRK_CODES maps to "/_" .. six base-62 digits of (i * 1000003 + 12345) mod 62^6,
-- a bijection; loadtest/growth.py and its SQL use the same formula.
--   WRK_MODE=random      a uniformly random index per request (the default);
--   WRK_MODE=sequential  indices WRK_FIRST, WRK_FIRST+1, ... (mod WRK_CODES), to
--                        touch every code once; run it with one thread (-t 1).
local alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
local count = tonumber(os.getenv("WRK_CODES"))
local sequential = os.getenv("WRK_MODE") == "sequential"
local next_index = tonumber(os.getenv("WRK_FIRST") or "0")
local digits = {}

local function path(i)
  local x = (i * 1000003 + 12345) % 56800235584
  for k = 6, 1, -1 do
    local d = x % 62
    digits[k] = alphabet:sub(d + 1, d + 1)
    x = (x - d) / 62
  end
  return "/_" .. table.concat(digits)
end

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

request = function()
  local i
  if sequential then
    i = next_index % count
    next_index = next_index + 1
  else
    i = math.random(count) - 1
  end
  return wrk.format("GET", path(i))
end
