"""The closed-form estimate of one training run: time, energy, dollars and CO2, with a breakdown.

Pure: takes validated models, returns a frozen result. The parts of every breakdown add up to its total.
One device's step is expanded and priced in ``model/step.py``, the plan's stages and their communication
are in ``cluster/stages.py``; this module turns the step into the run and its cost.
"""
from __future__ import annotations

import math

from ..cluster.stages import hidden_communication_s, pipeline_step, plan_note, plan_stages
from ..errors import CostsimError, UnsupportedError
from ..model.finite import guarded, require_finite
from ..model.memory import check_fits
from ..model.ops import OP_CLASSES
from ..model.stacks import has
from ..model.step import execution_note, matrix_peak
from ..schema.hardware import ClassicalProfile, Strict
from ..schema.options import RunOptions
from ..schema.plan import Plan, check_plan
from ..schema.workload import CNNWorkload, TransformerWorkload
from ..units import MICRO, SECONDS_PER_HOUR, SECONDS_PER_YEAR, kg_co2_per_joule, usd_per_joule
from . import phases
from .stack import with_execution

BREAKDOWN_CLASSES = OP_CLASSES + ("communication", "pipeline_bubble", "launch_overhead")


class ClassCost(Strict):
    """One class of work in one training step on one device (the slowest pipeline stage's; the optimizer
    step of the busiest stage).

    Attributes:
        time_s: seconds of the step spent in this class (communication: the part on the critical path;
            pipeline_bubble and launch_overhead: the device waiting).
        device_energy_joules: joules the device draws meanwhile (waiting classes at idle power).
        flops: floating-point (or integer) operations executed.
        bytes: bytes moved to and from device memory.
        kernels: kernels launched.
    """

    time_s: float
    device_energy_joules: float
    flops: float
    bytes: float
    kernels: float


class PhaseCost(Strict):
    """One phase of a run in phases (``training.phases``), as its own estimate gives it.

    Attributes:
        name: the phase's name.
        plan: its plan's label.
        start_tokens: tokens of the run before it starts.
        end_tokens: tokens of the run when it ends.
        seq_len: its sequence length.
        global_batch_size: its global batch (sequences).
        steps: its optimizer steps.
        step_time_s: seconds per step.
        total_time_s: seconds of the phase.
        mfu_fraction: its model FLOPs utilisation.
        energy_joules: its whole energy (device, host, facility).
        cost_usd: its cost in US dollars.
        co2_kg: its kilograms of CO2e.
        peak_memory_bytes: its peak bytes per device.
    """

    name: str
    plan: str
    start_tokens: float
    end_tokens: float
    seq_len: int
    global_batch_size: int
    steps: float
    step_time_s: float
    total_time_s: float
    mfu_fraction: float
    energy_joules: float
    cost_usd: float
    co2_kg: float
    peak_memory_bytes: float


