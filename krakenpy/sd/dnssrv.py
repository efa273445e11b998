"""DNS SRV service discovery (``"sd": "dns"``, lura ``sd/dnssrv``).

A backend's ``host[0]`` names SRV records; the hosts called are their targets (``sd_scheme`` + target +
port), looked up when the gateway starts and again every ``dns_cache_ttl`` (30 s by default). A failed
lookup keeps the previous hosts, as KrakenD does; until one succeeds the calls fail with ``no hosts
available`` (500). Backends naming the same records with the same scheme share one lookup.

The resolver is the system's (``/etc/resolv.conf``, its search list and ``ndots``);
``KRAKENPY_DNS_SERVER=ip[:port]`` sends the lookups to one server instead (a sidecar resolver, tests).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from krakenpy.errors import BackendError
from krakenpy.hostport import split_host_port
from krakenpy.sd import MODES
from krakenpy.server import saidonce
from krakenpy.state import Key
from krakenpy.tasks import cancel_and_wait, spawn

if TYPE_CHECKING:
    from krakenpy.config.model import BackendConfig
    from krakenpy.resources import Resources

__all__ = ["MODES", "Srv", "SrvHosts", "expand", "host_picker"]

log = logging.getLogger("krakenpy.sd")

DEFAULT_TTL: Final = 30.0
SERVER_ENV: Final = "KRAKENPY_DNS_SERVER"
#: one lookup's bound (all tries of all name servers); a lookup never delays requests, only start-up
LIFETIME: Final = 5.0


@dataclass(frozen=True, slots=True)
class Srv:
    """One SRV record."""

    priority: int
    weight: int
    port: int
    target: str


def _server(value: str) -> tuple[str, int]:
    """``KRAKENPY_DNS_SERVER``: ``ip``, ``ip:port``, ``[ipv6]:port`` or a bare IPv6 address."""
    host, port = split_host_port(value)
    return host, int(port) if port else 53


def _url(scheme: str, record: Srv) -> str:
    host = record.target.rstrip(".")
    if ":" in host:  # an IPv6 literal as a target (not standard, but served by some resolvers)
        host = f"[{host}]"
    return f"{scheme}://{host}:{record.port}"


def expand(records: Sequence[Srv], scheme: str) -> list[str]:
    """The host list of one lookup, as KrakenD builds it: the records of the lowest priority only,
    heavier first (then by target and port); each repeated in proportion to its weight, the weights
    scaled to a total of 100 (or of the record count, when larger) if they add up to more, then divided
    by their greatest common divisor. A weight that scales to 0 drops its record; when that drops them
    all (every weight 0), krakenpy keeps each once where KrakenD would serve no host at all."""
    # a target of "." says the service is not available there (RFC 2782): no host
    records = [r for r in records if r.target.rstrip(".")]
    if not records:
        return []
    ordered = sorted(records, key=lambda r: (r.priority, -r.weight, r.target, r.port))
    best = [r for r in ordered if r.priority == ordered[0].priority]
    weights = [r.weight for r in best]
    scale = max(100, len(weights))
    total = sum(weights)
    if total > scale:
        weights = [w * scale // total for w in weights]
    divisor = math.gcd(*weights)
    if divisor >= 2:
        weights = [w // divisor for w in weights]
    if not any(weights):
        weights = [1] * len(best)
    hosts: list[str] = []
    for record, times in zip(best, weights, strict=True):
        hosts.extend([_url(scheme, record)] * times)
    return hosts


def _resolver() -> Any:
    import dns.asyncresolver  # only configurations with "sd": "dns" load dnspython

    server = os.environ.get(SERVER_ENV, "").strip()
    if not server:
        resolver = dns.asyncresolver.Resolver()
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        host, port = _server(server)
        resolver.nameservers = [host]
        resolver.port = port
    resolver.lifetime = LIFETIME
    return resolver


#: the last hosts each (name, scheme) resolved to in this process: a gateway rebuilt by a reload while
#: DNS is down starts from them instead of from nothing (the gateway it replaces was serving them)
_LAST_KNOWN: dict[tuple[str, str], list[str]] = {}


class SrvHosts:
    """The live host list of one SRV name; :meth:`pick` chooses the host of one call."""

    def __init__(self, name: str, scheme: str, ttl: float) -> None:
        self.name = name
        self.scheme = scheme
        self.ttl = ttl
        self.hosts: list[str] = []
        self._resolver: Any = None
        self._problem = ""
        self._task: asyncio.Task[None] | None = None

    def pick(self) -> str:
        # the list is replaced, never changed in place: a call sees one lookup's answer
        hosts = self.hosts
        if not hosts:
            raise BackendError("no hosts available", name="NoHosts")
        return hosts[0] if len(hosts) == 1 else random.choice(hosts)

    async def lookup(self) -> list[str]:
        """The hosts the SRV records name now; raises on any resolution problem."""
        if self._resolver is None:
            self._resolver = _resolver()
        answer = await self._resolver.resolve(self.name, "SRV", search=True)
        records = [Srv(int(r.priority), int(r.weight), int(r.port), r.target.to_text()) for r in answer]
        return expand(records, self.scheme)

    async def refresh(self) -> None:
        """One lookup: new hosts replace the old ones; a failure keeps them (and is logged once)."""
        try:
            hosts = await self.lookup()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._report(exc)
            return
        if self._problem:
            count = len(set(hosts))
            saidonce.say(
                log,
                logging.WARNING,
                "DNS SRV %s: resolved again (%d host(s))",
                self.name,
                count,
                topic=f"srv {self.name}",
            )
            self._problem = ""
        self.hosts = hosts
        _LAST_KNOWN[(self.name, self.scheme)] = hosts

    def _report(self, exc: Exception) -> None:
        # the same kind of failure at every refresh is said once: compared by type, since a timeout's
        # text names the seconds it took and changes every time
        kind = type(exc).__name__
        if kind == self._problem:
            return
        self._problem = kind
        text = f"{kind}: {exc}" if str(exc) else kind
        kept = f"keeping {len(set(self.hosts))} host(s)" if self.hosts else "no hosts: calls fail until it resolves"
        # once per gateway with run -w N: every worker looks the name up
        said = f"DNS SRV {self.name}: lookup failed: {kind}; {kept}"  # a timeout's text names its seconds
        saidonce.say(
            log,
            logging.WARNING,
            "DNS SRV %s: lookup failed (%s); %s",
            self.name,
            text,
            kept,
            key=said,
            topic=f"srv {self.name}",
        )

    async def start(self) -> None:
        self._task = spawn(self._loop())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.ttl)
            await self.refresh()


_SUBSCRIBERS: Final = Key("dns srv subscribers", dict)


async def host_picker(backend: BackendConfig, resources: Resources) -> Callable[[], str]:
    """The host chooser of a ``"sd": "dns"`` backend: one :class:`SrvHosts` per name and scheme per
    gateway, looked up once while the gateway is built (not by ``check``) and refreshed while it serves."""
    name = backend.hosts[0] if backend.hosts else ""
    scheme = backend.sd_scheme or "http"
    table: dict[tuple[str, str], SrvHosts] = resources.state.setdefault(_SUBSCRIBERS, dict)
    hosts = table.get((name, scheme))
    if hosts is None:
        ttl = resources.service.dns_cache_ttl
        hosts = table[(name, scheme)] = SrvHosts(name, scheme, ttl if ttl >= 1.0 else DEFAULT_TTL)
        hosts.hosts = _LAST_KNOWN.get((name, scheme), [])
        if resources.serving and name:
            await hosts.refresh()
            resources.on_serve.append(hosts.start)
            resources.stack.push_async_callback(hosts.stop)
    return hosts.pick
