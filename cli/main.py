"""costsim's command line: parse, call the core, format. Bad input: one line on stderr, exit status 2."""
from __future__ import annotations

import contextlib
import functools
import itertools
import json
import sys
import time
from pathlib import Path

import click

from simulator import api
from simulator.calibration.fit import fit_bound_failures, fit_bound_problem, group_stats
from simulator.errors import CostsimError
from simulator.files.bundled import ENVIRONMENT_VARIABLE
from simulator.files.loader import (
    bundled_names,
    load_profile,
    load_workload,
    make_folder,
    open_rows_file,
    raw_profile,
    validate_profile,
    write_bytes_atomically,
    write_text_atomically,
)
from simulator.output import fit_plots
from simulator.output import tables as render
from simulator.output.show import LIST_FORMATS, SHOW_FORMATS, listing, profile_text, workload_text
from simulator.output.tables import SweepWriter
from simulator.run.sweep import columns, expand, pue_value
from simulator.schema.regions import (
    DEFAULT_ELECTRICITY_USD_PER_KWH,
    DEFAULT_LIFETIME_YEARS,
    DEFAULT_PUE,
    DEFAULT_REGION,
    GRID_G_CO2_PER_KWH,
    PUE,
)
from simulator.units import GIGA, SECONDS_PER_HOUR

# The core names parameters (``strategy``, ``targets``); on the command line they are these flags. The
# one table: an error's field is shown as its flag (``strategy prune:2of4`` as ``--strategy prune:2of4``).
FLAGS = {
    "base": "--base",
    "benchmark": "--benchmark",
    "budget_usd": "--budget",
    "computes": "--lm-compute",
    "device": "--device",
    "doubling_bandwidth_years": "--doubling-bandwidth",
    "doubling_efficiency_years": "--doubling-efficiency",
    "doubling_flops_years": "--doubling-flops",
    "executor": "--executor",
    "fmt": "--format",
    "hardware": "--hardware",
    "kind": "KIND",
    "law": "--law",
    "losses": "--lm-loss",
    "mtbf_hours": "--mtbf-hours", "preemptions_per_hour": "--preemptions-per-hour",
    "storage_bandwidth_bytes_per_s": "--storage-gb-per-s", "straggler_cv_fraction": "--straggler-cv",
    "queue_wait_s": "--queue-wait-hours",
    "plot": "--plot",
    "plot_dir": "--plot-dir",
    "profile_ref": "--profile",
    "rows": "--rows",
    "scheduler": "--scheduler",
    "strategy": "--strategy",
    "suite": "--suite",
    "targets": "--target",
    "workload": "--workload",
    "x": "--x",
    "y": "--y",
    "year": "--year",
}


def _command_names(command) -> set[str]:
    """What a command's parameters are called on its command line: its flags, and its arguments' names."""
    return {o for p in command.params for o in (p.opts if isinstance(p, click.Option) else [p.human_readable_name])}


def as_flag(field: str | None, command=None) -> str | None:
    """``field`` as the command line names it: a parameter's first word mapped through FLAGS. Only where
    no file is named (a field of a file stays that field) and, given ``command``, only to one of its own."""
    head, sep, rest = (field or "").partition(" ")
    flag = FLAGS.get(head)
    if flag is None or (command is not None and flag not in _command_names(command)):
        return field
    return flag + sep + rest


def fail(message: str) -> None:
    click.echo(f"costsim: error: {message}", err=True)
    sys.exit(2)


def guarded(fn):
    """Turn every bad-input error into one line and exit status 2, with no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CostsimError as err:
            if err.source is None:  # it exits: the error is not raised on, so renaming its field is safe
                ctx = click.get_current_context(silent=True)
                err.field = as_flag(err.field, ctx.command if ctx else None)
            fail(err.line())

    return wrapper


class OneLineErrors(click.Group):
    """Usage errors (a bad option value, a missing option) as one line too, not click's usage block."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as err:
            if isinstance(err, getattr(click.exceptions, "NoArgsIsHelpError", ())):
                raise  # a bare group: click prints its help
            hint = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
            fail(err.format_message() + hint)


def data_option(dataset: str, prefix: str = "", suffix: str = ""):
    """``--data DIR``: the folder a command reads its data set from instead of the bundled copy (or
    ``$COSTSIM_DATA``). One definition, so every data-reading command says the same."""
    return click.option("--data", default=None, metavar="DIR",
                        help=f"{prefix}folder of {dataset} data{suffix} [default: ${ENVIRONMENT_VARIABLE}, "
                             "else the copy bundled in the package; see 'costsim data list']")


# ------------------------------------------------------------------ option families, each defined once
# Every command that takes one of these takes it from here, so a flag means the same (name, type,
# default, help) everywhere; tests/test_cli_options.py walks the command tree and checks it.
TABLE_FORMATS = ("table", "json", "csv", "markdown")
SWEEP_FORMATS = ("csv", "json", "jsonl", "markdown", "latex")

_COST_HELP = {
    "region": f"named grid for carbon intensity [default: {DEFAULT_REGION}]",
    "grid": "grid carbon intensity in gCO2e/kWh (overrides --region)",
    "pue": f"power usage effectiveness, a number >= 1 or one of {', '.join(PUE)} [default: {DEFAULT_PUE:g}]",
    "pricing": "cloud: price per device-hour; owned: purchase amortised plus electricity; "
               "auto: cloud where the profile has a cloud price [default: auto]",
    "lifetime_years": f"amortisation period for owned hardware, in years [default: {DEFAULT_LIFETIME_YEARS:g}]",
    "electricity_usd_per_kwh": f"electricity price for owned hardware, in $/kWh "
                               f"[default: {DEFAULT_ELECTRICITY_USD_PER_KWH:g}]",
}
QUIET_HELP = "no progress bar and no progress messages on stderr (the result is printed as usual)"
SET_HELP = ("override a workload or profile field for this run; VALUE may be *FACTOR "
            "(e.g. --set global_batch_size=32 --set hardware.memory_bandwidth_bytes_per_s=*2)")


