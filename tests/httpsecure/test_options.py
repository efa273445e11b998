"""``security/http`` values → options: the code's defaults, located errors, host regexes."""

from __future__ import annotations

from typing import Any

import pytest

from krakenpy.errors import ConfigError
from krakenpy.httpsecure import SecureOptions, parse_secure

P = "extra_config.security/http"


def test_parse_secure_defaults_are_all_off() -> None:
    # the schema's defaults (ssl_redirect true, sts 300, frame_deny true...) are not what the code does
    assert parse_secure({}, P) == SecureOptions()


def test_parse_secure_keeps_values() -> None:
    options = parse_secure(
        {"ssl_proxy_headers": {"X-Forwarded-Proto": "https"}, "sts_seconds": 300.0, "hpkp_public_key": "pin"}, P
    )
    assert (options.ssl_proxy_headers, options.sts_seconds, options.hpkp_public_key) == (
        (("X-Forwarded-Proto", "https"),),
        300,
        "pin",
    )


def test_parse_secure_compiles_host_regexes_anchored() -> None:
    options = parse_secure({"allowed_hosts": [r"api\.example\.com"], "allowed_hosts_are_regex": True}, P)
    assert [p.pattern for p in options.host_patterns] == [r"^api\.example\.com$"]
    plain = parse_secure({"allowed_hosts": ["(unbalanced"]}, P)
    assert plain.host_patterns == ()  # not regexes: no compiling


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        ({"allowed_hosts": ["ok", "(?<=x)y"], "allowed_hosts_are_regex": True}, f"{P}.allowed_hosts[1]", "Go regular"),
        ({"allowed_hosts": ["a("], "allowed_hosts_are_regex": True}, f"{P}.allowed_hosts[0]", "missing )"),
        ({"allowed_hosts": "x"}, f"{P}.allowed_hosts", "list of strings"),
        ({"sts_seconds": -1}, f"{P}.sts_seconds", "whole number"),
        ({"sts_seconds": "300"}, f"{P}.sts_seconds", "whole number"),
        ({"ssl_proxy_headers": {"X-Forwarded-Proto": True}}, f"{P}.ssl_proxy_headers", "header names"),
        ({"ssl_redirect": "yes"}, f"{P}.ssl_redirect", "true or false"),
        ({"referrer_policy": 1}, f"{P}.referrer_policy", "must be a string"),
    ],
)
def test_parse_secure_bad_values_are_located(raw: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_secure(raw, P)
    assert [(i.path, message in i.message) for i in caught.value.issues] == [(path, True)]
