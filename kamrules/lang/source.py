"""Read YAML into nodes that keep their source positions, rejecting what safe_load hides."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.resolver import Resolver

from kamrules.errors import InvalidInput, Problem, Span

_constructor = yaml.SafeLoader(stream="")
# Caps on what one file may hold (documented in docs/rule-language.md, "Limits"): kamrules' own files
# are a few KB, so these stop a hostile or broken file long before it costs time or memory.
MAX_YAML_BYTES = 8 * 2**20  # a YAML file (rules, facts, settings, accounts, scenarios, YAML tables)
MAX_TEXT_BYTES = 512 * 2**20  # a CSV or JSON table
MAX_DEPTH = 100  # nested mappings and lists
MAX_DIGITS = 300  # digits of a number: a double ends near 1.8e308
# What YAML 1.1 allows in a file (its printable set); anything else is refused where it stands.
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_DECIMAL_INT = re.compile(r"[-+]?[0-9]+\Z")
_DECIMAL_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+\.[0-9]*|[0-9]+(?=[eE]))([eE][-+]?[0-9]+)?\Z")


@dataclass
class YNode:
    """A YAML node: a mapping, a sequence or a scalar, with where it stands in its file."""

    kind: str  # "map", "seq" or "scalar"
    value: Any  # dict[str, YNode] | list[YNode] | str | int | float | bool | date | None
    span: Span
    key_spans: dict[str, Span] = field(default_factory=dict)
    raw: str = ""

    def get(self, key: str) -> YNode | None:
        """The child under ``key`` of a mapping, if any."""
        return self.value.get(key) if self.kind == "map" else None

    def items(self) -> Iterator[tuple[str, YNode]]:
        """The (key, child) pairs of a mapping, in file order."""
        return iter(self.value.items()) if self.kind == "map" else iter(())

    def plain(self) -> Any:
        """The node as plain Python data (positions dropped)."""
        if self.kind == "map":
            return {k: v.plain() for k, v in self.value.items()}
        if self.kind == "seq":
            return [v.plain() for v in self.value]
        return self.value

    def describe(self) -> str:
        """What the node is, for 'found ...' in messages."""
        if self.kind == "scalar":
            return describe_value(self.value)
        if not self.value:
            return "an empty " + ("mapping" if self.kind == "map" else "list")
        return {"map": "a mapping", "seq": "a list"}[self.kind]


def describe_value(value: Any) -> str:
    """A short, quoted description of a value and its type."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value!r}"
    if isinstance(value, dt.date):
        return f"date {value.isoformat()}"
    if isinstance(value, str):
        return f"text '{value}'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def read_text(path: str | Path, limit: int = MAX_TEXT_BYTES) -> str:
    """A file's text (at most ``limit`` bytes), or an InvalidInput naming the file and what is wrong with it."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(limit + 1)  # never more: /dev/zero or a pipe has no size to check first
    except FileNotFoundError:
        raise InvalidInput.at(Span(str(path)), "file not found") from None
    except IsADirectoryError:
        raise InvalidInput.at(Span(str(path)), "is a directory, expected a file") from None
    except OSError as e:
        raise InvalidInput.at(Span(str(path)), f"cannot read file: {e.strerror}") from None
    if len(data) > limit:
        raise _too_large(str(path), limit)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[: e.start]
        line = before.count(b"\n") + 1
        col = e.start - (before.rfind(b"\n") + 1) + 1
        raise InvalidInput.at(
            Span(str(path), line, col),
            "file is not valid UTF-8",
            expected="UTF-8 text",
            found=f"byte 0x{data[e.start]:02x}",
            help="save the file as UTF-8 (most editors offer it under 'Save as' / 'Encoding')",
            code="encoding",
        ) from None
    return text.removeprefix("\ufeff")


def _too_large(name: str, limit: int) -> InvalidInput:
    return InvalidInput.at(
        Span(name), "file too large", expected=f"at most {limit // 2**20} MB", found="more", code="too-large"
    )


def read_yaml(path: str | Path, text: str | None = None) -> YNode:
    """Parse one YAML file into positioned nodes; empty files, syntax errors and duplicate keys are errors."""
    name = str(path)
    if text is None:
        text = read_text(path, MAX_YAML_BYTES)
    elif len(text) > MAX_YAML_BYTES:  # a text read by the caller (a rules folder, a recorded rule set)
        raise _too_large(name, MAX_YAML_BYTES)
    _check_printable(name, text)
    if not text.strip() or all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
        raise InvalidInput(
            [Problem(Span(name, 1, 1), "file is empty", expected="a YAML document", found="no content", code="empty")]
        )
    try:
        docs = _compose(text)
    except _Refused as e:
        raise InvalidInput([e.problem(name)]) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        msg = f"YAML syntax error: {e.problem or e.context}"
        raise InvalidInput.at(
            Span(name, line, col),
            msg,
            code="yaml-syntax",
            help="check the indentation and the quoting on this line and the one before",
        ) from None
    except RecursionError:
        raise _too_deep(name) from None
    except yaml.YAMLError as e:  # e.g. a reader error on a control character
        mark = getattr(e, "problem_mark", None) or getattr(e, "mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise InvalidInput.at(Span(name, line, col), f"YAML error: {e}", code="yaml-syntax") from None
    docs = [d for d in docs if d is not None]
    if len(docs) != 1:
        if not docs:
            raise InvalidInput.at(
                Span(name, 1, 1), "file is empty", expected="a YAML document", found="no content", code="empty"
            )
        second = docs[1].start_mark
        raise InvalidInput.at(
            Span(name, second.line + 1, second.column + 1),
            "more than one YAML document",
            expected="one document",
            found=f"{len(docs)} documents",
            code="yaml-syntax",
        )
    problems: list[Problem] = []
    try:
        node = _convert(docs[0], name, problems)
    except RecursionError:
        raise _too_deep(name) from None
    if problems:
        raise InvalidInput(problems)
    return node


def _check_printable(name: str, text: str) -> None:
    """Refuse a control character (a NUL byte, say) at its line and column, before the parser words it."""
    m = _NOT_PRINTABLE.search(text)
    if m is None:
        return
    before = text[: m.start()]
    line, col = before.count("\n") + 1, m.start() - (before.rfind("\n") + 1) + 1
    raise InvalidInput.at(
        Span(name, line, col),
        "control character in the file",
        expected="text (tabs and line breaks are the only control characters allowed)",
        found=f"U+{ord(m.group()):04X}",
        code="encoding",
    )


class _Refused(Exception):
    """Something the bounded loader will not compose, and where."""

    def __init__(self, mark: Any, message: str, expected: str, found: str) -> None:
        super().__init__(message)
        self.mark, self.message, self.expected, self.found = mark, message, expected, found

    def problem(self, name: str) -> Problem:
        """The problem at the mark."""
        span = Span(name, self.mark.line + 1, self.mark.column + 1)
        return Problem(span, self.message, self.expected, self.found, code="yaml-limit")


class _Bounded(Composer):
    """A composer without aliases or anchors (a few aliases expand to billions of nodes) and with a depth cap."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Compose one node, refusing an alias, an anchor or one level too deep."""
        event = self.peek_event()  # type: ignore[attr-defined]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            kind = "alias" if isinstance(event, yaml.AliasEvent) else "anchor"
            raise _Refused(
                event.start_mark,
                f"YAML {kind}s are not supported",
                "every value written out where it is used",
                f"{'*' if kind == 'alias' else '&'}{event.anchor}",
            )
        if self._depth >= MAX_DEPTH:
            raise _Refused(event.start_mark, "YAML nested too deeply", f"at most {MAX_DEPTH} levels", "more")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _BoundedLoader(_Bounded, yaml.SafeLoader):
    """PyYAML's own parser under the bounded composer: the reference, and the words of every syntax error."""


