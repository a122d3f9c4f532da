"""costsim calibrate: fit someone else's measurement file; measure this CPU into a profile whose
measured, fitted and borrowed fields say which they are; refuse a fit that is off; and, on
measurements synthesised from a known CPU, recover it end to end."""
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import simulator.api.calibration as measure  # the API's own names: what it calls
from cli.main import main
from simulator import estimate, load_profile
from simulator.calibration.cases import Case, gemm_cases, predict
from simulator.calibration.fit import fit
from simulator.calibration.measure_cpu import Plan, gemm_points
from simulator.calibration.measure_cuda import measure_cuda
from simulator.model.ops import Op
from simulator.schema.hardware import EfficiencyCurve, PeakRates

ROOT = Path(__file__).resolve().parents[2]
H200 = ROOT.parent / "shared" / "calibration" / "h200"
MLP_SIZES = [1024, 2048, 2048, 1000]
MLP_BATCH = 256


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
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(measure, "measure_cpu", interrupted)
    out = tmp_path / "cpu.yaml"
    result = run("calibrate", "--device", "cpu", "--quick", "--out", str(out))
    assert result.exit_code != 0
    assert not out.exists() and not list(tmp_path.iterdir())


# ---------------------------------------------------------------- --device cpu on this machine
# What CI checks here is what holds on any machine, loaded or not: the profile is written, its
# measured fields are this machine's, every field is sourced, borrowed ones are marked, no price
# comes along. Whether it predicts a real training step within 25% depends on how steady the
# machine's speed is, and is measured by benchmarks/bench_calibrate_cpu.py, not asserted in CI.
def leaf_paths(data, prefix=""):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from leaf_paths(value, f"{prefix}{key}.")
        else:
            yield prefix + key


@pytest.fixture(scope="module")
def this_cpu(tmp_path_factory):
    """One quick calibration of this machine, forced (so that a loaded CI machine still writes it)."""
    out = tmp_path_factory.mktemp("cpu") / "this-cpu.yaml"
    result = run("calibrate", "--device", "cpu", "--quick", "--force", "--quiet", "--out", str(out))
    assert result.exit_code == 0, result.output
    return out, result


def test_calibrated_cpu_profile_measures_this_machine(this_cpu):
    out, result = this_cpu
    assert result.stdout.strip() == str(out)
    assert not re.search(r"^gemm +\d+ cases", result.stderr, re.M)  # --quiet: no fit-quality lines
    p = load_profile(str(out))
    assert p.kind == "cpu" and p.name == "this-cpu" and "extends:" not in out.read_text()
    assert p.peak_dense_flops_per_s.fp32 > 0 and p.peak_dense_flops_per_s.fp64 > 0
    assert p.peak_dense_flops_per_s.bf16 is None  # not measured: not claimed
    assert p.memory_bandwidth_bytes_per_s > 0 and p.kernel_launch_overhead_s > 0
    assert p.memory_bytes == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")  # not the Xeon's 549.8 GB
    assert p.devices_per_node == 1
    cpus = len(os.sched_getaffinity(0))
    assert f"{cpus} logical CPUs allowed to the process" in p.notes and " threads (" in p.notes


def test_calibrated_cpu_profile_sources_every_field_and_marks_the_borrowed_ones(this_cpu):
    out, _ = this_cpu
    raw = yaml.safe_load(out.read_text())
    sources = raw["sources"]
    fields = {f: s for s in sources for f in s["fields"]}
    for path in leaf_paths({k: v for k, v in raw.items() if k not in ("name", "kind", "description", "notes",
                                                                        "sources")}):
        assert any(path == f or path.startswith(f + ".") for f in fields), f"{path} has no source"
    assert fields["peak_dense_flops_per_s"]["status"] == "measured"
    assert fields["memory_bytes"]["status"] == "measured"
    assert fields["efficiency.gemm"]["status"] == "fitted"
    for borrowed in ("inter_node_link", "efficiency.attention", "power.compute_bound_fraction"):
        assert fields[borrowed]["status"] == "assumption" and "Borrowed from xeon-8480" in fields[borrowed]["cite"]


