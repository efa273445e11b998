"""The request head the fast client writes, with its cache of the last header lines."""

from __future__ import annotations

from krakenpy.backends.fastwire import KNOWN, Heads, request_head


def test_request_head_equal_headers_reuse_the_lines_with_each_own_request_line() -> None:
    pairs = [("X-Forwarded-For", "127.0.0.1"), ("User-Agent", "KrakenD"), ("Accept-Encoding", "gzip")]
    first = request_head("GET", "/a", "h:1", pairs, None, False)
    second = request_head("POST", "/b?x=1", "h:2", list(pairs), b"{}", True)
    lines = b"X-Forwarded-For: 127.0.0.1\r\nUser-Agent: KrakenD\r\nAccept-Encoding: gzip\r\n"
    assert first == b"GET /a HTTP/1.1\r\nHost: h:1\r\n" + lines + b"\r\n"
    assert (
        second == b"POST /b?x=1 HTTP/1.1\r\nHost: h:2\r\n" + lines + b"Content-Length: 2\r\nConnection: close\r\n\r\n"
    )
    assert request_head("PUT", "/c", "h:3", pairs, None, False) == (
        b"PUT /c HTTP/1.1\r\nHost: h:3\r\n" + lines + b"Content-Length: 0\r\n\r\n"
    )


def test_request_head_cached_host_override_and_refusal() -> None:
    given = [("Host", "api.example"), ("Content-Length", "9"), ("X-A", "1")]
    for _ in range(2):  # computed, then from the cache
        assert (
            request_head("GET", "/", "h:1", given, None, False)
            == b"GET / HTTP/1.1\r\nHost: api.example\r\nX-A: 1\r\n\r\n"
        )
    bad = [("X-A", "1\r\nX-Injected: 1")]
    assert request_head("GET", "/", "h:1", bad, None, False) is None
    assert request_head("GET", "/", "h:1", list(bad), None, False) is None  # the refusal is cached too
    changed = [("X-A", "2")]
    assert request_head("GET", "/", "h:1", changed, None, False) == b"GET / HTTP/1.1\r\nHost: h:1\r\nX-A: 2\r\n\r\n"


def test_request_head_a_later_change_to_the_given_list_is_not_cached() -> None:
    pairs = [("X-A", "1")]
    assert request_head("GET", "/", "h", pairs, None, False) == b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n"
    pairs.append(("X-B", "2"))  # the caller's list changed after the call: compared anew
    assert request_head("GET", "/", "h", pairs, None, False) == b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-B: 2\r\n\r\n"


def test_request_head_with_changed_values_matches_a_fresh_head() -> None:
    """The last head's lines reused with only the changed values written again (request ids,
    ``traceparent``) give the bytes (or the refusal) of a head built from nothing."""
    import random

    from krakenpy.backends import fastwire

    rng = random.Random(7)
    names = ["X-Request-Id", "traceparent", "User-Agent", "Host", "Accept", "X:Bad"]
    values = ["a", "b1", "ok value", "evil\r\nX: y", "gw.example", "x\n", "é", "n\x00ul", "e\x1b[0m", "t\tab"]
    base = [("X-Forwarded-For", "127.0.0.1"), ("X-Request-Id", "r1"), ("Accept-Encoding", "gzip")]
    for _ in range(3000):
        headers = list(base)
        for _ in range(rng.randrange(3)):
            if rng.random() < 0.8:
                i = rng.randrange(len(headers))
                headers[i] = (headers[i][0] if rng.random() < 0.8 else rng.choice(names), rng.choice(values))
            else:
                headers.insert(rng.randrange(len(headers) + 1), (rng.choice(names), rng.choice(values)))
        reused = fastwire.request_head("GET", "/x", "h:8080", headers, None, False)
        fastwire._HEADS.reset()
        assert reused == fastwire.request_head("GET", "/x", "h:8080", headers, None, False), headers
        if rng.random() < 0.5:
            base = headers


def _refused(value: str) -> bool:
    """Go's client refuses a value with a control byte but HTAB, or DEL (httpguts)."""
    return any(ord(c) < 0x20 and c != "\t" or c == "\x7f" for c in value)


