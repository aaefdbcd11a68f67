"""The periodic portfolio review: ABC classes, future potential, designation, review, structure.

``review(rows, ruleset, settings, previous=None, structure_rules=None)`` takes account rows (from an
account table or from aggregated invoice lines) and:

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
5. evaluates every account through ONE Evaluator, in batches, with the rules stage of
   kamrules/kam/engines.py: the columnar plan chooses the firings (``engine="columnar"``, the
   default; a seeded sample of ``cross_check`` accounts is checked through durable_rules, exit 4 on a
   difference) or durable_rules does (``engine="durable"``); the decisions are the same either way;
6. compares the designation with the previous one: ``previous`` rows (the same invoice lines
   for the previous period, reviewed the same way) or the ``previous_key_account`` column →
   new, kept and lost key accounts, each with the rules that (un)designated it;
7. computes the portfolio facts and evaluates the portfolio rule set on them
   (kamrules/kam/structure.py): the structure rules recommend base or advanced.

The sentences a person reads about the review are in kamrules/render/designation.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple

from kamrules.engine import Decision, Reason
from kamrules.inputs.tables import AccountRow
from kamrules.kam import selection as sel
from kamrules.kam.abc import AbcRow
from kamrules.kam.concentration import Concentration
from kamrules.kam.engines import CROSS_CHECK, PortfolioRules
from kamrules.kam.prepare import METRICS, Prepared, prepare
from kamrules.kam.settings import Settings
from kamrules.kam.structure import StructureDecision, portfolio_facts, recommend_structure
from kamrules.lang import Account, RuleSet

if TYPE_CHECKING:  # polars only when a review holds its accounts as a table
    import polars as pl

__all__ = ["DESIGNATION_FACTS", "AccountResult", "PortfolioReview", "designation_reasons", "review"]

# The facts a designation rule reads: shown beside each new, kept and lost key account.
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


@dataclass(frozen=True)
class AccountResult:
    """One account's decision, what it was prepared from (None for a key account absent now), its previous one."""

    decision: Decision
    prepared: Prepared | None
    previous_key: bool | None
    previous_decision: Decision | None = None

    @property
    def notes(self) -> tuple[str, ...]:
        """Note codes about how the account's facts were computed."""
        return self.prepared.notes if self.prepared else ()

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the decision with full provenance, plus the ABC and potential behind it."""
        p = self.prepared
        pot = p.potential.to_dict() if p and p.potential else None
        if p and pot is not None:
            pot["given"] = p.potential_given
        return {
            "account": self.decision.account,
            "name": self.decision.name,
            "abc": {m: _abc_dict(r) for m, r in (p.abc if p else {}).items()},
            "potential": pot,
            "previous_key_account": self.previous_key,
            "review": self.status,
            "notes": list(self.notes),
            "decision": self.decision.to_dict(),
        }


def _abc_dict(r: AbcRow) -> dict[str, Any]:
    return {
        "class": r.cls,
        "value": str(r.value),
        "rank": r.rank,
        "share": str(r.share),
        "cumulative_share": str(r.cumulative_share),
    }


@dataclass(frozen=True)
class PortfolioReview:
    """Everything the portfolio command shows: the accounts, the concentration and the structure."""

    accounts: list[AccountResult]
    metrics: list[str]
    concentration: dict[str, Concentration]
    portfolio_facts: dict[str, Any]
    structure: StructureDecision
    settings: Settings
    rules_version: str
    previous_known: bool
    selection: dict[str, Any] = field(default_factory=dict)  # capacity, eligible, next in line, warnings
    # One row per account (render/rows.py:account_row's columns, then `notes`), when the review ran on columns
    # (kam/frame_review.py); then `accounts` holds the key accounts and `resolve` makes any other one's result.
    table: pl.DataFrame | None = field(default=None, compare=False)
    resolve: Callable[[list[str]], list[AccountResult]] | None = field(default=None, compare=False, repr=False)
    abc: Mapping[str, Sequence[AbcRow]] | None = field(default=None, compare=False, repr=False)  # on columns

    def ranked_abc(self, metric: str) -> Sequence[AbcRow]:
        """Every account's ABC row of one metric, in rank order (on columns, each row made when it is read)."""
        if self.abc is not None:
            return self.abc.get(metric, [])
        rows = (a.prepared.abc[metric] for a in self.accounts if a.prepared and metric in a.prepared.abc)
        return sorted(rows, key=lambda r: r.rank)

    def by_status(self, status: str) -> list[AccountResult]:
        """The accounts that are new, kept or lost key accounts, in input order."""
        if self.table is None:
            return [a for a in self.accounts if a.status == status]
        return self.results_of(self.table.filter(self.table["review"] == status)["account"].to_list())

    def results_of(self, ids: list[str]) -> list[AccountResult]:
        """These accounts' results, in this order (made on demand when the review ran on columns)."""
        known = {a.decision.account: a for a in self.accounts}
        missing = [i for i in ids if i not in known]
        if missing and self.resolve is not None:
            known.update((a.decision.account, a) for a in self.resolve(missing))
        return [known[i] for i in ids]

    def account_count(self) -> int:
        """How many accounts were reviewed (lost ones absent now included)."""
        return len(self.accounts) if self.table is None else self.table.height

    def key_count(self) -> int:
        """How many accounts are key accounts now."""
        if self.table is None:
            return sum(1 for a in self.accounts if a.decision.key_account)
        return int(self.table["key_account"].sum())

    def status_count(self, status: str) -> int:
        """How many accounts are new, kept or lost key accounts (``status``)."""
        if self.table is None:
            return len(self.by_status(status))
        return int((self.table["review"] == status).sum())

    def note_count(self, code: str) -> int:
        """How many accounts carry the note ``code``."""
        if self.table is None:
            return sum(1 for a in self.accounts if code in a.notes)
        return int(self.table["notes"].list.contains(code).sum())

    def active_count(self) -> int:
        """How many accounts have revenue in the period."""
        if self.table is None:
            revenues = (a.decision.given.get("revenue") for a in self.accounts)
            return sum(1 for r in revenues if isinstance(r, (int, float)) and r > 0)
        return int((self.table["revenue"] > 0).sum())


