"""Per-operation roofline: time, and the power the device draws, for each kernel on a profile.

An op's compute time is its FLOPs over the peak of its data type times the achieved fraction of that
peak (a size-dependent curve); its memory time is its bytes over the peak bandwidth times the memory
curve (and a per-class factor for kernels that cannot stream at full rate). The kernel takes the longer
of the two. Power sits between idle and TDP: the measured compute-bound draw while the matrix units are
the bottleneck, the measured memory-bound draw while memory is, scaled by how busy that unit is.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..schema.hardware import ClassicalProfile
from .ops import CURVE_OF_CLASS, MATRIX_CLASSES, OP_CLASSES, Op

# where a data type is missing, what the framework would run instead
FALLBACK = {"fp4": ("fp8", "bf16", "fp16", "fp32"),
            "fp8": ("bf16", "fp16", "fp32"), "bf16": ("fp16", "fp32"), "fp16": ("bf16", "fp32"),
            "tf32": ("fp32", "bf16"), "fp32": ("tf32", "bf16", "fp16"), "fp64": ("fp32",),
            "int8": ("fp8", "bf16", "fp16", "fp32"), "int4": ("int8", "fp8", "bf16", "fp32")}


# fp32 on units that only multiply 16-bit numbers is emulated by splitting each operand into bf16
# parts: three products (JAX/XLA's "bf16_3x", precision HIGH on TPUs).
FP32_EMULATION_PASSES = 3


def resolve_rate(profile: ClassicalProfile, dtype: str) -> tuple[str, float]:
    """The data type actually used and its peak rate (falls back when the device lacks ``dtype``;
    fp32 on 16-bit-only units pays the emulation passes)."""
    rate = profile.peak_dense_flops_per_s.rate(dtype)
    if rate:
        return dtype, rate
    for alt in FALLBACK.get(dtype, ()):
        rate = profile.peak_dense_flops_per_s.rate(alt)
        if rate:
            if dtype == "fp32" and alt in ("bf16", "fp16"):
                return f"{alt}x{FP32_EMULATION_PASSES}", rate / FP32_EMULATION_PASSES
            return alt, rate
    best = max(((profile.peak_dense_flops_per_s.rate(d) or 0.0), d) for d in FALLBACK)
    return best[1], best[0]


@dataclass(frozen=True, slots=True)
class OpCost:
    """One op priced on one profile: the data type it ran in, its times per instance (s) and
    its draw (W)."""

    op: Op
    dtype_used: str
    time_s: float            # one instance
    compute_s: float         # one instance's time on the compute units at the achieved rate
    memory_s: float          # one instance's time on memory at the achieved rate
    power_watts: float

    @property
    def total_time_s(self) -> float:
        """Seconds of all ``count`` instances."""
        return self.time_s * self.op.count

    @property
    def energy_joules(self) -> float:
        """Joules of all ``count`` instances."""
        return self.time_s * self.op.count * self.power_watts


CURVES = ("gemm", "sparse_gemm", "attention", "attention_backward", "conv", "conv_backward", "memory")
_CURVE_INDEX = {c: i for i, c in enumerate(CURVES)}
_CLASS_INDEX = {c: i for i, c in enumerate(OP_CLASSES)}
_MEMORY = _CURVE_INDEX["memory"]
_CLASS_EYE = np.eye(len(OP_CLASSES))
_INDEX = {c: (_CURVE_INDEX[CURVE_OF_CLASS.get(c, "memory")], i) for i, c in enumerate(OP_CLASSES)}


@dataclass(frozen=True)
class OpArrays:
    """A step's ops as numpy columns (one entry per op): what pricing needs, built once per expansion."""

    ops: tuple[Op, ...]
    flops: np.ndarray
    bytes: np.ndarray
    count: np.ndarray
    kernels: np.ndarray
    scores: np.ndarray
    curve_index: np.ndarray
    class_index: np.ndarray
    dtypes: tuple[str, ...]          # distinct data types, in first-seen order
    dtype_index: np.ndarray          # per op, into ``dtypes``
    matrix_dtypes: frozenset[str]    # data types that matrix-unit ops ask for
    class_onehot: np.ndarray         # ops x OP_CLASSES: per-class constants and sums in one product
    dtype_onehot: np.ndarray         # ops x dtypes
    class_static: tuple              # per class: (flops, bytes, kernels) of the pass rows, hardware-independent
    once_static: tuple               # (flops, bytes, kernels) of the once-per-step rows
    pass_mask: np.ndarray            # 1 for the rows of a micro-batch pass, 0 for the once-per-step rows
    out_bytes: np.ndarray            # matrix products' output stores (the epilogue)
    reduction: np.ndarray            # implicit-GEMM convolutions' reduction length (0: not a convolution)

    has_scores: bool = False         # any fused-attention rows (the softmax bound applies)

    @staticmethod
    def of(ops, once: int = 0) -> "OpArrays":
        """``ops``: the pass's ops, then ``once`` ops that run once per step (the optimizer)."""
        ops = tuple(ops)
        dtypes = tuple(dict.fromkeys(o[4] for o in ops))
        dix = {d: i for i, d in enumerate(dtypes)}
        cols = np.array([(o[2], o[3], o[5], o[6], o[7], o[8]) + _INDEX[o[1]] + (dix[o[4]],) for o in ops]).T
        ints = cols[6:].astype(np.int64)
        onehot = _CLASS_EYE[ints[1]]
        count, kernels = cols[2], np.maximum(cols[3], 1.0)
        pass_mask = np.ones(len(ops))
        if once:
            pass_mask[len(ops) - once:] = 0.0
        totals = np.stack([cols[0] * count, cols[1] * count, kernels * count])
        static = tuple(map(tuple, ((totals * pass_mask) @ onehot).T.tolist()))
        once_static = tuple((totals * (1.0 - pass_mask)).sum(axis=1).tolist())
        return OpArrays(ops, cols[0], cols[1], count, kernels, cols[4], ints[0], ints[1], dtypes, ints[2],
                        frozenset(o[4] for o in ops if o[1] in MATRIX_CLASSES), onehot,
                        np.eye(len(dtypes))[ints[2]], static, once_static, pass_mask, cols[5],
                        np.array([o[9] for o in ops], dtype=float), bool(cols[4].any()))


