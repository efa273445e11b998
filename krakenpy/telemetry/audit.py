"""The audit trail (``telemetry/audit``): one JSON record per access decision.

**For component authors** — the one interface through which decisions reach the trail:

- *deny*: raise :class:`krakenpy.errors.Rejection` (``status``, ``reason=`` a word of
  :data:`REASONS`, ``policy=`` your namespace, ``detail=`` for the log only). The audit middleware
  records it; you write nothing else. A check that answers with another error (JSON Schema's 400,
  CEL's 500) calls ``audit_decision(..., decision="deny", reason=...)`` before raising it; an edge
  guard that answers by itself puts the ``Rejection`` it stands for under
  ``request.context[EDGE_DENY]``.
- *allow* (and dry-run denies): call ``audit_decision(request.context, policy=NAMESPACE)`` after
  your check passed (``decision="deny", enforced=False`` for a rule that only observes). It costs
  one dict lookup when auditing is off or the route is not audited. The record is written when the
  request ends, with the final status and the subject of ``request.claims``.

Records carry a sequence number and a hash chain (``hash = sha256(prev_hash ‖ canonical record)``);
they travel through a bounded queue drained by a background task, so a slow sink never blocks a
request: records that do not fit are dropped, counted and logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Literal

import orjson

from krakenpy.fingerprint import fingerprint, process_key
from krakenpy.gojson import valid_text
from krakenpy.tasks import cancel_and_wait, spawn
from krakenpy.telemetry.auditanchor import Anchoring, anchor_key
from krakenpy.telemetry.auditsink import AuditSink, SinkError, StreamSink
from krakenpy.telemetry.trailcheck import GENESIS, chained, check_trail

__all__ = [
    "AUDIT",
    "EDGE_DENY",
    "EVENTS",
    "REASONS",
    "AuditScope",
    "AuditTrail",
    "audit_decision",
    "last_trail",
    "verify_chain",
    "verify_trail",
]

log = logging.getLogger("krakenpy.audit")

#: context key of the request's :class:`AuditScope` (absent when auditing is off)
AUDIT: Final = "krakenpy.audit"
#: context key under which an edge guard that answers by itself (the service bot detector's 403)
#: leaves the :class:`~krakenpy.errors.Rejection` it stands for; the edge telemetry records it
EDGE_DENY: Final = "krakenpy.audit.edge"
#: the closed vocabulary of ``reason``
REASONS: Final = frozenset(
    {
        "allowed", "no_credentials", "credentials_invalid", "jwt_invalid_signature", "jwt_invalid", "jwt_expired",
        "jwt_not_yet_valid", "aud_mismatch", "iss_mismatch", "scope_missing", "role_missing", "revoked", "ip_denied",
        "rate_limited", "cel_false", "schema_invalid", "lua_custom_error", "bot_detected", "cors_rejected",
        "policy_error", "function_not_allowed",
    }
)  # fmt: skip
#: reason → OWASP logging-vocabulary event
EVENTS: Final = {
    "allowed": "authz_success",
    "no_credentials": "authn_token_missing",
    "credentials_invalid": "authn_token_invalid",
    "jwt_invalid_signature": "authn_token_invalid",
    "jwt_invalid": "authn_token_invalid",
    "jwt_expired": "authn_token_expired",
    "jwt_not_yet_valid": "authn_token_invalid",
    "revoked": "authn_token_revoked",
    "rate_limited": "rate_limit_exceeded",
    "schema_invalid": "input_validation_fail",
    "bot_detected": "malicious_bot",
    "cors_rejected": "authz_fail",
    "function_not_allowed": "authz_fail",
}
Decision = Literal["allow", "deny", "error"]
_GENESIS: Final = GENESIS
#: seconds :meth:`AuditTrail.stop` gives the sink to take what is queued (not ``Final``: tests change it)
STOP_WAIT = 5.0
#: the last trail of each destination that served in this process: one a reload adds back after
#: another reload removed it (or sent it elsewhere) continues that chain (:func:`last_trail`). One
#: entry per destination a configuration named, once its trail has ended a small object (queue empty)
_LAST: dict[str, AuditTrail] = {}


def last_trail(destination: str) -> AuditTrail | None:
    """The last trail to ``destination`` ("": none) that served in this process: started at boot, or
    swapped in by a reload (:meth:`AuditTrail.serves`); its stop is sure to come, with its gateway's."""
    return _LAST.get(destination) if destination else None


