"""Validation entry points: measured runs, the bundled suites, the compression checks and historical runs."""
from __future__ import annotations

from pathlib import Path

from ..calibration import deepbench
from ..calibration.fit import fit
from ..calibration.history import predict, runs_from_rows, summarise
from ..calibration.mlperf import PROFILES as MLPERF_PROFILES
from ..calibration.mlperf import report as mlperf_report
from ..calibration.mlperf import results as mlperf_results
from ..calibration.validation import (
    VTRAIN_HOST_OVERHEAD_S,
    VTRAIN_INTER_NODE_BYTES_PER_S,
    h200_suite,
    published_suite,
    run_from_row,
    validate,
    vtrain_suite,
)
from ..calibration.validation import compression_checks as checks
from ..errors import CostsimError
from ..files.bundled import data_folder, label
from ..files.loader import load_pair, load_profile, raw_workload
from ..files.published import load_csv_raw
from ..files.records import find_files, load_measurements, load_numbered_rows
from ..run.estimate import estimate_run
from ..schema.hardware import Link
from .core import estimate, run_options
from .projections import thompson_rows


def validate_file(path: str):
    """``costsim validate FILE``: runs described in a CSV or JSON-lines file (columns in docs/calibration.md).
    A row whose inputs do not load (an unknown profile, a wrongly typed field) is an error naming its
    line; a run the model cannot estimate (one that does not fit) keeps its row with the reason."""

    runs = []
    for line, row in load_numbered_rows(path):
        run = run_from_row(row, f"{path}:{line}")
        try:
            load_pair(run.hardware, run.workload, run.sets)
        except CostsimError as err:
            raise CostsimError(err.line(), source=f"{path}:{line}") from None
        runs.append(run)
    return validate(Path(path).name, runs, estimate, data=str(path))


def validate_suite(name: str, data: str | None = None, host_overhead_s: float | None = None):
    """A bundled suite: ``h200`` (the H200 training steps) or ``vtrain`` (vTrain's A100 iteration times).
    ``data``: the suite's folder (or, for vtrain, one CSV); default ``$COSTSIM_DATA`` or the bundled copy."""

    if name == "h200":
        folder = data_folder("h200", data)
        path = (find_files(folder, "measurements.jsonl") or [folder])[0]
        return validate("h200", h200_suite(load_measurements(path)), estimate, data=label(path),
                        load_profile=load_profile)
    if name == "vtrain":
        folder = data_folder("vtrain", data)
        paths = find_files(folder, "ground_truth_*.csv")
        if not paths:
            raise CostsimError("no ground_truth_*.csv files", source=label(folder))
        runs = [run for p in paths for run in vtrain_suite(load_csv_raw(p), str(p))]

        overhead = VTRAIN_HOST_OVERHEAD_S if host_overhead_s is None else host_overhead_s
        inter = load_profile("a100-sxm-80gb").inter_node_link
        update = {"kernel_launch_overhead_s": overhead,
                  "inter_node_link": Link(bandwidth_bytes_per_s=VTRAIN_INTER_NODE_BYTES_PER_S,
                                          latency_s=inter.latency_s)}
        return validate("vtrain", runs, estimate, data=", ".join(map(label, paths)), load_profile=load_profile,
                        profile_update=update)
    if name == "published":
        folder = data_folder("published", data)
        path = folder if folder.is_file() else folder / "runs.csv"
        return validate("published", published_suite(load_csv_raw(path), label(path)), estimate, data=label(path),
                        load_profile=load_profile)
    if name == "mlperf":
        return _mlperf(data)
    if name == "deepbench":
        return _deepbench(data)
    raise CostsimError(f"unknown suite '{name}'; known: h200, vtrain, published, mlperf, deepbench, compression",
                       field="suite")


MLPERF_WORKLOADS = ("resnet50-imagenet", "bert-large", "gpt3-175b")


def _mlperf(data: str | None = None):
    """``costsim validate --suite mlperf``: the closed-division MLPerf Training scores of the rounds in the
    data set, each predicted from its system, its logged batch and the work its runs trained
    (``calibration/mlperf.py``)."""
    folder = data_folder("mlperf", data)
    scores, runs = (load_csv_raw(folder / name) for name in ("scores.csv", "runs.csv"))
    found, skipped = mlperf_results(scores, runs)
    workloads = {name: raw_workload(name)[0] for name in MLPERF_WORKLOADS}
    profiles: dict = {}

    def profile(name):
        if name not in profiles:
            profiles[name] = load_profile(name)
        return profiles[name]

    stacks = {name: profile(name).stacks for name in {p for _, p in MLPERF_PROFILES}}

    def step(hardware, workload, devices, plan):
        e = estimate(profile(hardware), workload, devices=devices, plan=plan, fit="accumulate")
        return e.step_time_s, e.plan

    return mlperf_report(found, skipped, workloads, stacks, step, data=label(folder))


def _deepbench(data: str | None = None):
    """``costsim validate --suite deepbench``: every DeepBench GEMM and convolution row on a device with a
    profile, priced as one kernel on that profile (``calibration/deepbench.py``)."""
    folder = data_folder("deepbench", data)
    found, skipped = deepbench.kernels(*(load_csv_raw(folder / n) for n in ("gemm.csv", "conv.csv")), label(folder))
    profiles: dict = {}

    def profile(name):
        if name not in profiles:
            profiles[name] = load_profile(name)
        return profiles[name]

    return deepbench.report(deepbench.price(found, profile), skipped, label(folder))


def compression_checks(data: str | None = None):
    """``costsim validate --suite compression``: the H200 calibration's fp8, low-rank and 2:4 rows
    against the bundled H200 profile. The timing floor of each session comes from refitting the
    microbenchmarks (the floor is a property of the measuring rig, not of the profile)."""

    folder = data_folder("h200", data)
    records = [r for name in ("measurements.jsonl", "operators.jsonl")
               for p in find_files(folder, name) for r in load_measurements(p)]
    if not records:
        raise CostsimError("no measurements.jsonl or operators.jsonl", source=label(folder))
    profile = load_profile("h200")
    return checks(records, profile, fit(profile, records).floors_s)



def history(data: str | None = None):
    """``costsim validate --suite history``: the Thompson et al. rows that name processor, count and
    training time, re-predicted from forward FLOPs, epochs and set size. Returns (runs, summary)."""

    runs = [r for name, rows in thompson_rows(data).items() for r in runs_from_rows(rows, name)]
    opts = {}

    def run(profile, wl, devices):
        return estimate_run(profile, wl, opts.setdefault(devices, run_options(devices=devices)))

    results = [predict(r, load_profile, run) for r in runs]
    return results, summarise(results)


