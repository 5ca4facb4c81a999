-- slot-acquire: takes one slot of a bounded set (a user's spawns in flight, security issue 11 item 4).
-- KEYS[1] a sorted set whose members are slot holders scored by their deadline (ms).
-- ARGV: member, its deadline (ms), now (ms), cap.
-- Holders past their deadline are dropped first (a holder that never released: its job was lost).
-- Returns the number of holders after adding (1-based: the caller's rank among its own holders), or 0
-- when the set is full. A member already holding a slot keeps it (returns the count).
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return redis.call('ZCARD', KEYS[1]) end
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]), ARGV[1])
local latest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], math.max(tonumber(ARGV[2]), tonumber(latest[2] or ARGV[2])))
return n + 1
