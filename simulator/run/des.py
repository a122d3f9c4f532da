"""A whole training run as a discrete-event simulation (SimPy), on top of the closed-form step.

Processes: the job (waits in the queue, then trains segment by segment between checkpoints), device
failures (exponential, per-device MTBF over N devices), optional spot pre-emptions, and the recovery
after each interruption (detection, requeue or spare swap, checkpoint reload; the work since the last
checkpoint is lost). Simulated time advances by events: a segment of k synchronous steps is one
timeout, its length drawn from the distribution of the sum of k step maxima over N noisy devices
(stragglers), so a 90-day run costs thousands of events, not millions of steps.

With noise, failures, pre-emptions and queueing off, the simulation equals the closed form exactly.
Randomness comes only from the ``numpy.random.Generator`` passed in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import simpy
from pydantic import Field
from scipy.stats import norm

from ..errors import CostsimError
from ..schema.hardware import NonNegativeFloat, PositiveFloat, Strict
from ..units import GIGA, SECONDS_PER_HOUR
from .estimate import Estimate

# beyond this an MTBF (hours) means no failure in the age of the universe, and a rate overflows its arithmetic
MAX_RATE_FIGURE = 1e15

class SimConfig(Strict):
    """What can go wrong, and what it costs to recover."""

    straggler_cv_fraction: NonNegativeFloat = Field(
        default=0.0, description="per-device step-time noise (coefficient of variation); a step ends when "
                                 "the slowest device ends")
    mtbf_hours: PositiveFloat | None = Field(default=None, le=MAX_RATE_FIGURE,
                                             description="per device; None: no failures")
    preemptions_per_hour: NonNegativeFloat = Field(default=0.0, le=MAX_RATE_FIGURE,
                                                   description="spot reclaims of the job")
    checkpoint_bytes: NonNegativeFloat = 0.0
    storage_bandwidth_bytes_per_s: PositiveFloat = 10e9  # assumption: a parallel file system's write rate
    checkpoint_interval_s: PositiveFloat | None = Field(default=None, description="None: Young/Daly optimum")
    detection_s: NonNegativeFloat = 60.0  # assumption: a hung collective times out in about a minute
    restart_s: NonNegativeFloat = 300.0  # assumption: spare swap or requeue, and process start-up
    queue_wait_s: NonNegativeFloat = Field(default=0.0, description="mean wait in the job queue (exponential)")
    requeue_on_failure: bool = Field(default=False, description="after an interruption the job goes back "
                                     "to the queue (waiting queue_wait_s on average) instead of a spare swap")


def checkpoint_write_s(cfg: SimConfig) -> float:
    """Seconds to write one checkpoint to storage."""
    return cfg.checkpoint_bytes / cfg.storage_bandwidth_bytes_per_s


def system_mtbf_s(cfg: SimConfig, devices: int) -> float:
    """Mean time between interruptions of the whole job: any device failing, or a pre-emption."""
    rate = (devices / (cfg.mtbf_hours * SECONDS_PER_HOUR) if cfg.mtbf_hours else 0.0) \
        + cfg.preemptions_per_hour / SECONDS_PER_HOUR
    return 1.0 / rate if rate > 0 else math.inf


# With free checkpoints (no write time) the optimum interval tends to zero; one checkpoint per 1/50 of
# the mean time between interruptions loses about 1% of it per interruption and keeps events few.
FREE_CHECKPOINTS_PER_MTBF = 50


def young_daly_interval_s(write_s: float, mtbf_s: float) -> float:
    """Daly's (2006) higher-order optimum of the checkpoint interval; Young's sqrt(2 delta M) to first order."""
    if not math.isfinite(mtbf_s):
        return math.inf
    if write_s <= 0:
        return mtbf_s / FREE_CHECKPOINTS_PER_MTBF
    if write_s >= 2 * mtbf_s:
        return mtbf_s
    x = math.sqrt(write_s / (2 * mtbf_s))
    return math.sqrt(2 * write_s * mtbf_s) * (1 + x / 3 + x * x / 9) - write_s


def expected_max_of_normals(n: int) -> tuple[float, float]:
    """Mean and standard deviation of the largest of n standard normal draws, by integrating its
    density n phi(x) Phi(x)^(n-1) on a fine grid."""
    if n <= 1:
        return 0.0, 1.0
    x = np.linspace(-8.0, 8.0, 16001)
    log_cdf = norm.logcdf(x)
    density = n * norm.pdf(x) * np.exp((n - 1) * log_cdf)
    dx = x[1] - x[0]
    mass = density.sum() * dx
    mean = float((x * density).sum() * dx / mass)
    var = float(((x - mean) ** 2 * density).sum() * dx / mass)
    return mean, math.sqrt(var)


@dataclass
class RunTally:
    """Where one replica's wall-clock seconds went, and how often it was interrupted or saved."""

    wall_s: float = 0.0
    queue_s: float = 0.0
    productive_s: float = 0.0  # steps that counted
    lost_s: float = 0.0  # work redone after interruptions
    checkpoint_s: float = 0.0
    recovery_s: float = 0.0  # detection + restart + reload
    failures: int = 0
    preemptions: int = 0
    checkpoints: int = 0


