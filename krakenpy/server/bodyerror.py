"""The read error a request body whose framing broke raises (kept out of the compiled modules: mypyc
cannot compile a subclass of a built-in exception as a native class)."""

from __future__ import annotations

__all__ = ["MalformedBody"]


class MalformedBody(ConnectionError):
    """The request body's framing broke (a bad chunk) while the handler was reading it: a read error
    to the handler, as a client that went away (400 ``cannot read the request body``)."""
