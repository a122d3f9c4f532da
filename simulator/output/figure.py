"""matplotlib on demand: the pyplot module on the Agg backend, and a figure saved as reproducible bytes.

matplotlib is imported here only, and only when a figure is drawn.
"""
from __future__ import annotations

import io

from ..errors import CostsimError

PLOT_FORMATS = ("png", "svg", "pdf")


def pyplot(fmt: str, field: str = "plot"):
    """matplotlib's pyplot on the Agg backend, imported only when a plot is asked for."""

    if fmt not in PLOT_FORMATS:
        raise CostsimError(f"unknown image format '{fmt}'; use one of {', '.join(PLOT_FORMATS)}", field=field)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CostsimError("plots need matplotlib, a dependency of costsim: pip install matplotlib",
                           field=field) from None
    return plt


# no creator, date or links to matplotlib's site in the files: the same figure gives the same bytes
IMAGE_METADATA = {"svg": {"Creator": None, "Date": None, "Format": None, "Type": None},
                  "png": {"Software": None}, "pdf": {"Creator": None, "Producer": None, "CreationDate": None}}


def save_figure(fig, plt, fmt: str, bottom: float = 0.0) -> bytes:
    """The figure laid out (leaving ``bottom``, a share of its height, to a footnote) and saved as ``fmt``."""
    fig.tight_layout(rect=(0, bottom, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata=IMAGE_METADATA.get(fmt))
    plt.close(fig)
    return buf.getvalue()
