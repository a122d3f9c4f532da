"""The discrete-event simulation entry points, and the executors (processes, Dask) that run replicas and sweeps."""
from __future__ import annotations

import multiprocessing
import numbers
import signal
from typing import Iterable

from pydantic import ValidationError, create_model

from ..errors import CostsimError
from ..model.memory import parameter_count
from ..model.ops import OPTIMIZER_STATE_BYTES_PER_PARAM, PRECISIONS
from ..output.tables import simulation_table
from ..run.des import SimConfig, monte_carlo, replica_outcome
from ..run.estimate import run_cost
from ..schema.hardware import Strict
from .core import Pair, _load, estimate, run_options

# how long a Dask scheduler may take to answer before the run is refused (no hang)
SCHEDULER_TIMEOUT_S = 10.0
# replicas one simulation holds: each keeps its outcomes (about 1 kB) for the percentiles
MAX_REPLICAS = 100_000


SimulationOptions = create_model(
    "SimulationOptions", __base__=Strict, __module__=__name__,
    __doc__="""``simulate``'s keyword options about what goes wrong in the run and what recovery costs: the
    fields of :class:`simulator.run.des.SimConfig` (same names, defaults and bounds) less
    ``checkpoint_bytes``, which ``simulate`` takes from the workload (master weights and optimizer state).

    Attributes:
        straggler_cv_fraction: per-device step-time noise, a coefficient of variation (0: none); a step ends
            when the slowest device ends.
        mtbf_hours: mean time between failures of one device, hours; None: no failures.
        preemptions_per_hour: spot reclaims of the job per hour.
        storage_bandwidth_bytes_per_s: the checkpoint write rate, B/s.
        checkpoint_interval_s: seconds between checkpoints; None: the Young/Daly optimum.
        detection_s: seconds until a failure is noticed (a hung collective times out).
        restart_s: seconds to swap in a spare or requeue, and start the processes again.
        queue_wait_s: the mean wait in the job queue, s (exponentially distributed).
        requeue_on_failure: after an interruption the job goes back to the queue (waiting queue_wait_s on
            average) instead of a spare swap.
    """,
    **{name: (field.annotation, field) for name, field in SimConfig.model_fields.items()
       if name != "checkpoint_bytes"})


def simulate(hardware, workload, *, replicas: int = 1, seed: int = 0, sets: Iterable[str] = (),
             pricing: str = "auto", progress=None, workers: int = 1, executor: str = "local",
             scheduler: str | None = None, **options):
    """``costsim simulate``: Monte Carlo replicas of the whole run (discrete-event, SimPy) on the
    closed-form step. Returns (the closed-form Estimate, the MonteCarlo summary).

    Options: the fields of :class:`SimulationOptions` (``mtbf_hours``, ``straggler_cv_fraction``,
    ``preemptions_per_hour``, ``checkpoint_interval_s``, ``storage_bandwidth_bytes_per_s``, ``detection_s``,
    ``restart_s``, ``queue_wait_s``, ``requeue_on_failure``); any other keyword is a run option, as
    ``estimate`` takes (devices, plan, region, fit, ...). ``replicas`` run from ``seed``, in this process, in
    ``workers`` processes or on a Dask ``scheduler`` (``executor`` local or dask); ``progress(done, total)``
    is called as they finish."""
    _check_count(seed, "seed", 0)
    _check_count(replicas, "replicas", 1)
    if replicas > MAX_REPLICAS:
        raise CostsimError(f"{replicas:,} is more than the {MAX_REPLICAS:,} replicas a simulation holds (each keeps "
                           f"its outcomes for the percentiles)", field="replicas")
    simulation = {name: options.pop(name) for name in SimulationOptions.model_fields if name in options}
    e = estimate(hardware, workload, sets=sets, pricing=pricing, **options)
    profile, wl = _load(hardware, workload, sets)
    opts = run_options(pricing=pricing, **{k: v for k, v in options.items()
                                           if k != "fit" and (k != "plan" or v != "auto")})
    state_bytes = parameter_count(wl) * (PRECISIONS[wl.training.precision].master_bytes
                                         + OPTIMIZER_STATE_BYTES_PER_PARAM[wl.training.optimizer])
    try:  # the field is the parameter of the same name
        cfg = SimConfig(**SimulationOptions(**simulation).model_dump(), checkpoint_bytes=state_bytes)
    except ValidationError as err:
        raise CostsimError.from_validation(err) from None
    grid, _ = opts.grid()

    def outcome(tally):
        return replica_outcome(tally, e, profile.power.idle_watts, profile.power.host_per_device_watts, opts.pue,
                               lambda device_s, energy: sum(run_cost(profile, opts, device_s, energy)[1].values()),
                               grid)

    return Pair(e, monte_carlo(e, cfg, replicas, seed, outcome, progress, _mapper(workers, executor, scheduler)),
                simulation_table)


