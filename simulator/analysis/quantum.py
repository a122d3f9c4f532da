"""Limits of a fault-tolerant (surface-code) quantum accelerator, and what they mean for training.

Pure functions and small frozen result models, no I/O. Everything is SI: seconds, bytes, operations.
Three published models are implemented, each reproducible against the paper's own tables (see
tests/analysis/test_quantum.py); the verdict on a training run built on them is in ``quantum_verdict``:

* Surface-code resources. Logical error rate per logical qubit per code cycle
  ``p_L(d) = A (p / p_th) ** ((d + 1) / 2)`` with ``A = 0.1`` (the standard heuristic; Fowler,
  Mariantoni, Martinis, Cleland, PRA 86, 032324 (2012), whose fit has a prefactor of ~0.03 and a
  threshold of ~0.6 %; the 0.1 / 1 % rounding is the one used by Gidney & Ekera, Quantum 5, 433 (2021)).
  About ``2 d**2`` physical qubits per logical qubit. One logical Toffoli (a distilled CCZ state) takes
  ``t_G = d * cycles_per_toffoli * code_cycle`` with one factory (Babbush et al. 2021, eq. 6:
  30 x 5.5 x 1 us ~ 170 us); F factories in parallel divide that by F, but never below the reaction
  time (measurement plus classical feed-forward that every teleported Toffoli waits for).
* Babbush, McClean, Newman, Gidney, Boixo, Neven, "Focus beyond quadratic speedups for error-corrected
  quantum advantage", PRX Quantum 2, 010103 (2021), arXiv:2011.04149: quantum ``T_Q(M) = M t_Q``,
  classical ``T_C(M) = M**d t_C / S``; break-even ``M* = (S t_Q / t_C) ** (1 / (d - 1))`` and
  ``T* = t_Q M*`` (their eqs. 1-5); R-fold faster distillation divides t_Q by R (their Table II).
* Hoefler, Haener, Troyer, "Disentangling Hype from Practicality: On Realistically Achieving Quantum
  Advantage", CACM 66(5):82-87 (2023), arXiv:2307.00523: the largest number of operations per oracle
  call for which a quantum machine with a degree-k speedup still wins within a time budget,
  ``M_max = T r_q (r_q / r_c) ** (1 / (k - 1))`` (their Table 2, budget 1e6 s), and the I/O bound.

Numbers that overflow a float (M**d with d = 4 and a large M, 2**M) are handled as logarithms;
a time that does not fit in a float comes back as ``math.inf``.
"""
from __future__ import annotations

import math
import sys
from typing import Literal

from ..errors import CostsimError
from ..model.finite import guarded, require_finite
from ..schema.hardware import QuantumProfile, Strict
from ..units import BITS_PER_BYTE, GIGA, KILO, MEGA, TERA

SURFACE_CODE_PREFACTOR = 0.1
"""A in p_L ~ A (p / p_th) ** ((d + 1) / 2)."""

PHYSICAL_QUBITS_PER_LOGICAL_PER_DISTANCE_SQUARED = 2
"""A distance-d surface-code patch has d**2 data and d**2 - 1 measurement qubits: about 2 d**2."""

BABBUSH_TOFFOLIS_PER_STEP = 100
"""G: Toffolis in one step of the quantum algorithm, Babbush et al.'s optimistic lower bound (eq. 8)."""

HOEFLER_TIME_BUDGET_S = 1.0 * MEGA
"""Hoefler et al.'s crossover budget: 1e6 seconds, a little more than two weeks."""

HOEFLER_FACTORY_LOGICAL_QUBITS = 77
"""One Gidney-Fowler CCZ factory (147,904 physical qubits) over 2 * 31**2 physical per logical."""

HOEFLER_FACTORIES_PER_UNIT = 5.5
"""A factory takes 5.5 cycles per CCZ state, so 5.5 factories keep one unit fed (Hoefler et al.)."""

OperationType = Literal["fp16", "int32", "binary"]
MAX_LOG = math.log(sys.float_info.max)


