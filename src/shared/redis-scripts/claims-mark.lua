-- claims-mark: after a claim (or renewal) was committed, its project is in the index of projects with
-- claims no later than the claim's expiry, and the project's generation moves (claims-reschedule.lua).
-- KEYS[1]: the index; KEYS[2]: the generations (same slot). ARGV[1]: project id; ARGV[2]: expiresAt ms.
redis.call('ZADD', KEYS[1], 'LT', ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
return redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
