"""Properties of the model that must hold for every input, as tests (issue 13, "keep them closed").

Through the Python API (``api.estimate``, ``api.simulate``) on bundled profiles and workloads, changed
with ``sets=[...]``, over grids and hypothesis draws (derandomized, no example database):

- more memory bandwidth or peak FLOP/s never makes a step slower;
- a device's energy lies between idle power x time and TDP x time (per step, per class, over the run);
- every breakdown adds up to its total (classes to the step, parts of the energy, the cost, the memory,
  the simulated wall time), and the run is the step times the steps;
- more steps cost proportionally more (time, energy, dollars, CO2);
- the simulation with failures, pre-emptions, stragglers and queueing off equals the closed form;
- the same seed gives identical results; different seeds differ when there is noise;
- Monte Carlo percentiles are ordered, p5 <= p50 <= p95.
"""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from simulator import api
from simulator.errors import CostsimError
from simulator.files.loader import load_profile

PROPERTY = settings(max_examples=100, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))
CLASSICAL = ("h200", "a100-sxm-80gb", "h100-sxm", "v100-sxm2", "tpu-v5p", "gaudi3", "xeon-8480", "k80")
WORKLOADS = ("gpt2-124m", "gpt-1.3b", "resnet50-imagenet")
SMALL = ("gpt2-124m", "resnet50-imagenet")  # fit every classical device at micro-batch 1
RUNS = [dict(), dict(devices=8), dict(plan="tp=2,pp=2,dp=2"), dict(plan="tp=1,pp=4,dp=2,mb=1", pricing="owned"),
        dict(devices=4, plan="dp=4,zero=3", region="france")]
REL = 1e-9


def close(a: float, b: float, rel: float = REL) -> bool:
    """Equal up to rounding."""
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


def run(hardware: str, workload: str, sets=(), **options):
    """The closed-form estimate, accumulating gradients where the batch does not fit."""
    return api.estimate(hardware, workload, sets=list(sets), fit="accumulate", **options)


def usable(workload: str, options: dict) -> bool:
    """Whether the run options suit the workload: tensor and pipeline parallelism are for transformers."""
    return workload != "resnet50-imagenet" or not any(p in options.get("plan", "") for p in ("tp=2", "pp="))


def priced(hardware: str, options: dict) -> dict:
    """``options`` with a pricing the device has a price for (owned needs a purchase price, cloud a rate)."""
    profile = load_profile(hardware)
    has = {"owned": profile.purchase_price_usd, "cloud": profile.cloud_price_usd_per_hour}
    pricing = options.get("pricing", "auto")
    return {**options, "pricing": pricing if has.get(pricing, 1) is not None else "auto"}


def peak_sets(hardware: str, factor: float) -> list[str]:
    """--set texts scaling every peak rate the profile has by ``factor``."""
    peaks = load_profile(hardware).peak_dense_flops_per_s.model_dump()
    return [f"hardware.peak_dense_flops_per_s.{dtype}=*{factor!r}" for dtype, v in peaks.items() if v]


# ---------------------------------------------------------------- faster hardware is never slower
# two different scalings of a figure, the smaller first
SCALINGS = st.lists(st.sampled_from((0.25, 0.5, 0.9, 1.0, 1.1, 2.0, 4.0, 100.0)), min_size=2, max_size=2,
                    unique=True).map(sorted)


@PROPERTY
@given(hardware=st.sampled_from(CLASSICAL), workload=st.sampled_from(SMALL),
       factors=SCALINGS,
       options=st.sampled_from(RUNS[:3]))
def test_more_memory_bandwidth_never_makes_a_step_slower(hardware, workload, factors, options):
    assume(usable(workload, options))
    slow, fast = (run(hardware, workload, [f"hardware.memory_bandwidth_bytes_per_s=*{f!r}"], **options)
                  for f in factors)
    assert fast.step_time_s <= slow.step_time_s * (1 + REL), (factors, fast.step_time_s, slow.step_time_s)


@PROPERTY
@given(hardware=st.sampled_from(CLASSICAL), workload=st.sampled_from(SMALL),
       factors=SCALINGS,
       options=st.sampled_from(RUNS[:3]))
