"""costsim validate: measured runs in a documented CSV or JSON-lines format, and the bundled suites."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from simulator import api
from tests.conftest import DATA

ROOT = Path(__file__).resolve().parents[2]
VTRAIN = DATA / "vtrain"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_csv_of_measured_runs_gives_signed_errors_and_mape(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("label,hardware,workload,global_batch_size,devices,measured_step_time_s,"
                    "measured_device_energy_per_step_joules\n"
                    "small,h200,gpt2-124m,16,1,0.05,33.0\n"
                    "bigger,h200,gpt2-124m,32,1,0.1,\n")
    report = api.validate_file(str(path))
    assert report.summary.runs == 2 and report.summary.estimated == 2
    small, bigger = report.results
    expected = api.estimate("h200", "gpt2-124m").step_time_s / 0.05 - 1
    assert small.step_time_error_fraction == pytest.approx(expected)
    assert small.energy_error_fraction is not None and bigger.energy_error_fraction is None
    mape = (abs(small.step_time_error_fraction) + abs(bigger.step_time_error_fraction)) / 2
    assert report.summary.step_time_mape_fraction == pytest.approx(mape)


def test_jsonl_with_an_inline_workload(tmp_path):
    path = tmp_path / "runs.jsonl"
    row = {"label": "inline", "hardware": "a100-sxm-80gb", "kind": "transformer", "layers": 2, "d_model": 256,
           "heads": 4, "vocab_size": 1000, "seq_len": 128, "ffn_mult": 4, "global_batch_size": 8, "steps": 1,
           "measured_step_time_s": 0.01}
    path.write_text(json.dumps(row) + "\n")
    report = api.validate_file(str(path))
    assert report.results[0].predicted_step_time_s > 0


def test_run_that_cannot_be_estimated_keeps_its_row(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("label,hardware,workload,measured_step_time_s\nhuge,h200,gpt3-175b,10\n")
    report = api.validate_file(str(path))
    assert report.summary.estimated == 0 and "does not fit" in report.results[0].problem


def test_cli_prints_table_and_writes_a_plot(tmp_path):
    plot = tmp_path / "scatter.png"
    result = run("validate", "--suite", "h200", "--plot", plot)
    assert result.exit_code == 0, result.output
    assert "MAPE" in result.output and "gpt-1.3b" in result.output
    assert plot.stat().st_size > 10_000  # a real figure, not an empty file


@pytest.mark.parametrize("content,expected", [
    ("label,hardware,workload\nx,h200,gpt2-124m\n", "measured_step_time_s: missing column"),
    ("label,hardware,workload,measured_step_time_s\nx,h200,gpt2-124m,-1\n", "measured_step_time_s"),
    ("label,workload,measured_step_time_s\nx,gpt2-124m,1\n", "hardware: missing column"),
    ("label,hardware,measured_step_time_s\nx,h200,1\n", "workload: give a workload"),
])
def test_bad_measurement_rows_are_one_line(tmp_path, content, expected):
    path = tmp_path / "runs.csv"
    path.write_text(content)
    result = run("validate", path)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and expected in lines[0]


def _mape(report, which):
    errors = [abs(r.step_time_error_fraction) for r in report.results
              if which in r.label and r.step_time_error_fraction is not None]
    return sum(errors) / len(errors), len(errors)


def test_vtrain_suite_estimates_every_plan():
    report = api.validate_suite("vtrain", str(VTRAIN))
    assert report.summary.runs == 1549
    assert report.summary.estimated == 1549


def test_vtrain_single_node_within_20_percent_calibrated_there():
    """The one vTrain-fitted number (Megatron-DeepSpeed's host time per kernel) was fitted on the
    single-node set (scripts/fit_vtrain_host.py): this is its training error, target at most 20%."""
    mape, n = _mape(api.validate_suite("vtrain", str(VTRAIN / "ground_truth_single.csv")), "single")
    assert n == 1440 and mape <= 0.20


def test_vtrain_multi_node_within_12_percent_held_out():
    """The 109 multi-node runs are held out from every fit (the README says which structural choices
    were made with them in view). The cluster issue's target: MAPE at most 12%."""
    mape, n = _mape(api.validate_suite("vtrain", str(VTRAIN / "ground_truth_multi.csv")), "multi")
    assert n == 109 and mape <= 0.105  # issue 14: it stays at or below 10.5% as the plans grow


def test_vtrain_suite_reads_its_bundled_data_by_default():
    result = run("validate", "--suite", "vtrain", "--show", "1")
    assert result.exit_code == 0, result.stderr
    assert "1549 of 1549 runs estimated" in result.stdout and "bundled vtrain/ground_truth_multi.csv" in result.stdout
