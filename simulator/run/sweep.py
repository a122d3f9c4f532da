"""Sweeps: a grid of scenarios, evaluated as (few) closed-form runs and (many) option points.

A sweep names axes: devices' profiles (and what-if variants), workloads and field values, device
counts, strategies, grids (regions or intensities), PUEs, pricings and prices. The axes that change the
run itself (hardware, workload, fields, devices, strategy) make the *core* points, each one closed-form
scenario. The rest only change how the run's device-seconds and IT energy are priced, which is
arithmetic: every core point's quantities are expanded over the option grid with numpy, so a sweep of
100,000 scenarios costs a few thousand estimates. Every row equals what ``estimate`` gives for the
same point (tested).
"""
from __future__ import annotations

import itertools
import math
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, field_validator
from pydantic import Strict as PydanticStrict

from ..errors import CostsimError
from ..model.finite import extreme_inputs
from ..schema.hardware import Input, NonNegativeFloat, PositiveFloat, PositiveInt, Strict
from ..schema.regions import (
    DEFAULT_ELECTRICITY_USD_PER_KWH,
    DEFAULT_LIFETIME_YEARS,
    DEFAULT_PUE,
    DEFAULT_REGION,
    GRID_G_CO2_PER_KWH,
    PUE,
)
from ..units import SECONDS_PER_HOUR, SECONDS_PER_YEAR, kg_co2_per_joule, usd_per_joule

# the largest grid run unless asked (``max_scenarios``): a million rows take about 2 GB held in memory
# (``sweep``'s result; measured: about 1.9 kB a row) and 175 MB as CSV (about 175 bytes a row); streamed
# to a file (``costsim sweep --out``), memory stays flat whatever the size
MAX_SCENARIOS = 1_000_000
HELD_BYTES_PER_ROW = 1_900
CSV_BYTES_PER_ROW = 175
# rows are made (and written) in batches of at most this many: a few MB at a time, whatever the grid
ROWS_PER_BATCH = 2_000

CORE_AXES = ("hardware", "workloads", "set", "devices", "strategies")
OPTION_AXES = ("regions", "grid_g_co2_per_kwh", "pue", "pricing", "cloud_price_usd_per_hour",
               "electricity_usd_per_kwh", "lifetime_years")


class WhatIf(Input):
    """A derived device: a profile with fields changed (``*2`` scales)."""

    name: str
    base: str
    set: dict[str, str | float | int]


