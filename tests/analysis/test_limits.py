"""Computational limits end to end: pricing the compute a target needs, language-model laws, projected
devices, the quantum verdict, historical runs, and the CLI's commands and bad input."""
import math

import pytest
from click.testing import CliRunner

from cli.main import main
from simulator import api
from simulator.analysis import scaling_laws as laws
from simulator.errors import CostsimError


@pytest.fixture(scope="module")
def imagenet():
    return api.limits(["imagenet"], [0.1, 0.05], extrapolate=True, hardware=["h200", "v100-sxm2"], devices=64,
                      strategy=["quantize:fp8"])


# ------------------------------------------------------------------------------------- pricing targets
def test_costs_scale_with_the_compute_and_carry_the_interval(imagenet):
    rows = [p for p in imagenet.priced if p.hardware == "h200"]
    lo, hi = rows
    assert hi.compute_flops > lo.compute_flops
    assert hi.cost_usd / lo.cost_usd == pytest.approx(hi.compute_flops / lo.compute_flops, rel=1e-9)
    for p in rows:
        assert p.compute_low_flops < p.compute_flops < p.compute_high_flops
        assert p.cost_low_usd / p.cost_usd == pytest.approx(p.compute_low_flops / p.compute_flops, rel=1e-9)


def test_costs_use_the_network_operations_fit_where_there_is_one(imagenet):
    f = imagenet.pricing_fits["imagenet"]
    assert (f.compute_measure, f.model, f.subset) == ("network_operations", "polynomial", "all")
    assert len(imagenet.points["imagenet"]) == f.n


def test_fp8_saves_on_hopper_not_on_volta(imagenet):
    h200 = [p for p in imagenet.priced if p.hardware == "h200"][0]
    v100 = [p for p in imagenet.priced if p.hardware == "v100-sxm2"][0]
    assert h200.strategy_cost_usd["quantize:fp8"] < h200.cost_usd
    assert v100.strategy_cost_usd["quantize:fp8"] == pytest.approx(v100.cost_usd)


def test_priced_compute_is_the_estimate_scaled_to_its_steps():
    r = api.limits(["imagenet"], [0.12], hardware=["h200"], devices=8)
    p = r.priced[0]
    e = api.estimate("h200", "resnet50-imagenet", devices=8, sets=["global_batch_size=256"])
    steps = p.compute_flops / e.model_flops_per_step
    assert p.time_s == pytest.approx(e.step_time_s * steps, rel=1e-9)
    assert p.co2_kg == pytest.approx(e.co2_kg / e.steps * steps, rel=1e-9)


def test_target_beyond_the_data_needs_extrapolate():
    with pytest.raises(CostsimError, match="extrapolate"):
        api.limits(["imagenet"], [0.05], hardware=["h200"], devices=8)
    with pytest.raises(CostsimError, match="unknown benchmark"):
        api.limits(["mnist"], [0.1], hardware=["h200"])
    with pytest.raises(CostsimError, match="fraction in"):
        api.limits(["imagenet"], [1.5], hardware=["h200"])


# ------------------------------------------------------------------------------------- language models
def test_chinchilla_law_matches_the_paper():
    # Chinchilla (70B parameters, 1.4T tokens) sits at a loss of about 1.94 on the approach-3 fit
    assert laws.loss(laws.CHINCHILLA, 70e9, 1.4e12) == pytest.approx(1.937, abs=0.002)
    n, d = laws.compute_optimal(laws.CHINCHILLA, 1e24)
    assert 6 * n * d == pytest.approx(1e24, rel=1e-9)
    n2, _ = laws.compute_optimal(laws.CHINCHILLA, 1e25)  # N grows as C^(beta / (alpha + beta))
    assert math.log10(n2 / n) == pytest.approx(0.28 / 0.62, rel=1e-9)
    c = laws.compute_for_loss(laws.CHINCHILLA, 2.0)
    assert laws.loss(laws.CHINCHILLA, *laws.compute_optimal(laws.CHINCHILLA, c)) == pytest.approx(2.0, abs=1e-9)
    with pytest.raises(CostsimError, match="irreducible"):
        laws.compute_for_loss(laws.CHINCHILLA, 1.5)


def test_compute_optimal_model_becomes_a_transformer_of_that_size():
    from simulator.files.loader import validate_workload
    from simulator.model.transformer import parameter_counts

    wl = validate_workload(laws.transformer_for(30e9, 6e11, "lm"), "<test>")
    non_embedding = parameter_counts(wl)["total"] - 2 * wl.vocab_size * wl.d_model - wl.seq_len * wl.d_model
    assert non_embedding == pytest.approx(30e9, rel=0.15)
    assert wl.training.tokens == 6e11


