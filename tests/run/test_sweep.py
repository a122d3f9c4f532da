"""Sweeps: every row equals the single estimate at its point; infeasible points stay with their reason;
local processes and Dask give the rows of the serial run; bad sweep files are one line."""
import csv
import io
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from simulator import api
from simulator.errors import CostsimError

ROOT = Path(__file__).resolve().parents[2]
SPEC = dict(hardware=["h200", "v100-sxm2"], workloads=["gpt2-124m"], devices=[1, 3, 8],
            strategies=["none", "quantize:fp8"], regions=["world", "france"], pue=[1.1, 1.58],
            pricing=["cloud", "owned"])


@pytest.fixture(scope="module")
def rows():
    return api.sweep(**SPEC).rows


def test_grid_size_and_columns(rows):
    assert len(rows) == 2 * 1 * 3 * 2 * 2 * 2 * 2
    assert {"hardware", "devices", "strategy", "region", "grid_g_co2_per_kwh", "pue", "pricing_requested", "pricing",
            "total_time_s", "cost_usd", "co2_kg", "energy_joules", "peak_memory_bytes", "problem"} <= set(rows[0])
    assert not {"time_s", "grid", "pricing_used"} & set(rows[0])  # the old names are gone


@pytest.mark.parametrize("hw,n,strategy,region,pue,pricing", [
    ("h200", 8, "none", "france", 1.1, "owned"),
    ("v100-sxm2", 1, "none", "world", 1.58, "cloud"),
    ("h200", 1, "quantize:fp8", "world", 1.1, "cloud"),
])
def test_every_row_equals_the_estimate_at_its_point(rows, hw, n, strategy, region, pue, pricing):
    row = [r for r in rows if (r["hardware"], r["devices"], r["strategy"], r["region"], r["pue"],
                               r["pricing_requested"]) == (hw, n, strategy, region, pue, pricing)][0]
    if strategy == "none":
        e = api.estimate(hw, "gpt2-124m", devices=n, region=region, pue=pue, pricing=pricing).model_dump()
        shared = set(row) & set(e)  # every column named as an estimate JSON key holds the estimate's value
        assert {"total_time_s", "energy_joules", "cost_usd", "co2_kg", "step_time_s", "pricing", "plan",
                "device_hours", "peak_memory_bytes", "mfu_fraction"} <= shared
        for k in shared:
            if isinstance(e[k], float):
                assert row[k] == pytest.approx(e[k], rel=1e-12), k
            else:
                assert row[k] == e[k], k
    else:
        s = api.strategies(hw, "gpt2-124m", [strategy], devices=n, region=region, pue=pue, pricing=pricing)[-1]
        expected = {"total_time_s": s.time_s, "energy_joules": s.energy_joules, "cost_usd": s.cost_usd,
                    "co2_kg": s.co2_kg}
        for k, v in expected.items():
            assert row[k] == pytest.approx(v, rel=1e-12), k


def test_infeasible_points_stay_with_their_reason(rows):
    bad = [r for r in rows if r["devices"] == 3]
    assert bad and all(r["cost_usd"] is None and "does not split evenly" in r["problem"] for r in bad)
    assert all(r["problem"] is None for r in rows if r["devices"] != 3)


def test_workers_and_dask_give_the_serial_rows(rows):
    distributed = pytest.importorskip("distributed")
    assert api.sweep(**SPEC, workers=2).rows == rows
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as c:
        assert api.sweep(**SPEC, executor="dask", scheduler=c.scheduler_address).rows == rows
        e, serial = api.simulate("h200", "gpt2-124m", replicas=4, seed=7, mtbf_hours=20, straggler_cv_fraction=0.05,
                                 devices=8)
        _, remote = api.simulate("h200", "gpt2-124m", replicas=4, seed=7, mtbf_hours=20, straggler_cv_fraction=0.05,
                                 devices=8, executor="dask", scheduler=c.scheduler_address)
        assert remote == serial


def test_unreachable_scheduler_fails_within_the_timeout():
    pytest.importorskip("distributed")
    start = time.monotonic()
    with pytest.raises(CostsimError, match="could not reach the Dask scheduler"):
        list(api.sweep_cores(api.sweep_spec(hardware=["h200"], workloads=["gpt2-124m"]), executor="dask",
                             scheduler="tcp://127.0.0.1:9", timeout_s=2))
    assert time.monotonic() - start < 30


def test_what_if_and_field_axes():
    r = api.sweep({"hardware": [{"name": "h100-2x", "base": "h100-sxm", "set": {"memory_bandwidth_bytes_per_s": "*2"}}],
                   "workloads": ["gpt2-124m"], "set": {"global_batch_size": [8, 16]}}).rows
    assert [x["set.global_batch_size"] for x in r] == [8, 16] and r[0]["hardware"] == "h100-2x"
    e = api.estimate("h100-sxm", "gpt2-124m", sets=["hardware.memory_bandwidth_bytes_per_s=*2", "global_batch_size=8"])
    assert r[0]["cost_usd"] == pytest.approx(e.cost_usd, rel=1e-12)


