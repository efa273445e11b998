"""The catalog: every ``.pb`` FileDescriptorSet the ``grpc.catalog`` entries name, in one descriptor
pool, loaded once at start-up. A file or folder that cannot be read or parsed is a ConfigError at
its JSON path; imports resolve across all files, whatever their order (KrakenD's rule); the first
definition of a file wins and a later conflicting one is left out with a warning."""

from __future__ import annotations

import errno
import importlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.message import DecodeError

from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.grpc.options import CatalogOptions
from krakenpy.resources import Resources
from krakenpy.state import Key

__all__ = ["Catalog", "load_catalog", "service_catalog"]

#: descriptor files larger than this are not descriptor sets anyone writes by hand or with protoc
_MAX_FILE: Final = 64 * 1024 * 1024
_CATALOG: Final = Key("grpc catalog", object)
NAMESPACE: Final = "grpc"
_FAILED: Final = object()


@dataclass(slots=True)
class Catalog:
    """The descriptor pool of the catalog and what loading it found."""

    pool: Any
    files: int = 0
    warnings: list[str] = field(default_factory=list)

    def method(self, service: str, method: str) -> Any:
        """The MethodDescriptor of ``service``'s ``method``; ``KeyError`` with the reason if absent."""
        try:
            found = self.pool.FindServiceByName(service)
        except KeyError:
            raise KeyError(f"service {service!r} is not in the gRPC catalog") from None
        result = found.methods_by_name.get(method)
        if result is None:
            known = ", ".join(sorted(found.methods_by_name)) or "none"
            raise KeyError(f"service {service!r} has no method {method!r} (it has: {known})")
        return result


def _pb_files(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".pb"):
                yield Path(root, name)


def _read_set(path: Path, where: str) -> list[Any]:
    try:
        if path.stat().st_size > _MAX_FILE:
            raise ConfigError([ConfigIssue(where, f"{path}: larger than {_MAX_FILE // 2**20} MiB")])
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([ConfigIssue(where, f"cannot read {path}: {exc.strerror or exc}")]) from None
    try:
        parsed = descriptor_pb2.FileDescriptorSet.FromString(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        message = f"{path} is not a protobuf FileDescriptorSet (protoc --descriptor_set_out): {exc}"
        raise ConfigError([ConfigIssue(where, message)]) from None
    files = list(parsed.file)
    if not files or any(not f.name for f in files):
        raise ConfigError([ConfigIssue(where, f"{path} is not a protobuf FileDescriptorSet (no named files)")])
    return files


def _well_known(name: str) -> Any | None:
    """The bundled ``google/protobuf/*.proto`` a set left out (compiled without --include_imports)."""
    if not name.startswith("google/protobuf/") or not name.endswith(".proto"):
        return None
    module = "google.protobuf." + name[len("google/protobuf/") : -len(".proto")].replace("/", ".") + "_pb2"
    try:
        importlib.import_module(module)  # registers the file in the default pool
        found = descriptor_pool.Default().FindFileByName(name)
    except (ImportError, KeyError):
        return None
    proto = descriptor_pb2.FileDescriptorProto()
    found.CopyToProto(proto)
    return proto


def _add_all(pool: Any, protos: Mapping[str, tuple[Any, str]], catalog: Catalog) -> list[ConfigIssue]:
    """Add every file after its imports (depth first); a file whose imports are missing is an error."""
    done: set[str] = set()
    failed: set[str] = set()
    issues: list[ConfigIssue] = []

    def add(name: str, stack: tuple[str, ...]) -> bool:
        if name in done:
            return True
        if name in failed or name in stack:
            return False
        entry = protos.get(name)
        if entry is None:
            return False
        proto, where = entry
        for dependency in proto.dependency:
            if dependency not in protos and dependency not in done:
                bundled = _well_known(dependency)
                if bundled is not None:
                    pool.Add(bundled)
                    done.add(dependency)
                    continue
                issues.append(ConfigIssue(where, f"{name} imports {dependency}, which no catalog file defines"))
                failed.add(name)
                return False
            if not add(dependency, (*stack, name)):
                failed.add(name)
                return False
        try:
            pool.Add(proto)
        except (TypeError, ValueError, KeyError) as exc:
            catalog.warnings.append(f"{where}: {name} left out, it conflicts with an earlier definition: {exc}")
            failed.add(name)
            return False
        done.add(name)
        return True

    for name in protos:
        add(name, ())
    catalog.files = len(done)
    return issues


def load_catalog(options: CatalogOptions, base_dir: Path, path: str) -> Catalog:
    """Read every entry (a ``.pb`` file, or a folder searched for ``*.pb``) into one pool."""
    protos: dict[str, tuple[Any, str]] = {}
    issues: list[ConfigIssue] = []
    catalog = Catalog(pool=descriptor_pool.DescriptorPool())
    for index, entry in enumerate(options.catalog):
        where = f"{path}.catalog[{index}]"
        target = Path(base_dir, entry)
        if target.is_dir():
            found = list(_pb_files(target))
            if not found:
                catalog.warnings.append(f"{where}: no .pb file in {target}")
        elif target.exists():
            found = [target]
        else:
            # worded as every file-reading namespace words it (check's output, bench.corpus)
            issues.append(ConfigIssue(where, f"cannot read {target}: {os.strerror(errno.ENOENT)}"))
            continue
        for file in found:
            try:
                for proto in _read_set(file, where):
                    protos.setdefault(proto.name, (proto, where))  # the first definition wins
            except ConfigError as exc:
                issues.extend(exc.issues)
    if not issues:
        issues = _add_all(catalog.pool, protos, catalog)
    if issues:
        raise ConfigError(issues)
    return catalog


def service_catalog(resources: Resources) -> Catalog | None:
    """The service's catalog, loaded the first time a component asks (``None`` without ``grpc``)."""
    found = resources.state.get(_CATALOG)
    if isinstance(found, Catalog):
        return found
    if found is not None:  # it failed: its errors are reported once, by whoever asked first
        raise ConfigError([])
    options = resources.options("", NAMESPACE)
    if not isinstance(options, CatalogOptions):
        return None
    try:
        catalog = load_catalog(options, resources.base_dir, f"extra_config.{NAMESPACE}")
    except ConfigError:
        resources.state.set(_CATALOG, _FAILED)
        raise
    resources.warnings.extend(catalog.warnings)
    resources.state.set(_CATALOG, catalog)
    return catalog
