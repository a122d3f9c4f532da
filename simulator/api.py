"""The Python entry points: the same operations as the CLI, taking names, paths, dicts or models."""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

from pydantic import ValidationError

from .errors import CostsimError
from .plan import parse_plan
from .estimate import Estimate, RunOptions, estimate_run
from .hardware import ClassicalProfile, Strict
from .loader import (apply_overrides, bundled_names, finish_profile, load_profile, load_workload, raw_profile,
                     raw_workload, resolve, validate_workload)
from .regions import PUE
from .units import SECONDS_PER_YEAR, kg_co2_per_joule, usd_per_joule
from .workload import CNNWorkload, TransformerWorkload

# how long a Dask scheduler may take to answer before the run is refused (no hang)
SCHEDULER_TIMEOUT_S = 10.0
# projections: how far ahead a trend is carried, and the fastest doubling accepted (a trend, not a leap)
MAX_PROJECTION_YEARS = 100
MIN_DOUBLING_YEARS = 0.1

if TYPE_CHECKING:
    from .calibration import FitResult


class Rows(tuple):
    """A result that is a list of rows (compare, plan, strategies): iterate it as a tuple, or take it
    as plain data (``to_dict``) or as the CLI's table (``table(fmt)``, fmt table|csv|json|markdown)."""

    def __new__(cls, rows, render: str):
        obj = super().__new__(cls, rows)
        obj._render = render
        return obj

    def to_dict(self) -> list:
        def plain(x):
            if hasattr(x, "model_dump"):
                return x.model_dump()
            if isinstance(x, tuple):
                return [plain(v) for v in x]
            return x
        return [plain(r) for r in self]

    def table(self, fmt: str = "table") -> str:
        from . import report as report_layer

        return getattr(report_layer, self._render)(list(self), fmt)


class Pair(tuple):
    """A two-part result (simulate: the closed-form estimate and the Monte Carlo summary) with the same
    ``to_dict`` and ``table(fmt)`` as the other results."""

    def __new__(cls, first, second, render: str):
        obj = super().__new__(cls, (first, second))
        obj._render = render
        return obj

    def to_dict(self) -> dict:
        return {"estimate": self[0].model_dump(), "simulation": self[1].model_dump()}

    def table(self, fmt: str = "table") -> str:
        from . import report as report_layer

        return getattr(report_layer, self._render)(self[0], self[1], fmt)


def run_options(*, devices: int | None = None, plan=None, region: str | None = None,
                grid_g_co2_per_kwh: float | None = None, pue: float | str | None = None, pricing: str = "auto",
                lifetime_years: float | None = None, electricity_usd_per_kwh: float | None = None) -> RunOptions:
    """Build :class:`RunOptions` from human units (gCO2/kWh, years, $/kWh), converting to SI.
    ``plan``: a :class:`Plan` or its text (``tp=8,pp=16,dp=4,mb=2``); devices default to the plan's."""
    if isinstance(plan, str):
        plan = parse_plan(plan)
    if devices is None:
        devices = plan.devices if plan is not None else 1
    fields: dict = {"devices": devices, "region": region, "plan": plan}
    if grid_g_co2_per_kwh is not None:
        if grid_g_co2_per_kwh <= 0:
            raise CostsimError("must be positive", field="grid_intensity")
        fields["grid_kg_co2_per_joule"] = kg_co2_per_joule(grid_g_co2_per_kwh)
    if isinstance(pue, str):
        if pue not in PUE:
            raise CostsimError(f"unknown facility class '{pue}'; known: {', '.join(PUE)}", field="pue")
        pue = PUE[pue][0]
    if pue is not None:
        fields["pue"] = pue
    fields["pricing"] = pricing
    if lifetime_years is not None:
        fields["lifetime_s"] = lifetime_years * SECONDS_PER_YEAR
    if electricity_usd_per_kwh is not None:
        fields["electricity_usd_per_joule"] = usd_per_joule(electricity_usd_per_kwh)
    try:
        return RunOptions(**fields)
    except ValidationError as err:
        first = err.errors()[0]
        raise CostsimError(first["msg"].removeprefix("Value error, "),
                           field=".".join(str(p) for p in first["loc"]) or "options") from None


def _load(hardware, workload, sets: Iterable[str]):
    sets = list(sets)
    if isinstance(hardware, Strict) and isinstance(workload, Strict) and not sets:
        return hardware, workload
    if isinstance(hardware, Strict) and not sets:  # a loaded profile: only the workload needs reading
        wl_data, wl_src = (workload.model_dump(), "<model>") if isinstance(workload, Strict) else raw_workload(workload)
        return hardware, validate_workload(wl_data, wl_src)
    hw_data, hw_src = (hardware.model_dump(), "<model>") if isinstance(hardware, Strict) else raw_profile(hardware)
    wl_data, wl_src = (workload.model_dump(), "<model>") if isinstance(workload, Strict) else raw_workload(workload)
    apply_overrides(hw_data, wl_data, sets)
    return finish_profile(hw_data, hw_src), validate_workload(wl_data, wl_src)


_HARDWARE_FIELDS = ("kind", "cloud_price_usd_per_hour", "purchase_price_usd", "efficiency")


def _run(profile, wl, opts, hw_source: str | None, wl_source: str | None) -> Estimate:
    """estimate_run, with the file at fault named in its errors: the profile's for what the device
    lacks, the workload's for what the run asks (it does not fit, the batch does not split)."""
    try:
        return estimate_run(profile, wl, opts)
    except CostsimError as err:
        if err.field and err.field.startswith("--"):  # the command line's own option
            raise
        source = hw_source if err.field in _HARDWARE_FIELDS else wl_source
        raise err.with_source(source) if source else err


def estimate(hardware: str | Mapping | Strict, workload: str | Mapping | Strict, *, sets: Iterable[str] = (),
             pricing: str = "auto", **options) -> Estimate:
    """Estimate one training run. ``hardware`` and ``workload``: bundled names, paths, dicts or models.

    Options: devices, plan ('tp=8,pp=16,dp=4,mb=2' or a Plan), region, grid_g_co2_per_kwh, pue (a number or a facility class), pricing
    ('auto', 'cloud' or 'owned'), lifetime_years, electricity_usd_per_kwh. ``sets``: ``field=value``
    overrides as on the command line.
    """
    profile, wl = _load(hardware, workload, sets)
    if options.get("plan") == "auto":
        best = plan(profile, wl, devices=options.pop("devices", None) or 1, pricing=pricing,
                    **{k: v for k, v in options.items() if k != "plan"}, top=1)
        return best[0][1]
    opts = run_options(pricing=pricing, **options)
    return _run(profile, wl, opts, _source(hardware, "hardware"), _source(workload, "workload"))


def plan(hardware, workload, *, devices: int, objective: str = "time", top: int = 10, sets: Iterable[str] = (),
         pricing: str = "auto", **options):
    """``costsim plan``: the best plans for ``devices`` devices, as (Plan, Estimate) pairs, best first."""
    from .search import search

    profile, wl = _load(hardware, workload, sets)
    if not isinstance(profile, ClassicalProfile):
        estimate_run(profile, wl)  # refuses it with the usual message
    opts = run_options(devices=devices, pricing=pricing, **options)
    try:
        return Rows(search(profile, wl, devices, objective, opts, top), "plan_table")
    except CostsimError as err:
        raise err.with_source(_source(workload, "workload")) if _source(workload, "workload") else err


def _source(ref, what: str) -> str | None:
    if isinstance(ref, str):
        try:
            return str(resolve(ref, what))
        except CostsimError:
            return None
    return None


class CompareRow(Strict):
    hardware: str
    estimate: Estimate | None
    problem: str | None


