"""The periodic portfolio review: ABC classes, future potential, designation, review, structure.

``review(rows, ruleset, settings, previous=None)`` takes account rows (from an account table or
from aggregated invoice lines) and:

1. splits off the columns that are not facts: ``name`` (the account's name) and
   ``previous_key_account`` (true/false: the designation of the previous period);
2. converts table numbers to the engine's types (Decimal → float for number facts, integral
   Decimal → int for integer facts) and validates every given fact against the schema, so
   nothing out of schema reaches the engine (all problems are reported together, exit 3);
3. computes the fixed ABC classes (cut-offs from rules/settings.yaml) on revenue, volume,
   purchases and margin, whichever the rows carry and the schema declares, exactly on the
   Decimal values, into the facts ``abc_<metric>``; a class given in the input is kept;
4. estimates the future potential (kamrules/kam/potential.py) into ``potential_score`` unless the
   row gives one; missing inputs lower the stated confidence and are never invented;
5. evaluates every account through ONE Evaluator, in batches;
6. compares the designation with the previous one: ``previous`` rows (the same invoice lines
   for the previous period, reviewed the same way) or the ``previous_key_account`` column →
   new, kept and lost key accounts, each with the rules that (un)designated it;
7. computes the portfolio facts (``portfolio_key_accounts``, ``portfolio_key_revenue_share``,
   ``portfolio_advanced_stage_accounts``, ``portfolio_regions``) and evaluates the pseudo-account
   ``PORTFOLIO`` on them: the structure rules (rules/structure.yaml) recommend base or advanced.

``portfolio_regions`` is the largest ``regions`` of any key account: a lower bound of the regions
the key accounts span, since tables give a count per account, not the regions' names.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from kamrules.engine.evaluate import Decision, Evaluator, Reason
from kamrules.errors import InvalidInput, Problem
from kamrules.inputs.signals import observation_problem
from kamrules.inputs.tables import NOT_FACTS, AccountRow
from kamrules.kam import selection as sel
from kamrules.kam.abc import AbcRow, Concentration, abc_classes, concentration
from kamrules.kam.potential import DEFAULT_WEIGHTS, Potential, estimate
from kamrules.lang.loader import Problems, fact_value_problem
from kamrules.lang.model import Account, RuleSet
from kamrules.lang.source import YNode, is_finite_number, read_yaml

__all__ = ["METRICS", "AccountResult", "PortfolioReview", "Settings", "load_settings", "review"]

METRICS = ("revenue", "volume", "purchases", "margin")
ADVANCED_STAGES = ("partnership-KAM", "synergistic-KAM")
PORTFOLIO_ID = "PORTFOLIO"
SETTINGS_FILE = "settings.yaml"


@dataclass(frozen=True)
class Settings:
    """ABC cut-offs, potential weights and the evaluation batch size."""

    a_cut: Decimal = Decimal("0.80")
    b_cut: Decimal = Decimal("0.95")
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    batch: int = 2000
    selection: sel.SelectionSettings = field(default_factory=sel.SelectionSettings)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "abc": {"a": str(self.a_cut), "b": str(self.b_cut)},
            "potential": dict(self.weights),
            "selection": self.selection.to_dict(),
        }


def load_settings(rules_dir: str | Path) -> Settings:
    """rules/settings.yaml if it exists, else the defaults; anything unknown or out of range is an InvalidInput."""
    path = Path(rules_dir) / SETTINGS_FILE
    if not path.exists():
        return Settings()
    root = read_yaml(path)
    col = Problems()
    cuts = {"a": Decimal("0.80"), "b": Decimal("0.95")}
    weights = dict(DEFAULT_WEIGHTS)
    if col.expect_kind(root, "map", "settings.yaml"):
        col.unknown_keys(root, {"abc", "potential", "selection", "review"}, "settings.yaml")
        selection = sel.parse_settings(root, col)
        abc_node = root.get("abc")
        if abc_node is not None and col.expect_kind(abc_node, "map", "'abc'"):
            col.unknown_keys(abc_node, set(cuts), "'abc'")
            for key, n in abc_node.items():
                if key in cuts and _number_setting(n, f"abc cut-off '{key}'", "a number in (0, 1]", col):
                    cuts[key] = Decimal(str(n.value))
            if not col and not (0 < cuts["a"] <= cuts["b"] <= 1):
                col.add(
                    abc_node.span,
                    "abc cut-offs out of order",
                    expected="0 < a <= b <= 1",
                    found=f"a={cuts['a']}, b={cuts['b']}",
                    code="settings",
                )
        pot = root.get("potential")
        if pot is not None and col.expect_kind(pot, "map", "'potential'"):
            col.unknown_keys(pot, set(DEFAULT_WEIGHTS), "'potential'")
            for key, n in pot.items():
                if key in weights and _number_setting(n, f"weight of '{key}'", "a number >= 0", col):
                    if n.value < 0:
                        col.add(
                            n.span,
                            f"weight of '{key}' must be a number >= 0",
                            expected="a number >= 0",
                            found=n.describe(),
                            code="settings",
                        )
                    else:
                        weights[key] = float(n.value)
            if not col and sum(weights.values()) <= 0:
                col.add(
                    pot.span,
                    "every potential weight is 0",
                    expected="at least one weight above 0",
                    found="all 0",
                    code="settings",
                )
    if col:
        raise InvalidInput(list(col))
    return Settings(cuts["a"], cuts["b"], weights, selection=selection)


def _number_setting(node: YNode, what: str, expected: str, col: Problems) -> bool:
    if node.kind == "scalar" and is_finite_number(node.value):
        return True
    col.add(node.span, f"{what} must be a finite number", expected=expected, found=node.describe(), code="settings")
    return False


@dataclass
class AccountResult:
    """One account's ABC rows, potential estimate, previous designation and decision."""

    decision: Decision
    abc: dict[str, AbcRow]
    potential: Potential | None
    potential_given: bool
    previous_key: bool | None
    previous_decision: Decision | None = None
    notes: tuple[str, ...] = ()

    @property
    def status(self) -> str | None:
        """new, kept, lost, or None (not a key account either time, or previous designation unknown)."""
        cur, prev = bool(self.decision.key_account), self.previous_key
        if prev is None:
            return None
        if cur and prev:
            return "kept"
        if cur:
            return "new"
        if prev:
            return "lost"
        return None

    def to_dict(self) -> dict:
        """JSON-ready form: the decision with full provenance, plus the ABC and potential behind it."""
        pot = self.potential.to_dict() if self.potential else None
        if pot is not None:
            pot["given"] = self.potential_given
        return {
            "account": self.decision.account,
            "name": self.decision.name,
            "abc": {m: _abc_dict(r) for m, r in self.abc.items()},
            "potential": pot,
            "previous_key_account": self.previous_key,
            "review": self.status,
            "notes": list(self.notes),
            "decision": self.decision.to_dict(),
        }


