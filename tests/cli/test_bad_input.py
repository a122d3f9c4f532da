"""Bad input through the CLI: one line on stderr naming the file, the field and the problem; exit 2; no traceback."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from simulator.files.loader import REPO_ROOT, bundled_names

H100_TEXT = (REPO_ROOT / "hardware_profiles" / "h100-sxm.yaml").read_text(encoding="utf-8")
GPT2_TEXT = (REPO_ROOT / "workloads" / "gpt2-124m.yaml").read_text(encoding="utf-8")
# a bundled file is named by its bundled name, never by a path inside the installed package
GPT2 = "gpt2-124m (bundled workload)"
GPT3 = "gpt3-175b (bundled workload)"
QUANTUM = "quantum-ftqc (bundled hardware profile)"


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # click < 8.2
    except TypeError:
        return CliRunner()  # click >= 8.2 keeps stderr apart by default


def error_line(*args: str, stdout_empty: bool = True) -> str:
    """Run the CLI, check the bad-input contract, and return the one error line."""
    result = _runner().invoke(main, list(args))
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    if stdout_empty:
        assert result.stdout == ""
    assert lines[0].startswith("costsim: error: ")
    return lines[0]


def estimate_error(hardware: str, workload: str, *extra: str) -> str:
    return error_line("estimate", "--hardware", hardware, "--workload", workload, *extra)


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# ---------------------------------------------------------------- files
def test_malformed_yaml_names_file_and_line(tmp_path):
    f = write(tmp_path / "broken.yaml", H100_TEXT.replace(
        "sparse_2_4_accelerated: true", "sparse_2_4_accelerated: [true, false"))
    line = estimate_error(f, "gpt2-124m")
    assert f in line
    assert "malformed YAML" in line and re.search(r"line \d+, column \d+", line)


def test_unknown_field_names_file_and_field(tmp_path):
    f = write(tmp_path / "typo.yaml", H100_TEXT.replace(
        "memory_bandwidth_bytes_per_s: 3.35e12", "memory_bandwith_bytes_per_s: 3.35e12"))
    line = estimate_error(f, "gpt2-124m")
    assert f in line
    assert ": memory_bandwith_bytes_per_s: unknown field" in line


def test_unknown_field_in_workload_training_block_names_nested_path(tmp_path):
    f = write(tmp_path / "wl.yaml", GPT2_TEXT.replace("global_batch_size: 16", "global_batch_sise: 16"))
    line = estimate_error("h200", f)
    assert f in line
    assert ": training.global_batch_sise: unknown field" in line


def test_wrong_type_names_file_field_and_expected_type(tmp_path):
    f = write(tmp_path / "wl.yaml", GPT2_TEXT.replace("layers: 12", "layers: many"))
    line = estimate_error("h200", f)
    assert f in line
    assert ": layers: " in line and "integer" in line


def test_negative_bandwidth_is_rejected(tmp_path):
    f = write(tmp_path / "neg.yaml", "extends: h100-sxm\nname: neg\nmemory_bandwidth_bytes_per_s: -3.35e12\n")
    line = estimate_error(f, "gpt2-124m")
    assert f in line
    assert ": memory_bandwidth_bytes_per_s: " in line and "greater than 0" in line


def test_zero_peak_rate_is_rejected(tmp_path):
    f = write(tmp_path / "zero.yaml", "extends: h100-sxm\nname: zero\npeak_dense_flops_per_s:\n  bf16: 0\n")
    line = estimate_error(f, "gpt2-124m")
    assert f in line
    assert ": peak_dense_flops_per_s.bf16: " in line and "greater than 0" in line


def test_unknown_kind_names_kind_and_value_in_one_short_line(tmp_path):
    f = write(tmp_path / "npu.yaml", H100_TEXT.replace("kind: gpu", "kind: npu"))
    line = estimate_error(f, "gpt2-124m")
    assert f in line
    assert ": kind: unknown kind 'npu'" in line
    assert len(line) < 300  # the profile itself is not echoed


def test_non_number_for_float_field_is_rejected(tmp_path):
    f = write(tmp_path / "fast.yaml", "extends: h100-sxm\nname: fast\nmemory_bytes: fast\n")
    line = estimate_error(f, "gpt2-124m")
    assert f in line and ": memory_bytes: " in line and "number" in line


def test_missing_extends_target_names_child_and_extends(tmp_path):
    f = write(tmp_path / "child.yaml", "extends: h100-nonexistent\nname: child\n")
    line = estimate_error(f, "gpt2-124m")
    assert str(Path(f).resolve()) in line
    assert ": extends: " in line and "'h100-nonexistent'" in line


def test_missing_efficiency_from_target_names_file_and_field(tmp_path):
    f = write(tmp_path / "child.yaml", "extends: h100-sxm\nname: child\nefficiency_from: h100-nonexistent\n")
    line = estimate_error(f, "gpt2-124m")
    assert str(Path(f).resolve()) in line
    assert ": efficiency_from: " in line and "'h100-nonexistent'" in line


def test_extends_cycle_names_file_and_chain(tmp_path):
    a = write(tmp_path / "a.yaml", "extends: b.yaml\nname: a\n")
    write(tmp_path / "b.yaml", "extends: a.yaml\nname: b\n")
    line = estimate_error(a, "gpt2-124m")
    assert str(Path(a).resolve()) in line
    assert ": extends: cycle a.yaml -> b.yaml -> a.yaml" in line


def test_workload_that_does_not_fit_says_how_much_it_needs():
    line = estimate_error("h200", "gpt3-175b")
    assert GPT3 in line
    assert ": training.global_batch_size: does not fit" in line
    assert re.search(r"needs [\d.,]+ GB per device", line) and "sharded" in line
    assert "h200 has 141.0 GB" in line


def test_unknown_profile_name_lists_bundled_names():
    line = estimate_error("h1000", "gpt2-124m")
    assert "unknown hardware profile 'h1000'" in line
    assert all(name in line for name in bundled_names("hardware"))


def test_unknown_workload_name_lists_bundled_names():
    line = estimate_error("h200", "gpt5")
    assert "unknown workload 'gpt5'" in line
    assert all(name in line for name in bundled_names("workload"))


# ---------------------------------------------------------------- options
def test_bad_region_names_option_and_value():
    line = estimate_error("h200", "gpt2-124m", "--region", "atlantis")
    assert "--region" in line and "'atlantis'" in line


def test_missing_required_option_is_one_line():
    line = error_line("estimate", "--workload", "gpt2-124m")
    assert "--hardware" in line


def test_pue_below_one_is_rejected():
    line = estimate_error("h200", "gpt2-124m", "--pue", "0.5")
    assert "pue" in line and "greater than or equal to 1" in line


def test_unknown_facility_class_is_rejected():
    line = estimate_error("h200", "gpt2-124m", "--pue", "arctic")
    assert "pue: unknown facility class 'arctic'" in line


def test_non_positive_grid_intensity_is_rejected():
    line = estimate_error("h200", "gpt2-124m", "--grid-intensity", "-5")
    assert "--grid-intensity: must be positive" in line  # the flag, not the parameter


def test_batch_that_does_not_divide_over_devices_names_field():
    line = estimate_error("h200", "gpt2-124m", "--devices", "3")
    assert "training.global_batch_size" in line and "3 devices" in line


def test_batch_that_does_not_divide_over_devices_names_workload_file():
    line = estimate_error("h200", "gpt2-124m", "--devices", "3")
    assert GPT2 in line


def test_set_unknown_field_names_set_and_field():
    line = estimate_error("h200", "gpt2-124m", "--set", "global_batch_sise=32")
    assert "--set: global_batch_sise: no such field" in line


def test_set_ambiguous_field_asks_for_full_path():
    line = estimate_error("h200", "gpt2-124m", "--set", "latency_s=1e-6")
    assert "--set: latency_s: ambiguous" in line and "name the full path" in line


def test_set_scaling_non_number_is_rejected():
    line = estimate_error("h200", "gpt2-124m", "--set", "attention=*2")
    assert "--set: attention: cannot scale" in line


def test_set_without_equals_is_rejected():
    line = estimate_error("h200", "gpt2-124m", "--set", "global_batch_size")
    assert "--set expects field=value" in line


def test_set_value_of_wrong_type_names_the_file_it_lands_in():
    line = estimate_error("h200", "gpt2-124m", "--set", "layers=many")
    assert GPT2 in line and ": layers: " in line


# ---------------------------------------------------------------- refused hardware
def test_quantum_profile_above_threshold_is_refused_naming_the_file():
    """A physical error rate at or above the code's threshold cannot be corrected: one line, exit 2."""
    line = estimate_error("quantum-ftqc", "gpt2-124m", "--set", "hardware.physical_error_rate_fraction=0.02")
    assert QUANTUM in line and "physical_error_rate_fraction" in line