def _stack(f, opts):
    for opt in reversed(opts):
        f = opt(f)
    return f


def carbon_options(f):
    """--region, --grid-intensity, --pue: where the run's energy comes from (parameters region, grid, pue)."""
    return _stack(f, [
        click.option("--region", type=click.Choice(sorted(GRID_G_CO2_PER_KWH)), default=None,
                     help=_COST_HELP["region"]),
        click.option("--grid-intensity", "grid", type=float, default=None, help=_COST_HELP["grid"]),
        click.option("--pue", default=None, help=_COST_HELP["pue"]),
    ])


def pricing_options(f):
    """--pricing, --lifetime-years, --electricity-usd-per-kwh: how device time is paid for."""
    return _stack(f, [
        click.option("--pricing", type=click.Choice(["auto", "cloud", "owned"]), default="auto",
                     help=_COST_HELP["pricing"]),
        click.option("--lifetime-years", type=float, default=None, help=_COST_HELP["lifetime_years"]),
        click.option("--electricity-usd-per-kwh", type=float, default=None,
                     help=_COST_HELP["electricity_usd_per_kwh"]),
    ])


def cost_options(f):
    """The carbon and pricing options of every command that prices a run (see ``_cost``)."""
    return carbon_options(pricing_options(f))


def cost_axes(f):
    """The same options for ``sweep``, where each is an axis: a comma-separated list of values."""
    listed = "comma-separated, one axis: "
    return _stack(f, [
        click.option("--region", "regions", default=None, help=listed + _COST_HELP["region"]),
        click.option("--grid-intensity", "grids", default=None,
                     help=listed + "grid carbon intensities in gCO2e/kWh (grids besides any --region ones)"),
        click.option("--pue", default=None, help=listed + _COST_HELP["pue"]),
        click.option("--pricing", default=None, help=listed + _COST_HELP["pricing"]),
        click.option("--lifetime-years", default=None, help=listed + _COST_HELP["lifetime_years"]),
        click.option("--electricity-usd-per-kwh", default=None, help=listed + _COST_HELP["electricity_usd_per_kwh"]),
    ])


def set_option(f):
    """--set FIELD=VALUE (repeatable), on every command that loads a profile or a workload (parameter sets)."""
    return click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE", help=SET_HELP)(f)


def format_options(*formats: str, default: str | None = "first"):
    """--format (one of ``formats``; default the first) and --json, the same as --format json (parameters
    fmt and as_json; ``_format(fmt, as_json)`` folds them)."""
    default = formats[0] if default == "first" else default

    def decorate(f):
        return _stack(f, [
            click.option("--format", "fmt", type=click.Choice(list(formats)), default=default,
                         help=f"output format [default: {default or 'from the --out extension, else csv'}]"),
            click.option("--json", "as_json", is_flag=True, help="same as --format json"),
        ])
    return decorate


def quiet_option(f):
    """--quiet, on every command with a progress bar or progress messages on stderr (parameter quiet)."""
    return click.option("--quiet", "-q", is_flag=True, help=QUIET_HELP)(f)


def _format(fmt, as_json: bool):
    return "json" if as_json else fmt


def run_options(f=None, *, formats: tuple[str, ...] = TABLE_FORMATS):
    """Options shared by estimate, compare and simulate: devices and plan, cost, --set, format (one of
    ``formats``: ``@run_options(formats=PAPER_FORMATS)`` for the commands that also write LaTeX)."""
    if f is None:
        return lambda g: run_options(g, formats=formats)
    return _stack(f, [
        click.option("--devices", type=click.IntRange(min=1), default=None,
                     help="devices [default: the plan's, else 1]; without --plan, data parallel"),
        click.option("--plan", "plan", default=None, metavar="PLAN",
                     help="tp=8,pp=16,dp=4,mb=2[,zero=1][,sp][,gpipe][,no-overlap], or auto: the fastest plan "
                          "that fits"),
        cost_options, set_option, format_options(*formats),
    ])


def _columns(text, what: str):
    try:
        return render.parse_columns(text, what)
    except CostsimError as err:
        raise CostsimError(err.problem, field="--columns") from None


# estimate and compare: tables for papers too
PAPER_FORMATS = TABLE_FORMATS + ("latex",)


def table_options(f):
    """--fit and --columns, on estimate and compare (parameters fit, columns)."""
    return _stack(f, [
        click.option("--fit", type=click.Choice(["strict", "accumulate"]), default=None,
                     help="a run that does not fit a device at its batch: accumulate: gradient accumulation "
                          "at the largest micro-batch that fits; strict: not estimated "
                          "[default: compare accumulate, estimate strict]"),
        click.option("--columns", default=None, metavar="A,B,C",
                     help="the columns to show, by their JSON/CSV field names (e.g. hardware,total_time_s,"
                          "cost_usd,pricing,co2_kg); a one-row table for estimate"),
    ])


def _pue(value):
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value  # a facility class name; the core checks it


def _cost(grid, region, pue, lifetime_years, electricity_usd_per_kwh) -> dict:
    """The carbon and pricing options (but --pricing) as the core's keyword arguments."""
    return dict(grid_g_co2_per_kwh=grid, region=region, pue=_pue(pue), lifetime_years=lifetime_years,
                electricity_usd_per_kwh=electricity_usd_per_kwh)


def _options(devices, plan, grid, region, pue, lifetime_years, electricity_usd_per_kwh) -> dict:
    return dict(devices=devices, plan=plan, **_cost(grid, region, pue, lifetime_years, electricity_usd_per_kwh))


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="costsim")
def main():
    """costsim: what a training run costs in time, energy, dollars and CO2, on which hardware."""


