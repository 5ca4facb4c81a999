-- user-sockets: writes this replica instance's count of one user's WebSockets and, when asked, first
-- checks the per-user cap against the user's count across the cluster (user-socket-quota.ts).
-- KEYS[1] the user's hash: field = replica instance id, value = '<count>:<ms of the field's last write>'.
-- ARGV: [1] this instance's field; [2] the count this instance holds (with the new socket, when
-- checking); [3] cap (0 = write without checking); [4] ms after its last write when a field of an
-- instance not listed as live is deleted; [5…] live instances (seen in the registry recently).
-- Fields of instances not listed are not counted. The count written is absolute, so any write that
-- failed earlier is made good by this one. Cost: O(fields) = O(replicas).
-- Returns { admitted (1 | 0), the user's count across the live instances and this one }.
local own = ARGV[1]
local want = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local gc = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local live = {}
for i = 5, #ARGV do live[ARGV[i]] = true end
local others = 0
local h = redis.call('HGETALL', KEYS[1])
for i = 1, #h, 2 do
  local field = h[i]
  if field ~= own then
    local n, at = string.match(h[i + 1], '^(%d+):(%d+)$')
    if live[field] and n then
      others = others + tonumber(n)
    elseif not at or now - tonumber(at) > gc then
      -- an instance gone from the registry (dead, or restarted under a new instance id)
      redis.call('HDEL', KEYS[1], field)
    end
  end
end
local admitted = 1
if cap > 0 and others + want > cap then
  admitted = 0
  want = want - 1
end
if want > 0 then
  redis.call('HSET', KEYS[1], own, string.format('%d:%d', want, now))
else
  redis.call('HDEL', KEYS[1], own)
end
return { admitted, others + want }
