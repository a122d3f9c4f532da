"""Issue 16's public benchmark: MLPerf Training closed-division scores (rounds v1.0-v3.1), each predicted
from its system (accelerator model and count), its logged global batch and the work its runs trained to
convergence, with the evaluations priced as forward passes.

Calibrated on: the H200 microbenchmarks (curve shapes, borrowed by every other device and scaled by its
datasheet peaks; the convolution curves by shape from its conv2d sweep) and the profiles' datasheet
figures; nothing is fitted on these scores. Tested on: every score of a modelled benchmark (resnet, bert,
gpt3) on an accelerator with a profile (A100, H100, Gaudi2, TPU v4, TPU v5e), re-published logs left out.
The issue's targets are MAPE at most 15% per benchmark and 20% per family; GPT-3 meets it, BERT and
ResNet-50 do not yet, nor do the H100, Gaudi2 and TPU v4 families (docs/accuracy.md): the bounds below
are today's errors with a small margin, so that a change that makes them worse fails."""
import csv
import json
import math

import pytest
from click.testing import CliRunner

from cli.main import main as cli
from simulator import api
from simulator.calibration import mlperf
from simulator.errors import CostsimError
from tests.cli.test_bad_input import error_line

RUN_COLUMNS = ("round", "submitter", "system", "benchmark", "status", "global_batch_size", "train_samples",
               "progress_last", "n_evals", "eval_samples", "framework")


def _score(benchmark="resnet", model="NVIDIA A100-SXM4-80GB", family="A100", devices=8, minutes=30.0,
           note="", valid="1", system="sys"):
    return {"round": "2.0", "submitter": "X", "system": system, "benchmark": benchmark,
            "accelerator_model": model, "accelerator_family": family, "accelerators_total": str(devices),
            "scaled_score_min": str(minutes), "score_valid": valid, "note": note}


def _run(benchmark="resnet", trained="35", evals="9", eval_samples="50000", gbs="3264", status="success",
         system="sys", train_samples="1281167"):
    return {"round": "2.0", "submitter": "X", "system": system, "benchmark": benchmark, "status": status,
            "global_batch_size": gbs, "train_samples": train_samples, "progress_last": trained, "n_evals": evals,
            "eval_samples": eval_samples, "framework": "MXNet"}


WORKLOADS = {"resnet50-imagenet": {"name": "r", "kind": "cnn", "depth": 50,
                                   "training": {"global_batch_size": 256, "epochs": 90, "dataset_size": 1281167}},
             "bert-large": {"name": "b", "kind": "transformer", "seq_len": 512,
                            "training": {"global_batch_size": 256, "steps": 10}},
             "gpt3-175b": {"name": "g", "kind": "transformer", "seq_len": 2048,
                           "training": {"global_batch_size": 1536, "tokens": 3e11}}}
STACKS = {"a100-sxm-80gb": ("pytorch-eager", "megatron-core", "xla", "cudnn-fused"), "tpu-v4": ("xla",),
          "gaudi2": ("pytorch-eager",)}


def test_a_score_takes_the_medians_of_its_successful_runs_and_re_publications_are_left_out():
    scores = [_score(), _score(system="old", note="logs identical to round 1.1"), _score(system="bad", valid="0")]
    runs = [_run(trained="34"), _run(trained="35"), _run(trained="37"), _run(trained="99", status="aborted")]
    found, skipped = mlperf.results(scores, runs)
    assert skipped == {"logs re-published from an earlier round": 1, "invalid score": 1}
    (r,) = found
    assert r.trained == 35 and r.runs == 3 and r.evals == 9 and r.measured_time_s == 30.0 * 60
    assert r.label == "v2.0 X sys resnet"


def test_bert_counts_its_samples_from_train_samples_where_early_logs_give_the_epoch():
    found, _ = mlperf.results([_score("bert")], [_run("bert", trained="1", train_samples="3000000")])
    assert found[0].trained == 3e6


