"""The Python entry points: the same operations as the CLI, taking names, paths, dicts or models.

Each command of the CLI is a function here with the same name (``estimate``, ``compare``, ``plan``,
``simulate``, ``strategies``, ``limits``, ``project``, ``quantum_breakeven``, ``sweep``, ``plot``,
``report``, ``validate``, ``calibrate``, ``profiles``, ``workloads``), returning typed results with
``.to_dict()`` and ``.table(fmt)``. The modules group them by theme.
"""
from .calibration import calibrate_cpu, calibrate_cuda, calibrate_files, calibrate_from_records
from .commands import calibrate, data, profiles, validate, workloads
from .core import (
    CURRENT_HARDWARE,
    CompareRow,
    Pair,
    Rows,
    compare,
    estimate,
    plan,
    run_options,
    strategies,
    strategy_definitions,
    workload_summary,
)
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
from .reports import PLOT_KINDS, ReportResult, plot, report
from .simulation import INTERVAL_FACTORS, SCHEDULER_TIMEOUT_S, checkpoint_interval_sweep, simulate
from .sweeps import SweepResult, evaluate_core, sweep, sweep_cores, sweep_spec
from .validation import compression_checks, history, validate_file, validate_suite

__all__ = [name for name in dir() if not name.startswith("_")]
