"""Error against training compute: the fits of Thompson et al., "The Computational Limits of Deep Learning"
(arXiv 2007.05558), on their published data set (../shared/data/thompson, read by ``published.load_thompson``).

Two functional forms, each an ordinary least-squares line in log10 of compute ``C`` (FLOPs):

* ``polynomial``:  log10(error) = intercept + slope * log10(C), so error ~ C**slope and compute grows as
  error**-k with ``k = -1 / slope``.
* ``exponential``: error = intercept + slope * log10(C), so each tenfold of compute takes ``-slope`` off the
  error fraction and compute grows exponentially as error falls. It has no single power-law exponent;
  ``exponent_k`` reports its local one, ``-dln(C)/dln(error)`` at the best (lowest) error in the fitted data,
  ``k = -ln(10) * best_error / slope``, which is what the polynomial ``k`` would be if it fitted there.

Errors are fractions: ``1 - score / full_scale`` for the benchmark's score (top-1 accuracy, box AP, F1, BLEU,
all on a 0-100 scale in the data set). Pure: no files, no printing.
"""
from __future__ import annotations

import math
from types import MappingProxyType
from typing import Iterable, Literal, Mapping, Sequence

import numpy as np
from scipy import stats

from ..errors import CostsimError
from ..files.published import cell_number
from ..schema.hardware import Strict

Model = Literal["polynomial", "exponential"]
MODELS: tuple[str, ...] = ("polynomial", "exponential")
# hardware_burden: processors x peak FLOP/s x training time (FLOPs bought); network_operations: FLOPs the
# network needed; computing_power (ImageNet and COCO files only): the data set's consolidated hardware burden,
# the hardware burden where a paper gives one and an estimate from network operations otherwise.
COMPUTE_MEASURES: tuple[str, ...] = ("hardware_burden", "network_operations", "computing_power")
SUBSETS: tuple[str, ...] = ("all", "frontier")
CONFIDENCE = 0.95
MIN_POINTS = 3  # two parameters and at least one degree of freedom for the residual scatter

# The headline table follows the paper: the polynomial model (the form they find fits best and project
# with), on hardware burden (the only measure the data set has for all six benchmarks, and the one their
# projections of cost and CO2 use), fitted to every model that reports its compute (not only the frontier).
HEADLINE: tuple[str, str, str] = ("hardware_burden", "polynomial", "all")  # (compute measure, model, subset)


class Benchmark(Strict):
    """One benchmark of the data set: where its rows are and how a score becomes an error fraction."""

    name: str
    file_name: str
    score_columns: tuple[str, ...]  # the first that parses is used
    metric: str
    full_scale_score: float = 100.0  # the score of a perfect model, in the data set's units (percent, BLEU)
    higher_is_better: bool = True


BENCHMARKS: Mapping[str, Benchmark] = MappingProxyType({b.name: b for b in (
    Benchmark(name="imagenet", file_name="image-classification-on-imagenet.csv",
              score_columns=("(TOP 1 score)",), metric="top-1 error"),
    Benchmark(name="coco", file_name="object-detection-on-coco.csv",
              score_columns=("(BOX AP)",), metric="1 - box AP"),
    Benchmark(name="squad", file_name="question-answering-on-squad-1-1.csv",
              score_columns=("(F1 score)",), metric="1 - F1"),
    Benchmark(name="conll", file_name="named-entity-recognition-on-conll-2003.csv",
              score_columns=("(F1 score)",), metric="1 - F1"),
    Benchmark(name="wmt_en_fr", file_name="machine-translation-on-wmt2014-en-fr.csv",
              score_columns=("(BLEU)",), metric="1 - BLEU/100"),
    Benchmark(name="wmt_en_de", file_name="machine-translation-on-wmt2014-en-de.csv",
              score_columns=("(BLEU)",), metric="1 - BLEU/100"),
)})


class Point(Strict):
    """One model of a benchmark with a usable year, compute and score.

    Attributes:
        year: the model's publication year.
        compute_flops: its training compute in the chosen measure, FLOPs.
        error_fraction: 1 - score / full scale, a fraction in (0, 1).
        name: the model's name in the data set.
    """

    year: int
    compute_flops: float
    error_fraction: float
    name: str


