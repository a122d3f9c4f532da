"""The closed-form estimate of one training run: time, energy, dollars and CO2, with a breakdown.

Pure: takes validated models, returns a frozen result. The parts of every breakdown add up to its total.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, model_validator

from ..cluster.collectives import Group, collective_time_s
from ..errors import CostsimError, UnsupportedError
from ..model import cnn, generic, mlp, transformer
from ..model.memory import check_fits, parameter_count, peak_memory
from ..model.ops import MATRIX_CLASSES, OP_CLASSES, PRECISIONS, Op, step_flops
from ..model.roofline import OpArrays, PricedOps, price, price_ops, resolve_rate
from ..schema.hardware import ClassicalProfile, NonNegativeFloat, PositiveFloat, PositiveInt, Strict
from ..schema.plan import Plan, check_plan
from ..schema.regions import (
    DEFAULT_ELECTRICITY_USD_PER_KWH,
    DEFAULT_LIFETIME_YEARS,
    DEFAULT_PUE,
    DEFAULT_REGION,
    GRID_G_CO2_PER_KWH,
)
from ..schema.workload import CNNWorkload, GenericWorkload, MLPWorkload, TransformerWorkload
from ..units import MICRO, MILLI, SECONDS_PER_HOUR, SECONDS_PER_YEAR, kg_co2_per_joule, usd_per_joule

BREAKDOWN_CLASSES = OP_CLASSES + ("communication", "pipeline_bubble", "launch_overhead")


class RunOptions(Strict):
    """Everything about a run that is neither the device nor the model."""

    devices: PositiveInt = 1
    plan: Plan | None = Field(default=None, description="how the step is split; default: data parallel")
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
    plan: str
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


def _step_ops(workload, batch: float, split=None) -> dict[str, list[Op]]:
    if isinstance(workload, TransformerWorkload):
        return transformer.step_ops(workload, batch, split=split or transformer.WHOLE)
    if isinstance(workload, MLPWorkload):
        return mlp.step_ops(workload, batch)
    if isinstance(workload, GenericWorkload):
        return generic.step_ops(workload, batch)
    return cnn.step_ops(workload, batch)


def execution_note(workload) -> str:
    if isinstance(workload, GenericWorkload):
        return ("a model known by its record only: its forward FLOPs as square matrix products over "
                f"{workload.layers} layers, backward as two products per layer; other kernels not priced")
    if isinstance(workload, MLPWorkload):
        return "execution as plain numpy in fp32: one BLAS call per matrix product, a new array per elementwise step"
    if getattr(workload, "framework", "") == "megatron":
        return ("execution as Megatron-LM: a low-precision model (residual stream and norms included), fp32 "
                "master weights and cross-entropy, no per-layer casts")
    return ("execution as eager PyTorch with automatic mixed precision (fp32 master weights, norms, softmax "
            "and loss in fp32); unfused kernels")


def _memo(memo: dict, key, profile, compute):
    """A bounded memo keyed by the profile's identity (the entry holds the profile itself, so its id
    cannot be reused while the entry lives): hashing a whole profile would cost more than a lookup."""
    full = (id(profile), key)
    hit = memo.get(full)
    if hit is not None and hit[0] is profile:
        return hit[1]
    if len(memo) >= 64:
        memo.pop(next(iter(memo)))
    value = compute()
    memo[full] = (profile, value)
    return value


def _memo_price(memo: dict, arrays: OpArrays, profile) -> PricedOps:
    return _memo(memo, None, profile, lambda: price(arrays, profile))


@dataclass(frozen=True)
class Expansion:
    """One device's share of a training step, independent of the hardware: the kernels of one
    micro-batch's forward, loss, backward (and recomputation), the optimizer step's, and the
    tensor-parallel collectives."""

    phases: dict[str, list[Op]]
    arrays: OpArrays                 # one micro-batch pass's compute kernels, then the optimizer step's
    comm: tuple[Op, ...]             # tensor-parallel collectives of one micro-batch pass
    model_flops_per_pass: float      # forward and backward matrix work, recomputation excluded
    parameters: float                # on this device, before ZeRO sharding
    priced: dict = field(default_factory=dict, compare=False, repr=False)  # memo: profile -> PricedOps
    stages: dict = field(default_factory=dict, compare=False, repr=False)  # memo: (profile, plan) -> StageTimes

    def price_on(self, profile) -> PricedOps:
        """The ops priced on ``profile`` (a pure function of both, memoised for sweeps that vary only
        the run options; bounded to the last 64 profiles)."""
        return _memo_price(self.priced, self.arrays, profile)


@functools.lru_cache(maxsize=256)
def expand(workload, micro_batch: float, split=None) -> Expansion:
    """Expand a workload into one device's ops for one micro-batch pass and one optimizer step. A pure
    function of immutable inputs, memoised so that one workload on many devices, regions or prices is
    expanded once."""
    phases = _step_ops(workload, micro_batch, split)
    passes = [op for name, ops in phases.items() if name != "optimizer" for op in ops]
    compute = [op for op in passes if op.op_class != "communication"]
    comm = tuple(op for op in passes if op.op_class == "communication")
    if isinstance(workload, TransformerWorkload):
        params = transformer.device_parameters(workload, split or transformer.WHOLE)["total"]
    else:

        params = parameter_count(workload)
    return Expansion(phases, OpArrays.of(compute + phases["optimizer"], once=len(phases["optimizer"])), comm,
                     model_flops_per_step(workload, phases), params)


def model_flops_per_step(workload, phases: dict[str, list[Op]]) -> float:
    """Useful model FLOPs of the phases given: forward and backward matrix work, no recomputation."""
    return sum(step_flops([op for op in phases[ph] if op.op_class in MATRIX_CLASSES])
               for ph in ("forward", "backward"))


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
    total_t = priced.time_s * a.count * a.pass_mask
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
    if profile.cloud_price_usd_per_hour is None and profile.purchase_price_usd is None:
        raise CostsimError(f"{profile.name} has neither a cloud price nor a purchase price: set one "
                           "(e.g. hardware.cloud_price_usd_per_hour to 2.5)", field="cloud_price_usd_per_hour")
    if pricing == "auto":
        pricing = "owned" if profile.cloud_price_usd_per_hour is None else "cloud"
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
        f"({profile.kernel_launch_overhead_s / MICRO:.1f} us per kernel) outruns the device's work",
    ]
    if comm_note:
        notes.append(comm_note)
    if profile.efficiency_from:
        notes.append(f"efficiency curves and power fractions borrowed from the calibrated "
                     f"'{profile.efficiency_from}' profile, applied to {profile.name}'s own peaks and TDP")
    return (*notes, cost_note, grid_note, f"PUE {pue:g}")


@dataclass(frozen=True)
class StageTimes:
    """One pipeline stage on one device: a micro-batch pass and the step's once-per-step work."""

    breakdown: dict[str, dict[str, float]]  # one pass, by class (launch gap included)
    pass_s: float                           # compute + tensor-parallel + point-to-point, one micro-batch
    comm_s: float                           # of which tensor-parallel and point-to-point
    optimizer_s: float
    optimizer_joules: float
    optimizer_static: tuple                 # (flops, bytes, kernels) of the optimizer step on this device
    pass_flops: float                       # executed FLOPs of one micro-batch pass
    grad_sync_s: float                      # data-parallel gradient reduction (before any overlap)
    param_gather_s: float                   # ZeRO: gathering parameters (stage 3 per pass, 1-2 per step)
    peak_memory: dict[str, float]
    model_flops_per_pass: float
    warnings: tuple[str, ...]


