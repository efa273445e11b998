"""``backend/soap`` (backend, KrakenD Enterprise field names): a Go template writes the SOAP envelope
sent to the backend (``path`` or inline base64 ``template``; ``content_type`` default ``text/xml``),
from the request's variables (:mod:`krakenpy.bodygen`: ``.req_params``, ``.req_body``...). The answer
is decoded by the backend's ``encoding`` (``xml`` for a SOAP service: ``Envelope.Body...`` is then
data for ``target``, ``mapping``, ``allow``...). The template is read and parsed once at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from krakenpy.bodygen import BodyTemplate, parse_template
from krakenpy.components.base import Component, Site
from krakenpy.errors import ConfigIssue
from krakenpy.proxy.types import Middleware
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "NAMESPACE"]

NAMESPACE: Final = "backend/soap"


def _parse(raw: Mapping[str, Any], site: Site) -> BodyTemplate:
    options = parse_template(raw, site, content_type="text/xml")
    if site.backend is not None and site.backend.encoding == "json":
        message = "a SOAP service answers XML: with encoding json (the default) every call fails; set encoding xml"
        site.notes.append(ConfigIssue(site.backend.path + ".encoding", message, "warning"))
    return options


async def _build(options: BodyTemplate, site: Site, resources: Resources) -> Middleware | None:
    if site.level != "backend":
        return None
    from krakenpy.bodygen.middleware import request_generator

    compiled = await options.load(resources)
    return request_generator(compiled, options.content_type, options.debug, NAMESPACE)


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"backend"}),
    parse=_parse,
    summary="a Go template (file or inline) writes the SOAP envelope; the XML answer is decoded by encoding xml",
    backend=_build,
    edition="ee",
)
