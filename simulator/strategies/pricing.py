"""Pricing a scenario: every phase estimated and paid its repeats, the totals and ratios to the baseline,
the size of the model as deployed, and each strategy's break-even figures."""
from __future__ import annotations

import math

from ..model.memory import parameter_count
from ..model.ops import PRECISIONS, sparse_storage_fraction
from ..model.transformer import block_linears, device_parameters
from ..schema.hardware import Strict
from ..schema.workload import TransformerWorkload
from .scenario import Phase, Scenario


class PhaseCost(Strict):
    """One phase of a scenario priced, its repeats paid.

    Attributes:
        label: what the run is (the training, a retraining, a search...).
        hardware: the profile's name.
        workload: the workload's name.
        devices: devices in the run.
        plan: the plan's label.
        repeats: how many times the run is paid, in runs of the workload's steps.
        main: True for the training whose model is the result, False for an overhead run.
        time_s: seconds of the phase, repeats x the run's total time.
        energy_joules: joules of the phase (device, host and facility), repeats x the run's.
        cost_usd: US dollars of the phase, repeats x the run's.
        co2_kg: kilograms of CO2e of the phase, repeats x the run's.
        peak_memory_bytes: peak bytes per device of the run.
        step_time_s: seconds per training step of the run.
        pricing: how the phase's cost was priced: cloud, owned or electricity.
    """

    label: str
    hardware: str
    workload: str
    devices: int
    plan: str
    repeats: float
    main: bool
    time_s: float
    energy_joules: float
    cost_usd: float
    co2_kg: float
    peak_memory_bytes: float
    step_time_s: float
    pricing: str


class StrategyRow(Strict):
    """One scenario priced: totals (the sums of its phases), ratios to the baseline row, and what the
    result rests on.

    Attributes:
        label: 'baseline', or the strategy texts joined by ' + '.
        strategies: the strategy texts applied, in order.
        time_s: seconds, the sum over the phases.
        energy_joules: joules, the sum over the phases.
        cost_usd: US dollars, the sum over the phases.
        co2_kg: kilograms of CO2e, the sum over the phases.
        peak_memory_bytes: the largest peak bytes per device of any phase.
        model_bytes: bytes of the trained model as deployed (:func:`model_bytes`).
        pricing: how the phases were priced (cloud, owned, electricity; 'a+b' when they differ).
        time_ratio: time_s over the baseline's (1 for the baseline).
        energy_ratio: energy_joules over the baseline's.
        cost_ratio: cost_usd over the baseline's.
        co2_ratio: co2_kg over the baseline's.
        phases: each phase priced.
        analysis: the strategies' break-even figures (NAS: search cost, break-even trainings; transfer:
            from-scratch cost, break-even tasks), in US dollars, kilograms of CO2e or counts.
        assumptions: what the result rests on, one sentence each (each strategy's quality assumption first).
        warnings: where a strategy or a device could not do what was asked, and what was priced instead.
    """

    label: str
    strategies: tuple[str, ...]
    time_s: float
    energy_joules: float
    cost_usd: float
    co2_kg: float
    peak_memory_bytes: float
    model_bytes: float
    pricing: str
    time_ratio: float
    energy_ratio: float
    cost_ratio: float
    co2_ratio: float
    phases: tuple[PhaseCost, ...]
    analysis: dict[str, float | str | None]
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict:
        """The row as plain data."""
        return self.model_dump()


TOTALS = ("time_s", "energy_joules", "cost_usd", "co2_kg")


def price_phases(sc: Scenario, estimate_fn) -> list[tuple[Phase, object]]:
    """(phase, ``estimate_fn(profile, workload, options)``: its Estimate) for every phase, once each."""
    return [(p, estimate_fn(p.profile, p.workload, p.options)) for p in sc.phases]


def _phase_cost(p: Phase, e) -> PhaseCost:
    return PhaseCost(label=p.label, hardware=p.profile.name, workload=p.workload.name, devices=e.devices, plan=e.plan,
                     repeats=p.repeats, main=p.main, time_s=p.repeats * e.total_time_s,
                     energy_joules=p.repeats * e.energy_joules, cost_usd=p.repeats * e.cost_usd,
                     co2_kg=p.repeats * e.co2_kg, peak_memory_bytes=e.peak_memory_bytes, step_time_s=e.step_time_s,
                     pricing=e.pricing)


def model_bytes(workload, bytes_per_param: float | None = None, sparsity: tuple[str, float] | None = None) -> float:
    """Bytes of the trained model as deployed: its parameters (LoRA adapters merged into the base) in
    the training's matrix type, or the integer width of a quantization-aware fine-tuning, with pruned
    weights (``sparsity``: pattern and density, whether or not training ran them sparse) in their
    compressed format."""
    width = bytes_per_param or PRECISIONS[workload.training.precision].act_bytes
    if not isinstance(workload, TransformerWorkload):  # every weight taken as pruned
        return parameter_count(workload) * width * (sparse_storage_fraction(*sparsity, width) if sparsity else 1.0)
    params = device_parameters(workload)
    v = workload.variant
    base = params["frozen"] if v.lora_rank else params["total"]
    if sparsity is None:
        return base * width
    first = workload.encoder_layers  # an encoder-decoder's encoder layers have no cross-attention
    pruned = sum(n * sum(c * i * o for i, o, c in block_linears(workload, dense_layer=kind))
                 for n, kind in ((workload.layers - first, False), (first, True)) if n)
    return (base - pruned * (1 - sparse_storage_fraction(*sparsity, width))) * width


def _analysis(sc: Scenario, costs: list[PhaseCost]) -> dict:
    out: dict[str, float | str | None] = {}
    main = {k: math.fsum(c.model_dump()[k] for c in costs if c.main) for k in TOTALS}
    over = [c for c in costs if not c.main]
    for spec, a in sc.analyses:
        out.update(spec.strategy.break_even(a, main, over))
    return out


def price(sc: Scenario, estimate_fn, label: str, baseline: StrategyRow | None = None) -> StrategyRow:
    """Price every phase and sum them; ratios against ``baseline`` (1 for the baseline itself)."""
    priced = price_phases(sc, estimate_fn)
    costs = [_phase_cost(p, e) for p, e in priced]
    totals = {k: math.fsum(getattr(c, k) for c in costs) for k in TOTALS}
    ratios = {f"{k.split('_')[0]}_ratio": (totals[k] / getattr(baseline, k) if baseline else 1.0) for k in TOTALS}
    last_main = sc.mains[-1]
    warnings = list(sc.warnings) + [w for _, e in priced for w in e.warnings]
    low = {"fp8_mixed": "fp8", "mxfp8_mixed": "fp8", "fp4_mixed": "fp4"}
    for kind in dict.fromkeys(low[p.workload.training.precision] for p in sc.phases
                              if p.workload.variant.sparsity == "2:4" and p.workload.training.precision in low):
        warnings.append(f"2:4 at {kind}: the sparse curve measured at 16 bits is applied at the {kind} peak "
                        "(not measured)")
    return StrategyRow(label=label, strategies=sc.applied, **totals, **ratios,
                       peak_memory_bytes=max(c.peak_memory_bytes for c in costs),
                       pricing="+".join(dict.fromkeys(c.pricing for c in costs)),
                       model_bytes=model_bytes(last_main.workload, sc.deploy_bytes_per_param, sc.deploy_sparsity),
                       phases=tuple(costs), analysis=_analysis(sc, costs), assumptions=sc.assumptions,
                       warnings=tuple(dict.fromkeys(warnings)))

