"""Published data sets read column by column: CSV rows as strings (Thompson et al.'s tables, the MIT
FutureTech processor tables, vTrain's measurements) and their cells as numbers."""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from ..errors import CostsimError
from .loader import read_text, where
from .records import csv_header


def cell_number(cell, positive: bool = False) -> float | None:
    """A published table's cell as a finite number (thousands separators allowed), or None for a blank
    or junk cell ('', 'n/a', '-', '12 GB'); with ``positive``, None for zero and negatives too."""
    try:
        value = float(str(cell).replace(",", "").strip())
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value) or (positive and value <= 0):
        return None
    return value


def load_csv_raw(path: str | Path) -> list[dict]:
    """Rows of a CSV file as strings (never read as YAML), for suites that read published data sets
    column by column; a column named twice is an error naming it (a reader keyed by name would keep
    the last one silently)."""
    try:
        reader = csv.DictReader(io.StringIO(read_text(path)))
        if reader.fieldnames is not None:
            csv_header(list(reader.fieldnames), where(path))
        return list(reader)
    except csv.Error as err:
        raise CostsimError(f"not CSV: {err}", source=where(path)) from None


def load_thompson(path: str | Path) -> list[dict]:
    """Rows of one CSV of Thompson et al.'s data set as string dicts: a header line, then two lines of
    group labels (skipped), then data rows. Blank rows are dropped; a row with more cells than the
    header, or a file without the three header lines, is a one-line error naming the file."""
    rows = load_csv_raw(path)
    if len(rows) < 2:
        raise CostsimError("expected a header line and two lines of group labels", source=where(path))
    data = [row for row in rows[2:] if any((v or "").strip() for k, v in row.items() if k is not None)]
    for number, row in enumerate(data, 1):
        if None in row:
            raise CostsimError(f"data row {number}: more cells than the header has columns", source=where(path))
    if not data:
        raise CostsimError("no data rows", source=where(path))
    return data
