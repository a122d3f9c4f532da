"""The quantum accelerator: break-even tables and the verdict on a training run."""
from __future__ import annotations

from typing import Iterable

from ..analysis.quantum import (
    BABBUSH_TOFFOLIS_PER_STEP,
    HOEFLER_A100_RATES,
    HOEFLER_QUANTUM_RATES,
    breakeven,
    max_operations_per_call,
    quantum_step_time_s,
    surface_code_resources,
)
from ..analysis.quantum_verdict import training_verdict
from ..errors import CostsimError, OutOfMemoryError
from ..files.loader import apply_overrides, bundled_names, finish_profile, load_profile, raw_profile
from ..model.finite import guarded, require_finite
from ..output.analysis_tables import quantum_estimate_text
from ..run.estimate import Estimate
from ..schema.hardware import ClassicalProfile, QuantumProfile, Strict
from ..schema.plan import parse_plan
from ..schema.workload import CNNWorkload, TransformerWorkload
from .core import _blamed, _load, _source, estimate


class QuantumEstimate(Strict):
    """``costsim estimate --hardware quantum-...``: the best classical run of the workload, and what the
    quantum accelerator would need to beat it.

    Attributes:
        hardware: the quantum profile's name.
        workload: the workload's name.
        classical_hardware: the fastest bundled classical device on the workload.
        classical_devices: how many of them the classical run uses.
        classical_estimate: that run's estimate (times in s, energy in J, cost in US dollars, CO2 in kg).
        total_operations: the run's work, model FLOPs per step x steps.
        data_bytes: the training data the accelerator must read (token ids at 4 bytes, or 8-bit images), bytes.
        resources: the profile's surface-code resources (``SurfaceCodeResources`` as a dict: code distance,
            logical error rate, physical qubits, Toffoli time in s).
        verdict: the verdict on the run (``TrainingVerdict`` as a dict: times in s, speedups, what winning
            would need, and its one line).
    """

    hardware: str
    workload: str
    classical_hardware: str
    classical_devices: int
    classical_estimate: Estimate
    total_operations: float
    data_bytes: float
    resources: dict
    verdict: dict

    def to_dict(self) -> dict:
        """Every field as plain data."""
        return self.model_dump()

    def table(self, fmt: str = "table") -> str:
        """The CLI's text of the verdict (fmt table|csv|json|markdown|latex)."""
        return quantum_estimate_text(self, fmt)


def _data_bytes(wl) -> float:
    """The training data the accelerator must read once per pass: token ids (4 bytes) or 8-bit RGB images."""
    if isinstance(wl, TransformerWorkload):
        return 4.0 * wl.tokens_per_step * wl.total_steps
    if isinstance(wl, CNNWorkload):
        return float(wl.in_channels * wl.image_size ** 2 * wl.training.global_batch_size * wl.total_steps)
    return 0.0


def quantum_estimate(profile, workload, *, devices: int | None = None, sets: Iterable[str] = (),
                     pricing: str = "auto", **options) -> QuantumEstimate:
    """The fastest bundled classical device (``devices`` of them) on the workload, and the quantum
    profile's verdict against it: Babbush et al.'s model with Amdahl's law and the I/O bound. ``profile``:
    a name, path, dict or model; ``sets``: overrides as on the command line (``hardware.*`` ones apply
    to the quantum profile). Errors name the file at fault."""
    hw_source, wl_source = _source(profile, "hardware"), _source(workload, "workload")
    try:
        return _quantum_estimate(profile, workload, devices, list(sets), pricing, options)
    except OutOfMemoryError as err:  # on the classical devices tried: not the quantum profile's memory
        raise _blamed(err, None, wl_source) from None
    except CostsimError as err:
        raise _blamed(err, hw_source, wl_source) from None