@main.command()
@click.option("--hardware", "-H", required=True, help="bundled profile name or path to a YAML profile")
@click.option("--workload", "-w", required=True, help="bundled workload name or path to a YAML workload")
@click.option("--strategy", "strategy", multiple=True, metavar="STRATEGY",
              help="apply an efficiency strategy (repeatable; composed in the order given), e.g. prune:2of4, "
                   "quantize:fp8, lowrank:0.25, lora:16, nas:darts,saving=0.3 (see 'costsim strategies list')")
@click.option("--rows", type=click.Choice(["both", "each", "combined"]), default="both", show_default=True,
              help="with several strategies: a row for each alone, one for their composition, or both")
@run_options(formats=PAPER_FORMATS)
@table_options
@guarded
def estimate(hardware, workload, strategy, rows, devices, plan, grid, region, pue, pricing, lifetime_years,
             electricity_usd_per_kwh, sets, fmt, as_json, fit, columns):
    """Estimate one training run on one device type; with --strategy, a cost table of the baseline and
    the strategies."""
    options = _options(devices, plan, grid, region, pue, lifetime_years, electricity_usd_per_kwh)
    fmt = "json" if as_json else fmt
    if (strategy or api.is_quantum(hardware, sets)) and (fmt == "latex" or columns):
        raise CostsimError("--format latex and --columns are for a classical estimate without --strategy",
                           field="--format" if fmt == "latex" else "--columns")
    if strategy:
        table = api.strategies(hardware, workload, strategy, rows=rows, sets=sets, pricing=pricing, **options)
        click.echo(render.strategy_table(table, fmt))
        return
    if api.is_quantum(hardware, sets):
        q = api.quantum_estimate(api.load_profile_ref(hardware, sets), workload, pricing=pricing,
                                 sets=[x for x in sets if not x.startswith("hardware.")], **options)
        click.echo(render.quantum_estimate_text(q, fmt))
        return
    chosen = _columns(columns, "estimate")
    e = api.estimate(hardware, workload, sets=sets, pricing=pricing, fit=fit or "strict", **options)
    click.echo(render.estimate_table(e, fmt, chosen))


@main.command()
@click.option("--hardware", "-H", default=None,
              help="comma-separated profile names or paths [default: the current device of each kind: "
                   + ", ".join(api.CURRENT_HARDWARE) + "]")
@click.option("--all", "all_hardware", is_flag=True,
              help="every bundled profile, the historical and what-if ones too (instead of --hardware)")
@click.option("--workload", "-w", required=True, help="bundled workload name or path to a YAML workload")
@run_options(formats=PAPER_FORMATS)
@table_options
@guarded
def compare(hardware, all_hardware, workload, devices, plan, grid, region, pue, pricing, lifetime_years,
            electricity_usd_per_kwh, sets, fmt, as_json, fit, columns):
    """Compare one workload across devices: one row per device (by default the current device of each
    kind; --all for every bundled profile)."""
    if hardware and all_hardware:
        raise CostsimError("give --hardware or --all, not both", field="--all")
    names = [h.strip() for h in hardware.split(",") if h.strip()] if hardware else None
    if names == []:
        raise CostsimError("names no profile", field="--hardware")
    chosen = _columns(columns, "compare")
    rows = api.compare("all" if all_hardware else names, workload, sets=sets, pricing=pricing,
                       fit=fit or "accumulate",
                       **_options(devices, plan, grid, region, pue, lifetime_years, electricity_usd_per_kwh))
    fmt = "json" if as_json else fmt
    click.echo(render.comparison_table(rows, fmt, chosen))
    if fmt == "table" and any(r.reason and "even at micro-batch 1" in r.reason for r in rows):
        click.echo("\nhint: a model this large must be sharded over many devices, e.g. --devices 1024 --plan auto")


@contextlib.contextmanager
def _progress(length: int = 1000, label: str = "measuring", quiet: bool = False):
    """A progress bar on a terminal (stderr), nothing otherwise (or with ``quiet``). Yields a callback:
    (what, fraction) for measurements, (count done) for replicas."""
    if quiet or not sys.stderr.isatty() or length <= 1:
        yield None
        return
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        def update(*args):
            if len(args) == 2:
                what, done = args
                bar.label = f"{label} {what:28.28s}"
                bar.update(int(done * length) - bar.pos)
            else:
                bar.update(args[0] - bar.pos)

        yield update


@main.command()
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None, help="measure this machine's device")
@click.option("--from", "from_files", multiple=True, metavar="FILE.jsonl",
              help="fit measurement files someone else took "
                   "(the format of the bundled H200 files: costsim data path h200)")
@click.option("--base", default=None,
              help="profile the result extends, or for --device cpu borrows what it cannot measure from "
                   "[default: xeon-8480 for --device cpu, else h200]")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="profile YAML to write")
@click.option("--name", default=None, help="profile name [default: the --out file's stem]")
@click.option("--quick", is_flag=True, help="a shorter sweep (under 10 s on 2 cores)")
@click.option("--save-measurements", type=click.Path(dir_okay=False), default=None,
              help="also write the raw measurements as JSON lines")
@click.option("--keep-price", is_flag=True,
              help="--device cpu: keep the base's price (a whole part's), marked as borrowed [default: no price]")
@click.option("--force", is_flag=True,
              help="write the profile even if its fit is off by more than the bound (median |error| of time: "
                   "GEMM 25%, streaming 50%), with a warning in the file")
