"""Many plans scored at once: the plan search's engine (``run/search.py`` enumerates, this module scores).

A candidate is a base plan (tp, cp, pp, vp, dp, ep, micro-batch, ZeRO stage, sequence parallelism) at one
recompute level. What a pipeline stage costs on one device depends on its shape alone (tp, cp,
micro-batch, sequence and expert parallelism, its layers, whether it holds the embedding or the head),
so each distinct shape is expanded and priced once, through the same kernels and roofline as one
estimate, in three variants: no recompute, full recompute of every layer, selective recompute. Full
recompute of n of a stage's L layers adds n/L of the full variant's recompute kernels (each layer's
forward again); a stage's activations are linear in the micro-batches in flight. Per base plan the
collectives (gradient reduction, ZeRO gathers, pipeline sends) are priced once per distinct size and
group by the alpha-beta model; per candidate, numpy arrays carry the exposed communication after
overlap, the pipeline schedule, the optimizer step, every stage's peak memory, energy and cost: the
formulas of ``cluster/stages.py`` and ``run/estimate.py`` in the same order, so that a candidate's step
time equals its estimate's (a test holds them to 1e-9). Schedules other than 1F1B (interleaved where
vp > 1) are not searched.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cluster.collectives import Group, collective_time_s
from ..cluster.stages import (
    comm_by_kind,
    hide,
    offload_times,
    overlaps,
    reduction_window,
    replica_collective,
    stage_keys,
)
from ..model import activations, transformer
from ..model.encdec import boundary_tokens
from ..model.memory import expert_split, offloaded, sharded_states
from ..model.ops import OP_CLASSES, PRECISIONS, execution_precision
from ..model.roofline import OpArrays, price
from ..model.step import host_dispatch_s
from ..schema.plan import Plan
from .estimate import run_cost

NONE, SELECTIVE, FULL = 0, 1, 2
MODES = {"none": NONE, "selective": SELECTIVE, "full": FULL}
_C = {c: i for i, c in enumerate(OP_CLASSES)}
CHUNK = 1 << 17  # candidates scored per pass of the arrays (bounds the memory a search takes)
# per shape and variant: compute, attention, matrix products, energy, host dispatch s, then tp, cp, ep, ulysses comm
_SUMS = 9


@dataclass(frozen=True)
class Scores:
    """Every candidate's score: ``base`` and ``level`` index the base plans and their recompute levels as
    given; ``fits``: every stage within the device's memory; ``finite``: every figure a finite number;
    ``objective`` and ``step_s``: the value ranked by and the step time (s)."""

    base: np.ndarray
    level: np.ndarray
    fits: np.ndarray
    finite: np.ndarray
    objective: np.ndarray
    step_s: np.ndarray


def slots(workload, pp: int) -> list[tuple[int | None, bool, bool, int, int, int]]:
    """The distinct stages of a pp-stage pipeline, as (layers, first, last, dense layers, how many, index
    of the first), in ``cluster.stages``' order (pp = 1: the whole model, layers None)."""
    if pp == 1:
        return [(None, True, True, transformer.first_layers(workload), 1, 0)]
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(stage_keys(workload, Plan(pp=pp))):
        groups.setdefault(key, [0, i])[0] += 1
    return [(L, first, last, dense, count, index) for (L, first, last, dense), (count, index) in groups.items()]


