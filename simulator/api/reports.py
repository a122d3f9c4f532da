"""Plots and self-contained HTML reports of scenarios and sweeps."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..errors import CostsimError
from ..estimate import RunOptions
from ..hardware import Strict
from ..loader import load_workload
from .core import _load, compare, run_options, strategies
from .projections import thompson_rows
from .sweeps import _sweep_profile, sweep, sweep_spec

PLOT_KINDS = ("roofline", "compare", "pareto", "scaling", "limits")


def _sweep_rows(source) -> list[dict]:
    """A sweep's rows: from a CSV that ``sweep`` wrote, or by running a sweep file (or spec)."""
    from ..loader import load_csv_raw

    if isinstance(source, (str, Path)) and str(source).endswith(".csv"):
        rows = load_csv_raw(source)
        for r in rows:
            for k, v in r.items():
                try:
                    r[k] = float(v) if v not in ("", None) else None
                except (TypeError, ValueError):
                    r[k] = v or None
        return rows
    return list(sweep(source).rows)


def _bars(label: str, totals, breakdown: dict) -> dict:
    """One bar group of a comparison plot: an estimate's or a strategy row's totals, time broken down."""
    return {"label": label, "time_s": getattr(totals, "total_time_s", None) or totals.time_s,
            "energy_joules": totals.energy_joules, "cost_usd": totals.cost_usd, "co2_kg": totals.co2_kg,
            "breakdown": breakdown}


def plot(kind: str, *, hardware=None, workload=None, strategy: Iterable[str] = (), source=None, x: str = "time_s",
         y: str = "cost_usd", series: str = "hardware", fmt: str = "png", sets: Iterable[str] = (),
         benchmark: str = "imagenet", targets: Iterable[float] = (), **options) -> bytes:
    """``costsim plot KIND``: the image, as bytes in ``fmt``.

    roofline: ``hardware`` and ``workload``; compare: several ``hardware`` (or ``strategy`` on one);
    pareto: a sweep ``source`` (file, CSV or spec), ``y`` against ``x``; scaling: ``y`` against the sweep
    column ``x`` (devices, set.<field>), one line per value of ``series``; limits: a benchmark's scaling
    fit with its data, band and ``targets`` (the cost plot is ``limits --plot-dir``)."""
    from .. import plots
    from ..estimate import op_table

    if kind not in PLOT_KINDS:
        raise CostsimError(f"unknown plot '{kind}'; known: {', '.join(PLOT_KINDS)}", field="KIND")
    if kind == "roofline":
        if not (hardware and workload):
            raise CostsimError("the roofline needs --hardware and --workload", field="--hardware")
        profile, wl = _load(hardware[0] if isinstance(hardware, (list, tuple)) else hardware, workload, sets)
        return plots.roofline_plot(profile, op_table(profile, wl, run_options(**options)), fmt,
                                   title=f"{profile.name}: {wl.name}")
    if kind == "limits":
        from ..limits import pricing_fit
        from ..report import scaling_plot
        from ..scaling import fit_all, points

        rows = thompson_rows(None, [benchmark])
        f = pricing_fit(fit_all(rows), benchmark)
        return scaling_plot(points(rows[benchmark], benchmark, f.compute_measure), f, tuple(targets), fmt)
    if kind == "compare":
        if not workload:
            raise CostsimError("the comparison needs --workload", field="--workload")
        if strategy:
            name = hardware[0] if isinstance(hardware, (list, tuple)) else (hardware or "h200")
            rows = strategies(name, workload, list(strategy), rows="each", sets=sets, **options)
            bars = [_bars(r.label, r, {p.label: p.time_s for p in r.phases}) for r in rows]
            return plots.comparison_plot(bars, fmt, title=f"{workload} on {name}: strategies")
        found = [r.estimate for r in compare(hardware, workload, sets=sets, **options) if r.estimate]
        bars = [_bars(e.hardware, e, {k: v.time_s for k, v in e.breakdown.items()}) for e in found]
        return plots.comparison_plot(bars, fmt, title=f"{workload}: devices")
    if source is None:
        raise CostsimError(f"the {kind} plot needs a sweep (a file, or a CSV that 'costsim sweep' wrote)",
                           field="SWEEP")
    rows = [r for r in _sweep_rows(source) if r.get("cost_usd") is not None]
    for axis, key in (("--x", x), ("--y", y)):
        if rows and key not in rows[0]:
            raise CostsimError(f"the sweep has no column '{key}'; numeric columns: "
                               f"{', '.join(k for k, v in rows[0].items() if isinstance(v, (int, float)))}", field=axis)
        if any(not isinstance(r[key], (int, float)) or isinstance(r[key], bool) for r in rows):
            raise CostsimError(f"column '{key}' is not numeric in every priced row", field=axis)
    if kind == "pareto":
        return plots.pareto_plot(_distinct_points(rows, x, y), x=x, y=y, fmt=fmt)
    return plots.series_plot(_cheapest_lines(rows, series, x, y), x, y, fmt=fmt)


