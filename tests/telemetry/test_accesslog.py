from __future__ import annotations

import re
import time

import orjson
import pytest

from krakenpy.goquote import go_quote
from krakenpy.telemetry.accesslog import AccessEntry, formatter

GIN = re.compile(r"^\[GIN\] \d{4}/\d\d/\d\d - \d\d:\d\d:\d\d \| \d{3} \| +\S+ \| +\S+ \| \w+ +\".*\"$")


def _entry(**kw: object) -> AccessEntry:
    base: dict[str, object] = dict(
        end=time.mktime((2024, 5, 30, 19, 8, 7, 0, 0, -1)),
        status=200,
        latency=0.143655729,
        client_ip="83.33.197.234",
        method="GET",
        target="/v2/user/profile",
    )
    base.update(kw)
    return AccessEntry(**base)  # type: ignore[arg-type]


def test_formatter_gin_is_byte_identical_to_gin() -> None:
    line = formatter("gin")(_entry())
    assert (
        line == b'[GIN] 2024/05/30 - 19:08:07 | 200 |  143.655729ms |   83.33.197.234 | GET      "/v2/user/profile"\n'
    )
    assert GIN.match(line.decode().rstrip("\n"))


def test_formatter_gin_error_lines_and_long_latency() -> None:
    line = formatter("gin")(_entry(status=500, latency=75.123, errors=["a", "b"])).decode()
    assert "|         1m15s |" in line
    assert line.endswith("\nError #01: a\nError #02: b\n")


def test_formatter_gin_error_text_is_one_line() -> None:
    # a Lua error() with a client's decoded %0D%0A: the error line cannot start a forged line
    line = formatter("gin")(_entry(status=500, errors=["[Lua] x\r\n[GIN] forged"])).decode()
    assert line.endswith('"/v2/user/profile"\nError #01: [Lua] x\\r\\n[GIN] forged\n')


def test_go_quote_escapes_like_strconv() -> None:
    assert go_quote('/a"b\\c') == '"/a\\"b\\\\c"'
    assert go_quote("/é\n\x01") == '"/é\\n\\x01"'


def test_formatter_json_has_split_latency() -> None:
    record = orjson.loads(
        formatter("json")(_entry(latency=0.010, upstream=0.004, request_id="r1", route="/v2/{x}", subject="u"))
    )
    assert record["latency_ms"] == 10.0 and record["upstream_ms"] == 4.0 and record["gateway_ms"] == 6.0
    assert record["request_id"] == "r1" and record["route"] == "/v2/{x}" and record["subject"] == "u"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", record["time"])
    assert set(record) == {
        "time", "request_id", "trace_id", "method", "route", "path", "status", "latency_ms",
        "upstream_ms", "gateway_ms", "bytes_in", "bytes_out", "client_ip", "user_agent", "subject", "error",
    }  # fmt: skip


def test_formatter_common_and_combined() -> None:
    common = formatter("common")(_entry(bytes_out=12)).decode()
    assert re.match(
        r'^83\.33\.197\.234 - - \[30/May/2024:19:08:07 [+-]\d{4}\] "GET /v2/user/profile HTTP/1.1" 200 12\n$', common
    )
    combined = formatter("combined")(_entry(user_agent='cu"rl', referer="")).decode()
    assert combined.endswith(' 200 - "-" "cu\\"rl"\n')


def test_formatter_common_and_combined_escape_as_apache() -> None:
    # a decoded %0D%0A in the path (or a JWT subject with one) ended the line: a forged log line
    entry = _entry(target='/p/a\r\nINJECTED "x\\y', subject="s\nu", referer='r"\\', user_agent="u\x01\x7f\t")
    line = formatter("combined")(entry).decode()
    assert line.count("\n") == 1 and "\r" not in line
    assert line.startswith("83.33.197.234 - s\\nu [")
    assert line.endswith('] "GET /p/a\\r\\nINJECTED \\"x\\\\y HTTP/1.1" 200 - "r\\"\\\\" "u\\x01\\x7f\\t"\n')
    assert formatter("common")(entry).decode().count("\n") == 1


@pytest.mark.parametrize("field", ["target", "subject", "referer", "user_agent"])
def test_formatter_clf_escapes_the_one_field_that_needs_it(field: str) -> None:
    # one search over the fields joined decides: a special byte in any one of them is escaped there
    values = {"target": "/t", "subject": "s", "referer": "r", "user_agent": "u"}
    values[field] += '\r\n"'
    line = formatter("combined")(_entry(**values)).decode()
    expected = {name: value.replace("\r\n", "\\r\\n").replace('"', '\\"') for name, value in values.items()}
    assert line.startswith(f"83.33.197.234 - {expected['subject']} [")
    assert line.endswith(
        f'] "GET {expected["target"]} HTTP/1.1" 200 - "{expected["referer"]}" "{expected["user_agent"]}"\n'
    )
    common = formatter("common")(_entry(**values)).decode()
    assert common.startswith(f"83.33.197.234 - {expected['subject']} [")
    assert common.endswith(f'] "GET {expected["target"]} HTTP/1.1" 200 -\n')


