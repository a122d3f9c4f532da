"""Hardware trends: log-linear fits on the MIT FutureTech hardware tables, profile projection, and the
first year a cost falls below a budget."""
import math

import numpy as np
import pytest
from scipy import stats

from simulator.analysis import projection, trends
from simulator.errors import CostsimError
from simulator.files.loader import (
    bundled_names,
    finish_profile,
    load_profile,
    raw_profile,
    validate_profile,
)
from simulator.files.published import load_csv_raw
from simulator.schema.hardware import ClassicalProfile
from simulator.units import GIGA
from tests.conftest import DATA

HISTORY = DATA / "hardware-history"
WHAT_IF = {"h100-2x-bandwidth"}  # hypothetical devices: not data points


@pytest.fixture(scope="module")
def tables():
    return {name: load_csv_raw(HISTORY / f"{name}s.csv") for name in ("gpu", "cpu", "tpu")}


@pytest.fixture(scope="module")
def gpu_fits(tables):
    return {m: trends.history_points(tables["gpu"], metric=m).fit() for m in trends.METRICS}


# ---------------------------------------------------------------- the real data
# Published comparison. Epoch AI, "Trends in Machine Learning Hardware" (Hobbhahn, Heim & Aydos, Nov 2023,
# epoch.ai/blog/trends-in-machine-learning-hardware): FP32 FLOP/s of ML and general GPUs doubles every
# ~2.3 years; memory capacity ~4 years and memory bandwidth ~4.1 years ("memory wall"); ML GPU energy
# efficiency ~3 years. Moore's-law pace is 2 years. Hobbhahn & Besiroglu, "Trends in GPU price-performance"
# (Epoch, 2022; 470 GPUs 2006-2021) find FLOP/s per dollar doubling every 2.46 years [2.24, 2.72].
# Our fit on the 500 GPUs of gpus.csv (2007-2020, one point per device) gives ~2.1 years [1.95, 2.27]:
# a little faster than Epoch's 2.3 (their span reaches 2023 and weights ML parts; the table here stops in
# 2020), so the band allows 1.5-3 years: well away from Huang's-law ~1.1 years and from a stalled trend.
def test_gpu_peak_fp32_flops_doubles_every_two_or_so_years(gpu_fits):
    fit = gpu_fits["peak_flops_per_s"]
    assert fit.n >= 450 and (fit.first_year, fit.last_year) == (2007, 2020)
    assert 1.5 <= fit.doubling_time_years <= 3.0
    lo, hi = fit.doubling_time_interval_years
    assert lo < fit.doubling_time_years < hi
    assert 1.5 <= lo and hi <= 3.0  # the whole interval is inside the plausible band
    assert abs(fit.doubling_time_years - 2.3) < 0.5  # within half a year of Epoch's 2.3
    low, high = fit.growth_rate_interval_per_year
    assert low < fit.growth_rate_per_year < high
    flo, fhi = fit.growth_factor_interval_per_year
    assert flo < fit.growth_factor_per_year < fhi
    assert 0.3 < fit.r_squared < 1  # a wide spread of parts in every year, but a clear trend


def test_efficiency_and_bandwidth_grow_more_slowly_than_compute(gpu_fits):
    compute = gpu_fits["peak_flops_per_s"].doubling_time_years
    per_watt = gpu_fits["flops_per_s_per_watt"]
    bandwidth = gpu_fits["memory_bandwidth_bytes_per_s"]
    # Epoch: energy efficiency ~3 years, bandwidth ~4.1 years; our table gives ~2.7 and ~3.2.
    assert 2.0 <= per_watt.doubling_time_years <= 4.0
    assert 2.5 <= bandwidth.doubling_time_years <= 5.0
    assert compute < per_watt.doubling_time_years < bandwidth.doubling_time_years  # the memory wall
    for fit in (per_watt, bandwidth):
        lo, hi = fit.doubling_time_interval_years
        assert lo < fit.doubling_time_years < hi