def compare(hardware: Iterable[str | Mapping | Strict] | None, workload, *, sets: Iterable[str] = (),
            pricing: str = "auto", **options) -> list[CompareRow]:
    """Estimate the same workload on several devices (default: every bundled classical profile).

    A device on which the run cannot be estimated (it does not fit, has no price, is a quantum
    profile) keeps its row, with the reason instead of an estimate.
    """
    names = list(hardware) if hardware is not None else bundled_names("hardware")
    rows = []
    auto = options.get("plan") == "auto"
    for hw in names:
        profile, wl = _load(hw, workload, sets)  # bad input is an error, not a row
        try:
            if auto:  # the fastest plan that fits on this device
                others = {k: v for k, v in options.items() if k not in ("plan", "devices")}
                found = plan(profile, wl, devices=options.get("devices") or 1, pricing=pricing, top=1, **others)
                rows.append(CompareRow(hardware=profile.name, problem=None, estimate=found[0][1]))
                continue
            opts = run_options(pricing=pricing, **options)
            rows.append(CompareRow(hardware=profile.name, problem=None,
                                   estimate=_run(profile, wl, opts, _source(hw, "hardware"),
                                                 _source(workload, "workload"))))
        except CostsimError as err:
            if err.field and err.field.startswith("--") and not auto:
                raise
            rows.append(CompareRow(hardware=profile.name, estimate=None, problem=err.line()))
    return Rows(rows, "comparison_table")


def strategies(hardware, workload, strategy: Iterable[str], *, rows: str = "both", sets: Iterable[str] = (),
               pricing: str = "auto", **options):
    """``costsim estimate --strategy ...``: the cost table as StrategyRows: the baseline, then each
    strategy alone (``rows`` 'each', or 'both' when several are given) and their composition in the
    order given ('combined' or 'both')."""
    from . import strategies as strat
    from .loader import load_profile, load_workload

    profile, wl = _load(hardware, workload, sets)
    if options.get("plan") == "auto":
        found = plan(profile, wl, devices=options.pop("devices", None) or 1, pricing=pricing, top=1,
                     **{k: v for k, v in options.items() if k != "plan"})
        options["plan"], options["devices"] = found[0][0], found[0][0].devices
    opts = run_options(pricing=pricing, **options)
    hw_source, wl_source = _source(hardware, "hardware"), _source(workload, "workload")

    def load(kind: str, name: str, extra: tuple):
        return load_profile(name, extra) if kind == "hardware" else load_workload(name)

    def run(profile, wl, opts):
        return _run(profile, wl, opts, hw_source if profile.name == _name(hardware) else None,
                    wl_source if wl.name == _name(workload) else None)

    return Rows(strat.compare(profile, wl, opts, list(strategy), load, run, rows=rows), "strategy_table")


def strategy_definitions(name: str | None = None) -> list[dict]:
    """``costsim strategies list|show``: the strategies' definitions as plain data."""
    from .strategies import describe

    return describe(name)


def _name(ref) -> str | None:
    return getattr(ref, "name", None) or (Path(ref).stem if isinstance(ref, str) else None)


def workload_summary(wl) -> dict:
    """Derived quantities of a workload: parameters, tokens or images, FLOPs per step."""
    from .estimate import _step_ops, model_flops_per_step
    from .memory import parameter_count

    batch = wl.training.global_batch_size
    out = {"name": wl.name, "kind": wl.kind, "parameters": parameter_count(wl), "steps": wl.total_steps,
           "global_batch_size": batch, "model_flops_per_step": model_flops_per_step(wl, _step_ops(wl, batch))}
    if isinstance(wl, TransformerWorkload):
        out["tokens_per_step"] = wl.tokens_per_step
        out["tokens"] = wl.tokens_per_step * wl.total_steps
    elif isinstance(wl, CNNWorkload):
        out["images"] = batch * wl.total_steps
    out["model_flops"] = out["model_flops_per_step"] * wl.total_steps
    return out


# ------------------------------------------------------------------------------------- calibration
def _base_for_calibration(base: str, measured: dict | None):
    data, source = raw_profile(base)
    if measured:
        for key, value in measured.items():
            data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    profile = finish_profile(data, source)
    if not isinstance(profile, ClassicalProfile):
        raise CostsimError(f"'{base}' is a {profile.kind} profile: calibration needs a cpu, gpu, tpu, fpga or "
                           f"asic base", field="--base")
    return profile


def calibrate_from_records(records: list[dict], *, base: str, name: str, source_files: str,
                           provenance: str, measured: dict | None = None) -> tuple[str, "FitResult"]:
    """Fit ``records`` on top of the ``base`` profile; return the new profile's YAML text and the fit."""
    from .calibration import calibrated_profile_text, fit

    result = fit(_base_for_calibration(base, measured), records)
    return calibrated_profile_text(base, name, result, provenance, source_files, measured), result


def calibrate_files(paths: list[str], *, base: str = "h200", name: str) -> tuple[str, "FitResult"]:
    """``costsim calibrate --from``: fit measurement files in the format of ../shared/calibration/h200."""
    from .loader import load_measurements

    records = [r for p in paths for r in load_measurements(p)]
    kinds = sorted({r["kind"] for r in records})
    provenance = f"{len(records)} records ({', '.join(kinds)}) from {len(paths)} file(s)"
    return calibrate_from_records(records, base=base, name=name, source_files=", ".join(paths),
                                  provenance=provenance)


def calibrate_cpu(*, quick: bool, base: str = "xeon-8480", name: str, rng=None, progress=None
                  ) -> tuple[str, "FitResult", list[dict]]:
    """``costsim calibrate --device cpu``: measure this machine through numpy and fit a profile whose
    peaks are the best measured rates. Returns the YAML text, the fit and the raw records."""
    import numpy as np

    from .loader import read_cpu_model
    from .measure import measure_cpu, measured_peaks

    records = measure_cpu(rng or np.random.default_rng(0), quick=quick, progress=progress)
    env = records[0]
    env["device"] = read_cpu_model() or env["device"]
    peaks = measured_peaks(records)
    measured = {"peak_dense_flops_per_s": {d: peaks.get(d) for d in
                                           ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "int4")},
                "memory_bandwidth_bytes_per_s": peaks["bandwidth"], "sparse_2_4_accelerated": False}
    provenance = (f"{env['device']}, {env['cpu_count']} logical CPUs, numpy {env['numpy']} with {env['blas']} "
                  f"on {env['threads']} threads, {'quick' if quick else 'full'} sweep, measured {env['when']}")
    text, result = calibrate_from_records(records, base=base, name=name, source_files="numpy microbenchmarks",
                                          provenance=provenance, measured=measured)
    return text, result, records


def calibrate_cuda(*, quick: bool, base: str = "h200", name: str, progress=None
                   ) -> tuple[str, "FitResult", list[dict]]:
    """``costsim calibrate --device cuda``: measure the first NVIDIA GPU through PyTorch (an optional
    extra), NVML power included where pynvml is installed, in the shared measurement format."""
    from .measure_cuda import measure_cuda

    records = measure_cuda(quick=quick, progress=progress)
    env = records[0]
    provenance = (f"{env.get('name')}, torch {env.get('torch')}, {'quick' if quick else 'full'} sweep, "
                  f"measured {env.get('when')}")
    text, result = calibrate_from_records(records, base=base, name=name, source_files="PyTorch microbenchmarks",
                                          provenance=provenance)
    return text, result, records


# ------------------------------------------------------------------------------------- validation
SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


