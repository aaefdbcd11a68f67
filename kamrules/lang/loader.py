"""A rules folder → a rule set: its facts schema, its rule files and its version."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from kamrules.errors import InvalidInput, Problem, Span
from kamrules.lang.cache import cached
from kamrules.lang.model import Fact, Rule, RuleSet
from kamrules.lang.problems import Problems
from kamrules.lang.source import read_text, read_yaml

FACTS_FILE = "facts.yaml"
SETTINGS_FILE = "settings.yaml"
NOT_RULE_FILES = {FACTS_FILE, SETTINGS_FILE}


def load_ruleset(directory: str | Path) -> RuleSet:
    """Load and validate a rule folder; every problem in every file is reported in one InvalidInput."""
    d = Path(directory)
    if d.is_file():
        raise InvalidInput.at(
            Span(str(d)),
            "is a file, not a rules folder",
            expected="a folder with facts.yaml and rule files",
            help=f"try {d.parent or '.'}",
        )
    if not d.is_dir():
        raise InvalidInput(
            [Problem(Span(str(d)), "rules folder not found", expected="a folder with facts.yaml and rule files")]
        )
    facts_path = d / FACTS_FILE
    if not facts_path.exists():
        raise InvalidInput.at(
            Span(str(facts_path)),
            "facts schema not found",
            expected=f"{FACTS_FILE} in {d}",
            help="every rules folder declares its facts in facts.yaml",
        )
    rule_files = sorted(p.name for p in [*d.glob("*.yaml"), *d.glob("*.yml")] if p.name not in NOT_RULE_FILES)
    names = [FACTS_FILE, *rule_files, *([SETTINGS_FILE] if (d / SETTINGS_FILE).exists() else [])]
    return cached(str(d), names, lambda name: read_text(d / name), lambda read: _parse(d, names, read))


def load_ruleset_texts(files: Sequence[tuple[str, str]], directory: str | Path) -> RuleSet:
    """A rule set from its files' texts, (name, text) in load order, named as the files of ``directory``.

    Replay uses it on the texts the decision log recorded: the rules are checked exactly as when loaded from
    a folder, and their sources read ``directory/stages.yaml:12`` as they did then.
    """
    texts = dict(files)
    return _parse(Path(directory), list(texts), texts.__getitem__)


def _parse(d: Path, names: Sequence[str], read: Callable[[str], str]) -> RuleSet:
    """Every file of a rule set, facts.yaml first, checked together; all problems in one InvalidInput."""
    # The parsers, only when the parsed-rules cache misses (lang/cache.py).
    from kamrules.lang.facts import load_facts
    from kamrules.lang.rules import check_ids, parse_rule_file, rule_ids, stratify

    col = Problems()
    files: list[tuple[str, str]] = []
    facts: dict[str, Fact] = {}
    rules: list[Rule] = []
    id_spans: list[tuple[str, Span]] = []
    for name in names:
        path = d / name
        try:
            text = read(name)
            if name == SETTINGS_FILE:
                # The portfolio review's settings change decisions too, so they are part of the version
                # and are recorded with every decision; they are validated where they are read.
                files.append((name, text))
                continue
            if name == FACTS_FILE:
                facts = load_facts(path, text, col)
                files.append((name, text))
                continue
            root = read_yaml(path, text)
        except InvalidInput as e:
            col.extend(e.problems)
            continue
        files.append((name, text))
        rules.extend(parse_rule_file(root, str(path), facts, col))
        id_spans.extend(rule_ids(root))
    if not any(name not in NOT_RULE_FILES for name in names):
        col.add(Span(str(d)), "no rule files", expected="at least one *.yaml rule file beside facts.yaml")
    check_ids(id_spans, col)
    rules = stratify(rules, facts, col)
    if col:
        raise InvalidInput(list(col))
    return RuleSet(str(d), facts, tuple(rules), ruleset_version(files), tuple(files))


def ruleset_version(files: Sequence[tuple[str, str]]) -> str:
    """The version of a rule set: SHA-256 over its files' names and texts, in load order."""
    import hashlib  # here, not at import: a rule set from the cache has its version

    h = hashlib.sha256()
    for fname, text in files:
        h.update(fname.encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()
