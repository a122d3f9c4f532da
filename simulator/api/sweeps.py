"""Sweeps: grids of scenarios, evaluated as closed-form runs and priced over option grids."""
from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Iterable

from pydantic import ValidationError

from ..errors import CostsimError
from ..files.loader import (
    apply_overrides,
    finish_profile,
    load_profile,
    load_sweep,
    load_workload,
    override_text,
    raw_profile,
    resolve,
    validate_workload,
)
from ..output.stream import sweep_text
from ..run.estimate import estimate_run
from ..run.search import search
from ..run.sweep import (
    CORE_AXES,
    MAX_SCENARIOS,
    OPTION_AXES,
    ROWS_PER_BATCH,
    CoreResult,
    Phase,
    SweepSpec,
    WhatIf,
    check_size,
    expand,
)
from ..schema.hardware import ClassicalProfile, Strict
from ..schema.options import RunOptions
from ..strategies import catalogue as strat
from ..strategies.catalogue import parse
from .core import load_reference
from .simulation import SCHEDULER_TIMEOUT_S, _mapper


def _override(key: str, value) -> str:
    """``key=value`` as an override that reads back as the same value: a sweep file's ``"12"`` stays text (and
    is refused where a number is due); ``*factor`` keeps its meaning, a scale."""
    if isinstance(value, str) and value.startswith("*"):
        return f"{key}={value}"
    return f"{key}={override_text(value)}"

def _file(where: str) -> str | None:
    """The sweep file to name in an error; none for a sweep built from flags (its fields are theirs)."""
    return None if where == "<sweep>" else where


def sweep_spec(source=None, **axes):
    """A :class:`SweepSpec` from a sweep file (path), a dict, or axes given as keywords (the CLI's flags).
    Unknown axes, empty lists and bad values are one-line errors; a reference that does not resolve
    (a profile or workload name in a long list) names its line in the file."""

    lines, where = {}, "<sweep>"
    if isinstance(source, SweepSpec):
        return source
    if isinstance(source, (str, Path)):
        data, lines = load_sweep(source)
        where = str(source)
    else:
        data = dict(source or {})
    given = {k: v for k, v in axes.items() if v not in (None, (), [], {})}  # an axis not given keeps the file's
    data.update(given)
    lines = {k: v for k, v in lines.items() if k[0].split(".")[0] not in given}  # the file's lines, its axes only
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as err:

        first = next((e for e in err.errors() if e["type"] == "extra_forbidden"), err.errors()[0])
        known = ", ".join(CORE_AXES + OPTION_AXES + ("name", "description", "plan"))
        line = lines.get((str(first["loc"][0]), first["loc"][1])) if len(first["loc"]) > 1 and isinstance(
            first["loc"][1], int) else None
        e = CostsimError.from_validation(err, source=where, unknown=f"unknown axis; known: {known}")
        problem = "an empty list makes an empty grid" if first["type"] == "too_short" else e.problem
        raise CostsimError(problem + (f" (line {line})" if line else ""), source=_file(where), field=e.field) from None

    for i, text in enumerate(spec.strategies):
        if text == "none":
            continue
        parts = text.split("+")
        try:
            if not all(parts):
                raise CostsimError(f"'{text}': an empty strategy in the composition", field="strategies")
            for part in parts:
                parse(part)
        except CostsimError as err:
            line = lines.get(("strategies", i))
            raise CostsimError(err.problem + (f" (line {line})" if line else ""), source=where,
                               field=f"strategies[{i}]") from None
    for axis, what in (("hardware", "hardware"), ("workloads", "workload")):
        for i, ref in enumerate(getattr(spec, axis)):
            name = ref.base if hasattr(ref, "base") else ref
            try:
                resolve(name, what)
            except CostsimError as err:
                line = lines.get((axis, i))
                raise CostsimError(f"{err.problem}" + (f" (line {line})" if line else ""), source=where,
                                   field=f"{axis}[{i}]") from None
    for i, ref in enumerate(spec.hardware):
        if isinstance(ref, WhatIf):
            try:
                _sweep_profile(ref)
            except CostsimError as err:  # the what-if's own change makes it no device: say so at its line
                line = lines.get(("hardware", i))
                raise CostsimError(f"what-if '{ref.name}' on {ref.base}: {err.field or 'profile'}: {err.problem}"
                                   + (f" (line {line})" if line else ""), source=_file(where),
                                   field=f"hardware[{i}]") from None
    for key, values in spec.set.items():
        problem = _set_field_problem(spec, key, values[0])
        if problem is None:
            continue
        if "set" in given or where == "<sweep>":  # an argument, not a file's line
            raise CostsimError(problem, field=f"set.{key}")
        line = lines.get(("set", key))
        raise CostsimError(problem + (f" (line {line})" if line else ""), source=where, field=f"set.{key}")
    return spec


