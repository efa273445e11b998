"""aiohttp imported by the CLI with its default client contexts' CA loading deferred to first use: the
same settings and trust store, loaded at the first handshake (a fresh interpreter per test: in this one
aiohttp is imported already)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.certs import Authority

ROOT = Path(__file__).resolve().parents[2]

_SETTINGS = """
import ssl, sys
from krakenpy.server.deferred_tls import DeferredCAs, import_aiohttp
import_aiohttp()
import aiohttp.connector as c
verified, unverified = c._SSL_CONTEXT_VERIFIED, c._SSL_CONTEXT_UNVERIFIED
assert type(verified) is DeferredCAs and type(unverified) is DeferredCAs
assert "set_default_verify_paths" not in ssl.SSLContext.__dict__  # the class is as it was
assert verified.verify_mode == ssl.CERT_REQUIRED and verified.check_hostname
assert unverified.verify_mode == ssl.CERT_NONE and not unverified.check_hostname
assert "_krakenpy_deferred" in verified.__dict__  # nothing loaded yet
plain = ssl.create_default_context()
assert type(plain) is ssl.SSLContext and plain.cert_store_stats()["x509_ca"] > 0
assert verified.cert_store_stats() == plain.cert_store_stats() == unverified.cert_store_stats()
import_aiohttp()  # a second call: nothing to do
print("ok")
"""

_HANDSHAKE = """
import asyncio, ssl, sys
from krakenpy.server.deferred_tls import import_aiohttp
import_aiohttp()
import aiohttp
import aiohttp.connector as c

async def main():
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(sys.argv[1], sys.argv[2])

    async def answer(reader, writer):
        await reader.readuntil(b"\\r\\n\\r\\n")
        writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    assert "_krakenpy_deferred" in c._SSL_CONTEXT_VERIFIED.__dict__
    async with aiohttp.ClientSession() as session:  # ssl=True: aiohttp's default verified context
        async with session.get(f"https://localhost:{port}/") as resp:
            print(resp.status, await resp.text())
    assert "_krakenpy_deferred" not in c._SSL_CONTEXT_VERIFIED.__dict__  # loaded by the handshake
    server.close()

asyncio.run(main())
"""


def _python(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_deferred_tls_contexts_keep_aiohttp_settings_and_trust_store() -> None:
    assert _python(_SETTINGS) == "ok"


def test_deferred_tls_verified_context_loads_its_cas_at_the_first_handshake(tmp_path: Path) -> None:
    """The server's CA is trusted only through SSL_CERT_FILE, read by the deferred loading: the
    request succeeds only if the context loaded it before verifying."""
    authority = Authority(tmp_path)
    pair = authority.issue("localhost")
    out = _python(_HANDSHAKE, str(pair.cert), str(pair.key), env={"SSL_CERT_FILE": str(authority.path)})
    assert out == "200 ok"


_LAZY_PACKAGE = """
import sys
from krakenpy.server.deferred_tls import LEAN, DeferredCAs, import_aiohttp
import_aiohttp()
from aiohttp import ClientError, hdrs
from aiohttp.http_parser import HttpRequestParser
from aiohttp.streams import StreamReader
import aiohttp.tcp_helpers, aiohttp.http_exceptions
loaded = sorted(m.split(".", 1)[1] for m in sys.modules if m.startswith("aiohttp."))
assert set(loaded) <= LEAN, sorted(set(loaded) - LEAN)
assert "__version__" not in vars(sys.modules["aiohttp"])  # the package's __init__ has not run
how = sys.argv[1]
if how == "attribute":
    import aiohttp
    session = aiohttp.ClientSession
elif how == "submodule":
    import aiohttp.connector
else:
    from aiohttp import web
