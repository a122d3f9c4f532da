"""Calibration entry points: fit measurement files, or measure this machine (CPU or CUDA)."""
from __future__ import annotations

import numpy as np

from ..calibration.fit import FitResult, fit, fit_bound_failures, fit_bound_problem
from ..calibration.measure_cpu import measure_cpu, measured_peaks
from ..calibration.measure_cuda import measure_cuda
from ..calibration.measure_host import measure_host, torch_module
from ..calibration.profile_text import calibrated_profile_text, cpu_profile_text, host_profile_text
from ..errors import CostsimError
from ..files.loader import finish_profile, parse_yaml_text, raw_profile, read_cpu_model
from ..files.records import load_measurements
from ..schema.hardware import ClassicalProfile


def _base_for_calibration(base: str, measured: dict | None):
    data, source = raw_profile(base)
    if measured:
        for key, value in measured.items():
            data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    profile = finish_profile(data, source)
    if not isinstance(profile, ClassicalProfile):
        raise CostsimError(f"'{base}' is a {profile.kind} profile: calibration needs a cpu, gpu, tpu, fpga or "
                           f"asic base", field="base")
    return profile


DRIFT_HINT = "the measurements are not consistent with one another: check them"
CPU_HINT = ("the machine's speed probably changed while it was measured (another process preempting the BLAS "
            "threads): rerun on a quieter machine, or with OPENBLAS_NUM_THREADS=1 to measure one core")


def check_fit(result: "FitResult", force: bool, hint: str = DRIFT_HINT, source: str | None = None) -> str:
    """Refuse a fit worse than the stated bounds (``calibration.FIT_BOUNDS_MEDIAN_FRACTION``, on the GEMM
    and streaming groups) unless ``force``; return the warning a forced profile carries ('' if none).
    ``source``: the measurement files the refusal names."""

    failures = fit_bound_failures(result)
    if not failures:
        return ""
    problem = fit_bound_problem(failures)
    if not force:
        raise CostsimError(f"{problem}: no profile written; {hint}; or give --force to write it with a warning",
                           source=source, field="calibrate")
    return (f"written with --force although the fit is worse than its bound: {problem}; estimates on it "
            "inherit that error.")


def calibrate_from_records(records: list[dict], *, base: str, name: str, source_files: str,
                           provenance: str, measured: dict | None = None, force: bool = False,
                           source: str | None = None) -> tuple[str, "FitResult"]:
    """Fit ``records`` on top of the ``base`` profile; return the new profile's YAML text and the fit.
    A fit worse than the bound is refused unless ``force`` (see ``check_fit``), naming ``source``."""

    result = fit(_base_for_calibration(base, measured), records)
    warning = check_fit(result, force, source=source)
    return calibrated_profile_text(base, name, result, provenance, source_files, measured, warning), result


def calibrate_files(paths: list[str], *, base: str = "h200", name: str, force: bool = False
                    ) -> tuple[str, "FitResult"]:
    """``costsim calibrate --from``: fit measurement files in the format of the bundled H200 files
    (``costsim data path h200``)."""

    records = [r for p in paths for r in load_measurements(p)]
    kinds = sorted({r["kind"] for r in records})
    provenance = f"{len(records)} records ({', '.join(kinds)}) from {len(paths)} file(s)"
    return calibrate_from_records(records, base=base, name=name, source_files=", ".join(paths),
                                  provenance=provenance, force=force, source=", ".join(paths))


def calibrate_cpu(*, quick: bool, base: str = "xeon-8480", name: str, rng=None, progress=None,
                  keep_price: bool = False, force: bool = False) -> tuple[str, "FitResult", list[dict]]:
    """``costsim calibrate --device cpu``: measure this machine through numpy and write a self-contained
    profile: peaks, bandwidth, memory size and call overhead measured; GEMM and streaming curves
    fitted; power scaled from ``base`` by the CPUs used; everything else borrowed from ``base`` and
    marked so; no price unless ``keep_price``. A fit worse than the bound is refused unless ``force``.
    Returns the YAML text, the fit and the raw records."""


    records = measure_cpu(rng or np.random.default_rng(0), quick=quick, progress=progress)
    env = records[0]
    env["device"] = read_cpu_model() or env["device"]
    peaks = measured_peaks(records)
    measured = {"peak_dense_flops_per_s": {d: peaks.get(d) for d in
                                           ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "int4")},
                "memory_bandwidth_bytes_per_s": peaks["bandwidth"], "sparse_2_4_accelerated": False}
    base_profile = _base_for_calibration(base, measured)
    result = fit(base_profile, records)
    warning = check_fit(result, force, CPU_HINT)
    text = cpu_profile_text(name=name, base_name=base, base=base_profile, result=result, env=env, peaks=peaks,
                            keep_price=keep_price, warning=warning)
    finish_profile(parse_yaml_text(text, f"calibrated profile {name}"), f"calibrated profile {name}")  # valid
    return text, result, records


def calibrate_cuda(*, quick: bool, base: str = "h200", name: str, progress=None, force: bool = False
                   ) -> tuple[str, "FitResult", list[dict]]:
    """``costsim calibrate --device cuda``: measure the first NVIDIA GPU through PyTorch (an optional
    extra), NVML power included where pynvml is installed, in the shared measurement format."""

    records = measure_cuda(quick=quick, progress=progress)
    env = records[0]
    provenance = (f"{env.get('name')}, torch {env.get('torch')}, {'quick' if quick else 'full'} sweep, "
                  f"measured {env.get('when')}")
    text, result = calibrate_from_records(records, base=base, name=name, source_files="PyTorch microbenchmarks",
                                          provenance=provenance, force=force)
    return text, result, records




def calibrate_host(*, base: str, name: str, torch=None) -> tuple[str, list[dict]]:
    """``costsim calibrate --host``: time eager dispatch of tiny ops through PyTorch's CPU backend and write
    a profile extending ``base`` with the figures (``torch``: the module, else imported; one line if absent)."""
    _base_for_calibration(base, None)  # a base that exists and can be calibrated, before timing anything
    torch = torch or torch_module()
    records = measure_host(torch)
    provenance = f"torch {records[0]['torch']}, CPU backend, one thread"
    return host_profile_text(base, name, records, provenance), records
