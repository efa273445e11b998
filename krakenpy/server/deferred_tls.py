"""aiohttp imported without its import-time CA loading (P7 start-up).

``aiohttp.connector`` builds its two default client TLS contexts (verified and unverified) when it is
imported, and each loads the system CA bundle: ~500 M instructions of the ~1,100 M that importing
aiohttp costs, paid by every ``krakenpy run`` although a gateway with plain-HTTP backends never uses
them (and the package cannot be skipped: the server and the fast client use aiohttp's HTTP parser).

:func:`import_aiohttp` imports aiohttp with that loading deferred: the two contexts are created as
aiohttp creates them, and their default CA locations are loaded at their first handshake instead
(the same trust store, read once per process on first use: the first HTTPS call through the aiohttp
client, a JWK set or token URL over HTTPS, pays ~50 ms once). Only ``krakenpy run``/``check`` call it,
before anything else imports aiohttp; an application embedding krakenpy imports aiohttp as usual.
"""

from __future__ import annotations

import ssl
import sys
import threading
from typing import Any

__all__ = ["DeferredCAs", "import_aiohttp"]

_NAME = "set_default_verify_paths"


class DeferredCAs(ssl.SSLContext):
    """An ``SSLContext`` whose ``set_default_verify_paths`` runs on its first use, not at creation."""

    _lock = threading.Lock()

    def load_deferred(self) -> None:
        """Load the default CA locations now, once (a no-op after the first call)."""
        with self._lock:
            if self.__dict__.pop("_krakenpy_deferred", False):
                super().set_default_verify_paths()

    def wrap_bio(self, *args: Any, **kwargs: Any) -> Any:  # asyncio's TLS transport
        self.load_deferred()
        return super().wrap_bio(*args, **kwargs)

    def wrap_socket(self, *args: Any, **kwargs: Any) -> Any:
        self.load_deferred()
        return super().wrap_socket(*args, **kwargs)

    def get_ca_certs(self, binary_form: bool = False) -> Any:
        self.load_deferred()
        return super().get_ca_certs(binary_form)

    def cert_store_stats(self) -> dict[str, int]:
        self.load_deferred()
        return super().cert_store_stats()


def import_aiohttp() -> None:
    """Import aiohttp, deferring the CA loading of the contexts its import creates (see the module
    docstring); nothing changes when aiohttp is already imported."""
    if "aiohttp" in sys.modules:
        return
    deferred: list[ssl.SSLContext] = []

    def defer(context: ssl.SSLContext) -> None:
        deferred.append(context)

    # shadows the C method inherited from _ssl._SSLContext for the import only; single-threaded here
    # (the CLI, before the event loop and the workers)
    setattr(ssl.SSLContext, _NAME, defer)
    try:
        import aiohttp  # noqa: F401
    finally:
        delattr(ssl.SSLContext, _NAME)
    for context in deferred:
        context.__class__ = DeferredCAs  # same layout: a subclass that adds only methods
        context.__dict__["_krakenpy_deferred"] = True
