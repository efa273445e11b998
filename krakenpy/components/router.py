"""``router`` (service): gin engine options: error bodies, redirects, health path, 405s, OPTIONS routes, version
header, client IP rules. Read by the core (:class:`~krakenpy.config.options.RouterOptions`)."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.config.options import RouterOptions, parse_router

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> RouterOptions:
    return parse_router(raw, site.path)


COMPONENT: Final = Component(
    namespace="router",
    levels=frozenset({"service"}),
    parse=_parse,
    summary="router behaviour: error bodies and messages, redirects, 405s, health path, version header",
    core=True,
    strict=False,
    ignored={
        "app_engine": "the client address follows forwarded_by_client_ip, remote_ip_headers and trusted_proxies "
        "only: X-Appengine-Remote-Addr is a header any client can send",
        "use_h2c": "clients get HTTP/1.1; HTTP/2 is served only by a gateway with a grpc.server, as cleartext "
        "with prior knowledge, whatever this field says",
        "remove_extra_slash": "paths are matched as sent: /a//b is redirected to /a/b unless "
        "disable_redirect_fixed_path",
        "max_multipart_memory": "request bodies are never parsed as forms: they are forwarded as received",
    },
)
