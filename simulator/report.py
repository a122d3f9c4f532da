"""The report layer: estimates as tables (text, Markdown, CSV) and JSON. Returns strings, prints nothing.
Plots, when they come, live here too and import matplotlib lazily."""
from __future__ import annotations

import csv
import io
import json
import math

from .estimate import Estimate
from .units import GIGA, KILO, MEGA, MICRO, MILLI, SECONDS_PER_DAY, SECONDS_PER_HOUR, SECONDS_PER_YEAR, TERA, kwh

SUMMARY_COLUMNS = (
    ("hardware", "hardware", None),
    ("step_time_s", "step (ms)", lambda v: v / MILLI),
    ("total_time_s", "total (days)", lambda v: v / SECONDS_PER_DAY),
    ("samples_per_s", "samples/s", None),
    ("mfu_fraction", "MFU", None),
    ("average_device_power_watts", "power/device (W)", None),
    ("energy_joules", "energy (kWh)", kwh),
    ("cost_usd", "cost ($)", None),
    ("pricing", "pricing", None),
    ("co2_kg", "CO2 (kg)", None),
    ("peak_memory_bytes", "memory (GB)", lambda v: v / GIGA),
)


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e6 or a < 1e-3:
        return f"{v:.3g}"
    if a >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _text_table(headers: list[str], rows: list[list[str]], numeric: bool = True) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.rjust(w) if (i and numeric) else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _csv(headers: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(headers)
    w.writerows(rows)
    return buf.getvalue()


def _render(headers, display_rows, raw_headers, raw_rows, fmt: str) -> str:
    if fmt == "csv":
        return _csv(raw_headers, raw_rows)
    if fmt == "markdown":
        return _markdown_table(headers, display_rows)
    return _text_table(headers, display_rows)


def estimate_json(e: Estimate) -> str:
    return json.dumps(e.to_dict(), indent=2, allow_nan=False)


def estimate_table(e: Estimate, fmt: str = "table") -> str:
    """One estimate: a summary, the breakdown by operation class, and the assumptions."""
    if fmt == "json":
        return estimate_json(e)
    d = e.to_dict()
    if fmt == "csv":
        headers = [k for k, v in d.items() if isinstance(v, (int, float, str)) or v is None]
        return _csv(headers, [[d[k] for k in headers]])
    summary = [
        ["hardware", f"{e.hardware} x {e.devices}"],
        ["workload", e.workload],
        ["step time", f"{e.step_time_s / MILLI:.4g} ms ({e.batch_per_device:g} samples per replica, "
                      f"micro-batch {e.micro_batch_size:g}; plan {e.plan})"],
        ["steps", _fmt(e.steps)],
        ["total time", f"{e.total_time_s / SECONDS_PER_HOUR:.4g} h ({e.total_time_s / SECONDS_PER_DAY:.3g} days)"],
        ["throughput", (f"{e.tokens_per_s:,.0f} tokens/s" if e.tokens_per_s else
                        f"{e.images_per_s:,.0f} images/s" if e.images_per_s else f"{e.samples_per_s:,.0f} samples/s")],
        ["achieved", f"{e.achieved_flops_per_s / TERA:.4g} TFLOP/s, MFU {e.mfu_fraction:.1%}"],
        ["device energy", f"{e.device_energy_per_step_joules:.4g} J per step, {e.average_device_power_watts:.0f} W per device"],
        ["energy", f"{kwh(e.energy_joules):,.4g} kWh (devices {kwh(e.device_energy_joules):,.4g}, host "
                   f"{kwh(e.host_energy_joules):,.4g}, facility {kwh(e.facility_overhead_joules):,.4g})"],
        ["cost", f"${e.cost_usd:,.2f} (" + ", ".join(f"{k.removesuffix('_usd')} ${v:,.2f}"
                                                 for k, v in e.cost_breakdown.items() if v) + ")"],
        ["CO2", f"{e.co2_kg:,.4g} kg"],
        ["peak memory", f"{e.peak_memory_bytes / GIGA:.4g} GB of {e.memory_capacity_bytes / GIGA:.4g} GB"],
    ]
    classes = [(k, v) for k, v in e.breakdown.items() if v.time_s > 0]
    headers = ["class", "time (ms)", "share", "energy (J)", "TFLOP", "GB moved", "kernels"]
    rows = [[k, f"{v.time_s / MILLI:.4g}", f"{v.time_s / e.step_time_s:.1%}", f"{v.device_energy_joules:.4g}",
             f"{v.flops / TERA:.4g}", f"{v.bytes / GIGA:.4g}", f"{v.kernels:.0f}"] for k, v in classes]
    rows.append(["total", f"{e.step_time_s / MILLI:.4g}", "100.0%", f"{e.device_energy_per_step_joules:.4g}",
                 f"{sum(v.flops for _, v in classes) / TERA:.4g}", f"{sum(v.bytes for _, v in classes) / GIGA:.4g}",
                 f"{sum(v.kernels for _, v in classes):.0f}"])
    notes = [f"- {a}" for a in e.assumptions] + [f"- WARNING: {w}" for w in e.warnings]
    if fmt == "markdown":
        return "\n\n".join([_markdown_table(["", ""], summary), "Per step, by operation class:",
                            _markdown_table(headers, rows), "Assumptions:\n" + "\n".join(notes)])
    return "\n\n".join([_text_table(["estimate", ""], summary, numeric=False), "per step, by operation class:\n"
                        + _text_table(headers, rows), "assumptions:\n" + "\n".join(notes)])


def comparison_table(rows, fmt: str = "table") -> str:
    """Rows of :class:`simulator.api.CompareRow`: one line per device, problems kept in their row."""
    if fmt == "json":
        return json.dumps([{"hardware": r.hardware, "problem": r.problem,
                            "estimate": r.estimate.to_dict() if r.estimate else None} for r in rows], indent=2)
    headers = [h for _, h, _ in SUMMARY_COLUMNS]
    raw_headers = [k for k, _, _ in SUMMARY_COLUMNS] + ["problem"]
    display, raw = [], []
    for r in rows:
        if r.estimate is None:
            display.append([r.hardware, f"not estimated: {r.problem}"] + [""] * (len(headers) - 2))
            raw.append([r.hardware] + [""] * (len(headers) - 1) + [r.problem])
            continue
        d = r.estimate.to_dict()
        vals = [d[k] if f is None else f(d[k]) for k, _, f in SUMMARY_COLUMNS]
        display.append([vals[0]] + [_fmt(v) for v in vals[1:]])
        raw.append([d[k] for k, _, _ in SUMMARY_COLUMNS] + [""])
    if fmt == "table":
        # long problem lines would stretch the second column: put them under the table
        problems = [f"{r.hardware}: {r.problem}" for r in rows if r.estimate is None]
        short = [row if not row[1].startswith("not estimated") else [row[0], "not estimated"] + row[2:]
                 for row in display]
        table = _text_table(headers, short)
        return table + ("\n\nnot estimated:\n" + "\n".join(f"- {p}" for p in problems) if problems else "")
    return _render(headers, display, raw_headers, raw, fmt)


# ------------------------------------------------------------------------------------- validation
def _pct(x) -> str:
    return "-" if x is None else f"{x:+.1%}"


def validation_table(report, fmt: str = "table", limit: int | None = None) -> str:
    """Per-run predicted against measured (signed errors), then MAPE and worst case."""
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2)
    headers = ["run", "hardware", "measured (ms)", "predicted (ms)", "error", "energy error"]
    raw_headers = ["label", "hardware", "measured_step_time_s", "predicted_step_time_s",
                   "step_time_error_fraction", "energy_error_fraction", "problem"]
    estimated = [r for r in report.results if r.predicted_step_time_s is not None]
    shown = estimated if limit is None else sorted(estimated, key=lambda r: -abs(r.step_time_error_fraction))[:limit]
    display = [[r.label, r.hardware, f"{r.measured_step_time_s / MILLI:.4g}", f"{r.predicted_step_time_s / MILLI:.4g}",
                _pct(r.step_time_error_fraction), _pct(r.energy_error_fraction)] for r in shown]
    raw = [[getattr(r, k) for k in raw_headers] for r in report.results]
    if fmt == "csv":
        return _csv(raw_headers, raw)
    s = report.summary
    lines = [f"suite {report.name}: {s.estimated} of {s.runs} runs estimated (data: {report.data})"]
    if s.step_time_mape_fraction is not None:
        lines.append(f"step time: MAPE {s.step_time_mape_fraction:.1%}, mean signed error "
                     f"{s.step_time_mean_signed_error_fraction:+.1%}, worst {s.step_time_worst_error_fraction:+.1%}"
                     f" ({s.worst_label})")
    if s.energy_mape_fraction is not None:
        lines.append(f"device energy per step: MAPE {s.energy_mape_fraction:.1%} over {s.energy_runs} runs")
    lines += [f"not estimated: {n} runs: {reason}" for reason, n in s.not_estimated.items()]
    title = "" if limit is None or limit >= len(estimated) else f"the {limit} largest errors:\n"
    table = _markdown_table(headers, display) if fmt == "markdown" else _text_table(headers, display)
    return title + table + "\n\n" + "\n".join(lines)


