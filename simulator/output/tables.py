"""The report layer: estimates as tables (text, Markdown, CSV) and JSON. Returns strings, prints nothing.
Plots, when they come, live here too and import matplotlib lazily."""
from __future__ import annotations

import csv
import io
import json
import math
import re
import textwrap
from typing import NamedTuple

import yaml

from ..errors import CostsimError
from ..run.estimate import Estimate
from ..units import GIGA, KILO, MEGA, MICRO, MILLI, SECONDS_PER_DAY, SECONDS_PER_HOUR, SECONDS_PER_YEAR, TERA, kwh
from . import human


class Column(NamedTuple):
    """A column of an estimate or comparison table. ``key``: the JSON/CSV field (SI, unit in the name);
    ``kind``: how a person reads it (a :mod:`simulator.output.human` kind, or text, number, count, micro)."""
    key: str
    title: str
    kind: str


# every scalar field of an Estimate, and of a comparison row, that a table can show (--columns)
COLUMNS = {c.key: c for c in (
    Column("hardware", "hardware", "text"),
    Column("workload", "workload", "text"),
    Column("devices", "devices", "count"),
    Column("plan", "plan", "text"),
    Column("batch_per_device", "batch/device", "number"),
    Column("micro_batch_size", "micro-batch", "micro"),
    Column("steps", "steps", "number"),
    Column("step_time_s", "step", "time"),
    Column("total_time_s", "total time", "time"),
    Column("device_hours", "device-hours", "number"),
    Column("tokens_per_s", "tokens/s", "number"),
    Column("images_per_s", "images/s", "number"),
    Column("samples_per_s", "samples/s", "number"),
    Column("model_flops_per_step", "model FLOP/step", "flops"),
    Column("executed_flops_per_step", "executed FLOP/step", "flops"),
    Column("achieved_flops_per_s", "achieved", "flops_per_s"),
    Column("mfu_fraction", "MFU", "fraction"),
    Column("device_energy_per_step_joules", "energy/step", "energy"),
    Column("average_device_power_watts", "power/device", "power"),
    Column("device_energy_joules", "device energy", "energy"),
    Column("host_energy_joules", "host energy", "energy"),
    Column("facility_overhead_joules", "facility energy", "energy"),
    Column("energy_joules", "energy", "energy"),
    Column("cost_usd", "cost", "usd"),
    Column("pricing", "pricing", "text"),
    Column("co2_kg", "CO2", "co2"),
    Column("peak_memory_bytes", "memory", "bytes"),
    Column("memory_capacity_bytes", "capacity", "bytes"),
    Column("problem", "not estimated", "text"),
)}
# what a person sees by default (it fits a terminal), and what CSV holds by default
DISPLAY_COLUMNS = ("hardware", "step_time_s", "total_time_s", "mfu_fraction", "energy_joules", "cost_usd", "pricing",
                   "co2_kg", "peak_memory_bytes", "micro_batch_size")
CSV_COLUMNS = ("hardware", "step_time_s", "total_time_s", "samples_per_s", "mfu_fraction",
               "average_device_power_watts", "energy_joules", "cost_usd", "pricing", "co2_kg", "peak_memory_bytes",
               "micro_batch_size", "batch_per_device", "problem")
TABLE_FORMATS = ("table", "json", "csv", "markdown", "latex")
PRICING_NOTES = {
    "cloud": "cloud = rental per device-hour (electricity included)",
    "owned": "owned = purchase price amortised over the hardware's lifetime, plus electricity",
    "electricity": "electricity = electricity alone (the device has neither a purchase nor a cloud price)",
}
NOTE_WIDTH = 100


def parse_columns(text: str | None, what: str = "compare") -> tuple[str, ...] | None:
    """``a,b,c`` (the JSON/CSV field names) to a column tuple; an unknown name is one line listing the valid
    ones. ``what``: 'compare' (hardware and problem too) or 'estimate'."""
    if text is None:
        return None
    valid = [k for k in COLUMNS if what == "compare" or k != "problem"]
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise CostsimError(f"names no column; valid: {', '.join(valid)}", field="columns")
    for n in names:
        if n not in valid:
            raise CostsimError(f"unknown column '{n}'; valid: {', '.join(valid)}", field="columns")
    return names


def _numeric(kind: str) -> bool:
    return kind != "text"


