-- render: KEYS[1] entity key; ARGV[1] kind (project|task|session|template|doc).
-- Returns { json, version } or nil when the entity does not exist.
local json = render(ARGV[1], KEYS[1])
if not json then return false end
return { json, redis.call('HGET', KEYS[1], 'version') or '0' }
