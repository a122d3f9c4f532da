"""The ``--strategy`` text language and the declaration of a strategy.

A strategy is declared once, as a :class:`Strategy` beside the function that applies it; the text
``name[:arg][,key=value...]`` (``quantize:fp8``, ``prune:unstructured,density=0.1``) is parsed against
those declarations into a :class:`Spec`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable

from ..errors import CostsimError

Load = Callable[[str, str, tuple], object]
"""``load(kind, name, sets)``: a profile (kind 'hardware') or workload a strategy names, resolved by the caller."""


@dataclass(frozen=True)
class Param:
    """One ``key=value`` parameter of a strategy.

    Attributes:
        name: the key (``-`` in the text reads as ``_``).
        kind: float, int or str, or a checked number: "fraction" (in (0, 1]), "positive", "nonnegative".
        default: the value when the text does not give it (None: not given).
        help: what it means, for ``costsim strategies show``.
    """

    name: str
    kind: type | str
    default: object
    help: str


@dataclass(frozen=True)
class Family:
    """Strategies that change the same part of a run, and so do not combine.

    Attributes:
        name: the family's key.
        what: what its strategies change, completing "both change the ..." in the error.
    """

    name: str
    what: str


@dataclass(frozen=True, kw_only=True)
class Strategy:
    """The declaration of one strategy: its text, its parameters, what it assumes, and its functions.

    Attributes:
        name: the name before ':' in the text.
        summary: one line on what it does.
        arg: what the text after ':' means ('' if it takes none).
        arg_required: whether the ':' argument must be given (when ``arg`` is not '').
        params: its ``key=value`` parameters.
        example: a complete text, shown in listings and in errors.
        quality: what it assumes about model quality, with the source.
        sources: the literature that assumption rests on.
        family: the family it belongs to (one strategy per family in a composition).
        apply: ``apply(scenario, spec, load) -> scenario``, the transformation.
        break_even: ``break_even(params, main, overheads) -> dict``, the figures computed once the scenario
            is priced from the parameters the strategy recorded (``main``: the training phases' totals by
            field, ``overheads``: the priced overhead phases); None when it has none.
        details: a function returning more plain data for :func:`describe` (NAS: its presets); None if none.
    """

    name: str
    summary: str
    arg: str
    arg_required: bool = True
    params: tuple[Param, ...] = ()
    example: str
    quality: str
    sources: tuple[str, ...] = ()
    family: Family
    apply: Callable
    break_even: Callable | None = None
    details: Callable[[], dict] | None = None

    def usage(self) -> str:
        """The text's grammar, e.g. ``prune:2of4|unstructured[,density=...]``."""
        arg = (f":{self.arg}" if self.arg_required else f"[:{self.arg}]") if self.arg else ""
        return self.name + arg + "".join(f"[,{p.name}=...]" for p in self.params)


@dataclass(frozen=True)
class Spec:
    """One parsed ``--strategy`` text: ``name[:arg][,key=value...]``.

    Attributes:
        text: the text as given, stripped.
        name: the strategy's name, lower case.
        arg: the text after ':' ('' if none).
        params: every parameter's value, the defaults filled in.
        strategy: the declaration the text names.
    """

    text: str
    name: str
    arg: str
    params: dict
    strategy: Strategy = field(repr=False, compare=False)


def number(text: str, kind, where: str) -> float | int:
    """``text`` read as a number of ``kind`` (a :class:`Param` kind), checked; errors name ``where``."""
    try:
        value = int(text) if kind is int else float(text)
    except ValueError:
        raise CostsimError(f"'{text}' is not a number", field=where) from None
    if not math.isfinite(value):
        raise CostsimError(f"{text} is not finite", field=where)
    if kind == "fraction" and not 0 < value <= 1:
        raise CostsimError(f"{value:g} is outside (0, 1]", field=where)
    if kind in ("positive", int) and value <= 0:
        raise CostsimError(f"{value:g} must be positive", field=where)
    if kind == "nonnegative" and value < 0:
        raise CostsimError(f"{value:g} must not be negative", field=where)
    return value


def parse_text(text: str, strategies: Mapping[str, Strategy]) -> Spec:
    """Parse and check one strategy's text against its declaration among ``strategies`` (unknown names,
    unknown or bad parameters are errors naming ``--strategy``)."""
    where = f"strategy {text}"
    head, *pairs = [p.strip() for p in text.strip().split(",")]
    name, _, arg = head.partition(":")
    name = name.strip().lower()
    if name not in strategies:
        raise CostsimError(f"unknown strategy '{name}'; known: {', '.join(strategies)}", field="strategy")
    d = strategies[name]
    known = {p.name: p for p in d.params}
    params = {p.name: p.default for p in d.params}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or not value.strip():
            raise CostsimError(f"'{pair}' is not key=value", field=where)
        if key not in known:
            raise CostsimError(f"unknown parameter '{key}' of {name}; known: {', '.join(known) or 'none'}",
                               field=where)
        kind = known[key].kind
        params[key] = value.strip() if kind is str else number(value.strip(), kind, f"{where}: {key}")
    if d.arg and d.arg_required and not arg.strip():
        raise CostsimError(f"{name} needs {d.arg} after ':' (e.g. {d.example})", field=where)
    if not d.arg and arg.strip():
        raise CostsimError(f"{name} takes no ':' argument (e.g. {d.example})", field=where)
    return Spec(text.strip(), name, arg.strip(), params, d)


def check_combination(specs: list[Spec]) -> None:
    """Two strategies of one family (two prunings, pruning and low-rank, two precisions) do not
    combine: they would rewrite the same layers or settings twice."""
    seen: dict[str, str] = {}
    for s in specs:
        fam = s.strategy.family
        if fam.name in seen:
            raise CostsimError(f"'{s.text}' cannot be combined with '{seen[fam.name]}': both change the "
                               f"{fam.what}", field="strategy")
        seen[fam.name] = s.text
