"""The analysis tables: scaling fits, priced targets, a projected device, the year a target gets cheap enough,
quantum break-even and a quantum estimate, historical runs, a limits report's notes, and a profile as YAML."""
from __future__ import annotations

import json
import math

import yaml

from ..units import GIGA, KILO, MEGA, MICRO, MILLI, SECONDS_PER_DAY, SECONDS_PER_HOUR, SECONDS_PER_YEAR, TERA, kwh
from .format import csv_text, markdown_table, render_rows, short_number, text_table


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
    return render_rows(headers, display, raw_headers, raw, fmt)


def _range(lo, hi) -> str:
    return f"{short_number(lo)} to {short_number(hi)}" if lo and hi else "unbounded"


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
            display.append([p.label, p.hardware, str(p.devices), short_number(p.compute_flops), "", "not priced"] +
                           [""] * (len(headers) - 6))
        else:
            display.append([p.label, p.hardware, str(p.devices), short_number(p.compute_flops),
                            _range(p.compute_low_flops, p.compute_high_flops),
                            short_number(p.time_s / SECONDS_PER_YEAR), short_number(kwh(p.energy_joules) / MEGA),
                            short_number(p.cost_usd), _range(p.cost_low_usd, p.cost_high_usd),
                            short_number(p.co2_kg / KILO)]
                           + [short_number(p.strategy_cost_usd.get(s)) for s in strategies])
        raw.append([p.label, p.hardware, p.devices, p.compute_flops, p.compute_low_flops, p.compute_high_flops,
                    p.time_s, p.energy_joules, p.cost_usd, p.cost_low_usd, p.cost_high_usd, p.co2_kg]
                   + [p.strategy_cost_usd.get(s) for s in strategies] + [p.problem or ""])
    raw_headers = ["label", "hardware", "devices", "compute_flops", "compute_low_flops", "compute_high_flops",
                   "time_s", "energy_joules", "cost_usd", "cost_low_usd", "cost_high_usd", "co2_kg"] + \
                  [f"cost_usd_with_{s}" for s in strategies] + ["problem"]
    table = render_rows(headers, display, raw_headers, raw, fmt)
    problems = [f"{p.label} on {p.hardware}: {p.problem}" for p in priced if p.problem]
    if fmt in ("table", "markdown") and problems:
        table += "\n\nnot priced:\n" + "\n".join(f"- {x}" for x in dict.fromkeys(problems))
    return table


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
    rows = [[f"peak {k} (TFLOP/s)", short_number(v / TERA)] for k, v in peaks.items()]
    rows += [["memory (GB)", short_number(profile.memory_bytes / GIGA)],
             ["memory bandwidth (TB/s)", short_number(profile.memory_bandwidth_bytes_per_s / TERA)],
             ["TDP (W)", short_number(profile.power.tdp_watts)],
             ["cloud price ($/device-hour)", short_number(profile.cloud_price_usd_per_hour)]]
    table = render_rows(["field", "value"], rows, ["field", "value"], rows, fmt)
    text = (f"{profile.name}: {profile.description}\n" + table + "\n\ntrends used (MIT FutureTech GPU table):\n" +
            "\n".join(f"- {t.describe()}" for t in trends.values()))
    if recent:
        text += "\n\nthe same fits on the bundled GPU profiles, for comparison:\n" + "\n".join(
            f"- {t.describe()}" for t in recent.values())
    return text


