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

from kamrules.errors import InvalidInput, Problem, Span

_constructor = yaml.SafeLoader(stream="")
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


def read_text(path: str | Path) -> str:
    """A file's text, or an InvalidInput naming the file and where its bytes stop being UTF-8."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InvalidInput.at(Span(str(path)), "file not found") from None
    except IsADirectoryError:
        raise InvalidInput.at(Span(str(path)), "is a directory, expected a file") from None
    except OSError as e:
        raise InvalidInput.at(Span(str(path)), f"cannot read file: {e.strerror}") from None
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


def read_yaml(path: str | Path, text: str | None = None) -> YNode:
    """Parse one YAML file into positioned nodes; empty files, syntax errors and duplicate keys are errors."""
    name = str(path)
    if text is None:
        text = read_text(path)
    if not text.strip() or all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
        raise InvalidInput(
            [Problem(Span(name, 1, 1), "file is empty", expected="a YAML document", found="no content", code="empty")]
        )
    try:
        docs = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
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
    return YNode("scalar", _scalar(node), span, raw=node.value)


def _scalar(node: yaml.ScalarNode) -> Any:
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
        if _DECIMAL_INT.match(text):
            return int(text, 10)
        if _DECIMAL_FLOAT.match(text):
            return float(text)
        if tag == "tag:yaml.org,2002:float" and text.lower().lstrip("+-") in (".nan", ".inf"):
            return _constructor.construct_yaml_float(node)
    if tag == "tag:yaml.org,2002:timestamp":
        return _constructor.construct_yaml_timestamp(node)
    return node.value


def is_finite_number(value: Any) -> bool:
    """True for ints and finite floats, not for booleans."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)
