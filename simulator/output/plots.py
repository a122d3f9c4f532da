"""Slide-ready figures: a device's roofline with a workload's operations, run comparisons, Pareto fronts and
cost series. Each plot returns the image as bytes in ``fmt`` (png, svg or pdf); the caller writes the file.

matplotlib is imported only when a plot is drawn (through ``figure.pyplot``); ``pareto_front`` never needs it.
Every drawn data artist carries a ``gid`` (kept as the element id in SVG output) so that tests and tools can
find the operations, bars and points in the image.
"""
from __future__ import annotations

import itertools
import math
import re
import textwrap

from ..errors import CostsimError
from ..run.estimate import BREAKDOWN_CLASSES
from ..schema.hardware import DTYPES
from ..units import TERA
from . import human
from .figure import pyplot, save_figure

FIELD = "plot"
FIGSIZE = (8.0, 5.0)  # inches: a 16:10 slide panel
WIDE_FIGSIZE = (10.0, 6.0)  # the 2x2 comparison plus its legend column
DPI = 120
# Font sizes chosen to stay readable when the figure is shrunk onto a slide (nothing under 10 pt).
STYLE = {"font.size": 11, "axes.titlesize": 13, "axes.labelsize": 12, "xtick.labelsize": 10,
         "ytick.labelsize": 10, "legend.fontsize": 10, "legend.title_fontsize": 10, "figure.titlesize": 13}
# One fixed colour per breakdown class (BREAKDOWN_CLASSES order), so a class looks the same on every plot.
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939")
OTHER_COLOUR = "#c7c7c7"
LABEL_BOX = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8}
MIN_MARKER_AREA = 6.0  # pt^2: the smallest operation stays visible
MAX_MARKER_AREA = 1500.0  # pt^2: the marker of the operation with the largest share of step time
HEADROOM = 1.25  # bar panels reach this multiple of the largest bar, leaving room for the value labels
FOLD_SHARE = 0.02  # breakdown classes under this share of every row's time are drawn together as "other"
NOTE_COLOUR = "#444444"
GROUP_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")

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


def _fail(problem: str):
    raise CostsimError(problem, field=FIELD)


def _number(value, what: str) -> float:
    """A finite real number, or a one-line CostsimError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(f"{what} must be a number, not {value!r}")
    if not math.isfinite(value):
        _fail(f"{what} must be finite, not {value!r}")
    return float(value)


def _escape(text) -> str:
    """User text shown verbatim (a '$' would otherwise start matplotlib mathtext)."""
    return str(text).replace("$", r"\$")


def _class_colours(names) -> dict[str, str]:
    """Fixed colours for the known breakdown classes, the spare ones in turn for any other name."""
    spare = [c for c, k in zip(CLASS_COLOURS, BREAKDOWN_CLASSES) if k not in names]
    out = {}
    for name in names:
        if name in BREAKDOWN_CLASSES:
            out[name] = CLASS_COLOURS[BREAKDOWN_CLASSES.index(name)]
        else:
            out[name] = spare.pop(0) if spare else OTHER_COLOUR
    return out


def _class_order(names) -> list[str]:
    known = [c for c in BREAKDOWN_CLASSES if c in names]
    return known + sorted(n for n in names if n not in BREAKDOWN_CLASSES)


def _spans_decade(values) -> bool:
    lo, hi = min(values), max(values)
    return lo > 0 and hi / lo > 10


def _plain(v, _=None) -> str:
    """A tick value as a person writes it: "0.5", "20", "1,000", "1.5e-05" only where nothing shorter fits."""
    return human.number(v) if v != 0 else "0"


def _log_scale(ax, which: str, values, at_values: bool = False) -> None:
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
        axis.set_major_formatter(FuncFormatter(_plain))
        axis.set_minor_locator(NullLocator())
    elif lo > 0 and hi / lo < 100:
        plain = FuncFormatter(_plain)
        axis.set_major_formatter(plain)
        axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        axis.set_minor_formatter(plain)
    elif lo > 0 and hi / lo < 1e6:  # powers of ten as plain numbers (0.1, 1, 10, 1,000) while they stay short
        axis.set_major_formatter(FuncFormatter(_plain))


def _footnote(fig, left_out=(), lines=()) -> float:
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
    fig.text(0.01, 0.01, _escape("\n".join(wrapped)), fontsize=10, ha="left", va="bottom", color=NOTE_COLOUR,
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


def _fit_ticks(fig, ax, positions, labels, max_lines: int = 3, bottom: float = 0.0) -> None:
    """Category labels under ``ax`` that do not overlap: each as it is where it fits its slot, else wrapped
    at its punctuation onto up to ``max_lines`` lines; where some label fits neither way, all are set aslant
    (upright when even that is too tight)."""
    labels = [_escape(s) for s in labels]
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


# ------------------------------------------------------------------------------------------ roofline
def _roofs(profile) -> list[tuple[list[str], float]]:
    """The profile's compute roofs, data types with the same peak merged: [([dtype, ...], FLOP/s)], fastest last."""
    peaks = profile.peak_dense_flops_per_s
    merged: dict[float, list[str]] = {}
    for d in DTYPES:
        rate = peaks.rate(d)
        if rate:
            merged.setdefault(float(rate), []).append(d)
    return sorted(((names, rate) for rate, names in merged.items()), key=lambda r: r[1])


