"""Plots and self-contained HTML reports of scenarios and sweeps."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from ..analysis.limits import pricing_fit
from ..analysis.scaling import fit_all, points
from ..errors import CostsimError
from ..files.loader import load_csv_raw, load_workload
from ..output import html, human, plots
from ..output.fit_plots import scaling_plot
from ..output.html import Cell
from ..output.tables import sweep_text
from ..run.estimate import RunOptions, op_table
from ..schema.hardware import Strict
from ..strategies.catalogue import STRATEGIES, parse
from .core import _load, compare, run_options, strategies
from .projections import thompson_rows
from .sweeps import _sweep_profile, sweep, sweep_spec

PLOT_KINDS = ("roofline", "compare", "pareto", "scaling", "limits")
TIME = "total_time_s"  # the sweep's column of training time
ALIASES = {"time_s": TIME}  # older names of sweep columns, still accepted by --x and --y
# the input axes of a sweep row, each with what a reader calls it; an axis's columns move together (a region
# and its grid intensity). The axes after "devices" price a run or pick its variant, and may change nothing.
AXES = (("hardware",), ("workload",), ("devices",), ("strategy",), ("region", "grid_g_co2_per_kwh"), ("pue",),
        ("pricing_requested",), ("cloud_price_usd_per_hour",), ("electricity_usd_per_kwh",), ("lifetime_years",))
MERGEABLE = AXES[3:]
AXIS_WORDS = {"strategy": "strategy", "region": "region", "pue": "PUE", "pricing_requested": "pricing",
              "cloud_price_usd_per_hour": "cloud price", "electricity_usd_per_kwh": "electricity price",
              "lifetime_years": "lifetime"}
REPORT_ROWS = 200  # rows shown per workload and ordering in the page (all of them are in the CSV)


def _sweep_rows(source) -> list[dict]:
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
    return list(sweep(source).rows)


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


def plot(kind: str, *, hardware=None, workload=None, strategy: Iterable[str] = (), source=None,
         x: str | None = None, y: str = "cost_usd", series: str = "hardware", fmt: str = "png",
         sets: Iterable[str] = (), benchmark: str = "imagenet", targets: Iterable[float] = (), data=None,
         **options) -> bytes:
    """``costsim plot KIND``: the image, as bytes in ``fmt``.

    roofline: ``hardware`` and ``workload``; compare: several ``hardware`` (or ``strategy`` on one);
    pareto: a sweep ``source`` (file, CSV or spec), ``y`` against ``x`` (training time by default), one
    front per workload; scaling: ``y`` against the sweep column ``x`` (devices by default, or set.<field>),
    one line per value of ``series`` (and workload), each point the lowest ``y`` over the other axes;
    limits: a benchmark's scaling fit with its data (``data``: the Thompson et al. folder, default the
    bundled copy), band and ``targets`` (the cost plot is
    ``limits --plot-dir``). Whatever a figure cannot show (a device that does not fit, a run with no price)
    is named at its foot, with the reason."""

    if kind not in PLOT_KINDS:
        raise CostsimError(f"unknown plot '{kind}'; known: {', '.join(PLOT_KINDS)}", field="kind")
    if kind == "roofline":
        if not (hardware and workload):
            raise CostsimError("the roofline needs hardware and workload", field="hardware")
        profile, wl = _load(hardware[0] if isinstance(hardware, (list, tuple)) else hardware, workload, sets)
        return plots.roofline_plot(profile, op_table(profile, wl, run_options(**options)), fmt,
                                   title=f"{wl.name} on {profile.name}: roofline")
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
            return plots.comparison_plot(bars, fmt, title=f"{workload} on {name}: strategies compared")
        results = compare(hardware, workload, sets=sets, **options)
        found = [r.estimate for r in results if r.estimate]
        missing = [f"{r.hardware} ({r.reason or _reason(r.problem)})" for r in results if not r.estimate]
        if not found:
            raise CostsimError("no device could run the workload: " + "; ".join(missing), field="hardware")
        bars = [_bars(e.hardware, e, {k: v.time_s for k, v in e.breakdown.items()}) for e in found]
        return plots.comparison_plot(bars, fmt, title=f"{workload} on {len(found)} devices compared",
                                     left_out=missing)
    if source is None:
        raise CostsimError(f"the {kind} plot needs a sweep (a file, or a CSV that 'costsim sweep' wrote)",
                           field="SWEEP")
    x = x or (TIME if kind == "pareto" else "devices")
    every = _sweep_rows(source)
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
        return plots.pareto_plot(_distinct_points(rows, x, y), x=x, y=y, fmt=fmt,
                                 group_key="job" if len({_job(r) for r in rows}) > 1 else None,
                                 left_out=_left_out(every))
    return _series_figure(rows, series, x, y, fmt, _left_out(every))


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
    return plots.series_plot(scaled, x_label, y_label, fmt=fmt, left_out=left_out, note=note,
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


# ------------------------------------------------------------------------------------------ the report
class ReportResult(Strict):
    """``costsim report``: a self-contained HTML page and the CSV it was made from."""

    name: str
    html: str
    csv: str

    def to_dict(self) -> dict:
        return self.model_dump()


def _same(v) -> object:
    """A value as a merge key: floats to 12 significant figures (the same number computed two ways)."""
    if isinstance(v, float):
        return float(f"{v:.12g}")
    return v


def merge_rows(rows: list[dict]) -> tuple[list[dict], list[str]]:
    """Scenarios that differ only in an axis that changes nothing (a region when a run takes no energy, a
    strategy a device cannot use, auto pricing that picks cloud) merged into one row, the axis's values
    joined in a tuple; with one note per kind of merge. Rows keep their first one's order."""
    notes: dict[tuple, list] = {}
    for cols in MERGEABLE:
        groups: dict[tuple, list[dict]] = {}
        for r in rows:
            groups.setdefault(tuple((k, _same(v)) for k, v in r.items() if k not in cols), []).append(r)
        merged = []
        for members in groups.values():
            values = list(dict.fromkeys(v for m in members for v in _as_tuple(m[cols[0]])))
            if len(values) == 1:
                merged.extend(members)
                continue
            row = dict(members[0])
            for c in cols:
                row[c] = tuple(dict.fromkeys(v for m in members for v in _as_tuple(m[c])))
            merged.append(row)
            note = notes.setdefault((AXIS_WORDS[cols[0]], tuple(values)), [set(), 0, 0])
            note[0].add(row["hardware"])
            note[1] += len(members)
            note[2] += 1
        rows = merged
    text = [f"{words} {' and '.join(_plain(v) for v in values)} give the same numbers on "
            f"{', '.join(sorted(hw))}: {n} scenarios shown as {m} rows, the {words} cell naming both"
            for (words, values), (hw, n, m) in notes.items()]
    return rows, text