class _Shapes:
    """The distinct stage shapes met so far, each priced once on ``profile`` (rows of arrays). A stage
    is priced from blocks (``transformer.stage_blocks``): one layer's kernels (a stage of L layers runs
    them L times), the embedding's and the head's, priced once per (tp, cp, micro-batch, sp, ep), and
    the weight casts and the optimizer step, priced once per parameter count."""

    def __init__(self, profile, workload):
        self.profile, self.workload = profile, workload
        self.index: dict[tuple, int] = {}
        self.rows: list[dict] = []
        self.blocks: dict[tuple, dict] = {}
        self.states: dict[tuple, dict] = {}

    def of(self, key: tuple) -> int:
        """The row of shape ``key`` = (tp, cp, mb, sp, ep, layers, first, last, dense), priced when new."""
        row = self.index.get(key)
        if row is None:
            row = self.index[key] = len(self.rows)
            self.rows.append(self._price(key))
        return row

    def _sums(self, ops, groups: Plan, once: int = 0) -> tuple[np.ndarray, float, float]:
        """[compute, attention, matrix products, energy, host dispatch s, comm tp, cp, ep, ulysses] of ``ops`` on
        the device, and the time and energy of the last ``once`` (once-per-step) among them."""
        compute = [op for op in ops if op.op_class != "communication"]
        comm = comm_by_kind([op for op in ops if op.op_class == "communication"], self.profile, groups)
        out = np.zeros(_SUMS)
        out[5:] = comm["tp"], comm["cp"], comm["ep"], comm["ulysses"]
        if not compute:
            return out, 0.0, 0.0
        arrays = OpArrays.of(compute, once=once)
        priced = price(arrays, self.profile)
        t = priced.time_s * arrays.count
        by_class = (t * arrays.pass_mask) @ arrays.class_onehot
        energy = t * priced.power_watts
        out[:5] = (by_class.sum(), by_class[_C["attention"]] + by_class[_C["attention_backward"]],
                   by_class[_C["gemm"]] + by_class[_C["sparse_gemm"]], (energy * arrays.pass_mask).sum(),
                   host_dispatch_s(arrays.class_static, self.profile, self.workload.execution))
        rest = 1.0 - arrays.pass_mask
        return out, float((t * rest).sum()), float((energy * rest).sum())

    def _blocks(self, key: tuple) -> dict:
        hit = self.blocks.get(key)
        if hit is None:
            w = self.workload
            tp, cp, mb, sp, ep, first, last = key
            groups = Plan(tp=tp, cp=cp, ep=ep)
            b = transformer.stage_blocks(w, float(mb), transformer.Split(tp, sp, ep, 1, first, last, cp=cp, dense=0))
            ends = b["first_fwd"] + b["last_fwd"] + b["loss"] + b["last_bwd"] + b["first_bwd"]
            selective = [op for op in b["layer_fwd"] if op.name in transformer.SELECTIVE_OPS]
            hit = self.blocks[key] = {
                "layer": self._sums(b["layer_fwd"] + b["layer_bwd"], groups)[0], "ends": self._sums(ends, groups)[0],
                "recompute": self._sums(b["layer_fwd"], groups)[0],
                "selective": self._sums(selective, groups)[0] if w.attention == "naive" else np.zeros(_SUMS)}
            if transformer.first_layers(w):  # a first layer's kernels (dense, or an encoder's)
                dl = transformer.layer_ops(w, float(mb), execution_precision(w.training.precision, w.execution),
                                           transformer.Split(tp, sp, ep, 1, first, last, cp=cp, dense=1))
                hit["dense_layer"] = self._sums(dl[0] + dl[1], groups)[0]
                hit["dense_recompute"] = self._sums(dl[0], groups)[0]
                hit["dense_selective"] = (self._sums([op for op in dl[0] if op.name in transformer.SELECTIVE_OPS],
                                                     groups)[0] if w.attention == "naive" else np.zeros(_SUMS))
        return hit

    def _states(self, key: tuple) -> dict:
        hit = self.states.get(key)
        if hit is None:
            w = self.workload
            tp, ep, layers, first, last, dense = key
            split = transformer.Split(tp, False, ep, layers, first, last, dense=dense)
            b = transformer.stage_blocks(w, 1.0, split)
            casts, once_s, once_j = self._sums(b["casts"] + b["optimizer"], Plan(tp=tp), once=len(b["optimizer"]))
            once_bytes = float(sum(op.bytes * op.count for op in b["optimizer"]))
            params = transformer.device_parameters(w, split)
            exe = execution_precision(w.training.precision, w.execution)
            rest, experts = expert_split(w, params, exe, None, ep)
            hit = self.states[key] = {
                "casts": casts, "once_s": once_s, "once_j": once_j, "once_bytes": once_bytes, "params": params["total"],
                "expert": params["expert"], "rest_states": rest, "expert_states": experts}
        return hit

    def _price(self, key: tuple) -> dict:
        w = self.workload
        tp, cp, mb, sp, ep, layers, first, last, dense = key
        L = layers or w.layers
        blocks = self._blocks((tp, cp, mb, sp, ep, first, last))
        states = self._states((tp, ep, layers, first, last, dense))
        acts = {mode: [activations.activation_bytes(w, mb, transformer.Split(tp, sp, ep, layers, first, last, cp=cp,
                                                                             recompute=mode, dense=dense), f)
                       for f in (0.0, 1.0)] for mode in ("none", "full", "selective")}
        layer, recompute = (L - dense) * blocks["layer"], (L - dense) * blocks["recompute"]
        if dense:
            layer, recompute = layer + dense * blocks["dense_layer"], recompute + dense * blocks["dense_recompute"]
        per_layer = acts["full"][0]["layers"]  # full recompute, nothing in flight: the one layer being recomputed
        return {"none": layer + blocks["ends"] + states["casts"], "full": recompute,
                "selective": (L - dense) * blocks["selective"] + (dense * blocks["dense_selective"] if dense else 0.0),
                **{k: states[k] for k in ("once_s", "once_j", "once_bytes", "params", "expert", "rest_states",
                                          "expert_states")},
                "kept_none": acts["none"][1]["layers"],
                "kept_selective": acts["selective"][1]["layers"], "per_layer": per_layer,
                # what each recomputed layer keeps per micro-batch in flight: its input
                "kept_input": (acts["full"][1]["layers"] - per_layer) / L,
                "logits": acts["none"][0]["logits"], "embedding": acts["none"][0]["embedding"]}

    def column(self, name: str) -> np.ndarray:
        """One priced quantity of every shape, as an array (rows of vectors stacked)."""
        return np.array([r[name] for r in self.rows])


