"""krakenpy.jose.gob: the encoder's messages read back by the decoder, and its bounds."""

from __future__ import annotations

import pytest

from krakenpy.jose import gob
from krakenpy.jose.gob import INT, STRING, UINT, Decoder, GobError
from krakenpy.jose.gobencode import Encoder, StructSpec
from tests.components.auth.gobwire import check_input_value, slice_def, struct_def

RESPONSE = StructSpec("Response", (("ServiceMethod", STRING), ("Seq", UINT), ("Error", STRING)))
CHECKS = StructSpec("CheckOutput", (("Checks", "[]bool"), ("Count", INT)))


def _messages(stream: bytes) -> list[bytes]:
    out = []
    while stream:
        size = stream[0]
        assert size < 0x80  # the tests' messages are short
        out.append(stream[1 : 1 + size])
        stream = stream[1 + size :]
    return out


def _decode(decoder: Decoder, stream: bytes) -> list[object]:
    values = []
    for message in _messages(stream):
        is_value, value = decoder.message(message)
        if is_value:
            values.append(value)
    return values


def test_gob_encoder_output_reads_back_and_definitions_go_once() -> None:
    encoder, decoder = Encoder(), Decoder()
    first = encoder.encode(RESPONSE, {"ServiceMethod": "BloomfilterRPC.Add", "Seq": 300, "Error": ""})
    second = encoder.encode(RESPONSE, {"ServiceMethod": "X.Y", "Seq": 0, "Error": "boom"})
    assert len(_messages(first)) == 2 and len(_messages(second)) == 1  # the definition only once
    checks = encoder.encode(CHECKS, {"Checks": [True, False, True], "Count": -5})
    assert len(_messages(checks)) == 3  # []bool, then the struct, then the value
    assert _decode(decoder, first + second + checks) == [
        {"ServiceMethod": "BloomfilterRPC.Add", "Seq": 300},  # zero fields are not sent
        {"ServiceMethod": "X.Y", "Error": "boom"},
        {"Checks": [True, False, True], "Count": -5},
    ]


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (b"\x81", "bad unsigned integer"),  # a count byte announcing 127 bytes
        (b"\x02\x01", "bad singleton"),  # a bool (type 1) without the 0 delta of a top-level non-struct
        (b"\xff\x82\x00", "undefined type"),  # a value of type 65, never defined
        (b"\x01", "bad type id"),  # defining type 1, a predefined id
        (b"\x04\x00\xf8", "bad unsigned integer"),  # an int announcing 8 bytes, none sent
        (b"\x0c\x00\x05abc", "longer than its message"),  # a string of 5 bytes, 3 sent
    ],
)
def test_gob_decoder_refuses_malformed_messages(message: bytes, error: str) -> None:
    with pytest.raises(GobError, match=error):
        Decoder().message(message)


def test_gob_decoder_bounds_counts_depth_and_definitions(monkeypatch: pytest.MonkeyPatch) -> None:
    encoder, decoder = Encoder(), Decoder()
    definition, _value = _messages(encoder.encode(StructSpec("S", (("Checks", "[]bool"),)), {}))[:2]
    decoder.message(definition)
    with pytest.raises(GobError, match="count longer"):
        decoder.message(b"\xff\x82\x00\x7f")  # a []bool (type 65) of 127 elements in 0 bytes
    monkeypatch.setattr(gob, "MAX_TYPES", 1)
    with pytest.raises(GobError, match="too many type definitions"):
        decoder.message(_messages(Encoder().encode(StructSpec("T", ()), {}))[0].replace(b"\xff\x81", b"\xff\x85", 1))


def _unframe(message: bytes) -> bytes:
    """A framed message's bytes (its length is one byte or more)."""
    reader = gob._Reader(message)
    size = reader.uint()
    assert reader.left() == size
    return message[reader.pos :]


def test_gob_decoder_bounds_the_fields_and_bytes_of_definitions(monkeypatch: pytest.MonkeyPatch) -> None:
    # a struct of 1M empty fields was kept for the connection's life: 238 MB over a few definitions
    fields = [(f"F{i}", INT) for i in range(gob.MAX_FIELDS + 1)]
    with pytest.raises(GobError, match="over 16 fields"):
        Decoder().message(_unframe(struct_def(70, "S", fields)))
    decoder = Decoder()
    decoder.message(_unframe(struct_def(70, "S", fields[:-1])))  # 16 fields are read
    monkeypatch.setattr(gob, "MAX_DEFINITION_BYTES", 100)
    with pytest.raises(GobError, match="type definitions over 100 bytes"):
        decoder.message(_unframe(struct_def(71, "T", fields[:4])))


def test_gob_decoder_bounds_the_elements_of_one_value(monkeypatch: pytest.MonkeyPatch) -> None:
    # a byte per element decoded to ~64 bytes of Python each: 1 MiB of them, ~70 MB per message
    monkeypatch.setattr(gob, "MAX_ELEMENTS", 10)
    decoder = Decoder()
    for definition in (slice_def(66, gob.BYTES), struct_def(67, "CheckInput", [("Elems", 66)])):
        decoder.message(_unframe(definition))
    assert decoder.message(_unframe(check_input_value(10))) == (True, {"Elems": [b""] * 10})
    with pytest.raises(GobError, match="over 10 elements"):
        decoder.message(_unframe(check_input_value(11)))
    # the count is of the whole value: two slices of 6 are over it too
    for definition in (slice_def(68, 66), struct_def(69, "Both", [("Elems", 68)])):
        decoder.message(_unframe(definition))
    two = b"\xff\x8a\x01\x02" + (b"\x06" + b"\x00" * 6) * 2 + b"\x00"
    with pytest.raises(GobError, match="over 10 elements"):
        decoder.message(two)