def _as_tuple(v) -> tuple:
    return v if isinstance(v, tuple) else (v,)


def _varying(rows: list[dict]) -> list[str]:
    """The input axes (their first column) that take more than one value in ``rows``."""
    return [cols[0] for cols in AXES if len({_as_tuple(r.get(cols[0])) for r in rows}) > 1]


def _axis_text(r: dict, col: str) -> str:
    v = r.get(col)
    if col == "region" and v in (None, ()):
        v = r.get("grid_g_co2_per_kwh")
        return " / ".join(f"{human.number(g)} g CO2/kWh" for g in _as_tuple(v))
    return " / ".join(_plain(x) for x in _as_tuple(v))


def _setup(r: dict, varying: list[str], skip=("hardware", "workload")) -> str:
    """A scenario in words: device count, then each varying option ("×8 · quantize:fp8 · france · owned")."""
    parts = [_devices_text(r["devices"])]
    for col in varying:
        if col in skip or col == "devices":
            continue
        text = _axis_text(r, col)
        if col == "strategy" and text == "none":
            text = "no strategy"
        parts.append(text if col in ("strategy", "region", "pricing_requested") else
                     f"{AXIS_WORDS.get(col, col)} {text}")
    return " · ".join(parts)


def _merged(r: dict) -> bool:
    return any(isinstance(v, tuple) for v in r.values())


