"""Hypothesis strategies for the files costsim reads besides profiles and workloads: sweep files (and the
sweep flags), measurement records for ``calibrate --from`` and measured-run CSVs for ``validate``.

Each draws a grid or a file from a pool of valid values, then, often, puts hostile values in: an unknown
name or field, a zero, negative, NaN, infinite or huge number, a wrong type, an empty list, a key given
twice, an out-of-range or self-consistently absurd record, a YAML 1.1 boolean word in a CSV cell. A
refusal must name the file (or the flag) and, where a known-bad value was put in, its axis or field; a
success must write the whole grid (every row) or a profile that validates.
"""
from __future__ import annotations

import copy
import functools
import json
import math

from hypothesis import strategies as st

from simulator.files.bundled import bundled_root

from .generators import (
    FLAG_NUMBERS,
    HUGE_INT,
    RECORDS_FILE,
    REGIONS,
    RUNS_FILE,
    SWEEP_FILE,
    _Raw,
    dump,
    flag_cases,
    limits_cases,
    plan_cases,
    profile_cases,
    set_cases,
    simulate_cases,
    workload_cases,
)
from .harness import LINE, Case

# ---------------------------------------------------------------- sweeps
# per axis: (valid values, schema-valid extremes, invalid values)
SWEEP_AXES = {
    "hardware": (("h200", "a100-sxm-80gb", "h100-sxm", "xeon-8480", "tpu-v5p", "quantum-ftqc"), (),
                 ("h300", "", 3, None, "../nowhere")),
    "workloads": (("gpt2-124m", "gpt-1.3b", "resnet50-imagenet"), (), ("gpt-5", 1, "")),
    "devices": ((1, 2, 8), (16,), (0, -1, 1.5, "abc", True, "RAW:" + HUGE_INT)),
    "strategies": (("none", "quantize:fp8", "lowrank:0.25", "prune:2of4", "lowrank:0.25+quantize:fp8", "lora:16"),
                   (), ("bogus", "lowrank:2", "quantize:fp3", "", "lowrank:0")),
    "regions": (REGIONS, (), ("mars", 1)),
    "grid_g_co2_per_kwh": ((100.0, 400.0), (1e-300, 1e300), (0, -1, math.nan, math.inf, "abc")),
    "pue": ((1.1, 1.58), (1e300,), (0.5, math.nan, math.inf, "hyperscale", -1)),
    "pricing": (("auto", "cloud", "owned"), (), ("free", 1)),
    "cloud_price_usd_per_hour": ((1.0, 5.0), (1e-300, 1e300, 1.7976931348623157e308), (0, -1, math.nan, math.inf)),
    "electricity_usd_per_kwh": ((0.0, 0.08), (1e300,), (-1, math.nan, math.inf, "cheap")),
    "lifetime_years": ((1.0, 4.0), (1e-300, 1e300), (0, -1, math.nan, math.inf)),
}
SET_AXES = {"layers": ((2, 4, 12), (1, 1000), (0, -1, 2.5, "many")),
            "global_batch_size": ((8, 16, 32), (1, 4096), (0, -3, 1.5, True)),
            "seq_len": ((256, 1024), (1,), (0, -1)),
            "tokens": ((1e9, 1e10), (1.0, 1e30), (0, -1, math.nan)),
            "hardware.memory_bandwidth_bytes_per_s": (("*2", "*0.5", 3e12), ("*1e-300", "*1e300"), ("*0", -1, "*x")),
            "layer": ((), (), (2, 4))}  # a misspelt field: the user's typo, an error
WHAT_IF_FIELDS = ("memory_bandwidth_bytes_per_s", "memory_bytes", "kernel_launch_overhead_s", "power.tdp_watts",
                  "cloud_price_usd_per_hour")
WHAT_IF_VALUES = ("*2", "*0.5", "*10", "*1e-300", "*1e300", "*0", "*-1", "*nan", "1e12", "-1", "nan", "abc")


