"""Error against compute on Thompson et al.'s data set (arXiv 2007.05558): loading, points, frontier, fits,
inversion, refusals."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from simulator.analysis import scaling
from simulator.errors import CostsimError
from simulator.files.published import load_thompson
from tests.conftest import DATA

THOMPSON = DATA / "thompson"

# The paper's finding for ImageNet, as its authors summarise it (IEEE Spectrum, "Deep Learning's Diminishing
# Returns", 2021): compute has scaled with at least the ninth power of the improvement, i.e. k ~ 9 in
# compute ~ error**-k for top-1 error on hardware burden (polynomial model).
PAPER_IMAGENET_K = 9.0
K_TOLERANCE_FACTOR = 1.5  # accept k within [9 / 1.5, 9 * 1.5] = [6, 13.5]


@pytest.fixture(scope="module")
def rows():
    return {name: load_thompson(THOMPSON / b.file_name) for name, b in scaling.BENCHMARKS.items()}


@pytest.fixture(scope="module")
def table(rows):
    return scaling.fit_all(rows)


def headline(table, name):
    (row,) = [r for r in table if r.headline and r.benchmark == name]
    return row


# ---------------------------------------------------------------- loader
def test_loader_skips_the_two_label_rows(rows):
    imagenet = rows["imagenet"]
    assert "hardware_burden" in imagenet[0] and "(TOP 1 score)" in imagenet[0]
    assert all(r["name"] not in ("name",) for r in imagenet)  # the label row repeating 'name' is gone
    assert sum(len(r) for r in rows.values()) > 0
    assert 450 <= sum(len(r) for r in rows.values()) <= 600  # "about 500 models"


def test_loader_errors_name_the_file(tmp_path):
    short = tmp_path / "short.csv"
    short.write_text("name,year\nname,year\n", encoding="utf-8")
    with pytest.raises(CostsimError) as err:
        load_thompson(short)
    assert err.value.source == str(short) and "\n" not in str(err.value)
    wide = tmp_path / "wide.csv"
    wide.write_text("name,year\nl1,\nl2,\nA,2020,extra\n", encoding="utf-8")
    with pytest.raises(CostsimError, match="more cells"):
        load_thompson(wide)
    with pytest.raises(CostsimError, match="no such file"):
        load_thompson(tmp_path / "missing.csv")


# ---------------------------------------------------------------- points and frontier
def test_points_are_usable_error_fractions(rows):
    for name in scaling.BENCHMARKS:
        pts = scaling.points(rows[name], name, "hardware_burden")
        assert len(pts) >= scaling.MIN_POINTS, name
        for p in pts:
            assert 0 < p.error_fraction < 1 and p.compute_flops > 0 and 2000 < p.year < 2100
    # ImageNet: top-1 error, so the best model is around 9-10 % error, not 1-2 % (top-5) or 90 % (accuracy)
    best = min(p.error_fraction for p in scaling.points(rows["imagenet"], "imagenet", "network_operations"))
    assert 0.08 < best < 0.12


def test_frontier_error_never_rises_over_time(rows):
    for name in scaling.BENCHMARKS:
        pts = scaling.points(rows[name], name, "hardware_burden")
        front = scaling.frontier(pts)
        assert front and set(front) <= set(pts)
        assert [p.year for p in front] == sorted(p.year for p in front)
        errors = [p.error_fraction for p in front]
        assert all(b < a for a, b in zip(errors, errors[1:])), name
        # nothing earlier or in the same year beats a frontier point
        for p in front:
            assert all(q.error_fraction >= p.error_fraction for q in pts if q.year < p.year)
        assert front[-1].error_fraction == min(p.error_fraction for p in pts)


def test_unknown_benchmark_and_measure_are_one_line_errors(rows):
    with pytest.raises(CostsimError) as err:
        scaling.points(rows["imagenet"], "cifar10")
    assert err.value.field == "benchmark" and "imagenet" in err.value.problem
    with pytest.raises(CostsimError) as err:
        scaling.points(rows["imagenet"], "imagenet", x="gpu_hours")
    assert err.value.field == "x"
    with pytest.raises(CostsimError, match="score column"):  # SQuAD rows read as ImageNet
        scaling.points(rows["squad"], "imagenet")
    with pytest.raises(CostsimError) as err:
        scaling.fit_all({"mnist": rows["imagenet"]})
    assert err.value.field == "benchmark"


# ---------------------------------------------------------------- fits on the real data
def test_every_fit_is_finite_and_error_falls_with_compute(table):
    assert len(table) >= 20
    for r in table:
        values = [r.slope, r.intercept, *r.slope_ci95, *r.intercept_ci95, r.r_squared, r.residual_std,
                  r.exponent_k]
        assert all(math.isfinite(v) for v in values), r
        assert r.slope < 0 and r.exponent_k > 0, (r.benchmark, r.compute_measure, r.model, r.subset)
        assert r.slope_ci95[0] < r.slope < r.slope_ci95[1] and 0 <= r.r_squared <= 1
    # the headline table: one row per benchmark, hardware burden, polynomial, all models
    heads = [r for r in table if r.headline]
    assert sorted(r.benchmark for r in heads) == sorted(scaling.BENCHMARKS)
    assert {(r.compute_measure, r.model, r.subset) for r in heads} == {("hardware_burden", "polynomial", "all")}


def test_strong_benchmarks_have_significant_slopes(table):
    # the paper: highly significant slopes for all but machine translation
    for name in ("imagenet", "coco", "squad"):
        r = headline(table, name)
        assert r.slope_ci95[1] < 0 and r.r_squared > 0.5 and r.exponent_k_ci95 is not None, name


def test_imagenet_exponent_is_comparable_to_the_paper(table):
    k = headline(table, "imagenet").exponent_k
    assert PAPER_IMAGENET_K / K_TOLERANCE_FACTOR <= k <= PAPER_IMAGENET_K * K_TOLERANCE_FACTOR, k


def test_exponential_model_reports_the_local_exponent_at_the_best_error(table):
    (r,) = [r for r in table if r.benchmark == "imagenet" and r.compute_measure == "hardware_burden"
            and r.model == "exponential" and r.subset == "all"]
    assert r.exponent_k == pytest.approx(-math.log(10) * r.best_error_fraction / r.slope)


# ---------------------------------------------------------------- OLS against scipy, on exact and noisy data
def _synthetic(slope, intercept, noise, n=40, seed=0):
    rng = np.random.default_rng(seed)
    log_c = rng.uniform(16, 23, n)
    log_e = intercept + slope * log_c + rng.normal(0, noise, n)
    return [scaling.Point(year=2015 + i % 7, compute_flops=10 ** lc, error_fraction=10 ** le, name=f"m{i}")
            for i, (lc, le) in enumerate(zip(log_c, log_e))]


def test_fit_recovers_an_exact_power_law():
    f = scaling.fit(_synthetic(-0.1, 1.0, 0.0), "polynomial")
    assert f.slope == pytest.approx(-0.1) and f.intercept == pytest.approx(1.0)
    assert f.exponent_k == pytest.approx(10.0) and f.r_squared == pytest.approx(1.0)


def test_fit_matches_scipy_linregress():
    pts = _synthetic(-0.08, 0.8, 0.05)
    f = scaling.fit(pts, "polynomial")
    ref = stats.linregress(np.log10([p.compute_flops for p in pts]), np.log10([p.error_fraction for p in pts]))
    t = stats.t.ppf(0.975, len(pts) - 2)
    assert f.slope == pytest.approx(ref.slope) and f.intercept == pytest.approx(ref.intercept)
    assert f.r_squared == pytest.approx(ref.rvalue ** 2)
    assert f.slope_ci95 == pytest.approx((ref.slope - t * ref.stderr, ref.slope + t * ref.stderr))
    assert f.intercept_ci95 == pytest.approx((ref.intercept - t * ref.intercept_stderr,
                                              ref.intercept + t * ref.intercept_stderr))


def test_fit_needs_three_points_and_a_known_model():
    pts = _synthetic(-0.1, 1.0, 0.01, n=2)
    with pytest.raises(CostsimError, match="at least 3"):
        scaling.fit(pts)
    with pytest.raises(CostsimError) as err:
        scaling.fit(_synthetic(-0.1, 1.0, 0.01), "sigmoid")
    assert err.value.field == "model"


# ---------------------------------------------------------------- compute_for_error
@pytest.mark.parametrize("model", scaling.MODELS)
def test_compute_for_error_round_trips_the_fit(table, model):
    (f,) = [r for r in table if r.benchmark == "imagenet" and r.compute_measure == "hardware_burden"
            and r.model == model and r.subset == "all"]
    for log_c in (f.mean_log10_compute, math.log10(f.max_compute_flops)):
        y = f.intercept + f.slope * log_c
        error = 10 ** y if model == "polynomial" else y
        est = scaling.compute_for_error(f, error, extrapolate=True)
        assert est.log10_compute_flops == pytest.approx(log_c, abs=1e-9)
        assert est.compute_flops == pytest.approx(10 ** log_c, rel=1e-8)
        assert est.compute_low_flops < est.compute_flops < est.compute_high_flops
        wide = scaling.compute_for_error(f, error, extrapolate=True, interval="prediction")
        assert wide.compute_low_flops < est.compute_low_flops and wide.compute_high_flops > est.compute_high_flops
    # at the mean compute the confidence band is narrowest: its half-width is t * s / sqrt(n) in y
    est = scaling.compute_for_error(f, 10 ** (f.intercept + f.slope * f.mean_log10_compute)
                                    if model == "polynomial" else f.intercept + f.slope * f.mean_log10_compute)
    half_y = f.t_critical * f.residual_std / math.sqrt(f.n)
    assert est.log10_compute_high_flops - est.log10_compute_flops > half_y / abs(f.slope) * 0.999


def test_lower_error_needs_more_compute(table):
    f = headline(table, "imagenet")
    ests = [scaling.compute_for_error(f, e, extrapolate=True).compute_flops for e in (0.2, 0.1, 0.05)]
    assert ests[0] < ests[1] < ests[2]


def test_extrapolation_is_refused_unless_asked(table):
    f = headline(table, "imagenet")
    target = f.best_error_fraction * 0.5
    with pytest.raises(CostsimError) as err:
        scaling.compute_for_error(f, target)
    assert err.value.field == "targets" and "extrapolate" in err.value.problem and "\n" not in str(err.value)
    est = scaling.compute_for_error(f, target, extrapolate=True)
    assert est.extrapolated and est.compute_flops > f.max_compute_flops
    assert not scaling.compute_for_error(f, f.best_error_fraction).extrapolated


@pytest.mark.parametrize("target", [0.0, -0.1, 1.0, 1.5, float("nan"), float("inf"), "ten percent", True])
def test_impossible_targets_are_refused(table, target):
    with pytest.raises(CostsimError) as err:
        scaling.compute_for_error(headline(table, "imagenet"), target, extrapolate=True)
    assert err.value.field == "targets"


def test_an_insignificant_slope_gives_an_unbounded_interval(table):
    f = headline(table, "wmt_en_de")  # the paper: too little variation in compute for a clear slope
    assert f.exponent_k_ci95 is None
    est = scaling.compute_for_error(f, f.best_error_fraction)
    assert math.isfinite(est.compute_flops)
    assert est.compute_low_flops is None or est.compute_high_flops is None
