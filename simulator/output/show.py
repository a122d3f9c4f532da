"""Profiles, workloads and lists as text: YAML, JSON, or a two-column table with human units.

``profiles show`` and ``workloads show`` print a loaded (``extends:`` resolved, borrowed curves filled
in) profile or workload. YAML, the default, is the profile file format: what is printed can be saved
and loaded again. The table is for reading: one row per field (the dotted path that ``--set`` takes),
the value in a unit picked by its magnitude from the field's SI suffix (see :mod:`simulator.output.human`).
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from . import human

SHOW_FORMATS = ("yaml", "table", "json")
LIST_FORMATS = ("table", "json", "csv", "markdown")

# free text kept out of the table (printed above it) and references (printed below it)
_PROSE = ("description", "notes")


def _flat(data: Mapping, prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


# (suffix of the field path, formatter): the first that matches, so longer suffixes come first
_BY_SUFFIX = (
    ("_bytes_per_s", lambda v: human.bytes_(v) + "/s"),
    ("_flops_per_s", human.flops_per_s),
    ("_usd_per_hour", lambda v: human.usd(v) + "/h"),
    ("_usd", human.usd),
    ("_watts", lambda v: human.number(v) + " W"),
    ("_fraction", lambda v: human.fraction(v) if abs(v) >= 1e-6 or v == 0 else human.number(v)),  # 1e-15, not 1e-13%
    ("_joules", human.energy_joules),
    ("_kg_co2", human.co2_kg),
    ("co2_kg", human.co2_kg),
    ("_bytes", human.bytes_),
    ("_flops", human.flops),
    ("flops_per_step", human.flops),
    ("_s", human.time_s),
)


def value_text(field: str, value) -> str:
    """One field's value for a reader: its unit from the field name's SI suffix."""
    if value is None:
        return human.MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return ", ".join(value_text(field, v) for v in value) if value else human.MISSING
    if isinstance(value, Mapping):  # an empty mapping
        return human.MISSING
    leaf = field.rsplit(".", 1)[-1]
    if field.startswith("peak_dense_flops_per_s."):
        return human.flops_per_s(value)
    for suffix, fmt in _BY_SUFFIX:
        if leaf.endswith(suffix):
            return fmt(value)
    if isinstance(value, int):
        return str(value) if leaf == "year" else f"{value:,}"
    return human.number(value)


def _sources(sources) -> list[str]:
    out = []
    for s in sources or ():
        if isinstance(s, Mapping):
            out.append(" ".join(str(s[k]) for k in ("cite", "url") if s.get(k)))
        else:
            out.append(str(s))
    return out


def _two_columns(rows: list[tuple[str, str]]) -> str:
    width = max((len(k) for k, _ in rows), default=5)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def _table(data: dict) -> str:
    """A dumped model as text: its name and prose, one ``field  value`` row per field, its sources."""
    head = [str(data[k]) for k in _PROSE if data.get(k)]
    rows = [(k, value_text(k, v)) for k, v in _flat({k: v for k, v in data.items() if k not in _PROSE + ("sources",)})]
    sources = _sources(data.get("sources"))
    text = "\n".join(head + ([""] if head else [])) + _two_columns(rows)
    if sources:
        text += "\n\nsources:\n" + "\n".join(f"- {s}" for s in sources)
    return text


def _yaml(data) -> str:

    return yaml.safe_dump(data, sort_keys=False, width=110, allow_unicode=True)


def profile_text(profile, fmt: str = "yaml") -> str:
    """A loaded profile as YAML (a profile file), JSON, or a two-column table with human units."""
    data = profile.model_dump(mode="json")
    if fmt == "json":
        return json.dumps(data, indent=2, allow_nan=False)
    if fmt == "yaml":
        head = ""
        if data.get("efficiency") is not None and data.get("efficiency_from"):
            # the borrowed curves are filled in: the file stands alone (a profile gives one or the other)
            head = f"# efficiency curves (and power fractions) as borrowed from {data['efficiency_from']}\n"
            data = {k: v for k, v in data.items() if k != "efficiency_from"}
        return head + _yaml(data).rstrip("\n")
    return _table(data)


def workload_text(workload, derived: dict, fmt: str = "yaml") -> str:
    """A workload and what it implies (parameters, tokens or images, FLOPs) in one of ``SHOW_FORMATS``."""
    data = {"workload": workload.model_dump(mode="json"), "derived": derived}
    if fmt == "json":
        return json.dumps(data, indent=2, allow_nan=False)
    if fmt == "yaml":
        return _yaml(data).rstrip("\n")
    table = _table(data["workload"])
    return table + "\n\nderived:\n" + _two_columns([(k, value_text(k, v)) for k, v in derived.items()
                                                  if k not in ("name", "kind")])


def listing(rows: list[dict], fmt: str = "table", widths: Mapping[str, int] | None = None) -> str:
    """A list (profiles, workloads, strategies) in one of ``LIST_FORMATS``: the table is one item a line,
    columns padded to ``widths`` (the last column free), without a header, as it always was."""
    if fmt == "json":
        return json.dumps(rows, indent=2, allow_nan=False)
    cols = list(rows[0]) if rows else []
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue().rstrip("\n")
    if fmt == "markdown":
        lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
        return "\n".join(lines + ["| " + " | ".join(str(r[c]).replace("|", "\\|") for c in cols) + " |"
                                  for r in rows])
    widths = widths or {}
    return "\n".join(" ".join(f"{r[c]!s:{widths.get(c, 0)}s}" for c in cols).rstrip() for r in rows)