class SweepSpec(Input):
    """The grid. Every list is an axis; a scenario is one value of each (their product)."""

    name: str = "sweep"
    description: str = ""
    hardware: tuple[str | WhatIf, ...] = Field(strict=False, min_length=1)
    workloads: tuple[str, ...] = Field(strict=False, min_length=1)
    set: dict[str, Annotated[tuple[str | float | int, ...], PydanticStrict(False)]] = Field(
        default_factory=dict, description="workload fields (or hardware.<field>) and their values, e.g. layers")
    devices: tuple[PositiveInt, ...] = Field(strict=False, default=(1,), min_length=1)
    strategies: tuple[str, ...] = Field(strict=False, default=("none",), min_length=1)
    plan: Literal["dp", "auto"] = "dp"
    regions: tuple[str, ...] = Field(default=(), strict=False)
    grid_g_co2_per_kwh: tuple[PositiveFloat, ...] = Field(default=(), strict=False)
    pue: tuple[float, ...] = Field(default=(), strict=False)
    pricing: tuple[Literal["auto", "cloud", "owned"], ...] = Field(strict=False, default=("auto",), min_length=1)
    cloud_price_usd_per_hour: tuple[PositiveFloat, ...] = Field(default=(), strict=False)
    electricity_usd_per_kwh: tuple[NonNegativeFloat, ...] = Field(default=(), strict=False)
    lifetime_years: tuple[PositiveFloat, ...] = Field(default=(), strict=False)

    @field_validator("set")
    @classmethod
    def _non_empty_values(cls, v):
        for key, values in v.items():
            if not values:
                raise ValueError(f"{key}: an empty list makes an empty grid")
            for value in values:
                if isinstance(value, float) and not math.isfinite(value):
                    raise ValueError(f"{key}: {value} is not a finite number")
        return v

    @field_validator("regions")
    @classmethod
    def _known_regions(cls, v):
        for r in v:
            if r not in GRID_G_CO2_PER_KWH:
                raise ValueError(f"unknown region '{r}'; known: {', '.join(GRID_G_CO2_PER_KWH)}")
        return v

    @field_validator("pue")
    @classmethod
    def _pue_at_least_one(cls, v):
        if any(not (math.isfinite(p) and p >= 1) for p in v):
            raise ValueError("a PUE is at least 1")
        return v

    def core_count(self) -> int:
        """How many run-changing points the grid has (their product, counted, not built)."""
        return math.prod([len(self.hardware), len(self.workloads), *(len(v) for v in self.set.values()),
                          len(self.devices), len(self.strategies)])

    def option_count(self) -> int:
        """How many option points each run is priced at (the product of the option axes)."""
        return math.prod(len(axis) for axis in self._option_axes())

    def scenario_count(self) -> int:
        """The grid's size: one row per scenario, core points x option points."""
        return self.core_count() * self.option_count()

    def axis_sizes(self) -> list[tuple[str, int]]:
        """Each axis with its length, in column order (the option axes as the grid expands them)."""
        grids = " + ".join(a for a in ("regions", "grid_g_co2_per_kwh") if getattr(self, a)) or "regions"
        names = (grids, "pue", "pricing", "cloud_price_usd_per_hour", "electricity_usd_per_kwh", "lifetime_years")
        return ([("hardware", len(self.hardware)), ("workloads", len(self.workloads))]
                + [(f"set.{k}", len(v)) for k, v in self.set.items()]
                + [("devices", len(self.devices)), ("strategies", len(self.strategies))]
                + list(zip(names, (len(a) for a in self._option_axes()))))

    def iter_core_points(self):
        """One dict per run-changing combination, in grid order, made as they are asked for."""
        keys = list(self.set)  # one product over every axis (a product of products would build the inner one)
        for hw, wl, *combo, n, s in itertools.product(self.hardware, self.workloads, *self.set.values(),
                                                      self.devices, self.strategies):
            yield {"hardware": hw, "workload": wl, "set": dict(zip(keys, combo)), "devices": n, "strategy": s}

    def core_points(self) -> list[dict]:
        """Every run-changing combination, in grid order, as a list (:meth:`iter_core_points` makes them
        one by one)."""
        return list(self.iter_core_points())

    def _option_axes(self) -> list[list]:
        # (region name or None, gCO2e/kWh): a region axis, an intensity axis, or the default region
        grids = ([(r, GRID_G_CO2_PER_KWH[r][0]) for r in self.regions] +
                 [(None, g) for g in self.grid_g_co2_per_kwh]) or [(DEFAULT_REGION,
                                                                     GRID_G_CO2_PER_KWH[DEFAULT_REGION][0])]
        return [grids, list(self.pue) or [DEFAULT_PUE], list(self.pricing),
                list(self.cloud_price_usd_per_hour) or [None],
                list(self.electricity_usd_per_kwh) or [DEFAULT_ELECTRICITY_USD_PER_KWH],
                list(self.lifetime_years) or [DEFAULT_LIFETIME_YEARS]]

    def option_grid(self) -> dict[str, np.ndarray | list]:
        """The option axes as aligned columns (their product), with the defaults where an axis is absent."""
        return _grid_columns(list(itertools.product(*self._option_axes())))

    def option_batches(self, size: int = ROWS_PER_BATCH):
        """The option grid as :meth:`option_grid` gives it, in aligned pieces of at most ``size`` points
        (in grid order), made as they are asked for: memory does not grow with the grid."""
        points = itertools.product(*self._option_axes())
        while batch := list(itertools.islice(points, size)):
            yield _grid_columns(batch)