def validate_file(path: str):
    """``costsim validate FILE``: runs described in a CSV or JSON-lines file (columns in the README)."""
    from .loader import load_rows
    from .validation import run_from_row, validate

    runs = [run_from_row(row, f"{path}:{i}") for i, row in enumerate(load_rows(path), 1)]
    return validate(Path(path).name, runs, estimate, data=str(path))


def validate_suite(name: str, data: str | None = None, host_overhead_s: float | None = None):
    """A bundled suite: ``h200`` (the shared H200 training steps) or ``vtrain`` (its CSVs; ``data`` is
    the folder or one CSV)."""
    from .loader import find_files, load_csv_raw, load_measurements
    from .validation import h200_suite, validate, vtrain_suite

    if name == "h200":
        folder = Path(data) if data else SHARED / "calibration" / "h200"
        path = (find_files(folder, "measurements.jsonl") or [folder])[0]
        return validate("h200", h200_suite(load_measurements(path)), estimate, data=str(path),
                        load_profile=load_profile)
    if name == "vtrain":
        if not data:
            raise CostsimError("the vtrain suite needs --data: the folder of its CSVs or one CSV", field="--data")
        folder = Path(data)
        paths = find_files(folder, "ground_truth_*.csv")
        if not paths:
            raise CostsimError("no ground_truth_*.csv files", source=str(folder))
        runs = [run for p in paths for run in vtrain_suite(load_csv_raw(p), str(p))]
        from .hardware import Link
        from .validation import VTRAIN_HOST_OVERHEAD_S, VTRAIN_INTER_NODE_BYTES_PER_S

        overhead = VTRAIN_HOST_OVERHEAD_S if host_overhead_s is None else host_overhead_s
        inter = load_profile("a100-sxm-80gb").inter_node_link
        update = {"kernel_launch_overhead_s": overhead,
                  "inter_node_link": Link(bandwidth_bytes_per_s=VTRAIN_INTER_NODE_BYTES_PER_S, latency_s=inter.latency_s)}
        return validate("vtrain", runs, estimate, data=", ".join(map(str, paths)), load_profile=load_profile,
                        profile_update=update)
    raise CostsimError(f"unknown suite '{name}'; known: h200, vtrain, compression", field="--suite")


def compression_checks(data: str | None = None):
    """``costsim validate --suite compression``: the H200 calibration's fp8, low-rank and 2:4 rows
    against the bundled H200 profile. The timing floor of each session comes from refitting the
    microbenchmarks (the floor is a property of the measuring rig, not of the profile)."""
    from .calibration import fit
    from .loader import find_files, load_measurements
    from .validation import compression_checks as checks

    folder = Path(data) if data else SHARED / "calibration" / "h200"
    records = [r for name in ("measurements.jsonl", "operators.jsonl")
               for p in find_files(folder, name) for r in load_measurements(p)]
    if not records:
        raise CostsimError("no measurements.jsonl or operators.jsonl", source=str(folder))
    profile = load_profile("h200")
    return checks(records, profile, fit(profile, records).floors_s)


# ------------------------------------------------------------------------------------- simulation
def simulate(hardware, workload, *, replicas: int = 1, seed: int = 0, mtbf_hours: float | None = None,
             straggler_cv_fraction: float = 0.0, preemptions_per_hour: float = 0.0,
             checkpoint_interval_s: float | None = None, storage_bandwidth_bytes_per_s: float = 10e9,
             detection_s: float = 60.0, restart_s: float = 300.0, queue_wait_s: float = 0.0,
             requeue_on_failure: bool = False, sets: Iterable[str] = (), pricing: str = "auto", progress=None,
             workers: int = 1, executor: str = "local", scheduler: str | None = None, **options):
    """``costsim simulate``: Monte Carlo replicas of the whole run (discrete-event, SimPy) on the
    closed-form step. Returns (the closed-form Estimate, the MonteCarlo summary)."""
    from pydantic import ValidationError

    from .des import SimConfig, monte_carlo, replica_outcome
    from .estimate import run_cost
    from .memory import parameter_count
    from .ops import OPTIMIZER_STATE_BYTES_PER_PARAM, PRECISIONS

    e = estimate(hardware, workload, sets=sets, pricing=pricing, **options)
    profile, wl = _load(hardware, workload, sets)
    opts = run_options(pricing=pricing, **{k: v for k, v in options.items() if k != "plan" or v != "auto"})
    state_bytes = parameter_count(wl) * (PRECISIONS[wl.training.precision].master_bytes
                                         + OPTIMIZER_STATE_BYTES_PER_PARAM[wl.training.optimizer])
    try:
        cfg = SimConfig(straggler_cv_fraction=straggler_cv_fraction, mtbf_hours=mtbf_hours,
                        preemptions_per_hour=preemptions_per_hour, checkpoint_bytes=state_bytes,
                        storage_bandwidth_bytes_per_s=storage_bandwidth_bytes_per_s,
                        checkpoint_interval_s=checkpoint_interval_s, detection_s=detection_s, restart_s=restart_s,
                        queue_wait_s=queue_wait_s, requeue_on_failure=requeue_on_failure)
    except ValidationError as err:
        first = err.errors()[0]
        cli_names = {"storage_bandwidth_bytes_per_s": "storage-gb-per-s", "straggler_cv_fraction": "straggler-cv",
                     "queue_wait_s": "queue-wait-hours"}
        name = str(first["loc"][0])
        raise CostsimError(first["msg"], field="--" + cli_names.get(name, name.replace("_", "-"))) from None
    grid, _ = opts.grid()

    def outcome(tally):
        return replica_outcome(tally, e, profile.power.idle_watts, profile.power.host_per_device_watts, opts.pue,
                               lambda device_s, energy: sum(run_cost(profile, opts, device_s, energy)[1].values()),
                               grid)

    return Pair(e, monte_carlo(e, cfg, replicas, seed, outcome, progress, _mapper(workers, executor, scheduler)),
                "simulation_table")


