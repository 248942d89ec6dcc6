-- Exact sliding-log rate limit over one or two logs, checked and consumed
-- atomically (Redis runs a script to completion before any other command).
--
-- KEYS[i]  sorted set of the admission times (ms on Redis's clock) of the
--          requests admitted in the last window of limit i; members are
--          unique request ids, so two admissions in one millisecond both count.
-- ARGV[1]  this request's unique id.
-- ARGV[2]  ms added to each log's lifetime for coarse key expiry (the
--          embedded Redis's); 0 on a real Redis.
-- ARGV[2i+1], ARGV[2i+2]  limit i: request count, window in ms.
--
-- Returns {1, 0, 0} when admitted (recorded in every log), or {0, i, wait}
-- when log i is full: nothing is recorded anywhere, and wait is the ms until
-- log i frees a slot (the longest such wait when several logs are full).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local full, wait = 0, 0
for i = 1, #KEYS do
  local n, w = tonumber(ARGV[2 * i + 1]), tonumber(ARGV[2 * i + 2])
  -- The window is (now - w, now]: drop what left it.
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - w)
  local count = redis.call('ZCARD', KEYS[i])
  if count >= n then
    -- count - n + 1 entries must leave before a slot frees; the last of them
    -- is at index count - n (oldest first) and leaves at its time + w.
    local e = redis.call('ZRANGE', KEYS[i], count - n, count - n, 'WITHSCORES')
    local d = tonumber(e[2]) + w - now
    if d > w then d = w end -- Redis's clock stepped back: promise at most a window
    if d < 1 then d = 1 end
    if full == 0 or d > wait then full, wait = i, d end
  end
end
if full > 0 then
  return {0, full, wait}
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now, ARGV[1])
  -- The newest entry leaves the window after w ms; so can the whole log.
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2 * i + 2]) + tonumber(ARGV[2]))
end
return {1, 0, 0}
