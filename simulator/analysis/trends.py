"""Hardware trends: fit how peak FLOP/s, FLOP/s per watt and memory bandwidth grew per year, and
project a profile forward to a future year.

A trend is log-linear: ``value = a * exp(r * (year - reference_year))``, fitted by ordinary least
squares on ``ln(value)``. Years here are calendar years (the unit of release dates), not
``units.SECONDS_PER_YEAR`` of elapsed time, so rates are per year and doubling times are in years
(``doubling_time_years``); nothing in this module converts them to seconds.

Inputs are rows, never files: ``history_points`` takes the rows of the MIT FutureTech hardware tables
(``gpus.csv``, ``cpus.csv``, ``tpus.csv``, read with ``loader.load_csv_raw``), ``profile_points`` takes
loaded profiles, ``project_profile`` takes and returns a raw profile dict that the caller validates with
``loader.validate_profile`` (or ``loader.finish_profile``).
"""
from __future__ import annotations

import copy
import math
import re
import sys
from typing import Callable, Iterable, Mapping

import numpy as np
from scipy import stats

from ..errors import CostsimError
from ..files.loader import cell_number
from ..schema.hardware import ClassicalProfile, Strict
from ..units import GIGA

METRICS = ("peak_flops_per_s", "flops_per_s_per_watt", "memory_bandwidth_bytes_per_s")
"""What ``history_points`` and ``profile_points`` extract. Historical FLOP/s are FP32 (non-tensor)."""

GROWTH_KEYS = ("peak_flops_per_s", "memory_bandwidth_bytes_per_s", "memory_bytes", "flops_per_s_per_watt",
               "link_bandwidth_bytes_per_s")
"""Keys ``project_profile`` accepts in ``growth`` (factors per calendar year); the first two are required."""

LN2 = math.log(2.0)