def _star(call):
    fn, args = call
    return fn(*args)


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the parent, which stops the pool and keeps what it has."""
    import signal

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
        raise CostsimError(f"unknown executor '{executor}'; known: local, dask", field="--executor")
    if workers <= 1:
        return None

    def on_pool(fn, args):
        import multiprocessing

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
        raise CostsimError("no failures or pre-emptions to checkpoint against: give --mtbf-hours",
                           field="--interval-sweep")
    optimum = base.checkpoint_interval_s
    out = []
    for factor in INTERVAL_FACTORS:
        _, mc = simulate(hardware, workload, replicas=replicas, seed=seed, checkpoint_interval_s=optimum * factor,
                         **kwargs)
        out.append((optimum * factor, mc))
    return out


# ------------------------------------------------------------------------------------- limits
class LimitsReport(Strict):
    """``costsim limits``: the scaling fits, and what each target costs on each device."""

    fits: tuple
    pricing_fits: dict                            # benchmark -> the fit its costs use
    points: dict                                  # benchmark -> the models that fit was made on
    targets: tuple[float, ...]
    priced: tuple
    web_app: dict[str, tuple[float, float]]      # label -> (dollars, kg CO2) at the web app's fixed ratios
    assumptions: tuple[str, ...]

    def to_dict(self) -> dict:
        return self.model_dump()

    def table(self, fmt: str = "table") -> str:
        from .report import fits_table, limits_notes, priced_table

        return fits_table(self.fits, fmt, headline_only=True) + "\n\n" + priced_table(self.priced, fmt) + (
            "\n" + limits_notes(self) if fmt in ("table", "markdown") else "")


def thompson_rows(data: str | None = None, benchmarks=None) -> dict[str, list[dict]]:
    """The Thompson et al. CSVs (``data``: their folder; default ../shared/data/thompson), by benchmark."""
    from .loader import load_thompson
    from .scaling import BENCHMARKS, benchmark

    folder = Path(data) if data else SHARED / "data" / "thompson"
    names = list(benchmarks) if benchmarks else list(BENCHMARKS)
    return {name: load_thompson(folder / benchmark(name).file_name) for name in names}


def scaling_fits(data: str | None = None, benchmarks=None):
    """Every scaling fit (both compute measures, both models, all models and the frontier)."""
    from .scaling import fit_all

    return fit_all(thompson_rows(data, benchmarks))


def _reference(name: str, devices: int, per_device: int | None = None):
    from .limits import BATCH_PER_DEVICE

    return _load("h200", name, [f"global_batch_size={(per_device or BATCH_PER_DEVICE[name]) * devices}"])[1]


def _priced_devices(hardware, workload, devices: int, strategy, pricing: str, options: dict):
    """(profile, estimate function, strategy cost ratios) per device type, for pricing compute."""
    from . import strategies as strat
    from .loader import load_profile, load_workload

    names = list(hardware) if hardware else [n for n in bundled_names("hardware")
                                             if isinstance(load_profile(n), ClassicalProfile)]
    opts = run_options(devices=devices, pricing=pricing, **options)

    def run(profile, wl, opts_or_devices):
        o = opts_or_devices if not isinstance(opts_or_devices, int) else opts
        return estimate_run(profile, wl, o)

    def load(kind, name, extra):
        return load_profile(name, extra) if kind == "hardware" else load_workload(name)

    out = []
    for name in names:
        profile = load_profile(name)
        if not isinstance(profile, ClassicalProfile):
            raise CostsimError(f"'{name}' is a {profile.kind} profile: the limits table prices classical devices "
                               f"(see 'costsim quantum breakeven')", field="--hardware")
        ratios = {}
        for s in strategy:
            try:
                row = strat.compare(profile, workload, opts, [s], load, run, rows="each")[-1]
                ratios[s] = row.cost_ratio
            except CostsimError as err:
                if err.field and err.field.startswith("--strategy") and "unknown" in err.problem:
                    raise
        out.append((profile, run, ratios))
    return out


def limits(benchmarks=("imagenet",), targets=(0.05, 0.01), *, extrapolate: bool = False, hardware=None,
           devices: int = 1000, strategy: Iterable[str] = (), data: str | None = None, pricing: str = "auto",
           progress=None, **options) -> LimitsReport:
    """``costsim limits``: fit the Thompson et al. data, project the compute for each target error, and
    price it on each device (``devices`` of them) and under each strategy."""
    from .limits import REFERENCE_WORKLOAD, check_targets, price_compute, pricing_fit, target_label, web_app_figures
    from .scaling import compute_for_error, fit_all

    from .scaling import points

    check_targets(targets)
    rows = thompson_rows(data, benchmarks)
    fits = fit_all(rows)
    priced, web, notes, chosen, pts = [], {}, [], {}, {}
    for name in benchmarks:
        f = pricing_fit(fits, name)
        chosen[name], pts[name] = f, points(rows[name], name, f.compute_measure)
        ref = _reference(REFERENCE_WORKLOAD[name], devices)
        notes.append(f"{name}: compute from the {f.model} fit on {f.compute_measure.replace('_', ' ')} "
                     f"({f.subset} models, n={f.n}, k={f.exponent_k:.3g}), priced as {ref.name} steps on "
                     f"{devices} devices; 95% interval of the fitted line")
        estimates = [compute_for_error(f, t, extrapolate) for t in targets]
        priced_devices = _priced_devices(hardware, ref, devices, list(strategy), pricing, options)
        for done, (profile, run, ratios) in enumerate(priced_devices, 1):
            if progress:
                progress(done, len(priced_devices))
            for t, c in zip(targets, estimates):
                label = target_label(name, f.metric, t)
                priced.append(price_compute(label, c.compute_flops, c.compute_low_flops, c.compute_high_flops,
                                            profile, ref, devices, run, ratios))
                web[label] = web_app_figures(c.compute_flops)
    notes.append("every total is linear in the compute: a device's figures are its reference-run estimate "
                 "scaled to the steps the compute takes; strategy costs are their ratio on that reference run")
    return LimitsReport(fits=tuple(fits), pricing_fits=chosen, points=pts, targets=tuple(targets),
                        priced=tuple(priced), web_app=web, assumptions=tuple(notes))


def lm_limits(*, losses: Iterable[float] = (), computes: Iterable[float] = (), law: str = "chinchilla",
              hardware=None, devices: int = 1024, pricing: str = "auto", **options) -> list[dict]:
    """Compute-optimal language models for each loss target or compute budget (a Chinchilla-style law),
    turned into transformer workloads and priced on each device (the fastest plan on ``devices``)."""
    from .limits import price_compute
    from .loader import validate_workload
    from .scaling_laws import LAWS, compute_for_loss, compute_optimal, loss, transformer_for

    if law not in LAWS:
        raise CostsimError(f"unknown law '{law}'; known: {', '.join(LAWS)}", field="--law")
    chosen = LAWS[law]
    budgets = [(f"loss {l:g}", compute_for_loss(chosen, l)) for l in losses]
    budgets += [(f"compute {c:.3g} FLOPs", c) for c in computes]
    out = []
    for label, c in budgets:
        n, d = compute_optimal(chosen, c)
        wl = validate_workload(transformer_for(n, d, f"lm-{n:.3g}p-{d:.3g}t"), "<scaling law>")
        rows = []
        names = list(hardware) if hardware else ["a100-sxm-80gb", "h100-sxm", "h200", "tpu-v5p"]
        for name in names:
            profile, _ = _load(name, wl, ())
            try:
                best = plan(profile, wl, devices=devices, pricing=pricing, top=1, **options)[0]
                opts = run_options(devices=devices, plan=best[0], pricing=pricing, **options)
                rows.append(price_compute(label, c, None, None, profile, wl, devices,
                                          lambda p, w, _n, o=opts: estimate_run(p, w, o), exact=True))
            except CostsimError as err:
                rows.append(price_compute(label, c, None, None, profile, wl, devices,
                                          lambda p, w, _n, e=err: (_ for _ in ()).throw(e)))
        out.append({"label": label, "law": chosen.source, "compute_flops": c, "parameters": n, "tokens": d,
                    "loss": loss(chosen, n, d), "workload": wl.model_dump(), "priced": rows})
    return out


# ------------------------------------------------------------------------------------- hardware trends
def hardware_trends(data: str | None = None) -> dict:
    """Growth per year of peak FP32 FLOP/s, FLOP/s per watt and memory bandwidth, fitted on the MIT
    FutureTech GPU table (``data``: its folder; default ../shared/data/hardware-history), one point per GPU."""
    from .loader import load_csv_raw
    from .trends import METRICS, history_points

    folder = Path(data) if data else SHARED / "data" / "hardware-history"
    gpus = load_csv_raw(folder / "gpus.csv")
    return {m: history_points(gpu_rows=gpus, metric=m).fit() for m in METRICS}


def profile_trends() -> dict:
    """The same fits on the bundled GPU profiles (their fp32 peaks; what-if profiles left out): whether
    the recent parts keep the table's pace."""
    from .trends import METRICS, profile_points

    gpus = [p for p in (load_profile(n) for n in bundled_names("hardware"))
            if p.kind == "gpu" and p.year and not p.description.lower().startswith("what-if")]
    return {m: profile_points(gpus, m, "fp32").fit() for m in METRICS}