class OperationRates(Strict):
    """Peak operation throughput per operation type, in operations per second."""

    fp16_ops_per_s: float
    int32_ops_per_s: float
    binary_ops_per_s: float

    def rate(self, operation: OperationType) -> float:
        """The rate of ``operation`` (fp16, int32 or binary), in operations per second."""
        if operation not in ("fp16", "int32", "binary"):
            raise CostsimError(f"unknown operation type {operation!r}; use fp16, int32 or binary", field="operation")
        return getattr(self, f"{operation}_ops_per_s")


# Hoefler et al. Table 1 as printed. Their Table 2 binary row needs a quantum binary rate of
# ~2.3e6 op/s (23 Toffoli units at 10 us, their Methods), ten times the 235 kop/s printed here.
HOEFLER_QUANTUM_RATES = OperationRates(fp16_ops_per_s=10.5 * KILO, int32_ops_per_s=0.83 * KILO,
                                       binary_ops_per_s=235 * KILO)
HOEFLER_A100_RATES = OperationRates(fp16_ops_per_s=195 * TERA, int32_ops_per_s=9.75 * TERA,
                                    binary_ops_per_s=4992 * TERA)
HOEFLER_ASIC_RATES = OperationRates(fp16_ops_per_s=550 * TERA, int32_ops_per_s=215 * TERA,
                                    binary_ops_per_s=77000 * TERA)
HOEFLER_QUANTUM_IO_BANDWIDTH_BYTES_PER_S = GIGA / BITS_PER_BYTE  # 1 Gbit/s
HOEFLER_CLASSICAL_IO_BANDWIDTH_BYTES_PER_S = 10000 * GIGA / BITS_PER_BYTE  # 10,000 Gbit/s (A100)


# ---------------------------------------------------------------------------------------------
# checks and log-space helpers


def _positive(value: float, field: str) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise CostsimError(f"must be a positive finite number, got {value!r}", field=field)
    return float(value)


def _non_negative(value: float, field: str) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise CostsimError(f"must be a finite number >= 0, got {value!r}", field=field)
    return float(value)


def _fraction(value: float, field: str) -> float:
    if not (isinstance(value, (int, float)) and 0 < value <= 1):
        raise CostsimError(f"must be a fraction in (0, 1], got {value!r}", field=field)
    return float(value)


def _degree(value: float | None, field: str = "degree") -> float:
    if value is None or not (isinstance(value, (int, float)) and math.isfinite(value) and value > 1):
        raise CostsimError(f"a polynomial speedup needs a degree above 1, got {value!r}", field=field)
    return float(value)


def _exp(log_value: float) -> float:
    """exp() that returns inf instead of raising when the result does not fit in a float."""
    return math.inf if log_value > MAX_LOG else math.exp(log_value)


# ---------------------------------------------------------------------------------------------
# 1. surface-code resources


class SurfaceCodeResources(Strict):
    """What a quantum profile's error correction costs.

    Attributes:
        code_distance: d, the smallest odd distance (at least 3) meeting the target logical error rate.
        logical_error_rate_fraction: p_L at that distance, per logical qubit per code cycle.
        physical_qubits_per_logical: about 2 d**2.
        physical_qubits: for the profile's logical qubits only (magic-state factories and routing not counted).
        toffoli_time_s: one logical Toffoli with the profile's factories, s (floored at the reaction time).
    """

    code_distance: int
    logical_error_rate_fraction: float
    physical_qubits_per_logical: int
    physical_qubits: int  # logical qubits only: magic-state factories and routing are not counted
    toffoli_time_s: float


def _below_threshold(p: float, p_th: float) -> None:
    _fraction(p, "physical_error_rate_fraction")
    _fraction(p_th, "threshold_error_rate_fraction")
    if p >= p_th:
        raise CostsimError(f"physical error rate {p} is not below the threshold {p_th}: error correction "
                           "makes logical qubits worse, not better", field="physical_error_rate_fraction")


def logical_error_rate(physical_error_rate_fraction: float, threshold_error_rate_fraction: float,
                       code_distance: int) -> float:
    """p_L = A (p / p_th) ** ((d + 1) / 2), per logical qubit per code cycle."""
    _below_threshold(physical_error_rate_fraction, threshold_error_rate_fraction)
    if not isinstance(code_distance, int) or code_distance < 1:
        raise CostsimError(f"must be a positive integer, got {code_distance!r}", field="code_distance")
    ratio = physical_error_rate_fraction / threshold_error_rate_fraction
    return SURFACE_CODE_PREFACTOR * ratio ** ((code_distance + 1) / 2)


