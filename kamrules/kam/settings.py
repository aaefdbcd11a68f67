"""The review's settings (rules/settings.yaml): ABC cut-offs, potential weights, selection capacity and weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from kamrules.errors import InvalidInput, Span
from kamrules.kam import selection as sel
from kamrules.kam.potential import DEFAULT_WEIGHTS
from kamrules.lang import SETTINGS_FILE, Problems, YNode, is_finite_number, read_yaml

__all__ = ["Settings", "load_settings"]

DEFAULT_CUTS = {"a": Decimal("0.80"), "b": Decimal("0.95")}


@dataclass(frozen=True)
class Settings:
    """ABC cut-offs, potential weights, the key-account selection and the evaluation batch size."""

    a_cut: Decimal = DEFAULT_CUTS["a"]
    b_cut: Decimal = DEFAULT_CUTS["b"]
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    batch: int = 2000
    selection: sel.SelectionSettings = field(default_factory=sel.SelectionSettings)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "abc": {"a": str(self.a_cut), "b": str(self.b_cut)},
            "potential": dict(self.weights),
            "selection": self.selection.to_dict(),
        }


def load_settings(rules_dir: str | Path) -> Settings:
    """rules/settings.yaml if it exists, else the defaults; anything unknown or out of range is an InvalidInput."""
    if not Path(rules_dir).is_dir():
        raise InvalidInput.at(
            Span(str(rules_dir)),
            "rules folder not found",
            expected="a folder with settings.yaml (the ABC cut-offs)",
            help="pass --rules DIR",
        )
    path = Path(rules_dir) / SETTINGS_FILE
    if not path.exists():
        return Settings()
    root = read_yaml(path)
    col = Problems()
    cuts, weights = dict(DEFAULT_CUTS), dict(DEFAULT_WEIGHTS)
    selection = sel.SelectionSettings()
    if col.expect_kind(root, "map", "settings.yaml"):
        col.unknown_keys(root, {"abc", "potential", "selection", "review"}, "settings.yaml")
        selection = sel.parse_settings(root, col)
        abc_node, pot_node = root.get("abc"), root.get("potential")
        if abc_node is not None and col.expect_kind(abc_node, "map", "'abc'"):
            _read_cuts(abc_node, cuts, col)
        if pot_node is not None and col.expect_kind(pot_node, "map", "'potential'"):
            _read_weights(pot_node, weights, col)
    if col:
        raise InvalidInput(list(col))
    return Settings(cuts["a"], cuts["b"], weights, selection=selection)


def _read_cuts(node: YNode, cuts: dict[str, Decimal], col: Problems) -> None:
    """The ABC cut-offs under 'abc:', into ``cuts``; they must satisfy 0 < a <= b <= 1."""
    col.unknown_keys(node, set(cuts), "'abc'")
    for key, n in node.items():
        if key in cuts and _number_setting(n, f"abc cut-off '{key}'", "a number in (0, 1]", col):
            cuts[key] = Decimal(str(n.value))
    if not col and not (0 < cuts["a"] <= cuts["b"] <= 1):
        _bad(col, node.span, "abc cut-offs out of order", "0 < a <= b <= 1", f"a={cuts['a']}, b={cuts['b']}")


def _read_weights(node: YNode, weights: dict[str, float], col: Problems) -> None:
    """The potential weights under 'potential:', into ``weights``; each >= 0, at least one above 0."""
    col.unknown_keys(node, set(DEFAULT_WEIGHTS), "'potential'")
    for key, n in node.items():
        if key not in weights or not _number_setting(n, f"weight of '{key}'", "a number >= 0", col):
            continue
        if n.value < 0:
            _bad(col, n.span, f"weight of '{key}' must be a number >= 0", "a number >= 0", n.describe())
        else:
            weights[key] = float(n.value)
    if not col and sum(weights.values()) <= 0:
        _bad(col, node.span, "every potential weight is 0", "at least one weight above 0", "all 0")


def _number_setting(node: YNode, what: str, expected: str, col: Problems) -> bool:
    if node.kind == "scalar" and is_finite_number(node.value):
        return True
    _bad(col, node.span, f"{what} must be a finite number", expected, node.describe())
    return False


def _bad(col: Problems, span: Span, message: str, expected: str, found: str) -> None:
    col.add(span, message, expected=expected, found=found, code="settings")
