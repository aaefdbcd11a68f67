"""A battery of bad inputs of every kind through the real CLI: a clear error and its exit code, never exit 4.

Each case writes its files into a fresh folder (default rules copied and edited where the case says),
runs one command and checks: the documented exit code (2 bad command line, 3 invalid input), no
"internal error" and no traceback, and the position (file:line:col, or the option) where one exists.
Cases that would hang or eat memory before the fix run in a subprocess with a timeout and a cap on
its address space (resource.RLIMIT_AS).
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from kamrules.cli import main

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = (ROOT / "examples" / "accounts" / "meccanica-torinese.yaml").read_text(encoding="utf-8")
TABLE = (ROOT / "examples" / "portfolio.csv").read_text(encoding="utf-8")
INVOICES = (ROOT / "examples" / "invoices-it.csv").read_text(encoding="utf-8-sig")
SCENARIO = (ROOT / "scenarios" / "growth.yaml").read_text(encoding="utf-8")
COLUMNS = "account=Cliente,date=Data,amount=Importo,quantity=Quantità,margin=Margine"
LAUGHS = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9))
LAUGHS = 'l0: &l0 "lol"\n' + LAUGHS
TIMEOUT_S = 30
ADDRESS_SPACE = 3 * 2**30  # bytes; billion laughs needed more than 4 GB before aliases were refused
POSITION = re.compile(r"^\S+:\d+:\d+: error: ", re.MULTILINE)  # file:line:col (a table cell: row:column)

Edit = Callable[[str], str]


@dataclass(frozen=True)
class Case:
    """One bad input: files to write (text, bytes, or an edit of the default rules' file) and a command."""

    id: str
    kind: str
    args: list[str]  # {d} is the case's folder
    files: dict[str, str | bytes | Edit] = field(default_factory=dict)
    code: int = 3
    position: bool = True  # a file:line:col is expected in the error
    isolated: bool = False  # run in a subprocess with a timeout and a memory cap


def replace(old: str, new: str) -> Edit:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


def rule(when: str) -> Edit:
    """Append one rule to the default stages.yaml."""
    extra = (
        f"  - id: battery-rule\n    description: added\n    when: {when}\n    then: {{recommend: {{stage: mid-KAM}}}}\n"
    )
    return lambda text: text + extra


def acc(edit: Edit) -> dict[str, str]:
    return {"acc.yaml": edit(ACCOUNT)}


CHECK = ["rules", "check", "{d}/rules"]
EVAL = ["evaluate", "{d}/acc.yaml", "--no-audit"]
EVAL_RULES = ["evaluate", str(ROOT / "examples/accounts/meccanica-torinese.yaml"), "--rules", "{d}/rules", "--no-audit"]
TRUST = "{fact: trust_score, op: gte, value: 4}"
INV = ["portfolio", "{d}/inv.csv", "--transactions", "--period", "2026Q3", "--no-audit"]

CASES = [
    # --- rule files, facts, settings, portfolio rules
    Case("alias-billion-laughs", "rules", CHECK, {"rules/stages.yaml": lambda t: LAUGHS + t}, isolated=True),
    Case("alias-in-tags", "rules", CHECK, {"rules/stages.yaml": replace("tags: [forward]", "tags: [&t forward, *t]")}),
    Case("nul-byte", "rules", CHECK, {"rules/stages.yaml": replace("priority: 100", "priority: 100\x00")}),
    Case(
        "id-trailing-newline",
        "rules",
        CHECK,
        {"rules/stages.yaml": replace("id: pre-to-early", 'id: "pre-to-early\\n"')},
    ),
    Case("non-text-tag", "rules", CHECK, {"rules/stages.yaml": replace("tags: [forward]", "tags: [forward, {a: 1}]")}),
    Case(
        "5000-digit-integer", "rules", CHECK, {"rules/stages.yaml": replace("value: 4}", "value: " + "9" * 5000 + "}")}
    ),
    Case("underflow", "rules", CHECK, {"rules/stages.yaml": replace("value: 4}", "value: 1.0e-400}")}),
    Case("overflow", "rules", CHECK, {"rules/stages.yaml": replace("value: 4}", "value: 1.0e400}")}),
    Case(
        "impossible-date", "rules", CHECK, {"rules/actions.yaml": replace("op: missing}", "op: lt, value: 2026-02-31}")}
    ),
    Case("nested-5000", "rules", CHECK, {"rules/stages.yaml": lambda t: t + "x: " + "[" * 5000 + "]" * 5000 + "\n"}),
    Case("file-9mb", "rules", CHECK, {"rules/stages.yaml": lambda t: t + ("#" * 99 + "\n") * 90_000}, position=False),
    Case("not-utf8", "rules", CHECK, {"rules/stages.yaml": b"rules:\n  - id: caf\xe9\n"}),
    Case(
        "duplicate-key",
        "rules",
        CHECK,
        {"rules/stages.yaml": replace("priority: 100", "priority: 100\n    priority: 1")},
    ),
    Case("empty-file", "rules", CHECK, {"rules/stages.yaml": ""}),
    Case(
        "too-many-terms",
        "rules",
        CHECK,
        {"rules/stages.yaml": rule("{all: [" + ", ".join([f"{{any: [{TRUST}, {TRUST}]}}"] * 13) + "]}")},
    ),
    Case("facts-alias", "facts", CHECK, {"rules/facts.yaml": lambda t: t.replace("facts:", "x: &x 1\nfacts:", 1)}),
    Case(
        "facts-range-overflow", "facts", CHECK, {"rules/facts.yaml": replace("range: [0, 1200]", "range: [0, 1.0e999]")}
    ),
    Case("settings-alias", "settings", CHECK, {"rules/settings.yaml": replace("a: 0.80", "a: &a 0.80\n  x: *a")}),
    Case("settings-long-number", "settings", CHECK, {"rules/settings.yaml": replace("a: 0.80", "a: 0." + "8" * 400)}),
    Case("portfolio-rules-nul", "rules", CHECK, {"rules/portfolio/structure.yaml": lambda t: t + "\x00"}),
    # --- shapes durable_rules alone cannot run: evaluate works (exit 0)
    Case(
        "any-of-200-holding",
        "engine",
        EVAL_RULES,
        {"rules/stages.yaml": rule("{any: [" + ", ".join([TRUST] * 200) + "]}")},
        code=0,
    ),
    Case(
        "not-all-of-20",
        "engine",
        EVAL_RULES,
        {"rules/stages.yaml": rule("{not: {all: [" + ", ".join([TRUST] * 20) + "]}}")},
        code=0,
    ),
    # --- account files
    Case("account-dev-zero", "accounts", ["evaluate", "/dev/zero", "--no-audit"], position=False, isolated=True),
    Case("account-billion-laughs", "accounts", EVAL, {"acc.yaml": LAUGHS + ACCOUNT}, isolated=True),
    Case("account-5000-digits", "accounts", EVAL, acc(replace("revenue: 2900000", "revenue: " + "1" * 5000))),
    Case("account-underflow", "accounts", EVAL, acc(replace("revenue: 2900000", "revenue: 1.0e-400"))),
    Case("account-impossible-date", "accounts", EVAL, acc(lambda t: t + "  last_review: 2026-02-31\n")),
    Case("account-nul", "accounts", EVAL, acc(lambda t: t + "  stage2: x\x00\n")),
    Case("account-id-newline", "accounts", EVAL, acc(replace("account: IT-TO-0264", 'account: "IT-TO\\n0264"'))),
    Case("account-nested", "accounts", EVAL, acc(lambda t: t + "  deep: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n")),
    Case("account-directory", "accounts", ["evaluate", "{d}", "--no-audit"], code=2, position=False),
    Case("account-missing", "accounts", ["evaluate", "{d}/none.yaml", "--no-audit"], position=False),
    # --- account tables
    Case(
        "json-nested-100000",
        "tables",
        ["portfolio", "{d}/t.json", "--no-audit"],
        {"t.json": "[" * 100_000 + "]" * 100_000},
        isolated=True,
    ),
    Case(
        "json-nested-cell",
        "tables",
        ["portfolio", "{d}/t.json", "--no-audit"],
        {"t.json": '[{"account": "A", "revenue": [1]}]'},
    ),
    Case(
        "csv-id-newline",
        "tables",
        ["portfolio", "{d}/t.csv", "--no-audit"],
        {"t.csv": TABLE.replace("C1001", '"C10\n01"', 1)},
    ),
    Case(
        "csv-bad-number",
        "tables",
        ["portfolio", "{d}/t.csv", "--no-audit"],
        {"t.csv": TABLE.replace("53789.13", "5x3", 1)},
    ),
    Case(
        "csv-5000-digits",
        "tables",
        ["portfolio", "{d}/t.csv", "--no-audit"],
        {"t.csv": TABLE.replace("53789.13", "9" * 5000, 1)},
    ),
    Case(
        "yaml-table-laughs",
        "tables",
        ["portfolio", "{d}/t.yaml", "--no-audit"],
        {"t.yaml": LAUGHS + "rows: *l8\n"},
        isolated=True,
    ),
    Case(
        "xlsx-not-a-workbook",
        "tables",
        ["portfolio", "{d}/t.xlsx", "--no-audit"],
        {"t.xlsx": b"PK\x03\x04junk"},
        position=False,
    ),
    Case("table-dev-zero", "tables", ["portfolio", "/dev/zero", "--no-audit"], position=False, isolated=True),
    Case(
        "columns-unknown",
        "tables",
        ["portfolio", "{d}/t.csv", "--columns", "revenue=Nope", "--no-audit"],
        {"t.csv": TABLE},
    ),
    # --- invoice lines
    Case("period-0001Q1", "invoices", [*INV[:4], "0001Q1", "--no-audit", "--columns", COLUMNS], {"inv.csv": INVOICES}),
    Case(
        "one-column-two-roles",
        "invoices",
        [*INV, "--columns", COLUMNS.replace("Margine", "Importo")],
        {"inv.csv": INVOICES},
    ),
    Case(
        "impossible-invoice-date",
        "invoices",
        [*INV, "--columns", COLUMNS],
        {"inv.csv": INVOICES.replace("03/04/2026", "31/02/2026", 1)},
    ),
    Case(
        "invoice-id-newline",
        "invoices",
        [*INV, "--columns", COLUMNS],
        {"inv.csv": INVOICES.replace("Meccanica Torinese", '"Meccanica\nTorinese"', 1)},
    ),
    Case("period-garbage", "invoices", [*INV[:4], "July", "--no-audit", "--columns", COLUMNS], {"inv.csv": INVOICES}),
    # --- scenarios
    Case("scenario-laughs", "scenarios", ["simulate", "{d}/s.yaml"], {"s.yaml": LAUGHS + SCENARIO}, isolated=True),
    Case(
        "scenario-nul",
        "scenarios",
        ["simulate", "{d}/s.yaml"],
        {"s.yaml": SCENARIO.replace("name: growth", "name: growth\x00")},
    ),
    Case(
        "scenario-bad-date",
        "scenarios",
        ["simulate", "{d}/s.yaml"],
        {"s.yaml": SCENARIO.replace("stage: early-KAM", "stage: early-KAM\n    last_review: 2026-13-01", 1)},
    ),
    Case(
        "runs-past-budget",
        "options",
        ["simulate", str(ROOT / "scenarios/growth.yaml"), "--runs", "200000"],
        code=2,
        position=False,
    ),
    Case(
        "runs-10-million",
        "options",
        ["simulate", str(ROOT / "scenarios/growth.yaml"), "--runs", "10000000"],
        code=2,
        position=False,
    ),
    # --- options
    Case(
        "as-of-impossible",
        "options",
        ["evaluate", str(ROOT / "examples/accounts/meccanica-torinese.yaml"), "--as-of", "2026-02-31"],
        code=2,
        position=False,
    ),
    Case("format-unknown", "options", ["rules", "list", "--format", "xml"], code=2, position=False),
    Case(
        "seed-not-integer",
        "options",
        ["simulate", str(ROOT / "scenarios/growth.yaml"), "--seed", "x"],
        code=2,
        position=False,
    ),
    Case("option-unknown", "options", ["portfolio", "--nope"], code=2, position=False),
]


def materialise(case: Case, d: Path) -> list[str]:
    """Write the case's files under ``d`` and return its arguments."""
    if any(name.startswith("rules/") for name in case.files):
        shutil.copytree(ROOT / "rules", d / "rules")
    for name, content in case.files.items():
        path = d / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content = content(path.read_text(encoding="utf-8"))
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return [a.replace("{d}", str(d)) for a in case.args]


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_isolated(args: list[str]) -> tuple[int, str]:
    """The command in its own process, killed after TIMEOUT_S, with its address space capped."""
    proc = subprocess.run(
        [sys.executable, "-c", "from kamrules.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        preexec_fn=_limit_memory,
        cwd=ROOT,
        env={**os.environ, "KAMRULES_DEBUG": ""},
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, tmp_path, monkeypatch):
    """A bad input gets its exit code and a clear error (with a position where one exists), never exit 4."""
    args = materialise(case, tmp_path)
    if case.isolated:
        code, output = run_isolated(args)
    else:
        monkeypatch.chdir(ROOT)  # the default rules folder, as a user in the project runs it
        monkeypatch.delenv("KAMRULES_DEBUG", raising=False)
        result = CliRunner().invoke(main, args)
        code, output = result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "internal error" not in output and "Traceback" not in output, output[-2000:]
    assert code == case.code, output[-2000:]
    if case.code == 3 and case.position:
        assert POSITION.search(output), output[-2000:]
    if case.code == 2:
        assert "Error:" in output


def test_battery_covers_every_kind():
    """The battery holds cases of every kind of input the issue names."""
    kinds = {c.kind for c in CASES}
    assert kinds >= {"rules", "facts", "settings", "accounts", "tables", "invoices", "scenarios", "options", "engine"}
    assert len(CASES) >= 50
