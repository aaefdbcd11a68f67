"""One cell of a table → a value: numbers (decimal comma or point, thousands separators), dates, ids.

Which decimal separator and which date order a file uses is decided once per file, from the
cells that settle it (see the reading rules in ``kamrules.inputs``).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from kamrules.errors import Problem, Span

__all__ = [
    "Cell",
    "Value",
    "account_id",
    "decide_date_order",
    "decide_decimal",
    "describe",
    "fact_value",
    "number",
    "number_expected",
    "parse_date",
]

Value = Decimal | int | bool | dt.date | str

# A cell and where it stands.
Cell = tuple[Any, Span]

_MAX_ABS = Decimal("1e15")
_MAX_DIGITS = 28
_NOT_FINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}

_DOT = re.compile(r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?([eE][+-]?\d+)?")
_COMMA = re.compile(r"[+-]?(\d{1,3}(\.\d{3})+|\d{1,3}( \d{3})+|\d+)(,\d+)?")
_PLAIN_NUMBER = re.compile(r"-?\d{1,15}(\.\d{1,13})?")
_LOOKS_NUMERIC = re.compile(r"[+-]?[\d.,' ]*\d[\d.,' ]*([eE][+-]?\d+)?")

_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?")
_DMY_DOT = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_SLASH = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def describe(v: Any) -> str:
    """What a cell that is not a value holds, for an error message."""
    if isinstance(v, list):
        return "a list"
    if isinstance(v, str):
        return f"text '{v}'"
    return str(v)


# ---------------------------------------------------------------------------------------------
# Numbers.


def _evidence(text: str) -> str | None:
    """'.' or ',' if this cell settles the decimal separator, 'ambiguous' if it could be either, else None."""
    t = text.strip().lstrip("+-")
    if "." in t and "," in t:
        return "," if t.rfind(",") > t.rfind(".") else "."
    for sep, other in ((".", ","), (",", ".")):
        if sep in t:
            if t.count(sep) > 1:
                return other  # several of the same can only be thousands separators
            frac = t.rsplit(sep, 1)[1]
            if len(frac) == 3 and t.split(sep)[0] not in ("", "0"):
                return "ambiguous"
            return sep
    return None


def decide_decimal(name: str, texts: list[tuple[str, Span]], given: str | None) -> tuple[str, list[Problem]]:
    """The file's decimal separator ('.' or ','), and a problem if its cells do not settle it."""
    if given is not None:
        return given, []
    seen: dict[str, Span] = {}
    for t, span in texts:
        if "." not in t and "," not in t:
            continue  # no separator, no evidence either way
        if _LOOKS_NUMERIC.fullmatch(t.strip()) and not _DMY_DOT.fullmatch(t.strip()):
            ev = _evidence(t)
            if ev is not None and ev not in seen:
                seen[ev] = span
    if "." in seen and "," in seen:
        a, b = seen["."], seen[","]
        return ".", [
            Problem(
                b if (b.line, b.col) > (a.line, a.col) else a,
                "numbers use both '.' and ',' as decimal separator",
                expected="one decimal separator per file",
                found=f"decimal point at {a.line}:{a.col} and decimal comma at {b.line}:{b.col}",
                code="decimal",
                help="make the column formats agree, or give the decimal separator explicitly",
            )
        ]
    if "." in seen:
        return ".", []
    if "," in seen:
        return ",", []
    if "ambiguous" in seen:
        span = seen["ambiguous"]
        return ".", [
            Problem(
                span,
                "cannot tell the decimal separator",
                expected="a number that settles it, like 12,5 or 12.5",
                found="only numbers like 1.234 or 1,234, which read as thousands or as decimals",
                code="decimal",
                help="give the decimal separator explicitly ('.' or ',')",
            )
        ]
    return ".", []


def _text_number(raw: str, decimal_sep: str) -> Decimal | str:
    """A text cell as a Decimal (not yet range-checked), or the reason it is not a number."""
    t = raw.strip().replace("\u00a0", " ").replace("\u202f", " ")
    if t.lower() in _NOT_FINITE:
        return f"'{raw}'"
    if t.startswith("#"):
        return f"spreadsheet error '{raw}'"
    if decimal_sep == "." and _DOT.fullmatch(t):
        return Decimal(t.replace(",", ""))
    if decimal_sep == "," and _COMMA.fullmatch(t):
        return Decimal(t.replace(".", "").replace(" ", "").replace(",", "."))
    return f"'{raw}'" if raw else "an empty cell"


