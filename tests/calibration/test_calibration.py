"""The H200 profile is reproducible from the shared microbenchmarks, and the fit never sees the
training steps it is validated on."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from simulator.calibration.fit import FIT_BOUNDS_MEDIAN_FRACTION, fit, fit_bound_failures
from simulator.calibration.measure_cpu import Plan, blas_info, interleaved_times, machine_info
from simulator.calibration.profile_text import scaled_power
from simulator.files.loader import load_profile

ROOT = Path(__file__).resolve().parents[2]


def test_fit_script_reproduces_the_bundled_h200_profile(h200_records):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "fit_h200.py"), "--check"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "profile is up to date" in result.stdout


def test_fit_ignores_training_steps(h200_records):
    measurements, operators = h200_records
    base = load_profile("h200")
    with_train = fit(base, measurements + operators)
    without = fit(base, [r for r in measurements if r["kind"] != "train"] + operators)
    assert with_train.efficiency == without.efficiency
    assert with_train.power == without.power


def test_fitted_values_are_physical(h200_records):
    p = load_profile("h200")
    e = p.efficiency
    # the achieved fractions of peak lie in (0, 1] and the sustained GEMM sits below the burst one
    for curve in (e.gemm, e.attention, e.attention_backward, e.conv, e.memory):
        assert 0 < curve.max_fraction <= 1
    assert 0.8 < e.memory.max_fraction <= 0.95  # copies reach ~4.2 of 4.8 TB/s
    assert 0.7 < e.gemm.max_fraction < 0.85  # burst: about 750 of 989 TFLOP/s
    assert 0.85 < e.sustained_compute_fraction < 0.92  # sustained 658 TFLOP/s under the power limit
    assert p.power.idle_watts < p.power.tdp_watts
    assert p.power.memory_bound_fraction < p.power.compute_bound_fraction
    assert 1e-6 < p.kernel_launch_overhead_s < 1e-4


def test_fit_residuals_of_the_gemm_sweep_are_small(h200_records):
    measurements, operators = h200_records
    result = fit(load_profile("h200"), measurements + operators)
    errors = sorted(abs(r["model_s"] / r["measured_s"] - 1) for r in result.residuals if r["group"] == "gemm")
    assert errors[len(errors) // 2] < 0.10  # median
    assert errors[-1] < 0.30  # worst


def test_fit_does_not_depend_on_the_base_profiles_curves(h200_records):
    measurements, operators = h200_records
    h200 = load_profile("h200")
    a100 = load_profile("a100-sxm-80gb")  # other curves would only change the starting point
    other = h200.model_copy(update={"efficiency": a100.efficiency.model_copy(
        update={"gemm": a100.efficiency.gemm.model_copy(update={"max_fraction": 0.3})})})
    assert fit(h200, measurements + operators).efficiency == fit(other, measurements + operators).efficiency


def test_groups_without_measurements_keep_the_base_values(h200_records):
    measurements, _ = h200_records
    base = load_profile("h200")
    result = fit(base, measurements)  # no operator rows: no attention, conv, classes, power windows
    assert result.efficiency.attention == base.efficiency.attention
    assert result.efficiency.memory_class_fraction == base.efficiency.memory_class_fraction
    assert result.power == base.power
    assert any("kept from the base profile" in n for n in result.notes)


# ---------------------------------------------------------------- fit bound and CPU profile pieces
def test_the_bundled_h200_fit_is_within_the_bounds_a_calibration_is_refused_at(h200_records):
    measurements, operators = h200_records
    assert FIT_BOUNDS_MEDIAN_FRACTION == {"gemm": 0.25, "memory": 0.50}
    assert fit_bound_failures(fit(load_profile("h200"), measurements + operators)) == []


def test_power_is_scaled_to_the_cpus_used_only_where_the_base_is_bigger():
    xeon = load_profile("xeon-8480")
    power, status, note = scaled_power(xeon, "xeon-8480", 8, "Intel(R) Xeon(R) Platinum 8375C")
    assert (power.tdp_watts, power.idle_watts, power.host_per_device_watts) == (25.0, 4.5, 150 * 8 / 112)
    assert power.compute_bound_fraction == xeon.power.compute_bound_fraction
    assert status == "estimate" and "same family (Xeon)" in note
    power, status, note = scaled_power(xeon, "xeon-8480", 112, "Intel(R) Xeon(R) Platinum 8480+")
    assert power == xeon.power and status == "assumption" and "unscaled" in note
    power, status, note = scaled_power(xeon, "my-own-cpu", 2, "Intel(R) Xeon(R) Processor")
    assert power == xeon.power and status == "assumption" and "does not know" in note


def test_machine_info_reports_the_cpus_this_process_may_use_and_the_memory():
    info = machine_info()
    assert info["cpus_allowed"] == len(os.sched_getaffinity(0)) <= info["cpu_count"]
    assert info["memory_bytes"] == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def test_blas_thread_count_comes_from_the_environment_when_the_library_is_not_asked(monkeypatch):
    if importlib.util.find_spec("threadpoolctl"):
        assert blas_info(2)["blas_threads_from"] == "threadpoolctl"
        return
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    assert (blas_info(2)["blas_threads"], blas_info(2)["blas_threads_from"]) == (3, "environment OPENBLAS_NUM_THREADS")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    assert blas_info(5)["blas_threads"] == 5 and blas_info(5)["blas_threads_from"].startswith("assumed")


def test_interleaved_sweep_times_every_point_in_every_round():
    calls, rounds = [], []
    plan = Plan((), (), 1, (), (), rounds=4, min_rounds=2, budget_s=1e9)
    times = interleaved_times([lambda: calls.append("a"), lambda: calls.append("b")], plan, rounds.append)
    assert [len(t) for t in times] == [4, 4] and rounds == [1, 2, 3, 4]
    assert calls == ["a", "a", "b", "b"] * 4  # an untimed call, then the timed one, point after point