def project(base: str, year: int, *, doubling_flops_years: float | None = None,
            doubling_bandwidth_years: float | None = None, doubling_efficiency_years: float | None = None,
            data: str | None = None):
    """``costsim project``: a device of ``year`` grown from ``base`` at the fitted hardware trends (or
    at stated doubling times). Returns (the validated profile, its raw dict, the trends used)."""
    from .trends import growth_from_doubling, project_profile

    raw, source = raw_profile(base)
    if raw.get("kind") == "quantum":
        raise CostsimError(f"'{base}' is a quantum profile: trends project classical devices", field="--base")
    base_year = raw.get("year")
    if not base_year:
        raise CostsimError("the base profile has no year to project from", source=source, field="year")
    if not base_year <= year <= base_year + MAX_PROJECTION_YEARS:
        raise CostsimError(f"project forward from the base's {base_year}, at most {MAX_PROJECTION_YEARS} years "
                           f"(got {year})", field="--year")
    trends = hardware_trends(data)
    stated = {"peak_flops_per_s": ("--doubling-flops", doubling_flops_years),
              "memory_bandwidth_bytes_per_s": ("--doubling-bandwidth", doubling_bandwidth_years),
              "flops_per_s_per_watt": ("--doubling-efficiency", doubling_efficiency_years)}
    growth, basis = {}, []
    for key, (option, years) in stated.items():
        if years is not None:
            if not years >= MIN_DOUBLING_YEARS:
                raise CostsimError(f"a doubling time is at least {MIN_DOUBLING_YEARS:g} years (got {years:g})",
                                   field=option)
            growth[key] = growth_from_doubling(years)
            basis.append(f"{key}: doubling every {years:g} years (stated)")
        else:
            growth[key] = trends[key].growth_factor_per_year
            basis.append(trends[key].describe() + " (MIT FutureTech gpus.csv)")
    # links follow memory bandwidth (an assumption: the table has no link column; NVLink went from
    # 20 GB/s per direction per link in 2016 to 900 GB/s per GPU in 2022, faster than HBM)
    growth["link_bandwidth_bytes_per_s"] = growth["memory_bandwidth_bytes_per_s"]
    basis.append("links: grown with memory bandwidth (assumption)")
    data_out = project_profile(raw, int(base_year), int(year), growth, basis="; ".join(basis))
    return finish_profile(data_out, f"<{base} projected to {year}>"), data_out, trends


def _top_peak(profile) -> float:
    return max(v for v in profile.peak_dense_flops_per_s.model_dump().values() if v)


def cheaper_year(base: str, benchmark: str, target: float, budget_usd: float, *, devices: int = 1000,
                 extrapolate: bool = False, start: int | None = None, stop: int = 2100, data: str | None = None,
                 pricing: str = "auto", **options) -> tuple[int | None, list[tuple[int, float]]]:
    """The first year in which reaching ``target`` on ``benchmark`` costs less than ``budget_usd`` on
    ``base``'s line of devices (grown at the fitted trends), and the cost year by year."""
    from .limits import BATCH_PER_DEVICE, REFERENCE_WORKLOAD, price_compute, pricing_fit
    from .scaling import compute_for_error, fit_all
    from .trends import first_year_below

    if not budget_usd > 0:
        raise CostsimError("the budget must be positive", field="--budget")
    f = pricing_fit(fit_all(thompson_rows(None, [benchmark])), benchmark)
    compute = compute_for_error(f, target, extrapolate).compute_flops
    ref = _reference(REFERENCE_WORKLOAD[benchmark], devices)
    opts = run_options(devices=devices, pricing=pricing, **options)
    first = start or int(raw_profile(base)[0].get("year") or 2024)
    costs: dict[int, float] = {}

    base_profile = load_profile(base)

    def cost_of_year(y: int) -> float:
        if y not in costs:
            profile = project(base, y, data=data)[0]
            # faster devices are fed larger batches (as users do), so per-kernel host time keeps amortising:
            # the per-device batch grows with the peak, halved until it fits
            grown = _top_peak(profile) / _top_peak(base_profile)
            per_device = BATCH_PER_DEVICE[ref.name] * 2 ** max(0, round(math.log2(grown)))
            while True:
                wl = _reference(ref.name, devices, per_device)
                p = price_compute("", compute, None, None, profile, wl, devices,
                                  lambda pr, w, _n: estimate_run(pr, w, opts))
                if p.cost_usd is not None or per_device <= BATCH_PER_DEVICE[ref.name]:
                    break
                per_device //= 2
            if p.problem:
                raise CostsimError(p.problem, field="--base")
            costs[y] = p.cost_usd
        return costs[y]

    year = first_year_below(cost_of_year, budget_usd, first, stop)
    return year, sorted(costs.items())


# ------------------------------------------------------------------------------------- quantum
class QuantumEstimate(Strict):
    """``costsim estimate --hardware quantum-...``: the best classical run of the workload, and what the
    quantum accelerator would need to beat it."""

    hardware: str
    workload: str
    classical_hardware: str
    classical_devices: int
    classical_estimate: Estimate
    total_operations: float
    data_bytes: float
    resources: dict
    verdict: dict

    def to_dict(self) -> dict:
        return self.model_dump()

    def table(self, fmt: str = "table") -> str:
        from .report import quantum_estimate_text

        return quantum_estimate_text(self, fmt)


def _data_bytes(wl) -> float:
    """The training data the accelerator must read once per pass: token ids (4 bytes) or 8-bit RGB images."""
    if isinstance(wl, TransformerWorkload):
        return 4.0 * wl.tokens_per_step * wl.total_steps
    if isinstance(wl, CNNWorkload):
        return float(wl.in_channels * wl.image_size ** 2 * wl.training.global_batch_size * wl.total_steps)
    return 0.0


def quantum_estimate(profile, workload, *, devices: int | None = None, sets: Iterable[str] = (),
                     pricing: str = "auto", **options) -> QuantumEstimate:
    """The fastest bundled classical device (``devices`` of them) on the workload, and the quantum
    profile's verdict against it: Babbush et al.'s model with Amdahl's law and the I/O bound."""
    from .quantum import surface_code_resources, training_verdict

    _, wl = _load("h200", workload, sets)
    plan_opt = options.get("plan")
    if devices is None and plan_opt not in (None, "auto"):
        devices = (parse_plan(plan_opt) if isinstance(plan_opt, str) else plan_opt).devices
    devices = devices or 1
    best, problem = None, None
    for name in bundled_names("hardware"):
        candidate = load_profile(name)
        if not isinstance(candidate, ClassicalProfile) or candidate.description.lower().startswith("what-if"):
            continue
        try:
            e = estimate(candidate, wl, pricing=pricing, devices=devices, **options)
        except CostsimError as err:
            problem = err
            continue
        if best is None or e.total_time_s < best.total_time_s:
            best = e
    if best is None:
        raise problem
    operations = best.model_flops_per_step * best.steps
    data = _data_bytes(wl)
    verdict = training_verdict(best.total_time_s, operations, data, profile, classical_parallelism=1.0,
                               classical_devices=devices)
    return QuantumEstimate(hardware=profile.name, workload=wl.name, classical_hardware=best.hardware,
                           classical_devices=devices, classical_estimate=best, total_operations=operations,
                           data_bytes=data, resources=surface_code_resources(profile).model_dump(),
                           verdict=verdict.model_dump())


