"""Hardware trends: fit how peak FLOP/s, FLOP/s per watt and memory bandwidth grew per year.

A trend is log-linear: ``value = a * exp(r * (year - reference_year))``, fitted by ordinary least
squares on ``ln(value)``. Years here are calendar years (the unit of release dates), not
``units.SECONDS_PER_YEAR`` of elapsed time, so rates are per year and doubling times are in years
(``doubling_time_years``); nothing in this module converts them to seconds. Carrying a profile forward
along the fitted rates is ``projection``.

Inputs are rows, never files: ``history_points`` takes the rows of the MIT FutureTech hardware tables
(``gpus.csv``, ``cpus.csv``, ``tpus.csv``, read with ``published.load_csv_raw``), ``profile_points`` takes
loaded profiles.
"""
from __future__ import annotations

import math
import re
from typing import Iterable, Mapping

import numpy as np
from scipy import stats

from ..errors import CostsimError
from ..files.published import cell_number
from ..schema.hardware import ClassicalProfile, Strict
from ..units import GIGA

METRICS = ("peak_flops_per_s", "flops_per_s_per_watt", "memory_bandwidth_bytes_per_s")
"""What ``history_points`` and ``profile_points`` extract. Historical FLOP/s are FP32 (non-tensor)."""

LN2 = math.log(2.0)


# ---------------------------------------------------------------- the fit
class Trend(Strict):
    """A log-linear fit ``value = value_at_reference_year * exp(growth_rate_per_year * (year - reference_year))``.

    Intervals are two-sided at ``confidence_fraction`` from Student's t on the OLS slope (n - 2 degrees
    of freedom); the growth-factor and doubling-time intervals are the slope interval transformed. A
    doubling time is None where the rate is not positive (no doubling; as an interval bound: unbounded).

    Attributes:
        metric: what was fitted (a ``METRICS`` name, with ``:dtype`` for profile points; '' if unnamed).
        n: the number of points.
        first_year, last_year: the earliest and latest year of the points (calendar years).
        reference_year: the mean year, where the intercept is taken.
        value_at_reference_year: the fitted value there, in the metric's own unit.
        growth_rate_per_year: r, the OLS slope of ln(value), per year.
        growth_rate_interval_per_year: (low, high) of r at ``confidence_fraction``, per year.
        growth_factor_per_year: exp(r), the factor the value grows by each year.
        growth_factor_interval_per_year: (low, high) of that factor.
        doubling_time_years: ln 2 / r, years; None where r is not positive.
        doubling_time_interval_years: (shortest, longest) doubling time, years; None: unbounded.
        r_squared: the fit's R^2 on ln(value).
        confidence_fraction: the two-sided confidence level of the intervals (0.95: 95 %).
    """

    metric: str = ""
    n: int
    first_year: float
    last_year: float
    reference_year: float
    value_at_reference_year: float
    growth_rate_per_year: float
    growth_rate_interval_per_year: tuple[float, float]
    growth_factor_per_year: float
    growth_factor_interval_per_year: tuple[float, float]
    doubling_time_years: float | None
    doubling_time_interval_years: tuple[float | None, float | None]
    r_squared: float
    confidence_fraction: float

    def value_at(self, year: float) -> float:
        """The fitted value in ``year`` (in the metric's own unit)."""
        return self.value_at_reference_year * math.exp(self.growth_rate_per_year * (year - self.reference_year))

    def describe(self) -> str:
        """One line for a ``sources`` note: the doubling time with its interval, n, years and R^2."""
        lo, hi = self.doubling_time_interval_years
        return (f"{self.metric or 'trend'}: doubling every {_years_text(self.doubling_time_years)} years "
                f"[{_years_text(lo)}, {_years_text(hi)}] ({self.confidence_fraction:.0%} CI), "
                f"x{self.growth_factor_per_year:.3f}/year, n={self.n}, "
                f"{self.first_year:g}-{self.last_year:g}, R^2={self.r_squared:.2f}")


