"""Computational limits: what reaching a target error (or a language-model loss) costs, priced on
real hardware profiles rather than with a fixed dollars-per-FLOP ratio.

The compute a target needs comes from a scaling fit (``simulator/analysis/scaling.py``) or a scaling law
(``simulator/analysis/scaling_laws.py``). It is priced as training a reference workload of the benchmark's kind
for as many steps as that compute takes: one closed-form estimate per device, whose totals are linear
in the number of steps, scaled to the compute (and to the ends of its interval). Strategies are priced
as their ratio to the baseline on the same reference run.
"""
from __future__ import annotations

import math

from ..errors import CostsimError
from ..model.finite import guarded, require_finite
from ..schema.hardware import Strict
from ..units import KG_PER_POUND

# each benchmark's compute is priced as training this bundled workload (its kind of model) for as long
REFERENCE_WORKLOAD = {"imagenet": "resnet50-imagenet", "coco": "resnet50-imagenet", "squad": "gpt-1.3b",
                      "conll": "gpt-1.3b", "wmt_en_fr": "gpt-1.3b", "wmt_en_de": "gpt-1.3b"}
# samples per device of the reference run (its global batch is this times the devices)
BATCH_PER_DEVICE = {"resnet50-imagenet": 32, "gpt-1.3b": 8}
# the thompson web app's fixed conversions, shown beside the simulator's (FLOPs per dollar, per pound CO2)
WEB_APP_FLOPS_PER_USD = 6.874e16
WEB_APP_FLOPS_PER_LB_CO2 = 3.498e17
TOTALS = ("time_s", "energy_joules", "cost_usd", "co2_kg")


class PricedCompute(Strict):
    """One amount of training compute priced on one device type (``devices`` of them).

    Attributes:
        label: the target ("imagenet top-1 error 0.05") or the loss or compute budget priced.
        compute_flops: the training compute, FLOPs.
        compute_low_flops, compute_high_flops: its 95 % interval, FLOPs; None: unbounded or not given.
        hardware: the device type's name.
        devices: how many devices the run uses.
        workload: the workload the compute is priced as (its steps scaled to the compute).
        time_s: training time, s; None where the run could not be estimated (see ``problem``).
        energy_joules: the run's whole energy, J (device + host + facility overhead, as the estimate's).
        cost_usd: cost, US dollars.
        co2_kg: emissions, kg CO2.
        cost_low_usd, cost_high_usd: the cost at the compute interval's ends, US dollars.
        strategy_cost_usd: strategy -> the cost under it, US dollars (its cost ratio on the reference run).
        problem: why the device could not be priced (one line); None when it was.
    """

    label: str                      # the target ("imagenet top-1 error 5%") or loss
    compute_flops: float
    compute_low_flops: float | None
    compute_high_flops: float | None
    hardware: str
    devices: int
    workload: str                   # what the compute is priced as
    time_s: float | None
    energy_joules: float | None
    cost_usd: float | None
    co2_kg: float | None
    cost_low_usd: float | None
    cost_high_usd: float | None
    strategy_cost_usd: dict[str, float]
    problem: str | None = None


def pricing_fit(fits, benchmark: str):
    """The fit the costs use: FLOPs the networks executed (network operations, polynomial, all models)
    where the benchmark reports them, else the headline fit on hardware burden (compute bought at peak:
    priced as executed FLOPs it is an upper bound)."""
    chosen = [f for f in fits if f.benchmark == benchmark and f.compute_measure == "network_operations"
              and f.model == "polynomial" and f.subset == "all"]
    chosen = chosen or [f for f in fits if f.benchmark == benchmark and f.headline]
    if not chosen:
        raise CostsimError(f"no usable fit for benchmark '{benchmark}'", field="benchmark")
    return chosen[0]


def price_compute(label: str, compute_flops: float, low: float | None, high: float | None, profile, workload,
                  devices: int, estimate_fn, strategy_ratios: dict[str, float] | None = None,
                  exact: bool = False, field: str = "targets") -> PricedCompute:
    """``compute_flops`` of training priced as steps of ``workload`` on ``devices`` x ``profile``: the
    estimate's totals scaled from its own steps to the steps the compute takes (all totals are linear
    in steps: device-hours, energy, rental or amortisation, carbon). ``exact``: the workload already is
    the run (a scaling law's model), priced as it is. Every figure is finite, or the compute is refused
    naming ``field``, the parameter it came from."""
    base = dict(label=label, compute_flops=compute_flops, compute_low_flops=low, compute_high_flops=high,
                hardware=profile.name, devices=devices, workload=workload.name)
    try:
        e = estimate_fn(profile, workload, devices)
    except CostsimError as err:
        return PricedCompute(**base, **dict.fromkeys(TOTALS), cost_low_usd=None, cost_high_usd=None,
                             strategy_cost_usd={}, problem=err.line())
    what, inputs = f"{label or 'the compute'} priced on {profile.name}", {field: compute_flops}
    with guarded(what, inputs):
        scale = 1.0 if exact else compute_flops / (e.model_flops_per_step * e.steps)
        totals = {"time_s": e.total_time_s * scale, "energy_joules": e.energy_joules * scale,
                  "cost_usd": e.cost_usd * scale, "co2_kg": e.co2_kg * scale}
        per_flop = totals["cost_usd"] / compute_flops
        numbers = dict(**totals, cost_low_usd=low * per_flop if low else None,
                       cost_high_usd=high * per_flop if high else None,
                       strategy_cost_usd={k: r * totals["cost_usd"] for k, r in (strategy_ratios or {}).items()})
    return PricedCompute(**base, **require_finite(numbers, what, inputs, cause=field))


def web_app_figures(compute_flops: float) -> tuple[float, float]:
    """Dollars and kg of CO2 by the MIT FutureTech web app's fixed ratios, for comparison."""
    return compute_flops / WEB_APP_FLOPS_PER_USD, compute_flops / WEB_APP_FLOPS_PER_LB_CO2 * KG_PER_POUND


def target_label(benchmark: str, metric: str, target: float) -> str:
    """A priced row's label: benchmark, metric and target error ("imagenet top-1 error 0.05")."""
    return f"{benchmark} {metric} {target:g}"


def check_targets(targets) -> None:
    """Refuse a target error that is not a fraction in (0, 1) (field ``targets``)."""
    for t in targets:
        if not (isinstance(t, (int, float)) and math.isfinite(t) and 0 < t < 1):
            raise CostsimError(f"target error must be a fraction in (0, 1), got {t!r}", field="targets")