@quiet_option
@guarded
def calibrate(device, from_files, base, out, name, quick, save_measurements, keep_price, force, quiet):
    """Measure this machine (--device) or fit measurement files (--from) into a hardware profile."""
    if bool(device) == bool(from_files):
        raise CostsimError("give either --device or --from")
    name = name or Path(out).stem
    records = None
    if from_files:
        text, result = api.calibrate_files(list(from_files), base=base or "h200", name=name, force=force)
    elif device == "cpu":
        with _progress(quiet=quiet) as progress:
            text, result, records = api.calibrate_cpu(quick=quick, base=base or "xeon-8480", name=name,
                                                      progress=progress, keep_price=keep_price, force=force)
    else:
        text, result, records = api.calibrate_cuda(quick=quick, base=base or "h200", name=name, force=force)
    if save_measurements and records is not None:
        write_text_atomically(save_measurements, "".join(json.dumps(r) + "\n" for r in records))
    write_text_atomically(out, text)

    if not quiet:
        for group, (n, med, worst) in group_stats(result.residuals).items():
            click.echo(f"{group:22s} {n:3d} cases   median |error| {med:6.1%}   worst {worst:6.1%}", err=True)
    if fit_bound_failures(result):
        click.echo(f"warning: written with --force: {fit_bound_problem(fit_bound_failures(result))}", err=True)
    click.echo(out)


@main.command()
@click.option("--hardware", "-H", required=True, help="bundled profile name or path to a YAML profile")
@click.option("--workload", "-w", required=True, help="bundled workload name or path to a YAML workload")
@run_options
@click.option("--mtbf-hours", type=float, default=None, help="per-device mean time between failures")
@click.option("--straggler-cv", type=float, default=0.0, show_default=True,
              help="per-device step-time noise (coefficient of variation)")
@click.option("--preemptions-per-hour", type=float, default=0.0, show_default=True)
@click.option("--checkpoint-interval-s", type=float, default=None, help="default: the Young/Daly optimum")
@click.option("--storage-gb-per-s", type=float, default=10.0, show_default=True, help="checkpoint write rate")
@click.option("--queue-wait-hours", type=float, default=0.0, show_default=True, help="mean wait in the queue")
@click.option("--replicas", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--requeue-on-failure", is_flag=True,
              help="after an interruption, wait in the queue again instead of swapping in a spare")
@click.option("--interval-sweep", is_flag=True,
              help="also simulate 1/4, 1/2, 2 and 4 times the Young/Daly checkpoint interval")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="replicas in this many local processes")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True)
@click.option("--scheduler", default=None, help="Dask scheduler address (tcp://host:8786)")
@quiet_option
@guarded
def simulate(hardware, workload, devices, plan, grid, region, pue, pricing, lifetime_years, electricity_usd_per_kwh,
             sets, fmt, as_json, mtbf_hours, straggler_cv, preemptions_per_hour, checkpoint_interval_s,
             storage_gb_per_s, queue_wait_hours, replicas, seed, requeue_on_failure, interval_sweep, workers, executor,
             scheduler, quiet):
    """A whole training run as a discrete-event simulation: failures, checkpoints, restarts, stragglers,
    pre-emptions and queueing, over Monte Carlo replicas (p5/p50/p95)."""
    if mtbf_hours is not None and mtbf_hours <= 0:
        raise CostsimError(f"must be positive, got {mtbf_hours:g}", field="--mtbf-hours")
    for name, value in (("--straggler-cv", straggler_cv), ("--preemptions-per-hour", preemptions_per_hour),
                        ("--queue-wait-hours", queue_wait_hours)):
        if value < 0:
            raise CostsimError(f"must not be negative, got {value:g}", field=name)
    fmt = _format(fmt, as_json)
    with _progress(replicas, "replicas", quiet) as progress:
        e, mc = api.simulate(
            hardware, workload, replicas=replicas, seed=seed, mtbf_hours=mtbf_hours,
            straggler_cv_fraction=straggler_cv, preemptions_per_hour=preemptions_per_hour,
            checkpoint_interval_s=checkpoint_interval_s, storage_bandwidth_bytes_per_s=storage_gb_per_s * GIGA,
            queue_wait_s=queue_wait_hours * SECONDS_PER_HOUR, requeue_on_failure=requeue_on_failure, sets=sets,
            pricing=pricing, progress=progress, workers=workers, executor=executor, scheduler=scheduler,
            **_options(devices, plan, grid, region, pue, lifetime_years, electricity_usd_per_kwh))
    shown = render.simulation_table(e, mc, fmt)
    if interval_sweep:
        sweep = api.checkpoint_interval_sweep(
            hardware, workload, replicas=replicas, seed=seed, mtbf_hours=mtbf_hours,
            straggler_cv_fraction=straggler_cv, preemptions_per_hour=preemptions_per_hour,
            storage_bandwidth_bytes_per_s=storage_gb_per_s * GIGA, queue_wait_s=queue_wait_hours * SECONDS_PER_HOUR,
            requeue_on_failure=requeue_on_failure, sets=sets,
            pricing=pricing, **_options(devices, plan, grid, region, pue, lifetime_years, electricity_usd_per_kwh))
        table = render.interval_sweep_table(sweep, fmt)
        shown = (json.dumps({**json.loads(shown), "interval_sweep": json.loads(table)}, indent=2) if fmt == "json"
                 else shown + "\n" + table)  # JSON: one document
    click.echo(shown)


@main.command("plan")
@click.option("--hardware", "-H", required=True, help="bundled profile name or path to a YAML profile")
@click.option("--workload", "-w", required=True, help="bundled workload name or path to a YAML workload")
@click.option("--devices", type=click.IntRange(min=1), required=True)
@click.option("--objective", type=click.Choice(["time", "cost", "energy"]), default="time", show_default=True)
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True)
@cost_options
@set_option
@format_options(*TABLE_FORMATS)
@guarded
def plan_command(hardware, workload, devices, objective, top, grid, region, pue, pricing, lifetime_years,
                 electricity_usd_per_kwh, sets, fmt, as_json):
    """Search the parallel plans for N devices: the best that fit, by time, cost or energy (priced and
    ranked under the pricing, grid and PUE options)."""
    found = api.plan(hardware, workload, devices=devices, objective=objective, top=top, sets=sets, pricing=pricing,
                     **_cost(grid, region, pue, lifetime_years, electricity_usd_per_kwh))
    click.echo(render.plan_table(found, _format(fmt, as_json)))