# libyaml's parser, when PyYAML was built with it (its stubs do not export the name).
_CParser: Any = getattr(yaml, "cyaml", None) and getattr(yaml.cyaml, "CParser", None)

if _CParser is not None:

    class _FastLoader(_Bounded, _CParser, Resolver):  # type: ignore[misc]
        """libyaml's parser (C, about ten times faster) under the same bounded composer and resolver."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            Composer.__init__(self)
            Resolver.__init__(self)

        def compose_scalar_node(self, anchor: Any) -> Any:
            """A scalar node as PyYAML's parser makes it: a plain scalar has no style (libyaml says '')."""
            node = super().compose_scalar_node(anchor)
            node.style = node.style or None
            return node


def _compose(text: str) -> list[Any]:
    """The documents of ``text`` as nodes, by libyaml when installed; what it refuses, PyYAML's parser words."""
    if _CParser is not None:
        try:
            return list(yaml.compose_all(text, Loader=_FastLoader))
        except yaml.YAMLError:
            pass
    return list(yaml.compose_all(text, Loader=_BoundedLoader))


def _too_deep(name: str) -> InvalidInput:
    """The error for YAML nested beyond Python's recursion limit, while composing or converting."""
    return InvalidInput.at(
        Span(name, 1, 1), "YAML nested too deeply", expected="at most a few hundred levels", code="yaml-syntax"
    )


