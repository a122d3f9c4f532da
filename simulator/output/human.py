"""Numbers as a person reads them: one formatter that picks the unit by magnitude.

Everything inside costsim is SI; this module is the edge where a figure becomes text for a person
(text tables, Markdown, HTML, plot labels). JSON and CSV keep the SI numbers.

Rules, the same for every kind of quantity:

* the unit is the largest one in which the value is at least 1 (so 0.9996 s reads "1 s", 59.9 s reads
  "59.9 s" and 60 s reads "1 min");
* three significant figures, trailing zeros dropped ("1.5 h", "12.3 kWh", "999 ms"); a value of 1,000
  or more in the largest unit keeps four significant figures with thousands separators ("1,234 years"),
  and from 1e15 reads in scientific notation ("8.1e+45 years");
* negative values keep their sign ("-3.2 kWh", "-$12.3"), zero reads in the base unit ("0 s", "$0");
* ``None`` (no figure, for example a run that was not estimated) reads "–"; NaN or infinity is a
  caller's bug and raises ``ValueError``, so "nan" never reaches a reader.

``axis_unit`` picks one unit for a whole column or plot axis, so that a plot can say
"training time (days)" and divide its values by the scale; ``error_cell`` turns an error into a
table's cell (why a device was not estimated, under 100 characters).
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable

from ..errors import CostsimError, OutOfMemoryError, UnsupportedError
from ..units import (
    EXA,
    GIGA,
    GRAMS_PER_KG,
    JOULES_PER_GWH,
    JOULES_PER_KWH,
    JOULES_PER_MWH,
    JOULES_PER_TWH,
    JOULES_PER_WH,
    KG_PER_TONNE,
    KILO,
    MEGA,
    MICRO,
    MILLI,
    NANO,
    PERCENT,
    PETA,
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    SECONDS_PER_MINUTE,
    SECONDS_PER_YEAR,
    TERA,
    YOTTA,
    ZETTA,
)

MISSING = "–"

# Unit ladders, ascending: (size of the unit in SI base units, label). The first entry is the unit used
# for zero and for values smaller than every unit.
_LADDERS: dict[str, tuple[tuple[float, str], ...]] = {
    "time": ((NANO, "ns"), (MICRO, "µs"), (MILLI, "ms"), (1.0, "s"), (SECONDS_PER_MINUTE, "min"),
             (SECONDS_PER_HOUR, "h"), (SECONDS_PER_DAY, "days"), (SECONDS_PER_YEAR, "years")),
    "energy": ((MILLI, "mJ"), (1.0, "J"), (KILO, "kJ"), (JOULES_PER_WH, "Wh"), (JOULES_PER_KWH, "kWh"),
               (JOULES_PER_MWH, "MWh"), (JOULES_PER_GWH, "GWh"), (JOULES_PER_TWH, "TWh")),
    # CO2 is counted in kilograms inside costsim.
    "co2": ((1.0 / GRAMS_PER_KG, "g CO2"), (1.0, "kg CO2"), (KG_PER_TONNE, "t CO2")),
    "bytes": ((1.0, "B"), (KILO, "kB"), (MEGA, "MB"), (GIGA, "GB"), (TERA, "TB"), (PETA, "PB")),
    "flops_per_s": ((1.0, "FLOP/s"), (MEGA, "MFLOP/s"), (GIGA, "GFLOP/s"), (TERA, "TFLOP/s"),
                    (PETA, "PFLOP/s"), (EXA, "EFLOP/s")),
    "flops": ((1.0, "FLOP"), (MEGA, "MFLOP"), (GIGA, "GFLOP"), (TERA, "TFLOP"), (PETA, "PFLOP"),
              (EXA, "EFLOP"), (ZETTA, "ZFLOP"), (YOTTA, "YFLOP")),
    "power": ((MILLI, "mW"), (1.0, "W"), (KILO, "kW"), (MEGA, "MW"), (GIGA, "GW")),
    "tokens": ((1.0, ""), (KILO, "k"), (MEGA, "M"), (GIGA, "B"), (TERA, "T"), (PETA, "P")),
    # Dollars as text are always "$..." with separators; these larger units serve plot axes only.
    "usd": ((1.0, "$"), (KILO, "thousand $"), (MEGA, "million $"), (GIGA, "billion $")),
    "fraction": ((PERCENT, "%"),),
}
KINDS = tuple(_LADDERS)

_SINGULAR = {"days": "day", "years": "year"}


def _check(x) -> float | None:
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, (int, float)) and not hasattr(x, "__float__"):
        raise TypeError(f"expected a number, got {type(x).__name__}")
    v = float(x)
    if not math.isfinite(v):
        raise ValueError(f"cannot format a non-finite number ({v}) for a reader")
    return v


def _round3(a: float) -> float:
    return float(f"{a:.3g}")


_SCIENTIFIC = 1e15  # from here on a magnitude reads "8.1e+45", not as dozens of grouped digits


def _digits(a: float) -> str:
    """A non-negative magnitude, already scaled into its unit, as 3 (or, from 1,000, 4) significant figures;
    from 1e15 in scientific notation."""
    if a == 0:
        return "0"
    if _round3(a) >= _SCIENTIFIC:
        return f"{a:.4g}"
    if _round3(a) >= 1000:
        return f"{round(float(f'{a:.4g}')):,}"
    return f"{a:.3g}"  # below 1e-4 this is scientific ("1.2e-05"); only the smallest unit gets there


def _pick(ladder, a: float) -> tuple[float, str]:
    """The largest unit in which magnitude ``a`` (rounded to 3 significant figures) is at least 1."""
    r = _round3(a)
    chosen = ladder[0]
    for scale, label in ladder:
        if r >= scale * (1 - 1e-12):
            chosen = (scale, label)
    return chosen


def _base(ladder) -> tuple[float, str]:
    """The unit zero reads in: the SI base unit where the ladder has one."""
    return next(((s, lab) for s, lab in ladder if s == 1.0), ladder[0])


def _with_unit(x, kind: str) -> str:
    v = _check(x)
    if v is None:
        return MISSING
    ladder = _LADDERS[kind]
    a = abs(v)
    scale, label = _base(ladder) if a == 0 else _pick(ladder, a)
    scaled = a / scale
    if 0 < scaled < 1 and (scale, label) != ladder[0]:
        scaled = 1.0  # 0.9995 or more of this unit: rounds to 1 at three significant figures
    text = _digits(scaled)
    if text == "1":
        label = _SINGULAR.get(label, label)
    sign = "-" if v < 0 and text != "0" else ""
    sep = "" if label == "%" else " "
    return f"{sign}{text}{sep}{label}"


def time_s(seconds) -> str:
    """A duration in seconds: "12.3 µs", "45 ms", "1.5 h", "3.2 days", "1,234 years"."""
    return _with_unit(seconds, "time")


def energy_joules(j) -> str:
    """Energy in joules: "850 J", "2.1 kJ", then watt-hours: "12.3 kWh", "1.29 GWh"."""
    return _with_unit(j, "energy")


def co2_kg(kg) -> str:
    """A mass of CO2(e) in kilograms: "450 g CO2", "12.3 kg CO2", "552 t CO2"."""
    return _with_unit(kg, "co2")


def bytes_(b) -> str:
    """Bytes in decimal units: "512 B", "80 GB", "1.2 TB"."""
    return _with_unit(b, "bytes")


def flops_per_s(r) -> str:
    """A FLOP rate: "989 TFLOP/s", "1.2 PFLOP/s"."""
    return _with_unit(r, "flops_per_s")


def flops(n) -> str:
    """A FLOP count: "3.14 ZFLOP" (GFLOP up to YFLOP)."""
    return _with_unit(n, "flops")


def tokens(n) -> str:
    """A count of tokens: "0", "252M", "2.87T"."""
    return _with_unit(n, "tokens").replace(" ", "")


def power_watts(w) -> str:
    """Power in watts: "650 W", "10.4 kW", "25.6 MW"."""
    return _with_unit(w, "power")


def usd(x) -> str:
    """US dollars: "$1,234", "$12.3", "$0.0042", "-$5"."""
    v = _check(x)
    if v is None:
        return MISSING
    text = _digits(abs(v))
    sign = "-" if v < 0 and text != "0" else ""
    return f"{sign}${text}"


def fraction(x) -> str:
    """A fraction as a percentage: 0.4213 -> "42.1%", 1 -> "100%"."""
    return _with_unit(x, "fraction")


def number(x) -> str:
    """A plain number: 3 significant figures (4 from 1,000) with thousands separators: "12.3", "1,234"."""
    v = _check(x)
    if v is None:
        return MISSING
    text = _digits(abs(v))
    return ("-" if v < 0 and text != "0" else "") + text


FORMATTERS = {"time": time_s, "energy": energy_joules, "co2": co2_kg, "bytes": bytes_,
              "flops_per_s": flops_per_s, "flops": flops, "power": power_watts, "usd": usd, "fraction": fraction}


def axis_unit(kind: str, values: Iterable) -> tuple[float, str]:
    """One unit for a whole column or plot axis: ``(scale, label)``; plot ``value / scale`` against
    "<quantity> (<label>)". The unit is the one the largest magnitude among ``values`` would read in;
    ``None`` and non-finite values are ignored (no values: the base unit)."""
    if kind not in _LADDERS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    ladder = _LADDERS[kind]
    finite = [abs(float(v)) for v in values if v is not None and math.isfinite(float(v))]
    largest = max(finite, default=0.0)
    return _base(ladder) if largest == 0 else _pick(ladder, largest)


# ---------------------------------------------------------------------------------------------
# an error as a table's cell: why a device was not estimated, in one short line

_SHORT = 99
_NO_PLAN = re.compile(r"no plan for (\d+) devices: no factorisation(?:.*?nearest device counts that work: ([^;]*))?")


def error_cell(err: CostsimError) -> str:
    """One line of under 100 characters saying why a device was not estimated (``compare``'s reason)."""
    problem = err.problem
    if isinstance(err, OutOfMemoryError) and err.needed_bytes is not None and err.capacity_bytes is not None:
        where = " even at micro-batch 1" if err.accumulation_tried else ""
        # at the 0.1 GB the full message prints, so that both say the same figures
        need, has = (bytes_(float(f"{b / GIGA:.1f}") * GIGA) for b in (err.needed_bytes, err.capacity_bytes))
        return f"does not fit{where}: needs {need} per device, has {has}"
    plan_for = _NO_PLAN.match(problem)
    if plan_for:
        near = f"; nearest that do: {plan_for.group(2)}" if plan_for.group(2) else ""
        return f"no tp x pp x dp plan for {plan_for.group(1)} devices divides the work{near}"
    if isinstance(err, UnsupportedError) and err.field == "kind":
        return "quantum accelerator: no training cost model yet"
    first = problem.split("; ")[0]
    return first if len(first) <= _SHORT else first[:_SHORT - 1].rstrip() + "…"
