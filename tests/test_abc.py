"""ABC classes, computed ABC limits and concentration measures."""

from __future__ import annotations

import importlib.util
import json
import random
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kamrules.errors import InvalidInput
from kamrules.kam import abc_classes
from kamrules.kam.computed_abc import computed_abc
from kamrules.kam.concentration import concentration


def classes(rows):
    return {r.account: r.cls for r in rows}


def test_empty_input_gives_no_rows():
    """An empty portfolio has no ABC rows."""
    assert abc_classes({}) == []


def test_single_account_is_a():
    """A lone positive account holds 100% of the value and is class A."""
    (row,) = abc_classes({"ACME": D("12.5")})
    assert (row.rank, row.share, row.cumulative_share, row.cls) == (1, D(1), D(1), "A")


def test_account_crossing_the_line_is_in_the_class():
    """The account whose value takes the cumulative share over a cut-off belongs to that class."""
    rows = abc_classes({"a": D(70), "b": D(20), "c": D(6), "d": D(4)})
    assert classes(rows) == {"a": "A", "b": "A", "c": "B", "d": "C"}
    assert [r.cumulative_share for r in rows] == [D("0.7"), D("0.9"), D("0.96"), D(1)]


def test_reaching_the_line_exactly_closes_the_class():
    """An account landing exactly on 80% is the last A; the next one starts B."""
    rows = abc_classes({"a": D(80), "b": D(15), "c": D(5)})
    assert classes(rows) == {"a": "A", "b": "B", "c": "C"}


def test_ties_rank_by_account_id():
    """Equal values are ranked by account id ascending, so the smaller id gets the better class."""
    rows = abc_classes({"z": D(40), "m": D(40), "a": D(20)}, D("0.5"), D("0.9"))
    assert [(r.account, r.rank, r.cls) for r in rows] == [("m", 1, "A"), ("z", 2, "A"), ("a", 3, "B")]
    rows = abc_classes({"b": D(10), "a": D(10)}, D("0.5"), D("0.5"))
    assert classes(rows) == {"a": "A", "b": "C"}


def test_all_equal_values_are_a_until_the_cut_off():
    """With ten equal values the first eight (by id) reach 80% and are A, then B up to 95%."""
    rows = abc_classes({f"c{i}": D(7) for i in range(10)})
    assert [r.cls for r in rows] == ["A"] * 8 + ["B"] * 2


def test_zero_and_negative_values_are_flagged_c_after_positives():
    """Values <= 0 get share 0, the nonpositive flag and class C, ranked after every positive value."""
    rows = abc_classes({"neg": D(-5), "zero": D(0), "big": D(90), "small": D(10)})
    assert [(r.account, r.cls, r.share, r.nonpositive) for r in rows] == [
        ("big", "A", D("0.9"), False),
        ("small", "B", D("0.1"), False),
        ("zero", "C", D(0), True),
        ("neg", "C", D(0), True),
    ]


def test_no_positive_total_makes_everything_c():
    """When nothing is positive every account is C with share 0."""
    rows = abc_classes({"a": D(0), "b": D(-1)})
    assert [(r.cls, r.share, r.cumulative_share) for r in rows] == [("C", D(0), D(0)), ("C", D(0), D(0))]


def test_cut_offs_are_checked():
    """Cut-offs outside 0 < a <= b <= 1 are refused."""
    with pytest.raises(ValueError):
        abc_classes({"a": D(1)}, D("0.9"), D("0.8"))


def test_exact_arithmetic_where_floats_would_round():
    """0.1 + 0.2 reaches a 0.3/0.6 cut-off exactly, which binary floats would miss."""
    rows = abc_classes({"a": D("0.1"), "b": D("0.1"), "c": D("0.1"), "d": D("0.2")}, D("0.4"), D("0.6"))
    assert classes(rows) == {"d": "A", "a": "B", "b": "C", "c": "C"}


values_st = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=4),
    st.decimals(min_value=-1000, max_value=100000, places=2, allow_nan=False, allow_infinity=False),
    max_size=30,
)


@given(values_st, st.randoms())
def test_order_invariance(values, rnd):
    """Shuffling the input does not change any account's class, rank or share."""
    items = list(values.items())
    rnd.shuffle(items)
    assert abc_classes(dict(items)) == abc_classes(values)


@given(values_st, st.decimals(min_value=D("0.01"), max_value=1000, places=2))
@settings(max_examples=200)
def test_scale_invariance(values, factor):
    """Multiplying every value by a positive constant does not change the classes."""
    scaled = {k: v * factor for k, v in values.items()}
    assert classes(abc_classes(scaled)) == classes(abc_classes(values))


