"""Estimates, comparisons, plans and strategy tables: the closed-form entry points."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, Iterable, Mapping

from pydantic import ValidationError

from ..errors import CostsimError, OutOfMemoryError
from ..files.loader import (
    apply_overrides,
    bundled_names,
    finish_profile,
    load_profile,
    load_workload,
    raw_profile,
    raw_workload,
    resolve,
    validate_workload,
    where,
)
from ..model.finite import OutOfRangeError
from ..model.memory import naming_profile
from ..output import tables as report_layer
from ..output.human import error_cell
from ..run.estimate import Estimate, estimate_run, round_batch
from ..run.phases import phased
from ..run.search import parse_fix, search_space
from ..schema.hardware import ClassicalProfile, Strict
from ..schema.options import RunOptions
from ..schema.plan import Plan, as_plan
from ..schema.regions import PUE
from ..strategies import catalogue as strat
from ..strategies.catalogue import describe
from ..units import GIGA, SECONDS_PER_YEAR, kg_co2_per_joule, usd_per_joule
from .phased import resolve_auto_phases


class Rows(tuple):
    """A result that is a list of rows (compare, plan, strategies): iterate it as a tuple, or take it
    as plain data (``to_dict``) or as the CLI's table (``table(fmt)``, fmt table|csv|json|markdown)."""

    def __new__(cls, rows, render: Callable[..., str]):
        """The rows, with ``render(rows, fmt, **options)`` as their table."""
        obj = super().__new__(cls, rows)
        obj._render = render
        return obj

    def to_dict(self) -> list:
        """The rows as plain data: each model dumped to a dict, tuples (a plan and its estimate) to lists."""
        def plain(x):
            if hasattr(x, "model_dump"):
                return x.model_dump()
            if isinstance(x, tuple):
                return [plain(v) for v in x]
            return x
        return [plain(r) for r in self]

    def table(self, fmt: str = "table", **options) -> str:
        """The CLI's table; ``options`` go to the renderer (compare: ``columns``)."""
        return self._render(list(self), fmt, **options)


class Pair(tuple):
    """A two-part result (simulate: the closed-form estimate and the Monte Carlo summary) with the same
    ``to_dict`` and ``table(fmt)`` as the other results."""

    def __new__(cls, first, second, render: Callable[..., str]):
        """The two parts, with ``render(first, second, fmt)`` as their table."""
        obj = super().__new__(cls, (first, second))
        obj._render = render
        return obj

    def to_dict(self) -> dict:
        """Both parts as plain data: ``{estimate, simulation}``."""
        return {"estimate": self[0].model_dump(), "simulation": self[1].model_dump()}

    def table(self, fmt: str = "table") -> str:
        """The CLI's table of both parts (fmt table|csv|json|markdown)."""
        return self._render(self[0], self[1], fmt)


class EstimateResult(Estimate):
    """An :class:`Estimate` as the API returns it: the same fields (see :class:`simulator.run.estimate.Estimate`
    for each one's meaning and unit), with the CLI's presentation (``table``)."""

    def table(self, fmt: str = "table", columns=None) -> str:
        """The CLI's table (fmt table|csv|json|markdown|latex; ``columns``: the compare columns to show)."""
        return report_layer.estimate_table(self, fmt, columns)


def as_result(e: Estimate) -> EstimateResult:
    """The same estimate, carrying ``.table(fmt)`` (no field is recomputed or revalidated)."""
    return e if isinstance(e, EstimateResult) else EstimateResult.model_construct(**dict(e))


def run_options(*, devices: int | None = None, plan=None, region: str | None = None,
                grid_g_co2_per_kwh: float | None = None, pue: float | str | None = None, pricing: str = "auto",
                lifetime_years: float | None = None, electricity_usd_per_kwh: float | None = None) -> RunOptions:
    """Build :class:`RunOptions` from human units (gCO2/kWh, years, $/kWh), converting to SI.
    ``plan``: a :class:`Plan`, its text (``tp=8,pp=16,dp=4,mb=2``) or its fields; devices default to the plan's."""
    plan = as_plan(plan)
    if devices is None:
        devices = plan.devices if plan is not None else 1
    fields: dict = {"devices": devices, "region": region, "plan": plan}
    if grid_g_co2_per_kwh is not None:
        if grid_g_co2_per_kwh <= 0:
            raise CostsimError("must be positive", field="grid_g_co2_per_kwh")
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
    except ValidationError as err:  # named as this function's parameters are, in the units they take
        e = CostsimError.from_validation(err)
        raise CostsimError(e.problem, field=_SI_OPTIONS.get(e.field, e.field)) from None