def _cell_text(col: Column, d: dict) -> str:
    """A cell as a person reads it: human units, chosen per value."""
    v = d.get(col.key)
    if v is None:
        return human.MISSING
    if col.kind == "text":
        return str(v)
    if col.kind == "count":
        return f"{v:,}"
    if col.kind == "micro":
        batch = d.get("batch_per_device")
        return f"{v:g} of {batch:g}" if batch is not None and batch != v else f"{v:g}"
    if col.kind == "number":
        return human.number(v)
    if col.kind == "co2":
        return human.co2_kg(v).removesuffix(" CO2")  # the header says CO2
    return human.FORMATTERS[col.kind](v)


def _header_unit(col: Column, values: list) -> tuple[float, str]:
    """One unit for a whole LaTeX column: (scale, header)."""
    if col.kind in human.FORMATTERS:
        scale, unit = human.axis_unit(col.kind, values)
        unit = unit.removesuffix(" CO2")
        return scale, f"{col.title} ({unit})"
    return 1.0, col.title


def _align_line(numeric: list[bool]) -> str:
    return "|" + "|".join("---:" if n else "---" for n in numeric) + "|"


def latex_table(headers: list[str], rows: list[list[str]], numeric: list[bool], notes: list[str] = ()) -> str:
    """The one LaTeX renderer: a booktabs tabular (\\toprule, \\midrule, \\bottomrule), numbers
    right-aligned. ``headers`` and text cells are escaped here; a row of one cell spans the table.
    ``notes`` follow as LaTeX comments, for the caption."""
    out = [latex_head(headers, numeric)]
    for r in rows:
        if len(r) == 2 and r[1].startswith("\\multicolumn"):  # a not-estimated row, escaped already
            out.append(_latex(r[0]) + " & " + r[1] + " \\\\\n")
        else:
            out.append(latex_row(r))
    out.append(latex_tail())
    return "".join(out) + "".join(f"% {n}\n" for n in notes)


def latex_head(headers: list[str], numeric: list[bool]) -> str:
    return ("\\begin{tabular}{" + "".join("r" if n else "l" for n in numeric) + "}\n\\toprule\n"
            + " & ".join(_latex(h) for h in headers) + " \\\\\n\\midrule\n")


def latex_row(cells: list[str]) -> str:
    return " & ".join(_latex(c) for c in cells) + " \\\\\n"


def latex_tail() -> str:
    return "\\bottomrule\n\\end{tabular}\n"


def column_table(records: list[dict], columns, fmt: str, notes: list[str] = (), problems: dict | None = None) -> str:
    """Rows of plain estimate fields (``records``) in the chosen ``columns`` as ``fmt``: text and Markdown in
    human units, LaTeX with one unit per column in its header, CSV and JSON in SI. ``problems``: row index
    to the short reason a row was not estimated (its other cells stay empty)."""
    cols = [COLUMNS[k] for k in columns]
    problems = problems or {}
    if fmt == "json":
        return json.dumps([{c.key: r.get(c.key) for c in cols} for r in records], indent=2, allow_nan=False)
    if fmt == "csv":
        return _csv([c.key for c in cols], [["" if r.get(c.key) is None else r.get(c.key) for c in cols]
                                            for r in records])
    numeric = [_numeric(c.kind) for c in cols]
    if fmt == "latex":
        units = [_header_unit(c, [r.get(c.key) for i, r in enumerate(records) if i not in problems
                                  and c.kind in human.FORMATTERS]) for c in cols]
        rows = []
        for i, r in enumerate(records):
            if i in problems and len(cols) > 1:
                rows.append([str(r.get(cols[0].key, "")), f"\\multicolumn{{{len(cols) - 1}}}{{l}}"
                                                          f"{{not estimated: {_latex(problems[i])}}}"])
                continue
            rows.append([human.MISSING if r.get(c.key) is None else
                         human.number(r[c.key] / scale) if c.kind in human.FORMATTERS else _cell_text(c, r)
                         for c, (scale, _) in zip(cols, units)])
        return latex_table([h for _, h in units], rows, numeric, notes)
    headers = [c.title for c in cols]
    display = []
    for i, r in enumerate(records):
        if i in problems:  # markdown: the reason in the second cell; text: spanning the row (below)
            first = str(r.get(cols[0].key, ""))
            rest = [f"not estimated: {problems[i]}" if fmt == "markdown" else ""] + [""] * (len(cols) - 2)
            display.append([first] + rest[:len(cols) - 1])
            continue
        display.append([_cell_text(c, r) for c in cols])
    if fmt == "markdown":
        table = _markdown_table(headers, display, numeric)
        return table + ("\n\n" + "\n".join(f"- {n}" for n in notes) if notes else "")
    lines = _text_table(headers, display, numeric).split("\n")
    width = len(lines[1].split("  ")[0])  # the first column's
    for i in problems:
        lines[2 + i] = f"{str(records[i].get(cols[0].key, '')).ljust(width)}  not estimated: {problems[i]}"
    notes = [textwrap.fill(n, NOTE_WIDTH, subsequent_indent="  ") for n in notes]
    return "\n".join(lines) + ("\n\n" + "\n".join(notes) if notes else "")