def test_formats(tmp_path):
    for fmt, ext in (("csv", "csv"), ("jsonl", "jsonl"), ("markdown", "md"), ("latex", "tex")):
        out = tmp_path / f"s.{ext}"
        r = CliRunner().invoke(main, ["sweep", "-H", "h200,v100-sxm2", "-w", "gpt2-124m", "--devices", "1,8",
                                      "--out", str(out), "--quiet"])
        assert r.exit_code == 0, r.output
        text = out.read_text()
        assert "4 rows written" in r.output
        if fmt == "csv":
            assert len(list(csv.DictReader(io.StringIO(text)))) == 4
        if fmt == "latex":
            assert text.startswith("\\begin{tabular}") and text.rstrip().endswith("\\end{tabular}")
            assert "cost\\_usd" in text


@pytest.mark.parametrize("text,message", [
    ("hardware: [h200]\nworkloads: [gpt2-124m]\ncolour: [red]\n", "unknown axis"),
    ("hardware: []\nworkloads: [gpt2-124m]\n", "empty grid"),
    ("hardware:\n  - h200\n  - a100-sxm-80gb\n  - h9000\nworkloads: [gpt2-124m]\n", "(line 4)"),
    ("hardware: [h200]\nworkloads: [gpt2-124m]\nregions: [mars]\n", "unknown region"),
])
def test_bad_sweep_file_is_one_line(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    r = CliRunner().invoke(main, ["sweep", str(path)])
    assert r.exit_code == 2
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and message in lines[0] and str(path) in lines[0]


def test_interrupted_sweep_keeps_the_rows_written(tmp_path):
    """Ctrl-C part way: exit status 130, and every row written so far is whole."""
    out = tmp_path / "rows.csv"
    spec = tmp_path / "big.yaml"
    spec.write_text("hardware: [h200, a100-sxm-80gb, v100-sxm2, h100-sxm, tpu-v5p, tpu-v3, gaudi3]\n"
                    "workloads: [gpt2-124m, gpt-1.3b]\nset: {global_batch_size: [8, 16, 32, 64]}\n"
                    "devices: [1, 2, 4, 8, 16, 32, 64, 128]\nstrategies: [none, quantize:fp8, lowrank:0.5, lora:8]\n")
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "sweep", str(spec), "--out", str(out), "--quiet"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.read_text().count("\n") < 20):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) >= 19 and all(len(r) == len(rows[0]) and None not in r for r in rows)


# ------------------------------------------------------------------------------------- review fixes
def test_price_axis_prices_only_the_rows_own_device():
    row = api.sweep(hardware=["h200"], workloads=["gpt2-124m"], strategies=["hardware:tpu-v3"],
                    cloud_price_usd_per_hour=[1.0]).rows[0]
    moved = api.strategies("h200", "gpt2-124m", ["hardware:tpu-v3"], sets=["hardware.cloud_price_usd_per_hour=1"])
    assert row["cost_usd"] == pytest.approx(moved[-1].cost_usd, rel=1e-12)  # the TPU keeps its own price


def test_a_device_without_prices_is_priced_by_the_price_axis():
    rows = api.sweep(hardware=["xeon-8480"], workloads=["gpt2-124m"], set={"global_batch_size": [1]},
                     cloud_price_usd_per_hour=[3.0], pricing=["cloud"]).rows
    e = api.estimate("xeon-8480", "gpt2-124m", sets=["global_batch_size=1", "hardware.cloud_price_usd_per_hour=3"])
    assert rows[0]["cost_usd"] == pytest.approx(e.cost_usd, rel=1e-12)


@pytest.mark.parametrize("args,message", [
    (["--devices", "abc"], "not a comma-separated list"),
    (["--price", "x"], "not a comma-separated list"),
    (["--pue", "lunar"], "unknown facility class"),
    (["--strategy", "bogus"], "strategies[0]: unknown strategy"),
    (["--strategy", "quantize:fp8+"], "empty strategy"),
    (["--executor", "dask", "--scheduler", "nope"], "could not reach"),
])
def test_bad_sweep_flags_are_one_line(args, message):
    r = CliRunner().invoke(main, ["sweep", "-H", "h200", "-w", "gpt2-124m", *args])
    assert r.exit_code == 2, r.output
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and message in lines[0]


def test_empty_axes_are_refused():
    for axis in ("devices", "strategies", "pricing"):
        with pytest.raises(CostsimError, match="empty grid"):
            api.sweep_spec({"hardware": ["h200"], "workloads": ["gpt2-124m"], axis: []})
