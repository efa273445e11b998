"""Generated request ids: UUID v4 form, unique within a process, a new prefix in a forked worker."""

from __future__ import annotations

import os
import re

from krakenpy.telemetry.exchange import new_request_id, valid_request_id

_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_new_request_id_uuid4_form_and_unique() -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert all(_UUID4.match(i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_new_request_id_forked_child_draws_its_own_prefix() -> None:
    parent = new_request_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what a forked worker would generate
        os.close(read)
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.close(write)
    try:
        child = os.read(read, 64).decode()
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert _UUID4.match(child)
    assert child[:24] != parent[:24]  # the 74 random bits of the prefix were drawn again


def test_counter_ids_take_and_next_never_repeat_across_wraps_and_reseeds() -> None:
    from krakenpy.telemetry.ids import CounterIds

    draws = iter(range(100))
    ids = CounterIds(lambda: (f"p{next(draws)}-", 4090), lambda prefix, high: f"{prefix}{high:x}-", high_max=2)
    assert ids.take() == "p0-0-ffa"
    got = [ids.take() for _ in range(10)] + [ids.next() for _ in range(5000)] + [ids.take() for _ in range(12000)]
    got += [ids.next() for _ in range(10)]
    assert len(set(got)) == len(got)
    assert {i.split("-")[0] for i in got} == {"p0", "p1", "p2"}  # past high_max: a new prefix each time
    # take and next are one counter: a prefix's 6 + 2 * 4096 ids, in order, whichever gave them
    assert got[:5] == ["p0-0-ffb", "p0-0-ffc", "p0-0-ffd", "p0-0-ffe", "p0-0-fff"]
    assert got[5:7] == ["p0-1-000", "p0-1-001"]
    assert got[8197] == "p1-0-ffa"
    ids.reseed()  # as in a forked child: the new prefix from the next id on
    assert ids.take() == "p3-0-ffa"
    assert ids.next() == "p3-0-ffb"


def test_valid_request_id_refuses_a_final_newline() -> None:
    # ``$`` matches before a final "\n": the id would end up raw in headers and in span JSON
    assert valid_request_id("abc") and valid_request_id("a" * 128)
    assert not valid_request_id("abc\n") and not valid_request_id("a" * 128 + "\n") and not valid_request_id("")