def code_distance(physical_error_rate_fraction: float, threshold_error_rate_fraction: float,
                  target_logical_error_rate_fraction: float) -> int:
    """The smallest odd distance d >= 3 with p_L(d) <= target.

    From A (p/p_th)**((d+1)/2) <= target:  d >= 2 ln(target / A) / ln(p / p_th) - 1.
    """
    _below_threshold(physical_error_rate_fraction, threshold_error_rate_fraction)
    target = target_logical_error_rate_fraction
    if not (isinstance(target, (int, float)) and 0 < target < 1):
        raise CostsimError(f"must be a fraction in (0, 1), got {target!r}",
                           field="target_logical_error_rate_fraction")
    if target >= SURFACE_CODE_PREFACTOR:
        return 3
    exact = 2 * math.log(target / SURFACE_CODE_PREFACTOR) / math.log(
        physical_error_rate_fraction / threshold_error_rate_fraction) - 1
    nearest = round(exact)
    distance = nearest if math.isclose(exact, nearest) else math.ceil(exact)
    distance = max(distance, 3)
    return distance if distance % 2 else distance + 1


def physical_qubits_per_logical(distance: int) -> int:
    """Physical qubits in one distance-d surface-code patch: 2 d**2."""
    if not isinstance(distance, int) or distance < 1:
        raise CostsimError(f"must be a positive integer, got {distance!r}", field="code_distance")
    return PHYSICAL_QUBITS_PER_LOGICAL_PER_DISTANCE_SQUARED * distance ** 2


def toffoli_time_s(distance: int, code_cycle_s: float, cycles_per_toffoli: float,
                   magic_state_factories: int = 1, reaction_time_s: float = 0.0) -> float:
    """Logical Toffoli time: distance x cycles_per_toffoli x code cycle / factories, floored at the
    reaction time (Babbush et al. eq. 6 with one factory)."""
    if not isinstance(distance, int) or distance < 1:
        raise CostsimError(f"must be a positive integer, got {distance!r}", field="code_distance")
    _positive(code_cycle_s, "code_cycle_s")
    _positive(cycles_per_toffoli, "cycles_per_toffoli")
    _non_negative(reaction_time_s, "reaction_time_s")
    if not isinstance(magic_state_factories, int) or magic_state_factories < 1:
        raise CostsimError(f"must be a positive integer, got {magic_state_factories!r}",
                           field="magic_state_factories")
    return max(distance * cycles_per_toffoli * code_cycle_s / magic_state_factories, reaction_time_s)


def surface_code_resources(profile: QuantumProfile) -> SurfaceCodeResources:
    """The profile's code distance, logical error rate, physical qubits and Toffoli time (all finite, or
    the profile is refused naming the field that is out of range)."""
    inputs = {"hardware": profile}
    with guarded("the surface code", inputs):
        _positive(profile.reaction_time_s, "reaction_time_s")
        distance = code_distance(profile.physical_error_rate_fraction, profile.threshold_error_rate_fraction,
                                 profile.target_logical_error_rate_fraction)
        per_logical = physical_qubits_per_logical(distance)
        numbers = dict(
            code_distance=distance,
            logical_error_rate_fraction=logical_error_rate(
                profile.physical_error_rate_fraction, profile.threshold_error_rate_fraction, distance),
            physical_qubits_per_logical=per_logical,
            physical_qubits=per_logical * profile.logical_qubits,
            toffoli_time_s=toffoli_time_s(distance, profile.code_cycle_s, profile.cycles_per_toffoli,
                                          profile.magic_state_factories, profile.reaction_time_s),
        )
    return SurfaceCodeResources(**require_finite(numbers, "the surface code", inputs))


# ---------------------------------------------------------------------------------------------
# 2. Babbush et al. break-even


class Breakeven(Strict):
    """Where the quantum and classical run times cross (Babbush et al.).

    Attributes:
        problem_size: M*, the quantum steps at which the two run times are equal.
        time_s: T* = t_Q M*, the run time at that size, s.
    """

    problem_size: float  # M*: quantum steps at which the two run times are equal
    time_s: float  # T* = t_Q M*


