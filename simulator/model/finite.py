"""The one guard on results: every number a result carries is finite, or the run is refused.

A result (an estimate, a quantum verdict, a priced compute budget) is computed inside :func:`guarded`,
where numpy's overflow and invalid-value warnings are silenced (the result is checked instead of a
warning printed) and an ``OverflowError`` becomes the guard's error; the numbers it is built from then
pass :func:`require_finite`. The error names the result's number that came out infinite or not a number,
and the input that drives it: the most extreme number of the inputs (the farthest from 1 in orders of
magnitude), said to be out of range beyond :data:`EXTREME_ORDERS` orders of magnitude. Its field is that
input's dotted path under the name it was given in ``inputs`` (``hardware.kernel_launch_overhead_s``);
an input given under the empty name keeps its own path (a run option: ``electricity_usd_per_joule``).
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator, Mapping

import numpy as np

from ..errors import CostsimError

EXTREME_ORDERS = 30
"""An input number beyond 1e30 or below 1e-30 (in magnitude, zero aside) is named as out of range."""

_NAMED = 2  # extreme inputs a refusal names


class OutOfRangeError(CostsimError):
    """A result came out infinite or NaN (or overflowed): an input is out of range. Bad input, so an error
    for the whole command, not a row of a table or a plan left out of a search."""


def numbers(data, path: str = "") -> Iterator[tuple[str, float]]:
    """Every number in ``data`` (models, mappings, sequences; booleans and None skipped), with its dotted path."""
    if hasattr(data, "model_dump"):
        data = data.model_dump()
    if isinstance(data, bool) or data is None:
        return
    if isinstance(data, (int, float, np.floating, np.integer)):
        yield path, data
    elif isinstance(data, Mapping):
        for key, value in data.items():
            yield from numbers(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, (list, tuple)):
        for i, value in enumerate(data):
            yield from numbers(value, f"{path}.{i}" if path else str(i))


def _orders(value) -> float:
    """How many orders of magnitude ``value`` lies from 1 (0 for zero; inf for a non-finite number)."""
    try:
        v = abs(float(value))
    except OverflowError:  # an integer too large for a float
        return math.inf
    if v == 0:
        return 0.0
    return abs(math.log10(v)) if math.isfinite(v) else math.inf


def extreme_inputs(inputs: Mapping[str, object]) -> list[tuple[str, object, float]]:
    """The input numbers, most extreme first: (dotted path, value, orders of magnitude from 1)."""
    found = [(f"{name}.{p}" if name and p else name or p, v, _orders(v))
             for name, data in inputs.items() for p, v in numbers(data)]
    return sorted(found, key=lambda item: -item[2])


def _shown(value) -> str:
    try:
        return f"{float(value):g}"
    except OverflowError:
        return f"an integer of {len(str(abs(int(value))))} digits"


def refusal(what: str, result_field: str | None, value, inputs: Mapping[str, object],
            cause: str | None = None) -> OutOfRangeError:
    """The guard's error: ``what``'s ``result_field`` came out ``value`` (inf or NaN; with no field,
    ``value`` says how the computation failed), blamed on the inputs out of range, or where none is, on
    ``cause`` (a name of ``inputs``), else on the most extreme input."""
    if result_field is None:
        outcome = f"{what} cannot be computed in floating point ({value})"
    else:
        kind = "undefined (not a number)" if isinstance(value, float) and math.isnan(value) else "infinite"
        outcome = f"{result_field} of {what} comes out {kind}"
    ranked = extreme_inputs(inputs)
    out = [item for item in ranked if item[2] > EXTREME_ORDERS][:_NAMED]
    if out:
        (field, v, _), others = out[0], out[1:]
        also = "".join(f" (so is {f} = {_shown(x)})" for f, x, _ in others)
        return OutOfRangeError(f"{_shown(v)} is out of range{also}: {outcome}", field=field)
    if cause is not None:
        ranked = [item for item in ranked if item[0].split(".")[0] == cause] + ranked
    if not ranked:
        return OutOfRangeError(f"{outcome}: its numbers overflow a float", field=result_field)
    field, v, _ = ranked[0]
    return OutOfRangeError(f"{outcome}: its numbers overflow a float (the input most to blame: {field} = "
                           f"{_shown(v)})", field=field)


def _finite(data) -> bool:
    """Whether every number in ``data`` is finite: the fast check every result passes."""
    stack, isfinite = [data], math.isfinite
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is float:
            if not isfinite(item):
                return False
        elif kind is dict:
            stack.extend(item.values())
        elif kind is list or kind is tuple:
            stack.extend(item)
        elif not (item is None or kind in (int, bool, str)) and not all(
                isinstance(v, (int, np.integer)) or isfinite(v) for _, v in numbers(item)):
            return False
    return True


def require_finite(result, what: str, inputs: Mapping[str, object], cause: str | None = None):
    """``result`` (a mapping or model of numbers) unchanged if every number in it is finite; else the
    guard's error naming the first that is not and the input that drives it (see :func:`refusal`)."""
    if _finite(result):
        return result
    for path, value in numbers(result):
        if not isinstance(value, (int, np.integer)) and not math.isfinite(value):  # an integer is finite
            raise refusal(what, path, value, inputs, cause)
    return result


@contextmanager
def guarded(what: str, inputs: Mapping[str, object]):
    """Compute ``what`` from ``inputs``: numpy's floating-point warnings silenced (check the result with
    :func:`require_finite`), an ``OverflowError`` turned into the guard's error, and so is a
    ``ZeroDivisionError`` where an input is out of range (a number that underflowed to zero)."""
    with np.errstate(all="ignore"):
        try:
            yield
        except OverflowError:
            raise refusal(what, None, "a number overflows", inputs) from None
        except ZeroDivisionError:
            if not any(orders > EXTREME_ORDERS for _, _, orders in extreme_inputs(inputs)):
                raise
            raise refusal(what, None, "a number underflows to zero", inputs) from None
