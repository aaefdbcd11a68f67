"""Future potential of a customer: a documented weighted mean of the inputs that are known.

Components, each on 0..1:

* ``trend``          = clamp(revenue_growth + 0.5, 0, 1): a revenue drop of 50% or worse is 0,
                       flat revenue is 0.5, growth of 50% or more is 1.
* ``sustained``      = clamp(revenue_trend + 0.5, 0, 1): the same reading of the trend over
                       several periods (from invoice lines), so one good quarter is not the whole story.
* ``attractiveness`` = attractiveness / 10 (the 0-10 score of the selection matrix).

``score = sum(w_i * c_i) / sum(w_i)`` over the known components, and
``confidence = sum(w_i of known components) / sum(all w_i)``. A missing input is never
invented: it lowers the confidence. With no known component there is no score (None) and the
confidence is 0. The weights come from ``potential:`` in rules/settings.yaml.

Share of wallet is not a component: a deeper relationship is not lost potential (it counts as
relationship depth in the selection score, kamrules/kam/selection.py). Every command (evaluate,
portfolio, scenarios) uses this one estimator, through ``selection.enrich``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_WEIGHTS", "Potential", "estimate"]

DEFAULT_WEIGHTS: dict[str, float] = {"trend": 1.0, "sustained": 1.0, "attractiveness": 1.0}


@dataclass(frozen=True)
class Potential:
    """The estimate, how much of the formula it rests on, and its components."""

    score: float | None
    confidence: float
    components: dict[str, float] = field(default_factory=dict)
    missing: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        # rounded for people: 0.23, not 0.22999999999999998 (the rules get the unrounded score)
        return {
            "score": self.score,
            "confidence": self.confidence,
            "components": {k: round(v, 6) for k, v in self.components.items()},
            "missing": list(self.missing),
        }


def fold(terms: Iterable[float]) -> float:
    """The terms added left to right (as on columns; sum() compensates float sums from Python 3.12 on)."""
    total = 0.0
    for t in terms:
        total += t
    return total


def _clamp(x: float) -> float:
    return 0.0 if x < 0 else 1.0 if x > 1 else x


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def components(facts: Mapping[str, Any]) -> dict[str, float]:
    """The components that the facts allow, each on 0..1."""
    out: dict[str, float] = {}
    g = _num(facts.get("revenue_growth"))
    if g is not None:
        out["trend"] = _clamp(g + 0.5)
    s = _num(facts.get("revenue_trend"))
    if s is not None:
        out["sustained"] = _clamp(s + 0.5)
    a = _num(facts.get("attractiveness"))
    if a is not None:
        out["attractiveness"] = _clamp(a / 10.0)
    return out


def estimate(facts: Mapping[str, Any], weights: Mapping[str, float] | None = None) -> Potential:
    """Weighted mean of the known components; confidence is the weight share they carry."""
    w = dict(DEFAULT_WEIGHTS if weights is None else weights)
    total = fold(v for v in w.values() if v > 0)
    comps = {k: v for k, v in components(facts).items() if w.get(k, 0) > 0}
    known = fold(w[k] for k in comps)
    missing = tuple(k for k in w if w[k] > 0 and k not in comps)
    if not comps or total <= 0:
        return Potential(None, 0.0, {}, missing)
    score = fold(w[k] * c for k, c in comps.items()) / known
    return Potential(round(score, 6), round(known / total, 6), comps, missing)