def quantum_step_time_s(toffolis_per_step: float, toffoli_time_s: float, distillation_speedup: float = 1.0) -> float:
    """t_Q = G t_G / R: G Toffolis per step, R-fold faster magic-state distillation (Babbush Table II)."""
    return (_positive(toffolis_per_step, "toffolis_per_step") * _positive(toffoli_time_s, "toffoli_time_s")
            / _positive(distillation_speedup, "distillation_speedup"))


def quantum_time_s(problem_size: float, quantum_step_s: float) -> float:
    """T_Q(M) = M t_Q."""
    return _positive(problem_size, "problem_size") * _positive(quantum_step_s, "quantum_step_s")


def classical_time_s(problem_size: float, classical_step_s: float, degree: float,
                     classical_parallelism: float = 1.0) -> float:
    """T_C(M) = M**d t_C / S, computed in log space (inf when it does not fit in a float)."""
    log_t = (_degree(degree) * math.log(_positive(problem_size, "problem_size"))
             + math.log(_positive(classical_step_s, "classical_step_s"))
             - math.log(_positive(classical_parallelism, "classical_parallelism")))
    return _exp(log_t)


def classical_exponential_time_s(problem_size: float, classical_step_s: float, classical_parallelism: float = 1.0,
                                 base: float = 2.0) -> float:
    """T_C(M) = base**M t_C / S for an exponential speedup, in log space."""
    if not base > 1:
        raise CostsimError(f"an exponential speedup needs a base above 1, got {base!r}", field="base")
    log_t = (_positive(problem_size, "problem_size") * math.log(base)
             + math.log(_positive(classical_step_s, "classical_step_s"))
             - math.log(_positive(classical_parallelism, "classical_parallelism")))
    return _exp(log_t)


def breakeven(quantum_step_s: float, classical_step_s: float, degree: float,
              classical_parallelism: float = 1.0) -> Breakeven:
    """M* = (S t_Q / t_C) ** (1 / (d - 1)), T* = t_Q M* (Babbush et al. eqs. 3 and 5)."""
    d = _degree(degree)
    t_q = _positive(quantum_step_s, "quantum_step_s")
    log_m = (math.log(_positive(classical_parallelism, "classical_parallelism")) + math.log(t_q)
             - math.log(_positive(classical_step_s, "classical_step_s"))) / (d - 1)
    return Breakeven(problem_size=_exp(log_m), time_s=_exp(log_m + math.log(t_q)))


def breakeven_exponential(quantum_step_s: float, classical_step_s: float, classical_parallelism: float = 1.0,
                          base: float = 2.0) -> Breakeven:
    """Break-even for classical base**M t_C / S against quantum M t_Q: the larger root of
    M ln(base) - ln M = ln(S t_Q / t_C), found by bisection (the left side grows for M > 1/ln base)."""
    if not base > 1:
        raise CostsimError(f"an exponential speedup needs a base above 1, got {base!r}", field="base")
    t_q = _positive(quantum_step_s, "quantum_step_s")
    rhs = (math.log(_positive(classical_parallelism, "classical_parallelism")) + math.log(t_q)
           - math.log(_positive(classical_step_s, "classical_step_s")))
    log_base = math.log(base)

    def gap(m: float) -> float:
        return m * log_base - math.log(m) - rhs

    low = max(1.0, 1.0 / log_base)
    if gap(low) >= 0:
        return Breakeven(problem_size=low, time_s=low * t_q)
    high = 2 * low
    while gap(high) < 0:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        if gap(mid) < 0:
            low = mid
        else:
            high = mid
        if math.isclose(low, high):
            break
    return Breakeven(problem_size=high, time_s=high * t_q)


# ---------------------------------------------------------------------------------------------
# 3. Hoefler et al.: operations per oracle call, quantum op rates, I/O


