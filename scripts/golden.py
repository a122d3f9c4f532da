#!/usr/bin/env python3
"""A fixed set of results, written to the last digit, to prove that a change of structure changes no
number: every bundled classical profile on every bundled workload that fits (and the ones that must be
sharded, under a plan), a few strategies, a plan search, a Monte Carlo simulation with a seed, and the
bundled validation suites' per-run predictions.

    python scripts/golden.py --write     # record tests/golden/results.json
    python scripts/golden.py             # compare with it; exit 1 and list what moved

The test tests/rules/test_golden.py runs the comparison.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator import api  # noqa: E402
from simulator.errors import CostsimError  # noqa: E402

GOLDEN = ROOT / "tests" / "golden" / "results.json"
KEYS = ("step_time_s", "total_time_s", "energy_joules", "device_energy_joules", "cost_usd", "co2_kg",
        "peak_memory_bytes", "mfu_fraction", "micro_batch_size", "pricing")
PLANS = {"gpt3-175b": ("tp=8,pp=8,dp=16,mb=2,zero=1,sp", 1024)}


def _estimate(e) -> dict:
    d = e.to_dict()
    out = {k: d[k] for k in KEYS}
    out["breakdown"] = {k: v["time_s"] for k, v in d["breakdown"].items()}
    return out


def results() -> dict:
    """Every figure of the fixed set, keyed by a readable name."""
    out: dict = {}
    for hw in api.profiles():
        if api.is_quantum(hw):
            continue
        for wl in api.workloads():
            plan, devices = PLANS.get(wl, (None, 1))
            key = f"estimate {hw} {wl}" + (f" {plan}" if plan else "")
            for fit in ("strict", "accumulate"):  # a run that does not fit, with gradient accumulation
                try:
                    out[key] = _estimate(api.estimate(hw, wl, plan=plan, devices=devices, fit=fit))
                    break
                except CostsimError:  # a refusal is a result too (its wording may change)
                    out[key] = {"refused": True}
    for s in ("quantize:fp8", "lowrank:0.25", "prune:2of4", "lora:16", "nas:darts,saving=0.5",
              "distill,teacher=gpt2-124m"):
        rows = api.strategies("h200", "gpt-1.3b", [s], rows="each")
        out[f"strategy h200 gpt-1.3b {s}"] = [r.model_dump(mode="json") for r in rows]
    found = api.plan("h100-sxm", "gpt3-175b", devices=1024, top=3)
    out["plan h100-sxm gpt3-175b 1024"] = [[p.label(), _estimate(e)] for p, e in found]
    sim = api.simulate("h100-sxm", "gpt3-175b", plan="tp=8,pp=8,dp=16,mb=2,zero=1,sp", mtbf_hours=50000,
                       straggler_cv_fraction=0.02, replicas=20, seed=1)
    out["simulate h100-sxm gpt3-175b"] = sim.to_dict()["simulation"]
    for suite in ("h200", "vtrain"):
        report = api.validate_suite(suite)
        out[f"validate {suite}"] = [[r.label, r.predicted_step_time_s] for r in report.results]
    out["validate compression"] = [c.model_dump(mode="json") for c in api.compression_checks()]
    runs, summary = api.history()
    out["validate history"] = [r.model_dump(mode="json") for r in runs]
    return json.loads(json.dumps(out, sort_keys=True))


def main() -> int:
    """Compare the results with the recorded ones (or record them with --write); 0 when identical."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="record the results instead of comparing")
    args = ap.parse_args()
    now = results()
    if args.write:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(now)} results to {GOLDEN.relative_to(ROOT)}")
        return 0
    moved = differences(json.loads(GOLDEN.read_text()), now)
    for m in moved[:50]:
        print(m)
    print(f"{len(moved)} of {len(now)} results moved" if moved else f"all {len(now)} results identical")
    return 1 if moved else 0


# numbers agree to this relative tolerance: the fitted curves come out of scipy's least squares, whose
# last digits move with the library's version and the machine's BLAS; a change of the model moves more
RELATIVE = 1e-6


def same(a, b) -> bool:
    """Whether two results agree: equal structure and text, numbers within ``RELATIVE``."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return abs(a - b) <= RELATIVE * max(abs(a), abs(b))
    return a == b


def differences(before: dict, after: dict) -> list[str]:
    """The names of the results that differ, with both values (shortened)."""
    keys = sorted(set(before) | set(after))
    return [f"{k}: {str(before.get(k))[:200]} -> {str(after.get(k))[:200]}" for k in keys
            if not same(before.get(k), after.get(k))]


if __name__ == "__main__":
    raise SystemExit(main())
