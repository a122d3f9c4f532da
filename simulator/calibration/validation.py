"""Predictions against measured runs: per-run signed errors, MAPE, worst case.

A validation run names a hardware profile, a workload (a bundled name or path, overridden field by field,
or given inline), a plan, and what was measured. Suites turn published measurement sets into runs:
the H200 training steps in ``../shared/calibration/h200`` and the vTrain A100 iteration times in
``../shared/validation/vtrain``. Nothing here is fitted to what it is compared with.
"""
from __future__ import annotations

import math

from pydantic import Field, ValidationError

from ..errors import CostsimError
from ..files.loader import override_text
from ..model.ops import gemm
from ..model.roofline import price_ops
from ..schema.hardware import Input, PositiveFloat, PositiveInt, Strict
from ..schema.workload import Training
from ..units import BITS_PER_BYTE, MILLI
from .cases import SPARSE_DTYPES, sparse_op

TRAINING_FIELDS = set(Training.model_fields)
RUN_FIELDS = {"label", "hardware", "workload", "devices", "measured_step_time_s",
              "measured_device_energy_per_step_joules", "tensor_parallel", "pipeline_parallel", "data_parallel",
              "plan", "note"}


class ValidationRun(Input):
    """One measured run to predict.

    Attributes:
        label: the run's name in the report.
        hardware: a bundled profile name or a path.
        workload: a bundled workload name or a path, or the workload's fields inline.
        sets: ``field=value`` overrides applied before estimating (``--set`` syntax).
        devices: the number of devices.
        tensor_parallel: the tensor-parallel degree, where ``plan`` is not given.
        pipeline_parallel: the pipeline-parallel degree, where ``plan`` is not given.
        plan: a full plan (``tp=..,pp=..,dp=..,...``); else built from the degrees.
        measured_step_time_s: the measured time of one training step, seconds.
        measured_device_energy_per_step_joules: the measured device energy of one step, joules, if any.
        note: free text carried from the row.
    """

    label: str
    hardware: str
    workload: str | dict
    sets: tuple[str, ...] = Field(default=(), strict=False)
    devices: PositiveInt = 1
    tensor_parallel: PositiveInt = 1
    pipeline_parallel: PositiveInt = 1
    plan: str | None = None  # a full plan (tp=..,pp=..,dp=..,...); else built from the degrees
    measured_step_time_s: PositiveFloat
    measured_device_energy_per_step_joules: PositiveFloat | None = None
    note: str = ""


class RunResult(Strict):
    """One run's prediction against its measurement.

    Attributes:
        label: the run's name.
        hardware: the profile it was estimated on.
        measured_step_time_s: the measured step time, seconds.
        predicted_step_time_s: the predicted step time, seconds; None where not estimated.
        step_time_error_fraction: signed: (predicted - measured) / measured.
        measured_device_energy_per_step_joules: the measured device energy per step, joules, if any.
        predicted_device_energy_per_step_joules: the predicted device energy per step, joules, given only
            where one was measured.
        energy_error_fraction: signed, as for the step time.
        problem: why the run was not estimated (the one-line error); None where it was.
    """

    label: str
    hardware: str
    measured_step_time_s: float
    predicted_step_time_s: float | None
    step_time_error_fraction: float | None
    measured_device_energy_per_step_joules: float | None
    predicted_device_energy_per_step_joules: float | None
    energy_error_fraction: float | None
    problem: str | None


class Summary(Strict):
    """A suite's errors in a few numbers.

    Attributes:
        runs: the runs in the suite.
        estimated: the runs the model estimated.
        step_time_mape_fraction: the mean |error| of step time over the estimated runs (a fraction).
        step_time_mean_signed_error_fraction: the mean signed error of step time (a fraction).
        step_time_worst_error_fraction: the signed error of the run with the largest |error|.
        worst_label: that run's label.
        energy_runs: the runs with a measured and a predicted energy.
        energy_mape_fraction: the mean |error| of device energy per step over those runs (a fraction).
        not_estimated: reason -> number of runs not estimated for it.
    """

    runs: int
    estimated: int
    step_time_mape_fraction: float | None
    step_time_mean_signed_error_fraction: float | None
    step_time_worst_error_fraction: float | None
    worst_label: str | None
    energy_runs: int
    energy_mape_fraction: float | None
    not_estimated: dict[str, int] = Field(default_factory=dict)


