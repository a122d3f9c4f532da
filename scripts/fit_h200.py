#!/usr/bin/env python3
"""Fit the H200 profile's calibrated fields from the shared microbenchmarks and write them into
hardware_profiles/h200.yaml (between the BEGIN FITTED / END FITTED markers). Deterministic: rerunning
on the same files writes the same bytes.

    python scripts/fit_h200.py [--data DIR] [--check]    (default: the bundled copy, simulator/data/h200)

--check: fit and compare with the YAML, exit 1 if they differ (nothing is written).
Uses the microbenchmarks only; the two training steps in measurements.jsonl are validation data.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.calibration.fit import START, fit, group_stats  # noqa: E402
from simulator.calibration.profile_text import BEGIN, END, fitted_block  # noqa: E402
from simulator.files.bundled import bundled_folder  # noqa: E402
from simulator.files.loader import raw_profile, validate_profile  # noqa: E402

# Host power attributed to each GPU: DGX H200 system maximum 10.2 kW (NVIDIA DGX H200 datasheet)
# minus 8 x 700 W of GPUs = 575 W per GPU at nameplate; half of it taken as the running draw.
HOST_PER_DEVICE_WATTS = 0.5 * (10200.0 - 8 * 700.0) / 8
TDP_WATTS = 700.0  # nvidia-smi power limit of the measured device (measurements.jsonl, kind env)
HOST_NOTE = "estimate: half of (DGX H200 10.2 kW - 8 x 700 W) / 8"
SOURCE_FILES = "../shared/calibration/h200/{measurements,operators}.jsonl"


def read_jsonl(path: Path) -> list[dict]:
    """The objects of a JSON-lines file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> int:
    """Fit, print the fit quality, and write (or with --check, compare) the fitted block."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=bundled_folder("h200"))
    ap.add_argument("--profile", type=Path, default=ROOT / "hardware_profiles" / "h200.yaml")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="print every case's residual")
    args = ap.parse_args()
    measurements = read_jsonl(args.data / "measurements.jsonl")
    operators = read_jsonl(args.data / "operators.jsonl")
    text = args.profile.read_text()
    head, sep, rest = text.partition(BEGIN)
    if not sep or END not in rest:
        print(f"{args.profile}: markers '{BEGIN}' / '{END}' not found", file=sys.stderr)
        return 2
    tail = rest.split(END, 1)[1]
    data, source = raw_profile(str(args.profile))
    data["power"] = {**data.get("power", {}), "tdp_watts": TDP_WATTS, "idle_watts": 100.0,
                     "host_per_device_watts": HOST_PER_DEVICE_WATTS}
    data.setdefault("kernel_launch_overhead_s", 1e-5)
    data.setdefault("efficiency", START.model_dump())
    base = validate_profile(data, source)
    result = fit(base, measurements + operators)
    stats = group_stats(result.residuals)
    new_text = head + fitted_block(result, SOURCE_FILES, host_note=HOST_NOTE) + tail.lstrip("\n")
    if args.verbose:
        for r in result.residuals:
            print(f"{r['group']:14s} {r['what']:45s} {r['session']:10s} measured {r['measured_s'] * 1e6:10.1f} us"
                  f"  model {r['model_s'] * 1e6:10.1f} us  {r['model_s'] / r['measured_s'] - 1:+7.1%}")
    for grp, (n, med, worst) in stats.items():
        print(f"{grp:14s} {n:3d} cases  median |error| {med:6.1%}  worst {worst:6.1%}")
    print("timing floors (s): " + ", ".join(f"{k} {v:.3g}" for k, v in result.floors_s.items()))
    for note in result.notes:
        print(note)
    if args.check:
        same = new_text == text
        print("profile is up to date" if same else "profile differs from a fresh fit")
        return 0 if same else 1
    args.profile.write_text(new_text)
    print(f"wrote {args.profile}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