def _yaml_value(value):
    if isinstance(value, str) and value.startswith("RAW:"):
        return _Raw(value[4:])
    return value


@st.composite
def _axis(draw, pools, most: int):
    """An axis's values: mostly valid, sometimes an extreme, sometimes a bad one; and whether it is suspect."""
    valid, extreme, invalid = pools
    how = draw(st.sampled_from(("valid",) * 5 + ("extreme", "invalid", "empty")))
    if how == "empty" or not valid:
        return ([] if how == "empty" or not invalid else [draw(st.sampled_from(invalid))]), True
    values = draw(st.lists(st.sampled_from(valid), min_size=1, max_size=most, unique=True))
    if how == "extreme" and extreme:
        values.append(draw(st.sampled_from(extreme)))
    elif how == "invalid" and invalid:
        values.insert(draw(st.integers(0, len(values))), draw(st.sampled_from(invalid)))
    return values, how != "valid"


@st.composite
def sweep_file(draw) -> tuple[str, tuple[str, ...], int | None, str]:
    """A sweep file's text, the axes and fields a refusal may name, the rows a success must write (None
    where the file may legitimately be refused), and a label."""
    data, suspects, raw, sizes = {"name": "generated"}, [], [], []
    optional = [a for a in SWEEP_AXES if a not in ("hardware", "workloads")]
    chosen = ["hardware", "workloads"] + draw(st.lists(st.sampled_from(optional), max_size=4, unique=True))
    for axis in chosen:
        values, suspect = draw(_axis(SWEEP_AXES[axis], 2))
        if axis == "hardware" and draw(st.integers(0, 3)) == 0:  # a what-if device
            field, value = draw(st.sampled_from(WHAT_IF_FIELDS)), draw(st.sampled_from(WHAT_IF_VALUES))
            values.append({"name": "what-if", "base": "h100-sxm", "set": {field: value}})
            suspect = suspect or value not in ("*2", "*0.5", "*10")
            suspects.append(field.split(".")[-1])
        data[axis] = [_yaml_value(v) for v in values]
        sizes.append(len(values))
        if suspect:
            suspects.append(axis)
    if draw(st.integers(0, 2)) == 0:
        name = draw(st.sampled_from(sorted(SET_AXES)))
        values, suspect = draw(_axis(SET_AXES[name], 2))
        data["set"] = {name: values}
        sizes.append(len(values))
        if suspect or name != "global_batch_size":  # the others are not fields of every device or workload
            suspects += ["set", name]
    if "regions" in data and "grid_g_co2_per_kwh" in data:
        sizes[chosen.index("grid_g_co2_per_kwh")] = 0  # the two make one axis of grids: their sum
        sizes[chosen.index("regions")] += len(data["grid_g_co2_per_kwh"])
    if draw(st.integers(0, 4)) == 0:
        data["plan"] = draw(st.sampled_from(("dp", "auto", "tp=2", "")))
        suspects.append("plan")
    if draw(st.integers(0, 6)) == 0:
        key = draw(st.sampled_from(("devcies", "region", "workload", "sets")))
        data[key] = [1]
        suspects.append(key)
    if draw(st.integers(0, 14)) == 0:  # a grid over the limit of 1,000,000 scenarios: counted, refused
        data.update(pue=[1 + i / 100 for i in range(120)], lifetime_years=[1 + i for i in range(100)],
                    electricity_usd_per_kwh=[i / 100 for i in range(100)])
        suspects.append("scenarios")
    text = dump(data, raw)
    if draw(st.integers(0, 8)) == 0:  # an axis given twice
        key = draw(st.sampled_from(chosen))
        text += f"{key}: [{'h200' if key == 'hardware' else 1}]\n"
        suspects.append(key)
    rows = None if suspects else math.prod(s for s in sizes if s)
    return text, tuple(suspects), rows, f"{len(text)} characters, {', '.join(chosen)}"


SWEEP_OUTS = ("rows.csv",) * 6 + ("rows.jsonl", "rows.json", "rows.md", "rows.tex", "rows.xyz", "rows")


