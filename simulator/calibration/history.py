"""Historical training runs: the rows of Thompson et al.'s data set that name their processor, how
many, and how long training took, re-predicted from the model's forward FLOPs, epochs and set size.

A row becomes a generic workload (``simulator/model/generic.py``) on the bundled profile of its processor.
Where the prediction and the record disagree wildly, the record's own implied utilisation (the FLOPs
it claims over the peak it bought) says which is the likelier culprit: a record implying more than the
peak is impossible as written; one implying a few percent of the peak spent most of its time on
something the FLOPs do not count.
"""
from __future__ import annotations

import math

from ..errors import OutOfMemoryError
from ..files.published import cell_number
from ..model.step import matrix_peak
from ..schema.hardware import Strict
from ..schema.workload import GenericWorkload

# the data set's processor names -> bundled profiles (trailing spaces and case vary in the data)
PROFILE_OF = {
    "tesla k40": "k40", "tesla k40c": "k40", "tesla k80": "k80", "tesla m40": "m40",
    "tesla p100 pcie 16 gb": "p100-pcie", "geforce gtx titan x": "titan-x-maxwell",
    "geforce titan x": "titan-x-pascal", "geforce titan xp": "titan-xp", "geforce gtx titan xp": "titan-xp",
    "geforce gtx 1080 ti": "gtx-1080-ti", "geforce rtx 2080 ti": "rtx-2080-ti",
    "tesla v100 pcie 32 gb": "v100-pcie-32gb", "tesla v100 pcie 16 gb": "v100-pcie-32gb",
    "cloud tpu v2": "tpu-v2", "cloud tpu v3": "tpu-v3", "a100 sxm4 40 gb": "a100-sxm-80gb",
}
# The data set counts Cloud TPUs in boards (v2-8, v3-8: 4 chips, its peaks are 180 and 420 TFLOP/s per
# unit); the bundled TPU profiles are one chip each
CHIPS_PER_UNIT = {"cloud tpu v2": 4, "cloud tpu v3": 4}
# Per-device batch assumed where the record gives none (it sets only the size of each product)
BATCH_PER_DEVICE = 64
# A record implying less than this share of the peak spent most of its time outside the counted FLOPs
LOW_UTILISATION_FRACTION = 0.05
# Errors beyond this factor either way are "wild" and get a culprit
WILD_FACTOR = 3.0


class HistoricalRun(Strict):
    """One recorded training run, re-predicted.

    Attributes:
        name: the model's name in the data set.
        benchmark: the data set's benchmark (``imagenet``, ...).
        year: the record's year, if given.
        processor: the processor as the record names it.
        profile: the bundled profile it was predicted on; None where there is none.
        devices: the number of chips (a Cloud TPU board counted as its chips).
        precision: the training precision assumed (``-`` where not predicted).
        model_flops: forward FLOPs x training ratio x epochs x set size, FLOPs.
        measured_s: the recorded training time, seconds.
        predicted_s: the predicted training time, seconds; None where not predicted.
        error_fraction: predicted / measured - 1.
        implied_utilisation_fraction: model FLOPs / (devices x peak x measured time).
        verdict: what the comparison says, in words (or why there is none).
    """

    name: str
    benchmark: str
    year: int | None
    processor: str
    profile: str | None
    devices: int
    precision: str
    model_flops: float
    measured_s: float
    predicted_s: float | None
    error_fraction: float | None
    implied_utilisation_fraction: float | None
    verdict: str


def precision_for(profile, year: int | None) -> str:
    """What the run most likely trained in (an assumption; the records do not say): bf16 on TPUs,
    fp16 mixed precision on tensor-core GPUs from 2018, fp32 before."""
    if profile.kind == "tpu":
        return "bf16_mixed"
    if profile.peak_dense_flops_per_s.fp16 and (year or 0) >= 2018:
        return "fp16_mixed"
    return "fp32"


def runs_from_rows(rows: list[dict], benchmark: str) -> list[dict]:
    """The rows usable as runs: processor, count, time, forward FLOPs (or multiply-adds), epochs, set size."""
    out = []
    for r in rows:
        def num(*keys):  # the first positive number among the row's cells ``keys``
            return next((v for v in (cell_number(r.get(k), positive=True) for k in keys) if v is not None), None)

        processor = (r.get("training_gpu_model") or r.get("training_tpu_model") or "").strip()
        count, seconds = num("training_gpu_amount", "training_tpu_amount"), num("training_time_total_sec")
        multiadds = num("multiadds")
        flops = num("flops") or (2 * multiadds if multiadds else None)
        epochs, size = num("training_epochs"), num("training_set_size")
        if processor and count and count >= 1 and seconds and flops and epochs and size:
            chips = CHIPS_PER_UNIT.get(processor.lower(), 1)
            out.append({"name": r.get("name", "?").strip(), "benchmark": benchmark, "year": num("year"),
                        "processor": processor, "devices": int(round(count)) * chips, "seconds": seconds,
                        "flops": flops, "ratio": num("fp_bp_ratio") or 3.0, "epochs": epochs, "set_size": size,
                        "parameters": num("parameters")})
    return out


