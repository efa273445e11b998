"""The assembly (krakend-ce's ``executor.go``): a configuration → parsed components → one compiled
gateway. The only module that puts the core and the components together: the core (``proxy/``,
``server/``, ``backends/``, ``config/``) receives built middlewares and never imports a component.

For every endpoint, outermost first::

    edge (service)  →  dispatch  →  endpoint layer (service-level values, then the endpoint's)
        →  input filters  →  proxy layer  →  proxy core (shadow, static, flatmap, merge)
        →  per backend: concurrent → request builder → backend layer → deadline
        →  executor (a component's, else HTTP over the client layer)
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from krakenpy.backends import backend_formatter, build_backend
from krakenpy.backends.client import AiohttpClient, ClientOptions, UpstreamCall, UpstreamClient, refusals_without
from krakenpy.backends.fastclient import FastClient
from krakenpy.backends.http import http_backend
from krakenpy.backends.proxies import Proxy as HttpProxy
from krakenpy.backends.proxies import from_environment, parse_proxy
from krakenpy.components import registry
from krakenpy.components.base import Component, Layer, Site
from krakenpy.config import LoadedConfig, load_service
from krakenpy.config.ignored import ignored_issues
from krakenpy.config.keypath import within
from krakenpy.config.model import AgentConfig, BackendConfig, EndpointConfig, ServiceConfig
from krakenpy.edge import EdgeHandler, EdgeMiddleware
from krakenpy.errors import BackendError, ConfigError, ConfigIssue
from krakenpy.proxy.dynamic import dynamic_routing_middleware
from krakenpy.proxy.factory import build_endpoint_proxy
from krakenpy.proxy.types import Middleware, Proxy, forget_strong_marks
from krakenpy.resources import Resources
from krakenpy.sd import MODES as SD_MODES
from krakenpy.server.app import build_dispatch
from krakenpy.server.handler import EndpointHandler, make_handler
from krakenpy.telemetry.layers.backend import executor_forward
from krakenpy.telemetry.layers.edge import debug_logger
from krakenpy.telemetry.setup import continue_trail, decide_client_timing, hub_for, pattern_secrets

if TYPE_CHECKING:
    from krakenpy.server.adapter import AiohttpHandler

__all__ = ["Gateway", "Loaded", "Parsed", "build_gateway", "ignored_fields", "load", "parse_components"]

#: owner JSON path ("" = service) → namespace → parsed options
Parsed = dict[str, dict[str, object]]
_AnyComponent = Component[Any]


@dataclass(frozen=True, slots=True)
class Loaded:
    """A configuration read, validated, built and with every component's options parsed."""

    service: ServiceConfig
    parsed: Parsed
    warnings: tuple[ConfigIssue, ...]
    #: JSON paths of access-control namespaces krakenpy does not implement (``run`` refuses them)
    enforcing: tuple[str, ...] = ()
    #: every error found, when :func:`load` was asked to go on past them (``check``)
    errors: tuple[ConfigIssue, ...] = ()


def _owned(extra: Any, site: Site, *, core: bool = False) -> Iterator[tuple[_AnyComponent, Site, Any]]:
    """(component, site, raw value) for each registered namespace of one ``extra_config`` read at
    ``site``'s level; the core's own (parsed by the model) only with ``core``."""
    for namespace, raw in extra.items():
        try:
            component = registry.component(namespace)  # its module is imported here: a config uses it
        except KeyError:
            continue  # unknown (a warning already)
        if (component.core and not core) or site.level not in component.levels:
            continue  # core (parsed by the model) or not read here (a warning already)
        prefix = f"{site.path}.extra_config" if site.path else "extra_config"
        yield component, Site(site.level, f"{prefix}.{namespace}", site.service, site.endpoint, site.backend), raw


