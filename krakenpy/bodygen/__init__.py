"""Go templates that write a body (KrakenD Enterprise's body generators and ``backend/soap``): the
template comes inline (``template``: base64, parsed by ``parse``) or from a file (``path``: read and
parsed once at start-up, relative to the current directory, as in KrakenD); each request only executes it.

The variables a template sees: ``.req_body`` (the request body, JSON-decoded when it is JSON, else its
text; an empty object when empty), ``.req_params`` (``Id``, ``Resp0_x``...), ``.req_headers`` and
``.req_querystring`` (name → list of values), ``.req_path``, ``.req_method``; a response generator
also ``.resp_body`` (the answer's data, or a ``no-op`` body decoded as ``.req_body`` is) and, for a
``no-op`` answer only, ``.resp_headers`` and ``.resp_status``. The functions are Go's and the
common Sprig ones (:mod:`krakenpy.gotemplate`).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from krakenpy.components.base import Site
from krakenpy.errors import BackendError, ConfigError, ConfigIssue
from krakenpy.files import read_config_file
from krakenpy.proxy.types import Request, Response
from krakenpy.resources import Resources

if TYPE_CHECKING:
    from krakenpy.gotemplate import TemplateSet

__all__ = ["BodyTemplate", "Compiled", "parse_template", "request_values", "response_values"]

log = logging.getLogger("krakenpy.bodygen")
_NAME = "body"


@dataclass(frozen=True, slots=True)
class BodyTemplate:
    """A parsed generator value: the inline template compiled, or the file to read at start-up."""

    content_type: str
    debug: bool
    #: JSON path of the value (messages, the template's source name)
    where: str
    compiled: Compiled | None = None
    path: str = ""

    async def load(self, resources: Resources) -> Compiled:
        """The compiled template (the file read and parsed once: errors at ``…path``)."""
        if self.compiled is not None:
            return self.compiled
        where = f"{self.where}.path"
        raw = read_config_file(resources.base_dir / self.path, where)
        return _compile(raw.decode("utf-8", "replace"), where, self.path)


@dataclass(frozen=True, slots=True)
class Compiled:
    """One executable template."""

    templates: TemplateSet
    source: str

    def render(self, values: Mapping[str, Any], debug: bool, name: str) -> str:
        """The body for ``values``; a failure is a :class:`BackendError` (the call fails, logged)."""
        from krakenpy.gotemplate import FuncError, TemplateError

        try:
            text, _ = self.templates.render(_NAME, values)
        except (TemplateError, FuncError) as exc:
            raise BackendError(f"{name}: the template failed: {exc}", name="TemplateError") from None
        if debug:
            log.debug("%s: input %s\n%s: generated\n%s", name, sorted(values), name, text)
        return text


def _compile(text: str, where: str, source: str) -> Compiled:
    from krakenpy.gotemplate import TemplateSet, TemplateSyntaxError

    templates = TemplateSet()
    try:
        templates.add(_NAME, text, source)
    except TemplateSyntaxError as exc:
        raise ConfigError([ConfigIssue(where, f"template syntax error: {exc}")]) from None
    return Compiled(templates, source)


def parse_template(raw: Mapping[str, Any], site: Site, *, content_type: str) -> BodyTemplate:
    """``path`` or an inline base64 ``template`` (exactly one), ``content_type`` and ``debug``."""
    path, inline = raw.get("path", ""), raw.get("template", "")
    if bool(path) == bool(inline):
        raise ConfigError([ConfigIssue(site.path, "set one of path (a template file) or template (inline, base64)")])
    ctype = raw.get("content_type") or content_type
    debug = bool(raw.get("debug", False))
    if path:
        return BodyTemplate(ctype, debug, site.path, path=path)
    try:
        text = base64.b64decode(inline, validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ConfigError([ConfigIssue(site.at("template"), "not base64 of a UTF-8 template")]) from None
    return BodyTemplate(ctype, debug, site.path, _compile(text, site.at("template"), site.at("template")))


def decode_body(body: bytes) -> Any:
    """A body as a template sees it: JSON when it parses, else text; an empty object when empty (a
    template reading ``.req_body.email`` then prints ``<no value>``: EE's generators work without a body)."""
    if not body:
        return {}
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")


def request_values(request: Request) -> dict[str, Any]:
    """The ``req_*`` variables of ``request``."""
    return {
        "req_body": decode_body(request.body),
        "req_params": request.params,
        "req_headers": request.headers,
        "req_querystring": request.query,
        "req_path": request.client_path or request.path,
        "req_method": request.method,
    }


def response_values(request: Request, response: Response) -> dict[str, Any]:
    """The ``req_*`` and ``resp_*`` variables: ``resp_headers`` and ``resp_status`` only for a ``no-op``
    answer, as EE documents them ("when using no-op, and only in this case")."""
    values = request_values(request)
    if response.body is None:
        values["resp_body"] = response.data
        return values
    values["resp_body"] = decode_body(response.body)
    values["resp_headers"] = response.headers
    values["resp_status"] = response.status
    return values
