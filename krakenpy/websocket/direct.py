"""Direct communication (``enable_direct_communication``): one backend connection per client, the
messages passed through unchanged both ways (text stays text, binary stays binary)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import aiohttp
import orjson
from aiohttp import WSMessage, WSMsgType

from krakenpy.tasks import cancel_and_wait, spawn
from krakenpy.websocket.backoff import Backoff
from krakenpy.websocket.options import WebSocketOptions
from krakenpy.websocket.socket import (
    GOING_AWAY,
    INTERNAL,
    NORMAL,
    PROTOCOL_ERROR,
    TOO_BIG,
    Dialer,
    Throttled,
    close_quietly,
    close_reason,
    deliver,
    dial,
    pings,
    redial,
)

__all__ = ["run_direct"]

#: how a pass of the pumps ended
_CLIENT_GONE, _BACKEND_CLOSED, _BACKEND_LOST = "client", "closed", "lost"
_Backend = aiohttp.ClientWebSocketResponse
#: how a pass ended: outcome, close code, close reason
_End = tuple[str, int, str]
_LOST: _End = (_BACKEND_LOST, 0, "")


def client_ended(msg: WSMessage) -> tuple[int, str]:
    """The code and reason a client's session ended with, as the backend learns them: its close
    frame's, its protocol error's (1002, 1007, 1009), or 1001 when it just went away."""
    if msg.type is WSMsgType.CLOSE:
        return (msg.data if isinstance(msg.data, int) else NORMAL), str(msg.extra or "")
    if msg.type is WSMsgType.ERROR:
        return int(getattr(msg.data, "code", PROTOCOL_ERROR)), ""
    return GOING_AWAY, ""  # CLOSED: the connection ended without a close frame


async def _client_to_backend(client: Any, backend: _Backend, options: WebSocketOptions) -> _End:
    while True:
        try:
            msg = await client.receive(timeout=options.pong_wait)
        except TimeoutError:  # no pong (nor anything else) within pong_wait: the client is dead
            await close_quietly(client, GOING_AWAY)
            return _CLIENT_GONE, GOING_AWAY, ""
        if msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
            try:
                if msg.type is WSMsgType.TEXT:
                    await backend.send_str(msg.data)
                else:
                    await backend.send_bytes(msg.data)
            except (ConnectionError, RuntimeError) as exc:
                if options.return_error_details:
                    error = orjson.dumps({"error": f"cannot reach the backend: {type(exc).__name__}"}).decode()
                    await deliver(client, error, options.write_wait)
                return _BACKEND_LOST, 0, ""
            continue
        # CLOSE (answered already), CLOSED, ERROR (a protocol error, a message over max_message_size)
        return (_CLIENT_GONE, *client_ended(msg))


async def _backend_to_client(client: Any, backend: _Backend, options: WebSocketOptions) -> _End:
    while True:
        try:
            msg = await backend.receive(timeout=options.timeout)
        except TimeoutError:
            return _BACKEND_LOST, 0, ""
        if msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
            if not await deliver(client, msg.data, options.write_wait):
                return _CLIENT_GONE, GOING_AWAY, ""
            continue
        if msg.type is WSMsgType.CLOSE:  # its reason goes to the client with its code
            return _BACKEND_CLOSED, msg.data if isinstance(msg.data, int) else NORMAL, str(msg.extra or "")
        if msg.type is WSMsgType.ERROR and getattr(msg.data, "code", None) == TOO_BIG:
            # a message over max_message_size: KrakenD discards it and disconnects the client
            await close_quietly(client, TOO_BIG, b"message too big")
            return _CLIENT_GONE, TOO_BIG, ""
        return _BACKEND_LOST, 0, ""  # CLOSED, ERROR, CLOSING


async def _pass(client: Any, backend: aiohttp.ClientWebSocketResponse, options: WebSocketOptions) -> _End:
    """Pump both ways until one side ends; the other pump is cancelled."""
    ups = spawn(_client_to_backend(client, backend, options))
    downs = spawn(_backend_to_client(client, backend, options))
    try:
        done, _ = await asyncio.wait((ups, downs), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (ups, downs):
            if not task.done():
                await cancel_and_wait(task)
    first = ups if ups in done else downs
    result: _End = first.result()
    return result


async def _watch(client: Any, options: WebSocketOptions, held: list[WSMessage], warn: Throttled) -> tuple[int, str]:
    """Read the client while its backend is dialled: its messages are kept for the backend (up to
    ``message_buffer_size``); returns once the client has left, with the code and reason it left with."""
    while True:
        try:
            msg = await client.receive(timeout=options.pong_wait)
        except TimeoutError:
            await close_quietly(client, GOING_AWAY)
            return GOING_AWAY, ""
        if msg.type is not WSMsgType.TEXT and msg.type is not WSMsgType.BINARY:
            return client_ended(msg)
        if len(held) < options.message_buffer_size:
            held.append(msg)
        else:
            warn.warning("websocket: a client's message buffer is full while its backend is dialled: message dropped")


#: how long a client that left while its backend was dialled waits for the dial's attempt under way:
#: the connection it makes is closed with the client's code (see :func:`_abandon`)
_ABANDON_GRACE = 1.0


async def _connect(
    client: Any,
    dialling: Coroutine[Any, Any, _Backend | None],
    options: WebSocketOptions,
    held: list[WSMessage],
    left: list[bool] | None = None,
) -> tuple[_Backend | None, bool]:
    """Dial while watching the client: ``(backend, False)`` once connected (None: retries spent),
    ``(None, True)`` when the client left first (the dial is abandoned). ``left[0]`` is set then: the
    dial's ``wanted`` reads it (no retry after the attempt under way)."""
    dialer = spawn(dialling)
    watcher = spawn(_watch(client, options, held, Throttled()))
    try:
        await asyncio.wait((dialer, watcher), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # the session is cancelled (its gateway closed)
        try:
            with contextlib.suppress(Exception):  # the watcher's own failure: the cancellation goes on
                await cancel_and_wait(watcher)
        finally:  # whatever came of the watcher: the dial never outlives the session
            await _abandon(dialer)
        raise
    gone = watcher.done()
    try:
        await cancel_and_wait(watcher)  # raises what the watcher raised (a read of the client that failed)
    except BaseException:
        await _abandon(dialer)  # as above: else the dial ran on, its connection never closed
        raise
    if gone:
        if left is not None:
            left[0] = True
        # the backend learns the client's code, as it does when the client leaves later: from a dial
        # done in the same turn (it got 1000, a protocol error's 1002 lost) or still under way
        await _abandon(dialer, *close_reason(*watcher.result()), grace=_ABANDON_GRACE)
        return None, True
    return dialer.result(), False


async def _abandon(
    dialer: asyncio.Task[_Backend | None], code: int = NORMAL, why: bytes = b"", grace: float = 0.0
) -> None:
    """Stop a dial nobody waits for any more; a connection it made meanwhile is closed with ``code``.

    With ``grace``, the attempt under way is given that long to end first: cancelled in the middle
    of its handshake, the dial dropped a connection the backend had accepted already without a close
    frame (an aiohttp backend reads that as 1000, a Go one as 1006), where the client's code (1002
    for a protocol error, 1001 when it went away) is what it learns when the client leaves later.
    A dial that does not end within ``grace`` is cancelled (retries are not waited for: the dial's
    ``wanted`` says no one waits)."""
    if grace > 0 and not dialer.done():
        try:
            await asyncio.wait((dialer,), timeout=grace)
        except BaseException:  # the session is cancelled meanwhile: the dial with it
            dialer.cancel()
            raise
    if not dialer.done():
        dialer.cancel()
    task = asyncio.current_task()
    asked = task.cancelling() if task is not None else 0
    try:
        backend = await dialer
    except BaseException:  # cancelled, or failed: nothing to close
        if task is not None and task.cancelling() > asked:
            # the session cancelled while the dial ended (its cancellation reaches the dial and comes
            # back as the dial's): the session's, not to be swallowed
            raise
        return
    if backend is not None:
        await backend.close(code=code, message=why)


async def _flush(held: list[WSMessage], backend: _Backend) -> bool:
    """Send what the client said while its backend was dialled; False when the backend is gone."""
    try:
        while held:
            msg = held.pop(0)
            if msg.type is WSMsgType.TEXT:
                await backend.send_str(msg.data)
            else:
                await backend.send_bytes(msg.data)
    except (ConnectionError, RuntimeError):
        return False
    return True


async def run_direct(
    client: Any, connect: Dialer, options: WebSocketOptions, where: str, warn: Throttled | None = None
) -> None:
    """One client's session: dial, pump, redial when the backend connection breaks (as
    ``max_retries`` / ``backoff_strategy`` allow), and close the client when it cannot go on. A
    client that leaves while its backend is dialled ends the session there; ``warn`` throttles the
    reconnection warnings (shared by the endpoint's sessions)."""
    pinger = spawn(pings(client, options.ping_period))
    backend: _Backend | None = None
    backoff = Backoff(options.backoff_strategy, options.max_retries)
    warn = warn or Throttled()  # the endpoint's: one line per 10 s however many sessions flap
    held: list[WSMessage] = []
    left = [False]  # the client left while its backend was dialled: no more dial attempts

    def wanted() -> bool:
        return not left[0]

    try:
        dialling = dial(connect, options, where, backoff, warn, wanted)
        backend, gone = await _connect(client, dialling, options, held, left)
        while backend is not None:
            outcome, code, reason = await _pass(client, backend, options) if await _flush(held, backend) else _LOST
            if outcome == _CLIENT_GONE:  # the backend learns the client's code and reason
                code, why = close_reason(code, reason)
                await backend.close(code=code, message=why)
                return
            if outcome == _BACKEND_CLOSED:  # the backend ended the conversation: the client learns why
                code, why = close_reason(code, reason)
                await close_quietly(client, code, why)
                return
            await backend.close()
            dialling = redial(connect, options, where, backoff, warn, wanted)
            backend, gone = await _connect(client, dialling, options, held, left)
        if not gone:
            await close_quietly(client, INTERNAL, b"backend unavailable")
    finally:
        await cancel_and_wait(pinger)
        if backend is not None and not backend.closed:
            await backend.close()
