"""Parse template tokens into :mod:`~krakenpy.gotemplate.nodes` (``if``/``else if``/``range``/``with``,
``define``/``block``/``template``, variables, pipelines, parenthesised sub-pipelines)."""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

from krakenpy.gotemplate.errors import TemplateSyntaxError
from krakenpy.gotemplate.lexer import Kind, Token, tokenize
from krakenpy.gotemplate.nodes import (
    Action,
    Arg,
    Break,
    Chain,
    Command,
    Continue,
    Control,
    Dot,
    Field,
    Function,
    Literal,
    Node,
    Pipe,
    Template,
    TemplateCall,
    Text,
    Variable,
)

__all__ = ["parse"]


@dataclass(frozen=True, slots=True)
class _End:
    """What closed a list: ``end``, ``else``, ``else if``/``else with`` (``chained``), or EOF."""

    word: str
    line: int
    chained: str = ""


class _Parser:
    def __init__(self, tokens: list[Token], source: str, funcs: Container[str]) -> None:
        self.tokens = tokens
        self.i = 0
        self.source = source
        self.funcs = funcs
        self.defined: dict[str, Template] = {}
        self.loops = 0

    def error(self, message: str, token: Token | None = None) -> TemplateSyntaxError:
        line = (token or self.tokens[min(self.i, len(self.tokens) - 1)]).line
        return TemplateSyntaxError(self.source, line, message)

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def skip_space(self) -> None:
        while self.tokens[self.i].kind is Kind.SPACE:
            self.i += 1

    def expect(self, kind: Kind, context: str) -> Token:
        self.skip_space()
        token = self.next()
        if token.kind is not kind:
            raise self.error(f"unexpected {token.value or 'end of input'!r} in {context}", token)
        return token

    # -- lists and actions ----------------------------------------------------------------------
    def parse_list(self, *, top: bool = False) -> tuple[list[Node], _End]:
        nodes: list[Node] = []
        while True:
            token = self.next()
            if token.kind is Kind.TEXT:
                nodes.append(Text(token.value))
            elif token.kind is Kind.EOF:
                if not top:
                    raise self.error("unexpected end of input: missing {{end}}", token)
                return nodes, _End("eof", token.line)
            elif token.kind is Kind.LEFT:
                result = self.action(token, top=top)
                if isinstance(result, _End):
                    if top:
                        raise self.error(f"unexpected {{{{{result.word}}}}}", token)
                    return nodes, result
                if result is not None:
                    nodes.append(result)
            else:  # pragma: no cover - the lexer only emits these three outside actions
                raise self.error(f"unexpected {token.value!r}", token)

    def action(self, left: Token, *, top: bool) -> Node | _End | None:
        self.skip_space()
        token = self.peek()
        if token.kind is not Kind.KEYWORD:
            return Action(self.pipeline("command", left.line))
        word = self.next().value
        if word == "end":
            self.expect(Kind.RIGHT, "end")
            return _End("end", left.line)
        if word == "else":
            self.skip_space()
            nxt = self.peek()
            if nxt.kind is Kind.KEYWORD and nxt.value in ("if", "with"):
                self.next()
                return _End("else", left.line, chained=nxt.value)
            self.expect(Kind.RIGHT, "else")
            return _End("else", left.line)
        if word in ("if", "with", "range"):
            return self.control(word, left.line)
        if word in ("template", "block"):
            return self.template_call(word, left.line)
        if word == "define":
            if not top:
                raise self.error("{{define}} is only allowed at the top level of a template", token)
            self.define(left.line)
            return None
        if word in ("break", "continue"):
            if not self.loops:
                raise self.error(f"{{{{{word}}}}} outside {{{{range}}}}", token)
            self.expect(Kind.RIGHT, word)
            return Break(left.line) if word == "break" else Continue(left.line)
        raise self.error(f"unexpected keyword {word!r}", token)  # pragma: no cover

    def control(self, keyword: str, line: int) -> Control:
        pipe = self.pipeline(keyword, line, two_vars=keyword == "range")
        self.loops += keyword == "range"
        try:
            body, end = self.parse_list()
        finally:
            self.loops -= keyword == "range"
        orelse: list[Node] = []
        if end.word == "else":
            if end.chained:
                if end.chained != keyword:
                    raise self.error(f"{{{{else {end.chained}}}}} inside {{{{{keyword}}}}}")
                orelse = [self.control(end.chained, end.line)]
            else:
                orelse, end = self.parse_list()
                if end.word != "end":
                    raise self.error("expected {{end}} after {{else}}")
        return Control(keyword, pipe, tuple(body), tuple(orelse))

    def template_call(self, word: str, line: int) -> TemplateCall:
        name = self.expect(Kind.STRING, word)
        self.skip_space()
        pipe = None if self.peek().kind is Kind.RIGHT else self.pipeline(word, line)
        if pipe is None:
            self.next()
        if word == "block":
            body, end = self.parse_list()
            if end.word != "end":
                raise self.error("expected {{end}} after {{block}}")
            self.defined[str(name.literal)] = Template(str(name.literal), self.source, tuple(body))
        return TemplateCall(line, str(name.literal), pipe)

    def define(self, line: int) -> None:
        name = self.expect(Kind.STRING, "define")
        self.expect(Kind.RIGHT, "define")
        body, end = self.parse_list()
        if end.word != "end":
            raise self.error("expected {{end}} after {{define}}")
        self.defined[str(name.literal)] = Template(str(name.literal), self.source, tuple(body))

    # -- pipelines ------------------------------------------------------------------------------
    def pipeline(self, context: str, line: int, *, two_vars: bool = False, end: Kind = Kind.RIGHT) -> Pipe:
        self.skip_space()
        start = self.i
        decl: list[str] = []
        assign = False
        if self.peek().kind is Kind.VAR:
            save = self.i
            first = self.next().value
            self.skip_space()
            after = self.peek()
            if after.kind in (Kind.DECLARE, Kind.ASSIGN):
                self.next()
                decl, assign = [first], after.kind is Kind.ASSIGN
            elif after.kind is Kind.COMMA and two_vars:
                self.next()
                second = self.expect(Kind.VAR, context).value
                op = self.expect(Kind.DECLARE, context)
                decl = [first, second]
                assign = op.kind is Kind.ASSIGN
            else:
                self.i = save
        commands: list[Command] = []
        while True:
            commands.append(self.command(context, end))
            token = self.next()
            if token.kind is Kind.PIPE:
                continue
            if token.kind is end:
                break
            raise self.error(f"unexpected {token.value or 'end of input'!r} in {context}", token)
        text = "".join(t.value if t.kind is not Kind.FIELD else "." + t.value for t in self.tokens[start : self.i - 1])
        return Pipe(line, text.strip(), tuple(commands), tuple(decl), assign)

    def command(self, context: str, end: Kind) -> Command:
        args: list[Arg] = []
        while True:
            self.skip_space()
            token = self.peek()
            if token.kind in (Kind.PIPE, end, Kind.EOF, Kind.RIGHT, Kind.RPAREN):
                break
            args.append(self.operand())
        if not args:
            raise self.error(f"missing value for {context}")
        if len(args) > 1 and not isinstance(args[0], Function):
            raise self.error(f"can't give argument to non-function {args[0]}")
        return Command(tuple(args))

    def operand(self) -> Arg:
        term = self.term()
        names: list[str] = []
        while self.peek().kind is Kind.FIELD:
            names.append(self.next().value)
        if not names:
            return term
        if isinstance(term, Field):
            return Field(term.names + tuple(names))
        if isinstance(term, Variable):
            return Variable(term.name, term.names + tuple(names))
        if isinstance(term, Pipe):
            return Chain(term, tuple(names))
        raise self.error(f"unexpected .{names[0]} after {term}")

    def term(self) -> Arg:
        token = self.next()
        kind = token.kind
        if kind is Kind.IDENT:
            if token.value not in self.funcs:
                raise self.error(f'function "{token.value}" not defined', token)
            return Function(token.value)
        if kind is Kind.DOT:
            return Dot()
        if kind is Kind.NIL:
            return Literal(None)
        if kind is Kind.VAR:
            return Variable(token.value)
        if kind is Kind.FIELD:
            return Field((token.value,))
        if kind in (Kind.BOOL, Kind.NUMBER, Kind.STRING):
            return Literal(token.literal)
        if kind is Kind.LPAREN:
            return self.pipeline("parenthesized pipeline", token.line, end=Kind.RPAREN)
        raise self.error(f"unexpected {token.value or 'end of input'!r} in operand", token)


def parse(text: str, name: str, source: str, funcs: Container[str]) -> dict[str, Template]:
    """The template ``name`` (the file's body) and every ``define``/``block`` in ``text``."""
    parser = _Parser(tokenize(text, source), source, funcs)
    nodes, _ = parser.parse_list(top=True)
    templates = dict(parser.defined)
    templates[name] = Template(name, source, tuple(nodes))
    return templates
