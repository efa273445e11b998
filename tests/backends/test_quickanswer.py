"""The fast client's short path: exactly the common answers, everything else left to llhttp."""

from __future__ import annotations

import pytest

from krakenpy.backends.quickanswer import quick_answer

BODY = b'{"id":1,"name":"x"}'


def answer(head: bytes, body: bytes = BODY) -> bytes:
    return head + b"\r\n\r\n" + body


def test_quickanswer_reads_a_content_length_answer() -> None:
    data = answer(
        b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        b"Connection: keep-alive\r\nX-Odd:  spaced\t \r\nX-Bytes: caf\xc3\xa9 \xff" % len(BODY)
    )
    parsed = quick_answer(data, 1 << 20)
    assert parsed is not None
    message, body = parsed
    assert body == BODY
    assert message.code == 200
    assert not message.should_close
    assert message.headers.get("content-type") == "application/json"
    assert message.headers["X-Odd"] == "spaced"  # optional whitespace around a value is not part of it
    # bytes that are not UTF-8 come through as surrogate escapes, as aiohttp's parser gives them
    assert message.headers["X-Bytes"] == "café \udcff"
    assert list(message.headers)[:2] == ["Server", "Content-Type"]


def test_quickanswer_finds_the_first_of_the_headers_the_client_reads() -> None:
    data = answer(
        b"HTTP/1.1 302 Found\r\ncontent-type: text/plain\r\nContent-Type: x/y\r\nLOCATION: /next\r\n"
        b"Location: /other\r\nContent-Encoding: gzip\r\nContent-Encoding: br\r\nContent-Length: %d" % len(BODY)
    )
    parsed = quick_answer(data, 1 << 20)
    assert parsed is not None
    message = parsed[0]
    # what a multidict's get answers, without building one
    assert (message.content_type, message.location, message.encoding) == ("text/plain", "/next", "gzip")
    assert message.pairs[0] == ("content-type", "text/plain") and len(message.pairs) == 7
    plain = quick_answer(answer(b"HTTP/1.1 200 OK\r\nContent-Length: %d" % len(BODY)), 1 << 20)
    assert plain is not None
    assert (plain[0].content_type, plain[0].location, plain[0].encoding) == (None, None, None)


