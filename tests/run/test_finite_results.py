"""Issue 13, cases 1, 3 (the computation side), 8 (limits and the quantum verdict), 9 and 13 (does not fit):
every number a result carries is finite, or the run is refused naming the result's number and the input
that drives it (simulator/model/finite.py, the one guard where results are built); no numpy warning leaks."""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest

from cli.main import main
from simulator import api
from simulator.analysis.limits import price_compute
from simulator.errors import CostsimError, OutOfMemoryError
from simulator.files.loader import load_profile, load_workload
from simulator.model.finite import OutOfRangeError, extreme_inputs, guarded, numbers, refusal, require_finite
from simulator.run.estimate import estimate_run
from tests.conftest import cli_runner

H200 = "h200 (bundled hardware profile)"
GPT2 = "gpt2-124m (bundled workload)"


def error_line(*args: str) -> str:
    """Run the CLI; it must exit 2 with exactly one line on stderr, no traceback, nothing on stdout."""
    result = cli_runner().invoke(main, list(args))
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def strict_json(text: str):
    """JSON with no Infinity or NaN in it (json.loads accepts them by default)."""
    def refuse(constant):
        raise AssertionError(f"{constant} in JSON output")
    return json.loads(text, parse_constant=refuse)


def all_finite(data) -> bool:
    return all(math.isfinite(v) for _, v in numbers(data))


# ---------------------------------------------------------------- case 1: extreme but schema-valid numbers
@pytest.mark.parametrize("fmt", ["table", "json"])
def test_a_launch_overhead_that_overflows_the_step_is_refused_naming_it(fmt):
    line = error_line("estimate", "-H", "h200", "-w", "gpt2-124m", "--set", "hardware.kernel_launch_overhead_s=1e308",
                      "--format", fmt)
    assert line.startswith(f"costsim: error: {H200}: kernel_launch_overhead_s: 1e+308 is out of range")
    assert "step_time_s of the estimate" in line


@pytest.mark.parametrize("pue", ["inf", "nan", "-inf"])
def test_a_non_finite_pue_is_refused(pue):
    line = error_line("estimate", "-H", "h200", "-w", "gpt2-124m", "--pue", pue)
    assert ": --pue: " in line and ("finite" in line or "greater than" in line)


def test_run_options_refuse_a_non_finite_pue():
    with pytest.raises(CostsimError, match="finite") as err:
        api.run_options(pue=math.inf)
    assert err.value.field == "pue"


def test_the_guard_in_estimate_run_names_the_input_under_its_side():
    profile = load_profile("h200")
    slow = profile.model_copy(update={"kernel_launch_overhead_s": 1e308})
    with pytest.raises(OutOfRangeError) as err:
        estimate_run(slow, load_workload("gpt2-124m"))
    assert err.value.field == "hardware.kernel_launch_overhead_s"
    assert "step_time_s" in err.value.problem


def test_an_option_that_overflows_the_cost_is_named_as_the_option():
    with pytest.raises(OutOfRangeError) as err:
        api.estimate("h200", "gpt2-124m", pricing="owned", electricity_usd_per_kwh=1e308)
    assert err.value.field == "electricity_usd_per_kwh" and err.value.source is None  # the parameter, in its unit
    assert err.value.problem.startswith("1e+308 is out of range")
    assert "cost" in err.value.problem


@pytest.mark.parametrize("value", ["1e308", "1e-300"])
def test_every_number_of_a_profile_at_an_extreme_gives_a_finite_estimate_or_one_refusal(value):
    """The guard, generated over the inputs: each numeric field of the h200 profile set to an extreme."""
    fields = [p for p, v in numbers(load_profile("h200")) if not isinstance(v, bool) and p not in ("year",)]
    assert len(fields) > 20
    refused = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning may escape
        for path in fields:
            try:
                e = api.estimate("h200", "gpt2-124m", sets=[f"hardware.{path}={value}"])
            except CostsimError as err:
                assert "\n" not in str(err)
                refused += 1
                continue
            assert all_finite(e.to_dict()), path
            strict_json(json.dumps(e.to_dict()))
    assert refused  # some of them must be refused (bandwidths, peaks, launch overhead)


# ---------------------------------------------------------------- case 3: the computation side of overflow
@pytest.mark.parametrize("field, value", [("ffn_mult", 1e308), ("layers", 10 ** 400), ("d_model", 10 ** 200)])
def test_a_workload_number_that_overflows_the_computation_is_refused_naming_it(field, value):
    # model_copy does not validate: the schema's own bounds (another check) are bypassed on purpose
    wl = load_workload("gpt2-124m").model_copy(update={field: value})
    with pytest.raises(OutOfRangeError) as err:
        estimate_run(load_profile("h200"), wl)
    assert err.value.field == f"workload.{field}"
    assert "out of range" in err.value.problem


