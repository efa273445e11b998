-- krakenpy Lua prelude: runs once per runtime, with the full standard library, before any user code.
-- It builds the sandboxed globals every request environment inherits (the KrakenD API objects come
-- from api.lua, the bounded pattern functions from strlib.lua and pattern.lua), the instruction
-- budget, and the coroutine runner Python drives. User code never sees these chunks' locals: B (the
-- Python bindings), H (API object -> Python handle), the library tables behind the read-only views.
local B, H, NIL, open_libs, period, pattern_src, strlib_src, api_src, c_max = ...

local type, select, error, pairs, next, tostring = type, select, error, pairs, next, tostring
local rawset, setmetatable, getmetatable = rawset, setmetatable, getmetatable
local co_create, co_resume, co_status, co_yield = coroutine.create, coroutine.resume, coroutine.status, coroutine.yield
local sethook, gethook, getinfo, rawmeta = debug.sethook, debug.gethook, debug.getinfo, debug.getmetatable
local tpack, tunpack, concat = table.pack, table.unpack, table.concat
local real_load = load
local str_find, str_match, str_gsub = string.find, string.match, string.gsub
local floor, tointeger, min = math.floor, math.tointeger, math.min

-- lupa's bridge must not be reachable, not even by open-libs code through package.loaded
python = nil
package.loaded.python = nil
-- the string metatable is hidden; its __index becomes the sandbox's own string table (below), so
-- ("").x reaches neither the real library nor string.dump
local STRING_MT = getmetatable("")
STRING_MT.__metatable = false

-- A library table scripts see is an empty read-only view: every request shares the table behind it,
-- so no way of reaching that table may exist in a script. Reads go through __index; pairs() walks
-- it with an iterator that keeps the table in its closure (returning `next, lib` gave it away).
local PROTECTED = setmetatable({}, { __mode = "k" })
local function readonly(lib, name)
  local function walk(_, k) return next(lib, k) end
  local view = setmetatable({}, {
    __index = lib,
    __newindex = function(_, k) error("cannot modify " .. name .. "." .. tostring(k) .. " (protected by the sandbox)", 2) end,
    __pairs = function(t) return walk, t, nil end,
    __len = function() return #lib end,
    __metatable = false,
    __name = name,
  })
  PROTECTED[view] = true
  return view
end
local function copy(t, skip)
  local c = {}
  for k, v in pairs(t) do if not (skip and skip[k]) then c[k] = v end end
  return c
end

-- a memory error ends the run: a script must not catch it and retry (every failed allocation costs an
-- emergency full GC, so a pcall loop at the cap would burn its whole instruction budget that way)
local MEMERR = "not enough memory"
-- the position of the innermost script frame from `level` up, as error() would prefix it (a method
-- called in a tail call, `return r:headers(k)`, has no frame of its own in the script)
local function where(co, level)
  for l = level, level + 250 do -- the Lua matcher nests up to 200 deep
    local info
    if co then info = getinfo(co, l, "Sl") else info = getinfo(l, "Sl") end
    if not info then break end
    if info.currentline > 0 and info.source:sub(1, 1) == "=" then -- scripts; krakenpy's chunks are "@..."
      return info.short_src .. ":" .. info.currentline .. ": "
    end
  end
  return ""
end
-- an accessor's error, raised at the script's line; one with an HTTP status (a request value the
-- client sent that cannot be forwarded: 400) is a table that carries it
local STATUS = setmetatable({}, { __mode = "k" })
local STATUS_MT = { __tostring = function(e) return e[1] end, __metatable = false }
local function fail(msg, status)
  if msg == MEMERR then error(MEMERR, 0) end -- never catchable, as everywhere else
  msg = where(nil, 3) .. msg -- 1: fail, 2: the method, 3: its caller
  if not status then error(msg, 0) end
  local e = setmetatable({ msg, status }, STATUS_MT)
  STATUS[e] = true
  error(e, 0)