@pytest.mark.parametrize(
    ("head", "should_close"),
    [
        (b"HTTP/1.1 201 Created\r\nContent-Length: %d", False),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d", True),
        (b"HTTP/1.0 200 OK\r\nContent-Length: %d", True),
        (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: %d", False),
        (b"HTTP/1.1 500\r\nContent-Length: %d", False),
        (b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: %d", False),
    ],
)
def test_quickanswer_status_and_connection(head: bytes, should_close: bool) -> None:
    parsed = quick_answer(answer(head % len(BODY)), 1 << 20)
    assert parsed is not None
    assert parsed[0].should_close is should_close
    assert parsed[0].code == int(head[9:12])


@pytest.mark.parametrize(
    "data",
    [
        answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", b"5\r\nhello\r\n0\r\n\r\n"),
        answer(b"HTTP/1.1 200 OK\r\nContent-Type: application/json"),  # read until close
        answer(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Length: %d" % (len(BODY), len(BODY))),
        answer(b"HTTP/1.1 200 OK\r\nContent-Length: +19"),
        answer(b"HTTP/1.1 200 OK\r\nContent-Length: 99"),  # the body is still coming
        answer(b"HTTP/1.1 200 OK\r\nContent-Length: 5"),  # bytes nobody asked for follow
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",  # the head is not complete
        answer(b"HTTP/1.1 204 No Content\r\nContent-Length: 0", b""),
        answer(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 19", b""),
        answer(b"HTTP/1.1 100 Continue", b""),
        answer(b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: %d" % len(BODY)),  # obs-fold
        answer(b"HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: %d" % len(BODY)),
        answer(b"HTTP/1.1 200 OK\r\nX-Ctl: a\x01b\r\nContent-Length: %d" % len(BODY)),
        answer(b"HTTP/1.1 200 OK\r\nConnection: upgrade\r\nContent-Length: %d" % len(BODY)),
        answer(b"HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: close\r\nContent-Length: %d" % len(BODY)),
        answer(b"HTTP/2 200\r\nContent-Length: %d" % len(BODY)),
        answer(b"ICY 200 OK\r\nContent-Length: %d" % len(BODY)),
    ],
)
def test_quickanswer_leaves_everything_else_to_llhttp(data: bytes) -> None:
    assert quick_answer(data, 1 << 20) is None


def test_quickanswer_leaves_a_body_over_the_cap_to_llhttp() -> None:
    data = answer(b"HTTP/1.1 200 OK\r\nContent-Length: %d" % len(BODY))
    assert quick_answer(data, len(BODY)) is not None
    assert quick_answer(data, len(BODY) - 1) is None  # llhttp's path reports the limit


def test_quickanswer_headers_are_decoded_only_when_read() -> None:
    from krakenpy.backends.client import UpstreamResponse
    from krakenpy.backends.quickresponse import QuickResponse

    data = answer(
        b"HTTP/1.1 200 OK\r\nX-Note: content-length: 5\r\nContent-Type: a/b\r\nContent-Length: %d" % len(BODY)
    )
    parsed = quick_answer(data, 1 << 20)
    assert parsed is not None  # a value that reads like a header line is not one
    message, body = parsed
    response = QuickResponse(message, body)
    assert message._pairs is None  # nothing decoded yet
    assert (response.status, response.body, response.content_type) == (200, BODY, "a/b")
    pairs = (("X-Note", "content-length: 5"), ("Content-Type", "a/b"), ("Content-Length", str(len(BODY))))
    assert response.headers == pairs
    assert response == UpstreamResponse(200, pairs, BODY, "a/b") == response
    assert response != UpstreamResponse(200, pairs, BODY, "a/c")


def test_quickanswer_response_copies_and_pickles_as_a_plain_response() -> None:
    import copy
    import pickle

    from krakenpy.backends.client import UpstreamResponse
    from krakenpy.backends.quickresponse import QuickResponse

    parsed = quick_answer(answer(b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nContent-Length: %d" % len(BODY)), 1 << 20)
    assert parsed is not None
    response = QuickResponse(*parsed)
    plain = UpstreamResponse(200, (("Set-Cookie", "a=1"), ("Content-Length", str(len(BODY)))), BODY, "")
    for copied in (copy.copy(response), copy.deepcopy(response), pickle.loads(pickle.dumps(response))):
        assert type(copied) is UpstreamResponse
        assert copied == plain


def test_quickanswer_parses_a_head_once_and_shares_its_message() -> None:
    head = b"HTTP/1.1 200 OK\r\nX-Once: %d\r\nContent-Type: a/b\r\nContent-Length: %d"
    first = quick_answer(answer(head % (1, len(BODY))), 1 << 20)
    again = quick_answer(answer(head % (1, len(BODY))), 1 << 20)
    other = quick_answer(answer(head % (2, len(BODY))), 1 << 20)
    assert first is not None and again is not None and other is not None
    assert again[0] is first[0]  # the same head bytes: the parse is reused
    assert other[0] is not first[0]
    assert [m.pairs[0] for m in (first[0], again[0], other[0])] == [("X-Once", "1"), ("X-Once", "1"), ("X-Once", "2")]


def test_quickanswer_checks_the_body_of_a_known_head_every_time() -> None:
    head = b"HTTP/1.1 200 OK\r\nX-Body: check\r\nContent-Length: %d" % len(BODY)
    assert quick_answer(answer(head), 1 << 20) is not None
    assert quick_answer(answer(head, BODY[:-1]), 1 << 20) is None  # the body is still coming
    assert quick_answer(answer(head, BODY + b"x"), 1 << 20) is None  # bytes nobody asked for follow
    assert quick_answer(answer(head), len(BODY) - 1) is None  # another client's cap
    assert quick_answer(answer(head), 1 << 20) is not None


def test_quickanswer_remembers_a_refused_head() -> None:
    from krakenpy.backends import quickanswer

    data = answer(b"HTTP/1.1 200 OK\r\nX-Refused: 1\r\nTransfer-Encoding: chunked", b"5\r\nhello\r\n0\r\n\r\n")
    assert quick_answer(data, 1 << 20) is None
    assert quickanswer._HEADS[data[: data.find(b"\r\n\r\n")]][0] is None
    assert quick_answer(data, 1 << 20) is None


def test_quickanswer_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from krakenpy.backends import quickanswer

    monkeypatch.setattr(quickanswer, "HEADS_SIZE", 4)
    monkeypatch.setattr(quickanswer, "HEAD_CACHED", 100)
    for i in range(10):
        assert quick_answer(answer(b"HTTP/1.1 200 OK\r\nX-N: %d\r\nContent-Length: %d" % (i, len(BODY))), 1 << 20)
        assert 1 <= len(quickanswer._HEADS) <= 4  # the oldest head goes first when full
    large = answer(b"HTTP/1.1 200 OK\r\nX-Large: %s\r\nContent-Length: %d" % (b"x" * 100, len(BODY)))
    parsed = quick_answer(large, 1 << 20)
    assert parsed is not None and parsed[0].pairs[0] == ("X-Large", "x" * 100)
    assert large[: large.find(b"\r\n\r\n")] not in quickanswer._HEADS  # over HEAD_CACHED: parsed each time
    again = quick_answer(large, 1 << 20)
    assert again is not None and again[0] is not parsed[0]


def test_quickanswer_cache_drops_its_oldest_heads_within_a_byte_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """quick review: a kept message keeps its decoded pairs, so the cache is bounded in bytes too, and
    one never-repeating backend pushes out one old head per answer, not the whole cache."""
    from krakenpy.backends import quickanswer

    monkeypatch.setattr(quickanswer, "_HEADS", {})
    monkeypatch.setattr(quickanswer, "_kept", [0])
    monkeypatch.setattr(quickanswer, "HEADS_SIZE", 8)
    heads = [b"HTTP/1.1 200 OK\r\nX-N: %03d\r\nContent-Length: %d" % (i, len(BODY)) for i in range(20)]
    monkeypatch.setattr(quickanswer, "HEADS_BYTES", len(heads[0]) * 5)  # five heads fit
    for head in heads[:5]:
        assert quick_answer(answer(head), 1 << 20)
    assert list(quickanswer._HEADS) == heads[:5]
    first = quick_answer(answer(heads[4]), 1 << 20)
    assert quick_answer(answer(heads[5]), 1 << 20)  # a sixth: the oldest head goes, the others stay
    assert list(quickanswer._HEADS) == heads[1:6]
    again = quick_answer(answer(heads[4]), 1 << 20)
    assert first is not None and again is not None and again[0] is first[0]  # still a hit
    for head in heads[6:]:
        assert quick_answer(answer(head), 1 << 20)
        assert sum(map(len, quickanswer._HEADS)) == quickanswer._kept[0] <= len(heads[0]) * 5
    assert list(quickanswer._HEADS) == heads[15:]


def test_quickanswer_response_built_without_init_equals_one_built_with_it() -> None:
    from dataclasses import FrozenInstanceError

    from krakenpy.backends.fastclient import quick_response
    from krakenpy.backends.quickresponse import QuickResponse

    parsed = quick_answer(answer(b"HTTP/1.1 201 Created\r\nX-Fill: 1\r\nContent-Length: %d" % len(BODY)), 1 << 20)
    assert parsed is not None
    built = quick_response(*parsed)
    made = QuickResponse(*parsed)
    assert type(built) is QuickResponse
    assert (built.status, built.headers, built.body, built.content_type) == (201, made.headers, BODY, "")
    assert built == made and hash(built) == hash(made)
    with pytest.raises(FrozenInstanceError):
        built.status = 500  # type: ignore[misc]  # frozen once built
    with pytest.raises(AttributeError):
        built.__dict__  # noqa: B018  # slotted: the message is in a slot, no dict per answer