def test_the_guard_names_a_workload_input_under_its_file():
    wl = load_workload("gpt2-124m").model_copy(update={"ffn_mult": 1e308})
    with pytest.raises(OutOfRangeError) as err:
        api.estimate(load_profile("h200"), wl)
    assert err.value.field == "workload.ffn_mult"  # a model, not a file: the side stays in the field
    line = error_line("estimate", "-H", "h200", "-w", "gpt2-124m", "--set", "hardware.power.tdp_watts=1e308")
    assert line.startswith(f"costsim: error: {H200}: power.tdp_watts: 1e+308 is out of range")


def test_compare_and_plan_refuse_an_input_out_of_range_instead_of_leaving_rows_or_plans_out():
    sets = ["hardware.power.tdp_watts=1e308"]
    with pytest.raises(OutOfRangeError):
        api.compare(["h200", "a100-sxm-80gb"], "gpt2-124m", sets=sets)
    with pytest.raises(OutOfRangeError) as err:
        api.plan("h200", "gpt2-124m", devices=8, sets=sets)
    assert err.value.field == "power.tdp_watts" and err.value.source == H200
    line = error_line("plan", "-H", "h200", "-w", "gpt2-124m", "--devices", "8", "--set", sets[0])
    assert f"{H200}: power.tdp_watts: 1e+308 is out of range" in line


# ---------------------------------------------------------------- case 8: limits and the quantum verdict
def test_lm_limits_refuses_a_compute_budget_too_large_for_the_law():
    with pytest.raises(CostsimError) as err:
        api.lm_limits(computes=[1e300], hardware=["h200"])
    assert err.value.field == "computes" and "1e+300 FLOPs" in err.value.problem
    assert api.lm_limits(computes=[1e39], hardware=["h200"])  # the top of the range is priced, finite


def test_limits_lm_compute_1e300_is_one_line_naming_the_flag():
    line = error_line("limits", "-H", "h200", "--quiet", "--lm-compute", "1e300")
    assert "--lm-compute" in line and "1e+300" in line


@pytest.mark.parametrize("compute", ["1e-300", "1", "1e41"])
def test_a_compute_budget_outside_the_laws_range_is_refused_not_turned_into_a_model(compute):
    line = error_line("limits", "-H", "h200", "--quiet", "--lm-compute", compute)
    assert "--lm-compute" in line and "outside the law's range" in line


def test_a_priced_compute_that_overflows_is_refused_naming_its_parameter():
    e = api.estimate("h200", "gpt2-124m")
    huge = e.model_copy(update={"total_time_s": 1e300})
    with pytest.raises(OutOfRangeError) as err:
        price_compute("imagenet top-1 error 1e-09", 1e300, None, None, load_profile("h200"),
                      load_workload("gpt2-124m"), 1, lambda *_: huge, field="targets")
    assert err.value.field == "targets" and "time_s" in err.value.problem


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_a_quantum_reaction_time_that_overflows_is_refused_naming_it(fmt):
    line = error_line("estimate", "-H", "quantum-ftqc", "-w", "gpt2-124m", "--set", "hardware.reaction_time_s=1e308",
                      "--format", fmt)
    assert line.startswith("costsim: error: quantum-ftqc (bundled hardware profile): reaction_time_s: 1e+308 is "
                           "out of range")
    assert "quantum_time_s of the quantum verdict" in line


def test_a_quantum_profile_file_out_of_range_is_named_by_its_path(tmp_path: Path):
    f = tmp_path / "q.yaml"
    f.write_text("extends: quantum-ftqc\nname: q\nreaction_time_s: 1.0e308\n", encoding="utf-8")
    line = error_line("estimate", "-H", str(f), "-w", "gpt2-124m", "--format", "json")
    assert "q.yaml: reaction_time_s: 1e+308 is out of range" in line
    p = load_profile("quantum-ftqc")
    no_degree = p.model_copy(update={"speedup": p.speedup.model_copy(update={"degree": None})})
    with pytest.raises(CostsimError) as err:  # a profile field of the verdict is the profile's, not the workload's
        api.quantum_estimate(no_degree, "gpt2-124m")
    assert err.value.field == "hardware.speedup.degree" and err.value.source is None


def test_a_surface_code_that_overflows_is_refused_naming_the_profile_field():
    line = error_line("estimate", "-H", "quantum-ftqc", "-w", "gpt2-124m", "--set", "hardware.code_cycle_s=1e308")
    assert ": code_cycle_s: 1e+308 is out of range" in line and "toffoli_time_s" in line


def test_an_unbounded_amdahl_limit_is_none_not_infinity():
    result = cli_runner().invoke(main, ["estimate", "-H", "quantum-ftqc", "-w", "gpt2-124m", "--set",
                                        "hardware.speedup.workload_fraction=1", "--format", "json"])
    assert result.exit_code == 0, result.output
    out = strict_json(result.stdout)
    assert out["verdict"]["amdahl_limit_speedup"] is None