def test_history_points_are_si(tables):
    gpus = tables["gpu"]
    first = gpus[0]
    points = trends.history_points(gpus, metric="peak_flops_per_s")
    assert len(points.years) + points.skipped_rows == len(gpus)
    by_label = dict(zip(points.labels, points.values))
    assert by_label[first["GPU"]] == pytest.approx(float(first["GFLOPS"]) * GIGA)
    per_watt = trends.history_points(gpus, metric="flops_per_s_per_watt")
    assert dict(zip(per_watt.labels, per_watt.values))[first["GPU"]] == pytest.approx(
        float(first["GFLOPS"]) * GIGA / float(first["TDP"]))
    assert per_watt.skipped_rows == sum(1 for r in gpus if not r["TDP"].strip())


def test_frontier_is_a_running_record_one_point_per_year(tables):
    every = trends.history_points(tables["gpu"])
    front = trends.history_points(tables["gpu"], frontier=True)
    assert front.frontier and len(set(front.years)) == len(front.years) == 14
    assert all(b >= a for a, b in zip(front.values, front.values[1:]))
    assert front.values[-1] == max(every.values)
    # the record rises more slowly than the mass of parts (new low-end parts keep appearing)
    assert front.fit().doubling_time_years > every.fit().doubling_time_years


def test_classes_and_tables(tables):
    dc = trends.history_points(tables["gpu"], classes=["datacenter"])
    assert 50 < len(dc.years) < len(tables["gpu"])
    cpu = trends.history_points(cpu_rows=tables["cpu"])
    assert cpu.skipped_rows > 0 and len(cpu.years) > 500  # blank years and GFLOPS in cpus.csv are skipped
    tpu = trends.history_points(tpu_rows=tables["tpu"])
    assert tpu.labels == ("Cloud TPU v2", "Cloud TPU v3")  # pods and rows without a figure are skipped
    # the CPU and TPU tables have no bandwidth column: they add nothing and skip nothing
    bw = trends.history_points(tables["gpu"], tables["cpu"], tables["tpu"], metric="memory_bandwidth_bytes_per_s")
    assert bw.skipped_rows == 2
    only_cpu = trends.history_points(tables["gpu"], tables["cpu"], classes=["CPU"])
    assert set(only_cpu.labels) <= {r["CPU"] for r in tables["cpu"]}


def test_blank_and_junk_cells_are_skipped_and_headers_may_carry_units():
    rows = [
        {"Class": "Desktop", "GPU": "a", "Year": "2010", "GFLOPS [FP32 peak]": "100", "TDP [W]": "50",
         "Memory speed [GB/s]": "10"},
        {"Class": "Desktop", "GPU": "b", "Year": " 2012 ", "GFLOPS [FP32 peak]": "400.0", "TDP [W]": "n/a",
         "Memory speed [GB/s]": "-"},
        {"Class": "Desktop", "GPU": "c", "Year": "2014?", "GFLOPS [FP32 peak]": "1600", "TDP [W]": "80",
         "Memory speed [GB/s]": "40"},
        {"Class": "Desktop", "GPU": "d", "Year": "2014", "GFLOPS [FP32 peak]": "", "TDP [W]": "0",
         "Memory speed [GB/s]": "nan"},
        {"Class": "Desktop", "GPU": "e", "Year": "2016", "GFLOPS [FP32 peak]": "6400", "TDP [W]": "100",
         "Memory speed [GB/s]": "inf"},
    ]
    peak = trends.history_points(rows)
    assert peak.labels == ("a", "b", "e") and peak.skipped_rows == 2
    assert peak.values == (100 * GIGA, 400 * GIGA, 6400 * GIGA)
    assert peak.fit().doubling_time_years == pytest.approx(1.0)
    assert trends.history_points(rows, metric="flops_per_s_per_watt").labels == ("a", "e")
    bw = trends.history_points(rows, metric="memory_bandwidth_bytes_per_s")
    assert bw.labels == ("a",) and bw.values == (10 * GIGA,) and bw.skipped_rows == 4


def test_history_rejects_bad_arguments():
    with pytest.raises(CostsimError, match="unknown metric") as err:
        trends.history_points([], metric="flops")
    assert err.value.field == "metric"
    with pytest.raises(CostsimError, match="mappings"):
        trends.history_points(["2010,GPU,100"])


# ---------------------------------------------------------------- the bundled modern profiles
@pytest.fixture(scope="module")
def profiles():
    return [load_profile(n) for n in bundled_names("hardware") if n not in WHAT_IF]


