"""KrakenD's Flexible Configuration: the ``-c`` file is a Go template rendered before it is parsed.

Enabled when ``FC_ENABLE`` is set and non-empty (even ``0``, as in KrakenD). ``FC_SETTINGS`` names a
folder of ``*.json`` files, each available to templates by its base name (``settings/service.json``
→ ``.service.port``); ``FC_PARTIALS`` a folder of files ``{{ include "x" }}`` pastes verbatim;
``FC_TEMPLATES`` a folder of ``*.tmpl`` sub-templates for ``{{ template "x.tmpl" . }}``; ``FC_OUT``
keeps the rendered file at that path (otherwise a temporary file is used and removed).

Every failure (a bad settings file, a template that does not parse or execute, a missing partial,
output that is not JSON) is reported with its file and line; nothing is served from a half-rendered
file. Values that render as ``<no value>`` are reported as warnings.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from krakenpy.files import read_bounded
from krakenpy.gotemplate import FuncError, TemplateError, TemplateSet, go_json

__all__ = ["FlexibleConfig", "FlexibleConfigError", "Rendered", "from_env", "load_settings", "render", "render_file"]


class FlexibleConfigError(Exception):
    """Rendering failed; ``messages`` locate each problem (``file:line: ...``)."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


@dataclass(frozen=True, slots=True)
class FlexibleConfig:
    """The ``FC_*`` settings."""

    settings: Path | None = None
    partials: Path | None = None
    templates: Path | None = None
    out: Path | None = None


@dataclass(slots=True)
class Rendered:
    """A rendered configuration file; ``cleanup`` removes it unless it was asked for (``FC_OUT``)."""

    path: Path
    warnings: list[str] = field(default_factory=list)
    temporary: Path | None = None

    def cleanup(self) -> None:
        if self.temporary is not None:
            shutil.rmtree(self.temporary, ignore_errors=True)


def from_env(environ: Mapping[str, str]) -> FlexibleConfig | None:
    """The Flexible Configuration settings, or ``None`` when ``FC_ENABLE`` is unset or empty."""
    if not environ.get("FC_ENABLE"):
        return None

    def folder(name: str) -> Path | None:
        value = environ.get(name, "")
        return Path(value) if value else None

    return FlexibleConfig(folder("FC_SETTINGS"), folder("FC_PARTIALS"), folder("FC_TEMPLATES"), folder("FC_OUT"))


def _json_error(path: Path, exc: orjson.JSONDecodeError) -> str:
    return f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"


def load_settings(folder: Path) -> dict[str, Any]:
    """Every ``*.json`` file of ``folder`` by base name; every unreadable or invalid file is reported."""
    try:
        files = sorted(p for p in folder.iterdir() if p.name.endswith(".json") and p.is_file())
    except OSError as exc:
        raise FlexibleConfigError([f"FC_SETTINGS: cannot read folder {folder}: {exc.strerror or exc}"]) from None
    settings: dict[str, Any] = {}
    problems: list[str] = []
    for path in files:
        try:
            data = path.read_bytes()
            value = orjson.loads(data)
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        except orjson.JSONDecodeError as exc:
            problems.append(_json_error(path, exc))
            continue
        if not isinstance(value, dict):
            problems.append(f"{path}: a settings file must hold a JSON object")
            continue
        settings[path.name.removesuffix(".json")] = value
    if problems:
        raise FlexibleConfigError(["loading flexible-config settings:", *problems])
    return settings


def _include(partials: Path | None) -> Any:
    def include(name: Any) -> str:
        if not isinstance(name, str):
            raise FuncError(f"include expects a file name, got {name!r}")
        path = (partials or Path()) / name
        try:
            return read_bounded(path).decode("utf-8")  # a device or FIFO would exhaust memory or hang
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise FuncError(f"cannot read partial {path}: {reason}") from None

    return include


def _templates(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.name.endswith(".tmpl") and p.is_file())
    except OSError as exc:
        raise FlexibleConfigError([f"FC_TEMPLATES: cannot read folder {folder}: {exc.strerror or exc}"]) from None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise FlexibleConfigError([f"cannot read {path}: {reason}"]) from None


def render(template: Path, fc: FlexibleConfig) -> tuple[str, list[str]]:
    """Render ``template`` with the settings, partials and sub-templates of ``fc``."""
    settings = load_settings(fc.settings) if fc.settings else {}
    funcs = {"marshal": go_json, "include": _include(fc.partials)}
    templates = TemplateSet(funcs)
    try:
        templates.add(template.name, _read(template), str(template))
        for path in _templates(fc.templates) if fc.templates else []:
            templates.add(path.name, _read(path), str(path))
        return templates.render(template.name, settings)
    except TemplateError as exc:
        raise FlexibleConfigError([f"template error: {exc}"]) from None


#: a JSON pair whose key names a secret (``"client_secret": "…"``, an API key's ``"key"``, ``ai/llm``'s
#: ``"credentials"``), its value a string or a bare word: what the shown line never quotes
_SECRET_PAIR: Final = re.compile(
    r'("[^"\\]*(?:password|passwd|secret|token|key|credentials)"\s*:\s*)'
    # a string that ends where a JSON value ends; else one a quote in the value broke (the usual
    # cause of the error: a secret holding a '"' injected as it is), masked to the end of the line
    r'("(?:[^"\\]|\\.)*"(?=\s*(?:[,}\]]|$))|".*|[^\s,}\]]+)',
    re.IGNORECASE,
)


