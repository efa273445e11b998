-- krakenpy: string.find, match, gmatch and gsub whose time the instruction budget and the timeout bound.
--
-- A call runs in C (lstrlib.c, fast) when the worst-case step count of its pattern on its subject
-- (pattern.lua) is at most ACC.room (C_MAX, or less when the budget runs low), and that bound is
-- charged to the script (added to ACC.n, settled every PERIOD, inline: this is the hot path).
-- Otherwise it runs here: lstrlib.c's algorithm in Lua, which the count hook interrupts, with every
-- linear scan (the bytes a greedy item spans, the next byte that can start a match) done by a
-- one-class C find and charged by its length. Results and error messages are lstrlib.c's; errors
-- point at the script.
local pattern, charge, ACC, settle, PERIOD, fail, typename, C_MAX = ...
local compile, cost = pattern.compile, pattern.cost
local SINGLE, OPEN, POSITION, CLOSE, DOLLAR, BALANCE, FRONTIER = pattern.SINGLE, pattern.OPEN, pattern.POSITION,
  pattern.CLOSE, pattern.DOLLAR, pattern.BALANCE, pattern.FRONTIER
local STAR, PLUS, LAZY, OPTIONAL = pattern.STAR, pattern.PLUS, pattern.LAZY, pattern.OPTIONAL
local c_find, c_match, c_gmatch, c_gsub = string.find, string.match, string.gmatch, string.gsub
local byte, sub, format = string.byte, string.sub, string.format
local concat, unpack = table.concat, table.unpack
local type, tostring, tonumber, tointeger, pcall, error = type, tostring, tonumber, math.tointeger, pcall, error
local min, max, floor = math.min, math.max, math.floor

local MAXCCALLS = 201 -- lstrlib.c lets match() nest 200 deep
local CAP_UNFINISHED, CAP_POSITION = -1, -2

-- compiled patterns, by pattern string (gmatch has its own: a leading '^' is a plain character there)
local CACHE, GCACHE, cached = {}, {}, 0
local function compiled(p, gmatch)
  local ok, P = pcall(compile, p, gmatch)
  if not ok then fail(P) end
  if cached >= 1024 then CACHE, GCACHE, cached = {}, {}, 0 end -- patterns built from data
  cached = cached + 1
  if gmatch then GCACHE[p] = P else CACHE[p] = P end
  return P
end

-- the matcher: lstrlib.c match() over compiled items; ms is one call's state (a gsub replacement
-- function may run another match meanwhile)
local match
local function max_expand(ms, s, it, k)
  local e = it.any and ms.n + 1 or c_find(ms.src, it.miss, s) or ms.n + 1
  charge(e - s)
  for i = e, s, -1 do
    local res = match(ms, i, k + 1)
    if res then return res end
  end
  return nil
end
local function min_expand(ms, s, it, k)
  local src, n, set, lit = ms.src, ms.n, it.set, it.lit
  while true do
    local res = match(ms, s, k + 1)
    if res then return res end
    if s > n then return nil end
    local c = byte(src, s)
    if lit then
      if c ~= lit then return nil end
    elseif not set[c] then
      return nil
    end
    s = s + 1
  end
end
local function balance(ms, s, it)
  local src, n, x, y = ms.src, ms.n, it.x, it.y
  if s > n or byte(src, s) ~= x then return nil end
  local open, pos = 1, s + 1
  while true do
    local j = c_find(src, it.hit, pos)
    charge((j or n + 1) - pos)
    if not j then return nil end
    if byte(src, j) == y then
      open = open - 1
      if open == 0 then return j + 1 end
    else
      open = open + 1
    end
    pos = j + 1
  end
