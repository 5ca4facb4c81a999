-- Leases a block of hits of one rate-limit window (leased-rate-store.ts).
-- KEYS[1] the window's counter; ARGV[1] block size (hits); ARGV[2] window (ms).
-- The counter counts hits leased to any replica this window; it expires with the window, which
-- starts at the first lease. Returns { counter after the lease, ms left in the window }: the lease
-- is the hits numbered counter - block + 1 .. counter.
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return { n, ttl }