@st.composite
def sweep_cases(draw) -> Case:
    """``sweep`` of a generated sweep file (or the same axes as flags), rows to a file."""
    out = draw(st.sampled_from(SWEEP_OUTS))
    fmt = draw(st.sampled_from((None,) * 5 + ("csv", "json")))
    tail = ["--out", "{dir}/" + out, "--quiet"] + (["--format", fmt] if fmt else [])
    known = out.endswith((".csv", ".jsonl", ".json", ".md", ".tex")) or fmt
    if draw(st.integers(0, 3)) == 0:
        return _sweep_flags_case(draw, tail, out, known)
    text, suspects, rows, label = draw(sweep_file())
    if fmt and not out.endswith(f".{fmt}"):
        rows = None  # what a mismatched extension writes is not checked row by row
    return Case(f"sweep file: {label}; --out {out}" + (f" --format {fmt}" if fmt else ""),
                ("sweep", "{dir}/" + SWEEP_FILE, *tail), files=((SWEEP_FILE, text),),
                names=(SWEEP_FILE, "--out", "--format", "--max-scenarios"), fields=suspects if known else (),
                outs=(out,), reads="rows", rows=rows if known else None)


def _sweep_flags_case(draw, tail, out, known) -> Case:
    flags = {"-H": ("h200", "h200,a100-sxm-80gb", "h200,,a100-sxm-80gb", "", ",", "h300", "h200, tpu-v5p"),
             "-w": ("gpt2-124m", "gpt2-124m,resnet50-imagenet", "", "gpt-5", "gpt2-124m,,"),
             "--devices": ("1", "1,8", "0", "1,-1", "1.5", "", "abc", HUGE_INT) + FLAG_NUMBERS[:6],
             "--pue": ("1.1", "1.1,1.58", "hyperscale", "0.5", "nan", "inf", "1,,2", ""),
             "--region": ("world", "world,france", "mars", "", ","),
             "--grid-intensity": ("400", "0", "-1", "nan", "1e308"),
             "--lifetime-years": ("4", "0", "1e-300", "nan"),
             "--price": ("2", "0", "1e308", "-1", "nan"),
             "--set": ("layers=2,4", "layer=2", "layers=", "layers=abc", "global_batch_size=8,0",
                       "hardware.memory_bandwidth_bytes_per_s=*2,*0.5", "=3")}
    args = ["-H", draw(st.sampled_from(flags["-H"])), "-w", draw(st.sampled_from(flags["-w"]))]
    for flag in list(flags)[2:]:
        if draw(st.integers(0, 2)) == 0:
            args += [flag, draw(st.sampled_from(flags[flag]))]
    names = tuple(a for a in args if a in flags) + ("--hardware", "--workload", "h300", "gpt-5",
                                                            "--out", "--format", "(bundled")
    return Case(f"sweep flags: {' '.join(args)}; --out {out}", ("sweep", *args, *tail), names=names,
                outs=(out,), reads="rows")


# ---------------------------------------------------------------- measurement records (calibrate --from)
RECORD_KINDS = ("copy", "read_reduce", "elementwise_add", "idle_power", "launch_overhead", "gemm", "pointwise")
JSON_TEXTS = ("0", "-1", "1e308", "1e-308", "5e-324", "NaN", "Infinity", "-Infinity", "1e400", '"0.0002"',
              "true", "false", "null", "[1]", "{}", HUGE_INT, '"bogus"', '""', "-0.0", "1e-30")
NOT_JSON = ("NaN", "Infinity", "-Infinity")
RATES = {"seconds": ("bytes_per_s", "flops_per_s")}


@functools.cache
def bundled_records() -> tuple[dict, ...]:
    """The bundled H200 measurement records of the kinds that fit quickly."""
    folder = bundled_root() / "h200"
    out = []
    for name in ("measurements.jsonl", "operators.jsonl"):
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            if line.strip() and json.loads(line)["kind"] in RECORD_KINDS:
                out.append(json.loads(line))
    return tuple(out)


