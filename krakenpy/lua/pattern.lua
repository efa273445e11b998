-- krakenpy: Lua patterns compiled once (per pattern string) into items, with a worst-case cost.
--
-- Lua's own matcher (C, lstrlib.c) backtracks: its time grows with the subject length to the power of
-- the pattern's nested quantifiers (`a*a*a*b` on 400 bytes: 13 s), and the count hook cannot stop a C
-- function. `cost(m)` bounds the steps the C matcher can take (one step: one character tested or one
-- position tried) on a subject of m - 1 bytes, so that strlib.lua can run a call in C only when that
-- bound is small and charge it to the script's budget, and otherwise run its own matcher (Lua code,
-- which the hook counts). The items are that matcher's program. Errors are raised for the whole
-- pattern up front, with lstrlib.c's messages (C raises some only when the match gets there).
local error, pairs, max = error, pairs, math.max
local byte, char, sub, find, format = string.byte, string.char, string.sub, string.find, string.format
local huge, floor = math.huge, math.floor
-- an integer far above any budget: the cost of a pattern that can take longer
local BIG = 1 << 62

local SINGLE, OPEN, POSITION, CLOSE, DOLLAR, BALANCE, FRONTIER, BACKREF = 1, 2, 3, 4, 5, 6, 7, 8
local STAR, PLUS, LAZY, OPTIONAL = 42, 43, 45, 63 -- '*', '+', '-', '?'
local ESC, LBRACKET, RBRACKET, CARET, DOT = 37, 91, 93, 94, 46
local MAXCAPTURES = 32
local CLASS_LETTERS = { a = true, c = true, d = true, g = true, l = true, p = true, s = true, u = true, w = true,
  x = true }

local M = { SINGLE = SINGLE, OPEN = OPEN, POSITION = POSITION, CLOSE = CLOSE, DOLLAR = DOLLAR, BALANCE = BALANCE,
  FRONTIER = FRONTIER, BACKREF = BACKREF, STAR = STAR, PLUS = PLUS, LAZY = LAZY, OPTIONAL = OPTIONAL }

-- a character class as a set of byte values, found by asking the C matcher about each byte once
local SETS, nsets = {}, 0
local ALL = {}
for c = 0, 255 do ALL[c] = true end
local function set_of(class)
  local set = SETS[class]
  if set then return set end
  set = {}
  local anchored = "^" .. class
  for c = 0, 255 do
    if find(char(c), anchored) then set[c] = true end
  end
  if nsets >= 512 then SETS, nsets = {}, 0 end -- patterns built from data: stay bounded
  SETS[class], nsets = set, nsets + 1
  return set
end

-- where the class starting at i ends (lstrlib.c classEnd)
local function class_end(p, i, plen)
  local c = byte(p, i)
  i = i + 1
  if c == ESC then
    if i > plen then error("malformed pattern (ends with '%')", 0) end
    return i + 1
  elseif c == LBRACKET then
    if byte(p, i) == CARET then i = i + 1 end
    repeat
      if i > plen then error("malformed pattern (missing ']')", 0) end
      local cc = byte(p, i)
      i = i + 1
      if cc == ESC and i <= plen then i = i + 1 end
    until byte(p, i) == RBRACKET
    return i + 1
  end
  return i
end

local function escaped(c)
  local ch = char(c)
  return find(ch, "^%w") and ch or "%" .. ch
end

-- one single-character item: its set, and C patterns of one class that find the next byte in the set
-- (`hit`) and the next byte outside it (`miss`); both scan linearly in C
local function single(p, i, e)
  local class = sub(p, i, e - 1)
  local c = byte(class)
  local item = { k = SINGLE }
  if c == DOT and #class == 1 then
    item.set, item.any = ALL, true
  elseif c == ESC then
    local letter = sub(class, 2, 2)
    if CLASS_LETTERS[letter:lower()] then
      item.set = set_of(class)
      item.hit = class
      item.miss = "%" .. (letter == letter:lower() and letter:upper() or letter:lower())
    else -- an escaped character: itself
      c = byte(class, 2)
      item.set, item.lit, item.hit, item.miss = { [c] = true }, c, escaped(c), "[^" .. escaped(c) .. "]"
    end
  elseif c == LBRACKET then
    item.set = set_of(class)
    item.hit = class
    item.miss = byte(class, 2) == CARET and "[" .. sub(class, 3) or "[^" .. sub(class, 2)
  else
    item.set, item.lit, item.hit, item.miss = { [c] = true }, c, escaped(c), "[^" .. escaped(c) .. "]"
  end
  return item
