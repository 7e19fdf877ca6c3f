-- wrk script of the ttpgraph benchmark (bench/bench.py runs it; see BENCHMARKS.md).
--
-- Sends POST /graphql bodies and checks every response: status 200, a "data" member,
-- no "errors" member (a 200 with errors is a failure), and, when BENCH_EXPECT is set,
-- that plain substring (e.g. a non-empty list). Two modes, chosen by environment:
--   BENCH_BODIES=file           one JSON body per line; each thread rotates over them,
--                               starting at its own offset
--   BENCH_INSERT_TEMPLATE=file  one JSON body with @@P@@ markers, replaced on every
--                               request by "<BENCH_NONCE>-<thread>-<n>", so each
--                               insertTags request carries fresh source ids
--   BENCH_ACCEPT_ENCODING=gzip  asks for gzip answers, as browsers do; wrk cannot
--                               decompress, so each answer is checked for status 200,
--                               Content-Encoding gzip and at least BENCH_MIN_BYTES bytes
--                               (bench.py decompressed and checked every body first);
--                               answers the server sends plain (under 1 KiB) as above
-- At the end one line "BENCH_JSON {...}" carries the counts and latency percentiles.

local threads = {}
local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

local function read_file(path)
  local f = io.open(path, "rb")
  assert(f, "cannot open " .. path)
  local s = f:read("*a")
  f:close()
  return s
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  ok, gql_errors, no_data, bad_status, unexpected = 0, 0, 0, 0, 0
  first_failure = ""
  expect = os.getenv("BENCH_EXPECT")
  if expect == "" then expect = nil end
  nonce = os.getenv("BENCH_NONCE") or "0"
  encoding = os.getenv("BENCH_ACCEPT_ENCODING")
  if encoding == "" then encoding = nil end
  if encoding then
    wrk.headers["Accept-Encoding"] = encoding
    min_bytes = tonumber(os.getenv("BENCH_MIN_BYTES") or "0")
  end
  n = 0
  local template = os.getenv("BENCH_INSERT_TEMPLATE")
  if template and template ~= "" then
    parts = {}
    local s = read_file(template):gsub("%s+$", "")
    local start = 1
    while true do
      local i, j = s:find("@@P@@", start, true)
      if not i then break end
      table.insert(parts, s:sub(start, i - 1))
      start = j + 1
    end
    table.insert(parts, s:sub(start))
    assert(#parts > 1, "the insert template has no @@P@@ marker")
  else
    bodies = {}
    local path = os.getenv("BENCH_BODIES")
    assert(path, "BENCH_BODIES is not set")
    for line in io.lines(path) do
      if line ~= "" then table.insert(bodies, line) end
    end
    assert(#bodies > 0, "no bodies")
    idx = tid % #bodies
  end
end

function request()
  if parts then
    n = n + 1
    local prefix = nonce .. "-" .. tid .. "-" .. n
    local t = {}
    for i = 1, #parts - 1 do
      t[#t + 1] = parts[i]
      t[#t + 1] = prefix
    end
    t[#t + 1] = parts[#parts]
    return wrk.format(nil, nil, nil, table.concat(t))
  end
  idx = idx % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[idx])
end

local function failed(kind, status, body)
  if first_failure == "" then
    first_failure = kind .. " (HTTP " .. status .. "): " .. (body or ""):sub(1, 300)
  end
end

function response(status, headers, body)
  if status ~= 200 then
    bad_status = bad_status + 1
    failed("status", status, body)
  elseif encoding and (headers["content-encoding"] or headers["Content-Encoding"]) then
    -- A compressed answer (answers under 1 KiB come plain, and are checked as such).
    local ce = headers["content-encoding"] or headers["Content-Encoding"]
    if ce ~= encoding or #body < min_bytes then
      unexpected = unexpected + 1
      failed("not a " .. encoding .. " answer of " .. min_bytes .. "+ bytes (" .. ce .. ", " .. #body .. ")", status, "")
    else
      ok = ok + 1
    end
  elseif body:find('"errors"', 1, true) then
    gql_errors = gql_errors + 1
    failed("errors", status, body)
  elseif not body:find('"data"', 1, true) then
    no_data = no_data + 1
    failed("no data", status, body)
  elseif expect and not body:find(expect, 1, true) then
    unexpected = unexpected + 1
    failed("unexpected body", status, body)
  else
    ok = ok + 1
  end
end

local function json_string(s)
  s = s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' elseif c == "\\" then return "\\\\" end
    return string.format("\\u%04x", c:byte())
  end)
  return '"' .. s .. '"'
end

function done(summary, latency, requests)
  local c = { ok = 0, gql_errors = 0, no_data = 0, bad_status = 0, unexpected = 0 }
  local first = ""
  for _, t in ipairs(threads) do
    for k, _ in pairs(c) do c[k] = c[k] + (t:get(k) or 0) end
    local f = t:get("first_failure")
    if first == "" and f and f ~= "" then first = f end
  end
  local e = summary.errors
  local out = string.format(
    '{"requests":%d,"duration_us":%d,"ok":%d,"gql_errors":%d,"no_data":%d,"bad_status":%d,' ..
    '"unexpected":%d,"socket_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"first_failure":%s}',
    summary.requests, summary.duration, c.ok, c.gql_errors, c.no_data, c.bad_status,
    c.unexpected, e.connect + e.read + e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, json_string(first))
  io.write("BENCH_JSON " .. out .. "\n")
end
