"""Many devices in one step: each pipeline stage of a plan on one device (its compute, tensor-, expert-
and pipeline-parallel communication, data-parallel gradient reduction, ZeRO sharding and gathering, peak
memory), and the step they make together (the pipeline schedule and its bubble), by class of kernel."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..model import encdec, transformer
from ..model.memory import peak_memory
from ..model.ops import OP_CLASSES, PRECISIONS
from ..model.roofline import price_ops
from ..model.stacks import has
from ..model.step import expand, profile_memo, step_breakdown
from ..schema.options import RunOptions
from ..schema.plan import Plan, check_plan, stage_layers
from ..schema.workload import TransformerWorkload
from ..units import MILLI
from .collectives import Group, collective_time_s


@dataclass(frozen=True)
class StageTimes:
    """One pipeline stage on one device: a micro-batch pass and the step's once-per-step work."""

    breakdown: dict[str, dict[str, float]]  # one pass, by class (launch gap included)
    pass_s: float                           # compute + exposed tensor-, context-, expert-parallel and p2p
    comm_s: float                           # of which exposed communication
    hidden_comm_s: float                    # communication overlapped with the pass's compute (not in pass_s)
    wgrad_s: float                          # the weight-gradient products (what a zero-bubble schedule moves)
    optimizer_s: float
    optimizer_joules: float
    optimizer_static: tuple                 # (flops, bytes, kernels) of the optimizer step on this device
    pass_flops: float                       # executed FLOPs of one micro-batch pass
    grad_sync_s: float                      # data-parallel gradient reduction (before any overlap)
    param_gather_s: float                   # ZeRO 1-3: gathering the updated parameters, once per step
    offload_down_s: float                   # offload: gradients to the host, once per step (hides behind backward)
    offload_up_s: float                     # offload: updated weights back from the host, once per step (exposed)
    peak_memory: dict[str, float]
    model_flops_per_pass: float
    warnings: tuple[str, ...]


def _stage_splits(workload, plan: Plan) -> list[tuple[object, int, int]]:
    """(split, how many stages have it, index of the first such stage) for each distinct stage: the
    first (embedding), the last (head and loss) and the middle ones, by their layers."""
    if not isinstance(workload, TransformerWorkload):
        return [(None, 1, 0)]
    Split = transformer.Split
    opts = dict(cp=plan.cp, recompute=plan.recompute, recompute_layers=plan.recompute_layers, cp_a2a=plan.cp_a2a)
    if plan.pp == 1:
        return [(Split(plan.tp, plan.sp, plan.ep, None, True, True, **opts), 1, 0)]
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(stage_keys(workload, plan)):
        groups.setdefault(key, [0, i])[0] += 1
    return [(Split(plan.tp, plan.sp, plan.ep, L, first, last, dense=dense, **opts), count, index)
            for (L, first, last, dense), (count, index) in groups.items()]


def stage_keys(workload: TransformerWorkload, plan: Plan) -> list[tuple[int, bool, bool, int]]:
    """What makes each pipeline stage, first to last, distinct: (its layers, first, last, how many of its
    layers keep a dense MLP: a mixture of experts' first dense layers fall in the first stages)."""
    out, start = [], 0
    dense = transformer.first_layers(workload)
    for i, layers in enumerate(stage_layers(workload, plan)):
        out.append((layers, i == 0, i == plan.pp - 1, max(0, min(dense - start, layers))))
        start += layers
    return out


def in_flight(plan: Plan, micro_batches: int, index: int) -> float:
    """Micro-batches of its layers stage ``index`` holds activations for at the schedule's peak: GPipe all
    of them; 1F1B and ZB-H1 pp - index; interleaved 1F1B its warm-up chunks, 2 (pp - index - 1) +
    (vp - 1) pp + 1, in units of vp chunks (Narayanan et al. 2021; first stage: pp (1 + (pp - 1) / (pp vp)))."""
    m, pp, vp = micro_batches, plan.pp, plan.vp
    if plan.schedule == "gpipe":
        return m
    if plan.schedule == "dualpipe":  # DeepSeek-AI 2024, Table 2: PP + 1 micro-batches' activations
        return min(m, pp + 1)
    if vp == 1:
        return min(m, pp - index)
    return min(m * vp, 2 * (pp - index - 1) + (vp - 1) * pp + 1) / vp


