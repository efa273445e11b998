import pytest

from tests.redis_server import redis_server as redis_server


@pytest.fixture(autouse=True)
def _patient_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    """A quota step may wait 2 s for Redis here, not 250 ms (see tests/components/governance/conftest.py)."""
    monkeypatch.setattr("krakenpy.quota.processor.TIMEOUT", 2.0)