def _table_notes(records: list[dict], columns) -> list[str]:
    """Footnotes a reader needs: how costs were priced when rows mix pricings, and what 'm of b' means."""
    notes = []
    pricings = list(dict.fromkeys(r["pricing"] for r in records if r.get("pricing")))
    if "cost_usd" in columns and len(pricings) > 1:
        notes.append("cost: the rows are priced differently (see pricing): "
                     + "; ".join(PRICING_NOTES.get(p, p) for p in pricings))
    elif "cost_usd" in columns and pricings == ["electricity"]:
        notes.append("cost: " + PRICING_NOTES["electricity"])
    if "micro_batch_size" in columns and any(r.get("micro_batch_size") is not None and r.get("batch_per_device")
                                             not in (None, r["micro_batch_size"]) for r in records):
        notes.append("micro-batch 'm of b': each data-parallel replica's b samples run as b/m micro-batches "
                     "of m (gradient accumulation, or a pipeline's micro-batches)")
    return notes


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


def _text_table(headers: list[str], rows: list[list[str]], numeric: bool | list[bool] = True) -> str:
    """A plain-text table; ``numeric``: right-align every column but the first (True), none (False), or
    the columns marked in a list."""
    widths = [max(len(h), *(len(r[i]) for r in rows if i < len(r))) if rows else len(h)
              for i, h in enumerate(headers)]
    right = numeric if isinstance(numeric, list) else [bool(i and numeric) for i in range(len(headers))]

    def line(cells):
        return "  ".join(c.rjust(w) if right[i] else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _markdown_table(headers: list[str], rows: list[list[str]], numeric: list[bool] | None = None) -> str:
    """A Markdown table; ``numeric`` columns right-aligned (``---:``)."""
    out = ["| " + " | ".join(headers) + " |", _align_line(numeric or [False] * len(headers))]
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


def _record(e: Estimate) -> dict:
    return {k: v for k, v in e.to_dict().items() if k in COLUMNS}


def estimate_table(e: Estimate, fmt: str = "table", columns=None) -> str:
    """One estimate: a summary, the breakdown by operation class, and the assumptions; with ``columns``
    (or as LaTeX), one row of those fields."""
    if fmt == "json" and columns is None:
        return estimate_json(e)
    if columns is not None or fmt in ("csv", "latex"):
        d = _record(e)
        if columns is None:  # CSV: every scalar field; LaTeX: the comparison's columns
            columns = [k for k in d if k != "problem"] if fmt == "csv" else DISPLAY_COLUMNS
        if fmt == "json":
            return json.dumps({k: d.get(k) for k in columns}, indent=2, allow_nan=False)
        return column_table([d], columns, fmt, _table_notes([d], columns))
    h = human
    throughput = (f"{h.number(e.tokens_per_s)} tokens/s" if e.tokens_per_s else
                  f"{h.number(e.images_per_s)} images/s" if e.images_per_s else
                  f"{h.number(e.samples_per_s)} samples/s")
    parts = ", ".join(f"{k.removesuffix('_usd')} {h.usd(v)}" for k, v in e.cost_breakdown.items() if v)
    summary = [
        ["hardware", f"{e.hardware} x {e.devices}"],
        ["workload", e.workload],
        ["step time", f"{h.time_s(e.step_time_s)} ({e.batch_per_device:g} samples per replica, "
                      f"micro-batch {e.micro_batch_size:g}; plan {e.plan})"],
        ["steps", h.number(e.steps)],
        ["total time", f"{h.time_s(e.total_time_s)} ({h.number(e.device_hours)} device-hours)"],
        ["throughput", throughput],
        ["achieved", f"{h.flops_per_s(e.achieved_flops_per_s)}, MFU {h.fraction(e.mfu_fraction)}"],
        ["device energy", f"{h.energy_joules(e.device_energy_per_step_joules)} per step, "
                          f"{h.power_watts(e.average_device_power_watts)} per device"],
        ["energy", f"{h.energy_joules(e.energy_joules)} (devices {h.energy_joules(e.device_energy_joules)}, host "
                   f"{h.energy_joules(e.host_energy_joules)}, facility {h.energy_joules(e.facility_overhead_joules)})"],
        ["cost", f"{h.usd(e.cost_usd)}" + (f" ({parts})" if parts else "")],
        ["pricing", PRICING_NOTES.get(e.pricing, e.pricing)],
        ["CO2", h.co2_kg(e.co2_kg)],
        ["peak memory", f"{h.bytes_(e.peak_memory_bytes)} of {h.bytes_(e.memory_capacity_bytes)}"],
    ]
    classes = [(k, v) for k, v in e.breakdown.items() if v.time_s > 0]
    headers = ["class", "time", "share", "energy", "FLOP", "moved", "kernels"]
    rows = [[k, h.time_s(v.time_s), h.fraction(v.time_s / e.step_time_s), h.energy_joules(v.device_energy_joules),
             h.flops(v.flops), h.bytes_(v.bytes), h.number(v.kernels)] for k, v in classes]
    rows.append(["total", h.time_s(e.step_time_s), "100%", h.energy_joules(e.device_energy_per_step_joules),
                 h.flops(sum(v.flops for _, v in classes)), h.bytes_(sum(v.bytes for _, v in classes)),
                 h.number(sum(v.kernels for _, v in classes))])
    notes = [f"- {a}" for a in e.assumptions] + [f"- WARNING: {w}" for w in e.warnings]
    if fmt == "markdown":
        return "\n\n".join([_markdown_table(["", ""], summary), "Per step, by operation class:",
                             _markdown_table(headers, rows, [False] + [True] * 6),
                             "Assumptions:\n" + "\n".join(notes)])
    return "\n\n".join([_text_table(["estimate", ""], summary, numeric=False), "per step, by operation class:\n"
                         + _text_table(headers, rows), "assumptions:\n" + "\n".join(notes)])


def comparison_table(rows, fmt: str = "table", columns=None) -> str:
    """Rows of :class:`simulator.api.CompareRow`: one line per device, problems kept in their row (a short
    reason in tables and CSV, the full one in JSON). ``columns``: field names (default: a set that fits
    a terminal; CSV: :data:`CSV_COLUMNS`)."""
    if fmt == "json" and columns is None:
        return json.dumps([{"hardware": r.hardware, "problem": r.problem, "reason": r.reason,
                            "estimate": r.estimate.to_dict() if r.estimate else None} for r in rows],
                          indent=2, allow_nan=False)
    if columns is None:
        columns = CSV_COLUMNS if fmt == "csv" else DISPLAY_COLUMNS
    records, problems = [], {}
    for i, r in enumerate(rows):
        if r.estimate is None:
            reason = r.reason or r.problem
            records.append({"hardware": r.hardware, "problem": r.problem if fmt == "json" else reason})
            problems[i] = reason
        else:
            records.append({**_record(r.estimate), "problem": None})
    if fmt in ("json", "csv"):
        return column_table(records, columns, fmt)
    estimated = [rec for i, rec in enumerate(records) if i not in problems]
    return column_table(records, columns, fmt, _table_notes(estimated, columns), problems)


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


def plan_table(found, fmt: str = "table") -> str:
    """Ranked plans: (Plan, Estimate) pairs, best first; human units in text and Markdown, SI in CSV."""
    if fmt == "json":
        return json.dumps([{"plan": p.label(), "estimate": e.to_dict()} for p, e in found], indent=2)
    raw_headers = ["rank", "plan", "step_time_s", "mfu_fraction", "total_time_s", "cost_usd", "pricing",
                   "energy_joules", "peak_memory_bytes", "pipeline_bubble_fraction", "communication_fraction"]
    raw = [[i, p.label(), e.step_time_s, e.mfu_fraction, e.total_time_s, e.cost_usd, e.pricing, e.energy_joules,
            e.peak_memory_bytes, e.breakdown["pipeline_bubble"].time_s / e.step_time_s,
            e.breakdown["communication"].time_s / e.step_time_s] for i, (p, e) in enumerate(found, 1)]
    if fmt == "csv":
        return _csv(raw_headers, raw)
    headers = ["#", "plan", "step", "MFU", "total time", "cost", "pricing", "energy", "memory", "bubble", "comm"]
    h = human
    rows = [[str(r[0]), r[1], h.time_s(r[2]), h.fraction(r[3]), h.time_s(r[4]), h.usd(r[5]), r[6],
             h.energy_joules(r[7]), h.bytes_(r[8]), f"{r[9]:.0%}", f"{r[10]:.0%}"] for r in raw]
    numeric = [True, False, True, True, True, True, False, True, True, True, True]
    return _markdown_table(headers, rows, numeric) if fmt == "markdown" else _text_table(headers, rows, numeric)


def simulation_table(e, mc, fmt: str = "table") -> str:
    """Monte Carlo outcomes: p5 / p50 / p95, against the closed form."""
    if fmt == "json":
        return json.dumps({"closed_form": e.to_dict(), "simulation": mc.to_dict()}, indent=2)
    quantiles = ("p5", "p50", "p95")
    measures = [("wall_time_s", "wall time", human.time_s, e.total_time_s),
                ("device_hours", "device-hours", human.number, e.device_hours),
                ("energy_joules", "energy", human.energy_joules, e.energy_joules),
                ("cost_usd", f"cost ({e.pricing})", human.usd, e.cost_usd),
                ("co2_kg", "CO2", human.co2_kg, e.co2_kg),
                ("failures", "interruptions", human.number, 0.0)]
    headers = ["outcome", *quantiles, "closed form"]
    if fmt == "csv":  # SI numbers, the unit in the outcome's name
        return _csv(headers, [[k, *(getattr(getattr(mc, k), q) for q in quantiles), closed]
                              for k, _, _, closed in measures])
    rows = [[label, *(show(getattr(getattr(mc, k), q)) for q in quantiles), show(closed)]
            for k, label, show, closed in measures]
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
# (field, header, how a person reads it); CSV and JSON keep the SI field
STRATEGY_COLUMNS = (
    ("label", "strategy", str),
    ("time_s", "time", human.time_s),
    ("energy_joules", "energy", human.energy_joules),
    ("cost_usd", "cost", human.usd),
    ("pricing", "pricing", str),
    ("co2_kg", "CO2", human.co2_kg),
    ("peak_memory_bytes", "memory", human.bytes_),
    ("model_bytes", "model", human.bytes_),
    ("time_ratio", "time x", None),
    ("energy_ratio", "energy x", None),
    ("cost_ratio", "cost x", None),
    ("co2_ratio", "CO2 x", None),
)


def _ratio(v: float) -> str:
    return f"{v:.3f}"


def strategy_table(rows, fmt: str = "table") -> str:
    """Rows of :class:`simulator.strategies.catalogue.StrategyRow`: one line per scenario with its ratios to the
    baseline, then each scenario's phases, break-even figures, assumptions and warnings."""
    if fmt == "json":
        return json.dumps([r.to_dict() for r in rows], indent=2)
    headers = [h for _, h, _ in STRATEGY_COLUMNS]
    raw_headers = [k for k, _, _ in STRATEGY_COLUMNS] + ["analysis", "assumptions", "warnings"]
    display, raw = [], []
    for r in rows:
        d = r.to_dict()
        display.append([_ratio(d[k]) if f is None else f(d[k]) for k, _, f in STRATEGY_COLUMNS])
        raw.append([d[k] for k, _, _ in STRATEGY_COLUMNS] + [json.dumps(r.analysis), " | ".join(r.assumptions),
                                                             " | ".join(r.warnings)])
    if fmt == "csv":
        return _csv(raw_headers, raw)
    table = _markdown_table(headers, display) if fmt == "markdown" else _text_table(headers, display)
    bullet = "- " if fmt == "markdown" else "  "
    notes = []
    pricings = list(dict.fromkeys(p for r in rows for p in r.pricing.split("+")))
    if len(pricings) > 1 or pricings == ["electricity"]:
        notes.append(textwrap.fill("\ncost: " + "; ".join(PRICING_NOTES.get(p, p) for p in pricings),
                                   NOTE_WIDTH, subsequent_indent="  "))
    for r in rows:
        notes.append(f"\n{r.label}:")
        for p in r.phases:
            notes.append(f"{bullet}{p.label}: {p.hardware} x {p.devices}, {p.workload}, x{p.repeats:.4g}, "
                         f"step {human.time_s(p.step_time_s)}, {human.time_s(p.time_s)}, "
                         f"{human.usd(p.cost_usd)} ({p.pricing})")
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
                            _fmt(kwh(p.energy_joules) / MEGA), _fmt(p.cost_usd),
                            _range(p.cost_low_usd, p.cost_high_usd),
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


# ------------------------------------------------------------------------------------- projections
def profile_yaml(raw: dict) -> str:
    """A profile dict as YAML text (the loader reads plain exponents back)."""

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
            + (f"first under ${budget_usd:,.4g} in {year}" if year
               else f"not under ${budget_usd:,.4g} by {costs[-1][0]}"))
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
                            f"classical rest {_duration(v['classical_rest_time_s'])}, "
                            f"I/O {_duration(v['io_time_s'])})"],
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
SWEEP_FORMATS = ("csv", "json", "jsonl", "markdown", "latex")


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


