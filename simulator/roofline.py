"""Per-operation roofline: time, and the power the device draws, for each kernel on a profile.

An op's compute time is its FLOPs over the peak of its data type times the achieved fraction of that
peak (a size-dependent curve); its memory time is its bytes over the peak bandwidth times the memory
curve (and a per-class factor for kernels that cannot stream at full rate). The kernel takes the longer
of the two. Power sits between idle and TDP: the measured compute-bound draw while the matrix units are
the bottleneck, the measured memory-bound draw while memory is, scaled by how busy that unit is.
"""
from __future__ import annotations

from dataclasses import dataclass

from .hardware import ClassicalProfile
from .ops import MATRIX_CLASSES, Op

# where a data type is missing, what the framework would run instead
FALLBACK = {"fp8": ("bf16", "fp16", "fp32"), "bf16": ("fp16", "fp32"), "fp16": ("bf16", "fp32"),
            "tf32": ("fp32", "bf16"), "fp32": ("tf32", "bf16", "fp16"), "fp64": ("fp32",),
            "int8": ("fp8", "bf16", "fp16", "fp32"), "int4": ("int8", "fp8", "bf16", "fp32")}


def resolve_rate(profile: ClassicalProfile, dtype: str) -> tuple[str, float]:
    """The data type actually used and its peak rate (falls back when the device lacks ``dtype``)."""
    rate = profile.peak_dense_flops_per_s.rate(dtype)
    if rate:
        return dtype, rate
    for alt in FALLBACK.get(dtype, ()):
        rate = profile.peak_dense_flops_per_s.rate(alt)
        if rate:
            return alt, rate
    best = max(((profile.peak_dense_flops_per_s.rate(d) or 0.0), d) for d in FALLBACK)
    return best[1], best[0]


@dataclass(frozen=True, slots=True)
class OpCost:
    op: Op
    dtype_used: str
    time_s: float            # one instance
    compute_s: float         # one instance's time on the compute units at the achieved rate
    memory_s: float          # one instance's time on memory at the achieved rate
    power_watts: float

    @property
    def total_time_s(self) -> float:
        return self.time_s * self.op.count

    @property
    def energy_joules(self) -> float:
        return self.time_s * self.op.count * self.power_watts


def op_cost(op: Op, profile: ClassicalProfile, rates: dict[str, tuple[str, float]]) -> OpCost:
    eff = profile.efficiency
    dtype_used, peak = rates[op.dtype]
    bandwidth = profile.memory_bandwidth_bytes_per_s
    kernels = max(op.kernels, 1)
    ideal_c = op.flops / peak
    ideal_m = op.bytes / bandwidth
    if op.curve == "memory":
        compute_s = ideal_c / eff.gemm.max_fraction if ideal_c else 0.0
        factor = getattr(eff.memory_class_fraction, op.op_class, 1.0)
    else:
        curve = getattr(eff, op.curve)
        compute_s = ideal_c / curve.fraction(ideal_c / kernels) if ideal_c else 0.0
        factor = 1.0
    memory_s = ideal_m / (eff.memory.fraction(ideal_m / kernels) * factor) if ideal_m else 0.0
    time_s = max(compute_s, memory_s)
    pw = profile.power
    # the busier unit sets the draw: a kernel that keeps the matrix units saturated draws what the
    # sustained GEMM drew, one that saturates memory what the streaming copy drew (both measured)
    activity = max(pw.compute_bound_fraction * compute_s, pw.memory_bound_fraction * memory_s) / time_s if time_s else 0.0
    power = pw.idle_watts + (pw.tdp_watts - pw.idle_watts) * activity
    return OpCost(op, dtype_used, time_s, compute_s, memory_s, power)


def price_ops(ops: list[Op], profile: ClassicalProfile) -> tuple[list[OpCost], list[str]]:
    """Cost every op; also return warnings for data types the device lacks."""
    rates: dict[str, tuple[str, float]] = {}
    warnings = []
    for op in ops:
        if op.dtype not in rates:
            used, rate = resolve_rate(profile, op.dtype)
            rates[op.dtype] = (used, rate)
            if used != op.dtype and op.op_class in MATRIX_CLASSES:
                warnings.append(f"{profile.name} has no {op.dtype} rate: matrix products priced at its {used} peak")
    return [op_cost(op, profile, rates) for op in ops], warnings
