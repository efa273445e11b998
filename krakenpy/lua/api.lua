-- krakenpy: the KrakenD Lua API objects (luaTable, luaList, request, ctx, response, http_response) and
-- helpers (custom_error, exit, http_response.new, json, base64), added to the sandbox globals G.
-- An API object is an empty table whose Python handle sits in H; its methods call the Python
-- accessors of krakenpy/lua/api/<class>.py and raise their errors at the script's line.
local B, H, NIL, G, PROTECTED, fail, typename, charge, HTTP, RUN = ...
local type, select, error, pairs, tostring, tonumber = type, select, error, pairs, tostring, tonumber
local setmetatable, rawmeta, co_yield = setmetatable, debug.getmetatable, coroutine.yield
local str_find, floor = string.find, math.floor

local PLAIN, ERR, TABLE, LIST, NULLK, MULTI, CHARGED = 0, 9, 1, 2, 3, 4, 5
local TABLE_MT, LIST_MT = {}, {}
-- luaNil / json.null: one table every request shares, so read-only like the libraries
local NIL_MT = {
  __metatable = false,
  __name = "luaNil",
  __tostring = function() return "luaNil" end,
  __newindex = function() error("cannot modify luaNil (protected by the sandbox)", 2) end,
}
setmetatable(NIL, NIL_MT)
PROTECTED[NIL] = true
H[NIL] = B.NULL

local function make(mt, handle)
  local o = setmetatable({}, mt)
  H[o] = handle
  return o
end
local function lift(kind, v)
  if kind == TABLE then return make(TABLE_MT, v) end
  if kind == LIST then return make(LIST_MT, v) end
  if kind == NULLK then return NIL end
  return v
end
local function need(self, mt, what)
  if rawmeta(self) ~= mt then fail(what .. " expected") end
  return H[self]
end
-- The request, ctx and response objects are not in H: the record of the run (RUN.rec, see the runner
-- in prelude.lua) holds each one at index `at` and its handle at index `at - 1`. Comparing with the
-- record's own object costs less than a metatable check and a weak-table entry per object, and an
-- object of another request (kept by open-libs code) fails here, never reaching Python.
local function not_own(self, mt, what)
  if rawmeta(self) ~= mt then fail(what .. " expected") end
  fail("the object belongs to a request that has finished")
end
local function own(self, mt, what, at)
  local rec = RUN.rec
  if rec and rec[at] == self then return rec[at - 1] end
  not_own(self, mt, what)
end
local function class(name, mt, spec, at)
  local methods = {}
  for method, f in pairs(spec) do
    methods[method] = function(self, ...)
      local h
      if at then -- own(), inline: this wrapper runs under the count hook, every instruction counts
        local rec = RUN.rec
        if rec and rec[at] == self then h = rec[at - 1] else not_own(self, mt, name) end
      else
        h = need(self, mt, name)
      end
      local kind, v, extra = f(h, select("#", ...), ...)
      -- the common cases first: nothing (a setter, a missing key), a plain value
      if not kind then return nil end -- one value: tostring(t:get("missing")) works
      if kind == PLAIN then return v end
      if kind == ERR then fail(v, extra) end
      if kind == MULTI then return v, extra end
      -- work done in Python (converting a table, sorting keys) counts against the budget
      if kind == CHARGED then return charge(v) end
      if extra then charge(extra) end
      return lift(kind, v)
    end
  end
  mt.__index, mt.__metatable, mt.__name = methods, false, name
  mt.__tostring = function() return name end
  return mt
end

-- B.<class> maps each method name to its Python accessor (krakenpy/lua/api/<class>.py)
class("luaTable", TABLE_MT, B.luaTable)
class("luaList", LIST_MT, B.luaList)
-- record slots (prelude.lua): 3 the request or ctx object, 5 the response object
local REQ_MT = class("request", {}, B.request, 3)
local CTX_MT = class("ctx", {}, B.ctx, 3)
local RESP_MT = class("response", {}, B.response, 5)
-- data() needs no trip to Python: post is handed the data dict's handle along with the response's
RESP_MT.__index.data = function(self)
  own(self, RESP_MT, "response", 5)
  local rec = RUN.rec
  local d = rec[7]
  if not d then
    d = make(TABLE_MT, rec[6])
    rec[7] = d
  end
  return d
end
-- the classes whose objects are the record's, not H's
local RECORDED = { [REQ_MT] = true, [CTX_MT] = true, [RESP_MT] = true }
-- what Python's Store looks a Lua table up with: H's entry, or the class name of a request, ctx or
-- response object (Python only needs to know what such an object is: to refuse converting it, or to
-- name it in an error; the accessors reach its Python object through its record)
local function handle_of(t)
  local h = H[t]
  if h == nil then
    local mt = rawmeta(t)
    if RECORDED[mt] then return mt.__name end
  end
  return h
