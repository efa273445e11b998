"""The bytes of the fast client's exchanges: one upstream connection (an asyncio protocol whose answer
llhttp parses), the request head exactly as Go's client writes it, and the request URL split once.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Final

from aiohttp.http_parser import HttpResponseParser

from krakenpy.backends.client import MAX_HEADER_BYTES, MAX_HEADER_LINES, valid_value
from krakenpy.backends.quickanswer import quick_answer
from krakenpy.errors import BackendError, UpstreamBodyError
from krakenpy.flowcontrol import FlowProtocol

__all__ = ["KNOWN", "Conn", "Heads", "Known", "Stale", "read", "request_head", "split_url", "write"]

#: request headers this client writes itself
_OWN = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
#: bytes asked of the socket per read: asyncio's transport reads into a fresh bytes object of its
#: ``max_size`` (256 KiB), past glibc's 128 KiB mmap threshold: an mmap, an mremap, a munmap and a
#: page fault per answer (strace: 3 of P1's 15 syscalls per request, in process). 64 KiB come from
#: the heap.
READ_SIZE = 64 * 1024
#: anything a request target may not hold unquoted (aiohttp would quote it: let it)
_UNSAFE = re.compile(r"[^\x21-\x7e]")


class Stale(Exception):
    """A reused connection died before any response byte: safe to retry an idempotent request."""


class Conn(FlowProtocol):
    """One upstream connection: one request in flight at a time, response parsed by llhttp (or, for
    the common small answer, by :func:`~krakenpy.backends.quickanswer.quick_answer`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_body: int) -> None:
        super().__init__(loop)
        self.max_body = max_body
        # Any: its C implementation's messages are not the NamedTuples its stubs declare (compiled code
        # checks declared types)
        self.parser: Any = HttpResponseParser(
            self,  # type: ignore[arg-type]  # aiohttp's BaseProtocol interface, not the class
            loop,
            limit=max(max_body, 2**16),
            # Go bounds the whole header block, not a line nor a count: data_received bounds the block
            max_line_size=MAX_HEADER_BYTES,
            max_field_size=MAX_HEADER_BYTES,
            max_headers=MAX_HEADER_LINES,
            response_with_body=True,
            read_until_eof=True,
            auto_decompress=False,  # inflated by krakenpy with a cap on the output
        )
        self.done: asyncio.Future[None] | None = None
        self.message: Any = None
        self.payload: Any = None
        #: the body of an answer read by the short path (``payload`` is then None)
        self.body: bytes | None = None
        self.received = False
        #: bytes received while the header block is incomplete
        self.head = 0
        self.closed = False
        self.reused = False
        self.idle_since = 0.0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if hasattr(transport, "max_size"):  # asyncio's socket transport (uvloop reads into a buffer of its own)
            transport.max_size = READ_SIZE

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        self.transport = None
        done = self.done
        if done is None or done.done():
            return
        if self.message is not None:
            try:
                self.parser.feed_eof()  # completes a read-until-close body, or raises for a short one
            except Exception as err:
                done.set_exception(_body_error(err))
                return
            if self.payload.is_eof():
                done.set_result(None)
                return
            done.set_exception(_body_error(exc or ConnectionResetError("upstream closed the connection")))
            return
        if not self.received and self.reused:
            done.set_exception(Stale())
        else:
            done.set_exception(exc or ConnectionResetError("upstream closed the connection"))

    def data_received(self, data: bytes) -> None:
        if not data:
            return
        done = self.done
        if done is None or done.done():  # bytes nobody asked for: the connection is unusable
            self.close()
            return
        self.received = True
        if self.message is None:
            if not self.head:  # the answer's first bytes: the whole of a small answer, usually
                quick = quick_answer(data, self.max_body)
                if quick is not None:
                    self.message, self.body = quick
                    done.set_result(None)
                    return
            self.head += len(data)
            if self.head > MAX_HEADER_BYTES + len(data):  # the earlier bytes were all header bytes
                done.set_exception(BackendError(f"backend response headers over {MAX_HEADER_BYTES} bytes"))
                self.close()
                return
        try:
            messages, upgraded, _ = self.parser.feed_data(data)
        except Exception as err:
            done.set_exception(err if self.message is None else _body_error(err))
            self.close()
            return
        if messages and self.message is None:
            self.message, self.payload = messages[0]
        payload = self.payload
        if payload is None:
            return
        if upgraded:
            done.set_exception(BackendError("upstream switched protocols"))
            self.close()
        elif payload.total_bytes > self.max_body:
            done.set_exception(BackendError(f"backend body too large (more than {self.max_body} bytes)"))
            self.close()
        elif payload.is_eof():
            done.set_result(None)

    def pause_reading(self) -> None:
        # the payload buffer passed its high-water mark: stop llhttp; data_received rejects the body
        if self.payload is not None:
            self.parser.pause_reading()

    def resume_reading(self, resume_parser: bool = True) -> None:
        # StreamReader calls this whenever its buffer is drained; the transport is never paused here
        pass

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def write(conn: Conn, head: bytes, body: bytes | None) -> asyncio.Future[None]:
    """Send one request (its head and its body) on ``conn``; the future ends when its whole answer is
    in (or it failed)."""
    transport = conn.transport
    if transport is None or transport.is_closing():
        raise Stale() if conn.reused else ConnectionResetError("upstream connection closed")
    done: asyncio.Future[None] = conn._loop.create_future()
    conn.done = done
    conn.message = conn.payload = conn.body = None
    conn.received = False
    conn.head = 0
    if body:
        # handed over apart: the body is not copied behind the head into a new buffer (an OTLP post's
        # batch, ~1.6 k machine instructions a traced request for the copy, round 15's split); uvloop
        # sends both in one writev, asyncio's selector loop (3.11) joins them as before
        transport.writelines((head, body))
    else:
        transport.write(head)
    return done