@st.composite
def records_text(draw) -> tuple[str, tuple[str, ...], str]:
    """A JSON-lines measurement file: bundled records, changed; the fields changed; a label."""
    pool = bundled_records()
    memory = [r for r in pool if r["kind"] in ("copy", "read_reduce", "elementwise_add")]
    others = [r for r in pool if r not in memory]
    chosen = draw(st.lists(st.sampled_from(memory), min_size=1, max_size=4, unique_by=id))
    chosen += draw(st.lists(st.sampled_from(others), max_size=6, unique_by=id))
    records = [copy.deepcopy(r) for r in chosen]
    raw, fields, labels, extra_lines = {}, [], [], []
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(records) - 1))
        record = records[i]
        if not record:
            continue
        kind = record.get("kind", "?")
        key = draw(st.sampled_from(sorted(record)))
        how = draw(st.sampled_from(("value", "value", "value", "scale", "delete", "unknown", "twice", "line")))
        if how == "value":
            raw[(i, key)] = draw(st.sampled_from(JSON_TEXTS))
            labels.append(f"{kind}.{key}={raw[(i, key)][:30]}")
            if raw[(i, key)] in NOT_JSON:  # the line is not JSON: it is named by its number
                fields.append(LINE)
        elif how == "scale" and isinstance(record[key], (int, float)) and not isinstance(record[key], bool):
            factor = draw(st.sampled_from((1e-300, 1e-9, 1e-3, 1e3, 1e9, 1e300)))
            record[key] *= factor
            for rate in RATES.get(key, ()):  # self-consistent: the rate follows the time
                if rate in record:
                    record[rate] /= factor
            labels.append(f"{kind}.{key} x {factor:g}")
            if not all(math.isfinite(v) for v in record.values() if isinstance(v, float)):
                fields.append(LINE)  # json.dumps writes Infinity: the line is not JSON
        elif how == "delete":
            del record[key]
            labels.append(f"{kind} without {key}")
        elif how == "unknown":
            key = draw(st.sampled_from(("time_ms", "extra", "dtype")))
            record[key] = draw(st.sampled_from(("float7", 1, "bfloat16")))
            labels.append(f"{kind}.{key}={record[key]}")
        elif how == "twice":
            raw[(i, key)] = json.dumps(record[key]) + f', "{key}": ' + draw(st.sampled_from(JSON_TEXTS))
            labels.append(f"{kind}.{key} twice")
            fields.append(LINE)
        else:
            extra_lines.append(draw(st.sampled_from(("[1, 2]", "nan", "{", '{"kind": "copy"', "", "   ", "{}",
                                                     '{"kind": "bogus"}', '"copy"'))))
            labels.append(f"line {extra_lines[-1]!r}")
            key = LINE
        fields.append(key)
    lines = []
    for i, record in enumerate(records):
        parts = [f"{json.dumps(k)}: {raw.get((i, k), json.dumps(v))}" for k, v in record.items()]
        lines.append("{" + ", ".join(parts) + "}")
    for text in extra_lines:
        lines.insert(draw(st.integers(0, len(lines))), text)
    return "\n".join(lines) + "\n", tuple(fields), "; ".join(labels) or f"{len(records)} records unchanged"


@st.composite
def record_cases(draw) -> Case:
    """``calibrate --from`` a generated records file, the profile to a file."""
    text, fields, label = draw(records_text())
    return Case(f"calibrate --from: {label}",
                ("calibrate", "--from", "{dir}/" + RECORDS_FILE, "--base", "h200", "--out", "{dir}/gen-out.yaml",
                 "--quiet"),
                files=((RECORDS_FILE, text),), names=(RECORDS_FILE,), fields=fields, outs=("gen-out.yaml",),
                reads="profile")


# ---------------------------------------------------------------- measured runs (validate)
RUN_COLUMNS = ("label", "hardware", "workload", "global_batch_size", "measured_step_time_s",
               "measured_device_energy_per_step_joules")