end
local function typename(v)
  local mt = type(v) == "table" and rawmeta(v)
  return mt and rawget(mt, "__name") or type(v)
end

-- budget ------------------------------------------------------------------------------------------------
-- A run's instruction budget and deadline are checked by a count hook every `period` VM instructions.
-- C functions that can take long on little input (the pattern functions, string.rep, table.concat,
-- table.sort) charge their work as instructions first; a charge checks both limits every `period`.
-- A loop of instructions that copy big strings (`..`) triggers collections: the collector's sentinel
-- has the next instruction check the deadline.
local BUDGET, TIME = "script exceeded its instruction budget", "script exceeded its time limit"
local function over_budget() error(where(nil, 2) .. BUDGET, 0) end
local function over_time() error(where(nil, 2) .. TIME, 0) end
local CUR = false -- the worker whose run is executing
-- the reason a run must stop, if any; from then on every instruction of the run fails, so a pcall
-- loop cannot outlive it
local function limit_reached(w)
  local budget = w.used >= w.limit
  if budget or (w.deadline and B.now() > w.deadline) then
    -- a direct run (no coroutine, see start) cannot loop: its error ends it
    if w.co then sethook(w.co, budget and over_budget or over_time, "", 1) end
    return budget and BUDGET or TIME
  end
end
-- Charges of the running run not yet added to its count (`n`), and what one C pattern call may cost
-- right now (`room`: at most c_max, and an eighth of the budget left). strlib.lua reads and writes
-- them inline: a function call per pattern call costs more than the rest of the check.
local ACC = { n = 0, room = c_max }
local function bind(w) -- the run w executes from now on
  local room = (w.limit - w.used) // 8
  CUR, ACC.n, ACC.room = w, 0, room < c_max and room or c_max