def read(conn: Conn) -> tuple[Any, bytes]:
    """The answer of a finished exchange: (the message, the body)."""
    if conn.body is not None:
        return conn.message, conn.body
    payload = conn.payload
    error = payload.exception()
    if error is not None:
        raise error
    return conn.message, payload.read_nowait(-1)


_SPLIT_CACHE: dict[str, tuple[str, int, str, str] | None] = {}
_SPLIT_CACHE_SIZE = 1024


def split_url(url: str) -> tuple[str, int, str, str] | None:
    """:func:`_parse_url`, memoised: most backends call the same few URLs."""
    try:
        return _SPLIT_CACHE[url]
    except KeyError:
        pass
    result = _parse_url(url)
    if len(_SPLIT_CACHE) >= _SPLIT_CACHE_SIZE:
        _SPLIT_CACHE.clear()  # URLs with parameters in them: start over rather than grow
    _SPLIT_CACHE[url] = result
    return result


def _parse_url(url: str) -> tuple[str, int, str, str] | None:
    """``http://host[:port][/path][?query]`` → (host, port, request target, Host header), else None."""
    if not url.startswith("http://"):
        return None
    rest = url[7:]
    end = len(rest)
    for ch in "/?#":
        i = rest.find(ch, 0, end)
        if i != -1:
            end = i
    authority, target = rest[:end], rest[end:]
    if not authority or "@" in authority or "[" in authority or _UNSAFE.search(authority):
        return None
    host, sep, port_text = authority.rpartition(":")
    if not sep:
        host, port = authority, 80
    elif port_text.isdigit() and host:
        port = int(port_text)
    else:
        return None
    target = target.partition("#")[0]
    if not target.startswith("/"):
        target = "/" + target
    if _UNSAFE.search(target):
        return None
    host = host.lower()
    return host, port, target, host if port == 80 else f"{host}:{port}"


#: a translation table that moves the bytes Go's client refuses in a header value (controls but HTAB,
#: and DEL; ``client.HEADER_CONTROL``) and keeps every other: ``b.translate(_REFUSED) is b`` (CPython
#: returns the very object when no byte changed) tells a value's UTF-8 bytes hold none in one C loop
#: of a few instructions a byte, where ``str.isprintable`` looks each character up in the Unicode
#: tables (~25 a character: ~1.0 k instructions on a 36-character request id, acclog5)
_REFUSED: Final = bytes((b + 1 if b < 0x7F else 0) if (b < 0x20 and b != 0x09) or b == 0x7F else b for b in range(256))

#: the varying values' bytes of a head without any (never appended to)
_NO_VALUES: Final[list[bytes]] = []