def _span(name: str, node: yaml.Node) -> Span:
    m, e = node.start_mark, node.end_mark
    length = e.column - m.column if e.line == m.line and e.column > m.column else 1
    return Span(name, m.line + 1, m.column + 1, length)


def _convert(node: yaml.Node, name: str, problems: list[Problem]) -> YNode:
    span = _span(name, node)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, YNode] = {}
        key_spans: dict[str, Span] = {}
        for knode, vnode in node.value:
            kspan = _span(name, knode)
            if not isinstance(knode, yaml.ScalarNode):
                problems.append(
                    Problem(
                        kspan,
                        "a mapping key must be plain text",
                        found="a " + ("list" if isinstance(knode, yaml.SequenceNode) else "mapping"),
                        code="yaml-key",
                    )
                )
                continue
            key = knode.value
            if key == "<<":
                problems.append(
                    Problem(
                        kspan,
                        "YAML merge keys ('<<') are not supported",
                        code="yaml-key",
                        help="write the keys out in full",
                    )
                )
                continue
            if key in out:
                first = key_spans[key]
                problems.append(
                    Problem(
                        kspan,
                        f"duplicate key '{key}'",
                        expected="each key once in a mapping",
                        found=f"'{key}' again (first at line {first.line})",
                        code="duplicate-key",
                    )
                )
                continue
            key_spans[key] = kspan
            out[key] = _convert(vnode, name, problems)
        return YNode("map", out, span, key_spans)
    if isinstance(node, yaml.SequenceNode):
        return YNode("seq", [_convert(v, name, problems) for v in node.value], span)
    assert isinstance(node, yaml.ScalarNode)  # compose() makes only mappings, sequences and scalars
    return YNode("scalar", _scalar(node, span, problems), span, raw=node.value)


def _scalar(node: yaml.ScalarNode, span: Span, problems: list[Problem]) -> Any:
    tag = node.tag
    if tag == "tag:yaml.org,2002:bool":
        # YAML 1.1 reads yes/no/on/off as booleans; only true/false mean a boolean here.
        return node.value.lower() == "true" if node.value.lower() in ("true", "false") else node.value
    if tag == "tag:yaml.org,2002:null":
        return None
    # YAML 1.1 also reads 010 as octal 8, 1:30 as 90 (base 60), 0x1f and 1_000 as numbers; a sales
    # analyst means none of that. Only plain decimal numbers are numbers; the rest stays text and
    # is reported where a number is expected.
    if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") or node.style is None:
        text = node.value
        if _DECIMAL_INT.match(text) or _DECIMAL_FLOAT.match(text):
            return _number(text, span, problems)
        if tag == "tag:yaml.org,2002:float" and text.lower().lstrip("+-") in (".nan", ".inf"):
            return _constructor.construct_yaml_float(node)
    if tag == "tag:yaml.org,2002:timestamp":
        try:
            return _constructor.construct_yaml_timestamp(node)
        except ValueError:  # 2026-02-31: the shape of a date, not a day of the calendar
            problems.append(Problem(span, "impossible date", "a day of the calendar", f"'{node.value}'", code="date"))
    return node.value


def _number(text: str, span: Span, problems: list[Problem]) -> Any:
    """A plain decimal number, or the text with a problem when it is too long, too large or too small."""
    digits = sum(c.isdigit() for c in text.partition("e")[0].partition("E")[0])
    if digits > MAX_DIGITS:
        problems.append(Problem(span, "number too long", f"at most {MAX_DIGITS} digits", f"{digits}", code="number"))
        return text
    if _DECIMAL_INT.match(text):
        return int(text, 10)
    value = float(text)
    mantissa = text.lower().partition("e")[0]
    if math.isinf(value) or (value == 0.0 and any(c in "123456789" for c in mantissa)):
        # 1.0e400 would become infinity and 1.0e-400 zero: the number written is not the number read.
        problems.append(
            Problem(
                span,
                "number out of range",
                "a number a double holds (about 1e-308 to 1e308, or 0)",
                f"'{text}'",
                code="number",
            )
        )
        return text
    return value


def is_finite_number(value: Any) -> bool:
    """True for ints and finite floats, not for booleans."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)