def test_gin_renderer_latency_text_is_go_duration() -> None:
    from krakenpy.telemetry.ginline import gin_renderer
    from krakenpy.telemetry.gotime import go_duration

    render = gin_renderer()
    end = int(time.mktime((2024, 5, 30, 19, 8, 7, 0, 0, -1))) * 10**9
    edges = [0, 1, 999, 1_000, 1_001, 1_450, 999_999, 1_000_000, 1_000_450, 1_120_000, 143_655_729, 999_999_999]
    cases = edges + [1_000_000_000, 59_999_999_999, 60_000_000_000] + [7**k for k in range(4, 13)]
    for ns in cases:
        line = render([(end, 200, ns, "10.0.0.1", "GET", "/x", None)]).decode()
        assert line.split(" | ")[2].strip() == go_duration(ns), ns
    # above a minute gin truncates to whole seconds
    line = render([(end, 200, 75_123_000_000, "10.0.0.1", "PROPFIND", "/x", "boom")]).decode()
    assert "|         1m15s |" in line and '| PROPFIND  "/x"\n' in line
    assert line.endswith("\nError #01: boom\n")


def test_gin_renderer_monotonic_end_is_written_as_wall_time() -> None:
    from krakenpy.telemetry.ginline import gin_renderer

    render = gin_renderer(monotonic_ns=True)
    before = time.time()
    line = render([(time.perf_counter_ns(), 200, 1_500, "10.0.0.1", "GET", "/x", None)]).decode()
    after = time.time()
    stamps = {time.strftime("%Y/%m/%d - %H:%M:%S", time.localtime(int(t))) for t in (before, after)}
    assert line[6:27] in stamps
    assert GIN.match(line.rstrip("\n"))


def test_gin_renderer_batch_matches_gins_layout_line_by_line() -> None:
    import random

    from krakenpy.telemetry.ginline import gin_renderer
    from krakenpy.telemetry.gotime import go_duration

    rng = random.Random(14)
    end = int(time.mktime((2024, 5, 30, 19, 8, 7, 0, 0, -1))) * 10**9
    targets = ["/a", "/p1/1?a=1", '/q"x', "/b\\c", "/é", "/t\x01", "/s\udcff", "/\xc2\xb5"]
    spans = (1_000, 1_000_000, 1_000_000_000, 100_000_000_000)
    odd = rng.random
    for _ in range(60):
        # one batch: plain targets alone, or mixed with ones that need Go quoting; now and then a
        # field that is not ASCII (an unknown method, an IPv6 zone, an error text)
        pool = targets[:2] if odd() < 0.5 else targets
        entries: list[tuple[int, int, int, str, str, str, str | None]] = []
        for _ in range(rng.randint(1, 30)):
            ns = rng.randrange(rng.choice(spans))
            ip = "fe80::1%é" if odd() < 0.03 else "10.0.0.1"
            method = rng.choice(("GET", "PROPFIND", "MÉTHODE")) if odd() < 0.05 else "GET"
            error = rng.choice(("boom", "é\xc2\xb5")) if odd() < 0.05 else None
            entries.append((end, rng.choice((200, 404, 503)), ns, ip, method, rng.choice(pool), error))
        text = gin_renderer()(entries).decode("utf-8", "surrogateescape")
        expected = []
        for _, status, ns, ip, method, target, error in entries:
            took = go_duration(ns - ns % 1_000_000_000 if ns > 60_000_000_000 else ns)
            head = f"[GIN] 2024/05/30 - 19:08:07 | {status:3d} | {took:>13} | {ip:>15} | {method:<7}  "
            expected.append(head + go_quote(target) + "\n" + (f"Error #01: {error}\n" if error else ""))
        assert text == "".join(expected)