@dataclass(frozen=True)
class PricedOps:
    """Every op of a step priced at once (arrays aligned with ``arrays``; times per instance)."""

    arrays: OpArrays
    time_s: np.ndarray
    compute_s: np.ndarray
    memory_s: np.ndarray
    power_watts: np.ndarray
    dtype_used: tuple[str, ...]      # per distinct requested data type, what the device runs
    matrix_peak_flops_per_s: float   # the peak the matrix ops run against (for MFU)
    warnings: tuple[str, ...]


# a curve a profile may leave out, and the one it falls back to
_CURVE_FALLBACK = {"sparse_gemm": "gemm", "conv_backward": "conv"}


def _class_table(eff) -> np.ndarray:
    """One row of constants per op class: curve (max fraction, knee, exponent), memory factor, softmax
    work per score, and whether the class is memory-bound."""
    mcf, soft = eff.memory_class_fraction.__dict__, eff.attention_softmax
    table = []
    for cls in OP_CLASSES:
        name = CURVE_OF_CLASS.get(cls)
        curve = (getattr(eff, name) or getattr(eff, _CURVE_FALLBACK[name])) if name else None
        per_score = soft.backward_flops if cls == "attention_backward" else soft.forward_flops
        table.append((curve.max_fraction, curve.half_saturation_s, curve.exponent, 1.0, per_score, 0.0)
                     if curve else (eff.gemm.max_fraction, 0.0, 1.0, mcf.get(cls, 1.0), 0.0, 1.0))
    return np.array(table)