def designation_reasons(d: Decision) -> list[Reason]:
    """The fired rules that concluded on key_account (the winner first, then any overridden)."""
    rs = [r for r in d.reasons if any(f in ("key_account", "eligible") for f, _ in r.rule.derive)]
    win = d.derived_by.get("key_account")
    return sorted(rs, key=lambda r: r.rule.id != win)


# What the summary, the account table and the portfolio facts still need once an account's full
# decision is written out.
KEEP_GIVEN = (
    "revenue",
    "regions",
    "region",
    "potential_score",
    "selection_score",
    "selection_rank",
    *(f"abc_{m}" for m in METRICS),
)


def slim(d: Decision) -> Decision:
    """The decision without what only the full output needs (most given facts, non-designation reasons)."""
    keep = set(KEEP_GIVEN) | set(DESIGNATION_FACTS)
    return replace(d, given={k: v for k, v in d.given.items() if k in keep}, reasons=tuple(designation_reasons(d)))


def _evaluate(
    ev: PortfolioRules,
    accounts: list[Account],
    batch: int,
    progress: Callable[[int], None] | None,
    emit: Callable[[list[Decision]], None] | None = None,
) -> list[Decision]:
    """Evaluate in batches; full decisions go to ``emit`` and only slim ones are kept, so memory stays small."""
    decisions: list[Decision] = []
    ev.sampling(accounts)
    for i in range(0, len(accounts), batch):
        chunk = ev.evaluate_many(accounts[i : i + batch])
        if emit:
            emit(chunk)
        decisions.extend(slim(d) for d in chunk)
        if progress:
            progress(len(chunk))
    return decisions


