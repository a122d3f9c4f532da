"""Issue 13, cases 2, 8 (--seed -1) and 12: a run that cannot make progress is refused before it starts,
with the figures that decide it; no simulation loops for ever; Ctrl-C on any command is one line and
exit status 130, and leaves every file whole or absent.

The commands that could hang run in a subprocess under a time limit, so that a regression fails here
instead of hanging CI."""
from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

import simulator.api.calibration as measure
from cli.main import main
from simulator import api, estimate
from simulator.errors import CostsimError
from simulator.run import des
from simulator.run.des import SimConfig, check_progress, simulate
from tests.conftest import cli_runner

ROOT = Path(__file__).resolve().parents[2]
LIMIT_S = 60  # no command here may take longer: a hang fails the test
GPT2 = ["-H", "h200", "-w", "gpt2-124m"]
# a 90-day GPT-3 175B run on 16,384 H100s (benchmarks/bench_simulate.py's)
BIG_PLAN = "tp=8,pp=16,dp=128,mb=1,zero=1,sp"
BIG_SETS = ["tokens=1.74e13"]


def costsim(*args: str, timeout: float = LIMIT_S) -> subprocess.CompletedProcess:
    """The command line in a fresh process from this checkout, killed after ``timeout`` seconds."""
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# ------------------------------------------------------------------ case 2: runs that cannot make progress
@pytest.mark.parametrize("flags, flag", [
    (["--mtbf-hours", "1e-9"], "--mtbf-hours"),  # the commands
    (["--preemptions-per-hour", "1e6"], "--preemptions-per-hour"),
])
def test_interruptions_faster_than_a_restart_are_refused_at_once(flags, flag):
    t0 = time.perf_counter()
    result = costsim("simulate", *GPT2, *flags)
    assert result.returncode == 2, result.stdout + result.stderr
    line = one_line(result.stderr)
    assert line.startswith(f"costsim: error: {flag}: the run cannot make progress")
    # the figures that decide it: the rate, the interval and its write, the recovery, the expectation
    for part in ("an interruption every", "in each checkpoint interval", "s write", "in each recovery",
                 "60 s detection + 300 s restart", "for each checkpoint saved", "a replica simulates"):
        assert part in line, line
    assert result.stdout == ""
    assert time.perf_counter() - t0 < 30


@pytest.mark.parametrize("flags, flag, says", [
    # devices fail every 36 s but a restart takes 360 s
    (["--mtbf-hours", "0.01"], "--mtbf-hours", "cannot make progress"),
    # the smallest positive MTBF: interruptions at every instant
    (["--mtbf-hours", "5e-324"], "--mtbf-hours", "cannot make progress"),
    # a checkpoint a day against failures every 6 minutes, where the Young/Daly interval would do
    (["--mtbf-hours", "0.1", "--checkpoint-interval-s", "86400"], "--checkpoint-interval-s", "cannot make progress"),
    # a checkpoint every nanosecond: one per step, and writes of 0.15 s each
    (["--checkpoint-interval-s", "1e-9", "--set", "tokens=1e13"], "--checkpoint-interval-s", "too long to simulate"),
    # a billion-hour queue while devices fail: the idle job's failure clock ticks all along
    (["--mtbf-hours", "1", "--queue-wait-hours", "1e9"], "--queue-wait-hours", "too long to simulate"),
    # a checkpoint write of 1e300 s
    (["--storage-gb-per-s", "1e-300", "--checkpoint-interval-s", "1000"], "--storage-gb-per-s", "would last"),
    # straggler noise that makes one step last longer than any count
    (["--straggler-cv", "1e300", "--devices", "8"], "--straggler-cv", "would last"),
])
def test_every_other_way_to_run_for_ever_is_refused_with_its_flag(flags, flag, says):
    result = costsim("simulate", *GPT2, *flags)
    assert result.returncode == 2, result.stdout + result.stderr
    line = one_line(result.stderr)
    assert line.startswith(f"costsim: error: {flag}: ") and says in line, line


