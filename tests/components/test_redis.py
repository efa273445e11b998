"""redis (root, KrakenD Enterprise): named pools, checked with JSON paths, the password kept private."""

from __future__ import annotations

import pytest

from krakenpy.components.redis import COMPONENT as POOLS
from krakenpy.errors import ConfigError
from tests.components.qos.helpers import site_for

RAW = {"connection_pools": [{"name": "shared", "address": "127.0.0.1:6379", "password": "s3cret", "db": 2}]}


def test_redis_pools_parse_and_password_never_printed() -> None:
    site = site_for("redis", RAW, level="service")
    pools = POOLS.parse(RAW, site)
    assert (pools["shared"].host, pools["shared"].port) == ("127.0.0.1", 6379)
    assert "s3cret" not in repr(pools["shared"])
    with pytest.raises(ConfigError) as info:
        POOLS.parse({"connection_pools": [{"name": "a", "address": "h:x"}]}, site)
    assert info.value.issues[0].path == "extra_config.redis.connection_pools[0].address"


def test_redis_pool_names_must_be_unique() -> None:
    site = site_for("redis", RAW, level="service")
    pools = [{"name": "a", "address": "h:1"}, {"name": "a", "address": "h:2"}]
    with pytest.raises(ConfigError) as info:
        POOLS.parse({"connection_pools": pools}, site)
    assert info.value.issues[0].path == "extra_config.redis.connection_pools[1].name"