def _cheapest_lines(rows: list[dict], series: str, x: str, y: str) -> dict[str, list]:
    """One line per value of ``series``: at each x, the lowest y over the sweep's other axes (a grid of
    options would otherwise give several points per x)."""
    best: dict[str, dict] = {}
    for r in rows:
        line = best.setdefault(str(r.get(series)), {})
        xv, yv = float(r[x]), float(r[y])
        line[xv] = min(line.get(xv, yv), yv)
    return {k: sorted(v.items()) for k, v in best.items()}


def _distinct_points(rows: list[dict], x: str, y: str) -> list[dict]:
    """Sweep rows as labelled points, one per distinct (x, y): option rows that price the same run the
    same way would otherwise be drawn (and labelled) on top of each other."""
    seen, out = set(), []
    for r in rows:
        key = (round(float(r[x]), 9), round(float(r[y]), 9))
        if key not in seen:
            seen.add(key)
            out.append({**r, "label": f"{r['hardware']} x{float(r['devices']):g} {r['strategy']}"})
    return out


class ReportResult(Strict):
    """``costsim report``: a self-contained HTML page and the CSV it was made from."""

    name: str
    html: str
    csv: str

    def to_dict(self) -> dict:
        return self.model_dump()


REPORT_ROWS = 50  # rows shown in the page (all of them are in the CSV)


def report(source, *, workers: int = 1, progress=None) -> ReportResult:
    """The page of a scenario or sweep (a sweep file or spec): its cheapest scenarios, the Pareto front
    of cost against time, the best run per device compared, cost against the swept device count, the
    roofline of a single scenario, and every assumption; with the CSV of all rows."""
    from .. import html, plots
    from ..estimate import op_table
    from ..report import sweep_text
    from ..strategies import STRATEGIES, parse

    spec = sweep_spec(source)
    rows = list(sweep(spec, workers=workers, progress=progress).rows)
    ok = sorted((r for r in rows if r["cost_usd"] is not None), key=lambda r: r["cost_usd"])
    cols = ["hardware", "workload", "devices", "strategy", "grid", "pue", "pricing", "time_s", "energy_joules",
            "cost_usd", "co2_kg", "peak_memory_bytes", "mfu_fraction"]
    shown = ok[:REPORT_ROWS]
    sections = [("Cheapest scenarios", html.table_html(cols, [[r.get(c) for c in cols] for r in shown]) +
                 (f"<p>{len(ok)} of {len(rows)} scenarios priced; the cheapest {len(shown)} shown. Every row is in "
                  f"the CSV.</p>"))]
    problems = sorted({r["problem"] for r in rows if r["problem"]})
    if problems:
        sections.append(("Scenarios that could not be priced", "<ul>" + "".join(
            f"<li>{html._e(p)}</li>" for p in problems) + "</ul>"))
    figures = []
    if len(ok) > 1:
        figures.append(("Cost against time (Pareto front highlighted)",
                        plots.pareto_plot(_distinct_points(ok, "time_s", "cost_usd"), fmt="svg")))
    best = {}
    for r in ok:
        best.setdefault(r["hardware"], r)
    if best:
        figures.append(("The cheapest scenario of each device", plots.comparison_plot(
            [{"label": f"{h} x{r['devices']}", **{k: r[k] for k in ("time_s", "energy_joules", "cost_usd", "co2_kg")},
              "breakdown": {}} for h, r in best.items()], "svg")))
    if len(spec.devices) > 1 and ok:
        labelled = [{**r, "line": f"{r['hardware']} {r['strategy']}"} for r in ok]
        figures.append(("Cost against device count (the cheapest option at each point)", plots.series_plot(
            _cheapest_lines(labelled, "line", "devices", "cost_usd"), "devices", "cost_usd", fmt="svg")))
    if len(spec.core_points()) == 1 and ok:
        p = spec.core_points()[0]
        profile, wl = _sweep_profile(p["hardware"]), load_workload(p["workload"])
        try:  # the plain run's kernels (a plan or strategy the roofline cannot show leaves it out)
            figures.append((f"Roofline of {wl.name} on {profile.name}", plots.roofline_plot(
                profile, op_table(profile, wl, RunOptions(devices=p["devices"])), "svg")))
        except CostsimError:
            pass
    sections.append(("Figures", "".join(html.image_html(img, "svg", caption, id_prefix=f"fig{i}-")
                                        for i, (caption, img) in enumerate(figures))))
    notes = [STRATEGIES[parse(t).name].quality for s in spec.strategies if s != "none" for t in s.split("+")]
    notes += ["every scenario is a closed-form estimate (see the README's model section); grids, PUEs and prices "
              "are applied to its device-seconds and IT energy"]
    axes = ", ".join(f"{k}: {len(v) if isinstance(v, (list, tuple, dict)) else v}"
                     for k, v in spec.model_dump().items() if v not in ((), [], {}, None, ""))
    page = html.page(f"costsim: {spec.name}", sections, subtitle=f"{len(rows)} scenarios ({axes})",
                     notes=list(dict.fromkeys(notes)), csv_name=f"{Path(spec.name).name or 'sweep'}.csv")
    return ReportResult(name=Path(spec.name).name or "sweep", html=page, csv=sweep_text(rows, "csv"))


