#!/usr/bin/env python3
"""Fit Megatron-DeepSpeed's host time per kernel on vTrain's single-node runs ONLY (1,440 runs), then
report the multi-node runs (109) as the held-out test. The one fitted number goes into
simulator/calibration/validation.py (VTRAIN_HOST_OVERHEAD_S). Deterministic grid search on MAPE.

    python scripts/fit_vtrain_host.py [--data DIR]    (default: the bundled copy, simulator/data/vtrain)
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator import api  # noqa: E402
from simulator.files.bundled import bundled_folder  # noqa: E402


def mape(report, which: str) -> tuple[float, int]:
    """Mean |error| of step time over the estimated runs whose label contains ``which``, and their count."""
    errs = [abs(r.step_time_error_fraction) for r in report.results
            if which in r.label and r.step_time_error_fraction is not None]
    return statistics.mean(errs), len(errs)


def main() -> int:
    """Fit the host overhead on the single-node set over a grid; report it on the multi-node set."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(bundled_folder("vtrain")))
    args = ap.parse_args()
    single = str(Path(args.data) / "ground_truth_single.csv")
    multi = str(Path(args.data) / "ground_truth_multi.csv")
    grid = [x * 1e-6 for x in range(10, 105, 5)]
    scores = []
    for overhead in grid:
        err, n = mape(api.validate_suite("vtrain", single, host_overhead_s=overhead), "single")
        scores.append((err, overhead))
        print(f"host overhead {overhead * 1e6:5.1f} us: single-node MAPE {err:.1%} ({n} runs)")
    best_err, best = min(scores)
    test_err, n = mape(api.validate_suite("vtrain", multi, host_overhead_s=best), "multi")
    print(f"fitted on single-node: {best * 1e6:.1f} us (single-node MAPE {best_err:.1%}); "
          f"held-out multi-node MAPE {test_err:.1%} ({n} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
