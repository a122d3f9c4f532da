"""The commands that look ahead: limits (what the next step of performance costs), project (a future
device), quantum (break-even analyses)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import click

from simulator import api
from simulator.errors import CostsimError
from simulator.files.loader import make_folder, write_bytes_atomically, write_text_atomically
from simulator.output import analysis_tables, fit_plots
from simulator.output import tables as render

from .options import (
    TABLE_FORMATS,
    Progress,
    cost_options,
    data_option,
    format_options,
    grouped,
    guarded,
    quiet_option,
    set_option,
    split_names,
)


@dataclass(frozen=True)
class Goal:
    """--benchmark, --target and --extrapolate of ``limits``: the target errors to reach (``goal=``)."""

    benchmarks: tuple[str, ...]
    targets: tuple[float, ...]
    extrapolate: bool


@dataclass(frozen=True)
class LanguageModels:
    """The --lm-* and --law options of ``limits``: compute-optimal language models to price too (``models=``;
    losses in nats/token, computes in FLOPs)."""

    lm_losses: tuple[float, ...]
    lm_computes: tuple[float, ...]
    law: str
    lm_devices: int


@click.command()
@grouped("goal", Goal,
         click.option("--benchmark", "benchmarks", multiple=True, default=("imagenet",), show_default=True,
                      help="imagenet, coco, squad, conll, wmt_en_fr, wmt_en_de (repeatable)"),
         click.option("--target", "targets", multiple=True, type=float, default=(0.1,), show_default=True,
                      help="target error fraction (repeatable); one better than the data's best needs --extrapolate"),
         click.option("--extrapolate", is_flag=True, help="allow targets beyond the fit's support"))
@click.option("--hardware", "-H", default=None, help="comma-separated profiles [default: every classical profile]")
@click.option("--devices", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--strategy", "strategy", multiple=True, help="also price under this strategy (repeatable)")
@click.option("--all-fits", is_flag=True, help="list every fit (both measures, models, subsets), not the headline")
@grouped("models", LanguageModels,
         click.option("--lm-loss", "lm_losses", multiple=True, type=float,
                      help="also: the compute-optimal language model reaching this loss (nats/token), priced"),
         click.option("--lm-compute", "lm_computes", multiple=True, type=float,
                      help="also: ... for this compute (FLOPs)"),
         click.option("--law", default="chinchilla", show_default=True, help="chinchilla or besiroglu"),
         click.option("--lm-devices", type=click.IntRange(min=1), default=1024, show_default=True,
                      help="devices for the language models (their batch of 1,024 sequences must split over them)"))
@data_option("thompson")
@click.option("--plot-dir", default=None, type=click.Path(file_okay=False),
              help="write the fit and cost plots (PNG and SVG) into this folder and print their paths")
@quiet_option
@cost_options
@format_options(*TABLE_FORMATS)
@guarded
def limits(goal, hardware, devices, strategy, all_fits, models, data, plot_dir, quiet, cost, output):
    """What the next step of performance costs: scaling fits of Thompson et al.'s data, the compute to
    reach each target error, priced on each device and under each strategy."""
    fmt, pricing = output.format, cost.pricing
    progress = Progress("pricing", quiet)
    try:
        r = api.limits(goal.benchmarks, goal.targets, extrapolate=goal.extrapolate,
                       hardware=split_names(hardware, "--hardware"), devices=devices, strategy=strategy, data=data,
                       pricing=pricing, progress=progress,
                       **cost.core())
    finally:
        progress.close()
    lm = api.lm_limits(losses=models.lm_losses, computes=models.lm_computes, law=models.law,
                       hardware=split_names(hardware, "--hardware"), devices=models.lm_devices, pricing=pricing,
                       **cost.core()) if (models.lm_losses or models.lm_computes) else []
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
        click.echo(analysis_tables.fits_table(r.fits, fmt, headline_only=not all_fits))
        click.echo("")
        click.echo(analysis_tables.priced_table(r.priced, fmt))
        if fmt in ("table", "markdown"):
            click.echo(analysis_tables.limits_notes(r))
        for x in lm:
            click.echo(f"\n{x['label']}: {x['parameters']:.3g} parameters, {x['tokens']:.3g} tokens, "
                       f"{x['compute_flops']:.3g} FLOPs, loss {x['loss']:.4g} ({x['law']})")
            click.echo(analysis_tables.priced_table(x["priced"], fmt))
    for path, image in images:
        write_bytes_atomically(path, image)
        click.echo(str(path))


@dataclass(frozen=True)
class Doubling:
    """--doubling-flops, --doubling-bandwidth, --doubling-efficiency of ``project``: stated years per
    doubling, None where the fitted trend is used (``doubling=``)."""

    doubling_flops: float | None
    doubling_bandwidth: float | None
    doubling_efficiency: float | None


@dataclass(frozen=True)
class CheaperYear:
    """--benchmark, --target, --budget, --devices and --extrapolate of ``project``: the first year a
    target error costs less than a budget in dollars (``cheaper=``)."""

    benchmark: str | None
    target: float | None
    budget_usd: float | None
    devices: int
    extrapolate: bool

    def asked(self) -> bool:
        """Whether any of --benchmark, --target, --budget was given."""
        return bool(self.benchmark) or self.target is not None or self.budget_usd is not None


@click.command()
@click.option("--base", required=True, help="the device line to project (a bundled profile or path)")
@click.option("--year", type=int, default=None, help="the year of the projected device")
@grouped("doubling", Doubling,
         click.option("--doubling-flops", type=float, default=None, help="years per doubling of peak FLOP/s [fitted]"),
         click.option("--doubling-bandwidth", type=float, default=None,
                      help="years per doubling of bandwidth [fitted]"),
         click.option("--doubling-efficiency", type=float, default=None,
                      help="years per doubling of FLOP/s per watt [fitted]"))
@click.option("--workload", "-w", default=None, help="also estimate this workload on the projected device")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="write the projected profile (YAML)")
@grouped("cheaper", CheaperYear,
         click.option("--benchmark", default=None,
                      help="with --target and --budget: the first year the target costs less"),
         click.option("--target", type=float, default=None, help="target error fraction on --benchmark"),
         click.option("--budget", "budget_usd", type=float, default=None, help="dollars"),
         click.option("--devices", type=click.IntRange(min=1), default=1000, show_default=True),
         click.option("--extrapolate", is_flag=True, help="allow targets beyond the fit's support"))
@data_option("hardware-history", "",
             " (a root of data sets, laid out as COSTSIM_DATA, also gives --benchmark its Thompson et al. data)")
@cost_options
@set_option
@format_options(*TABLE_FORMATS)
@guarded
def project(base, year, doubling, workload, out, cheaper, data, cost, sets, output):
    """A future device grown from BASE at the fitted hardware trends (or stated doubling times); or the
    first year a target error costs less than a budget on that device line. --set applies to the
    --workload estimate (workload fields, or hardware.<field> of the projected device)."""
    fmt, pricing = output.format, cost.pricing
    if sets and not workload:
        raise CostsimError("--set changes the --workload estimate: give --workload", field="--set")
    if cheaper.asked():
        c = cheaper
        if not (c.benchmark and c.target is not None and c.budget_usd is not None):
            raise CostsimError("give --benchmark, --target and --budget together", field="--budget")
        found, costs = api.cheaper_year(base, c.benchmark, c.target, c.budget_usd, devices=c.devices,
                                        extrapolate=c.extrapolate, data=data, pricing=pricing, **cost.core())
        click.echo(analysis_tables.cheaper_year_text(base, c.benchmark, c.target, c.budget_usd, c.devices, found, costs,
                                                     fmt))
        return
    if year is None:
        raise CostsimError("give --year (or --benchmark, --target and --budget)", field="--year")
    profile, raw, trends = api.project(base, year, doubling_flops_years=doubling.doubling_flops,
                                       doubling_bandwidth_years=doubling.doubling_bandwidth,
                                       doubling_efficiency_years=doubling.doubling_efficiency, data=data)
    shown = analysis_tables.projection_text(profile, trends, fmt, api.profile_trends())
    if workload:
        # with --set, from the projected profile's file dict (a loaded profile has its borrowed curves filled in)
        e = api.estimate(raw if sets else profile, workload, sets=sets, pricing=pricing, **cost.core())
        shown = (json.dumps({**json.loads(shown), "estimate": e.to_dict()}, indent=2, allow_nan=False)
                 if fmt == "json" else shown + "\n\n" + render.estimate_table(e, fmt))  # JSON: one document
    if out:  # written before anything is printed: a bad path leaves no half output
        write_text_atomically(out, analysis_tables.profile_yaml(raw))
    click.echo(shown)
    if out:
        click.echo(out)


@click.group()
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
                      output):
    """Break-even problem size and time per speedup degree and classical parallelism, for a profile."""
    r = api.quantum_breakeven(profile_ref, degrees=degrees, parallelism=parallelism,
                              classical_step_s=classical_step_s, toffolis_per_step=toffolis_per_step,
                              distillation_speedup=distillation_speedup)
    click.echo(analysis_tables.breakeven_text(r, output.format))