def cheaper_year_text(base, benchmark, target, budget_usd, devices, year, costs, fmt: str = "table") -> str:
    """The first year (``year``, None if none) in which ``benchmark`` at error ``target`` costs under
    ``budget_usd`` on ``devices`` of ``base``'s projected line, then the cost in dollars in each year (``costs``)."""
    if fmt == "json":
        return json.dumps({"base": base, "benchmark": benchmark, "target_error_fraction": target,
                           "budget_usd": budget_usd, "devices": devices, "first_year": year,
                           "cost_usd_by_year": dict(costs)}, indent=2)
    head = (f"{benchmark} at error {target:g} on {devices} x {base}'s line: "
            + (f"first under ${budget_usd:,.4g} in {year}" if year
               else f"not under ${budget_usd:,.4g} by {costs[-1][0]}"))
    rows = [[str(y), short_number(c)] for y, c in costs]
    return head + "\n" + render_rows(["year", "cost ($)"], rows, ["year", "cost_usd"], [[y, c] for y, c in costs],
                                     fmt)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "inf"
    for unit, size in (("years", SECONDS_PER_YEAR), ("days", SECONDS_PER_DAY), ("h", SECONDS_PER_HOUR)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def breakeven_text(r: dict, fmt: str = "table") -> str:
    """A quantum profile's break-even: its surface-code resources and step against the classical step, Babbush et
    al.'s break-even problem size and time per speedup degree, and Hoefler et al.'s largest work per oracle call."""
    if fmt == "json":
        return json.dumps(r, indent=2)
    res = r["resources"]
    head = (f"{r['profile']}: code distance {res['code_distance']}, {res['physical_qubits']:,} physical qubits "
            f"({res['physical_qubits_per_logical']} per logical), Toffoli {res['toffoli_time_s'] / MICRO:.3g} us; "
            f"quantum step {r['toffolis_per_step']:g} Toffolis = {r['quantum_step_s'] / MILLI:.3g} ms against a "
            f"classical step of {r['classical_step_s']:.3g} s")
    rows = [[f"{b['degree']:g}", f"{b['classical_parallelism']:.0e}", short_number(b["problem_size"]),
             _duration(b["time_s"])] for b in r["breakeven"]]
    raw = [[b["degree"], b["classical_parallelism"], b["problem_size"], b["time_s"]] for b in r["breakeven"]]
    t1 = render_rows(["degree d", "classical S", "break-even size M*", "break-even time T*"], rows,
                     ["degree", "classical_parallelism", "problem_size", "time_s"], raw, fmt)
    rows2 = [[h["operation"], f"{h['degree']:g}", short_number(h["max_operations_per_call"])] for h in r["hoefler"]]
    raw2 = [[h["operation"], h["degree"], h["max_operations_per_call"]] for h in r["hoefler"]]
    t2 = render_rows(["operation", "degree k", "largest work per oracle call"], rows2,
                     ["operation", "degree", "max_operations_per_call"], raw2, fmt)
    return (head + "\n\nBabbush et al. 2021 break-even (Table I with this profile's step time):\n" + t1 +
            "\n\nHoefler, Haener & Troyer 2023: their future machine against an A100, within 1e6 s (Table 2):\n" + t2)


def quantum_estimate_text(q, fmt: str = "table") -> str:
    """A quantum estimate against its classical competitor: the work, the surface code, the quantum run's time,
    the speedup with its Amdahl limit, the single changes that would tie, and the verdict."""
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
                        v["amdahl_limit_speedup"] is not None else "unbounded: all of the work is accelerated)")],
            ["ties at (each alone)", ", ".join(x for x in [
                f"degree > {v['required_degree']:.3g}" if v["required_degree"] else "",
                f"Toffoli < {v['required_toffoli_time_s']:.3g} s" if v["required_toffoli_time_s"] else "",
                f"I/O > {v['required_io_bandwidth_bytes_per_s']:.3g} B/s" if v["required_io_bandwidth_bytes_per_s"]
                else ""] if x) or "no single change"],
            ["verdict", v["verdict"]]]
    if fmt == "table":
        return f"{q.hardware} on {q.workload}\n" + text_table(["", ""], rows, numeric=False)
    return render_rows(["what", "value"], rows, ["what", "value"], rows, fmt)


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
        return csv_text(raw_headers, raw)
    table = markdown_table(headers, display) if fmt == "markdown" else text_table(headers, display, numeric=False)
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
