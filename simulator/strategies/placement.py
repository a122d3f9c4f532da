"""Placement strategies: move every run to another device, or spread it over more devices, each declared
beside the function that applies it. The model and its training are unchanged."""
from __future__ import annotations

from dataclasses import replace

from ..errors import CostsimError
from ..run.search import search
from ..schema.hardware import ClassicalProfile
from .compression import pruned_phase, sparse_runs
from .scenario import Phase, Scenario, note, with_variant
from .spec import Family, Load, Param, Spec, Strategy, number


def _hardware(sc: Scenario, spec: Spec, load: Load) -> Scenario:
    sets = tuple(f"hardware.{k}" for k in spec.params["set"].split(";") if k) if spec.params["set"] else ()
    profile = load("hardware", spec.arg, sets)
    if not isinstance(profile, ClassicalProfile):
        raise CostsimError(f"'{spec.arg}' is a {profile.kind} profile: training runs move only to a cpu, gpu, "
                           f"tpu, fpga or asic", field=f"strategy {spec.text}")
    warnings = []

    def move(p: Phase) -> Phase:
        v = p.workload.variant
        moved = replace(p, profile=profile)
        if not v.sparsity:
            return moved
        if sparse_runs(profile, v.sparsity):  # re-derived for the new part (its own sparse rate)
            return pruned_phase(moved, v.sparsity, v.density_fraction, spec)
        warnings.append(f"{profile.name} cannot run {v.sparsity} sparsity: the pruned model runs dense there")
        return replace(moved, workload=with_variant(p.workload, spec.text, sparsity=None, density_fraction=1.0))

    return note(sc, spec, phases=[move(p) for p in sc.phases], warnings=warnings)


HARDWARE = Strategy(
    name="hardware", summary="move every run to another device (a bundled profile, a path, or a what-if)",
    arg="PROFILE", example="hardware:h100-sxm", family=Family("hardware", "device"), apply=_hardware,
    params=(Param("set", str, "", "profile overrides for a what-if, ';'-separated: "
                                  "memory_bandwidth_bytes_per_s=*2;power.tdp_watts=1000"),),
    quality="the same model trained the same way: quality unchanged")


def _devices(sc: Scenario, spec: Spec, load: Load) -> Scenario:
    n = int(number(spec.arg, int, f"strategy {spec.text}"))
    plan = spec.params["plan"]
    if plan not in ("dp", "auto"):
        raise CostsimError(f"plan is dp or auto, not '{plan}'", field=f"strategy {spec.text}")

    def move(p: Phase) -> Phase:
        opts = p.options.model_copy(update={"devices": n, "plan": None})
        if plan != "auto":
            return replace(p, options=opts)
        best = search(p.profile, p.workload, n, "time", opts, 1)
        return replace(p, options=opts.model_copy(update={"plan": best[0][0]}))

    return note(sc, spec, phases=[move(p) for p in sc.phases])


DEVICES = Strategy(
    name="devices", summary="spread every run over N devices (data parallel, or the fastest plan)", arg="N",
    example="devices:64,plan=auto", family=Family("devices", "device count"), apply=_devices,
    params=(Param("plan", str, "dp", "dp (pure data parallelism) or auto (the fastest plan that fits)"),),
    quality="the same global batch and steps: quality unchanged")
