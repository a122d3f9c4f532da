"""The commands over many scenarios and the files they write: sweep, report, plot."""
from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from simulator import api
from simulator.errors import CostsimError
from simulator.files.loader import make_folder, open_rows_file, write_bytes_atomically, write_text_atomically
from simulator.output.figure import PLOT_FORMATS
from simulator.output.stream import SWEEP_EXTENSIONS, SweepWriter
from simulator.run.sweep import columns, pue_value

from .options import (
    QUIET_HELP,
    SWEEP_FORMATS,
    Progress,
    cost_axes,
    data_option,
    execution_options,
    format_options,
    grouped,
    guarded,
    parse_pue,
    set_option,
    split_names,
)


def _numbers(text, option: str, kind=float):
    """A comma-separated list of numbers from a flag, or a one-line error naming the flag (an empty list or
    an empty item too); () where not given."""
    items = split_names(text, option) or ()
    try:
        return tuple(kind(x) for x in items)
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
        axes[field.strip()] = tuple(value(v) for v in split_names(values, f"--set {field.strip()}"))
    return axes


def _pues(text):

    return tuple(pue_value(parse_pue(x)) for x in split_names(text, "--pue") or ())


def _sweep_format(fmt: str | None, out: str | None) -> str:
    """The format rows are written in: ``--format``'s, else ``--out``'s extension's, else CSV; an extension
    that names no format is a one-line error (without ``--format``), not CSV under another name."""
    if fmt or not out:
        return fmt or "csv"
    suffix = Path(out).suffix.lower()
    if suffix not in SWEEP_EXTENSIONS:
        known = ", ".join(SWEEP_EXTENSIONS)
        raise CostsimError(f"{f'unknown extension {suffix!r}' if suffix else 'no extension'}: use {known}, "
                           f"or give --format", field="--out")
    return SWEEP_EXTENSIONS[suffix]


@dataclass(frozen=True)
class Running:
    """--max-scenarios and --quiet: how large a grid may run, and what is said while it runs (``running=``)."""

    max_scenarios: int
    quiet: bool


MAX_HELP = ("refuse a grid of more scenarios than this, before it runs (the count and what its rows would "
            "need are in the message)")
running_options = grouped(
    "running", Running,
    click.option("--max-scenarios", type=click.IntRange(min=1), default=api.MAX_SCENARIOS, show_default=True,
                 help=MAX_HELP),
    click.option("--quiet", "-q", is_flag=True, help=QUIET_HELP))


@click.command()
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
@execution_options("local worker processes")
@running_options
@guarded
def sweep(sweep_file, hardware, workload, devices, strategies, cost, price, sets, out, output, execution, running):
    """Evaluate a grid of scenarios (a sweep file, or flags) into a tidy table: one row per scenario,
    inputs and outputs as columns (named as in 'estimate --format json'), infeasible points kept with
    their reason. Flags replace the sweep file's axis of the same name. Rows are written as they are
    computed; a grid over --max-scenarios is refused before it runs."""

    axes = dict(hardware=split_names(hardware, "--hardware"), workloads=split_names(workload, "--workload"),
                devices=_numbers(devices, "--devices", int), strategies=tuple(strategies),
                regions=split_names(cost.regions, "--region"),
                grid_g_co2_per_kwh=_numbers(cost.grids, "--grid-intensity"),
                pue=_pues(cost.pue), pricing=split_names(cost.pricing, "--pricing"),
                lifetime_years=_numbers(cost.lifetime_years, "--lifetime-years"),
                electricity_usd_per_kwh=_numbers(cost.electricity_usd_per_kwh, "--electricity-usd-per-kwh"),
                cloud_price_usd_per_hour=_numbers(price, "--price"), set=_set_axes(sets))
    fmt = _sweep_format(output.format, out)
    try:
        spec = api.sweep_spec(sweep_file, **axes)
    except CostsimError as err:  # a field of the set axis the flags gave (no file): named as its --set
        if err.source is None and (err.field or "").startswith("set."):
            raise CostsimError(err.problem, field=f"--set {err.field[4:]}") from None
        raise
    writer = SweepWriter(columns(spec.set), fmt)
    progress = Progress("sweeping", running.quiet)
    batches = api.sweep_batches(spec, max_scenarios=running.max_scenarios, progress=progress, **execution.core())
    written, sink = 0, None
    try:
        first = next(batches)  # a scheduler that cannot be reached fails here, before anything is written
        sink = open_rows_file(out) if out else sys.stdout
        sink.write(writer.head())
        for rows in itertools.chain([first], batches):  # written as they come: nothing holds them all
            sink.write(writer.rows(rows))
            sink.flush()
            written += len(rows)
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


