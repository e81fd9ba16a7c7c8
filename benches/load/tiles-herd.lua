-- Every wrk connection walks the same 2,000 composite tiles over Paris (z11-15), in the same order:
-- what a room of analysts and a wall display opening the same view ask for.
-- Usage: wrk -t2 -c64 -d10s -s benches/load/tiles-herd.lua http://127.0.0.1:8080 (benches/load/herd.sh runs it with checks)
local tiles = {}
math.randomseed(42)
for i = 1, 2000 do
  local z = math.random(11, 15)
  local n = 2 ^ z
  local x0 = math.floor((2.10 + 180) / 360 * n)
  local x1 = math.floor((2.60 + 180) / 360 * n)
  local function ty(lat) local r = math.rad(lat); return math.floor((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n) end
  local y0, y1 = ty(49.0), ty(48.7)
  tiles[i] = string.format("/tiles/entries,venues,perimeters,entries-h3/%d/%d/%d", z, math.random(x0, x1), math.random(y0, y1))
end
local i = 0
request = function() i = i % #tiles + 1; return wrk.format("GET", tiles[i], {["Accept-Encoding"]="gzip"}) end
