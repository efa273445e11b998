"""KrakenD's revocation RPC: Go ``net/rpc`` with the gob codec, service ``BloomfilterRPC``.

KrakenD registers krakend/bloomfilter's ``BloomfilterRPC`` on the revoker's port, so its tools and
EE's Revoke Server call ``BloomfilterRPC.Add`` (``AddInput{Elems [][]byte}`` → ``AddOutput{Count
int}``) and ``BloomfilterRPC.Check`` (``CheckInput{Elems [][]byte}`` → ``CheckOutput{Checks
[]bool}``). Each call is a request header (``rpc.Request{ServiceMethod, Seq}``) then its argument;
each answer a response header (``rpc.Response{ServiceMethod, Seq, Error}``) then the result, or on
an error an empty value Go's client discards. ``Union`` merges a whole gob-encoded KrakenD filter
set into the gateway's: it is answered with an error (see README).

Elements are bytes; the store hashes strings' UTF-8 bytes, so an element that is not UTF-8 (no
token claim, a JSON string, can be one) is counted by ``Add`` but not stored, and ``Check`` answers
false for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final

from krakenpy.jose.bloom import RotatingBloom
from krakenpy.jose.gob import INT, MAX_MESSAGE, STRING, UINT, Decoder, GobError
from krakenpy.jose.gobencode import Encoder, StructSpec
from krakenpy.server.limits import DEFAULT_IDLE_TIMEOUT

__all__ = ["SERVICE", "looks_like_gob", "serve_rpc"]

log = logging.getLogger("krakenpy.jose")

SERVICE: Final = "BloomfilterRPC"
#: once a message has started, the rest of it must arrive within this many seconds (and an answer
#: must be taken by the client within as many)
MESSAGE_TIMEOUT: Final = 10.0
#: silence between messages closes the connection: the gateway's idle clock
IDLE_TIMEOUT: Final = DEFAULT_IDLE_TIMEOUT
#: a keyed port reads only a call's header: an rpc.Request and its definition are tens of bytes
_MAX_KEYED_MESSAGE: Final = 4096
#: how long a refused connection's remaining bytes are read and dropped before it closes
_LINGER: Final = 2.0
_MAX_ELEMENT: Final = 4096

_RESPONSE: Final = StructSpec("Response", (("ServiceMethod", STRING), ("Seq", UINT), ("Error", STRING)))
_ADD_OUTPUT: Final = StructSpec("AddOutput", (("Count", INT),))
_CHECK_OUTPUT: Final = StructSpec("CheckOutput", (("Checks", "[]bool"),))
_INVALID: Final = StructSpec("InvalidRequest", ())


def looks_like_gob(first: int, second: int) -> bool:
    """Whether a connection's first two bytes start a gob stream rather than an HTTP request.

    An HTTP/1 request starts with a method token then a space: ASCII only. A net/rpc client's
    stream starts with the definition of ``rpc.Request`` (a struct needs one before its first
    value): a length byte, then the negative type id (-65 or below, encoded as a count byte
    ``0xFF``…``0xF8`` then its bytes); a length of 128 or more is itself a count byte. So one of the
    first two bytes of a gob stream is 0x80 or above and neither byte of an HTTP request is.
    """
    return first >= 0x80 or second >= 0x80


async def _read_message(reader: asyncio.StreamReader, limit: int) -> bytes | None:
    """The next message's bytes, ``None`` at the end of the stream or after an idle wait between messages."""
    try:
        async with asyncio.timeout(IDLE_TIMEOUT):
            first = (await reader.readexactly(1))[0]
    except (asyncio.IncompleteReadError, TimeoutError):
        return None
    async with asyncio.timeout(MESSAGE_TIMEOUT):
        if first < 0x80:
            size = first
        else:
            count = 256 - first
            if count > 8:
                raise GobError("bad message length")
            size = int.from_bytes(await reader.readexactly(count), "big")
        if not 0 < size <= limit:
            raise GobError(f"message of {size} bytes refused")
        return await reader.readexactly(size)


async def _read_value(reader: asyncio.StreamReader, decoder: Decoder, limit: int = MAX_MESSAGE) -> tuple[bool, Any]:
    """``(True, value)``, or ``(False, None)`` at the end of the stream."""
    while True:
        data = await _read_message(reader, limit)
        if data is None:
            return False, None
        is_value, value = decoder.message(data)
        if is_value:
            return True, value


async def _header(reader: asyncio.StreamReader, decoder: Decoder, limit: int) -> tuple[str, int] | None:
    """The next call's ``(ServiceMethod, Seq)``, ``None`` at the end of the stream."""
    more, header = await _read_value(reader, decoder, limit)
    if not more:
        return None
    if not isinstance(header, dict):
        raise GobError("request header is not a struct")
    method, seq = header.get("ServiceMethod", ""), header.get("Seq", 0)
    if not isinstance(method, str) or not isinstance(seq, int) or seq < 0:
        raise GobError("request header is not an rpc.Request")
    return method, seq


