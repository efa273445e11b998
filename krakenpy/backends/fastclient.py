"""A lean :class:`~krakenpy.backends.client.UpstreamClient`: keep-alive pools on asyncio protocols.

aiohttp's ``ClientSession`` costs ~100 µs of CPU per upstream call (performance.md). This client
writes the request head itself and parses the response with aiohttp's C parser (llhttp:
Content-Length, chunked, read-until-close, gzip/deflate), keeping one LIFO pool of idle connections
per ``host:port``. What it does not handle goes to the aiohttp client unchanged: https and other
schemes, ``HEAD``, URLs with user info or characters that need quoting (one exchange at a time, so
a redirect chain may mix both). Redirects follow Go's rules (:mod:`krakenpy.backends.redirects`);
gzip bodies are inflated with a cap (:mod:`krakenpy.backends.inflate`). The request head carries
exactly what Go's client writes: ``Host``, the given headers, ``Content-Length`` when there is a body
or the method is POST/PUT/PATCH, and ``Connection: close`` without keep-alive. Header bytes that were
not UTF-8 (surrogate escapes from the server's parser) are written back as the same bytes.

Timeouts are the caller's (a request deadline cancels the call; the connection is then closed,
never reused); ``dialer_timeout`` and ``response_header_timeout`` apply when configured. A request
on a reused keep-alive connection that fails before any response byte arrives is retried once on a
new connection when the method is idempotent.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Iterable
from typing import Any

from aiohttp import ClientError
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.http_parser import HttpResponseParser

from krakenpy.backends.client import (
    MAX_HEADER_BYTES,
    MAX_HEADER_LINES,
    AiohttpClient,
    ClientOptions,
    UpstreamResponse,
)
from krakenpy.backends.inflate import gunzip, strip_encoding
from krakenpy.backends.redirects import REDIRECT_STATUSES, follow
from krakenpy.errors import BackendError

__all__ = ["FastClient"]

_IDEMPOTENT = frozenset({"GET", "PUT", "DELETE", "OPTIONS", "TRACE"})
#: request headers this client writes itself
_OWN = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
#: anything a request target may not hold unquoted (aiohttp would quote it: let it)
_UNSAFE = re.compile(r"[^\x21-\x7e]")


class _Stale(Exception):
    """A reused connection died before any response byte: safe to retry an idempotent request."""


class _Conn(BaseProtocol):
    """One upstream connection: one request in flight at a time, response parsed by llhttp."""

    __slots__ = (
        "closed",
        "done",
        "head",
        "idle_since",
        "max_body",
        "message",
        "payload",
        "parser",
        "received",
        "reused",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, max_body: int) -> None:
        super().__init__(loop)
        self.max_body = max_body
        self.parser = HttpResponseParser(
            self,
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
        self.received = False
        #: bytes received while the header block is incomplete
        self.head = 0
        self.closed = False
        self.reused = False
        self.idle_since = 0.0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

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
                done.set_exception(err)
                return
            if self.payload.is_eof():
                done.set_result(None)
                return
        if not self.received and self.reused:
            done.set_exception(_Stale())
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
            self.head += len(data)
            if self.head > MAX_HEADER_BYTES + len(data):  # the earlier bytes were all header bytes
                done.set_exception(BackendError(f"backend response headers over {MAX_HEADER_BYTES} bytes"))
                self.close()
                return
        try:
            messages, upgraded, _ = self.parser.feed_data(data)
        except Exception as err:
            done.set_exception(err)
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


class _Host:
    """Idle connections (LIFO) and a fair FIFO queue when ``limit_per_host`` is reached."""

    __slots__ = ("active", "idle", "waiters")

    def __init__(self) -> None:
        self.idle: list[_Conn] = []
        self.active = 0
        self.waiters: deque[asyncio.Future[None]] = deque()


class FastClient:
    """:class:`UpstreamClient` over asyncio protocols; falls back to :class:`AiohttpClient`."""

    def __init__(self, options: ClientOptions | None = None, fallback: AiohttpClient | None = None) -> None:
        self._options = o = options or ClientOptions()
        self._fallback = fallback
        self._hosts: dict[tuple[str, int], _Host] = {}
        self._limit = o.limit_per_host
        self._keepalive = 0.0 if o.disable_keep_alives else o.keepalive_timeout
        self._connect_timeout = o.connect_timeout
        self._header_timeout = o.response_header_timeout
        self._closed = False

    def _fallback_client(self) -> AiohttpClient:
        if self._fallback is None:
            self._fallback = AiohttpClient(self._options)
        return self._fallback

    async def request(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]],
        body: bytes | None,
        *,
        follow_redirects: bool = True,
    ) -> UpstreamResponse:
        pairs = headers if isinstance(headers, list) else list(headers)
        try:
            first = await self._exchange(method, url, pairs, body)
            if follow_redirects and first[0] in REDIRECT_STATUSES and first[1] is not None:
                answer = await follow(self._exchange, method, url, pairs, body, first)
                assert isinstance(answer, UpstreamResponse)
                return answer
            return first[2]
        except BackendError:
            raise
        except TimeoutError as exc:
            raise BackendError(f"backend timeout [{method}]: {url}") from exc
        except (OSError, ValueError, HttpProcessingError, ClientError) as exc:  # ClientError: the fallback's
            raise BackendError(f"{type(exc).__name__}: {exc} [{method}]: {url}") from exc

    async def _exchange(
        self, method: str, url: str, pairs: list[tuple[str, str]], body: bytes | None
    ) -> tuple[int, str | None, UpstreamResponse]:
        """One request without following redirects: (status, Location, the decoded answer)."""
        target = _split(url) if method != "HEAD" else None
        head = _head(method, target[2], target[3], pairs, body, self._keepalive <= 0) if target else None
        if target is None or head is None:
            return await self._fallback_client().exchange(method, url, pairs, body)
        key = (target[0], target[1])
        pool = self._hosts.get(key)
        if pool is None:
            pool = self._hosts[key] = _Host()
        data = head + body if body else head
        conn = None if self._header_timeout else self._reuse(pool)
        if conn is None:
            msg, raw = await self._send(pool, key, data, method)
        else:
            # the common case (an idle connection, no header timeout) in this frame: a coroutine per
            # layer cost more than these lines; _send is the general loop (connect, wait, retry)
            try:
                await _write(conn, data)
                msg, raw = _read(conn)
            except _Stale:
                self._forget(conn)
                self._release(pool, conn, reuse=False)
                if method not in _IDEMPOTENT:
                    raise ConnectionResetError("upstream closed a kept-alive connection") from None
                msg, raw = await self._send(pool, key, data, method, fresh=True)
            except BaseException:
                self._forget(conn)
                self._release(pool, conn, reuse=False)  # state unknown (cancelled, error): never reuse
                raise
            else:
                self._forget(conn)
                self._release(pool, conn, reuse=not (conn.closed or msg.should_close or self._keepalive <= 0))
        status: int = msg.code
        fields = msg.headers
        headers = tuple(fields.items())
        encoding = fields.get("Content-Encoding")
        if encoding is not None and encoding.strip().lower() == "gzip":
            raw = await gunzip(raw, self._options.max_body)
            headers = strip_encoding(headers)
        return (
            status,
            fields.get("Location") if status in REDIRECT_STATUSES else None,
            UpstreamResponse(status=status, headers=headers, body=raw, content_type=fields.get("Content-Type", "")),
        )

    async def _send(
        self, pool: _Host, key: tuple[str, int], data: bytes, method: str, *, fresh: bool = False
    ) -> tuple[Any, bytes]:
        """One exchange on a pooled connection: an idle one, else a new one once a slot is free;
        an idempotent request that meets a stale kept-alive connection is sent once more on a new one."""
        retry = method in _IDEMPOTENT and not fresh
        while True:
            conn = None if fresh else self._reuse(pool)
            if conn is None:
                conn = await self._acquire(pool, key[0], key[1], fresh)
            try:
                done = _write(conn, data)
                if self._header_timeout:
                    async with asyncio.timeout(self._header_timeout):
                        await done
                else:
                    await done
                msg, body = _read(conn)
            except _Stale:
                self._forget(conn)
                self._release(pool, conn, reuse=False)
                if not retry:
                    raise ConnectionResetError("upstream closed a kept-alive connection") from None
                retry, fresh = False, True
                continue
            except BaseException:
                self._forget(conn)
                self._release(pool, conn, reuse=False)  # state unknown (cancelled, error): never reuse
                raise
            self._forget(conn)
            self._release(pool, conn, reuse=not (conn.closed or msg.should_close or self._keepalive <= 0))
            return msg, body

    @staticmethod
    def _forget(conn: _Conn) -> None:
        conn.done = None
        conn.message = conn.payload = None

    def _reuse(self, pool: _Host) -> _Conn | None:
        """An idle live connection, counted as active; ``None`` when one must be waited for or opened."""
        if self._closed or (self._limit and pool.active >= self._limit):
            return None
        conn = self._pop_idle(pool)
        if conn is not None:
            pool.active += 1
        return conn

    def _pop_idle(self, pool: _Host) -> _Conn | None:
        """The most recently used idle connection still alive (stale ones are closed), or ``None``."""
        idle = pool.idle
        if not idle:
            return None
        now = idle[-1]._loop.time()
        while idle:
            conn = idle.pop()
            if conn.closed or now - conn.idle_since > self._keepalive:
                conn.close()
                continue
            conn.reused = True
            return conn
        return None

    async def _acquire(self, pool: _Host, host: str, port: int, fresh: bool) -> _Conn:
        if self._closed:
            raise BackendError("the upstream client is closed")
        if self._limit and pool.active >= self._limit:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            pool.waiters.append(waiter)
            try:
                await waiter  # the releaser hands its slot over (pool.active stays counted)
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    pool.active -= 1  # a slot was handed to us as we were cancelled: pass it on
                    self._wake(pool)
                elif waiter in pool.waiters:
                    pool.waiters.remove(waiter)
                raise
        else:
            pool.active += 1
        if not fresh:
            conn = self._pop_idle(pool)
            if conn is not None:
                return conn
        try:
            return await self._connect(host, port)
        except BaseException:
            pool.active -= 1
            self._wake(pool)
            raise

    async def _connect(self, host: str, port: int) -> _Conn:
        loop = asyncio.get_running_loop()
        max_body = self._options.max_body
        if self._connect_timeout:
            async with asyncio.timeout(self._connect_timeout):
                _, conn = await loop.create_connection(lambda: _Conn(loop, max_body), host, port)
        else:
            _, conn = await loop.create_connection(lambda: _Conn(loop, max_body), host, port)
        return conn

    def _release(self, pool: _Host, conn: _Conn, *, reuse: bool) -> None:
        if reuse and not self._closed:
            conn.idle_since = conn._loop.time()
            pool.idle.append(conn)
        else:
            conn.close()
        pool.active -= 1
        self._wake(pool)

    @staticmethod
    def _wake(pool: _Host) -> None:
        while pool.waiters:
            waiter = pool.waiters.popleft()
            if not waiter.done():
                pool.active += 1
                waiter.set_result(None)
                return

    async def close(self) -> None:
        self._closed = True
        for pool in self._hosts.values():
            for conn in pool.idle:
                conn.close()
            pool.idle.clear()
        self._hosts.clear()
        if self._fallback is not None:
            await self._fallback.close()


def _write(conn: _Conn, data: bytes) -> asyncio.Future[None]:
    """Send one request on ``conn``; the future ends when its whole answer is in (or it failed)."""
    transport = conn.transport
    if transport is None or transport.is_closing():
        raise _Stale() if conn.reused else ConnectionResetError("upstream connection closed")
    done: asyncio.Future[None] = conn._loop.create_future()
    conn.done = done
    conn.message = conn.payload = None
    conn.received = False
    conn.head = 0
    transport.write(data)
    return done


def _read(conn: _Conn) -> tuple[Any, bytes]:
    """The answer of a finished exchange: (llhttp's message, the body)."""
    payload = conn.payload
    error = payload.exception()
    if error is not None:
        raise error
    return conn.message, payload.read_nowait(-1)


_SPLIT_CACHE: dict[str, tuple[str, int, str, str] | None] = {}
_SPLIT_CACHE_SIZE = 1024


def _split(url: str) -> tuple[str, int, str, str] | None:
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


def _head(
    method: str, target: str, host: str, headers: list[tuple[str, str]], body: bytes | None, close: bool
) -> bytes | None:
    """The request line and headers as Go writes them, or None when a header needs aiohttp's
    validation (CR/LF)."""
    lines = []
    for name, value in headers:
        lower = name.lower()
        if lower in _OWN:
            if lower == "host":
                host = value
            continue
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            return None
        lines.append(f"{name}: {value}\r\n")
    if body or method in _BODY_METHODS:  # Go: Content-Length with a body, and 0 on a bodiless POST/PUT/PATCH
        lines.append(f"Content-Length: {len(body) if body else 0}\r\n")
    if close:
        lines.append("Connection: close\r\n")
    if "\r" in host or "\n" in host:
        return None
    # surrogateescape: header bytes that were not UTF-8 go out exactly as they came in
    return f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{''.join(lines)}\r\n".encode("utf-8", "surrogateescape")
