"""A rules folder → a rule set: its facts schema, its rule files and its version."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from kamrules.errors import InvalidInput, Problem, Span
from kamrules.lang.facts import load_facts
from kamrules.lang.model import Fact, Rule, RuleSet
from kamrules.lang.problems import Problems
from kamrules.lang.rules import check_ids, parse_rule_file, rule_ids, stratify
from kamrules.lang.source import read_text, read_yaml

FACTS_FILE = "facts.yaml"
SETTINGS_FILE = "settings.yaml"
NOT_RULE_FILES = {FACTS_FILE, SETTINGS_FILE}


def load_ruleset(directory: str | Path) -> RuleSet:
    """Load and validate a rule folder; every problem in every file is reported in one InvalidInput."""
    d = Path(directory)
    col = Problems()
    if d.is_file():
        raise InvalidInput(
            [
                Problem(
                    Span(str(d)),
                    "is a file, not a rules folder",
                    expected="a folder with facts.yaml and rule files",
                    help=f"try {d.parent or '.'}",
                )
            ]
        )
    if not d.is_dir():
        raise InvalidInput(
            [Problem(Span(str(d)), "rules folder not found", expected="a folder with facts.yaml and rule files")]
        )
    facts_path = d / FACTS_FILE
    if not facts_path.exists():
        raise InvalidInput(
            [
                Problem(
                    Span(str(facts_path)),
                    "facts schema not found",
                    expected=f"{FACTS_FILE} in {d}",
                    help="every rules folder declares its facts in facts.yaml",
                )
            ]
        )
    files: list[tuple[str, str]] = []
    facts: dict[str, Fact] = {}
    try:
        facts, text = load_facts(facts_path, col)
        files.append((FACTS_FILE, text))
    except InvalidInput as e:
        col.extend(e.problems)
    rule_paths = sorted(p for p in [*d.glob("*.yaml"), *d.glob("*.yml")] if p.name not in NOT_RULE_FILES)
    rules: list[Rule] = []
    id_spans: list[tuple[str, Span]] = []
    for p in rule_paths:
        try:
            text = read_text(p)
            root = read_yaml(p, text)
        except InvalidInput as e:
            col.extend(e.problems)
            continue
        files.append((p.name, text))
        rules.extend(parse_rule_file(root, str(p), facts, col))
        id_spans.extend(rule_ids(root))
    if not rule_paths:
        col.add(Span(str(d)), "no rule files", expected="at least one *.yaml rule file beside facts.yaml")
    settings = d / SETTINGS_FILE
    if settings.exists():
        # The portfolio review's settings change decisions too, so they are part of the version
        # and are recorded with every decision; they are validated where they are read.
        files.append((SETTINGS_FILE, read_text(settings)))
    check_ids(id_spans, col)
    rules = stratify(rules, facts, col)
    if col:
        raise InvalidInput(list(col))
    return RuleSet(str(d), facts, tuple(rules), ruleset_version(files), tuple(files))


def ruleset_version(files: Sequence[tuple[str, str]]) -> str:
    """The version of a rule set: SHA-256 over its files' names and texts, in load order."""
    h = hashlib.sha256()
    for fname, text in files:
        h.update(fname.encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()
