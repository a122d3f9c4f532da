"""Table primitives: the columns an estimate table can show (:data:`COLUMNS`, ``--columns``), the plain text,
Markdown, CSV and LaTeX renderers, and the footnotes a table needs. Returns strings, prints nothing."""
from __future__ import annotations

import csv
import io
import json
import textwrap
from typing import NamedTuple

from ..errors import CostsimError
from . import human


class Column(NamedTuple):
    """A column of an estimate or comparison table. ``key``: the JSON/CSV field (SI, unit in the name);
    ``kind``: how a person reads it (a :mod:`simulator.output.human` kind, or text, number, count, micro)."""
    key: str
    title: str
    kind: str


# every scalar field of an Estimate, and of a comparison row, that a table can show (--columns)
COLUMNS = {c.key: c for c in (
    Column("hardware", "hardware", "text"),
    Column("workload", "workload", "text"),
    Column("devices", "devices", "count"),
    Column("plan", "plan", "text"),
    Column("batch_per_device", "batch/device", "number"),
    Column("micro_batch_size", "micro-batch", "micro"),
    Column("steps", "steps", "number"),
    Column("step_time_s", "step", "time"),
    Column("total_time_s", "total time", "time"),
    Column("device_hours", "device-hours", "number"),
    Column("tokens_per_s", "tokens/s", "number"),
    Column("images_per_s", "images/s", "number"),
    Column("samples_per_s", "samples/s", "number"),
    Column("model_flops_per_step", "model FLOP/step", "flops"),
    Column("executed_flops_per_step", "executed FLOP/step", "flops"),
    Column("achieved_flops_per_s", "achieved", "flops_per_s"),
    Column("mfu_fraction", "MFU", "fraction"),
    Column("device_energy_per_step_joules", "energy/step", "energy"),
    Column("average_device_power_watts", "power/device", "power"),
    Column("device_energy_joules", "device energy", "energy"),
    Column("host_energy_joules", "host energy", "energy"),
    Column("facility_overhead_joules", "facility energy", "energy"),
    Column("energy_joules", "energy", "energy"),
    Column("cost_usd", "cost", "usd"),
    Column("pricing", "pricing", "text"),
    Column("co2_kg", "CO2", "co2"),
    Column("peak_memory_bytes", "memory", "bytes"),
    Column("memory_capacity_bytes", "capacity", "bytes"),
    Column("communication_hidden_s", "hidden comm", "time"),
    Column("problem", "not estimated", "text"),
)}
# what a person sees by default (it fits a terminal), and what CSV holds by default
DISPLAY_COLUMNS = ("hardware", "step_time_s", "total_time_s", "mfu_fraction", "energy_joules", "cost_usd", "pricing",
                   "co2_kg", "peak_memory_bytes", "micro_batch_size")
CSV_COLUMNS = ("hardware", "step_time_s", "total_time_s", "samples_per_s", "mfu_fraction",
               "average_device_power_watts", "energy_joules", "cost_usd", "pricing", "co2_kg", "peak_memory_bytes",
               "micro_batch_size", "batch_per_device", "problem")
TABLE_FORMATS = ("table", "json", "csv", "markdown", "latex")
PRICING_NOTES = {
    "cloud": "cloud = rental per device-hour (electricity included)",
    "owned": "owned = purchase price amortised over the hardware's lifetime, plus electricity",
    "electricity": "electricity = electricity alone (the device has neither a purchase nor a cloud price)",
}
NOTE_WIDTH = 100


def parse_columns(text: str | None, what: str = "compare") -> tuple[str, ...] | None:
    """``a,b,c`` (the JSON/CSV field names) to a column tuple; an unknown name is one line listing the valid
    ones. ``what``: 'compare' (hardware and problem too) or 'estimate'."""
    if text is None:
        return None
    valid = [k for k in COLUMNS if what == "compare" or k != "problem"]
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise CostsimError(f"names no column; valid: {', '.join(valid)}", field="columns")
    for n in names:
        if n not in valid:
            raise CostsimError(f"unknown column '{n}'; valid: {', '.join(valid)}", field="columns")
    return names