def _stage_splits(workload, plan: Plan) -> list[tuple[object, int, int]]:
    """(split, how many stages have it, index of the first such stage) for each distinct stage."""
    if not isinstance(workload, TransformerWorkload):
        return [(None, 1, 0)]
    L = workload.layers // plan.pp
    Split = transformer.Split
    if plan.pp == 1:
        return [(Split(plan.tp, plan.sp, plan.ep, None, True, True), 1, 0)]
    out = [(Split(plan.tp, plan.sp, plan.ep, L, True, False), 1, 0)]
    if plan.pp > 2:
        out.append((Split(plan.tp, plan.sp, plan.ep, L, False, False), plan.pp - 2, 1))
    out.append((Split(plan.tp, plan.sp, plan.ep, L, False, True), 1, plan.pp - 1))
    return out


def _stage_times(profile, workload, plan: Plan, micro: int, micro_batches: int, split, index: int) -> StageTimes:
    ex = expand(workload, float(micro), split)
    return _memo(ex.stages, (plan, micro_batches, index), profile,
                 lambda: _compute_stage_times(ex, profile, workload, plan, micro, micro_batches, split, index))


def _compute_stage_times(ex, profile, workload, plan: Plan, micro: int, micro_batches: int, split,
                         index: int) -> StageTimes:
    priced = ex.price_on(profile)
    breakdown = step_breakdown(priced, profile)
    tp_group, dp_group, pp_group = Group(plan.tp, 1), Group(plan.dp, plan.tp), Group(2, plan.tp * plan.dp)
    ep_group = Group(plan.ep, plan.tp)
    comm_s = sum(collective_time_s(op.dtype, op.bytes, ep_group if op.name.startswith("ep.") else tp_group, profile)
                 * op.count for op in ex.comm)
    p = PRECISIONS[workload.training.precision]
    if plan.pp > 1:  # activations forward and gradients backward across each stage boundary
        boundary = p.act_bytes * micro * workload.seq_len * workload.d_model / (plan.tp if plan.sp else 1)
        comm_s += 2 * collective_time_s("p2p", boundary, pp_group, profile)
    params = ex.parameters
    shard = plan.dp if plan.zero >= 1 else 1
    once = priced.time_s * priced.arrays.count * (1.0 - priced.arrays.pass_mask)
    opt_s = float(once.sum()) / shard
    opt_j = float((once * priced.power_watts).sum()) / shard
    grad_kind = "reduce_scatter" if plan.zero >= 2 else "all_reduce"
    grad_sync = collective_time_s(grad_kind, p.master_bytes * params, dp_group, profile)
    gather = 0.0
    if plan.zero >= 1 and plan.dp > 1:  # updated shards gathered back to every replica, once per step
        gather = collective_time_s("all_gather", p.act_bytes * params, dp_group, profile)
    if plan.zero == 3:  # and, for stage 3, the weights before each forward and backward of each pass
        gather += 2 * micro_batches * collective_time_s("all_gather", p.act_bytes * params, dp_group, profile)
    in_flight = micro_batches if plan.schedule == "gpipe" else min(micro_batches, plan.pp - index)
    memory = peak_memory(workload, micro, split=split, in_flight=in_flight, zero=plan.zero, dp=plan.dp)
    pass_s = math.fsum(b["time_s"] for b in breakdown.values()) + comm_s
    opt_static = tuple(v / shard for v in priced.arrays.once_static)
    pass_flops = sum(st[0] for st in priced.arrays.class_static)
    return StageTimes(breakdown, pass_s, comm_s, opt_s, opt_j, opt_static, pass_flops, grad_sync, gather, memory,
                      ex.model_flops_per_pass, priced.warnings)


