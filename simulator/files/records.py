"""Measurement records and rows files: the JSON-lines microbenchmark records a calibration fits on,
checked kind by kind (SI units, required fields, positive times), and the CSV or JSON-lines rows of a
validation file."""
from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

from ..errors import CostsimError
from .loader import read_text, where

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
    "sparse_2_4": ("dtype", "m", "n", "k", "dense_seconds", "sparse_seconds"),
    "low_rank": ("m", "n", "k", "rank", "speedup"),
    "train": ("model", "batch", "seq", "step_seconds"),
}
STREAM_KINDS = ("copy", "read_reduce", "elementwise_add", "triad")
_NOT_SI = re.compile(r"(_|^)(ms|us|ns|millis|micros|milliseconds|microseconds|gb|gib|mb|tflops|gflops|kw|mw)($|_)")
# The data types a record may name: costsim's, PyTorch's and numpy's spellings.
DTYPE_NAMES = frozenset({
    "fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "fp8_e4m3", "fp8_e5m2", "int8", "int4",
    "float64", "float32", "bfloat16", "float16", "float8_e4m3fn", "float8_e5m2",
    *(f"torch.{t}" for t in ("float64", "float32", "bfloat16", "float16", "float8_e4m3fn", "float8_e5m2", "int8")),
})
SPARSE_DTYPE_NAMES = ("float16", "bfloat16", "torch.float16", "torch.bfloat16", "fp16", "bf16")
TEXT_FIELDS = ("kind", "dtype", "regime", "op", "run", "what", "model")
_COUNTS = frozenset({"m", "n", "k", "batch", "heads", "seq", "head_dim", "c_in", "c_out", "hw_in", "kernel",
                     "stride", "elements", "tokens", "vocab", "d", "params", "calls", "rank", "rounds"})
_MEASURES = ("seconds", "seconds_per_call", "_bytes", "bytes_moved", "bytes_per_s", "flops", "flops_per_s",
             "watts", "joules", "speedup", "ratio")
# Bounds a record must lie within (docs/calibration.md): a record outside them is a typo or a unit
# slip, and one such record can pull a whole curve (a GEMM of 1e308 s made a profile 285x too slow).
MAX_RECORD_SECONDS = 3600.0  # one timed window; microbenchmarks take microseconds to seconds
FLOPS_PER_S_RANGE = (1e6, 1e18)  # implied by a record's work over its time: 1 MFLOP/s to 1 EFLOP/s
BYTES_PER_S_RANGE = (1e6, 1e16)  # 1 MB/s to 10 PB/s (an H200 streams 4.8e12)
MAX_WATTS = 1e5  # one device's draw
CONSISTENT_FRACTION = 0.01  # a rate stated beside its work and time agrees with their ratio to 1%


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_types(row: dict, where: str, prefix: str) -> None:
    """Text fields are text; measured figures and counts are finite positive numbers, counts whole (None
    stands for an optional figure not known, such as an unknown cache size)."""
    required = MEASUREMENT_FIELDS.get(row["kind"], ())
    for key, value in row.items():
        if value is None and key not in required and key not in TEXT_FIELDS:  # a run or a kind is never unknown
            continue
        if key in TEXT_FIELDS and not isinstance(value, str):
            raise CostsimError(f"must be text, got {value!r}", source=where, field=prefix + key)
        measured = key in _COUNTS or key.endswith(_MEASURES)
        if not measured:
            continue
        if not _is_number(value):
            raise CostsimError(f"must be a number, got {value!r} ({type(value).__name__}); write numbers "
                               f"unquoted", source=where, field=prefix + key)
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 1000:
            raise CostsimError(f"an integer of {len(str(value))} digits is out of range", source=where,
                               field=prefix + key)
        if not (math.isfinite(value) and value > 0):
            raise CostsimError(f"must be positive and finite, got {value!r}", source=where, field=prefix + key)
        if key in _COUNTS and not float(value).is_integer():
            raise CostsimError(f"must be a whole number, got {value!r}", source=where, field=prefix + key)
        if (key.endswith("seconds") or key == "seconds_per_call") and value > MAX_RECORD_SECONDS:
            raise CostsimError(f"{value:.3g} s is not a plausible microbenchmark time (at most "
                               f"{MAX_RECORD_SECONDS:g} s per record)", source=where, field=prefix + key)
        if key.endswith("watts") and value > MAX_WATTS:
            raise CostsimError(f"{value:.3g} W is not a plausible device power (at most {MAX_WATTS:g} W)",
                               source=where, field=prefix + key)


