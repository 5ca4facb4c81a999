-- doc-rebuild: KEYS[1] an entity hash. Stores its `_doc` rendered from its fields (render-lib.lua), as
-- commit.lua does on every change: for data written before documents existed (a restored old backup).
-- Returns 1 when a document was stored, 0 for a key that is no entity or no longer exists.
local kind = kindOfKey(KEYS[1])
if not kind then return 0 end
local d = renderFields(kind, KEYS[1])
if not d then return 0 end
redis.call('HSET', KEYS[1], '_doc', d)
return 1