def _abc_dict(r: AbcRow) -> dict:
    return {
        "class": r.cls,
        "value": str(r.value),
        "rank": r.rank,
        "share": str(r.share),
        "cumulative_share": str(r.cumulative_share),
    }


@dataclass
class PortfolioReview:
    """Everything the portfolio command prints."""

    accounts: list[AccountResult]
    metrics: list[str]
    concentration: dict[str, Concentration]
    portfolio_facts: dict[str, Any]
    structure: Decision
    settings: Settings
    rules_version: str
    previous_known: bool
    selection: dict = field(default_factory=dict)

    def by_status(self, status: str) -> list[AccountResult]:
        """The accounts that are new, kept or lost key accounts, in input order."""
        return [a for a in self.accounts if a.status == status]

    def review_entry(self, a: AccountResult) -> dict:
        """One new/kept/lost key account with the rules that (un)designated it, now and before."""
        d = a.decision
        entry = {
            "account": d.account,
            "name": d.name,
            "key_account": bool(d.key_account),
            "previous_key_account": a.previous_key,
            "rule": d.derived_by.get("key_account"),
            "why": designation_text(d),
            "reasons": [r.to_dict() for r in designation_reasons(d)],
            "facts": {f: d.given.get(f) for f in DESIGNATION_FACTS if f in d.given},
            "selection": sel.selection_detail(d.given, self.settings.selection),
        }
        if a.previous_decision is not None:
            p = a.previous_decision
            entry["previous_rule"] = p.derived_by.get("key_account")
            entry["previous_why"] = designation_text(p)
            entry["previous_facts"] = {f: p.given.get(f) for f in DESIGNATION_FACTS if f in p.given}
        return entry

    def summary(self) -> dict:
        """The review, the concentration figures and the structure recommendation."""
        review = {s: [self.review_entry(a) for a in self.by_status(s)] for s in ("new", "kept", "lost")}
        s = self.structure
        return {
            "accounts": len(self.accounts),
            "key_accounts": sum(1 for a in self.accounts if a.decision.key_account),
            "previous_designation_known": self.previous_known,
            "selection": dict(self.selection),
            "review": review,
            "concentration": {m: _conc_dict(c) for m, c in self.concentration.items()},
            "portfolio_facts": dict(self.portfolio_facts),
            "structure": {
                "recommended": s.structure,
                "rule": s.structure_rule,
                "reasons": [r.to_dict() for r in s.reasons if r.rule.structure],
            },
        }

    def trailer(self) -> dict:
        """The parts of the JSON document that follow the streamed accounts."""
        return {"metrics": list(self.metrics), "summary": self.summary()}


