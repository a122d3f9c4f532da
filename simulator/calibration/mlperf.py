"""MLPerf Training results predicted from their systems and logs (``costsim validate --suite mlperf``).

Each closed-division score (the olympic mean of a system's runs, as the review committee scaled it) is
mapped to a hardware profile (by the system's accelerator model), a workload (the benchmark's model at the
logged global batch and sequence length), a plan (the submitters' data parallelism for the image and BERT
benchmarks, the plan search for GPT-3) and an amount of work (the median over the successful runs of what
they trained to convergence, and of their evaluations, each evaluation priced as forward passes). The
predicted time to train is steps x step time + evaluations; initialisation is outside the score. Rows the
model cannot express (an accelerator without a profile, a benchmark kind not modelled, a plan that does not
fit) keep their row with the reason. Nothing here is fitted to the scores: every parameter is the profiles'
and the stacks' own. The tables' columns are described in ``../shared/validation/mlperf/README.md``.
"""
from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Mapping

from pydantic import Field

from ..errors import CostsimError
from ..files.published import cell_number
from ..schema.hardware import Strict
from ..units import SECONDS_PER_MINUTE

# accelerator_model (the system description's free text) -> bundled profile; first match wins
PROFILES: tuple[tuple[str, str], ...] = (
    (r"A100.*SXM.*80", "a100-sxm-80gb"),
    (r"A100.*SXM.*40", "a100-sxm-40gb"),
    (r"A100.*PCI.*80", "a100-pcie-80gb"),
    (r"A100.*PCI.*40", "a100-pcie-40gb"),
    (r"H100.*SXM.*80", "h100-sxm"),
    (r"H100.*PCI", "h100-pcie"),
    (r"Gaudi2", "gaudi2"),
    (r"^TPU(-v4)?$", "tpu-v4"),  # v1.0 and v2.0 Google systems write "TPU"; the family column says v4
    (r"TPU-v5e", "tpu-v5e"),
)

NOT_MODELLED = {
    "ssd": "benchmark not modelled: single-shot detectors (SSD-ResNet34, RetinaNet) are not a workload kind",
    "retinanet": "benchmark not modelled: RetinaNet is not a workload kind",
    "unet3d": "benchmark not modelled: 3D U-Net (3D convolutions) is not a workload kind",
    "dlrm_dcnv2": "benchmark not modelled: DLRM's embedding tables and interaction layers are not a workload kind",
    "stable_diffusion": "benchmark not modelled: a diffusion UNet is not a workload kind",
}

# BERT phase 2 on MLPerf's Wikipedia set: more than half of the 512 positions are padding (Kosec et al.
# 2021, arXiv 2107.02027: "at sequence length 512 padding tokens represent in excess of 50%"; Habana's
# MLPerf packing note: "for MLPerf's BERT dataset the potential speedup is roughly 2"). The submissions
# remove it (NVIDIA's unpadded fused attention, packing elsewhere): priced as 256-token sequences.
BERT_TOKENS = 256
GPT3_SEQ = 2048  # MLPerf GPT-3: 2,048-token sequences (logged as max_sequence_length)
RESNET_EVAL_IMAGES = 50000  # ImageNet's validation set, evaluated in full (logged as eval_samples)


class MlperfResult(Strict):
    """One MLPerf Training score with what its logs say of the work done.

    Attributes:
        label: round, submitter, system and benchmark.
        round: the MLPerf round (``3.1``).
        benchmark: the benchmark's folder name (resnet, bert, gpt3, ...).
        family: the accelerator family (the data set's normalised column).
        accelerator_model: the system description's accelerator name.
        devices: accelerators in the system.
        framework: the system description's framework text.
        global_batch_size: the logged global batch, samples (sequences for the language models).
        trained: the median over the successful runs of the work trained to convergence: epochs for
            resnet, samples for bert, tokens for gpt3.
        evals: the median number of evaluations per run.
        eval_samples: samples per evaluation (images; sequences for bert; tokens for gpt3), as logged.
        measured_time_s: the score (olympic mean of the runs' times to train, times the scaling factor).
        runs: the successful runs the medians are taken over.
    """

    label: str
    round: str
    benchmark: str
    family: str
    accelerator_model: str
    devices: int
    framework: str
    global_batch_size: int | None
    trained: float | None
    evals: float
    eval_samples: float | None
    measured_time_s: float
    runs: int


