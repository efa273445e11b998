"""One agent's life (lura ``async.AgentStarter`` and krakend-amqp's agent loop): connect through its
driver, reconnect with the agent's backoff until ``max_retries`` is spent, and run every message
through the agent's pipe with at most ``workers`` at once and at most ``max_rate`` per second.

A broker that is down or goes away never touches the HTTP side: the agent is a background task of
the worker that runs it. Failures are logged once per kind until the agent is consuming again (a
broker down for an hour is one line, not one per retry).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from krakenpy.asyncagent.backoff import backoff
from krakenpy.asyncagent.types import Driver, Started
from krakenpy.config.model import AgentConfig
from krakenpy.errors import PipelineError
from krakenpy.proxy.deadline import arm_request, disarm, expired
from krakenpy.proxy.types import Proxy, Request
from krakenpy.resources import Resources
from krakenpy.tasks import cancel_and_wait, spawn

__all__ = ["AgentRunner", "agent_starter"]

log = logging.getLogger("krakenpy")

#: a connection that lived this long restarts the retry count (krakend-amqp's minExecutionTime)
MIN_RUN = 5.0
#: after the consumer timeout, how long the pipe still gets to end itself before it is cut
_GRACE = 0.5
#: ``sequential_start``: how long the start waits for an agent's first connection attempt before it
#: goes on with the next agent (the attempt itself goes on in the background)
FIRST_ATTEMPT_WAIT = 10.0


class _Bucket:
    """A token bucket shared by the agent's workers: ``rate`` per second, ``max(1, int(rate))`` deep."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = float(max(1, int(rate)))
        self.tokens = self.capacity
        self.stamp = asyncio.get_running_loop().time()

    async def take(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) / self.rate)


class AgentRunner:
    """Runs one agent until cancelled or out of retries; :meth:`handle` is what its driver calls."""

    def __init__(self, agent: AgentConfig, proxy: Proxy, driver: Driver, kind: str) -> None:
        self.agent = agent
        self.proxy = proxy
        self.driver = driver
        self.prefix = f"[SERVICE: AsyncAgent][{kind}][{agent.name}]"
        self.kind = kind.lower()
        self.workers = asyncio.Semaphore(agent.workers)
        self.bucket = _Bucket(agent.max_rate) if agent.max_rate > 0 else None
        #: failure kinds logged since the agent last connected (an exception's type, never its text:
        #: texts vary per message and the set would grow without bound)
        self.seen: set[str] = set()
        #: set once the first connection attempt consumes or fails (``sequential_start`` waits for it)
        self.first_attempt = asyncio.Event()

    def _once(self, kind: str, message: str) -> None:
        """ERROR the first time a kind of failure happens since the last connection, DEBUG after."""
        level = logging.DEBUG if kind in self.seen else logging.ERROR
        self.seen.add(kind)
        log.log(level, "%s %s", self.prefix, message)

    def _connected(self) -> None:
        self.seen.clear()
        self.first_attempt.set()
        log.info("%s consuming %r with %d workers", self.prefix, self.agent.topic, self.agent.workers)

    async def handle(self, body: bytes, started: Started | None = None) -> bool:
        """Run one message through the pipe once a worker (and a token) is free, calling ``started``
        first; True when it succeeded."""
        async with self.workers:
            if self.bucket is not None:
                await self.bucket.take()
            if started is not None:
                await started()
            return await self._process(body)

    async def _process(self, body: bytes) -> bool:
        # lura's agent request: the message as the body, no parameters nor client headers
        request = Request("POST", "", {}, {}, {}, body, endpoint=self.agent.name)
        timer = arm_request(self.agent.timeout, _GRACE)
        request.deadline, request.timer = timer.when, timer
        try:
            response = await self.proxy(request)
        except PipelineError as exc:
            self._once(f"pipe:{type(exc).__name__}", str(exc))
            return False
        except asyncio.CancelledError:
            if expired(timer):
                self._once("pipe:deadline", "context deadline exceeded")
                return False
            raise
        except Exception as exc:  # a bug in a layer: this message fails, the agent goes on
            log.exception("%s unexpected error", self.prefix)
            self._once(f"bug:{type(exc).__name__}", "internal error")
            return False
        finally:
            disarm(timer)
        if response.errors or not response.is_complete:
            reason = "; ".join(str(e) for e in response.errors) or "incomplete response"
            self._once("pipe:response", reason)
            return False
        return True

    async def run(self) -> None:
        """Connect, consume, reconnect after the backoff; stops after ``max_retries`` failed attempts."""
        loop = asyncio.get_running_loop()
        wait = backoff(self.agent.backoff_strategy)
        retries = self.agent.max_retries if self.agent.max_retries > 0 else None
        log.debug("%s starting the async agent", self.prefix)
        attempt = 0
        while retries is None or attempt <= retries:
            await asyncio.sleep(wait(attempt))
            started = loop.time()
            try:
                await self.driver(self.agent, self.handle, self._connected)
                self._once("closed", "the broker closed the connection: reconnecting")
            except Exception as exc:  # the driver's errors name no secret (it redacts its URL)
                kind = getattr(exc, "kind", None)  # a driver may name its failures finer than by type
                self._once(
                    kind if isinstance(kind, str) else type(exc).__name__, f"building the {self.kind} subscriber: {exc}"
                )
            self.first_attempt.set()
            if loop.time() - started > MIN_RUN:
                attempt = 0
            attempt += 1
        self.first_attempt.set()
        log.error("%s too many retries (%d): the agent stops consuming", self.prefix, self.agent.max_retries)


def agent_starter(
    agent: AgentConfig, proxy: Proxy, driver: Driver, kind: str, resources: Resources, *, sequential: bool = False
) -> Callable[[], Awaitable[None]]:
    """The hook that starts ``agent`` once the gateway serves; closing the gateway stops it. With
    ``sequential`` (``sequential_start``) the hook returns once the agent's first connection attempt
    consumes or fails (at most :data:`FIRST_ATTEMPT_WAIT`), so the agents start in their order."""

    async def start() -> None:
        runner = AgentRunner(agent, proxy, driver, kind)
        task = spawn(runner.run())
        resources.stack.push_async_callback(cancel_and_wait, task)
        if sequential:
            try:
                await asyncio.wait_for(runner.first_attempt.wait(), FIRST_ATTEMPT_WAIT)
            except TimeoutError:
                log.warning("%s no answer from the broker yet: starting the rest", runner.prefix)

    return start