@pytest.mark.parametrize(("model", "profile"), [
    ("NVIDIA A100-SXM4-80GB (400W)", "a100-sxm-80gb"), ("NVIDIA A100-SXM-40GB", "a100-sxm-40gb"),
    ("NVIDIA A100-PCIe-80GB", "a100-pcie-80gb"), ("NVIDIA A100-PCIE-40GB (250W)", "a100-pcie-40gb"),
    ("NVIDIA H100-SXM5-80GB", "h100-sxm"), ("NVIDIA H100-PCIe-80GB", "h100-pcie"), ("Intel Gaudi2", "gaudi2"),
    ("TPU", "tpu-v4"), ("TPU-v4", "tpu-v4"), ("TPU-v5e", "tpu-v5e"), ("NVIDIA A30", None),
    ("NVIDIA H100-SXM5-96GB", None), ("Habana Gaudi", None)])
def test_accelerators_map_to_their_own_profiles(model, profile):
    assert mlperf.profile_of(model) == profile


def test_resnet_steps_epochs_and_evaluations_follow_the_logs():
    r = mlperf.results([_score()], [_run(trained="35", evals="9")])[0][0]
    j = mlperf.job(r, WORKLOADS, STACKS)
    assert j.steps == math.ceil(35 * 1281167 / 3264) and j.plan == "dp=8" and j.devices == 8
    assert j.eval_steps == pytest.approx(9 * 50000 / 3264)
    assert j.workload["execution"] == "cudnn-fused" and j.eval_workload["variant"] == {"forward_only": True}
    assert j.workload["training"]["precision"] == "fp16_mixed"


def test_bert_is_priced_unpadded_and_gpt3_by_its_tokens_with_the_plan_search():
    r = mlperf.results([_score("bert")], [_run("bert", train_samples="2800000", gbs="448", eval_samples="10000",
                                               evals="15")])[0][0]
    j = mlperf.job(r, WORKLOADS, STACKS)
    assert j.workload["seq_len"] == mlperf.BERT_TOKENS and j.steps == math.ceil(2.8e6 / 448)
    assert j.workload["execution"] == "megatron-core" and j.eval_steps == pytest.approx(15 * 10000 / 448)
    g = mlperf.results([_score("gpt3", model="NVIDIA H100-SXM5-80GB", family="H100", devices=512)],
                       [_run("gpt3", trained="1207959552", gbs="2048", eval_samples="11590004", evals="24")])[0][0]
    j = mlperf.job(g, WORKLOADS, {"h100-sxm": STACKS["a100-sxm-80gb"]})
    assert j.plan == "auto" and j.steps == math.ceil(1207959552 / 2048 / 2048)
    assert "tokens" not in j.workload["training"] and j.workload["training"]["precision"] == "fp8_mixed"
    assert j.eval_steps == pytest.approx(24 * 11590004 / 2048 / 2048)


def test_a_score_the_model_cannot_express_keeps_its_row_with_the_reason():
    found, _ = mlperf.results([_score("unet3d"), _score(model="NVIDIA A30", family="A30")], [])
    rows = [mlperf.predict(r, WORKLOADS, STACKS, lambda *a: (1.0, "dp=8")) for r in found]
    assert [p.predicted_time_s for p in rows] == [None, None]
    assert "benchmark not modelled" in rows[0].problem and "no profile for the accelerator" in rows[1].problem
    report = mlperf.report(found, {}, WORKLOADS, STACKS, lambda *a: (1.0, "dp=8"))
    assert report.overall.estimated == 0 and sum(report.not_estimated.values()) == 2


def test_time_to_train_is_steps_times_step_time_plus_the_evaluations():
    r = mlperf.results([_score(minutes=10.0)], [_run(trained="35", evals="9")])[0][0]

    def step(hardware, workload, devices, plan):
        return (0.5 if workload.get("variant") else 2.0), "tp=1,pp=1,dp=8"

    p = mlperf.predict(r, WORKLOADS, STACKS, step)
    steps = math.ceil(35 * 1281167 / 3264)
    assert p.train_time_s == pytest.approx(2.0 * steps) and p.eval_time_s == pytest.approx(0.5 * 9 * 50000 / 3264)
    assert p.predicted_time_s == pytest.approx(p.train_time_s + p.eval_time_s)
    assert p.error_fraction == pytest.approx(p.predicted_time_s / 600.0 - 1)


