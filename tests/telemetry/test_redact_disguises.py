"""The redactor against the disguises an adversarial review found (round 28): each case here leaked
before its fix, verbatim or in part."""

from __future__ import annotations

import base64
from typing import Any

import jsonschema_rs
import orjson
import pytest

from krakenpy.bodyschema.check import SchemaRejection, body_checker
from krakenpy.telemetry.failures import failure_text
from krakenpy.telemetry.redact import MASK, RedactionOptions, Redactor

S = "s3cr3t-v4lue"
R = Redactor()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (f"%73ig={S}&a=1", f"%73ig={MASK}&a=1"),  # the gateway decodes %73 to "s": the sig parameter
        (f"%53IG={S}", f"%53IG={MASK}"),
        (f"%74oken={S}", f"%74oken={MASK}"),
        (f"t%6Fk%65n={S}&x=%41", f"t%6Fk%65n={MASK}&x=%41"),
        (f"sig=a;{S}&b=2", f"sig={MASK}&b=2"),  # ";" is part of the value, as the gateway reads it
        (f"page=1;sig={S}", f"page=1;sig={MASK}"),  # a key after ";", for a backend that splits there
        (f"sig%3D{S}=1", f"sig%3D{S}=1"),  # an encoded "=": another key ("sig=…"), not the sig parameter
    ],
)
def test_query_keys_in_disguise(raw: str, expected: str) -> None:
    assert R.query(raw) == expected


def test_free_text_keys_percent_encoded() -> None:
    assert R.text(f"GET /ok?%73ig={S} failed") == f"GET /ok?%73ig={MASK} failed"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"{S}a {S}b", MASK),  # no scheme: the first word may be the secret itself
        (S, MASK),
        (f"Bearer {S}", f"Bearer {MASK}"),
        (f"bearer {S}", f"bearer {MASK}"),
        (f"AWS4-HMAC-SHA256 Credential={S}", f"AWS4-HMAC-SHA256 {MASK}"),
    ],
)
def test_an_auth_value_keeps_only_a_known_scheme(value: str, expected: str) -> None:
    assert R.header("Authorization", value) == expected
    assert R.header("Proxy-Authorization", value) == expected


def test_a_folded_set_cookie_masks_every_cookie() -> None:
    folded = f"a=1; Path=/, b={S}; Expires=Wed, 21 Oct 2015 07:28:00 GMT; HttpOnly, c={S}"
    shown = R.header("Set-Cookie", folded)
    assert S not in shown
    assert shown == f"a={MASK}; Path=/, b={MASK}; Expires=Wed, 21 Oct 2015 07:28:00 GMT; HttpOnly, c={MASK}"


@pytest.mark.parametrize(
    "text",
    [
        f"BadHttpMessage: b'X-Auth-Token : {S}'",
        f"BadStatusLine: b'HTTP/1.1 2x0 Authorization: {S}'",
        f"header x-api-key:{S}",
        f"Cookie: a={S}; b=2",
    ],
)
def test_a_sensitive_header_quoted_in_free_text(text: str) -> None:
    assert S not in R.text(text)


def test_a_quoted_auth_header_keeps_its_scheme() -> None:
    assert R.text(f"broken Authorization: Bearer {S}") == f"broken Authorization: Bearer {MASK}"


def test_other_headers_are_free_text() -> None:
    assert R.header_text("Referer", f"https://app/cb?code={S}&state=1") == f"https://app/cb?code={MASK}&state=1"
    assert R.header_text("User-Agent", f"tool/1.0 Bearer {S}") == f"tool/1.0 Bearer {MASK}"
    assert R.header_text("Authorization", f"Basic {S}") == f"Basic {MASK}"
    assert R.header_text("Accept", "application/json") == "application/json"


def test_an_agent_is_redacted_once_per_value() -> None:
    r = Redactor()
    agent = f"tool/1.0 Bearer {S}"
    assert r.agent(agent) == f"tool/1.0 Bearer {MASK}" and r.agent(agent) == f"tool/1.0 Bearer {MASK}"
    assert r.agent("curl/8.0") == "curl/8.0"


def test_request_secrets_and_their_literal_masking() -> None:
    basic = base64.b64encode(f"ada:{S}".encode()).decode()
    found = R.request_secrets(
        [
            ("X-Api-Key", "key-0001"),
            ("Authorization", f"Basic {basic}"),
            ("Cookie", "session=cookie-val; theme=x"),
            ("Accept", "text/plain-not-a-secret"),
        ],
        "sig=a%2Bb%2Bc%2Bd&page=12345&%74oken=tok-1234",
    )
    assert {"key-0001", basic, S, f"ada:{S}", "cookie-val", "a%2Bb%2Bc%2Bd", "a+b+c+d", "tok-1234"} <= set(found)
    assert "text/plain-not-a-secret" not in found and "12345" not in found
    assert "x" not in found  # shorter than MIN_SECRET: would mask ordinary letters
    assert list(found) == sorted(found, key=len, reverse=True)  # a longer one before its parts
    text = f"bad key key-0001, password {S}, cookie cookie-val, sig a+b+c+d"
    assert R.text(text, found) == f"bad key {MASK}, password {MASK}, cookie {MASK}, sig {MASK}"


