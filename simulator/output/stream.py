"""Sweep rows as text, written piece by piece as a sweep runs (:class:`SweepWriter`) or all at once
(:func:`sweep_text`): CSV, JSON, JSON lines, Markdown or LaTeX."""
from __future__ import annotations

import csv
import io
import json
import re

from ..errors import CostsimError
from .format import csv_text, latex_head, latex_row, latex_tail

SWEEP_FORMATS = ("csv", "json", "jsonl", "markdown", "latex")
# a file's extension and the format written to it (``costsim sweep --out``)
SWEEP_EXTENSIONS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".md": "markdown", ".tex": "latex"}


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


_NUMERIC_NAME = re.compile(r"(_s|_joules|_usd|_kg|_bytes|_fraction|_watts|_flops|_per_kwh|_years|_per_hour)$"
                           r"|^(devices|pue)$")


def _numeric_name(column: str) -> bool:
    """A sweep column holds numbers (right-aligned in LaTeX) when its name carries a unit."""
    return bool(_NUMERIC_NAME.search(column))


class SweepWriter:
    """Rows of a sweep as text in one format, piece by piece: ``head()``, ``rows(batch)`` as they come,
    ``tail()``; so a file written as the sweep runs keeps every finished row if it is cut short."""

    def __init__(self, cols: list[str], fmt: str):
        if fmt not in SWEEP_FORMATS:
            raise CostsimError(f"unknown sweep format '{fmt}'; use one of {', '.join(SWEEP_FORMATS)}", field="fmt")
        self.cols, self.fmt, self.count = cols, fmt, 0

    def head(self) -> str:
        """What comes before the first row: the CSV header, the Markdown header, the LaTeX tabular's head, "["."""
        if self.fmt == "json":
            return "["
        if self.fmt == "csv":
            return csv_text(self.cols, [])
        if self.fmt == "markdown":
            return "| " + " | ".join(self.cols) + " |\n|" + "|".join("---" for _ in self.cols) + "|\n"
        if self.fmt == "latex":
            return latex_head(self.cols, [_numeric_name(c) for c in self.cols])
        return ""

    def rows(self, rows: list[dict]) -> str:
        """The next ``rows`` (dicts keyed by column; a missing key is an empty cell, null in JSON)."""
        if self.fmt == "json":  # one array; ",\n" between rows, as they come
            text = "".join(("," if self.count + i else "") + "\n" + json.dumps({c: r.get(c) for c in self.cols})
                           for i, r in enumerate(rows))
            self.count += len(rows)
            return text
        if self.fmt == "jsonl":
            return "".join(json.dumps({c: r.get(c) for c in self.cols}) + "\n" for r in rows)
        if self.fmt == "csv":
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows([[_cell(r.get(c)) for c in self.cols] for r in rows])
            return buf.getvalue()
        if self.fmt == "markdown":
            return "".join("| " + " | ".join(_cell(r.get(c)).replace("|", "\\|") for c in self.cols) + " |\n"
                           for r in rows)
        return "".join(latex_row([_cell(r.get(c)) for c in self.cols]) for r in rows)

    def tail(self) -> str:
        """What comes after the last row: JSON's closing bracket, the LaTeX tabular's end; else nothing."""
        if self.fmt == "json":
            return "\n]\n"
        return latex_tail() if self.fmt == "latex" else ""


def sweep_text(rows: list[dict], fmt: str = "csv") -> str:
    """A whole sweep's rows as one text (columns from the rows' own keys, in order)."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    w = SweepWriter(cols, fmt)
    return w.head() + w.rows(rows) + w.tail()
