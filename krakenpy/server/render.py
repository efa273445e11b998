"""Output encodings (lura ``router/gin/render.go``, krakend-xml): response data → body + Content-Type.

A renderer is picked once per endpoint. JSON is rendered like Go's ``json.Marshal``: keys sorted,
compact, ``<``, ``>``, ``&``, U+2028 and U+2029 escaped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias
from xml.sax.saxutils import escape, quoteattr

import orjson

__all__ = ["JSON_CT", "Renderer", "go_json", "renderer_for"]

#: data, Accept header → (body, content type)
Renderer: TypeAlias = Callable[[Any, str], tuple[bytes, str]]

JSON_CT = "application/json; charset=utf-8"
TEXT_CT = "text/plain; charset=utf-8"
YAML_CT = "application/yaml; charset=utf-8"
XML_CT = "application/xml; charset=utf-8"
_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def go_json(value: Any) -> bytes:
    """Serialise like Go's ``encoding/json`` (sorted keys, HTML-safe escapes)."""
    out = orjson.dumps(value, option=_OPTS)
    if b"<" in out:
        out = out.replace(b"<", b"\\u003c")
    if b">" in out:
        out = out.replace(b">", b"\\u003e")
    if b"&" in out:
        out = out.replace(b"&", b"\\u0026")
    if b"\xe2\x80" in out:
        out = out.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
    return out


def _json(data: Any, accept: str) -> tuple[bytes, str]:
    return go_json({} if data is None else data), JSON_CT


def _json_collection(data: Any, accept: str) -> tuple[bytes, str]:
    value = data.get("collection") if isinstance(data, dict) else None
    return go_json(value if isinstance(value, list) else []), JSON_CT


def _string(data: Any, accept: str) -> tuple[bytes, str]:
    value = data.get("content") if isinstance(data, dict) else None
    return (value.encode() if isinstance(value, str) else b""), TEXT_CT


def _yaml(data: Any, accept: str) -> tuple[bytes, str]:
    import yaml  # here: only yaml/negotiate endpoints load it (an import is a dict lookup once loaded)

    text = yaml.safe_dump(data or {}, sort_keys=True, indent=2, default_flow_style=False, allow_unicode=True)
    return text.encode(), YAML_CT


def _xml_value(tag: str, value: Any, out: list[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _xml_value(tag, item, out)
        return
    if isinstance(value, dict):
        attrs = "".join(f" {k[1:]}={quoteattr(_text(v))}" for k, v in sorted(value.items()) if k.startswith("-"))
        out.append(f"<{tag}{attrs}>")
        for key in sorted(value):
            if key.startswith("-"):
                continue
            if key == "#text":
                out.append(escape(_text(value[key])))
            else:
                _xml_value(key, value[key], out)
        out.append(f"</{tag}>")
        return
    out.append(f"<{tag}>{escape(_text(value))}</{tag}>")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _xml(data: Any, accept: str) -> tuple[bytes, str]:
    out: list[str] = []
    if isinstance(data, dict) and len(data) == 1:
        ((root, value),) = data.items()
        _xml_value(str(root), value, out)
    else:
        _xml_value("doc", data or {}, out)
    return "".join(out).encode(), XML_CT


_OFFERS = ("application/json", "text/plain", "application/xml", "application/x-yaml", "application/yaml")


def _offer_for(accept: str) -> str:
    """gin's ``NegotiateFormat``: the first accepted range (client order) matching an offer;
    ``*`` matches anything from there on, and an accepted prefix of an offer matches it."""
    for item in accept.split(","):
        accepted = item.split(";", 1)[0].strip()
        if not accepted:
            continue
        for offer in _OFFERS:
            i = 0
            limit = min(len(accepted), len(offer))
            while i < limit:
                if accepted[i] == "*":
                    return offer
                if accepted[i] != offer[i]:
                    break
                i += 1
            if i == len(accepted):
                return offer
    return _OFFERS[0]


def _negotiate(data: Any, accept: str) -> tuple[bytes, str]:
    offer = _offer_for(accept) if accept else _OFFERS[0]
    if offer == "application/xml":
        return _xml(data, accept)
    if offer != "application/json":
        return _yaml(data, accept)
    return _json(data, accept)


_RENDERERS: dict[str, Renderer] = {
    "json": _json,
    "json-collection": _json_collection,
    "string": _string,
    "yaml": _yaml,
    "xml": _xml,
    "negotiate": _negotiate,
}


def renderer_for(output_encoding: str, backend_encodings: tuple[str, ...]) -> Renderer:
    """Unknown output encodings: the single backend's encoding if it has a renderer, else JSON."""
    if output_encoding in _RENDERERS:
        return _RENDERERS[output_encoding]
    if len(backend_encodings) == 1 and backend_encodings[0] in _RENDERERS:
        return _RENDERERS[backend_encodings[0]]
    return _json