class MlperfPrediction(Strict):
    """One score's prediction.

    Attributes:
        label: the result's label.
        benchmark: its benchmark.
        family: its accelerator family.
        devices: accelerators.
        hardware: the profile it was priced on; None where none matches.
        plan: the plan priced (the search's choice for gpt3).
        measured_time_s: the measured time to train.
        predicted_time_s: steps x step time + evaluation time; None where not estimated.
        train_time_s: the training steps' part of it.
        eval_time_s: the evaluations' part.
        error_fraction: (predicted - measured) / measured.
        problem: why it was not estimated (one line); None where it was.
        assumptions: what the mapping assumed beyond the logs.
    """

    label: str
    benchmark: str
    family: str
    devices: int
    hardware: str | None
    plan: str | None
    measured_time_s: float
    predicted_time_s: float | None
    train_time_s: float | None
    eval_time_s: float | None
    error_fraction: float | None
    problem: str | None
    assumptions: tuple[str, ...] = ()


class GroupSummary(Strict):
    """Errors of one group of predictions (a benchmark, an accelerator family).

    Attributes:
        group: the group's name.
        results: scores in the group.
        estimated: those predicted.
        mape_fraction: mean |error|.
        median_error_fraction: median |error|.
        bias_fraction: mean signed error (negative: predicted faster than measured).
        worst_label: the prediction with the largest |error|.
        worst_error_fraction: its signed error.
    """

    group: str
    results: int
    estimated: int
    mape_fraction: float | None
    median_error_fraction: float | None
    bias_fraction: float | None
    worst_label: str | None
    worst_error_fraction: float | None


class MlperfReport(Strict):
    """The MLPerf Training suite's predictions and their errors.

    Attributes:
        predictions: one per score, in the data's order.
        overall: the errors over every estimated score.
        by_benchmark: per benchmark.
        by_family: per accelerator family.
        skipped: scores left out, by reason (re-published logs, invalid scores).
        not_estimated: reason -> scores kept in the report without a prediction.
        data: where the tables were read from.
        fitted: what was fitted, on which rows.
    """

    predictions: tuple[MlperfPrediction, ...]
    overall: GroupSummary
    by_benchmark: tuple[GroupSummary, ...]
    by_family: tuple[GroupSummary, ...]
    skipped: dict[str, int] = Field(default_factory=dict)
    not_estimated: dict[str, int] = Field(default_factory=dict)
    data: str = ""
    fitted: str = "nothing: every figure is a profile's or a stack's own; no parameter was fitted to these scores"

    def to_dict(self) -> dict:
        """The report as plain data (JSON-ready)."""
        return self.model_dump()


# ------------------------------------------------------------------------------------- results
def _key(row: Mapping) -> tuple[str, str, str, str]:
    return (row.get("round", ""), row.get("submitter", ""), row.get("system", ""), row.get("benchmark", ""))


def _trained(benchmark: str, run: Mapping) -> float | None:
    """What one run trained to convergence: resnet's epochs, bert's samples, gpt3's tokens. BERT logs of
    v1.x carry the samples in ``train_samples`` only (their ``progress_last`` is the epoch, 1)."""
    if benchmark == "bert":
        return cell_number(run.get("train_samples"))
    return cell_number(run.get("progress_last"))


def results(scores: list[Mapping], runs: list[Mapping]) -> tuple[list[MlperfResult], dict[str, int]]:
    """The scores to predict, each with the medians of its successful runs' logs; and the scores left
    out, by reason: an invalid score, or logs re-published from an earlier round (not an independent
    measurement)."""
    by_key: dict[tuple, list[Mapping]] = {}
    for run in runs:
        if run.get("status") == "success":
            by_key.setdefault(_key(run), []).append(run)
    kept, skipped = [], {}
    for s in scores:
        note = str(s.get("note") or "")
        score = cell_number(s.get("scaled_score_min"))
        why = ("invalid score" if s.get("score_valid") != "1" or score is None else
               "logs re-published from an earlier round" if "identical" in note else None)
        if why:
            skipped[why] = skipped.get(why, 0) + 1
            continue
        bench = str(s.get("benchmark"))
        good = by_key.get(_key(s), [])
        trained = [t for t in (_trained(bench, r) for r in good) if t]
        gbs = [int(g) for g in (cell_number(r.get("global_batch_size")) for r in good) if g]
        evals = [cell_number(r.get("n_evals")) or 0.0 for r in good]
        eval_samples = [e for e in (cell_number(r.get("eval_samples")) for r in good) if e]
        first = good[0] if good else {}
        kept.append(MlperfResult(
            label=f"v{s['round']} {s['submitter']} {s['system']} {bench}", round=str(s["round"]), benchmark=bench,
            family=str(s.get("accelerator_family") or ""), accelerator_model=str(s.get("accelerator_model") or ""),
            devices=int(cell_number(s.get("accelerators_total")) or 0), framework=str(first.get("framework") or ""),
            global_batch_size=statistics.median_low(gbs) if gbs else None,
            trained=statistics.median(trained) if trained else None,
            evals=statistics.median(evals) if evals else 0.0,
            eval_samples=statistics.median(eval_samples) if eval_samples else None,
            measured_time_s=score * SECONDS_PER_MINUTE, runs=len(good)))
    return kept, skipped