def test_body_paths_match_any_case() -> None:
    doc = {"Password": S, "PASSWORD": S, "nested": {"Token": S, "other": 1}, "list": [{"API_KEY": S}]}
    assert S not in str(R.json_value(doc))
    custom = Redactor(RedactionOptions(body_paths=("$.card.Number",), replace_defaults=True))
    assert custom.json_value({"CARD": {"number": S}, "card": {"NUMBER": S}}) == {
        "CARD": {"number": MASK},
        "card": {"NUMBER": MASK},
    }


def _rejection(schema: dict[str, Any], body: bytes) -> SchemaRejection:
    check = body_checker(jsonschema_rs.validator_for(schema))
    with pytest.raises(SchemaRejection) as caught:
        check(body)
    return caught.value


def test_a_schema_violation_of_a_masked_field_is_logged_without_its_value() -> None:
    schema = {
        "type": "object",
        "properties": {
            "password": {"type": "string", "minLength": 64},
            "age": {"type": "integer", "minimum": 0},
            "creds": {"type": "object", "additionalProperties": False},
        },
    }
    body = b'{"password": "%s", "age": -4, "creds": {"token": "%s"}}' % (S.encode(), S.encode())
    exc = _rejection(schema, body)
    assert S in str(exc)  # a checker without the gateway's redactor (the component passes it) quotes values
    logged = failure_text(exc, R)
    assert S not in logged
    assert "at '/password': minLength violated (value redacted)" in logged
    assert "at '/creds': additionalProperties violated (value redacted)" in logged
    assert "at '/age': -4 is less than the minimum of 0" in logged  # a field not masked keeps its message


def test_a_schema_rejection_without_violations_logs_its_text() -> None:
    exc = _rejection({"type": "object"}, b"")
    assert failure_text(exc, R) == str(exc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # an API Gateway event's body (a JSON text in a string) printed as JSON, once and twice over
        (
            f'{{"body":"{{\\"password\\":\\"{S}\\",\\"a\\":1}}"}}',
            f'{{"body":"{{\\"password\\":\\"{MASK}\\",\\"a\\":1}}"}}',
        ),
        (f'"{{\\\\\\"token\\\\\\":\\\\\\"{S}\\\\\\"}}"', f'"{{\\\\\\"token\\\\\\":\\\\\\"{MASK}\\\\\\"}}"'),
        (f'{{\\"password\\":\\"a\\\\\\"{S}\\"}}', f'{{\\"password\\":\\"{MASK}\\"}}'),  # an escaped quote inside
        # a Python dict's repr: either quote around the value, numbers and booleans
        (f"event {{'user': 'ada', 'Password': '{S}'}}", f"event {{'user': 'ada', 'Password': '{MASK}'}}"),
        (f"{{'secret': \"it's {S}\"}}", f"{{'secret': '{MASK}'}}"),
        ("{'api_key': 12345678, 'token': True}", f"{{'api_key': '{MASK}', 'token': '{MASK}'}}"),
    ],
)
def test_a_body_field_quoted_inside_a_string_or_a_python_repr(text: str, expected: str) -> None:
    assert R.text(text) == expected
    assert R.text(expected) == expected  # a text redacted twice (a failure, then its log line) stays


def test_a_quoted_pair_masked_already_keeps_its_triage_value() -> None:
    printed = f"headers={{'Authorization': 'Bearer {MASK}', 'Cookie': 'a={MASK}; b={MASK}'}}"
    assert R.text(printed) == printed


def test_body_secrets_are_the_masked_fields_values() -> None:
    body = orjson.dumps(
        {"user": "ada", "Password": S, "creds": {"token": {"id": "tok-1234", "n": 98765}}, "secret": True, "api_key": 7}
    )
    assert set(R.body_secrets(body)) == {S, "tok-1234", "98765"}  # no boolean, nothing under 4 characters
    assert R.body_secrets(b"user=ada&password=" + S.encode()) == (S,)  # a form body: its sensitive keys
    assert R.body_secrets(b"{not json, password=" + S.encode()) == () and R.body_secrets(b"") == ()
    assert S in R.request_secrets([], "", body=body)
