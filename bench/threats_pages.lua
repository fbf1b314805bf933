-- wrk script: Threats pages at random depths and filters (every request a cache miss
-- until the same page comes round again).
--   wrk -t2 -c100 -d20s --latency -s bench/threats_pages.lua http://127.0.0.1:18081/
local filters = {"", "&level=CRITICAL", "&level=MEDIUM", "&level=HIGH", "&anomalies=false",
                 "&level=LEGITIMATE_BROWSER&anomalies=false"}
request = function()
  local offset = math.random(0, 2000) * 50
  local filter = filters[math.random(1, #filters)]
  return wrk.format("GET", "/api/threats?limit=50&offset=" .. offset .. filter)
end