@main.command()
@click.argument("measurements", required=False)
@click.option("--suite", type=click.Choice(["h200", "vtrain", "compression", "history"]), default=None,
              help="a bundled suite instead of a file: h200 (the shared H200 training steps), vtrain, "
                   "compression (the H200 fp8, low-rank and 2:4 speedups), or history (Thompson et al.'s "
                   "recorded training runs)")
@data_option("the suite's", "--suite: ")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="write a scatter plot of predicted against measured (PNG or SVG)")
@click.option("--show", type=click.IntRange(min=1), default=None,
              help="list only the N runs with the largest errors")
@format_options(*TABLE_FORMATS)
@guarded
def validate(measurements, suite, data, plot_path, show, fmt, as_json):
    """Compare predictions with measured runs: per-run signed errors, MAPE, worst case."""
    fmt = _format(fmt, as_json)
    if bool(measurements) == bool(suite):
        raise CostsimError("give a measurements file or --suite")
    if suite in ("compression", "history"):
        if plot_path:
            raise CostsimError(f"the {suite} suite has no plot", field="--plot")
        if suite == "compression":
            click.echo(render.speedup_table(api.compression_checks(data), fmt))
        else:
            click.echo(render.history_table(*api.history(data), fmt))
        return
    report = api.validate_file(measurements) if measurements else api.validate_suite(suite, data)
    if plot_path:  # the plot first, so a bad path prints nothing else
        image = fit_plots.validation_scatter(report, Path(plot_path).suffix.lstrip(".").lower())
        write_bytes_atomically(plot_path, image)
    click.echo(render.validation_table(report, fmt, show))
    if plot_path:
        click.echo(plot_path)


@main.group()
def profiles():
    """List, show and validate hardware profiles."""


@profiles.command("list")
@format_options(*LIST_FORMATS)
@guarded
def profiles_list(fmt, as_json):
    """Bundled profiles, one a line."""
    rows = [{"name": name, "kind": p.kind, "description": p.description}
            for name, p in ((n, load_profile(n)) for n in bundled_names("hardware"))]
    click.echo(listing(rows, _format(fmt, as_json), {"name": 22, "kind": 8}))


@profiles.command("show")
@click.argument("name")
@set_option
@format_options(*SHOW_FORMATS)
@guarded
def profiles_show(name, sets, fmt, as_json):
    """A profile (a bundled name or a file), with extends: resolved and borrowed curves filled in: YAML
    (a profile file you can save and edit), a table with human units, or JSON."""
    profile = load_profile(name, sets)
    click.echo(profile_text(profile, _format(fmt, as_json)))


@profiles.command("validate")
@click.argument("paths", nargs=-1, required=True)
@guarded
def profiles_validate(paths):
    """Check profile files: schema, units, extends: chains."""
    for path in paths:
        data, source = raw_profile(path)
        validate_profile(data, source)
        load_profile(path)
        click.echo(f"{path}: ok")


@main.group()
def workloads():
    """List and show workloads."""


@workloads.command("list")
@format_options(*LIST_FORMATS)
@guarded
def workloads_list(fmt, as_json):
    """Bundled workloads, one a line."""
    rows = [{"name": name, "kind": w.kind, "description": w.description.split('.')[0]}
            for name, w in ((n, load_workload(n)) for n in bundled_names("workload"))]
    click.echo(listing(rows, _format(fmt, as_json), {"name": 22, "kind": 12}))


@workloads.command("show")
@click.argument("name")
@set_option
@format_options(*SHOW_FORMATS)
@guarded
def workloads_show(name, sets, fmt, as_json):
    """A workload and what it implies (parameters, tokens or images, FLOPs): YAML, a table with human
    units, or JSON."""
    w = load_workload(name, sets)
    click.echo(workload_text(w, api.workload_summary(w), _format(fmt, as_json)))


def _names(text):
    return [h.strip() for h in text.split(",") if h.strip()] if text else None


@main.command()
@click.option("--benchmark", "benchmarks", multiple=True, default=("imagenet",), show_default=True,
              help="imagenet, coco, squad, conll, wmt_en_fr, wmt_en_de (repeatable)")
@click.option("--target", "targets", multiple=True, type=float, default=(0.1,), show_default=True,
              help="target error fraction (repeatable); one better than the data's best needs --extrapolate")
