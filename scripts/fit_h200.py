#!/usr/bin/env python3
"""Fit the H200 profile's calibrated fields from the shared microbenchmarks and write them into
hardware_profiles/h200.yaml (between the BEGIN FITTED / END FITTED markers). Deterministic: rerunning
on the same files writes the same bytes.

    python scripts/fit_h200.py [--data ../shared/calibration/h200] [--check]

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

from simulator.calibration import fit  # noqa: E402
from simulator.hardware import Efficiency, EfficiencyCurve, Power  # noqa: E402
from simulator.loader import raw_profile, validate_profile  # noqa: E402

BEGIN = "# BEGIN FITTED (scripts/fit_h200.py writes this block; do not edit by hand)"
END = "# END FITTED"
# Host power attributed to each GPU: DGX H200 system maximum 10.2 kW (NVIDIA DGX H200 datasheet)
# minus 8 x 700 W of GPUs = 575 W per GPU at nameplate; half of it taken as the running draw.
HOST_WATTS_PER_DEVICE = 0.5 * (10200.0 - 8 * 700.0) / 8
TDP_WATTS = 700.0  # nvidia-smi power limit of the measured device (measurements.jsonl, kind env)

START = Efficiency(
    gemm=EfficiencyCurve(max_fraction=0.8, half_saturation_s=5e-6),
    attention=EfficiencyCurve(max_fraction=0.5, half_saturation_s=5e-6),
    attention_backward=EfficiencyCurve(max_fraction=0.5, half_saturation_s=5e-6),
    conv=EfficiencyCurve(max_fraction=0.5, half_saturation_s=5e-6),
    memory=EfficiencyCurve(max_fraction=0.85, half_saturation_s=3e-6))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def g(x: float) -> str:
    return f"{x:.6g}"


def curve_yaml(name: str, c: EfficiencyCurve, note: str) -> list[str]:
    return [f"  {name}:  # {note}",
            f"    max_fraction: {g(c.max_fraction)}",
            f"    half_saturation_s: {g(c.half_saturation_s)}",
            f"    exponent: {g(c.exponent)}"]


def block(result, stats: dict) -> str:
    e, p = result.efficiency, result.power
    lines = [BEGIN,
             "# Fitted from ../shared/calibration/h200/{measurements,operators}.jsonl microbenchmarks only;",
             "# the two training steps there are validation data and are not used. Rerun to reproduce.",
             "# Per-group fit quality (median / worst |error| of time, over the cases of each group):"]
    for grp, (n, med, worst) in stats.items():
        lines.append(f"#   {grp}: {n} cases, median {med:.1%}, worst {worst:.1%}")
    lines += [f"# {note}" for note in result.notes]
    lines += ["kernel_launch_overhead_s: " + g(result.kernel_launch_overhead_s)
              + "  # operators.jsonl launch_overhead: tiny elementwise kernels back to back",
              "power:  # operators.jsonl power_regime and measurements.jsonl idle_power rows",
              f"  tdp_watts: {g(p.tdp_watts)}",
              f"  idle_watts: {g(p.idle_watts)}",
              f"  host_per_device_watts: {g(p.host_per_device_watts)}"
              "  # estimate: half of (DGX H200 10.2 kW - 8 x 700 W) / 8",
              f"  compute_bound_fraction: {g(p.compute_bound_fraction)}",
              f"  memory_bound_fraction: {g(p.memory_bound_fraction)}",
              "efficiency:"]
    lines += curve_yaml("gemm", e.gemm, "gemm sweep (bf16, fp16), x sustained ratio")
    lines += curve_yaml("attention", e.attention, "operators.jsonl attention (flash SDPA), x sustained ratio")
    lines += curve_yaml("attention_backward", e.attention_backward,
                        "operators.jsonl attention fwd+bwd less the forward curve, x sustained ratio")
    lines += curve_yaml("conv", e.conv, "operators.jsonl conv2d, x sustained ratio")
    lines += curve_yaml("memory", e.memory, "max: copy/read/add at 2 GiB; knee: single GELU/add kernels")
    lines.append("  attention_softmax:  # operators.jsonl attention: fp32 FLOP-equivalents per score element")
    for k, v in e.attention_softmax.model_dump().items():
        lines.append(f"    {k}: {g(v)}")
    lines.append("  memory_class_fraction:  # operators.jsonl layernorm, loss, embedding, optimizer rows")
    for k, v in e.memory_class_fraction.model_dump().items():
        lines.append(f"    {k}: {g(v)}")
    lines.append(END)
    return "\n".join(lines) + "\n"


def group_stats(residuals) -> dict:
    out = {}
    for grp in dict.fromkeys(r["group"] for r in residuals):
        errs = sorted(abs(r["model_s"] / r["measured_s"] - 1) for r in residuals if r["group"] == grp)
        out[grp] = (len(errs), errs[len(errs) // 2], errs[-1])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "calibration" / "h200")
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
    data.update(efficiency=START.model_dump(), kernel_launch_overhead_s=1e-5,
                power=Power(tdp_watts=TDP_WATTS, idle_watts=100, host_per_device_watts=HOST_WATTS_PER_DEVICE,
                            compute_bound_fraction=1.0, memory_bound_fraction=0.5).model_dump())
    base = validate_profile(data, source)
    result = fit(base, measurements, operators, HOST_WATTS_PER_DEVICE)
    stats = group_stats(result.residuals)
    new_text = head + block(result, stats) + tail.lstrip("\n")
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