def quantum_breakeven(profile_ref: str = "quantum-ftqc", *, degrees=(2, 3, 4), parallelism=(1.0, 1e3, 1e6),
                      classical_step_s: float = 33e-9, toffolis_per_step: float | None = None,
                      distillation_speedup: float = 1.0) -> dict:
    """``costsim quantum breakeven``: the profile's surface-code resources, Babbush et al.'s break-even
    problem size and time for each degree and classical parallelism (Table I with this profile's
    Toffoli time), and Hoefler et al.'s largest work per oracle call (Table 2)."""
    from .hardware import QuantumProfile
    from .quantum import (BABBUSH_TOFFOLIS_PER_STEP, HOEFLER_A100_RATES, HOEFLER_QUANTUM_RATES, breakeven,
                          max_operations_per_call, quantum_step_time_s, surface_code_resources)

    profile = load_profile(profile_ref)
    if not isinstance(profile, QuantumProfile):
        raise CostsimError(f"'{profile_ref}' is a {profile.kind} profile, not a quantum one", field="--profile")
    res = surface_code_resources(profile)
    g = BABBUSH_TOFFOLIS_PER_STEP if toffolis_per_step is None else toffolis_per_step
    t_q = quantum_step_time_s(g, res.toffoli_time_s, distillation_speedup)
    table = [{"degree": d, "classical_parallelism": s, **breakeven(t_q, classical_step_s, d, s).model_dump()}
             for d in degrees for s in parallelism]
    hoefler = [{"operation": op, "degree": k, "max_operations_per_call": max_operations_per_call(
        HOEFLER_QUANTUM_RATES.rate(op), HOEFLER_A100_RATES.rate(op), k)} for op in ("fp16", "int32", "binary")
        for k in (2, 3, 4)]
    return {"profile": profile.name, "resources": res.model_dump(), "quantum_step_s": t_q,
            "distillation_speedup": distillation_speedup,
            "classical_step_s": classical_step_s, "toffolis_per_step": g, "breakeven": table, "hoefler": hoefler}


def load_profile_ref(hardware, sets: Iterable[str] = ()):
    """A profile from a name, path, dict or model, with ``hardware.*`` overrides applied."""
    if isinstance(hardware, Strict) and not sets:
        return hardware
    data, source = (hardware.model_dump(), "<model>") if isinstance(hardware, Strict) else raw_profile(hardware)
    apply_overrides(data, None, [s for s in sets if s.startswith("hardware.")])
    return finish_profile(data, source)


def is_quantum(hardware, sets: Iterable[str] = ()) -> bool:
    from .hardware import QuantumProfile

    return isinstance(load_profile_ref(hardware, sets), QuantumProfile)


# ------------------------------------------------------------------------------------- history
def history(data: str | None = None):
    """``costsim validate --suite history``: the Thompson et al. rows that name processor, count and
    training time, re-predicted from forward FLOPs, epochs and set size. Returns (runs, summary)."""
    from .history import predict, runs_from_rows, summarise

    runs = [r for name, rows in thompson_rows(data).items() for r in runs_from_rows(rows, name)]
    opts = {}

    def run(profile, wl, devices):
        return estimate_run(profile, wl, opts.setdefault(devices, run_options(devices=devices)))

    results = [predict(r, load_profile, run) for r in runs]
    return results, summarise(results)


# ------------------------------------------------------------------------------------- sweeps
def sweep_spec(source=None, **axes):
    """A :class:`SweepSpec` from a sweep file (path), a dict, or axes given as keywords (the CLI's flags).
    Unknown axes, empty lists and bad values are one-line errors; a reference that does not resolve
    (a profile or workload name in a long list) names its line in the file."""
    from .loader import load_sweep
    from .sweep import SweepSpec

    lines, where = {}, "<sweep>"
    if isinstance(source, SweepSpec):
        return source
    if isinstance(source, (str, Path)):
        data, lines = load_sweep(source)
        where = str(source)
    else:
        data = dict(source or {})
    data.update({k: v for k, v in axes.items() if v not in (None, (), [])})
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            from .sweep import CORE_AXES, OPTION_AXES

            msg = f"unknown axis; known: {', '.join(CORE_AXES + OPTION_AXES + ('name', 'description', 'plan'))}"
        elif first["type"] == "too_short":
            msg = "an empty list makes an empty grid"
        line = lines.get((str(first["loc"][0]), first["loc"][1])) if len(first["loc"]) > 1 and isinstance(
            first["loc"][1], int) else None
        raise CostsimError(msg + (f" (line {line})" if line else ""), source=where, field=loc) from None
    from .strategies import parse

    for i, text in enumerate(spec.strategies):
        if text == "none":
            continue
        parts = text.split("+")
        try:
            if not all(parts):
                raise CostsimError(f"'{text}': an empty strategy in the composition", field="strategies")
            for part in parts:
                parse(part)
        except CostsimError as err:
            line = lines.get(("strategies", i))
            raise CostsimError(err.problem + (f" (line {line})" if line else ""), source=where,
                               field=f"strategies[{i}]") from None
    for axis, what in (("hardware", "hardware"), ("workloads", "workload")):
        for i, ref in enumerate(getattr(spec, axis)):
            name = ref.base if hasattr(ref, "base") else ref
            try:
                resolve(name, what)
            except CostsimError as err:
                line = lines.get((axis, i))
                raise CostsimError(f"{err.problem}" + (f" (line {line})" if line else ""), source=where,
                                   field=f"{axis}[{i}]") from None
    return spec


def _sweep_profile(ref, sets: Iterable[str] = ()):
    """A sweep's device: a profile reference, or a what-if (a base with fields changed), with
    ``hardware.*`` overrides of a ``set`` axis."""
    from .sweep import WhatIf

    sets = list(sets)
    if not isinstance(ref, WhatIf):
        return load_profile(ref, sets)
    data, source = raw_profile(ref.base)
    apply_overrides(data, None, [f"hardware.{k}={v}" for k, v in ref.set.items()] + sets)
    data["name"] = ref.name
    return finish_profile(data, source)


def evaluate_core(point: dict, plan_mode: str = "dp"):
    """One run-changing point of a sweep: its closed-form run(s), or the reason it cannot run. Module
    level and pure in its inputs, so that worker processes and Dask workers can run it."""
    from . import strategies as strat
    from .search import search
    from .sweep import CoreResult, Phase

    profile, wl = point["hardware"], point["workload"]  # loaded once per sweep (see sweep_cores)
    base = dict(hardware=profile.name, workload=wl.name, set=point["set"], devices=point["devices"],
                strategy=point["strategy"])
    try:
        hw_sets = [f"{k}={v}" for k, v in point["set"].items() if k.startswith("hardware.")]
        wl_sets = [f"{k}={v}" for k, v in point["set"].items() if not k.startswith("hardware.")]
        if hw_sets:
            profile = _sweep_profile(point["hardware_ref"], hw_sets)
        if wl_sets:
            data = wl.model_dump()
            apply_overrides(None, data, wl_sets)
            wl = validate_workload(data, f"<{wl.name}>")
        if not isinstance(profile, ClassicalProfile):
            raise CostsimError(f"'{profile.name}' is a {profile.kind} profile: sweeps price classical devices",
                               field="hardware")
        n = point["devices"]
        prices = {profile.name: (profile.cloud_price_usd_per_hour, profile.purchase_price_usd)}
        if profile.cloud_price_usd_per_hour is None and profile.purchase_price_usd is None:
            # the sweep prices from the phases itself (a price axis may supply one): the estimate only
            # needs some price to run, and its cost is not used
            profile = profile.model_copy(update={"cloud_price_usd_per_hour": 1.0})
        opts = RunOptions(devices=n)
        if plan_mode == "auto":
            opts = opts.model_copy(update={"plan": search(profile, wl, n, "time", opts, 1)[0][0]})
        texts = [] if point["strategy"] in ("none", "") else [t for t in point["strategy"].split("+") if t]
        sc = strat.baseline(profile, wl, opts)
        if texts:
            specs = [strat.parse(t) for t in texts]
            sc = strat.apply_all(sc, specs, lambda kind, name, extra: load_profile(name, extra) if kind == "hardware"
                                 else load_workload(name))
        priced = strat.price_phases(sc, lambda p, w, o: estimate_run(p, w, o))
    except CostsimError as err:
        return CoreResult(**base, problem=err.line())
    last = [e for p, e in priced if p.main][-1]
    def phase(p, e):
        cloud, purchase = prices.get(p.profile.name, (p.profile.cloud_price_usd_per_hour, p.profile.purchase_price_usd))
        return Phase(device_s=p.repeats * e.total_time_s * e.devices,
                     it_joules=p.repeats * (e.device_energy_joules + e.host_energy_joules),
                     cloud_price_usd_per_hour=cloud, purchase_price_usd=purchase, name=p.profile.name,
                     own=p.profile.name in prices)

    phases = tuple(phase(p, e) for p, e in priced)
    return CoreResult(**base, time_s=math.fsum(p.repeats * e.total_time_s for p, e in priced),
                      step_time_s=last.step_time_s, peak_memory_bytes=max(e.peak_memory_bytes for _, e in priced),
                      mfu_fraction=last.mfu_fraction, samples_per_s=last.samples_per_s, tokens_per_s=last.tokens_per_s,
                      plan=last.plan, phases=phases)