def plan_stages(profile, workload, plan: Plan, micro: int, micro_batches: int) -> list[tuple[StageTimes, int]]:
    """Each distinct pipeline stage of ``plan`` on one device of ``profile``, with how many stages are
    like it (first, middle, last), at ``micro_batches`` micro-batches of ``micro`` samples per step."""
    return [(_stage_times(profile, workload, plan, micro, micro_batches, split, index), count)
            for split, count, index in _stage_splits(workload, plan)]


def stage_pass_times(profile, workload, plan: Plan, micro: int, micro_batches: int) -> list[float]:
    """Seconds of one micro-batch pass (forward and backward, all of its chunks) on each of the plan's pp
    stages, first to last: each stage priced as its distinct group (first, middle by its layers, last) is in
    ``plan_stages``. The pass includes its exposed communication, point-to-point sends among it. A timeline
    splits it as forward 1/3, backward 2/3 (the backward about twice the forward, any recompute inside
    the backward), each divided by vp per chunk."""
    splits = _stage_splits(workload, plan)
    times = [_stage_times(profile, workload, plan, micro, micro_batches, split, index).pass_s
             for split, _, index in splits]
    if len(splits) == 1:
        return times * plan.pp
    by_group = {(split.layers, split.first, split.last, split.dense): t for (split, _, _), t in zip(splits, times)}
    return [by_group[key] for key in stage_keys(workload, plan)]


def _stage_times(profile, workload, plan: Plan, micro: int, micro_batches: int, split, index: int) -> StageTimes:
    ex = expand(workload, float(micro), split)
    return profile_memo(ex.stages, (plan, micro_batches, index), profile,
                        lambda: _compute_stage_times(ex, profile, workload, plan, micro, micro_batches, split,
                                                     index))


def comm_by_kind(ops, profile, plan: Plan) -> dict[str, float]:
    """Seconds of the collectives ``ops`` (one pass's tensor-, context- and expert-parallel ones) by kind
    (tp, cp, ep, ulysses), in the plan's groups."""
    groups = {"tp": Group(plan.tp, 1), "cp": Group(plan.cp, plan.tp), "ep": Group(plan.ep, plan.tp),
              "ulysses": Group(plan.cp, plan.tp)}
    out = dict.fromkeys(groups, 0.0)
    for op in ops:
        kind = op.name.split(".")[0] if op.name.startswith(("ep.", "cp.", "ulysses.")) else "tp"
        out[kind] += collective_time_s(op.dtype, op.bytes, groups[kind], profile) * op.count
    return out


COMM_KINDS = ("tp", "cp", "ep", "ulysses", "p2p", "zero3", "host")  # the order in which compute is lent to hide them


def _overlap(comm: dict[str, float], breakdown: dict, plan: Plan, stack: str | None = None) -> tuple[float, float]:
    """(exposed, hidden) seconds of one pass's communication (see :func:`hide`)."""
    budget = math.fsum(b["time_s"] for c, b in breakdown.items() if c != "launch_overhead")
    covers = {"cp": breakdown["attention"]["time_s"] + breakdown["attention_backward"]["time_s"],
              "tp": breakdown["gemm"]["time_s"] + breakdown["sparse_gemm"]["time_s"], "ep": budget, "p2p": budget,
              "ulysses": 0.0, "zero3": budget, "host": budget}
    exposed, hidden = hide(comm, covers, budget, overlaps(plan, stack))
    return float(exposed), float(hidden)


