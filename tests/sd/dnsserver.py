"""A DNS server on 127.0.0.1 (UDP) answering SRV questions from a dict the test changes while it runs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


@dataclass
class Zone:
    """name (lower case, final dot) → SRV records ``(priority, weight, port, target)``; an absent name
    is NXDOMAIN; ``servfail`` answers every question with SERVFAIL, ``silent`` answers none (the
    client times out); ``asked`` counts the questions."""

    records: dict[str, list[tuple[int, int, int, str]]] = field(default_factory=dict)
    servfail: bool = False
    silent: bool = False
    asked: int = 0


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        query = dns.message.from_wire(data)
        self.zone.asked += 1
        if self.zone.silent:
            return
        reply = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().lower()
        if self.zone.servfail:
            reply.set_rcode(dns.rcode.SERVFAIL)
        elif name not in self.zone.records:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.SRV:
            texts = [f"{p} {w} {port} {target}" for p, w, port, target in self.zone.records[name]]
            reply.answer.append(dns.rrset.from_text(question.name, 5, dns.rdataclass.IN, dns.rdatatype.SRV, *texts))
        assert self.transport is not None
        self.transport.sendto(reply.to_wire(), addr)


async def serve_dns(zone: Zone) -> tuple[asyncio.DatagramTransport, int]:
    """Start the server on a free UDP port of 127.0.0.1: its transport (close it) and port."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(zone), local_addr=("127.0.0.1", 0))
    port = int(transport.get_extra_info("sockname")[1])
    return transport, port
