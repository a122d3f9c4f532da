"""Slide-ready figures: a device's roofline with a workload's operations, run comparisons, Pareto fronts and
cost series. Each plot returns the image as bytes in ``fmt`` (png, svg or pdf); the caller writes the file.

matplotlib is imported only when a plot is drawn (through ``report._pyplot``); ``pareto_front`` never needs it.
Every drawn data artist carries a ``gid`` (kept as the element id in SVG output) so that tests and tools can
find the operations, bars and points in the image.
"""
from __future__ import annotations

import math
import textwrap

from .errors import CostsimError
from .estimate import BREAKDOWN_CLASSES
from .hardware import DTYPES
from .report import _image, _pyplot
from .units import SECONDS_PER_DAY, SECONDS_PER_HOUR, TERA, kwh

FIELD = "--plot"
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
DAYS_ABOVE_HOURS = 72.0  # time axes switch from hours to days above this many hours
MIN_MARKER_AREA = 6.0  # pt^2: the smallest operation stays visible
MAX_MARKER_AREA = 1500.0  # pt^2: the marker of the operation with the largest share of step time
HEADROOM = 1.25  # bar panels reach this multiple of the largest bar, leaving room for the value labels
FOLD_SHARE = 0.02  # breakdown classes under this share of every row's time are drawn together as "other"

# Known point keys: (axis label, conversion from the SI value). Time is handled by _time_axis.
KNOWN_KEYS = {
    "cost_usd": ("cost ($)", lambda v: v),
    "energy_joules": ("energy (kWh)", kwh),
    "co2_kg": ("CO2 (kg)", lambda v: v),
}


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


def _time_axis(max_seconds: float):
    """(conversion from seconds, unit): hours, or days once the largest time passes DAYS_ABOVE_HOURS hours."""
    if max_seconds / SECONDS_PER_HOUR > DAYS_ABOVE_HOURS:
        return (lambda s: s / SECONDS_PER_DAY), "days"
    return (lambda s: s / SECONDS_PER_HOUR), "h"


