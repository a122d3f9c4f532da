"""Scenarios: a training as phases, each a closed-form run paid ``repeats`` times, and the helpers a
strategy uses to rewrite them.

A scenario is the training itself plus the overhead runs a strategy adds (retraining after pruning,
quantization-aware fine-tuning, a distillation teacher's forward passes, an architecture search, the
fine-tuning of K downstream tasks). The baseline is the training alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from pydantic import ValidationError

from ..errors import CostsimError
from ..schema.hardware import ClassicalProfile
from .spec import Spec


@dataclass(frozen=True)
class Phase:
    """One run of a scenario, paid ``repeats`` times (a fraction of its steps, or N runs).

    Attributes:
        label: what the run is, for the table.
        profile: the device it runs on.
        workload: what it trains (or runs forward).
        options: its RunOptions (devices, plan, pricing, grid).
        repeats: how many times the run is paid, in runs of the workload's steps (0.1: a tenth of them).
        main: True for the training whose model is the result, False for an overhead run.
    """

    label: str
    profile: ClassicalProfile
    workload: object
    options: object
    repeats: float = 1.0
    main: bool = True


@dataclass(frozen=True)
class Scenario:
    """A training as phases, with what the strategies applied to it noted.

    Attributes:
        phases: the runs, in order.
        applied: the strategy texts applied, in order.
        assumptions: what the result rests on, one line each.
        warnings: where a strategy could not do what it says (no sparse units, a fallback precision).
        deploy_bytes_per_param: QAT: the integer width deployed, in bytes per parameter (None: the
            training's type).
        deploy_sparsity: pruning: the pattern and density the model ships with (None: dense).
        analyses: (parsed strategy, its recorded parameters) for each strategy with break-even figures,
            computed once the scenario is priced.
    """

    phases: tuple[Phase, ...]
    applied: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    deploy_bytes_per_param: float | None = None
    deploy_sparsity: tuple[str, float] | None = None
    analyses: tuple[tuple[Spec, dict], ...] = ()

    @property
    def mains(self) -> list[Phase]:
        """The training phases (not the overhead runs)."""
        return [p for p in self.phases if p.main]


def baseline(profile, workload, options) -> Scenario:
    """The scenario of the training alone: one phase, paid once."""
    return Scenario(phases=(Phase("training", profile, workload, options),))


def validated(cls, data: dict, where: str):
    """``cls`` validated from ``data``, its first problem named as the strategy's fault."""
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise CostsimError.from_validation(err, prefix=f"strategy {where}") from None


def _revalidate(workload, where: str, key: str, changes: dict):
    """The workload with ``changes`` merged into its ``key`` block, validated (a rank larger than a
    layer, for one, is caught here and named as the strategy's fault)."""
    data = workload.model_dump()
    data[key] = {**data[key], **changes}
    return validated(type(workload), data, where)


def with_variant(workload, where: str, **changes):
    """The workload with ``changes`` to its ``variant`` block (sparsity, rank, adapters), validated."""
    return _revalidate(workload, where, "variant", changes)


def with_training(workload, where: str, **changes):
    """The workload with ``changes`` to its ``training`` block (precision), validated."""
    return _revalidate(workload, where, "training", changes)


def map_mains(sc: Scenario, fn) -> tuple[Phase, ...]:
    """The phases with ``fn`` applied to the training phases, the overhead runs unchanged."""
    return tuple(fn(p) if p.main else p for p in sc.phases)


def final_phase(sc: Scenario) -> Phase:
    """The training phase whose model is the result (the last one): overhead runs that use the trained
    model (fine-tuning, tasks) run on it, for a share of the baseline's steps."""
    return sc.mains[-1]


def student_steps(sc: Scenario) -> float:
    """The training's steps, in baseline trainings: every training phase's repeats."""
    return math.fsum(p.repeats for p in sc.mains)


def note(sc: Scenario, spec: Spec, *, phases=None, assumptions=(), warnings=(), **extra) -> Scenario:
    """``sc`` with new ``phases`` (if given) and ``spec`` noted as applied: its quality assumption, then
    ``assumptions``, added; ``warnings`` added; ``extra`` Scenario fields replaced."""
    return replace(sc, phases=sc.phases if phases is None else tuple(phases), applied=sc.applied + (spec.text,),
                   assumptions=sc.assumptions + (f"{spec.text}: {spec.strategy.quality}",) + tuple(assumptions),
                   warnings=sc.warnings + tuple(warnings), **extra)
