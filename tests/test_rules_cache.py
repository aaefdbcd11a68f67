"""The parsed rule sets kept on disk (lang/cache.py): the same rule set as parsing, and never a stale one."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from kamrules.engine import durable
from kamrules.engine.compiler import shards
from kamrules.errors import InvalidInput
from kamrules.lang import cache, loader
from kamrules.lang.loader import load_ruleset
from kamrules.lang.model import Leaf, Rule, RuleSet

ROOT = Path(__file__).resolve().parent.parent
THRESHOLD = "- {fact: trust_score, op: gte, value: 4}"  # pre-to-early in rules/stages.yaml


@pytest.fixture
def rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the default rules, with a cache folder of its own."""
    monkeypatch.setenv(cache.ENV_CACHE, str(tmp_path / "cache"))
    return Path(shutil.copytree(ROOT / "rules", tmp_path / "rules"))


def _trust_thresholds(rule: Rule) -> list[object]:
    return [c.value for c in rule.when.children if isinstance(c, Leaf) and c.fact == "trust_score"]


def _entries(rules: Path) -> list[Path]:
    return sorted((rules.parent / "cache").glob("*.pickle"))


def _no_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, a rule set can only come from the cache."""

    def refuse(*_args: object) -> None:
        raise AssertionError("parsed, not read from the cache")

    monkeypatch.setattr(loader, "_parse", refuse)


def test_cached_rule_set_equals_the_parsed_one(rules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second load reads the kept rule set, equal to the first in every rule, position and its version."""
    first = load_ruleset(rules)
    assert len(_entries(rules)) == 1
    _no_parse(monkeypatch)
    again = load_ruleset(rules)
    assert again == first and again.version == first.version and again.files == first.files


def test_a_changed_rule_is_picked_up(rules: Path) -> None:
    """Editing a threshold in a rule file gives the new threshold and a new version at once, never the kept one."""
    before = load_ruleset(rules)
    assert _trust_thresholds(before.rule("pre-to-early")) == [4]
    stages = rules / "stages.yaml"
    text = stages.read_text(encoding="utf-8")
    assert text.count(THRESHOLD) == 1
    stages.write_text(text.replace(THRESHOLD, THRESHOLD.replace("4", "5")), encoding="utf-8")
    after = load_ruleset(rules)
    assert _trust_thresholds(after.rule("pre-to-early")) == [5] and after.version != before.version
    assert len(_entries(rules)) == 2


def test_the_same_rules_in_another_folder_name_their_own_files(rules: Path) -> None:
    """The folder is part of the key: positions in a copy of the rules name the copy, not the first folder read."""
    load_ruleset(rules)
    other = Path(shutil.copytree(rules, rules.parent / "other"))
    assert all(r.file.startswith(str(other)) for r in load_ruleset(other).rules)