def _check_rate(rate: float, bounds: tuple[float, float], unit: str, what: str, where: str, field: str) -> None:
    lo, hi = bounds
    if not lo <= rate <= hi:
        raise CostsimError(f"{what} is {rate:.3g} {unit}, outside any device's {lo:g} to {hi:g} {unit}: check "
                           f"the figures and their units", source=where, field=field)


def _agrees(stated: float, derived: float) -> bool:
    return abs(stated / derived - 1) <= CONSISTENT_FRACTION


def _check_consistency(row: dict, kind: str, where: str, prefix: str) -> None:
    """Rates stated beside their work and time agree with them, and the rates are physically plausible."""
    if kind == "gemm":
        work = 2.0 * row["m"] * row["n"] * row["k"]
        if "flops" in row and not _agrees(row["flops"], work):
            raise CostsimError(f"flops ({row['flops']:.6g}) is not 2 x m x n x k ({work:.6g})", source=where,
                               field=prefix + "flops")
        if "flops_per_s" in row and not _agrees(row["flops_per_s"], work / row["seconds"]):
            raise CostsimError("units do not match the format: flops / seconds != flops_per_s",
                               source=where, field=prefix + "flops_per_s")
        _check_rate(work / row["seconds"], FLOPS_PER_S_RANGE, "FLOP/s", "2 x m x n x k / seconds", where,
                    prefix + "seconds")
    elif kind in STREAM_KINDS:
        rate = row["bytes_moved"] / row["seconds"]
        if not _agrees(row["bytes_per_s"], rate):
            raise CostsimError(f"bytes_per_s ({row['bytes_per_s']:.6g}) disagrees with bytes_moved / seconds "
                               f"({rate:.6g})", source=where, field=prefix + "bytes_per_s")
        _check_rate(rate, BYTES_PER_S_RANGE, "B/s", "bytes_moved / seconds", where, prefix + "seconds")
    elif kind in ("attention", "conv2d"):
        for time in ("fwd_seconds",) + (("fwd_bwd_seconds",) if "fwd_bwd_flops" not in row else ()):
            _check_rate(row["fwd_flops"] / row[time], FLOPS_PER_S_RANGE, "FLOP/s", f"fwd_flops / {time}", where,
                        prefix + time)
        if "fwd_bwd_flops" in row:
            _check_rate(row["fwd_bwd_flops"] / row["fwd_bwd_seconds"], FLOPS_PER_S_RANGE, "FLOP/s",
                        "fwd_bwd_flops / fwd_bwd_seconds", where, prefix + "fwd_bwd_seconds")
    for key in ("flops_per_s", "bytes_per_s"):
        if key in row:
            bounds, unit = (FLOPS_PER_S_RANGE, "FLOP/s") if key == "flops_per_s" else (BYTES_PER_S_RANGE, "B/s")
            _check_rate(row[key], bounds, unit, key, where, prefix + key)
    if "joules" in row and "seconds" in row and row["joules"] / row["seconds"] > MAX_WATTS:
        raise CostsimError(f"joules / seconds is {row['joules'] / row['seconds']:.3g} W, above any device's "
                           f"{MAX_WATTS:g} W", source=where, field=prefix + "joules")