end
match = function(ms, s, k)
  local depth = ms.depth - 1
  if depth == 0 then fail("pattern too complex") end
  ms.depth = depth
  local items, src, n = ms.items, ms.src, ms.n
  local result
  while true do
    local it = items[k]
    if not it then
      result = s
      break
    end
    local kind = it.k
    if kind == SINGLE then
      local q, ok = it.q, false
      if s <= n then
        local lit = it.lit
        if lit then ok = byte(src, s) == lit else ok = it.set[byte(src, s)] end
      end
      if not ok then
        if q == STAR or q == LAZY or q == OPTIONAL then
          k = k + 1
        else
          break
        end
      elseif not q then
        s, k = s + 1, k + 1
      elseif q == OPTIONAL then
        result = match(ms, s + 1, k + 1)
        if result then break end
        k = k + 1
      else
        if q == PLUS then
          result = max_expand(ms, s + 1, it, k)
        elseif q == STAR then
          result = max_expand(ms, s, it, k)
        else
          result = min_expand(ms, s, it, k)
        end
        break
      end
    elseif kind == OPEN or kind == POSITION then
      local l = it.cap
      ms.cstart[l], ms.clen[l], ms.level = s, kind == POSITION and CAP_POSITION or CAP_UNFINISHED, l
      result = match(ms, s, k + 1)
      if not result then ms.level = l - 1 end
      break
    elseif kind == CLOSE then
      local l = it.cap
      ms.clen[l] = s - ms.cstart[l]
      result = match(ms, s, k + 1)
      if not result then ms.clen[l] = CAP_UNFINISHED end
      break
    elseif kind == DOLLAR then
      if s == n + 1 then result = s end
      break
    elseif kind == BALANCE then
      s = balance(ms, s, it)
      if not s then break end
      k = k + 1
    elseif kind == FRONTIER then
      local set = it.set
      if set[s > 1 and byte(src, s - 1) or 0] or not set[s <= n and byte(src, s) or 0] then break end
      k = k + 1
    else -- a back reference
      local l = it.cap
      local len, from = ms.clen[l], ms.cstart[l]
      if len < 0 or n - s + 1 < len then break end -- a position capture never matches text
      charge(len)
      if sub(src, s, s + len - 1) ~= sub(src, from, from + len - 1) then break end
      s, k = s + len, k + 1
    end
  end
  ms.depth = ms.depth + 1
  return result
end

