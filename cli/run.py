"""The commands that estimate a run: estimate, compare, plan, simulate, and the strategies they apply."""
from __future__ import annotations

import json
from dataclasses import dataclass

import click

from simulator import api
from simulator.errors import CostsimError
from simulator.output import analysis_tables
from simulator.output import tables as render
from simulator.output.format import parse_columns
from simulator.output.show import LIST_FORMATS, listing
from simulator.units import GIGA, SECONDS_PER_HOUR

from .options import (
    PAPER_FORMATS,
    TABLE_FORMATS,
    cost_options,
    execution_options,
    format_options,
    grouped,
    guarded,
    progress_bar,
    quiet_option,
    run_options,
    set_option,
    split_names,
    table_options,
)


def _columns(text, what: str):
    """--columns as the renderer's column list, or a one-line error naming --columns."""
    try:
        return parse_columns(text, what)
    except CostsimError as err:
        raise CostsimError(err.problem, field="--columns") from None


@click.command()
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
def estimate(hardware, workload, strategy, rows, devices, plan, cost, sets, output, fit, batch_rounding, columns):
    """Estimate one training run on one device type; with --strategy, a cost table of the baseline and
    the strategies."""
    options = dict(devices=devices, plan=plan, **cost.core())
    fmt, pricing = output.format, cost.pricing
    if (strategy or api.is_quantum(hardware, sets)) and (fmt == "latex" or columns):
        raise CostsimError("--format latex and --columns are for a classical estimate without --strategy",
                           field="--format" if fmt == "latex" else "--columns")
    if strategy:
        table = api.strategies(hardware, workload, strategy, rows=rows, sets=sets, pricing=pricing, **options)
        click.echo(render.strategy_table(table, fmt))
        return
    if api.is_quantum(hardware, sets):
        q = api.quantum_estimate(hardware, workload, pricing=pricing, sets=sets, **options)
        click.echo(analysis_tables.quantum_estimate_text(q, fmt))
        return
    chosen = _columns(columns, "estimate")
    e = api.estimate(hardware, workload, sets=sets, pricing=pricing, fit=fit or "strict",
                     batch_rounding=batch_rounding, **options)
    click.echo(render.estimate_table(e, fmt, chosen))


@click.command()
@click.option("--hardware", "-H", default=None,
              help="comma-separated profile names or paths [default: the current device of each kind: "
                   + ", ".join(api.CURRENT_HARDWARE) + "]")
@click.option("--all", "all_hardware", is_flag=True,
              help="every bundled profile, the historical and what-if ones too (instead of --hardware)")
@click.option("--workload", "-w", required=True, help="bundled workload name or path to a YAML workload")
@run_options(formats=PAPER_FORMATS)
@table_options
@guarded
def compare(hardware, all_hardware, workload, devices, plan, cost, sets, output, fit, batch_rounding, columns):
    """Compare one workload across devices: one row per device (by default the current device of each
    kind; --all for every bundled profile)."""
    if hardware is not None and all_hardware:
        raise CostsimError("give --hardware or --all, not both", field="--all")
    names = split_names(hardware, "--hardware")
    chosen = _columns(columns, "compare")
    rows = api.compare("all" if all_hardware else names, workload, sets=sets, pricing=cost.pricing,
                       fit=fit or "accumulate", batch_rounding=batch_rounding, devices=devices, plan=plan,
                       **cost.core())
    fmt = output.format
    click.echo(render.comparison_table(rows, fmt, chosen))
    if fmt == "table" and any(r.reason and "even at micro-batch 1" in r.reason for r in rows):
        click.echo("\nhint: a model this large must be sharded over many devices, e.g. --devices 1024 --plan auto")


@dataclass(frozen=True)
class Simulation:
    """What ``simulate`` draws: failures, stragglers, pre-emptions, checkpoints, the queue, and the
    Monte Carlo replicas (``simulation=``; hours, seconds and GB/s as the flags give them)."""

    mtbf_hours: float | None
    straggler_cv: float
    preemptions_per_hour: float
    checkpoint_interval_s: float | None
    storage_gb_per_s: float
    queue_wait_hours: float
    replicas: int
    seed: int
    requeue_on_failure: bool

    def check(self) -> None:
        """Raise a one-line error on a non-positive MTBF or a negative rate, naming its flag."""
        if self.mtbf_hours is not None and self.mtbf_hours <= 0:
            raise CostsimError(f"must be positive, got {self.mtbf_hours:g}", field="--mtbf-hours")
        for name, value in (("--straggler-cv", self.straggler_cv),
                            ("--preemptions-per-hour", self.preemptions_per_hour),
                            ("--queue-wait-hours", self.queue_wait_hours)):
            if value < 0:
                raise CostsimError(f"must not be negative, got {value:g}", field=name)

    def core(self) -> dict:
        """The options but --checkpoint-interval-s as the core's keyword arguments (SI units)."""
        return dict(replicas=self.replicas, seed=self.seed, mtbf_hours=self.mtbf_hours,
                    straggler_cv_fraction=self.straggler_cv, preemptions_per_hour=self.preemptions_per_hour,
                    storage_bandwidth_bytes_per_s=self.storage_gb_per_s * GIGA,
                    queue_wait_s=self.queue_wait_hours * SECONDS_PER_HOUR, requeue_on_failure=self.requeue_on_failure)


