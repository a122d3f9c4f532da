"""The figures' shared style and helpers: slide sizes and fonts, each quantity's words and unit on an axis
(:func:`quantity`), log axes that read as plain numbers, footnotes, category labels that do not overlap, and
one-line errors. The plots themselves are in breakdown_plots (roofline, comparison), sweep_plots (Pareto front,
series) and fit_plots (the fits); each returns the image as bytes in ``fmt`` (png, svg or pdf), the caller writes
the file.

matplotlib is imported only when a plot is drawn (through ``figure.pyplot``). Every drawn data artist carries a
``gid`` (kept as the element id in SVG output) so that tests and tools can find the operations, bars and points
in the image.
"""
from __future__ import annotations

import itertools
import math
import re
import textwrap

from ..errors import CostsimError
from . import human

FIELD = "plot"
FIGSIZE = (8.0, 5.0)  # inches: a 16:10 slide panel
WIDE_FIGSIZE = (10.0, 6.0)  # the 2x2 comparison plus its legend column
DPI = 120
# Font sizes chosen to stay readable when the figure is shrunk onto a slide (nothing under 10 pt).
STYLE = {"font.size": 11, "axes.titlesize": 13, "axes.labelsize": 12, "xtick.labelsize": 10,
         "ytick.labelsize": 10, "legend.fontsize": 10, "legend.title_fontsize": 10, "figure.titlesize": 13}
NOTE_COLOUR = "#444444"  # the footnote's

# What a reader calls each sweep column or point key, and the kind of quantity (simulator.output.human) that picks
# its unit; a key with no kind is a plain count or ratio. Any other key reads as itself, "_" as spaces.
QUANTITIES = {
    "total_time_s": ("training time", "time"),
    "time_s": ("training time", "time"),
    "step_time_s": ("step time", "time"),
    "energy_joules": ("energy", "energy"),
    "cost_usd": ("cost", "usd"),
    "co2_kg": ("emissions", "co2"),
    "peak_memory_bytes": ("peak memory", "bytes"),
    "mfu_fraction": ("MFU", "fraction"),
    "device_hours": ("device-hours", None),
    "devices": ("devices", None),
    "samples_per_s": ("throughput (samples/s)", None),
    "tokens_per_s": ("throughput (tokens/s)", None),
    "grid_g_co2_per_kwh": ("grid carbon intensity (g CO2/kWh)", None),
    "pue": ("PUE", None),
    "cloud_price_usd_per_hour": ("cloud price ($ per device-hour)", None),
    "electricity_usd_per_kwh": ("electricity price ($/kWh)", None),
    "lifetime_years": ("device lifetime (years)", None),
}


def quantity(key: str, values) -> tuple[float, str]:
    """(scale, axis label) for a point key or sweep column: plot ``value / scale`` against the label, which
    names the quantity in words and its unit, picked for ``values`` ("training time (days)", "cost ($)")."""
    words, kind = QUANTITIES.get(key, (None, None))
    if words is None:
        words = key.removeprefix("set.").replace("_", " ")
    if kind is None:
        return 1.0, words
    scale, unit = human.axis_unit(kind, values)
    return scale, f"{words} ({unit})"


def fail(problem: str):
    """Raise ``problem`` as a one-line CostsimError of the plot field."""
    raise CostsimError(problem, field=FIELD)


