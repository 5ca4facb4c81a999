-- page: one page of a lexicographic index (members '<15-digit createdAt>:<id>', score 0).
-- KEYS[1] index key. ARGV: [1] kind, [2] entity key prefix (entity key = prefix .. id),
-- [3] cursor member ('' = from the start; exclusive), [4] limit, [5] mode ('json' | 'members'),
-- [6] filter field ('' = none), [7] filter op ('eq' | 'ne'), [8] filter value (raw stored JSON text),
-- [9] scan budget (max index entries read when filtering).
-- Returns { total, next, item1, … } where total = ZCARD (or -1 when a filter applies), next = the
-- cursor member to continue from ('' at the end), items = JSON texts (mode json) or members.
-- Entities missing behind an index entry (a crash between two cross-slot steps) are skipped.
local kind, prefix, cursor = ARGV[1], ARGV[2], ARGV[3]
local limit = tonumber(ARGV[4])
local mode, ffield, fop, fval = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local budget = tonumber(ARGV[9])
local total = -1
if ffield == '' then total = redis.call('ZCARD', KEYS[1]) end
local items = {}
local from = '-'
if cursor ~= '' then from = '(' .. cursor end
local scanned = 0
local last = ''
local more = true
while #items < limit and more do
  local batch = limit - #items + 1
  if ffield ~= '' then batch = math.max(batch, 50) end
  local members = redis.call('ZRANGE', KEYS[1], from, '+', 'BYLEX', 'LIMIT', 0, batch)
  if #members < batch then more = false end
  for _, m in ipairs(members) do
    if #items >= limit then more = true break end
    last = m
    scanned = scanned + 1
    local id = string.sub(m, 17)
    local key = prefix .. id
    local keep = true
    if ffield ~= '' then
      local v = redis.call('HGET', key, ffield)
      if fop == 'eq' then keep = (v == fval) else keep = (v ~= false and v ~= fval) end
    end
    if keep then
      if mode == 'json' then
        local j = render(kind, key)
        if j then items[#items + 1] = j end
      elseif redis.call('EXISTS', key) == 1 then
        items[#items + 1] = m
      end
    end
  end
  from = '(' .. last
  if ffield ~= '' and scanned >= budget then break end
end
local next = ''
if more then
  local peek = redis.call('ZRANGE', KEYS[1], '(' .. last, '+', 'BYLEX', 'LIMIT', 0, 1)
  if #peek > 0 and last ~= '' then next = last end
end
local out = { total, next }
for _, x in ipairs(items) do out[#out + 1] = x end
return out