end
-- `request.load()`, `response.load()`, `ctx.load()`: the run's object, made on first use. The loader
-- tables are shared by every request (read-only, see prelude.lua); the object is the record's.
local function loader(mt, at)
  return function()
    local rec = RUN.rec
    local o = rec[at]
    if not o then
      o = setmetatable({}, mt)
      rec[at] = o
    end
    return o
  end
end
local HTTP_MT = class("http_response", {}, B.http_response)

G.luaTable = { new = function() return make(TABLE_MT, B.new_dict()) end }
G.luaList = { new = function() return make(LIST_MT, B.new_list()) end }
G.luaNil = { new = function() return NIL end }

local CUSTOM, EXIT = setmetatable({}, { __mode = "k" }), setmetatable({}, { __mode = "k" })
local CUSTOM_MT = { __tostring = function(e) return e[1] end, __metatable = false }
local EXIT_MT = { __tostring = function() return "exit" end, __metatable = false }
local function text_arg(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return tostring(v) end
end
G.custom_error = function(...)
  local n = select("#", ...)
  if n == 0 then fail("need arguments") end
  local msg, status, ct = ...
  local text = text_arg(msg)
  if not text then fail("bad argument #1 to 'custom_error' (string expected, got " .. typename(msg) .. ")") end
  local code = status ~= nil and tonumber(status) or nil -- no status: a plain error (500)
  if status ~= nil and (not code or code ~= floor(code) or code < 100 or code > 999) then
    fail("custom_error: the status must be an integer between 100 and 999")
  end
  if ct ~= nil then
    local t = text_arg(ct)
    if not t then fail("bad argument #3 to 'custom_error' (string expected, got " .. typename(ct) .. ")") end
    if str_find(t, "%c") then fail("custom_error: control characters are not allowed in the content type") end
    ct = t
  end
  local e = setmetatable({ text, code and floor(code), ct }, CUSTOM_MT)
  CUSTOM[e] = true
  error(e, 0)
end
-- krakenpy: a Kong-like short-circuit response at any level
G.exit = function(...)
  local kind, answer = B.exit(select("#", ...), ...) -- checked and built now: its errors are the script's
  if kind == ERR then fail(answer) end
  local e = setmetatable({ answer }, EXIT_MT)
  EXIT[e] = true
  error(e, 0)
end
G.http_response = {
  new = function(...)
    local n = select("#", ...)
    if n ~= 1 and n ~= 3 and n ~= 4 then fail("need 1, 3 or 4 arguments") end
    local ok, res = co_yield(HTTP, n, ...)
    if not ok then fail(res) end
    return make(HTTP_MT, res)
  end,
}
-- json.array(t) / json.object(t) mark a script's own table; never an API object, luaNil or a library
-- table, which every request shares (marking luaNil as an array would turn every later null into [])
local ARRAY, OBJECT = B.ARRAY, B.OBJECT
local function marked(tag, name)
  return function(t)
    if t == nil then t = {} end
    local h = type(t) == "table" and H[t]
    if type(t) ~= "table" or PROTECTED[t] or (h ~= nil and h ~= ARRAY and h ~= OBJECT) or RECORDED[rawmeta(t)] then
      fail("bad argument #1 to '" .. name .. "' (plain table expected, got " .. typename(t) .. ")")
    end
    H[t] = tag
    return t
  end
end
-- batteries: Python functions called with their argument count, errors raised at the script's line
local function battery(f)
  return function(...)
    local kind, v, extra = f(select("#", ...), ...)
    if kind == ERR then fail(v, extra) end
    if extra then charge(extra) end
    return v
  end
end
G.json = {
  encode = battery(B.json_encode),
  decode = battery(B.json_decode),
  array = marked(ARRAY, "array"),
  object = marked(OBJECT, "object"),
  null = NIL,
}
G.base64 = { encode = battery(B.b64encode), decode = battery(B.b64decode) }

return {
  make = make,
  TABLE_MT = TABLE_MT,
  REQ_MT = REQ_MT,
  CTX_MT = CTX_MT,
  RESP_MT = RESP_MT,
  handle_of = handle_of,
  load_request = loader(REQ_MT, 3),
  load_ctx = loader(CTX_MT, 3),
  load_response = loader(RESP_MT, 5),
  CUSTOM = CUSTOM,
  EXIT = EXIT,
}
