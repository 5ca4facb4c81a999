-- doc-rebuild: KEYS[1] an entity hash, ARGV[1] its kind (project | task | session | template). Stores
-- its document (`<key>:doc`) rendered from its fields (render-lib.lua), as commit.lua does on every
-- change, and lists it in the slot's key registry KEYS[2] when given: for data written before
-- documents existed (a restored old backup). Returns 1 when a document was stored, 0 when the hash
-- no longer exists.
local kind = ARGV[1]
local d = renderFields(kind, KEYS[1])
if not d then return 0 end
redis.call('SET', docKey(KEYS[1]), d)
if KEYS[2] then redis.call('SADD', KEYS[2], docKey(KEYS[1])) end
return 1