def _roof_label(names: list[str], rate: float) -> str:
    # in the axis's unit (TFLOP/s, the roofline convention), not the magnitude's own
    ints = [n for n in names if n.startswith("int")]
    unit = "TOP/s" if len(ints) == len(names) else "TFLOP/s" if not ints else "TFLOP/s (TOP/s)"
    return f"{'/'.join(names)}: {human.number(rate / TERA)} {unit}"


def roofline_plot(profile, ops, fmt: str = "png", title: str | None = None) -> bytes:
    """The device's roofline (log-log attainable TFLOP/s against FLOP/byte) with the workload's operations.

    One compute roof per distinct peak rate of the profile (data types with equal peaks share a roof) and the
    memory-bandwidth roof. ``ops`` are rows of ``estimate.op_table``: each operation with FLOPs, bytes and time
    is placed at (flops/bytes, flops/time_s), coloured by op_class, its marker area proportional to its share
    of the step time (count x time_s over the whole table; at least MIN_MARKER_AREA so that none vanishes).
    Gids in SVG: ``op-<index into ops>``, ``roof-<dtype>[-<dtype>...]``, ``roof-bandwidth``.
    """
    if not ops:
        _fail("no operations to plot")
    for i, op in enumerate(ops):
        if not isinstance(op, dict):
            _fail(f"operation {i} must be a row of op_table (a dict), not {type(op).__name__}")
        missing = [k for k in ("name", "op_class", "count", "flops", "bytes", "time_s") if k not in op]
        if missing:
            _fail(f"operation {i} has no {', '.join(missing)}")
    step = [_number(op["count"], f"operation {i} count") * _number(op["time_s"], f"operation {i} time_s")
            for i, op in enumerate(ops)]
    total = math.fsum(step)
    shown = [i for i, op in enumerate(ops)
             if _number(op["flops"], f"operation {i} flops") > 0 and _number(op["bytes"], f"operation {i} bytes") > 0
             and op["time_s"] > 0 and step[i] >= 0]
    if not shown or total <= 0:
        _fail("no operation has FLOPs, bytes and a time: nothing to place on the roofline")
    roofs = _roofs(profile)
    bw = float(profile.memory_bandwidth_bytes_per_s)

    plt = pyplot(fmt, FIELD)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
        xs = [ops[i]["flops"] / ops[i]["bytes"] for i in shown]
        ys = [ops[i]["flops"] / ops[i]["time_s"] / TERA for i in shown]
        ridges = [rate / bw for _, rate in roofs]
        x_lo, x_hi = min(xs + ridges) / 4, max(xs + ridges) * 4
        y_lo = min(ys + [bw * x_lo / TERA]) / 2
        y_hi = roofs[-1][1] / TERA * 2.5

        ax.plot([x_lo, ridges[-1]], [bw * x_lo / TERA, roofs[-1][1] / TERA], color="black", lw=2,
                gid="roof-bandwidth")
        for (names, rate), ridge in zip(roofs, ridges):
            ax.plot([ridge, x_hi], [rate / TERA, rate / TERA], color="black", lw=1.5, ls="-",
                    alpha=0.85, gid="roof-" + "-".join(names))
            ax.text(x_hi / 1.1, rate / TERA * 1.08, _roof_label(names, rate), fontsize=10, ha="right",
                    va="bottom", zorder=5, bbox=LABEL_BOX)

        classes = _class_order({ops[i]["op_class"] for i in shown})
        colours = _class_colours(classes)
        largest = max(step[i] for i in shown) / total
        for i, x, y in zip(shown, xs, ys):
            share = step[i] / total
            area = max(MIN_MARKER_AREA, MAX_MARKER_AREA * share / largest) if largest > 0 else MIN_MARKER_AREA
            ax.scatter([x], [y], s=area, color=colours[ops[i]["op_class"]], alpha=0.65, edgecolors="black",
                       linewidths=0.5, zorder=3, gid=f"op-{i}")
        handles = [plt.Line2D([], [], ls="", marker="o", markersize=8, color=colours[c], markeredgecolor="black",
                              markeredgewidth=0.5, alpha=0.65, label=c.replace("_", " ")) for c in classes]
        ax.legend(handles=handles, loc="lower right", title="marker area: share of step time", ncol=2)

        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(x_lo, x_hi)
        ax.set_ylim(y_lo, y_hi)
        ax.set_xlabel("arithmetic intensity (FLOP/byte)")
        ax.set_ylabel("attainable performance (TFLOP/s)")
        name = getattr(profile, "name", "device")
        ax.set_title(_escape(title) if title else f"{_escape(name)}: roofline, {len(shown)} operations")
        ax.grid(True, which="major", alpha=0.3)
        # The bandwidth label runs along its roof: the angle is the line's slope on the laid-out figure.
        fig.tight_layout()
        x0 = x_lo * 2
        (a, b), (c, d) = ax.transData.transform([(x0, bw * x0 / TERA), (x0 * 10, bw * x0 * 10 / TERA)])
        ax.annotate(f"memory: {human.bytes_(bw)}/s", (x0, bw * x0 / TERA), textcoords="offset points",
                    xytext=(-4, 4), rotation=math.degrees(math.atan2(d - b, c - a)), rotation_mode="anchor",
                    ha="left", va="bottom", fontsize=10)
        return save_figure(fig, plt, fmt)


