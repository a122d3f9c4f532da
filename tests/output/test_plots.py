"""The slide plots: real images (PNG and SVG) with the expected artists, unit-labelled axes and readable fonts,
the exact Pareto front of a hand-made set, one-line errors, and matplotlib imported only when drawing."""
import math
import re
import struct
import subprocess
import sys

import pytest

from simulator.cluster.stages import op_table
from simulator.errors import CostsimError
from simulator.files.loader import load_profile, load_workload
from simulator.output import breakdown_plots, plots, sweep_plots
from simulator.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, TERA

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# An 8x5 in, 120 dpi PNG of *empty* log-log axes with a title and axis labels is about 11 KB (a blank canvas
# about 4 KB); the plots below, with their data, are 45-100 KB. 20 KB separates a drawn plot from an empty frame
# with margin both ways, whatever the exact matplotlib version.
MIN_PNG_BYTES = 20_000
H = SECONDS_PER_HOUR


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) in pixels from the IHDR chunk."""
    return struct.unpack(">II", data[16:24])


def svg_ids(svg: bytes, prefix: str) -> list[str]:
    return re.findall(rf'id="({re.escape(prefix)}[^"]*)"', svg.decode())


def svg_texts(svg: bytes) -> list[str]:
    """matplotlib writes each text it draws as paths, preceded by the text itself in a comment."""
    return re.findall(r"<!-- (.*?) -->", svg.decode())


@pytest.fixture(scope="module")
def h200():
    return load_profile("h200")


@pytest.fixture(scope="module")
def ops(h200):
    return op_table(h200, load_workload("gpt2-124m"))


@pytest.fixture
def figures(monkeypatch):
    """The matplotlib figures the plots draw, kept after they are rendered (tick labels exist only then)."""
    drawn = []
    real = breakdown_plots.save_figure  # figure.save_figure, as each plot module has it

    def keep(fig, plt, fmt, bottom=0.0):
        data = real(fig, plt, fmt, bottom)
        drawn.append(fig)
        return data

    for module in (breakdown_plots, sweep_plots):
        monkeypatch.setattr(module, "save_figure", keep)
    return drawn


ROWS = [
    {"label": "h200 x8", "time_s": 30 * H, "energy_joules": 2e9, "cost_usd": 1234.5, "co2_kg": 300.0,
     "breakdown": {"gemm": 18 * H, "attention": 5 * H, "elementwise": 4 * H, "communication": 2.8 * H,
                   "launch_overhead": 0.2 * H}},
    # a breakdown in per-step seconds (as Estimate.breakdown has it): only the shares count
    {"label": "a100 x8", "time_s": 60 * H, "energy_joules": 3e9, "cost_usd": 1800.0, "co2_kg": 420.0,
     "breakdown": {"gemm": 0.040, "attention": 0.010, "elementwise": 0.007, "communication": 0.003}},
    {"label": "cpu", "time_s": 50 * H, "energy_joules": 1e9, "cost_usd": 900.0, "co2_kg": 120.0, "breakdown": {}},
]

# Hand-made (time_s, cost_usd): the front by ascending time is 5 (0.5 h), 0, 1, 7 (a duplicate of 1), 3, 4.
# 2 is beaten by 1, 6 by 3, 8 ties 3 on cost but is slower, 9 ties 0 on time but costs more.
PAIRS = [(1, 100), (2, 50), (3, 60), (4, 20), (10, 19), (0.5, 500), (5, 200), (2, 50), (6, 20), (1, 150)]
POINTS = [{"label": f"opt{i}", "time_s": t * H, "cost_usd": c} for i, (t, c) in enumerate(PAIRS)]
FRONT = [5, 0, 1, 7, 3, 4]

SERIES = {"h200": [(1.2e8, 10.0), (1.3e9, 120.0), (7e9, 900.0)],
          "a100": [(7e9, 2100.0), (1.2e8, 25.0), (1.3e9, 300.0)]}


def draw_all(fmt, h200, ops):
    return {
        "roofline": breakdown_plots.roofline_plot(h200, ops, fmt=fmt),
        "comparison": breakdown_plots.comparison_plot(ROWS, fmt=fmt),
        "pareto": sweep_plots.pareto_plot(POINTS, fmt=fmt),
        "series": sweep_plots.series_plot(SERIES, "model size (parameters)", "cost ($)", fmt=fmt),
    }


# ------------------------------------------------------------------------------------------ every plot
def test_every_plot_is_a_slide_sized_png_with_content(h200, ops):
    for name, data in draw_all("png", h200, ops).items():
        assert data[:8] == PNG_MAGIC, name
        assert len(data) > MIN_PNG_BYTES, (name, len(data))
        expected = plots.WIDE_FIGSIZE if name == "comparison" else plots.FIGSIZE
        assert png_size(data) == tuple(round(v * plots.DPI) for v in expected), name


def test_every_plot_is_an_svg_and_a_pdf(h200, ops):
    for name, data in draw_all("svg", h200, ops).items():
        assert b"<svg" in data[:1000], name
    assert sweep_plots.series_plot(SERIES, "x (GPUs)", "cost ($)", fmt="pdf")[:5] == b"%PDF-"


def test_no_text_is_smaller_than_10_points(h200, ops, figures):
    from matplotlib.text import Text

    draw_all("png", h200, ops)
    assert len(figures) == 4
    for fig in figures:
        for t in fig.findobj(Text):
            if t.get_visible() and t.get_text().strip():
                assert t.get_fontsize() >= 10, (t.get_text(), t.get_fontsize())


def test_an_unknown_format_and_empty_inputs_are_one_line_errors(h200, ops):
    calls = [
        lambda: breakdown_plots.roofline_plot(h200, ops, fmt="jpg"),
        lambda: breakdown_plots.roofline_plot(h200, []),
        lambda: breakdown_plots.comparison_plot([]),
        lambda: sweep_plots.pareto_plot([]),
        lambda: sweep_plots.pareto_front([], "time_s", "cost_usd"),
        lambda: sweep_plots.series_plot({}, "x", "y"),
        lambda: sweep_plots.series_plot({"a": []}, "x", "y"),
    ]
    for call in calls:
        with pytest.raises(CostsimError) as err:
            call()
        assert err.value.field == "plot"
        assert "\n" not in str(err.value) and str(err.value).startswith("plot: ")
    with pytest.raises(CostsimError, match="png, svg, pdf"):
        sweep_plots.pareto_plot(POINTS, fmt="jpg")


def test_importing_plots_does_not_import_matplotlib():
    code = ("import sys, simulator.output.sweep_plots as p; "
            "p.pareto_front([{'a': 1, 'b': 2}], 'a', 'b'); "
            "assert not any(m == 'matplotlib' or m.startswith('matplotlib.') for m in sys.modules), 'imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=plots.__file__.rsplit("/simulator/", 1)[0])


def test_without_matplotlib_a_plot_is_a_one_line_error():
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from simulator.output import sweep_plots\nfrom simulator.errors import CostsimError\n"
            "try:\n    sweep_plots.series_plot({'a': [(1, 2)]}, 'x', 'y')\nexcept CostsimError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=plots.__file__.rsplit("/simulator/", 1)[0]).stdout
    assert out.strip() == "plot: plots need matplotlib, a dependency of costsim: pip install matplotlib"


# ------------------------------------------------------------------------------------------ roofline
def test_roofline_draws_each_roof_and_each_operation_with_flops_and_bytes(h200, ops):
    svg = breakdown_plots.roofline_plot(h200, ops, fmt="svg")
    placed = {f"op-{i}" for i, op in enumerate(ops) if op["flops"] > 0 and op["bytes"] > 0 and op["time_s"] > 0}
    assert 0 < len(placed) < len(ops)  # gpt2 has ops with no FLOPs or no bytes: they are left out
    drawn = svg_ids(svg, "op-")
    assert sorted(drawn) == sorted(placed)
    peaks = {h200.peak_dense_flops_per_s.rate(d) for d in ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8",
                                                            "int8", "int4")} - {None}
    roofs = svg_ids(svg, "roof-")
    assert "roof-bandwidth" in roofs and len(roofs) == len(peaks) + 1  # equal peaks share one roof
    assert "roof-bf16-fp16" in roofs and not any("int4" in r for r in roofs)  # the h200 profile has no int4
    texts = svg_texts(svg)
    assert "arithmetic intensity (FLOP/byte)" in texts and "attainable performance (TFLOP/s)" in texts
    assert any(t.startswith("memory: 4.8 TB/s") for t in texts)
    assert any(t.startswith("bf16/fp16: 989 TFLOP/s") for t in texts)


def test_roofline_places_ops_at_intensity_and_rate_with_area_by_share_of_step_time(h200, ops, figures):
    breakdown_plots.roofline_plot(h200, ops)
    (fig,) = figures
    marks = {c.get_gid(): c for c in fig.axes[0].collections if (c.get_gid() or "").startswith("op-")}
    total = sum(op["count"] * op["time_s"] for op in ops)
    largest = max(marks[g].get_sizes()[0] / (ops[int(g[3:])]["count"] * ops[int(g[3:])]["time_s"] / total)
                  for g in marks)
    for gid, mark in marks.items():
        op = ops[int(gid[3:])]
        x, y = mark.get_offsets()[0]
        assert math.isclose(x, op["flops"] / op["bytes"]) and math.isclose(y, op["flops"] / op["time_s"] / TERA)
        share = op["count"] * op["time_s"] / total
        area = mark.get_sizes()[0]
        assert area == pytest.approx(max(breakdown_plots.MIN_MARKER_AREA, largest * share))
        assert y <= h200.peak_dense_flops_per_s.fp8 / TERA * 1.0001  # below the highest roof
    assert max(m.get_sizes()[0] for m in marks.values()) == pytest.approx(breakdown_plots.MAX_MARKER_AREA)


def test_roofline_with_no_plottable_operation_or_bad_rows_is_an_error(h200, ops):
    with pytest.raises(CostsimError, match="nothing to place"):
        breakdown_plots.roofline_plot(h200, [dict(op, flops=0.0) for op in ops])
    with pytest.raises(CostsimError, match="operation 0 has no time_s"):
        breakdown_plots.roofline_plot(h200, [{k: v for k, v in ops[0].items() if k != "time_s"}])
    with pytest.raises(CostsimError, match="operation 0 flops must be a number"):
        breakdown_plots.roofline_plot(h200, [dict(ops[0], flops="many")])


# ------------------------------------------------------------------------------------------ comparison
def test_comparison_has_four_unit_labelled_panels_and_a_bar_per_row(figures):
    svg = breakdown_plots.comparison_plot(ROWS, fmt="svg")
    for panel in ("energy-", "cost-", "co2-"):
        assert svg_ids(svg, panel) == [f"{panel}{i}" for i in range(len(ROWS))]
    texts = svg_texts(svg)
    # each panel in the unit its largest bar reads in: 60 h is 2.5 days
    for label in ("training time (days)", "energy (kWh)", "cost (thousand $)", "emissions (kg CO2)", "h200 x8",
                  "a100 x8", "cpu", "$1,234", "833"):  # 3e9 J = 833 kWh
        assert label in texts, label
    time_bars = svg_ids(svg, "time-")
    assert "time-2-total" in time_bars and not any(b.startswith("time-2-") and b != "time-2-total"
                                                   for b in time_bars)
    # gemm, attention, elementwise and communication stand alone; launch overhead (<2% of every run) is "other"
    for i in (0, 1):
        for c in ("gemm", "attention", "elementwise", "communication"):
            assert f"time-{i}-{c}" in time_bars
        assert f"time-{i}-launch_overhead" not in time_bars
    assert "time-0-other" in time_bars


def test_comparison_time_stacks_add_up_to_each_run_in_days(figures):
    breakdown_plots.comparison_plot(ROWS)
    (fig,) = figures
    heights = {}
    for patch in fig.axes[0].patches:
        gid = patch.get_gid() or ""
        if gid.startswith("time-"):
            row = int(gid.split("-")[1])
            heights[row] = heights.get(row, 0.0) + patch.get_height()
    for i, row in enumerate(ROWS):
        assert heights[i] == pytest.approx(row["time_s"] / SECONDS_PER_DAY)
    gemm = {p.get_gid(): p.get_height() for p in fig.axes[0].patches if (p.get_gid() or "").endswith("-gemm")}
    assert gemm == {"time-0-gemm": pytest.approx(18 / 24), "time-1-gemm": pytest.approx(40 / 24)}  # 40/60 of 60 h


def test_comparison_switches_to_hours_for_short_runs():
    rows = [dict(r, time_s=r["time_s"] / 10, breakdown={}) for r in ROWS]
    texts = svg_texts(breakdown_plots.comparison_plot(rows, fmt="svg"))
    assert "training time (h)" in texts and "training time (days)" not in texts
    assert "6" in texts and "3" in texts  # the bars' labels, in hours


def test_comparison_rejects_bad_rows():
    with pytest.raises(CostsimError, match="row 'cpu' has no co2_kg"):
        breakdown_plots.comparison_plot([{k: v for k, v in ROWS[2].items() if k != "co2_kg"}])
    with pytest.raises(CostsimError, match="negative"):
        breakdown_plots.comparison_plot([dict(ROWS[2], cost_usd=-1.0)])
    with pytest.raises(CostsimError, match="breakdown has a negative time"):
        breakdown_plots.comparison_plot([dict(ROWS[0], breakdown={"gemm": 1.0, "attention": -0.5})])
    with pytest.raises(CostsimError, match="breakdown gemm must be a number"):
        breakdown_plots.comparison_plot([dict(ROWS[0], breakdown={"gemm": "most"})])


# ------------------------------------------------------------------------------------------ Pareto
def test_pareto_front_of_a_hand_made_set_is_exact():
    assert sweep_plots.pareto_front(POINTS, "time_s", "cost_usd") == FRONT
    # the same set in another order: the same points, by their new indices
    order = list(reversed(range(len(POINTS))))
    front = sweep_plots.pareto_front([POINTS[i] for i in order], "time_s", "cost_usd")
    assert sorted(order[i] for i in front) == sorted(FRONT)
    # swapping the keys keeps the front (minimising both is symmetric); one point is its own front
    assert sorted(sweep_plots.pareto_front(POINTS, "cost_usd", "time_s")) == sorted(FRONT)
    assert sweep_plots.pareto_front(POINTS[:1], "time_s", "cost_usd") == [0]


def test_pareto_front_checks_its_points():
    with pytest.raises(CostsimError, match="point 1 has no cost_usd"):
        sweep_plots.pareto_front([POINTS[0], {"time_s": 1.0}], "time_s", "cost_usd")
    with pytest.raises(CostsimError, match="must be finite"):
        sweep_plots.pareto_front([dict(POINTS[0], cost_usd=float("nan"))], "time_s", "cost_usd")
    with pytest.raises(CostsimError, match="must be a number"):
        sweep_plots.pareto_front([dict(POINTS[0], cost_usd=None)], "time_s", "cost_usd")


def test_pareto_plot_draws_every_point_and_joins_the_front(figures):
    svg = sweep_plots.pareto_plot(POINTS, fmt="svg")
    assert sorted(svg_ids(svg, "point-")) == sorted(f"point-{i}" for i in range(len(POINTS)))
    assert svg_ids(svg, "frontier") == ["frontier"]
    texts = svg_texts(svg)
    # a log axis reads in the unit of its smallest value: 0.5 h is 30 min
    assert "training time (min)" in texts and "cost ($)" in texts and "opt6" in texts
    assert "cost ($) against training time (min)" in texts
    assert f"Pareto front ({len(FRONT)})" in texts and f"dominated ({len(POINTS) - len(FRONT)})" in texts
    (ax,) = figures[0].axes
    line = next(ln for ln in ax.lines if ln.get_gid() == "frontier")
    assert list(line.get_xdata()) == pytest.approx([PAIRS[i][0] * 60 for i in FRONT])  # minutes, ascending
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"  # 0.5-10 h and $19-500 span > a decade


def test_pareto_plot_axes_are_linear_within_a_decade_and_know_energy_and_co2(figures):
    points = [{"label": "a", "energy_joules": 3.6e9, "co2_kg": 400.0},
              {"label": "b", "energy_joules": 7.2e9, "co2_kg": 300.0}]
    texts = svg_texts(sweep_plots.pareto_plot(points, x="energy_joules", y="co2_kg", fmt="svg"))
    assert "energy (MWh)" in texts and "emissions (kg CO2)" in texts
    (ax,) = figures[0].axes
    assert ax.get_xscale() == "linear" and ax.get_yscale() == "linear"
    assert sorted(ax.collections[0].get_offsets()[0].tolist() + ax.collections[1].get_offsets()[0].tolist()) \
        == sorted([1.0, 400.0, 2.0, 300.0])  # MWh and kg


# ------------------------------------------------------------------------------------------ series
def test_series_plot_draws_one_sorted_line_per_series(figures):
    svg = sweep_plots.series_plot(SERIES, "model size (parameters)", "cost ($)", fmt="svg", title="cost by size")
    assert svg_ids(svg, "series-") == ["series-0", "series-1"]
    texts = svg_texts(svg)
    for label in ("model size (parameters)", "cost ($)", "cost by size", "h200", "a100"):
        assert label in texts, label
    (ax,) = figures[0].axes
    a100 = next(ln for ln in ax.lines if ln.get_gid() == "series-1")
    assert list(a100.get_xdata()) == sorted(x for x, _ in SERIES["a100"])
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"


def test_series_plot_rejects_what_a_log_axis_cannot_show():
    with pytest.raises(CostsimError, match="series 'a' point 1 has y = 0"):
        sweep_plots.series_plot({"a": [(1, 1), (2, 0)]}, "devices", "cost ($)")
    assert sweep_plots.series_plot({"a": [(1, 1), (2, 0)]}, "devices", "cost ($)", logy=False)[:8] == PNG_MAGIC
    with pytest.raises(CostsimError, match=r"must be an \(x, y\) pair"):
        sweep_plots.series_plot({"a": [(1, 2, 3)]}, "x", "y")


# ------------------------------------------------------------------------------------------ what a reader sees
def _renderer(fig):
    """A renderer for a figure already saved and closed (closing detaches its canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _overlapping(boxes):
    return [(a, b) for n, (a, ba) in enumerate(boxes) for b, bb in boxes[n + 1:]
            if ba.x0 < bb.x1 and bb.x0 < ba.x1 and ba.y0 < bb.y1 and bb.y0 < ba.y1]


def test_long_category_labels_are_wrapped_or_set_aslant_never_overlapping(figures):
    long = [dict(r, label=f"{r['label']} lowrank:0.25+quantize:fp8+prune:2:4") for r in ROWS] * 2
    for rows in (ROWS, long):
        breakdown_plots.comparison_plot(rows)
    for fig in figures:
        renderer = _renderer(fig)
        for ax in fig.axes[2:4]:
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in ax.get_xticklabels() if t.get_text()]
            assert len(boxes) in (len(ROWS), len(long)) and not _overlapping(boxes)