def _shown(line: str) -> str:
    """A rendered line as an error may quote it: values injected from the environment are what
    Flexible Configuration is used for (keys, passwords), so a pair whose key names a secret is
    masked, and the redactor's text rules apply (``Bearer …``, ``?api_key=…``, URL passwords)."""
    from krakenpy.telemetry.redact import MASK, Redactor

    return Redactor().text(_SECRET_PAIR.sub(lambda m: f'{m.group(1)}"{MASK}"', line))


#: the tokens :func:`_members_masked` follows: a string (to its quote, else to the line's end: a JSON
#: string holds no raw newline), a bracket, a colon, a newline
_TOKENS: Final = re.compile(r'"(?:[^"\\\n]|\\.)*"?|[{}\[\]:\n]')
#: what may follow a value that ends where it should
_VALUE_END: Final = re.compile(r"[ \t\r]*(?:[,}\]\n]|$)")
#: a value that is no string, object or array (a number, a word: a template that left a password
#: unquoted, the usual cause of the error), to the next ``,``, ``}``, ``]`` or the line's end; JSON
#: lets it start on a line after the colon
_BARE: Final = re.compile(r'\s*([^\s"{}\[\],:][^,}\]\n]*)')
#: the objects whose members' values are secrets, whatever the members are named: ``auth/basic``'s
#: ``users`` (user name → password or hash)
_SECRET_MEMBERS: Final = frozenset({"users"})


def _members_masked(text: str, lineno: int, mask: str) -> str:
    """Line ``lineno`` (1-based, lines split at ``\n``) of ``text``, the string values of the members
    of a ``users`` object masked (``"ada": "[REDACTED]"``), that object opened on this line or above
    (a tolerant scan of the text up to the line: the text is not valid JSON). A value whose closing
    quote is not followed by ``,``, ``}`` or ``]`` (a quote inside it broke the JSON) is masked to the
    end of the line; a value that is no string (``"ada": hunter2``, a password left unquoted) to the
    next ``,``, ``}`` or ``]``."""
    starts = [0]
    for _ in range(lineno - 1):
        at = text.find("\n", starts[-1])
        if at < 0:
            return ""
        starts.append(at + 1)
    first = starts[-1]
    end = text.find("\n", first)
    last = len(text) if end < 0 else end
    stack: list[str | None] = []  # per open container: the key it is the value of, for an object
    key: str | None = None  # the key read before the value that comes next
    value: tuple[int, int] | None = None  # a string read: a key if a colon follows, else a value
    spans: list[tuple[int, int]] = []

    def settle(as_value: bool) -> None:
        nonlocal value
        if value is not None and as_value and stack and stack[-1] in _SECRET_MEMBERS and value[1] > first:
            start, stop = value
            after = _VALUE_END.match(text, stop)
            closed = stop - start > 1 and text[stop - 1] == '"' and after is not None
            if not spans or start >= spans[-1][1]:  # not inside a value masked to the line's end
                spans.append((start, stop if closed else last))
        value = None

    pos = 0
    while (match := _TOKENS.search(text, pos, last)) is not None:
        pos = match.end()
        token = match.group()
        if token == "\n":
            continue
        if token == ":":
            if value is not None:
                key = text[value[0] + 1 : value[1] - 1]
                value = None
            bare = _BARE.match(text, pos, last) if stack and stack[-1] in _SECRET_MEMBERS else None
            if bare is not None:  # its text read as a whole: a quote inside it opens no string
                start = bare.start(1)
                stop = start + len(bare.group(1).rstrip())
                if stop > first and (not spans or start >= spans[-1][1]):
                    spans.append((start, stop))
                pos = bare.end()
            continue
        settle(True)
        if token[0] == '"':
            value = match.span()
        elif token == "{":
            stack.append(key)
            key = None
        elif token == "[":
            stack.append(None)
            key = None
        elif stack:
            stack.pop()
    settle(True)
    line = text[first:last]
    for start, stop in reversed(spans):
        start, stop = max(start, first) - first, stop - first
        line = line[:start] + f'"{mask}"' + line[stop:]
    return line


def _check_json(text: str, template: Path) -> None:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        from krakenpy.telemetry.redact import MASK

        shown = _shown(_members_masked(text, exc.lineno, MASK).strip()) if exc.lineno > 0 else ""
        raise FlexibleConfigError(
            [
                f"{template}: the rendered configuration is not valid JSON at line {exc.lineno}, "
                f"column {exc.colno}: {exc.msg}",
                f"  rendered line {exc.lineno}: {shown[:200]}",
                "  (set FC_OUT=rendered.json to keep the whole rendered file)",
            ]
        ) from None


def render_file(template: str | os.PathLike[str], fc: FlexibleConfig) -> Rendered:
    """Render to ``FC_OUT`` or a temporary ``.json`` file, ready for the normal loader."""
    source = Path(template)
    text, warnings = render(source, fc)
    temporary: Path | None = None
    if fc.out is not None:
        target = fc.out
    else:
        temporary = Path(tempfile.mkdtemp(prefix="krakenpy-fc-"))
        target = temporary / (source.stem + ".json")
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise FlexibleConfigError([f"FC_OUT: cannot write {target}: {exc.strerror or exc}"]) from None
    if target.suffix.lower() not in (".yml", ".yaml", ".toml"):
        try:
            _check_json(text, source)
        except FlexibleConfigError as exc:
            if temporary is not None:
                shutil.rmtree(temporary, ignore_errors=True)
            # a value that rendered as <no value> is the usual cause: say where
            raise FlexibleConfigError(exc.messages + warnings) from None
    return Rendered(target, warnings, temporary)
