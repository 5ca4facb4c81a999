-- idempotency-release: ends the hold of a pending Idempotency-Key record (its request failed with a
-- 5xx, or was answered before it ran), so a retry may take it at once; a done record, or none, is left
-- as it is. KEYS[1]: the record (see idempotency-claim.lua). Returns 1 when released, else 0.
if redis.call('HGET', KEYS[1], 'state') == 'pending' then
  redis.call('HSET', KEYS[1], 'lease', 0)
  return 1
end
return 0