class Estimate(Strict):
    """The closed-form estimate of one training run (SI units throughout).

    Attributes:
        hardware: the profile's name.
        workload: the workload's name.
        devices: devices in the run.
        plan: the plan's label (``tp=..,pp=..,dp=..,mb=..`` and its options).
        batch_per_device: samples per data-parallel replica per step (global batch / dp).
        micro_batch_size: samples per micro-batch pass.
        steps: optimizer steps of the run.
        step_time_s: seconds per training step (the sum of ``breakdown``'s times).
        total_time_s: seconds of the whole run, step_time_s x steps.
        device_hours: devices x total time, in hours.
        tokens_per_s: tokens per second (transformers; None otherwise).
        images_per_s: images per second (cnn; None otherwise).
        samples_per_s: samples (global batch) per second.
        model_flops_per_step: useful FLOPs of one step over all devices: forward and backward matrix
            products, recomputation excluded.
        executed_flops_per_step: FLOPs all devices execute in one step (every kernel, recomputation and
            the optimizer step included).
        achieved_flops_per_s: model FLOPs per second over all devices.
        mfu_fraction: model FLOPs utilisation: achieved_flops_per_s over the devices' peak in the data type
            the matrix products run in (after any fallback).
        device_energy_per_step_joules: joules one device draws in one step (its pipeline's slowest stage).
        average_device_power_watts: one device's mean power over a step, in watts.
        device_energy_joules: joules all devices draw over the run.
        host_energy_joules: joules of the hosts (CPUs, memory, NICs, fans) attributed to the devices.
        facility_overhead_joules: joules of the facility beyond IT, (PUE - 1) x (device + host).
        energy_joules: the run's whole energy in joules, device + host + facility overhead.
        cost_usd: the run's cost in US dollars, the sum of ``cost_breakdown``.
        pricing: the pricing used, ``cloud`` or ``owned``.
        cost_breakdown: US dollars by part: ``rental_usd``, ``amortisation_usd``, ``electricity_usd``.
        co2_kg: kilograms of CO2e, energy_joules x the grid's intensity.
        peak_memory_bytes: peak bytes per device (the stage with the largest peak).
        memory_capacity_bytes: the device's memory in bytes.
        memory_breakdown: the peak's parts in bytes (weights, optimizer states, low-precision weights,
            activations, gradients).
        breakdown: one step on one device by class (``BREAKDOWN_CLASSES``).
        communication_hidden_s: seconds of one step's communication on that device hidden behind compute
            (overlapped collectives, ring attention's exchange, the overlapped gradient reduction): not
            in ``step_time_s``, beside the exposed ``breakdown['communication']``.
        assumptions: the modelling assumptions the numbers rest on, one sentence each.
        warnings: what the device lacks and how it was priced instead (for example a missing data type).
        phases: a run in phases (``training.phases``): each phase as estimated alone (empty otherwise); the
            fields above are then the whole run's: totals summed, per-step figures means over all its steps.
    """

    hardware: str
    workload: str
    devices: int
    plan: str
    batch_per_device: float
    micro_batch_size: float
    steps: float
    step_time_s: float
    total_time_s: float
    device_hours: float
    tokens_per_s: float | None
    images_per_s: float | None
    samples_per_s: float
    model_flops_per_step: float
    executed_flops_per_step: float
    achieved_flops_per_s: float
    mfu_fraction: float
    device_energy_per_step_joules: float
    average_device_power_watts: float
    device_energy_joules: float
    host_energy_joules: float
    facility_overhead_joules: float
    energy_joules: float
    cost_usd: float
    pricing: str
    cost_breakdown: dict[str, float]
    co2_kg: float
    peak_memory_bytes: float
    memory_capacity_bytes: float
    memory_breakdown: dict[str, float]
    breakdown: dict[str, ClassCost]
    communication_hidden_s: float
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]
    phases: tuple[PhaseCost, ...] = ()

    def to_dict(self) -> dict:
        """Every field as plain Python values (nested models as dicts)."""
        return self.model_dump()


def _refuse_unsupported(profile) -> None:
    if not isinstance(profile, ClassicalProfile):
        raise UnsupportedError(
            f"'{profile.name}' is a {profile.kind} accelerator: its cost model is not implemented yet, so "
            f"training estimates refuse it (use a cpu, gpu, tpu, fpga or asic profile)", field="kind")
    if profile.efficiency is None or profile.power.compute_bound_fraction is None:
        raise CostsimError("profile has no efficiency curves or power fractions (load it through the loader)",
                           field="efficiency")


def run_cost(profile: ClassicalProfile, options: RunOptions, device_s: float, energy_j: float
             ) -> tuple[str, dict[str, float], str]:
    """Dollars for ``device_s`` device-seconds and ``energy_j`` of facility energy: rental, or purchase
    amortised over the lifetime plus electricity. Returns the pricing used, the parts, and a note."""
    pricing = options.pricing
    if profile.cloud_price_usd_per_hour is None and profile.purchase_price_usd is None:
        raise CostsimError(f"{profile.name} has neither a cloud price nor a purchase price: set one "
                           "(e.g. hardware.cloud_price_usd_per_hour to 2.5)", field="cloud_price_usd_per_hour")
    if pricing == "auto":
        pricing = "owned" if profile.cloud_price_usd_per_hour is None else "cloud"
    if pricing == "cloud":
        if profile.cloud_price_usd_per_hour is None:
            raise CostsimError(f"{profile.name} has no cloud_price_usd_per_hour; use pricing 'owned'",
                               field="cloud_price_usd_per_hour")
        rental = device_s / SECONDS_PER_HOUR * profile.cloud_price_usd_per_hour
        return pricing, {"rental_usd": rental, "amortisation_usd": 0.0, "electricity_usd": 0.0}, (
            f"cloud pricing at ${profile.cloud_price_usd_per_hour:g} per device-hour (electricity included)")
    if profile.purchase_price_usd is None:
        raise CostsimError(f"{profile.name} has no purchase_price_usd; use pricing 'cloud'",
                           field="purchase_price_usd")
    amortisation = profile.purchase_price_usd * device_s / options.lifetime_s
    electricity = energy_j * options.electricity_usd_per_joule
    return pricing, {"rental_usd": 0.0, "amortisation_usd": amortisation, "electricity_usd": electricity}, (
        f"owned hardware: purchase price amortised over {options.lifetime_s / SECONDS_PER_YEAR:g} years, "
        f"plus electricity for device, host and facility energy")


