-- Shared by every script (prepended at load time): an entity's JSON document.
-- Entity hashes store each field's JSON encoding (strings with quotes, numbers, arrays, objects); the
-- whole document, built from them by concatenation in a fixed key order (no decode/encode of user
-- data), is stored beside the hash as the string `<entity key>:doc`. commit.lua rebuilds it in the same
-- atomic step as every change of the hash, and deletes it with the hash (contract 00 "Lists": reads
-- don't render), so a get is one GET and a page one MGET. Data written before documents existed has no
-- document: it is rendered from the fields on read, and gets one on its next change (or on
-- `maestro backup restore`, which builds them).
-- A session's document leaves out its two long lists (`<key>:events`, `<key>:timeline`, one JSON item
-- per entry, in the same hash slot): they are read in pages, or appended when a whole session is needed.
local FIELDS = {
  project = {'id','name','workingDir','description','metadata','createdAt','updatedAt','version'},
  task = {'id','projectId','parentId','title','description','status','sessionStatus','priority','createdAt',
          'updatedAt','startedAt','completedAt','initialPrompt','sessionIds','skillIds','agentIds','dependencies',
          'blockedBy','dependents','claimedBy','model','metadata','version'},
  session = {'id','projectId','taskIds','name','agentId','env','strategy','status','startedAt',
             'completedAt','hostname','platform','metadata','archivedAt'},
  template = {'id','name','role','content','isDefault','createdAt','updatedAt','version'},
}

-- Fields kept out of a stored document because every append changes them (a session's `lastActivity`
-- and `version`): added to the document when it is read, from the hash (one HMGET), so an append
-- does not rebuild the document.
local LIVE = { session = {'lastActivity','version'} }

-- The document of `kind` built from the stored fields (HMGET of the document's fields only: never the
-- old `_doc`). false when the hash does not exist.
local function renderFields(kind, key)
  local names = FIELDS[kind]
  local values = redis.call('HMGET', key, unpack(names))
  local parts = {}
  local any = false
  for i, f in ipairs(names) do
    local v = values[i]
    if v then
      any = true
      parts[#parts + 1] = '"' .. f .. '":' .. v
    end
  end
  if not any then return false end
  return '{' .. table.concat(parts, ',') .. '}'
end

-- The key of an entity's stored document.
local function docKey(key)
  return key .. ':doc'
end

-- `doc` with `tail` (',"a":…') inserted before its closing brace.
local function withTail(doc, tail)
  return string.sub(doc, 1, -2) .. tail .. '}'
end

-- The stored document (or one rendered from the fields, for data written before documents existed)
-- with its live fields.
local function storedDoc(kind, key)
  local d = redis.call('GET', docKey(key)) or renderFields(kind, key)
  if not d then return false end
  local live = LIVE[kind]
  if not live then return d end
  local values = redis.call('HMGET', key, unpack(live))
  local parts = {}
  for i, f in ipairs(live) do
    if values[i] then parts[#parts + 1] = ',"' .. f .. '":' .. values[i] end
  end
  return withTail(d, table.concat(parts))
end

-- Renders `key` as `kind`:
--   project | task | template | session-doc : the stored document (a session without its lists);
--   session-head : a session's document plus `eventCount` and `timelineCount` (what session:updated
--                  carries: bounded whatever the length of its lists);
--   session      : the whole session, lists included: only where they are short (a session just
--                  created or spawned); long sessions are assembled in pages by the caller;
--   doc          : the `doc` field of a queue or manifest hash.
local function render(kind, key)
  if kind == 'doc' then
    return redis.call('HGET', key, 'doc')
  end
  if kind == 'session-doc' then return storedDoc('session', key) end
  if kind == 'session-head' then
    local d = storedDoc('session', key)
    if not d then return false end
    return withTail(d, ',"eventCount":' .. redis.call('LLEN', key .. ':events') .. ',"timelineCount":' .. redis.call('LLEN', key .. ':timeline'))
  end
  if kind == 'session' then
    local d = storedDoc('session', key)
    if not d then return false end
    local events = redis.call('LRANGE', key .. ':events', 0, -1)
    local timeline = redis.call('LRANGE', key .. ':timeline', 0, -1)
    return withTail(d, ',"events":[' .. table.concat(events, ',') .. '],"timeline":[' .. table.concat(timeline, ',') .. ']')
  end
  return storedDoc(kind, key)
end