def _dask_client(scheduler: str | None, timeout_s: float):
    try:
        from distributed import Client
    except ImportError:
        raise CostsimError("the Dask executor needs the distributed extra: pip install '.[distributed]'",
                           field="--executor") from None
    if not scheduler:
        raise CostsimError("the Dask executor needs --scheduler ADDRESS (tcp://host:8786)", field="--scheduler")
    try:
        return Client(scheduler, timeout=timeout_s)
    except (OSError, TimeoutError, ValueError) as err:
        raise CostsimError(f"could not reach the Dask scheduler at {scheduler} within {timeout_s:g} s "
                           f"({type(err).__name__})", field="--scheduler") from None


def sweep_cores(spec, *, workers: int = 1, executor: str = "local", scheduler: str | None = None,
                timeout_s: float = SCHEDULER_TIMEOUT_S):
    """The sweep's core points evaluated in grid order, yielded one by one: in this process, in
    ``workers`` processes, or on a Dask cluster. The results do not depend on where they ran."""
    profiles = {id(ref): _sweep_profile(ref) for ref in spec.hardware}
    workloads = {ref: load_workload(ref) for ref in spec.workloads}
    points = [({**p, "hardware_ref": p["hardware"], "hardware": profiles[id(p["hardware"])],
                "workload": workloads[p["workload"]]}, spec.plan) for p in spec.core_points()]
    mapper = _mapper(workers if len(points) > 1 else 1, executor, scheduler, timeout_s)
    yield from (mapper(evaluate_core, points) if mapper else (evaluate_core(*p) for p in points))


class SweepResult(Strict):
    """``costsim sweep``: one row per scenario, inputs and outputs as columns (units in the names)."""

    name: str
    rows: tuple[dict, ...]

    def to_dict(self) -> dict:
        return self.model_dump()

    def table(self, fmt: str = "csv") -> str:
        from .report import sweep_text

        return sweep_text(list(self.rows), fmt)


def sweep(source=None, *, workers: int = 1, executor: str = "local", scheduler: str | None = None,
          timeout_s: float = SCHEDULER_TIMEOUT_S, progress=None, **axes) -> SweepResult:
    """Evaluate a sweep (a file, a dict or keyword axes) and return every row. ``progress(done, total)``
    is called after each core point."""
    from .sweep import expand

    spec = sweep_spec(source, **axes)
    grid = spec.option_grid()
    rows, total = [], len(spec.core_points())
    for i, core in enumerate(sweep_cores(spec, workers=workers, executor=executor, scheduler=scheduler,
                                         timeout_s=timeout_s), 1):
        rows.extend(expand(core, grid))
        if progress:
            progress(i, total)
    return SweepResult(name=spec.name, rows=tuple(rows))


# ------------------------------------------------------------------------------------- plots and reports
PLOT_KINDS = ("roofline", "compare", "pareto", "scaling", "limits")


def _sweep_rows(source) -> list[dict]:
    """A sweep's rows: from a CSV that ``sweep`` wrote, or by running a sweep file (or spec)."""
    from .loader import load_csv_raw

    if isinstance(source, (str, Path)) and str(source).endswith(".csv"):
        rows = load_csv_raw(source)
        for r in rows:
            for k, v in r.items():
                try:
                    r[k] = float(v) if v not in ("", None) else None
                except (TypeError, ValueError):
                    r[k] = v or None
        return rows
    return list(sweep(source).rows)


def _breakdown_rows(estimates) -> list[dict]:
    return [{"label": e.hardware if not hasattr(e, "strategies") else e.label, "time_s": e.total_time_s if hasattr(
        e, "total_time_s") else e.time_s, "energy_joules": e.energy_joules, "cost_usd": e.cost_usd, "co2_kg": e.co2_kg,
        "breakdown": ({k: v.time_s for k, v in e.breakdown.items()} if hasattr(e, "breakdown") else
                      {p.label: p.time_s for p in e.phases})} for e in estimates]


def plot(kind: str, *, hardware=None, workload=None, strategy: Iterable[str] = (), source=None, x: str = "time_s",
         y: str = "cost_usd", series: str = "hardware", fmt: str = "png", sets: Iterable[str] = (),
         benchmark: str = "imagenet", targets: Iterable[float] = (), **options) -> bytes:
    """``costsim plot KIND``: the image, as bytes in ``fmt``.

    roofline: ``hardware`` and ``workload``; compare: several ``hardware`` (or ``strategy`` on one);
    pareto: a sweep ``source`` (file, CSV or spec), ``y`` against ``x``; scaling: ``y`` against the sweep
    column ``x`` (devices, set.<field>), one line per value of ``series``; limits: a benchmark's scaling
    fit with its data, band and ``targets`` (the cost plot is ``limits --plot-dir``)."""
    from . import plots
    from .estimate import op_table

    if kind not in PLOT_KINDS:
        raise CostsimError(f"unknown plot '{kind}'; known: {', '.join(PLOT_KINDS)}", field="KIND")
    if kind == "roofline":
        if not (hardware and workload):
            raise CostsimError("the roofline needs --hardware and --workload", field="--hardware")
        profile, wl = _load(hardware[0] if isinstance(hardware, (list, tuple)) else hardware, workload, sets)
        return plots.roofline_plot(profile, op_table(profile, wl, run_options(**options)), fmt,
                                   title=f"{profile.name}: {wl.name}")
    if kind == "limits":
        from .limits import pricing_fit
        from .report import scaling_plot
        from .scaling import fit_all, points

        rows = thompson_rows(None, [benchmark])
        f = pricing_fit(fit_all(rows), benchmark)
        return scaling_plot(points(rows[benchmark], benchmark, f.compute_measure), f, tuple(targets), fmt)
    if kind == "compare":
        if not workload:
            raise CostsimError("the comparison needs --workload", field="--workload")
        if strategy:
            name = hardware[0] if isinstance(hardware, (list, tuple)) else (hardware or "h200")
            rows = strategies(name, workload, list(strategy), rows="each", sets=sets, **options)
            return plots.comparison_plot(_breakdown_rows(rows), fmt, title=f"{workload} on {name}: strategies")
        found = [r.estimate for r in compare(hardware, workload, sets=sets, **options) if r.estimate]
        return plots.comparison_plot(_breakdown_rows(found), fmt, title=f"{workload}: devices")
    if source is None:
        raise CostsimError(f"the {kind} plot needs a sweep (a file, or a CSV that 'costsim sweep' wrote)",
                           field="SWEEP")
    rows = [r for r in _sweep_rows(source) if r.get("cost_usd") is not None]
    for axis, key in (("--x", x), ("--y", y)):
        if rows and key not in rows[0]:
            raise CostsimError(f"the sweep has no column '{key}'; numeric columns: "
                               f"{', '.join(k for k, v in rows[0].items() if isinstance(v, (int, float)))}", field=axis)
        if any(not isinstance(r[key], (int, float)) or isinstance(r[key], bool) for r in rows):
            raise CostsimError(f"column '{key}' is not numeric in every priced row", field=axis)
    if kind == "pareto":
        return plots.pareto_plot(_distinct_points(rows, x, y), x=x, y=y, fmt=fmt)
    return plots.series_plot(_cheapest_lines(rows, series, x, y), x, y, fmt=fmt)