end
-- pending charges into the count, then the limits (called every `period` charged units)
local function settle()
  local w, n = CUR, ACC.n
  ACC.n = 0
  if not w then return end
  w.used = w.used + n
  ACC.room = min(c_max, (w.limit - w.used) // 8)
  local reason = limit_reached(w)
  if reason then error(where(nil, 2) .. reason, 0) end
end
local function charge(n)
  local pending = ACC.n + n
  ACC.n = pending
  if pending >= period then settle() end
end
-- re-armed at every collection cycle; no Python call in a finalizer: it only makes the run's next
-- instruction go through its hook
local SENTINEL = {}
SENTINEL.__gc = function()
  local w = CUR
  if w and w.deadline and w.co then sethook(w.co, w.probe, "", 1) end
  setmetatable({}, SENTINEL)
end
setmetatable({}, SENTINEL)

-- the environment every request inherits (read-only; a request's own globals live in its env)
local G = {}
for _, name in ipairs({ "assert", "error", "ipairs", "next", "pairs", "pcall", "select", "tonumber", "tostring",
  "type", "xpcall", "rawequal", "rawget", "rawlen" }) do
  G[name] = _G[name]
end
G._VERSION = _VERSION
local lua_pcall, lua_xpcall = pcall, xpcall
local function rethrow_memory(ok, ...)
  if not ok and (...) == MEMERR then error(MEMERR, 0) end
  return ok, ...
end
G.pcall = function(f, ...) return rethrow_memory(lua_pcall(f, ...)) end
G.xpcall = function(f, handler, ...)
  return rethrow_memory(lua_xpcall(f, function(e)
    if e == MEMERR then return e end
    return handler(e)
  end, ...))
end
G.rawset = function(t, k, v)
  if PROTECTED[t] then error("cannot modify a protected table", 2) end
  return rawset(t, k, v)
end
G.getmetatable = function(v) if type(v) == "table" then return getmetatable(v) end end
-- a finalizer runs whenever the collector gets to it: in another request, or outside any run where
-- no budget applies (`__gc = function() while true do end end` would hang the worker)
G.setmetatable = function(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("setmetatable: __gc metamethods are not allowed in the sandbox", 2)
  end
  return setmetatable(t, mt)
end
G.unpack = tunpack -- Lua 5.1 name KrakenD (gopher-lua) scripts use
G.print = function(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  B.print(concat(parts, "\t"))
end
local tablelib = copy(table)
tablelib.getn = function(t) return #t end -- Lua 5.1
local t_concat, t_sort, s_rep, log = table.concat, table.sort, string.rep, math.log
-- charged about what they cost (an instruction is ~3 ns): 16 per element and one per 32 bytes copied
-- for concat; 8 per comparison for sort (its comparator, if any, is counted as it runs)
tablelib.concat = function(t, ...)
  local out = t_concat(t, ...)
  charge(16 * #t + #out // 32)
  return out
end
tablelib.sort = function(t, ...)
  if type(t) == "table" then
    local n = #t
    if n > 1 then charge(floor(8 * n * log(n, 2))) end
  end
  return t_sort(t, ...)
end
G.table = tablelib
local pattern = real_load(pattern_src, "@krakenpy/lua/pattern.lua", "t")()
local strlib = real_load(strlib_src, "@krakenpy/lua/strlib.lua", "t")(pattern, charge, ACC, settle, period, fail, typename, c_max)
local function stringlib(dump)
  local lib = copy(string, not dump and { dump = true } or nil)
  lib.find, lib.match, lib.gmatch, lib.gsub = strlib.find, strlib.match, strlib.gmatch, strlib.gsub
  lib.rep = function(s, n, sep)
    local times = type(s) == "string" and tointeger(n)
    -- one instruction per copy (C copies the string once per repetition) and per 32 bytes
    if times and times > 0 then charge(times + times * (#s + (type(sep) == "string" and #sep or 0)) // 32) end
    return s_rep(s, n, sep)
  end
  return lib
end
G.string = stringlib(false)
G.math = copy(math)
G.utf8 = copy(utf8)
G.os = { time = os.time, clock = os.clock, date = os.date, difftime = os.difftime }

local HTTP = {} -- yield marker: a script asks Python to perform an http_response.new call
local current_env -- the env of the coroutine being resumed (default env of open-libs load)
-- the record of the request whose run executes (see the runner below), read by api.lua's accessors
local RUN = { rec = false }

if open_libs then
  -- KrakenD's allow_open_libs: everything, as trusted code (budgets can be lifted through debug)
  G.string = stringlib(true)
  G.os, G.io, G.debug, G.package = copy(os), copy(io), copy(debug), package
  G.require, G.dofile, G.loadfile, G.collectgarbage = require, dofile, loadfile, collectgarbage
  -- text only: precompiled bytecode can corrupt the VM
  G.load = function(chunk, name, _, env) return real_load(chunk, name, "t", env or current_env) end
  G.loadstring = G.load
  local function relay(co, ok, ...)
    -- an http_response.new inside a user coroutine is passed outward to the runner and back
    if ok and (...) == HTTP and co_status(co) == "suspended" then
      return relay(co, co_resume(co, co_yield(...)))
    end
    return ok, ...
  end
  local colib = copy(coroutine)
  colib.create = function(f)
    local co = co_create(f)
    local hook, mask, count = gethook()
    if hook then sethook(co, hook, mask, count) end -- the run's budget follows into user coroutines
    return co
  end
  colib.resume = function(co, ...) return relay(co, co_resume(co, ...)) end
  colib.wrap = function(f)
    local co = colib.create(f)
    return function(...)
      local r = tpack(colib.resume(co, ...))
      if not r[1] then error(r[2], 2) end
      return tunpack(r, 2, r.n)
    end
  end
  G.coroutine = colib
end

-- API objects and helpers (api.lua)
local api = real_load(api_src, "@krakenpy/lua/api.lua", "t")(B, H, NIL, G, PROTECTED, fail, typename, charge, HTTP,
  RUN)
local CUSTOM, EXIT = api.CUSTOM, api.EXIT

STRING_MT.__index = G.string -- string methods: the sandbox's table (no dump unless open libs)
for _, name in ipairs({ "string", "table", "math", "utf8", "os", "io", "debug", "coroutine", "luaTable", "luaList",
  "luaNil", "http_response", "json", "base64" }) do
  if G[name] then G[name] = readonly(G[name], name) end
end
-- the request/response/ctx globals: one read-only table each, shared by every request; load() returns
-- the running request's object
local REQUEST = readonly({ load = api.load_request }, "request")
local RESPONSE = readonly({ load = api.load_response }, "response")
local CTX = readonly({ load = api.load_ctx, exit = G.exit }, "ctx")

-- runner ---------------------------------------------------------------------------------------------------
-- A run executes on a worker coroutine, so http_response.new can yield to Python and the budget hook
-- counts the script's instructions only. A worker whose run ends normally waits in a small pool for the
-- next run (any script, any request: a run's state lives in its env, never in the worker); one that
-- failed, or is still suspended inside a script, is never reused.
local DONE = {} -- yield marker: the worker finished a run and waits for the next one
-- stripped of debug info: like the coroutine main function a script used to be, the frame that calls
-- the script adds no "prelude:N:" position to an error(msg, 2) raised by the script's top level
local worker_body = real_load(string.dump(function(yield, done)
  local fn, env = yield(done)
  while true do
    fn(env)
    fn, env = nil, nil -- an idle worker keeps no request alive
    fn, env = yield(done)
  end
end, true), "=?", "b")
local POOL, POOL_MAX, pooled = {}, 16, 0

local function new_worker()
  local w = { co = co_create(worker_body), used = 0, limit = 0, every = 0, deadline = false }
  w.hook = function() -- runs in the worker (or a coroutine of its run): w is the running run
    w.used = w.used + w.every + ACC.n
    ACC.n = 0
    ACC.room = min(c_max, (w.limit - w.used) // 8)
    local reason = limit_reached(w)
    if reason then error(where(nil, 2) .. reason, 0) end
  end
  -- after a collection (SENTINEL): back to the count hook, and check the limits now
  w.probe = function()
    sethook(w.co, w.hook, "", w.every)
    local reason = limit_reached(w)
    if reason then error(where(nil, 2) .. reason, 0) end
  end
  co_resume(w.co, co_yield, DONE) -- up to the first yield: waits for a script
  return w
end

local function describe(co, err)
  if CUSTOM[err] then return "custom", err[1], err[2], err[3] end
  if STATUS[err] then return "error", err[1], err[2] end
  if EXIT[err] then return "exit", err[1] end
  if type(err) == "string" then return "error", err end
  -- an error raised by Python or a non-string error value: locate the innermost script frame
  if type(err) == "table" then err = "(error object is a table value)" end
  return "error", where(co, 0) .. tostring(err)
end

-- records of requests whose pre ran and whose post has not yet (Runtime.forget drops one whose post
-- never comes)
local KEPT = {}
-- A request's record: what its runs share, never visible to a script (an array: cheaper than fields)
--   [1] env  [2] request/ctx handle  [3] its object (made by load())  [4] response handle
--   [5] its object  [6] data handle  [7] its luaTable object
-- what Python gets back: one value when the run is over (pre: the request's handle when its record is
-- kept for post, else true), several
-- otherwise: "http", resume, args... | "custom", msg, status, content type | "exit", answer | "error", msg
local function step(w, rec, keep, ok, first, ...)
  w.used = w.used + ACC.n -- the run stopped (ended, failed or waits)
  CUR, ACC.n, ACC.room, RUN.rec = false, 0, c_max, false
  if ok and first == DONE then
    if pooled < POOL_MAX then
      pooled = pooled + 1
      POOL[pooled] = w
    end
    if keep then -- post runs in this record: it is kept here, under the request's handle, until then
      local h = rec[2]
      KEPT[h] = rec
      return h
    end
    return true
  end
  local co = w.co
  if not ok then return describe(co, first) end
  if first == HTTP then
    return "http", function(...)
      current_env, RUN.rec = rec[1], rec
      bind(w)
      return step(w, rec, keep, co_resume(co, ...))
    end, ...
  end
  return "error", "attempt to yield from outside a coroutine"
end

-- A pooled worker keeps its count hook: re-arming it (debug.sethook) is a good part of a short run's
-- cost. The count carries over from the worker's last run, so the first firing may charge up to one
-- period the run did not use: below 100 periods of budget (1 %), or with open libs (a script may have
-- changed the hook), the hook is set for each run.
local EXACT = 100 * period
-- `every` (the hook period) and `room` (bind()'s for a fresh run) are the runner's, computed once
-- A straight-line script (`every` 0, see krakenpy/lua/scan.py) runs directly, in a protected call on
-- the calling thread: it cannot loop, so it ends within far fewer instructions than its budget and
-- needs no count hook, and it cannot yield (http_response is not among the names it may use), so it
-- needs no coroutine either: no resume, no worker pool (P3 pair: 73.0 k -> 65.8 k machine
-- instructions without the hook, -> ~61.7 k without the coroutine). Charges still check the budget
-- and the deadline (DIRECT stands for the worker); an error gets its script position in `locate`,
-- before the stack unwinds (describe() finds it in a failed worker's stack).
local DIRECT = { used = 0, limit = 0, every = 0, deadline = false }
local function locate(e)
  if type(e) == "string" or CUSTOM[e] or STATUS[e] or EXIT[e] then return e end
  if type(e) == "table" then e = "(error object is a table value)" end
  return where(nil, 2) .. tostring(e)
end
local function direct(rec, fn, budget, room, deadline, keep)
  local w, env = DIRECT, rec[1]
  w.used, w.limit, w.deadline = 0, budget, deadline or false
  current_env, RUN.rec, CUR, ACC.n, ACC.room = env, rec, w, 0, room -- bind(w), inline
  local ok, err = lua_xpcall(fn, locate, env)
  CUR, ACC.n, ACC.room, RUN.rec = false, 0, c_max, false
  if not ok then return describe(nil, err) end
  if keep then
    local h = rec[2]
    KEPT[h] = rec
    return h
  end
  return true
end
local function start(rec, fn, budget, every, room, deadline, keep)
  if every == 0 then return direct(rec, fn, budget, room, deadline, keep) end
  local w = POOL[pooled]
  if w then
    POOL[pooled] = nil
    pooled = pooled - 1
  else
    w = new_worker()
  end
  w.used, w.limit, w.deadline = 0, budget, deadline or false
  if every ~= w.every or budget < EXACT or open_libs then
    w.every = every
    sethook(w.co, w.hook, "", every)
  end
  local env = rec[1]
  current_env, RUN.rec, CUR, ACC.n, ACC.room = env, rec, w, 0, room -- bind(w), inline
  return step(w, rec, keep, co_resume(w.co, fn, env))
end

-- an env is built with its slots in one go: adding them one by one would rehash it at every key
local ENV_MT = { __index = G, __metatable = false }
local function proxy_env()
  local env = setmetatable({ _G = false, request = REQUEST, response = false }, ENV_MT)
  env._G = env
  env.response = nil -- keeps its slot for post
  return env
end

local R = {}
-- A runner per script phase, bound once (Python passes only what changes per request: every argument
-- that crosses costs): router level (modifier/lua-endpoint, the ctx object), proxy/backend pre (the
-- request object) and post (the response object and its data table, in the pre run's record when pre
-- ran). The deadline argument is only passed when the script has a timeout.
function R.runner(kind, fn, budget, keep, hooked)
  local every, room = hooked and (budget < period and budget or period) or 0, min(c_max, budget // 8)
  if kind == "router" then
    return function(handle, deadline)
      local env = setmetatable({ _G = false, ctx = CTX }, ENV_MT)
      env._G = env
      local rec = { env, handle, false, false, false, false, false }
      if every == 0 then return direct(rec, fn, budget, room, deadline, false) end
      return start(rec, fn, budget, every, room, deadline, false)
    end
  end
  -- a direct run (see start) is started here, not through start(): one Lua call fewer per phase
  -- (P3 pair through the lua-proxy middleware: 67.8 k -> 67.1 k machine instructions)
  if kind == "pre" then
    return function(handle, deadline)
      local rec = { proxy_env(), handle, false, false, false, false, false }
      if every == 0 then return direct(rec, fn, budget, room, deadline, keep) end
      return start(rec, fn, budget, every, room, deadline, keep)
    end
  end
  return function(handle, resp, deadline) -- the data dict's handle is resp + 1 (Handles.ref_two)
    local rec = KEPT[handle]
    if rec then
      KEPT[handle] = nil
    else
      rec = { proxy_env(), handle, false, false, false, false, false }
    end
    rec[4], rec[6] = resp, resp + 1
    rec[1].response = RESPONSE
    if every == 0 then return direct(rec, fn, budget, room, deadline, false) end
    return start(rec, fn, budget, every, room, deadline, false)
  end
end
function R.forget(handle) KEPT[handle] = nil end
function R.kept() -- how many records wait for their post (tests)
  local n = 0
  for _ in pairs(KEPT) do n = n + 1 end
  return n
end
-- compile one chunk as function(_ENV, ...) so it can run against any request's env, without running
-- any of it. The source is first compiled alone: a chunk that compiles alone is one complete block,
-- and Lua parses a block the same way whatever token follows it (<eof> or the `end` added here), so
-- the wrapper cannot be closed early by the source (`end, (function() while true do end end)(),
-- function(_ENV, ...)` would otherwise run at compile time). Its top level only creates the closure;
-- it runs under a count hook all the same. The prefix shares the first line: line numbers match.
local function unclosed_at_last_line(src, err)
  -- Lua reports an unclosed block at <eof>: after trailing blank lines, point at the last line of code
  local where, line, rest = str_match(err, "^(.-):(%d+):(.*)$") -- Lua's own functions: trusted input
  if not (line and str_find(rest, "near <eof>", 1, true)) then return err end
  local i = #src
  while i > 0 and src:byte(i) <= 32 do i = i - 1 end
  local last = select(2, str_gsub(src:sub(1, i), "\n", "")) + 1
  return tonumber(line) > last and (where .. ":" .. last .. ":" .. rest) or err
end
local function top_level_ran() error("code outside the script body", 0) end
function R.compile(src, name)
  if src:sub(1, 1) == "#" then src = "--" .. src end -- shebang line
  local alone, err = real_load(src, "=" .. name, "t", {})
  if not alone then return nil, unclosed_at_last_line(src, err) end
  local wrapper = real_load("return function(_ENV, ...) " .. src .. "\nend", "=" .. name, "t", {})
  local co = co_create(wrapper)
  sethook(co, top_level_ran, "", 16)
  local ok, fn = co_resume(co)
  if not ok or type(fn) ~= "function" then return nil, name .. ":1: cannot compile: " .. tostring(fn) end
  return fn, false
end
function R.chain(...)
  local fns = tpack(...)
  if fns.n == 1 then return fns[1] end
  return function(env) for i = 1, fns.n do fns[i](env) end end
end
R.handle_of = api.handle_of
function R.global_names() -- what a script's global names resolve to (krakenpy/lua/scan.py)
  local names = { "_G", "request", "response", "ctx" }
  for k in pairs(G) do names[#names + 1] = k end
  return tunpack(names)
end
function R.is_table(v) return type(v) == "table" end
function R.new_table() return {} end
return R
