"""Tokens of Go's ``text/template`` syntax: text, ``{{ actions }}``, trim markers, comments."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto
from typing import Final

from krakenpy.gotemplate.errors import TemplateSyntaxError

__all__ = ["KEYWORDS", "Kind", "Token", "tokenize"]


class Kind(Enum):
    TEXT = auto()
    LEFT = auto()  # {{
    RIGHT = auto()  # }}
    SPACE = auto()
    IDENT = auto()  # function name
    KEYWORD = auto()  # if, range, end...
    FIELD = auto()  # .Name
    VAR = auto()  # $ or $name
    DOT = auto()  # .
    STRING = auto()
    NUMBER = auto()
    BOOL = auto()
    NIL = auto()
    LPAREN = auto()
    RPAREN = auto()
    PIPE = auto()
    DECLARE = auto()  # :=
    ASSIGN = auto()  # =
    COMMA = auto()
    EOF = auto()


KEYWORDS: Final = frozenset({"block", "break", "continue", "define", "else", "end", "if", "range", "template", "with"})
_WS: Final = " \t\r\n"
_SIMPLE_ESCAPES: Final = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    value: str
    line: int
    #: the Python value of STRING and NUMBER tokens
    literal: object = None


def _alnum(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


class _Lexer:
    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.pos = 0
        self.line = 1
        self.tokens: list[Token] = []
        self.trim_next_text = False

    def error(self, message: str, line: int | None = None) -> TemplateSyntaxError:
        return TemplateSyntaxError(self.name, line or self.line, message)

    def emit(self, kind: Kind, value: str, literal: object = None, line: int | None = None) -> None:
        self.tokens.append(Token(kind, value, line or self.line, literal))

    def advance(self, count: int) -> str:
        chunk = self.text[self.pos : self.pos + count]
        self.line += chunk.count("\n")
        self.pos += count
        return chunk

    def run(self) -> list[Token]:
        while self.pos < len(self.text):
            start = self.text.find("{{", self.pos)
            end = len(self.text) if start < 0 else start
            text = self.text[self.pos : end]
            trim_left = start >= 0 and self.text.startswith("{{-", start) and self.text[start + 3 : start + 4] in _WS
            trim_left = trim_left and start + 3 < len(self.text)
            shown = text.lstrip(_WS) if self.trim_next_text else text
            line = self.line + text[: len(text) - len(shown)].count("\n")
            shown = shown.rstrip(_WS) if trim_left else shown
            if shown:
                self.emit(Kind.TEXT, shown, line=line)
            self.trim_next_text = False
            self.advance(end - self.pos)
            if start < 0:
                break
            self.advance(4 if trim_left else 2)
            self.action()
        self.emit(Kind.EOF, "")
        return self.tokens

    def at_right(self) -> int:
        """Length of the closing delimiter here (``}}`` or `` -}}``), 0 if none."""
        if self.text.startswith("}}", self.pos):
            return 2
        i = self.pos
        while i < len(self.text) and self.text[i] in _WS:
            i += 1
        if i > self.pos and self.text.startswith("-}}", i):
            self.trim_next_text = True
            return i - self.pos + 3
        return 0

    def action(self) -> None:
        opened = self.line
        if self.text.startswith("/*", self.pos):
            self.comment(opened)
            return
        self.emit(Kind.LEFT, "{{")
        while True:
            if self.pos >= len(self.text):
                raise self.error("unclosed action", opened)
            right = self.at_right()
            if right:
                self.advance(right)
                self.emit(Kind.RIGHT, "}}")
                return
            self.inside()

    def comment(self, opened: int) -> None:
        close = self.text.find("*/", self.pos + 2)
        if close < 0:
            raise self.error("unclosed comment", opened)
        self.advance(close + 2 - self.pos)
        right = self.at_right()
        if not right:
            raise self.error("comment ends before closing delimiter", opened)
        self.advance(right)

    def inside(self) -> None:
        ch = self.text[self.pos]
        nxt = self.text[self.pos + 1 : self.pos + 2]
        if ch in _WS:
            start = self.pos
            while self.pos < len(self.text) and self.text[self.pos] in _WS and not self.at_right_after_space():
                self.advance(1)
            if self.pos == start:  # whitespace that belongs to " -}}"
                return
            self.emit(Kind.SPACE, " ")
        elif ch == '"':
            self.string()
        elif ch == "`":
            close = self.text.find("`", self.pos + 1)
            if close < 0:
                raise self.error("unterminated raw quoted string")
            value = self.text[self.pos + 1 : close]
            self.emit(Kind.STRING, value, value)
            self.advance(close + 1 - self.pos)
        elif ch == "'":
            self.char()
        elif ch == "$":
            end = self.pos + 1
            while end < len(self.text) and _alnum(self.text[end]):
                end += 1
            self.emit(Kind.VAR, self.text[self.pos : end])
            self.advance(end - self.pos)
        elif ch == "." and nxt.isdigit() and (not self.tokens or self.tokens[-1].kind in (Kind.SPACE, Kind.LEFT)):
            self.number()
        elif ch == "." and nxt and _alnum(nxt):
            end = self.pos + 1
            while end < len(self.text) and _alnum(self.text[end]):
                end += 1
            self.emit(Kind.FIELD, self.text[self.pos + 1 : end])
            self.advance(end - self.pos)
        elif ch == ".":
            self.emit(Kind.DOT, ".")
            self.advance(1)
        elif ch.isdigit() or (ch in "+-" and nxt[:1].isdigit()):
            self.number()
        elif _alnum(ch):
            end = self.pos
            while end < len(self.text) and _alnum(self.text[end]):
                end += 1
            word = self.text[self.pos : end]
            if word in ("true", "false"):
                self.emit(Kind.BOOL, word, word == "true")
            elif word == "nil":
                self.emit(Kind.NIL, word)
            else:
                self.emit(Kind.KEYWORD if word in KEYWORDS else Kind.IDENT, word)
            self.advance(end - self.pos)
        elif self.text.startswith(":=", self.pos):
            self.emit(Kind.DECLARE, ":=")
            self.advance(2)
        else:
            kinds = {"(": Kind.LPAREN, ")": Kind.RPAREN, "|": Kind.PIPE, "=": Kind.ASSIGN, ",": Kind.COMMA}
            if ch not in kinds:
                raise self.error(f"unexpected {ch!r} in action")
            self.emit(kinds[ch], ch)
            self.advance(1)

    def at_right_after_space(self) -> bool:
        i = self.pos
        while i < len(self.text) and self.text[i] in _WS:
            i += 1
        return self.text.startswith("-}}", i)

    def string(self) -> None:
        out: list[str] = []
        i = self.pos + 1
        while True:
            if i >= len(self.text) or self.text[i] == "\n":
                raise self.error("unterminated quoted string")
            ch = self.text[i]
            if ch == '"':
                break
            if ch == "\\":
                value, i = self._escape(i)
                out.append(value)
                continue
            out.append(ch)
            i += 1
        value = "".join(out)
        self.emit(Kind.STRING, self.text[self.pos : i + 1], value)
        self.advance(i + 1 - self.pos)

    def _escape(self, i: int) -> tuple[str, int]:
        code = self.text[i + 1 : i + 2]
        if code in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[code], i + 2
        if code in ('"', "'", "\\"):
            return code, i + 2
        width = {"x": 2, "u": 4, "U": 8}.get(code)
        if width is not None:
            digits = self.text[i + 2 : i + 2 + width]
            try:
                return chr(int(digits, 16)), i + 2 + width
            except ValueError:
                raise self.error(f"invalid escape \\{code}{digits}") from None
        if code.isdigit():
            digits = self.text[i + 1 : i + 4]
            try:
                return chr(int(digits, 8)), i + 4
            except ValueError:
                raise self.error(f"invalid escape \\{digits}") from None
        raise self.error(f"unknown escape sequence \\{code}")

    def char(self) -> None:
        i = self.pos + 1
        if self.text[i : i + 1] == "\\":
            value, end = self._escape(i)
        else:
            value, end = self.text[i : i + 1], i + 1
        if len(value) != 1 or self.text[end : end + 1] != "'":
            raise self.error("malformed character constant")
        self.emit(Kind.NUMBER, self.text[self.pos : end + 1], ord(value))
        self.advance(end + 1 - self.pos)

    def number(self) -> None:
        end = self.pos + (1 if self.text[self.pos] in "+-" else 0)
        while end < len(self.text) and (_alnum(self.text[end]) or self.text[end] == "."):
            if self.text[end] in "eEpP" and self.text[end + 1 : end + 2] in ("+", "-"):
                end += 1
            end += 1
        word = self.text[self.pos : end]
        self.emit(Kind.NUMBER, word, parse_number(word, self.error))
        self.advance(end - self.pos)


def parse_number(word: str, error: object) -> int | float:
    """A Go number literal (decimal, 0x/0o/0b, ``_`` separators, floats) as int or float."""
    clean = word.replace("_", "")
    try:
        if clean.lower().lstrip("+-").startswith(("0x", "0o", "0b")):
            return int(clean, 0)
        if clean.lstrip("+-").isdigit():
            return int(clean, 10)
        return float(clean)
    except ValueError:
        assert callable(error)
        raise error(f"bad number syntax: {word!r}") from None


def tokenize(text: str, name: str) -> list[Token]:
    """All tokens of one template source; raises :class:`TemplateSyntaxError` with the line."""
    return _Lexer(text, name).run()