def _years_text(value: float | None) -> str:
    return "unbounded" if value is None else f"{value:.2f}"


def _doubling(rate: float) -> float | None:
    return LN2 / rate if rate > 0 else None


def _finite_array(values, field: str) -> np.ndarray:
    try:
        out = np.asarray(list(values), dtype=float)
    except (TypeError, ValueError):
        raise CostsimError("must be a sequence of numbers", field=field) from None
    if out.ndim != 1:
        raise CostsimError("must be a flat sequence of numbers", field=field)
    if not np.all(np.isfinite(out)):
        raise CostsimError("must be finite numbers (no NaN or infinity)", field=field)
    return out


def fit_trend(years: Iterable[float], values: Iterable[float], *, metric: str = "",
              confidence_fraction: float = 0.95) -> Trend:
    """Fit exponential growth to ``(year, value)`` points by OLS on ``ln(value)``.

    The reference year is the mean year (which makes the intercept and slope estimates uncorrelated).
    Needs at least 3 points (one residual degree of freedom), positive values and two distinct years.
    """
    x = _finite_array(years, "years")
    y = _finite_array(values, "values")
    if x.size != y.size:
        raise CostsimError(f"{y.size} values for {x.size} years: need one value per year", field="values")
    if x.size < 3:
        raise CostsimError(f"{x.size} points: a trend with an interval needs at least 3", field="values")
    if np.any(y <= 0):
        raise CostsimError(f"must be positive for a log-linear fit (smallest: {y.min():g})", field="values")
    if not 0 < confidence_fraction < 1:
        raise CostsimError("must be between 0 and 1 (exclusive)", field="confidence_fraction")
    reference = float(x.mean())
    dx = x - reference
    sxx = float(dx @ dx)
    if sxx == 0:
        raise CostsimError("all points are in one year: no growth rate can be fitted", field="years")
    log_y = np.log(y)
    slope = float(dx @ (log_y - log_y.mean()) / sxx)
    intercept = float(log_y.mean())
    residuals = log_y - (intercept + slope * dx)
    ssr = float(residuals @ residuals)
    sst = float(((log_y - intercept) ** 2).sum())
    r_squared = 1.0 - ssr / sst if sst > 0 else 1.0
    dof = x.size - 2
    slope_se = math.sqrt(ssr / dof / sxx)
    half = float(stats.t.ppf(0.5 + confidence_fraction / 2, dof)) * slope_se
    low, high = slope - half, slope + half
    return Trend(
        metric=metric, n=int(x.size), first_year=float(x.min()), last_year=float(x.max()),
        reference_year=reference, value_at_reference_year=math.exp(intercept),
        growth_rate_per_year=slope, growth_rate_interval_per_year=(low, high),
        growth_factor_per_year=math.exp(slope), growth_factor_interval_per_year=(math.exp(low), math.exp(high)),
        doubling_time_years=_doubling(slope),
        doubling_time_interval_years=(_doubling(high), _doubling(low)),
        r_squared=r_squared, confidence_fraction=confidence_fraction,
    )


def growth_from_doubling(years: float) -> float:
    """The growth factor per year of something that doubles every ``years`` years."""
    if isinstance(years, bool) or not isinstance(years, (int, float)) or not math.isfinite(years) or years <= 0:
        raise CostsimError(f"must be a positive number of years, not {years!r}", field="doubling_time_years")
    return 2.0 ** (1.0 / years)


