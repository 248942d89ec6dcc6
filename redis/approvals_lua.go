package redis

import goredis "github.com/redis/go-redis/v9"

// The approval scripts. Every time is in ms on Redis's clock (TIME), so all
// replicas agree on when an approval expires whatever their own clocks say.
//
// Keys of one agent share the hash tag {agent}: the record
// bridle:{agent}:approval:<id> (a hash) and the pointer
// bridle:{agent}:approval:latest:<spec hash> (the id of the latest approval
// for that action). A script may build one of these names from a value it
// read — the other key is then in the same Cluster slot by construction.
// The id → agent index lives under {approvals} and is kept by scripts of its
// own (a script cannot span two slots).
//
// Expiry is computed, never stored: a pending or approved record whose
// expires_at has passed reads as expired everywhere (effectiveState in Go,
// live here), so no background job has to flip states on time.

// approvalLuaPrelude is prepended to every script.
const approvalLuaPrelude = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function live(state, expires_at, now)
  return (state == 'pending' or state == 'approved') and now < tonumber(expires_at)
end
`

func approvalScript(body string) *goredis.Script {
	return goredis.NewScript(approvalLuaPrelude + body)
}

// createScript returns the live (pending or approved) approval the pointer
// names, or records a new pending one and points at it. Serialised by Redis,
// so of concurrent creates for one agent and action exactly one creates.
//
// KEYS[1] pointer, KEYS[2] new record. ARGV[1] record key prefix, ARGV[2] new
// id, ARGV[3] timeout, ARGV[4] ms Lookup reports an outcome, ARGV[5] ms a
// record is kept after its outcome, ARGV[6..] field/value pairs.
// Returns {1 created | 0 existing, now, record}.
var createScript = approvalScript(`
local now = now_ms()
local cur = redis.call('GET', KEYS[1])
if cur then
  local rk = ARGV[1] .. cur
  local f = redis.call('HMGET', rk, 'state', 'expires_at')
  if f[1] and live(f[1], f[2], now) then
    return {0, now, redis.call('HGETALL', rk)}
  end
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return redis.error_reply('approval id collision')
end
local timeout = tonumber(ARGV[3])
redis.call('HSET', KEYS[2], 'id', ARGV[2], 'state', 'pending', 'created_at', now,
  'expires_at', now + timeout, unpack(ARGV, 6))
redis.call('PEXPIRE', KEYS[2], timeout + tonumber(ARGV[5]))
redis.call('SET', KEYS[1], ARGV[2], 'PX', timeout + tonumber(ARGV[4]))
return {1, now, redis.call('HGETALL', KEYS[2])}`)

// getScript reads one record with Redis's clock. KEYS[1] record.
// Returns {now, record} (record empty when there is none).
var getScript = approvalScript(`
return {now_ms(), redis.call('HGETALL', KEYS[1])}`)

// lookupScript reads the latest approval for an agent and action.
// KEYS[1] pointer, ARGV[1] record key prefix. Returns {now[, record]}.
var lookupScript = approvalScript(`
local now = now_ms()
local cur = redis.call('GET', KEYS[1])
if not cur then return {now} end
return {now, redis.call('HGETALL', ARGV[1] .. cur)}`)

// decideScript moves a pending, unexpired approval to approved or denied,
// keeps its pointer (so Lookup reports the outcome) and announces the
// decision on the channel in the same atomic step, so a waiter woken by the
// announcement always reads the decision.
//
// KEYS[1] record. ARGV[1] pointer prefix, ARGV[2] new state, ARGV[3] decider,
// ARGV[4] note, ARGV[5] ms an approval stays usable, ARGV[6] ms Lookup
// reports an outcome, ARGV[7] ms a record is kept after its outcome,
// ARGV[8] channel, ARGV[9] id.
// Returns {1 decided | 0 missing | 2 not pending, now[, record]}.
var decideScript = approvalScript(`
local now = now_ms()
local f = redis.call('HMGET', KEYS[1], 'state', 'expires_at', 'spec_hash')
if not f[1] then return {0, now} end
if f[1] ~= 'pending' or now >= tonumber(f[2]) then
  return {2, now, redis.call('HGETALL', KEYS[1])}
