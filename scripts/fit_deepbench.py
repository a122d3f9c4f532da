#!/usr/bin/env python3
"""Fit each device family's GEMM curve on DeepBench and write it into the family's profile (between the
BEGIN FITTED / END FITTED markers at the end of the file). Deterministic: rerunning on the same data
writes the same bytes.

    python scripts/fit_deepbench.py [--data DIR] [--check]    (default: the bundled copy)

Which rows each family is fitted on, and which profiles borrow the fit, is ``FAMILIES`` in
``simulator/calibration/deepbench.py``; the other rows are the held-out check (tests/validation/
test_deepbench.py). Only the GEMM curve and its epilogue share are fitted: DeepBench has no streaming,
attention, normalisation or power measurements, and its fp32 convolutions ran Winograd and FFT
algorithms the direct-count convolution model does not price, so the rest of each block is the H200's fit.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.calibration.deepbench import FAMILIES, records  # noqa: E402
from simulator.calibration.fit import fit, group_stats  # noqa: E402
from simulator.calibration.profile_text import efficiency_lines  # noqa: E402
from simulator.files.bundled import bundled_folder  # noqa: E402
from simulator.files.loader import finish_profile, parse_yaml_text  # noqa: E402
from simulator.files.published import load_csv_raw  # noqa: E402

BEGIN = "# BEGIN FITTED (scripts/fit_deepbench.py writes this block; do not edit by hand)"
END = "# END FITTED"
COPIED = "the H200's fit, copied (not fitted on this family)"
ORIGIN = ("GEMM curve fitted on DeepBench's {device} GEMMs ({family} family); attention, convolution, memory "
          "and normalisation curves copied from the h200 fit and power fractions borrowed from it, not measured on "
          "this family")


def block(name: str, fam, result, n_rows: int) -> str:
    """The fitted block of one family's profile."""
    n, med, worst = group_stats(result.residuals)["gemm"]
    rows = "all" if fam.rows == "all" else "the even-numbered source rows (the odd ones held out)"
    notes = {k: COPIED for k in ("attention", "attention_backward", "conv", "conv_backward", "memory",
                                 "conv_tile_half_reduction", "attention_softmax", "memory_class_fraction")}
    notes["gemm"] = f"DeepBench {fam.device_id} {fam.precision} GEMMs ({rows}): fitted"
    notes["gemm_epilogue_fraction"] = "fitted with the GEMM curve"
    notes["sustained_compute_fraction"] = "DeepBench's kernels ran back to back: its rates are the sustained ones"
    lines = [BEGIN, f"# {name} family: fitted on {n_rows} DeepBench GEMM rows of {fam.device_id} ({fam.precision}; "
             f"{rows}); median |error| {med:.1%}, worst {worst:.1%} over the {n} fitted rows.",
             f"# Borrowed by: {', '.join(fam.borrowers)}. Only gemm and gemm_epilogue_fraction are fitted here."]
    e = result.efficiency
    tiny = 1e-9  # a fitted share at its lower bound prints as 0, not as the optimiser's residue
    e = e.model_copy(update={"sustained_compute_fraction": 1.0, "sparse_gemm": None,
                             "gemm_epilogue_fraction": e.gemm_epilogue_fraction if e.gemm_epilogue_fraction > tiny
                             else 0.0})
    lines += efficiency_lines(e, notes)
    lines.append(f"  origin: \"{ORIGIN.format(device=fam.device_id, family=name)}\"")
    return "\n".join(lines + [END]) + "\n"


def main() -> int:
    """Fit every family; write (or with --check, compare) each profile's block."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=bundled_folder("deepbench"))
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    gemms, convs = load_csv_raw(args.data / "gemm.csv"), load_csv_raw(args.data / "conv.csv")
    stale = []
    for name, fam in FAMILIES.items():
        path = ROOT / "hardware_profiles" / f"{fam.profile}.yaml"
        text = path.read_text()
        head, sep, rest = text.partition(BEGIN)
        if sep and END not in rest:
            print(f"{path}: '{BEGIN}' without '{END}'", file=sys.stderr)
            return 2
        tail = rest.split(END, 1)[1] if sep else ""
        base = finish_profile(parse_yaml_text(head + tail, str(path)), str(path))  # the H200's curves
        found = [r for r in records(gemms, convs, fam) if r["kind"] == "gemm"]
        result = fit(base, found)
        new_text = head.rstrip("\n") + "\n" + block(name, fam, result, len(found)) + tail.lstrip("\n")
        n, med, worst = group_stats(result.residuals)["gemm"]
        g = result.efficiency.gemm
        print(f"{name:8s} {fam.profile:12s} {n:4d} rows  median |error| {med:6.1%}  worst {worst:7.1%}  max "
              f"{g.max_fraction:.3f} knee {g.half_saturation_s:.3g} s exponent {g.exponent:.3f} epilogue "
              f"{result.efficiency.gemm_epilogue_fraction:.3f}")
        if new_text != text:
            stale.append(str(path))
            if not args.check:
                path.write_text(new_text)
    if args.check:
        print("profiles are up to date" if not stale else "differ from a fresh fit: " + ", ".join(stale))
        return 1 if stale else 0
    print("wrote " + (", ".join(stale) or "nothing (up to date)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