def _grid_columns(rows: list[tuple]) -> dict[str, np.ndarray | list]:
    """Option points (grid, PUE, pricing, price, electricity price, lifetime) as aligned columns."""
    return {"region": [r[0][0] for r in rows], "grid_g_co2_per_kwh": [r[0][1] for r in rows],
            "grid_kg_co2_per_joule": np.array([kg_co2_per_joule(r[0][1]) for r in rows]),
            "pue": np.array([r[1] for r in rows], float), "pricing": [r[2] for r in rows],
            "price_override": [r[3] for r in rows],
            "electricity_usd_per_joule": np.array([usd_per_joule(r[4]) for r in rows]),
            "lifetime_s": np.array([r[5] * SECONDS_PER_YEAR for r in rows]),
            "electricity_usd_per_kwh": [r[4] for r in rows], "lifetime_years": [r[5] for r in rows]}


def _bytes_text(n: float) -> str:
    """A byte count in words: 1.9 GB, 350 MB, 12 TB."""
    for unit, size in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.2g} {unit}" if n / size < 10 else f"{n / size:,.0f} {unit}"
    return f"{n:.0f} B"


def check_size(spec: SweepSpec, max_scenarios: int = MAX_SCENARIOS) -> int:
    """The grid's scenario count, counted before anything runs; above ``max_scenarios`` a one-line error
    with the count, the axes that make it and the memory its rows would need (held, as ``sweep`` returns
    them) and the size of its CSV (streamed, as ``costsim sweep --out`` writes it)."""
    n = spec.scenario_count()
    if n <= max_scenarios:
        return n
    axes = " x ".join(f"{size:,} {name}" for name, size in spec.axis_sizes() if size > 1)
    raise CostsimError(f"the grid has {n:,} scenarios ({axes}), over the limit of {max_scenarios:,} (its rows: "
                       f"about {_bytes_text(n * CSV_BYTES_PER_ROW)} as CSV, {_bytes_text(n * HELD_BYTES_PER_ROW)} "
                       f"held in memory); raise the limit to run it, or shorten an axis", field="max_scenarios")


PUE_CLASSES = dict(PUE)


class Phase(Strict):
    """What pricing needs of one run of a core point: device-seconds, IT energy (devices and hosts,
    before PUE), and the device's prices."""

    device_s: float
    it_joules: float
    cloud_price_usd_per_hour: float | None
    purchase_price_usd: float | None
    name: str
    own: bool = True    # on the row's own device: a price axis overrides its cloud price


class CoreResult(Strict):
    """One run-changing point evaluated: what every option row needs, or the reason it cannot run."""

    hardware: str
    workload: str
    set: dict
    devices: int
    strategy: str
    total_time_s: float | None = None
    step_time_s: float | None = None
    peak_memory_bytes: float | None = None
    mfu_fraction: float | None = None
    samples_per_s: float | None = None
    tokens_per_s: float | None = None
    plan: str | None = None
    phases: tuple[Phase, ...] = ()
    problem: str | None = None


# the outputs, named as in ``costsim estimate --format json`` and holding what it gives at the same point
# (``pricing``: the mode that priced the run, "cloud" or "owned"; with a strategy whose phases are priced
# differently, both joined by "+")
OUTPUT_COLUMNS = ("total_time_s", "device_hours", "energy_joules", "cost_usd", "co2_kg", "pricing", "step_time_s",
                  "peak_memory_bytes", "mfu_fraction", "samples_per_s", "tokens_per_s", "plan")
# the option inputs: region (None where the grid was given as an intensity), the intensity used, the PUE,
# the pricing asked for (auto, cloud or owned) and the prices
OPTION_COLUMNS = ("region", "grid_g_co2_per_kwh", "pue", "pricing_requested", "cloud_price_usd_per_hour",
                  "electricity_usd_per_kwh", "lifetime_years")