class ValidationReport(Strict):
    """A validation suite's results.

    Attributes:
        name: the suite's name (``h200``, ``vtrain``, or the runs file's name).
        results: one result per run, in the order of the runs.
        summary: the errors over all runs.
        data: where the measurements were read from, in words.
    """

    name: str
    results: tuple[RunResult, ...]
    summary: Summary
    data: str

    def to_dict(self) -> dict:
        """The report as plain data (JSON-ready)."""
        return self.model_dump()


def run_from_row(row: dict, where: str) -> ValidationRun:
    """A validation run from one row of a CSV or JSON-lines file (columns in docs/calibration.md):
    run columns as named, any other column a workload or training field."""
    for key in ("hardware", "measured_step_time_s"):
        if row.get(key) in (None, ""):
            raise CostsimError("missing column", source=where, field=key)
    extra = {k: v for k, v in row.items() if k not in RUN_FIELDS and v not in (None, "")}
    if row.get("workload"):
        workload: str | dict = str(row["workload"])
        sets = tuple(f"{k}={override_text(v)}" for k, v in extra.items())  # cells keep their type
    else:
        if "kind" not in extra:
            raise CostsimError("give a workload (name or path) or an inline 'kind' with its fields",
                               source=where, field="workload")
        training = {k: v for k, v in extra.items() if k in TRAINING_FIELDS}
        workload = {k: v for k, v in extra.items() if k not in TRAINING_FIELDS}
        workload.setdefault("name", str(row.get("label") or where))
        workload["training"] = training
        sets = ()
    fields = {k: row[k] for k in ("devices", "measured_device_energy_per_step_joules", "note", "plan")
              if row.get(k) not in (None, "")}
    tp, pp = row.get("tensor_parallel") or 1, row.get("pipeline_parallel") or 1
    try:
        return ValidationRun(label=str(row.get("label") or where), hardware=str(row["hardware"]),
                             workload=workload, sets=sets, measured_step_time_s=row["measured_step_time_s"],
                             tensor_parallel=tp, pipeline_parallel=pp, **fields)
    except ValidationError as err:
        raise CostsimError.from_validation(err, source=where) from None


def _error(predicted: float | None, measured: float | None) -> float | None:
    if predicted is None or measured is None:
        return None
    return predicted / measured - 1.0


def _comparable(predicted: float | None, measured: float | None, name: str) -> tuple[float | None, str | None]:
    """``predicted``, or None with the reason where its error against ``measured`` is not finite (a
    measurement hundreds of orders of magnitude from the model)."""
    error = _error(predicted, measured)
    if error is None or math.isfinite(error):
        return predicted, None
    return None, f"{name}: {measured:g} against a predicted {predicted:g}: the error is not finite"


def evaluate(run: ValidationRun, estimate_fn) -> RunResult:
    """Predict one run with ``estimate_fn(hardware, workload, sets=..., devices=...)``; a run the model
    cannot estimate keeps its row, with the reason."""
    problem = None
    predicted_t = predicted_e = None
    plan = run.plan
    if plan is None and (run.tensor_parallel > 1 or run.pipeline_parallel > 1):
        dp = run.devices // (run.tensor_parallel * run.pipeline_parallel)
        plan = f"tp={run.tensor_parallel},pp={run.pipeline_parallel},dp={max(dp, 1)}"
    try:
        e = estimate_fn(run.hardware, run.workload, sets=list(run.sets), devices=run.devices, plan=plan)
        predicted_t, predicted_e = e.step_time_s, e.device_energy_per_step_joules
    except CostsimError as err:
        problem = err.line()
    measured_e = run.measured_device_energy_per_step_joules
    predicted_t, why_t = _comparable(predicted_t, run.measured_step_time_s, "measured_step_time_s")
    predicted_e, why_e = _comparable(predicted_e, measured_e, "measured_device_energy_per_step_joules")
    problem = problem or why_t or why_e
    return RunResult(label=run.label, hardware=run.hardware, measured_step_time_s=run.measured_step_time_s,
                     predicted_step_time_s=predicted_t,
                     step_time_error_fraction=_error(predicted_t, run.measured_step_time_s),
                     measured_device_energy_per_step_joules=measured_e,
                     predicted_device_energy_per_step_joules=predicted_e if measured_e else None,
                     energy_error_fraction=_error(predicted_e, measured_e), problem=problem)