def max_operations_per_call(quantum_rate_ops_per_s: float, classical_rate_ops_per_s: float, degree: float,
                            time_budget_s: float = HOEFLER_TIME_BUDGET_S) -> float:
    """Largest oracle size M for which a degree-k speedup wins within the budget.

    Classical N**k M / r_c, quantum N M / r_q: they cross at N* = (r_c / r_q) ** (1 / (k - 1)), and the
    quantum run N* M / r_q must fit in T, so M <= T r_q (r_q / r_c) ** (1 / (k - 1)).
    """
    k = _degree(degree)
    log_q = math.log(_positive(quantum_rate_ops_per_s, "quantum_rate_ops_per_s"))
    log_c = math.log(_positive(classical_rate_ops_per_s, "classical_rate_ops_per_s"))
    return _exp(math.log(_positive(time_budget_s, "time_budget_s")) + log_q + (log_q - log_c) / (k - 1))


def max_operations_per_call_exponential(quantum_rate_ops_per_s: float, classical_rate_ops_per_s: float,
                                        time_budget_s: float = HOEFLER_TIME_BUDGET_S, base: float = 2.0) -> float:
    """The same for an exponential speedup: classical base**N M / r_c against quantum N M / r_q."""
    crossing = breakeven_exponential(1 / _positive(quantum_rate_ops_per_s, "quantum_rate_ops_per_s"),
                                     1 / _positive(classical_rate_ops_per_s, "classical_rate_ops_per_s"),
                                     base=base)
    return _positive(time_budget_s, "time_budget_s") / crossing.time_s


def parallel_unit_rate_ops_per_s(work_qubits: float, ccz_per_operation: float, logical_qubits: int,
                                 logical_gate_time_s: float,
                                 factory_logical_qubits: float = HOEFLER_FACTORY_LOGICAL_QUBITS,
                                 factories_per_unit: float = HOEFLER_FACTORIES_PER_UNIT) -> float:
    """Hoefler et al.'s quantum throughput: as many units (work qubits plus their factories) as fit
    in the logical qubits, each finishing one operation per ``ccz_per_operation`` logical cycles."""
    per_unit = _positive(work_qubits, "work_qubits") + _non_negative(factory_logical_qubits,
        "factory_logical_qubits") * _non_negative(factories_per_unit, "factories_per_unit")
    units = math.floor(_positive(logical_qubits, "logical_qubits") / per_unit)
    return units / (_positive(ccz_per_operation, "ccz_per_operation") * _positive(logical_gate_time_s,
                                                                                 "logical_gate_time_s"))


def multiplier_rate_ops_per_s(operand_bits: int, logical_qubits: int, logical_gate_time_s: float) -> float:
    """N-bit sequential multiplier (Gidney adder): 2 N**2 CCZ states and 5 N logical qubits."""
    n = _positive(operand_bits, "operand_bits")
    return parallel_unit_rate_ops_per_s(5 * n, 2 * n ** 2, logical_qubits, logical_gate_time_s)


class IOBound(Strict):
    """The time to load the same data into each machine (Hoefler et al.'s I/O bound).

    Attributes:
        quantum_s: at the quantum machine's I/O bandwidth, s.
        classical_s: at the classical machine's I/O bandwidth, s.
        slowdown: quantum_s / classical_s (the ratio of the two bandwidths).
    """

    quantum_s: float
    classical_s: float
    slowdown: float  # quantum_s / classical_s


def io_time_s(data_bytes: float, io_bandwidth_bytes_per_s: float) -> float:
    """Seconds to read ``data_bytes`` at ``io_bandwidth_bytes_per_s``."""
    return _non_negative(data_bytes, "data_bytes") / _positive(io_bandwidth_bytes_per_s, "io_bandwidth_bytes_per_s")


def io_bound(data_bytes: float,
             quantum_io_bandwidth_bytes_per_s: float = HOEFLER_QUANTUM_IO_BANDWIDTH_BYTES_PER_S,
             classical_io_bandwidth_bytes_per_s: float = HOEFLER_CLASSICAL_IO_BANDWIDTH_BYTES_PER_S) -> IOBound:
    """Time to load the data into each machine: however fast its compute, the quantum side cannot
    finish before its I/O does."""
    quantum = io_time_s(data_bytes, quantum_io_bandwidth_bytes_per_s)
    classical = io_time_s(data_bytes, classical_io_bandwidth_bytes_per_s)
    return IOBound(quantum_s=quantum, classical_s=classical,
                   slowdown=classical_io_bandwidth_bytes_per_s / quantum_io_bandwidth_bytes_per_s)
