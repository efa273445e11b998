"""The request head the fast client writes, with its cache of the last header lines."""

from __future__ import annotations

from krakenpy.backends.fastwire import request_head


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
    values = ["a", "b1", "ok value", "evil\r\nX: y", "gw.example", "x\n", "é"]
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
        fastwire._LAST = ([], None, "", [])
        assert reused == fastwire.request_head("GET", "/x", "h:8080", headers, None, False), headers
        if rng.random() < 0.5:
            base = headers