# ------------------------------------------------------------------------------------- mapping
def profile_of(accelerator_model: str) -> str | None:
    """The bundled profile of a system's accelerator, or None."""
    for pattern, name in PROFILES:
        if re.search(pattern, accelerator_model):
            return name
    return None


def _precision(benchmark: str, hardware: str, round_: str) -> tuple[str, str | None]:
    """The submission's matrix precision, with the assumption behind it (MLPerf logs do not record it)."""
    fp8 = (hardware.startswith("h100") and benchmark in ("bert", "gpt3")) or (
        hardware == "gaudi2" and benchmark == "gpt3" and round_ >= "3.1")
    if fp8:
        return "fp8_mixed", (f"{benchmark} on {hardware} in fp8 (Transformer Engine on H100 from v2.1; "
                             "Intel's Gaudi2 GPT-3 from v3.1): the logs do not record the precision")
    if hardware.startswith(("a100", "h100")):
        return "fp16_mixed", "fp16 mixed precision, as NVIDIA's reference implementations train on A100 and H100"
    return "bf16_mixed", "bf16 mixed precision (the device's 16-bit type)"


def _execution(benchmark: str, hardware: str, stacks: Mapping[str, tuple[str, ...]]) -> tuple[str | None, str]:
    """The fused stack the submissions run on the device, with the assumption behind it: on GPUs cuDNN's
    fused kernels under CUDA graphs for ResNet, Megatron-style fused kernels for the transformers (NVIDIA's
    implementations); XLA on TPUs; the device's default elsewhere."""
    wanted = ("cudnn-fused", "xla") if benchmark == "resnet" else ("megatron-core", "xla")
    for stack in wanted:
        if stack in stacks.get(hardware, ()):
            return stack, f"executed as {stack} (docs/stacks.md)"
    return None, f"executed as {hardware}'s default stack (it runs none of {', '.join(wanted)})"


class Job(Strict):
    """What one score asks the estimator for: a training step and an evaluation pass.

    Attributes:
        hardware: the profile.
        workload: the training workload (a bundled workload's fields, changed as the logs say).
        plan: the plan text, or ``auto`` for the plan search.
        devices: accelerators.
        steps: optimizer steps to convergence.
        eval_workload: the same model, forward passes only, at the evaluation batch.
        eval_steps: evaluation batches in all the evaluations.
        assumptions: what the mapping assumed beyond the logs.
    """

    hardware: str
    workload: dict
    plan: str
    devices: int
    steps: float
    eval_workload: dict | None
    eval_steps: float
    assumptions: tuple[str, ...]


def job(r: MlperfResult, workloads: Mapping[str, dict], stacks: Mapping[str, tuple[str, ...]]) -> Job:
    """The estimator's job for ``r``; a one-line error where the model cannot express it."""
    if r.benchmark in NOT_MODELLED:
        raise CostsimError(NOT_MODELLED[r.benchmark], field="benchmark")
    if r.benchmark not in ("resnet", "bert", "gpt3"):
        raise CostsimError(f"benchmark not modelled: {r.benchmark}", field="benchmark")
    hardware = profile_of(r.accelerator_model)
    if hardware is None:
        raise CostsimError(f"no profile for the accelerator '{r.accelerator_model}' ({r.family})",
                           field="accelerator_model")
    if r.devices < 1 or not r.global_batch_size or not r.trained:
        raise CostsimError("the logs give no accelerator count, global batch or work trained", field="runs")
    gbs = r.global_batch_size
    precision, why_precision = _precision(r.benchmark, hardware, r.round)
    execution, why_execution = _execution(r.benchmark, hardware, stacks)
    assumptions = [why_precision, why_execution]
    if r.benchmark == "resnet":
        wl = dict(workloads["resnet50-imagenet"])
        wl["training"] = {**wl["training"], "global_batch_size": gbs, "epochs": r.trained, "precision": precision}
        steps = math.ceil(r.trained * wl["training"]["dataset_size"] / gbs)
        per_eval = r.eval_samples or RESNET_EVAL_IMAGES
        assumptions.append("LARS priced as SGD with momentum (the per-layer trust ratio's norms not priced)")
        plan = f"dp={r.devices}"
    else:
        name, seq = ("bert-large", BERT_TOKENS) if r.benchmark == "bert" else ("gpt3-175b", GPT3_SEQ)
        wl = dict(workloads[name])
        per_seq = 1 if r.benchmark == "bert" else seq
        steps = math.ceil(r.trained / per_seq / gbs)
        training = {k: v for k, v in wl["training"].items() if k not in ("tokens", "phases")}
        wl["training"] = {**training, "global_batch_size": gbs, "steps": steps, "precision": precision}
        wl["seq_len"] = seq
        per_eval = (r.eval_samples or 0.0) / per_seq
        if r.benchmark == "bert":
            assumptions.append(f"unpadded sequences priced as {BERT_TOKENS} tokens (over half of the 512 positions "
                               "of MLPerf's Wikipedia set are padding); LAMB priced as AdamW")
            plan = f"dp={r.devices}"
        else:
            assumptions.append("the plan is the plan search's best for the device count (the submitters' "
                               "plans are not in the logs)")
            plan = "auto"
    if execution:
        wl["execution"] = execution
    eval_wl = None
    eval_steps = 0.0
    if r.evals and per_eval:
        eval_wl = dict(wl, variant={"forward_only": True})
        eval_steps = r.evals * per_eval / gbs
        assumptions.append(f"{r.evals:g} evaluations of {per_eval:g} samples priced as forward passes at the "
                           "training batch")
    return Job(hardware=hardware, workload=wl, plan=plan, devices=r.devices, steps=steps, eval_workload=eval_wl,
               eval_steps=eval_steps, assumptions=tuple(assumptions))


