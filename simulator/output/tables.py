"""The run tables: an estimate, a comparison of devices, ranked plans, a simulation, a checkpoint-interval sweep,
strategies, compression speedups, a validation suite and the bundled data sets, as text, Markdown, CSV, LaTeX or
JSON. Returns strings, prints nothing."""
from __future__ import annotations

import json
import textwrap

from ..run.estimate import Estimate
from ..units import MICRO, MILLI, SECONDS_PER_DAY, SECONDS_PER_MINUTE
from . import human
from .format import (
    COLUMNS,
    CSV_COLUMNS,
    DISPLAY_COLUMNS,
    NOTE_WIDTH,
    PRICING_NOTES,
    column_table,
    csv_text,
    markdown_table,
    render_rows,
    table_notes,
    text_table,
)


def estimate_json(e: Estimate) -> str:
    """The estimate's every field as indented JSON (SI, units in the names)."""
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
        return column_table([d], columns, fmt, table_notes([d], columns))
    h = human
    throughput = (f"{h.number(e.tokens_per_s)} tokens/s" if e.tokens_per_s else
                  f"{h.number(e.images_per_s)} images/s" if e.images_per_s else
                  f"{h.number(e.samples_per_s)} samples/s")
    parts = ", ".join(f"{k.removesuffix('_usd')} {h.usd(v)}" for k, v in e.cost_breakdown.items() if v)
    summary = [
        ["hardware", f"{e.hardware} x {e.devices}"],
        ["workload", e.workload],
        ["step time", f"{h.time_s(e.step_time_s)} (mean over {len(e.phases)} phases: see below)" if e.phases else
         f"{h.time_s(e.step_time_s)} ({e.batch_per_device:g} samples per replica, "
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
    if e.communication_hidden_s > 0:
        notes.insert(0, f"- communication hidden behind compute: {h.time_s(e.communication_hidden_s)} per step "
                        f"(not in the step time; the exposed part is the communication row)")
    phase_headers, phase_rows = _phase_rows(e)
    if fmt == "markdown":
        return "\n\n".join([markdown_table(["", ""], summary)] + (
            ["Phases:", markdown_table(phase_headers, phase_rows)] if e.phases else []) + [
            "Per step, by operation class" + (" (means over all steps)" if e.phases else "") + ":",
            markdown_table(headers, rows, [False] + [True] * 6), "Assumptions:\n" + "\n".join(notes)])
    return "\n\n".join([text_table(["estimate", ""], summary, numeric=False)] + (
        ["phases:\n" + text_table(phase_headers, phase_rows)] if e.phases else []) + [
        "per step, by operation class" + (" (means over all steps)" if e.phases else "") + ":\n"
        + text_table(headers, rows), "assumptions:\n" + "\n".join(notes)])


def _phase_rows(e: Estimate) -> tuple[list[str], list[list[str]]]:
    """The per-phase table of a run in phases: tokens, shape, plan, steps, time, MFU, energy, cost."""
    h = human
    headers = ["phase", "tokens", "seq", "batch", "plan", "steps", "step", "time", "MFU", "energy", "cost", "memory"]
    rows = [[p.name, f"{h.tokens(p.start_tokens)}-{h.tokens(p.end_tokens)}", str(p.seq_len),
             str(p.global_batch_size), p.plan, h.number(p.steps), h.time_s(p.step_time_s), h.time_s(p.total_time_s),
             h.fraction(p.mfu_fraction), h.energy_joules(p.energy_joules), h.usd(p.cost_usd),
             h.bytes_(p.peak_memory_bytes)] for p in e.phases]
    return headers, rows


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
    return column_table(records, columns, fmt, table_notes(estimated, columns), problems)


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
        return csv_text(raw_headers, raw)
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
    table = markdown_table(headers, display) if fmt == "markdown" else text_table(headers, display)
    return title + table + "\n\n" + "\n".join(lines)


def _group_rows(groups) -> list[list[str]]:
    return [[g.group, f"{g.estimated} of {g.results}", _pct(g.mape_fraction).lstrip("+"),
             _pct(g.median_error_fraction).lstrip("+"), _pct(g.bias_fraction),
             f"{_pct(g.worst_error_fraction)} {g.worst_label}" if g.worst_label else "-"]
            for g in groups if g.estimated]


def mlperf_table(report, fmt: str = "table", limit: int | None = None) -> str:
    """The MLPerf suite: errors per benchmark and per accelerator family (MAPE, median, bias), the
    scores not estimated by reason; then each score (or the ``limit`` largest errors) predicted against
    measured time to train, in minutes."""
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2, allow_nan=False)
    raw_headers = ["label", "benchmark", "family", "devices", "hardware", "plan", "measured_time_s",
                   "predicted_time_s", "train_time_s", "eval_time_s", "error_fraction", "problem"]
    if fmt == "csv":
        return csv_text(raw_headers, [[getattr(p, k) for k in raw_headers] for p in report.predictions])
    table = markdown_table if fmt == "markdown" else text_table
    headers = ["group", "estimated", "MAPE", "median |error|", "bias", "worst"]
    o = report.overall
    out = [f"suite mlperf: {o.estimated} of {o.results} scores estimated (data: {report.data}); fitted: "
           f"{report.fitted}", "", "by benchmark:", table(headers, _group_rows(report.by_benchmark)), "",
           "by accelerator family:", table(headers, _group_rows(report.by_family)), ""]
    out += [f"not estimated: {n} scores: {why}" for why, n in sorted(report.not_estimated.items(), key=lambda x: -x[1])]
    out += [f"left out: {n} scores: {why}" for why, n in report.skipped.items()]
    done = [p for p in report.predictions if p.error_fraction is not None]
    shown = done if limit is None else sorted(done, key=lambda p: -abs(p.error_fraction))[:limit]
    rows = [[p.label, p.hardware, p.plan, f"{p.measured_time_s / SECONDS_PER_MINUTE:.4g}",
             f"{p.predicted_time_s / SECONDS_PER_MINUTE:.4g}", _pct(p.error_fraction)] for p in shown]
    title = "every score" if limit is None or limit >= len(done) else f"the {limit} largest errors"
    out += ["", f"{title} (time to train, minutes):",
            table(["score", "hardware", "plan", "measured", "predicted", "error"], rows)]
    return "\n".join(out)


def deepbench_table(report, fmt: str = "table", limit: int | None = None) -> str:
    """The DeepBench suite: errors per device, precision, kind and direction, the rows not estimated by
    reason; then the ``limit`` largest errors (every row with ``limit`` None), times in microseconds."""
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2, allow_nan=False)
    rows = report.to_dict()["rows"]
    if fmt == "csv":
        return csv_text(list(rows[0]) if rows else ["device_id"], [list(r.values()) for r in rows])
    table = markdown_table if fmt == "markdown" else text_table
    fitted = sum(p.kernel.fitted for p in report.priced)
    out = [f"suite deepbench: {len(report.priced)} kernels priced (data: {report.data}); fitted: the GEMM curves "
           f"of the Maxwell and Volta families on {fitted} of them (the 'fitted on' rows); the rest are held out", "",
           table(["device", "profile", "precision", "kernel", "rows", "fitted on", "MAPE", "median |error|", "bias",
                  "faster than peak"],
                 [[g.device_id, g.profile, g.precision, g.kind if g.kind == "gemm" else f"conv {g.direction}",
                   str(g.rows), "yes" if g.fitted else "", f"{g.mape:.1%}", f"{g.median_abs_error:.1%}", _pct(g.bias),
                   str(g.above_peak)]
                  for g in report.groups]), ""]
    out += [f"not estimated: {n} rows: {why}" for why, n in sorted(report.not_estimated.items(), key=lambda x: -x[1])]
    shown = sorted(report.priced, key=lambda p: -abs(p.error_fraction))[:limit] if limit else []
    if shown:
        out += ["", f"the {len(shown)} largest errors (microseconds):",
                table(["device", "precision", "kernel", "shape", "measured", "predicted", "error"],
                      [[p.kernel.device_id, p.kernel.precision, p.kernel.direction, p.kernel.shape,
                        f"{p.kernel.measured_s / MICRO:.4g}", f"{p.predicted_s / MICRO:.4g}", _pct(p.error_fraction)]
                       for p in shown])]
    return "\n".join(out)


