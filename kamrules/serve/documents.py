"""Request bodies → accounts and review input, checked exactly as the command line checks files.

An account is the same document as an account file, written as JSON (dates as ``"YYYY-MM-DD"``
text, JSON having no dates). The body is read with the JSON parser; only when it holds a
problem is it read again as YAML, of which JSON is a subset, so that every problem names the
line and column of the body where it stands, as it would in a file.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kamrules.errors import InvalidInput, Problem, Span
from kamrules.lang import Account, Problems, RuleSet, YNode, account_from_node, read_yaml
from kamrules.lang.problems import check_value

BODY = "request body"
# A body with a problem is read again as YAML to find its lines and columns: about 3 ms per KiB.
POSITIONS_UP_TO = 64 * 1024
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
# Content types of an uploaded table → the file kind its reader goes by.
TABLE_TYPES = {
    "application/json": ".json",
    "text/csv": ".csv",
    "application/yaml": ".yaml",
    "application/x-yaml": ".yaml",
    "text/yaml": ".yaml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
}


class NotPlain(Exception):
    """The body is JSON that the fast reading cannot take as it is (a duplicate key, NaN)."""


def _pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(items)
    if len(out) != len(items):
        raise NotPlain
    return out


def _constant(_name: str) -> Any:
    raise NotPlain


def plain_json(text: str | bytes) -> Any:
    """Parsed JSON; NotPlain for a duplicate key, NaN or an infinity (json.JSONDecodeError for invalid JSON)."""
    data = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    raw = text.encode() if isinstance(text, str) else text
    if _SURROGATE.search(raw) and not _unicode(data):  # an escape of a surrogate: rare, then checked
        at = _LONE_SURROGATE.search(raw)
        message = "a \\u escape of half a surrogate pair is no character"
        raise json.JSONDecodeError(message, raw.decode("utf-8", "replace"), at.start() if at else 0)
    return data


# A \uD800-\uDFFF escape that is not one half of a pair: JSON lets it through, UTF-8 cannot hold it.
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|(?<![0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def _unicode(data: Any) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise InvalidInput.at(
            Span(BODY, 1, e.start + 1),
            "request body is not valid UTF-8",
            expected="UTF-8 text",
            found=f"byte 0x{body[e.start]:02x}",
            code="encoding",
        ) from None


def _node(value: Any, path: str = "") -> YNode:
    """Parsed JSON as the nodes a YAML file gives, each named by its path in the body (no line and column)."""
    span = Span(f"{BODY} at {path}" if path else BODY)
    if isinstance(value, dict):
        children = {k: _node(v, f"{path}.{k}" if path else k) for k, v in value.items()}
        return YNode("map", children, span, {k: c.span for k, c in children.items()})
    if isinstance(value, list):
        return YNode("seq", [_node(v, f"{path}[{i}]") for i, v in enumerate(value)], span)
    return YNode("scalar", value, span, raw="" if isinstance(value, (str, bool)) or value is None else str(value))


def _with_dates(node: YNode, ruleset: RuleSet) -> None:
    """ISO date text given for a date fact becomes the date, as an unquoted date in a YAML file does."""
    facts = node.get("facts") if node.kind == "map" else None
    for name, v in facts.items() if facts is not None else ():
        fact = ruleset.facts.get(name)
        if fact is not None and fact.type == "date" and isinstance(v.value, str) and _ISO_DATE.match(v.value):
            with suppress(ValueError):  # not a day of the calendar: reported as the text it is
                v.value = dt.date.fromisoformat(v.value)


Reader = Callable[[YNode, Problems], list[Account]]


def read_body(body: bytes, read: Reader) -> list[Account]:
    """The accounts ``read`` finds in a JSON body, or an InvalidInput with every problem at its place in the body."""
    text = _text(body)
    fast = Problems()
    try:
        data = plain_json(text)
    except json.JSONDecodeError as e:
        raise InvalidInput.at(Span(BODY, e.lineno, e.colno), f"invalid JSON: {e.msg}", code="json") from None
    except NotPlain:
        fast.add(Span(BODY), "duplicate key, NaN or infinity in the JSON body", expected="plain JSON", code="json")
    else:
        accounts = read(_node(data), fast)
        if not fast:
            return accounts
    if len(body) > POSITIONS_UP_TO:  # reading it again would cost seconds: the problems name JSON paths
        raise InvalidInput([_at_path(p) for p in fast])
    # A problem: read the body again with positions, to say where it is.
    positioned = Problems()
    try:
        read(read_yaml(BODY, text), positioned)
    except InvalidInput as e:  # a duplicate key; or JSON that YAML does not take (rare): no positions then
        positioned.extend(p for p in e.problems if p.code != "yaml-syntax")
    raise InvalidInput(list(positioned) or [_at_path(p) for p in fast])


def _at_path(p: Problem) -> Problem:
    """A problem of the body named by its node's path (``_node``) in its message, the body as its file."""
    path = p.span.file.removeprefix(f"{BODY} at ")
    return replace(p, span=Span(BODY), message=f"at {path}: {p.message}") if path != p.span.file else p