def test_group_errors_are_the_mean_median_and_signed_mean():
    rows = [mlperf.MlperfPrediction(label=str(e), benchmark="b", family="f", devices=1, hardware="h", plan="p",
                                    measured_time_s=1.0, predicted_time_s=1 + e, train_time_s=1 + e, eval_time_s=0.0,
                                    error_fraction=e, problem=None) for e in (-0.2, 0.1, 0.4)]
    g = mlperf.summarise("b", rows)
    assert g.mape_fraction == pytest.approx(0.7 / 3) and g.median_error_fraction == pytest.approx(0.2)
    assert g.bias_fraction == pytest.approx(0.1) and g.worst_label == "0.4"


# ------------------------------------------------------------------------------------- the bundled rounds
@pytest.fixture(scope="module")
def report():
    return api.validate_suite("mlperf")


def test_the_bundled_rounds_are_predicted_within_todays_errors(report):
    groups = {g.group: g for g in report.by_benchmark}
    assert {b: groups[b].estimated for b in ("resnet", "bert", "gpt3")} == {"resnet": 179, "bert": 155, "gpt3": 18}
    assert groups["gpt3"].mape_fraction <= 0.15  # the target, met
    assert groups["bert"].mape_fraction <= 0.21  # target 15%: not met yet
    assert groups["resnet"].mape_fraction <= 0.29  # target 15%: not met (docs/accuracy.md says why)
    families = {g.group: g for g in report.by_family}
    assert families["A100"].mape_fraction <= 0.20  # the per-family target, met
    assert report.skipped["logs re-published from an earlier round"] == 91
    assert all(p.predicted_time_s is None or (math.isfinite(p.predicted_time_s) and p.predicted_time_s > 0)
               for p in report.predictions)


def test_every_family_with_a_profile_is_estimated_and_the_others_say_why(report):
    families = {g.group: g for g in report.by_family}
    for family in ("A100", "H100", "Gaudi2", "TPU-v4", "TPU-v5e"):
        assert families[family].estimated > 0
    assert report.not_estimated["no profile for the accelerator (A30)"] == 20
    assert families["A30"].estimated == 0


def test_the_cli_prints_the_suite_and_writes_its_plot(tmp_path):
    runner = CliRunner()
    out = runner.invoke(cli, ["validate", "--suite", "mlperf", "--show", "3"])
    assert out.exit_code == 0, out.output
    assert "by benchmark:" in out.output and "the 3 largest errors" in out.output
    plot = tmp_path / "mlperf.svg"
    out = runner.invoke(cli, ["validate", "--suite", "mlperf", "--plot", str(plot), "--format", "json"])
    assert out.exit_code == 0 and plot.read_text().startswith("<?xml")
    data = json.loads(out.output[: out.output.rindex("}") + 1])
    assert data["overall"]["estimated"] == 352
    out = runner.invoke(cli, ["validate", "--suite", "mlperf", "--format", "csv"])
    assert next(csv.reader(out.output.splitlines()))[0] == "label"


def test_a_data_folder_without_the_tables_is_one_line(tmp_path):
    line = error_line("validate", "--suite", "mlperf", "--data", str(tmp_path))
    assert "scores.csv" in line


def test_a_transformer_refuses_the_convolution_stack():
    with pytest.raises(CostsimError, match="cudnn-fused is a stack for convolutional networks"):
        api.estimate("h100-sxm", "gpt2-124m", sets=["execution=cudnn-fused"])


def test_a_fused_convolution_stack_removes_the_pointwise_kernels_and_keeps_the_arithmetic():
    from simulator.files.loader import load_workload
    from simulator.model import cnn
    from simulator.model.ops import MATRIX_CLASSES

    def ops(execution):
        w = load_workload("resnet50-imagenet", [f"execution={execution}"])
        return [op for ph in cnn.step_ops(w, 32).values() for op in ph]

    eager, fused = ops("pytorch-eager"), ops("cudnn-fused")
    flops = lambda o: sum(op.flops for op in o if op.op_class in MATRIX_CLASSES or op.op_class == "conv")  # noqa: E731
    assert flops(fused) == pytest.approx(flops(eager), rel=1e-12)
    assert not [op for op in fused if op.name.endswith((".relu", ".relu_bwd", ".residual_add"))]
    assert sum(op.bytes for op in fused) < 0.8 * sum(op.bytes for op in eager)
    assert api.estimate("tpu-v4", "resnet50-imagenet").assumptions[0].startswith("execution as xla")
    with pytest.raises(CostsimError, match="megatron-core runs transformers"):
        load_workload("resnet50-imagenet", ["execution=megatron-core"])