def test_more_peak_flops_never_makes_a_step_slower(hardware, workload, factors, options):
    assume(usable(workload, options))
    slow, fast = (run(hardware, workload, peak_sets(hardware, f), **options) for f in factors)
    assert fast.step_time_s <= slow.step_time_s * (1 + REL), (factors, fast.step_time_s, slow.step_time_s)


@pytest.mark.parametrize("workload", WORKLOADS)
def test_a_faster_device_in_every_respect_is_faster_on_every_bundled_device(workload):
    for hardware in CLASSICAL:
        options = dict(plan="dp=8,zero=3") if workload == "gpt-1.3b" else {}  # fits the 12 GB devices
        base = run(hardware, workload, **options)
        both = run(hardware, workload, ["hardware.memory_bandwidth_bytes_per_s=*2"] + peak_sets(hardware, 2.0),
                   **options)
        assert both.step_time_s <= base.step_time_s * (1 + REL), hardware


# ---------------------------------------------------------------- energy within the power envelope
def assert_energy_within_power(e, hardware: str, sets=()):
    power = load_profile(hardware, sets).power
    idle, tdp = power.idle_watts, power.tdp_watts
    lo, hi = 1 - 1e-9, 1 + 1e-9
    assert idle * e.step_time_s * lo <= e.device_energy_per_step_joules <= tdp * e.step_time_s * hi
    for name, c in e.breakdown.items():
        assert idle * c.time_s * lo <= c.device_energy_joules <= tdp * c.time_s * hi, name
    device_s = e.devices * e.total_time_s
    assert idle * device_s * lo <= e.device_energy_joules <= tdp * device_s * hi
    assert idle * lo <= e.average_device_power_watts <= tdp * hi


@PROPERTY
@given(hardware=st.sampled_from(CLASSICAL), workload=st.sampled_from(SMALL), options=st.sampled_from(RUNS),
       idle=st.sampled_from((None, 0.0, 0.5, 0.99)),
       precision=st.sampled_from((None, "fp8_mixed", "fp32", "fp16_mixed")))
def test_device_energy_lies_between_idle_and_tdp(hardware, workload, options, idle, precision):
    assume(usable(workload, options))
    sets = [] if idle is None else [f"hardware.power.idle_watts={idle * load_profile(hardware).power.tdp_watts!r}"]
    precisions = [f"workload.training.precision={precision}"] if precision else []
    e = run(hardware, workload, sets + precisions, **priced(hardware, options))
    assert_energy_within_power(e, hardware, sets)


# ---------------------------------------------------------------- breakdowns add up
def assert_adds_up(e):
    assert close(sum(c.time_s for c in e.breakdown.values()), e.step_time_s)
    assert close(sum(c.device_energy_joules for c in e.breakdown.values()), e.device_energy_per_step_joules)
    assert close(e.device_energy_joules + e.host_energy_joules + e.facility_overhead_joules, e.energy_joules)
    assert close(sum(e.cost_breakdown.values()), e.cost_usd)
    assert close(sum(e.memory_breakdown.values()), e.peak_memory_bytes)
    assert close(e.step_time_s * e.steps, e.total_time_s)
    assert close(e.devices * e.total_time_s / 3600, e.device_hours)


@PROPERTY
@given(hardware=st.sampled_from(CLASSICAL), workload=st.sampled_from(WORKLOADS), options=st.sampled_from(RUNS),
       pricing=st.sampled_from(("auto", "cloud", "owned")))
def test_breakdown_parts_sum_to_totals(hardware, workload, options, pricing):
    assume(usable(workload, options))
    options = priced(hardware, {**options, "pricing": options.get("pricing", pricing)})
    if workload == "gpt-1.3b" and "plan" not in options:
        options = {**options, "plan": "dp=8,zero=3"}
    try:
        e = run(hardware, workload, **options)
    except CostsimError:  # a plan this device or model cannot take: nothing to add up
        return
    assert_adds_up(e)


# ---------------------------------------------------------------- the run scales with its steps
@PROPERTY
@given(hardware=st.sampled_from(CLASSICAL), options=st.sampled_from(RUNS), pricing=st.sampled_from(("cloud", "owned")),
       steps=st.integers(1, 10**6), k=st.sampled_from((2, 3, 10, 1000)))