_NUMERIC_NAME = re.compile(r"(_s|_joules|_usd|_kg|_bytes|_fraction|_watts|_flops|_per_kwh|_years|_per_hour)$"
                           r"|^(devices|pue)$")


def _numeric_name(column: str) -> bool:
    """A sweep column holds numbers (right-aligned in LaTeX) when its name carries a unit."""
    return bool(_NUMERIC_NAME.search(column))


class SweepWriter:
    """Rows of a sweep as text in one format, piece by piece: ``head()``, ``rows(batch)`` as they come,
    ``tail()``; so a file written as the sweep runs keeps every finished row if it is cut short."""

    def __init__(self, cols: list[str], fmt: str):
        if fmt not in SWEEP_FORMATS:

            raise CostsimError(f"unknown sweep format '{fmt}'; use one of {', '.join(SWEEP_FORMATS)}", field="fmt")
        self.cols, self.fmt, self.count = cols, fmt, 0

    def head(self) -> str:
        if self.fmt == "json":
            return "["
        if self.fmt == "csv":
            return _csv(self.cols, [])
        if self.fmt == "markdown":
            return "| " + " | ".join(self.cols) + " |\n|" + "|".join("---" for _ in self.cols) + "|\n"
        if self.fmt == "latex":
            return latex_head(self.cols, [_numeric_name(c) for c in self.cols])
        return ""

    def rows(self, rows: list[dict]) -> str:
        if self.fmt == "json":  # one array; ",\n" between rows, as they come
            text = "".join(("," if self.count + i else "") + "\n" + json.dumps({c: r.get(c) for c in self.cols})
                           for i, r in enumerate(rows))
            self.count += len(rows)
            return text
        if self.fmt == "jsonl":
            return "".join(json.dumps({c: r.get(c) for c in self.cols}) + "\n" for r in rows)
        if self.fmt == "csv":
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows([[_cell(r.get(c)) for c in self.cols] for r in rows])
            return buf.getvalue()
        if self.fmt == "markdown":
            return "".join("| " + " | ".join(_cell(r.get(c)).replace("|", "\\|") for c in self.cols) + " |\n"
                           for r in rows)
        return "".join(latex_row([_cell(r.get(c)) for c in self.cols]) for r in rows)

    def tail(self) -> str:
        if self.fmt == "json":
            return "\n]\n"
        return latex_tail() if self.fmt == "latex" else ""


def sweep_text(rows: list[dict], fmt: str = "csv") -> str:
    """A whole sweep's rows as one text (columns from the rows' own keys, in order)."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    w = SweepWriter(cols, fmt)
    return w.head() + w.rows(rows) + w.tail()


def data_table(rows: list[dict], fmt: str = "table") -> str:
    """``costsim data list``: each data set, its licence, the commands that read it and where it lies."""
    headers = ["data set", "what", "licence", "read by", "read from"]
    raw = ["name", "title", "licence", "used_by", "folder"]
    display = [[r["name"], r["title"], r["licence"], r["used_by"], r["shown_as"]] for r in rows]
    if fmt == "table":
        return "\n\n".join(f"{r['name']}: {r['title']}\n  licence:   {r['licence']}\n  read by:   {r['used_by']}"
                           f"\n  read from: {r['folder']}" for r in rows)
    return _render(headers, display, raw, [[r[k] for k in raw] for r in rows], fmt)
