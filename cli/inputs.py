"""The commands about a run's inputs: profiles, workloads, the data sets, and the measurements that make
and check profiles (calibrate, validate)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from simulator import api
from simulator.calibration.fit import fit_bound_failures, fit_bound_problem, group_stats
from simulator.errors import CostsimError
from simulator.files.loader import (
    bundled_names,
    load_profile,
    load_workload,
    raw_profile,
    validate_profile,
    write_bytes_atomically,
    write_text_atomically,
)
from simulator.output import analysis_tables, fit_plots
from simulator.output import tables as render
from simulator.output.show import LIST_FORMATS, SHOW_FORMATS, listing, profile_text, workload_text

from .options import TABLE_FORMATS, data_option, format_options, guarded, progress_bar, quiet_option, set_option


@click.command()
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None, help="measure this machine's device")
@click.option("--host", "host", is_flag=True,
              help="time this host's eager dispatch through PyTorch's CPU backend (needs torch) into a profile "
                   "extending --base [default base: h200]")
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
def calibrate(device, host, from_files, base, out, name, quick, save_measurements, keep_price, force, quiet):
    """Measure this machine (--device, --host) or fit measurement files (--from) into a hardware profile."""
    if sum((bool(device), bool(from_files), host)) != 1:
        raise CostsimError("give one of --device, --host or --from")
    name = name or Path(out).stem
    records = None
    if host:
        text, records = api.calibrate_host(base=base or "h200", name=name)
        if save_measurements:
            write_text_atomically(save_measurements, "".join(json.dumps(r) + "\n" for r in records))
        write_text_atomically(out, text)
        click.echo(out)
        return
    if from_files:
        text, result = api.calibrate_files(list(from_files), base=base or "h200", name=name, force=force)
    elif device == "cpu":
        with progress_bar(quiet=quiet) as progress:
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


@click.command()
@click.argument("measurements", required=False)
@click.option("--suite", type=click.Choice(["h200", "vtrain", "published", "mlperf", "deepbench", "compression",
                                           "history"]),
              default=None,
              help="a bundled suite instead of a file: h200 (the shared H200 training steps), vtrain, published "
                   "(Megatron-LM runs of 1.7B-1T parameters as papers publish them), mlperf (MLPerf Training "
                   "scores, v1.0-v3.1, time to train), deepbench (DeepBench GEMM and convolution kernels of "
                   "older GPUs), "
                   "compression (the H200 fp8, low-rank and 2:4 speedups), or history (Thompson et al.'s "
                   "recorded training runs)")
@data_option("the suite's", "--suite: ")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="write a scatter plot of predicted against measured (PNG or SVG)")
@click.option("--show", type=click.IntRange(min=1), default=None,
              help="list only the N runs with the largest errors")
@format_options(*TABLE_FORMATS)
@guarded
def validate(measurements, suite, data, plot_path, show, output):
    """Compare predictions with measured runs: per-run signed errors, MAPE, worst case."""
    fmt = output.format
    if bool(measurements) == bool(suite):
        raise CostsimError("give a measurements file or --suite")
    if suite in ("compression", "history", "deepbench") and plot_path:
        raise CostsimError(f"the {suite} suite has no plot", field="--plot")
    if suite == "deepbench":
        click.echo(render.deepbench_table(api.validate_suite(suite, data), fmt, show))
        return
    if suite in ("compression", "history"):
        if suite == "compression":
            click.echo(render.speedup_table(api.compression_checks(data), fmt))
        else:
            click.echo(analysis_tables.history_table(*api.history(data), fmt))
        return
    report = api.validate_file(measurements) if measurements else api.validate_suite(suite, data)
    scatter, table = ((fit_plots.mlperf_scatter, render.mlperf_table) if suite == "mlperf" else
                      (fit_plots.validation_scatter, render.validation_table))
    if plot_path:  # the plot first, so a bad path prints nothing else
        write_bytes_atomically(plot_path, scatter(report, Path(plot_path).suffix.lstrip(".").lower()))
    click.echo(table(report, fmt, show))
    if plot_path:
        click.echo(plot_path)


@click.group()
def profiles():
    """List, show and validate hardware profiles."""


@profiles.command("list")
@format_options(*LIST_FORMATS)
@guarded
def profiles_list(output):
    """Bundled profiles, one a line."""
    rows = [{"name": name, "kind": p.kind, "description": p.description}
            for name, p in ((n, load_profile(n)) for n in bundled_names("hardware"))]
    click.echo(listing(rows, output.format, {"name": 22, "kind": 8}))


@profiles.command("show")
@click.argument("name")
@set_option
@format_options(*SHOW_FORMATS)
@guarded
def profiles_show(name, sets, output):
    """A profile (a bundled name or a file), with extends: resolved and borrowed curves filled in: YAML
    (a profile file you can save and edit), a table with human units, or JSON."""
    profile = load_profile(name, sets)
    click.echo(profile_text(profile, output.format))


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


@click.group()
def workloads():
    """List and show workloads."""


@workloads.command("list")
@format_options(*LIST_FORMATS)
@guarded
def workloads_list(output):
    """Bundled workloads, one a line."""
    rows = [{"name": name, "kind": w.kind, "description": w.description.split('.')[0]}
            for name, w in ((n, load_workload(n)) for n in bundled_names("workload"))]
    click.echo(listing(rows, output.format, {"name": 22, "kind": 12}))


@workloads.command("show")
@click.argument("name")
@set_option
@format_options(*SHOW_FORMATS)
@guarded
def workloads_show(name, sets, output):
    """A workload and what it implies (parameters, tokens or images, FLOPs): YAML, a table with human
    units, or JSON."""
    w = load_workload(name, sets)
    click.echo(workload_text(w, api.workload_summary(w), output.format))


@click.group("data")
def data_group():
    """The data sets commands read by default (bundled in the package) and where they are read from."""


@data_group.command("list")
@format_options(*TABLE_FORMATS)
@guarded
def data_list(output):
    """Each data set: what it is, its licence, which commands read it, and the folder read now."""
    rows = api.data()
    fmt = output.format
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
