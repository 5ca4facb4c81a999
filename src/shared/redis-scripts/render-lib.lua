-- Shared by every script (prepended at load time): renders a stored entity as its JSON text.
-- Entity hashes store each field's JSON encoding (strings with quotes, numbers, arrays, objects), so
-- the document is built by concatenation in a fixed key order; no decode/encode of user data.
-- Session lists (events, timeline) live in `<key>:events` and `<key>:timeline`, one JSON item per entry,
-- in the same hash slot as the session hash.
local FIELDS = {
  project = {'id','name','workingDir','description','metadata','createdAt','updatedAt','version'},
  task = {'id','projectId','parentId','title','description','status','sessionStatus','priority','createdAt',
          'updatedAt','startedAt','completedAt','initialPrompt','sessionIds','skillIds','agentIds','dependencies',
          'model','metadata','version'},
  session = {'id','projectId','taskIds','name','agentId','env','strategy','status','startedAt','lastActivity',
             'completedAt','hostname','platform','events','timeline','metadata','archivedAt','version'},
  template = {'id','name','role','content','isDefault','createdAt','updatedAt','version'},
}
local LISTS = { session = { events = ':events', timeline = ':timeline' } }

local function render(kind, key)
  if kind == 'doc' then
    return redis.call('HGET', key, 'doc')
  end
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return false end
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  local parts = {}
  local lists = LISTS[kind]
  for _, f in ipairs(FIELDS[kind]) do
    if lists and lists[f] then
      local items = redis.call('LRANGE', key .. lists[f], 0, -1)
      parts[#parts + 1] = '"' .. f .. '":[' .. table.concat(items, ',') .. ']'
    elseif h[f] then
      parts[#parts + 1] = '"' .. f .. '":' .. h[f]
    end
  end
  return '{' .. table.concat(parts, ',') .. '}'
end