def test_computed_abc_uniform_distribution_worked_example():
    """On uniform values the limits are those of the curve y = 2x - x**2 worked out from the method's definition.

    Ultsch & Lötsch (2015, PLoS One 10(6): e0129767) define the Pareto point as the curve point
    nearest (0, 1), the break-even point as where the slope is 1, and the B/C limit as the point
    nearest (x of the later of the two, 1). For uniformly spread values the ABC curve is
    y = 2x - x**2, so: break-even at x = 1/2 (y = 3/4); Pareto point where 2x = 4(1 - x)**3,
    x = 0.41025 (y = 0.65225); B/C limit where 2(x - 1/2) = 4(1 - x)**3, x = 0.61449 (y = 0.85138).
    """
    lim = computed_abc({f"c{i:05d}": D(i) for i in range(1, 2001)}).limits
    near = lambda p, x, y: abs(float(p[0]) - x) < 0.001 and abs(float(p[1]) - y) < 0.001  # noqa: E731
    assert near(lim.break_even, 0.5, 0.75)
    assert near(lim.pareto, 0.41025, 0.65225)
    assert near(lim.bc_limit, 0.61449, 0.85138)
    assert lim.ab_limit == lim.pareto  # the Pareto point comes first, so it closes class A
    assert (lim.a_count, lim.b_count, lim.c_count) == (821, 409, 770)


