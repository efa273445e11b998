"""Checking request bodies: KrakenD's three 400s, the text it renders, krakenpy's opt-in details."""

from __future__ import annotations

import orjson
import pytest

from krakenpy.bodyschema import EMPTY_BODY, ErrorDetails, SchemaRejection, body_checker, compile_schema

SCHEMA = {
    "type": "object",
    "required": ["name", "age"],
    "properties": {"name": {"type": "string", "minLength": 1}, "age": {"type": "integer", "minimum": 0}},
    "additionalProperties": False,
}


def checker():  # type: ignore[no-untyped-def]
    return body_checker(compile_schema(SCHEMA, lambda *k: "x"))


def rejection(body: bytes, details: ErrorDetails | None = None) -> SchemaRejection:
    with pytest.raises(SchemaRejection) as info:
        checker()(body)
    return info.value if details is None else info.value.with_details(details)


def test_check_valid_body_returns_the_document() -> None:
    assert checker()(b'{"name": "Ada", "age": 36}') == {"name": "Ada", "age": 36}


def test_check_empty_body() -> None:
    with pytest.raises(SchemaRejection) as info:
        checker()(b"")
    assert info.value.status == 400
    assert info.value.body == EMPTY_BODY == "could not validate an empty body"
    assert not info.value.public_body  # only with router.return_error_msg


def test_check_invalid_json() -> None:
    with pytest.raises(SchemaRejection) as info:
        checker()(b'{"name": ')
    assert info.value.status == 400
    assert info.value.body.startswith("invalid JSON body:")


def test_check_violations_text_lists_each_instance_path() -> None:
    with pytest.raises(SchemaRejection) as info:
        checker()(b'{"name": "", "age": -1, "extra": 1}')
    lines = info.value.body.splitlines()
    assert lines[0] == "jsonschema validation failed"
    assert any(line.startswith("- at '/age': ") for line in lines)
    assert any(line.startswith("- at '/name': ") for line in lines)
    assert any(line.startswith("- at '': ") and "extra" in line for line in lines)
    assert info.value.status == 400
    assert info.value.content_type is None


def test_check_text_is_capped_for_hostile_bodies() -> None:
    schema = {"type": "array", "items": {"type": "string"}}
    check = body_checker(compile_schema(schema, lambda *k: "x"))
    with pytest.raises(SchemaRejection) as info:
        check(orjson.dumps(list(range(5000))))
    assert len(info.value.body.splitlines()) == 11


def test_check_details_are_json_and_public() -> None:
    error = rejection(b'{"name": "Ada", "age": -1}', ErrorDetails(max_details=5, status=422))
    assert error.status == 422
    assert error.public_body
    assert error.content_type == "application/json"
    assert orjson.loads(error.body) == {
        "error": "jsonschema validation failed",
        "details": [
            {
                "instance_path": "/age",
                "schema_path": "/properties/age/minimum",
                "keyword": "minimum",
                "message": "-1 is less than the minimum of 0",
            }
        ],
    }


def test_check_details_respect_max_details() -> None:
    plain = rejection(b'{"name": 1, "age": "x", "extra": 1}')
    assert len(plain.violations) == 3
    assert not plain.public_body
    assert len(orjson.loads(plain.with_details(ErrorDetails(max_details=1)).body)["details"]) == 1


def test_check_details_for_empty_and_non_json_bodies() -> None:
    details = ErrorDetails()
    for body, error in ((b"", EMPTY_BODY), (b"nope", "invalid JSON body:")):
        doc = orjson.loads(rejection(body, details).body)
        assert doc["error"].startswith(error)
        assert doc["details"] == []


def test_check_false_schema_keyword() -> None:
    check = body_checker(compile_schema(False, lambda *k: "x"))
    with pytest.raises(SchemaRejection) as info:
        check(b"{}")
    assert orjson.loads(info.value.with_details(ErrorDetails()).body)["details"][0]["keyword"] == "false"
