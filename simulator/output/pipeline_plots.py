"""The pipeline timeline of one training step: one row per stage, each forward and backward pass of each
micro-batch a bar over time, the idle gaps (the bubble) left blank."""
from __future__ import annotations

import textwrap

from .figure import pyplot, save_figure
from .plots import DPI, FIELD, STYLE, escape, fail, finite, plain_tick

PHASE_COLOURS = {"F": (0.30, 0.45, 0.69), "B": (0.87, 0.52, 0.32)}  # forward blue, backward orange
PHASE_WORDS = {"F": "forward", "B": "backward"}
LIGHTEST = 0.6  # the last chunk's shade: this share of the way from the phase's colour to white
WIDTH_IN = 10.0
ROW_IN = 0.45  # inches of figure height per stage, within MIN_HEIGHT_IN..MAX_HEIGHT_IN
MIN_HEIGHT_IN, MAX_HEIGHT_IN = 3.5, 12.0
LABEL_PT = 10  # micro-batch numbers, where a bar is wide and tall enough for them


def _shade(phase: str, chunk: int, vp: int) -> tuple[float, float, float]:
    """The phase's colour, lighter for each later chunk."""
    mix = LIGHTEST * chunk / (vp - 1) if vp > 1 else 0.0
    return tuple(c + (1.0 - c) * mix for c in PHASE_COLOURS[phase])


def _check_passes(passes, pp: int, vp: int) -> None:
    if not passes:
        fail("no passes to draw")
    for n, p in enumerate(passes):
        if getattr(p, "phase", None) not in PHASE_COLOURS:
            fail(f"pass {n} must have a phase F or B")
        if not (0 <= p.stage < pp and 0 <= p.chunk < vp):
            fail(f"pass {n} has stage {p.stage} and chunk {p.chunk}, outside pp = {pp}, vp = {vp}")
        if finite(p.end_s, f"pass {n} end") < finite(p.start_s, f"pass {n} start"):
            fail(f"pass {n} ends before it starts")


def pipeline_plot(passes, pp: int, vp: int = 1, fmt: str = "png", title: str | None = None) -> bytes:
    """The timeline of ``passes`` (each with stage, chunk, micro_batch, phase "F"/"B", start_s, end_s, as
    ``simulator.cluster.timeline.schedule`` gives) over ``pp`` stages of ``vp`` chunks: one row per stage,
    the first on top; forward bars blue, backward orange, each later chunk a lighter shade; each bar's
    micro-batch number (counted from 1) written inside it where it fits; the x axis in seconds. Gids in
    SVG: ``pass-<F|B>-<stage>-<chunk>`` (all of one stage's bars of that phase and chunk)."""
    _check_passes(passes, pp, vp)
    plt = pyplot(fmt, FIELD)
    from matplotlib.patches import Patch

    start = min(p.start_s for p in passes)
    span = max(p.end_s for p in passes) - start
    height = min(MAX_HEIGHT_IN, max(MIN_HEIGHT_IN, ROW_IN * pp + 2.0))
    groups: dict[tuple[str, int, int], list] = {}
    for p in passes:
        groups.setdefault((p.phase, p.stage, p.chunk), []).append(p)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(WIDTH_IN, height), dpi=DPI)
        for (phase, stage, chunk), bars in sorted(groups.items()):
            ax.broken_barh([(b.start_s - start, b.end_s - b.start_s) for b in bars], (stage - 0.4, 0.8),
                           facecolors=_shade(phase, chunk, vp), edgecolors="white", linewidths=0.3,
                           gid=f"pass-{phase}-{stage}-{chunk}")
        ax.set_xlim(0, span or 1.0)
        ax.set_ylim(pp - 0.5, -0.5)  # the first stage on top
        ax.set_yticks(range(pp))
        ax.set_yticklabels([f"stage {i + 1}" for i in range(pp)])
        ax.set_xlabel("time (s)")
        ax.xaxis.set_major_formatter(plt.FuncFormatter(plain_tick))
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_axisbelow(True)
        handles = [Patch(facecolor=_shade(ph, c, vp), label=PHASE_WORDS[ph] + (f", chunk {c + 1}" if vp > 1 else ""))
                   for ph in PHASE_COLOURS for c in range(vp)]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14 * 5.6 / height),
                  ncol=min(len(handles), 4), frameon=False)
        ax.set_title(escape("\n".join(textwrap.wrap(title, 90))) if title else f"pipeline of {pp} stages")
        fig.tight_layout()
        _label_bars(fig, ax, passes, start, vp)
        return save_figure(fig, plt, fmt)


def _label_bars(fig, ax, passes, start: float, vp: int) -> None:
    """Each bar's micro-batch number inside it, where the laid-out bar is wide and tall enough."""
    renderer = fig.canvas.get_renderer()
    (x0, y0), (x1, y1) = ax.transData.transform([(0.0, 0.0), (1.0, 0.8)])
    px_per_s, bar_px = abs(x1 - x0), abs(y1 - y0)
    probe = fig.text(0, 0, "0", fontsize=LABEL_PT)
    box = probe.get_window_extent(renderer)
    probe.remove()
    if box.height * 1.2 > bar_px:
        return
    for p in passes:
        text = str(p.micro_batch + 1)
        if (p.end_s - p.start_s) * px_per_s < box.width * (len(text) + 0.8):
            continue
        light = vp > 1 and p.chunk / (vp - 1) > 0.5
        ax.text((p.start_s + p.end_s) / 2 - start, p.stage, text, ha="center", va="center", fontsize=LABEL_PT,
                color="black" if light else "white", clip_on=True)
