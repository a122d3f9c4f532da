"""Figures of many runs against two measures: the Pareto front of a set of points (found without matplotlib,
and drawn with each group's own front), and series of lines, such as cost against model size or device count."""
from __future__ import annotations

from .figure import pyplot, save_figure
from .plots import DPI, FIELD, FIGSIZE, STYLE, escape, fail, finite, footnote, log_scale, quantity

GROUP_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def _spans_decade(values) -> bool:
    lo, hi = min(values), max(values)
    return lo > 0 and hi / lo > 10


def _values(points, key: str) -> list[float]:
    out = []
    for i, p in enumerate(points):
        if not isinstance(p, dict):
            fail(f"point {i} must be a dict, not {type(p).__name__}")
        if key not in p:
            fail(f"point {i} has no {key}")
        out.append(finite(p[key], f"point {i} {key}"))
    return out


def pareto_front(points, x: str, y: str) -> list[int]:
    """Indices of the points no other point dominates when minimising both ``x`` and ``y``, by ascending x.

    A point is dominated when another is no worse on both keys and better on one; equal points keep each other.
    """
    if not points:
        fail("no points: nothing has a Pareto front")
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
            a = ax.annotate(escape(texts[i]), (xs[i], ys[i]), textcoords="offset points", xytext=(dx, dy),
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
        fail("no points: nothing has a Pareto front")
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
                                      label=escape(f"{name} ({len(front)})")))
        handles.append(plt.Line2D([], [], ls="", marker="o", color="#b0b0b0",
                                  label=f"dominated ({len(points) - len(on_front)})"))
        if _spans_decade(xs):
            log_scale(ax, "x", xs)
        if _spans_decade(ys):
            log_scale(ax, "y", ys)
        ax.margins(0.12)
        ax.set_xlabel(escape(x_label))
        ax.set_ylabel(escape(y_label))
        ax.set_title(escape(title) if title else escape(f"{y_label} against {x_label}"))
        ax.grid(True, which="major", alpha=0.3)
        bottom = footnote(fig, left_out)
        if label_key:
            named = [i for i in range(len(points)) if points[i].get(label_key) is not None
                     and (i in on_front or len(points) <= 20)]
            _place_labels(fig, ax, xs, ys, {i: str(points[i][label_key]) for i in named}, on_front,
                          {i: "black" if i in on_front else "#616161" for i in named}, bottom)
        # under the axes, where no point or label can be: "best" inside a crowded plot still covers some
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2,
                  fontsize=10, frameon=False)
        return save_figure(fig, plt, fmt, bottom)


def series_plot(series, x_label: str, y_label: str, fmt: str = "png", title: str | None = None, logx: bool = True,
                logy: bool = True, left_out=(), note: str | None = None) -> bytes:
    """Lines of y against x (sorted by x), one per labelled series: ``{label: [(x, y), ...]}``, for example cost
    against model size or device count. The labels should carry the units (``quantity`` gives them). A log x
    axis with a dozen x values or fewer has its ticks at those values. ``note``: a line under the plot
    (what each point is); ``left_out``: what was not drawn, and why. Gids: ``series-<n>`` in dict order."""
    if not series or not isinstance(series, dict):
        fail("no series to plot: pass {label: [(x, y), ...]}")
    clean = {}
    for label, pts in series.items():
        if not pts:
            fail(f"series '{label}' has no points")
        out = []
        for j, pt in enumerate(pts):
            if not isinstance(pt, (tuple, list)) or len(pt) != 2:
                fail(f"series '{label}' point {j} must be an (x, y) pair, not {pt!r}")
            px, py = finite(pt[0], f"series '{label}' point {j} x"), finite(pt[1], f"series '{label}' point {j} y")
            for on, v, axis in ((logx, px, "x"), (logy, py, "y")):
                if on and v <= 0:
                    fail(f"series '{label}' point {j} has {axis} = {v:g}; a log {axis} axis needs positive values")
            out.append((px, py))
        clean[str(label)] = sorted(out)

    plt = pyplot(fmt, FIELD)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
        for n, (label, pts) in enumerate(clean.items()):
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=5, lw=1.8,
                    label=escape(label), gid=f"series-{n}")
        if logx:
            log_scale(ax, "x", [p[0] for pts in clean.values() for p in pts], at_values=True)
        if logy:
            log_scale(ax, "y", [p[1] for pts in clean.values() for p in pts])
        ax.set_xlabel(escape(x_label))
        ax.set_ylabel(escape(y_label))
        ax.set_title(escape(title) if title else f"{escape(y_label)} against {escape(x_label)}")
        ax.legend(loc="best", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        bottom = footnote(fig, left_out, [note] if note else [])
        return save_figure(fig, plt, fmt, bottom)