StepFn = Callable[[str, dict, int, str], tuple[float, str]]


def predict(r: MlperfResult, workloads: Mapping[str, dict], stacks: Mapping[str, tuple[str, ...]],
            step_fn: StepFn) -> MlperfPrediction:
    """One score predicted with ``step_fn(hardware, workload, devices, plan) -> (step seconds, plan
    priced)``; a score the model cannot express keeps its row with the reason."""
    base = {"label": r.label, "benchmark": r.benchmark, "family": r.family, "devices": r.devices,
            "measured_time_s": r.measured_time_s}
    try:
        j = job(r, workloads, stacks)
        step_s, plan = step_fn(j.hardware, j.workload, j.devices, j.plan)
        eval_s = 0.0
        if j.eval_workload is not None:
            eval_s = step_fn(j.hardware, j.eval_workload, j.devices, plan)[0] * j.eval_steps
    except CostsimError as err:
        return MlperfPrediction(**base, hardware=profile_of(r.accelerator_model), plan=None, predicted_time_s=None,
                                train_time_s=None, eval_time_s=None, error_fraction=None, problem=err.line())
    train_s = step_s * j.steps
    total = train_s + eval_s
    return MlperfPrediction(**base, hardware=j.hardware, plan=plan, predicted_time_s=total, train_time_s=train_s,
                            eval_time_s=eval_s, error_fraction=total / r.measured_time_s - 1.0, problem=None,
                            assumptions=j.assumptions)


def summarise(group: str, predictions: list[MlperfPrediction]) -> GroupSummary:
    """The errors of ``predictions`` as one group."""
    ok = [p for p in predictions if p.error_fraction is not None]
    errors = [p.error_fraction for p in ok]
    worst = max(ok, key=lambda p: abs(p.error_fraction), default=None)
    return GroupSummary(
        group=group, results=len(predictions), estimated=len(ok),
        mape_fraction=statistics.fmean(abs(e) for e in errors) if errors else None,
        median_error_fraction=statistics.median(abs(e) for e in errors) if errors else None,
        bias_fraction=statistics.fmean(errors) if errors else None,
        worst_label=worst.label if worst else None, worst_error_fraction=worst.error_fraction if worst else None)


def _groups(predictions: list[MlperfPrediction], key) -> tuple[GroupSummary, ...]:
    names = sorted({key(p) for p in predictions})
    return tuple(summarise(n, [p for p in predictions if key(p) == n]) for n in names)


def report(found: list[MlperfResult], skipped: Mapping[str, int], workloads: Mapping[str, dict],
           stacks: Mapping[str, tuple[str, ...]], step_fn: StepFn, data: str = "") -> MlperfReport:
    """Predict every score and summarise by benchmark and by accelerator family."""
    predictions = [predict(r, workloads, stacks, step_fn) for r in found]
    reasons: dict[str, int] = {}
    for p in predictions:
        if p.problem:
            key = p.problem.split(": ", 1)[-1]
            key = re.sub(r" '[^']*' \(", " (", key)  # one reason per family, not per model string
            reasons[key] = reasons.get(key, 0) + 1
    return MlperfReport(predictions=tuple(predictions), overall=summarise("all", predictions),
                        by_benchmark=_groups(predictions, lambda p: p.benchmark),
                        by_family=_groups(predictions, lambda p: p.family), skipped=dict(skipped),
                        not_estimated=reasons, data=data)