def _short(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def _spans_decade(values) -> bool:
    lo, hi = min(values), max(values)
    return lo > 0 and hi / lo > 10


def _log_scale(ax, which: str, values) -> None:
    """A log axis; over less than two decades its ticks read as plain numbers (2, 5, 10, 20, ...) rather than
    powers of ten, which would leave most of the axis unlabelled."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    getattr(ax, f"set_{which}scale")("log")
    lo, hi = min(values), max(values)
    if lo > 0 and hi / lo < 100:
        axis = ax.xaxis if which == "x" else ax.yaxis
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        axis.set_major_formatter(plain)
        axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        axis.set_minor_formatter(plain)


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
    ints = [n for n in names if n.startswith("int")]
    unit = "TOP/s" if len(ints) == len(names) else "TFLOP/s" if not ints else "TFLOP/s (TOP/s)"
    return f"{'/'.join(names)}: {_short(rate / TERA)} {unit}"


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

    plt = _pyplot(fmt, FIELD)
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
        ax.annotate(f"memory: {_short(bw / TERA)} TB/s", (x0, bw * x0 / TERA), textcoords="offset points",
                    xytext=(-4, 4), rotation=math.degrees(math.atan2(d - b, c - a)), rotation_mode="anchor",
                    ha="left", va="bottom", fontsize=10)
        return _image(fig, plt, fmt)


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


def comparison_plot(rows, fmt: str = "png", title: str | None = None) -> bytes:
    """Bars of time, energy, cost and CO2 per row (2x2 panels); the time bars stacked by breakdown class.

    ``rows``: [{"label", "time_s", "energy_joules", "cost_usd", "co2_kg", "breakdown": {class: seconds}}]. The
    breakdown gives each class's share of the row's time_s (its seconds over their sum, so per-step seconds do);
    a row with an empty (or all-zero) breakdown gets a plain time bar. Classes under FOLD_SHARE of every row's
    time are drawn as one "other" segment. Time in hours (days when large), energy in
    kWh, cost in $, CO2 in kg. Gids in SVG: ``time-<row>-<class>`` (``time-<row>-total`` for a plain bar,
    ``time-<row>-other``), ``energy-<row>``, ``cost-<row>``, ``co2-<row>``.
    """
    rows = _check_rows(rows)
    to_time, time_unit = _time_axis(max(r["time_s"] for r in rows))
    keep, other = _stack_classes(rows)
    colours = _class_colours(keep)
    labels = [_escape(r["label"]) for r in rows]
    x = list(range(len(rows)))
    # Row labels go under the bottom panels only, wrapped to the width of a bar's slot (about 37 characters of
    # 10 pt text across a panel); labels that still do not fit in three lines are set aslant, unwrapped.
    width = max(6, int(37 / len(rows)))
    wrapped = [textwrap.wrap(s, width) or [""] for s in labels]
    rotate = any(len(lines) > 3 or max(len(line) for line in lines) > width for lines in wrapped)
    ticks = labels if rotate else ["\n".join(lines) for lines in wrapped]

    plt = _pyplot(fmt, FIELD)
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=WIDE_FIGSIZE, dpi=DPI)
        grid = fig.add_gridspec(2, 3, width_ratios=(1, 1, 0.8))
        axes = [fig.add_subplot(grid[r, c]) for r in range(2) for c in range(2)]
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
            bars = ax.bar(plain, [to_time(rows[i]["time_s"]) for i in plain], color="#4d4d4d",
                          label="total (no breakdown)")
            for i, patch in zip(plain, bars):
                patch.set_gid(f"time-{i}-total")
            handles.append(bars)
        for i, r in enumerate(rows):
            ax.annotate(_short(to_time(r["time_s"])), (i, to_time(r["time_s"])), textcoords="offset points",
                        xytext=(0, 2), ha="center", va="bottom", fontsize=10)
        ax.set_ylabel(f"time ({time_unit})")
        ax.set_title("training time")

        panels = (("energy_joules", "energy", "energy (kWh)", kwh, "#55a868"),
                  ("cost_usd", "cost", "cost ($)", lambda v: v, "#c44e52"),
                  ("co2_kg", "co2", "CO2 (kg)", lambda v: v, "#8172b3"))
        for ax, (key, gid, unit, conv, colour) in zip(axes[1:], panels):
            values = [conv(r[key]) for r in rows]
            bars = ax.bar(x, values, color=colour)
            for i, patch in enumerate(bars):
                patch.set_gid(f"{gid}-{i}")
            prefix = "$" if key == "cost_usd" else ""
            ax.bar_label(bars, labels=[_escape(prefix) + _short(v) for v in values], padding=2, fontsize=10)
            ax.set_ylim(0, max(values) * HEADROOM or 1.0)
            ax.set_ylabel(unit)
            ax.set_title(unit.split(" (")[0])

        for n, ax in enumerate(axes):
            ax.set_xticks(x)
            if n < 2:
                ax.tick_params(labelbottom=False)
            else:
                ax.set_xticklabels(ticks, rotation=30 if rotate else 0, ha="right" if rotate else "center")
            ax.grid(True, axis="y", alpha=0.3)
        if handles:
            legend_ax.legend(handles=handles[::-1], loc="center right", title="time by class", frameon=False)
        fig.suptitle(_escape(title) if title else f"comparison of {len(rows)} runs")
        return _image(fig, plt, fmt)


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
    """(values in the axis unit, axis label) for a point key."""
    if key == "time_s":
        conv, unit = _time_axis(max(values))
        return [conv(v) for v in values], f"time ({unit})"
    if key in KNOWN_KEYS:
        label, conv = KNOWN_KEYS[key]
        return [conv(v) for v in values], label
    return values, key.replace("_", " ")


def pareto_plot(points, x: str = "time_s", y: str = "cost_usd", fmt: str = "png", label_key: str | None = "label",
                title: str | None = None) -> bytes:
    """All points, the Pareto front (minimising both keys) highlighted and joined; log axes where the data span
    more than a decade. Points are labelled with ``label_key`` (all of them up to 20 points, else the front).
    Gids in SVG: ``point-<index>`` for each point, ``frontier`` for the line joining the front."""
    front = pareto_front(points, x, y)
    raw_x, raw_y = _values(points, x), _values(points, y)
    xs, x_label = _axis(x, raw_x)
    ys, y_label = _axis(y, raw_y)
    on_front = set(front)
    named = range(len(points)) if len(points) <= 20 else front

    plt = _pyplot(fmt, FIELD)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
        for i in range(len(points)):
            best = i in on_front
            ax.scatter([xs[i]], [ys[i]], s=70 if best else 36, color="#d62728" if best else "#9e9e9e",
                       edgecolors="black" if best else "none", linewidths=0.6, zorder=3 if best else 2,
                       gid=f"point-{i}")
        ax.plot([xs[i] for i in front], [ys[i] for i in front], color="#d62728", lw=1.5, zorder=2, gid="frontier",
                drawstyle="default")
        handles = [plt.Line2D([], [], ls="-", marker="o", color="#d62728", markeredgecolor="black",
                              label=f"Pareto front ({len(front)})"),
                   plt.Line2D([], [], ls="", marker="o", color="#9e9e9e", label=f"dominated ({len(points) - len(front)})")]
        ax.legend(handles=handles, loc="upper right")
        if label_key:
            for n, i in enumerate(named):  # labels alternate above and below so neighbours do not collide
                text = points[i].get(label_key)
                if text is not None:
                    ax.annotate(_escape(text), (xs[i], ys[i]), textcoords="offset points",
                                xytext=(5, 5 if n % 2 == 0 else -14), fontsize=10,
                                color="black" if i in on_front else "#616161")
        if _spans_decade(xs):
            _log_scale(ax, "x", xs)
        if _spans_decade(ys):
            _log_scale(ax, "y", ys)
        ax.margins(0.12)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.set_title(_escape(title) if title else f"{y_label.split(' (')[0]} against {x_label.split(' (')[0]}: "
                     f"Pareto front of {len(points)} options")
        ax.grid(True, which="major", alpha=0.3)
        return _image(fig, plt, fmt)


# ------------------------------------------------------------------------------------------ series
def series_plot(series, x_label: str, y_label: str, fmt: str = "png", title: str | None = None, logx: bool = True,
                logy: bool = True) -> bytes:
    """Lines of y against x (sorted by x), one per labelled series: ``{label: [(x, y), ...]}``, for example cost
    against model size or device count. The labels should carry the units. Gids: ``series-<n>`` in dict order."""
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

    plt = _pyplot(fmt, FIELD)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
        for n, (label, pts) in enumerate(clean.items()):
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=5, lw=1.8,
                    label=_escape(label), gid=f"series-{n}")
        if logx:
            _log_scale(ax, "x", [p[0] for pts in clean.values() for p in pts])
        if logy:
            _log_scale(ax, "y", [p[1] for pts in clean.values() for p in pts])
        ax.set_xlabel(_escape(x_label))
        ax.set_ylabel(_escape(y_label))
        ax.set_title(_escape(title) if title else f"{_escape(y_label)} against {_escape(x_label)}")
        ax.legend(loc="best")
        ax.grid(True, which="major", alpha=0.3)
        return _image(fig, plt, fmt)
