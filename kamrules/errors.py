"""One error tree: every error a user can cause renders itself and carries an exit code."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

EXIT_OK = 0
EXIT_FAILED = 1  # a check ran and failed: scenario expectations, audit verify
EXIT_USAGE = 2  # bad command line (click's own code)
EXIT_INVALID = 3  # invalid input: rule files, facts schema, account files, tables
EXIT_INTERNAL = 4  # a bug in kamrules or in the engine it drives


class Span(NamedTuple):
    """A place in a file: 1-based line and column, and how many characters it covers."""

    # A NamedTuple, not a frozen dataclass: a large table makes one per cell, and this is 4x cheaper.
    file: str
    line: int = 0
    col: int = 0
    length: int = 1
    cell: bool = False  # a table cell: line is the row and col the column's number, not a character

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Problem:
    """One finding about an input: where, what, what was expected and what was found."""

    span: Span
    message: str
    expected: str | None = None
    found: str | None = None
    help: str | None = None
    code: str = "invalid"
    severity: str = "error"

    def headline(self) -> str:
        """The grep- and editor-clickable first line."""
        text = self.message
        if self.expected is not None and self.found is not None:
            text += f" (expected {self.expected}, found {self.found})"
        elif self.expected is not None:
            text += f" (expected {self.expected})"
        elif self.found is not None:
            text += f" (found {self.found})"
        return f"{self.span}: {self.severity}: {text}"

    def render(self, source: str | None = None) -> str:
        """The headline, the offending source line with a caret, and the help line."""
        lines = [self.headline()]
        if source is not None and self.span.line > 0:
            src_lines = source.splitlines()
            if self.span.line <= len(src_lines):
                text = src_lines[self.span.line - 1]
                num = str(self.span.line)
                pad = " " * len(num)
                lines.append(f"{pad} |")
                lines.append(f"{num} | {text}")
                if self.span.cell:
                    lines.append(f"{pad} | (row {self.span.line}, column {self.span.col})")
                else:
                    caret = " " * max(self.span.col - 1, 0) + "^" * max(self.span.length, 1)
                    lines.append(f"{pad} | {caret}")
        if self.help:
            lines.append(f"  help: {self.help}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable form (``--format json``)."""
        return {
            "file": self.span.file,
            "line": self.span.line,
            "column": self.span.col,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "expected": self.expected,
            "found": self.found,
            "help": self.help,
        }


def duplicate(span: Span, what: str, name: str, first: str, code: str, scope: str = "") -> Problem:
    """A name given twice, said the same way for rule ids, columns and column mappings: where the first one is."""
    return Problem(
        span, f"duplicate {what} '{name}'", f"each {what} once{scope}", f"'{name}' again (first {first})", code=code
    )


class KamrulesError(Exception):
    """Base of every error kamrules raises on purpose."""

    exit_code = EXIT_INTERNAL

    def render(self) -> str:
        """Text for the terminal."""
        return f"error: {self}"

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable form."""
        return {"error": type(self).__name__, "message": str(self), "exit_code": self.exit_code}


@dataclass
class InvalidInput(KamrulesError):
    """One or more problems found in the user's files; all are reported together."""

    problems: list[Problem] = field(default_factory=list)
    exit_code = EXIT_INVALID

    @classmethod
    def at(cls, span: Span, message: str, **kw: Any) -> InvalidInput:
        """The error of one problem."""
        return cls([Problem(span, message, **kw)])

    def __post_init__(self) -> None:
        self.problems = sorted(self.problems, key=lambda p: (p.span.file, p.span.line, p.span.col, p.message))
        super().__init__(self.summary())

    def summary(self) -> str:
        """One line: how many problems in how many files."""
        files = {p.span.file for p in self.problems}
        n = len(self.problems)
        return f"{n} problem{'s' if n != 1 else ''} in {len(files)} file{'s' if len(files) != 1 else ''}"

    def render(self) -> str:
        """Every problem with its source line, then the summary."""
        sources: dict[str, str | None] = {}
        out = []
        for p in self.problems:
            if p.span.file not in sources:
                sources[p.span.file] = _read_source(p.span.file)
            out.append(p.render(sources[p.span.file]))
        out.append(f"found {self.summary()}")
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        """The problems as data."""
        return {
            "error": "InvalidInput",
            "exit_code": self.exit_code,
            "problems": [p.to_dict() for p in self.problems],
        }


class CheckFailed(KamrulesError):
    """A check ran to the end and did not hold (expectations, audit chain)."""

    exit_code = EXIT_FAILED


class EngineError(KamrulesError):
    """durable_rules refused or misbehaved; a bug in kamrules, never the user's input."""

    exit_code = EXIT_INTERNAL

    def render(self) -> str:
        """The message and where to report it."""
        return f"internal error: {self}\n  help: this is a bug in kamrules; please report it with the command you ran"


_SOURCE_LIMIT = 512 * 2**20  # lang.source.MAX_TEXT_BYTES: no file kamrules reads is larger


def _read_source(file: str) -> str | None:
    # Only a regular file of a size kamrules reads: /dev/zero or a fifo would be read without end.
    try:
        p = Path(file)
        if not p.is_file() or p.stat().st_size > _SOURCE_LIMIT:
            return None
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
