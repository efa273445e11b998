-- KrakenD's token bucket (krakenpy/ratelimit/bucket.py) in Redis, for limits shared by instances.
-- KEYS: the buckets to take a token from, in order (client bucket first, then the endpoint's).
-- ARGV: per key, 3 values: fill interval (ns), capacity, TTL of an idle bucket (ms).
-- Returns {0, 0} when every bucket allowed the request, else {index of the bucket that refused it,
-- microseconds until its next token}; buckets after a refusing one are not touched (a 429 does not
-- consume the endpoint bucket). The clock is the Redis server's, shared by every instance.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[3 * i - 2]) / 1000
  local capacity = tonumber(ARGV[3 * i - 1])
  local ttl = tonumber(ARGV[3 * i])
  local state = redis.call('HMGET', key, 't', 'r')
  local tokens = tonumber(state[1])
  local last = tonumber(state[2])
  if tokens == nil or last == nil then
    tokens = capacity
    last = now
  end
  if tokens > 0 then
    tokens = tokens - 1
  else
    local add = math.floor((now - last) / interval)
    if add <= 0 then
      return {i, math.ceil(last + interval - now)}
    end
    last = last + add * interval
    if add > capacity then
      tokens = capacity
    else
      tokens = add - 1
    end
  end
  redis.call('HSET', key, 't', string.format('%d', tokens), 'r', string.format('%.3f', last))
  redis.call('PEXPIRE', key, ttl)
end
return {0, 0}