class Heads:
    """The header block of the last request head written, kept in pieces for the next: the header list
    it was written for, which of its values vary from head to head (a request id, a ``traceparent``:
    their lines are not kept), and the block's bytes around those values.

    A request whose header list matches the last one's but for the varying values gets its request
    line and Host written (a short text: the target changes per request on an endpoint with
    parameters, and between the backends of a merge) and the kept pieces joined around its own values:
    no header text built or encoded but the values (P1 with a request id, compiled: the head rewritten
    around the id's changed line cost 6.0 k instructions per request, 2.7 k for an unchanged list,
    where each built the whole head's text and encoded it). Kept apart from the request line, the
    pieces serve a merge's backends alike (round 11's first version kept the line in them: P2's two
    backends rebuilt every head, +30 k a request)."""

    def __init__(self) -> None:
        #: the header list compared against (at a varying index: the value of the last head written
        #: from nothing, never compared)
        self.pairs: list[tuple[str, str]] = []
        #: per index of ``pairs``: its value varies (its bytes are not in ``pieces``)
        self.varies: list[bool] = []
        #: the varying indexes in order, and the block's bytes around their values (one piece more
        #: than indexes, the last without the framing lines); no pieces: nothing kept (a refused list)
        self.vary: list[int] = []
        self.pieces: list[bytes] = []
        #: the first piece's text when a value varies, else "": written into the request line's text
        #: (one encode for both, and one join part fewer: ~0.3 k instructions a head with a request id)
        self.first = ""
        #: the Host header the list gives (written in place of the request's host), or None
        self.given: str | None = None
        #: the last host checked for control bytes (a Host line is written from it)
        self.host = ""
        #: the last piece with the framing lines and the blank line, for ``length`` and ``close``
        self.tail = b""
        #: the Content-Length written, -1 for none
        self.length = -1
        self.close = False

    def reset(self) -> None:
        self.pairs = []
        self.varies = []
        self.vary = []
        self.pieces = []
        self.first = ""


#: ``Final``: compiled, a C static (a module global is a dict lookup per read)
_HEADS: Final = Heads()


class Known:
    """The last header value the gateway wrote itself from checked text alone (a sampled request's
    ``traceparent``: its trace id decoded as hex once, its span id's hex; the client layer sets it as it
    adds the header). :func:`request_head` writes a varying value that is this very string without
    checking its bytes for control bytes (measured against ``str.isprintable``'s scan, ~20 machine
    instructions a character compiled: ~1.1 k for a ``traceparent``). Identity only: an equal string
    made elsewhere is still checked, and a value set by another request in between (a call that waited
    for its connection) only costs the check. ``rid``: likewise, the last forwarded request id the HTTP
    executor wrote (an exchange's id: generated as hex digits and dashes, or a client's that
    ``valid_request_id`` let through, ``[A-Za-z0-9._:/+=@-]``; ~0.4 k instructions of ``translate``'s
    buffer a request, acclog8)."""

    def __init__(self) -> None:
        self.value = ""
        self.rid = ""


#: ``Final``: a C static; the one :class:`Known` of the process
KNOWN: Final = Known()


def _lines(headers: list[tuple[str, str]]) -> tuple[str | None, list[str] | None]:
    """(the Host header given, or None; the header lines, one per header, "" for the headers written
    elsewhere, or None when one needs aiohttp's checks)."""
    host = None
    lines = []
    for name, value in headers:
        lower = name.lower()
        if lower in _OWN:
            if lower == "host":
                host = value
            lines.append("")
            continue
        if not valid_value(value) or "\r" in name or "\n" in name or ":" in name:
            return None, None
        lines.append(f"{name}: {value}\r\n")
    return host, lines


def _tail(last: bytes, length: int, close: bool) -> bytes:
    """The block's last piece, the framing lines Go writes and the blank line."""
    text = ""
    if length >= 0:
        text = f"Content-Length: {length}\r\n"
    if close:
        text += "Connection: close\r\n"
    return last + text.encode() + b"\r\n"


