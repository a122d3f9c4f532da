"""Computational limits: scaling fits priced per device, language-model laws, hardware trends and projections."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

from ..analysis.limits import (
    BATCH_PER_DEVICE,
    REFERENCE_WORKLOAD,
    check_targets,
    price_compute,
    pricing_fit,
    target_label,
    web_app_figures,
)
from ..analysis.projection import first_year_below, project_profile
from ..analysis.scaling import BENCHMARKS, benchmark, compute_for_error, fit_all, points
from ..analysis.scaling_laws import LAWS, compute_for_loss, compute_optimal, loss, transformer_for
from ..analysis.trends import METRICS, growth_from_doubling, history_points, profile_points
from ..errors import CostsimError
from ..files.bundled import data_folder, in_root
from ..files.loader import (
    bundled_names,
    finish_profile,
    load_profile,
    raw_profile,
    validate_workload,
)
from ..files.published import load_csv_raw, load_thompson
from ..output.analysis_tables import fits_table, limits_notes, priced_table
from ..run.estimate import estimate_run
from ..schema.hardware import MAX_INT, ClassicalProfile, Strict
from ..strategies import catalogue as strat
from .core import _load, load_reference, plan, run_options

# projections: how far ahead a trend is carried, and the fastest doubling accepted (a trend, not a leap)
MAX_PROJECTION_YEARS = 100
MIN_DOUBLING_YEARS = 0.1


class LimitsReport(Strict):
    """``costsim limits``: the scaling fits, and what each target costs on each device.

    Attributes:
        fits: every scaling fit (``analysis.scaling.ScalingFit``): each benchmark, compute measure, model and
            subset.
        pricing_fits: benchmark -> the fit its costs use.
        points: benchmark -> the models (``Point``: year, compute in FLOPs, error fraction) that fit was made on.
        targets: the target errors priced, fractions in (0, 1).
        priced: one ``PricedCompute`` per benchmark, device and target (time in s, energy in J, cost in US
            dollars, CO2 in kg, with the cost's interval and per-strategy costs).
        web_app: target label -> (US dollars, kg CO2) at the MIT FutureTech web app's fixed ratios.
        assumptions: how the figures were made, one sentence each.
    """

    fits: tuple
    pricing_fits: dict                            # benchmark -> the fit its costs use
    points: dict                                  # benchmark -> the models that fit was made on
    targets: tuple[float, ...]
    priced: tuple
    web_app: dict[str, tuple[float, float]]      # label -> (dollars, kg CO2) at the web app's fixed ratios
    assumptions: tuple[str, ...]

    def to_dict(self) -> dict:
        """Every field as plain data."""
        return self.model_dump()

    def table(self, fmt: str = "table") -> str:
        """The CLI's tables: the headline fits, the priced targets and (table, markdown) the notes."""
        return fits_table(self.fits, fmt, headline_only=True) + "\n\n" + priced_table(self.priced, fmt) + (
            "\n" + limits_notes(self) if fmt in ("table", "markdown") else "")


def thompson_rows(data: str | None = None, benchmarks=None) -> dict[str, list[dict]]:
    """The Thompson et al. CSVs, by benchmark (``data``: their folder; default ``$COSTSIM_DATA`` or the
    bundled copy)."""

    folder = data_folder("thompson", data)
    names = list(benchmarks) if benchmarks else list(BENCHMARKS)
    return {name: load_thompson(folder / benchmark(name).file_name) for name in names}


def scaling_fits(data: str | None = None, benchmarks=None):
    """Every scaling fit (both compute measures, both models, all models and the frontier)."""

    return fit_all(thompson_rows(data, benchmarks))


def _reference(name: str, devices: int, per_device: int | None = None):
    """The bundled reference workload ``name`` with a global batch of ``per_device`` samples on each device."""
    samples = per_device or BATCH_PER_DEVICE[name]
    if samples * devices > MAX_INT:
        raise CostsimError(f"{devices} devices of {samples} samples each make a global batch over {MAX_INT} "
                           f"(the reference run, {name}, splits its batch over the devices)", field="devices")
    return _load("h200", name, [f"global_batch_size={samples * devices}"])[1]


def _priced_devices(hardware, workload, devices: int, strategy, pricing: str, options: dict):
    """(profile, estimate function, strategy cost ratios) per device type, for pricing compute."""

    names = list(hardware) if hardware else [n for n in bundled_names("hardware")
                                             if isinstance(load_profile(n), ClassicalProfile)]
    opts = run_options(devices=devices, pricing=pricing, **options)

    def run(profile, wl, _devices):  # price_compute's estimate function: this table's options
        return estimate_run(profile, wl, opts)

    out = []
    for name in names:
        profile = load_profile(name)
        if not isinstance(profile, ClassicalProfile):
            raise CostsimError(f"'{name}' is a {profile.kind} profile: the limits table prices classical devices "
                               f"(see 'costsim quantum breakeven')", field="hardware")
        ratios = {}
        for s in strategy:
            try:
                row = strat.compare(profile, workload, opts, [s], load_reference, estimate_run, rows="each")[-1]
                ratios[s] = row.cost_ratio
            except CostsimError as err:
                if err.field and err.field.split(" ")[0] == "strategy" and "unknown" in err.problem:
                    raise
        out.append((profile, run, ratios))
    return out


def limits(benchmarks=("imagenet",), targets=(0.05, 0.01), *, extrapolate: bool = False, hardware=None,
           devices: int = 1000, strategy: Iterable[str] = (), data: str | None = None, pricing: str = "auto",
           progress=None, **options) -> LimitsReport:
    """``costsim limits``: fit the Thompson et al. data, project the compute for each target error, and
    price it on each device (``devices`` of them) and under each strategy."""


    check_targets(targets)
    rows = thompson_rows(data, benchmarks)
    fits = fit_all(rows)
    priced, web, notes, chosen, pts = [], {}, [], {}, {}
    for name in benchmarks:
        f = pricing_fit(fits, name)
        chosen[name], pts[name] = f, points(rows[name], name, f.compute_measure)
        ref = _reference(REFERENCE_WORKLOAD[name], devices)
        notes.append(f"{name}: compute from the {f.model} fit on {f.compute_measure.replace('_', ' ')} "
                     f"({f.subset} models, n={f.n}, k={f.exponent_k:.3g}), priced as {ref.name} steps on "
                     f"{devices} devices; 95% interval of the fitted line")
        estimates = [compute_for_error(f, t, extrapolate) for t in targets]
        priced_devices = _priced_devices(hardware, ref, devices, list(strategy), pricing, options)
        for done, (profile, run, ratios) in enumerate(priced_devices, 1):
            if progress:
                progress(done, len(priced_devices))
            for t, c in zip(targets, estimates):
                label = target_label(name, f.metric, t)
                priced.append(price_compute(label, c.compute_flops, c.compute_low_flops, c.compute_high_flops,
                                            profile, ref, devices, run, ratios))
                web[label] = web_app_figures(c.compute_flops)
    notes.append("every total is linear in the compute: a device's figures are its reference-run estimate "
                 "scaled to the steps the compute takes; strategy costs are their ratio on that reference run")
    return LimitsReport(fits=tuple(fits), pricing_fits=chosen, points=pts, targets=tuple(targets),
                        priced=tuple(priced), web_app=web, assumptions=tuple(notes))


def lm_limits(*, losses: Iterable[float] = (), computes: Iterable[float] = (), law: str = "chinchilla",
              hardware=None, devices: int = 1024, pricing: str = "auto", **options) -> list[dict]:
    """Compute-optimal language models for each loss target or compute budget (a Chinchilla-style law),
    turned into transformer workloads and priced on each device (the fastest plan on ``devices``)."""

    if law not in LAWS:
        raise CostsimError(f"unknown law '{law}'; known: {', '.join(LAWS)}", field="law")
    chosen = LAWS[law]
    budgets = [(f"loss {loss:g}", compute_for_loss(chosen, loss), "losses") for loss in losses]
    budgets += [(f"compute {c:.3g} FLOPs", c, "computes") for c in computes]
    out = []
    for label, c, field in budgets:
        n, d = compute_optimal(chosen, c)
        try:
            wl = validate_workload(transformer_for(n, d, f"lm-{n:.3g}p-{d:.3g}t"), "<scaling law>")
        except CostsimError as err:  # a model too large for any workload: the budget is out of range
            raise CostsimError(f"{label}: its compute-optimal model ({n:.3g} parameters, {d:.3g} tokens) is "
                               f"beyond what a workload can describe ({err.field}: {err.problem})",
                               field=field) from None
        rows = []
        names = list(hardware) if hardware else ["a100-sxm-80gb", "h100-sxm", "h200", "tpu-v5p"]
        for name in names:
            profile, _ = _load(name, wl, ())
            try:
                best = plan(profile, wl, devices=devices, pricing=pricing, top=1, **options)[0]
                opts = run_options(devices=devices, plan=best[0], pricing=pricing, **options)
                rows.append(price_compute(label, c, None, None, profile, wl, devices,
                                          lambda p, w, _n, o=opts: estimate_run(p, w, o), exact=True, field=field))
            except CostsimError as err:
                if err.field == field:  # the budget itself is refused, not this device
                    raise
                rows.append(price_compute(label, c, None, None, profile, wl, devices,
                                          lambda p, w, _n, e=err: (_ for _ in ()).throw(e), field=field))
        out.append({"label": label, "law": chosen.source, "compute_flops": c, "parameters": n, "tokens": d,
                    "loss": loss(chosen, n, d), "workload": wl.model_dump(), "priced": rows})
    return out


def hardware_trends(data: str | None = None) -> dict:
    """Growth per year of peak FP32 FLOP/s, FLOP/s per watt and memory bandwidth, fitted on the MIT
    FutureTech GPU table (``data``: its folder; default ``$COSTSIM_DATA`` or the bundled copy), one point per GPU."""

    folder = data_folder("hardware-history", data)
    gpus = load_csv_raw(folder / "gpus.csv")
    return {m: history_points(gpu_rows=gpus, metric=m).fit() for m in METRICS}


def profile_trends() -> dict:
    """The same fits on the bundled GPU profiles (their fp32 peaks; what-if profiles left out): whether
    the recent parts keep the table's pace."""

    gpus = [p for p in (load_profile(n) for n in bundled_names("hardware"))
            if p.kind == "gpu" and p.year and not p.description.lower().startswith("what-if")]
    return {m: profile_points(gpus, m, "fp32").fit() for m in METRICS}


def project(base: str, year: int, *, doubling_flops_years: float | None = None,
            doubling_bandwidth_years: float | None = None, doubling_efficiency_years: float | None = None,
            data: str | None = None):
    """``costsim project``: a device of ``year`` grown from ``base`` at the fitted hardware trends (or
    at stated doubling times). Returns (the validated profile, its raw dict, the trends used)."""

    raw, source = raw_profile(base)
    if raw.get("kind") == "quantum":
        raise CostsimError(f"'{base}' is a quantum profile: trends project classical devices", field="base")
    base_year = raw.get("year")
    if not base_year:
        raise CostsimError("the base profile has no year to project from", source=source, field="year")
    if not base_year <= year <= base_year + MAX_PROJECTION_YEARS:
        raise CostsimError(f"project forward from the base's {base_year}, at most {MAX_PROJECTION_YEARS} years "
                           f"(got {year})", field="year")
    trends = hardware_trends(data)
    stated = {"peak_flops_per_s": ("doubling_flops_years", doubling_flops_years),
              "memory_bandwidth_bytes_per_s": ("doubling_bandwidth_years", doubling_bandwidth_years),
              "flops_per_s_per_watt": ("doubling_efficiency_years", doubling_efficiency_years)}
    growth, basis = {}, []
    for key, (option, years) in stated.items():
        if years is not None:
            if not years >= MIN_DOUBLING_YEARS:
                raise CostsimError(f"a doubling time is at least {MIN_DOUBLING_YEARS:g} years (got {years:g})",
                                   field=option)
            growth[key] = growth_from_doubling(years)
            basis.append(f"{key}: doubling every {years:g} years (stated)")
        else:
            growth[key] = trends[key].growth_factor_per_year
            basis.append(trends[key].describe() + " (MIT FutureTech gpus.csv)")
    # links follow memory bandwidth (an assumption: the table has no link column; NVLink went from
    # 20 GB/s per direction per link in 2016 to 900 GB/s per GPU in 2022, faster than HBM)
    growth["link_bandwidth_bytes_per_s"] = growth["memory_bandwidth_bytes_per_s"]
    basis.append("links: grown with memory bandwidth (assumption)")
    try:
        data_out = project_profile(raw, int(base_year), int(year), growth, basis="; ".join(basis))
    except CostsimError as err:  # a growth beyond any float: name the doubling time stated, or the year
        if not (err.field or "").startswith("growth."):
            raise
        key = err.field.removeprefix("growth.").replace("link_", "memory_")
        option, years = stated.get(key, ("year", None))
        raise CostsimError(err.problem, field=option if years is not None else "year") from None
    return finish_profile(data_out, f"<{base} projected to {year}>"), data_out, trends


def _top_peak(profile) -> float:
    return max(v for v in profile.peak_dense_flops_per_s.model_dump().values() if v)


def cheaper_year(base: str, benchmark: str, target: float, budget_usd: float, *, devices: int = 1000,
                 extrapolate: bool = False, start: int | None = None, stop: int = 2100, data: str | None = None,
                 pricing: str = "auto", **options) -> tuple[int | None, list[tuple[int, float]]]:
    """The first year in which reaching ``target`` on ``benchmark`` costs less than ``budget_usd`` on
    ``base``'s line of devices (grown at the fitted trends), and the cost year by year."""

    if not budget_usd > 0:
        raise CostsimError("the budget must be positive", field="budget_usd")
    # ``data`` names the hardware-history folder, or a root of data sets that may hold Thompson et al.'s too
    thompson = data if data and in_root(Path(data), "thompson") else None
    f = pricing_fit(fit_all(thompson_rows(thompson, [benchmark])), benchmark)
    compute = compute_for_error(f, target, extrapolate).compute_flops
    ref = _reference(REFERENCE_WORKLOAD[benchmark], devices)
    opts = run_options(devices=devices, pricing=pricing, **options)
    first = start or int(raw_profile(base)[0].get("year") or 2024)
    costs: dict[int, float] = {}

    base_profile = load_profile(base)

    def cost_of_year(y: int) -> float:
        if y not in costs:
            profile = project(base, y, data=data)[0]
            # faster devices are fed larger batches (as users do), so per-kernel host time keeps amortising:
            # the per-device batch grows with the peak, halved until it fits
            grown = _top_peak(profile) / _top_peak(base_profile)
            per_device = BATCH_PER_DEVICE[ref.name] * 2 ** max(0, round(math.log2(grown)))
            while True:
                wl = _reference(ref.name, devices, per_device)
                p = price_compute("", compute, None, None, profile, wl, devices,
                                  lambda pr, w, _n: estimate_run(pr, w, opts))
                if p.cost_usd is not None or per_device <= BATCH_PER_DEVICE[ref.name]:
                    break
                per_device //= 2
            if p.problem:
                raise CostsimError(p.problem, field="base")
            costs[y] = p.cost_usd
        return costs[y]

    year = first_year_below(cost_of_year, budget_usd, first, stop)
    return year, sorted(costs.items())