def _endpoint_sites(
    service: ServiceConfig, endpoint: EndpointConfig, *, core: bool = False
) -> Iterator[tuple[_AnyComponent, Site, Any]]:
    yield from _owned(endpoint.extra_config, Site("endpoint", endpoint.path, service, endpoint), core=core)
    for backend in endpoint.backends:
        site = Site("backend", backend.path, service, endpoint, backend)
        yield from _owned(backend.extra_config, site, core=core)


def _sites(service: ServiceConfig, *, core: bool = False) -> Iterator[tuple[_AnyComponent, Site, Any]]:
    """(component, site, raw value) for every registered namespace at a level it is read at; the
    core's own (parsed by the model) only with ``core``."""
    yield from _owned(service.extra_config, Site("service", "", service), core=core)
    for endpoint in service.endpoints:
        yield from _endpoint_sites(service, endpoint, core=core)
    for agent in service.agents:
        yield from _owned(agent.extra_config, Site("agent", agent.path, service, agent.endpoint), core=core)
        for backend in agent.endpoint.backends:
            site = Site("backend", backend.path, service, agent.endpoint, backend)
            yield from _owned(backend.extra_config, site, core=core)


def parse_components(
    service: ServiceConfig, *, failed: Collection[str] = (), advice: list[ConfigIssue] | None = None
) -> tuple[Parsed, list[ConfigIssue]]:
    """Run every component's pure ``parse``; returns the options and every issue found: errors, and
    the warnings a parse left on its site (``Site.notes``) for a value that runs degraded. The
    warnings ``--lint`` leaves as warnings (``Site.advice``) go to ``advice`` when given.

    Options that carry ``workflows`` (endpoint-shaped objects of their own: ``ai/mcp`` tools) have
    the components of those parsed too, under the workflows' JSON paths.

    ``failed``: the JSON paths the schema already refused (``check`` going on past them). A namespace
    block at, under or over one is left unparsed (its error is said; its input may be of a type the
    parse does not expect), and any other parse that fails unexpectedly is skipped the same way, with
    a warning at its path that it was not checked (without ``failed`` such a failure is raised)."""
    parsed: Parsed = {}
    issues: list[ConfigIssue] = []
    pending = deque(_sites(service))
    while pending:
        component, site, raw = pending.popleft()
        if failed and _blamed(site.path, failed):
            continue
        try:
            options = component.parse(raw, site)
        except ConfigError as exc:
            # a parse that raised has no options: whatever it says is an error, or the namespace
            # would be skipped (an auth guard failing open)
            issues.extend(replace(i, severity="error") for i in exc.issues)
            continue
        except (ValueError, TypeError) as exc:
            issues.append(ConfigIssue(site.path, str(exc)))
            continue
        except Exception as exc:
            if not failed:
                raise
            # most likely a consequence of an error already said, but the block went unchecked: said,
            # as a warning --lint leaves a warning (the file's errors are what to fix)
            (issues if advice is None else advice).append(ConfigIssue(site.path, _unchecked(exc), "warning"))
            continue
        issues.extend(site.notes)
        if advice is not None:
            advice.extend(site.advice)
        parsed.setdefault(site.owner, {})[component.namespace] = options
        for workflow in getattr(options, "workflows", ()):
            pending.extend(_endpoint_sites(service, workflow))
    return parsed, issues


def _unchecked(exc: Exception) -> str:
    name = type(exc).__name__
    return f"not checked further: reading it failed past the file's errors ({name}); check again once they are fixed"


def _blamed(path: str, failed: Collection[str]) -> bool:
    """Whether an error at one of ``failed`` lies at, inside or around the block at ``path``."""
    return any(within(f, path) or within(path, f) for f in failed)


