"""The report layer: estimates as tables (text, Markdown, CSV) and JSON. Returns strings, prints nothing.
Plots, when they come, live here too and import matplotlib lazily."""
from __future__ import annotations

import csv
import io
import json
import math

from .estimate import Estimate
from .units import GIGA, SECONDS_PER_DAY, SECONDS_PER_HOUR, TERA, kwh

SUMMARY_COLUMNS = (
    ("hardware", "hardware", None),
    ("step_time_s", "step (ms)", lambda v: v * 1e3),
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
        ["step time", f"{e.step_time_s * 1e3:.4g} ms ({e.batch_per_device:g} samples per device)"],
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
    rows = [[k, f"{v.time_s * 1e3:.4g}", f"{v.time_s / e.step_time_s:.1%}", f"{v.device_energy_joules:.4g}",
             f"{v.flops / TERA:.4g}", f"{v.bytes / GIGA:.4g}", f"{v.kernels:.0f}"] for k, v in classes]
    rows.append(["total", f"{e.step_time_s * 1e3:.4g}", "100.0%", f"{e.device_energy_per_step_joules:.4g}",
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


def is_finite_number(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)
