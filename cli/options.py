"""What every command shares: the table from core parameter names to flags, the one-line errors of a
command, the option families (each defined once, each passed to its command as one grouped value),
progress bars and small parsers of option text."""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import sys
import time
from dataclasses import dataclass

import click

from simulator.errors import CostsimError
from simulator.files.bundled import ENVIRONMENT_VARIABLE
from simulator.schema.regions import (
    DEFAULT_ELECTRICITY_USD_PER_KWH,
    DEFAULT_LIFETIME_YEARS,
    DEFAULT_PUE,
    DEFAULT_REGION,
    GRID_G_CO2_PER_KWH,
    PUE,
)

# The core names parameters (``strategy``, ``targets``); on the command line they are these flags. The
# one table: an error's field is shown as its flag (``strategy prune:2of4`` as ``--strategy prune:2of4``).
FLAGS = {
    "batch_rounding": "--batch-rounding",
    "base": "--base",
    "benchmark": "--benchmark",
    "budget_usd": "--budget",
    "computes": "--lm-compute",
    "device": "--device",
    "devices": "--devices",
    "doubling_bandwidth_years": "--doubling-bandwidth",
    "doubling_efficiency_years": "--doubling-efficiency",
    "doubling_flops_years": "--doubling-flops",
    "executor": "--executor",
    "host": "--host",
    "fmt": "--format",
    "hardware": "--hardware",
    "kind": "KIND",
    "law": "--law",
    "losses": "--lm-loss",
    "max_scenarios": "--max-scenarios",
    "mtbf_hours": "--mtbf-hours", "preemptions_per_hour": "--preemptions-per-hour",
    "checkpoint_interval_s": "--checkpoint-interval-s", "interval_sweep": "--interval-sweep",
    "replicas": "--replicas", "seed": "--seed",
    "storage_bandwidth_bytes_per_s": "--storage-gb-per-s", "straggler_cv_fraction": "--straggler-cv",
    "queue_wait_s": "--queue-wait-hours",
    "plan": "--plan",
    "fix": "--fix",
    "plot": "--plot",
    "plot_dir": "--plot-dir",
    "profile_ref": "--profile",
    "rows": "--rows",
    "scheduler": "--scheduler",
    "strategy": "--strategy",
    "suite": "--suite",
    "targets": "--target",
    "workload": "--workload",
    "workloads": "--workload",  # a sweep's axis, given by -w
    "x": "--x",
    "y": "--y",
    "year": "--year",
    # run options (the API's run_options parameters) and quantum breakeven's: named by the result guard
    "pue": "--pue", "grid_g_co2_per_kwh": "--grid-intensity",
    "cloud_price_usd_per_hour": "--price", "regions": "--region", "lifetime_years": "--lifetime-years",
    "electricity_usd_per_kwh": "--electricity-usd-per-kwh", "degrees": "--degree", "parallelism": "--parallelism",
    "classical_step_s": "--classical-step-s", "toffolis_per_step": "--toffolis-per-step",
    "distillation_speedup": "--distillation-speedup",
}


def _command_names(command) -> set[str]:
    """What a command's parameters are called on its command line: its flags, and its arguments' names."""
    return {o for p in command.params for o in (p.opts if isinstance(p, click.Option) else [p.human_readable_name])}


def as_flag(field: str | None, command=None) -> str | None:
    """``field`` as the command line names it: a parameter's first word mapped through FLAGS. Only where
    no file is named (a field of a file stays that field) and, given ``command``, only to one of its own."""
    head, sep, rest = (field or "").partition(" ")
    whole, dot, part = head.partition(".")
    flag = FLAGS.get(head)
    shown = flag
    if flag is None and dot:  # a part of what one flag gives: plan.tp is --plan's tp
        flag = FLAGS.get(whole)
        shown = f"{flag}: {part}"
    if flag is None or (command is not None and flag not in _command_names(command)):
        return field
    return shown + sep + rest


def fail(message: str) -> None:
    """Print ``message`` as one line on stderr and exit with status 2."""
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


def data_option(dataset: str, prefix: str = "", suffix: str = ""):
    """``--data DIR``: the folder a command reads its data set from instead of the bundled copy (or
    ``$COSTSIM_DATA``). One definition, so every data-reading command says the same."""
    return click.option("--data", default=None, metavar="DIR",
                        help=f"{prefix}folder of {dataset} data{suffix} [default: ${ENVIRONMENT_VARIABLE}, "
                             "else the copy bundled in the package; see 'costsim data list']")