class _Previous(NamedTuple):
    """The previous period's decisions, when the previous period was reviewed too."""

    known: bool
    decisions: dict[str, Decision]

    def result(self, d: Decision, p: Prepared) -> AccountResult:
        """The account's result, with its previous designation from the previous period or its column."""
        if not self.known:
            return AccountResult(d, p, p.previous_key)
        pd = self.decisions.get(d.account)
        was = bool(pd.key_account) if pd else False
        return AccountResult(d, p, was, pd)


def review(
    rows: Sequence[AccountRow],
    ruleset: RuleSet,
    settings: Settings | None = None,
    previous: Sequence[AccountRow] | None = None,
    progress: Callable[[int], None] | None = None,
    on_batch: Callable[[list[AccountResult]], None] | None = None,
    structure_rules: RuleSet | None = None,
    as_of: dt.date | None = None,
    engine: str = "columnar",
    cross_check: int = CROSS_CHECK,
) -> PortfolioReview:
    """Review a portfolio; ``previous`` rows (if given) set the previous designation instead of the column.

    ``on_batch`` receives each batch of full account results (decision with provenance, ABC,
    potential, review status) as soon as it is evaluated, to be written or recorded; the returned
    review keeps slim decisions only, so memory does not grow with the provenance.
    ``structure_rules`` is the portfolio rule set (kamrules.kam.structure.load_structure_rules);
    without it there is no structure recommendation. ``engine`` and ``cross_check``: the rules stage
    (kamrules/kam/engines.py).
    """
    settings = settings or Settings()
    prepared, metrics, conc = prepare(rows, ruleset, settings)
    before_prepared = prepare(previous, ruleset, settings)[0] if previous is not None else []
    before = _Previous(previous is not None, {})
    with PortfolioRules(ruleset, as_of, engine, cross_check) as ev:
        # The previous period goes first: its designation is the current continuity, and each current
        # account's status is known when it is emitted. Selection: a first pass of the rules says who
        # is eligible; the eligible are ranked by score.
        before_accounts = sel.select(ev, [p.account for p in before_prepared], settings.batch)[0]
        before.decisions.update((d.account, d) for d in _evaluate(ev, before_accounts, settings.batch, None))
        if before.known and "key_account_before" in ruleset.facts:
            was = {k for k, d in before.decisions.items() if d.key_account}
            prepared = [
                replace(p, account=sel.with_continuity(p.account, p.account.id in was, settings.selection))
                for p in prepared
            ]
        selected, ranks = sel.select(ev, [p.account for p in prepared], settings.batch)
        prepared = [replace(p, account=a) for p, a in zip(prepared, selected, strict=True)]
        by_id = {p.account.id: p for p in prepared}

        def emit(chunk: list[Decision]) -> None:
            if on_batch:
                on_batch([before.result(d, by_id[d.account]) for d in chunk])

        decisions = _evaluate(ev, [p.account for p in prepared], settings.batch, progress, emit)
        results = [before.result(d, p) for d, p in zip(decisions, prepared, strict=True)]
        # Accounts key in the previous period but absent now are lost too.
        present = {a.decision.account for a in results}
        for acc_id, pd in before.decisions.items():
            if acc_id not in present and pd.key_account:
                gone = ev.evaluate(Account(acc_id, {}, pd.name, pd.origin))
                results.append(AccountResult(gone, None, True, pd))
                if on_batch:
                    on_batch([results[-1]])
    pfacts = portfolio_facts([a.decision for a in results], structure_rules)
    structure = recommend_structure(pfacts, structure_rules)
    previous_known = before.known or any(r.previous_key is not None for r in results)
    eligible = [p.account for p in prepared if p.account.id in ranks]
    designated = {a.decision.account for a in results if a.decision.key_account}
    chosen = sel.summary(designated, ranks, settings.selection, eligible)
    if "abc_revenue" in ruleset.facts and "revenue" not in metrics:
        # Revenue is the first ABC criterion (docs/domain.md): a review without it says so, not silently.
        chosen["warnings"].append({"code": "no-revenue-column"})
    return PortfolioReview(results, metrics, conc, pfacts, structure, settings, ruleset.version, previous_known, chosen)