@dataclass(frozen=True)
class Segments:
    """How a replica cuts the run: checkpoint interval, steps per segment, and the noisy step's moments."""

    write_s: float
    interval_s: float
    steps_per_segment: int
    step_mean_s: float
    step_sd_s: float

    @classmethod
    def of(cls, e: Estimate, cfg: SimConfig, interval_s: float | None = None) -> "Segments":
        """The segments of the run behind ``e`` (at ``interval_s`` instead of the configured one, if given)."""
        write_s = checkpoint_write_s(cfg)
        interval = interval_s or cfg.checkpoint_interval_s or young_daly_interval_s(
            write_s, system_mtbf_s(cfg, e.devices))
        steps = int(e.steps)  # a segment longer than the run is the run: same segments, no overflow
        k = max(1, int(min(interval // e.step_time_s, steps))) if math.isfinite(interval) else steps
        mean, sd = expected_max_of_normals(e.devices)
        return cls(write_s, interval, k, e.step_time_s * (1 + cfg.straggler_cv_fraction * mean),
                   e.step_time_s * cfg.straggler_cv_fraction * sd)


# What one replica may cost, so that no run hangs (measured: about 1 us of one core per segment or
# write, 15 us per interruption). check_progress refuses, before any replica, a run expected to need
# more; a replica that passes and still runs past the MAX_RUN_ bounds (odds below e^-20) is stopped.
MAX_EVENTS = 5_000_000
MAX_INTERRUPTIONS = 100_000
MAX_RUN_EVENTS = MAX_EVENTS + 100 * MAX_INTERRUPTIONS
MAX_RUN_INTERRUPTIONS = 20 * MAX_INTERRUPTIONS
MAX_SIMULATED_S = 1e200  # seconds: far beyond any run, with room before energies and costs overflow


def _rate_field(cfg: SimConfig, devices: int) -> str:
    """The parameter behind most interruptions of the job: device failures or pre-emptions."""
    failures = devices / cfg.mtbf_hours if cfg.mtbf_hours else 0.0
    return "mtbf_hours" if failures and failures >= cfg.preemptions_per_hour else "preemptions_per_hour"


def _log_interruptions(e: Estimate, cfg: SimConfig, seg: Segments, mtbf_s: float) -> tuple[float, int, float]:
    """The natural log of the interruptions one replica expects (Daly 2006: a segment and its write are
    redone until they run uninterrupted, a recovery until it does), its segments, and the log of the
    interruptions it expects for each checkpoint saved."""
    segments = -(-int(e.steps) // seg.steps_per_segment)  # ceiling, exact for any count
    log_n = math.log(segments) if segments > 0 else -math.inf
    if segments <= 0 or mtbf_s == math.inf:
        return -math.inf, max(segments, 0), -math.inf
    x = (seg.steps_per_segment * seg.step_mean_s + seg.write_s) / mtbf_s if mtbf_s > 0 else math.inf
    r = (cfg.detection_s + cfg.restart_s + seg.write_s) / mtbf_s if mtbf_s > 0 else math.inf
    per_checkpoint = (x if x > 30 else math.log(math.expm1(x)) if x > 0 else -math.inf) + r
    return log_n + per_checkpoint, segments, per_checkpoint


def _about(log_e: float) -> str:
    """exp(log_e), readable even where it would overflow a float."""
    if log_e < 34:  # below 1e15: the number itself
        return f"{math.exp(log_e):,.3g}" if log_e < 9 else f"{math.exp(log_e):.3g}"
    return f"10^{log_e / math.log(10):,.0f}" if math.isfinite(log_e) else "infinitely many"


def check_progress(e: Estimate, cfg: SimConfig) -> None:
    """Refuse a run no replica can finish in reasonable time, with the figures that decide it: more than
    MAX_INTERRUPTIONS interruptions expected (failures or pre-emptions as frequent as a checkpoint
    interval or a recovery), more than MAX_EVENTS events (segments, writes, idle queue wake-ups), or more
    than MAX_SIMULATED_S seconds. Raises CostsimError naming the parameter to change."""
    seg, mtbf = Segments.of(e, cfg), system_mtbf_s(cfg, e.devices)
    log_i, segments, log_per = _log_interruptions(e, cfg, seg, mtbf)
    recovery_s = cfg.detection_s + cfg.restart_s + seg.write_s
    if log_i > math.log(MAX_INTERRUPTIONS):
        optimum = Segments.of(e, cfg, young_daly_interval_s(seg.write_s, mtbf))  # would it pass?
        given = cfg.checkpoint_interval_s and _log_interruptions(e, cfg, optimum, mtbf)[0] <= math.log(
            MAX_INTERRUPTIONS)
        field = "checkpoint_interval_s" if given else _rate_field(cfg, e.devices)
        who = [f"{e.devices:,} device{'s' if e.devices > 1 else ''} at an MTBF of {cfg.mtbf_hours:.3g} h"] \
            if cfg.mtbf_hours else []
        who += [f"{cfg.preemptions_per_hour:.3g} pre-emptions an hour"] if cfg.preemptions_per_hour else []
        work_s = seg.steps_per_segment * seg.step_mean_s
        verdict = "cannot make progress" if log_per >= math.log(10) else "is interrupted too often to simulate"
        per_s = 1.0 / mtbf if mtbf > 0 else math.inf
        raise CostsimError(
            f"the run {verdict}: an interruption every {mtbf:.3g} s on average ({', '.join(who)}): "
            f"{(work_s + seg.write_s) * per_s:.3g} expected in each checkpoint interval ({work_s:.3g} s of steps + "
            f"{seg.write_s:.3g} s write) and {recovery_s * per_s:.3g} in each recovery ({cfg.detection_s:g} s "
            f"detection + {cfg.restart_s:g} s restart + {seg.write_s:.3g} s reload): about {_about(log_per)} for each "
            f"checkpoint saved, {_about(log_i)} over the run's {segments:,} intervals, more than the "
            f"{MAX_INTERRUPTIONS:,} a replica simulates", field=field)
    interruptions = math.exp(log_i)
    requeues = 1 + (interruptions if cfg.requeue_on_failure else 0.0)
    idle = requeues * cfg.queue_wait_s / mtbf if cfg.queue_wait_s else 0.0  # interrupters wake while queued
    events = 2 * segments + 5 * interruptions + idle
    if events > MAX_EVENTS:
        field = "queue_wait_s" if idle > 2 * segments else "checkpoint_interval_s" if cfg.checkpoint_interval_s \
            else _rate_field(cfg, e.devices)
        raise CostsimError(
            f"the run is too long to simulate: about {events:.3g} events ({segments:,.0f} checkpoint intervals of "
            f"{seg.steps_per_segment:,} step{'s' if seg.steps_per_segment > 1 else ''}, {interruptions:,.0f} "
            f"interruptions, {idle:.3g} wake-ups of idle devices in the queue), more than the {MAX_EVENTS:,} a "
            f"replica simulates", field=field)
    k = seg.steps_per_segment  # a segment's time is drawn around its mean: 4 standard deviations of room
    work_s = segments * (k * seg.step_mean_s + 4 * math.sqrt(k) * seg.step_sd_s)
    parts = {"straggler_cv_fraction" if cfg.straggler_cv_fraction else "workload": work_s,
             "storage_bandwidth_bytes_per_s": segments * seg.write_s,
             "queue_wait_s": requeues * cfg.queue_wait_s,
             _rate_field(cfg, e.devices): interruptions * (recovery_s + seg.steps_per_segment * seg.step_mean_s)}
    total_s = sum(parts.values())
    if not total_s <= MAX_SIMULATED_S:
        raise CostsimError(f"the run would last about {total_s:.3g} s, more than the {MAX_SIMULATED_S:.0e} s a "
                           f"simulation counts", field=max(parts, key=parts.get))


class _Job:
    def __init__(self, env: simpy.Environment, e: Estimate, cfg: SimConfig, rng: np.random.Generator):
        self.env, self.e, self.cfg, self.rng = env, e, cfg, rng
        self.tally = RunTally()
        self.holding = False  # devices allocated: only then can they fail or be pre-empted
        self.events = 0
        seg = Segments.of(e, cfg)
        self.write_s, self.interval_s, self.steps_per_segment = seg.write_s, seg.interval_s, seg.steps_per_segment
        self.step_mean_s, self.step_sd_s = seg.step_mean_s, seg.step_sd_s
        self.process = env.process(self.run())

    def tick(self) -> None:
        """Count one event; stop a replica that runs past the bounds (the checks before it make this rare)."""
        self.events += 1
        interruptions = self.tally.failures + self.tally.preemptions
        if self.events > MAX_RUN_EVENTS or interruptions > MAX_RUN_INTERRUPTIONS:
            raise CostsimError(
                f"the replica was stopped after {self.events:,} simulated events and {interruptions:,} "
                f"interruptions, with {self.tally.checkpoints:,} checkpoints saved and {self.env.now:.3g} s "
                f"simulated: the run makes too little progress to simulate",
                field=_rate_field(self.cfg, self.e.devices))

    def segment_s(self, k: int) -> float:
        """Time of k synchronous steps, each ending with its slowest device (sum of k maxima: CLT)."""
        if self.step_sd_s == 0:
            return k * self.step_mean_s
        return max(0.0, self.rng.normal(k * self.step_mean_s, math.sqrt(k) * self.step_sd_s))

    def wait(self, seconds: float, bucket: str, interrupted_bucket: str | None = None):
        """Advance time by ``seconds`` into ``bucket``; an interruption ends it early, and the time spent
        so far goes to ``interrupted_bucket`` (default: the same bucket)."""
        start = self.env.now
        self.tick()
        try:
            yield self.env.timeout(seconds)
        except simpy.Interrupt:
            name = interrupted_bucket or bucket
            setattr(self.tally, name, getattr(self.tally, name) + self.env.now - start)
            raise
        setattr(self.tally, bucket, getattr(self.tally, bucket) + seconds)

    def queued(self):
        """Wait in the job queue with no devices held."""
        self.holding = False
        yield from self.wait(self.rng.exponential(self.cfg.queue_wait_s), "queue_s")
        self.holding = True

    def run(self):
        if self.cfg.queue_wait_s > 0:
            yield from self.queued()
        self.holding = True
        done, total = 0, int(self.e.steps)
        while done < total:
            k = min(self.steps_per_segment, total - done)
            d = self.segment_s(k)
            try:
                yield from self.wait(d, "productive_s", interrupted_bucket="lost_s")
                if done + k < total and self.write_s > 0:
                    try:
                        yield from self.wait(self.write_s, "checkpoint_s")
                    except simpy.Interrupt:  # the segment was never saved: it is lost too
                        self.tally.productive_s -= d
                        self.tally.lost_s += d
                        raise
                    self.tally.checkpoints += 1
                done += k
            except simpy.Interrupt as stop:
                yield from self._recover(stop.cause)
        self.tally.wall_s = self.env.now

    def _recover(self, cause: str):
        if cause == "failure":
            self.tally.failures += 1
        else:
            self.tally.preemptions += 1
        if self.cfg.requeue_on_failure and self.cfg.queue_wait_s > 0:  # devices released while queued
            yield from self.queued()
        while True:  # a further interruption during recovery starts the recovery over
            try:
                reload_s = self.write_s  # read the checkpoint back at the storage rate
                yield from self.wait(self.cfg.detection_s + self.cfg.restart_s + reload_s, "recovery_s")
                return
            except simpy.Interrupt as again:
                if again.cause == "failure":
                    self.tally.failures += 1
                else:
                    self.tally.preemptions += 1


def _interrupter(env: simpy.Environment, job: _Job, rate_per_s: float, cause: str, rng: np.random.Generator):
    while True:
        yield env.timeout(rng.exponential(1.0 / rate_per_s))
        if not job.process.is_alive:
            return
        job.tick()
        if job.holding:
            job.process.interrupt(cause)


def simulate(e: Estimate, cfg: SimConfig, rng: np.random.Generator) -> RunTally:
    """One replica of the run behind ``e`` (its step time, steps and devices). A replica that runs past
    ``MAX_RUN_EVENTS`` events or ``MAX_RUN_INTERRUPTIONS`` interruptions is stopped with a CostsimError
    (:func:`check_progress` refuses, before any replica, a run expected to need that many)."""
    env = simpy.Environment()
    job = _Job(env, e, cfg, rng)
    rates = (e.devices / (cfg.mtbf_hours * SECONDS_PER_HOUR) if cfg.mtbf_hours else 0.0, "failure"), \
        (cfg.preemptions_per_hour / SECONDS_PER_HOUR, "preemption")
    for rate_per_s, cause in rates:  # a rate so small its mean interval overflows never interrupts a run
        if rate_per_s > 0 and math.isfinite(1.0 / rate_per_s):
            env.process(_interrupter(env, job, rate_per_s, cause, rng))
    env.run(until=job.process)
    return job.tally


class Percentiles(Strict):
    """The 5th, 50th and 95th percentiles and the mean of one outcome over the replicas (in the
    outcome's unit)."""

    p5: float
    p50: float
    p95: float
    mean: float


class MonteCarlo(Strict):
    """N replicas of one run: percentiles of each outcome, and what the replicas spent their time on.

    Attributes:
        replicas: independent runs simulated.
        seed: the seed; replica i draws from ``default_rng([seed, i])``.
        devices: devices in the run.
        closed_form_total_time_s: the estimate's total time in seconds, without any interruption.
        checkpoint_interval_s: seconds between checkpoints (given, or the Young/Daly optimum); None: none.
        checkpoint_write_s: seconds to write one checkpoint.
        system_mtbf_s: mean seconds between interruptions of the whole job; None: none expected.
        wall_time_s: wall-clock seconds from submission to the end, queueing included.
        device_hours: devices x seconds with the devices allocated, in hours.
        energy_joules: the run's whole energy in joules (device, host and facility overhead).
        cost_usd: the run's cost in US dollars.
        co2_kg: kilograms of CO2e.
        failures: interruptions, device failures and pre-emptions together.
        mean_breakdown_s: mean seconds by part (``queue_s``, ``productive_s``, ``lost_s``, ``checkpoint_s``,
            ``recovery_s``), adding up to the wall time.
        assumptions: the simulation's assumptions, one sentence each.
    """

    replicas: int
    seed: int
    devices: int
    closed_form_total_time_s: float
    checkpoint_interval_s: float | None
    checkpoint_write_s: float
    system_mtbf_s: float | None
    wall_time_s: Percentiles
    device_hours: Percentiles
    energy_joules: Percentiles
    cost_usd: Percentiles
    co2_kg: Percentiles
    failures: Percentiles
    mean_breakdown_s: dict[str, float]  # queue, productive, lost, checkpoint, recovery: add up to wall time
    assumptions: tuple[str, ...]

    def to_dict(self) -> dict:
        """Every field as plain Python values (nested models as dicts)."""
        return self.model_dump()


def percentiles(values) -> Percentiles:
    """The percentiles and mean of ``values``."""
    a = np.asarray(values, dtype=float)
    p5, p50, p95 = np.percentile(a, [5, 50, 95])
    return Percentiles(p5=float(p5), p50=float(p50), p95=float(p95), mean=float(a.mean()))


def replica_outcome(t: RunTally, e: Estimate, idle_watts: float, host_watts: float, pue: float,
                    cost_fn, kg_co2_per_joule: float) -> dict[str, float]:
    """Energy, cost and carbon of one replica: busy time at the estimate's average power, checkpoint
    writes and recoveries at idle power, queueing with no device allocated."""
    n = e.devices
    allocated_s = t.wall_s - t.queue_s
    device_j = ((t.productive_s + t.lost_s) * e.average_device_power_watts
                + (t.checkpoint_s + t.recovery_s) * idle_watts) * n
    host_j = host_watts * allocated_s * n
    energy = device_j + host_j + (pue - 1.0) * (device_j + host_j)
    return {"wall_time_s": t.wall_s, "device_hours": allocated_s * n / SECONDS_PER_HOUR, "energy_joules": energy,
            "cost_usd": cost_fn(allocated_s * n, energy), "co2_kg": energy * kg_co2_per_joule,
            "failures": float(t.failures + t.preemptions)}


def replica(e: Estimate, cfg: SimConfig, seed: int, index: int) -> RunTally:
    """Replica ``index`` of a Monte Carlo run: its own generator, ``default_rng([seed, index])``."""
    return simulate(e, cfg, np.random.default_rng([seed, index]))


def monte_carlo(e: Estimate, cfg: SimConfig, replicas: int, seed: int, outcome, progress=None,
                mapper=None) -> MonteCarlo:
    """``replicas`` independent runs; replica i draws from ``default_rng([seed, i])``, so results do not
    depend on the order or the machine the replicas run on. ``outcome(tally) -> dict`` prices a replica.
    ``mapper(fn, argument_tuples)``, where given, runs the replicas elsewhere (worker processes, Dask)
    and returns their tallies in order."""
    check_progress(e, cfg)
    rows, tallies = [], []
    args = [(e, cfg, seed, i) for i in range(replicas)]
    results = mapper(replica, args) if mapper else (replica(*a) for a in args)
    for i, t in enumerate(results):
        tallies.append(t)
        rows.append(outcome(t))
        if progress:
            progress(i + 1)
    mtbf = system_mtbf_s(cfg, e.devices)
    write = checkpoint_write_s(cfg)
    interval = cfg.checkpoint_interval_s or young_daly_interval_s(write, mtbf)
    breakdown = {k: float(np.mean([getattr(t, k) for t in tallies]))
                 for k in ("queue_s", "productive_s", "lost_s", "checkpoint_s", "recovery_s")}
    every = f"{interval:,.0f}" if 1 <= interval < 1e15 else f"{interval:.3g}"
    notes = [f"straggler noise: coefficient of variation {cfg.straggler_cv_fraction:g} per device and step",
             f"checkpoint: {cfg.checkpoint_bytes / GIGA:,.1f} GB at {cfg.storage_bandwidth_bytes_per_s / GIGA:g} GB/s "
             f"every {every} s" + ("" if cfg.checkpoint_interval_s else " (Young/Daly optimum)")
             if math.isfinite(interval) else "no checkpoints (no interruptions expected)",
             f"recovery after an interruption: {cfg.detection_s:g} s detection + {cfg.restart_s:g} s restart "
             f"+ checkpoint reload; the work since the last checkpoint is redone"]
    return MonteCarlo(
        replicas=replicas, seed=seed, devices=e.devices, closed_form_total_time_s=e.total_time_s,
        checkpoint_interval_s=interval if math.isfinite(interval) else None, checkpoint_write_s=write,
        system_mtbf_s=mtbf if math.isfinite(mtbf) else None,
        **{k: percentiles([r[k] for r in rows]) for k in ("wall_time_s", "device_hours", "energy_joules",
                                                          "cost_usd", "co2_kg", "failures")},
        mean_breakdown_s=breakdown, assumptions=tuple(notes))