# ------------------------------------------------------------------ option families, each defined once
# Every command that takes one of these takes it from here, so a flag means the same (name, type,
# default, help) everywhere; tests/cli/test_cli_options.py walks the command tree and checks it.
TABLE_FORMATS = ("table", "json", "csv", "markdown")
SWEEP_FORMATS = ("csv", "json", "jsonl", "markdown", "latex")
# estimate and compare: tables for papers too
PAPER_FORMATS = TABLE_FORMATS + ("latex",)

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


def grouped(keyword: str, value: type, *options):
    """A decorator: add ``options`` (click option decorators, top one first) to a command, and pass their
    values to it as one keyword argument, ``keyword=value(...)``. ``value`` is a dataclass whose fields
    are the options' parameter names."""
    names = tuple(f.name for f in dataclasses.fields(value))

    def decorate(f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            kwargs[keyword] = value(**{name: kwargs.pop(name) for name in names})
            return f(*args, **kwargs)

        return _stack(wrapper, options)

    return decorate


def parse_pue(value):
    """A --pue value: a number, else a facility class name (the core checks it); None where not given."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value  # a facility class name; the core checks it


@dataclass(frozen=True)
class Cost:
    """The carbon and pricing options of a command that prices a run (``cost=``)."""

    region: str | None
    grid: float | None
    pue: str | None
    pricing: str
    lifetime_years: float | None
    electricity_usd_per_kwh: float | None

    def core(self) -> dict:
        """The options but --pricing as the core's keyword arguments (gCO2e/kWh, years, $/kWh)."""
        return dict(grid_g_co2_per_kwh=self.grid, region=self.region, pue=parse_pue(self.pue),
                    lifetime_years=self.lifetime_years, electricity_usd_per_kwh=self.electricity_usd_per_kwh)


# --region, --grid-intensity, --pue: where the run's energy comes from; --pricing, --lifetime-years,
# --electricity-usd-per-kwh: how device time is paid for
cost_options = grouped(
    "cost", Cost,
    click.option("--region", type=click.Choice(sorted(GRID_G_CO2_PER_KWH)), default=None, help=_COST_HELP["region"]),
    click.option("--grid-intensity", "grid", type=float, default=None, help=_COST_HELP["grid"]),
    click.option("--pue", default=None, help=_COST_HELP["pue"]),
    click.option("--pricing", type=click.Choice(["auto", "cloud", "owned"]), default="auto",
                 help=_COST_HELP["pricing"]),
    click.option("--lifetime-years", type=float, default=None, help=_COST_HELP["lifetime_years"]),
    click.option("--electricity-usd-per-kwh", type=float, default=None, help=_COST_HELP["electricity_usd_per_kwh"]),
)


@dataclass(frozen=True)
class CostAxes:
    """The cost options of ``sweep``, each an axis: the comma-separated text as given (``cost=``)."""

    regions: str | None
    grids: str | None
    pue: str | None
    pricing: str | None
    lifetime_years: str | None
    electricity_usd_per_kwh: str | None


_LISTED = "comma-separated, one axis: "
cost_axes = grouped(
    "cost", CostAxes,
    click.option("--region", "regions", default=None, help=_LISTED + _COST_HELP["region"]),
    click.option("--grid-intensity", "grids", default=None,
                 help=_LISTED + "grid carbon intensities in gCO2e/kWh (grids besides any --region ones)"),
    click.option("--pue", default=None, help=_LISTED + _COST_HELP["pue"]),
    click.option("--pricing", default=None, help=_LISTED + _COST_HELP["pricing"]),
    click.option("--lifetime-years", default=None, help=_LISTED + _COST_HELP["lifetime_years"]),
    click.option("--electricity-usd-per-kwh", default=None, help=_LISTED + _COST_HELP["electricity_usd_per_kwh"]),
)


def set_option(f):
    """--set FIELD=VALUE (repeatable), on every command that loads a profile or a workload (parameter sets)."""
    return click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE", help=SET_HELP)(f)


@dataclass(frozen=True)
class Output:
    """--format and --json: the format a command prints its result in (``output=``)."""

    fmt: str | None
    as_json: bool

    @property
    def format(self) -> str | None:
        """The format asked for: json with --json, else --format's."""
        return "json" if self.as_json else self.fmt


def format_options(*formats: str, default: str | None = "first"):
    """--format (one of ``formats``; default the first) and --json, the same as --format json, passed as
    ``output=`` (an :class:`Output`)."""
    default = formats[0] if default == "first" else default
    return grouped(
        "output", Output,
        click.option("--format", "fmt", type=click.Choice(list(formats)), default=default,
                     help=f"output format [default: {default or 'from the --out extension, else csv'}]"),
        click.option("--json", "as_json", is_flag=True, help="same as --format json"),
    )


def quiet_option(f):
    """--quiet, on every command with a progress bar or progress messages on stderr (parameter quiet)."""
    return click.option("--quiet", "-q", is_flag=True, help=QUIET_HELP)(f)


@dataclass(frozen=True)
class Execution:
    """--workers, --executor, --scheduler: where a command's independent runs are computed (``execution=``)."""

    workers: int
    executor: str
    scheduler: str | None

    def core(self) -> dict:
        """The options as the core's keyword arguments."""
        return dict(workers=self.workers, executor=self.executor, scheduler=self.scheduler)


def execution_options(workers_help: str):
    """--workers (``workers_help`` says what each computes), --executor and --scheduler, as ``execution=``."""
    return grouped(
        "execution", Execution,
        click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help=workers_help),
        click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True),
        click.option("--scheduler", default=None, help="Dask scheduler address (tcp://host:8786)"),
    )


