"""One worker process: compile the gateway, serve it on the sockets the supervisor opened, swap in a
new one on reload, drain on ``SIGTERM`` (or when the supervisor disappears).

Reload, off the request path: the file is read and checked in a thread, the new gateway compiled on
the loop, then every new request (also on open keep-alive connections) goes to it at once. Requests
already running finish on the old gateway, whose resources (connection pools, Lambda clients, Lua
runtimes, key-set refreshers...) are closed once they are done.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from krakenpy import __version__
from krakenpy.compiled import summary as compiled_summary
from krakenpy.config.model import ServiceConfig
from krakenpy.config.quickcheck import take_verdict
from krakenpy.errors import ConfigError
from krakenpy.server import rundir, saidonce
from krakenpy.server.acceptor import Acceptor, accepts_in_batches
from krakenpy.server.balance import Share, Shares
from krakenpy.server.channel import Channel
from krakenpy.server.heap import settle_heap
from krakenpy.server.limits import ServerLimits
from krakenpy.server.listen import BACKLOG
from krakenpy.server.logs import install_loop_handler
from krakenpy.server.loops import loop_name, run_on
from krakenpy.server.protocol import GatewayServer
from krakenpy.server.reload import config_digest
from krakenpy.server.runner import Config, ConfigSource, Served, ServeOptions
from krakenpy.server.settings import RuntimeSettings, runtime_settings
from krakenpy.server.takeover import h2_takeover
from krakenpy.tasks import spawn

if TYPE_CHECKING:
    from krakenpy.server.tlscontext import TlsListener

__all__ = ["EXIT_CONFIG", "Worker", "sequential"]

log = logging.getLogger("krakenpy")

#: a worker whose configuration does not build (the supervisor does not restart it at start-up)
EXIT_CONFIG = 78
#: young-generation GC threshold while serving (CPython's default is 700)
_GC_YOUNG = 20_000
#: TLS close_notify exchange on a closing connection (asyncio's default is 30 s)
_TLS_SHUTDOWN = 5.0


#: seconds the gateways' close still gets after a repeated signal, then again once it was cancelled
_CUT_GRACE = 1.0
#: seconds a worker forked with the first waits at most for its telemetry listeners before accepting
_GATE = 30.0


def settle_gc() -> None:
    """Keep the cyclic GC off the request path: per-request garbage is freed by reference counting,
    so frequent young collections find little, and full collections walking every module and
    compiled endpoint showed up as tail latency under overload. Start-up objects are frozen out of
    the collector's view; collections run ~30x less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG, 10, 10)


def sequential(service: ServiceConfig) -> bool:
    """Whether ``sequential_start`` holds the HTTP side until the async agents have started."""
    return service.sequential_start and bool(service.agents)


