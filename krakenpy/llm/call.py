"""The ``ai/llm`` client-layer call: the unified request (``{"instructions": ..., "contents": ...}``)
becomes the vendor's body with its credential headers, and a successful vendor answer becomes the
unified answer (or what ``output_template`` renders). An answer that is not a 2xx JSON object goes
on untouched, so the pipeline treats a vendor error as any backend error.

Custom templates are Go ``text/template`` files (krakenpy's engine, Sprig functions) read once at
start-up: ``input_template`` sees ``.req_body`` (the client's JSON object, any shape),
``.req_headers`` and ``.variables``; ``output_template`` sees ``.resp_body`` (the vendor's JSON),
``.resp_status``, ``.resp_headers`` and ``.variables``. Each must render JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import orjson

from krakenpy.backends.client import ClientMiddleware, UpstreamCall, UpstreamResponse, refusal_without
from krakenpy.errors import BackendError, Rejection
from krakenpy.llm.vendors import VENDORS, Vendor, unified

if TYPE_CHECKING:
    from krakenpy.telemetry.redact import Redactor

__all__ = ["NAMESPACE", "LlmOptions", "Templates", "middleware"]

NAMESPACE: Final = "ai/llm"
log = logging.getLogger("krakenpy.llm")

#: request headers the call writes itself (a client's own credential never reaches the vendor)
_REPLACED: Final = frozenset({"content-length", "content-type", "authorization", "x-api-key", "x-goog-api-key"})
_JSON: Final = "application/json"


@dataclass(frozen=True, slots=True)
class LlmOptions:
    """One backend's ``ai/llm`` value after parsing."""

    vendor: str
    version: str
    credentials: str = field(repr=False)
    variables: Mapping[str, Any] = field(default_factory=dict)
    debug: bool = False
    input_template: str = ""
    output_template: str = ""


@dataclass(frozen=True, slots=True)
class Templates:
    """The custom templates, parsed at start-up (``None``: the vendor's default)."""

    input: Any = None
    output: Any = None


def _headers(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def _reject(detail: str) -> Rejection:
    body = orjson.dumps({"error": detail})
    return Rejection(400, reason="bad_request", policy=NAMESPACE, detail=detail, body=body,
                     headers=(("Content-Type", _JSON),))  # fmt: skip


def _unified_request(body: bytes | None, templated: bool) -> tuple[Any, str | None, str]:
    """The client's JSON object, its ``instructions`` and ``contents``; with an ``input_template``
    the shape is the template's, so any JSON object will do."""
    need = "a JSON object" if templated else "a JSON object with contents"
    try:
        parsed = orjson.loads(body or b"")
    except orjson.JSONDecodeError:
        raise _reject(f"the body must be {need}") from None
    if not isinstance(parsed, dict):
        raise _reject(f"the body must be {need}")
    if templated:
        return parsed, None, ""
    contents, instructions = parsed.get("contents"), parsed.get("instructions")
    if not isinstance(contents, str) or not contents:
        raise _reject("contents must be a non-empty string")
    if instructions is not None and not isinstance(instructions, str):
        raise _reject("instructions must be a string")
    return parsed, instructions, contents


def _render(template: Any, data: dict[str, Any], what: str) -> bytes:
    """The template's output as compact JSON; any failure is a 500, never a traceback."""
    from krakenpy.gotemplate import TemplateError

    try:
        text, _ = template.render("main", data)
        return orjson.dumps(orjson.loads(text))
    except (TemplateError, orjson.JSONDecodeError) as exc:
        # the template is the operator's, the data the client's
        detail = str(exc)[:200]
    except Exception as exc:  # MemoryError, RecursionError, JSON nested too deep to write back
        detail = type(exc).__name__
    raise BackendError(f"ai/llm: the {what} template did not render JSON: {detail}")


def secret_literals(options: LlmOptions) -> tuple[str, ...]:
    """The credential as configured and as the vendor's header carries it (``Bearer <key>``): what
    every output masks as a literal."""
    vendor = VENDORS.get((options.vendor, options.version))
    sent = vendor.auth_value(options.credentials) if vendor is not None else ""
    return tuple(v for v in (options.credentials, sent) if v)


def middleware(options: LlmOptions, templates: Templates, redactor: Redactor) -> ClientMiddleware:
    """The client middleware of one backend (everything derived here, once); ``redactor`` writes the
    ``debug`` bodies and URL as every log line is written."""
    vendor: Vendor = VENDORS[(options.vendor, options.version)]
    auth = (vendor.auth_header, vendor.auth_value(options.credentials))
    fixed = [("Content-Type", _JSON), auth, *vendor.extra_headers]
    replaced = _REPLACED | {name.lower() for name, _ in vendor.extra_headers}
    variables, debug = dict(options.variables), options.debug
    label = f"{options.vendor}/{options.version}"
    literals = tuple(v.encode() for v in sorted(secret_literals(options), key=len, reverse=True))
    mask = redactor.mask.encode()

    def wrap(call: UpstreamCall) -> UpstreamCall:
        async def llm(method: str, url: str, headers: list[tuple[str, str]], body: bytes | None) -> UpstreamResponse:
            parsed, instructions, contents = _unified_request(body, templates.input is not None)
            if templates.input is not None:
                data = {"req_body": parsed, "req_headers": _headers(headers), "variables": variables}
                payload = _render(templates.input, data, "input")
            else:
                payload = orjson.dumps(vendor.build(instructions, contents, variables))
            sent = [(k, v) for k, v in headers if k.lower() not in replaced]
            sent.extend(fixed)
            if debug:  # the body only (the headers carry the credential), as one escaped and redacted line
                log.debug("ai/llm %s request to %s: %s", label, redactor.url(url), redactor.body(payload, _JSON))
            response = await call(method, url, sent, payload)
            if not 200 <= response.status < 300:  # the failure path only
                response = await refusal_without(response, literals, mask)
            if debug:
                log.debug(
                    "ai/llm %s answer %d: %s",
                    label,
                    response.status,
                    redactor.body(response.body, response.content_type),
                )
            if not 200 <= response.status < 300:
                return response
            try:
                answer = orjson.loads(response.body)
            except orjson.JSONDecodeError:
                return response  # the pipeline's decoder reports it as any backend would
            if templates.output is not None:
                data = {
                    "resp_body": answer,
                    "resp_status": response.status,
                    "resp_headers": _headers(list(response.headers)),
                    "variables": variables,
                }
                out = _render(templates.output, data, "output")
            else:
                out = orjson.dumps(unified(vendor, answer))
            kept = tuple((k, v) for k, v in response.headers if k.lower() not in ("content-length", "content-type"))
            return UpstreamResponse(response.status, (*kept, ("Content-Type", _JSON)), out, _JSON)

        return llm

    return wrap