def test_profile_points_keep_the_dtype_explicit(profiles):
    fp32 = trends.profile_points(profiles, "peak_flops_per_s", "fp32")
    bf16 = trends.profile_points(profiles, "peak_flops_per_s", "bf16")
    assert fp32.metric == "peak_flops_per_s:fp32" and bf16.metric == "peak_flops_per_s:bf16"
    h100 = load_profile("h100-sxm")
    assert dict(zip(fp32.labels, fp32.values))["h100-sxm"] == h100.peak_dense_flops_per_s.fp32
    assert dict(zip(bf16.labels, bf16.values))["h100-sxm"] == h100.peak_dense_flops_per_s.bf16
    assert "tpu-v5p" in bf16.labels and "tpu-v5p" not in fp32.labels  # no fp32 figure: skipped
    assert "quantum-ftqc" not in fp32.labels + bf16.labels
    per_watt = trends.profile_points(profiles, "flops_per_s_per_watt", "bf16")
    assert dict(zip(per_watt.labels, per_watt.values))["h100-sxm"] == pytest.approx(
        h100.peak_dense_flops_per_s.bf16 / h100.power.tdp_watts)
    bw = trends.profile_points(profiles, "memory_bandwidth_bytes_per_s")
    assert len(bw.years) == sum(isinstance(p, ClassicalProfile) and p.year is not None for p in profiles)
    fit = bf16.fit()
    assert fit.doubling_time_years > 0 and fit.n == len(bf16.years)
    with pytest.raises(CostsimError, match="unknown dtype"):
        trends.profile_points(profiles, "peak_flops_per_s", "fp7")


# ---------------------------------------------------------------- fit_trend
def test_exact_exponential_is_recovered():
    years = [2000, 2002, 2004, 2006, 2010]
    values = [5e12 * 2 ** ((y - 2000) / 2) for y in years]
    fit = trends.fit_trend(years, values, metric="x")
    assert fit.doubling_time_years == pytest.approx(2.0)
    assert fit.growth_factor_per_year == pytest.approx(math.sqrt(2))
    assert fit.r_squared == pytest.approx(1.0)
    assert fit.doubling_time_interval_years == pytest.approx((2.0, 2.0))
    assert fit.value_at(2004) == pytest.approx(2e13)
    assert fit.reference_year == pytest.approx(np.mean(years))
    assert "doubling every 2.00 years" in fit.describe()


def test_interval_is_the_t_interval_of_the_ols_slope():
    rng = np.random.default_rng(0)
    years = np.repeat(np.arange(2005, 2021), 4)
    values = np.exp(0.3 * (years - 2005) + rng.normal(0, 0.5, years.size))
    fit = trends.fit_trend(years, values)
    ref = stats.linregress(years, np.log(values))
    half = stats.t.ppf(0.975, years.size - 2) * ref.stderr
    assert fit.growth_rate_per_year == pytest.approx(ref.slope)
    assert fit.growth_rate_interval_per_year == pytest.approx((ref.slope - half, ref.slope + half))
    assert fit.r_squared == pytest.approx(ref.rvalue ** 2)
    lo, hi = fit.doubling_time_interval_years
    assert lo == pytest.approx(math.log(2) / (ref.slope + half))
    assert hi == pytest.approx(math.log(2) / (ref.slope - half))
    assert lo < math.log(2) / 0.3 < hi  # the true doubling time is inside
    narrow = trends.fit_trend(years, values, confidence_fraction=0.5)
    assert lo < narrow.doubling_time_interval_years[0] < narrow.doubling_time_interval_years[1] < hi


def test_no_growth_has_no_doubling_time():
    fit = trends.fit_trend([2000, 2001, 2002, 2003], [4.0, 1.0, 4.0, 1.0])
    assert fit.doubling_time_years is None
    assert fit.doubling_time_interval_years[1] is None  # unbounded above
    assert "unbounded" in fit.describe()


