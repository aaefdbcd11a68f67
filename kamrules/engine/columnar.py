"""A second compile target for the rule model: a columnar plan that evaluates every account at once.

Each condition is a polars expression (engine/columnar_expr.py), each rule a boolean column, strata in
order; computed facts are columns computed before each stratum as engine/compute.py computes them;
derived facts are settled by the conflict order (highest priority, then rule id) and their defaults set
after the last stratum that derives them, as Evaluator._settle does; the stage, structure and actions
are won as Evaluator._decision wins them. The reference evaluator (engine/reference.py) defines the
semantics of missing facts; tests prove plan == durable_rules == reference on random rule sets.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from kamrules.engine.columnar_expr import DTYPES, computed_expr, condition_expr
from kamrules.engine.compute import plan, review_date
from kamrules.engine.evaluate import conflict_order
from kamrules.errors import EngineError
from kamrules.lang.computed import inputs_of
from kamrules.lang.model import STAGES, UNCOUPLING, Account, Rule, RuleSet

RULE_PREFIX = "\x00rule:"
"""Rule columns are named with a prefix no fact name can have."""
BY_PREFIX = "\x00by:"
"""For each derived fact, the rule id (or "default") that set it; null while it is not derived."""


def rule_column(rule_id: str) -> str:
    """The name of a rule's boolean column in the plan's output."""
    return RULE_PREFIX + rule_id


def by_column(fact: str) -> str:
    """The name of the column saying which rule derived a fact."""
    return BY_PREFIX + fact


def account_frame(ruleset: RuleSet, accounts: Sequence[Account]) -> pl.DataFrame:
    """The accounts' facts as columns, one per declared fact (null = missing), typed as the engine compares."""
    columns = {}
    for name, fact in ruleset.facts.items():
        values = [a.facts.get(name) for a in accounts]
        try:  # strict: a value the column cannot hold must not become a silent null (a missing fact)
            columns[name] = pl.Series(name, values, dtype=DTYPES[fact.type], strict=True)
        except (TypeError, OverflowError, pl.exceptions.PolarsError) as e:
            raise EngineError(f"fact '{name}' has a value the columnar plan cannot hold as {fact.type}: {e}") from None
    return pl.DataFrame(columns, height=len(accounts))