_SI_OPTIONS = {"grid_kg_co2_per_joule": "grid_g_co2_per_kwh", "lifetime_s": "lifetime_years",
               "electricity_usd_per_joule": "electricity_usd_per_kwh"}


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
# parameters of a run rather than fields of a file: errors about them name no file
_OPTION_FIELDS = frozenset(RunOptions.model_fields) | {"objective", "fit", "columns", "hardware", "options",
                                                        *_SI_OPTIONS.values()}
# parameters of the API's calls that no file has a field of the same name ("strategy prune:2of4" names
# the strategy text too): errors about them name no file either
_CALL_PARAMETERS = frozenset({"strategy", "rows", "targets", "plot", "plot_dir", "fmt", "executor", "scheduler",
                              "mtbf_hours", "law", "doubling_flops_years", "doubling_bandwidth_years",
                              "doubling_efficiency_years", "budget_usd", "suite", "device", "profile_ref", "y",
                              "losses", "computes"})


def _option_field(field: str | None) -> bool:
    return bool(field) and (field.split(" ")[0] in _CALL_PARAMETERS or field.split(".")[0] in _OPTION_FIELDS)


def _blamed(err: CostsimError, hw_source: str | None, wl_source: str | None) -> CostsimError:
    """``err`` naming the file at fault: the profile's for what the device lacks, the workload's for what the
    run asks (the batch does not split), both where both decide it (the run does not fit); the file of
    the input the result guard names (``hardware.``/``workload.`` fields); none for the run's options."""
    side, _, rest = (err.field or "").partition(".")
    if side in ("hardware", "workload") and rest and not err.source:  # an input named by the result guard
        known = hw_source if side == "hardware" else wl_source  # with its file named, its field in that file
        err = type(err)(err.problem, field=rest) if known else err
    elif _option_field(err.field):  # the run's own options (plan, devices), not a file's
        return err
    else:  # a field of either file; a run that does not fit names the profile's too (naming_profile)
        side, err = "hardware" if err.field in _HARDWARE_FIELDS else "workload", naming_profile(err, hw_source)
    source = hw_source if side == "hardware" else wl_source
    return err.with_source(source) if source else err


def _run(profile, wl, opts, hw_source: str | None, wl_source: str | None) -> Estimate:
    """estimate_run, with the file at fault named in its errors (``_blamed``)."""
    try:
        return estimate_run(profile, resolve_auto_phases(profile, wl, opts), opts)
    except CostsimError as err:
        raise _blamed(err, hw_source, wl_source) from None


FITS = ("strict", "accumulate")


def _check_fit(fit: str) -> None:
    if fit not in FITS:
        raise CostsimError(f"unknown fit '{fit}'; known: {', '.join(FITS)}", field="fit")


