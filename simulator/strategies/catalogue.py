"""The catalogue: every strategy's declaration collected by name, and what the rest of the code calls:
parsing a ``--strategy`` text, the definitions as plain data, applying strategies in order, and the cost
table of a baseline against the strategies.

Strategies are transformations of a training run (see :mod:`.scenario`); they compose in the order
given. Models that name other profiles or workloads (``hardware:h100-sxm``, ``distill,teacher=...``) are
resolved through a ``load(kind, name, sets)`` callable the caller supplies.
"""
from __future__ import annotations

from ..errors import CostsimError
from .architecture import NAS, TRANSFER
from .compression import DISTILL, LORA, LOWRANK, PRUNE, QAT, QUANTIZE
from .placement import DEVICES, HARDWARE
from .pricing import PhaseCost, StrategyRow, price, price_phases
from .scenario import Phase, Scenario, baseline
from .spec import Load, Spec, Strategy, check_combination, parse_text

# what the API and the output layer use, with the result models
__all__ = ["ROWS", "STRATEGIES", "Phase", "PhaseCost", "Scenario", "Spec", "Strategy", "StrategyRow", "apply_all",
           "baseline", "check_combination", "compare", "describe", "parse", "price", "price_phases"]

STRATEGIES: dict[str, Strategy] = {s.name: s for s in (HARDWARE, DEVICES, PRUNE, QUANTIZE, QAT, LOWRANK, LORA,
                                                       DISTILL, NAS, TRANSFER)}


def parse(text: str) -> Spec:
    """Parse and check one strategy's text against its declaration (unknown names, unknown or bad
    parameters are errors naming ``--strategy``)."""
    return parse_text(text, STRATEGIES)


def describe(name: str | None = None) -> list[dict]:
    """The definitions of the strategies (all, or one by name) as plain data."""
    if name is not None and name not in STRATEGIES:
        raise CostsimError(f"unknown strategy '{name}'; known: {', '.join(STRATEGIES)}", field="name")
    out = []
    for d in ([STRATEGIES[name]] if name else STRATEGIES.values()):
        item = {"name": d.name, "summary": d.summary, "usage": d.usage(), "example": d.example,
                "params": [{"name": p.name, "default": p.default, "help": p.help} for p in d.params],
                "quality": d.quality, "sources": list(d.sources)}
        if d.details is not None:
            item.update(d.details())
        out.append(item)
    return out


def apply_all(base: Scenario, specs: list[Spec], load: Load) -> Scenario:
    """``base`` transformed by each parsed strategy in turn (after checking that they combine)."""
    check_combination(specs)
    sc = base
    for spec in specs:
        sc = spec.strategy.apply(sc, spec, load)
    return sc


ROWS = ("both", "each", "combined")


def compare(profile, workload, options, texts: list[str], load: Load, estimate_fn, rows: str = "both"
            ) -> list[StrategyRow]:
    """The cost table: the baseline, then each strategy alone (``rows`` 'each', or 'both' when several
    are given) and their composition in the order given ('combined' or 'both')."""
    specs = [parse(t) for t in texts]
    if rows not in ROWS:
        raise CostsimError(f"rows is one of {', '.join(ROWS)}, not '{rows}'", field="rows")
    base = baseline(profile, workload, options)
    base_row = price(base, estimate_fn, "baseline")
    out = [base_row]
    groups = [[s] for s in specs] if rows == "each" or (rows == "both" and len(specs) > 1) else []
    if rows != "each":
        check_combination(specs)
        groups.append(specs)
    for group in groups:
        sc = apply_all(base, group, load)
        out.append(price(sc, estimate_fn, " + ".join(s.text for s in group), base_row))
    return out
