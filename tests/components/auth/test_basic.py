"""auth/basic (EE field names): htpasswd file with bcrypt/SHA/plain entries, inline users winning."""

from __future__ import annotations

import base64
import hashlib
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from krakenpy.components.auth.basic import COMPONENT
from krakenpy.errors import ConfigError, Rejection
from krakenpy.proxy.types import Proxy, Request
from tests.jose.helpers import echo, resources_for, site_for


def basic(user: str, password: str) -> dict[str, list[str]]:
    return {"Authorization": ["Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()]}


async def guarded(service: dict[str, Any], endpoint: dict[str, Any] | None = None) -> Proxy:
    endpoint = endpoint or {}
    site = site_for("auth/basic", endpoint, service_extra={"auth/basic": service})
    async with AsyncExitStack() as stack:
        assert COMPONENT.endpoint is not None
        middleware = await COMPONENT.endpoint(COMPONENT.parse(endpoint, site), site, resources_for(site, stack))
    assert middleware is not None
    return middleware(echo)


async def test_basic_htpasswd_formats_and_inline_users_win(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"b-pass", bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2y$", 1)
    sha = "{SHA}" + base64.b64encode(hashlib.sha1(b"s-pass").digest()).decode()
    (tmp_path / ".htpasswd").write_text(f"# users\nbob:{hashed}\nsam:{sha}\npat:p-pass\nann:old\n")
    proxy = await guarded({"htpasswd_path": str(tmp_path / ".htpasswd"), "users": {"ann": "new"}})
    for user, password in (("bob", "b-pass"), ("sam", "s-pass"), ("pat", "p-pass"), ("ann", "new"), ("bob", "b-pass")):
        seen = await proxy(Request("GET", "/x", {}, basic(user, password), {}))
        assert seen.data["claims"] == {"sub": user}
    for headers in (basic("ann", "old"), basic("bob", "nope"), basic("eve", "x"), {}, {"Authorization": ["Basic !!"]}):
        with pytest.raises(Rejection) as info:
            await proxy(Request("GET", "/x", {}, headers, {}))
        assert info.value.status == 401 and ("WWW-Authenticate", 'Basic realm="Restricted"') in info.value.headers


async def test_basic_unreadable_htpasswd_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        await guarded({"htpasswd_path": str(tmp_path / "missing")})
    assert info.value.issues[0].path == "extra_config.auth/basic.htpasswd_path"


def test_basic_rejects_unsupported_hashes() -> None:
    site = site_for("auth/basic", {}, service_extra={"auth/basic": {}})
    with pytest.raises(ConfigError):
        COMPONENT.parse({"users": {"a": "$apr1$xyz$abc"}}, site)
