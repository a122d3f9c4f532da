"""The verdict on a training run: would a fault-tolerant quantum accelerator beat the classical side?

Babbush et al.'s break-even model (see ``quantum``) with the classical run as its primitive, Amdahl's
law on the accelerated fraction of the work and the I/O bound on loading the data; SI units throughout.
"""
from __future__ import annotations

import math

from ..errors import CostsimError
from ..model.finite import guarded, require_finite
from ..schema.hardware import QuantumProfile, Strict
from .quantum import (
    BABBUSH_TOFFOLIS_PER_STEP,
    _degree,
    _exp,
    _fraction,
    _non_negative,
    _positive,
    surface_code_resources,
)


class TrainingVerdict(Strict):
    """Whether the quantum accelerator beats the classical side on one training run, and what it would need.

    Attributes:
        classical_time_s: the classical competitor's time, s: the best device's time over S devices.
        quantum_time_s: the quantum machine's time, s: accelerated steps + classical rest + loading the data.
        accelerated_time_s: the quantum algorithm's steps, s (M steps of G Toffolis each).
        classical_rest_time_s: the work not accelerated, left on the classical side, s.
        io_time_s: reading the data at the quantum machine's I/O bandwidth, s.
        speedup: classical_time_s / quantum_time_s; below 1 the quantum machine loses.
        amdahl_limit_speedup: 1 / (1 - workload fraction): the speedup with free quantum steps and free I/O;
            None: unbounded (all of the work is accelerated).
        quantum_steps: M, steps of the quantum algorithm for the accelerated work.
        toffoli_time_s: one logical Toffoli, s.
        required_degree: the polynomial degree at which the quantum machine ties; None: no degree wins (I/O and
            the rest already lose).
        required_toffoli_time_s: the Toffoli time at which it ties, s; None: no gate time wins.
        required_io_bandwidth_bytes_per_s: the I/O bandwidth at which it ties, B/s; None: no I/O rate wins.
        quantum_wins: whether quantum_time_s is below classical_time_s.
        verdict: the outcome in one line: who wins, by how much, where the time goes, what winning needs.
    """

    classical_time_s: float  # the classical competitor: best-device time / S
    quantum_time_s: float  # accelerated + classical rest + I/O
    accelerated_time_s: float
    classical_rest_time_s: float
    io_time_s: float
    speedup: float  # classical_time_s / quantum_time_s; below 1 the quantum machine loses
    amdahl_limit_speedup: float | None  # 1 / (1 - workload fraction); None: unbounded (f = 1)
    quantum_steps: float  # M: steps of the quantum algorithm for the accelerated work
    toffoli_time_s: float
    required_degree: float | None  # None: no polynomial degree wins (I/O and rest already lose)
    required_toffoli_time_s: float | None  # None: no gate time wins
    required_io_bandwidth_bytes_per_s: float | None  # None: no I/O rate wins
    quantum_wins: bool
    verdict: str


def training_verdict(classical_device_time_s: float, total_operations: float, data_bytes: float,
                     profile: QuantumProfile, *, toffolis_per_step: float = BABBUSH_TOFFOLIS_PER_STEP,
                     classical_parallelism: float | None = None, exponential_base: float = 2.0,
                     classical_devices: int | None = None) -> TrainingVerdict:
    """Would the profile's quantum accelerator beat the classical side on this training run?
    (``classical_devices``: how many devices the classical time is for, for the verdict's wording.)

    Babbush et al.'s model with the classical run as its primitive: the best classical device does
    ``total_operations`` steps in ``classical_device_time_s``, and S such devices race the quantum
    machine, so the classical time is ``classical_device_time_s / S`` (pass ``classical_parallelism=1``
    when the time given is already that of the whole classical cluster). The speedup applies to the
    fraction f of the work (Amdahl): the quantum algorithm takes M = (f W) ** (1 / d) steps (exponential
    speedup: M = log_base(f W)) of G Toffolis each; the rest, (1 - f), stays on the classical side; and
    the data must first be read at the quantum machine's I/O bandwidth. The three parts are added
    (no overlap: loading, then computing). Required values are those at which the quantum machine ties,
    each holding the other two at the profile's values.
    """
    inputs = {"hardware": profile, "classical_device_time_s": classical_device_time_s,
              "total_operations": total_operations, "data_bytes": data_bytes, "toffolis_per_step": toffolis_per_step}
    with guarded("the quantum verdict", inputs):
        numbers = _verdict_numbers(classical_device_time_s, total_operations, data_bytes, profile, toffolis_per_step,
                                   classical_parallelism, exponential_base)
        s, budget = numbers.pop("_devices"), numbers.pop("_budget")
        found = TrainingVerdict(**require_finite(numbers, "the quantum verdict", inputs), verdict="")
        line = _verdict_line(found, profile, fraction=profile.speedup.workload_fraction,
                             devices=s * (classical_devices or 1), budget_s=budget,
                             io_bandwidth=profile.io_bandwidth_bytes_per_s)
    return found.model_copy(update={"verdict": line})