def _mean(values: list[float]) -> float | None:
    """The mean, each value divided before the sum so that huge but finite errors do not overflow."""
    return math.fsum(x / len(values) for x in values) if values else None


def summarise(results: list[RunResult]) -> Summary:
    """The summary of a suite's results; problems counted by their last clause (one reason for every
    run that does not fit in memory)."""
    ok = [r for r in results if r.step_time_error_fraction is not None]
    errors = [r.step_time_error_fraction for r in ok]
    energy = [r.energy_error_fraction for r in results if r.energy_error_fraction is not None]
    worst = max(ok, key=lambda r: abs(r.step_time_error_fraction), default=None)
    reasons: dict[str, int] = {}
    for r in results:
        if r.problem:
            key = r.problem.split(": ")[-1] if "does not fit" not in r.problem else "does not fit in memory"
            reasons[key] = reasons.get(key, 0) + 1
    return Summary(
        runs=len(results), estimated=len(ok),
        step_time_mape_fraction=_mean([abs(x) for x in errors]),
        step_time_mean_signed_error_fraction=_mean(errors),
        step_time_worst_error_fraction=worst.step_time_error_fraction if worst else None,
        worst_label=worst.label if worst else None, energy_runs=len(energy),
        energy_mape_fraction=_mean([abs(x) for x in energy]),
        not_estimated=reasons)


def validate(name: str, runs: list[ValidationRun], estimate_fn, data: str = "", load_profile=None,
             profile_update: dict | None = None) -> ValidationReport:
    """Evaluate every run. ``load_profile``, if given, loads each named profile once for all its runs,
    with ``profile_update`` (field -> value) applied to it."""
    if load_profile is not None:
        profiles: dict = {}

        def cached(hardware, workload, **kwargs):
            if hardware not in profiles:
                profiles[hardware] = load_profile(hardware).model_copy(update=profile_update or {})
            return estimate_fn(profiles[hardware], workload, **kwargs)

        results = [evaluate(r, cached) for r in runs]
    else:
        results = [evaluate(r, estimate_fn) for r in runs]
    return ValidationReport(name=name, results=tuple(results), summary=summarise(results), data=data)


# ------------------------------------------------------------------------------------- suites
H200_WORKLOADS = {"gpt2-124m": "gpt2-124m", "gpt-1.3b": "gpt-1.3b"}


def h200_suite(records: list[dict]) -> list[ValidationRun]:
    """The whole training steps measured on the H200 (``kind: train``): held out from its calibration."""
    runs = []
    for r in records:
        if r.get("kind") == "train" and r.get("model") in H200_WORKLOADS:
            runs.append(ValidationRun(
                label=f"{r['model']} b{r['batch']} ({r.get('run', '')})", hardware="h200",
                workload=H200_WORKLOADS[r["model"]],
                sets=(f"global_batch_size={r['batch']}", f"seq_len={r['seq']}"),
                measured_step_time_s=r["step_seconds"],
                measured_device_energy_per_step_joules=r.get("joules_per_step")))
    return runs


