import pytest

from tests.quota.clock import noon_clock
from tests.redis_server import redis_server as redis_server


@pytest.fixture(autouse=True)
def _quota_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateways' quota processors count at noon UTC (plus the time the test took): a day window
    never ends in the middle of a test that runs near midnight."""
    monkeypatch.setattr("krakenpy.quota.processor.wall_clock", noon_clock())