# ---------------------------------------------------------------- the fit
class Trend(Strict):
    """A log-linear fit ``value = value_at_reference_year * exp(growth_rate_per_year * (year - reference_year))``.

    Intervals are two-sided at ``confidence_fraction`` from Student's t on the OLS slope (n - 2 degrees
    of freedom); the growth-factor and doubling-time intervals are the slope interval transformed. A
    doubling time is None where the rate is not positive (no doubling; as an interval bound: unbounded).
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
    """Year/value pairs of one metric, with the device each came from and how many rows were unusable."""

    metric: str
    years: tuple[float, ...]
    values: tuple[float, ...]
    labels: tuple[str, ...]
    skipped_rows: int = 0
    frontier: bool = False

    def pairs(self) -> list[tuple[float, float]]:
        return list(zip(self.years, self.values))

    def fit(self, confidence_fraction: float = 0.95) -> Trend:
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


# ---------------------------------------------------------------- projection
def _growth_factor(growth: Mapping, key: str, years: int, default: float | None = None) -> float:
    value = growth.get(key, default)
    if value is None:
        raise CostsimError("missing: a growth factor per year is needed (e.g. growth_from_doubling(2.3))",
                           field=f"growth.{key}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise CostsimError(f"must be a positive growth factor per year, not {value!r}", field=f"growth.{key}")
    log_factor = years * math.log(float(value))
    if abs(log_factor) > math.log(sys.float_info.max) / 2:
        raise CostsimError(f"a factor of {value:g} per year over {years} years is beyond any float",
                           field=f"growth.{key}")
    return math.exp(log_factor)


def _scaled(node: Mapping, key: str, factor: float, where: str) -> float:
    value = node.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CostsimError(f"base profile needs a number here to scale, not {value!r}", field=f"{where}{key}")
    return float(value) * factor


def _doubling_text(factor_per_year: float) -> str:
    if factor_per_year == 1:
        return "constant"
    verb = "doubling" if factor_per_year > 1 else "halving"
    return f"x{factor_per_year:.3f}/year ({verb} every {abs(LN2 / math.log(factor_per_year)):.2f} years)"


def project_profile(base: Mapping, base_year: int, year: int, growth: Mapping[str, float], *,
                    basis: str = "") -> dict:
    """A raw profile dict for a hypothetical device of ``year``, grown from ``base`` (a device of
    ``base_year``) at the per-year factors in ``growth``; validate it with ``loader.validate_profile``.

    ``base`` is a raw profile dict with ``extends`` already expanded (``loader.raw_profile(name)[0]``).
    ``growth`` keys (factors per calendar year, e.g. ``growth_from_doubling(2.1)``):

    * ``peak_flops_per_s`` (required): every dtype's dense peak, fp32 and tensor dtypes alike.
    * ``memory_bandwidth_bytes_per_s`` (required): HBM/DRAM bandwidth.
    * ``memory_bytes``: memory capacity; absent, it grows with the bandwidth (Epoch AI finds both doubling
      every ~4 years). ``sram_bytes`` stays as it is.
    * ``flops_per_s_per_watt``: absent, TDP (and idle power) stay constant, so FLOP/s per watt grows with
      the compute factor; given, TDP and idle power scale by compute factor / efficiency factor.
    * ``link_bandwidth_bytes_per_s``: intra- and inter-node link bandwidth; absent, constant.

    Held constant: purchase and cloud prices (so FLOP/s per dollar grows with compute), link latencies,
    host power, launch overhead, efficiency curves (written against ideal time, they carry over to new
    peaks) and everything else. The result's ``sources`` are the base's plus one ``estimate`` entry
    naming the scaled fields and the rates, with ``basis`` (e.g. ``Trend.describe()`` of the fits).
    """
    if not isinstance(base, Mapping):
        raise CostsimError("must be a raw profile mapping", field="base")
    if "extends" in base:
        raise CostsimError("expand 'extends' first (loader.raw_profile)", field="base.extends")
    for label, value in (("base_year", base_year), ("year", year)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise CostsimError(f"must be a whole calendar year, not {value!r}", field=label)
    if not isinstance(growth, Mapping):
        raise CostsimError("must map growth keys to factors per year", field="growth")
    unknown = sorted(set(growth) - set(GROWTH_KEYS))
    if unknown:
        raise CostsimError(f"unknown key(s) {', '.join(map(str, unknown))} (known: {', '.join(GROWTH_KEYS)})",
                           field="growth")
    peaks = base.get("peak_dense_flops_per_s")
    if not isinstance(peaks, Mapping) or not peaks:
        raise CostsimError("base profile has no peak rates to scale", field="base.peak_dense_flops_per_s")
    span = year - base_year
    compute = _growth_factor(growth, "peak_flops_per_s", span)
    bandwidth = _growth_factor(growth, "memory_bandwidth_bytes_per_s", span)
    capacity = _growth_factor(growth, "memory_bytes", span, growth.get("memory_bandwidth_bytes_per_s"))
    efficiency = _growth_factor(growth, "flops_per_s_per_watt", span, growth.get("peak_flops_per_s"))
    links = _growth_factor(growth, "link_bandwidth_bytes_per_s", span, 1.0)
    power_factor = compute / efficiency

    out = copy.deepcopy(dict(base))
    out["peak_dense_flops_per_s"] = {
        k: None if v is None else _scaled(peaks, k, compute, "base.peak_dense_flops_per_s.") for k, v in peaks.items()}
    out["memory_bandwidth_bytes_per_s"] = _scaled(base, "memory_bandwidth_bytes_per_s", bandwidth, "base.")
    out["memory_bytes"] = _scaled(base, "memory_bytes", capacity, "base.")
    scaled = ["peak_dense_flops_per_s", "memory_bandwidth_bytes_per_s", "memory_bytes"]
    if links != 1:
        for link in ("intra_node_link", "inter_node_link"):
            node = base.get(link)
            if not isinstance(node, Mapping):
                raise CostsimError("base profile has no link to scale", field=f"base.{link}")
            out[link]["bandwidth_bytes_per_s"] = _scaled(node, "bandwidth_bytes_per_s", links, f"base.{link}.")
            scaled.append(f"{link}.bandwidth_bytes_per_s")
    if power_factor != 1:
        power = base.get("power")
        if not isinstance(power, Mapping):
            raise CostsimError("base profile has no power block to scale", field="base.power")
        for key in ("tdp_watts", "idle_watts"):
            out["power"][key] = _scaled(power, key, power_factor, "base.power.")
            scaled.append(f"power.{key}")

    name = str(base.get("name", "device"))
    out["name"] = f"{name}-projected-{year}"
    out["year"] = year
    out["description"] = (f"Projection: a {year} device grown from {name} ({base_year}) along historical "
                          f"trends; not a real product")
    rates = {
        "peak FLOP/s (every dtype)": growth["peak_flops_per_s"],
        "memory bandwidth": growth.get("memory_bandwidth_bytes_per_s"),
        "memory capacity": growth.get("memory_bytes", growth.get("memory_bandwidth_bytes_per_s")),
        "FLOP/s per watt": growth.get("flops_per_s_per_watt", growth.get("peak_flops_per_s")),
        "link bandwidth": growth.get("link_bandwidth_bytes_per_s", 1.0),
    }
    note = "; ".join(f"{k}: {_doubling_text(float(v))}" for k, v in rates.items())
    note += (f". Over {span} years from {base_year}: compute x{compute:.3g}, bandwidth x{bandwidth:.3g}, "
             f"capacity x{capacity:.3g}, TDP x{power_factor:.3g}. Held constant: prices, latencies, host "
             f"power, SRAM, launch overhead, efficiency curves.")
    if basis:
        note += f" Basis: {basis}"
    out["sources"] = list(copy.deepcopy(base.get("sources") or [])) + [{
        "cite": f"costsim trend projection of {name} from {base_year} to {year} (simulator.analysis.trends.project_profile)",
        "fields": scaled,
        "status": "estimate",
        "note": note,
    }]
    notes = str(base.get("notes", "") or "").strip()
    out["notes"] = (f"{notes} " if notes else "") + f"[Projected to {year}: {note}]"
    return out


# ---------------------------------------------------------------- when does it become affordable
def first_year_below(cost_of_year: Callable[[int], float], budget: float, start: int, stop: int) -> int | None:
    """The first whole year in ``[start, stop]`` (both included) with ``cost_of_year(year) < budget``, or
    None if even ``stop`` is not below it.

    ``cost_of_year`` must be pure and non-increasing in the year (hardware only gets cheaper per unit of
    work); the search bisects, calling it O(log(stop - start)) times. Infinite costs are allowed (not
    feasible that year); NaN is an error.
    """
    for label, value in (("start", start), ("stop", stop)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise CostsimError(f"must be a whole year, not {value!r}", field=label)
    if stop < start:
        raise CostsimError(f"stop ({stop}) is before start ({start})", field="stop")
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or math.isnan(budget):
        raise CostsimError(f"must be a number, not {budget!r}", field="budget")

    def below(year: int) -> bool:
        cost = cost_of_year(year)
        if isinstance(cost, bool) or not isinstance(cost, (int, float, np.floating, np.integer)) or math.isnan(cost):
            raise CostsimError(f"cost_of_year({year}) returned {cost!r}, not a number", field="cost_of_year")
        return cost < budget

    if not below(stop):
        return None
    lo, hi = start, stop  # invariant: below(hi); every year before lo is not below
    while lo < hi:
        mid = (lo + hi) // 2
        if below(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi
