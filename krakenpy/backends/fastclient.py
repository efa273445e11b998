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
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

from aiohttp import ClientError
from aiohttp.http_exceptions import HttpProcessingError

from krakenpy.backends.client import (
    AiohttpClient,
    ClientOptions,
    UpstreamResponse,
)
from krakenpy.backends.conntiming import CallTiming
from krakenpy.backends.fasttiming import note_read, timed_acquire, timed_dial
from krakenpy.backends.fastwire import _HEADS, Conn, Heads, Stale, read, request_head, split_url, write
from krakenpy.backends.gotext import transport_text
from krakenpy.backends.inflate import gunzip, strip_encoding
from krakenpy.backends.quickanswer import QuickMessage
from krakenpy.backends.quickresponse import Building, QuickResponse
from krakenpy.backends.redirects import REDIRECT_STATUSES, follow
from krakenpy.errors import BackendError

__all__ = ["FastClient", "timed_form"]

_T = TypeVar("_T")
_IDEMPOTENT = frozenset({"GET", "PUT", "DELETE", "OPTIONS", "TRACE"})


class _Host:
    """Idle connections (LIFO) and a fair FIFO queue when ``limit_per_host`` is reached."""

    def __init__(self) -> None:
        self.idle: list[Conn] = []
        self.active = 0
        self.waiters: deque[asyncio.Future[None]] = deque()


class FastClient:
    """:class:`UpstreamClient` over asyncio protocols; falls back to :class:`AiohttpClient`."""

    def __init__(
        self, options: ClientOptions | None = None, fallback: AiohttpClient | None = None, *, own_heads: bool = False
    ) -> None:
        self._options = o = options or ClientOptions()
        #: the kept pieces of the last request head (``fastwire.request_head``): the module's, which the
        #: gateway's backends share, or with ``own_heads`` this client's own (the OTLP exporter: its
        #: posts wrote over the backends' pieces, and the next two backend requests wrote their heads
        #: from nothing, ~1 k machine instructions a traced request, round 15, ``trace9``)
        self._heads: Heads = Heads() if own_heads else _HEADS
        self._fallback = fallback
        self._hosts: dict[tuple[str, int], _Host] = {}
        self._limit = o.limit_per_host
        self._keepalive = 0.0 if o.disable_keep_alives else o.keepalive_timeout
        self._connect_timeout = o.connect_timeout
        self._header_timeout = o.response_header_timeout
        self._closed = False
        #: timing mode (:meth:`enable_timing`): a flag the steps test, not methods patched on the
        #: instance, because a compiled FastClient has no ``__dict__`` and calls its own methods natively
        self._timed = False
        #: no timer bound to the current task on the common path: a merge may step a call without a
        #: task (:mod:`krakenpy.proxy.driven`); the aiohttp fallback then gets a task of its own
        self.task_free = not (o.connect_timeout or o.response_header_timeout)

    def _fallback_client(self) -> AiohttpClient:
        if self._fallback is None:
            self._fallback = AiohttpClient(self._options)
        return self._fallback

    def enable_timing(self) -> None:
        """Note connection and body-read timings in the call's :func:`~krakenpy.backends.conntiming.current_timing`
        (build time only: see :mod:`krakenpy.backends.fasttiming`)."""
        self._timed = True
        self._fallback_client().enable_timing()

    async def request(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]],
        body: bytes | None,
        timing: CallTiming | None = None,
        *,
        follow_redirects: bool = True,
    ) -> UpstreamResponse:
        """One upstream call. ``timing``: the call's :class:`CallTiming`, handed down by its caller
        (the HTTP executor with a timing client layer, :func:`timed_form`) where the timing mode
        otherwise finds it by :func:`~krakenpy.backends.conntiming.current_timing`: the body read's
        times noted in it without the context-variable reads. The same object either way (the layer
        also hands it down for what looks it up: a dial, a redirect's exchange, the aiohttp client)."""
        pairs = headers if isinstance(headers, list) else list(headers)
        try:
            first = await self._exchange(method, url, pairs, body, timing)
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
            raise BackendError(transport_text(method, url, exc)) from exc

    async def _exchange(
        self, method: str, url: str, pairs: list[tuple[str, str]], body: bytes | None, timing: CallTiming | None = None
    ) -> tuple[int, str | None, UpstreamResponse]:
        """One request without following redirects: (status, Location, the decoded answer)."""
        target = split_url(url) if method != "HEAD" else None
        head = (
            request_head(method, target[2], target[3], pairs, body, self._keepalive <= 0, self._heads)
            if target
            else None
        )
        if target is None or head is None:
            exchange = self._fallback_client().exchange(method, url, pairs, body)
            loop = asyncio.get_running_loop()
            if asyncio.current_task(loop) is not None:
                return await exchange
            return await _in_task(loop, exchange)  # driven without a task: aiohttp's timers need one
        key = (target[0], target[1])
        pool = self._hosts.get(key)
        if pool is None:
            pool = self._hosts[key] = _Host()
        conn = None if self._header_timeout else self._reuse(pool)
        if conn is None:
            msg, raw = await self._send(pool, key, head, body, method, timing=timing)
        else:
            # the common case (an idle connection, no header timeout) in this frame: a coroutine per
            # layer cost more than these lines; _send is the general loop (connect, wait, retry)
            try:
                await write(conn, head, body)
                msg, raw = read(conn)
            except Stale:
                self._forget(conn, timing)
                self._release(pool, conn, reuse=False)
                if method not in _IDEMPOTENT:
                    raise ConnectionResetError("upstream closed a kept-alive connection") from None
                msg, raw = await self._send(pool, key, head, body, method, fresh=True, timing=timing)
            except BaseException:
                self._forget(conn, timing)
                self._release(pool, conn, reuse=False)  # state unknown (cancelled, error): never reuse
                raise
            else:
                self._forget(conn, timing)
                self._release(pool, conn, reuse=not (conn.closed or msg.should_close or self._keepalive <= 0))
        status: int = msg.code
        if type(msg) is QuickMessage:  # the short path found the three headers read here
            encoding = msg.encoding
            if encoding is None:  # the usual answer: its headers decoded only if something reads them
                return status, msg.location if status in REDIRECT_STATUSES else None, quick_response(msg, raw)
            headers, location, content_type = msg.pairs, msg.location, msg.content_type
        else:
            fields = msg.headers
            headers = tuple(fields.items())
            encoding, location, content_type = (
                fields.get("Content-Encoding"), fields.get("Location"), fields.get("Content-Type")
            )  # fmt: skip
        if encoding is not None and encoding.strip().lower() == "gzip":
            raw = await gunzip(raw, self._options.max_body)
            headers = strip_encoding(headers)
        return (
            status,
            location if status in REDIRECT_STATUSES else None,
            UpstreamResponse(status, headers, raw, content_type or ""),
        )

    async def _send(
        self,
        pool: _Host,
        key: tuple[str, int],
        head: bytes,
        body: bytes | None,
        method: str,
        *,
        fresh: bool = False,
        timing: CallTiming | None = None,
    ) -> tuple[Any, bytes]:
        """One exchange on a pooled connection: an idle one, else a new one once a slot is free;
        an idempotent request that meets a stale kept-alive connection is sent once more on a new one."""
        retry = method in _IDEMPOTENT and not fresh
        while True:
            conn = None if fresh else self._reuse(pool)
            if conn is None:
                if self._timed:
                    conn = await timed_acquire(self._acquire(pool, key[0], key[1], fresh))
                else:
                    conn = await self._acquire(pool, key[0], key[1], fresh)
            try:
                done = write(conn, head, body)
                if self._header_timeout:
                    async with asyncio.timeout(self._header_timeout):
                        await done
                else:
                    await done
                msg, body = read(conn)
            except Stale:
                self._forget(conn, timing)
                self._release(pool, conn, reuse=False)
                if not retry:
                    raise ConnectionResetError("upstream closed a kept-alive connection") from None
                retry, fresh = False, True
                continue
            except BaseException:
                self._forget(conn, timing)
                self._release(pool, conn, reuse=False)  # state unknown (cancelled, error): never reuse
                raise
            self._forget(conn, timing)
            self._release(pool, conn, reuse=not (conn.closed or msg.should_close or self._keepalive <= 0))
            return msg, body

    def _forget(self, conn: Conn, timing: CallTiming | None = None) -> None:
        if self._timed:
            note_read(conn, timing)
        conn.done = None
        conn.message = conn.payload = conn.body = None

    def _reuse(self, pool: _Host) -> Conn | None:
        """An idle live connection, counted as active; ``None`` when one must be waited for or opened."""
        if self._closed or (self._limit and pool.active >= self._limit):
            return None
        conn = self._pop_idle(pool)
        if conn is not None:
            pool.active += 1
        return conn

    def _pop_idle(self, pool: _Host) -> Conn | None:
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

    async def _acquire(self, pool: _Host, host: str, port: int, fresh: bool) -> Conn:
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

    async def _connect(self, host: str, port: int) -> Conn:
        loop = asyncio.get_running_loop()
        max_body = self._options.max_body
        if self._timed:
            if self._connect_timeout:
                async with asyncio.timeout(self._connect_timeout):
                    return await timed_dial(loop, host, port, max_body)
            return await timed_dial(loop, host, port, max_body)
        if self._connect_timeout:
            async with asyncio.timeout(self._connect_timeout):
                _, conn = await loop.create_connection(lambda: Conn(loop, max_body), host, port)
        else:
            _, conn = await loop.create_connection(lambda: Conn(loop, max_body), host, port)
        return conn

    def _release(self, pool: _Host, conn: Conn, *, reuse: bool) -> None:
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


def quick_response(message: QuickMessage, body: bytes) -> QuickResponse:
    """``QuickResponse(message, body)`` without its interpreted ``__init__`` (a Python frame from
    compiled code, ~5.8 k instructions per backend call): built as a
    :class:`~krakenpy.backends.quickresponse.Building`, whose fields are set by C slots, then made a
    :class:`QuickResponse` (frozen from then on)."""
    # Any: mypy reads these as writes to frozen fields (compiled: generic attribute sets, as on any object)
    response: Any = object.__new__(Building)
    response.status = message.code
    response.body = body
    content_type = message.content_type
    response.content_type = content_type if content_type is not None else ""
    response._message = message
    response.__class__ = QuickResponse
    built: QuickResponse = response
    return built


async def _in_task(loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, _T]) -> _T:
    """``work`` in a task of its own, cancelled with the caller."""
    task = loop.create_task(work)
    try:
        return await task
    except asyncio.CancelledError:
        task.cancel()
        raise


def timed_form(call: Any) -> Callable[..., Awaitable[UpstreamResponse]] | None:
    """``call`` when it is a :class:`FastClient`'s own ``request`` (bound, nothing around it): a call
    that takes the call's :class:`CallTiming` as its fifth argument; ``None`` for anything else."""
    # (compiled, a bound method's ``__name__`` is ``FastClient.request``: its function is compared)
    if type(getattr(call, "__self__", None)) is FastClient and getattr(call, "__func__", None) is FastClient.request:
        return call  # type: ignore[no-any-return]
    return None
