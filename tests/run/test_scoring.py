"""The plan search's array scorer against one estimate per candidate (the brute-force search).

The scorer prices each distinct stage shape once and scores every candidate plan with numpy; the
brute-force search estimates every candidate with ``run/estimate.py``. On small spaces (offload among them) they pick
the same plans, in the same order, with the same step times (to 1e-9), and account for the same space.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

from simulator.errors import CostsimError, OutOfMemoryError
from simulator.files.loader import load_pair
from simulator.run import scoring
from simulator.run.estimate import estimate_run
from simulator.run.search import (
    OBJECTIVES,
    _plan_of,
    base_plans,
    brute_force_search,
    parse_fix,
    recompute_levels,
    search_space,
    searched_offloads,
)
from simulator.schema.options import RunOptions

SMALL_MOE = """name: small-moe
kind: transformer
layers: 8
d_model: 1024
heads: 16
vocab_size: 32000
seq_len: 2048
ffn_mult: 4
experts: 8
experts_per_token: 2
training: {global_batch_size: 32, tokens: 1.0e9, precision: bf16_mixed, optimizer: adam}
"""
LONG_NAIVE = """name: long-naive
kind: transformer
layers: 12
d_model: 1024
heads: 16
vocab_size: 32000
seq_len: 8192
ffn_mult: 4
attention: naive
training: {global_batch_size: 16, tokens: 1.0e9, precision: bf16_mixed, optimizer: adam}
"""
SMALL_MLA = """name: small-mla
kind: transformer
layers: 6
d_model: 1024
heads: 16
vocab_size: 32000
seq_len: 2048
d_ff: 2048
moe_d_ff: 512
experts: 8
experts_per_token: 2
shared_experts: 1
dense_layers: 1
q_lora_rank: 256
kv_lora_rank: 128
qk_nope_head_dim: 64
qk_rope_head_dim: 32
v_head_dim: 64
mlp: swiglu
norm: rmsnorm
position: rope
training: {global_batch_size: 16, tokens: 1.0e9, precision: bf16_mixed, optimizer: adam}
"""
# multi-token prediction on the last stage, a sliding window, and a fused stack's rewrites and overlaps
SMALL_MTP = SMALL_MLA.replace("name: small-mla", "name: small-mtp").replace(
    "mlp: swiglu", "mlp: swiglu\nmtp_layers: 1\nsliding_window: 512\nexecution: megatron-core")
# an encoder-decoder: three encoder layers and five decoder layers (stages mix them), relative positions
SMALL_T5 = """name: small-t5
kind: transformer
layers: 8
encoder_layers: 3
d_model: 512
heads: 8
head_dim: 128
vocab_size: 32128
seq_len: 512
target_len: 114
d_ff: 2048
mlp: relu
norm: rmsnorm
position: relative
linear_bias: none
training: {global_batch_size: 32, tokens: 1.0e9, precision: bf16_mixed, optimizer: adam}
"""
SMALL_T5_NAIVE = SMALL_T5.replace("mlp: relu", "mlp: geglu\nattention: naive\nexecution: megatron-core")
RECOMPUTING = """name: recomputing
kind: transformer
layers: 24
d_model: 2048
heads: 16
vocab_size: 50257
seq_len: 2048
ffn_mult: 4
training: {global_batch_size: 64, tokens: 1.0e9, precision: bf16_mixed, optimizer: adam, activation_recompute: true}
"""


def _load(tmp_path, hardware: str, workload: str):
    if "\n" in workload:
        path = tmp_path / "w.yaml"
        path.write_text(workload)
        workload = str(path)
    return load_pair(hardware, workload)


def _both(profile, wl, devices: int, objective: str, top: int = 8, offload: str = "none"):
    opts = RunOptions(devices=devices)
    domain = min(profile.topology.scale_up_domain_devices or profile.devices_per_node, 64)
    bases = list(base_plans(wl, devices, domain, (offload,)))
    levels = functools.lru_cache(maxsize=None)(lambda most: recompute_levels(wl, most))
    return (brute_force_search(profile, wl, opts, bases, levels, objective, top),
            search_space(profile, wl, devices, objective, opts, top, {"offload": offload} if offload != "none" else {}))


CASES = [("h100-sxm", "gpt-1.3b", 8, "time", "none"), ("a100-sxm-80gb", "gpt2-124m", 4, "energy", "none"),
         ("h100-sxm", "gpt2-124m", 8, "cost", "none"), ("h100-sxm", SMALL_MOE, 8, "time", "none"),
         ("h100-sxm", LONG_NAIVE, 8, "time", "none"), ("a100-sxm-80gb", RECOMPUTING, 8, "time", "none"),
         ("tpu-v5p", "gpt-1.3b", 8, "cost", "none"), ("h100-sxm", "gpt2-124m", 8, "energy", "optimizer"),
         ("a100-sxm-80gb", SMALL_MOE, 8, "time", "params"), ("h100-sxm", SMALL_MLA, 8, "time", "none"),
         ("h100-sxm", SMALL_MTP, 8, "time", "none"), ("a100-sxm-80gb", "bert-large", 8, "time", "none"),
         ("h100-sxm", SMALL_T5, 8, "time", "none"), ("h100-sxm", SMALL_T5_NAIVE, 8, "energy", "none")]


@pytest.mark.parametrize("hardware,workload,devices,objective,offload", CASES,
                         ids=["dense", "energy", "cost", "moe", "cp-naive-selective", "default-full", "tpu",
                              "offload-optimizer", "offload-params", "mla-dense-first-shared", "mtp-window-stack",
                                  "encoder", "encoder-decoder", "encoder-decoder-naive-stack"])
def test_the_scorer_picks_what_one_estimate_per_candidate_picks(tmp_path, hardware, workload, devices, objective,
                                                                offload):
    """Calibrated on nothing (an identity of two computations); tested on fourteen small spaces."""
    profile, wl = _load(tmp_path, hardware, workload)
    (brute, brute_space), (fast, fast_space) = _both(profile, wl, devices, objective, offload=offload)
    assert brute_space == fast_space
    assert [p.label() for p, _ in brute] == [p.label() for p, _ in fast]
    key = OBJECTIVES[objective]
    for (_, b), (_, f) in zip(brute, fast):
        assert f.step_time_s == pytest.approx(b.step_time_s, rel=1e-9)
        assert getattr(f, key) == pytest.approx(getattr(b, key), rel=1e-9)


@pytest.mark.parametrize("hardware,workload,devices", [("h100-sxm", "gpt3-175b", 64), ("h100-sxm", LONG_NAIVE, 8),
                                                       ("h100-sxm", SMALL_MOE, 8), ("h100-sxm", SMALL_MLA, 8),
                                                       ("h100-sxm", SMALL_MTP, 8), ("h100-sxm", SMALL_T5_NAIVE, 8)])
def test_every_candidates_score_is_its_estimate(tmp_path, hardware, workload, devices):
    """A sample of candidates of each space (fitting or not): step time, energy and fit as estimated."""
    profile, wl = _load(tmp_path, hardware, workload)
    opts = RunOptions(devices=devices)
    bases = list(base_plans(wl, devices, 8, searched_offloads(profile)))  # offload too: the scorer takes it
    levels = functools.lru_cache(maxsize=None)(lambda most: recompute_levels(wl, most))
    time_scores = scoring.score(profile, wl, opts, bases, levels, "step_time_s")
    energy_scores = scoring.score(profile, wl, opts, bases, levels, "energy_joules")
    picks = np.random.default_rng(5).choice(len(time_scores.base), 60, replace=False)
    fitted = 0
    for i in picks:
        plan = _plan_of(wl, bases, levels, time_scores, i)
        try:
            e = estimate_run(profile, wl, opts.model_copy(update={"plan": plan}))
        except OutOfMemoryError:
            assert not time_scores.fits[i], plan.label()
            continue
        fitted += 1
        assert time_scores.fits[i], plan.label()
        assert time_scores.step_s[i] == pytest.approx(e.step_time_s, rel=1e-9), plan.label()
        assert energy_scores.objective[i] == pytest.approx(e.energy_joules, rel=1e-9), plan.label()
    assert fitted


def test_fixed_dimensions_pin_the_search():
    profile, wl = load_pair("h100-sxm", "gpt3-175b")
    fix = parse_fix("tp=8,pp=16")
    found, space = search_space(profile, wl, 1024, "time", RunOptions(devices=1024), 5, fix)
    assert found and all(p.tp == 8 and p.pp == 16 for p, _ in found)
    free, whole = search_space(profile, wl, 1024, "time", RunOptions(devices=1024), 1)
    assert space.candidates < whole.candidates and free[0][1].step_time_s <= found[0][1].step_time_s
    pinned, _ = search_space(profile, wl, 1024, "time", RunOptions(devices=1024), 3,
                             parse_fix("recompute=full"))
    assert pinned and all(p.recompute == "full" for p, _ in pinned)  # any number of layers, unless fixed too


@pytest.mark.parametrize("text,problem", [("tp=8,layers_per_stage=6/6", "layers_per_stage cannot be fixed"),
                                          ("tp=eight", "not a whole number"), ("tp=3", "has tp=3")])
def test_a_bad_fix_names_the_fix(text, problem):
    profile, wl = load_pair("h100-sxm", "gpt3-175b")
    with pytest.raises(CostsimError, match=problem) as err:
        search_space(profile, wl, 1024, "time", RunOptions(devices=1024), 5, parse_fix(text))
    assert err.value.field == "fix"
