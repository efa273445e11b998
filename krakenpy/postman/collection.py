"""The Postman collection v2.1 of a configuration.

Every endpoint becomes one request, named by its ``documentation/postman`` ``name`` (else the last
segment of its path, as KrakenD), placed in its ``folder`` (``/A/B`` nests B in A; folders declared
at service level come first, in their order, with their descriptions; the others in the order the
endpoints name them; endpoints without a folder come last, at the top level). URLs are relative to
the collection variable ``{{HOST}}`` (the service's ``http://localhost:<port>``); ``{param}``
segments become Postman path variables (``:param``). Declared ``input_query_strings`` and
``input_headers`` are listed, disabled and empty, for the user to fill; methods that carry a body
get an empty raw JSON body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from krakenpy.config.model import EndpointConfig, ServiceConfig
from krakenpy.postman.options import EndpointDoc, ServiceDoc

__all__ = ["SCHEMA", "collection"]

SCHEMA: Final = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})


def _segments(endpoint: str) -> tuple[list[str], list[dict[str, str]]]:
    path: list[str] = []
    variables: list[dict[str, str]] = []
    for part in endpoint.strip("/").split("/"):
        if part.startswith("{") and part.endswith("}") and len(part) > 2:
            variables.append({"key": part[1:-1], "value": ""})
            path.append(":" + part[1:-1])
        elif part:
            path.append(part)
    return path, variables


def _request(endpoint: EndpointConfig, doc: EndpointDoc) -> dict[str, Any]:
    path, variables = _segments(endpoint.endpoint)
    query = [{"key": q, "value": "", "disabled": True} for q in endpoint.input_query_strings if q != "*"]
    url: dict[str, Any] = {
        "raw": "{{HOST}}/" + "/".join(path),
        "host": ["{{HOST}}"],
        "path": path,
    }
    if query:
        url["query"] = query
    if variables:
        url["variable"] = variables
    request: dict[str, Any] = {
        "method": endpoint.method.upper(),
        "header": [{"key": h, "value": "", "disabled": True} for h in endpoint.input_headers if h != "*"],
        "url": url,
    }
    if doc.description:
        request["description"] = doc.description
    if endpoint.method.upper() in _BODY_METHODS:
        request["body"] = {"mode": "raw", "raw": "", "options": {"raw": {"language": "json"}}}
    default_name = endpoint.endpoint.rstrip("/").rsplit("/", 1)[-1] or "/"
    return {"name": doc.name or default_name, "request": request, "response": []}


class _Folder:
    __slots__ = ("children", "description", "items", "name")

    def __init__(self, name: str, description: str = "") -> None:
        self.name = name
        self.description = description
        self.children: dict[str, _Folder] = {}
        self.items: list[dict[str, Any]] = []

    def at(self, parts: tuple[str, ...]) -> _Folder:
        folder = self
        for part in parts:
            folder = folder.children.setdefault(part, _Folder(part))
        return folder

    def render(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for child in self.children.values():
            item: dict[str, Any] = {"name": child.name, "item": child.render()}
            if child.description:
                item["description"] = child.description
            out.append(item)
        return out + self.items


def collection(
    service: ServiceConfig, service_doc: ServiceDoc | None, endpoint_docs: Mapping[int, EndpointDoc]
) -> dict[str, Any]:
    """The collection document; ``endpoint_docs``: endpoint index → its ``documentation/postman``."""
    doc = service_doc or ServiceDoc()
    root = _Folder("")
    for parts, description in doc.folders:
        root.at(parts).description = description
    for i, endpoint in enumerate(service.endpoints):
        endpoint_doc = endpoint_docs.get(i) or EndpointDoc()
        root.at(endpoint_doc.folder).items.append(_request(endpoint, endpoint_doc))
    info: dict[str, Any] = {"name": doc.name or service.name or "KrakenD", "schema": SCHEMA}
    if doc.description:
        info["description"] = doc.description
    if doc.version:
        info["version"] = doc.version
    return {
        "info": info,
        "item": root.render(),
        "variable": [{"key": "HOST", "value": f"http://localhost:{service.port}", "type": "string"}],
    }
