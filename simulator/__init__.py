"""costsim: a hardware-aware cost simulator for deep-learning training.

    from simulator import estimate
    e = estimate("h200", "gpt2-124m")
    e.step_time_s, e.energy_joules, e.cost_usd, e.co2_kg, e.breakdown

profile + workload + options -> estimate -> report. See docs/index.md.
"""
from .api import compare, estimate, run_options, workload_summary
from .errors import CostsimError, OutOfMemoryError, UnsupportedError
from .files.loader import load_pair, load_profile, load_workload
from .run.estimate import Estimate, estimate_run
from .schema.options import RunOptions

__all__ = ["estimate", "compare", "run_options", "workload_summary", "estimate_run", "Estimate", "RunOptions",
           "load_profile", "load_workload", "load_pair", "CostsimError", "OutOfMemoryError", "UnsupportedError"]
__version__ = "0.1.0"
