"""Measurement records and rows files: the JSON-lines microbenchmark records a calibration fits on,
checked kind by kind (SI units, required fields, positive times), and the CSV or JSON-lines rows of a
validation file."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from ..errors import CostsimError
from .loader import parse_yaml_text, read_text, where

# Required fields per kind of record, in the format of ../shared/calibration/h200/*.jsonl. Times are
# seconds, sizes bytes, rates per second, power watts, energy joules.
MEASUREMENT_FIELDS = {
    "gemm": ("dtype", "m", "n", "k", "seconds"),
    "copy": ("bytes_moved", "seconds", "bytes_per_s"),
    "read_reduce": ("bytes_moved", "seconds", "bytes_per_s"),
    "elementwise_add": ("bytes_moved", "seconds", "bytes_per_s"),
    "triad": ("bytes_moved", "seconds", "bytes_per_s"),
    "launch_overhead": ("seconds_per_call",),
    "idle_power": ("seconds", "mean_watts"),
    "power_regime": ("regime", "seconds", "mean_watts"),
    "attention": ("batch", "heads", "seq", "head_dim", "fwd_flops", "fwd_seconds", "fwd_bwd_seconds"),
    "conv2d": ("batch", "c_in", "c_out", "hw_in", "kernel", "stride", "fwd_flops", "fwd_seconds",
               "fwd_bwd_seconds"),
    "pointwise": ("op", "elements", "fwd_seconds"),
    "loss": ("tokens", "vocab", "fwd_seconds", "fwd_bwd_seconds"),
    "embedding": ("tokens", "vocab", "d", "fwd_bwd_seconds"),
    "optimizer": ("op", "params", "seconds"),
}
_NOT_SI = re.compile(r"(_|^)(ms|us|ns|millis|micros|milliseconds|microseconds|gb|gib|mb|tflops|gflops|kw|mw)($|_)")


def _check_record(row: dict, where: str, field_prefix: str) -> None:
    kind = row.get("kind")
    if not isinstance(kind, str):
        raise CostsimError("missing 'kind'", source=where, field=field_prefix + "kind")
    for key, value in row.items():
        if _NOT_SI.search(key.lower()):
            raise CostsimError(f"units do not match the format: '{key}' is not in SI units (seconds, bytes, "
                               f"FLOP/s, watts)", source=where, field=field_prefix + key)
    for key in MEASUREMENT_FIELDS.get(kind, ()):
        if key not in row:
            raise CostsimError(f"missing column for kind '{kind}'", source=where, field=field_prefix + key)
    for key, value in row.items():
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if numeric and (key.endswith(("seconds", "seconds_per_call", "bytes_moved", "bytes_per_s", "flops",
                                      "flops_per_s")) or key in ("m", "n", "k")) and not value > 0:
            raise CostsimError(f"must be positive, got {value!r}", source=where, field=field_prefix + key)
    if kind == "gemm" and row.get("flops") and row.get("flops_per_s"):
        if abs(row["flops"] / row["seconds"] / row["flops_per_s"] - 1) > 0.01:
            raise CostsimError("units do not match the format: flops / seconds != flops_per_s",
                               source=where, field=field_prefix + "flops_per_s")


def _json_lines(path: Path, text: str) -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line; a one-line error naming the line otherwise."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise CostsimError(f"not JSON: {err.msg}", source=f"{path}:{number}") from None
        if not isinstance(row, dict):
            raise CostsimError("expected one JSON object per line", source=f"{path}:{number}")
        out.append((number, row))
    return out


def load_measurements(path: str | Path) -> list[dict]:
    """Read a JSON-lines measurement file and check every record; one-line error naming file and line."""
    path = Path(path)
    records = []
    for number, row in _json_lines(path, read_text(path)):
        _check_record(row, f"{path}:{number}", "")
        row.setdefault("run", path.stem)
        records.append(row)
    if not records:
        raise CostsimError("no measurement records", source=where(path))
    return records


# ---------------------------------------------------------------- validation files
def load_rows(path: str | Path) -> list[dict]:
    """Rows of a CSV (header line; cells read as YAML scalars, so numbers are numbers) or JSON-lines file."""
    path = Path(path)
    text = read_text(path)
    rows = []
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        rows = [row for _, row in _json_lines(path, text)]
    else:
        reader = csv.DictReader(io.StringIO(text))
        for number, row in enumerate(reader, 2):
            if None in row:
                raise CostsimError("more cells than the header has columns", source=f"{path}:{number}")
            rows.append({k.strip(): (parse_yaml_text(v, f"{path}:{number}") if v and v.strip() else None)
                         for k, v in row.items()})
    if not rows:
        raise CostsimError("no rows", source=where(path))
    return rows


def find_files(folder: str | Path, pattern: str) -> list[Path]:
    """The files in ``folder`` matching ``pattern``, sorted; ``folder`` itself if it is a file."""
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    return sorted(folder.glob(pattern)) if folder.is_dir() else []
