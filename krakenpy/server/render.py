"""Output encodings (lura ``router/gin/render.go``, krakend-xml): response data → body + Content-Type.

A renderer is picked once per endpoint. JSON is rendered like Go's ``json.Marshal``: keys sorted,
compact, ``<``, ``>``, ``&``, U+2028 and U+2029 escaped, any nesting depth (orjson stops at 254: deeper
data takes a slower iterative path), text that is not valid UTF-8 as U+FFFD. A cycle (a Lua table
put into itself) raises ``ValueError``: the handler answers it with a 500. XML follows krakend-xml
(mxj): the single top key is the root (else ``<doc>``), attributes from ``-name`` keys, ``#text``,
values escaped with mxj's five entities; unlike mxj, every element and attribute name is made a
valid XML name (``a><b`` → ``a__b``, ``1x`` → ``_1x``), so backend keys can never inject markup.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeAlias

from krakenpy.gojson import go_json

__all__ = ["JSON_CT", "XML_CT", "Renderer", "go_json", "renderer_for", "xml_name"]

#: data, Accept header → (body, content type)
Renderer: TypeAlias = Callable[[Any, str], tuple[bytes, str]]

JSON_CT = "application/json; charset=utf-8"
TEXT_CT = "text/plain; charset=utf-8"
YAML_CT = "application/yaml; charset=utf-8"
#: krakend-xml sets gin's MIMEXML, without a charset
XML_CT = "application/xml"


def _json(data: Any, accept: str) -> tuple[bytes, str]:
    return go_json({} if data is None else data), JSON_CT


def _json_collection(data: Any, accept: str) -> tuple[bytes, str]:
    value = data.get("collection") if isinstance(data, dict) else None
    return go_json(value if isinstance(value, list) else []), JSON_CT


def _string(data: Any, accept: str) -> tuple[bytes, str]:
    value = data.get("content") if isinstance(data, dict) else None
    return (value.encode("utf-8", "surrogateescape") if isinstance(value, str) else b""), TEXT_CT


def _yaml(data: Any, accept: str) -> tuple[bytes, str]:
    import yaml  # here: only yaml/negotiate endpoints load it (an import is a dict lookup once loaded)

    try:
        text = yaml.safe_dump(data or {}, sort_keys=True, indent=2, default_flow_style=False, allow_unicode=True)
    except yaml.YAMLError as exc:  # the handler turns render errors into KrakenD's 500
        raise ValueError(f"cannot render YAML: {exc}") from None
    return text.encode("utf-8", "surrogateescape"), YAML_CT


_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"})
#: characters XML 1.0 cannot carry at all: replaced by U+FFFD (as Go's xml.EscapeText does)
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*\Z")
_NAMES: dict[str, str] = {}


def xml_name(key: str) -> str:
    """``key`` as a valid XML element or attribute name: every character that may not appear in a
    name becomes ``_`` (``:`` too: no namespace prefixes), and ``_`` goes first when the name may
    not start with the first character."""
    if _XML_NAME.match(key):
        return key
    name = _NAMES.get(key)
    if name is None:
        chars = [c if (c.isalnum() or c in "._-") and not _XML_INVALID.match(c) else "_" for c in key]
        name = "".join(chars) or "_"
        if not (name[0].isalpha() or name[0] == "_"):
            name = "_" + name
        if len(_NAMES) < 4096:  # backend keys repeat; a bounded memo keeps odd ones cheap
            _NAMES[key] = name
    return name


def _xml_text(value: Any) -> str:
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    if _XML_INVALID.search(text):
        text = _XML_INVALID.sub("\ufffd", text)
    return text.translate(_XML_ESCAPES)


def _xml_tree(tag: str, value: Any) -> str:
    """One element and everything below it, iteratively (a backend can nest thousands deep)."""
    out: list[str] = []
    todo: list[tuple[str, Any]] = [(tag, value)]  # ("", closing tag text) entries write text as is
    while todo:
        name, item = todo.pop()
        if not name:
            out.append(item)
        elif isinstance(item, list):
            todo.extend((name, element) for element in reversed(item))
        elif isinstance(item, dict):
            element = xml_name(name)
            attrs = "".join(
                f' {xml_name(k[1:])}="{_xml_text(v)}"' for k, v in sorted(item.items()) if k.startswith("-")
            )
            out.append(f"<{element}{attrs}>")
            todo.append(("", f"</{element}>"))
            for key in sorted(item, reverse=True):
                if key.startswith("-"):
                    continue
                if key == "#text":
                    todo.append(("", _xml_text(item[key])))
                else:
                    todo.append((key, item[key]))
        else:
            element = xml_name(name)
            out.append(f"<{element}>{_xml_text(item)}</{element}>")
    return "".join(out)


def _xml(data: Any, accept: str) -> tuple[bytes, str]:
    if isinstance(data, dict) and len(data) == 1:
        ((root, value),) = data.items()
        # mxj: a single key holding a list is not a root element: the list goes under <doc>
        text = _xml_tree("doc", data) if isinstance(value, list) else _xml_tree(str(root), value)
    else:
        text = _xml_tree("doc", data or {})
    return text.encode("utf-8", "surrogateescape"), XML_CT


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