# Host time per kernel of Megatron-DeepSpeed (module hooks, autograd, NCCL launches), which bounds the
# small runs: fitted on vTrain's single-node set only (scripts/fit_vtrain_host.py); the multi-node set
# is the test. A property of the framework and its host, not of the A100.
VTRAIN_HOST_OVERHEAD_S = 7.0e-05
# vTrain's cluster (its README): 8 A100s per node, 800 Gb/s between nodes, i.e. 12.5 GB/s per GPU per
# direction, half of the one-HDR-NIC-per-GPU the bundled A100 profile assumes. A fact of the measured
# system, applied to the suite's profile.
VTRAIN_INTER_NODE_BYTES_PER_S = 800e9 / BITS_PER_BYTE / 8
VTRAIN_VOCAB = 50304  # GPT-2's 50,257 padded by Megatron to a multiple of 128: an assumption (not in the CSV)


def _number(row: dict, key: str, where: str, default: int | None = None) -> int | float:
    """A suite's CSV cell as a number: a whole one as an int (as the strict workload fields take it);
    ``default`` for an empty or missing cell where given; else one line naming the file's line and column."""
    value = row.get(key)
    if value in (None, "") and default is not None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CostsimError("missing or not a number", source=where, field=key) from None
    return int(number) if number.is_integer() else number


def vtrain_suite(rows: list[dict], source: str) -> list[ValidationRun]:
    """vTrain's measured Megatron-DeepSpeed GPT iterations on A100s (MICRO 2024): full activation
    recomputation, mixed precision, non-fused attention of that Megatron version (scores materialised),
    Adam. Columns as in ``../shared/validation/vtrain/README.md``."""
    runs = []
    for i, r in enumerate(rows, 2):
        def num(key):
            return _number(r, key, f"{source}:{i}")

        h, heads, layers, seq = (int(num(k)) for k in ("hidden size", "attention heads", "# layers",
                                                       "sequence length"))
        gbs, mb = int(num("global batch")), int(num("micro batch"))
        tp, dp, pp = (int(num(k)) for k in ("tensor parallelism", "data parallelism", "pipeline parallelism"))
        workload = {"name": f"gpt-h{h}-l{layers}", "kind": "transformer", "layers": layers, "d_model": h,
                    "heads": heads, "vocab_size": VTRAIN_VOCAB, "seq_len": seq, "ffn_mult": 4,
                    "tied_embeddings": True, "attention": "naive", "execution": "megatron",
                    "training": {"global_batch_size": gbs, "micro_batch_size": mb, "steps": 1,
                                 "precision": "fp16_mixed", "optimizer": "adam", "activation_recompute": True}}
        runs.append(ValidationRun(
            label=f"{source.rsplit('/', 1)[-1]}:{i} h{h} L{layers} s{seq} b{gbs}/{mb} tp{tp} pp{pp} dp{dp}",
            hardware="a100-sxm-80gb", workload=workload, devices=tp * pp * dp,
            plan=f"tp={tp},pp={pp},dp={dp},mb={mb},no-overlap",  # vTrain: no gradient bucketing
            measured_step_time_s=num("iteration time (ms)") * MILLI))
    return runs


def published_suite(rows: list[dict], source: str) -> list[ValidationRun]:
    """Published Megatron-LM GPT runs on A100-80GB clusters with their full configuration (Narayanan et
    al. 2021, Table 1; Korthikanti et al. 2022, Tables 3-5): tensor, pipeline and data parallelism, the
    interleaving, the recompute level and sequence parallelism of each row, each predicted from its
    configuration alone. What the rows do not state is the Megatron of that time: fp16 mixed precision,
    attention scores materialised (before flash attention), tied embeddings, a GELU MLP of 4 d_model,
    Adam. Columns as in the data set's README (``costsim data path published``)."""
    runs = []
    for i, r in enumerate(rows, 2):
        def num(key, default=None):
            return _number(r, key, f"{source}:{i}", default)

        tp, pp, dp = num("tensor_parallel"), num("pipeline_parallel"), num("data_parallel")
        vp, mb = num("virtual_stages", 1), num("micro_batch_size", 1)
        recompute = str(r.get("recompute") or "full")
        workload = {"name": str(r["label"]), "kind": "transformer", "layers": num("layers"),
                    "d_model": num("d_model"), "heads": num("heads"), "vocab_size": num("vocab_size"),
                    "seq_len": num("seq_len"), "ffn_mult": 4, "tied_embeddings": True, "attention": "naive",
                    "execution": "megatron",
                    "training": {"global_batch_size": num("global_batch_size"), "steps": 1,
                                 "precision": "fp16_mixed", "optimizer": "adam"}}
        plan = f"tp={tp},pp={pp}" + (f",vp={vp}" if vp > 1 else "") + f",dp={dp},mb={mb},recompute={recompute}"
        plan += ",sp" if str(r.get("sequence_parallel", "")).lower() == "true" else ""
        runs.append(ValidationRun(label=str(r["label"]), hardware=str(r["hardware"]), workload=workload,
                                  devices=tp * pp * dp, plan=plan, measured_step_time_s=num("measured_step_time_s"),
                                  note=str(r.get("source") or "") + ", " + str(r.get("table") or "")))
    return runs