def expand(core: CoreResult, grid: dict) -> list[dict]:
    """The option rows of one core point: energy = IT x PUE; CO2 = energy x grid; cost = device-hours x
    price (cloud) or purchase x device-seconds / lifetime + energy x electricity price (owned). The same
    arithmetic as ``estimate.run_cost`` and ``estimate_run``'s totals, over arrays."""
    n = len(grid["pue"])
    inputs = [{"hardware": core.hardware, "workload": core.workload, **{f"set.{k}": v for k, v in core.set.items()},
               "devices": core.devices, "strategy": core.strategy, "region": grid["region"][i],
               "grid_g_co2_per_kwh": grid["grid_g_co2_per_kwh"][i], "pue": float(grid["pue"][i]),
               "pricing_requested": grid["pricing"][i],
               "cloud_price_usd_per_hour": grid["price_override"][i],
               "electricity_usd_per_kwh": grid["electricity_usd_per_kwh"][i],
               "lifetime_years": grid["lifetime_years"][i]} for i in range(n)]
    if core.problem is not None:
        return [{**row, **dict.fromkeys(OUTPUT_COLUMNS), "problem": core.problem} for row in inputs]
    pue = grid["pue"]
    cost = np.zeros(n)
    energy = np.zeros(n)
    used: list[set] = [set() for _ in range(n)]
    problems: list[str | None] = [None] * n
    with np.errstate(over="ignore", invalid="ignore"):  # an extreme option: refused per row below
        for ph in core.phases:
            e = ph.it_joules * pue
            energy += e
            for i in range(n):
                price = (grid["price_override"][i] if ph.own else None) or ph.cloud_price_usd_per_hour
                mode = grid["pricing"][i]
                if mode == "auto":
                    mode = "cloud" if price is not None else "owned"
                if mode == "cloud" and price is not None:
                    cost[i] += ph.device_s / SECONDS_PER_HOUR * price
                elif mode == "owned" and ph.purchase_price_usd is not None:
                    cost[i] += (ph.purchase_price_usd * ph.device_s / grid["lifetime_s"][i]
                                + e[i] * grid["electricity_usd_per_joule"][i])
                else:
                    problems[i] = f"{ph.name} has no {'cloud' if mode == 'cloud' else 'purchase'} price"
                used[i].add(mode)
        co2 = energy * grid["grid_kg_co2_per_joule"]
    device_hours = sum(ph.device_s for ph in core.phases) / SECONDS_PER_HOUR
    out = []
    for i, row in enumerate(inputs):
        bad = [name for name, v in (("energy_joules", energy[i]), ("cost_usd", cost[i]), ("co2_kg", co2[i]))
               if not math.isfinite(v)]
        if bad and not problems[i]:
            name, value, _ = extreme_inputs({k: row[k] for k in OPTION_COLUMNS if isinstance(row[k], (int, float))})[0]
            verb = "comes" if len(bad) == 1 else "come"
            problems[i] = f"{' and '.join(bad)} {verb} out infinite: {name} {value:g} is out of range"
        if problems[i]:
            out.append({**row, **dict.fromkeys(OUTPUT_COLUMNS), "problem": problems[i]})
            continue
        out.append({**row, "total_time_s": core.total_time_s, "device_hours": device_hours,
                    "energy_joules": float(energy[i]), "cost_usd": float(cost[i]), "co2_kg": float(co2[i]),
                    "pricing": "+".join(sorted(used[i])), "step_time_s": core.step_time_s,
                    "peak_memory_bytes": core.peak_memory_bytes, "mfu_fraction": core.mfu_fraction,
                    "samples_per_s": core.samples_per_s, "tokens_per_s": core.tokens_per_s, "plan": core.plan,
                    "problem": None})
    return out


def pue_value(value) -> float:
    """A PUE given as a number or a facility class."""
    if isinstance(value, str):
        if value not in PUE_CLASSES:
            raise CostsimError(f"unknown facility class '{value}'; known: {', '.join(PUE_CLASSES)}", field="pue")
        return PUE_CLASSES[value][0]
    return float(value)


def columns(set_keys) -> list[str]:
    """The tidy table's columns: inputs, then outputs (units in the names), then the problem."""
    return (["hardware", "workload"] + [f"set.{k}" for k in set_keys] +
            ["devices", "strategy"] + list(OPTION_COLUMNS) + list(OUTPUT_COLUMNS) + ["problem"])