@pytest.mark.parametrize("years, values, field, message", [
    ([2000, 2001], [1.0, 2.0], "values", "at least 3"),
    ([], [], "values", "at least 3"),
    ([2000, 2001, 2002], [1.0, 0.0, 2.0], "values", "positive"),
    ([2000, 2001, 2002], [1.0, -3.0, 2.0], "values", "positive"),
    ([2000, 2001, 2002], [1.0, float("nan"), 2.0], "values", "finite"),
    ([2000, 2001, float("inf")], [1.0, 2.0, 3.0], "years", "finite"),
    ([2000, 2001, 2002], [1.0, 2.0], "values", "one value per year"),
    ([2000, 2000, 2000], [1.0, 2.0, 3.0], "years", "one year"),
    ([2000, "x", 2002], [1.0, 2.0, 3.0], "years", "numbers"),
])
def test_fit_rejects_bad_input(years, values, field, message):
    with pytest.raises(CostsimError, match=message) as err:
        trends.fit_trend(years, values)
    assert err.value.field == field
    assert "\n" not in str(err.value)


def test_fit_rejects_a_bad_confidence():
    with pytest.raises(CostsimError) as err:
        trends.fit_trend([1, 2, 3], [1, 2, 4], confidence_fraction=1.0)
    assert err.value.field == "confidence_fraction"


# ---------------------------------------------------------------- growth and projection
def test_growth_from_doubling():
    assert trends.growth_from_doubling(2.0) == pytest.approx(math.sqrt(2))
    assert trends.growth_from_doubling(1) == 2.0
    for bad in (0, -1.0, float("inf"), float("nan"), "2", True):
        with pytest.raises(CostsimError):
            trends.growth_from_doubling(bad)


@pytest.fixture(scope="module")
def h100():
    return raw_profile("h100-sxm")[0]


def test_projected_profile_validates_and_scales_by_the_trend(h100, gpu_fits):
    compute, bandwidth = gpu_fits["peak_flops_per_s"], gpu_fits["memory_bandwidth_bytes_per_s"]
    growth = {"peak_flops_per_s": compute.growth_factor_per_year,
              "memory_bandwidth_bytes_per_s": bandwidth.growth_factor_per_year}
    before = repr(h100)
    raw = projection.project_profile(h100, 2022, 2030, growth, basis=compute.describe())
    assert repr(h100) == before  # the base is not modified
    projected = validate_profile(raw)
    base = validate_profile(h100)
    c, b = compute.growth_factor_per_year ** 8, bandwidth.growth_factor_per_year ** 8
    for dtype in ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8"):
        expected = base.peak_dense_flops_per_s.rate(dtype) * c
        assert projected.peak_dense_flops_per_s.rate(dtype) == pytest.approx(expected)
    assert projected.peak_dense_flops_per_s.int4 is None
    assert projected.memory_bandwidth_bytes_per_s == pytest.approx(base.memory_bandwidth_bytes_per_s * b)
    assert projected.memory_bytes == pytest.approx(base.memory_bytes * b)  # capacity follows bandwidth
    assert projected.power.tdp_watts == base.power.tdp_watts  # TDP constant: FLOP/s per W grows x c
    assert projected.purchase_price_usd == base.purchase_price_usd  # prices constant
    assert projected.cloud_price_usd_per_hour == base.cloud_price_usd_per_hour
    assert projected.intra_node_link == base.intra_node_link
    assert (projected.name, projected.year) == ("h100-sxm-projected-2030", 2030)
    assert "Projection" in projected.description
    source = projected.sources[-1]
    assert source.status == "estimate"
    assert set(source.fields) == {"peak_dense_flops_per_s", "memory_bandwidth_bytes_per_s", "memory_bytes"}
    assert compute.describe() in source.note and "doubling every" in source.note
    assert projected.sources[:-1] == base.sources
    finished = finish_profile(raw, "<projected>")  # borrows the H200 curves like the base does
    assert finished.efficiency is not None