class Worker:
    """Serves one slot until told to stop; :meth:`run` returns the exit code."""

    def __init__(
        self,
        slot: int,
        sockets: list[socket.socket],
        channel: Channel,
        config: Config,
        settings: RuntimeSettings,
        options: ServeOptions,
        source: ConfigSource,
    ) -> None:
        self.slot = slot
        self.sockets = sockets
        self.channel = channel
        self.config = config
        self.settings = settings
        self.options = options
        self.source = source
        self.generation = 0
        self.gateway: Served | None = None
        self.server: GatewayServer | None = None
        self.tls: TlsListener | None = None
        self.retiring: dict[asyncio.Task[None], Served] = {}
        self.reloading: asyncio.Task[None] | None = None
        self.stopping = asyncio.Event()
        #: wait for the first worker's telemetry listeners before accepting (a worker forked with it)
        self.gated = False
        #: the supervisor said the first worker's telemetry listeners listen (``accept``)
        self.opened = asyncio.Event()
        #: say the start's warnings and KrakenD's start lines when ready: worker 1 of a start only, not its
        #: replacement after it died (the supervisor's ``announced``), not another worker
        self.announce = False
        #: a repeated signal (a second or more after the first): what still runs of the stop is cut
        self.cut = asyncio.Event()
        self.stopped_at = 0.0
        #: ``run -w N`` (N > 1): where this worker publishes its metrics (:mod:`krakenpy.server.rundir`)
        self.run_dir: str | None = None
        #: ``run -w N`` (N > 1): every worker's live connection count (:mod:`krakenpy.server.balance`)
        self.shares: Shares | None = None
        self.share: Share | None = None

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        # before the first build: its registries publish from the start (to the other workers with
        # ``-w N``; kept through reloads in memory with ``-w 1``: counters never go down either way)
        rundir.enter(self.run_dir, self.slot)
        saidonce.generation(self.generation)  # a warning the build says: once per gateway and generation
        try:
            self.gateway = await self.source.build(self.config, serving=True)
            if self.settings.tls is not None:
                from krakenpy.server.tlscontext import TlsListener  # cryptography: only for TLS configs

                self.tls = TlsListener(self.settings.tls)
        except ConfigError as exc:
            self.channel.send({"event": "failed", "issues": [str(i) for i in exc.issues]})
            if self.gateway is not None:
                await self.gateway.close()
            return EXIT_CONFIG
        limits = self.settings.limits
        # the lean server on the edge handler (no aiohttp web layer); the gateway writes its own access log
        self.server = GatewayServer(self.gateway.edge, limits=limits)
        self.server.h2 = h2_takeover(self.gateway)
        install_loop_handler(loop, self.server.accept_errors)
        if self.shares is not None:
            self.share = self.server.share = self.shares.share(self.slot - 1)
        # sequential_start: the agents (this worker's only) connect one after the other before the
        # listener opens, as KrakenD starts them before its router; else they start beside it
        agents_first = self.consumes and sequential(self.config.service)
        loop.add_reader(self.channel.fileno(), self._on_channel)
        if self.consumes:
            # the telemetry listeners before the gateway's port: a scrape after its first answer finds them
            await self.gateway.listen()
            self.channel.send({"event": "listening"})
        elif self.gated and self.gateway.telemetry_listeners:
            await self._gate()
        if agents_first:
            await self.gateway.start(agents=True)
        # the stop handlers before the port accepts: the start below may still wait (its hooks: a NATS
        # subscription's first connect, the agents) while requests are served, and a SIGTERM then found
        # the default action, which ended the worker with its in-flight requests cut and no drain (a
        # stop during the start is drained once the start is over). Until here the gateway's port was not
        # served: the default action ends a worker still building at once
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        listeners = [await self._listen(sock, limits) for sock in self.sockets]
        if self.share is not None:
            self.share.join()
        if not agents_first and not await self._start_unless_stopped():
            return await self._shutdown(listeners)
        self.server.start_sweeping()
        settle_gc()
        settle_heap()  # after the start-up's garbage went: idle memory as before (server/heap.py)
        port = self.sockets[0].getsockname()[1] if self.sockets else 0
        if self.announce:  # once per start, not once per worker nor again for a restarted one
            if self.generation == 0:  # else the reload that made this generation said them
                for warning in self.gateway.warnings:
                    log.warning("%s", warning)
            # KrakenD's own start lines, word for word: log-based readiness checks and alerts written
            # for it keep matching (lura: "Starting the KrakenD instance", gin's "Listening on port")
            log.info("Starting the KrakenD instance")
            log.info("[SERVICE: Gin] Listening on port: %d", port)
        log.info(
            "krakenpy %s (%s) listening on %s:%d%s with %d endpoints on %s (pid %d, worker %d)",
            __version__,
            compiled_summary(),
            self.settings.host or "*",
            port,
            " (TLS)" if self.tls else "",
            self.gateway.endpoints,
            loop_name(loop),
            os.getpid(),
            self.slot,
        )
        self.channel.send({"event": "ready", "pid": os.getpid(), "generation": self.generation})
        await self.stopping.wait()
        return await self._shutdown(listeners)

    async def _start_unless_stopped(self) -> bool:
        """The gateway's start (its hooks: a NATS subscription's first connect, up to 2 s; the agents)
        while the port already serves, given up at a stop: a SIGTERM then waited for the start to end
        before the drain began. False when stopped first: the start cancelled (what it had started is
        closed with the gateway, as registered on its exit stack) and no ``ready`` sent. A start
        that failed raises, as before."""
        assert self.gateway is not None
        starting = spawn(self.gateway.start(agents=self.consumes))
        stopping = spawn(self.stopping.wait())
        await asyncio.wait((starting, stopping), return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if starting.done():  # its result first: a start that ended in the same turn as the stop counts
            starting.result()
            return True
        starting.cancel()
        # a hook that holds out against the cancellation (it catches it and goes on) is waited no
        # longer than a repeated signal would wait for the close: the drain comes first
        await asyncio.wait((starting,), timeout=_CUT_GRACE)
        if starting.done() and not starting.cancelled() and starting.exception() is not None:
            log.warning("start given up at the stop: %r (pid %d)", starting.exception(), os.getpid())
        log.info("stopped while starting: start given up (pid %d, worker %d)", os.getpid(), self.slot)
        return False

    async def _gate(self) -> None:
        """Wait until the first worker's telemetry listeners listen (the supervisor's ``accept``), so that
        no worker answers on the shared port before them; bounded: a first worker that never gets
        there (it crashes, its build hangs) holds the others :data:`_GATE` seconds at most."""
        opened, stopping = spawn(self.opened.wait()), spawn(self.stopping.wait())
        done, _ = await asyncio.wait((opened, stopping), timeout=_GATE, return_when=asyncio.FIRST_COMPLETED)
        opened.cancel()
        stopping.cancel()
        if not done:
            log.warning("worker %d opens without the first worker's telemetry listeners (%.0f s)", self.slot, _GATE)

    async def _listen(self, sock: socket.socket, limits: ServerLimits) -> asyncio.AbstractServer | Acceptor:
        assert self.server is not None
        loop = asyncio.get_running_loop()
        # uvloop: libuv would admit one new connection per loop turn; several workers: the shared
        # socket's connections go to the worker below its share, on either loop
        if not accepts_in_batches(loop) or self.share is not None:
            tls = self.tls.context if self.tls is not None else None
            return Acceptor(
                loop,
                self.server,
                sock,
                backlog=BACKLOG,
                errors=self.server.accept_errors,
                tls=tls,
                handshake_timeout=(limits.handshake_timeout or None) if tls else None,
                shutdown_timeout=_TLS_SHUTDOWN if tls else None,
                share=self.share,
            ).start()
        if self.tls is None:
            return await loop.create_server(self.server, sock=sock, backlog=BACKLOG)
        return await loop.create_server(
            self.server,
            sock=sock,
            backlog=BACKLOG,
            ssl=self.tls.context,
            ssl_handshake_timeout=limits.handshake_timeout or None,
            ssl_shutdown_timeout=_TLS_SHUTDOWN,
        )

    @property
    def consumes(self) -> bool:
        """Whether this worker runs the async agents: the first only, so ``consumer.workers`` means
        what it says for the whole gateway (as one KrakenD instance), whatever ``--workers`` is."""
        return self.slot == 1

    def stop(self) -> None:
        """First call: drain. A call a second or more later: cut what is still running (one signal sent
        to the process group and forwarded by the supervisor arrives twice at once: that is no cut)."""
        now = time.monotonic()
        if not self.stopping.is_set():
            self.stopping.set()
            self.stopped_at = now
        elif now - self.stopped_at >= 1.0:
            self.cut.set()  # the gateways' close, if it runs already or still to come, is bounded
            if self.server is not None:
                for connection in self.server.protocols():
                    connection.force_close()

    async def _close_gateways(self) -> None:
        assert self.gateway is not None
        for task, gateway in list(self.retiring.items()):
            task.cancel()
            await gateway.close()
        await self.gateway.close()

    def _on_channel(self) -> None:
        messages = self.channel.receive()
        if messages is None:  # the supervisor is gone: nobody would replace or stop this process
            asyncio.get_running_loop().remove_reader(self.channel.fileno())
            log.warning("supervisor gone: worker %d (pid %d) shuts down", self.slot, os.getpid())
            rundir.orphan()  # known here before this process has another parent
            self.stop()
            return
        for message in messages:
            if message.get("command") == "accept":
                self.opened.set()
            elif message.get("command") == "reload" and not self.stopping.is_set():
                generation, digest = int(message["generation"]), str(message["digest"])
                self.reloading = spawn(self._reload(generation, digest, message.get("verdict")))

    async def _shutdown(self, listeners: list[asyncio.AbstractServer | Acceptor]) -> int:
        assert self.server is not None and self.gateway is not None
        log.info("shutting down (pid %d, worker %d)", os.getpid(), self.slot)
        if self.share is not None:
            self.share.leave()  # the others take every new connection from now on
        for listener in listeners:
            listener.close()
        # this process's copies of the listening sockets too (asyncio's Server already closed its own):
        # once every worker drains and the supervisor closed its copy, a new connection is refused at
        # once, as KrakenD's Server.Shutdown does; while an Acceptor kept them open the kernel completed
        # the handshake and the client hung until the last worker exited. A replacement worker, or the
        # others, still accept through their own copies (the supervisor keeps its copy meanwhile).
        for sock in self.sockets:
            sock.close()
        finished = await self.server.drain(self.settings.limits.shutdown_wait)
        if not finished:
            log.warning("max_shutdown_wait_time reached: in-flight requests were cut (pid %d)", os.getpid())
        self.server.stop_sweeping()
        loop = asyncio.get_running_loop()
        loop.remove_reader(self.channel.fileno())
        if self.reloading is not None:
            self.reloading.cancel()
        closing = spawn(self._close_gateways())
        cut = spawn(self.cut.wait())
        await asyncio.wait((closing, cut), return_when=asyncio.FIRST_COMPLETED)
        if not closing.done():  # a repeated signal: a close that hangs (a collector) must not keep it
            await asyncio.wait((closing,), timeout=_CUT_GRACE)
        if not closing.done():
            log.warning("closing cut by a repeated signal (pid %d, worker %d)", os.getpid(), self.slot)
            closing.cancel()
            await asyncio.wait((closing,), timeout=_CUT_GRACE)
        cut.cancel()
        if closing.done() and not closing.cancelled():
            closing.result()  # a failing close fails the stop, as before
        await rundir.leave()  # what the gateways counted, after their last requests
        # only now: a supervisor's SIGKILL is read at the channel's end, and PR_SET_PDEATHSIG's SIGTERM
        # comes after it; with the default action back, that SIGTERM ended a worker before it left the
        # run directory (the last one out never removed it: seen in 1 of 4 kills under load)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        return 0

    async def _reload(self, generation: int, digest: str, verdict: object = None) -> None:
        started = time.monotonic()
        saidonce.generation(generation)  # what the new build says about its dependencies
        try:
            config, settings, gateway = await self._compile(digest, verdict)
        except ConfigError as exc:
            saidonce.generation(self.generation)  # serving the one it had
            reasons = [str(i) for i in exc.issues]
            log.error("reload %d failed in worker %d: %s", generation, self.slot, "; ".join(reasons[:5]))
            self.channel.send({"event": "reloaded", "generation": generation, "ok": False, "error": reasons})
            return
        except Exception as exc:  # a bug while compiling: this worker keeps serving what it has
            saidonce.generation(self.generation)
            log.exception("reload %d failed in worker %d", generation, self.slot)
            self.channel.send({"event": "reloaded", "generation": generation, "ok": False, "error": [repr(exc)]})
            return
        assert self.server is not None and self.gateway is not None
        self.server.limits = settings.limits
        drained = await self.server.swap(gateway.edge)
        self.server.h2 = h2_takeover(gateway)
        gateway.swapped(self.gateway)
        old, old_limits, self.gateway = self.gateway, self.settings.limits, gateway
        self.config, self.settings, self.generation = config, settings, generation
        task = spawn(self._retire(old, drained, old_limits, gateway))
        self.retiring[task] = old
        seconds = round(time.monotonic() - started, 3)
        self.channel.send({"event": "reloaded", "generation": generation, "ok": True, "seconds": seconds})

    async def _compile(self, digest: str, verdict: object = None) -> tuple[Config, RuntimeSettings, Served]:
        """Read, check and build the new configuration; raises :class:`ConfigError`. ``verdict``: the
        supervisor's schema verdict on the document it checked, taken for a document of the same hash
        (no check interpreter started: ~0.2 s of CPU per worker)."""
        take_verdict(verdict)
        config = await asyncio.to_thread(self.source.load)
        if config_digest(config.service) != digest:
            raise ConfigError("the configuration changed again while the workers were reloading it")
        settings, errors, _ = runtime_settings(
            config.service, allow_unsupported=self.options.allow_unsupported, port=self.options.port_override
        )
        if settings is None:
            raise ConfigError(errors)
        gateway = await self.source.build(config, serving=True)
        if self.tls is not None and settings.tls is not None:
            try:
                self.tls.apply(settings.tls)
            except ConfigError:
                await gateway.close()
                raise
        return config, settings, gateway

    async def _retire(self, old: Served, drained: Callable[[], bool], limits: ServerLimits, new: Served) -> None:
        """Close ``old`` once the requests it was serving are done (bounded by the write clock), then
        start what ``new`` runs beside the requests; its telemetry listeners take over the old ones' sockets."""
        # shadow calls the old pipeline fired are not waited for: nobody reads their answers
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (limits.write_timeout or limits.read_timeout or 60.0)
        while loop.time() < deadline and not drained():
            await asyncio.sleep(0.05)
        current = self.gateway
        if current is not None and not self.stopping.is_set():
            # to the gateway serving now, which is ``new`` unless a later reload replaced it meanwhile
            # (then ``new`` retired before ``old``, and the current one would find the ports taken)
            current.take_listeners(old)  # their ports stay bound: a scrape during the reload is answered
        try:
            await old.close()
        finally:
            self.retiring.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
        del old
        if new is self.gateway and not self.stopping.is_set():  # not replaced again meanwhile
            for older in list(self.retiring.values()):  # still draining (two reloads during a slow request)
                new.take_listeners(older)
            await new.start(agents=self.consumes)
        # collect its reference cycles. Unfreezing would let the collection reach the objects inherited
        # from the supervisor too and copy every page the processes share: the gateway built at
        # start-up (frozen with them) keeps its cycles once; gateways built by reloads are not frozen
        gc.collect()


def run_worker(worker: Worker, kind: str) -> int:
    """Run ``worker`` on a fresh event loop of ``kind`` (``auto``: uvloop where it imports, see :mod:`.loops`)."""
    return run_on(kind, worker.run())