def run_options(f=None, *, formats: tuple[str, ...] = TABLE_FORMATS):
    """Options shared by estimate, compare and simulate: devices and plan, cost, --set, format (one of
    ``formats``: ``@run_options(formats=PAPER_FORMATS)`` for the commands that also write LaTeX)."""
    if f is None:
        return lambda g: run_options(g, formats=formats)
    return _stack(f, [
        click.option("--devices", type=click.IntRange(min=1), default=None,
                     help="devices [default: the plan's, else 1]; without --plan, data parallel"),
        click.option("--plan", "plan", default=None, metavar="PLAN",
                     help="tp=8,[cp=2,]pp=16,[vp=2,]dp=4,mb=2[,zero=1][,sp][,recompute=none|selective|full]"
                          "[,gpipe|zb-h1][,no-overlap][,overlap-tp] (docs/clusters.md), or auto: the fastest "
                          "plan that fits"),
        cost_options, set_option, format_options(*formats),
    ])


def table_options(f):
    """--fit, --batch-rounding and --columns, on estimate and compare (parameters fit, batch_rounding,
    columns)."""
    return _stack(f, [
        click.option("--fit", type=click.Choice(["strict", "accumulate"]), default=None,
                     help="a run that does not fit a device at its batch: accumulate: gradient accumulation "
                          "at the largest micro-batch that fits; strict: not estimated "
                          "[default: compare accumulate, estimate strict]"),
        click.option("--batch-rounding", "batch_rounding", type=click.Choice(["none", "up", "down"]), default="none",
                     show_default=True, help="a global batch that does not split over dp: round it up or down to a "
                     "multiple of dp (an assumption says so); none: an error"),
        click.option("--columns", default=None, metavar="A,B,C",
                     help="the columns to show, by their JSON/CSV field names (e.g. hardware,total_time_s,"
                          "cost_usd,pricing,co2_kg); a one-row table for estimate"),
    ])


def split_names(text, flag: str):
    """A comma-separated list from ``flag``: its items, stripped; None where not given. An empty list or
    an empty item (``''``, ``a,,b``, ``a,``) is a one-line error naming ``flag``, not a list shortened."""
    if text is None:
        return None
    items = [t.strip() for t in text.split(",")]
    if not any(items):
        raise CostsimError(f"{text!r} is an empty list: give one or more, comma-separated", field=flag)
    if not all(items):
        raise CostsimError(f"'{text}' has an empty item (two commas together, or one at an end)", field=flag)
    return items


# ------------------------------------------------------------------ progress on stderr
class Progress:
    """click's progress bar, shown only once a run has taken a second, and only on a terminal."""

    def __init__(self, label: str, quiet: bool):

        self.label, self.quiet, self.bar, self.start, self.clock = label, quiet, None, time.monotonic(), time.monotonic

    def __call__(self, done: int, total: int) -> None:
        """Show ``done`` of ``total`` (a bar only after the first second, on a terminal, without quiet)."""
        if self.quiet or not sys.stderr.isatty():
            return
        if self.bar is None:
            if self.clock() - self.start < 1.0:
                return
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        """End the bar (a newline on the terminal), if one was shown."""
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@contextlib.contextmanager
def progress_bar(length: int = 1000, label: str = "measuring", quiet: bool = False):
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
