"""Self-contained HTML reports of a scenario or a sweep: ``report`` and the page's parts (the answer, the
figures, the table of every scenario, merged rows and notes)."""
from __future__ import annotations

from pathlib import Path

from ..cluster.stages import op_table
from ..errors import CostsimError
from ..files.loader import load_workload
from ..output import breakdown_plots, html, human, sweep_plots
from ..output.html import Cell
from ..output.stream import sweep_text
from ..schema.hardware import Strict
from ..schema.options import RunOptions
from ..strategies.catalogue import STRATEGIES, parse
from .plots import AXES, AXIS_WORDS, TIME, _devices_text, _distinct_points, _job, _left_out, _plain, _series_figure
from .sweeps import MAX_SCENARIOS, _sweep_profile, sweep, sweep_spec

MERGEABLE = AXES[3:]  # the axes that price a run or pick its variant: scenarios differing only there may merge
REPORT_ROWS = 200  # rows shown per workload and ordering in the page (all of them are in the CSV)


class ReportResult(Strict):
    """``costsim report``: a self-contained HTML page and the CSV it was made from.

    Attributes:
        name: the sweep's name (its file's name), which names the CSV (``NAME.csv``).
        html: the page, one self-contained HTML document (figures inlined, no external assets).
        csv: every scenario's row as computed, as CSV text (the columns of ``sweep``, units in their names).
    """

    name: str
    html: str
    csv: str

    def to_dict(self) -> dict:
        """The page and the CSV as plain data: ``{name, html, csv}``."""
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


def report(source, *, workers: int = 1, progress=None, max_scenarios: int = MAX_SCENARIOS) -> ReportResult:
    """The page of a scenario or sweep (a sweep file or spec). It opens with the answer: the cheapest,
    fastest and lowest-CO2 scenario (per workload), the Pareto front of cost against training time and the
    cheapest scenario of each device; then the figures (the best run per device compared, cost against the
    device count, a single scenario's roofline), every scenario in a table that sorts and chooses its columns
    without a script, what could not be priced and why, and every assumption. Scenarios that differ only in
    an axis that changes nothing are merged, and the page says so. The CSV holds every row as computed.
    A grid of more than ``max_scenarios`` is refused before it runs, as ``sweep`` refuses it."""

    spec = sweep_spec(source)
    rows = list(sweep(spec, workers=workers, progress=progress, max_scenarios=max_scenarios).rows)
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
            pareto = sweep_plots.pareto_plot(_distinct_points(priced, TIME, "cost_usd"), x=TIME, y="cost_usd",
                                             fmt="svg", group_key="job" if len(jobs) > 1 else None,
                                             left_out=left_out, figsize=(6.4, 4.6))
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
                                breakdown_plots.comparison_plot(
                    bars, "svg", title=f"{job}: the cheapest scenario of each device", left_out=missing)))
        if len(spec.devices) > 1:
            figures.append(("Cost against the number of devices: for each device (and workload), the cheapest "
                            "option at each count", _series_figure(priced, "hardware", "devices", "cost_usd", "svg",
                                                                   left_out)))
    if spec.core_count() == 1 and priced:
        p = next(spec.iter_core_points())
        profile, wl = _sweep_profile(p["hardware"]), load_workload(p["workload"])
        try:  # the plain run's kernels (a plan or strategy the roofline cannot show leaves it out)
            figures.append((f"Roofline of {wl.name} on {profile.name}", breakdown_plots.roofline_plot(
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