@click.option("--extrapolate", is_flag=True, help="allow targets beyond the fit's support")
@click.option("--hardware", "-H", default=None, help="comma-separated profiles [default: every classical profile]")
@click.option("--devices", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--strategy", "strategy", multiple=True, help="also price under this strategy (repeatable)")
@click.option("--all-fits", is_flag=True, help="list every fit (both measures, models, subsets), not the headline")
@click.option("--lm-loss", "lm_losses", multiple=True, type=float,
              help="also: the compute-optimal language model reaching this loss (nats/token), priced")
@click.option("--lm-compute", "lm_computes", multiple=True, type=float, help="also: ... for this compute (FLOPs)")
@click.option("--law", default="chinchilla", show_default=True, help="chinchilla or besiroglu")
@click.option("--lm-devices", type=click.IntRange(min=1), default=1024, show_default=True,
              help="devices for the language models (their batch of 1,024 sequences must split over them)")
@data_option("thompson")
@click.option("--plot-dir", default=None, type=click.Path(file_okay=False),
              help="write the fit and cost plots (PNG and SVG) into this folder and print their paths")
@quiet_option
@cost_options
@format_options(*TABLE_FORMATS)
@guarded
def limits(benchmarks, targets, extrapolate, hardware, devices, strategy, all_fits, lm_losses, lm_computes, law,
           lm_devices, data, plot_dir, quiet, grid, region, pue, pricing, lifetime_years, electricity_usd_per_kwh,
           fmt, as_json):
    """What the next step of performance costs: scaling fits of Thompson et al.'s data, the compute to
    reach each target error, priced on each device and under each strategy."""
    fmt, cost = _format(fmt, as_json), _cost(grid, region, pue, lifetime_years, electricity_usd_per_kwh)
    progress = Progress("pricing", quiet)
    try:
        r = api.limits(benchmarks, targets, extrapolate=extrapolate, hardware=_names(hardware), devices=devices,
                       strategy=strategy, data=data, pricing=pricing, progress=progress, **cost)
    finally:
        progress.close()
    lm = api.lm_limits(losses=lm_losses, computes=lm_computes, law=law, hardware=_names(hardware), devices=lm_devices,
                       pricing=pricing, **cost) if (lm_losses or lm_computes) else []
    images = []
    if plot_dir:  # rendered before anything is printed or written, so a failure leaves nothing behind
        for name, f in r.pricing_fits.items():
            for ext in ("png", "svg"):
                images.append((Path(plot_dir) / f"fit-{name}.{ext}",
                               fit_plots.scaling_plot(r.points[name], f, r.targets, ext)))
        for ext in ("png", "svg"):
            images.append((Path(plot_dir) / f"cost.{ext}", fit_plots.cost_plot(r.priced, ext)))
        make_folder(plot_dir)
    if fmt == "json":
        click.echo(json.dumps({"limits": r.to_dict(), "language_models": [
            {**x, "priced": [p.model_dump() for p in x["priced"]]} for x in lm]}, indent=2))
    else:
        click.echo(render.fits_table(r.fits, fmt, headline_only=not all_fits))
        click.echo("")
        click.echo(render.priced_table(r.priced, fmt))
        if fmt in ("table", "markdown"):
            click.echo(render.limits_notes(r))
        for x in lm:
            click.echo(f"\n{x['label']}: {x['parameters']:.3g} parameters, {x['tokens']:.3g} tokens, "
                       f"{x['compute_flops']:.3g} FLOPs, loss {x['loss']:.4g} ({x['law']})")
            click.echo(render.priced_table(x["priced"], fmt))
    for path, image in images:
        write_bytes_atomically(path, image)
        click.echo(str(path))


@main.command()
@click.option("--base", required=True, help="the device line to project (a bundled profile or path)")
@click.option("--year", type=int, default=None, help="the year of the projected device")
@click.option("--doubling-flops", type=float, default=None, help="years per doubling of peak FLOP/s [fitted]")
@click.option("--doubling-bandwidth", type=float, default=None, help="years per doubling of bandwidth [fitted]")
@click.option("--doubling-efficiency", type=float, default=None, help="years per doubling of FLOP/s per watt [fitted]")
@click.option("--workload", "-w", default=None, help="also estimate this workload on the projected device")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="write the projected profile (YAML)")
@click.option("--benchmark", default=None, help="with --target and --budget: the first year the target costs less")
@click.option("--target", type=float, default=None, help="target error fraction on --benchmark")
@click.option("--budget", "budget_usd", type=float, default=None, help="dollars")
@click.option("--devices", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--extrapolate", is_flag=True, help="allow targets beyond the fit's support")
@data_option("hardware-history", "",
             " (a root of data sets, laid out as COSTSIM_DATA, also gives --benchmark its Thompson et al. data)")
@cost_options
@set_option
@format_options(*TABLE_FORMATS)
@guarded
def project(base, year, doubling_flops, doubling_bandwidth, doubling_efficiency, workload, out, benchmark, target,
            budget_usd, devices, extrapolate, data, grid, region, pue, pricing, lifetime_years, electricity_usd_per_kwh,
            sets, fmt, as_json):
    """A future device grown from BASE at the fitted hardware trends (or stated doubling times); or the
    first year a target error costs less than a budget on that device line. --set applies to the
    --workload estimate (workload fields, or hardware.<field> of the projected device)."""
    fmt, cost = _format(fmt, as_json), _cost(grid, region, pue, lifetime_years, electricity_usd_per_kwh)
    if sets and not workload:
        raise CostsimError("--set changes the --workload estimate: give --workload", field="--set")
    if benchmark or target is not None or budget_usd is not None:
        if not (benchmark and target is not None and budget_usd is not None):
            raise CostsimError("give --benchmark, --target and --budget together", field="--budget")
        found, costs = api.cheaper_year(base, benchmark, target, budget_usd, devices=devices, extrapolate=extrapolate,
                                        data=data, pricing=pricing, **cost)
        click.echo(render.cheaper_year_text(base, benchmark, target, budget_usd, devices, found, costs, fmt))
        return
    if year is None:
        raise CostsimError("give --year (or --benchmark, --target and --budget)", field="--year")
    profile, raw, trends = api.project(base, year, doubling_flops_years=doubling_flops,
                                       doubling_bandwidth_years=doubling_bandwidth,
                                       doubling_efficiency_years=doubling_efficiency, data=data)
    shown = render.projection_text(profile, trends, fmt, api.profile_trends())
    if workload:
        # with --set, from the projected profile's file dict (a loaded profile has its borrowed curves filled in)
        e = api.estimate(raw if sets else profile, workload, sets=sets, pricing=pricing, **cost)
        shown = (json.dumps({**json.loads(shown), "estimate": e.to_dict()}, indent=2, allow_nan=False)
                 if fmt == "json" else shown + "\n\n" + render.estimate_table(e, fmt))  # JSON: one document
    if out:  # written before anything is printed: a bad path leaves no half output
        write_text_atomically(out, render.profile_yaml(raw))
    click.echo(shown)
    if out:
        click.echo(out)


class Progress:
    """click's progress bar, shown only once a run has taken a second, and only on a terminal."""

    def __init__(self, label: str, quiet: bool):

        self.label, self.quiet, self.bar, self.start, self.clock = label, quiet, None, time.monotonic(), time.monotonic

    def __call__(self, done: int, total: int) -> None:
        if self.quiet or not sys.stderr.isatty():
            return
        if self.bar is None:
            if self.clock() - self.start < 1.0:
                return
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _numbers(text, option: str, kind=float):
    """A comma-separated list of numbers from a flag, or a one-line error naming the flag."""
    try:
        return tuple(kind(x) for x in text.split(",")) if text else ()
    except ValueError:
        raise CostsimError(f"'{text}' is not a comma-separated list of numbers", field=option) from None


def _set_axes(sets) -> dict:
    """``--set FIELD=V1,V2`` flags of a sweep as its ``set`` axes (numbers where they read as numbers)."""
    def value(text: str):
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return text

    axes = {}
    for item in sets:
        field, eq, values = item.partition("=")
        if not (eq and field.strip() and values.strip()):
            raise CostsimError(f"'{item}' is not FIELD=V1,V2,...", field="--set")
        axes[field.strip()] = tuple(value(v.strip()) for v in values.split(",") if v.strip())
    return axes


def _pues(text):

    return tuple(pue_value(_pue(x)) for x in text.split(",")) if text else ()


@main.command()
@click.argument("sweep_file", required=False)
@click.option("--hardware", "-H", default=None, help="comma-separated profiles (instead of a sweep file)")
@click.option("--workload", "-w", default=None, help="comma-separated workloads")
@click.option("--devices", default=None, help="comma-separated device counts")
@click.option("--strategy", "strategies", multiple=True, help="a strategy (a+b composes); 'none' for the baseline")
@cost_axes
@click.option("--price", default=None, help="comma-separated cloud prices in $ per device-hour (override)")
@click.option("--set", "sets", multiple=True, metavar="FIELD=V1,V2,...",
              help="a field axis (repeatable): a workload field or hardware.<field> and its comma-separated values, "
                   "e.g. --set global_batch_size=16,32")
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="write the rows here as they are computed (format from the extension or --format)")
@format_options(*SWEEP_FORMATS, default=None)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="local worker processes")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True)
@click.option("--scheduler", default=None, help="Dask scheduler address (tcp://host:8786)")
@quiet_option
@guarded
def sweep(sweep_file, hardware, workload, devices, strategies, regions, grids, pue, pricing, lifetime_years,
          electricity_usd_per_kwh, price, sets, out, fmt, as_json, workers, executor, scheduler, quiet):
    """Evaluate a grid of scenarios (a sweep file, or flags) into a tidy table: one row per scenario,
    inputs and outputs as columns (named as in 'estimate --format json'), infeasible points kept with
    their reason. Flags replace the sweep file's axis of the same name."""

    axes = dict(hardware=_names(hardware), workloads=_names(workload),
                devices=_numbers(devices, "--devices", int), strategies=tuple(strategies), regions=_names(regions),
                grid_g_co2_per_kwh=_numbers(grids, "--grid-intensity"), pue=_pues(pue), pricing=_names(pricing),
                lifetime_years=_numbers(lifetime_years, "--lifetime-years"),
                electricity_usd_per_kwh=_numbers(electricity_usd_per_kwh, "--electricity-usd-per-kwh"),
                cloud_price_usd_per_hour=_numbers(price, "--price"), set=_set_axes(sets))
    spec = api.sweep_spec(sweep_file, **axes)
    fmt = _format(fmt, as_json) or {".json": "json", ".jsonl": "jsonl", ".md": "markdown", ".tex": "latex"}.get(
        Path(out).suffix if out else "", "csv")
    writer = SweepWriter(columns(spec.set), fmt)
    grid = spec.option_grid()
    progress = Progress("sweeping", quiet)
    total = len(spec.core_points())
    cores = api.sweep_cores(spec, workers=workers, executor=executor, scheduler=scheduler)
    written, sink = 0, None
    try:
        first = next(cores)  # a scheduler that cannot be reached fails here, before anything is written
        sink = open_rows_file(out) if out else sys.stdout
        sink.write(writer.head())
        for i, core in enumerate(itertools.chain([first], cores), 1):
            rows = expand(core, grid)
            sink.write(writer.rows(rows))
            sink.flush()
            written += len(rows)
            progress(i, total)
        sink.write(writer.tail())
    except KeyboardInterrupt:
        progress.close()
        click.echo(f"costsim: interrupted: {written} rows written" + (f" to {out}" if out else ""), err=True)
        sys.exit(130)
    finally:
        progress.close()
        if out and sink is not None:
            sink.close()
    if out:
        click.echo(f"{written} rows written to {out}")