@dataclass(frozen=True)
class PlotAxes:
    """--x, --y and --series of ``plot``: which sweep columns a pareto or scaling plot shows (``axes=``)."""

    x: str | None
    y: str
    series: str


@dataclass(frozen=True)
class PlotLimits:
    """--benchmark, --target and --data of ``plot limits``: the fit drawn and the errors marked (``limits=``)."""

    benchmark: str
    targets: tuple[float, ...]
    data: str | None


@click.command("plot")
@click.argument("kind", type=click.Choice(list(api.PLOT_KINDS)))
@click.argument("sweep_source", required=False, metavar="[SWEEP]")
@click.option("--hardware", "-H", default=None, help="profile(s), comma-separated")
@click.option("--workload", "-w", default=None)
@click.option("--strategy", "strategy", multiple=True, help="compare: strategies on one device")
@click.option("--devices", type=click.IntRange(min=1), default=None)
@click.option("--plan", "plan", default=None, metavar="PLAN",
              help="the plan (as estimate takes it, or auto); pipeline: one with pp > 1")
@grouped("axes", PlotAxes,
         click.option("--x", "x", default=None,
                      help="pareto: the x column [default: total_time_s]; scaling: the swept column "
                           "[default: devices]"),
         click.option("--y", "y", default="cost_usd", show_default=True),
         click.option("--series", default="hardware", show_default=True,
                      help="scaling: one line per value of this column"))
@grouped("limits", PlotLimits,
         click.option("--benchmark", default="imagenet", show_default=True, help="limits: the benchmark's fit"),
         click.option("--target", "targets", multiple=True, type=float, help="limits: target errors to mark"),
         data_option("thompson", "limits: "))
@click.option("--out", "outs", multiple=True, type=click.Path(dir_okay=False),
              help="image file(s), PNG, SVG or PDF by extension [default: KIND.png]")
@set_option
@click.option("--max-scenarios", type=click.IntRange(min=1), default=api.MAX_SCENARIOS, show_default=True,
              help="pareto, scaling: " + MAX_HELP)
@guarded
def plot_command(kind, sweep_source, hardware, workload, strategy, devices, plan, axes, limits, outs, sets,
                 max_scenarios):
    """Write a plot: roofline (-H, -w), pipeline (-H, -w, --plan with pp > 1: the timeline of one step),
    compare (-H a,b,c -w, or --strategy on one device), pareto and scaling (a sweep file or the CSV
    'costsim sweep' wrote), limits (--benchmark, --target). Prints the paths written."""
    outs = outs or (f"{kind}.png",)
    for out in outs:  # every --out checked before anything is drawn
        suffix = Path(out).suffix
        if suffix.lstrip(".").lower() not in PLOT_FORMATS:
            raise CostsimError(f"{f'unknown image extension {suffix!r}' if suffix else 'no extension'}: "
                               f"use {', '.join('.' + f for f in PLOT_FORMATS)}", field="--out")
    names = split_names(hardware, "--hardware")
    options = {k: v for k, v in (("devices", devices), ("plan", plan)) if v}
    images = []
    for out in outs:
        images.append((out, api.plot(kind, hardware=names, workload=workload, strategy=strategy, source=sweep_source,
                                     x=axes.x, y=axes.y, series=axes.series, fmt=Path(out).suffix.lstrip(".").lower(),
                                     sets=sets, benchmark=limits.benchmark, targets=limits.targets, data=limits.data,
                                     max_scenarios=max_scenarios, **options)))
    for out, image in images:
        write_bytes_atomically(out, image)
        click.echo(out)


@click.command("report")
@click.argument("source", metavar="SCENARIO_OR_SWEEP")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="folder for index.html and the CSV")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@running_options
@guarded
def report_command(source, out, workers, running):
    """A self-contained HTML page (tables and plots, no external assets) and the CSV it was made from."""
    progress = Progress("sweeping", running.quiet)
    try:
        r = api.report(source, workers=workers, progress=progress, max_scenarios=running.max_scenarios)
    finally:
        progress.close()
    make_folder(out)
    page, table = Path(out) / "index.html", Path(out) / f"{r.name}.csv"
    write_text_atomically(table, r.csv)
    write_text_atomically(page, r.html)
    click.echo(str(page))
    click.echo(str(table))