def _numeric(kind: str) -> bool:
    return kind != "text"


def _cell_text(col: Column, d: dict) -> str:
    """A cell as a person reads it: human units, chosen per value."""
    v = d.get(col.key)
    if v is None:
        return human.MISSING
    if col.kind == "text":
        return str(v)
    if col.kind == "count":
        return f"{v:,}"
    if col.kind == "micro":
        batch = d.get("batch_per_device")
        return f"{v:g} of {batch:g}" if batch is not None and batch != v else f"{v:g}"
    if col.kind == "number":
        return human.number(v)
    if col.kind == "co2":
        return human.co2_kg(v).removesuffix(" CO2")  # the header says CO2
    return human.FORMATTERS[col.kind](v)


def _header_unit(col: Column, values: list) -> tuple[float, str]:
    """One unit for a whole LaTeX column: (scale, header)."""
    if col.kind in human.FORMATTERS:
        scale, unit = human.axis_unit(col.kind, values)
        unit = unit.removesuffix(" CO2")
        return scale, f"{col.title} ({unit})"
    return 1.0, col.title


def _align_line(numeric: list[bool]) -> str:
    return "|" + "|".join("---:" if n else "---" for n in numeric) + "|"


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped."""
    return "".join(_LATEX.get(ch, ch) for ch in text)


def latex_table(headers: list[str], rows: list[list[str]], numeric: list[bool], notes: list[str] = ()) -> str:
    """The one LaTeX renderer: a booktabs tabular (\\toprule, \\midrule, \\bottomrule), numbers
    right-aligned. ``headers`` and text cells are escaped here; a row of one cell spans the table.
    ``notes`` follow as LaTeX comments, for the caption."""
    out = [latex_head(headers, numeric)]
    for r in rows:
        if len(r) == 2 and r[1].startswith("\\multicolumn"):  # a not-estimated row, escaped already
            out.append(latex_escape(r[0]) + " & " + r[1] + " \\\\\n")
        else:
            out.append(latex_row(r))
    out.append(latex_tail())
    return "".join(out) + "".join(f"% {n}\n" for n in notes)


def latex_head(headers: list[str], numeric: list[bool]) -> str:
    """A booktabs tabular's opening and its header row (escaped); ``numeric`` columns right-aligned."""
    return ("\\begin{tabular}{" + "".join("r" if n else "l" for n in numeric) + "}\n\\toprule\n"
            + " & ".join(latex_escape(h) for h in headers) + " \\\\\n\\midrule\n")


def latex_row(cells: list[str]) -> str:
    """One LaTeX table row, its cells escaped."""
    return " & ".join(latex_escape(c) for c in cells) + " \\\\\n"


def latex_tail() -> str:
    """A booktabs tabular's closing lines."""
    return "\\bottomrule\n\\end{tabular}\n"