@main.command("plot")
@click.argument("kind", type=click.Choice(["roofline", "compare", "pareto", "scaling", "limits"]))
@click.argument("sweep_source", required=False, metavar="[SWEEP]")
@click.option("--hardware", "-H", default=None, help="profile(s), comma-separated")
@click.option("--workload", "-w", default=None)
@click.option("--strategy", "strategy", multiple=True, help="compare: strategies on one device")
@click.option("--devices", type=click.IntRange(min=1), default=None)
@click.option("--x", "x", default=None,
              help="pareto: the x column [default: total_time_s]; scaling: the swept column [default: devices]")
@click.option("--y", "y", default="cost_usd", show_default=True)
@click.option("--series", default="hardware", show_default=True, help="scaling: one line per value of this column")
@click.option("--benchmark", default="imagenet", show_default=True, help="limits: the benchmark's fit")
@click.option("--target", "targets", multiple=True, type=float, help="limits: target errors to mark")
@data_option("thompson", "limits: ")
@click.option("--out", "outs", multiple=True, type=click.Path(dir_okay=False),
              help="image file(s), PNG, SVG or PDF by extension [default: KIND.png]")
@set_option
@guarded
def plot_command(kind, sweep_source, hardware, workload, strategy, devices, x, y, series, benchmark, targets, data,
                 outs, sets):
    """Write a plot: roofline (-H, -w), compare (-H a,b,c -w, or --strategy on one device), pareto and
    scaling (a sweep file or the CSV 'costsim sweep' wrote), limits (--benchmark, --target). Prints the
    paths written."""
    images = []
    for out in outs or (f"{kind}.png",):
        fmt = Path(out).suffix.lstrip(".").lower()
        options = {"devices": devices} if devices else {}
        images.append((out, api.plot(kind, hardware=_names(hardware), workload=workload, strategy=strategy,
                                     source=sweep_source, x=x, y=y, series=series, fmt=fmt, sets=sets,
                                     benchmark=benchmark, targets=targets, data=data, **options)))
    for out, image in images:
        write_bytes_atomically(out, image)
        click.echo(out)


