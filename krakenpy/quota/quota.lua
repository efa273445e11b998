-- One quota step on the counters KEYS (atomic, on the Redis server).
-- ARGV[1]: weight to add; ARGV[2]: "1" to refuse when a counter is already at its amount;
-- then per key: its amount, and the Unix time (ms) its window ends (the key expires then).
-- Returns {refused (0, or the 1-based index of the first exhausted counter), value of each counter}.
local weight = tonumber(ARGV[1])
local check = ARGV[2] == "1"
local values = {}
for i, key in ipairs(KEYS) do
  values[i] = tonumber(redis.call("GET", key) or "0")
end
if check then
  for i = 1, #KEYS do
    if values[i] >= tonumber(ARGV[1 + 2 * i]) then
      local out = {i}
      for j = 1, #KEYS do out[j + 1] = values[j] end
      return out
    end
  end
end
local out = {0}
for i, key in ipairs(KEYS) do
  if weight > 0 then
    values[i] = redis.call("INCRBY", key, weight)
    redis.call("PEXPIREAT", key, ARGV[2 + 2 * i])
  end
  out[i + 1] = values[i]
end
return out
