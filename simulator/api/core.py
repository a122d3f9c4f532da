"""Estimates, comparisons, plans and strategy tables: the closed-form entry points."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

from pydantic import ValidationError

from ..errors import CostsimError
from ..plan import parse_plan
from ..estimate import Estimate, RunOptions, estimate_run
from ..hardware import ClassicalProfile, Strict
from ..loader import (apply_overrides, bundled_names, finish_profile, load_profile, load_workload, raw_profile,
                      raw_workload, resolve, validate_workload)
from ..regions import PUE
from ..units import SECONDS_PER_YEAR, kg_co2_per_joule, usd_per_joule
from ..workload import CNNWorkload, TransformerWorkload

# the shared data folder beside the project (calibration, validation and reference data)
SHARED = Path(__file__).resolve().parents[3] / "shared"

class Rows(tuple):
    """A result that is a list of rows (compare, plan, strategies): iterate it as a tuple, or take it
    as plain data (``to_dict``) or as the CLI's table (``table(fmt)``, fmt table|csv|json|markdown)."""

    def __new__(cls, rows, render: str):
        obj = super().__new__(cls, rows)
        obj._render = render
        return obj

    def to_dict(self) -> list:
        def plain(x):
            if hasattr(x, "model_dump"):
                return x.model_dump()
            if isinstance(x, tuple):
                return [plain(v) for v in x]
            return x
        return [plain(r) for r in self]

    def table(self, fmt: str = "table") -> str:
        from .. import report as report_layer

        return getattr(report_layer, self._render)(list(self), fmt)


class Pair(tuple):
    """A two-part result (simulate: the closed-form estimate and the Monte Carlo summary) with the same
    ``to_dict`` and ``table(fmt)`` as the other results."""

    def __new__(cls, first, second, render: str):
        obj = super().__new__(cls, (first, second))
        obj._render = render
        return obj

    def to_dict(self) -> dict:
        return {"estimate": self[0].model_dump(), "simulation": self[1].model_dump()}

    def table(self, fmt: str = "table") -> str:
        from .. import report as report_layer

        return getattr(report_layer, self._render)(self[0], self[1], fmt)


def run_options(*, devices: int | None = None, plan=None, region: str | None = None,
                grid_g_co2_per_kwh: float | None = None, pue: float | str | None = None, pricing: str = "auto",
                lifetime_years: float | None = None, electricity_usd_per_kwh: float | None = None) -> RunOptions:
    """Build :class:`RunOptions` from human units (gCO2/kWh, years, $/kWh), converting to SI.
    ``plan``: a :class:`Plan` or its text (``tp=8,pp=16,dp=4,mb=2``); devices default to the plan's."""
    if isinstance(plan, str):
        plan = parse_plan(plan)
    if devices is None:
        devices = plan.devices if plan is not None else 1
    fields: dict = {"devices": devices, "region": region, "plan": plan}
    if grid_g_co2_per_kwh is not None:
        if grid_g_co2_per_kwh <= 0:
            raise CostsimError("must be positive", field="grid_intensity")
        fields["grid_kg_co2_per_joule"] = kg_co2_per_joule(grid_g_co2_per_kwh)
    if isinstance(pue, str):
        if pue not in PUE:
            raise CostsimError(f"unknown facility class '{pue}'; known: {', '.join(PUE)}", field="pue")
        pue = PUE[pue][0]
    if pue is not None:
        fields["pue"] = pue
    fields["pricing"] = pricing
    if lifetime_years is not None:
        fields["lifetime_s"] = lifetime_years * SECONDS_PER_YEAR
    if electricity_usd_per_kwh is not None:
        fields["electricity_usd_per_joule"] = usd_per_joule(electricity_usd_per_kwh)
    try:
        return RunOptions(**fields)
    except ValidationError as err:
        first = err.errors()[0]
        raise CostsimError(first["msg"].removeprefix("Value error, "),
                           field=".".join(str(p) for p in first["loc"]) or "options") from None


