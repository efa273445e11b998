"""``backend/static-filesystem`` (backend, KrakenD Enterprise field names): answer from a file instead
of calling a host (executor layer). The file is the backend URL's path under the folder; the answer
goes through the HTTP executor's status, decoding and filtering rules (:mod:`krakenpy.staticfs.backend`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.proxy.types import Proxy
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "NAMESPACE", "StaticBackendOptions"]

NAMESPACE: Final = "backend/static-filesystem"
_DEFAULT_MAX_FILE_SIZE: Final = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StaticBackendOptions:
    path: str
    directory_listing: bool = False
    max_file_size: int = _DEFAULT_MAX_FILE_SIZE


def _parse(raw: Mapping[str, Any], site: Site) -> StaticBackendOptions:
    return StaticBackendOptions(
        path=str(raw["path"]),
        directory_listing=bool(raw.get("directory_listing", False)),
        max_file_size=int(raw.get("max_file_size", _DEFAULT_MAX_FILE_SIZE)),
    )


async def _executor(options: StaticBackendOptions, site: Site, resources: Resources) -> Proxy | None:
    from krakenpy.backends import backend_formatter
    from krakenpy.backends.http import http_backend
    from krakenpy.staticfs import Folder
    from krakenpy.staticfs.backend import static_upstream

    backend = site.backend
    assert backend is not None
    configured = os.path.normpath(os.path.join(resources.base_dir, options.path))
    if os.path.exists(configured) and not os.path.isdir(configured):
        raise ConfigError([ConfigIssue(site.at("path"), f"{configured} is not a folder")])
    folder = Folder(os.path.abspath(configured))
    if folder.real() is None:
        resources.warnings.append(
            f"{site.at('path')}: folder {configured} does not exist (yet): the backend fails with 404 until it does"
        )
    call = static_upstream(folder, listing=options.directory_listing, max_size=options.max_file_size)
    return http_backend(backend, call, backend_formatter(backend))


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"backend"}),
    parse=_parse,
    summary="answers a backend from a file (url_pattern under a folder), decoded like an HTTP answer; no traversal",
    edition="ee",
    executor=_executor,
)
