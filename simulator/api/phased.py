"""Phases whose plan is ``auto``: each searched as its own run before the estimate prices them all."""
from __future__ import annotations

from ..errors import CostsimError
from ..run import phases
from ..run.search import search


def resolve_auto_phases(profile, workload, options, all_phases: bool = False):
    """``workload`` with each phase whose plan is ``auto`` (or, with ``all_phases``, that gives none) set to
    the fastest plan that fits that phase on ``options.devices`` (the same workload where none is)."""
    if not phases.phased(workload):
        return workload
    chosen = []
    for i, (phase, wl) in enumerate(phases.phase_workloads(workload)):
        if phase.plan == phases.AUTO or (all_phases and phase.plan is None):
            try:
                best = search(profile, wl, options.devices, "time", options, 1)[0][0]
            except CostsimError as err:
                raise err.prefixed(phases.where(i, phase)) from None
            phase = phase.model_copy(update={"plan": best.label()})
        chosen.append(phase)
    return workload.model_copy(update={"training": workload.training.model_copy(update={"phases": tuple(chosen)})})