class ScalingFit(Strict):
    """An OLS line of (log10) error on log10 compute, with what ``compute_for_error`` needs to invert it.

    Attributes:
        benchmark: the benchmark's name ('' if unlabelled).
        metric: what its error measures ("top-1 error").
        compute_measure: the compute column fitted (``COMPUTE_MEASURES``).
        model: ``polynomial`` (y = log10 error) or ``exponential`` (y = error fraction).
        subset: ``all`` models or the ``frontier``.
        n: the number of points.
        slope, intercept: the line y = intercept + slope * log10(compute in FLOPs).
        slope_ci95, intercept_ci95: their 95 % intervals.
        r_squared: R^2 of the fit.
        residual_std: the residual standard deviation, in the fitted y.
        exponent_k: compute ~ error**-k (for the exponential model its local value at the best error).
        exponent_k_ci95: k's 95 % interval from the slope's; None where that interval includes 0.
        t_critical: Student's t at 95 %, two-sided, n - 2 degrees of freedom.
        mean_log10_compute: the mean of log10 compute (FLOPs).
        sxx: the sum of squared deviations of log10 compute.
        best_error_fraction, worst_error_fraction: the lowest and highest error in the data.
        min_compute_flops, max_compute_flops: the range of compute in the data, FLOPs.
        headline: whether this is the paper's headline fit (``HEADLINE``).
    """

    benchmark: str
    metric: str
    compute_measure: str
    model: str
    subset: str
    n: int
    slope: float
    intercept: float
    slope_ci95: tuple[float, float]
    intercept_ci95: tuple[float, float]
    r_squared: float
    residual_std: float  # in the fitted y: log10(error fraction) or error fraction
    exponent_k: float  # compute ~ error**-k (see the module docstring for the exponential model)
    exponent_k_ci95: tuple[float, float] | None  # from the slope's interval; None where that includes 0
    t_critical: float
    mean_log10_compute: float
    sxx: float  # sum of squared deviations of log10 compute
    best_error_fraction: float
    worst_error_fraction: float
    min_compute_flops: float
    max_compute_flops: float
    headline: bool = False


class ComputeEstimate(Strict):
    """Compute the fit puts at a target error, with a 95 % interval (None: unbounded on that side).

    Attributes:
        target_error_fraction: the target error, a fraction in (0, 1).
        interval: ``confidence`` (of the fitted line) or ``prediction`` (of one new model).
        log10_compute_flops: log10 of the compute at the target (FLOPs).
        log10_compute_low_flops, log10_compute_high_flops: the interval's ends, log10 FLOPs; None: unbounded.
        compute_flops: the compute at the target, FLOPs.
        compute_low_flops, compute_high_flops: the interval's ends, FLOPs; None: unbounded or beyond a float.
        extrapolated: whether the target lies outside the errors in the fit's data.
    """

    target_error_fraction: float
    interval: str  # "confidence": of the fitted line; "prediction": of one new model
    log10_compute_flops: float
    log10_compute_low_flops: float | None
    log10_compute_high_flops: float | None
    compute_flops: float
    compute_low_flops: float | None
    compute_high_flops: float | None
    extrapolated: bool


# ---------------------------------------------------------------- data
def benchmark(name: str) -> Benchmark:
    """The benchmark of that name (``BENCHMARKS``); an unknown name is an error."""
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise CostsimError(f"unknown benchmark '{name}'; expected one of {', '.join(BENCHMARKS)}",
                           field="benchmark") from None


def points(rows: Sequence[Mapping[str, str]], benchmark_name: str, x: str = "hardware_burden") -> list[Point]:
    """The usable models of one benchmark's rows: a year, a positive compute of measure ``x`` and a score
    strictly between 0 and full scale. Others (blank cells, text) are left out. Sorted by year, then error."""
    bench = benchmark(benchmark_name)
    if x not in COMPUTE_MEASURES:
        raise CostsimError(f"unknown compute measure '{x}'; expected one of {', '.join(COMPUTE_MEASURES)}",
                           field="x")
    columns = set(rows[0]) if rows else set()
    if rows and x not in columns:
        raise CostsimError(f"no column '{x}' in the {bench.name} rows", field="x")
    if rows and not columns.intersection(bench.score_columns):
        raise CostsimError(f"no score column {' or '.join(bench.score_columns)} in the rows; "
                           f"are these {bench.file_name}?", field="benchmark")
    out = []
    for row in rows:
        year, compute = cell_number(row.get("year")), cell_number(row.get(x))
        score = next((s for s in (cell_number(row.get(c)) for c in bench.score_columns) if s is not None), None)
        if year is None or compute is None or score is None or compute <= 0 or year != int(year):
            continue
        if not 0 < score < bench.full_scale_score:
            continue
        error = 1 - score / bench.full_scale_score if bench.higher_is_better else score / bench.full_scale_score
        out.append(Point(year=int(year), compute_flops=compute, error_fraction=error,
                         name=str(row.get("name") or "").strip()))
    return sorted(out, key=lambda p: (p.year, p.error_fraction, p.compute_flops))