def _check_record(row: dict, where: str, field_prefix: str) -> None:
    """One measurement record checked: its kind's fields present, typed, plausible and consistent."""
    kind = row.get("kind")
    if not isinstance(kind, str):
        raise CostsimError("missing 'kind'", source=where, field=field_prefix + "kind")
    for key in row:
        if _NOT_SI.search(key.lower()):
            raise CostsimError(f"units do not match the format: '{key}' is not in SI units (seconds, bytes, "
                               f"FLOP/s, watts)", source=where, field=field_prefix + key)
    for key in MEASUREMENT_FIELDS.get(kind, ()):
        if key not in row:
            raise CostsimError(f"missing column for kind '{kind}'", source=where, field=field_prefix + key)
    _check_types(row, where, field_prefix)
    if "dtype" in row:
        known = SPARSE_DTYPE_NAMES if kind == "sparse_2_4" else DTYPE_NAMES
        if row["dtype"] not in known:
            raise CostsimError(f"unknown data type '{row['dtype']}' for kind '{kind}'; known: "
                               f"{', '.join(sorted(known))}", source=where, field=field_prefix + "dtype")
    _check_consistency(row, kind, where, field_prefix)


def _unique_keys(pairs: list[tuple]) -> dict:
    keys = [k for k, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise ValueError(f"key '{key}' given twice in one object")
    return dict(pairs)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _json_lines(path: Path, text: str) -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line; a one-line error naming the line otherwise (a key
    given twice, or NaN and Infinity, which JSON does not allow, included)."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
        except json.JSONDecodeError as err:
            raise CostsimError(f"not JSON: {err.msg}", source=f"{path}:{number}") from None
        except (ValueError, RecursionError) as err:
            raise CostsimError(f"not JSON: {err}", source=f"{path}:{number}") from None
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
_CSV_INT = re.compile(r"[-+]?[0-9]+")
_CSV_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?")
_CSV_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
CSV_TEXT_COLUMNS = frozenset({"label", "hardware", "workload", "note", "plan", "name", "description"})


def csv_cell(text: str | None, column: str = ""):
    """A CSV cell as a value, not read as YAML: blank is None; a decimal integer is an int; a decimal or
    exponent number (``0.05``, ``3.35e12``) a float; ``true``/``false`` a boolean; anything else, and
    every cell of a text column (``CSV_TEXT_COLUMNS``: label, hardware, note...), the text itself
    (``yes``, ``on``, ``0x10``, ``1:30`` and ``nan`` stay strings)."""
    cell = (text or "").strip()
    if not cell:
        return None
    if column in CSV_TEXT_COLUMNS:
        return cell
    if _CSV_INT.fullmatch(cell):
        return int(cell)
    if _CSV_FLOAT.fullmatch(cell):
        return float(cell)
    return _CSV_BOOL.get(cell, cell)


def csv_header(header: list[str], source: str) -> list[str]:
    """A CSV header's column names, stripped; a column named twice is an error naming it and both places
    (a reader keyed by name would keep the last one silently)."""
    names = [h.strip() for h in header]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise CostsimError(f"column '{name}' appears twice (columns {names.index(name) + 1} and {i + 1}): "
                               f"give each column once", source=source, field=name or "(header)")
    return names


def load_rows(path: str | Path) -> list[dict]:
    """Rows of a CSV (header line; cells read by :func:`csv_cell`, so numbers are numbers and nothing is read
    as YAML) or JSON-lines file."""
    return [row for _, row in load_numbered_rows(path)]


def load_numbered_rows(path: str | Path) -> list[tuple[int, dict]]:
    """:func:`load_rows` with the line (1-based) each row is on, for messages that name it."""
    path = Path(path)
    text = read_text(path)
    rows = []
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        rows = _json_lines(path, text)
    else:
        try:
            lines = list(csv.reader(io.StringIO(text)))
        except csv.Error as err:
            raise CostsimError(f"not CSV: {err}", source=where(path)) from None
        header = csv_header(lines[0], where(path)) if lines else []
        for number, cells in enumerate(lines[1:], 2):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > len(header):
                raise CostsimError("more cells than the header has columns", source=f"{path}:{number}")
            rows.append((number, {k: csv_cell(cells[i] if i < len(cells) else None, k)
                                  for i, k in enumerate(header)}))
    if not rows:
        raise CostsimError("no rows", source=where(path))
    return rows


def find_files(folder: str | Path, pattern: str) -> list[Path]:
    """The files in ``folder`` matching ``pattern``, sorted; ``folder`` itself if it is a file."""
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    return sorted(folder.glob(pattern)) if folder.is_dir() else []
