"""The discrete-event simulation of whole runs (SimPy): exact against the closed form when nothing
goes wrong, and the right direction when things do."""
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import main
from simulator import api, estimate
from simulator.run.des import SimConfig, simulate, young_daly_interval_s

PLAN = "tp=8,pp=8,dp=16,mb=2,zero=1,sp"


@pytest.fixture(scope="module")
def gpt3():
    return estimate("h100-sxm", "gpt3-175b", plan=PLAN)


def test_without_noise_or_failures_the_simulation_equals_the_closed_form(gpt3):
    e, mc = api.simulate("h100-sxm", "gpt3-175b", plan=PLAN, replicas=3)
    for q in ("p5", "p50", "p95"):
        assert getattr(mc.wall_time_s, q) == e.total_time_s
        assert getattr(mc.device_hours, q) == pytest.approx(e.device_hours, rel=1e-12)
        assert getattr(mc.energy_joules, q) == pytest.approx(e.energy_joules, rel=1e-12)
        assert getattr(mc.cost_usd, q) == pytest.approx(e.cost_usd, rel=1e-12)
        assert getattr(mc.co2_kg, q) == pytest.approx(e.co2_kg, rel=1e-12)


def test_failures_cost_time_lost_work_and_recoveries(gpt3):
    tally = simulate(gpt3, SimConfig(mtbf_hours=20000, checkpoint_bytes=2e12), np.random.default_rng(3))
    assert tally.failures > 0 and tally.lost_s > 0 and tally.recovery_s > 0 and tally.checkpoints > 0
    parts = tally.queue_s + tally.productive_s + tally.lost_s + tally.checkpoint_s + tally.recovery_s
    assert math.isclose(parts, tally.wall_s, rel_tol=1e-9)
    assert tally.wall_s > gpt3.total_time_s


def test_stragglers_slow_every_step_more_with_more_devices(gpt3):
    small = estimate("h100-sxm", "gpt2-124m", devices=8, sets=["global_batch_size=64"])
    slow_small = simulate(small, SimConfig(straggler_cv_fraction=0.05), np.random.default_rng(0)).wall_s
    slow_big = simulate(gpt3, SimConfig(straggler_cv_fraction=0.05), np.random.default_rng(0)).wall_s
    assert slow_small / small.total_time_s < slow_big / gpt3.total_time_s


def test_young_daly_interval_beats_checkpointing_too_often_or_too_rarely(gpt3):
    cfg = dict(mtbf_hours=20000, checkpoint_bytes=2e12)
    best = SimConfig(**cfg)
    write, mtbf = 2e12 / best.storage_bandwidth_bytes_per_s, 20000 * 3600 / gpt3.devices
    optimum = young_daly_interval_s(write, mtbf)
    assert optimum == pytest.approx(math.sqrt(2 * write * mtbf), rel=0.25)

    def mean_wall(interval):
        c = SimConfig(**cfg, checkpoint_interval_s=interval)
        return np.mean([simulate(gpt3, c, np.random.default_rng([7, i])).wall_s for i in range(40)])

    at_optimum = mean_wall(optimum)
    assert at_optimum < mean_wall(optimum / 8) and at_optimum < mean_wall(optimum * 8)


def test_queue_wait_adds_wall_time_but_no_device_hours(gpt3):
    e, mc = api.simulate("h100-sxm", "gpt3-175b", plan=PLAN, replicas=5, queue_wait_s=86400.0)
    assert mc.wall_time_s.p50 > e.total_time_s
    assert mc.device_hours.p50 == pytest.approx(e.device_hours, rel=1e-12)


def test_replicas_are_reproducible_from_the_seed():
    kwargs = dict(plan=PLAN, replicas=4, mtbf_hours=20000, straggler_cv_fraction=0.02)
    a = api.simulate("h100-sxm", "gpt3-175b", seed=11, **kwargs)[1]
    b = api.simulate("h100-sxm", "gpt3-175b", seed=11, **kwargs)[1]
    c = api.simulate("h100-sxm", "gpt3-175b", seed=12, **kwargs)[1]
    assert a == b and a.wall_time_s != c.wall_time_s


def test_cli_simulate_json():
    result = CliRunner().invoke(main, ["simulate", "-H", "h100-sxm", "-w", "gpt3-175b", "--plan", PLAN,
                                       "--mtbf-hours", "50000", "--replicas", "3", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["closed_form"]["step_time_s"] > 0
    assert set(data["simulation"]["wall_time_s"]) == {"p5", "p50", "p95", "mean"}


@pytest.mark.parametrize("args,expected", [
    (["--mtbf-hours", "-5"], "--mtbf-hours: must be positive"),
    (["--straggler-cv", "-0.1"], "--straggler-cv: must not be negative"),
])
def test_bad_simulation_input_is_one_line(args, expected):
    result = CliRunner().invoke(main, ["simulate", "-H", "h100-sxm", "-w", "gpt3-175b", "--plan", PLAN] + args)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"costsim: error: {expected}"] or \
        (len(result.stderr.strip().splitlines()) == 1 and expected in result.stderr)


def test_interval_sweep_shows_the_cost_of_a_wrong_checkpoint_interval():
    sweep = api.checkpoint_interval_sweep("h100-sxm", "gpt3-175b", plan=PLAN, replicas=20, mtbf_hours=20000)
    intervals = [i for i, _ in sweep]
    assert intervals == sorted(intervals) and len(sweep) == 5
    walls = [mc.wall_time_s.p50 for _, mc in sweep]
    assert walls[2] < walls[0] and walls[2] < walls[4]


def test_requeue_after_failure_waits_in_the_queue_without_holding_devices(gpt3):
    cfg = dict(mtbf_hours=20000, checkpoint_bytes=2e12, queue_wait_s=3600.0)
    spare = simulate(gpt3, SimConfig(**cfg), np.random.default_rng(5))
    requeue = simulate(gpt3, SimConfig(**cfg, requeue_on_failure=True), np.random.default_rng(5))
    assert requeue.queue_s > spare.queue_s
    assert requeue.failures > 0


@pytest.mark.parametrize("args,expected", [
    (["--mtbf-hours", "inf"], "--mtbf-hours"),
    (["--preemptions-per-hour", "inf"], "--preemptions-per-hour"),
    (["--storage-gb-per-s", "inf"], "--storage-gb-per-s"),
    (["--queue-wait-hours", "inf"], "--queue-wait-hours"),
])
def test_infinite_rates_are_rejected_not_simulated(args, expected):
    result = CliRunner().invoke(main, ["simulate", "-H", "h200", "-w", "gpt2-124m"] + args)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert expected in result.stderr and "finite" in result.stderr


def test_free_checkpoints_still_bound_lost_work():
    e = estimate("h200", "gpt2-124m", devices=8, sets=["global_batch_size=64"])
    tally = simulate(e, SimConfig(mtbf_hours=1.0), np.random.default_rng(0))  # checkpoint_bytes 0: free
    assert tally.failures > 0 and tally.lost_s < 0.05 * tally.productive_s and tally.wall_s < 3 * e.total_time_s


def test_straggler_spread_matches_the_exact_maximum_of_two_normals():
    from simulator.run.des import expected_max_of_normals

    mean, sd = expected_max_of_normals(2)
    assert mean == pytest.approx(1 / math.sqrt(math.pi), rel=1e-4)
    assert sd == pytest.approx(math.sqrt(1 - 1 / math.pi), rel=1e-4)
