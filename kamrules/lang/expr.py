"""The expression language of computed facts: tokenizer, recursive-descent parser, frozen nodes, unparser.

Grammar (lowest precedence first; comparisons do not chain):

    expr    := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/") unary)*
    unary   := "-" unary | atom
    atom    := NUMBER | "true" | "false" | "as_of" | NAME "(" expr ("," expr)* ")" | NAME | "(" expr ")"

Never Python ``eval``: the text becomes these nodes, and the nodes are checked (`lang/exprtypes.py`) and
evaluated (`engine/compute.py`, `engine/reference.py`). Positions are 0-based offsets into the text.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

FUNCTIONS = {
    "min": (2, 9),
    "max": (2, 9),
    "abs": (1, 1),
    "round": (1, 2),
    "if": (3, 3),
    "days_between": (2, 2),
    "months_between": (2, 2),
}
"""Every function: (fewest, most) arguments."""

AS_OF = "as_of"
"""The review date: `--as-of`, default today."""

COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
# What each comparison does, for Python values and for column expressions alike (both overload the operators).
COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
MAX_LENGTH = 1000  # characters of one expression
MAX_DEPTH = 60  # nesting of parentheses and calls: deeper is no formula a person writes


@dataclass(frozen=True)
class Num:
    """A constant written in the expression: a number, or true / false."""

    value: int | float  # bool (a subclass of int) for true / false
    pos: int
    end: int


@dataclass(frozen=True)
class Ref:
    """A fact, by name (or `as_of`, the review date)."""

    name: str
    pos: int
    end: int


@dataclass(frozen=True)
class Neg:
    """Unary minus."""

    operand: Expr
    pos: int
    end: int


@dataclass(frozen=True)
class Bin:
    """An arithmetic operation (+ - * /) or a comparison (< <= > >= == !=)."""

    op: str
    left: Expr
    right: Expr
    pos: int  # of the operator
    end: int


@dataclass(frozen=True)
class Call:
    """A function call: min, max, abs, round, if, days_between, months_between."""

    func: str
    args: tuple[Expr, ...]
    pos: int
    end: int


Expr = Num | Ref | Neg | Bin | Call


class ExprError(Exception):
    """A problem at a place in the expression text (0-based offset, length), with what was expected."""

    def __init__(
        self, pos: int, length: int, message: str, expected: str | None = None, help: str | None = None
    ) -> None:
        super().__init__(message)
        self.pos, self.length, self.message, self.expected, self.help = pos, max(length, 1), message, expected, help


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op><=|>=|==|!=|[-+*/()<>,]))"
)


class _Tok(NamedTuple):
    # A NamedTuple, not a frozen dataclass: only parsing makes them, and it is 4x cheaper to create at import.
    kind: str  # "num", "name", "op", "end"
    text: str
    pos: int


def tokenize(text: str) -> list[_Tok]:
    """The tokens of an expression, ending with an "end" token."""
    out: list[_Tok] = []
    i = 0
    while i < len(text):
        if text[i:].strip() == "":
            break
        m = _TOKEN.match(text, i)
        if m is None or m.lastgroup is None:
            j = len(text) - len(text[i:].lstrip())
            ch = text[j]
            hint = "write '==' to compare" if ch == "=" else None
            raise ExprError(j, 1, f"unexpected character '{ch}'", "a number, a fact, a function or an operator", hint)
        kind = m.lastgroup
        out.append(_Tok(kind, m.group(kind), m.start(kind)))
        i = m.end()
    out.append(_Tok("end", "", len(text.rstrip())))
    return out


def parse(text: str) -> Expr:
    """The expression's tree; ExprError (with its position) when the text is not an expression."""
    if len(text) > MAX_LENGTH:
        raise ExprError(0, 1, "expression too long", f"at most {MAX_LENGTH} characters")
    if not text.strip():
        raise ExprError(0, 1, "empty expression", "a formula such as 'margin / revenue'")
    return _Parser(tokenize(text)).whole()


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks, self.i, self.depth = toks, 0, 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def fail(self, expected: str) -> ExprError:
        t = self.tok
        found = "the end of the expression" if t.kind == "end" else f"'{t.text}'"
        return ExprError(t.pos, len(t.text), f"expected {expected}, found {found}")

    def whole(self) -> Expr:
        e = self.expr()
        if self.tok.kind != "end":
            raise self.fail("an operator or the end of the expression")
        return e

    def expr(self) -> Expr:
        left = self.sum()
        if self.tok.kind == "op" and self.tok.text in COMPARISONS:
            op = self.take()
            right = self.sum()
            if self.tok.kind == "op" and self.tok.text in COMPARISONS:
                t = self.tok
                raise ExprError(t.pos, len(t.text), "comparisons do not chain", help="compare two values at a time")
            return Bin(op.text, left, right, op.pos, _end(right))
        return left

    def sum(self) -> Expr:
        left = self.product()
        while self.tok.kind == "op" and self.tok.text in "+-":
            op = self.take()
            right = self.product()
            left = Bin(op.text, left, right, op.pos, _end(right))
        return left

    def product(self) -> Expr:
        left = self.unary()
        while self.tok.kind == "op" and self.tok.text in "*/":
            op = self.take()
            right = self.unary()
            left = Bin(op.text, left, right, op.pos, _end(right))
        return left

    def unary(self) -> Expr:
        if self.tok.kind == "op" and self.tok.text == "-":
            t = self.take()
            self._deeper(t)
            operand = self.unary()
            self.depth -= 1
            return Neg(operand, t.pos, _end(operand))
        return self.atom()

    def atom(self) -> Expr:
        t = self.tok
        if t.kind == "num":
            self.take()
            value: int | float = float(t.text) if any(c in t.text for c in ".eE") else int(t.text)
            return Num(value, t.pos, t.pos + len(t.text))
        if t.kind == "name":
            self.take()
            if self.tok.kind == "op" and self.tok.text == "(":
                return self.call(t)
            if t.text in ("true", "false"):
                return Num(t.text == "true", t.pos, t.pos + len(t.text))
            return Ref(t.text, t.pos, t.pos + len(t.text))
        if t.kind == "op" and t.text == "(":
            self.take()
            self._deeper(t)
            e = self.expr()
            self.depth -= 1
            self.close(t)
            return e
        raise self.fail("a number, a fact, a function or '('")

    def call(self, name: _Tok) -> Expr:
        if name.text not in FUNCTIONS:
            raise ExprError(
                name.pos,
                len(name.text),
                f"unknown function '{name.text}'",
                "one of " + ", ".join(FUNCTIONS),
                did_you_mean(name.text, FUNCTIONS),
            )
        opening = self.take()
        self._deeper(opening)
        args = [self.expr()]
        while self.tok.kind == "op" and self.tok.text == ",":
            self.take()
            args.append(self.expr())
        self.depth -= 1
        end = self.close(opening)
        low, high = FUNCTIONS[name.text]
        if not low <= len(args) <= high:
            want = str(low) if low == high else f"{low} to {high}"
            raise ExprError(name.pos, end - name.pos, f"{name.text}() takes {want} arguments, not {len(args)}")
        return Call(name.text, tuple(args), name.pos, end)

    def close(self, opening: _Tok) -> int:
        if self.tok.kind == "op" and self.tok.text == ")":
            return self.take().pos + 1
        if self.tok.kind == "end":
            raise ExprError(opening.pos, 1, "unclosed '('", "a ')' to close it")
        raise self.fail("')' or ','" if self.tok.text != "," else "')'")

    def _deeper(self, t: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(t.pos, 1, "expression nested too deeply", f"at most {MAX_DEPTH} levels")


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean' hint for a misspelt name, if a close one exists."""
    import difflib  # only when a name is misspelt

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def _end(e: Expr) -> int:
    return e.end


def refs(e: Expr, as_of: bool = False) -> set[str]:
    """The facts an expression reads (and `as_of` if it does and ``as_of`` is asked for)."""
    if isinstance(e, Ref):
        return set() if e.name == AS_OF and not as_of else {e.name}
    if isinstance(e, Num):
        return set()
    if isinstance(e, Neg):
        return refs(e.operand, as_of)
    if isinstance(e, Bin):
        return refs(e.left, as_of) | refs(e.right, as_of)
    return set().union(*(refs(a, as_of) for a in e.args))


_PRECEDENCE = {"<": 1, "<=": 1, ">": 1, ">=": 1, "==": 1, "!=": 1, "+": 2, "-": 2, "*": 3, "/": 3}


def unparse(e: Expr, leaf: Callable[[Num | Ref], str] | None = None) -> str:
    """The expression as canonical text; ``leaf`` can write numbers and facts otherwise (e.g. their values)."""
    return _unparse(e, leaf, 0)


def _unparse(e: Expr, write: Callable[[Num | Ref], str] | None, outer: int) -> str:
    if isinstance(e, (Num, Ref)):
        if write is not None:
            return write(e)
        if isinstance(e, Ref):
            return e.name
        return str(e.value).lower() if isinstance(e.value, bool) else repr(e.value)
    if isinstance(e, Neg):
        return "-" + _unparse(e.operand, write, 4)
    if isinstance(e, Call):
        return f"{e.func}(" + ", ".join(_unparse(a, write, 0) for a in e.args) + ")"
    p = _PRECEDENCE[e.op]
    # Left-associative: the right operand of - and / keeps its parentheses at equal precedence.
    text = f"{_unparse(e.left, write, p)} {e.op} {_unparse(e.right, write, p + 1)}"
    return f"({text})" if p < outer or (p == 1 and outer == 1) else text
