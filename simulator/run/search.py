"""Plan search: enumerate the valid plans for a workload on N devices, estimate each, keep those that
fit, and rank them by time, cost or energy (the "optimal execution" search of LLM performance models)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ..errors import CostsimError, OutOfMemoryError
from ..model.finite import OutOfRangeError
from ..schema.options import RunOptions
from ..schema.plan import Plan, stage_layers
from ..schema.workload import TransformerWorkload
from .estimate import Estimate, estimate_run

OBJECTIVES = {"time": "step_time_s", "cost": "cost_usd", "energy": "energy_joules"}
MICRO_BATCHES = (1, 2, 4, 8, 16, 32)
VIRTUAL_STAGES = (1, 2, 4)
CONTEXT_PARALLEL = (1, 2, 4, 8, 16)  # searched from 8,192-token sequences up (the long-context phases)
LONG_CONTEXT_TOKENS = 8192


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _pipeline_depths(workload, devices: int) -> list[int]:
    """Stage counts: dividing the layers, or leaving the first and last stages one layer lighter."""
    out = []
    for pp in _divisors(devices):
        base = -(-workload.layers // pp)
        if pp <= workload.layers and base * pp - workload.layers in (0, 1, 2):
            out.append(pp)
    return out


def _interleavings(workload, plan: Plan, per_replica: int) -> list[int]:
    """Virtual stages per device that the interleaved schedule allows for ``plan``."""
    if plan.pp == 1:
        return [1]
    m = per_replica // plan.mb
    least = min(stage_layers(workload, plan))
    return [vp for vp in VIRTUAL_STAGES if vp == 1 or (m % plan.pp == 0 and least >= vp)]


def candidate_plans(workload, devices: int, devices_per_node: int) -> Iterator[Plan]:
    """Every plan that divides the work: tp within a node and dividing the heads; cp (sequences of
    8,192 tokens and more) dividing the sequence into 2 cp chunks; pp dividing the layers or leaving the
    first and last stages one layer lighter; interleaving (vp 2 or 4) where the micro-batches allow it;
    dp dividing the batch; micro-batches that divide a replica's batch; ZeRO 0-3 when data parallel;
    sequence parallelism with tensor parallelism; expert parallelism dividing the experts and dp for a
    mixture of experts. Recompute is chosen in :func:`search` (the least that fits)."""
    gbs = workload.training.global_batch_size
    if not isinstance(workload, TransformerWorkload):
        if gbs % devices == 0:
            yield Plan(dp=devices)
        return
    cps = [cp for cp in CONTEXT_PARALLEL if workload.seq_len >= LONG_CONTEXT_TOKENS and devices % cp == 0
           and workload.seq_len % (2 * cp) == 0] or [1]
    for tp in _divisors(devices):
        if tp > devices_per_node or workload.heads % tp:
            continue
        for cp in (c for c in cps if (devices // tp) % c == 0):
            for pp in _pipeline_depths(workload, devices // (tp * cp)):
                dp = devices // (tp * cp * pp)
                if gbs % dp:
                    continue
                yield from _plans_of(workload, tp, cp, pp, dp)


def _plans_of(workload, tp: int, cp: int, pp: int, dp: int) -> Iterator[Plan]:
    per_replica = workload.training.global_batch_size // dp
    mbs = sorted({mb for mb in MICRO_BATCHES if per_replica % mb == 0} | ({per_replica} if pp == 1 else set()))
    eps = [ep for ep in _divisors(dp) if workload.experts % ep == 0] if workload.experts > 1 else [1]
    for mb in mbs:
        for vp in _interleavings(workload, Plan(pp=pp, mb=mb), per_replica):
            for zero in ((0, 1, 2, 3) if dp * cp > 1 else (0,)):
                for sp in ((False, True) if tp > 1 else (False,)):
                    for ep in eps:
                        yield Plan(tp=tp, cp=cp, pp=pp, vp=vp, dp=dp, ep=ep, mb=mb, zero=zero, sp=sp)


def recompute_ladder(workload, plan: Plan) -> list[Plan]:
    """``plan`` with ever more activation recompute, least first: the workload's own level (none, or full
    where it asks for it), then full recompute of a quarter, half, three quarters and all of each
    stage's layers (transformers). Recompute only adds time, so the first rung that fits is the fastest."""
    if not isinstance(workload, TransformerWorkload) or workload.training.activation_recompute:
        return [plan]
    most = max(stage_layers(workload, plan))
    counts = sorted({max(1, most * k // 4) for k in (1, 2, 3)} - {most})
    return [plan] + [plan.model_copy(update={"recompute": "full", "recompute_layers": n}) for n in counts] + [
        plan.model_copy(update={"recompute": "full"})]


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
        candidates: plans in the space (every factorisation and option the search enumerates).
        estimated: estimates made (a candidate that does not fit is tried again with more recompute).
        fitted: candidates with a plan that fits.
        pruned: candidates left out, by reason: ``memory`` (no recompute level fits), ``invalid`` (a rule of
            the plan the enumeration cannot see, such as the micro-batches an interleaving needs).
    """

    candidates: int
    estimated: int
    fitted: int
    pruned: dict[str, int]


def search(profile, workload, devices: int, objective: str = "time", options: RunOptions | None = None,
           top: int = 10) -> list[tuple[Plan, Estimate]]:
    """The ``top`` plans that fit, best first by ``objective`` (time, cost or energy)."""
    return search_space(profile, workload, devices, objective, options, top)[0]


def search_space(profile, workload, devices: int, objective: str = "time", options: RunOptions | None = None,
                 top: int = 10) -> tuple[list[tuple[Plan, Estimate]], SearchSpace]:
    """:func:`search`'s plans, and what the search went through (:class:`SearchSpace`)."""
    if objective not in OBJECTIVES:
        raise CostsimError(f"unknown objective '{objective}'; known: {', '.join(OBJECTIVES)}", field="objective")
    base = options or RunOptions(devices=devices)
    key = OBJECTIVES[objective]
    found, last_error, candidates, estimated = [], None, 0, 0
    pruned = {"memory": 0, "invalid": 0}
    domain = min(profile.topology.scale_up_domain_devices or profile.devices_per_node, 64)
    for candidate in candidate_plans(workload, devices, domain):
        candidates += 1
        why = "memory"
        for plan in recompute_ladder(workload, candidate):
            estimated += 1
            try:
                e = estimate_run(profile, workload, base.model_copy(update={"devices": devices, "plan": plan}))
            except OutOfRangeError:  # an input out of range (a result not finite): bad input, not a plan's problem
                raise
            except OutOfMemoryError as err:  # more recompute may fit
                last_error = err
                continue
            except CostsimError as err:  # not valid here: not a candidate
                last_error, why = err, "invalid"
                break
            found.append((plan, e))
            why = None
            break
        if why:
            pruned[why] += 1
    if not candidates:
        raise CostsimError(no_factorisation(workload, devices, domain), field="devices")
    if not found:
        reason = f" (for example: {last_error.problem})" if last_error else ""
        raise CostsimError(f"no plan for {devices} devices fits{reason}", field="devices")
    found.sort(key=lambda pe: (getattr(pe[1], key), pe[1].step_time_s))
    return found[:top], SearchSpace(candidates, estimated, len(found), pruned)