def predict(run: dict, load_profile, estimate_fn) -> HistoricalRun:
    """One record re-predicted. ``load_profile(name)`` gives a bundled profile; ``estimate_fn(profile,
    workload, devices)`` the closed-form Estimate."""

    year = int(run["year"]) if run["year"] else None
    model_flops = run["flops"] * run["ratio"] * run["epochs"] * run["set_size"]
    base = dict(name=run["name"], benchmark=run["benchmark"], year=year, processor=run["processor"],
                devices=run["devices"], model_flops=model_flops, measured_s=run["seconds"])
    missing = dict(predicted_s=None, error_fraction=None, implied_utilisation_fraction=None)
    name = PROFILE_OF.get(run["processor"].lower())
    if name is None:
        return HistoricalRun(**base, **missing, profile=None, precision="-",
                             verdict=f"no bundled profile for '{run['processor']}'")
    if not run["parameters"]:
        return HistoricalRun(**base, **missing, profile=name, precision="-",
                             verdict="the record gives no parameter count")
    profile = load_profile(name)
    precision = precision_for(profile, year)
    optimizer = "sgd_momentum" if run["benchmark"] == "imagenet" else "adam"
    per_device = BATCH_PER_DEVICE
    while True:  # the largest power-of-two batch per device that fits
        workload = GenericWorkload.model_validate({
            "name": run["name"], "kind": "generic", "parameters": run["parameters"],
            "forward_flops_per_sample": run["flops"], "training_to_forward_flops_ratio": run["ratio"],
            "training": {"global_batch_size": per_device * run["devices"], "epochs": run["epochs"],
                         "dataset_size": int(run["set_size"]), "precision": precision, "optimizer": optimizer}})
        try:
            e = estimate_fn(profile, workload, run["devices"])
            break
        except OutOfMemoryError as err:
            if per_device == 1:
                return HistoricalRun(**base, **missing, profile=name, precision=precision,
                                     verdict=f"does not fit: {err.problem}")
            per_device //= 2
    implied = model_flops / (run["devices"] * matrix_peak(profile, workload) * run["seconds"])
    ratio = e.total_time_s / run["seconds"]
    if implied > 1:
        verdict = (f"the record is impossible as written: it implies {implied:.1f}x the processors' peak "
                   f"(FLOPs, epochs, count or time misreported)")
    elif abs(math.log(ratio)) <= math.log(WILD_FACTOR):
        verdict = f"within {WILD_FACTOR:g}x"
    elif implied < LOW_UTILISATION_FRACTION:
        verdict = (f"the record is the likelier culprit: it implies {implied:.1%} of the peak, so most of its "
                   f"time went to work its FLOPs do not count (data loading, evaluation, search, idle devices)")
    else:
        verdict = (f"the model is the likelier culprit: the record implies a plausible {implied:.0%} of the "
                   f"peak, and the prediction is {ratio:.2g}x the record")
    return HistoricalRun(**base, profile=name, precision=precision, predicted_s=e.total_time_s,
                         error_fraction=ratio - 1, implied_utilisation_fraction=implied, verdict=verdict)


class HistorySummary(Strict):
    """The historical runs' errors in a few numbers.

    Attributes:
        runs: the usable records.
        predicted: the records predicted.
        median_abs_log10_error: the median |log10(predicted / measured)| over the predicted records.
        within_factor_2: the predictions within 2x of the record, either way.
        within_factor_3: the predictions within 3x.
        impossible_records: the predicted records implying more than the processors' peak.
    """

    runs: int
    predicted: int
    median_abs_log10_error: float | None
    within_factor_2: int
    within_factor_3: int
    impossible_records: int


def summarise(results: list[HistoricalRun]) -> HistorySummary:
    """The summary of the re-predicted records."""
    done = [r for r in results if r.predicted_s is not None]
    logs = sorted(abs(math.log10(r.predicted_s / r.measured_s)) for r in done)
    return HistorySummary(
        runs=len(results), predicted=len(done),
        median_abs_log10_error=logs[len(logs) // 2] if logs else None,
        within_factor_2=sum(x <= math.log10(2) for x in logs), within_factor_3=sum(x <= math.log10(3) for x in logs),
        impossible_records=sum(1 for r in done if (r.implied_utilisation_fraction or 0) > 1))