class AuditScope:
    """The audit state of one request: its pending allow records and whether allows are kept."""

    __slots__ = ("fingerprint", "keep_allows", "pending", "route", "route_id", "user_agent")

    def __init__(
        self, route: str | None, route_id: str, keep_allows: bool, fingerprint: str | None, user_agent: str = ""
    ) -> None:
        self.route = route
        self.route_id = route_id
        self.keep_allows = keep_allows
        self.fingerprint = fingerprint
        #: the client's User-Agent, read as the request enters the endpoint layer: the input filters
        #: below replace the request's headers with the backend-bound ones (the gateway's own agent)
        self.user_agent = user_agent
        self.pending: list[tuple[str, Decision, str, str, bool]] = []


def audit_decision(
    context: dict[str, Any],
    *,
    policy: str,
    decision: Decision = "allow",
    reason: str = "allowed",
    detail: str = "",
    enforced: bool = True,
) -> None:
    """Report a decision that did not end the request (see the module docstring)."""
    scope: AuditScope | None = context.get(AUDIT)
    if scope is not None and (scope.keep_allows or decision != "allow"):
        scope.pending.append((policy, decision, reason, detail, enforced))


class AuditTrail:
    """Builds, chains and ships records for one gateway."""

    def __init__(
        self,
        sink: AuditSink,
        *,
        service: str,
        config_hash: str,
        queue_size: int = 10_000,
        prev_hash: str | None = None,
        fingerprint_key: bytes = b"",
        block: bool = False,
        destination: str = "",
        anchor_interval: float = 0.0,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.sink = sink
        #: where the records go (``file:/abs/path``, ``http:URL``...; "" for none known): a reload's
        #: trail to the same destination continues this one's chain (:meth:`follow`)
        self.destination = destination
        #: the trail this one continues once it has ended (a reload), until this one takes its state
        self._after: AuditTrail | None = None
        #: ``anchor_interval``: the trail's head written to the application log (None: not configured)
        #: with the operator's key only, its anchors carry a MAC (a random key's could not be checked);
        #: ``redact`` (the application log's masking) masks their destination and instance, and the
        #: line is written as it is (:func:`~krakenpy.telemetry.auditanchor.anchor_message`)
        self._anchors = (
            Anchoring(anchor_interval, destination, anchor_key(fingerprint_key), redact)
            if anchor_interval > 0
            else None
        )
        #: ``seq`` of the last record of :attr:`_batch` (its head once the sink took it)
        self._batch_seq = 0
        #: set when :meth:`stop` is over: a following trail's records may go after this one's
        self._ended = asyncio.Event()
        #: ``on_failure: "block"``: while the queue is full, audited requests are refused (503)
        #: rather than served with no record (:meth:`refuses`)
        self.block = block
        #: requests refused so (``krakenpy_audit_requests_refused_total``)
        self.refused = 0
        self._last_refusal_log = -float("inf")
        self.service = service
        self.instance = _instance()
        self.config_hash = config_hash
        self.queue: deque[dict[str, Any]] = deque()
        self.queue_size = queue_size
        self.seq = 0
        self.dropped = 0
        self.written = 0
        self._prev = prev_hash or _GENESIS
        self._wake = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None
        self._last_drop_log = -float("inf")  # the first drop is logged, even just after boot
        #: the sink failed the last batch: an outage is said once, and once when it takes records again
        self._failing = False
        #: the sink's writer says when it takes lines again, with this trail's figure (standard output)
        self._writer_says_again = False
        #: the serialised records the sink is taking (kept until it has: a cancelled write is retried)
        self._batch: list[bytes] = []
        # README: without fingerprint_key_env the key is random per process (an empty key would make
        # the fingerprint a plain hash, open to a dictionary attack on weak credentials)
        # the same process key as auth/api-keys' key_id when neither has one of its own
        self._key = fingerprint_key or process_key()

    def follow(self, old: AuditTrail) -> None:
        """A hot reload swapped this trail in for ``old``: with the same destination, this trail
        continues ``old``'s chain (its next ``seq``, its last hash) and writes nothing before ``old``
        has written what it had queued; with another destination it starts a chain of its own."""
        if self.destination and old.destination == self.destination and old is not self:
            self._after = old

    async def _continue(self) -> None:
        """Wait for the trail this one follows to end, then take its sequence and last hash (the
        records queued meanwhile counted from 1: renumbered after its last ``seq``, gaps kept)."""
        old = self._after
        if old is None:
            return
        await old._ended.wait()
        await old._continue()  # it ended before it took its own predecessor's state (a cut stop)
        if self._after is not old:  # taken meanwhile
            return
        self._after = None
        for rec in self.queue:
            rec["seq"] += old.seq
        self.seq += old.seq
        self._prev = old._prev

    def refuses(self) -> bool:
        """Whether a request must be refused now (``on_failure: "block"`` and a full queue: its
        decision could not be recorded); counted, and logged at most every 10 s."""
        if len(self.queue) < self.queue_size:
            return False
        self.refused += 1
        now = time.monotonic()
        if now - self._last_refusal_log >= 10:
            self._last_refusal_log = now
            log.error("audit: queue full (the sink is not taking records): %d request(s) refused so far "
                      "(on_failure: block)", self.refused)  # fmt: skip
        return True

    def fingerprint(self, credential: str) -> str:
        """A keyed, truncated fingerprint of a credential (correlation without the secret), over the
        bytes the client sent (a header's bytes that are not UTF-8 arrive as surrogate escapes)."""
        return fingerprint(self._key, credential.encode("utf-8", "surrogateescape"))

    def record(
        self,
        *,
        decision: Decision,
        reason: str,
        policy: str,
        route_id: str,
        detail: str = "",
        enforced: bool = True,
        status: int,
        request: dict[str, Any],
        client: dict[str, Any],
        subject: dict[str, Any] | None,
        trace_id: str | None = None,
        span_id: str | None = None,
    ) -> None:
        """Queue one record (never blocks; dropped and counted when the queue is full)."""
        self.seq += 1
        if len(self.queue) >= self.queue_size:
            self.dropped += 1
            now = time.monotonic()
            if now - self._last_drop_log >= 10:
                self._last_drop_log = now
                log.error("audit: queue full, %d record(s) dropped so far (seq %d)", self.dropped, self.seq)
            return
        wall = time.time()
        rec: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + f".{int(wall * 1e6) % 1_000_000:06d}Z",
            "seq": self.seq,
            "event": EVENTS.get(reason, "authz_fail" if decision != "allow" else "authz_success"),
            "decision": decision,
            "reason": reason if reason in REASONS else "policy_error",
            "enforced": enforced,
            "policy": {"id": f"{route_id}#{policy}", "type": policy, "config_hash": self.config_hash},
            "subject": subject,
            "client": client,
            "request": request,
            "response": {"status": status},
            "service": self.service,
            "instance": self.instance,
        }
        if detail:
            rec["reason_detail"] = detail
        if trace_id:
            rec["trace_id"] = trace_id
            rec["span_id"] = span_id
        self.queue.append(rec)
        self._wake.set()

    async def start(self) -> None:
        # in the serving process: with ``run -w N`` every worker keeps its own sequence and chain
        # (in one file, interleaved), told apart by its slot: host-a/w2 (verify_trail checks them)
        self.instance = _instance()
        self.serves()
        if isinstance(self.sink, StreamSink):
            self._writer_says_again = self.sink.say_again(self._again)
        self._task = spawn(self._run())

    def _again(self) -> str:
        """This trail's figure on its shared writer's "writing again" line, which says the end of the
        trail's outage too (one line, not one of each); "" when the trail lost nothing in it."""
        if not self._failing:
            return ""
        self._failing = False
        return f"audit: {self.dropped} record(s) dropped so far"

    def serves(self) -> None:
        """This trail's gateway serves (started, or swapped in by a reload): the last trail to its
        destination. Never one only built (``check``, a reload that failed): nothing would stop it, and
        a trail following it would wait for ever."""
        if self.destination:
            _LAST[self.destination] = self

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.drain()

    async def drain(self) -> None:
        """Chain, serialise and write everything queued. A batch the sink has not taken when the
        drain is cancelled (shutdown while a collector is slow) stays for the next drain. A trail
        that follows another (a reload) first waits for that one to end."""
        if self._after is not None:
            await self._continue()
        while self._batch or self.queue:
            lines = self._batch
            if not lines:
                while self.queue and len(lines) < 512:
                    rec = self.queue.popleft()
                    rec["prev_hash"] = self._prev
                    try:
                        canonical = orjson.dumps(rec, option=orjson.OPT_SORT_KEYS)
                    except orjson.JSONEncodeError:  # a client's bytes that are not UTF-8: U+FFFD, then chained
                        rec = valid_text(rec)
                        canonical = orjson.dumps(rec, option=orjson.OPT_SORT_KEYS)
                    digest = hashlib.sha256(self._prev.encode() + canonical).hexdigest()
                    rec["hash"] = digest
                    self._prev = digest
                    self._batch_seq = rec["seq"]
                    lines.append(orjson.dumps(rec) + b"\n")
            try:
                await self.sink.write(lines)
            except Exception as exc:  # a full disk, a bug: these records are lost, the trail goes on
                lost = exc.lost if isinstance(exc, SinkError) else len(lines)
                self.dropped += lost
                self.written += len(lines) - lost
                if not self._failing:  # once an outage (the count at its end, and at the stop)
                    self._failing = True
                    log.error("audit: %d record(s) not written (%d dropped so far): %s; records are dropped "
                              "(counted) until the sink takes them", lost, self.dropped, exc)  # fmt: skip
            else:
                self.written += len(lines)
                if self._anchors is not None:  # a batch taken whole: its last record is the head
                    self._anchors.written(self.instance, self._batch_seq, self._prev)
                if self._failing:  # else said by the writer's own line (standard output's)
                    self._failing = False
                    if not self._writer_says_again:
                        log.warning("audit: the sink takes records again (%d dropped so far)", self.dropped)
            self._batch = []

    async def stop(self) -> None:
        try:
            await cancel_and_wait(self._task)
            self._task = None
            # a reload's trail that follows one still closing (its requests still running) waits for it
            # first, beyond STOP_WAIT: that one's stop is bounded, and these records go after its own
            await self._continue()
            try:
                await asyncio.wait_for(self.drain(), STOP_WAIT)
            except TimeoutError:
                # the batch the sink was still taking (a hanging collector) is lost with what waited behind it
                lost = len(self.queue) + len(self._batch)
                self.dropped += lost
                self.queue.clear()
                self._batch = []
                log.error("audit: %d record(s) not written at shutdown", lost)
            await self.sink.close()
            if self._anchors is not None:
                self._anchors.stop()
            if self.dropped:
                log.error("audit: %d record(s) dropped in total", self.dropped)
        finally:
            self._ended.set()


