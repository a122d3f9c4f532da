"""Projections: a hypothetical device of a future year grown from a real one at per-year growth factors
(fitted in ``trends`` or stated), and the first year in which a run's projected cost falls under a budget.

``project_profile`` takes and returns a raw profile dict that the caller validates with
``loader.validate_profile`` (or ``loader.finish_profile``). Years are calendar years.
"""
from __future__ import annotations

import copy
import math
import sys
from typing import Callable, Mapping

import numpy as np

from ..errors import CostsimError
from .trends import LN2

GROWTH_KEYS = ("peak_flops_per_s", "memory_bandwidth_bytes_per_s", "memory_bytes", "flops_per_s_per_watt",
               "link_bandwidth_bytes_per_s")
"""Keys ``project_profile`` accepts in ``growth`` (factors per calendar year); the first two are required."""


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
        "cite": f"costsim trend projection of {name} from {base_year} to {year} "
                "(simulator.analysis.projection.project_profile)",
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
