"""Time the deep check: `python benchmarks/deep_check.py [RULES]` (default rules, then a generated RULES-rule set).

The generated set (default 500 rules) is written to a temporary folder beside a copy of rules/facts.yaml:
stage rules out of every stage at a spread of priorities, eligibility and exclusion rules, and action
rules, on random facts and thresholds within their ranges (seeded, so every run checks the same set).
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

from kamrules.engine.deep import deep_check
from kamrules.lang import load_ruleset
from kamrules.lang.model import ALL_STAGES

ROOT = Path(__file__).resolve().parent.parent


def _leaf(rng: random.Random, facts: dict, names: list[str]) -> dict:
    name = rng.choice(names)
    f = facts[name]
    if f["type"] == "boolean":
        return {"fact": name, "op": "eq", "value": rng.random() < 0.5}
    if f["type"] == "enum":
        return {"fact": name, "op": "in", "value": rng.sample(f["values"], rng.randint(1, len(f["values"]) - 1))}
    lo, hi = f["range"]
    lo, hi = max(float(lo), -100.0), min(float(hi), 1000.0)
    value = round(lo + (hi - lo) * rng.random(), 2)
    value = int(value) if f["type"] == "integer" else value
    return {"fact": name, "op": rng.choice(["lt", "lte", "gt", "gte"]), "value": value}


def generated(n: int, folder: Path) -> Path:
    """A rules folder with n generated rules on the default facts."""
    shutil.copy(ROOT / "rules" / "facts.yaml", folder / "facts.yaml")
    facts = yaml.safe_load((ROOT / "rules" / "facts.yaml").read_text(encoding="utf-8"))["facts"]
    given = [
        k for k, f in facts.items() if f["source"] == "given" and f["type"] in ("number", "integer", "boolean", "enum")
    ]
    given = [k for k in given if k != "stage"]
    rng = random.Random(13)
    rules = []
    for i in range(n):
        when = [_leaf(rng, facts, given) for _ in range(rng.randint(1, 4))]
        kind = i % 4
        rule: dict = {
            "id": f"generated-{i}",
            "description": "A generated rule.",
            "priority": rng.choice([100, 300, 500, 900]),
        }
        if kind == 0:
            stage = rng.choice(ALL_STAGES)
            when.insert(0, {"fact": "stage", "op": "eq", "value": stage})
            rule["then"] = {"recommend": {"stage": rng.choice([s for s in ALL_STAGES if s != stage])}}
        elif kind == 1:
            rule["then"] = {"derive": {"eligible": rng.random() < 0.7}}
        elif kind == 2:
            when.append({"fact": "eligible", "op": "eq", "value": True})
            rule["then"] = {"derive": {"key_account": True}}
        else:
            when.append({"fact": "key_account", "op": "eq", "value": rng.random() < 0.5})
            rule["then"] = {"recommend": {"actions": [{"id": f"action-{i}", "text": "Do something."}]}}
        rule["when"] = {"all": when}
        rules.append(rule)
    (folder / "generated.yaml").write_text(yaml.safe_dump({"rules": rules}, sort_keys=False), encoding="utf-8")
    return folder


def timed(folder: Path) -> None:
    """Load and deep-check one rules folder, and print the time and the counts."""
    ruleset = load_ruleset(folder)
    start = time.perf_counter()
    check = deep_check(ruleset)
    elapsed = time.perf_counter() - start
    counts = ", ".join(f"{check.count(s)} {s}" for s in ("error", "warning", "info"))
    print(f"{len(ruleset.rules)} rules: deep check in {elapsed:.2f} s ({counts})")


def main() -> None:
    """The default rules, then the generated set."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    timed(ROOT / "rules")
    with tempfile.TemporaryDirectory() as tmp:
        timed(generated(n, Path(tmp)))


if __name__ == "__main__":
    main()
