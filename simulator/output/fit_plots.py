"""Figures of the fits: predicted against measured step times, error against compute, cost to reach a target."""
from __future__ import annotations

import math
import re

import numpy as np

from ..analysis.scaling import compute_for_error
from ..errors import CostsimError
from ..units import SECONDS_PER_MINUTE
from . import human, plots
from .figure import pyplot, save_figure


def _diagonal(ax, values, bands, quantity: str, title: str) -> None:
    """Finish a predicted-against-measured scatter: log-log axes over ``values``, the y = x line and the
    ``bands`` (ratios) dashed, labels naming ``quantity``, the title, legend and grid."""
    lo, hi = min(values) / 1.5, max(values) * 1.5
    ax.plot([lo, hi], [lo, hi], color="black", lw=1, label="predicted = measured")
    for f in bands:
        ax.plot([lo, hi], [lo * f, hi * f], color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(f"measured {quantity}")
    ax.set_ylabel(f"predicted {quantity}")
    ax.set_title(title)
    ax.legend(loc="upper left")
    ax.grid(True, which="both", alpha=0.3)


def validation_scatter(report, fmt: str = "png") -> bytes:
    """Predicted against measured step time, log-log, with the y = x line, as an image in ``fmt``."""
    plt = pyplot(fmt)
    pts = [(r.measured_step_time_s, r.predicted_step_time_s) for r in report.results
           if r.predicted_step_time_s is not None]
    if not pts:
        raise CostsimError("no run could be estimated: nothing to plot", field="plot")
    fig, ax = plt.subplots(figsize=(6.4, 6.0), dpi=120)
    xs, ys = zip(*pts)
    ax.scatter(xs, ys, s=14, alpha=0.7, label=f"{len(pts)} runs")
    s = report.summary
    mape = f", MAPE {s.step_time_mape_fraction:.1%}" if s.step_time_mape_fraction is not None else ""
    _diagonal(ax, xs + ys, (0.8, 1.25), "step time (s)", f"{report.name}: predicted against measured{mape}")
    return save_figure(fig, plt, fmt)


def mlperf_scatter(report, fmt: str = "png") -> bytes:
    """The MLPerf suite: predicted against measured time to train (minutes, log-log), one colour per
    benchmark, with the y = x line and the +-25% lines."""
    plt = pyplot(fmt)
    done = [p for p in report.predictions if p.predicted_time_s is not None]
    if not done:
        raise CostsimError("no score could be estimated: nothing to plot", field="plot")
    fig, ax = plt.subplots(figsize=(6.4, 6.0), dpi=120)
    minute = SECONDS_PER_MINUTE
    for bench in sorted({p.benchmark for p in done}):
        pts = [(p.measured_time_s / minute, p.predicted_time_s / minute) for p in done if p.benchmark == bench]
        ax.scatter(*zip(*pts), s=14, alpha=0.7, label=f"{bench} ({len(pts)})")
    values = [p.measured_time_s / minute for p in done] + [p.predicted_time_s / minute for p in done]
    _diagonal(ax, values, (0.75, 1.25), "time to train (min)",
              f"MLPerf Training: MAPE {report.overall.mape_fraction:.1%} over {len(done)} scores")
    return save_figure(fig, plt, fmt)


def scaling_plot(points, fit, targets=(), fmt: str = "png") -> bytes:
    """A benchmark's models (error against compute, log-log), the fitted line with its 95% band, and the
    targets' projected compute. Error in per cent, compute in FLOP; each target marked with its compute."""


    plt = pyplot(fmt, "plot_dir")
    pct, unit = human.axis_unit("fraction", [])
    with plt.rc_context(plots.STYLE):
        fig, ax = plt.subplots(figsize=plots.FIGSIZE, dpi=plots.DPI)
        xs = np.array([p.compute_flops for p in points])
        ys = np.array([p.error_fraction for p in points])
        ax.scatter(xs, ys / pct, s=18, alpha=0.7, label=f"{len(points)} models")
        lo = math.log10(xs.min())
        found = [(t, compute_for_error(fit, t, True)) for t in targets]
        hi = max([math.log10(xs.max())] + [math.log10(c.compute_flops) for _, c in found])
        u = np.linspace(lo, hi, 200)
        line = fit.intercept + fit.slope * u
        half = fit.t_critical * fit.residual_std * np.sqrt(1 / fit.n + (u - fit.mean_log10_compute) ** 2 / fit.sxx)
        to_err = (lambda y: 10 ** y) if fit.model == "polynomial" else (lambda y: y)
        ax.plot(10 ** u, to_err(line) / pct, color="C1", label=f"{fit.model} fit, k = {human.number(fit.exponent_k)}")
        ax.fill_between(10 ** u, to_err(line - half) / pct, to_err(line + half) / pct, color="C1", alpha=0.2,
                        label="95% band")
        for t, c in found:
            ax.axhline(t / pct, color="grey", lw=0.8, ls="--")
            ax.plot([c.compute_flops], [t / pct], marker="x", color="black")
            ax.annotate(f"{human.fraction(t)} error: {human.flops(c.compute_flops)}", (c.compute_flops, t / pct),
                        textcoords="offset points", xytext=(-10, 6), ha="right", fontsize=10)
        ax.set_xscale("log")
        plots.log_scale(ax, "y", list(ys / pct) + [t / pct for t, _ in found])
        ax.set_xlabel(f"compute: {fit.compute_measure.replace('_', ' ')} (FLOP)")
        ax.set_ylabel(f"{fit.metric} ({unit})")
        ax.set_title(f"{fit.benchmark}: {fit.metric} ({unit}) against compute (FLOP), {fit.subset} models")
        ax.legend(loc="lower left")
        ax.grid(True, which="both", alpha=0.3)
        return save_figure(fig, plt, fmt)


def cost_plot(priced, fmt: str = "png") -> bytes:
    """The dollars to reach each target on each device, as points on a log axis with the fit's 95% interval
    as error bars (no bars: a bar's length means nothing on a log axis); a device with no price is named at
    the foot, with the reason."""

    plt = pyplot(fmt, "plot_dir")
    shown = [p for p in priced if not p.problem and p.cost_usd]
    if not shown:
        raise CostsimError("no device could be priced: nothing to plot", field="plot_dir")
    labels = list(dict.fromkeys(p.label for p in shown))
    devices = list(dict.fromkeys(p.hardware for p in shown))
    def why(problem):  # the reason in a few words: no field in front, no advice after
        return re.sub(r"^[\w.]+: ", "", problem).split(";")[0].split(": set")[0].rstrip(".")

    left_out = {f"{p.hardware} ({why(p.problem)})": None for p in priced if p.problem and p.hardware not in devices}
    scale, unit = human.axis_unit("usd", [min(p.cost_low_usd or p.cost_usd for p in shown)])
    with plt.rc_context(plots.STYLE):
        fig, ax = plt.subplots(figsize=(min(12.0, max(plots.FIGSIZE[0], 0.6 * len(devices))), plots.FIGSIZE[1]),
                               dpi=plots.DPI)
        width = 0.6 / max(len(labels), 1)
        for i, label in enumerate(labels):
            rows = {p.hardware: p for p in shown if p.label == label}
            at = [d for d in devices if d in rows]
            x = [devices.index(d) - 0.3 + width * (i + 0.5) for d in at]
            y = [rows[d].cost_usd / scale for d in at]
            err = [[(rows[d].cost_usd - (rows[d].cost_low_usd or rows[d].cost_usd)) / scale for d in at],
                   [((rows[d].cost_high_usd or rows[d].cost_usd) - rows[d].cost_usd) / scale for d in at]]
            ax.errorbar(x, y, yerr=err, fmt="o", capsize=3, markersize=6, label=plots.escape(label),
                        gid=f"cost-{i}")
        plots.log_scale(ax, "y", [p.cost_usd / scale for p in shown] +
                         [(p.cost_high_usd or p.cost_usd) / scale for p in shown])
        ax.set_ylabel(f"cost to reach the target ({unit})")
        ax.set_title("cost of reaching each target, by device (error bars: the fit's 95% interval)")
        if len(labels) > 1:
            ax.legend(loc="best")
        ax.grid(True, axis="y", which="both", alpha=0.3)
        ax.set_xlim(-0.6, len(devices) - 0.4)
        bottom = plots.footnote(fig, list(left_out))
        plots.fit_ticks(fig, ax, list(range(len(devices))), devices, bottom=bottom)
        return save_figure(fig, plt, fmt, bottom)