# ------------------------------------------------------------------------------------------ comparison
ROW_KEYS = ("time_s", "energy_joules", "cost_usd", "co2_kg")


def _check_rows(rows) -> list[dict]:
    if not rows:
        _fail("no rows to compare")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            _fail(f"row {i} must be a dict, not {type(row).__name__}")
        label = str(row.get("label", f"#{i}"))
        clean = {"label": label}
        for k in ROW_KEYS:
            if k not in row:
                _fail(f"row '{label}' has no {k}")
            clean[k] = _number(row[k], f"row '{label}' {k}")
            if clean[k] < 0:
                _fail(f"row '{label}' {k} is negative ({row[k]})")
        breakdown = row.get("breakdown") or {}
        if not isinstance(breakdown, dict):
            _fail(f"row '{label}' breakdown must be a dict of class: seconds")
        clean["breakdown"] = {str(c): _number(s, f"row '{label}' breakdown {c}") for c, s in breakdown.items()}
        if any(s < 0 for s in clean["breakdown"].values()):
            _fail(f"row '{label}' breakdown has a negative time")
        # Only the proportions count: per-step seconds (as in Estimate.breakdown) or whole-run seconds alike.
        parts = math.fsum(clean["breakdown"].values())
        clean["breakdown"] = {c: v / parts for c, v in clean["breakdown"].items()} if parts > 0 else {}
        out.append(clean)
    return out


def _stack_classes(rows) -> tuple[list[str], bool]:
    """Classes drawn on their own (order of BREAKDOWN_CLASSES) and whether an "other" segment is needed."""
    names = _class_order({c for r in rows for c in r["breakdown"]})
    keep = [c for c in names if any(r["breakdown"].get(c, 0.0) >= FOLD_SHARE for r in rows)]
    other = any(r["breakdown"] and 1 - math.fsum(r["breakdown"].get(c, 0.0) for c in keep) > FOLD_SHARE / 10
                for r in rows)
    return keep, other