class _Collectives:
    """Collective times by (kind, bytes, group), each priced once (many base plans share them)."""

    def __init__(self, profile):
        self.profile, self.memo = profile, {}

    def __call__(self, kind: str, nbytes: float, size: int, stride: int) -> float:
        key = (kind, nbytes, size, stride)
        t = self.memo.get(key)
        if t is None:
            t = self.memo[key] = collective_time_s(kind, nbytes, Group(size, stride), self.profile)
        return t


def _base_terms(profile, workload, bases: list[tuple], shapes: _Shapes) -> dict[str, np.ndarray]:
    """What each base plan's stages cost whatever the recompute level: shape rows, layers, how many
    stages of each kind, micro-batches in flight, gradient reduction and ZeRO gathers, the optimizer
    step, the model states in memory (ZeRO-sharded) and the pipeline sends."""
    w = workload
    p, exe = PRECISIONS[w.training.precision], execution_precision(w.training.precision, w.execution)
    gbs = w.training.global_batch_size
    coll = _Collectives(profile)
    by_pp = {pp: slots(w, pp) for pp in {b[2] for b in bases}}
    S = max(len(s) for s in by_pp.values())
    shape = np.zeros((len(bases), S), dtype=np.int64)
    count, inflight, states, grads, grad, gather, opt_s, opt_j, host, down, up, zero3 = (
        np.zeros((len(bases), S)) for _ in range(12))
    layers = np.ones((len(bases), S))  # (padding: one layer, none of it there)
    p2p, m_of, vp_of, most = (np.zeros(len(bases)) for _ in range(4))
    for b, (tp, cp, pp, vp, dp, ep, mb, zero, sp, offload) in enumerate(bases):
        m = gbs // dp // mb
        replicas = dp * cp
        m_of[b], vp_of[b] = m, vp
        if pp > 1:  # activations forward and gradients backward across each chunk's boundary
            boundary = p.act_bytes * mb * boundary_tokens(w) / cp * w.d_model / (tp if sp else 1)
            p2p[b] = 2 * vp * coll("p2p", boundary, 2, tp * cp * dp)
        shard = [replicas if zero >= k else 1 for k in (1, 2, 3)]
        for s, (L, first, last, dense, n, index) in enumerate(by_pp[pp]):
            shape[b, s] = shapes.of((tp, cp, mb, sp, ep, L, first, last, dense))
            row = shapes.rows[shape[b, s]]
            layers[b, s], count[b, s] = L or w.layers, n
            inflight[b, s] = (min(m, pp - index) if vp == 1 else
                              min(m * vp, 2 * (pp - index - 1) + (vp - 1) * pp + 1) / vp)
            weights, optimizer_states, low_precision, gradients = sharded_states(
                offloaded(row["rest_states"], exe, offload), offloaded(row["expert_states"], exe, offload), zero,
                replicas, ep)
            states[b, s] = weights + optimizer_states + low_precision
            grads[b, s] = gradients
            group, expert = (replicas, tp, ep), row["expert"]
            grad[b, s] = replica_collective(coll, "reduce_scatter" if zero >= 2 else "all_reduce", p.master_bytes,
                                            row["params"], expert, group)
            if zero >= 1 and replicas > 1:  # updated shards gathered back to every replica, once per step
                gather[b, s] = replica_collective(coll, "all_gather", p.act_bytes, row["params"], expert, group)
            if zero == 3:  # and, for stage 3, the weights before each forward and backward of each pass
                zero3[b, s] = 2 * replica_collective(coll, "all_gather", p.act_bytes, row["params"], expert, group)
            opt_s[b, s], opt_j[b, s] = row["once_s"] / shard[0], row["once_j"] / shard[0]
            down[b, s], up[b, s], host[b, s], host_step_s = offload_times(profile, offload, p, row["params"], shard[0],
                                                                          row["once_bytes"] / shard[0])
            if offload != "none":  # the host steps the optimizer; the device waits at idle
                opt_s[b, s], opt_j[b, s] = host_step_s, host_step_s * profile.power.idle_watts
        most[b] = layers[b].max()
    busiest = opt_s.argmax(axis=1)  # the first of the largest, as max() picks
    at = np.arange(len(bases))
    return {"shape": shape, "layers": layers, "count": count, "inflight": inflight, "states": states,
            "grads": grads, "grad": grad.max(axis=1), "gather": gather.max(axis=1), "opt_s": opt_s[at, busiest],
            "opt_j": opt_j[at, busiest], "p2p": p2p, "m": m_of, "vp": vp_of, "most": most, "host": host, "zero3": zero3,
            "down": down.max(axis=1), "up": up.max(axis=1)}