def test_lm_limits_prices_the_fastest_plan():
    out = api.lm_limits(losses=[2.2], hardware=["h200"], devices=256)
    p = out[0]["priced"][0]
    assert p.problem is None and p.cost_usd > 0 and p.time_s > 0


# ------------------------------------------------------------------------------------- projections
def test_projected_device_grows_at_the_fitted_rates():
    base = api.load_profile_ref("h100-sxm")
    p, raw, trends = api.project("h100-sxm", 2030)
    years = 2030 - base.year
    g = trends["peak_flops_per_s"].growth_factor_per_year
    assert p.peak_dense_flops_per_s.bf16 == pytest.approx(base.peak_dense_flops_per_s.bf16 * g ** years, rel=1e-9)
    assert p.cloud_price_usd_per_hour == base.cloud_price_usd_per_hour
    stated, _, _ = api.project("h100-sxm", 2030, doubling_flops_years=2.0)
    assert stated.peak_dense_flops_per_s.bf16 == pytest.approx(base.peak_dense_flops_per_s.bf16 * 2 ** (years / 2))


def test_first_cheaper_year_is_the_first_under_budget():
    year, costs = api.cheaper_year("h100-sxm", "imagenet", 0.05, 1e8, extrapolate=True, devices=64)
    by_year = dict(costs)
    assert year is not None and by_year[year] < 1e8
    assert all(c >= 1e8 for y, c in by_year.items() if y < year)


# ------------------------------------------------------------------------------------- quantum
def test_quantum_estimate_answers_with_a_verdict():
    from simulator.files.loader import load_profile

    q = api.quantum_estimate(load_profile("quantum-ftqc"), "gpt2-124m")
    v = q.verdict
    assert not v["quantum_wins"] and v["speedup"] < 1
    assert v["quantum_time_s"] == pytest.approx(v["accelerated_time_s"] + v["classical_rest_time_s"] + v["io_time_s"])
    fast = load_profile("quantum-ftqc", ["hardware.speedup.degree=4", "hardware.speedup.workload_fraction=0.999"])
    assert api.quantum_estimate(fast, "gpt2-124m").verdict["quantum_wins"]


def test_breakeven_table_follows_babbush():
    r = api.quantum_breakeven("quantum-ftqc", degrees=(2,), parallelism=(1.0,), classical_step_s=33e-9,
                              toffolis_per_step=100)
    b = r["breakeven"][0]
    assert b["problem_size"] == pytest.approx(r["quantum_step_s"] / 33e-9)  # M* = S t_Q / t_C at d = 2
    assert b["time_s"] == pytest.approx(r["quantum_step_s"] * b["problem_size"])


# ------------------------------------------------------------------------------------- history
def test_historical_runs_are_predicted_and_judged():
    results, summary = api.history()
    assert summary.runs >= 10 and summary.predicted >= 6
    by_name = {r.name: r for r in results}
    eff = by_name["EfficientNetV2-XL (21k)"]  # 4 Cloud TPU v3 boards = 16 chips
    assert eff.devices == 16 and abs(eff.error_fraction) < 0.25
    assert by_name["AlexNet"].predicted_s is None  # no GTX 580 profile: kept, with the reason
    assert summary.median_abs_log10_error < 1.0  # within an order of magnitude, median
    assert summary.impossible_records == 0


# ------------------------------------------------------------------------------------- CLI
def test_limits_cli_writes_plots(tmp_path):
    r = CliRunner().invoke(main, ["limits", "--target", "0.1", "-H", "h200", "--devices", "8",
                                  "--plot-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["cost.png", "cost.svg", "fit-imagenet.png", "fit-imagenet.svg"]
    assert all((tmp_path / f).stat().st_size > 10_000 for f in files)
    assert b"<svg" in (tmp_path / "fit-imagenet.svg").read_bytes()[:500]


@pytest.mark.parametrize("args,message", [
    (["limits", "--target", "0.01", "-H", "h200"], "extrapolate"),
    (["limits", "--benchmark", "mnist"], "unknown benchmark"),
    (["limits", "--target", "2", "-H", "h200"], "fraction"),
    (["project", "--base", "h100-sxm"], "--year"),
    (["project", "--base", "quantum-ftqc", "--year", "2030"], "quantum"),
    (["project", "--base", "h100-sxm", "--year", "2030", "--doubling-flops", "-1"], "at least 0.1"),
    (["project", "--base", "h100-sxm", "--year", "5000"], "at most 100 years"),
    (["limits", "--benchmark", "conll", "--target", "0.99"], "worse than the worst error"),
    (["project", "--base", "h100-sxm", "--year", "2030", "--out", "/dev/null/x.yaml"], "cannot write"),
    (["quantum", "breakeven", "--profile", "h200"], "not a quantum"),
])
def test_limits_bad_input_is_one_line(args, message):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in r.output
