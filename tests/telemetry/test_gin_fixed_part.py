"""The gin renderer keeps a plain line's fixed part (padded address, method, quoted target) while the
client and route repeat: every batch is the bytes its lines give when each is rendered alone by a
renderer of its own (which never reuses a part), through repeats, changes, non-ASCII fields (a batch
rendered again without the plain assumption) and targets that need Go's quoting."""

from __future__ import annotations

import random
import time

from krakenpy.telemetry.ginline import GinEntry, gin_renderer

_END = int(time.mktime((2024, 5, 30, 19, 8, 7, 0, 0, -1))) * 10**9


def _alone(entries: list[GinEntry]) -> bytes:
    return b"".join(gin_renderer()([entry]) for entry in entries)


def test_gin_fixed_part_reused_while_client_and_route_repeat() -> None:
    render = gin_renderer()
    ips = ["10.0.0.1", "10.0.0.1", "192.168.100.200", "ñ.example", "::1"]
    methods = ["GET", "GET", "POST", "PROPFIND", "GET"]
    targets = ["/p1", "/p1", "/p1?a=1", '/q"uote', "/ü", "/p1\\x", ""]
    rng = random.Random(14)
    for _ in range(300):
        entries: list[GinEntry] = []
        for _ in range(rng.randint(1, 6)):
            if entries and rng.random() < 0.5:  # the usual case: the same client and route again
                ip, method, target = entries[-1][3], entries[-1][4], entries[-1][5]
            else:
                ip, method, target = rng.choice(ips), rng.choice(methods), rng.choice(targets)
            error = rng.choice([None, None, "boom", "é"])
            entries.append((_END + rng.randint(0, 5) * 10**9, rng.choice([200, 500]), rng.randint(1, 2 * 10**9),
                            ip, method, target, error))  # fmt: skip
        assert render(entries) == _alone(entries), entries


def test_gin_fixed_part_not_taken_by_another_client_or_method() -> None:
    render = gin_renderer()
    first: GinEntry = (_END, 200, 1_500, "10.0.0.1", "GET", "/p1", None)
    render([first])
    for other in (
        (_END, 200, 1_500, "10.0.0.2", "GET", "/p1", None),
        (_END, 200, 1_500, "10.0.0.1", "POST", "/p1", None),
        (_END, 200, 1_500, "10.0.0.1", "GET", "/p2", None),
        (_END, 200, 1_500, "", "", "", None),  # empty fields: never the kept part of an empty start
    ):
        assert render([first, other, first]) == _alone([first, other, first])


def test_gin_fixed_part_kept_from_plain_batches_only() -> None:
    # a non-ASCII address in a batch rendered without the plain assumption (another line's target
    # needs quoting): its part is not kept, so the next plain batch finds its address not ASCII and
    # renders again as UTF-8 (a kept part would go out Latin-1 encoded: "ñ" as one byte)
    render = gin_renderer()
    client: GinEntry = (_END, 200, 1_500, "ñ.example", "GET", "/p1", None)
    quoted: GinEntry = (_END, 200, 1_500, "10.0.0.1", "GET", '/q"', None)
    assert render([client, quoted]) == _alone([client, quoted])
    assert render([client]) == _alone([client])
    assert "ñ.example".encode() in render([client])


def test_gin_plain_assumption_given_up_midway_and_after_a_quoted_batch() -> None:
    # the targets are checked where a line's fixed part is made: a batch whose late line needs Go's
    # quoting (or holds a non-ASCII letter) is rendered again from its start without the plain
    # assumption; the batch after one with a quoted target starts without it, the one after that
    # with it again: every batch the bytes of its lines rendered alone
    render = gin_renderer()
    plain: GinEntry = (_END, 200, 1_500, "10.0.0.1", "GET", "/p1", None)
    slow: GinEntry = (_END, 200, 2_500_000, "10.0.0.1", "GET", "/p1?a=1", "boom")
    for odd in ('/q"uote', "/ü", "/p1\\x", "/t\x01ab", "/\udcff"):
        late: GinEntry = (_END, 404, 1_500, "10.0.0.1", "GET", odd, None)
        for batch in ([plain, slow, plain, late, plain], [plain], [slow, plain], [late], [plain, slow]):
            assert render(batch) == _alone(batch), (odd, batch)


def test_gin_batch_as_any_sequence_renders_as_the_list() -> None:
    # the writer hands its runs as lists (read by index, compiled); any other sequence is rendered
    # as the list of its entries, plain and quoted batches alike
    entries: list[GinEntry] = [
        (_END, 200, 1_500, "10.0.0.1", "GET", "/p1", None),
        (_END + 10**9, 500, 2_000_000, "10.0.0.1", "GET", "/p1", "boom"),
        (_END + 10**9, 200, 75_000, "::1", "POST", '/q"uote', None),
    ]
    for batch in (entries[:2], entries):
        assert gin_renderer()(tuple(batch)) == gin_renderer()(batch) == _alone(batch)