def plan_table(found, fmt: str = "table", space=None) -> str:
    """Ranked plans: (Plan, Estimate) pairs, best first; human units in text and Markdown, SI in CSV.
    ``space`` (a run.search.SearchSpace): what the search went through, in JSON and under the table."""
    if fmt == "json":
        plans = [{"plan": p.label(), "estimate": e.to_dict()} for p, e in found]
        if space is None:
            return json.dumps(plans, indent=2)
        return json.dumps({"space": {"candidates": space.candidates, "scored": space.scored,
                                     "fitted": space.fitted, "pruned": space.pruned}, "plans": plans}, indent=2)
    raw_headers = ["rank", "plan", "step_time_s", "mfu_fraction", "total_time_s", "cost_usd", "pricing",
                   "energy_joules", "peak_memory_bytes", "pipeline_bubble_fraction", "communication_fraction"]
    raw = [[i, p.label(), e.step_time_s, e.mfu_fraction, e.total_time_s, e.cost_usd, e.pricing, e.energy_joules,
            e.peak_memory_bytes, e.breakdown["pipeline_bubble"].time_s / e.step_time_s,
            e.breakdown["communication"].time_s / e.step_time_s] for i, (p, e) in enumerate(found, 1)]
    if fmt == "csv":
        return csv_text(raw_headers, raw)
    headers = ["#", "plan", "step", "MFU", "total time", "cost", "pricing", "energy", "memory", "bubble", "comm"]
    h = human
    rows = [[str(r[0]), r[1], h.time_s(r[2]), h.fraction(r[3]), h.time_s(r[4]), h.usd(r[5]), r[6],
             h.energy_joules(r[7]), h.bytes_(r[8]), f"{r[9]:.0%}", f"{r[10]:.0%}"] for r in raw]
    numeric = [True, False, True, True, True, True, False, True, True, True, True]
    out = markdown_table(headers, rows, numeric) if fmt == "markdown" else text_table(headers, rows, numeric)
    if space is not None:
        pruned = ", ".join(f"{n:,} {why}" for why, n in space.pruned.items() if n) or "none"
        out += (f"\n\n{space.candidates:,} candidate plans (each base plan at every recompute level), "
                f"{space.scored:,} scored, {space.fitted:,} fit; left out: {pruned}; each plan listed at its best "
                f"recompute level")
    return out


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
        return csv_text(headers, [[k, *(getattr(getattr(mc, k), q) for q in quantiles), closed]
                              for k, _, _, closed in measures])
    rows = [[label, *(show(getattr(getattr(mc, k), q)) for q in quantiles), show(closed)]
            for k, label, show, closed in measures]
    table = markdown_table(headers, rows) if fmt == "markdown" else text_table(headers, rows)
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
        return csv_text(headers, rows)
    return "\n" + (markdown_table(headers, rows) if fmt == "markdown" else text_table(headers, rows))


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
        return csv_text(raw_headers, raw)
    table = markdown_table(headers, display) if fmt == "markdown" else text_table(headers, display)
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
        return csv_text(["what", "session", "measured", "model", "error_fraction", "held_out"],
                    [[c.what, c.session, c.measured, c.model, c.error, c.held_out] for c in checks])
    table = markdown_table(headers, display) if fmt == "markdown" else text_table(headers, display)
    held = [c for c in checks if c.held_out]
    worst = max(held, key=lambda c: abs(c.error)) if held else None
    tail = f"\nheld out: {len(held)} rows, worst {worst.error:+.1%} ({worst.what}, {worst.session})" if worst else ""
    return table + tail


def data_table(rows: list[dict], fmt: str = "table") -> str:
    """``costsim data list``: each data set, its licence, the commands that read it and where it lies."""
    headers = ["data set", "what", "licence", "read by", "read from"]
    raw = ["name", "title", "licence", "used_by", "folder"]
    display = [[r["name"], r["title"], r["licence"], r["used_by"], r["shown_as"]] for r in rows]
    if fmt == "table":
        return "\n\n".join(f"{r['name']}: {r['title']}\n  licence:   {r['licence']}\n  read by:   {r['used_by']}"
                           f"\n  read from: {r['folder']}" for r in rows)
    return render_rows(headers, display, raw, [[r[k] for k in raw] for r in rows], fmt)
