"""The revocation store file: reused, moved aside when its shape changes (never emptied), refused
when it is not a store; the moved file is checked until its revocations expire."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from krakenpy.jose.bloom import HEADER, RotatingBloom, Shape, bloom_shape
from krakenpy.jose.bloomfile import StoreError, inspect_store, open_store


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _store(
    path: Path, clock: Clock, *, capacity: int = 100, ttl: int = 10, hash_name: str = "optimal"
) -> RotatingBloom:
    return RotatingBloom(path, capacity=capacity, false_positive=1e-6, ttl=ttl, hash_name=hash_name, clock=clock)


def _shape(capacity: int = 100, ttl: int = 10, hash_name: str = "optimal") -> Shape:
    return Shape(*bloom_shape(capacity, 1e-6), ttl, hash_name)


def test_bloomfile_same_shape_reuses_the_file(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    first = _store(tmp_path / "s", clock)
    first.add(["jti-a"])
    second = _store(tmp_path / "s", clock)
    assert second.check("jti-a") and not second.check("jti-b")
    assert not (tmp_path / "s.old").exists()
    first.close()
    second.close()


@pytest.mark.parametrize("change", [{"ttl": 11}, {"capacity": 5000}, {"hash_name": "default"}])
def test_bloomfile_shape_change_keeps_revocations_until_they_expire(tmp_path: Path, change: dict[str, Any]) -> None:
    clock = Clock(1000.0)
    running = _store(tmp_path / "s", clock)
    running.add(["jti-a"])
    changed = _store(tmp_path / "s", clock, **change)  # a restart or a reload with other N, P or TTL
    assert changed.check("jti-a")  # read from s.old
    assert (tmp_path / "s.old").exists() and os.path.getsize(tmp_path / "s") == _shape(**change).size
    # the gateway still running the old shape (a reload draining) adds where the new one looks
    running.add(["jti-b"])
    assert changed.check("jti-b")
    changed.add(["jti-c"])
    assert changed.check("jti-c") and not running.check("jti-c")
    clock.now = 1000.0 + 29  # visible between 2·TTL and 3·TTL of the old shape (TTL 10)
    assert changed.check("jti-a")
    clock.now = 1000.0 + 31
    assert not changed.check("jti-a") and not changed.check("jti-b")
    assert changed._retired is None  # dropped: checks cost one lookup again
    running.close()
    changed.close()
    again = _store(tmp_path / "s", clock, **change)
    assert not (tmp_path / "s.old").exists()  # expired: removed at the next start
    again.close()


def test_bloomfile_second_change_while_the_first_is_live_is_refused(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    _store(tmp_path / "s", clock).add(["jti-a"])
    _store(tmp_path / "s", clock, ttl=20).close()
    with pytest.raises(StoreError, match=r"s\.old may still hold live revocations .* until 1970-01-01T00:17:10Z"):
        _store(tmp_path / "s", clock, ttl=30)
    with pytest.raises(StoreError, match="cannot change again"):
        inspect_store(tmp_path / "s", _shape(ttl=30), clock)
    assert _store(tmp_path / "s", clock, ttl=20).check("jti-a")  # nothing was lost by the refusal
    clock.now = 1031.0
    third = _store(tmp_path / "s", clock, ttl=30)  # once the old revocations expired, it may change
    third.close()


def test_bloomfile_a_file_that_is_not_a_store_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"precious data\n")
    with pytest.raises(StoreError, match="not a krakenpy revocation store"):
        _store(path, Clock(1000.0))
    with pytest.raises(StoreError, match="not a krakenpy revocation store"):
        inspect_store(path, _shape())
    assert path.read_bytes() == b"precious data\n"
    damaged = tmp_path / "damaged"
    damaged.write_bytes(HEADER.pack(b"KPYBLOOM", 640, 7, 10, 1, 0) + bytes(10))
    with pytest.raises(StoreError, match="damaged"):
        _store(damaged, Clock(1000.0))


def test_bloomfile_devices_and_fifos_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (Path("/dev/null"), fifo):
        with pytest.raises(StoreError, match="not a regular file"):
            open_store(path, _shape(), Clock(1000.0))
        with pytest.raises(StoreError, match="not a regular file"):
            inspect_store(path, _shape())


def test_bloomfile_inspect_reads_only(tmp_path: Path) -> None:
    path = tmp_path / "s"
    assert inspect_store(path, _shape()) is None and not path.exists()
    _store(path, Clock(1000.0)).add(["jti-a"])
    before = path.read_bytes()
    assert inspect_store(path, _shape()) is None
    warning = inspect_store(path, _shape(ttl=11), Clock(1000.0))
    assert warning is not None and "becomes" in warning and str(path) + ".old" in warning
    assert path.read_bytes() == before and not (tmp_path / "s.old").exists()


def test_bloomfile_workers_opening_a_changed_store_at_once_agree(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    _store(tmp_path / "s", clock).add(["jti-a"])
    stores: list[RotatingBloom] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(8)

    def start() -> None:
        gate.wait()
        try:
            stores.append(_store(tmp_path / "s", clock, ttl=12))
        except BaseException as exc:  # collected: the test fails below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and len(stores) == 8
    stores[0].add(["jti-b"])
    assert all(s.check("jti-a") and s.check("jti-b") for s in stores)  # one new file, one .old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s", "s.old"]
    for store in stores:
        store.close()


def test_bloomfile_adds_of_the_draining_generation_are_seen(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    draining = _store(tmp_path / "s", clock)  # nothing revoked yet
    reloaded = _store(tmp_path / "s", clock, ttl=11)
    draining.add(["jti-late"])  # the old generation's admin API still answers during the drain
    assert reloaded.check("jti-late")
    clock.now = 1000.0 + 29
    assert reloaded.check("jti-late") and reloaded._retired is not None
    draining.close()
    reloaded.close()


def test_bloomfile_a_file_of_an_earlier_krakenpy_is_retired_and_still_checked(tmp_path: Path) -> None:
    """Stores written before krakenpy followed hash_name (BLAKE2b positions, magic KPYBLOOM) are moved
    aside like any other shape and read with their own positions until their revocations expire."""
    clock = Clock(1000.0)
    legacy = _store(tmp_path / "s", clock, hash_name="blake2b")
    legacy.add(["jti-old"])
    legacy.close()
    assert (tmp_path / "s").read_bytes()[:8] == b"KPYBLOOM"
    assert "(blake2b)" in (inspect_store(tmp_path / "s", _shape()) or "")
    current = _store(tmp_path / "s", clock)
    assert (tmp_path / "s").read_bytes()[:8] == b"KPYBLFNV" and (tmp_path / "s.old").exists()
    assert current.check("jti-old") and not current.check("jti-new")
    current.add(["jti-new"])
    assert current.check("jti-new")
    clock.now = 1000.0 + 31
    assert not current.check("jti-old")
    current.close()
