#!/usr/bin/env python3
"""Accuracy of `costsim calibrate --device cpu` on this machine (a benchmark, not a test: it times
things, and a machine's speed is not CI's to assert).

Claim: a profile calibrated on this CPU predicts a real numpy training step of an MLP (forward,
backward, SGD; tests/numpy_mlp.py, the code simulator/model/mlp.py models op for op) within --tolerance
(25%), on medians.

A shared machine's speed drifts by tens of percent over seconds, and other processes preempt this
one, so one calibration against one measurement says little. The benchmark alternates them for
--rounds rounds: calibrate (in process, the quick sweep unless --full), time 7 steps after 2
warm-up steps, predict the step from the same workload given as data; every other round in the
opposite order, so that neither side always runs first.

Like is compared with like. Preemption only ever adds time, and the calibration keeps each
microbenchmark's fastest round (simulator/calibration/measure_cpu.py): it describes the machine when it is not
interrupted. So a round's measured step is its fastest of the 7 steps. The median step is shown as
well: on a loaded machine it is slower than any profile can know.

It reports every round and then:
- the error of medians: median prediction / median (over rounds) fastest step - 1: the claim;
- the median of the per-round errors, and their range; the same against the median steps.
Calibrations over the fit bound (which `costsim calibrate` refuses without --force) are shown, and
left out. Exit status 1 if the claim fails, or if every calibration was refused.

    python benchmarks/bench_calibrate_cpu.py [--rounds 5] [--full] [--tolerance 0.25]
                                             [--sizes 1024,2048,2048,1000] [--batch 256]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator import estimate  # noqa: E402
from simulator.api import calibrate_cpu  # noqa: E402
from simulator.calibration.fit import fit_bound_failures, group_stats  # noqa: E402
from simulator.files.loader import parse_yaml_text  # noqa: E402
from simulator.units import MILLI  # noqa: E402
from tests.numpy_mlp import step_times_s  # noqa: E402

# the estimate needs a price to run at all; it does not change the step time
PRICE = ["hardware.cloud_price_usd_per_hour=1"]


def mlp_workload(sizes: list[int], batch: int) -> dict:
    """The costsim workload of the numpy MLP: layer widths ``sizes``, fp32, SGD, one step."""
    return {"name": "numpy-mlp", "kind": "mlp", "input_dim": sizes[0], "hidden_dims": sizes[1:-1],
            "classes": sizes[-1],
            "training": {"global_batch_size": batch, "steps": 1, "precision": "fp32", "optimizer": "sgd"}}


def one_round(i: int, args, workload: dict) -> dict:
    """One round: a calibration and a measured MLP run (in alternating order), and the prediction's errors."""
    def calibrate():
        text, result, _ = calibrate_cpu(quick=not args.full, name=f"bench-cpu-{i}", force=True)
        profile = parse_yaml_text(text, f"bench-cpu-{i}")
        return profile, result

    def measure():
        return step_times_s(args.sizes, args.batch, np.random.default_rng(i))

    if i % 2 == 0:
        (profile, result), steps = calibrate(), measure()
    else:
        steps = measure()
        profile, result = calibrate()
    predicted = estimate(profile, workload, sets=PRICE).step_time_s
    fastest, median = min(steps), statistics.median(steps)
    return {"predicted_s": predicted, "measured_s": fastest, "median_step_s": median,
            "error": predicted / fastest - 1, "error_median": predicted / median - 1,
            "gemm_median": group_stats(result.residuals)["gemm"][1], "refused": bool(fit_bound_failures(result))}


def main() -> int:
    """Run the rounds, print each one, and pass (0) where the error of medians is within the tolerance."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--full", action="store_true", help="the full calibration sweep instead of --quick")
    ap.add_argument("--tolerance", type=float, default=0.25)
    ap.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1024, 2048, 2048, 1000])
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    workload = mlp_workload(args.sizes, args.batch)
    print(f"{platform.processor() or platform.machine()}, numpy {np.__version__}; MLP "
          f"{'-'.join(map(str, args.sizes))} at batch {args.batch}; {args.rounds} rounds, "
          f"{'full' if args.full else 'quick'} calibration")
    print(f"{'round':>5}  {'gemm fit':>8}  {'predicted ms':>12}  {'fastest ms':>10}  {'error':>7}  "
          f"{'median ms':>9}  {'error':>7}")
    rows = []
    for i in range(args.rounds):
        r = one_round(i, args, workload)
        rows.append(r)
        flag = "  refused (fit over the bound)" if r["refused"] else ""
        print(f"{i:5d}  {r['gemm_median']:8.1%}  {r['predicted_s'] / MILLI:12.2f}  {r['measured_s'] / MILLI:10.2f}  "
              f"{r['error']:+7.1%}  {r['median_step_s'] / MILLI:9.2f}  {r['error_median']:+7.1%}{flag}")
    kept = [r for r in rows if not r["refused"]]
    if not kept:
        print("every calibration was over the fit bound: the machine is too noisy to calibrate")
        return 1
    of_medians = (statistics.median(r["predicted_s"] for r in kept)
                  / statistics.median(r["measured_s"] for r in rows) - 1)
    errors = [r["error"] for r in kept]
    against_median = (statistics.median(r["predicted_s"] for r in kept)
                      / statistics.median(r["median_step_s"] for r in rows) - 1)
    print(f"error of medians {of_medians:+.1%} over {len(kept)} calibrations ({len(rows) - len(kept)} refused) "
          f"and {len(rows)} measurements; per round: median {statistics.median(errors):+.1%}, "
          f"range {min(errors):+.1%} to {max(errors):+.1%}; against the median steps {against_median:+.1%}")
    ok = abs(of_medians) <= args.tolerance
    print(f"{'PASS' if ok else 'FAIL'}: |error of medians| {'<=' if ok else '>'} {args.tolerance:.0%}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
