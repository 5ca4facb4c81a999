-- claims-reschedule: the claim sweeper's compare-and-set on the projects-with-claims index.
-- KEYS[1]: the index (sorted set: project id → at most its earliest lease expiry, ms);
-- KEYS[2]: the projects' claim generations (hash: project id → count of claims marked), same slot.
-- ARGV[1]: project id; ARGV[2]: the generation the sweeper read before it looked at the project
-- ('' = none); ARGV[3]: the project's earliest expiry it then found, or '' when it has no claim left.
-- Changed only when no claim was marked since (its generation is unchanged): a claim marked meanwhile
-- may be one the sweeper did not see, and must not be forgotten. Returns 1 when changed, else 0.
local gen = redis.call('HGET', KEYS[2], ARGV[1]) or ''
if gen ~= ARGV[2] then return 0 end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
