"""Many devices in one step: each pipeline stage of a plan on one device (its compute, tensor-, expert-
and pipeline-parallel communication, data-parallel gradient reduction, ZeRO sharding and gathering, peak
memory), and the step they make together (the pipeline schedule and its bubble), by class of kernel."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..model import transformer
from ..model.memory import peak_memory
from ..model.ops import OP_CLASSES, PRECISIONS
from ..model.roofline import price_ops
from ..model.step import expand, profile_memo, step_breakdown
from ..schema.options import RunOptions
from ..schema.plan import Plan, check_plan
from ..schema.workload import TransformerWorkload
from ..units import MILLI
from .collectives import Group, collective_time_s


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


def plan_stages(profile, workload, plan: Plan, micro: int, micro_batches: int) -> list[tuple[StageTimes, int]]:
    """Each distinct pipeline stage of ``plan`` on one device of ``profile``, with how many stages are
    like it (first, middle, last), at ``micro_batches`` micro-batches of ``micro`` samples per step."""
    return [(_stage_times(profile, workload, plan, micro, micro_batches, split, index), count)
            for split, count, index in _stage_splits(workload, plan)]


def _stage_times(profile, workload, plan: Plan, micro: int, micro_batches: int, split, index: int) -> StageTimes:
    ex = expand(workload, float(micro), split)
    return profile_memo(ex.stages, (plan, micro_batches, index), profile,
                        lambda: _compute_stage_times(ex, profile, workload, plan, micro, micro_batches, split,
                                                     index))


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


def _zero_row(time_s: float, watts: float) -> dict[str, float]:
    return {"time_s": time_s, "device_energy_joules": time_s * watts, "flops": 0.0, "bytes": 0.0, "kernels": 0.0}


def pipeline_step(stages: list[tuple[StageTimes, int]], plan: Plan, micro_batches: int, idle_watts: float
                  ) -> tuple[dict[str, dict[str, float]], float, float]:
    """One device's step over the plan's pipeline: time (s), device energy (J), FLOPs, bytes and kernels
    by class, with the communication on the critical path and the pipeline bubble (devices waiting draw
    ``idle_watts``). Returns the breakdown, the exposed and the whole gradient reduction time (s)."""
    m = micro_batches
    slowest = max((st for st, _ in stages), key=lambda st: st.pass_s)
    pipeline_s = (m - 1) * slowest.pass_s + sum(st.pass_s * count for st, count in stages)
    grad_sync = max(st.grad_sync_s for st, _ in stages)
    backward_s = 2.0 / 3.0 * slowest.pass_s  # what a bucketed reduction can hide behind (backward ~ 2x fwd)
    exposed = max(0.0, grad_sync - backward_s) if plan.overlap_grad_reduce else grad_sync
    gather_s = max(st.param_gather_s for st, _ in stages)
    busiest_opt = max((st for st, _ in stages), key=lambda st: st.optimizer_s)
    breakdown = {c: {k: v * m for k, v in slowest.breakdown[c].items()} for c in OP_CLASSES}
    breakdown["communication"] = _zero_row(m * slowest.comm_s + exposed + gather_s, idle_watts)
    breakdown["pipeline_bubble"] = _zero_row(pipeline_s - m * slowest.pass_s, idle_watts)
    launch = slowest.breakdown["launch_overhead"]
    breakdown["launch_overhead"] = _zero_row(m * launch["time_s"], idle_watts)
    opt = breakdown["optimizer"]
    flops, nbytes, kernels = busiest_opt.optimizer_static
    opt.update(time_s=opt["time_s"] + busiest_opt.optimizer_s,
               device_energy_joules=opt["device_energy_joules"] + busiest_opt.optimizer_joules,
               flops=opt["flops"] + flops, bytes=opt["bytes"] + nbytes, kernels=opt["kernels"] + kernels)
    return breakdown, exposed, grad_sync


def plan_note(plan: Plan, micro: int, m: int, exposed: float, grad_sync: float) -> str:
    """The assumption of how the plan runs (pipeline schedule, tensor parallelism, gradient reduction
    with ``exposed`` of ``grad_sync`` seconds on the critical path, collectives), as one sentence."""
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