def test_more_steps_cost_proportionally_more(hardware, options, pricing, steps, k):
    options = priced(hardware, {**options, "pricing": pricing})
    one, many = (run(hardware, "gpt2-124m", [f"workload.training.tokens={n * 16384}"], **options)
                 for n in (steps, k * steps))
    assert many.steps == k * one.steps
    for field in ("total_time_s", "device_hours", "energy_joules", "device_energy_joules", "cost_usd", "co2_kg"):
        assert close(getattr(many, field), k * getattr(one, field), 1e-9), field
    assert close(many.step_time_s, one.step_time_s, 1e-12)


# ---------------------------------------------------------------- the simulation
@PROPERTY
@given(hardware=st.sampled_from(CLASSICAL[:5]), workload=st.sampled_from(SMALL),
       options=st.sampled_from(RUNS[:2] + RUNS[3:]), replicas=st.integers(1, 4), seed=st.integers(0, 2**31))
def test_the_simulation_without_failures_or_noise_equals_the_closed_form(hardware, workload, options, replicas, seed):
    assume(usable(workload, options))
    options = priced(hardware, options)
    closed = run(hardware, workload, **options)
    e, mc = api.simulate(hardware, workload, replicas=replicas, seed=seed, **options)
    assert e == closed
    assert close(mc.closed_form_total_time_s, closed.total_time_s)
    for field in ("wall_time_s", "device_hours", "energy_joules", "cost_usd", "co2_kg"):
        q = getattr(mc, field)
        for p in (q.p5, q.p50, q.p95, q.mean):
            assert close(p, getattr(closed, field if field != "wall_time_s" else "total_time_s"), 1e-9), field
    assert mc.failures.p95 == 0
    assert close(mc.mean_breakdown_s["productive_s"], closed.total_time_s)


NOISY = dict(mtbf_hours=50.0, straggler_cv_fraction=0.2, preemptions_per_hour=0.05, queue_wait_s=600.0)


@pytest.mark.parametrize("noise", [dict(straggler_cv_fraction=0.2), dict(mtbf_hours=20.0),
                                   dict(preemptions_per_hour=0.1), dict(queue_wait_s=3600.0), NOISY])
def test_the_same_seed_gives_identical_results_and_different_seeds_differ(noise):
    first = api.simulate("h200", "gpt2-124m", devices=8, replicas=8, seed=7, **noise)
    again = api.simulate("h200", "gpt2-124m", devices=8, replicas=8, seed=7, **noise)
    other = api.simulate("h200", "gpt2-124m", devices=8, replicas=8, seed=8, **noise)
    assert first.to_dict() == again.to_dict()
    assert first[1].wall_time_s != other[1].wall_time_s


@PROPERTY
@given(mtbf=st.sampled_from((None, 5.0, 50.0, 1000.0)), cv=st.sampled_from((0.0, 0.05, 0.5)),
       preemptions=st.sampled_from((0.0, 0.02, 0.5)), queue=st.sampled_from((0.0, 600.0)),
       requeue=st.booleans(), replicas=st.integers(1, 12), seed=st.integers(0, 2**31),
       devices=st.sampled_from((1, 8, 16)))
def test_monte_carlo_percentiles_are_ordered_and_add_up(mtbf, cv, preemptions, queue, requeue, replicas, seed, devices):
    _, mc = api.simulate("h200", "gpt2-124m", devices=devices, replicas=replicas, seed=seed, mtbf_hours=mtbf,
                         straggler_cv_fraction=cv, preemptions_per_hour=preemptions, queue_wait_s=queue,
                         requeue_on_failure=requeue)
    for field in ("wall_time_s", "device_hours", "energy_joules", "cost_usd", "co2_kg", "failures"):
        q = getattr(mc, field)
        assert q.p5 <= q.p50 <= q.p95, (field, q)
        assert all(math.isfinite(x) and x >= 0 for x in (q.p5, q.p50, q.p95, q.mean)), (field, q)
    if cv == 0:  # interruptions and queueing only add time (straggler noise on one device may take some off)
        assert mc.wall_time_s.p5 >= mc.closed_form_total_time_s * (1 - 1e-9)
    assert close(sum(mc.mean_breakdown_s.values()), mc.wall_time_s.mean, 1e-9)
