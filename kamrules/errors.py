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

# A file with 100,000 bad cells (an invoice export given as an account table) is not read by anyone past
# the first few dozen problems: show these, and count the rest.
SHOWN_PROBLEMS = 50


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

    def render(self, source: str | None = None, lines: list[str] | None = None) -> str:
        """The headline, the offending source line with a caret, and the help line.

        ``lines`` is ``source`` already split: a caller rendering many problems of one file splits it once.
        """
        out = [self.headline()]
        if lines is None and source is not None:
            lines = source.splitlines()
        if lines is not None and self.span.line > 0 and self.span.line <= len(lines):
            text = lines[self.span.line - 1]
            num = str(self.span.line)
            pad = " " * len(num)
            out.append(f"{pad} |")
            out.append(f"{num} | {text}")
            if self.span.cell:
                out.append(f"{pad} | (row {self.span.line}, column {self.span.col})")
            else:
                caret = " " * max(self.span.col - 1, 0) + "^" * max(self.span.length, 1)
                out.append(f"{pad} | {caret}")
        if self.help:
            out.append(f"  help: {self.help}")
        return "\n".join(out)

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

    def shown(self) -> list[Problem]:
        """The problems a person is shown: the first SHOWN_PROBLEMS in file order (all are kept in ``problems``)."""
        return self.problems[:SHOWN_PROBLEMS]

    def render(self) -> str:
        """The first problems with their source lines, how many more there are, then the summary."""
        sources: dict[str, list[str] | None] = {}
        out = []
        for p in self.shown():
            if p.span.file not in sources:
                text = _read_source(p.span.file)
                sources[p.span.file] = None if text is None else text.splitlines()
            out.append(p.render(lines=sources[p.span.file]))
        rest = len(self.problems) - len(self.shown())
        if rest:
            more = f"{rest} more problem{'s' if rest != 1 else ''}"
            out.append(f"... and {more} not shown (the first {SHOWN_PROBLEMS} are)")
        out.append(f"found {self.summary()}")
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        """The problems as data: the first SHOWN_PROBLEMS, and how many more there are."""
        doc: dict[str, Any] = {
            "error": "InvalidInput",
            "exit_code": self.exit_code,
            "problems": [p.to_dict() for p in self.shown()],
        }
        if len(self.problems) > SHOWN_PROBLEMS:
            doc["more_problems"] = len(self.problems) - SHOWN_PROBLEMS
        return doc


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