def _instance() -> str:
    """The host, and the worker's slot when a supervisor runs several (``host-a/w2``)."""
    from krakenpy.telemetry.instance import worker_tag

    slot = worker_tag().get("worker")
    host = socket.gethostname()
    return f"{host}/w{slot}" if slot else host


def verify_chain(lines: list[bytes], prev_hash: str = _GENESIS) -> bool:
    """True when every record's ``prev_hash``/``hash`` continue the chain (for tests and tools): the
    records of one process (:func:`verify_trail` checks a file several wrote).

    Each line must be byte for byte as the trail wrote it (its trailing newline aside): a line that
    parses to the chained record but reads otherwise (a duplicate key, which another JSON reader
    takes first, added spaces) is a tampered one. A line that is no record is ``False`` too."""
    prev = prev_hash
    for line in lines:
        rec, _ = chained(line)
        if rec is None or rec["prev_hash"] != prev:
            return False
        prev = rec["hash"]
    return True


def verify_trail(lines: list[bytes], prev_hash: str = _GENESIS) -> bool:
    """:func:`verify_chain` for a file several processes appended to: the workers of ``run -w N``
    (each its own ``instance``, sequence and chain) and the runs before a restart; the rules, the
    reason of a break and its line: :func:`krakenpy.telemetry.trailcheck.check_trail`
    (``krakenpy verify-trail``)."""
    return check_trail(lines, prev_hash).ok