def _cheapest_lines(rows: list[dict], series: str, x: str, y: str) -> dict[str, list]:
    """One line per value of ``series``: at each x, the lowest y over the sweep's other axes (a grid of
    options would otherwise give several points per x)."""
    best: dict[str, dict] = {}
    for r in rows:
        line = best.setdefault(str(r.get(series)), {})
        xv, yv = float(r[x]), float(r[y])
        line[xv] = min(line.get(xv, yv), yv)
    return {k: sorted(v.items()) for k, v in best.items()}


def _distinct_points(rows: list[dict], x: str, y: str) -> list[dict]:
    """Sweep rows as labelled points, one per distinct (x, y): option rows that price the same run the
    same way would otherwise be drawn (and labelled) on top of each other."""
    seen, out = set(), []
    for r in rows:
        key = (round(float(r[x]), 9), round(float(r[y]), 9))
        if key not in seen:
            seen.add(key)
            out.append({**r, "label": f"{r['hardware']} x{float(r['devices']):g} {r['strategy']}"})
    return out


class ReportResult(Strict):
    """``costsim report``: a self-contained HTML page and the CSV it was made from."""

    name: str
    html: str
    csv: str

    def to_dict(self) -> dict:
        return self.model_dump()


REPORT_ROWS = 50  # rows shown in the page (all of them are in the CSV)


def report(source, *, workers: int = 1, progress=None) -> ReportResult:
    """The page of a scenario or sweep (a sweep file or spec): its cheapest scenarios, the Pareto front
    of cost against time, the best run per device compared, cost against the swept device count, the
    roofline of a single scenario, and every assumption; with the CSV of all rows."""
    from . import html, plots
    from .estimate import op_table
    from .report import sweep_text
    from .strategies import STRATEGIES, parse

    spec = sweep_spec(source)
    rows = list(sweep(spec, workers=workers, progress=progress).rows)
    ok = sorted((r for r in rows if r["cost_usd"] is not None), key=lambda r: r["cost_usd"])
    cols = ["hardware", "workload", "devices", "strategy", "grid", "pue", "pricing", "time_s", "energy_joules",
            "cost_usd", "co2_kg", "peak_memory_bytes", "mfu_fraction"]
    shown = ok[:REPORT_ROWS]
    sections = [("Cheapest scenarios", html.table_html(cols, [[r.get(c) for c in cols] for r in shown]) +
                 (f"<p>{len(ok)} of {len(rows)} scenarios priced; the cheapest {len(shown)} shown. Every row is in "
                  f"the CSV.</p>"))]
    problems = sorted({r["problem"] for r in rows if r["problem"]})
    if problems:
        sections.append(("Scenarios that could not be priced", "<ul>" + "".join(
            f"<li>{html._e(p)}</li>" for p in problems) + "</ul>"))
    figures = []
    if len(ok) > 1:
        figures.append(("Cost against time (Pareto front highlighted)",
                        plots.pareto_plot(_distinct_points(ok, "time_s", "cost_usd"), fmt="svg")))
    best = {}
    for r in ok:
        best.setdefault(r["hardware"], r)
    if best:
        figures.append(("The cheapest scenario of each device", plots.comparison_plot(
            [{"label": f"{h} x{r['devices']}", **{k: r[k] for k in ("time_s", "energy_joules", "cost_usd", "co2_kg")},
              "breakdown": {}} for h, r in best.items()], "svg")))
    if len(spec.devices) > 1 and ok:
        labelled = [{**r, "line": f"{r['hardware']} {r['strategy']}"} for r in ok]
        figures.append(("Cost against device count (the cheapest option at each point)", plots.series_plot(
            _cheapest_lines(labelled, "line", "devices", "cost_usd"), "devices", "cost_usd", fmt="svg")))
    if len(spec.core_points()) == 1 and ok:
        p = spec.core_points()[0]
        profile, wl = _sweep_profile(p["hardware"]), load_workload(p["workload"])
        try:  # the plain run's kernels (a plan or strategy the roofline cannot show leaves it out)
            figures.append((f"Roofline of {wl.name} on {profile.name}", plots.roofline_plot(
                profile, op_table(profile, wl, RunOptions(devices=p["devices"])), "svg")))
        except CostsimError:
            pass
    sections.append(("Figures", "".join(html.image_html(img, "svg", caption, id_prefix=f"fig{i}-")
                                        for i, (caption, img) in enumerate(figures))))
    notes = [STRATEGIES[parse(t).name].quality for s in spec.strategies if s != "none" for t in s.split("+")]
    notes += ["every scenario is a closed-form estimate (see the README's model section); grids, PUEs and prices "
              "are applied to its device-seconds and IT energy"]
    axes = ", ".join(f"{k}: {len(v) if isinstance(v, (list, tuple, dict)) else v}"
                     for k, v in spec.model_dump().items() if v not in ((), [], {}, None, ""))
    page = html.page(f"costsim: {spec.name}", sections, subtitle=f"{len(rows)} scenarios ({axes})",
                     notes=list(dict.fromkeys(notes)), csv_name=f"{Path(spec.name).name or 'sweep'}.csv")
    return ReportResult(name=Path(spec.name).name or "sweep", html=page, csv=sweep_text(rows, "csv"))


# ------------------------------------------------------------------------------------- CLI names
def validate(measurements: str | None = None, *, suite: str | None = None, data: str | None = None):
    """``costsim validate``: a measurements file, or a bundled suite (h200, vtrain, compression, history)."""
    if bool(measurements) == bool(suite):
        raise CostsimError("give a measurements file or a suite", field="--suite")
    if measurements:
        return validate_file(measurements)
    if suite == "compression":
        return compression_checks(data)
    if suite == "history":
        return history(data)
    return validate_suite(suite, data)


def calibrate(*, device: str | None = None, files: Iterable[str] = (), name: str = "calibrated",
              base: str | None = None, quick: bool = False):
    """``costsim calibrate``: measure this machine (``device`` cpu or cuda) or fit measurement ``files``.
    Returns the profile's YAML text and the fit (and, when measured, the raw records)."""
    if files:
        return calibrate_files(list(files), base=base or "h200", name=name)
    if device == "cpu":
        return calibrate_cpu(quick=quick, base=base or "xeon-8480", name=name)
    if device == "cuda":
        return calibrate_cuda(quick=quick, base=base or "h200", name=name)
    raise CostsimError("give device='cpu' or 'cuda', or measurement files", field="--device")


def profiles() -> list[str]:
    """``costsim profiles list``: the bundled hardware profiles."""
    return bundled_names("hardware")


def workloads() -> list[str]:
    """``costsim workloads list``: the bundled workloads."""
    return bundled_names("workload")
