-- Shared by every script (prepended at load time): an entity's JSON document.
-- Entity hashes store each field's JSON encoding (strings with quotes, numbers, arrays, objects) and,
-- in the field `_doc`, the whole document built from them by concatenation in a fixed key order (no
-- decode/encode of user data). commit.lua rebuilds `_doc` in the same atomic step as every change of
-- the hash (contract 00 "Lists": reads don't render), so a read is one HGET. Data written before
-- documents existed has no `_doc`: it is rendered from the fields on read, and gets one on its next
-- change (or `maestro backup restore`/`migrate`, which build them).
-- A session's document leaves out its two long lists (`<key>:events`, `<key>:timeline`, one JSON item
-- per entry, in the same hash slot): they are read in pages, or appended when a whole session is needed.
local FIELDS = {
  project = {'id','name','workingDir','description','metadata','createdAt','updatedAt','version'},
  task = {'id','projectId','parentId','title','description','status','sessionStatus','priority','createdAt',
          'updatedAt','startedAt','completedAt','initialPrompt','sessionIds','skillIds','agentIds','dependencies',
          'model','metadata','version'},
  session = {'id','projectId','taskIds','name','agentId','env','strategy','status','startedAt','lastActivity',
             'completedAt','hostname','platform','metadata','archivedAt','version'},
  template = {'id','name','role','content','isDefault','createdAt','updatedAt','version'},
}

-- The kind of entity a key holds, from its name (every entity key is built by keys.ts; ids never hold
-- ':' or braces): '<prefix>{<projectId>}:project', '…}:task:<id>', '…}:session:<id>',
-- '<prefix>{templates}:t:<id>'. nil for any other key (indexes, lists, queues, manifests).
local function kindOfKey(key)
  if string.find(key, '}:project$') then return 'project' end
  if string.find(key, '}:task:[^:{}]+$') then return 'task' end
  if string.find(key, '}:session:[^:{}]+$') then return 'session' end
  if string.find(key, '{templates}:t:[^:{}]+$') then return 'template' end
  return nil
end

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

-- The stored document, or one rendered from the fields (data written before documents existed).
local function storedDoc(kind, key)
  local d = redis.call('HGET', key, '_doc')
  if d then return d end
  return renderFields(kind, key)
end

-- `doc` with `tail` (',"a":…') inserted before its closing brace.
local function withTail(doc, tail)
  return string.sub(doc, 1, -2) .. tail .. '}'
end

-- Renders `key` as `kind`:
--   project | task | template | session-doc : the stored document (a session without its lists);
--   session-head : a session's document plus `eventCount` and `timelineCount` (what session:updated
--                  carries: bounded whatever the length of its lists);
--   session-stamp: NOT a document: `"version":…,"lastActivity":…,"eventCount":…,"timelineCount":…`,
--                  the fields a small append event carries (wrapped by commit.lua's pre/post);
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
  if kind == 'session-stamp' then
    -- not a document: the fields a small append event adds, to be wrapped by the caller
    local h = redis.call('HMGET', key, 'version', 'lastActivity')
    return '"version":' .. (h[1] or '0') .. ',"lastActivity":' .. (h[2] or 'null') .. ',"eventCount":' ..
      redis.call('LLEN', key .. ':events') .. ',"timelineCount":' .. redis.call('LLEN', key .. ':timeline')
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