def comparison_plot(rows, fmt: str = "png", title: str | None = None, left_out=()) -> bytes:
    """Bars of time, energy, cost and CO2 per row (2x2 panels); the time bars stacked by breakdown class.

    ``rows``: [{"label", "time_s", "energy_joules", "cost_usd", "co2_kg", "breakdown": {class: seconds}}]. The
    breakdown gives each class's share of the row's time_s (its seconds over their sum, so per-step seconds do);
    a row with an empty (or all-zero) breakdown gets a plain time bar. Classes under FOLD_SHARE of every row's
    time are drawn as one "other" segment. Each panel's unit is the one ``simulator.output.human`` picks for its
    largest bar (hours or days, kWh or MWh, ...). ``left_out``: what the caller could not draw, and why
    ("v100-sxm2: needs 90 GB, has 32 GB"), printed at the foot of the figure. Gids in SVG:
    ``time-<row>-<class>`` (``time-<row>-total`` for a plain bar, ``time-<row>-other``), ``energy-<row>``,
    ``cost-<row>``, ``co2-<row>``, ``left-out``.
    """
    rows = _check_rows(rows)
    time_scale, time_label = quantity("time_s", [r["time_s"] for r in rows])

    def to_time(s):
        return s / time_scale

    keep, other = _stack_classes(rows)
    colours = _class_colours(keep)
    x = list(range(len(rows)))

    plt = pyplot(fmt, FIELD)
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=WIDE_FIGSIZE, dpi=DPI)
        broken_down = any(r["breakdown"] for r in rows)  # else no legend: the time bars are plain totals
        grid = fig.add_gridspec(2, 3 if broken_down else 2, width_ratios=(1, 1, 0.8) if broken_down else (1, 1))
        axes = [fig.add_subplot(grid[r, c]) for r in range(2) for c in range(2)]
        if broken_down:
            legend_ax = fig.add_subplot(grid[:, 2])
            legend_ax.axis("off")

        ax = axes[0]
        bottoms = [0.0] * len(rows)
        handles = []

        def segment(heights, name, colour, label):
            """One class's segments on top of the stacks so far, only where the class takes time."""
            at = [i for i, h in enumerate(heights) if h > 0]
            bars = ax.bar(at, [heights[i] for i in at], bottom=[bottoms[i] for i in at], color=colour, label=label)
            for i, patch in zip(at, bars):
                patch.set_gid(f"time-{i}-{name}")
                bottoms[i] += heights[i]
            handles.append(bars)

        for c in keep:
            segment([to_time(r["time_s"] * r["breakdown"].get(c, 0.0)) for r in rows], c, colours[c],
                    c.replace("_", " "))
        if other:
            rest = [to_time(r["time_s"]) - b for r, b in zip(rows, bottoms)]
            rest = [v if r["breakdown"] and v > FOLD_SHARE / 10 * to_time(r["time_s"]) else 0.0
                    for r, v in zip(rows, rest)]
            segment(rest, "other", OTHER_COLOUR, "other")
        # Explicit limits: the zero-height segments' sticky bottoms would otherwise stop the headroom margin.
        ax.set_ylim(0, max(to_time(r["time_s"]) for r in rows) * HEADROOM or 1.0)
        plain = [i for i, r in enumerate(rows) if not r["breakdown"]]
        if plain:
            bars = ax.bar(plain, [to_time(rows[i]["time_s"]) for i in plain],
                          color="#4d4d4d" if broken_down else "#4c72b0", label="total (no breakdown)")
            for i, patch in zip(plain, bars):
                patch.set_gid(f"time-{i}-total")
            handles.append(bars)
        for i, r in enumerate(rows):
            ax.annotate(human.number(to_time(r["time_s"])), (i, to_time(r["time_s"])), textcoords="offset points",
                        xytext=(0, 2), ha="center", va="bottom", fontsize=10)
        ax.set_title(time_label)

        panels = (("energy_joules", "energy", "#55a868"), ("cost_usd", "cost", "#c44e52"),
                  ("co2_kg", "co2", "#8172b3"))
        for ax, (key, gid, colour) in zip(axes[1:], panels):
            scale, label = quantity(key, [r[key] for r in rows])
            values = [r[key] / scale for r in rows]
            bars = ax.bar(x, values, color=colour)
            for i, patch in enumerate(bars):
                patch.set_gid(f"{gid}-{i}")
            texts = [human.usd(r[key]) if key == "cost_usd" else human.number(v) for r, v in zip(rows, values)]
            ax.bar_label(bars, labels=[_escape(t) for t in texts], padding=2, fontsize=10)
            ax.set_ylim(0, max(values) * HEADROOM or 1.0)
            ax.set_title(_escape(label))

        for n, ax in enumerate(axes):
            ax.grid(True, axis="y", alpha=0.3)
            ax.yaxis.set_major_formatter(plt.FuncFormatter(_plain))
        if broken_down:
            legend_ax.legend(handles=handles[::-1], loc="center right", title="time by class", frameon=False)
        fig.suptitle(_escape(title) if title else f"comparison of {len(rows)} runs")
        bottom = _footnote(fig, left_out)
        for n, ax in enumerate(axes):
            if n < 2:
                ax.set_xticks(x)
                ax.tick_params(labelbottom=False)
            else:
                _fit_ticks(fig, ax, x, [r["label"] for r in rows], bottom=bottom)
        return save_figure(fig, plt, fmt, bottom)


