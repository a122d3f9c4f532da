"""The CLI's happy paths: estimate in every format, compare, profiles and workloads, run options."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from cli.main import main
from simulator.files.loader import REPO_ROOT, bundled_names
from tests.conftest import cli_runner

# parameters of GPT-2 small (vocabulary padded to 50304, tied embeddings) as counted by PyTorch on the
# calibrated H200: "params" in ../shared/calibration/h200/measurements.jsonl
GPT2_PARAMS_MEASURED = 124_475_904
ESTIMATE_KEYS = {"step_time_s", "total_time_s", "energy_joules", "device_energy_joules", "cost_usd", "co2_kg",
                 "peak_memory_bytes", "mfu_fraction", "breakdown"}


def run(*args: str) -> str:
    result = cli_runner().invoke(main, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.stderr == ""
    return result.stdout


def estimate_json(*extra: str, hardware: str = "h100-sxm", workload: str = "gpt2-124m") -> dict:
    return json.loads(run("estimate", "--hardware", hardware, "--workload", workload, "--format", "json", *extra))


@pytest.fixture(scope="module")
def baseline() -> dict:
    return estimate_json()


# ---------------------------------------------------------------- estimate
def test_estimate_json_has_the_documented_keys(baseline):
    assert ESTIMATE_KEYS <= baseline.keys()
    assert baseline["hardware"] == "h100-sxm" and baseline["workload"] == "gpt2-124m"
    for key in ESTIMATE_KEYS - {"breakdown"}:
        assert isinstance(baseline[key], float) and baseline[key] > 0, key
    assert 0 < baseline["mfu_fraction"] < 1
    assert baseline["total_time_s"] == pytest.approx(baseline["step_time_s"] * baseline["steps"])
    assert sum(c["time_s"] for c in baseline["breakdown"].values()) == pytest.approx(baseline["step_time_s"])


def test_json_flag_is_the_same_as_format_json(baseline):
    out = run("estimate", "--hardware", "h100-sxm", "--workload", "gpt2-124m", "--json")
    assert json.loads(out) == baseline


def test_estimate_table_format_has_summary_breakdown_and_assumptions():
    out = run("estimate", "-H", "h100-sxm", "-w", "gpt2-124m", "--format", "table")
    assert "h100-sxm x 1" in out
    assert "per step, by operation class:" in out and "assumptions:" in out


def test_estimate_csv_format_is_one_parseable_row():
    out = run("estimate", "-H", "h100-sxm", "-w", "gpt2-124m", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1
    assert float(rows[0]["step_time_s"]) > 0 and rows[0]["hardware"] == "h100-sxm"


def test_estimate_markdown_format_is_tables():
    out = run("estimate", "-H", "h100-sxm", "-w", "gpt2-124m", "--format", "markdown")
    assert out.startswith("|") and "|---|" in out and "Assumptions:" in out


def test_estimate_accepts_a_profile_path():
    path = str(REPO_ROOT / "hardware_profiles" / "h200.yaml")
    assert estimate_json(hardware=path)["hardware"] == "h200"


def test_estimate_cnn_workload_has_no_tokens_per_s():
    e = estimate_json(workload="resnet50-imagenet", hardware="h200")
    assert e["tokens_per_s"] is None and e["samples_per_s"] > 0


# ---------------------------------------------------------------- run options
def test_set_global_batch_size_changes_batch_per_device(baseline):
    assert baseline["batch_per_device"] == 16
    e = estimate_json("--set", "global_batch_size=32")
    assert e["batch_per_device"] == 32
    assert e["step_time_s"] > baseline["step_time_s"]


def test_devices_split_the_global_batch(baseline):
    e = estimate_json("--devices", "2")
    assert e["devices"] == 2 and e["batch_per_device"] == 8
    assert e["breakdown"]["communication"]["time_s"] >= 0  # gradient reduction overlapped with backward


def test_set_hardware_bandwidth_factor_matches_bundled_what_if():
    scaled = estimate_json("--set", "hardware.memory_bandwidth_bytes_per_s=*2")
    what_if = estimate_json(hardware="h100-2x-bandwidth")
    assert scaled["step_time_s"] == pytest.approx(what_if["step_time_s"])


def test_region_france_lowers_co2_vs_default(baseline):
    e = estimate_json("--region", "france")
    assert e["co2_kg"] < baseline["co2_kg"]
    assert e["energy_joules"] == pytest.approx(baseline["energy_joules"])


def test_grid_intensity_overrides_region(baseline):
    e = estimate_json("--region", "france", "--grid-intensity", "481")  # the world average
    assert e["co2_kg"] == pytest.approx(baseline["co2_kg"], rel=1e-9)


def test_lower_pue_lowers_energy(baseline):
    e = estimate_json("--pue", "1.1")
    assert e["energy_joules"] < baseline["energy_joules"]
    assert e["device_energy_joules"] == pytest.approx(baseline["device_energy_joules"])
    assert e["co2_kg"] < baseline["co2_kg"]


def test_pue_facility_class_is_accepted():
    assert estimate_json("--pue", "hyperscale")["energy_joules"] == pytest.approx(
        estimate_json("--pue", "1.1")["energy_joules"])


def test_default_pricing_is_cloud_rental(baseline):
    assert baseline["pricing"] == "cloud"
    assert baseline["cost_breakdown"]["rental_usd"] == pytest.approx(baseline["cost_usd"])


def test_pricing_owned_is_amortisation_plus_electricity(baseline):
    e = estimate_json("--pricing", "owned")
    cb = e["cost_breakdown"]
    assert e["pricing"] == "owned"
    assert cb["rental_usd"] == 0
    assert cb["amortisation_usd"] > 0 and cb["electricity_usd"] > 0
    assert e["cost_usd"] == pytest.approx(cb["amortisation_usd"] + cb["electricity_usd"])
    assert e["cost_usd"] != pytest.approx(baseline["cost_usd"])


# ---------------------------------------------------------------- compare
@pytest.fixture(scope="module")
def compare_all() -> list[dict]:
    return json.loads(run("compare", "--workload", "gpt2-124m", "--all", "--format", "json"))


def test_compare_all_lists_every_bundled_profile(compare_all):
    assert sorted(r["hardware"] for r in compare_all) == bundled_names("hardware")


def test_compare_keeps_infeasible_rows_with_a_reason(compare_all):
    refused = {r["hardware"]: r["problem"] for r in compare_all if r["estimate"] is None}
    assert "quantum-ftqc" in refused
    assert all(problem for problem in refused.values())
    assert all(r["problem"] is None and r["estimate"]["step_time_s"] > 0
               for r in compare_all if r["hardware"] not in refused)


def test_compare_table_lists_every_profile_and_reasons():
    out = run("compare", "--workload", "gpt2-124m", "--all")
    for name in bundled_names("hardware"):
        assert name in out
    quantum = next(line for line in out.splitlines() if line.startswith("quantum-ftqc "))
    assert "not estimated: " in quantum


@pytest.mark.parametrize("fmt, marker", [("csv", "hardware,step_time_s"), ("markdown", "| hardware |")])
def test_compare_csv_and_markdown_formats(fmt, marker):
    out = run("compare", "--workload", "gpt2-124m", "--hardware", "h100-sxm,h200", "--format", fmt)
    assert out.startswith(marker)
    assert "h100-sxm" in out and "h200" in out


def test_compare_named_profiles_in_order():
    rows = json.loads(run("compare", "--workload", "gpt2-124m", "--hardware", "h100-sxm,h200", "--json"))
    assert [r["hardware"] for r in rows] == ["h100-sxm", "h200"]
    assert all(r["estimate"] is not None for r in rows)


# ---------------------------------------------------------------- profiles and workloads
def test_profiles_list_shows_every_bundled_profile():
    out = run("profiles", "list")
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert names == bundled_names("hardware")


def test_profiles_show_what_if_doubles_h100_bandwidth():
    what_if = json.loads(run("profiles", "show", "h100-2x-bandwidth", "--json"))
    h100 = json.loads(run("profiles", "show", "h100-sxm", "--format", "json"))
    assert what_if["memory_bandwidth_bytes_per_s"] == pytest.approx(2 * h100["memory_bandwidth_bytes_per_s"])
    assert what_if["memory_bytes"] == h100["memory_bytes"]
    assert what_if["peak_dense_flops_per_s"] == h100["peak_dense_flops_per_s"]
    assert what_if["efficiency"] is not None and what_if["efficiency_from"] == "h200"


def test_profiles_validate_every_bundled_file_ok():
    paths = sorted(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "hardware_profiles").glob("*.yaml"))
    proc = subprocess.run([sys.executable, "-m", "cli.main", "profiles", "validate", *paths],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"{p}: ok" for p in paths]


def test_workloads_list_shows_every_bundled_workload():
    out = run("workloads", "list")
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert names == bundled_names("workload")


def test_workloads_show_gpt2_parameters_match_pytorch_count():
    shown = json.loads(run("workloads", "show", "gpt2-124m", "--json"))
    assert shown["workload"]["name"] == "gpt2-124m"
    assert shown["derived"]["parameters"] == pytest.approx(GPT2_PARAMS_MEASURED, rel=0.01)
    assert shown["derived"]["tokens_per_step"] == 16 * 1024


def test_version_option():
    assert "0.1.0" in run("--version")
