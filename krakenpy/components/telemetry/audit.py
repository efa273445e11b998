"""``telemetry/audit`` (krakenpy; service, endpoint): one JSON record per access decision, hash-
chained, through a bounded queue to stdout, a file, an HTTP collector or syslog (see
:mod:`krakenpy.telemetry.audit` for the interface guards use)."""

from __future__ import annotations

import errno
import os
import socket
import stat
from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.errors import ConfigIssue
from krakenpy.resources import Resources
from krakenpy.telemetry.auditsettings import AuditOptions, parse_audit
from krakenpy.telemetry.setup import hub_for

__all__ = ["COMPONENT"]


#: what only the service-level value sets (one trail per gateway)
_SERVICE_ONLY = (
    "sink", "path", "url", "headers", "queue_size", "on_failure", "fingerprint_key_env",
    "facility", "ca_file", "cert_file", "key_file", "anchor_interval",
)  # fmt: skip


def _parse(raw: Any, site: Site) -> AuditOptions:
    if site.path.startswith("endpoints[") and "telemetry/audit" not in site.service.extra_config:
        # this endpoint's records would have no trail to go to: named here, at the endpoint's path (an
        # MCP workflow's value is ignored, and said so, by ai/mcp)
        message = "telemetry/audit at endpoint level needs it at service level too: nothing is recorded"
        site.notes.append(ConfigIssue(site.path, message, "warning"))
    if site.level == "endpoint" and isinstance(raw, dict):
        for key in _SERVICE_ONLY:  # an endpoint's own file would silently go to the service's sink
            if key in raw:
                message = f"{key} applies at service level only: this endpoint's records go to the service's sink"
                site.notes.append(ConfigIssue(site.at(key), message, "warning"))
        # ignored there, so not checked either: an endpoint's `sink: file` without a path is the same
        # warning as one with a path, never an error about a file nothing would open
        raw = {k: v for k, v in raw.items() if k not in _SERVICE_ONLY}
    options = parse_audit(raw, site.path)
    if site.level == "service" and options.sink == "file":
        _loose_file(options.path, site)
    if site.level == "service" and options.sink == "syslog":
        _local_socket(options.url, site)
    name = raw.get("fingerprint_key_env") if isinstance(raw, dict) else None
    if site.level == "service" and options.anchor_interval:
        _anchors_logged(site)
        if not options.fingerprint_key:
            # the run's random key signs nothing anybody could check later: the lines carry no MAC, with
            # no variable named as with one that is unset or empty
            missing = f"with {name} not set or empty" if name else "without fingerprint_key_env"
            message = (
                f"{missing} the anchors carry no MAC: a line a client or a script puts in the "
                "application log can pass for one (verify-trail --key-env needs that key)"
            )
            site.notes.append(ConfigIssue(site.at("anchor_interval"), message, "warning"))
    if name and not options.fingerprint_key:
        # the fingerprints would come from the run's random key (drawn before the workers fork, so
        # they share it): the same credential would read differently after a restart and on each
        # instance, which is what the variable is there to avoid
        message = (
            f"environment variable {name} is not set or empty: credential fingerprints use a random key "
            "per run (its workers share it), so a credential reads differently after a restart and on each instance"
        )
        site.notes.append(ConfigIssue(site.at("fingerprint_key_env"), message, "warning"))
    return options


def _anchors_logged(site: Site) -> None:
    """A warning when ``telemetry/logging`` drops the anchor lines (logged at NOTICE): a level above
    it, or no output at all; ``verify-trail --anchors`` would find none. Without ``telemetry/logging``
    the level is ``run --log-level``'s (INFO unless told)."""
    from krakenpy.telemetry.logfmt import LEVELS, NOTICE

    raw = site.service.extra_config.get("telemetry/logging")
    if not isinstance(raw, dict):
        return
    level = LEVELS.get(str(raw.get("level", "")).upper())
    if level is not None and level > NOTICE:
        why = f"telemetry/logging's level {str(raw['level']).upper()} drops them"
    elif not (raw.get("stdout") or raw.get("syslog") or "telemetry/gelf" in site.service.extra_config):
        why = "telemetry/logging writes the application log nowhere (stdout and syslog off)"
    else:
        return
    message = f"the trail's anchors are logged at NOTICE, and {why}: verify-trail --anchors finds none"
    site.notes.append(ConfigIssue(site.at("anchor_interval"), message, "warning"))


def _local_socket(url: str, site: Site) -> None:
    """A warning when the syslog socket named (or the local daemon's) is not there: every batch would
    wait in the queue until one appears, then be dropped as the queue fills."""
    from krakenpy.telemetry.auditsyslog import parse_target
    from krakenpy.telemetry.syslog import is_socket

    target = parse_target(url)
    if isinstance(target, str) or target.network != "unix":
        return
    if not is_socket(target.host):
        message = f"no syslog socket at {target.host}: records wait in the queue (then are dropped) until one is there"
        site.notes.append(ConfigIssue(site.at("url"), message, "warning"))
    elif _stream_socket(target.host):
        # the sink writes datagrams only: every batch would be refused (EPROTOTYPE) and retried
        message = (
            f"{target.host} is a stream socket: the audit's syslog sink sends datagrams only, so no record would "
            "be taken; name a datagram socket, or a udp://, tcp:// or tls:// daemon"
        )
        site.notes.append(ConfigIssue(site.at("url"), message, "warning"))


def _stream_socket(path: str) -> bool:
    """Whether the socket at ``path`` refuses datagrams (a stream socket: some systems' ``/dev/log``).
    A datagram socket's ``connect`` sends nothing: ``check`` still writes nowhere."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.connect(path)
    except OSError as exc:
        return exc.errno == errno.EPROTOTYPE
    finally:
        probe.close()
    return False


def _loose_file(path: str, site: Site) -> None:
    """A warning when the audit file exists with access for others than its owner: the trail creates
    its file 0600 and keeps an existing one's mode (a file made by another tool, a restore)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # ValueError: a NUL in the name
        return  # none yet (created 0600), or unreadable: the sink's own error says so
    if stat.S_ISREG(mode) and mode & 0o077:
        message = f"the audit file {path} is open to others (mode {stat.S_IMODE(mode):04o}): chmod 600 it"
        site.notes.append(ConfigIssue(site.at("path"), message, "warning"))


async def _edge(options: AuditOptions | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    del options, site  # an endpoint-level value without the service's is warned about at its own path
    hub_for(resources)
    return None


COMPONENT: Final = Component(
    namespace="telemetry/audit",
    levels=frozenset({"service", "endpoint"}),
    parse=_parse,
    summary=(
        "audit trail: a hash-chained JSON record per access decision (deny, error; allow on sensitive routes) "
        "to stdout, a file, an HTTP collector or syslog"
    ),
    edition="krakenpy",
    edge=_edge,
)