# ---------------------------------------------------------------- points
class Points(Strict):
    """Year/value pairs of one metric, with the device each came from and how many rows were unusable.

    Attributes:
        metric: the ``METRICS`` name (profile points: ``metric:dtype`` for the FLOP/s metrics).
        years: each point's release year (calendar years).
        values: each point's value, in the metric's SI unit (FLOP/s, FLOP/s per W, B/s).
        labels: the device each point came from.
        skipped_rows: rows or profiles left out for a blank or unusable year or value.
        frontier: whether the points are the running record (best device so far) rather than one per device.
    """

    metric: str
    years: tuple[float, ...]
    values: tuple[float, ...]
    labels: tuple[str, ...]
    skipped_rows: int = 0
    frontier: bool = False

    def pairs(self) -> list[tuple[float, float]]:
        """The points as (year, value) pairs."""
        return list(zip(self.years, self.values))

    def fit(self, confidence_fraction: float = 0.95) -> Trend:
        """The log-linear :class:`Trend` of these points (``fit_trend``)."""
        return fit_trend(self.years, self.values, metric=self.metric, confidence_fraction=confidence_fraction)


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise CostsimError(f"unknown metric '{metric}' (known: {', '.join(METRICS)})", field="metric")


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(header).lower())


def _column(row: Mapping, *names: str):
    """The cell of the first header that, lower-cased and without punctuation, starts with one of
    ``names``: tolerant of unit suffixes such as ``GFLOPS (FP32)`` or ``TDP [W]``."""
    keys = {_key(k): v for k, v in row.items() if k is not None}
    for name in names:
        if name in keys:
            return keys[name]
        for key, value in keys.items():
            if key.startswith(name):
                return value
    return None


def _year(cell) -> int | None:
    value = cell_number(cell, positive=True)
    return int(value) if value is not None and value == int(value) else None


# Per table: its class label (None: the row's own Class cell), and the columns of year, FP32 GFLOP/s,
# board power (W) and memory bandwidth (GB/s); a table without a column contributes nothing to its metric.
_TABLES = {
    "gpu": (None, ("year",), ("gflops",), ("tdp",), ("memoryspeed", "memorybandwidth")),
    "cpu": ("CPU", ("year",), ("gflops",), ("tdp",), ()),
    "tpu": ("TPU", ("releaseyear", "year"), ("gflops",), ("tdp",), ()),
}


def _row_point(table: str, row: Mapping, metric: str) -> tuple[str, int | None, float | None]:
    label, year_cols, flops_cols, tdp_cols, bandwidth_cols = _TABLES[table]
    klass = label or str(_column(row, "class") or "").strip()
    year = _year(_column(row, *year_cols))
    gflops = cell_number(_column(row, *flops_cols), positive=True)
    if metric == "peak_flops_per_s":
        value = gflops * GIGA if gflops else None
    elif metric == "flops_per_s_per_watt":
        watts = cell_number(_column(row, *tdp_cols), positive=True) if tdp_cols else None
        value = gflops * GIGA / watts if gflops and watts else None
    else:
        gb_per_s = cell_number(_column(row, *bandwidth_cols), positive=True) if bandwidth_cols else None
        value = gb_per_s * GIGA if gb_per_s else None
    return klass, year, value


def _name(table: str, row: Mapping) -> str:
    cols = {"gpu": ("gpu",), "cpu": ("cpu", "cpumodel"), "tpu": ("tpu",)}[table]
    return str(_column(row, *cols) or "").strip() or f"<{table} row>"


