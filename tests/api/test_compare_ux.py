"""compare and estimate as a person reads them: the default devices, gradient accumulation, short
reasons, how each cost was priced, chosen columns, LaTeX and Markdown for papers, plan-search errors."""
from __future__ import annotations

import csv
import io
import json

import pytest

from cli.main import main
from simulator import api
from simulator.errors import CostsimError
from simulator.files.loader import bundled_names, load_profile
from simulator.output.format import COLUMNS
from simulator.output.stream import sweep_text
from simulator.run.estimate import Estimate
from tests.conftest import cli_runner


def run(*args: str) -> str:
    result = cli_runner().invoke(main, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def fail(*args: str) -> str:
    result = cli_runner().invoke(main, list(args))
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


@pytest.fixture(scope="module")
def default_rows():
    return json.loads(run("compare", "--workload", "gpt2-124m", "--json"))


# ---------------------------------------------------------------- the default set
def test_the_default_set_is_bundled_classical_and_covers_every_kind():
    names = set(bundled_names("hardware"))
    assert set(api.CURRENT_HARDWARE) <= names
    kinds = {load_profile(n).kind for n in api.CURRENT_HARDWARE}
    assert kinds == {"gpu", "tpu", "asic", "cpu", "fpga"}


def test_compare_without_hardware_estimates_every_default_device(default_rows):
    assert [r["hardware"] for r in default_rows] == list(api.CURRENT_HARDWARE)
    assert all(r["estimate"] is not None and r["problem"] is None for r in default_rows)
    out = run("compare", "--workload", "gpt2-124m")
    assert "not estimated" not in out and "nan" not in out


def test_compare_all_adds_the_historical_profiles():
    rows = api.compare("all", "gpt2-124m")
    assert [r.hardware for r in rows] == bundled_names("hardware")
    assert {r.hardware for r in rows if r.estimate is None} == {"quantum-ftqc"}


def test_the_default_table_fits_a_terminal():
    out = run("compare", "--workload", "gpt2-124m")
    assert max(len(line) for line in out.splitlines()) <= 110
    assert "ms" in out and "kWh" in out and "$" in out and "%" in out  # human units


# ---------------------------------------------------------------- fitting in memory
def test_a_device_too_small_for_the_batch_runs_with_gradient_accumulation(default_rows):
    alveo = next(r for r in default_rows if r["hardware"] == "alveo-u280")["estimate"]
    assert alveo["micro_batch_size"] < alveo["batch_per_device"] == 16
    assert alveo["peak_memory_bytes"] <= alveo["memory_capacity_bytes"]
    assert any(a.startswith("gradient accumulation") for a in alveo["assumptions"])
    out = run("compare", "--workload", "gpt2-124m", "--hardware", "alveo-u280")
    assert f"{alveo['micro_batch_size']:g} of 16" in out


def test_accumulation_picks_the_largest_micro_batch_that_fits():
    e = api.estimate("rtx-2080-ti", "gpt2-124m", fit="accumulate")
    bigger = int(e.micro_batch_size) * 2
    with pytest.raises(CostsimError, match="does not fit"):
        api.estimate("rtx-2080-ti", "gpt2-124m", plan=f"tp=1,pp=1,dp=1,mb={bigger}")
    assert e.peak_memory_bytes <= e.memory_capacity_bytes


def test_strict_fit_keeps_the_old_behaviour():
    with pytest.raises(CostsimError, match="does not fit"):
        api.estimate("rtx-2080-ti", "gpt2-124m")
    rows = api.compare(["rtx-2080-ti"], "gpt2-124m", fit="strict")
    assert rows[0].estimate is None and "does not fit" in rows[0].reason
    with pytest.raises(CostsimError, match="unknown fit"):
        api.compare(["h200"], "gpt2-124m", fit="squeeze")


def test_estimate_fit_accumulate_states_the_micro_batch():
    out = run("estimate", "-H", "rtx-2080-ti", "-w", "gpt2-124m", "--fit", "accumulate")
    assert "gradient accumulation" in out and "micro-batch 8 is the largest that fits" in out


def test_a_model_too_large_for_one_device_has_a_short_reason():
    rows = api.compare(None, "gpt3-175b")
    assert all(r.estimate is None for r in rows)
    for r in rows:
        assert "\n" not in r.reason and len(r.reason) < 100, r.reason
        assert "micro-batch 1" in r.reason
        assert len(r.problem) > len(r.reason)  # the full reason for JSON
    out = run("compare", "-w", "gpt3-175b")
    for line in out.splitlines():
        if "not estimated" in line:
            assert len(line.split("not estimated: ", 1)[1]) < 100
    full = json.loads(run("compare", "-w", "gpt3-175b", "-H", "h100-sxm", "--json"))[0]
    assert "sharded" in full["problem"] and len(full["reason"]) < 100
    rows_csv = list(csv.DictReader(io.StringIO(run("compare", "-w", "gpt3-175b", "-H", "h100-sxm",
                                                   "--format", "csv"))))
    assert rows_csv[0]["problem"] == full["reason"]
    md = run("compare", "-w", "gpt3-175b", "-H", "h100-sxm", "--format", "markdown")
    assert "not estimated: " + full["reason"] in md


# ---------------------------------------------------------------- pricing
def test_mixed_pricing_has_a_column_and_a_footnote():
    out = run("compare", "-w", "gpt2-124m", "-H", "h100-sxm,gaudi3")
    assert "pricing" in out.splitlines()[0]
    assert "priced differently" in out and "cloud = rental" in out and "owned = purchase" in out
    same = run("compare", "-w", "gpt2-124m", "-H", "h100-sxm,h200")
    assert "priced differently" not in same
    md = run("compare", "-w", "gpt2-124m", "-H", "h100-sxm,gaudi3", "--format", "markdown")
    assert "priced differently" in md


def test_pricing_cloud_without_a_cloud_price_says_so_in_its_row():
    rows = json.loads(run("compare", "-w", "gpt2-124m", "-H", "h100-sxm,gaudi3", "--pricing", "cloud", "--json"))
    assert rows[0]["estimate"]["pricing"] == "cloud"
    assert rows[1]["estimate"] is None and "no cloud price" in rows[1]["problem"]
    out = run("compare", "-w", "gpt2-124m", "-H", "h100-sxm,gaudi3", "--pricing", "cloud")
    gaudi = next(line for line in out.splitlines() if line.startswith("gaudi3"))
    assert "not estimated: no cloud price" in gaudi


def test_a_device_with_no_price_is_priced_at_its_electricity_under_auto(default_rows):
    alveo = next(r for r in default_rows if r["hardware"] == "alveo-u280")["estimate"]
    assert load_profile("alveo-u280").purchase_price_usd is None
    assert alveo["pricing"] == "electricity"
    assert alveo["cost_usd"] == pytest.approx(alveo["cost_breakdown"]["electricity_usd"]) and alveo["cost_usd"] > 0
    assert not any(a.startswith("owned hardware: purchase price") for a in alveo["assumptions"])


def test_estimate_table_says_how_it_was_priced():
    out = run("estimate", "-H", "gaudi3", "-w", "gpt2-124m")
    assert any(line.startswith("pricing") and "owned" in line for line in out.splitlines())


# ---------------------------------------------------------------- columns and formats
def test_columns_choose_the_fields():
    out = run("compare", "-w", "gpt2-124m", "-H", "h100-sxm,h200", "--columns", "hardware,total_time_s,cost_usd",
              "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["hardware", "total_time_s", "cost_usd"]
    assert float(rows[0]["total_time_s"]) > 0  # SI seconds
    flat = json.loads(run("estimate", "-H", "h100-sxm", "-w", "gpt2-124m", "--columns", "co2_kg,pricing", "--json"))
    assert list(flat) == ["co2_kg", "pricing"]
    one = run("estimate", "-H", "h100-sxm", "-w", "gpt2-124m", "--columns", "hardware,step_time_s")
    assert one.splitlines()[0].split() == ["hardware", "step"] and "ms" in one


def test_an_unknown_column_is_one_line_listing_the_valid_ones():
    line = fail("compare", "-w", "gpt2-124m", "--columns", "hardware,speed")
    assert "--columns" in line and "unknown column 'speed'" in line and "total_time_s" in line
    line = fail("estimate", "-H", "h200", "-w", "gpt2-124m", "--columns", "problem")
    assert "unknown column 'problem'" in line


def test_every_scalar_estimate_field_is_a_column():
    scalar = {k for k, f in Estimate.model_fields.items()
              if not any(t in str(f.annotation) for t in ("dict", "tuple", "ClassCost"))}
    assert scalar <= set(COLUMNS)


def test_latex_is_booktabs_with_units_in_the_header_and_numbers_right_aligned():
    out = run("compare", "-w", "gpt2-124m", "-H", "h100-sxm,h200", "--format", "latex",
              "--columns", "hardware,total_time_s,cost_usd,pricing,co2_kg")
    lines = out.splitlines()
    assert lines[0] == r"\begin{tabular}{lrrlr}"
    assert r"\toprule" in lines and r"\midrule" in lines and r"\bottomrule" in lines
    assert lines[2] == r"hardware & total time (h) & cost (\$) & pricing & CO2 (kg) \\"
    h100 = next(line for line in lines if line.startswith("h100-sxm"))
    assert h100.endswith(r"\\") and "ms" not in h100 and "h " not in h100  # bare numbers in the column's unit


def test_latex_keeps_a_not_estimated_row_across_the_table():
    out = run("compare", "-w", "gpt3-175b", "-H", "h100-sxm", "--format", "latex")
    assert r"\multicolumn{9}{l}{not estimated: does not fit" in out


def test_sweeps_share_the_latex_renderer():
    text = sweep_text([{"hardware": "h200", "cost_usd": 1.5}], "latex")
    assert text.startswith(r"\begin{tabular}{lr}") and r"\toprule" in text and r"\bottomrule" in text


def test_markdown_right_aligns_numbers():
    out = run("compare", "-w", "gpt2-124m", "-H", "h100-sxm", "--format", "markdown",
              "--columns", "hardware,step_time_s,pricing,cost_usd")
    assert out.splitlines()[1] == "|---|---:|---|---:|"
    assert "| h100-sxm | 62.3 ms | cloud | $51.9 |" in out


# ---------------------------------------------------------------- plan search
@pytest.mark.parametrize("args", [
    ["plan", "-H", "h100-sxm", "-w", "gpt2-124m", "--devices", "13"],
    ["estimate", "-H", "h100-sxm", "-w", "gpt2-124m", "--devices", "13", "--plan", "auto"],
])
def test_no_plan_names_the_constraint_and_the_nearest_counts(args):
    line = fail(*args)
    assert "no factorisation of 13 into tp x pp x dp" in line
    assert "12 heads" in line and "12 layers" in line and "global batch of 16" in line
    assert "nearest device counts that work: 12 and 14" in line
    assert "nearest global batches that work on 13: 13 and 26" in line
    assert "--plan" not in line  # the core names parameters


def test_compare_with_plan_auto_gives_the_nearest_counts_in_short():
    rows = api.compare(["h100-sxm"], "gpt2-124m", devices=13, plan="auto")
    assert rows[0].reason == "no tp x pp x dp plan for 13 devices divides the work; nearest that do: 12 and 14"


def test_a_cnn_names_its_batch():
    with pytest.raises(CostsimError, match=r"data parallel only.*global batch of 256.*nearest device counts"):
        api.plan("h100-sxm", "resnet50-imagenet", devices=7)
