"""The registry keeps every namespace in one home: layering, path identity, schema placement, docs."""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from krakenpy.components import registry
from krakenpy.components.base import LAYERS, Component
from krakenpy.config.ignored import BACKEND_IGNORED, ROOT_IGNORED

ALL = registry.all_components()

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "krakenpy"
#: the core: what may never import a component, an engine (lua, lambda_...) or the assembly
CORE_PACKAGES = ("krakenpy.proxy", "krakenpy.server", "krakenpy.config", "krakenpy.backends")
CORE_MODULES = {
    "krakenpy",
    "krakenpy.compiled",
    "krakenpy.edge",
    "krakenpy.errors",
    "krakenpy.files",
    "krakenpy.fingerprint",  # keyed credential fingerprints (stdlib only): the runner draws its key before forking
    "krakenpy.flowcontrol",
    "krakenpy.gojson",
    "krakenpy.goquote",  # Go's quoting and the control-character escape (stdlib only): errors and logs share it
    "krakenpy.hostport",
    "krakenpy.jsonforms",  # a credential's JSON-escaped forms (stdlib and orjson): refusals and redaction share it
    "krakenpy.names",
    "krakenpy.state",
    "krakenpy.stdio",  # the standard streams as a process may have them (stdlib only)
    "krakenpy.resources",
    "krakenpy.tasks",
    "krakenpy.tlsfiles",  # client TLS contexts from named files: telemetry and jose share it
    "krakenpy.userinfo",  # the URL user-information rule (stdlib only): errors and telemetry share it
}
LEVEL_SCHEMAS = {"service": "krakend.json", "endpoint": "endpoint.json", "backend": "backend.json"}


