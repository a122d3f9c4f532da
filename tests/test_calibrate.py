"""costsim calibrate: fit someone else's measurement file, measure this CPU, and check the result
end to end against a real numpy training step on the same machine."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import main
from simulator import estimate, load_profile

from .numpy_mlp import median_step_s

ROOT = Path(__file__).resolve().parents[1]
H200 = ROOT.parent / "shared" / "calibration" / "h200"
MLP_SIZES = [1024, 2048, 2048, 1000]
MLP_BATCH = 256
TOLERANCE = 0.25


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_bundled_h200_profile_is_reproduced_exactly_from_the_shared_files(tmp_path, h200_records):
    out = tmp_path / "again.yaml"
    result = run("calibrate", "--from", str(H200 / "measurements.jsonl"), "--from", str(H200 / "operators.jsonl"),
                 "--base", "h200", "--out", str(out))
    assert result.exit_code == 0, result.output
    again, bundled = load_profile(str(out)), load_profile("h200")
    assert again.efficiency == bundled.efficiency
    assert again.power == bundled.power
    assert again.kernel_launch_overhead_s == bundled.kernel_launch_overhead_s


def test_calibrated_profile_extends_its_base_and_records_provenance(tmp_path, h200_records):
    out = tmp_path / "mine.yaml"
    assert run("calibrate", "--from", str(H200 / "operators.jsonl"), "--base", "a100-sxm-80gb",
               "--out", str(out)).exit_code == 0
    text = out.read_text()
    assert "extends: a100-sxm-80gb" in text and "status: fitted" in text
    p = load_profile(str(out))
    assert p.name == "mine" and p.peak_dense_flops_per_s == load_profile("a100-sxm-80gb").peak_dense_flops_per_s


def bad_file(tmp_path, rows):
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def calibrate_error(tmp_path, path):
    result = run("calibrate", "--from", str(path), "--out", str(tmp_path / "out.yaml"))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out.yaml").exists()
    return lines[0]


def test_measurement_with_missing_column_is_one_line(tmp_path):
    path = bad_file(tmp_path, [{"kind": "gemm", "dtype": "bfloat16", "m": 8, "n": 8, "seconds": 1e-5}])
    line = calibrate_error(tmp_path, path)
    assert f"{path}:1" in line and ": k: missing column" in line


def test_measurement_with_zero_time_is_rejected(tmp_path):
    path = bad_file(tmp_path, [{"kind": "copy", "bytes_moved": 1e9, "seconds": 0, "bytes_per_s": 1e12}])
    line = calibrate_error(tmp_path, path)
    assert ": seconds: must be positive" in line


def test_measurement_with_negative_time_is_rejected(tmp_path):
    path = bad_file(tmp_path, [{"kind": "launch_overhead", "what": "tiny", "seconds_per_call": -1e-6}])
    assert ": seconds_per_call: must be positive" in calibrate_error(tmp_path, path)


def test_measurement_in_other_units_is_rejected(tmp_path):
    path = bad_file(tmp_path, [{"kind": "gemm", "dtype": "bfloat16", "m": 8, "n": 8, "k": 8, "seconds": 1e-5,
                                "time_ms": 0.01}])
    assert "time_ms: units do not match the format" in calibrate_error(tmp_path, path)
    path = bad_file(tmp_path, [{"kind": "gemm", "dtype": "bfloat16", "m": 8, "n": 8, "k": 8, "seconds": 1e-5,
                                "flops": 1024.0, "flops_per_s": 1024.0 / 1e-5 / 1e3}])
    assert "flops / seconds != flops_per_s" in calibrate_error(tmp_path, path)


def test_measurement_file_that_is_not_json_lines_names_the_line(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"kind": "copy", "bytes_moved": 1, "seconds": 1, "bytes_per_s": 1}\nnot json\n')
    assert f"{path}:2: not JSON" in calibrate_error(tmp_path, path)


def test_cuda_without_pytorch_or_gpu_is_one_line(tmp_path):
    pytest.importorskip  # noqa: B018 - documents that torch is optional
    try:
        import torch  # noqa: F401

        if torch.cuda.is_available():
            pytest.skip("a GPU is present here")
    except ImportError:
        pass
    result = run("calibrate", "--device", "cuda", "--out", str(tmp_path / "gpu.yaml"))
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "--device" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "gpu.yaml").exists()


def test_interrupted_calibration_writes_no_partial_profile(tmp_path, monkeypatch):
    import simulator.measure as measure

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(measure, "measure_cpu", interrupted)
    out = tmp_path / "cpu.yaml"
    result = run("calibrate", "--device", "cpu", "--quick", "--out", str(out))
    assert result.exit_code != 0
    assert not out.exists() and not list(tmp_path.iterdir())


def test_calibrated_cpu_predicts_a_real_numpy_training_step(tmp_path):
    """End to end on this machine: calibrate the CPU (quick), then time a real numpy MLP training step
    and predict it from the same workload described as data. Medians and warm-up steps on each side;
    a shared machine's speed drifts by tens of percent over seconds, so a failed attempt recalibrates
    and remeasures, up to three times."""
    workload = {"name": "numpy-mlp", "kind": "mlp", "input_dim": MLP_SIZES[0], "hidden_dims": MLP_SIZES[1:-1],
                "classes": MLP_SIZES[-1],
                "training": {"global_batch_size": MLP_BATCH, "steps": 1, "precision": "fp32", "optimizer": "sgd"}}
    errors = []
    for attempt in range(3):
        out = tmp_path / f"this-cpu-{attempt}.yaml"
        proc = subprocess.run([sys.executable, "-m", "cli.main", "calibrate", "--device", "cpu", "--quick",
                               "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        predicted = estimate(str(out), workload, pricing="owned").step_time_s
        measured = median_step_s(MLP_SIZES, MLP_BATCH, np.random.default_rng(attempt))
        errors.append(predicted / measured - 1)
        if abs(errors[-1]) <= TOLERANCE:
            break
    assert abs(errors[-1]) <= TOLERANCE, f"errors over attempts {errors}"


def test_cuda_measurement_code_runs_in_smoke_mode_and_feeds_the_fit():
    """Where PyTorch is installed (an optional extra), the --device cuda measurement code runs on the
    CPU at tiny sizes, and its records are in the format the fit reads."""
    pytest.importorskip("torch")
    from simulator.calibration import fit
    from simulator.measure_cuda import measure_cuda

    records = measure_cuda(quick=True, smoke=True)
    kinds = {r["kind"] for r in records}
    assert {"env", "gemm", "copy", "read_reduce", "elementwise_add", "launch_overhead"} <= kinds
    result = fit(load_profile("h200"), records)
    assert result.efficiency.gemm != load_profile("h200").efficiency.gemm