def score(profile, workload, options, bases: list[tuple], levels, objective: str) -> Scores:
    """Score every base plan in ``bases`` ((tp, cp, pp, vp, dp, ep, mb, zero, sp, offload) each) at every recompute
    level ``levels(most_layers)`` gives ((recompute, recompute_layers) each, None the workload's default),
    under the run ``options``; rank by ``objective`` (``step_time_s``, ``cost_usd`` or ``energy_joules``)."""
    shapes = _Shapes(profile, workload)
    t = _base_terms(profile, workload, bases, shapes)
    cols = {name: shapes.column(name) for name in ("none", "full", "selective", "kept_none", "kept_selective",
                                                    "per_layer", "kept_input", "logits", "embedding")}
    default = FULL if workload.training.activation_recompute else NONE
    mosts = sorted(set(t["most"].astype(int).tolist()))
    tables = [[(default if mode is None else MODES[mode], n or 0) for mode, n in levels(most)] for most in mosts]
    width = max(len(tb) for tb in tables)
    mode_of = np.array([[lv[0] for lv in tb] + [0] * (width - len(tb)) for tb in tables])
    n_of = np.array([[lv[1] for lv in tb] + [0] * (width - len(tb)) for tb in tables])
    most_id = np.searchsorted(mosts, t["most"].astype(int))
    per_base = np.array([len(tables[i]) for i in most_id], dtype=np.int64)
    base = np.repeat(np.arange(len(bases)), per_base)
    level = np.arange(len(base)) - np.repeat(np.cumsum(per_base) - per_base, per_base)
    out = [np.empty(len(base)) for _ in range(2)] + [np.empty(len(base), dtype=bool) for _ in range(2)]
    for lo in range(0, len(base), CHUNK):
        cut = slice(lo, lo + CHUNK)
        b, lv = base[cut], level[cut]
        step, e_step, fits, finite = _chunk(profile, t, cols, b, mode_of[most_id[b], lv], n_of[most_id[b], lv],
                                            workload.execution)
        out[0][cut], out[1][cut], out[2][cut], out[3][cut] = step, e_step, fits, finite
    step, e_step, fits, finite = out
    value = _objective(profile, workload, options, step, e_step, objective)
    finite &= np.isfinite(value) & np.isfinite(step)
    return Scores(base, level, fits, finite, value, step)