def _is_core(module: str) -> bool:
    return module in CORE_MODULES or module.startswith(tuple(p + "." for p in CORE_PACKAGES)) or module in CORE_PACKAGES


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every krakenpy module ``path`` imports, anywhere in the file (TYPE_CHECKING blocks too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("krakenpy"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("krakenpy"):
            found.add(node.module)
    return found


def _stem(namespace: str) -> list[str]:
    """``qos/ratelimit/router`` → module path parts, ``-`` → ``_``, keywords get a trailing ``_``."""
    parts = [p.replace("-", "_") for p in namespace.split("/")]
    return [p + "_" if keyword.iskeyword(p) else p for p in parts]


def test_registry_core_imports_no_component_nor_engine() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        if not _is_core(module):
            continue
        offenders.extend(f"{module} imports {imported}" for imported in _imports(path) if not _is_core(imported))
    assert offenders == []


def test_registry_layer_tuples_match_builders() -> None:
    for layer in LAYERS:
        listed = [registry.component(n) for n in registry.LAYER_ORDER[layer]]
        assert len({c.namespace for c in listed}) == len(listed), f"{layer}: a component listed twice"
        assert all(c.builder(layer) is not None for c in listed), f"{layer}: listed without a builder"
        building = {c.namespace for c in ALL if c.builder(layer) is not None}
        assert building == {c.namespace for c in listed}, f"{layer}: a builder that is not listed"
    for namespace in registry.CORE:
        component = registry.component(namespace)
        assert component.core and component.layers == ()


def test_registry_always_matches_the_components() -> None:
    assert registry.ALWAYS == {c.namespace for c in ALL if c.always}
    assert registry.DEFAULT_ON <= registry.ALWAYS


@pytest.mark.parametrize("namespace", sorted(registry.ALWAYS - registry.DEFAULT_ON))
async def test_registry_always_component_builds_nothing_when_its_namespace_is_nowhere(namespace: str) -> None:
    """What lets the assembly skip (and not import) them for a configuration without the namespace."""
    from contextlib import AsyncExitStack

    from krakenpy.backends.client import AiohttpClient
    from krakenpy.components.base import Site
    from krakenpy.config.build import build_service
    from krakenpy.resources import Resources

    service = build_service(
        {"version": 3, "endpoints": [{"endpoint": "/a", "backend": [{"host": ["http://h"], "url_pattern": "/"}]}]}
    )
    endpoint = service.endpoints[0]
    backend = endpoint.backends[0]
    component = registry.component(namespace)
    async with AsyncExitStack() as stack:
        resources = Resources(service=service, http=AiohttpClient(), stack=stack)
        stack.push_async_callback(resources.http.close)
        sites = {
            "edge": Site("service", f"extra_config.{namespace}", service),
            "endpoint": Site("endpoint", f"{endpoint.path}.extra_config.{namespace}", service, endpoint),
            "proxy": Site("endpoint", f"{endpoint.path}.extra_config.{namespace}", service, endpoint),
            "backend": Site("backend", f"{backend.path}.extra_config.{namespace}", service, endpoint, backend),
            "client": Site("backend", f"{backend.path}.extra_config.{namespace}", service, endpoint, backend),
        }
        if "endpoint" in component.layers:  # also at the service site (the router layer)
            sites["router"] = Site("service", f"extra_config.{namespace}", service)
        for layer, site in sites.items():
            build = component.builder("endpoint" if layer == "router" else layer)  # type: ignore[arg-type]
            if build is not None:
                assert await build(None, site, resources) is None, layer


def test_registry_component_is_found_by_its_namespace() -> None:
    assert registry.module_name("backend/lambda") == "krakenpy.components.backend.lambda_"
    assert registry.module_name("qos/circuit-breaker") == "krakenpy.components.qos.circuit_breaker"
    assert registry.component("qos/circuit-breaker").namespace == "qos/circuit-breaker"
    with pytest.raises(KeyError):
        registry.component("qos/circuit-breakers")


def test_registry_catalog_imports_only_what_is_asked() -> None:
    """The config checks of a config without components import none: P7's start-up."""
    import subprocess
    import sys

    script = (
        "import sys; from krakenpy.components import registry; c = registry.catalog(); "
        "assert 'backend/lambda' in c.levels and 'nope' not in c.levels and len(set(c.levels)) > 40; "
        "assert 'nope' not in c.strict; "
        "print(sorted({registry.module_name(n) for n in registry.NAMESPACES} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_registry_namespaces_are_unique_and_described() -> None:
    namespaces = [c.namespace for c in ALL]
    assert len(set(namespaces)) == len(namespaces)
    for component in ALL:
        assert component.levels and component.levels <= {"service", "endpoint", "backend", "agent"}
        assert component.summary and "\n" not in component.summary
        assert component.core or component.layers, f"{component.namespace} acts in no layer"


@pytest.mark.parametrize("component", ALL, ids=lambda c: c.namespace)
def test_registry_path_identity(component: Component[object]) -> None:
    """namespace ↔ schema ↔ module (exporting COMPONENT) ↔ test module ↔ README row."""
    parts = _stem(component.namespace)
    module = PACKAGE / "components" / Path(*parts)
    module_file = module.with_suffix(".py") if module.with_suffix(".py").exists() else module / "__init__.py"
    assert module_file.exists(), f"no module for {component.namespace}"
    imported = __import__(_module_name(module_file), fromlist=["COMPONENT"])
    assert imported.COMPONENT is component
    assert (ROOT / "schemas" / f"{component.namespace}.json").exists()
    tests = ROOT / "tests" / "components" / Path(*parts[:-1]) / f"test_{parts[-1]}.py"
    assert tests.exists(), f"no tests at {tests.relative_to(ROOT)}"
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- components:start -->")[1].split("<!-- components:end -->")[0]
    assert table.count(f"| `{component.namespace}` |") == 1, "one README row"


@pytest.mark.parametrize("component", ALL, ids=lambda c: c.namespace)
def test_registry_schema_is_referenced_exactly_at_the_component_levels(component: Component[object]) -> None:
    for level, name in LEVEL_SCHEMAS.items():
        doc = orjson.loads((ROOT / "schemas" / name).read_bytes())
        entry = doc["properties"]["extra_config"].get("properties", {}).get(component.namespace)
        if level in component.levels:
            assert entry is not None, f"{component.namespace} missing from {name}"
            assert entry["$ref"] == f"{component.namespace}.json"
        else:
            assert entry is None, f"{component.namespace} is $ref'd in {name} but not read at {level} level"


def test_registry_readme_table_is_current() -> None:
    """The README's component table is generated: `python -m krakenpy.components.registry`."""
    assert registry.markdown_table() in (ROOT / "README.md").read_text()


def test_registry_catalog_is_derived() -> None:
    catalog = registry.catalog()
    assert set(catalog.levels) == {c.namespace for c in ALL}
    assert "backend/lambda" in catalog.strict and "router" not in catalog.strict


#: libraries only the configs that use a namespace may pay for (start-up time and memory: P7)
HEAVY = (
    *("aiobotocore", "botocore", "boto3", "lupa", "joserfc", "cryptography"),
    *("cel_expr_python", "jsonschema_rs", "bcrypt", "redis", "yaml", "grpc", "google", "aiormq", "pamqp", "maxminddb"),
)


def test_registry_import_loads_no_engine_library() -> None:
    """Importing the registry (what ``check`` and ``run`` always do) loads no optional engine:
    components import theirs inside ``parse``/``build``."""
    import subprocess
    import sys

    script = (
        "import sys; import krakenpy.gateway, krakenpy.cli; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


# schema ↔ component ↔ README ------------------------------------------------------------------

SCHEMAS = ROOT / "schemas"
#: core object schemas (not namespaces) and the file the three Lua namespaces $ref
CORE_SCHEMAS = ("krakend", "endpoint", "backend", "modifier/lua")
ACCEPTED = "Accepted; no effect in krakenpy ("


def _schema(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def _ignored_lists() -> dict[Path, Mapping[str, str]]:
    """schema file → the list of fields it declares accepted-and-ignored."""
    lists: dict[Path, Mapping[str, str]] = {
        SCHEMAS / "krakend.json": ROOT_IGNORED,
        SCHEMAS / "backend.json": BACKEND_IGNORED,
    }
    lists.update({SCHEMAS / f"{c.namespace}.json": c.ignored for c in ALL})
    return lists


def _deref(node: Any, base: Path) -> tuple[Any, Path]:
    while isinstance(node, dict) and "$ref" in node:
        target = (base / node["$ref"]).resolve()
        node, base = _schema(target), target.parent
    return node, base


def _property(file: Path, spec: str) -> Any:
    """The schema node of an ignored-field spec (``tiers[].ratelimit.num_shards``), following $refs."""
    node, base = _schema(file), file.parent
    for part in spec.partition("=")[0].split("."):
        key = part.removesuffix("[]")
        if key:
            node, base = _deref(node, base)
            node = node["properties"][key]
        if part.endswith("[]"):
            node, base = _deref(node, base)
            node = node["items"]
    return node


def _properties(node: Any, spec: str = "") -> Iterator[tuple[str, Any]]:
    """(spec, schema node) of every property declared in one schema file ($refs not followed)."""
    if not isinstance(node, dict):
        return
    for key, child in (node.get("properties") or {}).items():
        where = f"{spec}.{key}" if spec else key
        yield where, child
        yield from _properties(child, where)
    if isinstance(node.get("items"), dict):
        yield from _properties(node["items"], spec + "[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _properties(node["additionalProperties"], spec)
    for key in ("oneOf", "anyOf", "allOf"):
        for child in node.get(key) or ():
            yield from _properties(child, spec)


def test_registry_ignored_fields_match_their_schema_descriptions() -> None:
    """Each ignored field's schema description gives the warning's why; each property described as
    accepted-and-ignored is in its schema's list (one home per component, no silent field)."""
    lists = _ignored_lists()
    for file, fields in lists.items():
        for spec, why in fields.items():
            description = _property(file, spec).get("description", "")
            assert f"{ACCEPTED}{why})" in description, f"{file.name}: {spec}: {description!r}"
    for file in sorted(SCHEMAS.rglob("*.json")):
        names = {spec.partition("=")[0] for spec in lists.get(file, {})}
        for spec, node in _properties(_schema(file)):
            if ACCEPTED in node.get("description", ""):
                assert spec in names, f"{file.relative_to(SCHEMAS)}: {spec} says it has no effect but no list has it"


def _readme_code() -> str:
    """Every inline code span of the README (fenced blocks left out), one per line."""
    text = re.sub(r"```.*?```", "", (ROOT / "README.md").read_text(), flags=re.S)
    return "\n".join(re.findall(r"`([^`\n]+)`", text))


def test_registry_every_schema_property_is_named_in_the_readme() -> None:
    """Every field krakenpy reads (the core objects' and every implemented namespace's) is named in
    the README in backticks, so a new field cannot land undocumented. Left out: the schemas of
    namespaces krakenpy does not implement, and what sits inside an ignored field (`client_tls`,
    `async_agent`, `clusters`: the field itself is named)."""
    code = _readme_code()
    implemented = {c.namespace for c in ALL}
    lists = _ignored_lists()
    missing: list[str] = []
    for file in sorted(SCHEMAS.rglob("*.json")):
        name = file.relative_to(SCHEMAS).with_suffix("").as_posix()
        if name not in implemented and name not in CORE_SCHEMAS:
            continue
        inert = tuple(spec.partition("=")[0] for spec in lists.get(file, {}))
        for spec, _node in _properties(_schema(file)):
            if spec.startswith(tuple(f"{i}." for i in inert) + tuple(f"{i}[]" for i in inert)):
                continue
            prop = re.split(r"\.|\[\]\.", spec)[-1] if not spec.endswith("]") else spec
            if not re.search(rf"(?<![\w-]){re.escape(prop)}(?![\w-])", code):
                missing.append(f"{name}: {spec}")
    assert missing == []


def test_registry_readme_ignored_table_is_current() -> None:
    """The README's table of fields without effect: `python -m krakenpy.components.registry ignored`."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- ignored:start -->\n")[1].split("\n<!-- ignored:end -->")[0]
    assert table == registry.ignored_table()