def _verdict_numbers(classical_device_time_s: float, total_operations: float, data_bytes: float,
                     profile: QuantumProfile, toffolis_per_step: float, classical_parallelism: float | None,
                     exponential_base: float) -> dict:
    """``training_verdict``'s numbers, unchecked, with ``_devices`` (S) and ``_budget`` (the accelerated
    work's classical time) for the verdict's line."""
    t_dev = _positive(classical_device_time_s, "classical_device_time_s")
    work = _positive(total_operations, "total_operations")
    data = _non_negative(data_bytes, "data_bytes")
    g = _positive(toffolis_per_step, "toffolis_per_step")
    s = _positive(profile.classical_parallelism if classical_parallelism is None else classical_parallelism,
                  "classical_parallelism")
    f = _fraction(profile.speedup.workload_fraction, "speedup.workload_fraction")
    io_bandwidth = _positive(profile.io_bandwidth_bytes_per_s, "io_bandwidth_bytes_per_s")
    t_g = surface_code_resources(profile).toffoli_time_s

    log_work = math.log(f) + math.log(work)
    if profile.speedup.kind == "exponential":
        if not exponential_base > 1:
            raise CostsimError(f"must be above 1, got {exponential_base!r}", field="exponential_base")
        steps = max(log_work / math.log(exponential_base), 1.0)
    else:
        steps = max(_exp(log_work / _degree(profile.speedup.degree, "speedup.degree")), 1.0)

    classical = t_dev / s
    accelerated = steps * g * t_g
    rest = (1 - f) * classical
    loading = data / io_bandwidth
    quantum = accelerated + rest + loading
    budget = f * classical  # what the quantum part and the loading must fit in to tie

    required_degree: float | None = None
    step_budget = budget - loading
    if step_budget > g * t_g:
        log_ratio = math.log(step_budget / (g * t_g))
        required_degree = max(log_work / log_ratio, 1.0) if log_work > 0 else 1.0
    required_gate = (budget - loading) / (steps * g) if budget > loading else None
    if data == 0:
        required_io: float | None = 0.0
    else:
        required_io = data / (budget - accelerated) if budget > accelerated else None

    return dict(
        classical_time_s=classical, quantum_time_s=quantum, accelerated_time_s=accelerated,
        classical_rest_time_s=rest, io_time_s=loading, speedup=classical / quantum,
        amdahl_limit_speedup=None if f == 1 else 1 / (1 - f), quantum_steps=steps, toffoli_time_s=t_g,
        required_degree=required_degree, required_toffoli_time_s=required_gate,
        required_io_bandwidth_bytes_per_s=required_io, quantum_wins=quantum < classical, _devices=s, _budget=budget)


def _verdict_line(v: TrainingVerdict, profile: QuantumProfile, *, fraction: float, devices: float,
                  budget_s: float, io_bandwidth: float) -> str:
    """The verdict's one line, from its numbers: ``fraction`` of the work accelerated, ``devices`` classical
    devices racing, ``budget_s`` the accelerated work's classical time, ``io_bandwidth`` in B/s."""
    wins, speedup, limit, f, s = v.quantum_wins, v.speedup, v.amdahl_limit_speedup, fraction, devices
    accelerated, rest, loading, quantum, budget = (v.accelerated_time_s, v.classical_rest_time_s, v.io_time_s,
                                                   v.quantum_time_s, budget_s)
    required_degree, required_gate, required_io = (v.required_degree, v.required_toffoli_time_s,
                                                   v.required_io_bandwidth_bytes_per_s)
    t_g = v.toffoli_time_s
    kind = profile.speedup.kind
    speedup_name = "exponential" if kind == "exponential" else f"degree-{profile.speedup.degree:g}"
    devices = f"{s:,.4g} classical device" + ("" if s == 1 else "s")
    parts = {"the quantum steps": accelerated, "the classical rest": rest, "loading the data": loading}
    dominant = max(parts, key=parts.get)
    share = parts[dominant] / quantum
    if wins:
        return (f"quantum wins: {speedup:.3g}x faster than {devices} with a {speedup_name} "
                f"speedup on {f:.0%} of the work (Amdahl limit {'unbounded' if limit is None else f'{limit:.3g}x'}); "
                f"{share:.0%} of its time goes to {dominant}")
    needs = []
    if required_degree is not None and kind != "exponential":
        needs.append(f"a degree above {required_degree:.3g}")
    if required_gate is not None:
        floor = ", below the reaction time" if required_gate < profile.reaction_time_s else ""
        needs.append(f"a Toffoli time under {required_gate:.3g} s (now {t_g:.3g} s{floor})")
    if required_io is not None and loading > 0:
        needs.append(f"I/O above {required_io:.3g} B/s (now {io_bandwidth:.3g} B/s)")
    if needs:
        fix = "winning would need " + " or ".join(needs)
    else:
        alone = [f"{name} ({value:.3g} s)" for name, value in
                 (("loading the data", loading), ("the quantum steps", accelerated)) if value >= budget]
        verb = "exceeds" if len(alone) == 1 else "each exceed"
        fix = (f"no single change wins: {' and '.join(alone)} {verb} the {budget:.3g} s the accelerated work "
               "takes classically")
    return (f"classical wins: the quantum machine is {1 / speedup:.3g}x slower than {devices} "
            f"with a {speedup_name} speedup on {f:.0%} of the work; {share:.0%} of its time goes to {dominant}; "
            f"{fix}")