def test_a_breakeven_degree_too_near_one_is_refused_naming_the_degree():
    with pytest.raises(OutOfRangeError) as err:
        api.quantum_breakeven(degrees=(1.0001,))
    assert err.value.field == "degrees" and "problem_size" in err.value.problem
    assert "--degree: " in error_line("quantum", "breakeven", "--degree", "1.0001")
    with pytest.raises(OutOfRangeError) as err:
        api.quantum_breakeven(toffolis_per_step=1e308)
    assert err.value.field == "toffolis_per_step"
    strict_json(json.dumps(api.quantum_breakeven()))  # the defaults stay finite


# ---------------------------------------------------------------- case 9: no numpy warning on stderr
def test_a_tdp_that_overflows_the_energy_prints_no_runtime_warning():
    line = error_line("estimate", "-H", "k80", "-w", "gpt2-124m", "--set", "hardware.power.tdp_watts=1e308")
    assert "does not fit" in line  # the k80 is too small for the batch: that is the one line


def test_the_guard_keeps_numpy_quiet_and_reports_instead():
    profile = load_profile("h200").model_copy(update={"memory_bandwidth_bytes_per_s": 1e-300})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(OutOfRangeError) as err:
            estimate_run(profile, load_workload("gpt2-124m"))
    assert err.value.field == "hardware.memory_bandwidth_bytes_per_s"


# ---------------------------------------------------------------- case 13: "does not fit" names both inputs
def test_does_not_fit_names_the_profiles_memory_beside_the_workloads_needs():
    line = error_line("estimate", "-H", "h200", "-w", "gpt2-124m", "--set", "hardware.memory_bytes=1e9")
    assert line.startswith(f"costsim: error: {GPT2}: training.global_batch_size: does not fit")
    assert "needs " in line and f"but h200 has 1.0 GB (memory_bytes in {H200})" in line


def test_does_not_fit_names_the_profile_file_that_made_the_device_small(tmp_path: Path):
    small = tmp_path / "small.yaml"
    small.write_text("extends: h200\nname: h200-small\nmemory_bytes: 1.0e9\n", encoding="utf-8")
    line = error_line("estimate", "-H", str(small), "-w", "gpt2-124m")
    assert f"memory_bytes in {small.resolve()}" in line or f"memory_bytes in {small}" in line
    assert ": training.global_batch_size: does not fit" in line


def test_a_peak_memory_beyond_a_float_is_refused_not_printed_as_inf():
    wl = load_workload("gpt2-124m").model_copy(update={"d_model": 10 ** 200})
    with pytest.raises(OutOfRangeError) as err:
        estimate_run(load_profile("h200"), wl)
    assert err.value.field == "workload.d_model" and "inf" not in err.value.problem


def test_the_short_reason_of_a_run_that_does_not_fit_is_unchanged():
    rows = api.compare(["rtx-2080-ti"], "gpt2-124m", fit="strict")
    assert rows[0].reason.startswith("does not fit: needs ") and ", has 11 GB" in rows[0].reason
    assert "memory_bytes in rtx-2080-ti (bundled hardware profile)" in rows[0].problem
    assert len(rows[0].reason) < 100
    with pytest.raises(OutOfMemoryError) as err:
        estimate_run(load_profile("rtx-2080-ti"), load_workload("gpt2-124m"))
    assert "the profile's memory_bytes" in err.value.problem  # no file known below the API


# ---------------------------------------------------------------- the guard itself
def test_require_finite_passes_finite_results_through_and_names_the_first_that_is_not():
    result = {"a": 1.0, "b": {"c": [2.0, None, True]}, "d": "text"}
    assert require_finite(result, "x", {}) is result
    with pytest.raises(OutOfRangeError) as err:
        require_finite({"a": 1.0, "b": {"c": [2.0, math.nan]}}, "the thing", {"hardware": {"f": 1e40, "g": 2.0}})
    assert err.value.field == "hardware.f"
    assert err.value.problem == "1e+40 is out of range: b.c.1 of the thing comes out undefined (not a number)"


def test_the_guard_ranks_inputs_by_orders_of_magnitude_from_one():
    ranked = extreme_inputs({"hardware": {"big": 1e300, "tiny": 1e-310, "one": 1.0}, "": {"devices": 8}})
    assert [p for p, _, _ in ranked][:2] == ["hardware.tiny", "hardware.big"]
    err = refusal("the estimate", "step_time_s", math.inf, {"": {"devices": 8}, "workload": {"layers": 96}})
    assert err.field == "workload.layers" and "overflow a float" in err.problem


def test_guarded_turns_an_overflow_into_the_refusal_and_lets_a_plain_bug_through():
    with pytest.raises(OutOfRangeError, match="cannot be computed in floating point"):
        with guarded("the estimate", {"workload": {"layers": 10 ** 400}}):
            float(10 ** 400)
    with pytest.raises(ZeroDivisionError):  # no input out of range: a division by zero is a bug, not input
        with guarded("the estimate", {"workload": {"layers": 12}}):
            _ = 1 / 0
    with pytest.raises(CostsimError, match="own"):  # the computation's own errors pass unchanged
        with guarded("the estimate", {}):
            raise CostsimError("its own", field="x")
