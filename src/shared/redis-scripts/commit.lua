-- commit: applies one atomic change to one project's keys and appends its events (outbox).
-- KEYS: every key the change touches (all in one hash slot); KEYS[1] is the project's event stream,
-- KEYS[2] its change counter (INCR'd once per applied commit), KEYS[3] its key registry (the set of
-- the slot's key names: every key a commit writes is added while it exists and removed once it does
-- not, so a backup lists a project's keys in one step; see backup.ts).
-- ARGV[1]: JSON { ops = [...], events = [...], render = [...], now = "ms" (a string), projectId = "…",
--                 channel = "…", maxlen = n, docs = [[k, kind], …] (the entity keys among KEYS),
--                 outcome = { k, f, h, ttl }? }
-- outcome (a request with an Idempotency-Key; contract 00 "Concurrency and retries"): KEYS[k] is the
-- key's record in this slot (hash: h = the request's hash, c<n> = the result of the request's n-th
-- commit, field f). When f is there already, the commit is not applied again: its stored result is
-- returned with 'replayed <n>' in place of n; a record of another request fails 'MAESTRO_IDEMPOTENCY'.
-- Otherwise the result is stored under f in this same step (TTL ttl s), so a retry finds it whatever
-- happened to the replica that made the commit.
-- ops (k = 1-based index into KEYS):
--   {op='check', k, version}  fail 'MAESTRO_VERSION <k> <current>' unless HGET version == version
--   {op='exists', k} / {op='absent', k}  fail 'MAESTRO_GONE <k>' / 'MAESTRO_EXISTS <k>'
--   {op='empty', k}           fail 'MAESTRO_NOTEMPTY <k>' unless the sorted set is empty
--   any write op with ie=true is skipped when its key does not exist
--   {op='fieldIs', k, f, v}   fail 'MAESTRO_VERSION <k> <current>' unless HGET f == v (raw text; v null:
--                             the field is absent)
--   {op='hset', k, f={field=jsonText}, bump=true?}  bump: HINCRBY version 1 first
--   {op='hdel', k, f=[names]}
--   {op='hsetnull', k, f, v}  set only when the field is absent or JSON null
--   {op='aadd'|'arem', k, f, v}  add (deduplicated) / remove a string in a JSON-array field
--   {op='zadd'|'zrem', k, m}  lexicographic index (score 0)   {op='zadds', k, s, m}  ZADD with score s
--   {op='rpush', k, v=[jsonText…]}  {op='del', k}  {op='pexpire', k, ms}
--   {op='acyclic', k, id, from=[ids], p, max}  (a precondition; contract 08 "Dependencies") fail
--       'MAESTRO_CYCLE <k> <id> <a> … <id>' when task `id` is reachable from any of `from` through the
--       stored `dependencies` of the tasks under key prefix p (so an edge id → from[i] would close a
--       cycle); 'MAESTRO_GRAPH <k>' when more than `max` tasks would have to be visited to tell
--   {op='blockIf', k, d, v}   add string v to hash k's JSON-array `blockedBy` unless hash d's status
--       is "completed" (skipped when k is missing)
--   {op='ready', k, x, id, old?}  after the writes: task hash k (id `id`) is in the ready index x
--       (member from its priority and createdAt, keys.ts readyMember; `old` a member it had before its
--       priority changed) iff it exists, its status is "todo", `blockedBy` is empty and `claimedBy` is
--       null
-- events: [{type, data=jsonText} | {type, render={kind, k}, pre?, post?} | {type, stamp={k, l, name},
--   pre, post}] → XADD KEYS[1] (trimmed to ~maxlen every 64th commit), PUBLISH. With pre/post the data is pre .. rendered
--   entity .. post; a stamp is '<the i-th value pushed to list l>,"version":<hash k's version>,
--   "lastActivity":<now>,"<name>":<list l's length>' (so an appended entry is sent once, not twice).
-- render: [{kind, k}] rendered after the writes and returned (kinds of render-lib.lua's `render`).
-- Every entity hash changed gets its document (`<key>:doc`) rebuilt after the writes, before events
-- and renders; a deleted one loses it.
-- Returns: { n, id1…idn, render1… } (a missing entity renders as nil).
local req = cjson.decode(ARGV[1])
local ops = req.ops

local outcome = req.outcome
if outcome then
  local stored = redis.call('HMGET', KEYS[outcome.k], 'h', outcome.f)
  if stored[1] and stored[1] ~= outcome.h then return redis.error_reply('MAESTRO_IDEMPOTENCY') end
  if stored[2] then
    local result = cjson.decode(stored[2])
    result[1] = 'replayed ' .. result[1]
    return result
  end
end

-- No commit is ever half-applied (security issue 11, item 14): a write to a key of another type would
-- fail mid-script after earlier writes were made, so every key is checked for the type its ops need
-- before anything is written ('MAESTRO_TYPE <k>'). One TYPE per distinct key.
local NEEDS = { check = 'hash', fieldIs = 'hash', hset = 'hash', hdel = 'hash', hsetnull = 'hash', aadd = 'hash',
  arem = 'hash', zadd = 'zset', zadds = 'zset', zrem = 'zset', empty = 'zset', rpush = 'list', blockIf = 'hash', ready = 'hash' }
local typed = {}
for _, o in ipairs(ops) do
  local need = NEEDS[o.op]
  if need and not typed[o.k] then
    typed[o.k] = true
    local t = redis.call('TYPE', KEYS[o.k])['ok']
    if t ~= 'none' and t ~= need then return redis.error_reply('MAESTRO_TYPE ' .. o.k) end
  end
end

for _, o in ipairs(ops) do
  local key = KEYS[o.k]
  if o.op == 'check' then
    local cur = redis.call('HGET', key, 'version')
    if not cur then return redis.error_reply('MAESTRO_GONE ' .. o.k) end
    if tonumber(cur) ~= tonumber(o.version) then
      return redis.error_reply('MAESTRO_VERSION ' .. o.k .. ' ' .. cur)
    end
  elseif o.op == 'fieldIs' then
    local cur = redis.call('HGET', key, o.f)
    -- v null: the field must be absent
    local want = o.v
    if want == cjson.null then want = false end
    if cur ~= want then
      local ver = redis.call('HGET', key, 'version') or '0'
      return redis.error_reply('MAESTRO_VERSION ' .. o.k .. ' ' .. ver)
    end
  elseif o.op == 'exists' then
    if redis.call('EXISTS', key) == 0 then return redis.error_reply('MAESTRO_GONE ' .. o.k) end
  elseif o.op == 'absent' then
    if redis.call('EXISTS', key) == 1 then return redis.error_reply('MAESTRO_EXISTS ' .. o.k) end
  elseif o.op == 'empty' then
    if redis.call('ZCARD', key) > 0 then return redis.error_reply('MAESTRO_NOTEMPTY ' .. o.k) end
  elseif o.op == 'acyclic' then
    -- breadth first over the stored dependencies, remembering how each task was reached
    local seen, queue, head = {}, {}, 1
    for _, f in ipairs(o.from) do
      if f == o.id then return redis.error_reply('MAESTRO_CYCLE ' .. o.k .. ' ' .. o.id .. ' ' .. o.id) end
      if not seen[f] then seen[f] = '' ; queue[#queue + 1] = f end
    end
    while head <= #queue do
      if head > o.max then return redis.error_reply('MAESTRO_GRAPH ' .. o.k) end
      local at = queue[head]
      head = head + 1
      local raw = redis.call('HGET', o.p .. at, 'dependencies')
      if raw and raw ~= '[]' and raw ~= 'null' then
        for _, nxt in ipairs(cjson.decode(raw)) do
          if nxt == o.id then
            local path = { at }
            local back = seen[at]
            while back and back ~= '' do path[#path + 1] = back ; back = seen[back] end
            local text = o.id
            for i = #path, 1, -1 do text = text .. ' ' .. path[i] end
            return redis.error_reply('MAESTRO_CYCLE ' .. o.k .. ' ' .. text .. ' ' .. o.id)
          end
          if seen[nxt] == nil then seen[nxt] = at ; queue[#queue + 1] = nxt end
        end
      end
    end
  end
end

local function jsonArray(key, f)
  local raw = redis.call('HGET', key, f)
  if not raw or raw == '[]' or raw == 'null' then return {} end
  return cjson.decode(raw)
end

local function encodeArray(t)
  if #t == 0 then return '[]' end
  return cjson.encode(t)
end

-- The ready order's priority ranks (keys.ts readyMember), by stored JSON text.
local READY_RANK = { ['"high"'] = '1', ['"medium"'] = '2', ['"low"'] = '3' }

local rev = redis.call('INCR', KEYS[2])
-- For the registry: touched[k] = 'made' when the last write surely left the key in place, 'check' when
-- a write may have removed it (DEL, ZREM, HDEL, or a write with nothing to write); EXISTS only for those.
local MAKES = { hset = true, hsetnull = true, aadd = true, arem = true, zadd = true, zadds = true, rpush = true }
local touched = {}
-- What writes answered, for the stamps of small append events: a hash's new version, a list's length.
local versions, lengths, pushed = {}, {}, {}
for _, o in ipairs(ops) do
  local key = KEYS[o.k]
  local op = o.op
  if o.ie and redis.call('EXISTS', key) == 0 then
    op = 'skip'
  end
  if o.k > 3 and op ~= 'skip' and op ~= 'pexpire' and op ~= 'check' and op ~= 'fieldIs' and op ~= 'exists' and op ~= 'absent' and op ~= 'empty' then
    local empty = (op == 'hset' and next(o.f) == nil) or (op == 'rpush' and #o.v == 0)
    touched[o.k] = (MAKES[op] and not empty) and 'made' or 'check'
  end
  if op == 'hset' then
    if o.bump then versions[o.k] = redis.call('HINCRBY', key, 'version', 1) end
    local args = {}
    for f, v in pairs(o.f) do args[#args + 1] = f; args[#args + 1] = v end
    if #args > 0 then redis.call('HSET', key, unpack(args)) end
  elseif op == 'hdel' then
    if #o.f > 0 then redis.call('HDEL', key, unpack(o.f)) end
  elseif op == 'hsetnull' then
    local cur = redis.call('HGET', key, o.f)
    if (not cur) or cur == 'null' then redis.call('HSET', key, o.f, o.v) end
  elseif op == 'aadd' then
    local t = jsonArray(key, o.f)
    local found = false
    for _, x in ipairs(t) do if x == o.v then found = true break end end
    if not found then t[#t + 1] = o.v end
    redis.call('HSET', key, o.f, encodeArray(t))
  elseif op == 'arem' then
    local t = jsonArray(key, o.f)
    local out = {}
    for _, x in ipairs(t) do if x ~= o.v then out[#out + 1] = x end end
    redis.call('HSET', key, o.f, encodeArray(out))
  elseif op == 'zadd' then
    redis.call('ZADD', key, 0, o.m)
  elseif op == 'zadds' then
    redis.call('ZADD', key, o.s, o.m)
  elseif op == 'zrem' then
    redis.call('ZREM', key, o.m)
  elseif op == 'rpush' then
    if #o.v > 0 then
      lengths[o.k] = redis.call('RPUSH', key, unpack(o.v))
      pushed[o.k] = o.v
    end
  elseif op == 'del' then
    -- UNLINK: a removed session's lists may hold 100k entries; their memory is freed off the main thread
    redis.call('UNLINK', key)
  elseif op == 'pexpire' then
    redis.call('PEXPIRE', key, o.ms)
  elseif op == 'blockIf' then
    if redis.call('EXISTS', key) == 1 and redis.call('HGET', KEYS[o.d], 'status') ~= '"completed"' then
      local t = jsonArray(key, 'blockedBy')
      local found = false
      for _, x in ipairs(t) do if x == o.v then found = true break end end
      if not found then t[#t + 1] = o.v end
      redis.call('HSET', key, 'blockedBy', encodeArray(t))
    end
  elseif op == 'ready' then
    local x = KEYS[o.x]
    if o.old then redis.call('ZREM', x, o.old) end
    local f = redis.call('HMGET', key, 'status', 'blockedBy', 'claimedBy', 'priority', 'createdAt')
    if f[5] then
      -- keys.ts readyMember: <rank><createdAt, 14 digits>:<id>
      local rank = READY_RANK[f[4] or '"medium"'] or '4'
      local member = rank .. string.rep('0', 14 - #f[5]) .. f[5] .. ':' .. o.id
      local free = f[1] == '"todo"' and (not f[2] or f[2] == '[]') and (not f[3] or f[3] == 'null')
      if free then redis.call('ZADD', x, 0, member) else redis.call('ZREM', x, member) end
    end
    touched[o.x] = 'check'
  end
end

-- Documents (render-lib.lua): every entity hash this commit changed gets its document (`<key>:doc`)
-- rebuilt from its fields, in this same step, so reads never render (contract 00 "Lists"); a deleted
-- entity's document goes with it. Both are kept in the slot's key registry like any key.
local HASH_WRITES = { hset = true, hdel = true, hsetnull = true, aadd = true, arem = true, blockIf = true }
-- req.docs: { [k] = kind } for the entity keys among KEYS (the Commit builder names them: keys.ts
-- builds every entity key, so TypeScript knows; no pattern matching here).
local kinds = {}
for _, d in ipairs(req.docs or {}) do kinds[d[1]] = d[2] end
local redoc, undoc = {}, {}
-- a write of only live fields (render-lib.lua LIVE: an append's lastActivity and version) leaves the
-- stored document as it is
local function onlyLive(o)
  local live = LIVE[kinds[o.k]]
  if not live or o.op ~= 'hset' then return false end
  for f in pairs(o.f) do
    local isLive = false
    for _, l in ipairs(live) do if l == f then isLive = true end end
    if not isLive then return false end
  end
  return true
end
for _, o in ipairs(ops) do
  if kinds[o.k] then
    if HASH_WRITES[o.op] and not onlyLive(o) then redoc[o.k] = true elseif o.op == 'del' then undoc[o.k] = true end
  end
end
local docsMade, docsGone = {}, {}
for k in pairs(undoc) do
  if not redoc[k] or redis.call('EXISTS', KEYS[k]) == 0 then
    redis.call('UNLINK', docKey(KEYS[k]))
    docsGone[#docsGone + 1] = docKey(KEYS[k])
    redoc[k] = nil
  end
end
for k in pairs(redoc) do
  local d = renderFields(kinds[k], KEYS[k])
  if d then
    redis.call('SET', docKey(KEYS[k]), d)
    docsMade[#docsMade + 1] = docKey(KEYS[k])
  end
end

local present, gone = { KEYS[2] }, {}
if req.events and #req.events > 0 then present[#present + 1] = KEYS[1] end
for k, state in pairs(touched) do
  if state == 'made' or redis.call('EXISTS', KEYS[k]) == 1 then present[#present + 1] = KEYS[k] else gone[#gone + 1] = KEYS[k] end
end
for _, d in ipairs(docsMade) do present[#present + 1] = d end
for _, d in ipairs(docsGone) do gone[#gone + 1] = d end
redis.call('SADD', KEYS[3], unpack(present))
if #gone > 0 then redis.call('SREM', KEYS[3], unpack(gone)) end

local out = { 0 }
local pidJson = cjson.encode(req.projectId)
-- `now` and `maxlen` come as strings: no number formatting per use (it showed in the cost of XADD)
local now = req.now
for _, e in ipairs(req.events or {}) do
  local data = e.data
  if e.render then data = render(e.render.kind, KEYS[e.render.k]) or 'null' end
  if e.stamp then
    -- a small append event: the version and length the writes answered (no reads of the session)
    local st = e.stamp
    local v = versions[st.k] or redis.call('HGET', KEYS[st.k], 'version') or '0'
    local n = lengths[st.l] or redis.call('LLEN', KEYS[st.l])
    local entry = (pushed[st.l] and pushed[st.l][st.i]) or 'null'
    data = entry .. ',"version":' .. v .. ',"lastActivity":' .. now .. ',"' .. st.name .. '":' .. n
  end
  if e.pre then data = e.pre .. data .. e.post end
  local id = redis.call('XADD', KEYS[1], '*', 'type', e.type, 'data', data, 'ts', now)
  redis.call('PUBLISH', req.channel,
    '{"id":"' .. id .. '","projectId":' .. pidJson .. ',"type":"' .. e.type .. '","timestamp":' .. now ..
    ',"data":' .. data .. '}')
  out[#out + 1] = id
  out[1] = out[1] + 1
end
-- The stream is trimmed to about `maxlen` entries every 64th commit of the slot, not at every XADD
-- (the check cost a few µs per append): it holds at most ~64 × (events per commit) more for a moment.
if #(req.events or {}) > 0 and rev % 64 == 0 then redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', req.maxlen) end
for _, r in ipairs(req.render or {}) do
  out[#out + 1] = render(r.kind, KEYS[r.k])
end
if outcome then
  -- not in the slot's key registry: a record is transient (it expires), not part of a backup
  redis.call('HSET', KEYS[outcome.k], 'h', outcome.h, outcome.f, cjson.encode(out))
  redis.call('EXPIRE', KEYS[outcome.k], outcome.ttl)
end
return out