@pytest.mark.parametrize("n,sigma,seed", [(200, 1.0, 1), (1000, 1.5, 2), (3000, 0.7, 3)])
def test_computed_abc_agrees_with_an_independent_implementation(n, sigma, seed):
    """Class sizes match the abc-analysis package (a port of the authors' R code) within 1% of the accounts.

    That port smooths the curve with a spline and reads it on a grid, as the R package does; this
    implementation uses the exact points, so the limits may differ by a few accounts, not more.
    """
    import warnings

    import numpy as np
    import pandas as pd
    from abc_analysis import abc_analysis

    values = np.round(np.random.default_rng(seed).lognormal(8, sigma, n), 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the peer's pandas and matplotlib warnings are not ours
        ref = abc_analysis(pd.Series(values))
    ours = computed_abc({f"a{i:05d}": D(str(v)) for i, v in enumerate(values.tolist())}).limits
    for mine, theirs in ((ours.a_count, ref["Aind"]), (ours.b_count, ref["Bind"]), (ours.c_count, ref["Cind"])):
        assert abs(mine - len(theirs)) <= n // 100


def test_computed_abc_equal_values_splits_at_half():
    """For equal values the Pareto point is the curve's middle, so half is A and the rest B."""
    result = computed_abc({f"c{i}": D(5) for i in range(10)})
    assert [r.cls for r in result.rows] == ["A"] * 5 + ["B"] * 5


def test_computed_abc_single_account_is_a():
    """One account is class A (the curve's artificial origin never wins the Pareto point)."""
    assert [r.cls for r in computed_abc({"x": D(3)}).rows] == ["A"]


def test_computed_abc_puts_nonpositive_values_in_class_c_with_a_note():
    """Zero and negative values are class C after every positive one; the limits come from the positive values."""
    values = {"a": D(50), "b": D(0), "c": D(-1), "d": D(30), "e": D(5), "f": D(1)}
    result = computed_abc(values, source="revenue")
    alone = computed_abc({k: v for k, v in values.items() if v > 0})
    assert [(r.account, r.cls, r.rank, r.nonpositive) for r in result.rows] == [
        (r.account, r.cls, r.rank, False) for r in alone.rows
    ] + [("b", "C", 5, True), ("c", "C", 6, True)]
    assert [r.share for r in result.rows] == [r.share for r in alone.rows] + [D(0), D(0)]
    assert (result.limits.ab_limit, result.limits.bc_limit) == (alone.limits.ab_limit, alone.limits.bc_limit)
    assert (result.limits.a_count, result.limits.b_count, result.limits.c_count) == (
        alone.limits.a_count,
        alone.limits.b_count,
        alone.limits.c_count + 2,
    )
    assert result.notes == (
        "2 accounts with a zero or negative value are in class C; the limits are read from the 4 positive values",
    )


def test_computed_abc_with_no_positive_value_is_all_c():
    """With no positive value every account is class C, with the note."""
    result = computed_abc({"a": D(0), "b": D(-3)})
    assert [(r.account, r.cls) for r in result.rows] == [("a", "C"), ("b", "C")]
    assert result.notes[0].startswith("2 accounts with a zero or negative value are in class C")


def test_computed_abc_refuses_empty_input():
    """Computed ABC needs at least one account."""
    with pytest.raises(InvalidInput):
        computed_abc({})


def test_computed_abc_order_invariant():
    """Computed classes do not depend on input order."""
    rnd = random.Random(7)
    values = {f"k{i}": D(str(round(rnd.lognormvariate(3, 1), 2))) for i in range(200)}
    items = list(values.items())
    rnd.shuffle(items)
    assert computed_abc(dict(items)) == computed_abc(values)


def test_concentration_measures():
    """Top-20% share, Gini and HHI are exact, with negative values counted as zero."""
    c = concentration({"a": D(5), "b": D(5), "c": D(0), "d": D(-2), "e": D(90)})
    assert (c.accounts, c.positive_accounts, c.total, c.top20_accounts) == (5, 3, D(100), 1)
    assert (c.top20_share, c.gini, c.hhi) == (D("0.9"), D("0.74"), D("0.815"))


def test_concentration_equal_and_monopoly():
    """Equal values give Gini 0 and HHI 1/n; one account with everything gives Gini (n-1)/n and HHI 1."""
    eq = concentration({"a": D(1), "b": D(1), "c": D(1), "d": D(1)})
    assert (eq.gini, eq.hhi, eq.top20_share) == (D(0), D("0.25"), D("0.25"))
    mono = concentration({"a": D(9), "b": D(0), "c": D(0), "d": D(0)})
    assert (mono.gini, mono.hhi) == (D("0.75"), D(1))


def test_concentration_without_positive_total():
    """With nothing positive the share measures are None rather than a division by zero."""
    c = concentration({"a": D(0), "b": D(-3)})
    assert (c.top20_share, c.gini, c.hhi, c.total) == (None, None, None, D(0))
    assert concentration({}).accounts == 0


def _bench():
    """benchmarks/abc_bench.py as a module: abc_classes_arrays lives there, beside the benchmark that uses it."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "abc_bench.py"
    spec = importlib.util.spec_from_file_location("abc_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows_text(rows):
    return [
        (r.account, str(r.value), r.rank, str(r.share), str(r.cumulative_share), r.cls, r.nonpositive) for r in rows
    ]


mixed_st = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=4),
    st.one_of(
        st.sampled_from([D(0), D("0.00"), D(-3), D(5), D("5.0"), D("5.00"), D("1E+2")]),
        st.decimals(min_value=-1000, max_value=100000, places=3, allow_nan=False, allow_infinity=False),
    ),
    max_size=40,
)


@given(
    mixed_st,
    st.sampled_from([(D("0.8"), D("0.95")), (D("0.5"), D("0.5")), (D("0.3"), D(1)), (D(1), D(1))]),
    st.randoms(),
)
@settings(max_examples=300)
def test_fast_path_matches_exact_decimal_path(values, cuts, rnd):
    """The int64 fast path gives the rows, shares and classes of the pure-Decimal path, ties, zeros, negatives too."""
    from kamrules.kam.abc import _abc_classes_exact
    from kamrules.kam.computed_abc import _computed_abc_exact
    from kamrules.kam.concentration import _concentration_exact

    items = list(values.items())
    rnd.shuffle(items)  # unsorted ids take the other branch of the id ordering
    shuffled = dict(items)
    expected = _abc_classes_exact(values, *cuts)
    assert _rows_text(abc_classes(shuffled, *cuts)) == _rows_text(expected)
    assert abc_classes(shuffled, *cuts) == expected
    assert abc_classes(shuffled, *cuts).counts() == {c: sum(r.cls == c for r in expected) for c in "ABC"}
    cents = [int(v.scaleb(3)) for v in shuffled.values()]
    arrays = _bench().abc_classes_arrays(list(shuffled), cents, 3, *cuts)
    assert [(r.account, r.value, r.rank, r.share, r.cumulative_share, r.cls) for r in arrays] == [
        (r.account, r.value, r.rank, r.share, r.cumulative_share, r.cls) for r in expected
    ]
    assert concentration(shuffled) == _concentration_exact(values)
    positive = {k: v for k, v in shuffled.items() if v > 0}
    if positive:
        fast, ref = computed_abc(positive), _computed_abc_exact(positive, "<values>")
        assert fast == ref and _rows_text(fast.rows) == _rows_text(ref.rows)


def test_fast_path_matches_exact_path_on_many_tied_values():
    """Two thousand seeded values with many ties, zeros and negatives class and measure the same on both paths."""
    from kamrules.kam.abc import _abc_classes_exact
    from kamrules.kam.computed_abc import _computed_abc_exact
    from kamrules.kam.concentration import _concentration_exact

    rnd = random.Random(11)
    values = {
        f"k{rnd.randrange(10**6):06d}": D(rnd.choice([0, -1, 1, 2, 2, 5, 50, rnd.randrange(-500, 10**5)])) / 100
        for _ in range(2000)
    }
    assert _rows_text(abc_classes(values)) == _rows_text(_abc_classes_exact(values, D("0.8"), D("0.95")))
    assert concentration(values) == _concentration_exact(values)
    positive = {k: v for k, v in values.items() if v > 0}
    assert computed_abc(positive) == _computed_abc_exact(positive, "<values>")


def test_cli_computed_abc_on_the_readme_example_notes_the_zero_account():
    """`kamrules abc --method computed` on the README's example portfolio succeeds and notes its zero account."""
    from click.testing import CliRunner

    from kamrules.cli import main

    example = Path(__file__).parent.parent / "examples" / "portfolio.csv"
    result = CliRunner().invoke(main, ["abc", str(example), "--method", "computed", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["notes"] == [
        "1 account with a zero or negative value is in class C; the limits are read from the 29 positive values"
    ]
    last = doc["accounts"][-1]
    assert (last["class"], last["rank"]) == ("C", 30)
