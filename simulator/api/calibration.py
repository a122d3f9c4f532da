"""Calibration entry points: fit measurement files, or measure this machine (CPU or CUDA)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import CostsimError
from ..hardware import ClassicalProfile
from ..loader import finish_profile, raw_profile

if TYPE_CHECKING:
    from ..calibration import FitResult

def _base_for_calibration(base: str, measured: dict | None):
    data, source = raw_profile(base)
    if measured:
        for key, value in measured.items():
            data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    profile = finish_profile(data, source)
    if not isinstance(profile, ClassicalProfile):
        raise CostsimError(f"'{base}' is a {profile.kind} profile: calibration needs a cpu, gpu, tpu, fpga or "
                           f"asic base", field="--base")
    return profile


def calibrate_from_records(records: list[dict], *, base: str, name: str, source_files: str,
                           provenance: str, measured: dict | None = None) -> tuple[str, "FitResult"]:
    """Fit ``records`` on top of the ``base`` profile; return the new profile's YAML text and the fit."""
    from ..calibration import calibrated_profile_text, fit

    result = fit(_base_for_calibration(base, measured), records)
    return calibrated_profile_text(base, name, result, provenance, source_files, measured), result


def calibrate_files(paths: list[str], *, base: str = "h200", name: str) -> tuple[str, "FitResult"]:
    """``costsim calibrate --from``: fit measurement files in the format of ../shared/calibration/h200."""
    from ..loader import load_measurements

    records = [r for p in paths for r in load_measurements(p)]
    kinds = sorted({r["kind"] for r in records})
    provenance = f"{len(records)} records ({', '.join(kinds)}) from {len(paths)} file(s)"
    return calibrate_from_records(records, base=base, name=name, source_files=", ".join(paths),
                                  provenance=provenance)


def calibrate_cpu(*, quick: bool, base: str = "xeon-8480", name: str, rng=None, progress=None
                  ) -> tuple[str, "FitResult", list[dict]]:
    """``costsim calibrate --device cpu``: measure this machine through numpy and fit a profile whose
    peaks are the best measured rates. Returns the YAML text, the fit and the raw records."""
    import numpy as np

    from ..loader import read_cpu_model
    from ..measure import measure_cpu, measured_peaks

    records = measure_cpu(rng or np.random.default_rng(0), quick=quick, progress=progress)
    env = records[0]
    env["device"] = read_cpu_model() or env["device"]
    peaks = measured_peaks(records)
    measured = {"peak_dense_flops_per_s": {d: peaks.get(d) for d in
                                           ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "int4")},
                "memory_bandwidth_bytes_per_s": peaks["bandwidth"], "sparse_2_4_accelerated": False}
    provenance = (f"{env['device']}, {env['cpu_count']} logical CPUs, numpy {env['numpy']} with {env['blas']} "
                  f"on {env['threads']} threads, {'quick' if quick else 'full'} sweep, measured {env['when']}")
    text, result = calibrate_from_records(records, base=base, name=name, source_files="numpy microbenchmarks",
                                          provenance=provenance, measured=measured)
    return text, result, records


def calibrate_cuda(*, quick: bool, base: str = "h200", name: str, progress=None
                   ) -> tuple[str, "FitResult", list[dict]]:
    """``costsim calibrate --device cuda``: measure the first NVIDIA GPU through PyTorch (an optional
    extra), NVML power included where pynvml is installed, in the shared measurement format."""
    from ..measure_cuda import measure_cuda

    records = measure_cuda(quick=quick, progress=progress)
    env = records[0]
    provenance = (f"{env.get('name')}, torch {env.get('torch')}, {'quick' if quick else 'full'} sweep, "
                  f"measured {env.get('when')}")
    text, result = calibrate_from_records(records, base=base, name=name, source_files="PyTorch microbenchmarks",
                                          provenance=provenance)
    return text, result, records