def test_the_core_names_the_parameter_not_the_flag():
    with pytest.raises(CostsimError) as err:
        api.simulate("h200", "gpt2-124m", mtbf_hours=1e-9)
    assert err.value.field == "mtbf_hours" and "cannot make progress" in err.value.problem
    with pytest.raises(CostsimError) as err:
        api.simulate("h200", "gpt2-124m", preemptions_per_hour=1e6, mtbf_hours=1e6)
    assert err.value.field == "preemptions_per_hour"


def test_the_interval_sweep_names_itself_where_one_of_its_intervals_is_refused(monkeypatch):
    real = des.check_progress

    def refuse_the_sweeps_intervals(e, cfg):
        if cfg.checkpoint_interval_s:
            raise CostsimError("the run cannot make progress", field="checkpoint_interval_s")
        real(e, cfg)

    monkeypatch.setattr(des, "check_progress", refuse_the_sweeps_intervals)
    result = cli_runner().invoke(main, ["simulate", *GPT2, "--mtbf-hours", "2", "--interval-sweep", "--quiet"])
    assert result.exit_code == 2, result.output
    line = one_line(result.stderr)
    assert line.startswith("costsim: error: --interval-sweep: at 0.25 times the Young/Daly interval (")
    assert line.endswith(" s): the run cannot make progress")


def test_a_merely_slow_run_still_finishes_quickly():
    """The boundary: half an interruption expected per checkpoint interval (measured: milliseconds)."""
    t0 = time.perf_counter()
    e, mc = api.simulate("h200", "gpt2-124m", mtbf_hours=2, checkpoint_interval_s=3600, replicas=5, seed=0)
    assert (mc.checkpoint_interval_s + mc.checkpoint_write_s) / mc.system_mtbf_s == pytest.approx(0.5, rel=0.01)
    assert mc.failures.p50 > 0 and mc.wall_time_s.p50 > e.total_time_s
    assert time.perf_counter() - t0 < 10


def test_a_large_run_at_half_an_interruption_per_interval_finishes_and_matches_the_expectation():
    """16,384 devices for 90 days, an interruption every 28 minutes: about 12,000 of them per replica
    (measured: 0.1-0.2 s a replica); the check's expectation (Daly 2006) is what the simulation finds."""
    t0 = time.perf_counter()
    e, mc = api.simulate("h100-sxm", "gpt3-175b", plan=BIG_PLAN, sets=BIG_SETS, mtbf_hours=7646, replicas=3)
    assert time.perf_counter() - t0 < 30
    x = (mc.checkpoint_interval_s + mc.checkpoint_write_s) / mc.system_mtbf_s
    assert 0.45 < x < 0.6
    cfg = SimConfig(mtbf_hours=7646, checkpoint_bytes=mc.checkpoint_write_s * 10e9)
    log_expected, segments, _ = des._log_interruptions(e, cfg, des.Segments.of(e, cfg), mc.system_mtbf_s)
    assert mc.failures.mean == pytest.approx(math.exp(log_expected), rel=0.05)
    assert segments == pytest.approx(e.total_time_s / mc.checkpoint_interval_s, rel=0.01)


def test_a_replica_past_the_bounds_is_stopped_with_one_line(monkeypatch):
    """The guard behind the check: whatever the check misses, a replica cannot run for ever."""
    e = estimate("h200", "gpt2-124m")
    cfg = SimConfig(mtbf_hours=0.5, checkpoint_bytes=1.5e9)
    check_progress(e, cfg)  # a valid run: a few hundred events
    monkeypatch.setattr(des, "MAX_RUN_EVENTS", 50)
    with pytest.raises(CostsimError) as err:
        simulate(e, cfg, np.random.default_rng(0))
    assert err.value.field == "mtbf_hours" and "stopped after 51 simulated events" in err.value.problem
    monkeypatch.setattr(des, "MAX_RUN_EVENTS", 10**9)
    monkeypatch.setattr(des, "MAX_RUN_INTERRUPTIONS", 2)
    with pytest.raises(CostsimError, match="3 interruptions"):
        simulate(e, cfg, np.random.default_rng(0))


