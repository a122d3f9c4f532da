#!/usr/bin/env python3
"""Speed of the discrete-event simulation (a benchmark, not a test; numbers go in the README).

A 16,384-device H100 run of GPT-3 175B lasting about 90 days, with failures at the rate Meta reports
for Llama 3 (419 unexpected interruptions in 54 days on 16,384 H100s: per-device MTBF about 50,000 h),
2% straggler noise, checkpoints at the Young/Daly interval. Times one replica, then 100.

    python benchmarks/bench_simulate.py [--replicas 100]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator import api, estimate  # noqa: E402
from simulator.units import SECONDS_PER_DAY  # noqa: E402

PLAN = "tp=8,pp=16,dp=128,mb=1,zero=1,sp"
MTBF_HOURS = 54 * 24 * 16384 / 419  # Llama 3 (Dubey et al. 2024, section 3.3.4): about 50,700 h per device


def main() -> int:
    """Time the simulation of one replica, then of ``--replicas``; return the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicas", type=int, default=100)
    args = ap.parse_args()
    base = estimate("h100-sxm", "gpt3-175b", plan=PLAN)
    tokens = 300e9 * 90 * SECONDS_PER_DAY / base.total_time_s  # stretch the run to about 90 days
    sets = [f"tokens={tokens:.6g}"]
    e = estimate("h100-sxm", "gpt3-175b", plan=PLAN, sets=sets)
    print(f"run: {e.devices} devices, {e.steps:,.0f} steps of {e.step_time_s:.2f} s, "
          f"{e.total_time_s / SECONDS_PER_DAY:.1f} days in closed form")
    kwargs = dict(plan=PLAN, sets=sets, mtbf_hours=MTBF_HOURS, straggler_cv_fraction=0.02, seed=0)
    t0 = time.perf_counter()
    _, one = api.simulate("h100-sxm", "gpt3-175b", replicas=1, **kwargs)
    t1 = time.perf_counter()
    _, many = api.simulate("h100-sxm", "gpt3-175b", replicas=args.replicas, **kwargs)
    t2 = time.perf_counter()
    print(f"1 replica: {t1 - t0:.2f} s ({one.failures.p50:.0f} interruptions, "
          f"wall {one.wall_time_s.p50 / SECONDS_PER_DAY:.1f} days)")
    print(f"{args.replicas} replicas: {t2 - t1:.2f} s (wall p5/p50/p95 "
          f"{many.wall_time_s.p5 / SECONDS_PER_DAY:.1f}/{many.wall_time_s.p50 / SECONDS_PER_DAY:.1f}/"
          f"{many.wall_time_s.p95 / SECONDS_PER_DAY:.1f} days)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
