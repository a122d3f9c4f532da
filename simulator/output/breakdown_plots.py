"""Figures coloured by breakdown class: a device's roofline with a workload's operations, and runs compared
(time stacked by class, energy, cost and CO2)."""
from __future__ import annotations

import math

from ..run.estimate import BREAKDOWN_CLASSES
from ..schema.hardware import DTYPES
from ..units import TERA
from . import human
from .figure import pyplot, save_figure
from .plots import (
    DPI,
    FIELD,
    FIGSIZE,
    STYLE,
    WIDE_FIGSIZE,
    escape,
    fail,
    finite,
    fit_ticks,
    footnote,
    plain_tick,
    quantity,
)

# One fixed colour per breakdown class (BREAKDOWN_CLASSES order), so a class looks the same on every plot.
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939")
OTHER_COLOUR = "#c7c7c7"
LABEL_BOX = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8}
MIN_MARKER_AREA = 6.0  # pt^2: the smallest operation stays visible
MAX_MARKER_AREA = 1500.0  # pt^2: the marker of the operation with the largest share of step time
HEADROOM = 1.25  # bar panels reach this multiple of the largest bar, leaving room for the value labels
FOLD_SHARE = 0.02  # breakdown classes under this share of every row's time are drawn together as "other"


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
        fail("no operations to plot")
    for i, op in enumerate(ops):
        if not isinstance(op, dict):
            fail(f"operation {i} must be a row of op_table (a dict), not {type(op).__name__}")
        missing = [k for k in ("name", "op_class", "count", "flops", "bytes", "time_s") if k not in op]
        if missing:
            fail(f"operation {i} has no {', '.join(missing)}")
    step = [finite(op["count"], f"operation {i} count") * finite(op["time_s"], f"operation {i} time_s")
            for i, op in enumerate(ops)]
    total = math.fsum(step)
    shown = [i for i, op in enumerate(ops)
             if finite(op["flops"], f"operation {i} flops") > 0 and finite(op["bytes"], f"operation {i} bytes") > 0
             and op["time_s"] > 0 and step[i] >= 0]
    if not shown or total <= 0:
        fail("no operation has FLOPs, bytes and a time: nothing to place on the roofline")
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
        ax.set_title(escape(title) if title else f"{escape(name)}: roofline, {len(shown)} operations")
        ax.grid(True, which="major", alpha=0.3)
        # The bandwidth label runs along its roof: the angle is the line's slope on the laid-out figure.
        fig.tight_layout()
        x0 = x_lo * 2
        (a, b), (c, d) = ax.transData.transform([(x0, bw * x0 / TERA), (x0 * 10, bw * x0 * 10 / TERA)])
        ax.annotate(f"memory: {human.bytes_(bw)}/s", (x0, bw * x0 / TERA), textcoords="offset points",
                    xytext=(-4, 4), rotation=math.degrees(math.atan2(d - b, c - a)), rotation_mode="anchor",
                    ha="left", va="bottom", fontsize=10)
        return save_figure(fig, plt, fmt)


ROW_KEYS = ("time_s", "energy_joules", "cost_usd", "co2_kg")


def _check_rows(rows) -> list[dict]:
    if not rows:
        fail("no rows to compare")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            fail(f"row {i} must be a dict, not {type(row).__name__}")
        label = str(row.get("label", f"#{i}"))
        clean = {"label": label}
        for k in ROW_KEYS:
            if k not in row:
                fail(f"row '{label}' has no {k}")
            clean[k] = finite(row[k], f"row '{label}' {k}")
            if clean[k] < 0:
                fail(f"row '{label}' {k} is negative ({row[k]})")
        breakdown = row.get("breakdown") or {}
        if not isinstance(breakdown, dict):
            fail(f"row '{label}' breakdown must be a dict of class: seconds")
        clean["breakdown"] = {str(c): finite(s, f"row '{label}' breakdown {c}") for c, s in breakdown.items()}
        if any(s < 0 for s in clean["breakdown"].values()):
            fail(f"row '{label}' breakdown has a negative time")
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
            ax.bar_label(bars, labels=[escape(t) for t in texts], padding=2, fontsize=10)
            ax.set_ylim(0, max(values) * HEADROOM or 1.0)
            ax.set_title(escape(label))

        for n, ax in enumerate(axes):
            ax.grid(True, axis="y", alpha=0.3)
            ax.yaxis.set_major_formatter(plt.FuncFormatter(plain_tick))
        if broken_down:
            legend_ax.legend(handles=handles[::-1], loc="center right", title="time by class", frameon=False)
        fig.suptitle(escape(title) if title else f"comparison of {len(rows)} runs")
        bottom = footnote(fig, left_out)
        for n, ax in enumerate(axes):
            if n < 2:
                ax.set_xticks(x)
                ax.tick_params(labelbottom=False)
            else:
                fit_ticks(fig, ax, x, [r["label"] for r in rows], bottom=bottom)
        return save_figure(fig, plt, fmt, bottom)