def column_table(records: list[dict], columns, fmt: str, notes: list[str] = (), problems: dict | None = None) -> str:
    """Rows of plain estimate fields (``records``) in the chosen ``columns`` as ``fmt``: text and Markdown in
    human units, LaTeX with one unit per column in its header, CSV and JSON in SI. ``problems``: row index
    to the short reason a row was not estimated (its other cells stay empty)."""
    cols = [COLUMNS[k] for k in columns]
    problems = problems or {}
    if fmt == "json":
        return json.dumps([{c.key: r.get(c.key) for c in cols} for r in records], indent=2, allow_nan=False)
    if fmt == "csv":
        return csv_text([c.key for c in cols], [["" if r.get(c.key) is None else r.get(c.key) for c in cols]
                                                for r in records])
    numeric = [_numeric(c.kind) for c in cols]
    if fmt == "latex":
        units = [_header_unit(c, [r.get(c.key) for i, r in enumerate(records) if i not in problems
                                  and c.kind in human.FORMATTERS]) for c in cols]
        rows = []
        for i, r in enumerate(records):
            if i in problems and len(cols) > 1:
                rows.append([str(r.get(cols[0].key, "")), f"\\multicolumn{{{len(cols) - 1}}}{{l}}"
                                                          f"{{not estimated: {latex_escape(problems[i])}}}"])
                continue
            rows.append([human.MISSING if r.get(c.key) is None else
                         human.number(r[c.key] / scale) if c.kind in human.FORMATTERS else _cell_text(c, r)
                         for c, (scale, _) in zip(cols, units)])
        return latex_table([h for _, h in units], rows, numeric, notes)
    headers = [c.title for c in cols]
    display = []
    for i, r in enumerate(records):
        if i in problems:  # markdown: the reason in the second cell; text: spanning the row (below)
            first = str(r.get(cols[0].key, ""))
            rest = [f"not estimated: {problems[i]}" if fmt == "markdown" else ""] + [""] * (len(cols) - 2)
            display.append([first] + rest[:len(cols) - 1])
            continue
        display.append([_cell_text(c, r) for c in cols])
    if fmt == "markdown":
        table = markdown_table(headers, display, numeric)
        return table + ("\n\n" + "\n".join(f"- {n}" for n in notes) if notes else "")
    lines = text_table(headers, display, numeric).split("\n")
    width = len(lines[1].split("  ")[0])  # the first column's
    for i in problems:
        lines[2 + i] = f"{str(records[i].get(cols[0].key, '')).ljust(width)}  not estimated: {problems[i]}"
    notes = [textwrap.fill(n, NOTE_WIDTH, subsequent_indent="  ") for n in notes]
    return "\n".join(lines) + ("\n\n" + "\n".join(notes) if notes else "")


def table_notes(records: list[dict], columns) -> list[str]:
    """Footnotes a reader needs: how costs were priced when rows mix pricings, and what 'm of b' means."""
    notes = []
    pricings = list(dict.fromkeys(r["pricing"] for r in records if r.get("pricing")))
    if "cost_usd" in columns and len(pricings) > 1:
        notes.append("cost: the rows are priced differently (see pricing): "
                     + "; ".join(PRICING_NOTES.get(p, p) for p in pricings))
    elif "cost_usd" in columns and pricings == ["electricity"]:
        notes.append("cost: " + PRICING_NOTES["electricity"])
    if "micro_batch_size" in columns and any(r.get("micro_batch_size") is not None and r.get("batch_per_device")
                                             not in (None, r["micro_batch_size"]) for r in records):
        notes.append("micro-batch 'm of b': each data-parallel replica's b samples run as b/m micro-batches "
                     "of m (gradient accumulation, or a pipeline's micro-batches)")
    return notes


def short_number(v) -> str:
    """A table cell's number: three significant figures, with thousands separators from 100 to a million
    ("1,234"); "-" for None, a string as it is."""
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e6 or a < 1e-3:
        return f"{v:.3g}"
    if a >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def text_table(headers: list[str], rows: list[list[str]], numeric: bool | list[bool] = True) -> str:
    """A plain-text table; ``numeric``: right-align every column but the first (True), none (False), or
    the columns marked in a list."""
    widths = [max(len(h), *(len(r[i]) for r in rows if i < len(r))) if rows else len(h)
              for i, h in enumerate(headers)]
    right = numeric if isinstance(numeric, list) else [bool(i and numeric) for i in range(len(headers))]

    def line(cells):
        return "  ".join(c.rjust(w) if right[i] else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def markdown_table(headers: list[str], rows: list[list[str]], numeric: list[bool] | None = None) -> str:
    """A Markdown table; ``numeric`` columns right-aligned (``---:``)."""
    out = ["| " + " | ".join(headers) + " |", _align_line(numeric or [False] * len(headers))]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def csv_text(headers: list[str], rows: list[list]) -> str:
    """CSV text: the header line, then the rows (lines end in a bare newline)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(headers)
    w.writerows(rows)
    return buf.getvalue()


def render_rows(headers, display_rows, raw_headers, raw_rows, fmt: str) -> str:
    """One table in ``fmt``: CSV from the raw headers and rows (SI), Markdown or plain text from the display ones."""
    if fmt == "csv":
        return csv_text(raw_headers, raw_rows)
    if fmt == "markdown":
        return markdown_table(headers, display_rows)
    return text_table(headers, display_rows)
