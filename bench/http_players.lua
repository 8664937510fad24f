-- Requests from many logged-in players for wrk (bench/bench_http.py), never one shared
-- cookie: every request carries the session and CSRF cookies of a player read from a
-- file written by the benchmark (one line per player: "name session_key csrf_secret";
-- the name, as the header shows it, may contain spaces).
--
--   wrk -t2 -c32 -d10s --latency -s bench/http_players.lua URL -- key=value ...
--
-- Keys: mode (page | storm), players (the file), first and count (the slice of its
-- lines to use), threads (wrk's -t), session_cookie, csrf_cookie, get (path), expect
-- (text every GET must show, "{name}" being the player's name), and for storm: post
-- (path), wrong_status and right_status (the status of each POST: 302 or 200),
-- location (what a 302's Location must end with), wrong and right (urlencoded answers),
-- wrong_shows and right_shows (what the page shows after each: the wrong POST's own
-- page when it answers 200, else the GET after it), wrap (1: start over when the slice
-- is used up; 0: fail).
--
-- page:  each request is the next player's GET, round robin over the slice.
-- storm: each player, once: GET, POST wrong (the day page again, 200), GET, POST right,
--        GET (the redirect). A player's next request is sent only after the previous
--        one was answered (the server echoes X-Bench-Player), with the messages cookie
--        a redirect set, as a browser would.
--
-- response() checks every answer against what the sequence expects; done() prints one
-- "BENCH …" line with the count of finished sequences and of unexpected answers, so
-- the benchmark fails instead of reporting figures of something else.

local cfg = {}
local players = {}
local by_id = {}
local threads = {}
local created = 0

errors = 0
sequences = 0
first_error = ""

function setup(thread)
  thread:set("tid", created)
  created = created + 1
  table.insert(threads, thread)
end

local function fail(message)
  errors = errors + 1
  if first_error == "" then
    first_error = message
  end
end

local function fill(template, player)
  return (template:gsub("{name}", player.name))
end

function init(args)
  for _, arg in ipairs(args) do
    local key, value = arg:match("^([%w_]+)=(.*)$")
    if key == nil then
      error("http_players.lua: arguments are key=value, not " .. arg)
    end
    cfg[key] = value
  end
  local first, count = tonumber(cfg.first), tonumber(cfg.count)
  local stride = tonumber(cfg.threads)
  local index = 0
  for line in io.lines(cfg.players) do
    local offset = index - first
    if offset >= 0 and offset < count and offset % stride == tid then
      local name, session, csrf = line:match("^(.+) (%S+) (%S+)$")
      local player = {
        id = tostring(index),
        name = name,
        csrf = csrf,
        cookie = cfg.session_cookie .. "=" .. session .. "; " .. cfg.csrf_cookie .. "=" .. csrf,
        step = 0,
        messages = nil,
      }
      table.insert(players, player)
      by_id[player.id] = player
    end
    index = index + 1
  end
  if #players == 0 then
    error("http_players.lua: no players in the slice for thread " .. tid)
  end
end

-- page ------------------------------------------------------------------------------

local turn = 0

local function page_request()
  turn = turn % #players + 1
  local player = players[turn]
  return wrk.format("GET", cfg.get, { Cookie = player.cookie, ["X-Bench-Player"] = player.id })
end

-- storm -----------------------------------------------------------------------------

local ready, ready_head, ready_tail = {}, 1, 0
local fresh = 0

local function next_player()
  if ready_head <= ready_tail then
    local player = ready[ready_head]
    ready[ready_head] = nil
    ready_head = ready_head + 1
    return player
  end
  for _ = 1, #players do
    fresh = fresh + 1
    if fresh > #players then
      if cfg.wrap ~= "1" then
        fail("ran out of fresh players: the slice is too small for this run")
        wrk.thread:stop()
      end
      fresh = 1
    end
    local player = players[fresh]
    if player.step == 0 then -- not in the middle of its sequence
      player.step, player.messages = 1, nil
      return player
    end
  end
  error("http_players.lua: every player of the slice is in flight")
end

local function storm_request()
  local player = next_player()
  local headers = { ["X-Bench-Player"] = player.id }
  local cookie = player.cookie
  if player.messages ~= nil then
    cookie = cookie .. "; messages=" .. player.messages
  end
  headers.Cookie = cookie
  if player.step == 2 or player.step == 4 then
    local answer = player.step == 2 and cfg.wrong or cfg.right
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    local body = "csrfmiddlewaretoken=" .. player.csrf .. "&answer=" .. answer
    return wrk.format("POST", cfg.post, headers, body)
  end
  return wrk.format("GET", cfg.get, headers)
end

local function storm_response(status, headers, body)
  local player = by_id[headers["X-Bench-Player"] or ""]
  if player == nil or player.step == 0 then
    fail("an answer for no player in flight (status " .. status .. ")")
    return
  end
  local step = player.step
  if step == 2 or step == 4 then
    local expected = tonumber(step == 2 and cfg.wrong_status or cfg.right_status)
    if status ~= expected then
      fail("POST of step " .. step .. " answered " .. status .. ", not " .. expected)
    elseif expected == 302 then
      local location = headers["Location"] or ""
      if location:sub(-#cfg.location) ~= cfg.location then
        fail("POST of step " .. step .. " redirected to " .. location)
      end
      local set_cookie = headers["Set-Cookie"] or ""
      player.messages = set_cookie:match("messages=([^;]*)")
    elseif step == 2 and cfg.wrong_shows ~= nil and not body:find(cfg.wrong_shows, 1, true) then
      fail("POST of step 2 does not show " .. cfg.wrong_shows)
    end
  else
    local shows = nil
    if step == 3 and tonumber(cfg.wrong_status) == 302 then
      shows = cfg.wrong_shows
    elseif step == 5 then
      shows = cfg.right_shows
    end
    if status ~= 200 then
      fail("GET of step " .. step .. " answered " .. status)
    elseif not body:find(fill(cfg.expect, player), 1, true) then
      fail("GET of step " .. step .. " is not " .. player.name .. "'s page")
    elseif shows ~= nil and not body:find(shows, 1, true) then
      fail("GET of step " .. step .. " does not show " .. shows)
    end
    player.messages = nil
  end
  if step == 5 then
    sequences = sequences + 1
    player.step = 0
  else
    player.step = step + 1
    ready_tail = ready_tail + 1
    ready[ready_tail] = player
  end
end

-- wrk's entry points ------------------------------------------------------------------

function request()
  if cfg.mode == "storm" then
    return storm_request()
  end
  return page_request()
end

function response(status, headers, body)
  if cfg.mode == "storm" then
    return storm_response(status, headers, body)
  end
  local player = by_id[headers["X-Bench-Player"] or ""]
  if status ~= 200 then
    fail("GET answered " .. status)
  elseif player == nil then
    fail("an answer for no player of this thread")
  elseif not body:find(fill(cfg.expect, player), 1, true) then
    fail("GET is not " .. player.name .. "'s page")
  end
end

function done(summary, latency, requests)
  local total_errors, total_sequences, message = 0, 0, ""
  for _, thread in ipairs(threads) do
    total_errors = total_errors + thread:get("errors")
    total_sequences = total_sequences + thread:get("sequences")
    if message == "" then
      message = thread:get("first_error")
    end
  end
  io.write(string.format(
    "BENCH sequences=%d errors=%d duration_us=%d first_error=%s\n",
    total_sequences, total_errors, summary.duration, message
  ))
end
