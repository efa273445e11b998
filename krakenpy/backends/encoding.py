"""Backend body decoders (lura ``encoding/*``, krakend-xml): bytes → response data."""

from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias

import orjson

from krakenpy.errors import BackendError

__all__ = ["DECODERS", "Decoder", "decoder_for", "xml_to_data"]

Decoder: TypeAlias = Callable[[bytes], dict[str, Any]]

#: one escape of a JSON string: a UTF-16 surrogate pair, a lone surrogate, or any other escape
_ESCAPE: Final = re.compile(
    r"\\(?:u[dD][89abAB][0-9a-fA-F]{2}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?|u[dD][c-fC-F][0-9a-fA-F]{2}|.)", re.DOTALL
)


def _go_bytes(error: UnicodeError) -> tuple[str, int]:
    """Go's JSON decoder reads each byte that is not UTF-8 as one U+FFFD."""
    assert isinstance(error, UnicodeDecodeError)
    return "\ufffd" * (error.end - error.start), error.end


codecs.register_error("krakenpy-go-bytes", _go_bytes)


def _lone_surrogate(match: re.Match[str]) -> str:
    escape = match.group(0)
    if len(escape) == 2 or len(escape) == 12:  # another escape, or a high and low surrogate pair
        return escape
    return "\\ufffd"


def _loads(body: bytes) -> Any:
    """``orjson.loads``; what only Go reads (invalid UTF-8, a lone surrogate escape: both U+FFFD)
    is retried on a repaired copy after orjson refused it, so valid bodies never pay for it."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "krakenpy-go-bytes")
        if "\\u" in text:
            text = _ESCAPE.sub(_lone_surrogate, text)
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:  # the repaired copy's error: the syntax, not the bytes
            raise BackendError(f"invalid JSON from backend: {exc}") from None


def _json(body: bytes) -> dict[str, Any]:
    value = _loads(body)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BackendError(f"backend JSON is a {type(value).__name__}, not an object (set is_collection?)")
    return value


def _json_collection(body: bytes) -> dict[str, Any]:
    value = _loads(body)
    if value is not None and not isinstance(value, list):
        raise BackendError(f"backend JSON is a {type(value).__name__}, not an array (is_collection)")
    return {"collection": value}


def _safejson(body: bytes) -> dict[str, Any]:
    value = _loads(body)
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {"collection": value}
    return {"content": value}


def _string(body: bytes) -> dict[str, Any]:
    return {"content": body.decode("utf-8", "replace")}


def _leaf_or_map(node: ET.Element, out: dict[str, Any]) -> Any:
    text = (node.text or "").strip()
    if not out:
        return text
    if text:
        out["#text"] = text
    return out


def _local(name: str) -> str:
    # Go's encoding/xml gives mxj the local name: "{uri}Envelope" (soap:Envelope) is "Envelope"
    return name.rpartition("}")[2] if name.startswith("{") else name


def _attributes(node: ET.Element, declared: Mapping[int, list[tuple[str, str]]] | None) -> dict[str, Any]:
    out = {f"-{_local(k)}": v for k, v in node.attrib.items()}
    if declared:
        # mxj keeps the declarations as attributes: xmlns:m="…" is "-m", xmlns="…" is "-xmlns"
        for prefix, uri in declared.get(id(node), ()):
            out[f"-{prefix or 'xmlns'}"] = uri
    return out


def _element(root: ET.Element, declared: Mapping[int, list[tuple[str, str]]] | None = None) -> Any:
    """One element as mxj maps it, iteratively (a backend can nest thousands of levels deep)."""
    maps: dict[int, dict[str, Any]] = {}
    # post-order: a node is converted once all its children are, then added to its parent's map
    stack: list[tuple[ET.Element, ET.Element | None, bool]] = [(root, None, False)]
    result: Any = None
    while stack:
        node, parent, expanded = stack.pop()
        if not expanded:
            maps[id(node)] = _attributes(node, declared)
            stack.append((node, parent, True))
            stack.extend((child, node, False) for child in reversed(node))
            continue
        value = _leaf_or_map(node, maps.pop(id(node)))
        if parent is None:
            result = value
            continue
        out = maps[id(parent)]
        tag = _local(node.tag)
        if tag in out:
            existing = out[tag]
            if isinstance(existing, list):
                existing.append(value)
            else:
                out[tag] = [existing, value]
        else:
            out[tag] = value
    return result


def _namespaced(body: bytes) -> tuple[ET.Element, dict[int, list[tuple[str, str]]]]:
    """The tree and each element's namespace declarations (ElementTree drops them from attrib)."""
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start-ns", "start"))
    parser.feed(body)
    parser.close()
    declared: dict[int, list[tuple[str, str]]] = {}
    pending: list[tuple[str, str]] = []
    root: ET.Element | None = None
    events: Any = parser.read_events()  # typeshed's event type cannot say (prefix, uri) or element
    for _event, item in events:
        if isinstance(item, tuple):  # start-ns: (prefix, uri)
            prefix, uri = item[0], item[-1]
            pending.append((str(prefix), str(uri)))
            continue
        if not isinstance(item, ET.Element):
            continue
        root = item if root is None else root
        if pending:
            declared[id(item)], pending = pending, []
    assert root is not None  # close() raised on a document without one
    return root, declared


def xml_to_data(body: bytes) -> dict[str, Any]:
    """XML as KrakenD's mxj maps it: attributes ``-name``, text ``#text``, leaves as strings; names
    without their namespace (a SOAP ``soap:Envelope`` is ``Envelope``), declarations as attributes."""
    try:
        if b"xmlns" not in body:
            root = ET.fromstring(body)
            return {root.tag: _element(root)}
        root, declared = _namespaced(body)
    except ET.ParseError as exc:
        raise BackendError(f"invalid XML from backend: {exc}") from None
    except (LookupError, ValueError) as exc:
        # expat refuses an unknown (LookupError) or multi-byte (ValueError) encoding= declaration
        raise BackendError(f"unsupported XML from backend: {exc}") from None
    return {_local(root.tag): _element(root, declared)}


def _noop(body: bytes) -> dict[str, Any]:
    return {}


DECODERS: dict[str, Decoder] = {
    "json": _json,
    "safejson": _safejson,
    "string": _string,
    "xml": xml_to_data,
    "rss": xml_to_data,
    "no-op": _noop,
}


def decoder_for(encoding: str, is_collection: bool) -> Decoder:
    """Unknown encodings fall back to JSON, as in KrakenD."""
    if encoding in ("json", "", "fast-json") or encoding not in DECODERS:
        return _json_collection if is_collection else _json
    return DECODERS[encoding]