def _errors(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return [i for i in issues if i.severity == "error"]


def ignored_fields(service: ServiceConfig) -> list[ConfigIssue]:
    """A warning per field a component accepts and does not act on (``Component.ignored``)."""
    issues: list[ConfigIssue] = []
    for component, site, raw in _sites(service, core=True):
        if component.ignored:
            issues.extend(ignored_issues(raw, site.path, component.ignored))
    return issues


def _own_hosts(service: ServiceConfig, endpoint: EndpointConfig, backend: BackendConfig) -> bool:
    """Whether the backend object writes a ``host`` of its own (else it took the service's)."""
    try:
        return bool(service.raw["endpoints"][endpoint.index]["backend"][backend.index].get("host"))
    except (KeyError, IndexError, TypeError, AttributeError):
        return True


def _host_refused(path: str, failed: Collection[str]) -> bool:
    """Whether an error names the hosts of the backend at ``path``: its own ``host``, or the
    service's it inherits (``check`` goes on with the refused hosts left out, not missing)."""
    return bool(failed) and (_blamed(f"{path}.host", failed) or _blamed("host", failed))


def _serviceable(service: ServiceConfig, parsed: Parsed, failed: Collection[str] = ()) -> list[ConfigIssue]:
    """Warnings the schema and the model cannot see: values KrakenD starts with and then fails every
    request of (``check --lint`` makes them errors). ``failed``: paths an error names already (a
    backend whose executor block the schema refused, or whose hosts the model refused, is not said
    to lack a host as well)."""
    executors = set(registry.EXECUTOR)

    def refused(path: str, extra: Mapping[str, Any], namespaces: set[str]) -> bool:
        return bool(failed) and any(_blamed(f"{path}.extra_config.{n}", failed) for n in namespaces & set(extra))

    issues: list[ConfigIssue] = []
    for endpoint in service.endpoints:
        for backend in endpoint.backends:
            proxy = parse_proxy(backend.http_client.proxy_address) if backend.http_client.proxy_address else None
            if proxy is not None and proxy.error:
                where = f"{backend.path}.extra_config.backend/http/client.proxy_address"
                issues.append(ConfigIssue(where, f"{proxy.error}: every call fails (500)", "warning"))
            owned = parsed.get(backend.path, {})
            answering = executors & set(owned)
            if getattr(owned.get("plugin/http-client"), "static", True) is None:
                answering.discard("plugin/http-client")  # no-redirect, wildcard: the HTTP call still needs a host
            if not backend.hosts and not answering:
                if refused(backend.path, backend.extra_config, executors) or _host_refused(backend.path, failed):
                    continue
                message = "no host here nor in the service's host: every call fails (500, 'no hosts available')"
                issues.append(ConfigIssue(f"{backend.path}.host", message, "warning"))
            elif backend.sd in SD_MODES and backend.hosts and ("/" in backend.hosts[0] or ":" in backend.hosts[0]):
                message = (
                    f"with sd {backend.sd!r} the first host names SRV records (a DNS name, no scheme, port or "
                    f"path): {backend.hosts[0]!r} never resolves, every call fails (500, 'no hosts available')"
                )
                where = f"{backend.path}.host[0]" if _own_hosts(service, endpoint, backend) else "host[0]"
                issues.append(ConfigIssue(where, message, "warning"))
    for agent in service.agents:
        if not set(registry.AGENT) & set(parsed.get(agent.path, {})) and not refused(
            agent.path, agent.extra_config, set(registry.AGENT)
        ):
            # KrakenD's drivers find no configuration of theirs, and lura starts nothing (silently)
            message = f"the async agent {agent.name!r} declares no driver (async/amqp): it is not started"
            issues.append(ConfigIssue(f"{agent.path}.extra_config", message, "warning"))
    return issues


def load(path: str | os.PathLike[str], *, lint: bool = False, use_env: bool = True, keep_going: bool = False) -> Loaded:
    """Read, validate and parse a configuration file; raises :class:`ConfigError` with every error.
    With ``lint``, the warnings of values that run degraded (no host, no JWK source ...) are errors.
    With ``keep_going`` (``check``), the errors are returned on :attr:`Loaded.errors` instead (the
    schema's and the components' together), with the options of every block that parsed."""
    loaded: LoadedConfig = load_service(
        path, catalog=registry.catalog(), lint=lint, use_env=use_env, keep_going=keep_going
    )
    advice: list[ConfigIssue] = []
    failed = {i.path for i in loaded.errors}
    parsed, issues = parse_components(loaded.service, failed=failed, advice=advice)
    issues.extend(_serviceable(loaded.service, parsed, failed))
    degraded = [i for i in issues if i.severity == "warning"]
    if lint:
        issues = [replace(i, severity="error") for i in issues]
    # with ``lint`` the degraded values are errors, not also warnings; the rest (fields without effect,
    # the advice --lint leaves as warnings) are still said above the errors
    warnings = (*loaded.warnings, *(() if lint else degraded), *advice, *ignored_fields(loaded.service))
    errors = [*loaded.errors, *(issues if lint else _errors(issues))]
    if errors and not keep_going:
        raise ConfigError(errors, loaded.service.source, warnings)
    return Loaded(loaded.service, parsed, warnings, loaded.enforcing, tuple(errors))


@dataclass
class Gateway:
    """The compiled gateway: :attr:`edge` (krakenpy's own types) and :attr:`handler` (on aiohttp)."""

    edge: EdgeHandler
    resources: Resources
    endpoints: int

    @cached_property
    def handler(self) -> AiohttpHandler:
        """The edge on aiohttp's low-level server (embedding, tests), made on first use: ``krakenpy
        run`` serves :attr:`edge` on its own server and never imports aiohttp's web layer (P7)."""
        from krakenpy.server.adapter import aiohttp_handler

        return aiohttp_handler(self.edge)

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the components found while building (a missing static folder...), path first."""
        return tuple(self.resources.warnings)

    @property
    def telemetry_listeners(self) -> bool:
        """Whether :meth:`listen` has listeners to bind (``/__stats``, Prometheus exporters)."""
        return bool(self.resources.one_worker)

    async def listen(self) -> None:
        """Bind the telemetry listeners (one worker of ``run`` only), before the gateway's own port
        accepts: a scrape right after the first answer finds them. A port that cannot be bound is
        logged and the gateway serves on, as KrakenD does."""
        hooks, self.resources.one_worker = self.resources.one_worker, []
        for hook in hooks:
            await hook()

    async def start(self, *, agents: bool = True) -> None:
        """Start what runs beside the requests (exporters...): once, when serving; and the telemetry
        listeners not bound by :meth:`listen` yet and the async agents unless ``agents`` is False (the
        workers but one of ``run``)."""
        if agents:  # the telemetry listeners first: an agent's start may wait (sequential_start)
            await self.listen()
        hooks, self.resources.on_serve = self.resources.on_serve, []
        if agents:
            hooks += self.resources.agents
        self.resources.one_worker, self.resources.agents = [], []
        for hook in hooks:
            await hook()

    def swapped(self, old: object = None) -> None:
        """A reload's server answers every new request with this gateway from now on, instead of
        ``old`` (the gateway it replaces: its audit trail's chain goes on in this one's)."""
        for hook in self.resources.on_swap:
            hook()
        if isinstance(old, Gateway):
            continue_trail(old.resources, self.resources)

    def take_listeners(self, old: object) -> None:
        """Take over the telemetry listeners ``old`` (the gateway this one replaces) has bound, before
        it closes: a reload keeps their ports bound (:func:`krakenpy.telemetry.servers.hand_over`)."""
        # no listener was ever made unless the module was imported (it imports aiohttp's web layer, which
        # `krakenpy run` otherwise never loads: P7)
        if "krakenpy.telemetry.servers" in sys.modules and isinstance(old, Gateway):
            from krakenpy.telemetry.servers import hand_over

            hand_over(old.resources.state, self.resources.state)

    async def close(self) -> None:
        await self.resources.stack.aclose()


def _client_options(service: ServiceConfig) -> ClientOptions:
    return ClientOptions(
        limit_per_host=service.max_idle_connections_per_host,
        limit=service.max_idle_connections,
        keepalive_timeout=service.idle_connection_timeout or 90.0,
        connect_timeout=service.dialer_timeout or None,
        response_header_timeout=service.response_header_timeout or None,
        disable_keep_alives=service.disable_keep_alives,
    )


def _upstream_client(service: ServiceConfig) -> UpstreamClient:
    # "fast" (default) or "aiohttp" (ClientSession for every call)
    fast = os.environ.get("KRAKENPY_HTTP_CLIENT", "fast") != "aiohttp"
    return (FastClient if fast else AiohttpClient)(_client_options(service))


async def build_gateway(
    service: ServiceConfig,
    *,
    parsed: Parsed | None = None,
    debug: bool = False,
    client: UpstreamClient | None = None,
    base_dir: Path | None = None,
    serving: bool = True,
) -> Gateway:
    """Compile ``service``: build every component once and wire the layers. Raises
    :class:`ConfigError` with every component error found (Lua sources, Lambda options...).
    ``serving=False`` (``check``) builds without the side effects of serving (listeners...)."""
    if parsed is None:
        parsed, issues = parse_components(service)
        if _errors(issues):
            raise ConfigError(_errors(issues), service.source)
    stack = AsyncExitStack()
    http = client or _upstream_client(service)
    stack.push_async_callback(http.close)
    resources = Resources(
        service=service, http=http, stack=stack, base_dir=base_dir or Path.cwd(), parsed=parsed, serving=serving
    )
    try:
        return await _Assembly(service, resources).build(debug)
    except BaseException:
        await stack.aclose()
        raise
    finally:
        forget_strong_marks()  # asked for while building only


async def _no_hosts(*_args: Any, **_kwargs: Any) -> Any:
    """The upstream call of an HTTP backend without a host anywhere: KrakenD starts and fails every
    call the same way (``check`` warns)."""
    raise BackendError("no hosts available", name="NoHosts")


class _Assembly:
    """Builds the layers of one gateway, collecting component errors instead of stopping at the first."""

    def __init__(self, service: ServiceConfig, resources: Resources) -> None:
        self.service = service
        self.resources = resources
        self.parsed = resources.parsed
        self.issues: list[ConfigIssue] = []
        #: the namespaces set anywhere: an ALWAYS component absent from all of them builds nothing
        self.present = {namespace for values in self.parsed.values() for namespace in values}
        #: HTTP(S)_PROXY / NO_PROXY, read once (None: no proxy variable, every call stays direct)
        self.proxies = from_environment()
        for name, proxy in (
            ("HTTP_PROXY", self.proxies and self.proxies.http),
            ("HTTPS_PROXY", self.proxies and self.proxies.https),
        ):
            if proxy and proxy.error:  # the value is never repeated: it may hold credentials
                resources.warnings.append(f"{name}: {proxy.error}: the calls it would carry fail (500)")
        #: the clients of proxied backends: aiohttp's (the fast client speaks no proxy protocol), one
        #: for the environment's proxies ("") and one per proxy_address
        self.proxied: dict[str, UpstreamClient] = {}

    async def build(self, debug: bool) -> Gateway:
        service = self.service
        try:  # before any builder: the proxying clients and the OAuth2 token fetch read it
            decide_client_timing(self.resources)
        except ConfigError as exc:  # reported here once; the builders then get an inert hub
            self.issues.extend(exc.issues)
        router_layer = await self._layer("endpoint", Site("service", "", service))
        routes: list[tuple[EndpointConfig, EndpointHandler]] = []
        self.resources.workflow = self.workflow
        for endpoint in service.endpoints:
            handler = await self._endpoint(endpoint, router_layer)
            if handler is not None:
                routes.append((endpoint, handler))
        for agent in service.agents:
            await self._agent(agent)
        edge = await self._edge()
        if self.issues:
            # the warnings found so far go with the errors (``check`` prints them above)
            said = tuple(ConfigIssue("", w, "warning") for w in self.resources.warnings)
            raise ConfigError(self.issues, service.source, said)
        handler_edge = build_dispatch(service, routes, debug=debug, debug_log=debug_logger(hub_for(self.resources)))
        for middleware in reversed(edge):
            handler_edge = middleware(handler_edge)
        return Gateway(handler_edge, self.resources, len(service.endpoints))

    async def _build(self, component: _AnyComponent, layer: Layer, options: object, site: Site) -> Any:
        build = component.builder(layer)
        assert build is not None
        try:
            return await build(options, site, self.resources)
        except ConfigError as exc:
            self.issues.extend(exc.issues)
        except (ValueError, TypeError, OSError) as exc:
            self.issues.append(ConfigIssue(site.path, str(exc)))
        return None

    def _always(self, namespace: str) -> bool:
        """Built where the namespace is absent: on by default, or set somewhere else (the service)."""
        return namespace in registry.DEFAULT_ON or (namespace in registry.ALWAYS and namespace in self.present)

    async def _layer(self, layer: Layer, owner: Site) -> list[Any]:
        """The built middlewares of one layer for the object at ``owner``, in registry order."""
        values = self.parsed.get(owner.path, {})
        built: list[Any] = []
        for namespace in registry.LAYER_ORDER[layer]:
            if namespace not in values and not self._always(namespace):
                continue
            component = registry.component(namespace)
            prefix = f"{owner.path}.extra_config" if owner.path else "extra_config"
            site = Site(owner.level, f"{prefix}.{component.namespace}", owner.service, owner.endpoint, owner.backend)
            middleware = await self._build(component, layer, values.get(component.namespace), site)
            if middleware is not None:
                built.append(middleware)
        return built

    async def _edge(self) -> list[EdgeMiddleware]:
        service = self.service
        built: list[EdgeMiddleware] = []
        for namespace in registry.EDGE:
            if namespace not in self.present and namespace not in registry.DEFAULT_ON:
                continue
            component = registry.component(namespace)
            site = Site("service", f"extra_config.{namespace}", service)
            middleware = await self._build(component, "edge", self.parsed.get("", {}).get(namespace), site)
            if middleware is not None:
                built.append(middleware)
        return built

    async def _endpoint(self, endpoint: EndpointConfig, router_layer: list[Middleware]) -> EndpointHandler | None:
        service = self.service
        errors_before = len(self.issues)
        backends: list[Proxy] = []
        for backend in endpoint.backends:
            backends.append(await self._backend(endpoint, backend))
        site = Site("endpoint", endpoint.path, service, endpoint)
        proxy_layer: list[Middleware] = await self._layer("proxy", site)
        endpoint_layer: list[Middleware] = await self._layer("endpoint", site)
        if len(self.issues) > errors_before:
            return None
        try:
            proxy = build_endpoint_proxy(endpoint, backends, proxy_layer)
        except ConfigError as exc:
            self.issues.extend(exc.issues)
            return None
        # dynamic routing reads the client's headers and query before the input filters, innermost so
        # the guards (and a Lua endpoint script) have run
        dynamic = dynamic_routing_middleware(endpoint)
        return make_handler(endpoint, proxy, service.router, [*router_layer, *endpoint_layer, dynamic])

    async def workflow(self, endpoint: EndpointConfig) -> Proxy | None:
        """The proxy of an endpoint-shaped object that has no route of its own (an ``ai/mcp`` tool's
        workflow): its backends and proxy layer as for any endpoint; ``None`` when it has errors
        (collected with the others)."""
        errors_before = len(self.issues)
        backends = [await self._backend(endpoint, backend) for backend in endpoint.backends]
        proxy_layer: list[Middleware] = await self._layer(
            "proxy", Site("endpoint", endpoint.path, self.service, endpoint)
        )
        if len(self.issues) > errors_before:
            return None
        try:
            return build_endpoint_proxy(endpoint, backends, proxy_layer)
        except ConfigError as exc:
            self.issues.extend(exc.issues)
            return None

    async def _agent(self, agent: AgentConfig) -> None:
        """Build an async agent's pipe and driver; it starts once the gateway serves (lura builds the
        pipe with the endpoints' factory: the same backends, encodings and merge)."""
        site = Site("agent", agent.path, self.service, agent.endpoint)
        drivers = await self._layer("agent", site)
        if not drivers:  # no driver: not started (load warned about it)
            return
        errors_before = len(self.issues)
        backends = [await self._backend(agent.endpoint, backend) for backend in agent.endpoint.backends]
        if len(self.issues) > errors_before:
            return
        try:
            proxy = build_endpoint_proxy(agent.endpoint, backends)
        except ConfigError as exc:
            self.issues.extend(exc.issues)
            return
        from krakenpy.asyncagent.runner import agent_starter  # here: a configuration with agents

        namespace = next(n for n in registry.AGENT if n in self.parsed.get(agent.path, {}))
        kind = namespace.rpartition("/")[2].upper()
        self.resources.agents.append(
            agent_starter(agent, proxy, drivers[0], kind, self.resources, sequential=self.service.sequential_start)
        )

    def _client(self, backend: BackendConfig) -> UpstreamClient:
        """The gateway's client, or a proxying one when the backend's calls may go through a proxy
        (``proxy_address``; the environment's proxy for one of its hosts, or hosts known per call)."""
        fixed = backend.http_client.proxy_address
        if fixed:
            proxy = parse_proxy(fixed)
            return self._proxying(fixed, lambda url: proxy)
        proxies = self.proxies
        if proxies is None:
            return self.resources.http
        per_call = bool(backend.host_keys) or backend.sd in SD_MODES
        if not per_call and not any(proxies.for_url(host) for host in backend.hosts):
            return self.resources.http
        return self._proxying("", proxies.for_url)

    def _proxying(self, key: str, choose: Callable[[str], HttpProxy | None]) -> UpstreamClient:
        client = self.proxied.get(key)
        if client is None:
            client = self.proxied[key] = AiohttpClient(replace(_client_options(self.service), proxy=choose))
            if self.resources.client_timing:
                client.enable_timing()
            self.resources.stack.push_async_callback(client.close)
        return client

    async def _backend(self, endpoint: EndpointConfig, backend: BackendConfig) -> Proxy:
        site = Site("backend", backend.path, self.service, endpoint, backend)
        executors: list[Proxy] = await self._layer("executor", site)
        executor = executors[0] if executors else None
        if executor is None:
            http = self._client(backend)
            call: UpstreamCall = http.request if backend.hosts else _no_hosts
            if backend.http_client.no_redirect and backend.hosts:
                call = partial(http.request, follow_redirects=False)
            client_layer = await self._layer("client", site)
            for middleware in reversed(client_layer):
                call = middleware(call)
            # a key the url_pattern's query holds under a masked name, masked in a refusal quoting it
            redactor = hub_for(self.resources).redactor
            keys = pattern_secrets(redactor, backend.url_pattern)
            if keys and backend.hosts:
                call = refusals_without(call, tuple(k.encode() for k in keys), redactor.mask.encode())
            executor = http_backend(
                backend,
                call,
                backend_formatter(backend),
                disable_compression=self.service.disable_compression,
                # the bare fast client without timeouts of its own: a merge may step it without a task
                client_task_free=bool(backend.hosts)
                and not client_layer
                and not keys
                and getattr(http, "task_free", False),
                # the request id added to the call's headers here, where the telemetry layer leaves it
                forward_id=executor_forward(hub_for(self.resources), backend),
            )
        pick = None
        if backend.sd in SD_MODES and not executors:
            from krakenpy.sd.dnssrv import host_picker  # here: a backend with DNS SRV discovery

            pick = await host_picker(backend, self.resources)
        return build_backend(backend, executor, await self._layer("backend", site), pick)