# ------------------------------------------------------------------------------------------ Pareto
def _values(points, key: str) -> list[float]:
    out = []
    for i, p in enumerate(points):
        if not isinstance(p, dict):
            _fail(f"point {i} must be a dict, not {type(p).__name__}")
        if key not in p:
            _fail(f"point {i} has no {key}")
        out.append(_number(p[key], f"point {i} {key}"))
    return out


def pareto_front(points, x: str, y: str) -> list[int]:
    """Indices of the points no other point dominates when minimising both ``x`` and ``y``, by ascending x.

    A point is dominated when another is no worse on both keys and better on one; equal points keep each other.
    """
    if not points:
        _fail("no points: nothing has a Pareto front")
    xs, ys = _values(points, x), _values(points, y)
    order = sorted(range(len(points)), key=lambda i: (xs[i], ys[i], i))
    front: list[int] = []
    for i in order:
        if not front or ys[i] < ys[front[-1]] or (xs[i], ys[i]) == (xs[front[-1]], ys[front[-1]]):
            front.append(i)
    return front


def _axis(key: str, values: list[float]):
    """(values in the axis unit, axis label) for a point key. A log axis (over a decade) takes the unit its
    smallest value reads in, so that its ticks read 1, 10, 100 rather than 0.01, 0.1, 1."""
    scale, label = quantity(key, [min(values)] if _spans_decade(values) else values)
    return [v / scale for v in values], label


def _overlaps(a, b, pad: float = 2.0) -> bool:
    return not (a.x1 + pad <= b.x0 or b.x1 + pad <= a.x0 or a.y1 + pad <= b.y0 or b.y1 + pad <= a.y0)


# label positions tried around a point, nearest first: (dx, dy) in points, horizontal and vertical alignment
_LABEL_SPOTS = ((6, 3, "left", "bottom"), (6, -3, "left", "top"), (-6, 3, "right", "bottom"),
                (-6, -3, "right", "top"), (0, 8, "center", "bottom"), (0, -8, "center", "top"),
                (10, 16, "left", "bottom"), (10, -16, "left", "top"), (-10, 16, "right", "bottom"),
                (-10, -16, "right", "top"), (0, 24, "center", "bottom"), (0, -24, "center", "top"),
                (16, 30, "left", "bottom"), (16, -30, "left", "top"), (-16, 30, "right", "bottom"),
                (-16, -30, "right", "top"), (0, 40, "center", "bottom"), (0, -40, "center", "top"))
LEADER = {"arrowstyle": "-", "color": "#888888", "lw": 0.7, "shrinkA": 1, "shrinkB": 4}  # far labels: a thin line