DESIGNATION_FACTS = (
    "abc_revenue",
    "abc_margin",
    "abc_volume",
    "abc_purchases",
    "potential_score",
    "potential_confidence",
    "priorities_changed",
    "margin",
    "revenue_growth",
    "relative_strength",
    "share_of_wallet",
    "key_account_before",
    "selection_score",
    "selection_rank",
    "key_account_capacity",
)


def designation_reasons(d: Decision) -> list[Reason]:
    """The fired rules that concluded on key_account (the winner first, then any overridden)."""
    rs = [r for r in d.reasons if any(f in ("key_account", "eligible") for f, _ in r.rule.derive)]
    win = d.derived_by.get("key_account")
    return sorted(rs, key=lambda r: r.rule.id != win)


def designation_text(d: Decision) -> str:
    """One sentence: which rule (un)designated the account, or that none fired."""
    rule = d.derived_by.get("key_account")
    if rule is None:
        return "no key-account designation in this rule set"
    elig = d.derived_by.get("eligible")
    if rule == "default" and d.derived.get("eligible") is True:
        rank, cap = d.given.get("selection_rank"), d.given.get("key_account_capacity")
        where = f"ranked {rank}, beyond the capacity of {cap}" if rank is not None else "not ranked (no selection_rank)"
        return f"eligible by {elig} but not selected: {where}"
    if rule == "default" and elig not in (None, "default"):
        er = next(x.rule for x in d.reasons if x.rule.id == elig)
        return f"not eligible: {elig}: {' '.join((er.description or '').split())}"
    if rule == "default":
        facts = ", ".join(f"{f} {d.given[f]}" for f in DESIGNATION_FACTS if f in d.given) or "no designation facts"
        return f"no designation rule fires ({facts}): key_account takes its default, {d.key_account}"
    r = next(x.rule for x in d.reasons if x.rule.id == rule)
    verb = "designated" if d.key_account else "withdrawn"
    elig = d.derived_by.get("eligible")
    er = next((x.rule for x in d.reasons if x.rule.id == elig), None)
    if d.key_account and er is not None:  # selected within capacity: say what made it eligible
        return f"{verb} by {rule} (eligible by {elig}: {' '.join((er.description or '').split())})"
    return f"{verb} by {rule}: {' '.join((r.description or '').split())}"


def _conc_dict(c: Concentration) -> dict:
    f = lambda x: None if x is None else str(x)  # noqa: E731
    return {
        "accounts": c.accounts,
        "positive_accounts": c.positive_accounts,
        "total": str(c.total),
        "top20_accounts": c.top20_accounts,
        "top20_share": f(c.top20_share),
        "gini": f(c.gini),
        "hhi": f(c.hhi),
    }


def _engine_value(ruleset: RuleSet, fname: str, value: Any) -> Any:
    fact = ruleset.facts.get(fname)
    if isinstance(value, Decimal) and fact is not None:
        if fact.type == "integer" and value == value.to_integral_value():
            return int(value)
        return float(value)
    return value


