"""A run in phases (``training.phases``): each phase priced as its own run, the whole run their sum."""
from __future__ import annotations

import math
import re

import pytest

from simulator.api import estimate, plan
from simulator.errors import CostsimError
from simulator.files.loader import load_pair
from simulator.run.phases import phase_workloads
from simulator.run.search import search
from simulator.schema.options import RunOptions
from tests.cli.test_bad_input import error_line

PHASED = """name: phased-1b
kind: transformer
layers: 24
d_model: 2048
heads: 16
vocab_size: 50257
seq_len: 2048
ffn_mult: 4
training:
  global_batch_size: 512
  tokens: 2.0e10
  precision: bf16_mixed
  optimizer: adam
  phases:
    - {name: ramp, start_tokens: 0, end_tokens: 1.0e9, global_batch_size: 128, plan: "tp=2,pp=1,dp=32,mb=1"}
    - {name: main, start_tokens: 1.0e9, end_tokens: 1.8e10}
    - {name: long, start_tokens: 1.8e10, end_tokens: 2.0e10, seq_len: 16384, global_batch_size: 64, plan: auto}
"""


@pytest.fixture
def phased(tmp_path):
    path = tmp_path / "phased.yaml"
    path.write_text(PHASED)
    return str(path)


def test_the_whole_run_is_the_sum_of_its_phases(phased):
    e = estimate("h100-sxm", phased, devices=64, plan="tp=4,pp=2,dp=8,mb=2")
    profile, wl = load_pair("h100-sxm", phased)
    parts = [(ph, estimate("h100-sxm", phase_wl, devices=64, plan=p)) for (ph, phase_wl), p in zip(
        phase_workloads(wl), ("tp=2,pp=1,dp=32,mb=1", "tp=4,pp=2,dp=8,mb=2", e.phases[2].plan))]
    assert [p.name for p in e.phases] == ["ramp", "main", "long"]
    assert e.phases[1].plan == "tp=4,pp=2,dp=8,mb=2"  # the run's plan where the phase gives none
    for key in ("total_time_s", "energy_joules", "cost_usd", "co2_kg", "device_hours", "steps"):
        assert getattr(e, key) == pytest.approx(sum(getattr(p, key) for _, p in parts), rel=1e-12), key
    for phase, (_, alone) in zip(e.phases, parts):
        assert phase.total_time_s == alone.total_time_s and phase.mfu_fraction == alone.mfu_fraction
    assert e.step_time_s == pytest.approx(e.total_time_s / e.steps, rel=1e-12)
    assert math.fsum(b.time_s for b in e.breakdown.values()) == pytest.approx(e.step_time_s, rel=1e-9)
    assert e.mfu_fraction == pytest.approx(sum(p.mfu_fraction * p.total_time_s for _, p in parts) / e.total_time_s)
    assert e.peak_memory_bytes == max(p.peak_memory_bytes for _, p in parts)
    assert e.phases[2].seq_len == 16384 and e.phases[0].global_batch_size == 128
    assert any("training in 3 phases" in a for a in e.assumptions)


def test_a_phase_planned_auto_gets_the_fastest_plan_for_that_phase(phased):
    e = estimate("h100-sxm", phased, devices=64, plan="tp=4,pp=2,dp=8,mb=2")
    profile, wl = load_pair("h100-sxm", phased)
    long = phase_workloads(wl)[2][1]
    best = search(profile, long, 64, "time", RunOptions(devices=64), 1)[0][0]
    assert e.phases[2].plan == best.label()
    every = estimate("h100-sxm", phased, devices=64, plan="auto")  # each phase without a plan searched alone
    main = search(profile, phase_workloads(wl)[1][1], 64, "time", RunOptions(devices=64), 1)[0][0]
    assert every.phases[1].plan == main.label() and every.phases[0].plan == "tp=2,pp=1,dp=32,mb=1"


def test_a_plan_search_over_a_run_in_phases_is_refused_with_the_way_out(phased):
    with pytest.raises(CostsimError, match="trains in phases") as err:
        plan("h100-sxm", phased, devices=64)
    assert err.value.field == "training.phases"


def test_a_phase_that_does_not_run_is_named(phased, tmp_path):
    bad = tmp_path / "bad-plan.yaml"
    bad.write_text(PHASED.replace('plan: "tp=2,pp=1,dp=32,mb=1"', 'plan: "tp=2,pp=1,dp=16,mb=1"'))
    line = error_line("estimate", "-H", "h100-sxm", "-w", str(bad), "--devices", "64", "--plan", "tp=4,pp=2,dp=8,mb=2")
    assert "bad-plan.yaml" in line and "training.phases[0] ('ramp')" in line and "not the 64 devices" in line


@pytest.mark.parametrize("edit,problem", [
    (("start_tokens: 1.0e9, end_tokens: 1.8e10", "start_tokens: 0.9e9, end_tokens: 1.8e10"),
     "it overlaps the one before"),
    (("start_tokens: 1.0e9, end_tokens: 1.8e10", "start_tokens: 1.1e9, end_tokens: 1.8e10"),
     "it leaves a gap after the one before"),
    (("end_tokens: 2.0e10, seq_len", "end_tokens: 2.1e10, seq_len"), "the last phase ends at 2.1e\\+10 tokens, not at"),
    (("start_tokens: 1.0e9, end_tokens: 1.8e10", "start_tokens: 1.0e9, end_tokens: 0.5e9"),
     "must be above start_tokens"),
    (("name: main", "name: ramp"), "two phases are called 'ramp'"),
    (("tokens: 2.0e10\n", "steps: 1000\n"), "phases are given in tokens"),
    (("plan: auto", "plan: auto2"), "cannot read 'auto2'"),
    (("name: long,", "nme: long,"), "nme"),
])
def test_phases_that_do_not_tile_the_run_are_refused_in_one_line(tmp_path, edit, problem):
    bad = tmp_path / "bad.yaml"
    bad.write_text(PHASED.replace(*edit))
    line = error_line("estimate", "-H", "h100-sxm", "-w", str(bad), "--devices", "64", "--plan", "tp=4,pp=2,dp=8,mb=2")
    assert "bad.yaml" in line and "phases" in line
    assert re.search(problem, line), line


def test_phases_are_for_transformers_trained_on_tokens(tmp_path):
    path = tmp_path / "cnn.yaml"
    path.write_text("""name: small-cnn
kind: cnn
layers: [{kind: conv, out_channels: 16, kernel: 3}]
input: {channels: 3, height: 32, width: 32}
classes: 10
training: {global_batch_size: 8, steps: 10, phases: [{name: a, start_tokens: 0, end_tokens: 1}]}
""")
    line = error_line("estimate", "-H", "h100-sxm", "-w", str(path))
    assert "phases" in line