PLOT_FORMATS = ("png", "svg", "pdf")


def _pyplot(fmt: str, field: str = "--plot"):
    """matplotlib's pyplot on the Agg backend, imported only when a plot is asked for."""
    from .errors import CostsimError

    if fmt not in PLOT_FORMATS:
        raise CostsimError(f"unknown image format '{fmt}'; use one of {', '.join(PLOT_FORMATS)}", field=field)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CostsimError("plots need matplotlib: pip install '.[plot]'", field=field) from None
    return plt


# no creator, date or links to matplotlib's site in the files: the same figure gives the same bytes
IMAGE_METADATA = {"svg": {"Creator": None, "Date": None, "Format": None, "Type": None},
                  "png": {"Software": None}, "pdf": {"Creator": None, "Producer": None, "CreationDate": None}}


def _image(fig, plt, fmt: str) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata=IMAGE_METADATA.get(fmt))
    plt.close(fig)
    return buf.getvalue()


def validation_scatter(report, fmt: str = "png") -> bytes:
    """Predicted against measured step time, log-log, with the y = x line, as an image in ``fmt``."""
    plt = _pyplot(fmt)
    pts = [(r.measured_step_time_s, r.predicted_step_time_s) for r in report.results
           if r.predicted_step_time_s is not None]
    if not pts:
        from .errors import CostsimError

        raise CostsimError("no run could be estimated: nothing to plot", field="--plot")
    fig, ax = plt.subplots(figsize=(6.4, 6.0), dpi=120)
    xs, ys = zip(*pts)
    ax.scatter(xs, ys, s=14, alpha=0.7, label=f"{len(pts)} runs")
    lo, hi = min(xs + ys) / 1.5, max(xs + ys) * 1.5
    ax.plot([lo, hi], [lo, hi], color="black", lw=1, label="predicted = measured")
    for f in (0.8, 1.25):
        ax.plot([lo, hi], [lo * f, hi * f], color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("measured step time (s)")
    ax.set_ylabel("predicted step time (s)")
    s = report.summary
    mape = f", MAPE {s.step_time_mape_fraction:.1%}" if s.step_time_mape_fraction is not None else ""
    ax.set_title(f"{report.name}: predicted against measured{mape}")
    ax.legend(loc="upper left")
    ax.grid(True, which="both", alpha=0.3)
    return _image(fig, plt, fmt)


def plan_table(found, fmt: str = "table") -> str:
    """Ranked plans: (Plan, Estimate) pairs, best first."""
    if fmt == "json":
        return json.dumps([{"plan": p.label(), "estimate": e.to_dict()} for p, e in found], indent=2)
    headers = ["#", "plan", "step (ms)", "MFU", "total (days)", "cost ($)", "energy (MWh)", "memory (GB)",
               "bubble", "comm"]
    rows = []
    for i, (p, e) in enumerate(found, 1):
        share = lambda c: f"{e.breakdown[c].time_s / e.step_time_s:.0%}"  # noqa: E731
        rows.append([str(i), p.label(), f"{e.step_time_s / MILLI:.4g}", f"{e.mfu_fraction:.1%}",
                     f"{e.total_time_s / SECONDS_PER_DAY:.3g}", f"{e.cost_usd:,.0f}",
                     f"{kwh(e.energy_joules) / KILO:.4g}", f"{e.peak_memory_bytes / GIGA:.3g}",
                     share("pipeline_bubble"), share("communication")])
    if fmt == "csv":
        return _csv(headers, rows)
    return _markdown_table(headers, rows) if fmt == "markdown" else _text_table(headers, rows)


def simulation_table(e, mc, fmt: str = "table") -> str:
    """Monte Carlo outcomes: p5 / p50 / p95, against the closed form."""
    if fmt == "json":
        return json.dumps({"closed_form": e.to_dict(), "simulation": mc.to_dict()}, indent=2)
    rows = [
        ["wall time (days)", *(f"{getattr(mc.wall_time_s, q) / SECONDS_PER_DAY:.4g}" for q in ("p5", "p50", "p95")),
         f"{e.total_time_s / SECONDS_PER_DAY:.4g}"],
        ["device-hours", *(f"{getattr(mc.device_hours, q):,.0f}" for q in ("p5", "p50", "p95")), f"{e.device_hours:,.0f}"],
        ["energy (MWh)", *(f"{kwh(getattr(mc.energy_joules, q)) / KILO:,.4g}" for q in ("p5", "p50", "p95")),
         f"{kwh(e.energy_joules) / KILO:,.4g}"],
        ["cost ($)", *(f"{getattr(mc.cost_usd, q):,.0f}" for q in ("p5", "p50", "p95")), f"{e.cost_usd:,.0f}"],
        ["CO2 (t)", *(f"{getattr(mc.co2_kg, q) / KILO:,.4g}" for q in ("p5", "p50", "p95")), f"{e.co2_kg / KILO:,.4g}"],
        ["interruptions", *(f"{getattr(mc.failures, q):.0f}" for q in ("p5", "p50", "p95")), "0"],
    ]
    headers = ["outcome", "p5", "p50", "p95", "closed form"]
    if fmt == "csv":
        return _csv(headers, rows)
    table = _markdown_table(headers, rows) if fmt == "markdown" else _text_table(headers, rows)
    wall = sum(mc.mean_breakdown_s.values()) or 1.0
    spent = ", ".join(f"{k.removesuffix('_s')} {v / wall:.1%}" for k, v in mc.mean_breakdown_s.items())
    notes = "\n".join(f"- {a}" for a in mc.assumptions)
    return (f"{mc.replicas} replica(s), seed {mc.seed}, {mc.devices} devices, plan {e.plan}\n{table}\n\n"
            f"mean wall time spent: {spent}\n{notes}")


def interval_sweep_table(sweep, fmt: str = "table") -> str:
    """Checkpoint interval against median wall time and cost: the price of getting it wrong."""
    optimum = sweep[len(sweep) // 2]
    if fmt == "json":
        return json.dumps([{"checkpoint_interval_s": i, "simulation": mc.to_dict()} for i, mc in sweep], indent=2)
    headers = ["checkpoint interval", "x optimum", "wall p50 (days)", "vs optimum", "cost p50 ($)", "lost work"]
    rows = []
    for interval, mc in sweep:
        wall = mc.wall_time_s.p50
        lost = mc.mean_breakdown_s["lost_s"] / max(sum(mc.mean_breakdown_s.values()), 1.0)
        rows.append([f"{interval:,.0f} s", f"{interval / optimum[0]:.2g}", f"{wall / SECONDS_PER_DAY:.4g}",
                     f"{wall / optimum[1].wall_time_s.p50 - 1:+.1%}", f"{mc.cost_usd.p50:,.0f}", f"{lost:.1%}"])
    if fmt == "csv":
        return _csv(headers, rows)
    return "\n" + (_markdown_table(headers, rows) if fmt == "markdown" else _text_table(headers, rows))


# ------------------------------------------------------------------------------------- strategies
STRATEGY_COLUMNS = (
    ("label", "strategy", None),
    ("time_s", "time (h)", lambda v: v / SECONDS_PER_HOUR),
    ("energy_joules", "energy (kWh)", kwh),
    ("cost_usd", "cost ($)", None),
    ("co2_kg", "CO2 (kg)", None),
    ("peak_memory_bytes", "memory (GB)", lambda v: v / GIGA),
    ("model_bytes", "model (MB)", lambda v: v / (GIGA / KILO)),
    ("time_ratio", "time x", None),
    ("energy_ratio", "energy x", None),
    ("cost_ratio", "cost x", None),
    ("co2_ratio", "CO2 x", None),
)


def _ratio(v: float) -> str:
    return f"{v:.3f}"


def strategy_table(rows, fmt: str = "table") -> str:
    """Rows of :class:`simulator.strategies.StrategyRow`: one line per scenario with its ratios to the
    baseline, then each scenario's phases, break-even figures, assumptions and warnings."""
    if fmt == "json":
        return json.dumps([r.to_dict() for r in rows], indent=2)
    headers = [h for _, h, _ in STRATEGY_COLUMNS]
    raw_headers = [k for k, _, _ in STRATEGY_COLUMNS] + ["analysis", "assumptions", "warnings"]
    display, raw = [], []
    for r in rows:
        d = r.to_dict()
        vals = [d[k] if f is None else f(d[k]) for k, _, f in STRATEGY_COLUMNS]
        display.append([vals[0]] + [_fmt(v) for v in vals[1:7]] + [_ratio(v) for v in vals[7:]])
        raw.append([d[k] for k, _, _ in STRATEGY_COLUMNS] + [json.dumps(r.analysis), " | ".join(r.assumptions),
                                                             " | ".join(r.warnings)])
    if fmt == "csv":
        return _csv(raw_headers, raw)
    table = _markdown_table(headers, display) if fmt == "markdown" else _text_table(headers, display)
    bullet = "- " if fmt == "markdown" else "  "
    notes = []
    for r in rows:
        notes.append(f"\n{r.label}:")
        for p in r.phases:
            notes.append(f"{bullet}{p.label}: {p.hardware} x {p.devices}, {p.workload}, x{p.repeats:.4g}, "
                         f"step {p.step_time_s / MILLI:.4g} ms, {p.time_s / SECONDS_PER_HOUR:,.4g} h, "
                         f"${p.cost_usd:,.2f}")
        for k, v in r.analysis.items():
            notes.append(f"{bullet}{k.replace('_', ' ')}: " + ("never (no saving)" if v is None else
                                                                v if isinstance(v, str) else f"{v:,.6g}"))
        notes += [f"{bullet}assumes {a}" for a in r.assumptions]
        notes += [f"{bullet}warning: {w}" for w in r.warnings]
    return table + "\n" + "\n".join(notes)


def speedup_table(checks, fmt: str = "table") -> str:
    """Compression microbenchmarks: measured against modelled speedups, and the worst error."""
    if fmt == "json":
        return json.dumps([{**c.model_dump(), "error_fraction": c.error} for c in checks], indent=2)
    headers = ["microbenchmark", "session", "measured x", "model x", "error", "fitted on it"]
    display = [[c.what, c.session, f"{c.measured:.3g}", f"{c.model:.3g}", _pct(c.error),
                "no" if c.held_out else "yes"] for c in checks]
    if fmt == "csv":
        return _csv(["what", "session", "measured", "model", "error_fraction", "held_out"],
                    [[c.what, c.session, c.measured, c.model, c.error, c.held_out] for c in checks])
    table = _markdown_table(headers, display) if fmt == "markdown" else _text_table(headers, display)
    held = [c for c in checks if c.held_out]
    worst = max(held, key=lambda c: abs(c.error)) if held else None
    tail = f"\nheld out: {len(held)} rows, worst {worst.error:+.1%} ({worst.what}, {worst.session})" if worst else ""
    return table + tail


# ------------------------------------------------------------------------------------- limits
def fits_table(fits, fmt: str = "table", headline_only: bool = False) -> str:
    """Scaling fits: benchmark, measure, model, subset, n, slope with its interval, R^2, exponent k."""
    shown = [f for f in fits if f.headline] if headline_only else list(fits)
    if fmt == "json":
        return json.dumps([f.model_dump() for f in shown], indent=2)
    headers = ["benchmark", "metric", "compute", "model", "subset", "n", "slope", "slope 95%", "R2", "k", "k 95%"]
    def k_ci(f):
        return "-" if f.exponent_k_ci95 is None else f"{f.exponent_k_ci95[0]:.3g} to {f.exponent_k_ci95[1]:.3g}"
    display = [[f.benchmark, f.metric, f.compute_measure.replace("_", " "), f.model, f.subset, str(f.n),
                f"{f.slope:.3g}", f"{f.slope_ci95[0]:.3g} to {f.slope_ci95[1]:.3g}", f"{f.r_squared:.2f}",
                f"{f.exponent_k:.3g}", k_ci(f)] for f in shown]
    raw_headers = ["benchmark", "metric", "compute_measure", "model", "subset", "n", "slope", "slope_low", "slope_high",
                   "r_squared", "exponent_k", "headline"]
    raw = [[f.benchmark, f.metric, f.compute_measure, f.model, f.subset, f.n, f.slope, f.slope_ci95[0],
            f.slope_ci95[1], f.r_squared, f.exponent_k, f.headline] for f in shown]
    return _render(headers, display, raw_headers, raw, fmt)


def _range(lo, hi) -> str:
    return f"{_fmt(lo)} to {_fmt(hi)}" if lo and hi else "unbounded"


def priced_table(priced, fmt: str = "table") -> str:
    """What each target (or budget) costs on each device: compute with its interval, time, energy,
    dollars with the interval carried, CO2, and the cost under each strategy."""
    if fmt == "json":
        return json.dumps([p.model_dump() for p in priced], indent=2)
    strategies = list(dict.fromkeys(k for p in priced for k in p.strategy_cost_usd))
    headers = ["target", "hardware", "devices", "compute (FLOP)", "95% (FLOP)", "time (years)", "energy (GWh)",
               "cost ($)", "cost 95% ($)", "CO2 (t)"] + [f"$ with {s}" for s in strategies]
    display, raw = [], []
    for p in priced:
        if p.problem:
            display.append([p.label, p.hardware, str(p.devices), _fmt(p.compute_flops), "", "not priced"] +
                           [""] * (len(headers) - 6))
        else:
            display.append([p.label, p.hardware, str(p.devices), _fmt(p.compute_flops),
                            _range(p.compute_low_flops, p.compute_high_flops), _fmt(p.time_s / SECONDS_PER_YEAR),
                            _fmt(kwh(p.energy_joules) / MEGA), _fmt(p.cost_usd), _range(p.cost_low_usd, p.cost_high_usd),
                            _fmt(p.co2_kg / KILO)] + [_fmt(p.strategy_cost_usd.get(s)) for s in strategies])
        raw.append([p.label, p.hardware, p.devices, p.compute_flops, p.compute_low_flops, p.compute_high_flops,
                    p.time_s, p.energy_joules, p.cost_usd, p.cost_low_usd, p.cost_high_usd, p.co2_kg]
                   + [p.strategy_cost_usd.get(s) for s in strategies] + [p.problem or ""])
    raw_headers = ["label", "hardware", "devices", "compute_flops", "compute_low_flops", "compute_high_flops",
                   "time_s", "energy_joules", "cost_usd", "cost_low_usd", "cost_high_usd", "co2_kg"] + \
                  [f"cost_usd_with_{s}" for s in strategies] + ["problem"]
    table = _render(headers, display, raw_headers, raw, fmt)
    problems = [f"{p.label} on {p.hardware}: {p.problem}" for p in priced if p.problem]
    if fmt in ("table", "markdown") and problems:
        table += "\n\nnot priced:\n" + "\n".join(f"- {x}" for x in dict.fromkeys(problems))
    return table


def scaling_plot(points, fit, targets=(), fmt: str = "png") -> bytes:
    """A benchmark's models (error against compute, log-log), the fitted line with its 95% band, and the
    targets' projected compute."""
    import numpy as np

    from .scaling import compute_for_error

    plt = _pyplot(fmt, "--plot-dir")
    fig, ax = plt.subplots(figsize=(7.0, 5.0), dpi=120)
    xs = np.array([p.compute_flops for p in points])
    ys = np.array([p.error_fraction for p in points])
    ax.scatter(xs, ys, s=16, alpha=0.7, label=f"{len(points)} models")
    lo = math.log10(xs.min())
    hi = max([math.log10(xs.max())] + [math.log10(compute_for_error(fit, t, True).compute_flops) for t in targets])
    u = np.linspace(lo, hi, 200)
    line = fit.intercept + fit.slope * u
    half = fit.t_critical * fit.residual_std * np.sqrt(1 / fit.n + (u - fit.mean_log10_compute) ** 2 / fit.sxx)
    to_err = (lambda y: 10 ** y) if fit.model == "polynomial" else (lambda y: y)
    ax.plot(10 ** u, to_err(line), color="C1", label=f"{fit.model} fit, k = {fit.exponent_k:.3g}")
    ax.fill_between(10 ** u, to_err(line - half), to_err(line + half), color="C1", alpha=0.2, label="95% band")
    for t in targets:
        c = compute_for_error(fit, t, True)
        ax.axhline(t, color="grey", lw=0.8, ls="--")
        ax.plot([c.compute_flops], [t], marker="x", color="black")
        ax.annotate(f"{t:g}: {c.compute_flops:.2g} FLOP", (c.compute_flops, t), textcoords="offset points",
                    xytext=(-10, 6), ha="right", fontsize=9)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"compute: {fit.compute_measure.replace('_', ' ')} (FLOP)")
    ax.set_ylabel(f"{fit.metric} (fraction)")
    ax.set_title(f"{fit.benchmark}: error against compute ({fit.subset} models, n={fit.n})")
    ax.legend(loc="lower left")
    ax.grid(True, which="both", alpha=0.3)
    return _image(fig, plt, fmt)


def cost_plot(priced, fmt: str = "png") -> bytes:
    """The dollars to reach each target on each device (log scale), with the fit's interval as bars."""
    import numpy as np

    plt = _pyplot(fmt, "--plot-dir")
    shown = [p for p in priced if not p.problem]
    labels = list(dict.fromkeys(p.label for p in shown))
    devices = list(dict.fromkeys(p.hardware for p in shown))
    fig, ax = plt.subplots(figsize=(max(7.0, 1.2 * len(devices) * len(labels) / 2), 5.0), dpi=120)
    width = 0.8 / max(len(labels), 1)
    for i, label in enumerate(labels):
        rows = {p.hardware: p for p in shown if p.label == label}
        x = np.arange(len(devices)) + i * width
        y = [rows[d].cost_usd if d in rows else np.nan for d in devices]
        err = [[(rows[d].cost_usd - (rows[d].cost_low_usd or rows[d].cost_usd)) if d in rows else 0 for d in devices],
               [((rows[d].cost_high_usd or rows[d].cost_usd) - rows[d].cost_usd) if d in rows else 0 for d in devices]]
        ax.bar(x, y, width, yerr=err, capsize=3, label=label)
    ax.set_xticks(np.arange(len(devices)) + width * (len(labels) - 1) / 2)
    ax.set_xticklabels(devices, rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("cost to reach the target ($)")
    ax.set_title("cost of reaching each target, by device (bars: 95% interval of the fit)")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    return _image(fig, plt, fmt)


# ------------------------------------------------------------------------------------- projections
def profile_yaml(raw: dict) -> str:
    """A profile dict as YAML text (the loader reads plain exponents back)."""
    import yaml

    return yaml.safe_dump(raw, sort_keys=False, width=110)


def projection_text(profile, trends: dict, fmt: str = "table", recent: dict | None = None) -> str:
    """A projected device: its headline figures, the trends it was grown at, and (``recent``) the same
    fits on the bundled GPU profiles for comparison."""
    peaks = {k: v for k, v in profile.peak_dense_flops_per_s.model_dump().items() if v}
    if fmt == "json":
        return json.dumps({"profile": profile.model_dump(), "trends": {k: t.model_dump() for k, t in trends.items()}},
                          indent=2)
    rows = [[f"peak {k} (TFLOP/s)", _fmt(v / TERA)] for k, v in peaks.items()]
    rows += [["memory (GB)", _fmt(profile.memory_bytes / GIGA)],
             ["memory bandwidth (TB/s)", _fmt(profile.memory_bandwidth_bytes_per_s / TERA)],
             ["TDP (W)", _fmt(profile.power.tdp_watts)],
             ["cloud price ($/device-hour)", _fmt(profile.cloud_price_usd_per_hour)]]
    table = _render(["field", "value"], rows, ["field", "value"], rows, fmt)
    text = (f"{profile.name}: {profile.description}\n" + table + "\n\ntrends used (MIT FutureTech GPU table):\n" +
            "\n".join(f"- {t.describe()}" for t in trends.values()))
    if recent:
        text += "\n\nthe same fits on the bundled GPU profiles, for comparison:\n" + "\n".join(
            f"- {t.describe()}" for t in recent.values())
    return text


def cheaper_year_text(base, benchmark, target, budget_usd, devices, year, costs, fmt: str = "table") -> str:
    if fmt == "json":
        return json.dumps({"base": base, "benchmark": benchmark, "target_error_fraction": target,
                           "budget_usd": budget_usd, "devices": devices, "first_year": year,
                           "cost_usd_by_year": dict(costs)}, indent=2)
    head = (f"{benchmark} at error {target:g} on {devices} x {base}'s line: "
            + (f"first under ${budget_usd:,.4g} in {year}" if year else f"not under ${budget_usd:,.4g} by {costs[-1][0]}"))
    rows = [[str(y), _fmt(c)] for y, c in costs]
    return head + "\n" + _render(["year", "cost ($)"], rows, ["year", "cost_usd"], [[y, c] for y, c in costs], fmt)


# ------------------------------------------------------------------------------------- quantum
def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "inf"
    for unit, size in (("years", SECONDS_PER_YEAR), ("days", SECONDS_PER_DAY), ("h", SECONDS_PER_HOUR)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def breakeven_text(r: dict, fmt: str = "table") -> str:
    if fmt == "json":
        return json.dumps(r, indent=2)
    res = r["resources"]
    head = (f"{r['profile']}: code distance {res['code_distance']}, {res['physical_qubits']:,} physical qubits "
            f"({res['physical_qubits_per_logical']} per logical), Toffoli {res['toffoli_time_s'] / MICRO:.3g} us; "
            f"quantum step {r['toffolis_per_step']:g} Toffolis = {r['quantum_step_s'] / MILLI:.3g} ms against a "
            f"classical step of {r['classical_step_s']:.3g} s")
    rows = [[f"{b['degree']:g}", f"{b['classical_parallelism']:.0e}", _fmt(b["problem_size"]), _duration(b["time_s"])]
            for b in r["breakeven"]]
    raw = [[b["degree"], b["classical_parallelism"], b["problem_size"], b["time_s"]] for b in r["breakeven"]]
    t1 = _render(["degree d", "classical S", "break-even size M*", "break-even time T*"], rows,
                 ["degree", "classical_parallelism", "problem_size", "time_s"], raw, fmt)
    rows2 = [[h["operation"], f"{h['degree']:g}", _fmt(h["max_operations_per_call"])] for h in r["hoefler"]]
    raw2 = [[h["operation"], h["degree"], h["max_operations_per_call"]] for h in r["hoefler"]]
    t2 = _render(["operation", "degree k", "largest work per oracle call"], rows2,
                 ["operation", "degree", "max_operations_per_call"], raw2, fmt)
    return (head + "\n\nBabbush et al. 2021 break-even (Table I with this profile's step time):\n" + t1 +
            "\n\nHoefler, Haener & Troyer 2023: their future machine against an A100, within 1e6 s (Table 2):\n" + t2)


def quantum_estimate_text(q, fmt: str = "table") -> str:
    if fmt == "json":
        return json.dumps(q.to_dict(), indent=2)
    v, e = q.verdict, q.classical_estimate
    rows = [["classical competitor", f"{q.classical_hardware} x {q.classical_devices}: {_duration(e.total_time_s)}, "
                                     f"${e.cost_usd:,.4g}"],
            ["work", f"{q.total_operations:.3g} operations, {q.data_bytes:.3g} bytes of data"],
            ["surface code", f"distance {q.resources['code_distance']}, {q.resources['physical_qubits']:,} physical "
                             f"qubits, Toffoli {q.resources['toffoli_time_s'] / MICRO:.3g} us"],
            ["quantum run", f"{_duration(v['quantum_time_s'])} (quantum steps {_duration(v['accelerated_time_s'])}, "
                            f"classical rest {_duration(v['classical_rest_time_s'])}, I/O {_duration(v['io_time_s'])})"],
            ["speedup", f"{v['speedup']:.3g}x (Amdahl limit " + (f"{v['amdahl_limit_speedup']:.3g}x)" if
                        math.isfinite(v["amdahl_limit_speedup"]) else "unbounded: all of the work is accelerated)")],
            ["ties at (each alone)", ", ".join(x for x in [
                f"degree > {v['required_degree']:.3g}" if v["required_degree"] else "",
                f"Toffoli < {v['required_toffoli_time_s']:.3g} s" if v["required_toffoli_time_s"] else "",
                f"I/O > {v['required_io_bandwidth_bytes_per_s']:.3g} B/s" if v["required_io_bandwidth_bytes_per_s"]
                else ""] if x) or "no single change"],
            ["verdict", v["verdict"]]]
    if fmt == "table":
        return f"{q.hardware} on {q.workload}\n" + _text_table(["", ""], rows, numeric=False)
    return _render(["what", "value"], rows, ["what", "value"], rows, fmt)


def history_table(results, summary, fmt: str = "table") -> str:
    """Historical training runs: recorded against predicted time, the record's implied utilisation, and
    which is the likelier culprit where they disagree."""
    if fmt == "json":
        return json.dumps({"runs": [r.model_dump() for r in results], "summary": summary.model_dump()}, indent=2)
    headers = ["run", "benchmark", "year", "processor", "n", "recorded", "predicted", "ratio", "implied use", "verdict"]
    display = [[r.name, r.benchmark, str(r.year or ""), r.profile or r.processor, str(r.devices),
                _duration(r.measured_s), _duration(r.predicted_s) if r.predicted_s else "-",
                f"{r.predicted_s / r.measured_s:.2g}" if r.predicted_s else "-",
                f"{r.implied_utilisation_fraction:.1%}" if r.implied_utilisation_fraction is not None else "-",
                r.verdict] for r in results]
    raw_headers = list(results[0].model_dump()) if results else []
    raw = [list(r.model_dump().values()) for r in results]
    if fmt == "csv":
        return _csv(raw_headers, raw)
    table = _markdown_table(headers, display) if fmt == "markdown" else _text_table(headers, display, numeric=False)
    s = summary
    tail = (f"\n\n{s.predicted} of {s.runs} runs predicted; median |log10(predicted/recorded)| "
            + (f"{s.median_abs_log10_error:.2f} (a factor of {10 ** s.median_abs_log10_error:.2f})"
               if s.median_abs_log10_error is not None else "-")
            + f"; within 2x: {s.within_factor_2}, within 3x: {s.within_factor_3}; records implying more than the "
              f"peak: {s.impossible_records}")
    return table + tail


def limits_notes(r) -> str:
    """The web app's fixed-ratio figures for the same compute, and the assumptions of a limits report."""
    lines = ["", "the same compute at the MIT FutureTech web app's fixed ratios:"]
    lines += [f"  {label}: ${usd:,.4g}, {co2 / KILO:,.4g} t CO2" for label, (usd, co2) in r.web_app.items()]
    return "\n".join(lines + [""] + [f"- {a}" for a in r.assumptions])


# ------------------------------------------------------------------------------------- sweeps
SWEEP_FORMATS = ("csv", "jsonl", "markdown", "latex")


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def _latex(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in text)


class SweepWriter:
    """Rows of a sweep as text in one format, piece by piece: ``head()``, ``rows(batch)`` as they come,
    ``tail()``; so a file written as the sweep runs keeps every finished row if it is cut short."""

    def __init__(self, cols: list[str], fmt: str):
        if fmt not in SWEEP_FORMATS:
            from .errors import CostsimError

            raise CostsimError(f"unknown sweep format '{fmt}'; use one of {', '.join(SWEEP_FORMATS)}", field="--format")
        self.cols, self.fmt = cols, fmt

    def head(self) -> str:
        if self.fmt == "csv":
            return _csv(self.cols, [])
        if self.fmt == "markdown":
            return "| " + " | ".join(self.cols) + " |\n|" + "|".join("---" for _ in self.cols) + "|\n"
        if self.fmt == "latex":
            return ("\\begin{tabular}{" + "l" * len(self.cols) + "}\n\\hline\n"
                    + " & ".join(_latex(c) for c in self.cols) + " \\\\\n\\hline\n")
        return ""

    def rows(self, rows: list[dict]) -> str:
        if self.fmt == "jsonl":
            return "".join(json.dumps({c: r.get(c) for c in self.cols}) + "\n" for r in rows)
        if self.fmt == "csv":
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows([[_cell(r.get(c)) for c in self.cols] for r in rows])
            return buf.getvalue()
        if self.fmt == "markdown":
            return "".join("| " + " | ".join(_cell(r.get(c)).replace("|", "\\|") for c in self.cols) + " |\n"
                           for r in rows)
        return "".join(" & ".join(_latex(_cell(r.get(c))) for c in self.cols) + " \\\\\n" for r in rows)

    def tail(self) -> str:
        return "\\hline\n\\end{tabular}\n" if self.fmt == "latex" else ""


def sweep_text(rows: list[dict], fmt: str = "csv") -> str:
    """A whole sweep's rows as one text (columns from the rows' own keys, in order)."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    w = SweepWriter(cols, fmt)
    return w.head() + w.rows(rows) + w.tail()