def _run_fitted(profile, wl, opts: RunOptions, fit: str, hw_source: str | None, wl_source: str | None) -> Estimate:
    """``_run``; with ``fit='accumulate'``, a run that does not fit at its micro-batch runs with gradient
    accumulation instead: the largest micro-batch dividing a replica's batch that fits (an explicit
    ``mb`` in the plan is kept as given). Only a run that does not fit at micro-batch 1 is an error."""
    try:
        return _run(profile, wl, opts, hw_source, wl_source)
    except OutOfMemoryError:
        plan0 = opts.plan or Plan(dp=opts.devices)
        if fit != "accumulate" or plan0.mb is not None or not isinstance(profile, ClassicalProfile):
            raise
        per_replica = wl.training.global_batch_size // plan0.dp
        tried = wl.training.micro_batch_size or (per_replica if plan0.pp == 1 else 1)
        smaller = [d for d in range(1, tried) if per_replica % d == 0]
        if not smaller:
            raise

    def attempt(mb: int) -> Estimate | None:
        try:
            return _run(profile, wl, opts.model_copy(update={"plan": plan0.model_copy(update={"mb": mb})}),
                        hw_source, wl_source)
        except OutOfMemoryError as err:
            if mb == 1:
                raise OutOfMemoryError("does not fit even at micro-batch 1 (gradient accumulation cannot help): "
                                   + err.problem.removeprefix("does not fit: "), source=err.source,
                                   field=err.field, needed_bytes=err.needed_bytes, capacity_bytes=err.capacity_bytes,
                                   micro_batch=err.micro_batch, accumulation_tried=True) from None
            return None

    best, lo, hi = attempt(1), 0, len(smaller) - 1  # memory grows with the micro-batch: bisect
    while lo < hi:
        mid = (lo + hi + 1) // 2
        found = attempt(smaller[mid])
        if found is None:
            hi = mid - 1
        else:
            best, lo = found, mid
    mb = smaller[lo]
    note = (f"gradient accumulation: {per_replica} samples per replica do not fit at micro-batch {tried}; "
            f"micro-batch {mb} is the largest that fits in {profile.memory_bytes / GIGA:.3g} GB, "
            f"{per_replica // mb} micro-batches per step")
    return best.model_copy(update={"assumptions": best.assumptions + (note,)})


def estimate(hardware: str | Mapping | Strict, workload: str | Mapping | Strict, *, sets: Iterable[str] = (),
             pricing: str = "auto", fit: str = "strict", batch_rounding: str = "none", **options) -> EstimateResult:
    """Estimate one training run. ``hardware`` and ``workload``: bundled names, paths, dicts or models.

    Options: devices, plan ('tp=8,pp=16,dp=4,mb=2' or a Plan), region, grid_g_co2_per_kwh, pue (a number
    or a facility class), pricing ('auto', 'cloud' or 'owned'), lifetime_years, electricity_usd_per_kwh.
    ``sets``: ``field=value`` overrides as on the command line. ``fit``: 'strict' (a run that does not fit
    at its micro-batch is an error) or 'accumulate' (it runs with gradient accumulation at the largest
    micro-batch that fits; the estimate's assumptions say which). ``batch_rounding``: 'none' (a global batch
    that does not split over dp is an error), 'up' or 'down' (rounded to a multiple of dp, and an
    assumption says so). Under pricing 'auto' a device with no
    price at all is priced at its electricity alone (``pricing='electricity'``, and an assumption says so).
    """
    _check_fit(fit)
    profile, wl = _load(hardware, workload, sets)
    if options.get("plan") == "auto" and phased(wl):  # each phase without a plan of its own searched alone
        options["plan"] = None
        wl = resolve_auto_phases(profile, wl, run_options(pricing=pricing, **options), all_phases=True)
    if options.get("plan") == "auto":
        best = plan(profile, wl, devices=options.pop("devices", None) or 1, pricing=pricing,
                    **{k: v for k, v in options.items() if k != "plan"}, top=1)
        return as_result(best[0][1])
    opts = run_options(pricing=pricing, **options)
    wl, note = round_batch(wl, opts, batch_rounding)
    run = _electricity_only if pricing == "auto" and _unpriced(profile) else _run_fitted
    return as_result(_noted(run(profile, wl, opts, fit, _source(hardware, "hardware"), _source(workload, "workload")),
                            note))


def _noted(e: Estimate, note: str | None) -> Estimate:
    return e.model_copy(update={"assumptions": e.assumptions + (note,)}) if note else e


def _unpriced(profile) -> bool:
    """A classical device with neither a cloud nor a purchase price (a freshly calibrated CPU, an FPGA
    with no published price): under pricing 'auto' its runs are priced at their electricity alone."""
    return (isinstance(profile, ClassicalProfile) and profile.cloud_price_usd_per_hour is None
            and profile.purchase_price_usd is None)


