import pytest

from tests.redis_server import redis_server as redis_server


@pytest.fixture(autouse=True)
def _patient_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Redis limit here waits up to 2 s for Redis by default, not 100 ms: these tests are about
    shared counting, and a new pool's first call (connect, script) met a stall of the test process
    (188 ms once, a whole-suite run) and declared a healthy Redis down. The tests of a Redis that is
    down kill the server (refused at once); the default itself is asserted with this undone."""
    monkeypatch.setattr("krakenpy.ratelimit.redis_options.DEFAULT_TIMEOUT", 2.0)
