-- refresh-rotate: spends a refresh token and issues its successor in ONE step (security issue 11,
-- item 10: reuse detection must not lose a race). All keys share the family's hash tag.
-- KEYS[1] the family hash {userId, state}; KEYS[2] the presented token's hash {hash, spentAt?};
-- KEYS[3] the successor token's hash (new, random id).
-- ARGV: presented secret's sha256, successor's sha256, ttl (s) of the family and successor, reuse
-- window (s) a spent token is kept for, now (ms).
-- Returns {'ok', userId} | {'invalid'} | {'revoked'} | {'reuse'}. On reuse the family is deleted, so
-- every token of it, including a successor issued a moment ago, is refused from then on.
local family = redis.call('HMGET', KEYS[1], 'userId', 'state')
local stored = redis.call('HMGET', KEYS[2], 'hash', 'spentAt')
if not stored[1] or stored[1] ~= ARGV[1] then return { 'invalid' } end
if not family[1] or family[2] ~= 'active' then return { 'revoked' } end
if stored[2] then
  redis.call('DEL', KEYS[1])
  return { 'reuse' }
end
redis.call('HSET', KEYS[2], 'spentAt', ARGV[5])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
redis.call('HSET', KEYS[3], 'hash', ARGV[2])
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[3]))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return { 'ok', family[1] }