# ------------------------------------------------------------------------------------- compression
class SpeedupCheck(Strict):
    """One compression microbenchmark: the measured speedup against the model's, both from the same
    profile's parameters (nothing copied from the measured ratio).

    Attributes:
        what: the comparison, in words.
        session: the measurement run it comes from.
        measured: the measured speedup (baseline time over compressed time).
        model: the model's speedup, priced the same way.
        held_out: False for the rows the profile's sparse curve was fitted on.
    """

    what: str
    session: str
    measured: float
    model: float
    held_out: bool

    @property
    def error(self) -> float:
        """The model's speedup over the measured one, less 1 (signed fraction)."""
        return self.model / self.measured - 1


def compression_checks(records: list[dict], profile, floors_s: dict[str, float]) -> list[SpeedupCheck]:
    """The H200 calibration's compression rows priced on ``profile``: fp8 against bf16 GEMMs at 8192^3,
    low-rank factorisations against the full product, 2:4 sparse against dense products. Each timed
    call pays the session's timing floor (``floors_s``, fitted with the GEMM sweep) once."""

    def t(ops, session: str) -> float:
        costs, _ = price_ops(ops, profile)
        return floors_s.get(session, 0.0) + math.fsum(c.total_time_s for c in costs)

    out = []
    bf16 = {r["run"]: r for r in records if r.get("kind") == "gemm" and r.get("dtype") == "bfloat16"
            and (r["m"], r["n"], r["k"]) == (8192, 8192, 8192)}
    for r in records:
        run = r.get("run", "")
        if r.get("kind") == "gemm" and r.get("dtype") == "fp8_e4m3" and run in bf16:
            m, n, k = r["m"], r["n"], r["k"]
            model = t([gemm("bf16", m, n, k, 2, 2, "bf16")], run) / t([gemm("fp8", m, n, k, 1, 2, "fp8")], run)
            out.append(SpeedupCheck(what=f"fp8 / bf16 GEMM {m}x{n}x{k}", session=run,
                                    measured=bf16[run]["seconds"] / r["seconds"], model=model, held_out=True))
        elif r.get("kind") == "low_rank":
            s, rank = r["m"], r["rank"]
            full = t([gemm("full", s, s, s, 2, 2, "bf16")], run)
            low = t([gemm("x@u", s, rank, s, 2, 2, "bf16"), gemm("(x@u)@v", s, s, rank, 2, 2, "bf16")], run)
            out.append(SpeedupCheck(what=f"low rank {rank} of {s}x{s}, {s} tokens", session=run,
                                    measured=r["speedup"], model=full / low, held_out=True))
        elif r.get("kind") == "sparse_2_4":
            dt = SPARSE_DTYPES[r["dtype"]]
            dense = t([gemm("dense", r["m"], r["n"], r["k"], 2, 2, dt)], run)
            sparse = t([sparse_op(r["m"], r["n"], r["k"], dt)], run)
            out.append(SpeedupCheck(what=f"2:4 {dt} {r['m']}x{r['n']}x{r['k']}", session=run,
                                    measured=r["speedup"], model=dense / sparse, held_out=False))
    return out