def price(arrays: OpArrays, profile: ClassicalProfile) -> PricedOps:
    """Time and power of every op on ``profile`` (see the module docstring for the model)."""
    eff, pw = profile.efficiency, profile.power
    rates = [resolve_rate(profile, d) for d in arrays.dtypes]
    warnings = tuple(f"{profile.name} has no {d} rate: matrix products priced at its {used} peak"
                     for d, (used, _) in zip(arrays.dtypes, rates) if used != d and d in arrays.matrix_dtypes)
    matrix_peak = max((r for d, (_, r) in zip(arrays.dtypes, rates) if d in arrays.matrix_dtypes), default=0.0)
    peak = arrays.dtype_onehot @ np.array([r for _, r in rates])
    # one row of constants per op class: curve (max fraction, knee, exponent), memory factor, softmax
    mem = eff.memory
    c_max, c_knee, c_exp, factor, per_score, is_memory = (arrays.class_onehot @ _class_table(eff)).T
    kernels = arrays.kernels
    ideal_c = arrays.flops / peak
    ideal_m = arrays.bytes / profile.memory_bandwidth_bytes_per_s
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        # matrix kernels follow their size-dependent curve, per kernel when an op launches several;
        # memory-class kernels do their little arithmetic at the matrix curve's ceiling (knee 0)
        compute_s = np.where(ideal_c > 0, ideal_c * (1.0 + (c_knee * kernels / ideal_c) ** c_exp) / c_max, 0.0)
        # an implicit-GEMM convolution's tiles each load and store a fixed amount around their reduction
        # loop: a short reduction (a 1x1 convolution over few channels) cannot hide it
        red = arrays.reduction
        compute_s = compute_s * np.where(red > 0, 1.0 + eff.conv_tile_half_reduction / np.where(red > 0, red, 1.0),
                                         1.0)
        # fused attention: the softmax on the vector units may be the bound
        if arrays.has_scores:
            compute_s = np.maximum(compute_s, arrays.scores * per_score / resolve_rate(profile, "fp32")[1])
        # under sustained load the clock drops to hold the power limit: every compute unit slows alike
        compute_s = compute_s / eff.sustained_compute_fraction
        m_frac = factor * mem.max_fraction / (1.0 + (mem.half_saturation_s * kernels / ideal_m) ** mem.exponent)
        memory_s = np.where(ideal_m > 0, ideal_m / m_frac, 0.0)
        # a matrix product's output stores (its epilogue) overlap its main loop only in part: with a short
        # inner dimension they are most of the kernel
        epilogue = eff.gemm_epilogue_fraction * arrays.out_bytes / (profile.memory_bandwidth_bytes_per_s
                                                                    * mem.max_fraction)
        time_s = np.maximum(compute_s, memory_s) + epilogue
        # the busier unit sets the draw: a kernel that keeps the matrix units saturated draws what the
        # sustained GEMM drew, one that saturates memory what the streaming copy drew (both measured)
        busy = np.maximum(pw.compute_bound_fraction * compute_s, pw.memory_bound_fraction * memory_s)
        activity = np.where(time_s > 0, busy / time_s, 0.0)
    power = pw.idle_watts + (pw.tdp_watts - pw.idle_watts) * activity
    return PricedOps(arrays, time_s, compute_s, memory_s, power, tuple(u for u, _ in rates), matrix_peak, warnings)


def price_ops(ops: list[Op], profile: ClassicalProfile) -> tuple[list[OpCost], list[str]]:
    """Cost every op, one :class:`OpCost` each; also the warnings for data types the device lacks."""
    p = price(OpArrays.of(ops), profile)
    used = [p.dtype_used[i] for i in p.arrays.dtype_index]
    costs = [OpCost(op, used[i], float(p.time_s[i]), float(p.compute_s[i]), float(p.memory_s[i]),
                    float(p.power_watts[i])) for i, op in enumerate(ops)]
    return costs, list(p.warnings)
