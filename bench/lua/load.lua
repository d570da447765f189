-- wrk script for every HTTP load of `make bench` (bench/http_load.py runs it).
--
-- wrk -s load.lua URL -- DATAFILE MODE WINDOW_S PACE_MS NTHREADS [PATH]
--   MODE vote:      POST /api/v1/polls/{poll}/votes (or PATH, with {poll} replaced: the
--                   reference app's vote), a distinct (poll, voter) pair each
--   MODE vote-multiple, vote-ranked: the same, with a multiple ballot of two options
--                   ({"option_ids": [...]}) or a ranked one of three ({"ranking": [...]})
--   MODE noop-vote: POST /api/v1/bench/noop-vote, same tokens and bodies
--   MODE get:       GET PATH (results or the no-op GET), anonymous
--   MODE post:      POST PATH with the JSON body in BODYFILE (a GraphQL query), anonymous
--
-- wrk -s load.lua URL -- - post WINDOW_S PACE_MS NTHREADS PATH BODYFILE
--
-- Why a window inside wrk's duration: when wrk's -d runs out it drops the requests in
-- flight, yet the server still commits those votes, and "201s == rows" would not hold.
-- So each thread sends requests for WINDOW_S seconds only (delay() parks its connections
-- afterwards), the requests in flight finish during the drain that follows, and every
-- response is counted. Rates are computed over each thread's own first-request to
-- last-response span, measured with CLOCK_MONOTONIC through LuaJIT's ffi.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC: comparable across threads
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local function read_data(path)
  local tokens, polls = {}, {}
  if path == "-" then return tokens, polls end
  for line in io.lines(path) do
    local kind, rest = line:match("^(%a) (.*)$")
    if kind == "T" then
      table.insert(tokens, rest)
    elseif kind == "P" then
      local ids = {}
      for id in rest:gmatch("%d+") do table.insert(ids, id) end
      table.insert(polls, { id = table.remove(ids, 1), options = ids })
    end
  end
  return tokens, polls
end

function init(args)
  mode, window, pace = args[2], tonumber(args[3]), tonumber(args[4])
  local nthreads = tonumber(args[5])
  get_path = args[6]
  if mode == "post" then
    local file = assert(io.open(args[7], "rb"))
    post_body = file:read("*a")
    file:close()
  end
  local tokens
  tokens, polls = read_data(args[1])
  -- Each thread gets its own slice of voters, so no two threads ever send the same
  -- (poll, voter) pair; within a thread the walk below never repeats one either.
  mine = {}
  for i = tid + 1, #tokens, nthreads do table.insert(mine, tokens[i]) end
  -- Less one: the format-check call to request() uses up a pair on the first thread.
  capacity = (mode == "get" or mode == "post") and math.huge or #mine * math.max(#polls, 1) - 1
  k, issued, responses, exhausted = 0, 0, 0, 0
  statuses = {}
  first, last = 0, 0
end

function delay()
  local t = now()
  if first == 0 then
    first = t
    deadline = t + window
  end
  if t >= deadline then return 3600000 end -- park: the run is over for this thread
  if issued >= capacity then
    exhausted = 1
    return 3600000
  end
  -- Counted here, not in request(): wrk calls request() once more on the first thread
  -- to check its format, and that one is never sent.
  issued = issued + 1
  return pace
end

local json_headers = { ["Content-Type"] = "application/json" }

local post_headers = { ["Content-Type"] = "application/json" }

function request()
  if mode == "get" then return wrk.format("GET", get_path) end
  if mode == "post" then return wrk.format("POST", get_path, post_headers, post_body) end
  -- Voter-major walk: pair n is (voter n mod L, poll n div L); n < L * #polls.
  local n = k
  k = k + 1
  local L = #mine
  local poll = polls[math.floor(n / L) + 1]
  local option = poll.options[(n % #poll.options) + 1]
  json_headers["Authorization"] = "Bearer " .. mine[(n % L) + 1]
  local path = "/api/v1/bench/noop-vote"
  if mode ~= "noop-vote" then
    path = (get_path ~= "" and get_path or "/api/v1/polls/{poll}/votes"):gsub("{poll}", poll.id)
  end
  local body = '{"option_id":' .. option .. '}'
  if mode == "vote-multiple" or mode == "vote-ranked" then
    local picked = {}
    for j = 0, (mode == "vote-ranked" and 2 or 1) do
      table.insert(picked, poll.options[((n + j) % #poll.options) + 1])
    end
    local field = (mode == "vote-ranked") and "ranking" or "option_ids"
    body = '{"' .. field .. '":[' .. table.concat(picked, ",") .. ']}'
  end
  return wrk.format("POST", path, json_headers, body)
end

function response(status, headers, body)
  responses = responses + 1
  statuses[status] = (statuses[status] or 0) + 1
  last = now()
end

local function encode(value)
  if type(value) == "table" then
    local parts = {}
    for key, v in pairs(value) do
      table.insert(parts, string.format("%q:%s", tostring(key), encode(v)))
    end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return tostring(value)
end

function done(summary, latency, requests)
  local per_thread = {}
  for i, thread in ipairs(threads) do
    per_thread[i] = {
      statuses = thread:get("statuses"),
      issued = thread:get("issued"),
      responses = thread:get("responses"),
      first = thread:get("first"),
      last = thread:get("last"),
      exhausted = thread:get("exhausted"),
    }
  end
  -- The latency distribution as a grid of quantiles, fine in the tail, so that several
  -- runs can be merged into one distribution (bench/stats.py) and its p99 read from it.
  local grid = {}
  for p = 1, 89 do table.insert(grid, p) end
  for p = 900, 989 do table.insert(grid, p / 10) end
  for p = 9900, 9999 do table.insert(grid, p / 100) end
  local quantiles = {}
  for i, p in ipairs(grid) do quantiles[i] = "[" .. p .. "," .. latency:percentile(p) .. "]" end
  local result = {
    threads = per_thread,
    latency_us = {
      p50 = latency:percentile(50),
      p90 = latency:percentile(90),
      p99 = latency:percentile(99),
      max = latency.max,
      mean = latency.mean,
      min = latency.min,
      quantiles = "[" .. table.concat(quantiles, ",") .. "]",
    },
    completed = summary.requests,
    errors = summary.errors,
  }
  io.write("BENCH-JSON " .. encode(result) .. "\n")
end
