#!/usr/bin/env python3
"""Speed of the plan search (a benchmark, not a test: CI does not assert times on a shared machine).

Times `costsim plan` in process on the runs issue 14 names, each --repeats times (the fastest kept: a
preempted run is only ever slower), and reports the search space it went through (candidates,
estimates, plans that fit) and the rates: candidates and estimates per second. Also one new estimate
(a plan shape not seen before) on a fresh process's caches, and a repeated one.

    python benchmarks/bench_plan_search.py [--repeats 3] [--quick]

--quick times only GPT-3 175B on 1,024 H100s (the issue's target: the full space in under 10 s).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator import api  # noqa: E402
from simulator.files.loader import load_pair  # noqa: E402
from simulator.run.estimate import estimate_run  # noqa: E402
from simulator.run.search import search_space  # noqa: E402
from simulator.schema.plan import parse_plan  # noqa: E402


def _time(fn, repeats: int):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> int:
    """Time the searches and print one line each."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    runs = [("h100-sxm", "gpt3-175b", 1024)] + ([] if args.quick else [("h100-sxm", "llama-3.1-405b", 16384)])
    for hardware, workload, devices in runs:
        profile, wl = load_pair(hardware, workload)
        options = api.run_options(devices=devices)
        seconds, (found, space) = _time(lambda: search_space(profile, wl, devices, "time", options, 1),
                                        args.repeats)
        print(f"{workload} on {devices:,} x {hardware}: {seconds:.2f} s, {space.candidates:,} "
              f"candidates ({space.candidates / seconds:,.0f}/s), {space.scored:,} scored "
              f"({space.scored / seconds:,.0f}/s), {space.fitted:,} fit, left out {space.pruned}; "
              f"best {found[0][0].label()} at {found[0][1].mfu_fraction:.1%} MFU")
    # one estimate in process: a new shape (a plan not met before) on a new device (a profile object not seen
    # before, so no memo applies), then the same again (memoised)
    profile, wl = load_pair("h100-sxm", "gpt3-175b")
    plans = [parse_plan(f"tp={tp},pp=8,vp=2,dp={128 // tp},mb={mb},zero=1,sp,recompute=full")
             for tp in (4, 8) for mb in (1, 2, 3)]
    fresh = [load_pair("h100-sxm", "gpt3-175b")[0] for _ in plans]
    news = []
    for device, plan in zip(fresh, plans):
        options = api.run_options(devices=1024).model_copy(update={"plan": plan})
        news.append(_time(lambda: estimate_run(device, wl, options), 1)[0])
    options = api.run_options(devices=1024).model_copy(update={"plan": plans[-1]})
    again, _ = _time(lambda: estimate_run(fresh[-1], wl, options), args.repeats * 10)
    print(f"one estimate in process: {sorted(news)[len(news) // 2] * 1e3:.2f} ms new (median of {len(news)} new shapes "
          f"on new device objects), {again * 1e3:.2f} ms repeated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