local function state(src, P)
  return { src = src, n = #src, items = P.items, level = 0, depth = MAXCCALLS, cstart = {}, clen = {} }
end
-- lstrlib.c get_onecapture / push_captures
local function capture(ms, l, s, e)
  if l > ms.level then
    if l ~= 1 then fail(format("invalid capture index %%%d", l)) end
    return sub(ms.src, s, e - 1)
  end
  local len, from = ms.clen[l], ms.cstart[l]
  if len == CAP_POSITION then return from end
  return sub(ms.src, from, from + len - 1)
end
local function captures(ms, s, e, whole)
  local n = (ms.level == 0 and whole) and 1 or ms.level
  if n == 1 then return capture(ms, 1, s, e) end
  local out = {}
  for l = 1, n do out[l] = capture(ms, l, s, e) end
  return unpack(out, 1, n)
end
-- the next position from `at` where a match can start (the first item is mandatory), or nil
local function next_start(ms, P, at)
  local j = c_find(ms.src, P.skip, at)
  charge((j or ms.n + 1) - at)
  return j
end

local function lua_find(src, P, init, whole)
  local ms, skip, n = state(src, P), P.skip, #src
  local s1 = init
  while true do
    if skip then
      s1 = next_start(ms, P, s1)
      if not s1 then return nil end
    end
    ms.level, ms.depth = 0, MAXCCALLS
    local e = match(ms, s1, 1)
    if e then
      if whole then return captures(ms, s1, e, true) end
      return s1, e - 1, captures(ms, nil, nil, false)
    end
    s1 = s1 + 1
    if P.anchor or s1 > n + 1 then return nil end
  end
end

local function lua_gmatch(src, P, init)
  local ms, skip, n = state(src, P), P.skip, #src
  local at, last = init, nil
  return function()
    while at <= n + 1 do
      if skip then
        at = next_start(ms, P, at)
        if not at then
          at = n + 2
          return nil
        end
      end
      ms.level, ms.depth = 0, MAXCCALLS
      local e = match(ms, at, 1)
      if e and e ~= last then
        local start = at
        at, last = e, e
        return captures(ms, start, e, true)
      end
      at = at + 1
    end
    return nil
  end
end

-- lstrlib.c add_s: a replacement string with %0-%9 and %%
local function expand(ms, s, e, repl)
  local out, n, i = {}, 0, 1
  while true do
    local p = c_find(repl, "%", i, true)
    if not p then break end
    n = n + 1
    out[n] = sub(repl, i, p - 1)
    local c = byte(repl, p + 1)
    n = n + 1
    if c == 37 then
      out[n] = "%"
    elseif c == 48 then
      out[n] = sub(ms.src, s, e - 1)
    elseif c and c >= 49 and c <= 57 then
      out[n] = tostring(capture(ms, c - 48, s, e))
    else
      fail("invalid use of '%' in replacement string")
    end
    i = p + 2
  end
  n = n + 1
  out[n] = sub(repl, i)
  return concat(out, "", 1, n)
end
local function replacement(ms, s, e, repl, kind)
  local v
  if kind == "string" then
    return c_find(repl, "%", 1, true) and expand(ms, s, e, repl) or repl
  elseif kind == "function" then
    v = repl(captures(ms, s, e, true))
  else
    v = repl[capture(ms, 1, s, e)]
  end
  if not v then return sub(ms.src, s, e - 1) end -- nil or false: the match itself
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return tostring(v) end
  fail(format("invalid replacement value (a %s)", t))
end
local function lua_gsub(src, P, repl, kind, max_n)
  local ms, skip, n = state(src, P), P.skip, #src
  local at, last, count, copied = 1, nil, 0, 1
  local out, k = {}, 0
  while count < max_n do
    if skip then
      at = next_start(ms, P, at)
      if not at then break end
    end
    ms.level, ms.depth = 0, MAXCCALLS
    local e = match(ms, at, 1)
    if e and e ~= last then
      count = count + 1
      if copied < at then
        k = k + 1
        out[k] = sub(src, copied, at - 1)
      end
      k = k + 1
      out[k] = replacement(ms, at, e, repl, kind)
      at, last, copied = e, e, e
    elseif at <= n then
      at = at + 1
    else
      break
    end
    if P.anchor then break end
  end
  k = k + 1
  out[k] = sub(src, copied)
  return concat(out, "", 1, k), count
end

-- a plain find on a long subject: windows whose C search is at most C_MAX steps each
local function windowed_find(src, p, init)
  local n, l = #src, #p
  local width = max(floor(C_MAX / l), 1)
  local at = init
  while at <= n - l + 1 do
    local last = min(at + width - 1, n - l + 1)
    local window = sub(src, at, last + l - 1)
    charge(#window + (last - at + 1) * l)
    local a, b = c_find(window, p, 1, true)
    if a then return at + a - 1, at + b - 1 end
    at = last + 1
  end
  return nil
end

-- arguments, as lstrlib.c checks them
local function text(v, i, name)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return tostring(v) end
  fail(format("bad argument #%d to '%s' (string expected, got %s)", i, name, typename(v)))
end
local function integer(v, i, name)
  local x = tointeger(tonumber(v) or v)
  if x then return x end
  if tonumber(v) then fail(format("bad argument #%d to '%s' (number has no integer representation)", i, name)) end
  fail(format("bad argument #%d to '%s' (number expected, got %s)", i, name, typename(v)))
end
local function start(init, n, i, name) -- posrelatI
  if init == nil then return 1 end
  init = integer(init, i, name)
  if init > 0 then return init end
  if init == 0 or init < -n then return 1 end
  return n + init + 1
end

local S = {}
-- a cached pattern is a string: only a cache miss checks the argument (a C call saved per call)
local function compiled_arg(p, name)
  if type(p) ~= "string" then p = text(p, 2, name) end
  return CACHE[p] or compiled(p, false), p
end

function S.find(s, p, init, plain)
  if type(s) ~= "string" then s = text(s, 1, "find") end
  local n, i = #s, 1
  if init ~= nil and init ~= 1 then
    i = start(init, n, 3, "find")
    if i > n + 1 then return nil end
  end
  local m, P = n - i + 2, nil
  if plain then
    if type(p) ~= "string" then p = text(p, 2, "find") end
  else
    P = CACHE[p]
    if not P then P, p = compiled_arg(p, "find") end
    plain = P.plain
  end
  local bound
  if plain then -- lmemfind: at each position, up to #p bytes compared
    local l = #p
    bound = l > 1 and m * l or m
  else
    bound = P.slope and P.slope * m + P.base or cost(P, m, false)
  end
  if bound <= ACC.room then
    local pending = ACC.n + bound
    ACC.n = pending
    if pending >= PERIOD then settle() end
    return c_find(s, p, i, plain)
  end
  if plain then return windowed_find(s, p, i) end
  return lua_find(s, P, i, false)
end
function S.match(s, p, init)
  if type(s) ~= "string" then s = text(s, 1, "match") end
  local n, i = #s, 1
  if init ~= nil and init ~= 1 then
    i = start(init, n, 3, "match")
    if i > n + 1 then return nil end
  end
  local m, P = n - i + 2, CACHE[p]
  if not P then P, p = compiled_arg(p, "match") end
  local bound = P.slope and P.slope * m + P.base or cost(P, m, false)
  if bound <= ACC.room then
    local pending = ACC.n + bound
    ACC.n = pending
    if pending >= PERIOD then settle() end
    return c_match(s, p, i)
  end
  return lua_find(s, P, i, true)
end
function S.gmatch(s, p, init)
  if type(s) ~= "string" then s = text(s, 1, "gmatch") end
  if type(p) ~= "string" then p = text(p, 2, "gmatch") end
  local n = #s
  local i = init == nil and 1 or min(start(init, n, 3, "gmatch"), n + 1)
  local P = GCACHE[p] or compiled(p, true)
  -- all its steps together try each position at most twice, as one gsub does: charged at once
  local m = n - i + 2
  local bound = P.slope2 and P.slope2 * m or cost(P, m, true)
  if bound <= ACC.room then
    charge(bound)
    return c_gmatch(s, p, i)
  end
  return lua_gmatch(s, P, i)
end
function S.gsub(s, p, repl, max_n)
  if type(s) ~= "string" then s = text(s, 1, "gsub") end
  local P = CACHE[p]
  if not P then P, p = compiled_arg(p, "gsub") end
  local kind = type(repl)
  if kind == "number" then
    repl, kind = tostring(repl), "string"
  elseif kind ~= "string" and kind ~= "table" and kind ~= "function" then
    fail(format("bad argument #3 to 'gsub' (string/function/table expected, got %s)", typename(repl)))
  end
  local n = #s
  if max_n == nil then max_n = n + 1 else max_n = integer(max_n, 4, "gsub") end
  local bound = P.slope2 and P.slope2 * (n + 1) or cost(P, n + 1, true)
  if bound <= ACC.room then
    local pending = ACC.n + bound
    ACC.n = pending
    if pending >= PERIOD then settle() end
    return c_gsub(s, p, repl, max_n)
  end
  return lua_gsub(s, P, repl, kind, max_n)
end
-- for tests and bench/lua_patterns.py: the bound that decides where a call runs
function S.bound(name, s, p, plain)
  if name == "find" and (plain or compiled(p, false).plain) then return #p > 1 and (#s + 1) * #p or #s + 1 end
  return cost(compiled(p, name == "gmatch"), #s + 1, name == "gsub" or name == "gmatch")
end
-- for tests: the Lua matcher alone, whatever the cost
local function lua_search(s, p, init, whole)
  local i = start(init, #s, 3, "find")
  if i > #s + 1 then return nil end
  return lua_find(s, compiled(p, false), i, whole)
end
S.lua_find = function(s, p, init) return lua_search(s, p, init, false) end
S.lua_match = function(s, p, init) return lua_search(s, p, init, true) end
S.lua_gmatch = function(s, p) return lua_gmatch(s, compiled(p, true), 1) end
S.lua_gsub = function(s, p, repl, max_n)
  local P = compiled(p, false)
  return lua_gsub(s, P, type(repl) == "number" and tostring(repl) or repl,
    type(repl) == "number" and "string" or type(repl), max_n or #s + 1)
end
return S