def _place_labels(fig, ax, xs, ys, texts: dict, must: set, colours: dict, bottom: float = 0.0) -> int:
    """Labels beside their points where they overlap no other label, marker or the legend and stay inside the
    axes; a label in ``must`` that finds no free spot takes one where it covers only markers, and any label
    that would cover another label is left off. Returns how many labels were left off."""
    from matplotlib.transforms import Bbox

    fig.tight_layout(rect=(0, bottom, 1, 1))
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    at = ax.transData.transform(list(zip(xs, ys)))
    legend = ax.get_legend()
    if legend is not None:  # "best" is settled now, with the points alone, and kept where it is
        fig.canvas.draw()
        corner = legend.get_window_extent(renderer).transformed(ax.transAxes.inverted())
        legend.set_loc((corner.x0, corner.y0))
    taken = [Bbox.from_extents(px - 4, py - 4, px + 4, py + 4) for px, py in at]
    if legend is not None:
        taken.append(legend.get_window_extent(renderer))
    skipped = 0
    for i in sorted(texts, key=lambda i: (i not in must, i)):
        best = None
        for dx, dy, ha, va in _LABEL_SPOTS:
            a = ax.annotate(_escape(texts[i]), (xs[i], ys[i]), textcoords="offset points", xytext=(dx, dy),
                            ha=ha, va=va, fontsize=10, color=colours.get(i, "black"), gid=f"label-{i}",
                            arrowprops=LEADER if abs(dy) > 10 else None)
            box = a.get_window_extent(renderer)
            inside = (box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0 and box.y1 <= frame.y1)
            # covering a marker is bad, covering another label or the legend (taken after the markers) worse
            clashes = sum((1 if n < len(xs) else 50) * _overlaps(box, t) for n, t in enumerate(taken) if n != i)
            if inside and not clashes:
                if best is not None:
                    best[1].remove()
                best = (0, a, box)
                break
            score = clashes + (0 if inside else 1000)
            if best is None or score < best[0]:
                if best is not None:
                    best[1].remove()
                best = (score, a, box)
            else:
                a.remove()
        if best[0] >= 50 or best[0] and i not in must:  # a front label may cover a marker, never a label
            best[1].remove()
            skipped += 1
            continue
        taken.append(best[2])
    return skipped