end

local function disjoint(a, b)
  for c in pairs(a) do if b[c] then return false end end
  return true
end

-- polynomials in m (the subject length + 1), coefficient of m^i at index i + 1
local MAXDEGREE = 12
local function padd(a, b)
  local r = {}
  for i = 1, max(#a, #b) do r[i] = (a[i] or 0) + (b[i] or 0) end
  return r
end
local function pscale(a, k)
  local r = {}
  for i = 1, #a do r[i] = a[i] * k end
  return r
end
local function pshift(a) -- a * m
  if #a >= MAXDEGREE then return { huge } end
  local r = { 0 }
  for i = 1, #a do r[i + 1] = a[i] end
  return r
end
local ONE, M1 = { 1 }, { 0, 1 }

-- The worst-case step count of lstrlib.c's match() from each item to the end, as a polynomial in m,
-- following its code: a greedy item scans up to m bytes, then tries the rest at up to m positions; a
-- lazy one tries the rest up to m times; '?' tries it twice. Tighter where the rest tells more:
-- `rest` always matches (`len == 0`) or matches iff at least `len` bytes remain (`.*` and `.+` before
-- `$`, say): a greedy item then tries it at most len + 1 times; the rest starts with a mandatory item
-- disjoint from the greedy one: every try but the last fails at its first byte.
local function analyse(items, n)
  local W, len, endok = {}, {}, {}
  W[n + 1], len[n + 1], endok[n + 1] = ONE, 0, true
  for k = n, 1, -1 do
    local it, rest, rlen = items[k], W[k + 1], len[k + 1]
    local kind, q = it.k, it.q
    if kind == OPEN or kind == CLOSE or kind == POSITION then
      W[k], len[k], endok[k] = padd(ONE, rest), rlen, endok[k + 1]
    elseif kind == DOLLAR then
      W[k], endok[k] = ONE, true
    elseif kind == FRONTIER then
      W[k] = padd(ONE, rest)
    elseif kind == BALANCE or kind == BACKREF then
      W[k] = padd(M1, rest)
    elseif not q then
      W[k] = padd(ONE, rest)
      if it.any and rlen then len[k] = rlen + 1 end
    elseif q == OPTIONAL then
      W[k] = padd(ONE, rlen == 0 and rest or pscale(rest, 2))
      endok[k], len[k] = endok[k + 1], rlen == 0 and 0 or nil
    else
      if q == STAR or q == LAZY then endok[k] = endok[k + 1] end
      if it.any and (endok[k + 1] or rlen) then -- '.' absorbs any surplus
        local l = endok[k + 1] and 0 or rlen
        len[k] = q == PLUS and l + 1 or l
      elseif rlen == 0 and q ~= PLUS then -- x+ still needs one x
        len[k] = 0
      end
      local j = k + 1 -- the next item that reads a byte (captures only mark positions)
      while items[j] and (items[j].k == OPEN or items[j].k == CLOSE or items[j].k == POSITION) do j = j + 1 end
      local nxt = items[j]
      if q == LAZY then
        W[k] = rlen == 0 and padd(ONE, rest) or padd(M1, pshift(rest))
      elseif rlen then
        W[k] = padd(M1, pscale(rest, rlen + 1))
      elseif nxt and nxt.k == SINGLE and (not nxt.q or nxt.q == PLUS) and disjoint(it.set, nxt.set) then
        W[k] = padd(pscale(M1, 2), rest)
      else
        W[k] = padd(M1, pshift(rest))
      end
    end
  end
  -- linear: every scan is followed by a rest that always matches, so what an item scans is what the
  -- match consumes; a whole gsub or gmatch then costs O(m) however many positions it tries
  local linear = true
  for k = 1, n do
    local it = items[k]
    if it.k == BALANCE or it.k == BACKREF or (it.q and len[k + 1] ~= 0) then linear = false end
  end
  return W[1], len[1] == 0, linear
end

-- compile(p, gmatch): the items of pattern p (in gmatch a leading '^' is a plain character, as in C)
local function compile(p, gmatch)
  local plen = #p
  local items, n = {}, 0
  local i, anchor = 1, false
  if not gmatch and byte(p, 1) == CARET then i, anchor = 2, true end
  local level, open, closed = 0, {}, {}
  while i <= plen do
    local c = byte(p, i)
    local item
    if c == 40 then -- '('
      if level >= MAXCAPTURES then error("too many captures", 0) end
      level = level + 1
      if byte(p, i + 1) == 41 then
        item, closed[level], i = { k = POSITION, cap = level }, true, i + 2
      else
        open[#open + 1] = level
        item, i = { k = OPEN, cap = level }, i + 1
      end
    elseif c == 41 then -- ')'
      local l = open[#open]
      if not l then error("invalid pattern capture", 0) end
      open[#open], closed[l] = nil, true
      item, i = { k = CLOSE, cap = l }, i + 1
    elseif c == 36 and i == plen then -- '$' at the end
      item, i = { k = DOLLAR }, i + 1
    elseif c == ESC and byte(p, i + 1) == 98 then -- %bxy
      if i + 3 > plen then error("malformed pattern (missing arguments to '%b')", 0) end
      local x, y = byte(p, i + 2), byte(p, i + 3)
      item, i = { k = BALANCE, x = x, y = y, hit = "[" .. escaped(x) .. escaped(y) .. "]" }, i + 4
    elseif c == ESC and byte(p, i + 1) == 102 then -- %f[set]
      i = i + 2
      if byte(p, i) ~= LBRACKET then error("missing '[' after '%f' in pattern", 0) end
      local e = class_end(p, i, plen)
      item, i = { k = FRONTIER, set = set_of(sub(p, i, e - 1)) }, e
    elseif c == ESC and (byte(p, i + 1) or 0) >= 48 and byte(p, i + 1) <= 57 then -- %0-%9
      local l = byte(p, i + 1) - 48
      if l < 1 or l > level or not closed[l] then error(format("invalid capture index %%%d", l), 0) end
      item, i = { k = BACKREF, cap = l }, i + 2
    else
      local e = class_end(p, i, plen)
      item = single(p, i, e)
      local q = byte(p, e)
      if q == STAR or q == PLUS or q == LAZY or q == OPTIONAL then
        item.q, e = q, e + 1
      end
      i = e
    end
    n = n + 1
    items[n] = item
  end
  if #open > 0 then error("unfinished capture", 0) end
  local W, always, linear = analyse(items, n)
  local first = items[1]
  return {
    -- no special character: string.find looks for the text itself (lstrlib.c nospecials)
    plain = not find(p, "[%^%$%*%+%?%.%(%)%[%]%%%-]"),
    items = items,
    n = n,
    anchor = anchor,
    W = W,
    always = always, -- matches at any position: an unanchored search stops at its first try
    linear = linear,
    -- cost() of a linear pattern, inline: slope * m + base for a search, slope2 * m for gsub/gmatch
    slope = linear and n + 3 or nil,
    base = linear and n + 2 or nil,
    slope2 = linear and 2 * n + 5 or nil,
    -- a mandatory first item: an unanchored search skips to the next byte that can start a match
    skip = not anchor and first and first.k == SINGLE and (not first.q or first.q == PLUS) and first.hit or nil,
  }
end

-- cost(P, m, every): worst-case steps on m - 1 bytes: one try if anchored, else a try at each position
-- until the first match (find, match, one gmatch step) or, with `every`, at each position (gsub);
-- after an empty match gsub and gmatch try the same position once more
local function cost(P, m, every)
  if P.linear then return every and P.slope2 * m or P.slope * m + P.base end
  if P.last_m == m and P.last_every == every then return P.last end -- the same length again
  -- in floats: a high-degree polynomial wraps integers past 2^63 into a small or negative bound (and
  -- the C matcher, which no hook stops, would run it); over BIG it is BIG, never run in C
  local W, w, x = P.W, 0.0, 1.0
  for i = 1, #W do
    w = w + W[i] * x
    x = x * m
  end
  if every then
    w = P.anchor and w or w * 2 * m
  elseif not P.anchor and not P.always then
    w = w * (m + 1)
  end
  w = w < BIG and floor(w) or BIG
  P.last_m, P.last_every, P.last = m, every, w
  return w
end

M.compile, M.cost, M.set_of = compile, cost, set_of
return M
