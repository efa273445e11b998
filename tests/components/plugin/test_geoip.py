"""The ``geoip`` server plugin: a GeoIP2 City database written by the test (mmdb-writer), the record
reaching a real backend as ``X-Geoip``, the client's own header replaced, a missing database refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import make_config

CITY = {
    "city": {"geoname_id": 3117735, "names": {"en": "Madrid", "ja": "マドリード"}},
    "continent": {"code": "EU", "geoname_id": 6255148, "names": {"en": "Europe"}},
    "country": {"geoname_id": 2510769, "is_in_european_union": True, "iso_code": "ES", "names": {"en": "Spain"}},
    "location": {"accuracy_radius": 20, "latitude": 40.4165, "longitude": -3.70256, "time_zone": "Europe/Madrid"},
    "postal": {"code": "28001"},
    "subdivisions": [{"geoname_id": 3117732, "iso_code": "MD", "names": {"en": "Madrid"}}],
}


def _database(path: Path) -> Path:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, database_type="GeoIP2-City", ipv4_compatible=True)
    writer.insert_network(IPSet(["81.0.0.0/16"]), CITY)
    writer.to_db_file(str(path))
    return path


async def _seen_headers(backend: Any) -> tuple[str, list[dict[str, str]]]:
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/b", handler)
    return await backend(app), seen


def _config(host: str, db: str) -> dict[str, Any]:
    return make_config(
        [{"endpoint": "/x", "input_headers": ["X-Geoip"], "backend": [{"host": [host], "url_pattern": "/b"}]}],
        extra_config={"plugin/http-server": {"name": ["geoip"], "geoip": {"citydb_path": db}}},
    )


async def test_geoip_record_reaches_the_backend(gateway: Any, backend: Any, tmp_path: Path) -> None:
    host, seen = await _seen_headers(backend)
    client = await gateway(_config(host, str(_database(tmp_path / "city.mmdb"))))
    response = await client.get("/x", headers={"X-Forwarded-For": "81.0.3.4"})
    assert response.status == 200
    raw = seen[0]["X-Geoip"]
    assert raw.isascii()
    record = json.loads(raw)
    assert record["City"] == {"GeoNameID": 3117735, "Names": {"en": "Madrid", "ja": "マドリード"}}
    assert record["Country"] == {
        "GeoNameID": 2510769,
        "IsInEuropeanUnion": True,
        "IsoCode": "ES",
        "Names": {"en": "Spain"},
    }
    assert record["Location"]["TimeZone"] == "Europe/Madrid"
    assert record["Subdivisions"][0]["IsoCode"] == "MD"
    assert record["Traits"] == {"IsAnonymousProxy": False, "IsSatelliteProvider": False}


async def test_geoip_unknown_address_gets_a_zero_record_and_the_clients_header_is_replaced(
    gateway: Any, backend: Any, tmp_path: Path
) -> None:
    host, seen = await _seen_headers(backend)
    client = await gateway(_config(host, str(_database(tmp_path / "city.mmdb"))))
    await client.get("/x", headers={"X-Geoip": '{"Country":{"IsoCode":"US"}}', "X-Forwarded-For": "10.9.9.9"})
    record = json.loads(seen[0]["X-Geoip"])
    assert record["Country"]["IsoCode"] == ""
    assert record["City"] == {"GeoNameID": 0, "Names": None}


def test_geoip_missing_database_is_a_config_error_at_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from krakenpy.cli import main

    (tmp_path / "krakend.json").write_text(json.dumps(_config("http://127.0.0.1:19", "nowhere.mmdb")))
    assert main(["check", "-c", str(tmp_path / "krakend.json")]) == 1
    out = capsys.readouterr()
    assert "extra_config.plugin/http-server.geoip.citydb_path: cannot read" in out.out + out.err
