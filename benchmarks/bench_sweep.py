#!/usr/bin/env python3
"""Sweep speed: a grid of 120,000 closed-form scenarios (160 runs x 750 option points: every bundled
region), evaluated and
written as CSV, serial and with two worker processes; each timed cold (fresh process) and warm.

    python benchmarks/bench_sweep.py
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.schema.regions import GRID_G_CO2_PER_KWH  # noqa: E402

SPEC = """name: bench
hardware: [h200, h100-sxm, a100-sxm-80gb, v100-sxm2, tpu-v5p, tpu-v3, gaudi3, rtx-2080-ti, p100-pcie, k80]
workloads: [gpt2-124m, gpt-1.3b]
devices: [1, 8, 64, 512]
strategies: [none, quantize:fp8]
regions: [{regions}]
pue: [1.1, 1.2, 1.4, 1.58, 1.8]
pricing: [cloud, owned]
cloud_price_usd_per_hour: [1.0, 2.0, 4.0, 8.0, 16.0]
"""


def run(args: list[str]) -> float:
    """Seconds of one ``costsim`` command in a fresh process."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    """Time the sweep serial and with two workers; return the exit status."""
    regions = list(GRID_G_CO2_PER_KWH)
    spec_text = SPEC.format(regions=", ".join(regions))
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "bench.yaml"
        spec.write_text(spec_text)
        out = Path(tmp) / "rows.csv"
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
        for label, extra in (("serial", []), ("--workers 2", ["--workers", "2"])):
            times = [run(["sweep", str(spec), "--out", str(out), "--quiet", *extra]) for _ in range(3)]
            rows = out.read_text().count("\n") - 1
            print(f"costsim sweep ({label}): {rows:,} scenarios, wall incl. start-up and CSV: "
                  f"best {min(times):.2f} s, median {sorted(times)[1]:.2f} s "
                  f"({rows / min(times):,.0f} scenarios/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
