"""The Python entry points: the same operations as the CLI, taking names, paths, dicts or models.

Each command of the CLI is a function here with the same name (``estimate``, ``compare``, ``plan``,
``simulate``, ``strategies``, ``limits``, ``project``, ``quantum_breakeven``, ``sweep``, ``plot``,
``report``, ``validate``, ``calibrate``, ``profiles``, ``workloads``), returning typed results with
``.to_dict()`` and ``.table(fmt)``. The modules group them by theme.
"""
from .calibration import (
    calibrate_cpu,
    calibrate_cuda,
    calibrate_files,
    calibrate_from_records,
    calibrate_host,
    check_fit,
)
from .commands import calibrate, data, profiles, validate, workload_summary, workloads
from .core import (
    CURRENT_HARDWARE,
    CompareRow,
    EstimateResult,
    Pair,
    Rows,
    as_result,
    compare,
    estimate,
    load_reference,
    plan,
    run_options,
    short_reason,
    strategies,
    strategy_definitions,
)
from .phased import resolve_auto_phases
from .plots import PLOT_KINDS, PlotOptions, plot
from .projections import (
    LimitsReport,
    cheaper_year,
    hardware_trends,
    limits,
    lm_limits,
    profile_trends,
    project,
    scaling_fits,
    thompson_rows,
)
from .quantum import QuantumEstimate, is_quantum, load_profile_ref, quantum_breakeven, quantum_estimate
from .reports import ReportResult, merge_rows, report
from .simulation import INTERVAL_FACTORS, SCHEDULER_TIMEOUT_S, SimulationOptions, checkpoint_interval_sweep, simulate
from .sweeps import MAX_SCENARIOS, SweepResult, evaluate_core, sweep, sweep_batches, sweep_cores, sweep_spec
from .validation import compression_checks, history, validate_file, validate_suite

__all__ = [
    "resolve_auto_phases",
    # closed-form runs (core)
    "estimate", "compare", "plan", "strategies", "strategy_definitions", "run_options", "workload_summary",
    "as_result", "load_reference", "short_reason", "EstimateResult", "CompareRow", "Rows", "Pair",
    "CURRENT_HARDWARE",
    # simulation
    "simulate", "checkpoint_interval_sweep", "SimulationOptions", "INTERVAL_FACTORS", "SCHEDULER_TIMEOUT_S",
    # limits, trends and projections
    "limits", "lm_limits", "scaling_fits", "thompson_rows", "hardware_trends", "profile_trends", "project",
    "cheaper_year", "LimitsReport",
    # the quantum accelerator
    "quantum_estimate", "quantum_breakeven", "is_quantum", "load_profile_ref", "QuantumEstimate",
    # sweeps, plots and reports
    "sweep", "sweep_spec", "sweep_cores", "sweep_batches", "MAX_SCENARIOS", "evaluate_core", "SweepResult", "plot",
    "PlotOptions", "PLOT_KINDS",
    "report", "merge_rows", "ReportResult",
    # calibration and validation
    "calibrate", "calibrate_files", "calibrate_cpu", "calibrate_cuda", "calibrate_host", "calibrate_from_records",
    "check_fit",
    "validate", "validate_file", "validate_suite", "compression_checks", "history",
    # the bundled data
    "profiles", "workloads", "data",
]
