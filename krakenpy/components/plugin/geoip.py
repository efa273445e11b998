"""The ``geoip`` plugin (KrakenD Enterprise, ``plugin/http-server``): every request gets an ``X-Geoip``
header with the client address's record in a MaxMind GeoIP2 City database (``citydb_path``), as
EE's plugin does, so backends (through ``input_headers``) and policies can use it.

The value is the record as Go's ``encoding/json`` writes geoip2-golang's ``City`` struct (its Go field
names; what the database lacks is a zero value, an address it does not know is an all-zero record),
with characters beyond ASCII written as JSON ``\\u`` escapes (a header value is bytes; EE writes raw
UTF-8). A client's own ``X-Geoip`` is always replaced. The client address is the router's (gin's
``ClientIP`` with ``router.trusted_proxies``). The database is opened once at start-up (``maxminddb``,
imported only here); one that cannot be read is a config error at ``citydb_path``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
from multidict import CIMultiDict

from krakenpy.components.base import Site
from krakenpy.edge import EdgeHandler, EdgeMiddleware, HttpRequest, HttpResponse
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.resources import Resources
from krakenpy.server.clientip import client_ip_resolver

__all__ = ["GeoipOptions", "HEADER", "build", "city_record", "parse"]

HEADER: Final = "X-Geoip"
#: the most addresses whose header value is kept
_KEPT: Final = 4096
_NON_ASCII: Final = re.compile(r"[^\x00-\x7f]")


@dataclass(frozen=True, slots=True)
class GeoipOptions:
    citydb_path: str


def parse(raw: Mapping[str, Any], site: Site) -> GeoipOptions:
    path = raw.get("citydb_path")
    if not isinstance(path, str) or not path:
        raise ConfigError([ConfigIssue(site.at("citydb_path"), "the path of a GeoIP2 City database is required")])
    return GeoipOptions(path)


def _names(record: Mapping[str, Any]) -> dict[str, str] | None:
    names = record.get("names")
    return dict(names) if names else None  # Go: a nil map is null


def _country(record: Mapping[str, Any] | None) -> dict[str, Any]:
    record = record or {}
    return {
        "GeoNameID": int(record.get("geoname_id", 0)),
        "IsInEuropeanUnion": bool(record.get("is_in_european_union", False)),
        "IsoCode": str(record.get("iso_code", "")),
        "Names": _names(record),
    }


def city_record(found: Mapping[str, Any] | None) -> dict[str, Any]:
    """geoip2-golang's ``City`` for a database record (``None``: an address it does not know)."""
    found = found or {}
    city = found.get("city") or {}
    continent = found.get("continent") or {}
    location = found.get("location") or {}
    represented = found.get("represented_country") or {}
    traits = found.get("traits") or {}
    subdivisions = found.get("subdivisions") or []
    return {
        "City": {"GeoNameID": int(city.get("geoname_id", 0)), "Names": _names(city)},
        "Continent": {
            "Code": str(continent.get("code", "")),
            "GeoNameID": int(continent.get("geoname_id", 0)),
            "Names": _names(continent),
        },
        "Country": _country(found.get("country")),
        "Location": {
            "AccuracyRadius": int(location.get("accuracy_radius", 0)),
            "Latitude": float(location.get("latitude", 0.0)),
            "Longitude": float(location.get("longitude", 0.0)),
            "MetroCode": int(location.get("metro_code", 0)),
            "TimeZone": str(location.get("time_zone", "")),
        },
        "Postal": {"Code": str((found.get("postal") or {}).get("code", ""))},
        "RegisteredCountry": _country(found.get("registered_country")),
        "RepresentedCountry": {**_country(represented), "Type": str(represented.get("type", ""))},
        "Subdivisions": [
            {"GeoNameID": int(s.get("geoname_id", 0)), "IsoCode": str(s.get("iso_code", "")), "Names": _names(s)}
            for s in subdivisions
        ]
        or None,
        "Traits": {
            "IsAnonymousProxy": bool(traits.get("is_anonymous_proxy", False)),
            "IsSatelliteProvider": bool(traits.get("is_satellite_provider", False)),
        },
    }


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON writes it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _header_value(record: dict[str, Any]) -> str:
    return _NON_ASCII.sub(_escape, orjson.dumps(record).decode())


async def build(options: GeoipOptions, site: Site, resources: Resources) -> EdgeMiddleware:
    """Open the database; the middleware sets ``X-Geoip`` on every request."""
    import maxminddb

    path = Path(resources.base_dir) / options.citydb_path
    try:
        reader = maxminddb.open_database(str(path))
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError([ConfigIssue(site.at("citydb_path"), f"cannot read {path}: {problem}")]) from None
    resources.stack.callback(reader.close)
    resolve = client_ip_resolver(resources.service.router)
    kept: dict[str, str] = {}

    def value_for(ip: str) -> str:
        found = kept.get(ip)
        if found is None:
            try:
                record = reader.get(ip) if ip else None
            except ValueError:  # not an address
                record = None
            if len(kept) >= _KEPT:
                kept.clear()
            found = kept[ip] = _header_value(city_record(record if isinstance(record, Mapping) else None))
        return found

    def middleware(next_handler: EdgeHandler) -> EdgeHandler:
        def handle(request: HttpRequest) -> Awaitable[HttpResponse]:
            headers = request.headers
            ip = resolve(request.remote, headers.get)
            enriched = CIMultiDict(headers)
            enriched.popall(HEADER, None)  # never the client's own
            enriched[HEADER] = value_for(ip)
            request.headers = enriched
            return next_handler(request)

        return handle

    return middleware
