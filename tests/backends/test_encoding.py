from __future__ import annotations

import pytest

from krakenpy.backends.encoding import decoder_for, xml_to_data
from krakenpy.errors import BackendError


def test_decoders_json_object() -> None:
    assert decoder_for("json", False)(b'{"a":1,"b":[1,2]}') == {"a": 1, "b": [1, 2]}
    assert decoder_for("json", False)(b"null") == {}


@pytest.mark.parametrize("body", [b"[1,2]", b"not json", b"", b'"x"', b"{"])
def test_decoders_json_rejects_non_objects(body: bytes) -> None:
    with pytest.raises(BackendError):
        decoder_for("json", False)(body)


def test_decoders_json_is_collection() -> None:
    assert decoder_for("json", True)(b"[1,{}]") == {"collection": [1, {}]}
    with pytest.raises(BackendError):
        decoder_for("json", True)(b'{"a":1}')


def test_decoders_unknown_encoding_falls_back_to_json() -> None:
    assert decoder_for("whatever", False)(b'{"a":1}') == {"a": 1}


def test_decoders_safejson() -> None:
    decode = decoder_for("safejson", False)
    assert decode(b'{"a":1}') == {"a": 1}
    assert decode(b"[1]") == {"collection": [1]}
    assert decode(b"true") == {"content": True}
    assert decode(b'"s"') == {"content": "s"}
    with pytest.raises(BackendError):
        decode(b"<html>")


def test_decoders_string() -> None:
    assert decoder_for("string", False)(b"hello <b>") == {"content": "hello <b>"}


def test_decoders_xml_mxj_style() -> None:
    body = b'<user id="7"><name>ann</name><tag>a</tag><tag>b</tag><age>3</age><note lang="en">hi</note></user>'
    assert decoder_for("xml", False)(body) == {
        "user": {
            "-id": "7",
            "name": "ann",
            "tag": ["a", "b"],
            "age": "3",
            "note": {"-lang": "en", "#text": "hi"},
        }
    }
    with pytest.raises(BackendError):
        decoder_for("xml", False)(b"<a>")


def test_decoders_xml_namespaces_as_mxj_names_them() -> None:
    """Names lose their namespace prefix and the declarations become attributes (a SOAP answer is
    then ``Envelope.Body...``, as corpus 002's targets expect)."""
    body = (
        b'<soap:Envelope xmlns:soap="urn:soap"><soap:Body><m:R xmlns:m="urn:m" m:id="7">'
        b'<m:Result>Madrid</m:Result></m:R><x xmlns="urn:d">t</x></soap:Body></soap:Envelope>'
    )
    assert xml_to_data(body) == {
        "Envelope": {
            "-soap": "urn:soap",
            "Body": {"R": {"-m": "urn:m", "-id": "7", "Result": "Madrid"}, "x": {"-xmlns": "urn:d", "#text": "t"}},
        }
    }


@pytest.mark.parametrize("encoding", ["bogus", "shift_jis", "utf-32"])
@pytest.mark.parametrize("root", ["<a/>", '<a xmlns="urn:a"/>'])
def test_decoders_xml_unsupported_declared_encoding_is_a_backend_error(encoding: str, root: str) -> None:
    """expat refuses an unknown (LookupError) or multi-byte (ValueError) ``encoding=``: a backend error."""
    body = f'<?xml version="1.0" encoding="{encoding}"?>{root}'.encode()
    with pytest.raises(BackendError, match="unsupported XML"):
        xml_to_data(body)


def test_decoders_noop_returns_no_data() -> None:
    assert decoder_for("no-op", False)(b"anything") == {}
