import pytest

from tests.quota.clock import noon_clock
from tests.redis_server import redis_server as redis_server


@pytest.fixture(autouse=True)
def _quota_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateways' quota processors count at noon UTC (plus the time the test took): a day window
    never ends in the middle of a test that runs near midnight."""
    monkeypatch.setattr("krakenpy.quota.processor.wall_clock", noon_clock())


@pytest.fixture(autouse=True)
def _patient_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each quota step may wait 2 s for Redis, not 250 ms: on a loaded machine (make test compiles a
    wheel beside the suite) a first step (connect, script load, call) once took 266 ms, and Redis was
    declared down for a test about weights. The tests of an unavailable Redis use a closed port or a
    stopped server, which fail at once."""
    monkeypatch.setattr("krakenpy.quota.processor.TIMEOUT", 2.0)
