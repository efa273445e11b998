"""The SigV4 signer against botocore's own ``SigV4Auth``: the same request at the same instant with
the same credentials must get the same ``Authorization`` header."""

from __future__ import annotations

import datetime
from urllib.parse import quote

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from krakenpy.lambda_.invoker import Target
from krakenpy.lambda_.sigv4 import Credentials, Signer, canonical_host

NOW = datetime.datetime(2026, 12, 1, 3, 4, 5, tzinfo=datetime.UTC)
PAYLOAD = b'{"first_name":"Ada", "note": "spaces  and \\u00e9"}\n'


def _oracle(monkeypatch, url: str, headers: list[tuple[str, str]], body: bytes, creds: Credentials, region: str):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: NOW.replace(tzinfo=None))
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    SigV4Auth(BotoCredentials(creds.access_key, creds.secret_key, creds.token), "lambda", region).add_auth(request)
    return request.headers


def _ours(
    url: str,
    name: str,
    qualifier: str | None,
    headers: list[tuple[str, str]],
    body: bytes,
    creds: Credentials,
    region: str,
) -> dict[str, str]:
    target = Target(url, region, "lambda", http=None, max_attempts=1)  # type: ignore[arg-type]
    path = target.path(name)
    query = f"Qualifier={quote(qualifier, safe='-_.~')}" if qualifier else ""
    signed = Signer(region, "lambda").sign(
        "POST", path, query, [("Host", target.host), *headers], body, creds, now=NOW.timestamp()
    )
    return dict(signed)


@pytest.mark.parametrize(
    ("endpoint", "name", "qualifier"),
    [
        ("https://lambda.eu-west-1.amazonaws.com", "hello", None),
        ("http://127.0.0.1:4566", "hello", "live"),
        ("http://127.0.0.1:4566", "hello:$LATEST", None),
        ("https://lambda.us-east-1.amazonaws.com", "arn:aws:lambda:us-east-1:123456789012:function:f:live", None),
        ("https://lambda.us-east-1.amazonaws.com", "123456789012:function:my_fn-2", "$LATEST"),
        ("https://LAMBDA.us-east-1.amazonaws.com:443/", "f.v2", "$LATEST.PUBLISHED"),
        ("http://localhost:80/prefix/", "f", None),
        ("http://[::1]:4566", "f", None),
    ],
)
@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEJr//////////wEaDJ+token=="])
def test_signer_matches_botocore(
    monkeypatch, endpoint: str, name: str, qualifier: str | None, token: str | None
) -> None:  # type: ignore[no-untyped-def]
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    region = "eu-west-1"
    headers = [
        ("X-Amz-Invocation-Type", "RequestResponse"),
        ("X-Amz-Log-Type", "None"),
        ("X-Amz-Client-Context", "eyJjdXN0b20iOiB7fX0="),
    ]
    target = Target(endpoint, region, "lambda", http=None, max_attempts=1)  # type: ignore[arg-type]
    url = target.origin + target.path(name) + (f"?Qualifier={quote(qualifier, safe='-_.~')}" if qualifier else "")
    ours = _ours(endpoint, name, qualifier, headers, PAYLOAD, creds, region)
    theirs = _oracle(monkeypatch, url, headers, PAYLOAD, creds, region)
    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["X-Amz-Date"] == theirs["X-Amz-Date"] == "20261201T030405Z"
    assert ours.get("X-Amz-Security-Token") == theirs.get("X-Amz-Security-Token") == token


def test_signer_empty_payload_and_whitespace_values_match_botocore(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    creds = Credentials("AKID", "secret", None)
    headers = [("X-Amz-Invocation-Type", "Event"), ("X-Amz-Log-Type", "  None   x ")]
    ours = _ours("http://127.0.0.1:9", "f", None, headers, b"", creds, "us-east-1")
    theirs = _oracle(
        monkeypatch, "http://127.0.0.1:9/2015-03-31/functions/f/invocations", headers, b"", creds, "us-east-1"
    )
    assert ours["Authorization"] == theirs["Authorization"]


def test_signer_key_derived_once_per_day_and_secret() -> None:
    signer = Signer("us-east-1", "lambda")
    creds = Credentials("AKID", "secret", None)
    first = signer.sign("POST", "/x", "", [("Host", "h")], b"", creds, now=NOW.timestamp())
    key = signer._key
    signer.sign("POST", "/y", "", [("Host", "h")], b"", creds, now=NOW.timestamp() + 60)
    assert signer._key is key  # same day, same secret: reused
    signer.sign("POST", "/x", "", [("Host", "h")], b"", creds, now=NOW.timestamp() + 86400)
    assert signer._key != key  # the next UTC day derives a new one
    rotated = signer.sign(
        "POST", "/x", "", [("Host", "h")], b"", Credentials("AKID", "other", None), now=NOW.timestamp()
    )
    assert dict(rotated)["Authorization"] != dict(first)["Authorization"]  # a rotated secret is used at once


def test_canonical_host_drops_default_ports() -> None:
    assert canonical_host("https://Lambda.eu-west-1.amazonaws.com:443") == "lambda.eu-west-1.amazonaws.com"
    assert canonical_host("http://127.0.0.1:80/") == "127.0.0.1"
    assert canonical_host("http://127.0.0.1:4566") == "127.0.0.1:4566"
    assert canonical_host("https://u:p@h:8443") == "h:8443"