def _chunk(profile, t: dict, cols: dict, b: np.ndarray, mode: np.ndarray, n: np.ndarray, stack: str | None = None):
    """Step time (s), device energy per step (J), fits and finite for candidates of base ``b`` at recompute
    ``mode`` covering ``n`` layers per stage (0: all): ``cluster.stages.pipeline_step``, as arrays."""
    cpu, idle = profile.kind == "cpu", profile.power.idle_watts
    default = Plan()
    on = overlaps(default, stack)
    full, sel = mode == FULL, mode == SELECTIVE
    slow = np.full(len(b), -np.inf)
    slow_energy, slow_comm, slow_gap, slow_hidden, passes = (np.zeros(len(b)) for _ in range(5))
    fits, finite = np.ones(len(b), dtype=bool), np.ones(len(b), dtype=bool)
    for s in range(t["shape"].shape[1]):
        valid = t["count"][b, s] > 0
        if not valid.any():
            continue
        r, L = t["shape"][b, s], t["layers"][b, s]
        covered = np.where(full, np.where(n == 0, L, np.minimum(n, L)), 0.0)
        v = cols["none"][r] + (covered / L)[:, None] * cols["full"][r] + sel[:, None] * cols["selective"][r]
        compute, energy, host = v[:, 0], v[:, 3], v[:, 4]  # host: the pass's dispatch seconds
        gap = host if cpu else np.maximum(0.0, host - compute)
        comm = {"tp": v[:, 5], "cp": v[:, 6], "ep": v[:, 7], "ulysses": v[:, 8], "p2p": t["p2p"][b],
                "zero3": t["zero3"][b, s], "host": t["host"][b, s]}
        covers = {"cp": v[:, 1], "tp": v[:, 2], "ep": compute, "p2p": compute, "ulysses": 0.0, "zero3": compute,
                  "host": compute}
        exposed, hidden = hide(comm, covers, compute, on)
        pass_s = compute + gap + exposed
        f = t["inflight"][b, s]
        kept = np.where(full, f * (covered * cols["kept_input"][r] + (L - covered) * cols["per_layer"][r])
                        + cols["per_layer"][r], np.where(sel, f * cols["kept_selective"][r], f * cols["kept_none"][r]))
        forward_end = kept + cols["logits"][r] + cols["embedding"][r]
        memory = t["states"][b, s] + np.maximum(forward_end, t["grads"][b, s] + cols["logits"][r])
        fits &= ~valid | (memory <= profile.memory_bytes)
        finite &= ~valid | np.isfinite(memory)
        slower = valid & (pass_s > slow)  # the first of the slowest, as max() picks
        slow = np.where(slower, pass_s, slow)
        slow_energy = np.where(slower, energy, slow_energy)
        slow_comm = np.where(slower, exposed, slow_comm)
        slow_gap = np.where(slower, gap, slow_gap)
        slow_hidden = np.where(slower, hidden, slow_hidden)
        passes = passes + np.where(valid, pass_s * t["count"][b, s], 0.0)
    m, vp = t["m"][b], t["vp"][b]
    pipeline = np.where(vp > 1, m * slow + (passes - slow) / vp, (m - 1) * slow + passes)
    grad = t["grad"][b]
    exposed_grad = (np.maximum(0.0, grad - reduction_window(slow, slow_hidden)) if default.overlap_grad_reduce
                    else grad)
    gather = t["gather"][b] + np.maximum(0.0, t["down"][b] - 2.0 / 3.0 * slow) + t["up"][b]  # and offload's
    step = pipeline + exposed_grad + gather + t["opt_s"][b]
    waiting = m * slow_comm + exposed_grad + gather + (pipeline - m * slow) + m * slow_gap
    return step, m * slow_energy + idle * waiting + t["opt_j"][b], fits, finite


def _objective(profile, workload, options, step: np.ndarray, e_step: np.ndarray, objective: str) -> np.ndarray:
    """The ranked quantity of every candidate: its step time, or the run's cost or energy
    (``run/estimate.py``'s arithmetic on arrays)."""
    if objective == "step_time_s":
        return step
    n, steps = options.devices, workload.total_steps
    total_s = step * steps
    device_j = e_step * steps * n
    host_j = profile.power.host_per_device_watts * total_s * n
    energy = device_j + host_j + (options.pue - 1.0) * (device_j + host_j)
    if objective == "energy_joules":
        return energy
    _, parts, _ = run_cost(profile, options, total_s * n, energy)
    return parts["rental_usd"] + parts["amortisation_usd"] + parts["electricity_usd"]
