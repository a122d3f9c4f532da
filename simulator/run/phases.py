"""A training run in phases (``training.phases``): a batch-size ramp, short- then long-context stages, a
fine-tuning stage. Each phase is a run of its own (its tokens, sequence length, global batch and plan),
estimated in closed form; the whole run adds them up. Per-step figures of the whole run are means over
its steps (a breakdown that still adds up to its mean step time); per-phase figures stay in ``phases``.
"""
from __future__ import annotations

import math

from ..errors import CostsimError
from ..schema.plan import Plan, parse_plan
from ..schema.workload import TransformerWorkload

AUTO = "auto"


def phased(workload) -> bool:
    """Whether ``workload`` is trained in phases."""
    return isinstance(workload, TransformerWorkload) and bool(workload.training.phases)


def phase_workloads(workload: TransformerWorkload) -> list:
    """(phase, the workload of that phase alone) for each phase, in order: its tokens, sequence length
    and global batch (the workload's where the phase gives none), no phases of its own."""
    t = workload.training
    out = []
    for ph in t.phases:
        training = t.model_copy(update={"tokens": ph.end_tokens - ph.start_tokens, "phases": None,
                                        "global_batch_size": ph.global_batch_size or t.global_batch_size})
        out.append((ph, workload.model_copy(update={"seq_len": ph.seq_len or workload.seq_len,
                                                    "training": training})))
    return out


def where(index: int, phase) -> str:
    """How errors and notes name phase ``index``."""
    return f"training.phases[{index}] ('{phase.name}')"


def phase_plan(index: int, phase, default: Plan | None) -> Plan | None:
    """The plan phase ``index`` runs: its own (plan items), else ``default`` (the run's)."""
    if phase.plan is None:
        return default
    if phase.plan == AUTO:
        raise CostsimError(f"{where(index, phase)}: plan auto is searched before the estimate (the API's estimate "
                           f"does it); give plan items here", field="training.phases")
    try:
        return parse_plan(phase.plan)
    except CostsimError as err:
        raise CostsimError(f"{where(index, phase)}: plan: {err.problem}", field="training.phases") from None


def _mean(runs, value) -> float:
    steps = sum(e.steps for _, e in runs)
    return math.fsum(value(e) * e.steps for _, e in runs) / steps


def combined_fields(workload: TransformerWorkload, runs: list) -> dict:
    """The whole run's estimate fields from (phase, Estimate) ``runs``: totals summed, per-step figures
    averaged over all steps, the peak memory the largest phase's, each phase kept in ``phases``."""
    steps = sum(e.steps for _, e in runs)
    total_s = math.fsum(e.total_time_s for _, e in runs)
    biggest = max(runs, key=lambda pe: pe[1].peak_memory_bytes)[1]
    longest = max(runs, key=lambda pe: pe[1].total_time_s)[1]
    keys = ("time_s", "device_energy_joules", "flops", "bytes", "kernels")
    breakdown = {c: {k: _mean(runs, lambda e, c=c, k=k: getattr(e.breakdown[c], k)) for k in keys}
                 for c in runs[0][1].breakdown}
    model_flops = math.fsum(e.model_flops_per_step * e.steps for _, e in runs)
    device_step_j = math.fsum(e.device_energy_per_step_joules * e.steps for _, e in runs)
    sums = {k: math.fsum(getattr(e, k) for _, e in runs) for k in (
        "device_hours", "device_energy_joules", "host_energy_joules", "facility_overhead_joules", "energy_joules",
        "cost_usd", "co2_kg")}
    tokens = math.fsum(e.tokens_per_s * e.total_time_s for _, e in runs)
    samples = math.fsum(e.samples_per_s * e.total_time_s for _, e in runs)
    note = "training in {} phases ({}), each estimated as its own run and added up".format(
        len(runs), "; ".join(f"{ph.name}: {e.plan}, {e.steps:,.0f} steps of {e.step_time_s:.3g} s" for ph, e in runs))
    return dict(
        hardware=longest.hardware, workload=workload.name, devices=longest.devices,
        plan="; ".join(f"{ph.name}: {e.plan}" for ph, e in runs),
        batch_per_device=_mean(runs, lambda e: e.batch_per_device), micro_batch_size=longest.micro_batch_size,
        steps=steps, step_time_s=total_s / steps, total_time_s=total_s, tokens_per_s=tokens / total_s,
        images_per_s=None, samples_per_s=samples / total_s, model_flops_per_step=model_flops / steps,
        executed_flops_per_step=_mean(runs, lambda e: e.executed_flops_per_step),
        achieved_flops_per_s=model_flops / total_s,
        mfu_fraction=math.fsum(e.mfu_fraction * e.total_time_s for _, e in runs) / total_s,
        device_energy_per_step_joules=device_step_j / steps, average_device_power_watts=device_step_j / total_s,
        pricing=longest.pricing,
        cost_breakdown={k: math.fsum(e.cost_breakdown[k] for _, e in runs) for k in longest.cost_breakdown},
        peak_memory_bytes=biggest.peak_memory_bytes, memory_capacity_bytes=biggest.memory_capacity_bytes,
        memory_breakdown=dict(biggest.memory_breakdown), breakdown=breakdown,
        communication_hidden_s=_mean(runs, lambda e: e.communication_hidden_s),
        assumptions=tuple(dict.fromkeys(a for _, e in runs for a in e.assumptions)) + (note,),
        warnings=tuple(dict.fromkeys(w for _, e in runs for w in e.warnings)),
        phases=tuple(dict(name=ph.name, plan=e.plan, start_tokens=ph.start_tokens, end_tokens=ph.end_tokens,
                          seq_len=ph.seq_len or workload.seq_len,
                          global_batch_size=ph.global_batch_size or workload.training.global_batch_size,
                          steps=e.steps, step_time_s=e.step_time_s, total_time_s=e.total_time_s,
                          mfu_fraction=e.mfu_fraction, energy_joules=e.energy_joules, cost_usd=e.cost_usd,
                          co2_kg=e.co2_kg, peak_memory_bytes=e.peak_memory_bytes) for ph, e in runs),
        **sums)
