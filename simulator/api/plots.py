"""Plots of scenarios and sweeps: ``plot`` and its kinds (roofline, pipeline, compare, pareto, scaling, limits), and
the helpers that turn a sweep's rows into a figure's points and lines (``reports`` uses them too)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from pydantic import ValidationError

from ..analysis.limits import pricing_fit
from ..analysis.scaling import fit_all, points
from ..cluster.stages import op_table, plan_stages, stage_pass_times
from ..cluster.timeline import bubble_fraction, chunk_times, schedule
from ..errors import CostsimError
from ..files.published import load_csv_raw
from ..model.memory import check_fits
from ..output import breakdown_plots, human, pipeline_plots, plots, sweep_plots
from ..output.figure import PLOT_FORMATS
from ..output.fit_plots import scaling_plot
from ..run.estimate import estimate_run
from ..run.sweep import MAX_SCENARIOS
from ..schema.hardware import ClassicalProfile, PositiveInt, Strict
from ..schema.plan import check_plan
from .core import _blamed, _load, _source, compare, run_options, strategies
from .core import plan as search_plans
from .projections import thompson_rows
from .sweeps import sweep

PLOT_KINDS = ("roofline", "pipeline", "compare", "pareto", "scaling", "limits")
TIME = "total_time_s"  # the sweep's column of training time
ALIASES = {"time_s": TIME}  # older names of sweep columns, still accepted by --x and --y
# the input axes of a sweep row, each with what a reader calls it; an axis's columns move together (a region
# and its grid intensity). The axes after "devices" price a run or pick its variant, and may change nothing.
AXES = (("hardware",), ("workload",), ("devices",), ("strategy",), ("region", "grid_g_co2_per_kwh"), ("pue",),
        ("pricing_requested",), ("cloud_price_usd_per_hour",), ("electricity_usd_per_kwh",), ("lifetime_years",))
AXIS_WORDS = {"strategy": "strategy", "region": "region", "pue": "PUE", "pricing_requested": "pricing",
              "cloud_price_usd_per_hour": "cloud price", "electricity_usd_per_kwh": "electricity price",
              "lifetime_years": "lifetime"}


class PlotOptions(Strict):
    """What ``plot`` draws beyond its inputs: its keyword options other than the run options.

    Attributes:
        strategy: compare: strategies to compare on one device (their text, as ``--strategy``).
        x: pareto and scaling: the sweep column on the x axis (default: total_time_s for pareto, devices for
            scaling; ``time_s`` is accepted for total_time_s).
        y: pareto and scaling: the sweep column on the y axis (its unit is the column's: cost_usd in US dollars).
        series: scaling: the sweep column with one line per value.
        benchmark: limits: the benchmark whose scaling fit is drawn.
        targets: limits: target errors to mark, fractions in (0, 1).
        data: limits: the Thompson et al. folder; None: ``$COSTSIM_DATA`` or the bundled copy.
        max_scenarios: pareto and scaling: a sweep file of more scenarios is refused before it runs.
    """

    strategy: tuple[str, ...] = ()
    x: str | None = None
    y: str = "cost_usd"
    series: str = "hardware"
    benchmark: str = "imagenet"
    targets: tuple[float, ...] = ()
    data: str | Path | None = None
    max_scenarios: PositiveInt = MAX_SCENARIOS


def _plot_options(**options) -> PlotOptions:
    """:class:`PlotOptions` from ``plot``'s keywords; a bad value is a one-line error naming its field."""
    try:
        return PlotOptions(**options)
    except ValidationError as err:
        raise CostsimError.from_validation(err) from None


def _sweep_rows(source, max_scenarios: int = MAX_SCENARIOS) -> list[dict]:
    """A sweep's rows: from a CSV that ``sweep`` wrote, or by running a sweep file (or spec)."""

    if isinstance(source, (str, Path)) and str(source).endswith(".csv"):
        rows = load_csv_raw(source)
        for r in rows:
            for k, v in r.items():
                try:
                    r[k] = float(v) if v not in ("", None) else None
                except (TypeError, ValueError):
                    r[k] = v or None
        return rows
    return list(sweep(source, max_scenarios=max_scenarios).rows)


def _bars(label: str, totals, breakdown: dict) -> dict:
    """One bar group of a comparison plot: an estimate's or a strategy row's totals, time broken down."""
    return {"label": label, "time_s": getattr(totals, "total_time_s", None) or totals.time_s,
            "energy_joules": totals.energy_joules, "cost_usd": totals.cost_usd, "co2_kg": totals.co2_kg,
            "breakdown": breakdown}


def _reason(problem: str) -> str:
    """A problem as a short phrase for a figure's foot: no field path in front, no parenthesised detail."""
    text = re.sub(r"^[\w.\[\]-]+: (?=[a-z])", "", str(problem).strip())
    text = re.sub(r"\s*\([^()]*\)", "", text)
    return text.split(";")[0].strip().rstrip(".")


def _devices_text(n) -> str:
    return f"×{human.number(float(n))}"


def _left_out(rows: list[dict], shown: set | None = None) -> list[str]:
    """What a figure of the priced rows leaves out, and why: a device none of whose rows was priced, by name;
    otherwise its unpriced points (workload and device count)."""
    priced_hw = {r["hardware"] for r in rows if r.get("cost_usd") is not None}
    out: dict[str, None] = {}
    for r in rows:
        if r.get("cost_usd") is not None:
            continue
        why = _reason(r.get("problem") or "not priced")
        if r["hardware"] not in priced_hw:
            out[f"{r['hardware']} ({why})"] = None
        else:
            out[f"{r['hardware']} {_devices_text(r['devices'])} on {_job(r)} ({why})"] = None
    return list(out)


def plot(kind: str, *, hardware=None, workload=None, source=None, fmt: str = "png", sets: Iterable[str] = (),
         **options) -> bytes:
    """``costsim plot KIND``: the image, as bytes in ``fmt`` (png, svg or pdf).

    Options: the fields of :class:`PlotOptions` (``strategy``, ``x``, ``y``, ``series``, ``benchmark``,
    ``targets``, ``data``, ``max_scenarios``); any other keyword is a run option, as ``estimate`` takes (devices, plan,
    region, pricing...).

    roofline: ``hardware`` and ``workload``; pipeline: the timeline of one step of ``plan`` (pp > 1, or
    'auto': the fastest plan that fits ``devices``) on ``hardware``, each stage's forward and backward passes
    of each micro-batch; compare: several ``hardware`` (or ``strategy`` on one);
    pareto: a sweep ``source`` (file, CSV or spec), ``y`` against ``x`` (training time by default), one
    front per workload; scaling: ``y`` against the sweep column ``x`` (devices by default, or set.<field>),
    one line per value of ``series`` (and workload), each point the lowest ``y`` over the other axes;
    limits: a benchmark's scaling fit with its data (``data``: the Thompson et al. folder, default the
    bundled copy), band and ``targets`` (the cost plot is
    ``limits --plot-dir``). Whatever a figure cannot show (a device that does not fit, a run with no price)
    is named at its foot, with the reason."""

    if kind not in PLOT_KINDS:
        raise CostsimError(f"unknown plot '{kind}'; known: {', '.join(PLOT_KINDS)}", field="kind")
    if fmt not in PLOT_FORMATS:
        raise CostsimError(f"unknown image format '{fmt}'; use one of {', '.join(PLOT_FORMATS)}", field="fmt")
    shown = _plot_options(**{k: options.pop(k) for k in PlotOptions.model_fields if k in options})
    strategy, x, y, series = shown.strategy, shown.x, shown.y, shown.series
    benchmark, targets, data = shown.benchmark, shown.targets, shown.data
    if kind == "roofline":
        if not (hardware and workload):
            raise CostsimError("the roofline needs hardware and workload", field="hardware")
        profile, wl = _load(hardware[0] if isinstance(hardware, (list, tuple)) else hardware, workload, sets)
        return breakdown_plots.roofline_plot(profile, op_table(profile, wl, run_options(**options)), fmt,
                                             title=f"{wl.name} on {profile.name}: roofline")
    if kind == "pipeline":
        return _pipeline_figure(hardware, workload, sets, options, fmt)
    if kind == "limits":

        rows = thompson_rows(data, [benchmark])
        f = pricing_fit(fit_all(rows), benchmark)
        return scaling_plot(points(rows[benchmark], benchmark, f.compute_measure), f, tuple(targets), fmt)
    if kind == "compare":
        if not workload:
            raise CostsimError("the comparison needs a workload", field="workload")
        if strategy:
            name = hardware[0] if isinstance(hardware, (list, tuple)) else (hardware or "h200")
            rows = strategies(name, workload, list(strategy), rows="each", sets=sets, **options)
            bars = [_bars(r.label, r, {p.label: p.time_s for p in r.phases}) for r in rows]
            return breakdown_plots.comparison_plot(bars, fmt, title=f"{workload} on {name}: strategies compared")
        results = compare(hardware, workload, sets=sets, **options)
        found = [r.estimate for r in results if r.estimate]
        missing = [f"{r.hardware} ({r.reason or _reason(r.problem)})" for r in results if not r.estimate]
        if not found:
            raise CostsimError("no device could run the workload: " + "; ".join(missing), field="hardware")
        bars = [_bars(e.hardware, e, {k: v.time_s for k, v in e.breakdown.items()}) for e in found]
        return breakdown_plots.comparison_plot(bars, fmt, title=f"{workload} on {len(found)} devices compared",
                                               left_out=missing)
    if source is None:
        raise CostsimError(f"the {kind} plot needs a sweep (a file, or a CSV that 'costsim sweep' wrote)",
                           field="SWEEP")
    x = x or (TIME if kind == "pareto" else "devices")
    every = _sweep_rows(source, shown.max_scenarios)
    rows = [r for r in every if r.get("cost_usd") is not None]
    if not rows:
        raise CostsimError("no scenario of the sweep could be priced: " + "; ".join(_left_out(every)), field="SWEEP")
    keys = []
    for axis, key in (("x", x), ("y", y)):
        if key not in rows[0] and ALIASES.get(key) in rows[0]:
            key = ALIASES[key]
        if key not in rows[0]:
            raise CostsimError(f"the sweep has no column '{key}'; numeric columns: "
                               f"{', '.join(k for k, v in rows[0].items() if isinstance(v, (int, float)))}", field=axis)
        if any(not isinstance(r[key], (int, float)) or isinstance(r[key], bool) for r in rows):
            raise CostsimError(f"column '{key}' is not numeric in every priced row", field=axis)
        keys.append(key)
    x, y = keys
    if kind == "pareto":
        return sweep_plots.pareto_plot(_distinct_points(rows, x, y), x=x, y=y, fmt=fmt,
                                       group_key="job" if len({_job(r) for r in rows}) > 1 else None,
                                       left_out=_left_out(every))
    return _series_figure(rows, series, x, y, fmt, _left_out(every))


def _pipeline_figure(hardware, workload, sets, options: dict, fmt: str) -> bytes:
    """The pipeline timeline of one step of the plan in ``options`` ('auto': the fastest that fits)."""
    if not (hardware and workload):
        raise CostsimError("the pipeline timeline needs hardware and workload", field="hardware")
    profile, wl = _load(hardware[0] if isinstance(hardware, (list, tuple)) else hardware, workload, sets)
    if not isinstance(profile, ClassicalProfile):
        estimate_run(profile, wl)  # refuses it with the usual message
    if options.get("plan") == "auto":
        found = search_plans(profile, wl, devices=options.pop("devices", None) or 1, top=1,
                             **{k: v for k, v in options.items() if k != "plan"})
        options["plan"], options["devices"] = found[0][0], found[0][0].devices
    opts = run_options(**options)
    if opts.plan is None or opts.plan.pp == 1:
        raise CostsimError("a pipeline timeline needs pp > 1" + ("" if opts.plan else
                           ": give a plan (tp=8,pp=8,dp=8,mb=1 or auto)"), field="plan")
    micro = check_plan(opts.plan, wl, opts.devices)
    plan = opts.plan.model_copy(update={"mb": micro})
    m = wl.training.global_batch_size // plan.dp // micro
    try:  # a plan that does not fit is not drawn
        for st, _ in plan_stages(profile, wl, plan, micro, m):
            check_fits(st.peak_memory, profile.memory_bytes, profile.name, micro)
    except CostsimError as err:  # named as estimate names it: the workload's file, the profile's memory
        raise _blamed(err, _source(hardware[0] if isinstance(hardware, (list, tuple)) else hardware, "hardware"),
                      _source(workload, "workload")) from None
    forward, backward = chunk_times(stage_pass_times(profile, wl, plan, micro, m), plan.vp)
    passes = schedule(plan.pp, plan.vp, m, forward, backward, "1f1b" if plan.schedule == "dualpipe" else plan.schedule)
    how = {"gpipe": "GPipe", "zb-h1": "ZB-H1 drawn in 1F1B order", "dualpipe": "DualPipe drawn in 1F1B order"}.get(
        plan.schedule, f"interleaved 1F1B, {plan.vp} chunks per stage" if plan.vp > 1 else "1F1B")
    title = (f"{wl.name} on {profile.name}, plan {plan.label()}: {how}, {m} micro-batches; "
             f"bubble {bubble_fraction(passes, plan.pp):.1%}")
    return pipeline_plots.pipeline_plot(passes, plan.pp, plan.vp, fmt, title=title)


def _series_figure(rows: list[dict], series: str, x: str, y: str, fmt: str, left_out=()) -> bytes:
    """Lowest ``y`` against ``x``, one line per value of ``series`` (and per workload, when several)."""

    jobs = len({_job(r) for r in rows}) > 1
    labelled = [{**r, "line": f"{r.get(series)} · {_job(r)}" if jobs and series != "workload" else
                 str(r.get(series))} for r in rows]
    lines = _cheapest_lines(labelled, "line", x, y)
    x_scale, x_label = plots.quantity(x, [p[0] for pts in lines.values() for p in pts])
    y_scale, y_label = plots.quantity(y, [p[1] for pts in lines.values() for p in pts])
    scaled = {k: [(a / x_scale, b / y_scale) for a, b in pts] for k, pts in lines.items()}
    y_words = plots.QUANTITIES.get(y, (y.replace("_", " "),))[0]
    others = [AXIS_WORDS.get(cols[0], cols[0]) for cols in AXES[1:]
              if cols[0] not in (series, x) and len({r.get(cols[0]) for r in rows}) > 1 and cols[0] != "workload"]
    note = (f"Each point: the lowest {y_words} over the swept {', '.join(others)}." if others else None)
    return sweep_plots.series_plot(scaled, x_label, y_label, fmt=fmt, left_out=left_out, note=note,
                                   logy=all(p[1] > 0 for pts in scaled.values() for p in pts),
                                   logx=all(p[0] > 0 for pts in scaled.values() for p in pts))


def _cheapest_lines(rows: list[dict], series: str, x: str, y: str) -> dict[str, list]:
    """One line per value of ``series``: at each x, the lowest y over the sweep's other axes (a grid of
    options would otherwise give several points per x)."""
    best: dict[str, dict] = {}
    for r in rows:
        line = best.setdefault(str(r.get(series)), {})
        xv, yv = float(r[x]), float(r[y])
        line[xv] = min(line.get(xv, yv), yv)
    return {k: sorted(v.items()) for k, v in best.items()}


def _job(r: dict) -> str:
    """What a row trains: its workload and any workload fields the sweep sets (a model size, say)."""
    fields = [f"{k[4:]}={_plain(v)}" for k, v in r.items() if k.startswith("set.")]
    return f"{r['workload']} ({', '.join(fields)})" if fields else str(r["workload"])


def _plain(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _short_label(r: dict) -> str:
    strategy = r.get("strategy")
    strategy = " / ".join(strategy) if isinstance(strategy, tuple) else strategy
    return f"{r['hardware']} {_devices_text(r['devices'])}" + (f" {strategy}" if strategy and strategy != "none"
                                                              else "")


def _distinct_points(rows: list[dict], x: str, y: str) -> list[dict]:
    """Sweep rows as labelled points, one per distinct (workload, x, y): option rows that price the same run
    the same way would otherwise be drawn (and labelled) on top of each other."""
    seen, out = set(), []
    for r in rows:
        key = (_job(r), round(float(r[x]), 9), round(float(r[y]), 9))
        if key not in seen:
            seen.add(key)
            out.append({**r, "label": _short_label(r), "job": _job(r)})
    return out
