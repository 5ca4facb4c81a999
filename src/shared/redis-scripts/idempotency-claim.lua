-- idempotency-claim: takes (or finds) the record of one credential's Idempotency-Key (contract 00
-- "Concurrency and retries"). One key, a few fields: O(1).
-- KEYS[1]: the record (hash: state = pending|done, hash = the request's hash, t = ms of the first claim,
--          lease = ms until which a pending claim is held; when done: status, body, headers, projectId).
-- ARGV[1]: the request's hash; ARGV[2]: lease, ms; ARGV[3]: the record's TTL, s.
-- Returns one of:
--   {'claimed', t}                          no record: a pending one is made, held for the lease
--   {'taken', t}                            a pending record whose lease is over (its request died or
--                                           failed): held again for this request, t kept
--   {'busy', ms left}                       pending and still held
--   {'conflict'}                            made by another request (hash differs)
--   {'done', status, body, headers, projectId}   the stored response
--   {'legacy', json}                        a done record of the earlier string format (replayed as is)
-- Time is Redis's (TIME), so replicas' clocks do not matter.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local lease = tonumber(ARGV[2])
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'string' then
  local old = cjson.decode(redis.call('GET', KEYS[1]))
  if old.state == 'done' then
    if old.hash ~= ARGV[1] then return { 'conflict' } end
    return { 'legacy', redis.call('GET', KEYS[1]) }
  end
  redis.call('DEL', KEYS[1])
  kind = 'none'
end
local f = kind == 'hash' and redis.call('HMGET', KEYS[1], 'state', 'hash', 't', 'lease', 'status', 'body', 'headers', 'projectId') or {}
if not f[2] then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'state', 'pending', 'hash', ARGV[1], 't', now, 'lease', now + lease)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return { 'claimed', tostring(now) }
end
if f[2] ~= ARGV[1] then return { 'conflict' } end
if f[1] == 'done' then return { 'done', f[5] or '200', f[6] or '', f[7] or '{}', f[8] or '' } end
local held = tonumber(f[4]) or 0
if held > now then return { 'busy', tostring(held - now) } end
redis.call('HSET', KEYS[1], 'lease', now + lease)
return { 'taken', f[3] or tostring(now) }