def number(raw: Any, decimal_sep: str) -> Decimal | str:
    """The cell as a Decimal, or the reason it is not a valid number."""
    if isinstance(raw, bool):
        return f"boolean {str(raw).lower()}"
    if isinstance(raw, Decimal):
        d = raw
    elif isinstance(raw, int):
        d = Decimal(raw)
    elif isinstance(raw, float):
        d = Decimal(repr(raw)) if raw == raw and abs(raw) != float("inf") else Decimal("NaN")
    elif isinstance(raw, str):
        parsed = _text_number(raw, decimal_sep)
        if isinstance(parsed, str):
            return parsed
        d = parsed
    else:
        return describe(raw)
    if not d.is_finite():
        return f"'{raw}'"
    if abs(d) >= _MAX_ABS:
        return f"{raw} (too large: 10^15 or more)"
    if len(d.as_tuple().digits) > _MAX_DIGITS:
        return f"{raw} (more than {_MAX_DIGITS} significant digits)"
    return d


def number_expected(decimal_sep: str) -> str:
    """What a number looks like with this decimal separator, for an error message."""
    return "a number like 1234,56 or 1.234,56" if decimal_sep == "," else "a number like 1234.56 or 1,234.56"


# ---------------------------------------------------------------------------------------------
# Dates.


def decide_date_order(texts: list[tuple[str, Span]], given: str | None) -> tuple[str, list[Problem]]:
    """The file's order of slash dates ('dmy' or 'mdy'), and a problem if its rows use both."""
    if given is not None:
        return given, []
    dmy = mdy = None
    for t, span in texts:
        if m := _SLASH.fullmatch(t.strip()):
            a, b = int(m[1]), int(m[2])
            if a > 12 and dmy is None:
                dmy = span
            if b > 12 and mdy is None:
                mdy = span
    if dmy and mdy:
        return "dmy", [
            Problem(
                mdy,
                "dates are written both day first and month first",
                expected="one date order per file",
                found=f"day first at {dmy.line}:{dmy.col}, month first at {mdy.line}:{mdy.col}",
                code="date",
                help="fix the odd rows, or give the date format explicitly (dmy or mdy)",
            )
        ]
    return ("mdy" if mdy else "dmy"), []


def parse_date(raw: Any, order: str) -> dt.date | None:
    """The cell as a date (ISO, dotted day first, or slash dates in ``order``), or None."""
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if not isinstance(raw, str):
        return None
    t = raw.strip()
    try:
        if m := _ISO.fullmatch(t):
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        if m := _DMY_DOT.fullmatch(t):
            return dt.date(int(m[3]), int(m[2]), int(m[1]))
        if m := _SLASH.fullmatch(t):
            a, b = int(m[1]), int(m[2])
            return dt.date(int(m[3]), b, a) if order == "dmy" else dt.date(int(m[3]), a, b)
    except ValueError:
        return None
    return None


# ---------------------------------------------------------------------------------------------
# Ids and facts.


def account_id(raw: Any) -> str:
    """The cell as an id ('' when empty)."""
    if isinstance(raw, Decimal):
        return str(raw)
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))  # a spreadsheet stores customer number 1042 as 1042.0
    return str(raw).strip() if raw is not None else ""


def fact_value(cell: Cell, dec: str, problems: list[Problem]) -> Value | None:
    """The cell of an account table as a fact value; None when empty or bad (then a problem is added)."""
    raw, span = cell
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, (Decimal, int, float)):
        n = number(raw, dec)
        if isinstance(n, str):
            problems.append(
                Problem(span, "not a valid number", expected="a finite number below 10^15", found=n, code="number")
            )
            return None
        return n
    return _text_fact(str(raw).strip(), span, dec, problems)


def _text_fact(t: str, span: Span, dec: str, problems: list[Problem]) -> Value | None:
    """A text cell as a number, boolean, date or text."""
    if not t:
        return None
    # Most cells of a large table are plain numbers: read them at once (at most 15 integer and 13
    # decimal digits, so below 10^15 and within 28 significant digits, as the checks below require).
    if (dec == "." or "." not in t) and _PLAIN_NUMBER.fullmatch(t):
        return Decimal(t)
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    if _DMY_DOT.fullmatch(t) or _ISO.fullmatch(t):
        d = parse_date(t, "dmy")
        if d is None:
            problems.append(
                Problem(span, "not a valid date", expected="a real calendar day", found=f"'{t}'", code="date")
            )
        return d
    if _LOOKS_NUMERIC.fullmatch(t) or t.lower() in _NOT_FINITE or t.startswith("#"):
        n = number(t, dec)
        if isinstance(n, str):
            problems.append(Problem(span, "not a valid number", expected=number_expected(dec), found=n, code="number"))
            return None
        return n
    return t