def plan(hardware, workload, *, devices: int, objective: str = "time", top: int = 10, sets: Iterable[str] = (),
         pricing: str = "auto", fix: str | None = None, **options):
    """``costsim plan``: the best plans for ``devices`` devices, as (Plan, Estimate) pairs, best first.
    ``fix``: plan dimensions held fixed, as plan items (``tp=8,pp=16``)."""
    profile, wl = _load(hardware, workload, sets)
    if not isinstance(profile, ClassicalProfile):
        estimate_run(profile, wl)  # refuses it with the usual message
    opts = run_options(devices=devices, pricing=pricing, **options)
    fixed = parse_fix(fix)
    try:
        found, space = search_space(profile, wl, devices, objective, opts, top, fixed)
        return Rows(found, functools.partial(report_layer.plan_table, space=space))
    except OutOfRangeError as err:  # an input out of range: its own file, not a plan's problem
        raise _blamed(err, _source(hardware, "hardware"), _source(workload, "workload")) from None
    except CostsimError as err:  # the workload's (its size against the devices), unless the fix rules all out
        raise err.with_source(_source(workload, "workload")) if _source(workload, "workload") and err.field != "fix" \
            else err


def load_reference(kind: str, name: str, extra: tuple = ()):
    """What a strategy names (``hardware:NAME``, ``distill,teacher=NAME``): a profile with overrides, or a
    workload. The ``load`` that ``strategies.apply_all`` takes."""
    return load_profile(name, extra) if kind == "hardware" else load_workload(name)


def _source(ref, what: str) -> str | None:
    if isinstance(ref, str):
        try:
            return where(resolve(ref, what))
        except CostsimError:
            return None
    return None


# The devices ``compare`` runs on by default: the current generation of each kind bundled (data
# centre GPUs, a TPU, an AI ASIC, a server CPU, an FPGA). ``compare(hardware="all")`` adds the
# historical and what-if profiles (and the quantum one, which keeps its row with the reason).
CURRENT_HARDWARE = ("h200", "h100-sxm", "a100-sxm-80gb", "tpu-v5p", "gaudi3", "xeon-8480", "alveo-u280")


class CompareRow(Strict):
    """One device of ``compare``: its estimate, or why it has none.

    Attributes:
        hardware: the device's profile name.
        estimate: the run on it (times in s, energy in J, cost in US dollars, CO2 in kg); None when it could
            not be estimated.
        problem: the full reason it was not estimated (one line); None when it was.
        reason: the same in one line of under 100 characters, for tables; None when it was estimated.
    """

    hardware: str
    estimate: Estimate | None
    problem: str | None  # the full reason a device was not estimated
    reason: str | None = None  # the same in one line of under 100 characters, for tables


def short_reason(err: CostsimError) -> str:
    """One line of under 100 characters saying why a device was not estimated (``output.human.error_cell``)."""
    return error_cell(err)


_NO_PRICE = {"cloud": ("cloud_price_usd_per_hour", "no cloud price (pricing 'owned' would use its purchase price)"),
             "owned": ("purchase_price_usd", "no purchase price (pricing 'cloud' would use its cloud price)")}


def _electricity_only(profile, wl, opts: RunOptions, fit: str, hw_source, wl_source) -> Estimate:
    """A device with no price at all, under pricing 'auto': the run priced at its electricity alone
    (``pricing='electricity'``), so its time, energy and CO2 still compare; the assumptions say so."""
    free = profile.model_copy(update={"purchase_price_usd": 0.0})  # no purchase cost counted, not a price
    e = _run_fitted(free, wl, opts.model_copy(update={"pricing": "owned"}), fit, hw_source, wl_source)
    note = (f"cost is electricity alone: {profile.name} has neither a cloud price nor a purchase price, so no "
            f"rental or amortisation is counted")
    kept = tuple(a for a in e.assumptions if not a.startswith("owned hardware: purchase price"))
    return e.model_copy(update={"pricing": "electricity", "assumptions": kept + (note,)})