def test_valid_runs_are_not_refused_and_unchanged():
    """The golden results hold the seeded GPT-3 run; here, that the checks pass the documented runs and
    that a failure-free run still equals the closed form."""
    e, mc = api.simulate("h100-sxm", "gpt3-175b", plan="tp=8,pp=8,dp=16,mb=2,zero=1,sp", mtbf_hours=50000,
                         straggler_cv_fraction=0.02, replicas=2, seed=1)
    assert mc.failures.mean > 0
    e, mc = api.simulate("h200", "gpt2-124m", checkpoint_interval_s=1e-9, replicas=1)  # one write per step
    assert mc.wall_time_s.p50 > e.total_time_s
    e, mc = api.simulate("h200", "gpt2-124m", checkpoint_interval_s=1e300)  # longer than the run: one segment
    assert mc.wall_time_s.p50 == e.total_time_s


# ------------------------------------------------------------------ case 8: --seed -1
def test_a_negative_seed_is_one_line_naming_seed():
    result = cli_runner().invoke(main, ["simulate", *GPT2, "--seed", "-1"])
    assert result.exit_code == 2
    line = one_line(result.stderr)
    assert "--seed" in line and "-1" in line


@pytest.mark.parametrize("field, value", [("seed", -1), ("seed", True), ("seed", 1.5), ("replicas", 0),
                                          ("replicas", -3), ("replicas", 10**9)])
def test_the_core_refuses_a_seed_or_replicas_that_is_not_a_count(field, value):
    with pytest.raises(CostsimError) as err:
        api.simulate("h200", "gpt2-124m", **{field: value})
    assert err.value.field == field


def test_a_billion_replicas_are_refused_before_any_memory_is_taken():
    result = costsim("simulate", *GPT2, "--replicas", "1000000000")
    assert result.returncode == 2
    assert one_line(result.stderr).startswith("costsim: error: --replicas: 1,000,000,000 is more than the 100,000")


def test_a_large_seed_is_a_seed():
    _, mc = api.simulate("h200", "gpt2-124m", seed=2**70, straggler_cv_fraction=0.01)
    assert mc.seed == 2**70 and math.isfinite(mc.wall_time_s.p50)


# ------------------------------------------------------------------ case 12: Ctrl-C on any command
def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


INTERRUPTED = [  # (what the command calls, its command line)
    ("simulator.api.simulate", ["simulate", *GPT2, "--quiet"]),
    ("simulator.api.report", ["report", "sweep-demo", "--out", "{tmp}/report", "--quiet"]),
    ("simulator.api.plot", ["plot", "roofline", *GPT2, "--out", "{tmp}/r.png"]),
    ("simulator.api.validate_suite", ["validate", "--suite", "h200"]),
    ("simulator.api.limits", ["limits", "--quiet"]),
    ("simulator.api.estimate", ["estimate", *GPT2]),
    ("simulator.api.compare", ["compare", "-w", "gpt2-124m"]),
    ("simulator.api.sweep_spec", ["sweep", *GPT2, "--devices", "1,2", "--out", "{tmp}/s.csv", "--quiet"]),
]