def overlaps(plan: Plan, stack: str | None = None) -> dict[str, bool]:
    """Which kinds of a pass's communication ``plan`` overlaps with compute (ring attention always), with
    what the software ``stack`` overlaps by itself (``model/stacks.py``: XLA's collective matmuls,
    Megatron-Core's pipeline sends)."""
    dual = plan.schedule == "dualpipe"  # overlaps one micro-batch's all-to-all and sends with another's compute
    tp = plan.overlap_tp_comm or has(stack, "async_collective_matmul")
    p2p = plan.overlap_p2p or dual or has(stack, "overlap_p2p")
    return {"cp": True, "tp": tp, "ep": plan.overlap_ep_comm or dual, "p2p": p2p,
            "ulysses": False,  # Ulysses' all-to-all sits between the projections and attention: exposed
            "zero3": plan.overlap_param_gather,  # FSDP and DeepSpeed prefetch the next layer's weights
            "host": True}  # offloaded weights are prefetched layer by layer ahead of the compute that needs them


def hide(comm: dict, covers: dict, budget, on: dict[str, bool]):
    """(exposed, hidden) seconds of one pass's communication ``comm`` by kind. Ring attention hides its
    key-value exchange behind the attention it feeds (``covers['cp']``); overlapped tensor-parallel
    collectives hide behind the matrix products, expert all-to-all and pipeline sends behind any compute,
    as do ZeRO-3's per-pass weight gathers (prefetched, unless the plan says no-prefetch) and offloaded
    weights streamed in over the host link (``host``);
    what is hidden never exceeds the compute that hides it (``budget``), lent in ``COMM_KINDS`` order.
    Floats or numpy arrays alike (the plan search scores many plans at once)."""
    exposed = hidden = 0.0
    for kind in COMM_KINDS:
        t = comm[kind]
        h = np.minimum(np.minimum(t, covers[kind]), budget) if on[kind] else 0.0 * t
        budget = budget - h
        hidden = hidden + h
        exposed = exposed + (t - h)
    return exposed, hidden


def _compute_stage_times(ex, profile, workload, plan: Plan, micro: int, micro_batches: int, split,
                         index: int) -> StageTimes:
    priced = ex.price_on(profile)
    breakdown = step_breakdown(priced, profile, getattr(workload, "execution", None))
    replicas = plan.dp * plan.cp  # the weights are replicated over data and context parallelism
    pp_group = Group(2, plan.tp * plan.cp * plan.dp)
    comm = comm_by_kind(ex.comm, profile, plan)
    p = PRECISIONS[workload.training.precision]
    comm["p2p"] = 0.0
    if plan.pp > 1:  # activations forward and gradients backward across each chunk's boundary
        boundary = (p.act_bytes * micro * encdec.boundary_tokens(workload) / plan.cp * workload.d_model
                    / (plan.tp if plan.sp else 1))
        comm["p2p"] = 2 * plan.vp * collective_time_s("p2p", boundary, pp_group, profile)
    params = ex.parameters
    shard = replicas if plan.zero >= 1 else 1
    coll = lambda kind, nbytes, size, stride: collective_time_s(kind, nbytes, Group(size, stride), profile)  # noqa: E731
    expert, group = ex.expert_parameters, (replicas, plan.tp, plan.ep)
    # ZeRO-3: the weights gathered before each forward and backward of each pass (prefetched behind compute)
    comm["zero3"] = (2 * replica_collective(coll, "all_gather", p.act_bytes, params, expert, group)
                     if plan.zero == 3 else 0.0)
    down, up, comm["host"], host_step_s = offload_times(profile, plan.offload, p, params, shard,
                                                        priced.arrays.once_static[1] / shard)
    comm_s, hidden_s = _overlap(comm, breakdown, plan, getattr(workload, "execution", None))
    once = priced.time_s * priced.arrays.count * (1.0 - priced.arrays.pass_mask)
    opt_s = float(once.sum()) / shard
    opt_j = float((once * priced.power_watts).sum()) / shard
    opt_static = tuple(v / shard for v in priced.arrays.once_static)
    if plan.offload != "none":  # the host steps the optimizer; the device waits at idle
        opt_s, opt_j, opt_static = host_step_s, host_step_s * profile.power.idle_watts, (0.0, 0.0, 0.0)
    grad_kind = "reduce_scatter" if plan.zero >= 2 else "all_reduce"
    grad_sync = replica_collective(coll, grad_kind, p.master_bytes, params, expert, group)
    gather = 0.0
    if plan.zero >= 1 and replicas > 1:  # updated shards gathered back to every replica, once per step
        gather = replica_collective(coll, "all_gather", p.act_bytes, params, expert, group)
    memory = peak_memory(workload, micro, split=split, in_flight=in_flight(plan, micro_batches, index),
                         zero=plan.zero, dp=replicas, offload=plan.offload,
                         weight_copies=2 if plan.schedule == "dualpipe" else 1, ep=plan.ep)
    pass_s = math.fsum(b["time_s"] for b in breakdown.values()) + comm_s
    pass_flops = sum(st[0] for st in priced.arrays.class_static)
    wgrad = [i for i, op in enumerate(priced.arrays.ops) if op.name.endswith(".wgrad")]
    wgrad_s = float((priced.time_s[wgrad] * priced.arrays.count[wgrad]).sum()) if wgrad else 0.0
    return StageTimes(breakdown, pass_s, comm_s, hidden_s, wgrad_s, opt_s, opt_j, opt_static, pass_flops, grad_sync,
                      gather, down, up, memory, ex.model_flops_per_pass, priced.warnings)


