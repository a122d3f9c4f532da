#!/usr/bin/env python3
"""The generated bad-input suite at length (a nightly-style run, not a test): the generators of
tests/properties/ with many more examples, counted by outcome, the first failures of each kind shown.

Each case runs in this process (as the tests do) under a time limit. Outcomes: ok (exit 0, every number
finite, every --out file complete), refused (exit 2, one line naming the input and the field, nothing
left behind), or a failure: traceback, hang, warning, lines, unnamed, non-finite, non-positive, partial,
misleading, bad output (see tests/properties/harness.py).

    python benchmarks/fuzz_inputs.py [--examples 20000] [--family profiles --family sweeps] [--seed 1]
                                     [--limit-s 10] [--show 10]

Examples are shared among the families as in CI (profiles most, limits least). Without --seed the cases
are derandomized: the same every run, CI's first. Exit status 1 when any case failed.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tests.properties.conftest  # noqa: E402,F401 - hypothesis's cache in a temporary folder, not the checkout
from tests.properties.generated_files import FAMILIES  # noqa: E402
from tests.properties.harness import TIME_LIMIT_S, Tally, run_family, summary  # noqa: E402


def main() -> int:
    """Run the families, print the counts and the failures; return the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=20000, help="cases in all, shared as in CI [default: 20000]")
    ap.add_argument("--family", action="append", choices=sorted(FAMILIES), help="only these (repeatable)")
    ap.add_argument("--seed", type=int, default=None, help="draw other cases than CI's (default: derandomized)")
    ap.add_argument("--limit-s", type=float, default=TIME_LIMIT_S, help="seconds a case may take")
    ap.add_argument("--show", type=int, default=10, help="failure groups shown in full, per family")
    args = ap.parse_args()

    chosen = args.family or list(FAMILIES)
    weight = sum(FAMILIES[f][1] for f in chosen)
    overall, started = Tally(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="costsim-fuzz-") as root:
        for name in chosen:
            strategy, share = FAMILIES[name]
            n = max(1, round(args.examples * share / weight))
            t0 = time.perf_counter()
            try:
                tally = run_family(strategy(), n, root, limit_s=args.limit_s, seed=args.seed)
            except Exception as err:  # a generator's own bug: say so, and go on with the next family
                print(f"== {name}: the generator failed: {type(err).__name__}: {err}\n", flush=True)
                overall.counts["generator error"] += 1
                overall.failures.append(err)
                continue
            for kind, count in tally.counts.items():
                overall.counts[kind] += count
            overall.failures += tally.failures
            print(f"== {name}: {time.perf_counter() - t0:.1f} s, {summary(tally, args.show)}\n", flush=True)
    failed = len(overall.failures)
    print(f"all: {overall.total} cases in {time.perf_counter() - started:.0f} s: "
          + ", ".join(f"{k} {n}" for k, n in overall.counts.most_common()) + f"; {failed} failures")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