@pytest.mark.parametrize("target, args", INTERRUPTED, ids=[a[0] for _, a in INTERRUPTED])
def test_ctrl_c_on_any_command_is_one_line_and_status_130(target, args, tmp_path, monkeypatch):
    monkeypatch.setattr(target, _interrupt)
    result = cli_runner().invoke(main, [a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 130, (result.output, result.exception)
    line = one_line(result.stderr)
    assert line.startswith("costsim: interrupted"), line
    assert "Aborted" not in result.output + result.stderr
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # nothing written, nothing half-written


def test_ctrl_c_on_calibrate_writes_no_profile(tmp_path, monkeypatch):
    monkeypatch.setattr(measure, "measure_cpu", _interrupt)
    out = tmp_path / "cpu.yaml"
    result = cli_runner().invoke(main, ["calibrate", "--device", "cpu", "--quick", "--out", str(out)])
    assert result.exit_code == 130
    assert one_line(result.stderr) == "costsim: interrupted"
    assert not list(tmp_path.iterdir())


def _interrupt_the_nth_replace(monkeypatch, n: int):
    """os.replace, the atomic writers' last move, interrupted on its ``n``-th call (1: the first)."""
    import os
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == n:
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)


def test_report_interrupted_while_writing_leaves_each_file_whole_or_absent(tmp_path, monkeypatch):
    fake = types.SimpleNamespace(name="demo", csv="a,b\n1,2\n", html="<!doctype html><title>r</title>")
    monkeypatch.setattr("simulator.api.report", lambda *a, **k: fake)
    _interrupt_the_nth_replace(monkeypatch, 2)  # the CSV is written, then the page is interrupted
    out = tmp_path / "report"
    result = cli_runner().invoke(main, ["report", "sweep-demo", "--out", str(out), "--quiet"])
    assert result.exit_code == 130
    assert one_line(result.stderr) == "costsim: interrupted"
    assert sorted(p.name for p in out.iterdir()) == ["demo.csv"]  # no index.html, no .partial file
    assert (out / "demo.csv").read_text() == fake.csv


def test_plot_interrupted_while_writing_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr("simulator.api.plot", lambda *a, **k: b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    _interrupt_the_nth_replace(monkeypatch, 1)
    out = tmp_path / "r.png"
    result = cli_runner().invoke(main, ["plot", "roofline", *GPT2, "--out", str(out)])
    assert result.exit_code == 130
    assert one_line(result.stderr) == "costsim: interrupted"
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_real_ctrl_c_during_a_long_simulation(workers):
    """SIGINT, as the terminal sends it, to a simulation of about a minute (in worker processes too)."""
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "simulate", "-H", "h100-sxm", "-w", "gpt3-175b",
                             "--plan", BIG_PLAN, "--set", BIG_SETS[0], "--mtbf-hours", "7646", "--replicas", "2000",
                             "--workers", workers], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        time.sleep(4)  # past the imports and into the replicas
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=LIMIT_S)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert one_line(err) == "costsim: interrupted"
    assert out == ""


def test_an_error_keeps_its_fields_across_processes():
    import pickle

    from simulator.errors import CostsimError, OutOfMemoryError

    err = pickle.loads(pickle.dumps(CostsimError("too many", source="a.yaml", field="mtbf_hours")))
    assert (err.source, err.field, err.problem, str(err)) == ("a.yaml", "mtbf_hours", "too many",
                                                              "a.yaml: mtbf_hours: too many")
    oom = pickle.loads(pickle.dumps(OutOfMemoryError("needs 90 GB", field="workload", needed_bytes=9e10,
                                                     capacity_bytes=8e10)))
    assert isinstance(oom, OutOfMemoryError) and oom.needed_bytes == 9e10 and oom.field == "workload"


@pytest.mark.parametrize("rate", [5e-324, 1e-310])
def test_a_rate_too_small_to_hold_in_seconds_interrupts_nothing(rate):
    # 5e-324 an hour is 0 a second (a ZeroDivisionError inside SimPy, found by benchmarks/fuzz_inputs.py)
    e = estimate("h200", "gpt2-124m", devices=16)
    calm = simulate(e, SimConfig(mtbf_hours=1e6), np.random.default_rng(3))
    tally = simulate(e, SimConfig(mtbf_hours=1e6, preemptions_per_hour=rate), np.random.default_rng(3))
    assert tally.preemptions == 0 and tally == calm