def _prepare(rows: Sequence[AccountRow], ruleset: RuleSet, settings: Settings, as_of: dt.date | None = None):
    """Validated facts, ABC rows and potential per account; raises InvalidInput on any bad value."""
    problems: list[Problem] = []
    # A column that is no fact is one mistake, reported once, not once per row.
    unknown = sorted({k for row in rows for k in row.facts} - set(ruleset.facts) - set(NOT_FACTS))
    for k in unknown:
        first = next(row for row in rows if k in row.facts)
        header = first.cell_span(k)._replace(line=1)
        p = fact_value_problem(ruleset, k, None, header, header, "the table")
        problems.append(replace(p, message=f"column '{k}' is not a fact"))
    prepared = []
    for row in rows:
        facts = {k: v for k, v in row.facts.items() if k not in unknown}
        name = facts.pop("name", None)
        prev = facts.pop("previous_key_account", None)
        if name is not None and not isinstance(name, str):
            name = str(name)
        if prev is not None and not isinstance(prev, bool):
            problems.append(
                Problem(
                    row.span,
                    f"account '{row.account}': previous_key_account must be true or false",
                    expected="true or false",
                    found=repr(prev),
                    code="bad-value",
                )
            )
            prev = None
        engine_facts = {}
        for k, v in facts.items():
            ev = _engine_value(ruleset, k, v)
            ctx = f"account '{row.account}'"
            if k in row.observed:  # computed by kamrules: an observation, never rejected by a range
                p = observation_problem(ruleset, k, ev, row.span, ctx)
            else:
                p = fact_value_problem(ruleset, k, ev, row.span, row.span, ctx)
            if p:
                problems.append(replace(p, span=row.cell_span(k)))  # the cell's position only when needed
            else:
                engine_facts[k] = ev
        prepared.append((row, name, prev, facts, engine_facts))
    if problems:
        raise InvalidInput(problems)
    metrics = [
        m
        for m in METRICS
        if f"abc_{m}" in ruleset.facts
        and any(isinstance(p[3].get(m), (Decimal, int)) and not isinstance(p[3].get(m), bool) for p in prepared)
    ]
    abc: dict[str, dict[str, AbcRow]] = {}
    conc: dict[str, Concentration] = {}
    for m in metrics:
        values = {
            p[0].account: Decimal(p[3][m])
            for p in prepared
            if isinstance(p[3].get(m), (Decimal, int)) and not isinstance(p[3].get(m), bool)
        }
        abc[m] = {r.account: r for r in abc_classes(values, settings.a_cut, settings.b_cut)}
        conc[m] = concentration(values)
    out = []
    for row, name, prev, _facts, ef in prepared:
        rows_abc = {m: abc[m][row.account] for m in metrics if row.account in abc[m]}
        abc_facts = {}
        for m, r in rows_abc.items():
            # The whole ABC result becomes facts the rules can use, not just the class.
            abc_facts.update(
                {
                    f"abc_{m}": r.cls,
                    f"abc_{m}_rank": r.rank,
                    f"abc_{m}_share": float(r.share),
                    f"abc_{m}_cumulative_share": float(r.cumulative_share),
                }
            )
        for k, v in abc_facts.items():
            if k in ruleset.facts:
                ef.setdefault(k, v)
        pot, given = None, "potential_score" in ef
        if "potential_score" in ruleset.facts:
            pot = estimate(ef, settings.weights)
        if prev is not None and "key_account_before" in ruleset.facts:
            ef.setdefault("key_account_before", prev)  # continuity in the selection score
        # the one estimator, score, capacity and review dates, as evaluate and scenarios compute them
        ef, _notes = sel.enrich(ef, ruleset, settings.selection, settings.weights, as_of)
        for k in [k for k in abc_facts if k in ef] + (["potential_score"] if "potential_score" in ef else []):
            p = observation_problem(ruleset, k, ef[k], row.span, f"account '{row.account}'")
            if p:
                problems.append(p)
        notes = tuple(row.notes) + _notes
        out.append((Account(row.account, ef, name, str(row.span)), rows_abc, pot, given, prev, notes))
    if problems:
        raise InvalidInput(problems)
    return out, metrics, conc


# What the summary and the account table still need once an account's full decision is written out.
KEEP_GIVEN = ("revenue", "regions", "region", "potential_score", "selection_score", "selection_rank") + tuple(
    f"abc_{m}" for m in METRICS
)


def slim(d: Decision) -> Decision:
    """The decision without what only the full output needs (most given facts, non-designation reasons)."""
    keep = set(KEEP_GIVEN) | set(DESIGNATION_FACTS)
    return replace(d, given={k: v for k, v in d.given.items() if k in keep}, reasons=tuple(designation_reasons(d)))


def _evaluate(
    ev: Evaluator,
    accounts: list[Account],
    batch: int,
    progress: Callable[[int], None] | None,
    emit: Callable[[list[Decision]], None] | None = None,
) -> list[Decision]:
    """Evaluate in batches; full decisions go to ``emit`` and only slim ones are kept, so memory stays small."""
    decisions: list[Decision] = []
    for i in range(0, len(accounts), batch):
        chunk = ev.evaluate_many(accounts[i : i + batch])
        if emit:
            emit(chunk)
        decisions.extend(slim(d) for d in chunk)
        if progress:
            progress(len(chunk))
    return decisions