def finite(value, what: str) -> float:
    """A finite real number, or a one-line CostsimError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(f"{what} must be a number, not {value!r}")
    if not math.isfinite(value):
        fail(f"{what} must be finite, not {value!r}")
    return float(value)


def escape(text) -> str:
    """User text shown verbatim (a '$' would otherwise start matplotlib mathtext)."""
    return str(text).replace("$", r"\$")


def plain_tick(v, _=None) -> str:
    """A tick value as a person writes it: "0.5", "20", "1,000", "1.5e-05" only where nothing shorter fits."""
    return human.number(v) if v != 0 else "0"


def log_scale(ax, which: str, values, at_values: bool = False) -> None:
    """A log axis; over less than two decades its ticks read as plain numbers (2, 5, 10, 20, ...) rather than
    powers of ten, which would leave most of the axis unlabelled. ``at_values``: ticks at the data's own
    values (a handful of device counts) instead."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

    getattr(ax, f"set_{which}scale")("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    lo, hi = min(values), max(values)
    distinct = sorted(set(values))
    if at_values and len(distinct) <= 12:
        axis.set_major_locator(FixedLocator(distinct))
        axis.set_major_formatter(FuncFormatter(plain_tick))
        axis.set_minor_locator(NullLocator())
    elif lo > 0 and hi / lo < 100:
        plain = FuncFormatter(plain_tick)
        axis.set_major_formatter(plain)
        axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        axis.set_minor_formatter(plain)
    elif lo > 0 and hi / lo < 1e6:  # powers of ten as plain numbers (0.1, 1, 10, 1,000) while they stay short
        axis.set_major_formatter(FuncFormatter(plain_tick))


def footnote(fig, left_out=(), lines=()) -> float:
    """Small print across the foot of the figure: ``lines`` (what each point is), then what the figure leaves
    out and why ("Left out: v100-sxm2 (needs 90 GB, has 32 GB)."). Returns the share of the figure's height
    it takes, for ``save_figure(..., bottom=...)``; nothing to say: 0."""

    left_out = [str(n) for n in dict.fromkeys(left_out) if str(n).strip()]
    paragraphs = [str(s) for s in lines if str(s).strip()]
    if left_out:
        paragraphs.append("Left out: " + "; ".join(left_out) + ".")
    if not paragraphs:
        return 0.0
    width = int(fig.get_figwidth() * 13)  # characters of 10 pt text across the figure
    wrapped = [line for p in paragraphs for line in textwrap.wrap(p, width)]
    if len(wrapped) > 5:
        wrapped = wrapped[:4] + [f"... and more ({len(left_out)} left out in all)"]
    fig.text(0.01, 0.01, escape("\n".join(wrapped)), fontsize=10, ha="left", va="bottom", color=NOTE_COLOUR,
             gid="left-out")
    return (len(wrapped) * 10 * 1.25 / 72 + 0.12) / fig.get_figheight()


_BREAK_AFTER = re.compile(r"(?<=[:+/,\- ])")


def _wrap(label: str, width: int) -> str:
    """A label over lines of at most ``width`` characters, broken after ':', '+', '/', ',', '-' or a space
    (a piece longer than the width stays whole)."""
    lines, line = [], ""
    for piece in _BREAK_AFTER.split(label):
        if line and len(line) + len(piece) > width:
            lines.append(line.rstrip())
            line = piece
        else:
            line += piece
    lines.append(line.rstrip())
    return "\n".join(lines)


def fit_ticks(fig, ax, positions, labels, max_lines: int = 3, bottom: float = 0.0) -> None:
    """Category labels under ``ax`` that do not overlap: each as it is where it fits its slot, else wrapped
    at its punctuation onto up to ``max_lines`` lines; where some label fits neither way, all are set aslant
    (upright when even that is too tight)."""
    labels = [escape(s) for s in labels]
    ax.set_xticks(positions)
    ax.set_xticklabels(labels)
    ax.get_xlim()  # settles the autoscaled limits before measuring
    fig.tight_layout(rect=(0, bottom, 1, 1))
    renderer = fig.canvas.get_renderer()
    xs = sorted(float(v) for v in ax.transData.transform([(p, 0) for p in positions])[:, 0])
    slot = min([b - a for a, b in itertools.pairwise(xs)] or [ax.get_window_extent(renderer).width]) * 0.85
    size = ax.xaxis.get_ticklabels()[0].get_fontsize() if labels else 10

    def extent(text):
        t = fig.text(0, 0, text, fontsize=size)
        box = t.get_window_extent(renderer)
        t.remove()
        return box

    chosen = []
    for label in labels:
        fit = None
        for width in range(len(label), 2, -1):
            candidate = _wrap(label, width)
            if candidate.count("\n") >= max_lines:
                break
            if extent(candidate).width <= slot:
                fit = candidate
                break
        chosen.append(fit)
    if all(c is not None for c in chosen):
        ax.set_xticklabels(chosen)
        return
    height = max(extent(s).height for s in labels)
    angle = 30 if slot >= 2.2 * height else 90
    ax.set_xticklabels(labels, rotation=angle, ha="right" if angle == 30 else "center",
                       rotation_mode="anchor" if angle == 30 else "default")
