"""The closed-form estimate of one training run: time, energy, dollars and CO2, with a breakdown.

Pure: takes validated models, returns a frozen result. The parts of every breakdown add up to its total.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from pydantic import Field, model_validator

from . import cnn, mlp, transformer
from .errors import CostsimError, UnsupportedError
from .hardware import ClassicalProfile, NonNegativeFloat, PositiveFloat, PositiveInt, Strict
from .memory import check_fits, peak_memory
from .ops import MATRIX_CLASSES, OP_CLASSES, Op, step_flops
from .regions import (DEFAULT_ELECTRICITY_USD_PER_KWH, DEFAULT_LIFETIME_YEARS, DEFAULT_PUE, DEFAULT_REGION,
                      GRID_G_CO2_PER_KWH)
from .roofline import OpArrays, PricedOps, price, price_ops
from .units import SECONDS_PER_HOUR, SECONDS_PER_YEAR, kg_co2_per_joule, usd_per_joule
from .workload import CNNWorkload, MLPWorkload, TransformerWorkload

BREAKDOWN_CLASSES = OP_CLASSES + ("communication", "launch_overhead")


class RunOptions(Strict):
    """Everything about a run that is neither the device nor the model."""

    devices: PositiveInt = 1
    region: str | None = None
    grid_kg_co2_per_joule: PositiveFloat | None = Field(default=None, description="overrides region")
    pue: float = Field(default=DEFAULT_PUE, ge=1.0, description="facility energy / IT energy")
    pricing: Literal["auto", "cloud", "owned"] = "auto"  # auto: cloud where the profile has a cloud price
    lifetime_s: PositiveFloat = DEFAULT_LIFETIME_YEARS * SECONDS_PER_YEAR
    electricity_usd_per_joule: NonNegativeFloat = usd_per_joule(DEFAULT_ELECTRICITY_USD_PER_KWH)

    @model_validator(mode="after")
    def _region_known(self):
        if self.region is not None and self.region not in GRID_G_CO2_PER_KWH:
            raise ValueError(f"unknown region '{self.region}'; known: {', '.join(GRID_G_CO2_PER_KWH)}")
        return self

    def grid(self) -> tuple[float, str]:
        if self.grid_kg_co2_per_joule is not None:
            return self.grid_kg_co2_per_joule, "grid intensity given by the user"
        name = self.region or DEFAULT_REGION
        g, source = GRID_G_CO2_PER_KWH[name]
        return kg_co2_per_joule(g), f"grid '{name}': {g:g} gCO2e/kWh ({source})"


class ClassCost(Strict):
    time_s: float
    device_energy_joules: float
    flops: float
    bytes: float
    kernels: float


class Estimate(Strict):
    hardware: str
    workload: str
    devices: int
    batch_per_device: float
    micro_batch_size: float
    steps: float
    step_time_s: float
    total_time_s: float
    device_hours: float
    tokens_per_s: float | None
    images_per_s: float | None
    samples_per_s: float
    model_flops_per_step: float
    executed_flops_per_step: float
    achieved_flops_per_s: float
    mfu_fraction: float
    device_energy_per_step_joules: float
    average_device_power_watts: float
    device_energy_joules: float
    host_energy_joules: float
    facility_overhead_joules: float
    energy_joules: float
    cost_usd: float
    pricing: str
    cost_breakdown: dict[str, float]
    co2_kg: float
    peak_memory_bytes: float
    memory_capacity_bytes: float
    memory_breakdown: dict[str, float]
    breakdown: dict[str, ClassCost]
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict:
        return self.model_dump()


def _step_ops(workload, batch: float) -> dict[str, list[Op]]:
    if isinstance(workload, TransformerWorkload):
        return transformer.step_ops(workload, batch)
    if isinstance(workload, MLPWorkload):
        return mlp.step_ops(workload, batch)
    return cnn.step_ops(workload, batch)


def execution_note(workload) -> str:
    if isinstance(workload, MLPWorkload):
        return "execution as plain numpy in fp32: one BLAS call per matrix product, a new array per elementwise step"
    return ("execution as eager PyTorch with automatic mixed precision (fp32 master weights, norms, softmax "
            "and loss in fp32); unfused kernels")


@dataclass(frozen=True)
class Expansion:
    """What a workload implies at a per-device batch, independent of the hardware."""

    phases: dict[str, list[Op]]
    arrays: OpArrays
    model_flops_per_step: float      # forward and backward matrix work, recomputation excluded
    memory: dict[str, float]
    priced: dict = field(default_factory=dict, compare=False, repr=False)  # memo: profile -> PricedOps

    def price_on(self, profile) -> "PricedOps":
        """The ops priced on ``profile`` (a pure function of both, memoised for sweeps that vary only
        the run options; bounded to the last 64 profiles)."""
        hit = self.priced.get(profile)
        if hit is None:
            if len(self.priced) >= 64:
                self.priced.pop(next(iter(self.priced)))
            hit = self.priced[profile] = price(self.arrays, profile)
        return hit


@functools.lru_cache(maxsize=256)
def expand(workload, micro_batch: float, accumulation: int = 1) -> Expansion:
    """Expand a workload into the ops of one step: ``accumulation`` forward/backward passes of
    ``micro_batch`` samples, then one optimizer step. A pure function of immutable inputs, memoised so
    that estimating one workload on many devices, regions or prices expands it once."""
    phases = _step_ops(workload, micro_batch)
    if accumulation > 1:
        phases = {name: ops if name == "optimizer" else [op._replace(count=op.count * accumulation) for op in ops]
                  for name, ops in phases.items()}
    arrays = OpArrays.of(op for ops in phases.values() for op in ops)
    return Expansion(phases, arrays, model_flops_per_step(workload, phases), peak_memory(workload, micro_batch))


def model_flops_per_step(workload, phases: dict[str, list[Op]]) -> float:
    """Useful model FLOPs of one step: forward and backward matrix work, no recomputation."""
    return sum(step_flops([op for op in phases[ph] if op.op_class in MATRIX_CLASSES])
               for ph in ("forward", "backward"))


def allreduce_time_s(grad_bytes: float, devices: int, profile: ClassicalProfile) -> tuple[float, str]:
    """Ring all-reduce (alpha-beta): 2(N-1)/N of the buffer over the slowest link, 2(N-1) latencies."""
    if devices == 1:
        return 0.0, ""
    link = profile.intra_node_link if devices <= profile.devices_per_node else profile.inter_node_link
    where = "intra-node" if devices <= profile.devices_per_node else "inter-node"
    t = 2 * (devices - 1) / devices * grad_bytes / link.bandwidth_bytes_per_s + 2 * (devices - 1) * link.latency_s
    return t, (f"data parallel over {devices} devices: gradients all-reduced in fp32 by a ring over the "
               f"{where} link, not overlapped with the backward pass")


def _refuse_unsupported(profile) -> None:
    if not isinstance(profile, ClassicalProfile):
        raise UnsupportedError(
            f"'{profile.name}' is a {profile.kind} accelerator: its cost model is not implemented yet, so "
            f"training estimates refuse it (use a cpu, gpu, tpu, fpga or asic profile)", field="kind")
    if profile.efficiency is None or profile.power.compute_bound_fraction is None:
        raise CostsimError("profile has no efficiency curves or power fractions (load it through the loader)",
                           field="efficiency")


_KEYS = ("time_s", "device_energy_joules", "flops", "bytes", "kernels")


def step_breakdown(priced, profile: ClassicalProfile) -> dict[str, dict[str, float]]:
    """Time, device energy, FLOPs, bytes and kernels of one step by class, plus the launch overhead:
    on an accelerator only the excess of the host's dispatch over the device's work (kernels queue
    asynchronously); on a CPU all of it."""
    a = priced.arrays
    total_t = priced.time_s * a.count
    times = (total_t @ a.class_onehot).tolist()
    energies = ((total_t * priced.power_watts) @ a.class_onehot).tolist()
    breakdown = {c: {"time_s": times[i], "device_energy_joules": energies[i], "flops": st[0], "bytes": st[1],
                     "kernels": st[2]} for i, (c, st) in enumerate(zip(OP_CLASSES, a.class_static))}
    host_s = sum(st[2] for st in a.class_static) * profile.kernel_launch_overhead_s
    # an accelerator overlaps the host's dispatch with its queue; a CPU is its own host, so every
    # call's overhead adds to the step
    gap = host_s if profile.kind == "cpu" else max(0.0, host_s - sum(times))
    breakdown["communication"] = dict.fromkeys(_KEYS, 0.0)
    breakdown["launch_overhead"] = {"time_s": gap, "device_energy_joules": gap * profile.power.idle_watts,
                                    "flops": 0.0, "bytes": 0.0, "kernels": 0.0}
    return breakdown


def run_cost(profile: ClassicalProfile, options: RunOptions, device_s: float, energy_j: float
             ) -> tuple[str, dict[str, float], str]:
    """Dollars for ``device_s`` device-seconds and ``energy_j`` of facility energy: rental, or purchase
    amortised over the lifetime plus electricity. Returns the pricing used, the parts, and a note."""
    pricing = options.pricing
    if pricing == "auto":
        pricing = "owned" if profile.cloud_price_usd_per_hour is None and profile.purchase_price_usd else "cloud"
    if pricing == "cloud":
        if profile.cloud_price_usd_per_hour is None:
            raise CostsimError(f"{profile.name} has no cloud_price_usd_per_hour; use pricing 'owned'",
                               field="cloud_price_usd_per_hour")
        rental = device_s / SECONDS_PER_HOUR * profile.cloud_price_usd_per_hour
        return pricing, {"rental_usd": rental, "amortisation_usd": 0.0, "electricity_usd": 0.0}, (
            f"cloud pricing at ${profile.cloud_price_usd_per_hour:g} per device-hour (electricity included)")
    if profile.purchase_price_usd is None:
        raise CostsimError(f"{profile.name} has no purchase_price_usd; use pricing 'cloud'",
                           field="purchase_price_usd")
    amortisation = profile.purchase_price_usd * device_s / options.lifetime_s
    electricity = energy_j * options.electricity_usd_per_joule
    return pricing, {"rental_usd": 0.0, "amortisation_usd": amortisation, "electricity_usd": electricity}, (
        f"owned hardware: purchase price amortised over {options.lifetime_s / SECONDS_PER_YEAR:g} years, "
        f"plus electricity for device, host and facility energy")


def _assumptions(profile: ClassicalProfile, workload, comm_note: str, cost_note: str, grid_note: str, pue: float):
    notes = [
        execution_note(workload),
        "kernels queue asynchronously: the device idles only when the host's kernel dispatch "
        f"({profile.kernel_launch_overhead_s * 1e6:.1f} us per kernel) outruns the device's work",
    ]
    if comm_note:
        notes.append(comm_note)
    if profile.efficiency_from:
        notes.append(f"efficiency curves and power fractions borrowed from the calibrated "
                     f"'{profile.efficiency_from}' profile, applied to {profile.name}'s own peaks and TDP")
    return (*notes, cost_note, grid_note, f"PUE {pue:g}")


def estimate_run(profile, workload, options: RunOptions | None = None) -> Estimate:
    """Time, energy, dollars and CO2 of training ``workload`` on ``options.devices`` x ``profile``."""
    options = options or RunOptions()
    _refuse_unsupported(profile)
    n = options.devices
    gbs = workload.training.global_batch_size
    if gbs % n:
        raise CostsimError(f"global_batch_size {gbs} does not split evenly over {n} devices",
                           field="training.global_batch_size")
    batch = gbs // n
    micro = workload.training.micro_batch_size or batch
    if batch % micro:
        raise CostsimError(f"micro_batch_size {micro} does not divide the {batch} samples per device",
                           field="training.micro_batch_size")
    ex = expand(workload, float(micro), batch // micro)
    check_fits(ex.memory, profile.memory_bytes, profile.name, micro)
    priced = ex.price_on(profile)
    breakdown = step_breakdown(priced, profile)
    comm_s, comm_note = allreduce_time_s(ex.memory["weights_bytes"], n, profile)
    breakdown["communication"].update(time_s=comm_s, device_energy_joules=comm_s * profile.power.idle_watts)

    step_s = math.fsum(b["time_s"] for b in breakdown.values())
    e_step = math.fsum(b["device_energy_joules"] for b in breakdown.values())
    steps = workload.total_steps
    total_s = step_s * steps
    device_j = e_step * steps * n
    host_j = profile.power.host_per_device_watts * total_s * n
    facility_j = (options.pue - 1.0) * (device_j + host_j)
    energy_j = device_j + host_j + facility_j
    pricing, cost, cost_note = run_cost(profile, options, total_s * n, energy_j)
    grid, grid_note = options.grid()
    model_flops = ex.model_flops_per_step * n
    achieved = model_flops / step_s
    tokens = workload.tokens_per_step if isinstance(workload, TransformerWorkload) else None
    return Estimate.model_validate(dict(
        hardware=profile.name, workload=workload.name, devices=n, batch_per_device=batch,
        micro_batch_size=micro, steps=steps,
        step_time_s=step_s, total_time_s=total_s, device_hours=total_s * n / SECONDS_PER_HOUR,
        tokens_per_s=tokens / step_s if tokens else None,
        images_per_s=gbs / step_s if isinstance(workload, CNNWorkload) else None, samples_per_s=gbs / step_s,
        model_flops_per_step=model_flops, executed_flops_per_step=sum(b["flops"] for b in breakdown.values()) * n,
        achieved_flops_per_s=achieved, mfu_fraction=achieved / (priced.matrix_peak_flops_per_s * n),
        device_energy_per_step_joules=e_step, average_device_power_watts=e_step / step_s,
        device_energy_joules=device_j, host_energy_joules=host_j, facility_overhead_joules=facility_j,
        energy_joules=energy_j, cost_usd=math.fsum(cost.values()), pricing=pricing, cost_breakdown=cost,
        co2_kg=energy_j * grid, peak_memory_bytes=ex.memory["total_bytes"],
        memory_capacity_bytes=profile.memory_bytes,
        memory_breakdown={k: v for k, v in ex.memory.items() if k != "total_bytes"}, breakdown=breakdown,
        assumptions=_assumptions(profile, workload, comm_note, cost_note, grid_note, options.pue), warnings=priced.warnings,
    ))


def op_table(profile, workload, options: RunOptions | None = None) -> list[dict]:
    """Per-op detail of one step (for the roofline plot and for debugging the model)."""
    options = options or RunOptions()
    batch = workload.training.global_batch_size // options.devices
    micro = workload.training.micro_batch_size or batch
    phases = expand(workload, float(micro), max(batch // micro, 1)).phases
    rows = []
    for phase, ops in phases.items():
        costs, _ = price_ops(ops, profile)
        for c in costs:
            rows.append({"phase": phase, "name": c.op.name, "op_class": c.op.op_class, "count": c.op.count,
                         "flops": c.op.flops, "bytes": c.op.bytes, "dtype": c.dtype_used, "time_s": c.time_s,
                         "compute_s": c.compute_s, "memory_s": c.memory_s, "power_watts": c.power_watts})
    return rows