def _quantum_estimate(profile, workload, devices: int | None, sets: list[str], pricing: str,
                      options: dict) -> QuantumEstimate:
    profile = load_profile_ref(profile, [s for s in sets if s.startswith("hardware.")])
    _, wl = _load("h200", workload, [s for s in sets if not s.startswith("hardware.")])
    plan_opt = options.get("plan")
    if devices is None and plan_opt not in (None, "auto"):
        devices = (parse_plan(plan_opt) if isinstance(plan_opt, str) else plan_opt).devices
    devices = devices or 1
    best, problem, tried = None, None, 0
    for name in bundled_names("hardware"):
        candidate = load_profile(name)
        if not isinstance(candidate, ClassicalProfile) or candidate.description.lower().startswith("what-if"):
            continue
        tried += 1
        try:
            e = estimate(candidate, wl, pricing=pricing, devices=devices, **options)
        except CostsimError as err:
            problem = err
            continue
        if best is None or e.total_time_s < best.total_time_s:
            best = e
    if best is None:  # the classical side of the comparison, not the quantum profile, cannot run it
        raise problem.prefixed(f"none of the {tried} bundled classical devices the quantum estimate compares "
                               f"against can run it on {devices} device{'s' if devices > 1 else ''} (the last "
                               "tried says why; give more devices, or a plan)")
    inputs = {"workload": wl}
    with guarded("the quantum estimate", inputs):
        operations, data = require_finite((best.model_flops_per_step * best.steps, _data_bytes(wl)),
                                          "the quantum estimate", inputs)
    try:
        verdict = training_verdict(best.total_time_s, operations, data, profile, classical_parallelism=1.0,
                                   classical_devices=devices)
        resources = surface_code_resources(profile).model_dump()
    except CostsimError as err:  # a field of the quantum profile: named as the profile's (hardware.)
        if (err.field or "").split(".")[0] not in QuantumProfile.model_fields:
            raise
        raise type(err)(err.problem, field=f"hardware.{err.field}") from None
    return QuantumEstimate(hardware=profile.name, workload=wl.name, classical_hardware=best.hardware,
                           classical_devices=devices, classical_estimate=best, total_operations=operations,
                           data_bytes=data, resources=resources, verdict=verdict.model_dump())


def quantum_breakeven(profile_ref: str = "quantum-ftqc", *, degrees=(2, 3, 4), parallelism=(1.0, 1e3, 1e6),
                      classical_step_s: float = 33e-9, toffolis_per_step: float | None = None,
                      distillation_speedup: float = 1.0) -> dict:
    """``costsim quantum breakeven``: the profile's surface-code resources, Babbush et al.'s break-even
    problem size and time for each degree and classical parallelism (Table I with this profile's
    Toffoli time), and Hoefler et al.'s largest work per oracle call (Table 2)."""

    profile = load_profile(profile_ref)
    if not isinstance(profile, QuantumProfile):
        raise CostsimError(f"'{profile_ref}' is a {profile.kind} profile, not a quantum one", field="profile_ref")
    res = surface_code_resources(profile)
    g = BABBUSH_TOFFOLIS_PER_STEP if toffolis_per_step is None else toffolis_per_step
    inputs = {"toffolis_per_step": g, "distillation_speedup": distillation_speedup, "hardware": profile}
    with guarded("the quantum step", inputs):
        t_q = require_finite(quantum_step_time_s(g, res.toffoli_time_s, distillation_speedup), "the quantum step",
                             inputs)
    table = [_breakeven_row(t_q, classical_step_s, d, s, inputs) for d in degrees for s in parallelism]
    hoefler = [{"operation": op, "degree": k, "max_operations_per_call": max_operations_per_call(
        HOEFLER_QUANTUM_RATES.rate(op), HOEFLER_A100_RATES.rate(op), k)} for op in ("fp16", "int32", "binary")
        for k in (2, 3, 4)]
    return {"profile": profile.name, "resources": res.model_dump(), "quantum_step_s": t_q,
            "distillation_speedup": distillation_speedup,
            "classical_step_s": classical_step_s, "toffolis_per_step": g, "breakeven": table, "hoefler": hoefler}


def _breakeven_row(t_q: float, classical_step_s: float, degree: float, parallelism: float, step_inputs) -> dict:
    """One row of the break-even table, finite or refused (a degree too near 1 overflows M*); ``step_inputs``:
    what the quantum step ``t_q`` was computed from."""
    what = f"the break-even at degree {degree:g} and parallelism {parallelism:g}"
    inputs = {"degrees": degree, "parallelism": parallelism, "classical_step_s": classical_step_s, **step_inputs}
    with guarded(what, inputs):
        row = {"degree": degree, "classical_parallelism": parallelism,
               **breakeven(t_q, classical_step_s, degree, parallelism).model_dump()}
    return require_finite(row, what, inputs, cause="degrees")


def load_profile_ref(hardware, sets: Iterable[str] = ()):
    """A profile from a name, path, dict or model, with ``hardware.*`` overrides applied."""
    if isinstance(hardware, Strict) and not sets:
        return hardware
    data, source = (hardware.model_dump(), "<model>") if isinstance(hardware, Strict) else raw_profile(hardware)
    apply_overrides(data, None, [s for s in sets if s.startswith("hardware.")])
    return finish_profile(data, source)


def is_quantum(hardware, sets: Iterable[str] = ()) -> bool:
    """Whether ``hardware`` (a name, path, dict or model, with ``hardware.*`` overrides) is a quantum profile."""
    return isinstance(load_profile_ref(hardware, sets), QuantumProfile)


