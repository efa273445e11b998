"""``backend/soap``: the envelope from a template file and inline, sent as text/xml to an aiohttp
SOAP service whose XML answer is decoded for target/mapping/deny (corpus 002's endpoint 21), in a
merge; the encoding warning and config errors through the real CLI."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.cli_gateway import check_config
from tests.conftest import make_config

ENVELOPE = """<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body>
    <CapitalCity xmlns="http://www.oorsprong.org/websamples.countryinfo">
      <sCountryISOCode>{{ .req_params.Country | upper }}</sCountryISOCode>
    </CapitalCity>
  </soap:Body>
</soap:Envelope>
"""
CAPITALS = {"ES": "Madrid", "NO": "Oslo"}


def _soap(seen: list[tuple[str, str]]) -> web.Application:
    async def service(request: web.Request) -> web.Response:
        body = await request.text()
        seen.append((request.headers.get("Content-Type", ""), body))
        code = re.search(r"<sCountryISOCode>(\w+)</sCountryISOCode>", body)
        capital = CAPITALS.get(code.group(1) if code else "", "Country not found in the database")
        answer = (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            '<m:CapitalCityResponse xmlns:m="http://www.oorsprong.org/websamples.countryinfo">'
            f"<m:CapitalCityResult>{capital}</m:CapitalCityResult></m:CapitalCityResponse>"
            "</soap:Body></soap:Envelope>"
        )
        return web.Response(text=answer, content_type="text/xml")

    async def rest(request: web.Request) -> web.Response:
        return web.json_response({"population": 48})

    app = web.Application()
    app.router.add_post("/websamples.countryinfo/CountryInfoService.wso", service)
    app.router.add_get("/rest", rest)
    return app


def _soap_backend(base: str, soap: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "host": [base],
        "url_pattern": "/websamples.countryinfo/CountryInfoService.wso",
        "method": "POST",
        "encoding": "xml",
        "deny": ["-m"],
        "mapping": {"CapitalCityResult": "capital"},
        "target": "Envelope.Body.CapitalCityResponse",
        "extra_config": {"backend/soap": soap},
        **extra,
    }


async def test_soap_template_file_answers_as_json(gateway: Any, backend: Any, tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []
    base = await backend(_soap(seen))
    (tmp_path / "extended" / "templates").mkdir(parents=True)
    (tmp_path / "extended" / "templates" / "capital.tmpl.xml").write_text(ENVELOPE)
    soap = {"path": "./extended/templates/capital.tmpl.xml"}
    endpoint = {"endpoint": "/capital-of/{country}", "backend": [_soap_backend(base, soap)]}
    client = await gateway(make_config([endpoint]), base_dir=tmp_path)
    answer = await client.get("/capital-of/es")
    assert answer.status == 200
    assert await answer.json() == {"capital": "Madrid"}
    content_type, envelope = seen[0]
    assert content_type == "text/xml"
    assert "<sCountryISOCode>ES</sCountryISOCode>" in envelope and envelope.startswith("<?xml")


async def test_soap_inline_template_in_a_merge(gateway: Any, backend: Any) -> None:
    seen: list[tuple[str, str]] = []
    base = await backend(_soap(seen))
    soap = {"template": base64.b64encode(ENVELOPE.encode()).decode(), "content_type": "application/soap+xml"}
    endpoint = {
        "endpoint": "/country/{country}",
        "backend": [_soap_backend(base, soap, group="soap"), {"host": [base], "url_pattern": "/rest", "method": "GET"}],
    }
    client = await gateway(make_config([endpoint]))
    answer = await client.get("/country/no")
    assert await answer.json() == {"soap": {"capital": "Oslo"}, "population": 48}
    assert answer.headers["X-KrakenD-Completed"] == "true"
    assert seen[0][0] == "application/soap+xml"


async def test_soap_answer_in_an_unsupported_encoding_is_a_backend_error(
    gateway: Any, backend: Any, caplog: Any
) -> None:
    async def shift_jis(request: web.Request) -> web.Response:
        body = (
            b'<?xml version="1.0" encoding="shift_jis"?><soap:Envelope xmlns:soap="urn:s"><soap:Body/></soap:Envelope>'
        )
        return web.Response(body=body, content_type="text/xml")

    app = _soap([])
    app.router.add_post("/sjis", shift_jis)
    base = await backend(app)
    soap = {"template": base64.b64encode(ENVELOPE.encode()).decode()}
    merged = [
        {**_soap_backend(base, soap, group="soap"), "url_pattern": "/sjis"},
        {"host": [base], "url_pattern": "/rest", "method": "GET"},
    ]
    alone = {**_soap_backend(base, soap), "url_pattern": "/sjis"}
    endpoints = [
        {"endpoint": "/country/{country}", "backend": merged},
        {"endpoint": "/alone/{country}", "backend": [alone]},
    ]
    client = await gateway(make_config(endpoints))
    caplog.set_level("DEBUG")
    answer = await client.get("/country/es")
    assert answer.status == 200 and await answer.json() == {"population": 48}
    assert answer.headers["X-KrakenD-Completed"] == "false"
    assert (await client.get("/alone/es")).status == 500
    assert "multi-byte" in caplog.text
    assert not any(r.exc_info for r in caplog.records), [r.getMessage() for r in caplog.records if r.exc_info]


def _check(tmp_path: Path, backend: dict[str, Any]) -> tuple[int, str]:
    (tmp_path / "krakend.json").write_text(
        json.dumps(make_config([{"endpoint": "/x/{country}", "backend": [backend]}]))
    )
    done = check_config(tmp_path / "krakend.json")
    return done.returncode, done.stdout + done.stderr


def test_soap_config_errors_and_the_encoding_warning(tmp_path: Path) -> None:
    host = "http://127.0.0.1:19"
    where = "endpoints[0].backend[0].extra_config.backend/soap"
    code, out = _check(tmp_path, _soap_backend(host, {"path": "./nowhere.xml"}))
    assert code == 1 and f"{where}.path: cannot read" in out
    code, out = _check(tmp_path, _soap_backend(host, {"template": base64.b64encode(b"{{ end }}").decode()}))
    assert code == 1 and f"{where}.template: template syntax error" in out
    (tmp_path / "ok.xml").write_text(ENVELOPE)
    json_backend = {**_soap_backend(host, {"path": "ok.xml"}), "encoding": "json"}
    code, out = _check(tmp_path, json_backend)
    assert code == 0, out
    assert "endpoints[0].backend[0].encoding: a SOAP service answers XML" in out
    code, out = _check(tmp_path, _soap_backend(host, {"path": "ok.xml"}))
    assert code == 0 and "SOAP service answers XML" not in out