def test_calibrated_cpu_profile_has_no_price_and_power_scaled_to_the_cpus_used(this_cpu):
    out, _ = this_cpu
    p, xeon = load_profile(str(out)), load_profile("xeon-8480")
    assert p.purchase_price_usd is None and p.cloud_price_usd_per_hour is None
    used = min(len(os.sched_getaffinity(0)), int(re.search(r"on (\d+) threads", p.notes).group(1)))
    assert p.power.tdp_watts == pytest.approx(xeon.power.tdp_watts * used / 112, rel=1e-5)
    assert p.power.idle_watts == pytest.approx(xeon.power.idle_watts * used / 112, rel=1e-5)
    power_source = next(s for s in p.sources if "power.tdp_watts" in s.fields)
    assert f"scaled by the {used} logical CPUs used here over its 112" in power_source.note
    # an estimate on it says there is no price, in one line, instead of pricing a 56-core socket
    result = run("estimate", "-H", str(out), "-w", "gpt2-124m")
    assert "Traceback" not in result.output and "4.284" not in result.output
    if result.exit_code:
        assert result.exit_code == 2 and "price" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    priced = estimate(str(out), "gpt2-124m", sets=["hardware.cloud_price_usd_per_hour=0.1"])
    assert priced.step_time_s > 0 and priced.device_energy_per_step_joules > 0


# ---------------------------------------------------------------- --device cpu on recorded numbers
# The same command on measurements synthesised from a known CPU, so that the fit, the refusal and the
# profile's contents can be checked exactly, whatever the machine's load.
MLP_WORKLOAD = {"name": "numpy-mlp", "kind": "mlp", "input_dim": MLP_SIZES[0], "hidden_dims": MLP_SIZES[1:-1],
                "classes": MLP_SIZES[-1], "training": {"global_batch_size": MLP_BATCH, "steps": 1,
                                                       "precision": "fp32", "optimizer": "sgd"}}


def known_cpu():
    """A 2-vCPU Xeon slice whose curves are known: what the synthetic measurements come from."""
    xeon = load_profile("xeon-8480")
    eff = xeon.efficiency.model_copy(update={
        "gemm": EfficiencyCurve(max_fraction=0.9, half_saturation_s=4e-6, exponent=0.6),
        "memory": EfficiencyCurve(max_fraction=0.8, half_saturation_s=2e-6, exponent=1.0),
        "gemm_epilogue_fraction": 0.1})
    return xeon.model_copy(update={
        "peak_dense_flops_per_s": PeakRates(fp32=3.2e11, fp64=1.6e11), "memory_bandwidth_bytes_per_s": 2.6e10,
        "kernel_launch_overhead_s": 7e-7, "efficiency": eff})


def synthetic_records(truth, model="Intel(R) Xeon(R) Processor", cpus=2, scramble=False):
    """Records in measure_cpu's format whose times are the model's on ``truth``; ``scramble``: GEMM
    times alternately 4x slower and 4x faster, as a machine whose speed jumps while it is measured."""
    env = {"kind": "env", "run": "cpu", "device": model, "cpus_allowed": cpus, "cpu_count": cpus,
           "memory_bytes": 8 * 2**30, "l3_bytes": None, "blas_threads": cpus, "blas_threads_from": "test",
           "numpy": np.__version__, "blas": "test", "quick": True, "when": "2026-01-01T00:00:00Z"}
    records = [env]
    for i, (dtype, m, n, k) in enumerate(gemm_points(Plan.default(quick=True))):
        row = {"kind": "gemm", "run": "cpu", "dtype": dtype, "m": m, "n": n, "k": k, "seconds": 1.0,
               "flops": 2.0 * m * n * k}
        t = predict(gemm_cases([row])[0], truth, {}) * ((4.0 if i % 2 else 0.25) if scramble else 1.0)
        records.append({**row, "seconds": t, "flops_per_s": row["flops"] / t})
    for mib in Plan.default(quick=True).stream_mib:
        nbytes = mib * 2**20
        for kind, moved in (("copy", 2 * nbytes), ("read_reduce", nbytes), ("triad", 3 * nbytes)):
            t = predict(Case(kind, "memory", "cpu", (Op(kind, "elementwise", 0.0, moved, "fp32"),), 1.0), truth, {})
            records.append({"kind": kind, "run": "cpu", "bytes_moved": moved, "seconds": t, "bytes_per_s": moved / t})
    records.append({"kind": "launch_overhead", "run": "cpu", "what": "tiny elementwise kernel, numpy, back to back",
                    "calls": 5000, "seconds_per_call": truth.kernel_launch_overhead_s})
    return records


