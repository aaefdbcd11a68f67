"""The ABC (Pareto) curve as a PNG or SVG chart a sales director can read at a glance."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

# A Figure with its own Agg canvas, not pyplot: drawing a chart never touches the caller's matplotlib
# state (global backend, open figures), and needs no display or GUI toolkit on a server.
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kamrules.errors import InvalidInput, Span
from kamrules.kam.abc import AbcRow

__all__ = ["pareto_plot"]

_COLOURS = {"A": "#2e7d32", "B": "#f9a825", "C": "#9e9e9e"}
_FORMATS = {".png", ".svg"}


def pareto_plot(rows: Sequence[AbcRow], metric: str, path: str | Path) -> Path:
    """Draw the cumulative-share curve of ``rows`` (from abc_classes or computed_abc) to a .png or .svg file."""
    out = Path(path)
    if out.suffix.lower() not in _FORMATS:
        raise InvalidInput.at(
            Span(str(out)),
            "unknown image format",
            expected=".png or .svg",
            found=f"'{out.suffix or 'no extension'}'",
            code="plot-format",
        )
    ordered = sorted(rows, key=lambda r: r.rank)
    n = len(ordered)
    fig = Figure(figsize=(9, 6), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    xs = [0.0] + [100.0 * i / n for i in range(1, n + 1)]
    ys = [0.0] + [100.0 * float(r.cumulative_share) for r in ordered]
    _class_bands(ax, ordered, ys, metric)
    ax.plot(xs, ys, color="#1565c0", lw=2, label=f"cumulative share of {metric}")
    if n:
        ax.plot([0, 100], [0, 100], color="#757575", lw=1, ls=":", label="every account equal")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 102)
    ax.set_xlabel("share of accounts, largest first (%)")
    ax.set_ylabel(f"cumulative share of {metric} (%)")
    ax.set_title(f"ABC analysis of {metric}: {n} account{'s' if n != 1 else ''}")
    ax.grid(True, alpha=0.3)
    # Centre right: the class captions sit at the bottom and the A/B cut-off captions top left.
    ax.legend(loc="center right", fontsize=9)
    fig.tight_layout()
    try:
        fig.savefig(out, format=out.suffix.lower().lstrip("."))
    except OSError as e:
        raise InvalidInput.at(
            Span(str(out)),
            f"cannot write the chart: {e.strerror or e}",
            expected="a writable file path",
            code="plot",
        ) from None
    return out


def _class_bands(ax: Axes, ordered: Sequence[AbcRow], ys: list[float], metric: str) -> None:
    """Shade each class as a vertical band, so the share of accounts in it reads off the x axis."""
    n = len(ordered)
    start = 0
    for cls in ("A", "B", "C"):
        members = [r for r in ordered if r.cls == cls]
        if not members:
            continue
        end = start + len(members)
        x0, x1 = 100.0 * start / n, 100.0 * end / n
        y1 = ys[end]
        value_share = y1 - ys[start]
        ax.axvspan(x0, x1, color=_COLOURS[cls], alpha=0.18, lw=0)
        ax.text(
            (x0 + x1) / 2,
            4,
            f"{cls}\n{len(members)} account{'s' if len(members) != 1 else ''}\n"
            f"{x1 - x0:.0f}% of accounts\n{value_share:.0f}% of {metric}",
            ha="center",
            va="bottom",
            fontsize=9,
            color="#212121",
        )
        if cls != "C" and end < n:
            ax.axvline(x1, color="#c62828", lw=1, ls="--")
            ax.axhline(y1, xmax=x1 / 100.0, color="#c62828", lw=1, ls="--")
            # Past the middle the caption goes left of the line, so it stays inside the chart.
            right = x1 <= 55
            ax.annotate(
                f"{x1:.0f}% of accounts → {y1:.0f}% of {metric}",
                (x1, y1),
                xytext=(6 if right else -6, -14),
                textcoords="offset points",
                fontsize=9,
                color="#c62828",
                ha="left" if right else "right",
            )
        start = end
