"""``backend/lambda`` options: parsed and validated once per backend at startup.

Invalid values raise :class:`~krakenpy.errors.ConfigError` located at the offending field, so a
bad Lambda config stops the gateway (KrakenD silently falls back to an HTTP backend instead).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

from krakenpy.config.durations import parse_duration
from krakenpy.errors import ConfigError, ConfigIssue

__all__ = [
    "FUNCTION_NAME_RE",
    "INVOCATION_TYPES",
    "InvocationType",
    "PAYLOAD_MODES",
    "LambdaOptions",
    "PayloadMode",
    "base_function",
    "parse_options",
]

PayloadMode: TypeAlias = Literal["params", "body", "apigw_v1", "apigw_v2"]
InvocationType: TypeAlias = Literal["RequestResponse", "Event", "DryRun"]
PAYLOAD_MODES: Final = ("params", "body", "apigw_v1", "apigw_v2")
INVOCATION_TYPES: Final = ("RequestResponse", "Event", "DryRun")
_KNOWN: Final = frozenset(
    {
        "function_name",
        "function_param_name",
        "region",
        "max_retries",
        "endpoint",
        "payload",
        "qualifier",
        "invocation_type",
        "allowed_functions",
        "function_error_status",
        "error_type_status",
        "proxy_integration",
        "timeout",
    }
)

#: the Invoke API's FunctionName forms: name, name:qualifier, partial and full ARNs
FUNCTION_NAME_RE: Final = re.compile(
    r"(?:arn:aws[a-zA-Z-]*:lambda:[a-z]{2}(?:-gov)?-[a-z]+-\d:)?"
    r"(?:\d{12}:)?(?:function:)?[a-zA-Z0-9_.-]{1,140}(?::(?:\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9_-]{1,128}))?"
)
_QUALIFIER_RE: Final = re.compile(r"\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9_$-]{1,128}")
_MAX_NAME: Final = 256


@dataclass(frozen=True, slots=True)
class LambdaOptions:
    """One backend's ``backend/lambda`` namespace, with defaults applied."""

    function_name: str | None
    function_param_name: str | None
    region: str | None = None
    endpoint: str | None = None
    max_retries: int | None = None
    payload: PayloadMode = "params"
    qualifier: str | None = None
    invocation_type: InvocationType = "RequestResponse"
    #: with ``function_param_name``: the only names a request may pick (None = any, KrakenD's default)
    allowed_functions: frozenset[str] | None = None
    function_error_status: int = 502
    error_type_status: Mapping[str, int] = field(default_factory=dict)
    proxy_integration: bool = False
    #: seconds; 0 means only the endpoint deadline bounds the call
    timeout: float = 0.0


def base_function(name: str) -> str:
    """``name`` without its ``:version``/``:alias`` qualifier (ARNs keep their prefix)."""
    if name.startswith("arn:"):
        # arn:partition:lambda:region:account:function:name[:qualifier]
        parts = name.split(":")
        return ":".join(parts[:7])
    parts = name.split(":")
    if len(parts) >= 3 and parts[1] == "function":  # account:function:name[:qualifier]
        return ":".join(parts[:3])
    return parts[0]


def valid_function_name(name: str) -> bool:
    """True when ``name`` has one of the forms the Invoke API accepts."""
    # "." and ".." would be dot segments of the request path, not a function
    return 0 < len(name) <= _MAX_NAME and FUNCTION_NAME_RE.fullmatch(name) is not None and name not in (".", "..")


class _Fields:
    def __init__(self, raw: Mapping[str, Any], path: str) -> None:
        self.raw = raw
        self.path = path
        self.issues: list[ConfigIssue] = []

    def error(self, key: str, message: str) -> None:
        self.issues.append(ConfigIssue(f"{self.path}.{key}", message))

    def string(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            self.error(key, f"expected a non-empty string, got {value!r}")
            return None
        return value

    def status(self, key: str, value: Any, default: int, low: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 599:
            self.error(key, f"expected an HTTP status {low}-599, got {value!r}")
            return default
        return value


def parse_options(raw: Any, *, method: str, path: str) -> LambdaOptions:
    """Validate the namespace value at ``path``; the payload default follows KrakenD (GET → params)."""
    if not isinstance(raw, Mapping):
        raise ConfigError([ConfigIssue(path, f"expected an object, got {type(raw).__name__}")])
    f = _Fields(raw, path)
    for key in raw:
        if key not in _KNOWN and str(key)[:1] not in "@$_#":
            f.error(str(key), "unknown field")
    name = f.string("function_name")
    param = f.string("function_param_name")
    if (name is None) == (param is None) and not f.issues:
        f.error("function_name", "set exactly one of function_name or function_param_name")
    if name is not None and not valid_function_name(name):
        f.error("function_name", f"{name!r} is not a Lambda function name, name:qualifier or ARN")
    retries = raw.get("max_retries")
    if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int) or retries < 0):
        f.error("max_retries", f"expected an integer >= 0, got {retries!r}")
        retries = None
    region = f.string("region")
    endpoint = f.string("endpoint")
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        f.error("endpoint", f"expected an http:// or https:// URL, got {endpoint!r}")
    payload = raw.get("payload", "params" if method == "GET" else "body")
    if payload not in PAYLOAD_MODES:
        f.error("payload", f"expected one of {', '.join(PAYLOAD_MODES)}, got {payload!r}")
        payload = "params"
    qualifier = f.string("qualifier")
    if qualifier is not None and not _QUALIFIER_RE.fullmatch(qualifier):
        f.error("qualifier", f"{qualifier!r} is not a version or alias")
    invocation = raw.get("invocation_type", "RequestResponse")
    if invocation not in INVOCATION_TYPES:
        f.error("invocation_type", f"expected one of {', '.join(INVOCATION_TYPES)}, got {invocation!r}")
    allowed_raw = raw.get("allowed_functions")
    allowed: frozenset[str] | None = None
    if allowed_raw is not None:
        if not isinstance(allowed_raw, list) or not all(isinstance(a, str) and a for a in allowed_raw):
            f.error("allowed_functions", "expected a list of function names")
        else:
            allowed = frozenset(allowed_raw)
            for bad in sorted(a for a in allowed if not valid_function_name(a)):
                f.error("allowed_functions", f"{bad!r} is not a Lambda function name")
    error_status = f.status("function_error_status", raw.get("function_error_status", 502), 502, 400)
    by_type_raw = raw.get("error_type_status") or {}
    by_type: dict[str, int] = {}
    if not isinstance(by_type_raw, Mapping):
        f.error("error_type_status", "expected an object of errorType → status")
    else:
        for key, value in by_type_raw.items():
            by_type[str(key)] = f.status(f"error_type_status.{key}", value, error_status, 100)
    proxy = raw.get("proxy_integration", False)
    if not isinstance(proxy, bool):
        f.error("proxy_integration", f"expected true or false, got {proxy!r}")
        proxy = False
    timeout = 0.0
    if raw.get("timeout") is not None:
        try:
            timeout = parse_duration(raw["timeout"])
        except ValueError as exc:
            f.error("timeout", str(exc))
        if timeout < 0:
            f.error("timeout", "must not be negative")
    if f.issues:
        raise ConfigError(f.issues)
    return LambdaOptions(
        function_name=name,
        function_param_name=param,
        region=region,
        endpoint=endpoint,
        max_retries=retries,
        payload=payload,
        qualifier=qualifier,
        invocation_type=invocation,
        allowed_functions=allowed,
        function_error_status=error_status,
        error_type_status=by_type,
        proxy_integration=proxy,
        timeout=timeout,
    )