def _load(hardware, workload, sets: Iterable[str]):
    sets = list(sets)
    if isinstance(hardware, Strict) and isinstance(workload, Strict) and not sets:
        return hardware, workload
    if isinstance(hardware, Strict) and not sets:  # a loaded profile: only the workload needs reading
        wl_data, wl_src = (workload.model_dump(), "<model>") if isinstance(workload, Strict) else raw_workload(workload)
        return hardware, validate_workload(wl_data, wl_src)
    hw_data, hw_src = (hardware.model_dump(), "<model>") if isinstance(hardware, Strict) else raw_profile(hardware)
    wl_data, wl_src = (workload.model_dump(), "<model>") if isinstance(workload, Strict) else raw_workload(workload)
    apply_overrides(hw_data, wl_data, sets)
    return finish_profile(hw_data, hw_src), validate_workload(wl_data, wl_src)


_HARDWARE_FIELDS = ("kind", "cloud_price_usd_per_hour", "purchase_price_usd", "efficiency")


def _run(profile, wl, opts, hw_source: str | None, wl_source: str | None) -> Estimate:
    """estimate_run, with the file at fault named in its errors: the profile's for what the device
    lacks, the workload's for what the run asks (it does not fit, the batch does not split)."""
    try:
        return estimate_run(profile, wl, opts)
    except CostsimError as err:
        if err.field and err.field.startswith("--"):  # the command line's own option
            raise
        source = hw_source if err.field in _HARDWARE_FIELDS else wl_source
        raise err.with_source(source) if source else err


def estimate(hardware: str | Mapping | Strict, workload: str | Mapping | Strict, *, sets: Iterable[str] = (),
             pricing: str = "auto", **options) -> Estimate:
    """Estimate one training run. ``hardware`` and ``workload``: bundled names, paths, dicts or models.

    Options: devices, plan ('tp=8,pp=16,dp=4,mb=2' or a Plan), region, grid_g_co2_per_kwh, pue (a number or a facility class), pricing
    ('auto', 'cloud' or 'owned'), lifetime_years, electricity_usd_per_kwh. ``sets``: ``field=value``
    overrides as on the command line.
    """
    profile, wl = _load(hardware, workload, sets)
    if options.get("plan") == "auto":
        best = plan(profile, wl, devices=options.pop("devices", None) or 1, pricing=pricing,
                    **{k: v for k, v in options.items() if k != "plan"}, top=1)
        return best[0][1]
    opts = run_options(pricing=pricing, **options)
    return _run(profile, wl, opts, _source(hardware, "hardware"), _source(workload, "workload"))


def plan(hardware, workload, *, devices: int, objective: str = "time", top: int = 10, sets: Iterable[str] = (),
         pricing: str = "auto", **options):
    """``costsim plan``: the best plans for ``devices`` devices, as (Plan, Estimate) pairs, best first."""
    from ..search import search

    profile, wl = _load(hardware, workload, sets)
    if not isinstance(profile, ClassicalProfile):
        estimate_run(profile, wl)  # refuses it with the usual message
    opts = run_options(devices=devices, pricing=pricing, **options)
    try:
        return Rows(search(profile, wl, devices, objective, opts, top), "plan_table")
    except CostsimError as err:
        raise err.with_source(_source(workload, "workload")) if _source(workload, "workload") else err


def load_reference(kind: str, name: str, extra: tuple = ()):
    """What a strategy names (``hardware:NAME``, ``distill,teacher=NAME``): a profile with overrides, or a
    workload. The ``load`` that ``strategies.apply_all`` takes."""
    return load_profile(name, extra) if kind == "hardware" else load_workload(name)


def _source(ref, what: str) -> str | None:
    if isinstance(ref, str):
        try:
            return str(resolve(ref, what))
        except CostsimError:
            return None
    return None