def _plan_note(plan: Plan, micro: int, m: int, exposed: float, grad_sync: float) -> str:
    parts = [f"plan {plan.label()}: {m} micro-batch(es) of {micro} per replica"]
    if plan.pp > 1:
        parts.append(f"{plan.schedule.upper()} pipeline: step = (m - 1) x slowest stage + sum of stages")
    if plan.tp > 1:
        parts.append("Megatron tensor parallelism" + (" with sequence parallelism" if plan.sp else "")
                     + ": hidden-state collectives on the critical path")
    if plan.dp > 1:
        how = ("overlapped with the last micro-batch's backward pass" if plan.overlap_grad_reduce
               else "after the backward pass")
        parts.append(f"data-parallel gradient reduction {how} ({exposed / MILLI:.3g} of {grad_sync / MILLI:.3g} ms "
                     f"exposed)" + (f", ZeRO stage {plan.zero}" if plan.zero else ""))
    parts.append("collectives: alpha-beta, hierarchical across nodes; devices waiting on them draw idle power; "
                 "every device's energy taken as its pipeline's slowest stage's")
    return "; ".join(parts)


def _zero_row(time_s: float, watts: float) -> dict[str, float]:
    return {"time_s": time_s, "device_energy_joules": time_s * watts, "flops": 0.0, "bytes": 0.0, "kernels": 0.0}


