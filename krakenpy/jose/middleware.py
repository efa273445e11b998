"""The endpoint-layer guard built from a :class:`~krakenpy.jose.validator.JwtValidator`.

On success the claims become ``request.claims``, ``propagate_claims`` headers are set (overriding a
client header of that name; backends see them only through ``input_headers``, as in KrakenD) and the
``JWT.<claim>`` parameters the backends' ``url_pattern`` use are filled. On failure the request ends
with a :class:`~krakenpy.errors.Rejection`: 401, or 403 for roles and scopes, empty body. It is a
:class:`~krakenpy.proxy.guard.Guard`: alone in the endpoint layer it runs on the filtered request.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import Any

from krakenpy.errors import Rejection
from krakenpy.jose.claims import MISSING, lookup, nested, render, render_element
from krakenpy.jose.token import TokenError
from krakenpy.jose.validator import Denied, JwtValidator
from krakenpy.proxy.guard import HANDLER_HEADERS, Guard, GuardCheck
from krakenpy.proxy.types import Headers, Request
from krakenpy.telemetry.audit import AUDIT, audit_decision

__all__ = ["POLICY", "jwt_params", "validator_middleware"]

log = logging.getLogger("krakenpy.jose")
POLICY = "auth/validator"


def jwt_params(url_keys: Sequence[str]) -> tuple[str, ...]:
    """The ``JWT.<claim>`` template keys among a backend's ``url_keys`` (deduplicated, in order)."""
    return tuple(dict.fromkeys(k for k in url_keys if k.startswith("JWT.") and len(k) > 4))


def _param_value(claims: dict[str, Any], name: str) -> str | None:
    # CE: the whole text after ``JWT.`` is one top-level claim; beyond CE a dotted name that is not a
    # top-level claim is looked up as a nested path (``{JWT.org.id}``)
    value = claims.get(name, MISSING)
    if value is MISSING and "." in name:
        value = nested(claims, name)
    return None if value is MISSING else render(value)


def validator_middleware(
    validator: JwtValidator,
    *,
    params: Sequence[str] = (),
    endpoint: str = "",
    policy: str = POLICY,
    forwarded: Collection[str] | None = None,
) -> Guard:
    """Wrap an endpoint proxy with JWT validation (see the module doc). ``forwarded``: the canonical
    names of the client headers the endpoint passes on (``input_headers``; ``None``: all of them)."""
    options = validator.options
    preserve = options.propagate_claims_preserve_array
    param_names = tuple((key, key[4:]) for key in params)
    debug = options.operation_debug
    token_of, cached, verified = validator.token, validator.cached, validator.verified

    def check_for(propagate: tuple[tuple[str, str], ...]) -> GuardCheck:
        async def check(request: Request, headers: Headers) -> None:
            try:
                token = token_of(headers)
                if token is None:
                    raise TokenError("no_credentials", "no token in the header or the cookie")
                # a token seen before costs a look-up and the per-request checks, without a suspension
                claims = cached(token)
                if claims is None:
                    claims = await verified(token)
            except TokenError as exc:
                status = 403 if isinstance(exc, Denied) else 401
                if debug:
                    log.error("%s %s: JWT rejected (%s): %s", request.method, endpoint, exc.reason, exc)
                else:
                    log.debug("%s %s: JWT rejected (%s): %s", request.method, endpoint, exc.reason, exc)
                raise Rejection(status, reason=exc.reason, policy=policy, detail=str(exc)) from None
            request.claims = claims
            if AUDIT in request.context:  # the audit trail's scope: only with telemetry/audit
                audit_decision(request.context, policy=policy)
            if propagate:
                out = request.headers
                for claim, header in propagate:
                    value = lookup(claims, claim, is_nested=True)
                    if preserve and isinstance(value, list):
                        out[header] = [render_element(v) for v in value]
                    else:
                        out[header] = [render(value)]
            if param_names:
                values = request.params
                for key, name in param_names:
                    rendered = _param_value(claims, name)
                    if rendered is not None:
                        values[key] = rendered

        return check

    everything = options.propagate_claims
    # on the filtered request a claim header the endpoint does not forward is not set at all, as the
    # input filter would drop it; one the handler itself writes (User-Agent, X-Forwarded-*) would
    # come out differently there, so such a validator keeps the unfiltered path
    kept = everything if forwarded is None else tuple(pair for pair in everything if pair[1] in forwarded)
    written = any(header in HANDLER_HEADERS for _, header in everything)
    reads = (options.auth_header_name, "Cookie")
    return Guard(reads, check_for(everything), None if written else check_for(kept))