@main.command("report")
@click.argument("source", metavar="SCENARIO_OR_SWEEP")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="folder for index.html and the CSV")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@quiet_option
@guarded
def report_command(source, out, workers, quiet):
    """A self-contained HTML page (tables and plots, no external assets) and the CSV it was made from."""
    progress = Progress("sweeping", quiet)
    try:
        r = api.report(source, workers=workers, progress=progress)
    finally:
        progress.close()
    make_folder(out)
    page, table = Path(out) / "index.html", Path(out) / f"{r.name}.csv"
    write_text_atomically(table, r.csv)
    write_text_atomically(page, r.html)
    click.echo(str(page))
    click.echo(str(table))


@main.group()
def quantum():
    """The quantum accelerator: break-even analyses (Babbush et al. 2021, Hoefler et al. 2023)."""


@quantum.command("breakeven")
@click.option("--profile", "profile_ref", default="quantum-ftqc", show_default=True)
@click.option("--degree", "degrees", multiple=True, type=float, default=(2, 3, 4), show_default=True)
@click.option("--parallelism", multiple=True, type=float, default=(1, 1e3, 1e6), show_default=True,
              help="classical processors S racing the quantum machine")
@click.option("--classical-step-s", type=float, default=33e-9, show_default=True,
              help="one classical step of the problem (Babbush et al.: 100 Toffolis at 330 ps each)")
@click.option("--toffolis-per-step", type=float, default=None, help="Toffolis per quantum step [100]")
@click.option("--distillation-speedup", type=float, default=1.0, show_default=True,
              help="magic-state distillation this many times faster (Babbush et al. Table II)")
@format_options(*TABLE_FORMATS)
@guarded
def quantum_breakeven(profile_ref, degrees, parallelism, classical_step_s, toffolis_per_step, distillation_speedup,
                      fmt, as_json):
    """Break-even problem size and time per speedup degree and classical parallelism, for a profile."""
    r = api.quantum_breakeven(profile_ref, degrees=degrees, parallelism=parallelism,
                              classical_step_s=classical_step_s, toffolis_per_step=toffolis_per_step,
                              distillation_speedup=distillation_speedup)
    click.echo(render.breakeven_text(r, _format(fmt, as_json)))


@main.group("strategies")
def strategies_group():
    """List and show the efficiency strategies (use them with 'estimate --strategy')."""


@strategies_group.command("list")
@format_options(*LIST_FORMATS)
@guarded
def strategies_list(fmt, as_json):
    """Strategies, one a line, with an example."""
    rows = [{"name": d["name"], "example": d["example"], "summary": d["summary"]} for d in api.strategy_definitions()]
    fmt = _format(fmt, as_json)
    click.echo(listing([{k: r[k] for k in ("example", "summary")} for r in rows] if fmt == "table" else rows, fmt,
                       {"example": 34}))


@strategies_group.command("show")
@click.argument("name")
@format_options("table", "json")
@guarded
def strategies_show(name, fmt, as_json):
    """A strategy: its argument, parameters, quality assumption and sources (and NAS presets)."""
    d = api.strategy_definitions(name)[0]
    if _format(fmt, as_json) == "json":
        click.echo(json.dumps(d, indent=2, allow_nan=False))
        return
    click.echo(f"{d['name']}: {d['summary']}\nusage: {d['usage']}\nexample: {d['example']}")
    if d["params"]:
        click.echo("parameters:")
        for p in d["params"]:
            click.echo(f"  {p['name']:10s} {p['help']}" + (f" [default: {p['default']}]" if p["default"] not in
                                                           (None, "") else ""))
    click.echo(f"quality: {d['quality']}")
    for name, preset in d.get("presets", {}).items():
        click.echo(f"preset {name}: {preset['method']}, {preset['search_trainings']:,.4g} trainings: "
                   f"{preset['derivation']} ({preset['source']})")



@main.group("data")
def data_group():
    """The data sets commands read by default (bundled in the package) and where they are read from."""


@data_group.command("list")
@format_options(*TABLE_FORMATS)
@guarded
def data_list(fmt, as_json):
    """Each data set: what it is, its licence, which commands read it, and the folder read now."""
    rows = api.data()
    fmt = "json" if as_json else fmt
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(render.data_table(rows, fmt))


@data_group.command("path")
@click.argument("name")
@guarded
def data_path(name):
    """The folder data set NAME is read from (for example: costsim calibrate --from
    "$(costsim data path h200)/measurements.jsonl")."""
    click.echo(api.data(name)[0]["folder"])


if __name__ == "__main__":
    main()