def _reference(
    method: str, target: str, host: str, headers: list[tuple[str, str]], body: bytes | None, close: bool
) -> bytes | None:
    """The head built from nothing, as the cache-less client wrote it."""
    lines = []
    for name, value in headers:
        lower = name.lower()
        if lower in ("host", "content-length", "transfer-encoding", "connection"):
            if lower == "host":
                host = value
            continue
        if _refused(value) or "\r" in name or "\n" in name or ":" in name:
            return None
        lines.append(f"{name}: {value}\r\n")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body) if body else 0}\r\n")
    if close:
        lines.append("Connection: close\r\n")
    if _refused(host):
        return None
    text = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{''.join(lines)}\r\n"
    return text.encode("utf-8", "surrogateescape")


def test_request_head_pieces_around_varying_values_match_the_reference() -> None:
    """Heads in a row, as a worker writes them (a request id and a traceparent new on every
    request, now and then another header, a Host, a method, a body, a close, a refused value): each
    is the reference's bytes, whatever the last heads left in the cache."""
    import random

    rng = random.Random(11)
    names = ["X-Request-Id", "traceparent", "User-Agent", "Host", "Accept", "X:Bad", "Content-Length"]
    values = ["a", "b1", "ok value", "evil\r\nX: y", "gw.example", "x\n", "é", "\udcff raw", "n\x00ul", "d\x7f"]
    values.append("t\tab")
    base = [
        ("X-Forwarded-For", "127.0.0.1"),
        ("User-Agent", "KrakenPy"),
        ("X-Request-Id", "r0"),
        ("traceparent", "t0"),
        ("Accept-Encoding", "gzip"),
    ]
    from krakenpy.backends import fastwire

    kept = fast = 0
    for n in range(4000):
        headers = list(base)
        headers[2] = ("X-Request-Id", f"5760b40c-49b9-48d7-ae82-{n:012x}")
        if rng.random() < 0.5:
            headers[3] = ("traceparent", f"00-{n:032x}-{n:016x}-01")
        if rng.random() < 0.1:
            i = rng.randrange(len(headers))
            headers[i] = (headers[i][0] if rng.random() < 0.7 else rng.choice(names), rng.choice(values))
        if rng.random() < 0.05:
            headers.insert(rng.randrange(len(headers) + 1), (rng.choice(names), rng.choice(values)))
        method = "GET" if rng.random() < 0.9 else rng.choice(["POST", "PUT", "HEAD", "DELETE"])
        target = "/x" if rng.random() < 0.95 else "/y?z=1"
        host = "h:8080" if rng.random() < 0.95 else rng.choice(["h:9", "bad\r\nhost", "nul\x00host"])
        body = None if rng.random() < 0.9 else rng.choice([b"", b"{}", b"12345"])
        close = rng.random() < 0.05
        expected = _reference(method, target, host, headers, body, close)
        rebuilt = fastwire._HEADS.pieces
        assert request_head(method, target, host, headers, body, close) == expected, (method, host, headers)
        if expected is not None and rng.random() < 0.02:
            base = headers
        kept += expected is not None
        fast += fastwire._HEADS.pieces is rebuilt and expected is not None
    assert kept > 3000
    assert fast > 1000, (
        fast
    )  # a third of the heads came from the pieces (a loop that always rebuilt would pass the rest)


def test_request_head_a_request_id_after_a_header_set_by_a_modifier() -> None:
    """A header a modifier sets beside the id (another value on every request, or the same): both
    go out as given, the id's line rewritten per request, and a value with CR/LF is refused."""
    for n in range(5):
        pairs = [("X-Set-By-Lua", f"v{n % 2}"), ("X-Request-Id", f"id-{n}"), ("Accept-Encoding", "gzip")]
        assert request_head("GET", "/a", "h", pairs, None, False) == (
            b"GET /a HTTP/1.1\r\nHost: h\r\nX-Set-By-Lua: v%d\r\nX-Request-Id: id-%d\r\n" % (n % 2, n)
            + b"Accept-Encoding: gzip\r\n\r\n"
        )
    refused = [("X-Set-By-Lua", "v1"), ("X-Request-Id", "id\r\nX-Evil: 1"), ("Accept-Encoding", "gzip")]
    assert request_head("GET", "/a", "h", refused, None, False) is None
    assert request_head("GET", "/a", "h", [("X-Set-By-Lua", "v1"), ("X-Request-Id", "id-9")], None, False) == (
        b"GET /a HTTP/1.1\r\nHost: h\r\nX-Set-By-Lua: v1\r\nX-Request-Id: id-9\r\n\r\n"
    )


