"""Plan search: enumerate the valid plans for a workload on N devices, estimate each, keep those that
fit, and rank them by time, cost or energy (the "optimal execution" search of LLM performance models)."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..errors import CostsimError, OutOfMemoryError
from ..model.finite import OutOfRangeError
from ..schema.options import RunOptions
from ..schema.plan import Plan, parse_plan, stage_layers
from ..schema.workload import TransformerWorkload
from . import phases, scoring
from .estimate import Estimate, estimate_run
from .stack import with_execution

OBJECTIVES = {"time": "step_time_s", "cost": "cost_usd", "energy": "energy_joules"}
MICRO_BATCHES = (1, 2, 4, 8, 16, 32)
VIRTUAL_STAGES = (1, 2, 4)
CONTEXT_PARALLEL = (1, 2, 4, 8, 16)  # searched from 8,192-token sequences up (the long-context phases)
LONG_CONTEXT_TOKENS = 8192


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


# stages that may come up one layer short where the layers do not divide: the two at each end, which also
# hold the embedding, the head and any multi-token modules (61 layers on 16 stages: 3, 3, 4, ..., 4, 3)
LIGHTER_STAGES = 4


def _pipeline_depths(workload, devices: int) -> list[int]:
    """Stage counts: dividing the layers, or leaving up to the two stages at each end one layer lighter."""
    out = []
    for pp in _divisors(devices):
        base = -(-workload.layers // pp)
        if pp <= workload.layers and base * pp - workload.layers <= min(LIGHTER_STAGES, pp - 1):
            out.append(pp)
    return out


def base_plans(workload, devices: int, devices_per_node: int, offloads: tuple[str, ...] = ("none",)
               ) -> Iterator[tuple]:
    """Every base plan that divides the work, as (tp, cp, pp, vp, dp, ep, mb, zero, sp, offload): tp within a node
    and dividing the heads; cp (sequences of 8,192 tokens and more) dividing the sequence into 2 cp
    chunks; pp dividing the layers or leaving the first and last stages one or two layers lighter;
    interleaving (vp 2 or 4) where the micro-batches allow it; dp dividing the batch; micro-batches that
    divide a replica's batch; ZeRO 0-3 when data parallel; sequence parallelism with tensor parallelism;
    expert parallelism dividing the experts and dp for a mixture of experts; each of ``offloads``. Each is
    searched at every recompute level (:func:`recompute_levels`)."""
    gbs = workload.training.global_batch_size
    if not isinstance(workload, TransformerWorkload):
        if gbs % devices == 0:
            yield from ((1, 1, 1, 1, devices, 1, gbs // devices, 0, False, o) for o in offloads)
        return
    cps = [cp for cp in CONTEXT_PARALLEL if workload.seq_len >= LONG_CONTEXT_TOKENS and devices % cp == 0
           and not workload.encoder_layers
           and workload.seq_len % (2 * cp) == 0] or [1]
    for tp in _divisors(devices):
        if tp > devices_per_node or workload.heads % tp or (workload.kv_heads or workload.heads) % tp:
            continue
        for cp in (c for c in cps if (devices // tp) % c == 0):
            for pp in _pipeline_depths(workload, devices // (tp * cp)):
                dp = devices // (tp * cp * pp)
                if gbs % dp:
                    continue
                yield from _plans_of(workload, tp, cp, pp, dp, offloads)


def candidate_plans(workload, devices: int, devices_per_node: int) -> Iterator[Plan]:
    """:func:`base_plans` as plans (a cnn or other non-transformer: data parallel, its default micro-batch)."""
    for base in base_plans(workload, devices, devices_per_node):
        yield _plan(base, (None, None)) if isinstance(workload, TransformerWorkload) else Plan(dp=base[4])


def _plans_of(workload, tp: int, cp: int, pp: int, dp: int, offloads: tuple[str, ...]) -> Iterator[tuple]:
    per_replica = workload.training.global_batch_size // dp
    mbs = sorted({mb for mb in MICRO_BATCHES if per_replica % mb == 0} | ({per_replica} if pp == 1 else set()))
    eps = [ep for ep in _divisors(dp) if workload.experts % ep == 0] if workload.experts > 1 else [1]
    least = min(stage_layers(workload, Plan(pp=pp)))
    for mb in mbs:
        m = per_replica // mb
        vps = [vp for vp in VIRTUAL_STAGES if vp == 1 or (pp > 1 and m % pp == 0 and least >= vp
                                                           and not workload.encoder_layers)]
        for vp in vps:
            for zero in ((0, 1, 2, 3) if dp * cp > 1 else (0,)):
                for sp in ((False, True) if tp > 1 else (False,)):
                    for ep in eps:
                        yield from ((tp, cp, pp, vp, dp, ep, mb, zero, sp, o) for o in offloads)


def recompute_levels(workload, most_layers: int) -> list[tuple[str | None, int | None]]:
    """The recompute levels searched, least recompute first, as (recompute, recompute_layers) of a plan:
    none; selective (naive attention only: with flash attention it keeps what none keeps); full recompute
    of 1, 2, ... of each stage's layers (at most ``most_layers``, the largest stage's); full. The level the
    workload asks for by default is given as None (the plan says nothing). Not transformers: one level."""
    if not isinstance(workload, TransformerWorkload) or workload.variant.forward_only:
        return [(None, None)]
    default = "full" if workload.training.activation_recompute else "none"
    levels = [("none", None)] + ([("selective", None)] if workload.attention == "naive" else [])
    levels += [("full", n) for n in range(1, most_layers)] + [("full", None)]
    return [(None if (mode, n) == (default, None) else mode, n) for mode, n in levels]


def recompute_ladder(workload, plan: Plan) -> list[Plan]:
    """``plan`` at each of :func:`recompute_levels`."""
    most = max(stage_layers(workload, plan)) if isinstance(workload, TransformerWorkload) else 1
    return [plan.model_copy(update={"recompute": mode, "recompute_layers": n})
            for mode, n in recompute_levels(workload, most)]


def _has_plan(workload, devices: int, devices_per_node: int) -> bool:
    return next(iter(candidate_plans(workload, devices, devices_per_node)), None) is not None


def nearest_device_counts(workload, devices: int, devices_per_node: int) -> tuple[int | None, int | None]:
    """The nearest device counts below and above ``devices`` for which some plan divides the work
    (None where there is none: below, down to 1; above, up to four times ``devices`` plus 64)."""
    below = next((d for d in range(devices - 1, 0, -1) if _has_plan(workload, d, devices_per_node)), None)
    above = next((d for d in range(devices + 1, 4 * devices + 65) if _has_plan(workload, d, devices_per_node)),
                 None)
    return below, above


def nearest_batches(workload, devices: int, devices_per_node: int) -> tuple[int | None, int | None]:
    """The nearest global batches below and above the workload's for which some plan on ``devices``
    divides the work (searched within a factor of two; None where there is none)."""
    gbs = workload.training.global_batch_size

    def works(batch: int) -> bool:
        training = workload.training.model_copy(update={"global_batch_size": batch, "micro_batch_size": None})
        return _has_plan(workload.model_copy(update={"training": training}), devices, devices_per_node)
    below = next((b for b in range(gbs - 1, max(gbs // 2, 1) - 1, -1) if works(b)), None)
    above = next((b for b in range(gbs + 1, 2 * gbs + 1) if works(b)), None)
    return below, above


def no_factorisation(workload, devices: int, devices_per_node: int) -> str:
    """Why no plan exists for ``devices`` devices, naming the constraints, and the nearest counts that work."""
    gbs = workload.training.global_batch_size
    if isinstance(workload, TransformerWorkload):
        what = (f"no factorisation of {devices} into tp x pp x dp has tp dividing the {workload.heads} heads "
                f"(tp at most {devices_per_node}, within a node), pp splitting the {workload.layers} layers (evenly, "
                f"or the first and last stages a layer or two lighter) and dp dividing the global batch of {gbs}")
    else:
        what = (f"a {workload.kind} workload is split data parallel only, and dp = {devices} does not divide the "
                f"global batch of {gbs}")
    near = [str(d) for d in nearest_device_counts(workload, devices, devices_per_node) if d is not None]
    hint = f"; nearest device counts that work: {' and '.join(near)}" if near else ""
    batches = [str(b) for b in nearest_batches(workload, devices, devices_per_node) if b is not None]
    hint += f"; nearest global batches that work on {devices}: {' and '.join(batches)}" if batches else ""
    return f"no plan for {devices} devices: {what}{hint}"


@dataclass(frozen=True)
class SearchSpace:
    """What a plan search went through.

    Attributes:
        candidates: plans in the space: every base plan (factorisation and options) at every recompute level.
        scored: candidates scored (all of them: the search prunes nothing before scoring).
        fitted: candidates that fit in memory.
        pruned: candidates left out, by reason: ``memory`` (the peak of some stage exceeds the device's
            memory), ``invalid`` (a rule the enumeration cannot see; none are known today).
    """

    candidates: int
    scored: int
    fitted: int
    pruned: dict[str, int]


FIXABLE = ("tp", "cp", "pp", "vp", "dp", "ep", "mb", "zero", "sp", "offload", "recompute", "recompute_layers")
OFFLOADS = ("none", "optimizer", "params")


def searched_offloads(profile) -> tuple[str, ...]:
    """The offload choices a search tries on ``profile``: all three where it gives a host link and host
    memory bandwidth, else none."""
    return OFFLOADS if profile.host_link and profile.host_memory_bandwidth_bytes_per_s else ("none",)


def parse_fix(text: str | None) -> dict:
    """``tp=8,pp=16`` (plan items, ``FIXABLE`` ones) to the dimensions a search keeps fixed."""
    if not text:
        return {}
    try:
        plan = parse_plan(text)
    except CostsimError as err:
        raise CostsimError(err.problem, field="fix") from None
    other = sorted(set(plan.model_fields_set) - set(FIXABLE))
    if other:
        raise CostsimError(f"{', '.join(other)} cannot be fixed in a search: fix any of {', '.join(FIXABLE)}",
                           field="fix")
    return {k: getattr(plan, k) for k in plan.model_fields_set}


def _values(workload, devices: int, domain: int, dim: int) -> str:
    return "/".join(map(str, sorted({b[dim] for b in base_plans(workload, devices, domain)})))


def _kept(fix: dict, base: tuple) -> bool:
    dims = dict(zip(("tp", "cp", "pp", "vp", "dp", "ep", "mb", "zero", "sp", "offload"), base))
    return all(dims[k] == v for k, v in fix.items() if k in dims)


def _level_kept(fix: dict, workload, level: tuple) -> bool:
    if "recompute" not in fix and "recompute_layers" not in fix:
        return True
    default = "full" if getattr(getattr(workload, "training", None), "activation_recompute", False) else "none"
    mode, n = level[0] or default, level[1]
    return fix.get("recompute", mode) == mode and fix.get("recompute_layers", n) == n


def search(profile, workload, devices: int, objective: str = "time", options: RunOptions | None = None,
           top: int = 10, fix: dict | None = None) -> list[tuple[Plan, Estimate]]:
    """The ``top`` plans that fit, best first by ``objective`` (time, cost or energy)."""
    return search_space(profile, workload, devices, objective, options, top, fix)[0]


def search_space(profile, workload, devices: int, objective: str = "time", options: RunOptions | None = None,
                 top: int = 10, fix: dict | None = None) -> tuple[list[tuple[Plan, Estimate]], SearchSpace]:
    """:func:`search`'s plans, and what the search went through (:class:`SearchSpace`). ``fix``: plan
    dimensions held fixed (:func:`parse_fix`). Each base plan is reported at its best recompute level.
    Transformers are scored all at once (``run/scoring.py``), then the best ``top`` estimated one by one;
    other workloads, and forward-only models, by :func:`brute_force_search`."""
    if objective not in OBJECTIVES:
        raise CostsimError(f"unknown objective '{objective}'; known: {', '.join(OBJECTIVES)}", field="objective")
    if phases.phased(workload):
        raise CostsimError("the workload trains in phases, each with its own shape: a search runs on one run; give "
                           "each phase's plan in training.phases (plan: auto searches that phase)",
                           field="training.phases")
    fix = fix or {}
    workload = with_execution(profile, workload)
    opts = (options or RunOptions(devices=devices)).model_copy(update={"devices": devices, "plan": None})
    domain = min(profile.topology.scale_up_domain_devices or profile.devices_per_node, 64)
    offloads = (fix["offload"],) if "offload" in fix else ("none",)
    found = _search(profile, workload, opts, fix, offloads, domain, objective, top)
    if found is None and "offload" not in fix and searched_offloads(profile) != ("none",):
        found = _search(profile, workload, opts, fix, searched_offloads(profile), domain, objective, top)
    if found is None:  # nothing fits: the reason from the plan with the most of everything
        base = next(b for b in base_plans(workload, devices, domain, offloads) if _kept(fix, b))
        plan = (_plan(base, recompute_levels(workload, _most(workload, base))[-1])
                if isinstance(workload, TransformerWorkload) else Plan(dp=base[4]))
        try:
            estimate_run(profile, workload, opts.model_copy(update={"plan": plan}))
            reason = ""
        except CostsimError as err:
            reason = f" (for example: {err.problem})"
        raise CostsimError(f"no plan for {devices} devices fits{reason}", field="devices")
    return found


def _search(profile, workload, opts: RunOptions, fix: dict, offloads: tuple[str, ...], domain: int, objective: str,
            top: int) -> tuple[list[tuple[Plan, Estimate]], SearchSpace] | None:
    """:func:`search_space` over the base plans with ``offloads``; None where no plan fits."""
    devices = opts.devices
    bases = [b for b in base_plans(workload, devices, domain, offloads) if _kept(fix, b)]
    if not bases:
        if fix and next(iter(base_plans(workload, devices, domain)), None) is not None:
            raise CostsimError(f"no plan for {devices} devices has {', '.join(f'{k}={v}' for k, v in fix.items())} "
                               f"(the plans that divide the work: tp {_values(workload, devices, domain, 0)}, "
                               f"pp {_values(workload, devices, domain, 2)})", field="fix")
        raise CostsimError(no_factorisation(workload, devices, domain), field="devices")
    levels = functools.lru_cache(maxsize=None)(
        lambda most: [lv for lv in recompute_levels(workload, most) if _level_kept(fix, workload, lv)])
    if not isinstance(workload, TransformerWorkload) or workload.variant.forward_only or not _probe(
            profile, workload, opts, bases[0], levels):
        try:
            return brute_force_search(profile, workload, opts, bases, levels, objective, top)
        except CostsimError as err:
            if err.field == "devices" and "fits" in err.problem and "offload" not in fix and offloads == ("none",):
                return None
            raise
    scores = scoring.score(profile, workload, opts, bases, levels, OBJECTIVES[objective])
    for i in np.flatnonzero(~scores.finite)[:1]:  # a figure that is not finite: the estimate names its input
        estimate_run(profile, workload, opts.model_copy(update={"plan": _plan_of(workload, bases, levels, scores, i)}))
    ok = scores.fits & scores.finite
    space = SearchSpace(len(scores.base), len(scores.base), int(ok.sum()),
                        {"memory": int((scores.finite & ~scores.fits).sum()), "invalid": int((~scores.finite).sum())})
    if not ok.any():
        return None
    idx = np.flatnonzero(ok)
    order = idx[np.lexsort((scores.level[idx], scores.step_s[idx], scores.objective[idx], scores.base[idx]))]
    best = order[np.unique(scores.base[order], return_index=True)[1]]  # each base plan at its best level
    best = best[np.lexsort((scores.base[best], scores.step_s[best], scores.objective[best]))][:top]
    found = [(plan, estimate_run(profile, workload, opts.model_copy(update={"plan": plan})))
             for plan in (_plan_of(workload, bases, levels, scores, i) for i in best)]
    found.sort(key=lambda pe: (getattr(pe[1], OBJECTIVES[objective]), pe[1].step_time_s))
    return found, space


def _most(workload, base: tuple) -> int:
    return max(stage_layers(workload, Plan(pp=base[2])))


def _plan(base: tuple, level: tuple) -> Plan:
    tp, cp, pp, vp, dp, ep, mb, zero, sp, offload = base
    return Plan(tp=tp, cp=cp, pp=pp, vp=vp, dp=dp, ep=ep, mb=mb, zero=zero, sp=sp, recompute=level[0],
                recompute_layers=level[1], offload=offload)


def _plan_of(workload, bases, levels, scores, i: int) -> Plan:
    base = bases[scores.base[i]]
    return _plan(base, levels(_most(workload, base))[scores.level[i]])


def _probe(profile, workload, opts: RunOptions, base: tuple, levels) -> bool:
    """Whether the scorer applies: one estimate of ``base`` (at its most recompute) fits or is refused
    for memory only. Any other refusal (a device with no price, say) is left to the brute-force search,
    which reports it as the estimate does; a figure not finite raises here."""
    plan = _plan(base, levels(_most(workload, base))[-1])
    try:
        estimate_run(profile, workload, opts.model_copy(update={"plan": plan}))
    except OutOfMemoryError:
        return True
    except OutOfRangeError:
        raise
    except CostsimError:
        return False
    return True


def brute_force_search(profile, workload, opts: RunOptions, bases: list[tuple], levels, objective: str = "time",
                       top: int = 10) -> tuple[list[tuple[Plan, Estimate]], SearchSpace]:
    """The search by one estimate per candidate: every base plan at every recompute level, each base plan
    kept at its best level that fits. The reference the scorer is tested against; and the search for
    what the scorer does not model (cnn, MLP and generic workloads, forward-only models)."""
    key = OBJECTIVES[objective]
    found, last_error, candidates, fitted = [], None, 0, 0
    pruned = {"memory": 0, "invalid": 0}
    transformer = isinstance(workload, TransformerWorkload)
    for base in bases:
        ladder = levels(_most(workload, base)) if transformer else [(None, None)]
        candidates += len(ladder)
        best = None
        for i, level in enumerate(ladder):
            plan = _plan(base, level) if transformer else Plan(dp=base[4], offload=base[9])
            try:
                e = estimate_run(profile, workload, opts.model_copy(update={"plan": plan}))
            except OutOfRangeError:  # an input out of range (a result not finite): bad input, not a plan's problem
                raise
            except OutOfMemoryError as err:
                last_error = err
                pruned["memory"] += 1
                continue
            except CostsimError as err:  # not valid here: not a candidate
                last_error = err
                pruned["invalid"] += len(ladder) - i
                break
            fitted += 1
            if best is None or (getattr(e, key), e.step_time_s) < (getattr(best[1], key), best[1].step_time_s):
                best = (plan, e)
        if best:
            found.append(best)
    if not found:
        reason = f" (for example: {last_error.problem})" if last_error else ""
        raise CostsimError(f"no plan for {opts.devices} devices fits{reason}", field="devices")
    found.sort(key=lambda pe: (getattr(pe[1], key), pe[1].step_time_s))
    return found[:top], SearchSpace(candidates, candidates - pruned["invalid"], fitted, pruned)