def _set_field_problem(spec: SweepSpec, key: str, value) -> str | None:
    """Why a ``set`` axis's field is no field of the sweep's workloads (or, as ``hardware.<field>``, of its
    devices): a misspelt field is the sweep's error, not a row of problems. Its values are checked at each
    point, as ``estimate`` checks them."""
    on_hardware = key.startswith("hardware.")
    models = [_sweep_profile(ref) for ref in spec.hardware] if on_hardware else \
        [load_workload(ref) for ref in spec.workloads]
    item = f"{key}={value}"
    for model in models:
        data = model.model_dump()
        try:
            apply_overrides(data if on_hardware else None, None if on_hardware else data, [item])
        except CostsimError as err:
            if on_hardware:
                return err.problem
            try:  # a profile's field, named as a workload's
                apply_overrides(_sweep_profile(spec.hardware[0]).model_dump(), None, [item])
            except CostsimError:
                return f"no such field in the workload '{model.name}'"
            return f"no such field in the workload '{model.name}'; a profile's field is set as hardware.{key}"
        try:
            type(model).model_validate(data)
        except ValidationError as err:
            unknown = next((e for e in err.errors() if e["type"] == "extra_forbidden"), None)
            if unknown is not None:
                return f"no such field in the {'profile' if on_hardware else 'workload'} '{model.name}'"
    return None


def _sweep_profile(ref, sets: Iterable[str] = ()):
    """A sweep's device: a profile reference, or a what-if (a base with fields changed), with
    ``hardware.*`` overrides of a ``set`` axis."""

    sets = list(sets)
    if not isinstance(ref, WhatIf):
        return load_profile(ref, sets)
    data, source = raw_profile(ref.base)
    apply_overrides(data, None, [_override(f"hardware.{k}", v) for k, v in ref.set.items()] + sets)
    data["name"] = ref.name
    return finish_profile(data, source)


def evaluate_core(point: dict, plan_mode: str = "dp"):
    """One run-changing point of a sweep: its closed-form run(s), or the reason it cannot run. Module
    level and pure in its inputs, so that worker processes and Dask workers can run it."""

    profile, wl = point["hardware"], point["workload"]  # loaded once per sweep (see sweep_cores)
    base = dict(hardware=profile.name, workload=wl.name, set=point["set"], devices=point["devices"],
                strategy=point["strategy"])
    try:
        hw_sets = [_override(k, v) for k, v in point["set"].items() if k.startswith("hardware.")]
        wl_sets = [_override(k, v) for k, v in point["set"].items() if not k.startswith("hardware.")]
        if hw_sets:
            profile = _sweep_profile(point["hardware_ref"], hw_sets)
        if wl_sets:
            data = wl.model_dump()
            apply_overrides(None, data, wl_sets)
            wl = validate_workload(data, f"<{wl.name}>")
        if not isinstance(profile, ClassicalProfile):
            raise CostsimError(f"'{profile.name}' is a {profile.kind} profile: sweeps price classical devices",
                               field="hardware")
        n = point["devices"]
        prices = {profile.name: (profile.cloud_price_usd_per_hour, profile.purchase_price_usd)}
        if profile.cloud_price_usd_per_hour is None and profile.purchase_price_usd is None:
            # the sweep prices from the phases itself (a price axis may supply one): the estimate only
            # needs some price to run, and its cost is not used
            profile = profile.model_copy(update={"cloud_price_usd_per_hour": 1.0})
        opts = RunOptions(devices=n)
        if plan_mode == "auto":
            opts = opts.model_copy(update={"plan": search(profile, wl, n, "time", opts, 1)[0][0]})
        texts = [] if point["strategy"] in ("none", "") else [t for t in point["strategy"].split("+") if t]
        sc = strat.baseline(profile, wl, opts)
        if texts:
            specs = [strat.parse(t) for t in texts]
            sc = strat.apply_all(sc, specs, load_reference)
        priced = strat.price_phases(sc, estimate_run)
    except CostsimError as err:
        return CoreResult(**base, problem=err.line())
    last = [e for p, e in priced if p.main][-1]
    def phase(p, e):
        cloud, purchase = prices.get(p.profile.name, (p.profile.cloud_price_usd_per_hour, p.profile.purchase_price_usd))
        return Phase(device_s=p.repeats * e.total_time_s * e.devices,
                     it_joules=p.repeats * (e.device_energy_joules + e.host_energy_joules),
                     cloud_price_usd_per_hour=cloud, purchase_price_usd=purchase, name=p.profile.name,
                     own=p.profile.name in prices)

    phases = tuple(phase(p, e) for p, e in priced)
    return CoreResult(**base, total_time_s=math.fsum(p.repeats * e.total_time_s for p, e in priced),
                      step_time_s=last.step_time_s, peak_memory_bytes=max(e.peak_memory_bytes for _, e in priced),
                      mfu_fraction=last.mfu_fraction, samples_per_s=last.samples_per_s, tokens_per_s=last.tokens_per_s,
                      plan=last.plan, phases=phases)