@pytest.fixture
def measured_as(monkeypatch):
    def use(records):
        monkeypatch.setattr(measure, "measure_cpu", lambda *a, **k: [dict(r) for r in records])
        monkeypatch.setattr(measure, "read_cpu_model", lambda: records[0]["device"])
    return use


def test_calibration_recovers_a_known_cpu_and_predicts_its_training_step(tmp_path, measured_as):
    truth = known_cpu()
    measured_as(synthetic_records(truth))
    out = tmp_path / "known.yaml"
    result = run("calibrate", "--device", "cpu", "--quick", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "WARNING" not in out.read_text()
    gemm_line = next(line for line in result.stderr.splitlines() if line.startswith("gemm"))
    assert float(re.search(r"median \|error\| +([\d.]+)%", gemm_line).group(1)) < 5
    calibrated = load_profile(str(out))
    assert calibrated.memory_bytes == 8 * 2**30
    price = ["hardware.cloud_price_usd_per_hour=0.1"]
    predicted = estimate(str(out), MLP_WORKLOAD, sets=price).step_time_s
    expected = estimate(truth.model_dump(exclude={"efficiency_from"}, exclude_none=True), MLP_WORKLOAD,
                        sets=price).step_time_s
    assert predicted == pytest.approx(expected, rel=0.05)


def test_calibration_whose_fit_is_off_is_refused_in_one_line(tmp_path, measured_as):
    measured_as(synthetic_records(known_cpu(), scramble=True))
    out = tmp_path / "bad.yaml"
    result = run("calibrate", "--device", "cpu", "--quick", "--out", str(out))
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(r"gemm fit off by [\d.]+% .*above its 25% bound", lines[0])
    assert "--force" in lines[0] and not out.exists()


def test_forced_calibration_is_written_with_a_warning_in_the_file(tmp_path, measured_as):
    measured_as(synthetic_records(known_cpu(), scramble=True))
    out = tmp_path / "forced.yaml"
    result = run("calibrate", "--device", "cpu", "--quick", "--force", "--out", str(out))
    assert result.exit_code == 0 and "warning: written with --force: gemm fit off by" in result.stderr
    text = out.read_text()
    assert text.splitlines()[1].startswith("# WARNING: written with --force although the fit is worse than its "
                                           "bound: gemm fit off by")
    assert load_profile(str(out)).notes.startswith("WARNING: written with --force")


def test_keep_price_borrows_the_base_price_and_says_so(tmp_path, measured_as):
    measured_as(synthetic_records(known_cpu()))
    out = tmp_path / "priced.yaml"
    assert run("calibrate", "--device", "cpu", "--quick", "--keep-price", "--quiet", "--out", str(out)).exit_code == 0
    p, xeon = load_profile(str(out)), load_profile("xeon-8480")
    assert p.cloud_price_usd_per_hour == xeon.cloud_price_usd_per_hour
    assert p.purchase_price_usd == xeon.purchase_price_usd
    src = next(s for s in p.sources if "cloud_price_usd_per_hour" in s.fields)
    assert src.status == "assumption" and "Borrowed from xeon-8480" in src.cite and "not of the 2" in src.note


def test_power_of_another_family_is_scaled_but_marked_as_an_assumption(tmp_path, measured_as):
    measured_as(synthetic_records(known_cpu(), model="AMD EPYC 7B13", cpus=4))
    out = tmp_path / "epyc.yaml"
    assert run("calibrate", "--device", "cpu", "--quick", "--quiet", "--out", str(out)).exit_code == 0
    p = load_profile(str(out))
    assert p.power.tdp_watts == pytest.approx(350 * 4 / 112)
    src = next(s for s in p.sources if "power.tdp_watts" in s.fields)
    assert src.status == "assumption" and "is not a Xeon" in src.note


def test_cuda_measurement_code_runs_in_smoke_mode_and_feeds_the_fit():
    """Where PyTorch is installed (an optional extra), the --device cuda measurement code runs on the
    CPU at tiny sizes, and its records are in the format the fit reads."""
    pytest.importorskip("torch")
    records = measure_cuda(quick=True, smoke=True)
    kinds = {r["kind"] for r in records}
    assert {"env", "gemm", "copy", "read_reduce", "elementwise_add", "launch_overhead"} <= kinds
    result = fit(load_profile("h200"), records)
    assert result.efficiency.gemm != load_profile("h200").efficiency.gemm