def test_projection_with_stated_doubling_times_and_efficiency(h100):
    growth = {"peak_flops_per_s": trends.growth_from_doubling(2.0),
              "memory_bandwidth_bytes_per_s": trends.growth_from_doubling(4.0),
              "memory_bytes": trends.growth_from_doubling(4.0),
              "flops_per_s_per_watt": trends.growth_from_doubling(4.0),
              "link_bandwidth_bytes_per_s": trends.growth_from_doubling(8.0)}
    projected = validate_profile(projection.project_profile(h100, 2022, 2030, growth))
    base = validate_profile(h100)
    assert projected.peak_dense_flops_per_s.bf16 == pytest.approx(base.peak_dense_flops_per_s.bf16 * 16)
    assert projected.memory_bandwidth_bytes_per_s == pytest.approx(base.memory_bandwidth_bytes_per_s * 4)
    # FLOP/s x16 at FLOP/s per W x4: TDP (and idle) x4
    assert projected.power.tdp_watts == pytest.approx(base.power.tdp_watts * 4)
    assert projected.power.idle_watts == pytest.approx(base.power.idle_watts * 4)
    link = base.intra_node_link.bandwidth_bytes_per_s
    assert projected.intra_node_link.bandwidth_bytes_per_s == pytest.approx(link * 2)
    assert "power.tdp_watts" in projected.sources[-1].fields
    same = validate_profile(projection.project_profile(h100, 2022, 2022, growth))
    assert same.peak_dense_flops_per_s == base.peak_dense_flops_per_s


@pytest.mark.parametrize("kwargs, field", [
    ({"growth": {"peak_flops_per_s": 1.4}}, "growth.memory_bandwidth_bytes_per_s"),
    ({"growth": {"peak_flops_per_s": 1.4, "memory_bandwidth_bytes_per_s": 1.2, "price": 1.0}}, "growth"),
    ({"growth": {"peak_flops_per_s": -1.4, "memory_bandwidth_bytes_per_s": 1.2}}, "growth.peak_flops_per_s"),
    ({"growth": {"peak_flops_per_s": "fast", "memory_bandwidth_bytes_per_s": 1.2}}, "growth.peak_flops_per_s"),
    ({"year": 2030.5}, "year"),
    ({"base": {"name": "x", "extends": "h100-sxm"}}, "base.extends"),
    ({"base": {"name": "x", "kind": "quantum"}}, "base.peak_dense_flops_per_s"),
])
def test_projection_rejects_bad_input(h100, kwargs, field):
    args = {"base": h100, "base_year": 2022, "year": 2030,
            "growth": {"peak_flops_per_s": 1.4, "memory_bandwidth_bytes_per_s": 1.2}} | kwargs
    with pytest.raises(CostsimError) as err:
        projection.project_profile(**args)
    assert err.value.field == field


# ---------------------------------------------------------------- first_year_below
def test_first_year_below_finds_the_crossing_with_few_calls():
    calls = []

    def cost(year):  # $1M in 2020, halving every 2 years
        calls.append(year)
        return 1e6 * 0.5 ** ((year - 2020) / 2)

    year = projection.first_year_below(cost, 1e5, 2000, 2100)
    expected = next(y for y in range(2000, 2101) if cost(y) < 1e5)
    assert year == expected == 2027  # 2026: 125,000; 2027: ~88,400
    assert cost(year) < 1e5 <= cost(year - 1)
    calls.clear()
    projection.first_year_below(cost, 1e5, 2000, 2100)
    assert len(calls) <= 1 + math.ceil(math.log2(101))


def test_first_year_below_edges():
    def cost(year):
        return 100.0 - year

    assert projection.first_year_below(cost, 200.0, 0, 10) == 0  # already below at start
    assert projection.first_year_below(cost, 95.0, 0, 10) == 6  # strictly below: 95 at year 5 is not
    assert projection.first_year_below(cost, 50.0, 0, 10) is None  # never
    assert projection.first_year_below(cost, 95.0, 7, 7) == 7
    assert projection.first_year_below(lambda y: math.inf if y < 2030 else 1.0, 2.0, 2025, 2040) == 2030


def test_first_year_below_rejects_bad_input():
    with pytest.raises(CostsimError) as err:
        projection.first_year_below(lambda y: 1.0, 2.0, 2030, 2020)
    assert err.value.field == "stop"
    with pytest.raises(CostsimError) as err:
        projection.first_year_below(lambda y: 1.0, 2.0, 2020.5, 2030)
    assert err.value.field == "start"
    with pytest.raises(CostsimError) as err:
        projection.first_year_below(lambda y: float("nan"), 2.0, 2020, 2030)
    assert err.value.field == "cost_of_year"
    with pytest.raises(CostsimError) as err:
        projection.first_year_below(lambda y: 1.0, float("nan"), 2020, 2030)
    assert err.value.field == "budget"
