"""The Python side of the KrakenD Lua API, one module per Lua object.

Each module exports ``methods(store) -> {b"lua name": accessor}``; prelude.lua turns every entry
into a method of that object's class. An accessor is called as ``f(id, nargs, ...)`` and returns
``(kind, value)`` (see :class:`~krakenpy.lua.convert.Kind`): ``id`` names the object in
:mod:`krakenpy.lua.handles` (Lua never holds the object itself), and so does the value of a
``TABLE``/``LIST`` result. ``nargs`` tells a getter (``headers("A")``) from a delete
(``headers("A", nil)``). User mistakes come back as ``(Kind.ERROR, message)`` so Lua raises them at
the script's line.
"""
