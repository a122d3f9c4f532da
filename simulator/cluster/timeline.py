"""The pipeline timeline of one training step: when each stage runs the forward and backward pass of each
chunk of each micro-batch, under GPipe, 1F1B or interleaved 1F1B (Narayanan et al. 2021, Megatron-LM's order).

List scheduling: each stage runs its passes in the schedule's order, one at a time; a pass starts when its
stage is free and the pass it depends on (the previous stage's forward, the next stage's backward) has ended.
Point-to-point sends take no time here (the stages' pass times may include them). Pure: numbers in, a tuple
of :class:`Pass` out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

SCHEDULES = ("1f1b", "gpipe", "zb-h1")


@dataclass(frozen=True)
class Pass:
    """One pass on the timeline: ``stage`` (0 first), ``chunk`` (its virtual stage, 0 without interleaving),
    ``micro_batch`` (0-based), ``phase`` "F" (forward) or "B" (backward), from ``start_s`` to ``end_s``."""

    stage: int
    chunk: int
    micro_batch: int
    phase: str
    start_s: float
    end_s: float


def _check(pp: int, vp: int, m: int, forward_s, backward_s, kind: str) -> None:
    for name, v in (("pp", pp), ("vp", vp), ("m", m)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, not {v!r}")
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r}; known: {', '.join(SCHEDULES)}")
    if vp > 1 and (kind != "1f1b" or pp == 1):
        raise ValueError("virtual stages (vp > 1) interleave a 1F1B pipeline: they need pp > 1 and 1f1b")
    if vp > 1 and m % pp:
        raise ValueError(f"the interleaved schedule needs m ({m}) to be a multiple of pp ({pp})")
    for name, times in (("forward_s", forward_s), ("backward_s", backward_s)):
        if len(times) != pp:
            raise ValueError(f"{name} has {len(times)} stages, not pp ({pp})")
        for t in times:
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
                raise ValueError(f"{name} must hold finite non-negative seconds, not {t!r}")


def _order(i: int, pp: int, vp: int, m: int, kind: str) -> list[tuple[str, int, int]]:
    """Stage ``i``'s passes, in the order it runs them, as (phase, chunk, micro-batch)."""
    if kind == "gpipe":
        return [("F", 0, j) for j in range(m)] + [("B", 0, j) for j in range(m)]
    total = m * vp

    def forward(k: int) -> tuple[str, int, int]:
        return "F", (k // pp) % vp, (k // (pp * vp)) * pp + k % pp

    def backward(k: int) -> tuple[str, int, int]:
        return "B", vp - 1 - (k // pp) % vp, (k // (pp * vp)) * pp + k % pp

    if vp == 1:
        warm = min(pp - i - 1, m)
    else:
        warm = min((pp - i - 1) * 2 + (vp - 1) * pp, total)
    out = [forward(k) for k in range(warm)]
    for k in range(total - warm):
        out += [forward(warm + k), backward(k)]
    return out + [backward(k) for k in range(total - warm, total)]


def _dependency(op: tuple[str, int, int, int], pp: int, vp: int) -> tuple[str, int, int, int] | None:
    """The pass ``op`` (phase, stage, chunk, micro-batch) waits for, or None."""
    phase, i, c, j = op
    if phase == "F":
        if i > 0:
            return "F", i - 1, c, j
        return ("F", pp - 1, c - 1, j) if c > 0 else None
    if i < pp - 1:
        return "B", i + 1, c, j
    return ("B", 0, c + 1, j) if c < vp - 1 else ("F", pp - 1, vp - 1, j)


def schedule(pp: int, vp: int, m: int, forward_s, backward_s, kind: str = "1f1b") -> tuple[Pass, ...]:
    """Every pass of one step over ``pp`` stages of ``vp`` chunks each and ``m`` micro-batches, in the order
    they start (ties by stage).

    ``forward_s[i]`` and ``backward_s[i]``: seconds of one chunk's forward and backward pass of one
    micro-batch on stage ``i``. ``kind``: "gpipe" (every forward in micro-batch order, then every
    backward), "1f1b" (stage i: min(pp - i - 1, m) warm-up forwards, then one forward and one backward in
    turn, then the remaining backwards; with vp > 1 interleaved, Megatron-LM's order: the k-th forward
    runs chunk (k // pp) % vp of micro-batch (k // (pp vp)) pp + k % pp, the backwards the same with the
    chunks reversed, after (pp - i - 1) 2 + (vp - 1) pp warm-up forwards, at most m vp; m must be a
    multiple of pp) or "zb-h1", drawn here in 1F1B's order (its weight-gradient passes are not split out).

    A forward waits for the previous stage's forward of its chunk (the first stage's, for chunk c > 0, for
    the last stage's of chunk c - 1); a backward for the next stage's backward (the last stage's, for
    chunk c < vp - 1, for the first stage's of chunk c + 1; the last chunk's on the last stage for its own
    forward). Sends between stages take no time. Raises ValueError on bad arguments."""
    _check(pp, vp, m, forward_s, backward_s, kind)
    orders = [_order(i, pp, vp, m, kind) for i in range(pp)]
    ends: dict[tuple[str, int, int, int], float] = {}
    heads, free = [0] * pp, [0.0] * pp
    out: list[Pass] = []
    remaining = sum(len(o) for o in orders)
    while remaining:
        progressed = False
        for i in range(pp):
            while heads[i] < len(orders[i]):
                phase, c, j = orders[i][heads[i]]
                dep = _dependency((phase, i, c, j), pp, vp)
                if dep is not None and dep not in ends:
                    break
                start = max(free[i], ends[dep] if dep is not None else 0.0)
                end = start + (forward_s[i] if phase == "F" else backward_s[i])
                ends[(phase, i, c, j)] = free[i] = end
                out.append(Pass(i, c, j, phase, start, end))
                heads[i] += 1
                remaining -= 1
                progressed = True
        if not progressed:  # cannot happen for the orders above; a guard against an endless loop
            raise ValueError("the schedule deadlocks")
    return tuple(sorted(out, key=lambda p: (p.start_s, p.stage)))


def makespan(passes) -> float:
    """Seconds from the first pass's start to the last one's end."""
    return max(p.end_s for p in passes) - min(p.start_s for p in passes)


def bubble_fraction(passes, pp: int) -> float:
    """The share of the ``pp`` stages' time over the makespan that they stand idle."""
    span = makespan(passes)
    busy = math.fsum(p.end_s - p.start_s for p in passes)
    return 1.0 - busy / (pp * span) if span > 0 else 0.0


def chunk_times(pass_s, vp: int) -> tuple[list[float], list[float]]:
    """(forward_s, backward_s) per stage for :func:`schedule` from each stage's whole micro-batch pass: the
    backward about twice the forward (any recompute counted inside the backward), so forward = pass / 3
    and backward = 2 pass / 3, each divided by ``vp`` for one chunk."""
    return [t / 3.0 / vp for t in pass_s], [2.0 * t / 3.0 / vp for t in pass_s]