def account_reader(ruleset: RuleSet, origin: str) -> Reader:
    """Reads one account document."""

    def read(root: YNode, col: Problems) -> list[Account]:
        _with_dates(root, ruleset)
        account = account_from_node(root, origin, ruleset, col, "an account")
        return [account] if account is not None else []

    return read


def read_account(body: bytes, ruleset: RuleSet, origin: str) -> list[Account]:
    """One account document: a plainly right one taken as it is, any other read with its problems' places."""
    try:
        account = plain_account(plain_json(body), ruleset, origin)
    except (ValueError, NotPlain):  # invalid JSON or UTF-8, a duplicate key, NaN: read_body says where
        account = None
    return [account] if account is not None else read_body(body, account_reader(ruleset, origin))


def plain_account(data: Any, ruleset: RuleSet, origin: str) -> Account | None:
    """The Account of a parsed document without a problem, or None when it needs reading node by node.

    Every value is checked as account_from_node checks it (lang.check_value; ISO date text for a date fact
    becomes the date); anything else (a numeric id, an unknown fact, a bad value) is left to that reading.
    """
    if type(data) is not dict or not data.keys() <= ACCOUNT_KEYS:
        return None
    acc, name, given = data.get("account"), data.get("name"), data.get("facts")
    if type(acc) is not str or not acc.strip() or not acc.isprintable() or type(given) is not dict:
        return None
    if "name" in data and type(name) is not str:
        return None
    facts: dict[str, Any] = {}
    for key, value in given.items():
        fact = ruleset.facts.get(key)
        if fact is None or not fact.given:
            return None
        if fact.type == "date" and type(value) is str and _ISO_DATE.match(value):
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                return None
        if check_value(fact, value) is not None:
            return None
        facts[key] = value
    return Account(acc, facts, name, origin)


ACCOUNT_KEYS = frozenset(("account", "name", "facts"))


def batch_reader(ruleset: RuleSet, origin: str) -> Reader:
    """Reads ``{"accounts": [account, ...]}``."""

    def read(root: YNode, col: Problems) -> list[Account]:
        if not col.expect_kind(root, "map", "a batch"):
            return []
        col.unknown_keys(root, ("accounts",), "a batch")
        items = root.get("accounts")
        if items is None:
            col.needs(root, "a batch", ["accounts"], "a list of accounts under 'accounts'")
            return []
        if not col.expect_kind(items, "seq", "'accounts'"):
            return []
        out = []
        for i, item in enumerate(items.value):
            _with_dates(item, ruleset)
            account = account_from_node(item, f"{origin} accounts[{i}]", ruleset, col, f"accounts[{i}]")
            if account is not None:
                out.append(account)
        return out

    return read


@dataclass(frozen=True)
class Upload:
    """How to read an uploaded table: its kind, its name, and the options of `kamrules portfolio`."""

    content_type: str
    filename: str | None = None
    transactions: bool = False
    period: str | None = None
    previous: str | None = None
    columns: str | None = None
    traces: bool = False  # each account's whole decision instead of its row (`--traces`)


@contextmanager
def uploaded(body: bytes, upload: Upload) -> Iterator[tuple[str, str]]:
    """An uploaded table as a file its reader takes by kind: (its path, the name problems give it)."""
    kind, filename = upload.content_type.split(";")[0].strip().lower(), upload.filename
    suffix = Path(filename).suffix.lower() if filename else TABLE_TYPES.get(kind)
    if not suffix:
        raise InvalidInput.at(
            Span("Content-Type"),
            "unknown table format",
            expected=", ".join(TABLE_TYPES) + " (or a filename with its extension)",
            found=f"'{kind or 'none'}'",
            code="table-format",
        )
    name = filename or f"{BODY}{suffix}"
    with tempfile.TemporaryDirectory(prefix="kamrules-serve-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(body)
        try:
            yield str(path), name
        except InvalidInput as e:  # problems name the upload, not the temporary file
            raise InvalidInput([_renamed(p, str(path), name) for p in e.problems]) from None


def _renamed(p: Problem, path: str, name: str) -> Problem:
    return replace(p, span=p.span._replace(file=name)) if p.span.file == path else p