def estimate_run(profile, workload, options: RunOptions | None = None) -> Estimate:
    """Time, energy, dollars and CO2 of training ``workload`` on ``options.devices`` x ``profile``."""
    options = options or RunOptions()
    _refuse_unsupported(profile)
    n = options.devices
    plan = options.plan or Plan(dp=n)
    if options.plan is None and workload.training.global_batch_size % n:
        raise CostsimError(f"global_batch_size {workload.training.global_batch_size} does not split evenly "
                           f"over {n} devices", field="training.global_batch_size")
    micro = check_plan(plan, workload, n)
    plan = plan.model_copy(update={"mb": micro})
    gbs = workload.training.global_batch_size
    m = gbs // plan.dp // micro
    stages = [(_stage_times(profile, workload, plan, micro, m, split, index), count)
              for split, count, index in _stage_splits(workload, plan)]
    for st, _ in stages:
        check_fits(st.peak_memory, profile.memory_bytes, profile.name, micro)
    slowest = max((st for st, _ in stages), key=lambda st: st.pass_s)
    pipeline_s = (m - 1) * slowest.pass_s + sum(st.pass_s * count for st, count in stages)
    grad_sync = max(st.grad_sync_s for st, _ in stages)
    backward_s = 2.0 / 3.0 * slowest.pass_s  # what a bucketed reduction can hide behind (backward ~ 2x fwd)
    exposed = max(0.0, grad_sync - backward_s) if plan.overlap_grad_reduce else grad_sync
    idle = profile.power.idle_watts

    gather_s = max(st.param_gather_s for st, _ in stages)
    busiest_opt = max((st for st, _ in stages), key=lambda st: st.optimizer_s)
    breakdown = {c: {k: v * m for k, v in slowest.breakdown[c].items()} for c in OP_CLASSES}
    breakdown["communication"] = _zero_row(m * slowest.comm_s + exposed + gather_s, idle)
    breakdown["pipeline_bubble"] = _zero_row(pipeline_s - m * slowest.pass_s, idle)
    launch = slowest.breakdown["launch_overhead"]
    breakdown["launch_overhead"] = _zero_row(m * launch["time_s"], idle)
    opt = breakdown["optimizer"]
    flops, nbytes, kernels = busiest_opt.optimizer_static
    opt.update(time_s=opt["time_s"] + busiest_opt.optimizer_s,
               device_energy_joules=opt["device_energy_joules"] + busiest_opt.optimizer_joules,
               flops=opt["flops"] + flops, bytes=opt["bytes"] + nbytes, kernels=opt["kernels"] + kernels)
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
    model_flops = m * plan.dp * plan.tp * sum(st.model_flops_per_pass * count for st, count in stages)
    achieved = model_flops / step_s
    memory = max((st.peak_memory for st, _ in stages), key=lambda mem: mem["total_bytes"])
    tokens = workload.tokens_per_step if isinstance(workload, TransformerWorkload) else None
    comm_note = _plan_note(plan, micro, m, exposed, grad_sync) if n > 1 else ""
    return Estimate.model_validate(dict(
        hardware=profile.name, workload=workload.name, devices=n, plan=plan.label(),
        batch_per_device=gbs / plan.dp, micro_batch_size=micro, steps=steps,
        step_time_s=step_s, total_time_s=total_s, device_hours=total_s * n / SECONDS_PER_HOUR,
        tokens_per_s=tokens / step_s if tokens else None,
        images_per_s=gbs / step_s if isinstance(workload, CNNWorkload) else None, samples_per_s=gbs / step_s,
        model_flops_per_step=model_flops,
        executed_flops_per_step=plan.tp * plan.dp * sum(
            (m * st.pass_flops + st.optimizer_static[0]) * count for st, count in stages),
        achieved_flops_per_s=achieved, mfu_fraction=achieved / (matrix_peak(profile, workload) * n),
        device_energy_per_step_joules=e_step, average_device_power_watts=e_step / step_s,
        device_energy_joules=device_j, host_energy_joules=host_j, facility_overhead_joules=facility_j,
        energy_joules=energy_j, cost_usd=math.fsum(cost.values()), pricing=pricing, cost_breakdown=cost,
        co2_kg=energy_j * grid, peak_memory_bytes=memory["total_bytes"],
        memory_capacity_bytes=profile.memory_bytes,
        memory_breakdown={k: v for k, v in memory.items() if k != "total_bytes"}, breakdown=breakdown,
        assumptions=_assumptions(profile, workload, comm_note, cost_note, grid_note, options.pue),
        warnings=tuple(dict.fromkeys(w for st, _ in stages for w in st.warnings)),
    ))


def matrix_peak(profile, workload) -> float:
    """The peak of the data type the workload's matrix products run in (after any fallback)."""

    return resolve_rate(profile, PRECISIONS[workload.training.precision].matmul_dtype)[1]


def op_table(profile, workload, options: RunOptions | None = None) -> list[dict]:
    """Per-op detail of one device's micro-batch passes and optimizer step (first stage of the plan)."""
    options = options or RunOptions()
    plan = options.plan or Plan(dp=options.devices)
    micro = check_plan(plan, workload, options.devices)
    split = _stage_splits(workload, plan)[0][0]
    m = workload.training.global_batch_size // plan.dp // micro
    rows = []
    for phase, ops in expand(workload, float(micro), split).phases.items():
        compute = [op for op in ops if op.op_class != "communication"]
        if not compute:
            continue
        costs, _ = price_ops(compute, profile)
        for c in costs:
            count = c.op.count * (1 if phase == "optimizer" else m)
            rows.append({"phase": phase, "name": c.op.name, "op_class": c.op.op_class, "count": count,
                         "flops": c.op.flops, "bytes": c.op.bytes, "dtype": c.dtype_used, "time_s": c.time_s,
                         "compute_s": c.compute_s, "memory_s": c.memory_s, "power_watts": c.power_watts})
    return rows