def test_gin_renderer_plain_batches_match_gins_layout() -> None:
    # plain batches (plain targets, no error, known methods): latencies of every range mixed or
    # alone (whole microseconds among milliseconds too), ends across seconds
    import random

    from krakenpy.telemetry.ginline import gin_renderer
    from krakenpy.telemetry.gotime import go_duration

    rng = random.Random(1414)
    base = int(time.mktime((2024, 5, 30, 19, 8, 7, 0, 0, -1))) * 10**9
    ranges = ((0, 1_000), (1_000, 1_000_000), (1_000_000, 1_000_000_000), (1_000_000_000, 100_000_000_000))
    render = gin_renderer()
    for _ in range(200):
        kinds = rng.sample(ranges, rng.randint(1, 4))
        entries: list[tuple[int, int, int, str, str, str, str | None]] = []
        for _ in range(rng.randint(1, 40)):
            low, high = rng.choice(kinds)
            ns = rng.randrange(low, high)
            if rng.random() < 0.1:
                ns -= ns % 1_000  # a whole number of microseconds
            # in the second, at its last nanosecond, or seconds later
            end = base + rng.choice((250_000_000, 999_999_999, 1_750_000_000, 3_500_000_000, 10**9))
            end = end if rng.random() < 0.3 else base + 500_000_000
            ip = rng.choice(("10.0.0.1", "2001:db8::1", f"192.168.0.{rng.randrange(256)}"))
            method = rng.choice(("GET", "POST", "DELETE", "OPTIONS"))
            status = rng.choice((200, 201, 404, 503, 0, 999))
            entries.append((end, status, ns, ip, method, rng.choice(("/a", "/b?x=1")), None))
        expected = []
        for end, status, ns, ip, method, target, _ in entries:
            took = go_duration(ns - ns % 1_000_000_000 if ns > 60_000_000_000 else ns)
            stamp = time.strftime("%Y/%m/%d - %H:%M:%S", time.localtime(end // 10**9))
            expected.append(f'[GIN] {stamp} | {status:3d} | {took:>13} | {ip:>15} | {method:<7}  "{target}"\n')
        assert render(entries).decode() == "".join(expected)


def test_gin_renderer_monotonic_batch_across_seconds_keeps_order(monkeypatch: pytest.MonkeyPatch) -> None:
    from krakenpy.telemetry.ginline import gin_renderer

    # both clocks pinned (the renderer reads them once per batch): a wall-clock step while the test
    # runs cannot move the expected stamps
    wall = time.mktime((2024, 5, 30, 19, 8, 7, 0, 0, -1)) + 0.75
    now = 10**12
    monkeypatch.setattr(time, "time", lambda: wall)
    monkeypatch.setattr(time, "perf_counter_ns", lambda: now)
    render = gin_renderer(monotonic_ns=True)
    ends = [now - 2_500_000_000, now - 1_200_000_000, now - 1_000, now]
    text = render([(end, 200, 1_500, "10.0.0.1", "GET", "/x", None) for end in ends]).decode()
    stamps = [line[6:27] for line in text.splitlines()]
    assert stamps == [
        "2024/05/30 - 19:08:05",
        "2024/05/30 - 19:08:06",
        "2024/05/30 - 19:08:07",
        "2024/05/30 - 19:08:07",
    ]
    assert all(GIN.match(line) for line in text.splitlines())


def test_gin_renderer_monotonic_seconds_near_their_ends_match_the_float_formula(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A monotonic end's second is found by integer comparison with the current second's range: ends
    at and around each second's first nanosecond get the second of ``int(end * 1e-9 + offset)``,
    in one batch or in several, and after the offset between the clocks moved between batches."""
    import random

    from krakenpy.telemetry.ginline import gin_renderer

    rng = random.Random(10)
    wall = time.mktime((2024, 5, 30, 19, 8, 7, 0, 0, -1)) + 0.3
    now = 10**13 + 123_456_789
    monkeypatch.setattr(time, "time", lambda: wall)
    monkeypatch.setattr(time, "perf_counter_ns", lambda: now)
    render = gin_renderer(monotonic_ns=True)
    for step in (0.0, 0.5, 0.123456789, 0.0):  # the wall clock moved against the monotonic one
        wall += step
        offset = wall - now * 1e-9
        clocks = []
        for k in (-2, -1, 0, 1):
            start = int((int(wall) + k - offset) * 1e9)  # about where second k begins
            deltas = (-20_000, -10_001, -10_000, -300, -1, 0, 1, 300, 9_999, 10_000, 20_000)
            clocks += [start + d for d in deltas]
        clocks.sort()
        expected = [time.strftime("%Y/%m/%d - %H:%M:%S", time.localtime(int(c * 1e-9 + offset))) for c in clocks]
        assert len(set(expected)) == 5  # the test's ends do cross four seconds' starts
        got: list[str] = []
        while len(got) < len(clocks):  # batches of random sizes
            size = rng.randint(1, 9)
            batch = [(c, 200, 1_500, "10.0.0.1", "GET", "/x", None) for c in clocks[len(got) : len(got) + size]]
            got += [line[6:27] for line in render(batch).decode().splitlines()]
        assert got == expected
