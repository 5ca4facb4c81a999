-- render-many: ARGV[1] kind, ARGV[2] entity key prefix, ARGV[3…] ids (all in the prefix's hash slot).
-- KEYS[1] is any key of that slot (routing). Returns one JSON text (or nil) per id, in order.
local out = {}
for i = 3, #ARGV do
  out[#out + 1] = render(ARGV[1], ARGV[2] .. ARGV[i]) or false
end
return out