def test_pareto_labels_do_not_overlap_and_groups_get_their_own_front(figures):
    points = [dict(p, job="a" if i % 2 else "b", label=f"device-{i} x8 lowrank:0.25+quantize:fp8")
              for i, p in enumerate(POINTS)]
    svg = sweep_plots.pareto_plot(points, fmt="svg", group_key="job", left_out=["v100 (does not fit)"])
    assert svg_ids(svg, "frontier") == ["frontier-0", "frontier-1"]
    texts = svg_texts(svg)
    assert any("Left out: v100 (does not fit)." in t for t in texts)
    fig = figures[0]
    renderer = _renderer(fig)
    labels = [(t.get_text(), t.get_window_extent(renderer)) for t in fig.axes[0].texts]
    assert labels and not _overlapping(labels)


def test_a_figure_names_what_it_left_out(figures):
    svg = breakdown_plots.comparison_plot(ROWS, fmt="svg", left_out=["v100-sxm2 (needs 57 GB, has 32 GB)"])
    assert svg_ids(svg, "left-out") == ["left-out"]
    assert any("v100-sxm2 (needs 57 GB, has 32 GB)" in t for t in svg_texts(svg))


def test_the_limits_cost_plot_has_no_bars_on_its_log_axis(monkeypatch):
    from types import SimpleNamespace

    from simulator.output import fit_plots
    from simulator.output.fit_plots import cost_plot

    figures, real = [], fit_plots.save_figure
    monkeypatch.setattr(fit_plots, "save_figure", lambda fig, plt, fmt, bottom=0.0: figures.append(fig) or
                        real(fig, plt, fmt, bottom))

    priced = [SimpleNamespace(label="top-1 error 0.1", hardware=h, cost_usd=c, cost_low_usd=c / 2,
                              cost_high_usd=c * 2, problem=None) for h, c in (("h200", 2e5), ("k80", 3e6))]
    why = "alveo-u280 has neither a cloud price nor a purchase price"
    priced.append(SimpleNamespace(label="top-1 error 0.1", hardware="alveo-u280", cost_usd=None, cost_low_usd=None,
                                  cost_high_usd=None, problem=why))
    svg = cost_plot(priced, "svg")
    (ax,) = figures[0].axes
    assert ax.get_yscale() == "log" and not [p for p in ax.patches if p.get_height() > 0]
    assert any("Left out: alveo-u280 (alveo-u280 has neither a cloud price nor a purchase price)." in t
               for t in svg_texts(svg))