import aiohttp, aiohttp.connector as c
assert aiohttp.__version__ and aiohttp.ClientSession.__module__ == "aiohttp.client"
assert aiohttp.hdrs is hdrs and aiohttp.ClientError is ClientError
assert aiohttp.http_parser.HttpRequestParser is HttpRequestParser
assert type(c._SSL_CONTEXT_VERIFIED) is DeferredCAs and type(c._SSL_CONTEXT_UNVERIFIED) is DeferredCAs
assert "_krakenpy_deferred" in c._SSL_CONTEXT_VERIFIED.__dict__
assert not [f for f in sys.meta_path if type(f).__name__ == "_LazyPackage"]
try:
    aiohttp.no_such_name
except AttributeError as exc:
    print("ok")
"""


@pytest.mark.parametrize("how", ["attribute", "submodule", "from-import"])
def test_deferred_tls_aiohttp_package_init_runs_at_its_first_use_beyond_the_parser(how: str) -> None:
    """The server's and fast client's submodules import without aiohttp's ``__init__``; its first use
    beyond them (an attribute, another submodule, ``from aiohttp import web``) runs it, CA loading
    deferred, and the package is then what ``import aiohttp`` makes."""
    assert _python(_LAZY_PACKAGE, how) == "ok"


#: thread A's first use runs the package's __init__, held (a finder after the lazy one) at its import
#: of aiohttp.client; threads B meanwhile ask for ClientSession: they wait for the __init__ to finish
_RACE = """
import sys, threading
from krakenpy.server.deferred_tls import import_aiohttp
import_aiohttp()
entered, release = threading.Event(), threading.Event()

class Stall:
    def find_spec(self, name, path, target=None):
        if name == "aiohttp.client" and not entered.is_set():
            entered.set()
            release.wait(30)
        return None

sys.meta_path.insert(1, Stall())
first, results = [], []

def a():
    import aiohttp
    first.append(aiohttp.ClientSession.__module__)

def b(how):
    try:
        if how == "attribute":
            import aiohttp
            found = aiohttp.ClientSession
        else:
            from aiohttp import ClientSession as found
        results.append(f"{how} {found.__module__}")
    except Exception as exc:
        results.append(f"{how} {type(exc).__name__}: {exc}")

runner = threading.Thread(target=a)
runner.start()
assert entered.wait(30)
others = [threading.Thread(target=b, args=(how,)) for how in ("attribute", "from-import")]
for thread in others:
    thread.start()
for thread in others:
    thread.join(0.5)
waiting = sum(thread.is_alive() for thread in others)
release.set()
for thread in (runner, *others):
    thread.join(30)
print(waiting, sorted(results), first)
"""


def test_deferred_tls_another_thread_waits_for_the_package_init_under_way() -> None:
    assert _python(_RACE) == "2 ['attribute aiohttp.client', 'from-import aiohttp.client'] ['aiohttp.client']"


#: find_spec of a submodule beyond LEAN while the package is lazy: the submodule's own spec, nothing
#: run; imported afterwards (by the __init__, or alone), each module keeps its own spec and loader
_FIND_SPEC = """
import importlib.util, sys
from krakenpy.server.deferred_tls import import_aiohttp
import_aiohttp()
found = importlib.util.find_spec("aiohttp.connector")
package = vars(sys.modules["aiohttp"])
print(found.origin.endswith("connector.py"), "aiohttp.connector" in sys.modules, "__version__" in package)
import aiohttp.connector as c, aiohttp.web as w
for module in (c, w):
    spec = module.__spec__
    print(module.__name__, spec.origin == module.__file__, type(spec.loader).__name__, module.__loader__ is spec.loader)
print(importlib.util.find_spec("aiohttp.connector") is c.__spec__)
"""


def test_deferred_tls_find_spec_of_a_submodule_leaves_its_own_spec() -> None:
    assert _python(_FIND_SPEC).splitlines() == [
        "True False False",
        "aiohttp.connector True SourceFileLoader True",
        "aiohttp.web True SourceFileLoader True",
        "True",
    ]