def _cheapest(r: dict) -> tuple:
    """Cheapest first; between equal costs, the faster, then the lower CO2."""
    return r["cost_usd"], r[TIME], r["co2_kg"]


def _goals(rows: list[dict]) -> list[tuple[str, dict]]:
    """The cheapest, fastest and lowest-CO2 rows (ties broken by the other two), one entry per distinct row
    ("cheapest and lowest CO2" when one row wins both)."""
    picks = [("cheapest", min(rows, key=_cheapest)),
             ("fastest", min(rows, key=lambda r: (r[TIME], r["cost_usd"], r["co2_kg"]))),
             ("lowest CO2", min(rows, key=lambda r: (r["co2_kg"], r["cost_usd"], r[TIME])))]
    out: list[tuple[list[str], dict]] = []
    for goal, row in picks:
        same = next((o for o in out if o[1] is row), None)
        if same:
            same[0].append(goal)
        else:
            out.append(([goal], row))
    return [(" and ".join(g), r) for g, r in out]


def _numbers(r: dict) -> list:
    return [human.time_s(r[TIME]), human.usd(r["cost_usd"]), human.co2_kg(r["co2_kg"])]


# the full table's output columns: (sweep column, header, formatter, shown at first)
OUTPUTS = ((TIME, "training time", human.time_s, True), ("cost_usd", "cost", human.usd, True),
           ("co2_kg", "CO2", human.co2_kg, True), ("energy_joules", "energy", human.energy_joules, True),
           ("device_hours", "device-hours", human.number, False),
           ("peak_memory_bytes", "peak memory", human.bytes_, False), ("mfu_fraction", "MFU", human.fraction, False),
           ("step_time_s", "step time", human.time_s, False), ("tokens_per_s", "tokens/s", human.number, False),
           ("pricing", "priced as", str, False), ("plan", "plan", str, False))
SORTS = (("cost", "cost", lambda r: _cheapest(r)),  # noqa: PLW0108 (defined below)
         ("time", "training time", lambda r: (r[TIME], r["cost_usd"])),
         ("co2", "CO2", lambda r: (r["co2_kg"], r["cost_usd"])),
         ("energy", "energy", lambda r: (r["energy_joules"], r["cost_usd"])))


def _cell(r: dict, col: str, fmt):

    v = r.get(col)
    if v is None:
        return human.MISSING
    if isinstance(v, tuple):
        return Cell(" / ".join(fmt(x) if fmt is not str else _plain(x) for x in v), "merged",
                    "scenarios with these values give the same numbers")
    return fmt(v) if fmt is not str else _plain(v)


def _summary(n_priced: int, jobs: dict[str, list[dict]], varying: list[str], pareto_svg: bytes | None,
             left_out: list[str]) -> str:

    multi = len(jobs) > 1
    answer_groups = []
    for job, rows in jobs.items():
        answer_groups.append((job if multi else None, [
            [html.Cell(goal, "goal"), f"{r['hardware']} {_setup(r, varying)}", *_numbers(r)]
            for goal, r in _goals(rows)]))
    parts = ['<div class="summary">', '<div class="answer">', "<h2>The answer</h2>"]
    first_job, first_rows = next(iter(jobs.items()))
    cheapest = _goals(first_rows)[0][1]
    lead = (f"Of {n_priced} priced scenarios" + (f", for {first_job}" if multi else "") +
            f", the cheapest is {cheapest['hardware']} {_setup(cheapest, varying)}: "
            f"{human.usd(cheapest['cost_usd'])}, {human.time_s(cheapest[TIME])}, "
            f"{human.co2_kg(cheapest['co2_kg'])}.")
    parts.append(f'<p class="lead">{html._e(lead)}</p>')
    parts.append(html.grouped_table_html(["goal", "scenario", "training time", "cost", "CO2"], answer_groups,
                                         numeric_columns={2, 3, 4}))
    parts.append("</div>")
    if pareto_svg is not None:
        caption = ("Cost against training time; each workload's Pareto front (no option both cheaper and faster)"
                   " joined." if multi else "Cost against training time; the Pareto front (no option both cheaper"
                   " and faster) joined.")
        parts += ['<div class="front">', html.image_html(pareto_svg, "svg", caption, id_prefix="pareto-"), "</div>"]
    device_groups = []
    for job, rows in jobs.items():
        best: dict[str, dict] = {}
        for r in sorted(rows, key=_cheapest):
            best.setdefault(r["hardware"], r)
        device_groups.append((job if multi else None, [
            [html.Cell(r["hardware"], "name"), _setup(r, varying), *_numbers(r)] for r in best.values()]))
    parts += ['<div class="per-device">', "<h2>The cheapest scenario of each device</h2>",
              html.grouped_table_html(["device", "scenario", "training time", "cost", "CO2"],
                                      device_groups, numeric_columns={2, 3, 4})]
    if left_out:
        parts.append(f'<p class="lead">Not priced: {html._e("; ".join(left_out))}.</p>')
    parts += ["</div>", "</div>"]
    return "\n".join(parts)