def pareto_plot(points, x: str = "time_s", y: str = "cost_usd", fmt: str = "png", label_key: str | None = "label",
                title: str | None = None, group_key: str | None = None, left_out=(), figsize=FIGSIZE) -> bytes:
    """All points, the Pareto front (minimising both keys) highlighted and joined; log axes where the data span
    more than a decade. With ``group_key`` (a workload, say: options for different jobs are not alternatives),
    each group has its own front and colour. Labels (``label_key``) go beside the points where they fit
    without overlapping: every front point's, and the others' up to 20 points in all. ``left_out``: what the
    caller could not draw, and why, printed at the foot; ``figsize`` in inches. Gids in SVG: ``point-<index>``
    for each point, ``frontier`` for the line joining the front (``frontier-<n>`` per group), ``label-<i>``."""
    if not points:
        _fail("no points: nothing has a Pareto front")
    raw_x, raw_y = _values(points, x), _values(points, y)
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(points):
        groups.setdefault(str(p.get(group_key)) if group_key else "", []).append(i)
    fronts = {g: [members[j] for j in pareto_front([points[i] for i in members], x, y)]
              for g, members in groups.items()}
    on_front = {i for f in fronts.values() for i in f}
    xs, x_label = _axis(x, raw_x)
    ys, y_label = _axis(y, raw_y)
    colour = {g: GROUP_COLOURS[n % len(GROUP_COLOURS)] for n, g in enumerate(groups)}
    group_of = {i: g for g, members in groups.items() for i in members}

    plt = pyplot(fmt, FIELD)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=figsize, dpi=DPI)
        for i in range(len(points)):
            best, c = i in on_front, colour[group_of[i]]
            ax.scatter([xs[i]], [ys[i]], s=70 if best else 30, color=c if best else "#b0b0b0",
                       edgecolors="black" if best else (c if len(groups) > 1 else "none"),
                       linewidths=0.6 if best else 0.9, zorder=3 if best else 2, gid=f"point-{i}")
        handles = []
        for n, (g, front) in enumerate(fronts.items()):
            gid = "frontier" if len(groups) == 1 else f"frontier-{n}"
            ax.plot([xs[i] for i in front], [ys[i] for i in front], color=colour[g], lw=1.5, zorder=2, gid=gid)
            name = f"{g}: Pareto front" if len(groups) > 1 else "Pareto front"
            handles.append(plt.Line2D([], [], ls="-", marker="o", color=colour[g], markeredgecolor="black",
                                      label=_escape(f"{name} ({len(front)})")))
        handles.append(plt.Line2D([], [], ls="", marker="o", color="#b0b0b0",
                                  label=f"dominated ({len(points) - len(on_front)})"))
        if _spans_decade(xs):
            _log_scale(ax, "x", xs)
        if _spans_decade(ys):
            _log_scale(ax, "y", ys)
        ax.margins(0.12)
        ax.set_xlabel(_escape(x_label))
        ax.set_ylabel(_escape(y_label))
        ax.set_title(_escape(title) if title else _escape(f"{y_label} against {x_label}"))
        ax.grid(True, which="major", alpha=0.3)
        bottom = _footnote(fig, left_out)
        if label_key:
            named = [i for i in range(len(points)) if points[i].get(label_key) is not None
                     and (i in on_front or len(points) <= 20)]
            _place_labels(fig, ax, xs, ys, {i: str(points[i][label_key]) for i in named}, on_front,
                          {i: "black" if i in on_front else "#616161" for i in named}, bottom)
        # under the axes, where no point or label can be: "best" inside a crowded plot still covers some
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2,
                  fontsize=10, frameon=False)
        return save_figure(fig, plt, fmt, bottom)


# ------------------------------------------------------------------------------------------ series
def series_plot(series, x_label: str, y_label: str, fmt: str = "png", title: str | None = None, logx: bool = True,
                logy: bool = True, left_out=(), note: str | None = None) -> bytes:
    """Lines of y against x (sorted by x), one per labelled series: ``{label: [(x, y), ...]}``, for example cost
    against model size or device count. The labels should carry the units (``quantity`` gives them). A log x
    axis with a dozen x values or fewer has its ticks at those values. ``note``: a line under the plot
    (what each point is); ``left_out``: what was not drawn, and why. Gids: ``series-<n>`` in dict order."""
    if not series or not isinstance(series, dict):
        _fail("no series to plot: pass {label: [(x, y), ...]}")
    clean = {}
    for label, pts in series.items():
        if not pts:
            _fail(f"series '{label}' has no points")
        out = []
        for j, pt in enumerate(pts):
            if not isinstance(pt, (tuple, list)) or len(pt) != 2:
                _fail(f"series '{label}' point {j} must be an (x, y) pair, not {pt!r}")
            px, py = _number(pt[0], f"series '{label}' point {j} x"), _number(pt[1], f"series '{label}' point {j} y")
            for on, v, axis in ((logx, px, "x"), (logy, py, "y")):
                if on and v <= 0:
                    _fail(f"series '{label}' point {j} has {axis} = {v:g}; a log {axis} axis needs positive values")
            out.append((px, py))
        clean[str(label)] = sorted(out)

    plt = pyplot(fmt, FIELD)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
        for n, (label, pts) in enumerate(clean.items()):
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=5, lw=1.8,
                    label=_escape(label), gid=f"series-{n}")
        if logx:
            _log_scale(ax, "x", [p[0] for pts in clean.values() for p in pts], at_values=True)
        if logy:
            _log_scale(ax, "y", [p[1] for pts in clean.values() for p in pts])
        ax.set_xlabel(_escape(x_label))
        ax.set_ylabel(_escape(y_label))
        ax.set_title(_escape(title) if title else f"{_escape(y_label)} against {_escape(x_label)}")
        ax.legend(loc="best", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        bottom = _footnote(fig, left_out, [note] if note else [])
        return save_figure(fig, plt, fmt, bottom)