def _check_count(value, field: str, least: int) -> None:
    """Refuse a count that is not a whole number at least ``least`` (a bool is not a count)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise CostsimError(f"must be a whole number {least} or more, got {value!r}", field=field)


def _star(call):
    fn, args = call
    return fn(*args)


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the parent, which stops the pool and keeps what it has."""

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _mapper(workers: int = 1, executor: str = "local", scheduler: str | None = None,
            timeout_s: float = SCHEDULER_TIMEOUT_S):
    """A ``mapper(fn, argument_tuples)`` that yields results in order: None (in this process), worker
    processes, or a Dask cluster."""
    if executor == "dask":
        def on_dask(fn, args):
            client = _dask_client(scheduler, timeout_s)
            try:
                for f in client.map(_star, [(fn, a) for a in args], pure=False):
                    yield f.result()
            finally:
                client.close()
        return on_dask
    if executor != "local":
        raise CostsimError(f"unknown executor '{executor}'; known: local, dask", field="executor")
    if workers <= 1:
        return None

    def on_pool(fn, args):

        with multiprocessing.get_context("fork").Pool(workers, initializer=_ignore_interrupts) as pool:
            yield from pool.imap(_star, [(fn, a) for a in args], chunksize=max(1, len(args) // (8 * workers)))
    return on_pool


INTERVAL_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)


def checkpoint_interval_sweep(hardware, workload, *, replicas: int = 20, seed: int = 0, **kwargs):
    """The cost of getting the checkpoint interval wrong: the run simulated at 1/4, 1/2, 1, 2 and 4
    times the Young/Daly optimum. Returns [(interval_s, MonteCarlo)], optimum in the middle."""
    kwargs.pop("checkpoint_interval_s", None)
    e, base = simulate(hardware, workload, replicas=1, seed=seed, **kwargs)
    if base.checkpoint_interval_s is None:
        raise CostsimError("no failures or pre-emptions to checkpoint against: give mtbf_hours",
                           field="mtbf_hours")
    optimum = base.checkpoint_interval_s
    out = []
    for factor in INTERVAL_FACTORS:
        try:
            _, mc = simulate(hardware, workload, replicas=replicas, seed=seed,
                             checkpoint_interval_s=optimum * factor, **kwargs)
        except CostsimError as err:  # the interval is the sweep's, not the caller's
            field = "interval_sweep" if err.field == "checkpoint_interval_s" else err.field
            raise CostsimError(f"at {factor:g} times the Young/Daly interval ({optimum * factor:.3g} s): "
                               f"{err.problem}", source=err.source, field=field) from None
        out.append((optimum * factor, mc))
    return out


def _dask_client(scheduler: str | None, timeout_s: float):
    try:
        from distributed import Client
    except ImportError:
        raise CostsimError("the Dask executor needs the distributed extra: pip install '.[distributed]'",
                           field="executor") from None
    if not scheduler:
        raise CostsimError("the Dask executor needs a scheduler address (tcp://host:8786)", field="scheduler")
    try:
        return Client(scheduler, timeout=timeout_s)
    except (OSError, TimeoutError, ValueError) as err:
        raise CostsimError(f"could not reach the Dask scheduler at {scheduler} within {timeout_s:g} s "
                           f"({type(err).__name__})", field="scheduler") from None