def check_offload(profile: ClassicalProfile, plan: Plan) -> None:
    """Refuse offload on a device whose profile gives no host link or host memory bandwidth."""
    if plan.offload != "none" and (profile.host_link is None or profile.host_memory_bandwidth_bytes_per_s is None):
        missing = " and ".join(f for f in ("host_link", "host_memory_bandwidth_bytes_per_s")
                               if getattr(profile, f) is None)
        raise CostsimError(f"offload={plan.offload} moves the optimizer to host memory over the device's host link, "
                           f"but {profile.name} gives no {missing} (set hardware.{missing.split(' ')[0]})",
                           field="plan.offload")


ROUNDINGS = ("none", "up", "down")


def round_batch(wl, opts: RunOptions, rounding: str):
    """``wl`` with its global batch rounded ``up`` or ``down`` to a multiple of the plan's dp (``none``: as
    given), and the assumption that says so (None where nothing changed)."""
    if rounding not in ROUNDINGS:
        raise CostsimError(f"unknown rounding '{rounding}'; known: {', '.join(ROUNDINGS)}", field="batch_rounding")
    dp = (opts.plan or Plan(dp=opts.devices)).dp
    gbs = wl.training.global_batch_size
    if rounding == "none" or gbs % dp == 0:
        return wl, None
    new = (gbs // dp + (1 if rounding == "up" else 0)) * dp
    if new == 0:
        raise CostsimError(f"rounding the global batch of {gbs} down to a multiple of dp ({dp}) leaves none",
                           field="batch_rounding")
    note = (f"global batch rounded {rounding} from {gbs} to {new} samples to split over dp = {dp} "
            f"(batch_rounding '{rounding}'); the run's tokens or samples stay as given")
    return wl.model_copy(update={"training": wl.training.model_copy(update={"global_batch_size": new})}), note


def _assumptions(profile: ClassicalProfile, workload, comm_note: str, cost_note: str, grid_note: str, pue: float):
    matmul = profile.matmul_dispatch_s
    host = ("the step is compiled: no operator is dispatched by the host (each kernel's fixed device cost is in "
            "the efficiency curves)" if has(getattr(workload, "execution", None), "compiled_step") else
            "kernels queue asynchronously: the device idles only when the host's kernel dispatch "
            f"({profile.kernel_launch_overhead_s / MICRO:.1f} us per kernel"
            + (f", {matmul / MICRO:.1f} us per matrix product" if matmul is not None else "")
            + ") outruns the device's work")
    notes = [execution_note(workload), host]
    if workload.training.precision == "fp4_mixed":
        notes.append("fp4_mixed: every linear layer's products in NVFP4 and attention in bf16; NVIDIA's recipe keeps "
                     "a few linear layers (mostly the last blocks) in bf16, which is not modelled (optimistic)")
    if comm_note:
        notes.append(comm_note)
    origin = profile.efficiency.origin
    if profile.efficiency_from:
        notes.append(f"efficiency curves and power fractions borrowed from the calibrated "
                     f"'{profile.efficiency_from}' profile, applied to {profile.name}'s own peaks and TDP"
                     + (f" ({origin})" if origin else ""))
    elif origin:
        notes.append(f"efficiency curves: {origin}")
    if not profile.checked_by:
        notes.append(f"no public measurement of {profile.name} checks these estimates: an unvalidated device "
                     "(docs/accuracy.md)")
    return (*notes, cost_note, grid_note, f"PUE {pue:g}")


def estimate_run(profile, workload, options: RunOptions | None = None) -> Estimate:
    """Time, energy, dollars and CO2 of training ``workload`` on ``options.devices`` x ``profile``.

    Every number of the estimate is finite, or the run is refused (``OutOfRangeError``) naming the number
    that is not and the input that drives it (``hardware.kernel_launch_overhead_s``: the profile's,
    ``workload.layers``: the workload's, ``pue``: a run option's); see ``model/finite.py``."""
    options = options or RunOptions()
    _refuse_unsupported(profile)
    workload = with_execution(profile, workload)
    if phases.phased(workload):
        return _estimate_phases(profile, workload, options)
    inputs = {"hardware": profile, "workload": workload, "": _option_inputs(options)}
    with guarded("the estimate", inputs):
        fields = _estimate_fields(profile, workload, options)
    return Estimate.model_validate(require_finite(fields, "the estimate", inputs))


def _estimate_phases(profile, workload, options: RunOptions) -> Estimate:
    """A run in phases: each phase estimated alone (its plan, else the run's), added up (``run/phases.py``)."""
    runs = []
    for i, (phase, wl) in enumerate(phases.phase_workloads(workload)):
        opts = options.model_copy(update={"plan": phases.phase_plan(i, phase, options.plan)})
        try:
            runs.append((phase, estimate_run(profile, wl, opts)))
        except CostsimError as err:
            if phase.plan is not None and (err.field or "").startswith("plan"):  # the phase's own plan is at fault
                raise CostsimError(f"{phases.where(i, phase)}: plan {phase.plan}: {err.problem}",
                                   field="training.phases") from None
            raise err.prefixed(phases.where(i, phase)) from None
    return Estimate.model_validate(phases.combined_fields(workload, runs))


def _option_inputs(options: RunOptions) -> dict:
    """The run options as the API's parameters take them (years, $/kWh, gCO2/kWh), for the guard to name."""
    out = {"devices": options.devices, "plan": options.plan, "pue": options.pue,
           "lifetime_years": options.lifetime_s / SECONDS_PER_YEAR,
           "electricity_usd_per_kwh": options.electricity_usd_per_joule / usd_per_joule(1.0)}
    if options.grid_kg_co2_per_joule is not None:
        out["grid_g_co2_per_kwh"] = options.grid_kg_co2_per_joule / kg_co2_per_joule(1.0)
    return out


def _estimate_fields(profile: ClassicalProfile, workload, options: RunOptions) -> dict:
    """The estimate's fields, unchecked (``estimate_run`` checks that they are finite)."""
    n = options.devices
    plan = options.plan or Plan(dp=n)
    if options.plan is None and workload.training.global_batch_size % n:
        raise CostsimError(f"global_batch_size {workload.training.global_batch_size} does not split evenly "
                           f"over {n} devices (or round it with batch_rounding up or down)",
                           field="training.global_batch_size")
    micro = check_plan(plan, workload, n)
    plan = plan.model_copy(update={"mb": micro})
    check_offload(profile, plan)
    gbs = workload.training.global_batch_size
    m = gbs // plan.dp // micro
    stages = plan_stages(profile, workload, plan, micro, m)
    for st, _ in stages:
        check_fits(st.peak_memory, profile.memory_bytes, profile.name, micro)
    breakdown, exposed, grad_sync = pipeline_step(stages, plan, m, profile.power.idle_watts)
    step_s = math.fsum(b["time_s"] for b in breakdown.values())
    e_step = math.fsum(b["device_energy_joules"] for b in breakdown.values())
    steps = workload.total_steps
    total_s = step_s * steps
    device_j = e_step * steps * n
    host_j = profile.power.host_per_device_watts * total_s * n
    facility_j = (options.pue - 1.0) * (device_j + host_j)
    energy_j = device_j + host_j + facility_j
    pricing, cost, cost_note = run_cost(profile, options, total_s * n, energy_j)
    grid, grid_note = options.grid()
    model_flops = m * plan.dp * plan.tp * plan.cp * sum(st.model_flops_per_pass * count for st, count in stages)
    achieved = model_flops / step_s
    memory = max((st.peak_memory for st, _ in stages), key=lambda mem: mem["total_bytes"])
    tokens = workload.tokens_per_step if isinstance(workload, TransformerWorkload) else None
    comm_note = plan_note(plan, micro, m, exposed, grad_sync, workload) if n > 1 or plan.offload != "none" else ""
    return dict(
        hardware=profile.name, workload=workload.name, devices=n, plan=plan.label(),
        batch_per_device=gbs / plan.dp, micro_batch_size=micro, steps=steps,
        step_time_s=step_s, total_time_s=total_s, device_hours=total_s * n / SECONDS_PER_HOUR,
        tokens_per_s=tokens / step_s if tokens else None,
        images_per_s=gbs / step_s if isinstance(workload, CNNWorkload) else None, samples_per_s=gbs / step_s,
        model_flops_per_step=model_flops,
        executed_flops_per_step=plan.tp * plan.dp * plan.cp * sum(
            (m * st.pass_flops + st.optimizer_static[0]) * count for st, count in stages),
        achieved_flops_per_s=achieved, mfu_fraction=achieved / (matrix_peak(profile, workload) * n),
        device_energy_per_step_joules=e_step, average_device_power_watts=e_step / step_s,
        device_energy_joules=device_j, host_energy_joules=host_j, facility_overhead_joules=facility_j,
        energy_joules=energy_j, cost_usd=math.fsum(cost.values()), pricing=pricing, cost_breakdown=cost,
        co2_kg=energy_j * grid, peak_memory_bytes=memory["total_bytes"],
        memory_capacity_bytes=profile.memory_bytes,
        memory_breakdown={k: v for k, v in memory.items() if k != "total_bytes"}, breakdown=breakdown,
        communication_hidden_s=hidden_communication_s(stages, m, exposed, grad_sync),
        assumptions=_assumptions(profile, workload, comm_note, cost_note, grid_note, options.pue),
        warnings=tuple(dict.fromkeys(w for st, _ in stages for w in st.warnings)),
    )