def replica_collective(coll, kind: str, bytes_per_param: float, params: float, expert: float,
                       group: tuple[int, int, int]) -> float:
    """Seconds of ``kind`` over a device's replicas (``group`` = (replicas: dp x cp, tp, ep); the replicas
    tp apart) on ``params`` parameters, of which the ``expert`` ones of routed experts are replicated over
    replicas / ep ranks only (tp x ep apart): two collectives where expert parallelism splits them
    (Megatron's expert data-parallel group). ``coll(kind, nbytes, size, stride)`` prices one."""
    replicas, tp, ep = group
    if ep == 1 or not expert:
        return coll(kind, bytes_per_param * params, replicas, tp)
    return (coll(kind, bytes_per_param * (params - expert), replicas, tp)
            + coll(kind, bytes_per_param * expert, replicas // ep, tp * ep))


def offload_times(profile, offload: str, p, params: float, shard: int, optimizer_bytes: float
                  ) -> tuple[float, float, float, float]:
    """Seconds of offload (ZeRO-Offload, Ren et al. 2021) on one device of ``params`` parameters whose
    optimizer is sharded ``shard`` ways: the gradient shard sent to the host in the low-precision type
    and the updated weights sent back, each once per step over the host link; the weights streamed in
    for each pass's forward and backward (``params`` offload only); and the host's optimizer step, its
    ``optimizer_bytes`` streamed through the device's share of host memory bandwidth. All zero without
    offload."""
    if offload == "none":
        return 0.0, 0.0, 0.0, 0.0
    link = profile.host_link
    once = p.act_bytes * params / shard / link.bandwidth_bytes_per_s + link.latency_s
    stream = 2 * p.act_bytes * params / link.bandwidth_bytes_per_s if offload == "params" else 0.0
    return once, once, stream, optimizer_bytes / profile.host_memory_bandwidth_bytes_per_s


def _zero_row(time_s: float, watts: float) -> dict[str, float]:
    return {"time_s": time_s, "device_energy_joules": time_s * watts, "flops": 0.0, "bytes": 0.0, "kernels": 0.0}


def _pipeline_s(stages: list[tuple[StageTimes, int]], plan: Plan, m: int, slowest: StageTimes) -> float:
    """One pass of the pipeline over ``m`` micro-batches: the slowest stage's m passes, plus the others'
    fill and drain (the bubble): 1F1B and GPipe the other stages' passes, interleaved 1F1B 1/vp of them
    (Narayanan et al. 2021), ZB-H1 each less twice its weight-gradient work (Qi et al. 2024: the bubble
    (pp - 1)(F + B - W) against 1F1B's (pp - 1)(F + B + W))."""
    if plan.schedule == "dualpipe":  # DeepSeek-AI 2024, Table 2: bubble (PP/2 - 1)(F&B + B - 3W)
        return m * slowest.pass_s + dualpipe_bubble(plan.pp, slowest.pass_s, slowest.wgrad_s)
    if plan.schedule == "zb-h1":
        fill = sum(max(st.pass_s - 2 * st.wgrad_s, 0.0) * count for st, count in stages)
        return m * slowest.pass_s + fill - max(slowest.pass_s - 2 * slowest.wgrad_s, 0.0)
    if plan.vp > 1:
        return m * slowest.pass_s + (sum(st.pass_s * count for st, count in stages) - slowest.pass_s) / plan.vp
    return (m - 1) * slowest.pass_s + sum(st.pass_s * count for st, count in stages)


def dualpipe_bubble(pp: int, pass_s: float, wgrad_s: float) -> float:
    """DualPipe's bubble (DeepSeek-AI 2024, "DeepSeek-V3 Technical Report", Table 2): (PP/2 - 1)(F&B + B - 3W),
    with a pass's forward F one third and its backward B two thirds, a forward and a backward chunk run
    together F&B = F + B (their communication hidden), and W the weight-gradient products."""
    return (pp / 2 - 1) * max(pass_s + 2.0 / 3.0 * pass_s - 3 * wgrad_s, 0.0)


def pipeline_step(stages: list[tuple[StageTimes, int]], plan: Plan, micro_batches: int, idle_watts: float
                  ) -> tuple[dict[str, dict[str, float]], float, float]:
    """One device's step over the plan's pipeline: time (s), device energy (J), FLOPs, bytes and kernels
    by class, with the communication on the critical path and the pipeline bubble (devices waiting draw
    ``idle_watts``). Returns the breakdown, the exposed and the whole gradient reduction time (s)."""
    m = micro_batches
    slowest = max((st for st, _ in stages), key=lambda st: st.pass_s)
    pipeline_s = _pipeline_s(stages, plan, m, slowest)
    grad_sync = max(st.grad_sync_s for st, _ in stages)
    backward_s = 2.0 / 3.0 * slowest.pass_s  # what a bucketed reduction can hide behind (backward ~ 2x fwd)
    exposed = max(0.0, grad_sync - reduction_window(slowest.pass_s, slowest.hidden_comm_s)) \
        if plan.overlap_grad_reduce else grad_sync
    gather_s = max(st.param_gather_s for st, _ in stages)
    offload_s = max(0.0, max(st.offload_down_s for st, _ in stages) - backward_s) + max(
        st.offload_up_s for st, _ in stages)
    busiest_opt = max((st for st, _ in stages), key=lambda st: st.optimizer_s)
    breakdown = {c: {k: v * m for k, v in slowest.breakdown[c].items()} for c in OP_CLASSES}
    breakdown["communication"] = _zero_row(m * slowest.comm_s + exposed + gather_s + offload_s, idle_watts)
    breakdown["pipeline_bubble"] = _zero_row(pipeline_s - m * slowest.pass_s, idle_watts)
    launch = slowest.breakdown["launch_overhead"]
    breakdown["launch_overhead"] = _zero_row(m * launch["time_s"], idle_watts)
    opt = breakdown["optimizer"]
    flops, nbytes, kernels = busiest_opt.optimizer_static
    opt.update(time_s=opt["time_s"] + busiest_opt.optimizer_s,
               device_energy_joules=opt["device_energy_joules"] + busiest_opt.optimizer_joules,
               flops=opt["flops"] + flops, bytes=opt["bytes"] + nbytes, kernels=opt["kernels"] + kernels)
    return breakdown, exposed, grad_sync


def reduction_window(pass_s, hidden_s):
    """Seconds of the last backward pass the overlapped gradient reduction can hide in: the backward
    (about two thirds of a pass), less its share of the pass's own hidden traffic (ring attention's
    exchange, prefetched ZeRO-3 gathers, overlapped sends), which holds the same links meanwhile.
    Floats or numpy arrays alike."""
    return 2.0 / 3.0 * np.maximum(0.0, pass_s - hidden_s)


def hidden_communication_s(stages: list[tuple[StageTimes, int]], micro_batches: int, exposed: float,
                           grad_sync: float) -> float:
    """Seconds of one step's communication hidden behind compute on the slowest stage's device (not in
    the step time): overlapped collectives and sends, and the overlapped part of the gradient reduction."""
    slowest = max((st for st, _ in stages), key=lambda st: st.pass_s)
    down = min(max(st.offload_down_s for st, _ in stages), 2.0 / 3.0 * slowest.pass_s)  # behind the backward
    return micro_batches * slowest.hidden_comm_s + (grad_sync - exposed) + down


def plan_note(plan: Plan, micro: int, m: int, exposed: float, grad_sync: float, workload=None) -> str:
    """The assumption of how the plan runs (pipeline schedule, tensor parallelism, gradient reduction
    with ``exposed`` of ``grad_sync`` seconds on the critical path, collectives), as one sentence."""
    parts = [f"plan {plan.label()}: {m} micro-batch(es) of {micro} per replica"]
    if plan.pp > 1:
        parts.append(_schedule_note(plan, workload))
    if plan.tp > 1:
        parts.append("Megatron tensor parallelism" + (" with sequence parallelism" if plan.sp else "")
                     + (": hidden-state collectives overlapped with the matrix products"
                        if overlaps(plan, getattr(workload, "execution", None))["tp"]
                        else ": hidden-state collectives on the critical path"))
    if plan.cp > 1 and plan.cp_a2a:
        parts.append(f"context parallelism over {plan.cp} ranks as all-to-all (DeepSpeed-Ulysses): q, k, v and the "
                     f"output regrouped by heads around attention, the all-to-all exposed; gradients over dp x cp")
    elif plan.cp > 1:
        parts.append(f"context parallelism over {plan.cp} ranks: ring attention, each key-value exchange hidden "
                     f"behind the attention it feeds; gradients reduced over dp x cp")
    if plan.recompute:
        parts.append({"none": "no activation recompute", "full": "full activation recompute" + (
            f" of {plan.recompute_layers} layers per stage" if plan.recompute_layers else ""),
            "selective": "selective recompute of the attention core (Korthikanti et al. 2022)"}[plan.recompute])
    if plan.dp > 1:
        how = ("overlapped with the last micro-batch's backward pass" if plan.overlap_grad_reduce
               else "after the backward pass")
        parts.append(f"data-parallel gradient reduction {how} ({exposed / MILLI:.3g} of {grad_sync / MILLI:.3g} ms "
                     f"exposed)" + (f", ZeRO stage {plan.zero}" if plan.zero else ""))
    if plan.overlap_ep_comm or plan.overlap_p2p:
        what = " and ".join(w for w, on in (("expert all-to-all", plan.overlap_ep_comm),
                                            ("pipeline sends", plan.overlap_p2p)) if on)
        parts.append(f"{what} overlapped with compute (hidden at most up to the compute beside them)")
    if plan.offload != "none":
        parts.append(f"ZeRO-Offload ({plan.offload}): optimizer states and fp32 master weights in host memory, the "
                     f"optimizer step on the host at its memory bandwidth, gradients down (behind the backward) and "
                     f"updated weights up over the host link once per step" + (
                         "; the weights streamed in for each forward and backward, prefetched behind compute"
                         if plan.offload == "params" else ""))
    parts.append("collectives: alpha-beta, hierarchical across nodes; devices waiting on them draw idle power; "
                 "every device's energy taken as its pipeline's slowest stage's")
    return "; ".join(parts)


def _schedule_note(plan: Plan, workload) -> str:
    layers = stage_layers(workload, plan) if isinstance(workload, TransformerWorkload) else ()
    uneven = f", layers per stage {'/'.join(map(str, layers))}" if len(set(layers)) > 1 else ""
    if plan.schedule == "zb-h1":
        return f"ZB-H1 zero-bubble pipeline: the weight-gradient passes fill the bubble{uneven}"
    if plan.schedule == "dualpipe":
        return (f"DualPipe bidirectional pipeline (DeepSeek-V3): bubble (pp/2 - 1)(F&B + B - 3W), two copies of the "
                f"weights, pp + 1 micro-batches' activations, expert all-to-all and sends hidden behind compute"
                f"{uneven}")
    if plan.vp > 1:
        return (f"interleaved 1F1B pipeline, {plan.vp} virtual stages per device: step = m x slowest stage + "
                f"the others / vp{uneven}")
    return f"{plan.schedule.upper()} pipeline: step = (m - 1) x slowest stage + sum of stages{uneven}"


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
