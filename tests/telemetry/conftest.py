"""The served-gateway fixtures of the telemetry component tests, for the cross-cutting tests here, and
``zone``: a test that sets ``TZ`` gets the process's zone back afterwards."""

import os
import time
from collections.abc import Iterator

import pytest

from tests.components.telemetry.conftest import served, upstream

__all__ = ["served", "upstream", "zone"]


@pytest.fixture
def zone() -> Iterator[None]:
    before = os.environ.get("TZ")
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()
