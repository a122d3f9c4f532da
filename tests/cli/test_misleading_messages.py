"""Issue 13, the leftovers found by ``benchmarks/fuzz_inputs.py`` (case 13 and the 'keep them closed' guard):
each message names the input that decides it, and no output holds a NaN or an infinity."""
from __future__ import annotations

import json

from cli.main import main
from simulator import api
from tests.cli.test_bad_input import GPT2_TEXT, H100_TEXT, _runner, error_line, estimate_error, write


def test_a_profile_switched_to_another_kind_names_kind(tmp_path):
    f = write(tmp_path / "q.yaml", H100_TEXT.replace("kind: gpu", "kind: quantum"))
    line = estimate_error(f, "gpt2-124m")
    assert f"{f}: kind: 'quantum', but " in line and "fields of a cpu, gpu, tpu, fpga or asic profile" in line
    assert "check kind" in line


def test_a_workload_switched_to_another_kind_names_kind(tmp_path):
    f = write(tmp_path / "c.yaml", GPT2_TEXT.replace("kind: transformer", "kind: cnn"))
    line = estimate_error("h200", f)
    assert f"{f}: kind: 'cnn', but " in line and "of a transformer workload" in line


def test_a_wrong_kind_with_a_typo_is_still_the_typo(tmp_path):
    f = write(tmp_path / "q.yaml", H100_TEXT.replace("kind: gpu", "kind: quantum") + "memory_byts: 1\n")
    line = estimate_error(f, "gpt2-124m")
    assert ": kind:" not in line  # not every key is another kind's: the usual unknown-field line


def test_the_quantum_comparison_says_it_is_the_classical_side_that_does_not_fit():
    line = estimate_error("quantum-ftqc", "gpt3-175b")
    assert "none of the" in line and "bundled classical devices the quantum estimate compares against" in line
    assert "does not fit" in line and "give more devices, or a plan" in line


def test_limits_devices_too_many_for_a_whole_batch_names_devices():
    line = error_line("limits", "-H", "h200", "--devices", str(10**20))
    assert line.startswith("costsim: error: --devices: ") and "global batch" in line


def test_a_sweep_value_that_is_not_a_number_is_refused_at_load(tmp_path):
    f = write(tmp_path / "s.yaml", "hardware: [h200]\nworkloads: [gpt2-124m]\nset:\n  tokens: [1e9, .nan]\n")
    line = error_line("sweep", f, "--format", "json")
    assert f"{f}: set: tokens: nan is not a finite number" in line


def test_validate_a_measurement_hundreds_of_orders_off_is_a_row_problem_not_infinity(tmp_path):
    header = "label,hardware,workload,measured_step_time_s,measured_device_energy_per_step_joules\n"
    f = write(tmp_path / "v.csv", header +
              "a,h200,gpt2-124m,0.1,1e-308\nb,h200,gpt2-124m,1e-308,\nc,h200,gpt2-124m,1e-308,\n"
              "d,h200,gpt2-124m,5e-324,\n")
    result = _runner().invoke(main, ["validate", f, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "Infinity" not in result.stdout and "NaN" not in result.stdout
    report = json.loads(result.stdout)
    rows = {r["label"]: r for r in report["results"]}
    assert rows["a"]["energy_error_fraction"] is None and "the error is not finite" in rows["a"]["problem"]
    assert rows["d"]["step_time_error_fraction"] is None and "measured_step_time_s" in rows["d"]["problem"]
    assert rows["b"]["step_time_error_fraction"] > 1e300  # huge but finite, and their mean does not overflow
    assert report["summary"]["step_time_mape_fraction"] > 1e300


def test_simulate_takes_the_fit_that_estimate_takes():
    e, mc = api.simulate("h200", "gpt-1.3b", fit="accumulate")
    assert e.plan.endswith("mb=8") and mc.replicas == 1


def test_a_kind_that_is_not_text_is_the_usual_line(tmp_path):
    f = write(tmp_path / "k.yaml", GPT2_TEXT.replace("kind: transformer", "kind: {a: 1}"))
    assert ": kind: " in estimate_error("h200", f)
