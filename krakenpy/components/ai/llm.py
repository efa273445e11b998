"""``ai/llm`` (backend, KrakenD Enterprise field names): the unified LLM interface on one HTTP
backend. The client sends ``{"instructions": ..., "contents": ...}``; the client layer writes the
vendor's body and credential headers before the call and turns a successful answer into the unified
answer (:mod:`krakenpy.llm`). Vendors: ``openai`` ``v1`` (Responses API), ``anthropic`` ``v1``
(Messages), ``gemini`` ``v1beta`` (generateContent), ``mistral`` ``v1`` (chat completions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from krakenpy.backends.client import ClientMiddleware
from krakenpy.components.base import Component, Site
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.llm.call import NAMESPACE, LlmOptions, Templates, middleware, secret_literals
from krakenpy.llm.vendors import VENDORS
from krakenpy.resources import Resources

__all__ = ["COMPONENT"]

_AUTH_HEADERS: Final = tuple(sorted({vendor.auth_header for vendor in VENDORS.values()}))
_SUPPORTED: Final = ", ".join(f"{vendor} {version}" for vendor, version in VENDORS)


def _fail(path: str, message: str) -> ConfigError:
    return ConfigError([ConfigIssue(path, message)])


def _one(raw: Mapping[str, Any], path: str, what: str) -> tuple[str, Any]:
    keys = [k for k in raw if k[:1] not in ("@", "$", "_", "#")]
    if len(keys) != 1:
        raise _fail(path, f"exactly one {what} is needed ({_SUPPORTED})")
    return keys[0], raw[keys[0]]


def _parse(raw: Mapping[str, Any], site: Site) -> LlmOptions:
    vendor, versions = _one(raw, site.path, "vendor")
    if not isinstance(versions, Mapping):
        raise _fail(site.at(vendor), "an object with one API version is needed")
    version, settings = _one(versions, site.at(vendor), "version")
    where = site.at(vendor, version)
    if (vendor, version) not in VENDORS:
        raise _fail(where, f"{vendor} {version} is not supported (supported: {_SUPPORTED})")
    if not isinstance(settings, Mapping):
        raise _fail(where, "an object with credentials is needed")
    credentials = settings.get("credentials")
    if not isinstance(credentials, str) or not credentials:
        raise _fail(f"{where}.credentials", "the vendor's API key is needed")
    variables = settings.get("variables") or {}
    if vendor != "gemini" and not (isinstance(variables, Mapping) and isinstance(variables.get("model"), str)):
        raise _fail(f"{where}.variables.model", f"{vendor} needs the model to call")
    return LlmOptions(
        vendor=vendor,
        version=version,
        credentials=credentials,
        variables=dict(variables) if isinstance(variables, Mapping) else {},
        debug=bool(settings.get("debug", False)),
        input_template=str(settings.get("input_template") or ""),
        output_template=str(settings.get("output_template") or ""),
    )


def _template(path: str, where: str, resources: Resources) -> Any:
    from krakenpy.gotemplate import TemplateError, TemplateSet

    file = resources.base_dir / path
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(where, f"cannot read the template {path}: {getattr(exc, 'strerror', None) or exc}") from None
    templates = TemplateSet()
    try:
        templates.add("main", text, path)
    except TemplateError as exc:
        raise _fail(where, f"not a Go template: {exc}") from None
    return templates


async def _client(options: LlmOptions, site: Site, resources: Resources) -> ClientMiddleware | None:
    from krakenpy.telemetry.setup import hub_for, register_credentials

    # every vendor's key header, masked whatever redact says (replace_defaults drops Authorization too)
    # and the key itself wherever a text or body quotes it (a vendor's "Incorrect API key: <key>")
    register_credentials(resources, headers=_AUTH_HEADERS, secrets=secret_literals(options))
    where = site.at(options.vendor, options.version)
    templates = Templates(
        input=_template(options.input_template, f"{where}.input_template", resources)
        if options.input_template
        else None,
        output=_template(options.output_template, f"{where}.output_template", resources)
        if options.output_template
        else None,
    )
    return middleware(options, templates, hub_for(resources).redactor)


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"backend"}),
    parse=_parse,
    summary="unified LLM interface: OpenAI, Anthropic, Gemini, Mistral request bodies, credentials and unified answers",
    client=_client,
    edition="ee",
)
