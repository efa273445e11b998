"""A bounded, seeded fuzz run of the lean server's HTTP/1 connection (``GatewayProtocol``): sequences
of requests on one loopback connection (GET/POST, Content-Length and chunked bodies whose bytes look
like requests, HTTP/1.0/1.1/1.2/1.9/2.0 request lines, ``Connection: close``, ``Upgrade``, a missing
Host, pipelines of up to 20) written in reads cut at random points, answers checked against:

1. no body's bytes answered as a request (smuggling: a ``/SMUGGLED`` path answered);
2. the requests answered (200) are a prefix of those sent, in order, each with its own method and body;
3. every connection ends within a bounded time and a fresh connection is served after each case;
and, softly, a Go-like model of how many requests are answered (reported, not a failure).

Not part of the test run. Loopback only, bounded: ``python -m bench.fuzz_http1 --cases 2000 --seed 1``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import sys
import time
from dataclasses import dataclass

from krakenpy.edge import HttpRequest, HttpResponse
from krakenpy.server.limits import ServerLimits
from krakenpy.server.protocol import GatewayServer

SMUGGLED = b"GET /SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n"


async def echo(request: HttpRequest) -> HttpResponse:
    body = await request.body(1 << 20) or b""
    return HttpResponse(body=f"{request.method} {request.path}\n".encode() + body)


@dataclass
class Req:
    raw: bytes
    method: str
    path: str
    body: bytes
    stops_before: bool  # a Go server answers none of it (505 / 400) and closes
    stops_after: bool  # answered, then the connection ends
    uncertain: bool  # the model is unsure (Upgrade): stop before or after allowed


def _body(rng: random.Random) -> bytes:
    parts = [
        SMUGGLED,
        b"POST /SMUGGLED HTTP/1.2\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        b"GET /SMUGGLED HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"0\r\n\r\n",
        b"\r\n",
        b"xyz",
        b"GET /SMUGGLED HTTP/1.9\r\nHost: x\r\n\r\n",
    ]
    return b"".join(rng.choice(parts) for _ in range(rng.randint(0, 3)))


def make_request(rng: random.Random, i: int) -> Req:
    version = rng.choices(["1.1", "1.0", "1.2", "1.9", "2.0"], [6, 1, 2, 2, 1])[0]
    method = rng.choice(["GET", "POST"])
    path = f"/r{i}"
    headers: list[bytes] = []
    host = rng.random() > 0.08
    if host:
        headers.append(b"Host: x")
    close = rng.random() < 0.12
    keep = False
    if close:
        headers.append(b"Connection: close")
    elif version == "1.0" and rng.random() < 0.6:
        headers.append(b"Connection: keep-alive")
        keep = True
    upgrade = rng.random() < 0.04 and not close
    if upgrade:
        headers.append(b"Connection: Upgrade")
        headers.append(b"Upgrade: websocket")
    body = b""
    framing = b""
    if method == "POST":
        body = _body(rng)
        if rng.random() < 0.5 or version == "1.0":
            headers.append(b"Content-Length: %d" % len(body))
            framing = body
        else:
            headers.append(b"Transfer-Encoding: chunked")
            out, rest = [], body
            while rest:
                n = rng.randint(1, max(1, len(rest)))
                out.append(b"%x\r\n%s\r\n" % (n, rest[:n]))
                rest = rest[n:]
            framing = b"".join(out) + b"0\r\n\r\n"
    rng.shuffle(headers)
    raw = f"{method} {path} HTTP/{version}\r\n".encode() + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + framing
    stops_before = version == "2.0" or (not host and version != "1.0")
    stops_after = close or (version == "1.0" and not keep)
    return Req(raw, method, path, body, stops_before, stops_after, upgrade)


def model(reqs: list[Req]) -> tuple[int, int]:
    """(fewest, most) requests a Go-like server answers."""
    lo = hi = 0
    certain = True
    for r in reqs:
        if r.stops_before:
            break
        if r.uncertain:
            certain = False
            hi += 1
            break
        hi += 1
        if certain:
            lo += 1
        if r.stops_after:
            break
    return lo, hi


def parse_answers(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            out.append((-1, data))  # a torn answer
            break
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        length = 0
        for line in lines[1:]:
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        out.append((status, rest[:length]))
        data = rest[length:]
    return out


async def run_case(port: int, seed: int, case: int) -> tuple[list[str], bool]:
    rng = random.Random(f"{seed}:{case}")
    reqs = [make_request(rng, i) for i in range(rng.randint(1, 20))]
    stream = b"".join(r.raw for r in reqs)
    cuts = sorted(rng.sample(range(1, len(stream)), min(len(stream) - 1, rng.randint(0, 6))))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    problems: list[str] = []
    got = bytearray()

    async def read_all() -> None:
        while chunk := await loop.sock_recv(sock, 65536):
            got.extend(chunk)

    reading = asyncio.ensure_future(read_all())
    try:
        for p in pieces:
            try:
                await loop.sock_sendall(sock, p)
            except OSError:
                break
            await asyncio.sleep(rng.choice([0, 0.001, 0.003]))
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        await asyncio.wait_for(reading, 5)
    except TimeoutError:
        problems.append("HANG: the connection did not end within 5 s of the client's half-close")
    except OSError:
        pass  # reset after a refusal: what was read before it is still checked
    finally:
        reading.cancel()
        sock.close()
    answers = parse_answers(bytes(got))
    if any(b"SMUGGLED" in body.partition(b"\n")[0] for _, body in answers):
        problems.append("SMUGGLING: a body's bytes answered as a request")
    ok = [body for status, body in answers if status == 200]
    for k, body in enumerate(ok):
        want = f"{reqs[k].method} {reqs[k].path}\n".encode() + reqs[k].body if k < len(reqs) else None
        if body != want:
            problems.append(f"ORDER/BODY: answer {k} is {body[:80]!r}, expected {(want or b'')[:80]!r}")
            break
    seen_bad = False
    for status, _ in answers:
        if status != 200:
            seen_bad = True
        elif seen_bad:
            problems.append("ORDER: a 200 after an error answer")
            break
    lo, hi = model(reqs)
    soft = not (lo <= len(ok) <= hi)
    if problems or soft:
        problems.insert(
            0,
            f"case {seed}:{case} answered {len(ok)} of {len(reqs)} (Go model {lo}..{hi}); "
            f"statuses {[s for s, _ in answers]}; stream {stream!r}; cuts {cuts}",
        )
    return problems, soft


async def probe(port: int) -> bool:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
        writer.write(b"GET /alive HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 2)
        writer.close()
        return data.startswith(b"HTTP/1.1 200") and data.endswith(b"GET /alive\n")
    except (OSError, TimeoutError):
        return False


async def main(cases: int, seed: int, verbose: bool) -> int:
    gateway = GatewayServer(echo, limits=ServerLimits())
    listener = await asyncio.get_running_loop().create_server(gateway, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    gateway.start_sweeping()
    hard = soft = 0
    start = time.monotonic()
    for case in range(cases):
        problems, is_soft = await run_case(port, seed, case)
        hard_here = len(problems) > 1 or (problems and not is_soft)
        if hard_here:
            hard += 1
            print("\n".join(problems), flush=True)
        elif is_soft:
            soft += 1
            if verbose:
                print("SOFT", problems[0], flush=True)
        if case % 50 == 49 and not await probe(port):
            print(f"DEAD: a fresh connection not served after case {seed}:{case}", flush=True)
            hard += 1
            break
    listener.close()
    await gateway.drain(0.1)
    gateway.stop_sweeping()
    print(
        f"seed {seed}: {cases} cases in {time.monotonic() - start:.1f} s: {hard} with an invariant broken, "
        f"{soft} off the Go model only"
    )
    return 1 if hard else 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    sys.exit(asyncio.run(main(a.cases, a.seed, a.verbose)))