def sweep_cores(spec, *, workers: int = 1, executor: str = "local", scheduler: str | None = None,
                timeout_s: float = SCHEDULER_TIMEOUT_S):
    """The sweep's core points evaluated in grid order, yielded one by one: in this process, in
    ``workers`` processes, or on a Dask cluster, :data:`CORES_PER_BATCH` points at a time (so that
    memory does not grow with the grid). The results do not depend on where they ran."""
    profiles = {id(ref): _sweep_profile(ref) for ref in spec.hardware}
    workloads = {ref: load_workload(ref) for ref in spec.workloads}
    points = (({**p, "hardware_ref": p["hardware"], "hardware": profiles[id(p["hardware"])],
                "workload": workloads[p["workload"]]}, spec.plan) for p in spec.iter_core_points())
    mapper = _mapper(workers if spec.core_count() > 1 else 1, executor, scheduler, timeout_s)
    if mapper is None:
        yield from (evaluate_core(*p) for p in points)
        return
    while batch := list(itertools.islice(points, CORES_PER_BATCH)):
        yield from mapper(evaluate_core, batch)


CORES_PER_BATCH = 10_000


def sweep_batches(spec, *, max_scenarios: int = MAX_SCENARIOS, progress=None, workers: int = 1,
                  executor: str = "local", scheduler: str | None = None, timeout_s: float = SCHEDULER_TIMEOUT_S):
    """The rows of a sweep (a :class:`SweepSpec`), in grid order and in lists of at most
    :data:`ROWS_PER_BATCH`, made as they are asked for: nothing holds them all, so a file they are written
    to as they come grows and memory does not. The grid is counted first: one over ``max_scenarios`` is a
    one-line error before anything runs. ``progress(done, total)`` is called after each core point."""
    check_size(spec, max_scenarios)
    cores = sweep_cores(spec, workers=workers, executor=executor, scheduler=scheduler, timeout_s=timeout_s)
    return _batches(spec, cores, progress)


def _batches(spec, cores, progress):
    total = spec.core_count()
    small = spec.option_grid() if spec.option_count() <= ROWS_PER_BATCH else None  # built once, reused
    for i, core in enumerate(cores, 1):
        for grid in [small] if small is not None else spec.option_batches():
            yield expand(core, grid)
        if progress:
            progress(i, total)


class SweepResult(Strict):
    """``costsim sweep``: one row per scenario, inputs and outputs as columns (units in the names).

    Attributes:
        name: the sweep's name (from its file or spec).
        rows: one dict per scenario, in grid order: its inputs (hardware, workload, devices, strategy, region,
            pricing, ...) and outputs (total_time_s, cost_usd, co2_kg, energy_joules, ...: the unit is in each
            column's name), or its ``problem`` where it could not be run or priced.
    """

    name: str
    rows: tuple[dict, ...]

    def to_dict(self) -> dict:
        """The name and every row as plain data."""
        return self.model_dump()

    def table(self, fmt: str = "csv") -> str:
        """The rows as text: csv (the default), json, jsonl, markdown or latex."""

        return sweep_text(list(self.rows), fmt)


def sweep(source=None, *, workers: int = 1, executor: str = "local", scheduler: str | None = None,
          timeout_s: float = SCHEDULER_TIMEOUT_S, progress=None, max_scenarios: int = MAX_SCENARIOS,
          **axes) -> SweepResult:
    """Evaluate a sweep (a file, a dict or keyword axes) and return every row. ``progress(done, total)``
    is called after each core point. A grid of more than ``max_scenarios`` rows is refused before it runs
    (:data:`MAX_SCENARIOS` unless raised): the rows are held in memory, about 1.9 kB each."""

    spec = sweep_spec(source, **axes)
    rows = []
    for batch in sweep_batches(spec, max_scenarios=max_scenarios, progress=progress, workers=workers,
                               executor=executor, scheduler=scheduler, timeout_s=timeout_s):
        rows.extend(batch)
    return SweepResult(name=spec.name, rows=tuple(rows))