class CompareRow(Strict):
    hardware: str
    estimate: Estimate | None
    problem: str | None


def compare(hardware: Iterable[str | Mapping | Strict] | None, workload, *, sets: Iterable[str] = (),
            pricing: str = "auto", **options) -> list[CompareRow]:
    """Estimate the same workload on several devices (default: every bundled classical profile).

    A device on which the run cannot be estimated (it does not fit, has no price, is a quantum
    profile) keeps its row, with the reason instead of an estimate.
    """
    names = list(hardware) if hardware is not None else bundled_names("hardware")
    rows = []
    auto = options.get("plan") == "auto"
    for hw in names:
        profile, wl = _load(hw, workload, sets)  # bad input is an error, not a row
        try:
            if auto:  # the fastest plan that fits on this device
                others = {k: v for k, v in options.items() if k not in ("plan", "devices")}
                found = plan(profile, wl, devices=options.get("devices") or 1, pricing=pricing, top=1, **others)
                rows.append(CompareRow(hardware=profile.name, problem=None, estimate=found[0][1]))
                continue
            opts = run_options(pricing=pricing, **options)
            rows.append(CompareRow(hardware=profile.name, problem=None,
                                   estimate=_run(profile, wl, opts, _source(hw, "hardware"),
                                                 _source(workload, "workload"))))
        except CostsimError as err:
            if err.field and err.field.startswith("--") and not auto:
                raise
            rows.append(CompareRow(hardware=profile.name, estimate=None, problem=err.line()))
    return Rows(rows, "comparison_table")


def strategies(hardware, workload, strategy: Iterable[str], *, rows: str = "both", sets: Iterable[str] = (),
               pricing: str = "auto", **options):
    """``costsim estimate --strategy ...``: the cost table as StrategyRows: the baseline, then each
    strategy alone (``rows`` 'each', or 'both' when several are given) and their composition in the
    order given ('combined' or 'both')."""
    from .. import strategies as strat

    profile, wl = _load(hardware, workload, sets)
    if options.get("plan") == "auto":
        found = plan(profile, wl, devices=options.pop("devices", None) or 1, pricing=pricing, top=1,
                     **{k: v for k, v in options.items() if k != "plan"})
        options["plan"], options["devices"] = found[0][0], found[0][0].devices
    opts = run_options(pricing=pricing, **options)
    hw_source, wl_source = _source(hardware, "hardware"), _source(workload, "workload")

    def run(profile, wl, opts):
        return _run(profile, wl, opts, hw_source if profile.name == _name(hardware) else None,
                    wl_source if wl.name == _name(workload) else None)

    return Rows(strat.compare(profile, wl, opts, list(strategy), load_reference, run, rows=rows), "strategy_table")


def strategy_definitions(name: str | None = None) -> list[dict]:
    """``costsim strategies list|show``: the strategies' definitions as plain data."""
    from ..strategies import describe

    return describe(name)


def _name(ref) -> str | None:
    return getattr(ref, "name", None) or (Path(ref).stem if isinstance(ref, str) else None)


def workload_summary(wl) -> dict:
    """Derived quantities of a workload: parameters, tokens or images, FLOPs per step."""
    from ..estimate import _step_ops, model_flops_per_step
    from ..memory import parameter_count

    batch = wl.training.global_batch_size
    out = {"name": wl.name, "kind": wl.kind, "parameters": parameter_count(wl), "steps": wl.total_steps,
           "global_batch_size": batch, "model_flops_per_step": model_flops_per_step(wl, _step_ops(wl, batch))}
    if isinstance(wl, TransformerWorkload):
        out["tokens_per_step"] = wl.tokens_per_step
        out["tokens"] = wl.tokens_per_step * wl.total_steps
    elif isinstance(wl, CNNWorkload):
        out["images"] = batch * wl.total_steps
    out["model_flops"] = out["model_flops_per_step"] * wl.total_steps
    return out