def history_points(gpu_rows: Iterable[Mapping] = (), cpu_rows: Iterable[Mapping] = (),
                   tpu_rows: Iterable[Mapping] = (), metric: str = "peak_flops_per_s", *,
                   classes: Iterable[str] | None = None, frontier: bool = False) -> Points:
    """Year/value points of ``metric`` from the rows of the historical tables (as ``load_csv_raw`` gives).

    Metrics, all SI: ``peak_flops_per_s`` (the tables' peak FP32 GFLOPS x ``units.GIGA``),
    ``flops_per_s_per_watt`` (that over the TDP in W) and ``memory_bandwidth_bytes_per_s`` (GB/s, decimal
    as datasheets give it, x ``units.GIGA``; only the GPU table has it). ``classes`` keeps rows of those
    classes (case-insensitive): the GPU table's own ``Class`` (Desktop, Workstation, Datacenter), ``CPU``
    for CPU rows, ``TPU`` for TPU rows; None keeps all. Rows with a blank or junk year or value are
    skipped and counted. TPU pods are systems, not devices, and are always skipped. Beware that the TPU
    table's "FP32" column holds Google's board-level (multi-chip) matrix peaks, which are bf16 multiplies.

    ``frontier=False`` (what the headline fits use): one point per device. ``frontier=True``: one point per
    year, the best device released in or before that year (the running record).
    """
    _check_metric(metric)
    wanted = None if classes is None else {str(c).casefold() for c in classes}
    found: list[tuple[int, float, str]] = []
    skipped = 0
    for table, rows in (("gpu", gpu_rows), ("cpu", cpu_rows), ("tpu", tpu_rows)):
        if metric == "memory_bandwidth_bytes_per_s" and not _TABLES[table][4]:
            continue  # the table has no such column: it contributes nothing, and skips nothing
        for row in rows:
            if not isinstance(row, Mapping):
                raise CostsimError(f"rows must be mappings of column to cell, not {type(row).__name__}",
                                   field=f"{table}_rows")
            klass, year, value = _row_point(table, row, metric)
            if wanted is not None and klass.casefold() not in wanted:
                continue
            name = _name(table, row)
            if year is None or value is None or (table == "tpu" and name.lower().endswith("pod")):
                skipped += 1
                continue
            found.append((year, value, name))
    found.sort(key=lambda p: (p[0], p[1]))
    if frontier:
        best: dict[int, tuple[float, str]] = {}
        record: tuple[float, str] | None = None
        for year, value, name in found:
            if record is None or value > record[0]:
                record = (value, name)
            best[year] = record
        found = [(year, value, name) for year, (value, name) in sorted(best.items())]
    return Points(metric=metric, years=tuple(float(p[0]) for p in found), values=tuple(p[1] for p in found),
                  labels=tuple(p[2] for p in found), skipped_rows=skipped, frontier=frontier)


def profile_points(profiles: Iterable, metric: str = "peak_flops_per_s", dtype: str = "fp32") -> Points:
    """Year/value points of ``metric`` from loaded profiles (``loader.load_profile``).

    FLOP/s metrics use the profile's dense peak for ``dtype``: keep it explicit, since fp32 (vector
    units) and bf16/fp16/fp8 (matrix units) differ by an order of magnitude and more on modern parts, and
    the historical tables are fp32. Per watt divides by ``power.tdp_watts``. Profiles without a year, that
    are not classical devices (quantum), or that lack the dtype are skipped and counted. What-if profiles
    (e.g. ``h100-2x-bandwidth``) are not real devices: leave them out of what you pass.
    """
    _check_metric(metric)
    found: list[tuple[int, float, str]] = []
    skipped = 0
    for profile in profiles:
        if not isinstance(profile, ClassicalProfile) or profile.year is None:
            skipped += 1
            continue
        if metric == "memory_bandwidth_bytes_per_s":
            value = profile.memory_bandwidth_bytes_per_s
        else:
            if not hasattr(profile.peak_dense_flops_per_s, str(dtype)):
                raise CostsimError(f"unknown dtype '{dtype}'", field="dtype")
            value = profile.peak_dense_flops_per_s.rate(dtype)
            if value is not None and metric == "flops_per_s_per_watt":
                value = value / profile.power.tdp_watts
        if value is None:
            skipped += 1
            continue
        found.append((profile.year, value, profile.name))
    found.sort(key=lambda p: (p[0], p[1]))
    return Points(metric=f"{metric}:{dtype}" if metric != "memory_bandwidth_bytes_per_s" else metric,
                  years=tuple(float(p[0]) for p in found), values=tuple(p[1] for p in found),
                  labels=tuple(p[2] for p in found), skipped_rows=skipped)