class RulePlan:
    """A rule set compiled to column expressions; `run` evaluates a frame of accounts in one pass."""

    def __init__(self, ruleset: RuleSet, as_of: dt.date | None = None) -> None:
        self.ruleset = ruleset
        self.as_of = as_of or review_date()
        self._computed = plan(ruleset)
        facts = ruleset.facts
        self._reads_derived = any(
            facts[n].derived for f in self._computed for n in inputs_of(f.name, facts) if n in facts
        )
        self.ordered = sorted(ruleset.rules, key=lambda r: (r.stratum, *conflict_order(r)))
        """The rules in evaluation order (stratum, then conflict order): the order of `fired`."""
        self.by_priority = sorted(ruleset.rules, key=conflict_order)
        self._settled_after: dict[int, list[str]] = {}
        for fname, fact in facts.items():
            if fact.derived:
                layers = [r.stratum for r in ruleset.rules if any(d == fname for d, _ in r.derive)]
                self._settled_after.setdefault(max(layers, default=0), []).append(fname)

        self._steps = self._compile()
        self._outcome = _Outcome(self.ordered, self.by_priority).expr() if self.ordered else _NO_OUTCOME

    def _compile(self) -> list[list[pl.Expr]]:
        """The plan's steps, built once: each a set of columns computed from the ones before."""
        facts = self.ruleset.facts
        steps: list[list[pl.Expr]] = []
        for stratum in range(self.ruleset.strata):
            if self._computed and (stratum == 0 or self._reads_derived):
                # In dependency order: each computed fact reads the ones before it.
                steps.extend([computed_expr(f, self.as_of)] for f in self._computed)
            layer = [r for r in self.ordered if r.stratum == stratum]
            steps.append([condition_expr(r.when, facts).alias(rule_column(r.id)) for r in layer])
            steps.append(self._settle(stratum, layer))
        return steps

    def lazy(self, frame: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
        """The frame with every rule's column, the facts as the last stratum left them, and who derived what."""
        lf = frame.lazy()
        facts = self.ruleset.facts
        have = set(lf.collect_schema().names())
        missing = [pl.lit(None, dtype=DTYPES[f.type]).alias(n) for n, f in facts.items() if n not in have]
        derived = [n for n, f in facts.items() if f.derived]
        lf = lf.with_columns(*missing, *(pl.lit(None, dtype=pl.String()).alias(by_column(n)) for n in derived))
        for step in self._steps:
            if step:
                lf = lf.with_columns(*step)
        return lf

    def run(self, frame: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
        """`lazy`, collected."""
        return self.lazy(frame).collect()

    def _settle(self, stratum: int, layer: list[Rule]) -> list[pl.Expr]:
        """Derived facts set by this stratum's first rule to conclude them (if no earlier one did), then defaults."""
        out: list[pl.Expr] = []
        concluded = dict.fromkeys(n for r in layer for n, _ in r.derive)
        for fname in [*concluded, *(n for n in self._settled_after.get(stratum, []) if n not in concluded)]:
            fact = self.ruleset.facts[fname]
            value: Any = pl.lit(None, dtype=DTYPES[fact.type])
            by: Any = pl.lit(None, dtype=pl.String())
            if fact.default is not None and fname in self._settled_after.get(stratum, []):
                value, by = pl.lit(fact.default, dtype=DTYPES[fact.type]), pl.lit("default")
            for r in reversed(layer):  # the first rule in conflict order is the outermost `when`
                for d, v in r.derive:
                    if d == fname:
                        on = pl.col(rule_column(r.id))
                        value = pl.when(on).then(pl.lit(v, dtype=DTYPES[fact.type])).otherwise(value)
                        by = pl.when(on).then(pl.lit(r.id)).otherwise(by)
                        break
            unset = pl.col(by_column(fname)).is_null()
            out.append(pl.when(unset & by.is_not_null()).then(value).otherwise(pl.col(fname)).alias(fname))
            out.append(pl.when(unset).then(by).otherwise(pl.col(by_column(fname))).alias(by_column(fname)))
        return out

    def outcome(self, frame: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
        """What each account's decision says, as columns: fired rules, stage move, structure and actions."""
        lf = self.lazy(frame)
        stage = pl.col("stage") if "stage" in self.ruleset.facts else pl.lit(None, dtype=pl.String())
        return (
            lf.with_columns(self._outcome.alias("\x00outcome"))
            .unnest("\x00outcome")
            .with_columns(
                stage.alias("stage_current"),
                pl.coalesce(pl.col("\x00stage_target"), stage).alias("stage_recommended"),
            )
            .with_columns(move_expr(pl.col("stage_current"), pl.col("stage_recommended")).alias("move"))
        )

    def firings(self, frame: pl.LazyFrame | pl.DataFrame) -> list[list[str]]:
        """The ids of the rules that fire on each account, in evaluation order (Evaluator's `firings=`)."""
        out = self.lazy(frame).select(self._outcome.struct.field("fired")).collect()
        return [list(f) for f in out.get_column("fired").to_list()]


_SLICE = 100_000


class _Outcome:
    """Each row's fired rules, actions, stage rule and structure at once, from its rule columns as one array."""

    # A polars expression per rule (when/then, then concat_str and split, or coalesce) cost a batch of 1,000
    # accounts about 4 ms, nearly all of it per expression, not per row; one pass of numpy costs a third of that.
    FIELDS = ("stage_rule", "\x00stage_target", "structure_rule", "structure", "fired", "actions")
    DTYPE = pl.Struct({f: pl.List(pl.String()) if f in ("fired", "actions") else pl.String() for f in FIELDS})

    def __init__(self, ordered: list[Rule], by_priority: list[Rule]) -> None:
        at = {id(r): i for i, r in enumerate(ordered)}
        self.width = len(ordered)
        self.held = pl.struct(*(pl.col(rule_column(r.id)).alias(str(i)) for i, r in enumerate(ordered)))
        self.ids = pl.Series([r.id for r in ordered], dtype=pl.String())
        slots = [(at[id(r)], a.id) for r in by_priority for a in r.actions]  # in conflict order
        self.slot_rule = np.array([i for i, _ in slots], dtype=np.int64)
        self.slot_action = pl.Series([a for _, a in slots], dtype=pl.String())
        self.slot_code = np.unique([a for _, a in slots], return_inverse=True)[1].reshape(-1)
        staged = [r for r in by_priority if r.stage]
        structured = [r for r in by_priority if r.structure]
        self.staged = (np.array([at[id(r)] for r in staged], dtype=np.int64), staged)
        self.structured = (np.array([at[id(r)] for r in structured], dtype=np.int64), structured)

    def expr(self) -> pl.Expr:
        """The struct column of FIELDS."""
        return self.held.map_batches(self._columns, return_dtype=self.DTYPE, is_elementwise=True)

    def _columns(self, held: pl.Series) -> pl.Series:
        n = len(held)
        if n > _SLICE:  # a portfolio: the arrays of one slice at a time (a million rows: 10 million firings)
            return pl.concat([self._columns(held.slice(at, _SLICE)) for at in range(0, n, _SLICE)], rechunk=False)
        fired = held.struct.unnest().to_numpy().astype(bool, copy=False).reshape(n, self.width)
        stage_rules, stage_to = _first(fired, *self.staged, lambda r: r.stage)
        structure_rules, structures = _first(fired, *self.structured, lambda r: r.structure)
        rows, at = np.nonzero(fired)
        fired_ids = _lists(n, rows, self.ids.gather(at))
        rows, slot = np.nonzero(fired[:, self.slot_rule])
        # An action that several fired rules take is listed once, where the first of them (conflict order) has it.
        _, first = np.unique(rows * max(len(self.slot_rule), 1) + self.slot_code[slot], return_index=True)
        keep = np.sort(first)
        actions = _lists(n, rows[keep], self.slot_action.gather(slot[keep]))
        values = (stage_rules, stage_to, structure_rules, structures, fired_ids, actions)
        return pl.DataFrame(dict(zip(self.FIELDS, values, strict=True))).to_struct()


_NO_OUTCOME = pl.struct(
    *(pl.lit([] if d.is_nested() else None, dtype=d).alias(f) for f, d in _Outcome.DTYPE.to_schema().items())
)
"""A rule set without rules: nothing fires."""


def _first(fired: Any, columns: Any, rules: list[Rule], what: Any) -> tuple[pl.Series, pl.Series]:
    """The id of the first fired rule of ``rules`` (their columns of ``fired``) and what it says; null if none."""
    n = len(fired)
    if not rules:
        return pl.repeat(None, n, dtype=pl.String(), eager=True), pl.repeat(None, n, dtype=pl.String(), eager=True)
    sub = fired[:, columns]
    pick, none = pl.Series(sub.argmax(axis=1)), np.flatnonzero(~sub.any(axis=1))
    ids = pl.Series([r.id for r in rules], dtype=pl.String()).gather(pick).scatter(none, None)
    said = pl.Series([what(r) for r in rules], dtype=pl.String()).gather(pick).scatter(none, None)
    return ids, said


def _lists(n: int, rows: Any, texts: pl.Series) -> pl.Series:
    """A list column of n rows: row i holds the ``texts`` whose ``rows`` entry is i (rows ascending)."""
    if n == 0:  # no row for the one list literal to broadcast to
        return pl.Series([], dtype=pl.List(pl.String()))
    counts = np.bincount(rows, minlength=n)
    spans = pl.DataFrame({"offset": np.cumsum(counts) - counts, "length": counts})
    return spans.select(pl.lit(texts.implode()).list.slice("offset", "length")).to_series()


def move_expr(current: pl.Expr, target: pl.Expr) -> pl.Expr:
    """lang/model.stage_move on columns."""
    index = {s: i for i, s in enumerate(STAGES)}

    def at(e: pl.Expr) -> pl.Expr:
        return e.replace_strict(index, default=-1, return_dtype=pl.Int64())

    same = target.is_null() | (target == current).fill_null(False)
    return (
        pl.when(same)
        .then(pl.lit("hold"))
        .when(target == UNCOUPLING)
        .then(pl.lit("uncouple"))
        .when(current == UNCOUPLING)
        .then(pl.lit("recover"))
        .when(current.is_null())
        .then(pl.lit("advance"))
        .when(at(target) > at(current))
        .then(pl.lit("advance"))
        .otherwise(pl.lit("regress"))
    )