end
local exp, keep = tonumber(f[2]), tonumber(ARGV[6])
if ARGV[2] == 'approved' then
  exp = now + tonumber(ARGV[5])
  keep = exp - now + keep
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'decided_at', now, 'expires_at', exp,
  'decider', ARGV[3], 'note', ARGV[4])
redis.call('PEXPIRE', KEYS[1], keep + tonumber(ARGV[7]))
local ptr = ARGV[1] .. f[3]
if redis.call('GET', ptr) == ARGV[9] then
  redis.call('PEXPIRE', ptr, keep)
end
redis.call('PUBLISH', ARGV[8], ARGV[9])
return {1, now, redis.call('HGETALL', KEYS[1])}`)

// consumeScript turns the latest approval for exactly this agent and action
// into used, if it is approved and unexpired, and drops the pointer so the
// next request starts afresh. Check and change are one atomic step: of any
// number of concurrent callers on any replicas, one gets 1.
//
// KEYS[1] pointer. ARGV[1] record key prefix, ARGV[2] agent, ARGV[3] hash.
// Returns {1, now, record} or {0, now}.
var consumeScript = approvalScript(`
local now = now_ms()
local cur = redis.call('GET', KEYS[1])
if not cur then return {0, now} end
local rk = ARGV[1] .. cur
local f = redis.call('HMGET', rk, 'state', 'expires_at', 'agent', 'spec_hash')
if f[1] ~= 'approved' or now >= tonumber(f[2]) or f[3] ~= ARGV[2] or f[4] ~= ARGV[3] then
  return {0, now}
end
redis.call('HSET', rk, 'state', 'used', 'used_at', now)
redis.call('DEL', KEYS[1])
return {1, now, redis.call('HGETALL', rk)}`)

// indexScript records id → agent, for Get, Decide and List, and the pending
// set, for CountPending; it drops (a bounded number of) entries whose
// records are gone. The index expires with its newest record.
//
// KEYS[1] id → agent hash, KEYS[2] ids by record end, KEYS[3] pending ids by
// expiry. ARGV[1] id, ARGV[2] agent, ARGV[3] record end, ARGV[4] pending
// until (0 when not pending), absolute ms.
var indexScript = approvalScript(`
local now = now_ms()
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)
if #old > 0 then
  redis.call('HDEL', KEYS[1], unpack(old))
  redis.call('ZREM', KEYS[2], unpack(old))
end
-- Expired pending entries stay an hour for ClaimExpired to announce.
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 3600000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if tonumber(ARGV[4]) > now then
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
end
local ttl = tonumber(ARGV[3]) - now
if ttl > 0 then
  for i = 1, 3 do
    if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
return 1`)

// listScript returns id, agent pairs of the newest records still kept.
// KEYS as indexScript's first two; ARGV[1] the most to return.
var listScript = approvalScript(`
local now = now_ms()
local ids = redis.call('ZREVRANGEBYSCORE', KEYS[2], '+inf', '(' .. now, 'LIMIT', 0, tonumber(ARGV[1]))
if #ids == 0 then return {} end
local agents = redis.call('HMGET', KEYS[1], unpack(ids))
local out = {}
for i, id in ipairs(ids) do
  if agents[i] then
    out[#out + 1] = id
    out[#out + 1] = agents[i]
  end
end
return out`)

// claimExpiredScript takes (removes and returns) up to ARGV[1] ids from the
// pending set whose expiry has passed: removal is the claim, so of several
// replicas sweeping at once each expiry goes to one. KEYS[1] pending set.
var claimExpiredScript = approvalScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[1]))
if #ids > 0 then redis.call('ZREM', KEYS[1], unpack(ids)) end
return ids`)

// countScript counts approvals pending and unexpired. KEYS[1] pending set.
var countScript = approvalScript(`
return redis.call('ZCOUNT', KEYS[1], '(' .. now_ms(), '+inf')`)
