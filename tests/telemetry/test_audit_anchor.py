"""``telemetry/audit`` ``anchor_interval``: the trail's head (destination, instance, ``seq``, ``hash``)
written to the application log at NOTICE, at once after a quiet spell, then at most once an interval
and at the trail's stop; never for a head already anchored; ``check`` takes the key and says when the
application log would drop the lines."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

import orjson
import pytest

from krakenpy.telemetry.audit import AuditTrail
from krakenpy.telemetry.auditsink import FileSink
from tests.cli_gateway import audited_deny_config, check_config
from tests.conftest import free_port
from tests.telemetry.trail_records import record_deny


async def test_the_trail_anchors_its_head_at_once_after_a_quiet_spell_then_at_its_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "audit.log"
    trail = AuditTrail(
        FileSink(str(path)), service="gw", config_hash="c", destination=f"file:{path}", anchor_interval=3600
    )
    caplog.set_level(logging.INFO, "krakenpy.audit")

    def anchors() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith("audit anchor:")]

    record_deny(trail, 2)
    await trail.drain()  # the first batch: its head at once (the timer's delay is 0)
    await _loop_turn()
    record_deny(trail, 3)
    await trail.drain()  # within the interval: the next anchor waits
    await _loop_turn()
    records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    head = f"audit anchor: destination=file:{path} instance={records[0]['instance']}"
    assert anchors() == [f"{head} seq=2 hash={records[1]['hash']}"]
    assert [r.levelname for r in caplog.records if r.getMessage().startswith("audit anchor:")] == ["NOTICE"]
    await trail.stop()  # the stop: the head not yet anchored
    assert anchors()[1:] == [f"{head} seq=5 hash={records[4]['hash']}"]

    quiet = AuditTrail(FileSink(str(path)), service="gw", config_hash="c", destination="x", anchor_interval=60)
    await quiet.start()
    await quiet.stop()  # no record written: no anchor
    plain = AuditTrail(FileSink(str(path)), service="gw", config_hash="c", destination="x")
    await plain.start()
    record_deny(plain)
    await plain.stop()  # anchor_interval not set: no anchor either
    assert len(anchors()) == 2


async def _loop_turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def test_check_takes_anchor_interval_and_says_when_the_log_drops_anchors(tmp_path: Path) -> None:
    port = free_port()
    config = audited_deny_config(tmp_path, port, {"anchor_interval": "0.5s"})
    out = check_config(config)
    assert out.returncode == 1 and "extra_config.telemetry/audit.anchor_interval" in out.stdout + out.stderr
    assert "at least 1s" in out.stdout + out.stderr
    config = audited_deny_config(tmp_path, port, {"anchor_interval": "60s"})
    doc = orjson.loads(config.read_bytes())
    doc["extra_config"]["telemetry/logging"] = {"level": "WARNING", "stdout": True}
    config.write_bytes(orjson.dumps(doc))
    out = check_config(config)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "extra_config.telemetry/audit.anchor_interval" in text and "level WARNING drops them" in text, text
    doc["extra_config"]["telemetry/logging"] = {"level": "NOTICE", "stdout": True}
    config.write_bytes(orjson.dumps(doc))
    out = check_config(config)
    text = out.stdout + out.stderr
    # logged, but with no operator key to sign them: anybody's line can pass for an anchor
    assert out.returncode == 0 and "anchor_interval: without fingerprint_key_env the anchors carry no MAC" in text
    assert "drops them" not in text, text
    doc["extra_config"]["telemetry/audit"]["fingerprint_key_env"] = "ANCHOR_TEST_KEY"
    config.write_bytes(orjson.dumps(doc))
    # the variable named but empty: no key either, and the anchors are said unsigned as well
    out = check_config(config, env={"ANCHOR_TEST_KEY": ""})
    text = out.stdout + out.stderr
    assert (
        out.returncode == 0
        and "anchor_interval: with ANCHOR_TEST_KEY not set or empty the anchors carry no MAC" in text
    )
    out = check_config(config, env={"ANCHOR_TEST_KEY": "k" * 32})
    assert out.returncode == 0 and "anchor_interval" not in out.stdout + out.stderr, out.stdout + out.stderr


@pytest.mark.parametrize("fmt", ["default", "logstash", "custom", "basic", "telemetry/logstash"])
def test_an_anchor_reads_back_from_every_application_log_format(fmt: str) -> None:
    from krakenpy.telemetry.applog import AppLogOptions, make_formatter
    from krakenpy.telemetry.auditanchor import anchor_key, anchor_message, read_anchors
    from krakenpy.telemetry.logfmt import NOTICE

    options = (
        AppLogOptions(logstash=True)
        if fmt == "telemetry/logstash"
        else AppLogOptions(format=fmt, custom_format="%{level:.4s} %{message} %{module}")  # type: ignore[arg-type]
    )
    destination = 'file:/var/log/a "b"\\c.log'  # a space, quotes and a backslash a format could escape
    message = anchor_message(destination, "host-a/w2", 42, "ab" * 32)
    record = logging.LogRecord("krakenpy.audit", NOTICE, __file__, 1, "%s", (message,), None)
    line = make_formatter(options).format(record).encode()
    (anchor,) = read_anchors([line], "app.log")
    assert (anchor.destination, anchor.instance, anchor.seq, anchor.hash) == (destination, "host-a/w2", 42, "ab" * 32)
    assert anchor.where == "app.log:1"
    assert not anchor.signed and not next(read_anchors([line], "app.log", anchor_key(b"k"))).authentic

    # with the operator's key: its MAC survives every format's escaping, and verifies under that key only
    key = anchor_key(b"k")
    message = anchor_message(destination, "host-a/w2", 42, "ab" * 32, key)
    record = logging.LogRecord("krakenpy.audit", NOTICE, __file__, 1, "%s", (message,), None)
    line = make_formatter(options).format(record).encode()
    (anchor,) = read_anchors([line], "app.log", key)
    assert anchor.authentic and anchor.signed and (anchor.destination, anchor.seq) == (destination, 42)
    assert not next(read_anchors([line], "app.log", anchor_key(b"other"))).authentic
    assert not next(read_anchors([line], "app.log", b"k")).authentic  # the fingerprint key is never the MAC's
    tampered = line.replace(b" seq=42 ", b" seq=43 ")
    assert not next(read_anchors([tampered], "app.log", key)).authentic

    # a destination the log masks (a path segment under a masked query key): the MAC covers the masked text
    from krakenpy.telemetry.redact import Redactor

    masked = "file:/srv/code=7/audit.log"
    message = anchor_message(masked, "host-a/w2", 42, "ab" * 32, key, Redactor().text)
    record = logging.LogRecord("krakenpy.audit", NOTICE, __file__, 1, "%s", (message,), None)
    (anchor,) = read_anchors([make_formatter(options).format(record).encode()], "app.log", key)
    assert anchor.authentic and anchor.destination == "file:/srv/code=[REDACTED]"


def test_an_anchor_names_a_collector_without_its_password_or_query(tmp_path: Path) -> None:
    """A real ``run`` whose trail posts to a real collector at a URL holding a password and query
    tokens: the anchor lines of its application log name ``http:http://127.0.0.1:PORT/audit`` and hold
    neither (the %-quoted ``?`` hid the query from the log's redactor: ``%3Fsig=tok-q1`` was logged)."""
    import signal
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from krakenpy.telemetry.auditanchor import read_anchors
    from tests.cli_gateway import ROOT
    from tests.server.process import Gateway

    batches: list[bytes] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            batches.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    collector = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    where = f"127.0.0.1:{collector.server_port}/audit"
    url = f"http://ada:pw-u1@{where}?sig=tok-q1&access_token=tok-q2#frag-f1"
    port = free_port()
    config = audited_deny_config(tmp_path, port, {"sink": "http", "url": url, "anchor_interval": "1h"})
    gateway = Gateway(config, "-w", "1", cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    try:
        gateway.wait_log(r"listening on ")
        assert _status(f"http://127.0.0.1:{port}/x") == 403
        gateway.wait_log(r"audit anchor: ")  # the first batch after a quiet spell: at once
        gateway.signal(signal.SIGTERM)
        assert gateway.proc.wait(20) == 0, gateway.log
    finally:
        gateway.kill()
        collector.shutdown()
        collector.server_close()
    log = gateway.log
    assert batches, log
    for secret in ("pw-u1", "tok-q1", "tok-q2", "frag-f1"):
        assert secret not in log, log
    anchors = list(read_anchors(log.encode().splitlines(), "app.log"))
    shown = f"http:http://127.0.0.1:{collector.server_port}/~{hashlib.sha256(b'audit').hexdigest()[:12]}"
    assert anchors and {a.destination for a in anchors} == {shown}, log


def test_an_anchor_names_a_collectors_path_by_a_digest() -> None:
    """A webhook's path is often its credential: an anchor names it by a digest (two collectors of one
    host told apart), never as written; a file's path stays as it is."""
    from krakenpy.telemetry.auditanchor import shown_destination

    hook = shown_destination("http:https://hooks.example/services/T0/B0/XyZsecret?x=1")
    other = shown_destination("http:https://hooks.example/services/T0/B0/Other")
    assert hook.startswith("http:https://hooks.example/~") and "XyZsecret" not in hook and "services" not in hook
    assert hook != other
    assert shown_destination("http:https://collector:8443/") == "http:https://collector:8443/"
    assert shown_destination("file:/var/log/a/audit.log") == "file:/var/log/a/audit.log"


def _status(url: str) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_an_anchor_with_an_at_sign_after_a_collector_url_reads_back() -> None:
    """An ``@`` in the instance (``service.instance.id``) or a collector's path: the log's redactor
    masks from a ``://`` to the line's last ``@`` as a password, which cut the anchor unreadable."""
    from krakenpy.telemetry.applog import AppLogOptions, make_formatter
    from krakenpy.telemetry.auditanchor import anchor_message, read_anchors
    from krakenpy.telemetry.logfmt import NOTICE

    destination = "http:https://c.example/audit/team@ops"
    message = anchor_message(destination, "ops@host-a", 7, "cd" * 32)
    record = logging.LogRecord("krakenpy.audit", NOTICE, __file__, 1, "%s", (message,), None)
    line = make_formatter(AppLogOptions()).format(record).encode()
    (anchor,) = read_anchors([line], "app.log")
    assert (anchor.destination, anchor.instance, anchor.seq) == (destination, "ops@host-a", 7)


def test_the_anchors_key_is_no_credentials_fingerprint() -> None:
    # the anchors' key was HMAC(fingerprint key, label): the fingerprint of a credential spelling the
    # label (an API key in a query string can hold a NUL), its first 64 bits written to the trail
    from krakenpy.fingerprint import PREFIX, fingerprint
    from krakenpy.telemetry.auditanchor import anchor_key

    key = b"operator-key"
    derived = anchor_key(key).hex()
    for label in (b"krakenpy audit anchor mac\0", b"krakenpy audit anchor mac"):
        assert fingerprint(key, label).removeprefix(PREFIX) != derived[:16]
    assert anchor_key(b"") == b"" and anchor_key(key) != anchor_key(b"another-key") and len(anchor_key(key)) == 32