def test_quantum_profile_negative_time_is_refused():
    line = estimate_error("quantum-ftqc", "gpt2-124m", "--set", "hardware.code_cycle_s=-1e-6")
    assert "code_cycle_s" in line


def test_compare_with_unknown_profile_is_an_error_not_a_row():
    line = error_line("compare", "--workload", "gpt2-124m", "--hardware", "h200,h1000")
    assert "unknown hardware profile 'h1000'" in line


# ---------------------------------------------------------------- profiles validate
def test_profiles_validate_bad_file_exits_2(tmp_path):
    f = write(tmp_path / "neg.yaml", "extends: h100-sxm\nname: neg\nmemory_bytes: -80e9\n")
    line = error_line("profiles", "validate", f)
    assert f in line and ": memory_bytes: " in line


def test_profiles_validate_stops_at_first_bad_file(tmp_path):
    good = str(REPO_ROOT / "hardware_profiles" / "h200.yaml")
    bad = write(tmp_path / "typo.yaml", H100_TEXT.replace("tdp_watts", "tdp_wats"))
    result = _runner().invoke(main, ["profiles", "validate", good, bad])
    assert result.exit_code == 2
    assert result.stdout == f"{good}: ok\n"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and bad in lines[0] and "power.tdp_wats: unknown field" in lines[0]


# ---------------------------------------------------------------- a real process
@pytest.mark.parametrize("case", ["malformed", "cycle"])
def test_real_process_prints_one_line_and_no_traceback(tmp_path, case):
    if case == "malformed":
        f = write(tmp_path / "broken.yaml", "name: broken\nkind: gpu\npeak_dense_flops_per_s: {bf16: 1e15\n")
    else:
        f = write(tmp_path / "a.yaml", "extends: b.yaml\nname: a\n")
        write(tmp_path / "b.yaml", "extends: a.yaml\nname: b\n")
    proc = subprocess.run([sys.executable, "-m", "cli.main", "estimate", "--hardware", f, "--workload", "gpt2-124m"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("costsim: error: ") and Path(f).name in lines[0]
    assert proc.stdout == ""