def review(
    rows: Sequence[AccountRow],
    ruleset: RuleSet,
    settings: Settings | None = None,
    previous: Sequence[AccountRow] | None = None,
    progress: Callable[[int], None] | None = None,
    on_batch: Callable[[list[AccountResult]], None] | None = None,
    as_of: dt.date | None = None,
) -> PortfolioReview:
    """Review a portfolio; ``previous`` rows (if given) set the previous designation instead of the column.

    ``on_batch`` receives each batch of full account results (decision with provenance, ABC,
    potential, review status) as soon as it is evaluated, to be written or recorded; the returned
    review keeps slim decisions only, so memory does not grow with the provenance.
    """
    settings = settings or Settings()
    prepared, metrics, conc = _prepare(rows, ruleset, settings, as_of)
    prev_prepared = _prepare(previous, ruleset, settings, as_of)[0] if previous is not None else None
    with Evaluator(ruleset) as ev:
        # The previous period goes first: its designation is the current continuity, and each current
        # account's status is known when it is emitted. Selection: a first pass of the rules says who
        # is eligible; the eligible are ranked by score.
        prev_decisions: dict[str, Decision] = {}
        if prev_prepared is not None:
            prev_prepared = _select(ev, prev_prepared, settings.batch)[0]
            for d in _evaluate(ev, [p[0] for p in prev_prepared], settings.batch, None):
                prev_decisions[d.account] = d
            if "key_account_before" in ruleset.facts:
                was = {k for k, d in prev_decisions.items() if d.key_account}
                prepared = [(sel.with_continuity(p[0], p[0].id in was, settings.selection), *p[1:]) for p in prepared]
        prepared, ranks = _select(ev, prepared, settings.batch)

        def result(d: Decision, item: tuple) -> AccountResult:
            _acc, rows_abc, pot, given, prev_col, notes = item
            if prev_prepared is None:
                return AccountResult(d, rows_abc, pot, given, prev_col, notes=notes)
            pd = prev_decisions.get(d.account)
            return AccountResult(d, rows_abc, pot, given, bool(pd.key_account) if pd else False, pd, notes)

        by_id = {p[0].id: p for p in prepared}

        def emit(chunk: list[Decision]) -> None:
            on_batch([result(d, by_id[d.account]) for d in chunk])

        decisions = _evaluate(ev, [p[0] for p in prepared], settings.batch, progress, emit if on_batch else None)
        results = [result(d, item) for d, item in zip(decisions, prepared)]
        # Accounts key in the previous period but absent now are lost too.
        present = {a.decision.account for a in results}
        for acc_id, pd in prev_decisions.items():
            if acc_id not in present and pd.key_account:
                gone = ev.evaluate(Account(acc_id, {}, pd.name, pd.origin))
                results.append(AccountResult(gone, {}, None, False, True, pd))
                if on_batch:
                    on_batch([results[-1]])
        pfacts = portfolio_facts(results, ruleset)
        structure = ev.evaluate(Account(PORTFOLIO_ID, pfacts, "portfolio", "portfolio"))
    previous_known = prev_prepared is not None or any(r.previous_key is not None for r in results)
    rv = PortfolioReview(results, metrics, conc, pfacts, structure, settings, ruleset.version, previous_known)
    designated = {a.decision.account for a in results if a.decision.key_account}
    rv.selection = sel.summary(designated, ranks, settings.selection, [p[0] for p in prepared if p[0].id in ranks])
    return rv


def _select(ev: Evaluator, prepared: list, batch: int) -> tuple[list, dict[str, int]]:
    accounts, ranks = sel.select(ev, [p[0] for p in prepared], batch)
    return [(a, *p[1:]) for a, p in zip(accounts, prepared, strict=True)], ranks


def portfolio_facts(results: Sequence[AccountResult], ruleset: RuleSet) -> dict[str, Any]:
    """The portfolio_* facts the structure rules read, only those the schema declares."""
    keys = [a.decision for a in results if a.decision.key_account]
    facts: dict[str, Any] = {
        "portfolio_key_accounts": len(keys),
        "portfolio_advanced_stage_accounts": sum(1 for d in keys if d.stage_recommended in ADVANCED_STAGES),
    }
    revenues = [(bool(a.decision.key_account), a.decision.given.get("revenue")) for a in results]
    total = sum(r for _, r in revenues if isinstance(r, (int, float)) and r > 0)
    if total > 0:
        key_total = sum(r for k, r in revenues if k and isinstance(r, (int, float)) and r > 0)
        facts["portfolio_key_revenue_share"] = round(key_total / total, 6)
    named = {d.given["region"] for d in keys if isinstance(d.given.get("region"), str)}
    regions = [d.given["regions"] for d in keys if isinstance(d.given.get("regions"), int)]
    if named or regions:  # distinct named regions across the key accounts; a count per account is a lower bound
        facts["portfolio_regions"] = max([len(named), *regions])
    return {k: v for k, v in facts.items() if k in ruleset.facts}