def _elements(body: Any) -> list[bytes] | str:
    elems = body.get("Elems", []) if isinstance(body, dict) else None
    if not isinstance(elems, list) or not all(isinstance(e, bytes) for e in elems):
        return "gob: argument is not an AddInput/CheckInput {Elems [][]byte}"
    if any(len(e) > _MAX_ELEMENT for e in elems):
        return f"element over {_MAX_ELEMENT} bytes"
    return elems


def _text(element: bytes) -> str | None:
    try:
        return element.decode()
    except UnicodeDecodeError:
        return None


def _call(store: RotatingBloom, method: str, body: Any) -> tuple[StructSpec, dict[str, Any]] | str:
    """The result of one call, or its error text (Go's wording where Go's server has one)."""
    service, _, name = method.rpartition(".")
    if service != SERVICE:
        return f"rpc: can't find service {method}"
    if name == "Union":
        return "Union is not supported by krakenpy: add the elements with BloomfilterRPC.Add"
    if name not in ("Add", "Check"):
        return f"rpc: can't find method {method}"
    elems = _elements(body)
    if isinstance(elems, str):
        return elems
    texts = [_text(e) for e in elems]
    if name == "Add":
        store.add([t for t in texts if t is not None])
        log.info("revoker rpc: %d element(s) revoked", len(elems))
        return _ADD_OUTPUT, {"Count": len(elems)}
    return _CHECK_OUTPUT, {"Checks": [t is not None and store.check(t) for t in texts]}


async def _answer(
    writer: asyncio.StreamWriter, encoder: Encoder, method: str, seq: int, result: tuple[StructSpec, Any] | str
) -> None:
    if isinstance(result, str):
        answer = {"ServiceMethod": method, "Seq": seq, "Error": result}
        out = encoder.encode(_RESPONSE, answer) + encoder.encode(_INVALID, {})
    else:
        spec, value = result
        out = encoder.encode(_RESPONSE, {"ServiceMethod": method, "Seq": seq}) + encoder.encode(spec, value)
    writer.write(out)
    try:  # a client that never reads its answers does not hold the connection forever
        async with asyncio.timeout(MESSAGE_TIMEOUT):
            await writer.drain()
    except TimeoutError:
        raise GobError("the client does not read its answers") from None


async def _serve_call(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, decoder: Decoder, encoder: Encoder, store: RotatingBloom
) -> bool:
    """One call and its answer; ``False`` when the client has left. A function of its own so that
    nothing of the call (its decoded body) stays referenced while the connection waits for the next."""
    header = await _header(reader, decoder, MAX_MESSAGE)
    if header is None:
        return False
    more, body = await _read_value(reader, decoder)
    if not more:
        return False
    result = _call(store, header[0], body)
    del body
    await _answer(writer, encoder, *header, result)
    return True


async def _refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, refusal: str) -> None:
    """A keyed port: the first call is answered ``refusal`` from its header alone (its body is never
    decoded, nor any later call) and the connection closed."""
    header = await _header(reader, Decoder(), _MAX_KEYED_MESSAGE)
    if header is None:
        return
    await _answer(writer, Encoder(), *header, refusal)
    writer.write_eof()
    # closing with unread data makes the kernel reset the connection, which can lose the answer
    # before the client reads it: what the client still sends is read and dropped, briefly
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_LINGER):
            while await reader.read(1 << 16):
                pass


async def serve_rpc(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, store: RotatingBloom, refusal: str | None
) -> None:
    """Answer calls until the client leaves; a stream that is not net/rpc gob closes the connection.
    ``refusal``: when RPC is not allowed, the error the first call gets before the connection closes."""
    try:
        if refusal is not None:
            await _refuse(reader, writer, refusal)
            return
        decoder, encoder = Decoder(), Encoder()
        while await _serve_call(reader, writer, decoder, encoder, store):
            pass
    except GobError as exc:
        _warn(writer, str(exc))
    except (TimeoutError, asyncio.IncompleteReadError):
        _warn(writer, "message cut short")
    except ConnectionError:
        pass
    except Exception as exc:  # a bug: one line, the connection closed, no task traceback
        log.error("revoker rpc: closing a connection from %s: unexpected %r", _peer(writer), exc)
    finally:
        writer.close()


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "?"


#: the kinds of close already logged as a warning (per process)
_WARNED: set[str] = set()
_DIGITS: Final = str.maketrans("", "", "0123456789")


def _warn(writer: asyncio.StreamWriter, reason: str) -> None:
    """The first close of each kind is a warning, later ones debug: an unauthenticated client
    sending garbage cannot flood the log."""
    kind = reason.translate(_DIGITS)  # "message of 5 bytes refused" and of 7 are one kind
    level = logging.DEBUG if kind in _WARNED else logging.WARNING
    _WARNED.add(kind)
    log.log(level, "revoker rpc: closing a connection from %s: %s", _peer(writer), reason)