simulation_options = grouped(
    "simulation", Simulation,
    click.option("--mtbf-hours", type=float, default=None, help="per-device mean time between failures"),
    click.option("--straggler-cv", type=float, default=0.0, show_default=True,
                 help="per-device step-time noise (coefficient of variation)"),
    click.option("--preemptions-per-hour", type=float, default=0.0, show_default=True),
    click.option("--checkpoint-interval-s", type=float, default=None, help="default: the Young/Daly optimum"),
    click.option("--storage-gb-per-s", type=float, default=10.0, show_default=True, help="checkpoint write rate"),
    click.option("--queue-wait-hours", type=float, default=0.0, show_default=True, help="mean wait in the queue"),
    click.option("--replicas", type=click.IntRange(min=1), default=1, show_default=True),
    click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True),
    click.option("--requeue-on-failure", is_flag=True,
                 help="after an interruption, wait in the queue again instead of swapping in a spare"),
)


@click.command()
@click.option("--hardware", "-H", required=True, help="bundled profile name or path to a YAML profile")
@click.option("--workload", "-w", required=True, help="bundled workload name or path to a YAML workload")
@run_options
@simulation_options
@click.option("--interval-sweep", is_flag=True,
              help="also simulate 1/4, 1/2, 2 and 4 times the Young/Daly checkpoint interval")
@execution_options("replicas in this many local processes")
@quiet_option
@guarded
def simulate(hardware, workload, devices, plan, cost, sets, output, simulation, interval_sweep, execution, quiet):
    """A whole training run as a discrete-event simulation: failures, checkpoints, restarts, stragglers,
    pre-emptions and queueing, over Monte Carlo replicas (p5/p50/p95)."""
    simulation.check()
    fmt = output.format
    run = dict(sets=sets, pricing=cost.pricing, devices=devices, plan=plan, **cost.core())
    with progress_bar(simulation.replicas, "replicas", quiet) as progress:
        e, mc = api.simulate(hardware, workload, checkpoint_interval_s=simulation.checkpoint_interval_s,
                             progress=progress, **simulation.core(), **execution.core(), **run)
    shown = render.simulation_table(e, mc, fmt)
    if interval_sweep:
        sweep = api.checkpoint_interval_sweep(hardware, workload, **simulation.core(), **run)
        table = render.interval_sweep_table(sweep, fmt)
        shown = (json.dumps({**json.loads(shown), "interval_sweep": json.loads(table)}, indent=2) if fmt == "json"
                 else shown + "\n" + table)  # JSON: one document
    click.echo(shown)


@click.command("plan")
@click.option("--hardware", "-H", required=True, help="bundled profile name or path to a YAML profile")
@click.option("--workload", "-w", required=True, help="bundled workload name or path to a YAML workload")
@click.option("--devices", type=click.IntRange(min=1), required=True)
@click.option("--objective", type=click.Choice(["time", "cost", "energy"]), default="time", show_default=True)
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--fix", "fix", default=None, metavar="ITEMS",
              help="plan dimensions held fixed, as plan items: tp=8,pp=16 (any of tp, cp, pp, vp, dp, ep, mb, "
                   "zero, sp, recompute, recompute_layers)")
@cost_options
@set_option
@format_options(*TABLE_FORMATS)
@guarded
def plan_command(hardware, workload, devices, objective, top, fix, cost, sets, output):
    """Search the parallel plans for N devices: the best that fit, by time, cost or energy (priced and
    ranked under the pricing, grid and PUE options)."""
    found = api.plan(hardware, workload, devices=devices, objective=objective, top=top, sets=sets,
                     pricing=cost.pricing, fix=fix, **cost.core())
    click.echo(found.table(output.format))


@click.group("strategies")
def strategies_group():
    """List and show the efficiency strategies (use them with 'estimate --strategy')."""


@strategies_group.command("list")
@format_options(*LIST_FORMATS)
@guarded
def strategies_list(output):
    """Strategies, one a line, with an example."""
    rows = [{"name": d["name"], "example": d["example"], "summary": d["summary"]} for d in api.strategy_definitions()]
    fmt = output.format
    click.echo(listing([{k: r[k] for k in ("example", "summary")} for r in rows] if fmt == "table" else rows, fmt,
                       {"example": 34}))


@strategies_group.command("show")
@click.argument("name")
@format_options("table", "json")
@guarded
def strategies_show(name, output):
    """A strategy: its argument, parameters, quality assumption and sources (and NAS presets)."""
    d = api.strategy_definitions(name)[0]
    if output.format == "json":
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