def test_request_head_a_merge_and_a_parameter_target_keep_the_pieces() -> None:
    """A merge's backends alternate their targets (P2: /small.json, /posts.json) and an endpoint with
    parameters sends a new target per request: once the list's varying id is known, every head comes
    from the kept pieces (the first version kept the request line in them and rebuilt all of these
    heads: +30 k instructions per P2 request), each the reference's bytes, Host and framing included."""
    from krakenpy.backends import fastwire

    fastwire._HEADS.reset()
    kept = None
    for n in range(40):
        headers = [("X-Forwarded-For", "127.0.0.1"), ("X-Request-Id", f"id-{n}"), ("User-Agent", "KrakenPy")]
        for k, (method, target, host, body) in enumerate(
            [("GET", "/small.json", "h:1", None), ("GET", "/posts.json", "h:1", None),
             ("GET", f"/u/{n}?q={n}", "other:2", None), ("POST", "/p", "h:1", b"12345")]
        ):  # fmt: skip
            close = n % 7 == 3 and k == 2
            assert request_head(method, target, host, headers, body, close) == _reference(
                method, target, host, headers, body, close
            )
            if n >= 2:  # the id seen varying at the second request: the pieces stay from then on
                assert fastwire._HEADS.pieces is kept, (n, target)
            kept = fastwire._HEADS.pieces


def test_request_head_writes_the_known_value_unscanned_and_scans_an_equal_copy() -> None:
    """A varying value that is fastwire's ``KNOWN`` string (a ``traceparent`` the gateway made of hex
    digits) goes out without the control-byte scan; an equal string that is another object is scanned
    (here refused: the known value holds a control byte only to show that it was not scanned)."""
    heads = Heads()

    def pairs(value: str) -> list[tuple[str, str]]:
        return [("User-Agent", "KrakenD"), ("traceparent", value)]

    for value in ("00-aa-01", "00-bb-01"):  # the second makes the traceparent a varying value
        assert request_head("GET", "/", "h", pairs(value), None, False, heads) is not None
    known = "".join(["00-\x01", "-01"])  # made at run time: no constant shares the object
    saved = KNOWN.value
    KNOWN.value = known
    try:
        head = request_head("GET", "/", "h", pairs(known), None, False, heads)
        assert head == b"GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: KrakenD\r\ntraceparent: 00-\x01-01\r\n\r\n"
        copy = "".join(["00-", "\x01-01"])
        assert copy == known and copy is not known
        assert request_head("GET", "/", "h", pairs(copy), None, False, heads) is None
    finally:
        KNOWN.value = saved


def test_request_head_writes_the_known_request_id_unscanned_and_scans_an_equal_copy() -> None:
    """Likewise for ``KNOWN.rid`` (the request id the HTTP executor forwards: generated, or a client's
    that ``valid_request_id`` let through), beside a ``KNOWN.value`` of another request."""
    heads = Heads()

    def pairs(value: str) -> list[tuple[str, str]]:
        return [("Accept", "*/*"), ("X-Request-Id", value), ("Accept-Encoding", "gzip")]

    for value in ("id-1", "id-2"):  # the second makes the id a varying value
        assert request_head("GET", "/", "h", pairs(value), None, False, heads) is not None
    known = "".join(["id-\x01", "-3"])  # made at run time: no constant shares the object
    saved = KNOWN.value, KNOWN.rid
    KNOWN.value, KNOWN.rid = "00-other-01", known
    try:
        head = request_head("GET", "/", "h", pairs(known), None, False, heads)
        assert head == (
            b"GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-Request-Id: id-\x01-3\r\nAccept-Encoding: gzip\r\n\r\n"
        )
        copy = "".join(["id-", "\x01-3"])
        assert copy == known and copy is not known
        assert request_head("GET", "/", "h", pairs(copy), None, False, heads) is None
    finally:
        KNOWN.value, KNOWN.rid = saved