def _compare_names(hardware) -> list:
    if hardware is None or hardware == "current":
        return list(CURRENT_HARDWARE)
    if hardware == "all":
        return bundled_names("hardware")
    names = [hardware] if isinstance(hardware, (str, Mapping, Strict)) else list(hardware)
    if not names:
        raise CostsimError("an empty list names no device", field="hardware")
    blank = next((i for i, h in enumerate(names) if isinstance(h, str) and not h.strip()), None)
    if blank is not None:
        raise CostsimError(f"item {blank} is an empty name", field="hardware")
    return names


def compare(hardware: Iterable[str | Mapping | Strict] | str | None, workload, *, sets: Iterable[str] = (),
            pricing: str = "auto", fit: str = "accumulate", batch_rounding: str = "none",
            **options) -> list[CompareRow]:
    """Estimate the same workload on several devices: names, paths, dicts or models; ``None`` (or
    'current') for :data:`CURRENT_HARDWARE`, 'all' for every bundled profile.

    ``fit='accumulate'`` (the default) runs a workload that does not fit a device at its batch with
    gradient accumulation, at the largest micro-batch that fits, as a user would; 'strict' does not.
    A device on which the run cannot be estimated (it does not fit even at micro-batch 1, has no price
    of the kind asked for, is a quantum profile) keeps its row, with the reason instead of an estimate.
    Under pricing 'auto' a device with no price at all is priced at its electricity alone
    (``pricing='electricity'``). ``batch_rounding`` as for :func:`estimate`.
    """
    _check_fit(fit)
    names = _compare_names(hardware)
    rows = []
    auto = options.get("plan") == "auto"
    for hw in names:
        profile, wl = _load(hw, workload, sets)  # bad input is an error, not a row
        hw_source, wl_source = _source(hw, "hardware"), _source(workload, "workload")
        try:
            if pricing in _NO_PRICE and isinstance(profile, ClassicalProfile) \
                    and getattr(profile, _NO_PRICE[pricing][0]) is None:
                other = "purchase_price_usd" if pricing == "cloud" else "cloud_price_usd_per_hour"
                why = _NO_PRICE[pricing][1] if getattr(profile, other) is not None else \
                    "no price: neither a cloud nor a purchase price"
                rows.append(CompareRow(hardware=profile.name, estimate=None, problem=why, reason=why))
                continue
            unpriced = pricing == "auto" and _unpriced(profile)
            if auto:  # the fastest plan that fits on this device
                others = {k: v for k, v in options.items() if k not in ("plan", "devices")}
                found = plan(profile, wl, devices=options.get("devices") or 1, pricing=pricing, top=1, **others)
                rows.append(CompareRow(hardware=profile.name, problem=None, estimate=found[0][1]))
                continue
            opts = run_options(pricing=pricing, **options)
            wl, note = round_batch(wl, opts, batch_rounding)
            run = _electricity_only if unpriced else _run_fitted
            e = run(profile, wl, opts, fit, hw_source, wl_source)
            rows.append(CompareRow(hardware=profile.name, problem=None, estimate=_noted(e, note)))
        except CostsimError as err:
            if (_option_field(err.field) and not auto) or isinstance(err, OutOfRangeError):  # bad input
                raise
            rows.append(CompareRow(hardware=profile.name, estimate=None, problem=err.line(),
                                   reason=short_reason(err)))
    return Rows(rows, report_layer.comparison_table)


def strategies(hardware, workload, strategy: Iterable[str], *, rows: str = "both", sets: Iterable[str] = (),
               pricing: str = "auto", **options):
    """``costsim estimate --strategy ...``: the cost table as StrategyRows: the baseline, then each
    strategy alone (``rows`` 'each', or 'both' when several are given) and their composition in the
    order given ('combined' or 'both')."""

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

    found = strat.compare(profile, wl, opts, list(strategy), load_reference, run, rows=rows)
    return Rows(found, report_layer.strategy_table)


def strategy_definitions(name: str | None = None) -> list[dict]:
    """``costsim strategies list|show``: the strategies' definitions as plain data."""

    return describe(name)


def _name(ref) -> str | None:
    return getattr(ref, "name", None) or (Path(ref).stem if isinstance(ref, str) else None)