def frontier(pts: Iterable[Point]) -> list[Point]:
    """The models that beat every earlier one: in year order (best of a year first), each point whose error
    is lower than that of every point before it. Error is strictly decreasing along the result."""
    out: list[Point] = []
    for p in sorted(pts, key=lambda p: (p.year, p.error_fraction, p.compute_flops)):
        if not out or p.error_fraction < out[-1].error_fraction:
            out.append(p)
    return out


# ---------------------------------------------------------------- fits
def _y(error_fraction, model: str):
    return np.log10(error_fraction) if model == "polynomial" else np.asarray(error_fraction, dtype=float)


def _k(slope: float, model: str, best_error: float) -> float:
    if slope == 0:
        return math.inf
    return -1 / slope if model == "polynomial" else -math.log(10) * best_error / slope


def fit(pts: Sequence[Point], model: str = "polynomial", *, benchmark_name: str = "", compute_measure: str = "",
        subset: str = "all") -> ScalingFit:
    """OLS of the model's y on log10 compute; intervals are 95 % two-sided Student-t on n - 2 degrees of
    freedom. ``benchmark_name``, ``compute_measure`` and ``subset`` only label the result."""
    if model not in MODELS:
        raise CostsimError(f"unknown model '{model}'; expected one of {', '.join(MODELS)}", field="model")
    pts = list(pts)
    if len(pts) < MIN_POINTS:
        raise CostsimError(f"{len(pts)} usable points; a fit needs at least {MIN_POINTS}",
                           field=benchmark_name or "points")
    x = np.log10([p.compute_flops for p in pts])
    err = np.array([p.error_fraction for p in pts])
    y = _y(err, model)
    n = len(pts)
    x_mean = float(x.mean())
    sxx = float(((x - x_mean) ** 2).sum())
    if not sxx > 0:
        raise CostsimError("every point has the same compute; no slope to fit", field=benchmark_name or "points")
    slope = float(((x - x_mean) * (y - y.mean())).sum() / sxx)
    intercept = float(y.mean() - slope * x_mean)
    resid = y - (intercept + slope * x)
    ss_res = float((resid ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    dof = n - 2
    s = math.sqrt(ss_res / dof)
    t = float(stats.t.ppf(0.5 + CONFIDENCE / 2, dof))
    se_slope = s / math.sqrt(sxx)
    se_intercept = s * math.sqrt(1 / n + x_mean ** 2 / sxx)
    slope_ci = (slope - t * se_slope, slope + t * se_slope)
    best = float(err.min())
    k_ci = None
    if slope_ci[1] < 0 or slope_ci[0] > 0:
        k_ci = tuple(sorted((_k(slope_ci[0], model, best), _k(slope_ci[1], model, best))))
    return ScalingFit(
        benchmark=benchmark_name, metric=BENCHMARKS[benchmark_name].metric if benchmark_name in BENCHMARKS else "",
        compute_measure=compute_measure, model=model, subset=subset, n=n, slope=slope, intercept=intercept,
        slope_ci95=slope_ci, intercept_ci95=(intercept - t * se_intercept, intercept + t * se_intercept),
        r_squared=1 - ss_res / ss_tot if ss_tot > 0 else 1.0, residual_std=s,
        exponent_k=_k(slope, model, best), exponent_k_ci95=k_ci, t_critical=t, mean_log10_compute=x_mean,
        sxx=sxx, best_error_fraction=best, worst_error_fraction=float(err.max()),
        min_compute_flops=float(10 ** x.min()),
        max_compute_flops=float(10 ** x.max()))


def _to_flops(log10_flops: float | None) -> float | None:
    if log10_flops is None or log10_flops > math.log10(np.finfo(float).max):
        return None
    return float(10 ** log10_flops)


def compute_for_error(f: ScalingFit, target_error_fraction: float, extrapolate: bool = False,
                      interval: Literal["confidence", "prediction"] = "confidence") -> ComputeEstimate:
    """Compute (FLOPs, of the fit's measure) at which the fitted line reaches ``target_error_fraction``.

    The interval inverts the fit's 95 % band (Fieller / inverse regression): the log10 compute values at
    which the target lies inside the band. ``confidence`` (default) uses the band of the fitted line: where
    the trend reaches the target. ``prediction`` uses the band of one new model (the line's uncertainty plus
    the models' scatter about it): where a single model reaching the target could plausibly sit. A side is
    None (unbounded) where the slope is not significant at 95 %, or beyond the float range.

    A target better than the best error in the fit's data is refused unless ``extrapolate``; a target that
    is not an error fraction in (0, 1) is refused always.
    """
    target = cell_number(target_error_fraction) if not isinstance(target_error_fraction, bool) else None
    if target is None or not 0 < target < 1:
        raise CostsimError(f"target error must be a fraction between 0 and 1 (exclusive), got "
                           f"{target_error_fraction!r}", field="targets")
    if interval not in ("confidence", "prediction"):
        raise CostsimError(f"unknown interval '{interval}'; expected confidence or prediction", field="interval")
    if not f.slope < 0:
        raise CostsimError(f"the {f.benchmark or 'fitted'} error does not fall with compute (slope "
                           f"{f.slope:.3g}); no compute reaches a lower error", field="targets")
    if target < f.best_error_fraction and not extrapolate:
        raise CostsimError(f"{target:g} is better than the best error in the fit's data "
                           f"({f.best_error_fraction:.4g}); pass extrapolate to project beyond it", field="targets")
    y_t = float(_y(target, f.model))
    centre = (y_t - f.intercept) / f.slope
    outside = target > f.worst_error_fraction
    if outside and not extrapolate:
        raise CostsimError(f"{target:g} is worse than the worst error in the fit's data "
                           f"({f.worst_error_fraction:.4g}): "
                           f"the fit would put it at {10 ** centre:.3g} FLOPs, outside its data; pass extrapolate to "
                           f"project beyond it", field="targets")
    extrapolated = target < f.best_error_fraction or outside
    if centre > math.log10(np.finfo(float).max):
        raise CostsimError(f"the fit puts error {target:g} beyond 1e308 FLOPs", field="targets")
    # (D - b u)^2 = t^2 s^2 (c + 1/n + u^2 / Sxx), u = x - mean(x), D = y_t - mean(y)
    b, ts2 = f.slope, (f.t_critical * f.residual_std) ** 2
    c = 1.0 if interval == "prediction" else 0.0
    d = y_t - (f.intercept + b * f.mean_log10_compute)
    qa = b * b - ts2 / f.sxx
    qb = -2 * d * b
    qc = d * d - ts2 * (c + 1 / f.n)
    low = high = None
    disc = qb * qb - 4 * qa * qc
    if qa > 0 and disc >= 0:
        roots = sorted(f.mean_log10_compute + (-qb + sign * math.sqrt(disc)) / (2 * qa) for sign in (-1, 1))
        low, high = roots
    return ComputeEstimate(
        target_error_fraction=target, interval=interval, log10_compute_flops=centre,
        log10_compute_low_flops=low, log10_compute_high_flops=high, compute_flops=float(10 ** centre),
        compute_low_flops=_to_flops(low), compute_high_flops=_to_flops(high), extrapolated=extrapolated)


def fit_all(rows_by_benchmark: Mapping[str, Sequence[Mapping[str, str]]],
            measures: Sequence[str] = ("hardware_burden", "network_operations"),
            models: Sequence[str] = MODELS, subsets: Sequence[str] = SUBSETS) -> list[ScalingFit]:
    """Every fit of every benchmark given (name -> its rows, as ``published.load_thompson`` reads them): each
    compute measure, model and subset (all models, or the frontier). Combinations with fewer than
    ``MIN_POINTS`` usable points, or a measure the file lacks, are left out. The rows of ``HEADLINE`` (the
    paper's choice: polynomial, hardware burden, all models) are marked ``headline=True``."""
    out = []
    for name, rows in rows_by_benchmark.items():
        benchmark(name)
        for measure in measures:
            if rows and measure not in rows[0]:
                continue
            everything = points(rows, name, measure)
            for subset in subsets:
                if subset not in SUBSETS:
                    raise CostsimError(f"unknown subset '{subset}'; expected all or frontier", field="subset")
                pts = everything if subset == "all" else frontier(everything)
                if len(pts) < MIN_POINTS or len({p.compute_flops for p in pts}) < 2:
                    continue
                for model in models:
                    r = fit(pts, model, benchmark_name=name, compute_measure=measure, subset=subset)
                    is_headline = (measure, model, subset) == HEADLINE
                    out.append(r.model_copy(update={"headline": is_headline}) if is_headline else r)
    return out
