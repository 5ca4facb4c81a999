-- snapshot: a point-in-time copy of one hash slot's keys, for a consistent backup of a busy project.
-- KEYS[1]: the slot's key registry (set of key names, kept by commit.lua); KEYS[2]: its revision
-- counter; KEYS[3…]: further keys of the slot to include (e.g. the members hash).
-- ARGV[1]: snapshot prefix; each copy is ARGV[1] .. <key name> (ARGV[1] carries the slot's hash tag
-- first, so the copies stay in the slot). ARGV[2]: TTL of the copies in ms (a crashed backup leaves
-- nothing behind for long).
-- Returns { revision or false, key1, pttl1, key2, pttl2, … } for the keys that exist (COPY, Redis ≥ 6.2).
local keys = redis.call('SMEMBERS', KEYS[1])
for i = 2, #KEYS do keys[#keys + 1] = KEYS[i] end
local out = { redis.call('GET', KEYS[2]) }
local seen = {}
for _, key in ipairs(keys) do
  if not seen[key] and key ~= KEYS[1] then
    seen[key] = true
    if redis.call('COPY', key, ARGV[1] .. key, 'REPLACE') == 1 then
      out[#out + 1] = key
      out[#out + 1] = redis.call('PTTL', key)
      redis.call('PEXPIRE', ARGV[1] .. key, ARGV[2])
    end
  end
end
return out