def test_an_entry_is_used_only_for_what_it_was_parsed_from(rules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another folder's entry under this folder's file name (a CRC-32 collision) is a miss, never its rules."""
    first = load_ruleset(rules)
    other = Path(shutil.copytree(rules, rules.parent / "other"))
    load_ruleset(other)
    mine = rules.parent / "cache" / f"{cache.cache_key(cache.origin(str(rules), first.files))}.pickle"
    (theirs,) = [p for p in _entries(rules) if p != mine]
    theirs.replace(mine)
    again = load_ruleset(rules)
    assert again == first and all(r.file.startswith(str(rules)) for r in again.rules)
    _no_parse(monkeypatch)
    assert load_ruleset(rules) == first  # and the entry was written again, for this folder


def test_a_damaged_entry_is_parsed_again(rules: Path) -> None:
    """A cut-off or garbled cache file is a miss: the rules load as parsed, and the entry is written whole."""
    first = load_ruleset(rules)
    (entry,) = _entries(rules)
    entry.write_bytes(entry.read_bytes()[:100])
    assert load_ruleset(rules) == first
    entry.write_bytes(b"not a pickle")
    assert load_ruleset(rules) == first
    assert load_ruleset(rules) == first


def test_invalid_rules_are_reported_every_time(rules: Path) -> None:
    """A folder with a problem is never kept: each load reports the same problem."""
    (rules / "stages.yaml").write_text("rules:\n  - id: broken\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(InvalidInput) as e:
            load_ruleset(rules)
        assert any("stages.yaml" in p.span.file for p in e.value.problems)
    assert _entries(rules) == []


def test_cache_off_and_unwritable(rules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """KAMRULES_CACHE=off keeps nothing; a cache folder that cannot be made is no error."""
    monkeypatch.setenv(cache.ENV_CACHE, "off")
    first = load_ruleset(rules)
    assert not (rules.parent / "cache").exists()
    blocker = rules.parent / "a-file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv(cache.ENV_CACHE, str(blocker / "cache"))
    assert load_ruleset(rules) == first


def _compiled_fresh(ruleset: RuleSet) -> list[tuple[int | None, str]]:
    return [(stratum, durable.dumps(rules)) for stratum, rules in shards(ruleset)]


def _compiles(monkeypatch: pytest.MonkeyPatch) -> list[RuleSet]:
    """The rule sets durable.compiled compiles from here on (not those it finds kept)."""
    calls: list[RuleSet] = []
    real = durable.shards
    monkeypatch.setattr(durable, "shards", lambda rs: calls.append(rs) or real(rs))
    return calls


def test_compiled_shards_are_kept_with_the_rule_set(rules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule set read from the cache is compiled to durable_rules once; the kept shards are what a compile gives."""
    calls = _compiles(monkeypatch)
    first = load_ruleset(rules)
    assert durable.compiled(first) == _compiled_fresh(first) and calls == [first]
    assert durable.compiled(first) == _compiled_fresh(first) and calls == [first]
    cache._known.clear()  # as a new process: the rule set and its shards from the entry
    _no_parse(monkeypatch)
    again = load_ruleset(rules)
    assert durable.compiled(again) == _compiled_fresh(first) and calls == [first]
    with durable.Engine(again):  # the engine starts from the kept shards
        pass
    assert len(_entries(rules)) == 1


def test_a_rule_set_changed_in_memory_is_compiled_anew(rules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy with other rules keeps the version it was copied from, never the shards kept for it."""
    calls = _compiles(monkeypatch)
    ruleset = load_ruleset(rules)
    durable.compiled(ruleset)
    fewer = replace(ruleset, rules=ruleset.rules[1:])
    assert fewer.version == ruleset.version
    assert durable.compiled(fewer) == _compiled_fresh(fewer) != _compiled_fresh(ruleset)
    assert calls == [ruleset, fewer]


def test_compiled_shards_follow_the_rules_and_the_compiler(rules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A changed rule is a new entry, compiled anew; kept shards are compiled again when the compiler changes."""
    calls = _compiles(monkeypatch)
    before = load_ruleset(rules)
    durable.compiled(before)
    stages = rules / "stages.yaml"
    stages.write_text(stages.read_text(encoding="utf-8").replace(THRESHOLD, THRESHOLD.replace("4", "5")), "utf-8")
    after = load_ruleset(rules)
    assert durable.compiled(after) == _compiled_fresh(after) != _compiled_fresh(before)
    assert calls == [before, after]
    edited = rules.parent / "compiler.py"
    edited.write_text("# another compiler\n", encoding="utf-8")
    monkeypatch.setattr(durable, "_COMPILER", [edited])
    assert durable.compiled(after) == _compiled_fresh(after) and calls == [before, after, after]


def test_compiled_shards_with_the_cache_off(rules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """KAMRULES_CACHE=off compiles every time and keeps nothing."""
    monkeypatch.setenv(cache.ENV_CACHE, "off")
    calls = _compiles(monkeypatch)
    ruleset = load_ruleset(rules)
    assert durable.compiled(ruleset) == durable.compiled(ruleset) == _compiled_fresh(ruleset)
    assert calls == [ruleset, ruleset] and not (rules.parent / "cache").exists()
