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

It also leaves the package's ``__init__`` for later (P7, round 10): that ``__init__`` imports the
client (session, connector, cookie jar, multipart, tracing's attrs classes, client websockets), ~118 M
instructions and ~40 modules of every start, which the server and the fast client never use (they
import the HTTP parser, the streams and the exceptions from their submodules). The package's module
is created empty, with its ``__path__``: importing those submodules (:data:`LEAN`) does not run the
``__init__``; anything else runs it first, with the CA loading deferred as above: an attribute the
package defines (``aiohttp.ClientSession``, ``from aiohttp import web``), or the import of any other
submodule (``import aiohttp.connector``; ``importlib.util.find_spec`` alone runs nothing). The package
is then what a plain ``import aiohttp`` makes. The ``__init__`` runs once, under the import system's lock
for the package: another thread's first use meanwhile waits for it to finish, as it would for a plain
``import aiohttp``.
"""

from __future__ import annotations

import importlib
import importlib._bootstrap
import importlib.util
import ssl
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from importlib.machinery import ModuleSpec

__all__ = ["LEAN", "DeferredCAs", "import_aiohttp"]

#: aiohttp's submodules importable without the package's ``__init__``: what krakenpy's server and
#: fast client import (``http_parser``, ``streams``, ``http_exceptions``, ``tcp_helpers``,
#: ``client_exceptions``) and what those import in turn
LEAN = frozenset(
    {
        *("_cookie_helpers", "_http_parser", "_http_writer", "abc", "base_protocol", "client_exceptions"),
        *("compression_utils", "hdrs", "helpers", "http_exceptions", "http_parser", "http_writer", "log"),
        *("streams", "tcp_helpers", "typedefs"),
    }
)
#: names ``from aiohttp import …`` takes from a lean submodule, leaving the ``__init__`` for later
_LEAN_NAMES = {"ClientError": "client_exceptions"}

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


class _DeferCAs:
    """``set_default_verify_paths`` shadowed while aiohttp's ``__init__`` runs: the contexts it
    creates load the CA locations at their first use (:class:`DeferredCAs`)."""

    def __enter__(self) -> None:
        self.deferred: list[ssl.SSLContext] = []

        def defer(context: ssl.SSLContext) -> None:
            self.deferred.append(context)

        # shadows the C method inherited from _ssl._SSLContext for the import only (a context another
        # thread creates meanwhile is deferred too: the same trust store, loaded at its first use)
        setattr(ssl.SSLContext, _NAME, defer)

    def __exit__(self, *exc: object) -> None:
        delattr(ssl.SSLContext, _NAME)
        for context in self.deferred:
            context.__class__ = DeferredCAs  # same layout: a subclass that adds only methods
            context.__dict__["_krakenpy_deferred"] = True


class _Completing:
    """The loader of a submodule beyond :data:`LEAN` imported while the package's ``__init__`` has not
    run: it runs it first, then gives the import under way the module that ``__init__`` imported (else
    the submodule would run a second time: two copies of its classes, and of the connector's TLS
    contexts without the deferral), or runs the submodule with its own loader. A ``find_spec`` alone
    (``importlib.util.find_spec``) runs nothing. The module keeps its own spec and loader. Not an
    ``importlib.abc.Loader`` subclass: that module imports ``importlib.resources`` (~4 ms of every
    start, P7)."""

    def __init__(self, lazy: _LazyPackage, real: ModuleSpec) -> None:
        self.lazy = lazy
        self.real = real
        self.imported = False

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        self.lazy.complete()
        module = sys.modules.get(spec.name)
        if module is not None:  # the import system sets our spec on it: exec_module puts its own back
            self.real, self.imported = module.__spec__ or self.real, True
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self.real
        module.__loader__ = self.real.loader
        if not self.imported:  # a new module: the __init__ did not import this submodule
            assert self.real.loader is not None
            self.real.loader.exec_module(module)

    def load_module(self, fullname: str) -> ModuleType:  # the legacy protocol's (unused since 3.4)
        self.lazy.complete()
        return importlib.import_module(fullname)  # the finder is gone: the usual finders import it


def _package_lock() -> AbstractContextManager[object]:
    """The import system's own lock for the package, as a plain ``import aiohttp`` holds it while the
    ``__init__`` runs: re-entrant for that thread, and another thread waiting for it while it holds the
    lock of a submodule the ``__init__`` needs (``from . import http`` in ``aiohttp.client``) is a
    cycle the import system sees and breaks with an error, where a lock of our own would hang both.
    Private API (3.11–3.14): a re-entrant lock of our own where it is missing."""
    manager = getattr(importlib._bootstrap, "_ModuleLockManager", None)
    if manager is None:
        return _LazyPackage.fallback
    lock: AbstractContextManager[object] = manager("aiohttp")
    return lock


class _LazyPackage:
    """Runs aiohttp's ``__init__`` on the package module's first use beyond :data:`LEAN`: the module's
    ``__getattr__`` (PEP 562) and a finder ahead of ``sys.meta_path`` for its other submodules. Once
    per process, under the package's import lock (:func:`_package_lock`): both stay until the
    ``__init__`` has finished, so another thread's first use meanwhile (``aiohttp.ClientSession``,
    ``from aiohttp import ClientSession``) waits for it, as it would for a plain ``import aiohttp``; in
    the thread running it, they give what the ``__init__`` has defined so far (in ``run`` the first use
    is on the worker's loop thread, building a gateway that uses aiohttp's client)."""

    fallback = threading.RLock()

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.done = False
        self.running = 0  # the thread running the __init__ (its ident), 0 when none

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec | None:
        if not name.startswith("aiohttp.") or name.split(".")[1] in LEAN or self.done or self.running:
            # imported by the usual finders: the thread running the __init__ imports its submodules,
            # and another thread's submodule import does not wait for it (nor does it in plain Python)
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None) if finder is not self else None
            real = find(name, path, target) if find is not None else None
            if real is not None:
                break
        else:
            return None
        package = real.submodule_search_locations is not None
        spec = importlib.util.spec_from_loader(name, _Completing(self, real), origin=real.origin, is_package=package)
        assert spec is not None
        spec.submodule_search_locations = real.submodule_search_locations
        spec.has_location = real.has_location
        return spec

    def attribute(self, name: str) -> Any:
        if name in LEAN:  # a lean submodule (``from . import hdrs`` in the parser): importing binds it
            return importlib.import_module(f"aiohttp.{name}")
        lean = _LEAN_NAMES.get(name)
        if lean is not None:
            return getattr(importlib.import_module(f"aiohttp.{lean}"), name)
        self.complete()
        try:
            return self.module.__dict__[name]
        except KeyError:
            pass
        own = self.module.__dict__.get("__getattr__")
        if self.done and own is not None and own != self.attribute:
            return own(name)  # the package's own __getattr__ says what is missing
        # within the __init__ (this thread): not defined yet, as in a plain import
        raise AttributeError(f"module 'aiohttp' has no attribute {name!r}")

    def settled(self) -> bool:
        """Whether the ``__init__`` has run or is running (in the thread holding the package's lock)."""
        return self.done or self.running != 0

    def complete(self) -> None:
        """Run the package's ``__init__`` now (once; a no-op afterwards and within it; another thread
        waits for it to finish)."""
        if self.done:
            return
        with _package_lock():
            if self.settled():  # run meanwhile by another thread (waited for), or under way in this one
                return
            self.running = threading.get_ident()
            spec = self.module.__spec__
            assert spec is not None and spec.loader is not None
            try:
                with _DeferCAs():
                    spec.loader.exec_module(self.module)
            finally:
                self.done = True
                self.running = 0
                if self.module.__dict__.get("__getattr__") == self.attribute:
                    del self.module.__dict__["__getattr__"]
                if self in sys.meta_path:
                    sys.meta_path.remove(self)


def import_aiohttp() -> None:
    """Make ``aiohttp`` importable with its ``__init__`` left for its first use beyond :data:`LEAN`, and
    the CA loading of the contexts that ``__init__`` creates deferred (see the module docstring);
    nothing changes when aiohttp is already imported. Called first by the CLI (one thread)."""
    if "aiohttp" in sys.modules:
        return
    spec = importlib.util.find_spec("aiohttp")
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        with _DeferCAs():
            import aiohttp  # noqa: F401
        return
    module = importlib.util.module_from_spec(spec)  # __path__, __spec__, __file__: not the __init__
    lazy = _LazyPackage(module)
    module.__getattr__ = lazy.attribute  # type: ignore[method-assign]
    sys.modules["aiohttp"] = module
    sys.meta_path.insert(0, lazy)
