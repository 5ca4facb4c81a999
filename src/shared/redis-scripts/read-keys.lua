-- read-keys: the type, PTTL and contents of each key in KEYS (one hash slot), for backups.
-- Returns { {type, pttl, contents}… } with contents: hash → HGETALL, zset → ZRANGE WITHSCORES,
-- list → LRANGE, set → SMEMBERS, string → {value}; a stream or a missing key → {} (streams are read
-- with XRANGE/XINFO by the caller).
local out = {}
for i, key in ipairs(KEYS) do
  local t = redis.call('TYPE', key).ok
  local v = {}
  if t == 'hash' then v = redis.call('HGETALL', key)
  elseif t == 'zset' then v = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  elseif t == 'list' then v = redis.call('LRANGE', key, 0, -1)
  elseif t == 'set' then v = redis.call('SMEMBERS', key)
  elseif t == 'string' then v = { redis.call('GET', key) }
  end
  out[i] = { t, redis.call('PTTL', key), v }
end
return out