def request_head(
    method: str,
    target: str,
    host: str,
    headers: list[tuple[str, str]],
    body: bytes | None,
    close: bool,
    heads: Heads = _HEADS,
) -> bytes | None:
    """The request line and headers as Go writes them, or None when a header needs aiohttp's
    validation (a value with a control byte Go refuses to send, a name with CR, LF or a colon).
    ``heads``: the kept pieces of the last head written (the module's, shared by the gateway's
    backends; a client whose requests differ from theirs keeps its own, :class:`FastClient`'s
    ``own_heads``)."""
    old = heads.pairs
    count = len(headers)
    if count == len(old) and heads.pieces:
        # one compiled pass over the pairs (strings compared identity first): the names all equal,
        # the values equal but the varying ones, which must hold no control byte but HTAB, nor DEL (Go's
        # client refuses to send them): encoded here (their bytes go in the head) and checked on the
        # bytes, which hold such a byte exactly where the text holds the character (UTF-8 and the
        # surrogate escapes write every other character as bytes 0x80 and up)
        varies = heads.varies
        known = KNOWN.value
        known_rid = KNOWN.rid
        # the varying values' bytes: the first two in locals (a request id, a ``traceparent``: no list
        # made, appended to and read per head, ~0.4 k instructions a head with two), a list for more
        first = second = b""
        more = _NO_VALUES
        seen = 0
        i = 0
        while i < count:
            name, value = headers[i]
            last_name, last_value = old[i]
            if name != last_name:
                break
            if varies[i]:
                if value is known or value is known_rid:  # text the gateway made or checked (Known): no check
                    raw = value.encode()
                else:
                    try:
                        # strict first: compiled, a C call without the codec's lookup by name (~0.35 k
                        # instructions to ~0.1 k); the same bytes for any text without a surrogate
                        raw = value.encode()
                    except UnicodeEncodeError:
                        try:  # a surrogate escape: header bytes that were not UTF-8 go out as received
                            raw = value.encode("utf-8", "surrogateescape")
                        except UnicodeEncodeError:  # written from nothing: the same error, or the checks' None
                            break
                    if raw.translate(_REFUSED) is not raw:
                        break
                if seen == 0:
                    first = raw
                elif seen == 1:
                    second = raw
                elif more:
                    more.append(raw)
                else:
                    more = [raw]
                seen += 1
            elif value != last_value:
                break
            i += 1
        if i == count:
            written = heads.given
            if written is None:
                if host != heads.host:
                    if not valid_value(host):
                        return None
                    heads.host = host
                written = host
            # Go: Content-Length with a body, and 0 on a bodiless POST/PUT/PATCH
            length = len(body) if body else 0 if method in _BODY_METHODS else -1
            pieces = heads.pieces
            vary = heads.vary
            n = len(vary)
            if length != heads.length or close != heads.close:
                heads.tail = _tail(pieces[n], length, close)
                heads.length = length
                heads.close = close
            # surrogateescape: header bytes that were not UTF-8 go out exactly as they came in; the
            # first piece (before the first varying value) encoded with the request line
            line = f"{method} {target} HTTP/1.1\r\nHost: {written}\r\n{heads.first}".encode("utf-8", "surrogateescape")
            if n == 0:
                return line + heads.tail
            if n == 1:
                return line + first + heads.tail
            if n == 2:  # a tuple joined: no list built by appends
                return b"".join((line, first, pieces[1], second, heads.tail))
            parts = [line, first, pieces[1], second]
            k = 2
            while k < n:
                parts.append(pieces[k])
                parts.append(more[k - 2])
                k += 1
            parts.append(heads.tail)
            return b"".join(parts)
    return _remember(heads, method, target, host, headers, body, close)


def _remember(
    heads: Heads, method: str, target: str, host: str, headers: list[tuple[str, str]], body: bytes | None, close: bool
) -> bytes | None:
    """The head written from nothing, its header block kept in pieces: a value that differs from the
    last list's (same names in the same order) is a varying one from now on, as are the last list's
    varying ones."""
    given, lines = _lines(headers)
    written = host if given is None else given
    if lines is None or not valid_value(written):
        heads.reset()
        return None
    length = len(body) if body else 0 if method in _BODY_METHODS else -1
    old = heads.pairs
    count = len(headers)
    same = len(old) == count and all(headers[i][0] == old[i][0] for i in range(count))
    varies = [same and bool(lines[i]) and (heads.varies[i] or headers[i][1] != old[i][1]) for i in range(count)]
    text = ""
    vary: list[int] = []
    pieces: list[bytes] = []
    first = ""
    for i in range(count):
        if varies[i]:
            piece = f"{text}{headers[i][0]}: "
            if not vary:
                first = piece
            vary.append(i)
            pieces.append(piece.encode("utf-8", "surrogateescape"))
            text = "\r\n"
        else:
            text += lines[i]
    pieces.append(text.encode("utf-8", "surrogateescape"))
    heads.pairs = list(headers)
    heads.varies = varies
    heads.vary = vary
    heads.pieces = pieces
    heads.first = first
    heads.given = given
    heads.host = host
    heads.length = length
    heads.close = close
    heads.tail = _tail(pieces[-1], length, close)
    parts = [f"{method} {target} HTTP/1.1\r\nHost: {written}\r\n".encode("utf-8", "surrogateescape"), pieces[0]]
    for k, i in enumerate(vary):
        parts.append(headers[i][1].encode("utf-8", "surrogateescape"))
        parts.append(pieces[k + 1] if k + 1 < len(vary) else heads.tail)
    if not vary:
        parts[1] = heads.tail
    return b"".join(parts)


def _body_error(cause: BaseException) -> UpstreamBodyError:
    """A failure after the answer's head arrived (a body cut short or malformed)."""
    error = UpstreamBodyError(f"backend body failed: {type(cause).__name__}: {cause}")
    error.__cause__ = cause
    return error
