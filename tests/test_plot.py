"""The Pareto chart: file formats and what the picture contains."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal as D

import pytest

from kamrules.errors import InvalidInput
from kamrules.kam import abc_classes
from kamrules.kam.computed_abc import computed_abc
from kamrules.render.plot import pareto_plot

VALUES = {f"C{i:02d}": D(1000 // (i + 1)) for i in range(30)} | {"ZERO": D(0)}


def test_png_is_written(tmp_path):
    """A .png path gives a PNG file."""
    out = pareto_plot(abc_classes(VALUES), "revenue", tmp_path / "abc.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_svg_names_metric_classes_and_axes(tmp_path):
    """An .svg chart carries the metric in its title, the A/B/C labels and both axis labels."""
    out = pareto_plot(computed_abc({k: v for k, v in VALUES.items() if v > 0}).rows, "margin", tmp_path / "abc.svg")
    text = out.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    # matplotlib writes text as glyph paths, with the string in a comment beside it.
    for label in (
        "ABC analysis of margin",
        "share of accounts, largest first (%)",
        "cumulative share of margin (%)",
        "% of accounts",
    ):
        assert label in text


def test_empty_rows_still_draw(tmp_path):
    """An empty portfolio draws axes and a title rather than failing."""
    assert pareto_plot([], "revenue", tmp_path / "empty.png").stat().st_size > 0


def test_unknown_extension_is_refused(tmp_path):
    """Only .png and .svg are accepted, with the found extension in the message."""
    with pytest.raises(InvalidInput) as exc:
        pareto_plot(abc_classes(VALUES), "revenue", tmp_path / "abc.pdf")
    assert (
        exc.value.problems[0].headline().endswith("error: unknown image format (expected .png or .svg, found '.pdf')")
    )


def test_import_and_drawing_leave_the_matplotlib_backend_alone(tmp_path):
    """Importing kamrules.render.plot and drawing a chart keep the caller's backend and open no pyplot figure."""
    code = (
        "import sys, matplotlib\n"
        "matplotlib.use('svg')\n"
        "import kamrules.render.plot as plot\n"
        "from kamrules.kam.abc import abc_classes\n"
        "from decimal import Decimal\n"
        "plot.pareto_plot(abc_classes({'A1': Decimal(3), 'B1': Decimal(1)}), 'revenue', sys.argv[1])\n"
        "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)\n"
    )
    # A fresh interpreter: in this one matplotlib may already have been imported and configured.
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "x.png")], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["svg", "False"]