RUN_ROWS = (("gpt2 b16", "h200", "gpt2-124m", "16", "0.05112", "33.8"),
            ("gpt2 b32", "h200", "gpt2-124m", "32", "0.1010", ""),
            ("gpt 1.3b b8", "h200", "gpt-1.3b", "8", "0.31654", "215.3"),
            ("a100", "a100-sxm-80gb", "gpt2-124m", "16", "0.09", ""),
            ("too big", "h200", "gpt3-175b", "", "10", ""))
CELL_TEXTS = ("yes", "no", "on", "off", "true", "nan", "inf", "-inf", "-1", "0", "1e308", "1e-308", "", "abc",
              HUGE_INT, "1e400", " 16 ", "16.5", "0x10", "null", "~", "h300", "1e3")
EXTRA_COLUMNS = ("devices", "micro_batch_size", "seq_len", "precision", "tensor_parallel", "pipeline_parallel",
                 "layers", "bogus_column")


@st.composite
def runs_text(draw) -> tuple[str, tuple[str, ...], str]:
    """A measured-runs CSV: bundled-like rows, changed; the columns changed; a label."""
    header = list(RUN_COLUMNS)
    rows = [list(r) for r in draw(st.lists(st.sampled_from(RUN_ROWS), min_size=1, max_size=4))]
    fields, labels = [], []
    for _ in range(draw(st.integers(0, 3))):
        how = draw(st.sampled_from(("cell", "cell", "cell", "column", "twice", "drop", "ragged")))
        if how == "cell":
            r = draw(st.integers(0, len(rows) - 1))
            c = draw(st.integers(0, min(len(header), len(rows[r])) - 1))
            rows[r][c] = draw(st.sampled_from(CELL_TEXTS))
            labels.append(f"row {r + 1} {header[c]}={rows[r][c]!r}")
            fields.append(header[c])
        elif how == "column":
            name = draw(st.sampled_from(EXTRA_COLUMNS))
            header.append(name)
            for row in rows:
                row.append(draw(st.sampled_from(CELL_TEXTS + ("1", "2", "bf16_mixed"))))
            labels.append(f"column {name}")
            fields.append(name)
        elif how == "twice":
            c = draw(st.integers(0, len(header) - 1))
            header.append(header[c])
            for row in rows:
                row.append(draw(st.sampled_from(CELL_TEXTS)))
            labels.append(f"{header[c]} twice")
            fields.append(header[c])
        elif how == "drop" and len(header) > 1:
            c = draw(st.integers(0, len(header) - 1))
            labels.append(f"without {header[c]}")
            fields.append(header.pop(c))
            for row in rows:
                if c < len(row):
                    row.pop(c)
        elif how == "ragged":
            r = draw(st.integers(0, len(rows) - 1))
            rows[r] = rows[r][:-1] if draw(st.booleans()) else rows[r] + ["1"]
            labels.append(f"row {r + 1} ragged")
            fields.append(LINE)
    lines = [",".join(header)] + [",".join(row) for row in rows]
    return "\n".join(lines) + "\n", tuple(fields), "; ".join(labels) or f"{len(rows)} rows unchanged"


@st.composite
def validate_cases(draw) -> Case:
    """``validate`` a generated measured-runs CSV."""
    text, fields, label = draw(runs_text())
    return Case(f"validate: {label}", ("validate", "{dir}/" + RUNS_FILE, "--format", "json"),
                files=((RUNS_FILE, text),), names=(RUNS_FILE,), fields=fields, reads="json")


# ---------------------------------------------------------------- every family, with its share of CI's cases
FAMILIES = {
    "profiles": (profile_cases, 400),
    "workloads": (workload_cases, 300),
    "sets": (set_cases, 250),
    "flags": (flag_cases, 200),
    "plans": (plan_cases, 150),
    "simulate": (simulate_cases, 150),
    "limits": (limits_cases, 80),
    "sweeps": (sweep_cases, 200),
    "records": (record_cases, 60),
    "runs": (validate_cases, 150),
}