def _describe(spec, n_rows: int) -> str:
    """The sweep's size in words: "144 scenarios: 3 devices × 2 workloads × ..."."""
    axes = [(len(spec.hardware), "device", "devices"), (len(spec.workloads), "workload", "workloads")]
    axes += [(len(v), f"value of {k}", f"values of {k}") for k, v in spec.set.items()]
    axes += [(len(spec.devices), "device count", "device counts"), (len(spec.strategies), "strategy", "strategies"),
             (len(spec.regions) + len(spec.grid_g_co2_per_kwh), "region", "regions"), (len(spec.pue), "PUE", "PUEs"),
             (len(spec.pricing), "pricing", "pricings"),
             (len(spec.cloud_price_usd_per_hour), "cloud price", "cloud prices"),
             (len(spec.electricity_usd_per_kwh), "electricity price", "electricity prices"),
             (len(spec.lifetime_years), "lifetime", "lifetimes")]
    shown = [f"{n} {one if n == 1 else many}" for n, one, many in axes if n > 1]
    return f"{n_rows} scenario{'s' if n_rows != 1 else ''}" + (f": {' × '.join(shown)}" if shown else "")


def report(source, *, workers: int = 1, progress=None) -> ReportResult:
    """The page of a scenario or sweep (a sweep file or spec). It opens with the answer: the cheapest,
    fastest and lowest-CO2 scenario (per workload), the Pareto front of cost against training time and the
    cheapest scenario of each device; then the figures (the best run per device compared, cost against the
    device count, a single scenario's roofline), every scenario in a table that sorts and chooses its columns
    without a script, what could not be priced and why, and every assumption. Scenarios that differ only in
    an axis that changes nothing are merged, and the page says so. The CSV holds every row as computed."""

    spec = sweep_spec(source)
    rows = list(sweep(spec, workers=workers, progress=progress).rows)
    priced, merges = merge_rows([r for r in rows if r.get("cost_usd") is not None])
    left_out = _left_out(rows)
    jobs: dict[str, list[dict]] = {}
    for r in priced:
        jobs.setdefault(_job(r), []).append(r)
    varying = _varying(priced)
    n_priced = sum(r.get("cost_usd") is not None for r in rows)
    sections = []
    figures = []
    if priced:
        pareto = None
        if len(priced) > 1:
            pareto = plots.pareto_plot(_distinct_points(priced, TIME, "cost_usd"), x=TIME, y="cost_usd", fmt="svg",
                                       group_key="job" if len(jobs) > 1 else None, left_out=left_out,
                                       figsize=(6.4, 4.6))
        sections.append(("", _summary(n_priced, jobs, varying, pareto, left_out), "summary"))
        for job, job_rows in list(jobs.items())[:4]:
            best: dict[str, dict] = {}
            for r in sorted(job_rows, key=_cheapest):
                best.setdefault(r["hardware"], r)
            if len(best) > 1:
                bars = [{"label": f"{h} {_devices_text(r['devices'])}", "time_s": r[TIME],
                         **{k: r[k] for k in ("energy_joules", "cost_usd", "co2_kg")}, "breakdown": {}}
                        for h, r in best.items()]
                missing = [x for x in left_out if x.split(" ")[0] not in best]
                figures.append((f"Training time, energy, cost and CO2 of each device's cheapest scenario for {job}"
                                + (f"; not priced: {'; '.join(missing)}" if missing else "") + ".",
                                plots.comparison_plot(
                    bars, "svg", title=f"{job}: the cheapest scenario of each device", left_out=missing)))
        if len(spec.devices) > 1:
            figures.append(("Cost against the number of devices: for each device (and workload), the cheapest "
                            "option at each count", _series_figure(priced, "hardware", "devices", "cost_usd", "svg",
                                                                   left_out)))
    if len(spec.core_points()) == 1 and priced:
        p = spec.core_points()[0]
        profile, wl = _sweep_profile(p["hardware"]), load_workload(p["workload"])
        try:  # the plain run's kernels (a plan or strategy the roofline cannot show leaves it out)
            figures.append((f"Roofline of {wl.name} on {profile.name}", plots.roofline_plot(
                profile, op_table(profile, wl, RunOptions(devices=p["devices"])), "svg",
                title=f"{wl.name} on {profile.name}: roofline")))
        except CostsimError:
            pass
    if figures:
        sections.append(("Figures", "".join(html.image_html(img, "svg", caption, id_prefix=f"fig{i}-")
                                            for i, (caption, img) in enumerate(figures))))
    css = ""
    if priced:
        inputs = [c for c in varying if c != "workload"] or ["hardware", "devices"]
        if "hardware" not in inputs:
            inputs.insert(0, "hardware")
        columns = [(c, AXIS_WORDS.get(c, c), True) for c in inputs]
        columns += [(col, header, shown) for col, header, _, shown in OUTPUTS]
        formatters = {col: fmt for col, _, fmt, _ in OUTPUTS}
        groups = []
        for job, job_rows in jobs.items():
            views = {}
            for key, _, order in SORTS:
                views[key] = [[html.Cell(_axis_text(r, c), "merged") if isinstance(r.get(c), tuple) else
                               _axis_text(r, c) for c in inputs] +
                              [_cell(r, col, formatters[col]) for col, _, _ in columns[len(inputs):]]
                              for r in sorted(job_rows, key=order)[:REPORT_ROWS]]
            shown = min(len(job_rows), REPORT_ROWS)
            groups.append((f"{job}: {len(job_rows)} rows" + (f" (the first {shown} in each order)"
                                                                if shown < len(job_rows) else ""), views))
        table, css = html.explorer_html(columns, groups, [(k, label) for k, label, _ in SORTS],
                                        open_groups=len(groups) if len(priced) <= 100 else 1,
                                        note=f"{len(priced)} rows for {n_priced} priced scenarios; every "
                                             "scenario, as computed, is in the CSV.")
        sections.append(("Every scenario", table, "scenarios"))
    problems: dict[str, list[str]] = {}
    for r in rows:
        if r.get("problem"):
            problems.setdefault(r["problem"], []).append(f"{r['hardware']} {_devices_text(r['devices'])} on {_job(r)}")
    if problems:
        sections.append(("Scenarios that could not be priced", "<ul>" + "".join(
            f"<li>{html._e(', '.join(dict.fromkeys(where)))}: {html._e(p)}</li>" for p, where in problems.items())
            + "</ul>"))
    notes = [STRATEGIES[parse(t).name].quality for s in spec.strategies if s != "none" for t in s.split("+")]
    notes += merges
    notes += ["every scenario is a closed-form estimate (see docs/model.md); grids, PUEs and prices "
              "are applied to its device-seconds and IT energy"]
    name = Path(spec.name).name or "sweep"
    page = html.page(f"costsim report: {spec.name}", sections, subtitle=_describe(spec, len(rows)),
                     notes=list(dict.fromkeys(notes)), csv_name=f"{name}.csv", css=css)
    return ReportResult(name=name, html=page, csv=sweep_text(rows, "csv"))
