"""Hypothesis strategies for costsim's inputs, valid and hostile, each drawing a :class:`Case`.

They start from the bundled profiles and workloads as ``costsim profiles show NAME --format yaml`` and
``costsim workloads show NAME --format yaml`` print them (every field, defaults included), and change
them: a field set to an extreme, negative, zero, NaN or infinite number, a huge integer, a wrong type,
a quoted number, a YAML 1.1 boolean word, or a value scaled from the original (mostly valid, often
extreme); a field deleted; an unknown key; a key given twice (as text). The same values feed ``--set``,
the numeric flags, ``--plan`` texts, sweep files, measurement records (``calibrate --from``) and
measured-run CSVs (``validate``).

``generated_files.FAMILIES`` maps each family's name to its strategy (with those of the other files);
``tests/properties/test_generated_inputs.py`` runs each family, ``benchmarks/fuzz_inputs.py`` runs them
with many more examples.
"""
from __future__ import annotations

import copy
import functools
import math
import re

import yaml
from hypothesis import strategies as st

from cli.main import main
from simulator.files.loader import parse_yaml_text
from tests.conftest import cli_runner

from .harness import Case

PROFILES = ("h200", "a100-sxm-80gb", "xeon-8480", "tpu-v5p", "gaudi3", "alveo-u280", "k80", "quantum-ftqc")
WORKLOADS = ("gpt2-124m", "gpt-1.3b", "resnet50-imagenet")
PROFILE_FILE, WORKLOAD_FILE, SWEEP_FILE = "gen-profile.yaml", "gen-workload.yaml", "gen-sweep.yaml"
RECORDS_FILE, RUNS_FILE = "gen-records.jsonl", "gen-runs.csv"
SKIPPED = ("sources", "description", "notes")  # prose: nothing computes from it
REGIONS = ("world", "france", "us", "norway", "india", "us-central1")

# ---------------------------------------------------------------- values, as the text a user would type
HUGE_INT = "1" + "0" * 400
# numbers and non-numbers as YAML text (also used as --set and flag text where they make sense)
NUMBER_TEXTS = (
    "0", "-1", "-0.0", "1", "2", "3", "0.5", "7", "1e308", "1.7976931348623157e308", "1e-308", "5e-324",
    "1e400", "-1e400", ".nan", ".inf", "-.inf", HUGE_INT, "-" + HUGE_INT, "1e30", "1e-30", "1e12", "true",
    "false", "yes", "no", "on", "off", "~", "null", '"0.0002"', '"3.35e12"', '"12"', "abc", "[1, 2]",
    "{a: 1}", "0x10", "1_000", "2.5", "1e3", "1E3", "''",
)
WORD_TEXTS = ("bogus", "gpu", "cpu", "tpu", "quantum", "fp8", "bf16_mixed", "fp32", "adamw", "sgd_momentum",
              "flash", "naive", "resnet", "", "1", "null", "[a]", "{}")
# the same for a flag or a --set value (no YAML syntax there)
FLAG_NUMBERS = ("0", "-1", "-0", "1", "2", "3", "8", "0.5", "1.5", "1e308", "1e-308", "5e-324", "1e400", "nan",
                "inf", "-inf", "NaN", "Infinity", HUGE_INT, "1e30", "1e-30", "true", "yes", "abc", "", " ",
                "1e3", "1,2", "0x10", "1_000")
SCALES = (1e-300, 1e-12, 1e-6, 1e-3, 0.1, 0.5, 0.9, 1.1, 2.0, 10.0, 1e3, 1e6, 1e12, 1e100, 1e300, -1.0)


def yaml_number(x) -> str:
    """A number as YAML text the loader reads back as that number."""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    if math.isnan(x):
        return ".nan"
    if math.isinf(x):
        return ".inf" if x > 0 else "-.inf"
    return repr(x)


def flag_number(x) -> str:
    """A number as a flag's text."""
    return str(x) if isinstance(x, int) else repr(x)


def _scaled_texts(original, for_yaml: bool):
    """The original value scaled, from a millionth to a million times and to the extremes (mostly valid
    input, often extreme); the catalogue where it is not a number."""
    if isinstance(original, bool) or not isinstance(original, (int, float)):
        return _value_texts(original, for_yaml)
    show = yaml_number if for_yaml else flag_number
    return st.sampled_from(SCALES[:-1]).map(
        lambda f: show(int(original * f)) if isinstance(original, int) and 1 <= abs(original * f) < 1e18
        else show(float(original * f)))


def _value_texts(original, for_yaml: bool):
    """Text values for a field whose bundled value is ``original``: the catalogue, the original scaled,
    and numbers hypothesis draws."""
    show = yaml_number if for_yaml else flag_number
    fixed = st.sampled_from(NUMBER_TEXTS if for_yaml else FLAG_NUMBERS)
    drawn = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(show),
                      st.integers(min_value=-10**20, max_value=10**20).map(show))
    choices = [fixed, drawn]
    if isinstance(original, bool):
        choices.append(st.sampled_from(("true", "false", "1", "0", "yes", "on", "True", "'true'")))
    elif isinstance(original, (int, float)):
        scaled = st.sampled_from(SCALES).map(lambda f: original * f)
        choices.append(scaled.map(lambda y: show(int(y)) if isinstance(original, int) and abs(y) < 1e18
                                  else show(float(y))))
        if isinstance(original, int):
            choices.append(st.sampled_from((original + 1, max(original - 1, 0), original * 2)).map(show))
    elif isinstance(original, str) or original is None:
        choices.append(st.sampled_from(WORD_TEXTS if for_yaml else WORD_TEXTS[:13]))
    return st.one_of(*choices)


# ---------------------------------------------------------------- the bundled inputs, every field
@functools.cache
def bundled(kind: str, name: str) -> dict:
    """A bundled profile (kind 'profiles') or workload ('workloads'), every field, as the CLI shows it."""
    result = cli_runner().invoke(main, [kind, "show", name, "--format", "yaml"])
    if result.exit_code != 0:
        raise RuntimeError(f"costsim {kind} show {name}: {result.stderr or result.exception}")
    data = parse_yaml_text(result.stdout, name)
    return data["workload"] if kind == "workloads" else data


def leaf_paths(data, prefix=()) -> list[tuple]:
    """The paths of every field that holds a value (not a mapping), prose and lists of sources left out."""
    out = []
    for key, value in data.items():
        if key in SKIPPED:
            continue
        if isinstance(value, dict):
            out += leaf_paths(value, prefix + (key,))
        else:
            out.append(prefix + (key,))
    return out


def get(data, path):
    """The value at ``path``."""
    for key in path:
        data = data[key]
    return data


class _Raw(str):
    """A value written into the YAML as it stands (a placeholder in the dump, replaced afterwards)."""


def dump(data: dict, raw: list[str]) -> str:
    """``data`` as block YAML, each :class:`_Raw` placeholder replaced by its text."""
    text = yaml.safe_dump(_plain(data), sort_keys=False, width=1000, allow_unicode=True)
    for i, value in enumerate(raw):
        text = text.replace(f"RAWVALUE{i}X", value)
    return text


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, _Raw) else value


def _line_of(lines: list[str], path: tuple) -> int | None:
    start = 0
    for depth, key in enumerate(path):
        pattern = re.compile(rf"^{'  ' * depth}{re.escape(str(key))}:")
        found = next((i for i in range(start, len(lines)) if pattern.match(lines[i])), None)
        if found is None:
            return None
        start = found + 1
    return start - 1


def field_names(path: tuple) -> tuple[str, ...]:
    """What an error about the field at ``path`` may call it: its own name, or a top-level section's
    (``variant`` for ``variant.low_rank``)."""
    return (str(path[-1]),) + ((str(path[0]),) if len(path) == 2 else ())


HOSTILE = ("value",) * 3 + ("scaled",) * 3 + ("delete", "unknown", "duplicate")


@st.composite
def mutated_yaml(draw, data: dict, max_changes: int = 3) -> tuple[str, tuple[str, ...], str]:
    """``data`` with 0 to ``max_changes`` changes, as YAML text; the fields changed; a short label. One
    time in three the changes only scale numbers (schema-valid extremes, looking for non-finite results)."""
    data = copy.deepcopy(data)
    paths = leaf_paths(data)
    raw, fields, labels, duplicates = [], [], [], []
    kinds = HOSTILE if draw(st.integers(0, 2)) else ("scaled",)
    for _ in range(draw(st.integers(0, max_changes))):
        how = draw(st.sampled_from(kinds))
        path = draw(st.sampled_from(paths))
        parent = get(data, path[:-1]) if len(path) > 1 else data
        if not isinstance(parent, dict) or path[-1] not in parent:
            continue
        if how in ("value", "scaled"):
            text = draw((_value_texts if how == "value" else _scaled_texts)(parent[path[-1]], True))
            parent[path[-1]] = _Raw(f"RAWVALUE{len(raw)}X")
            raw.append(text)
            labels.append(f"{'.'.join(path)}={text[:40]}")
        elif how == "delete":
            del parent[path[-1]]
            labels.append(f"del {'.'.join(path)}")
        elif how == "unknown":
            key = draw(st.sampled_from(("memory_bandwith_bytes_per_s", "layer", "speed", "extra", "tdp")))
            parent[key] = 1
            labels.append(f"unknown {'.'.join(path[:-1] + (key,))}")
            path = path[:-1] + (key,)
        else:
            text = draw(_value_texts(parent[path[-1]], True))
            duplicates.append((path, text))
            labels.append(f"twice {'.'.join(path)}={text[:40]}")
        fields += field_names(path)
    text = dump(data, raw)
    if duplicates:
        lines = text.splitlines()
        for path, value in duplicates:
            at = _line_of(lines, path)
            if at is not None:
                lines.insert(at, f"{'  ' * (len(path) - 1)}{path[-1]}: {value}")
        text = "\n".join(lines) + "\n"
    return text, tuple(fields), "; ".join(labels) or "unchanged"


def _bundled_label(name: str, what: str) -> str:
    return f"{name} (bundled {what})"


# ---------------------------------------------------------------- profiles and workloads
@st.composite
def profile_cases(draw) -> Case:
    """``estimate`` on a changed bundled profile (a file) with a bundled workload (with gradient accumulation,
    so that the small devices fit it unchanged)."""
    name = draw(st.sampled_from(PROFILES))
    workload = draw(st.sampled_from(("gpt2-124m", "resnet50-imagenet")))
    text, fields, label = draw(mutated_yaml(bundled("profiles", name)))
    return Case(f"profile {name}: {label}; workload {workload}",
                ("estimate", "-H", "{dir}/" + PROFILE_FILE, "-w", workload, "--fit", "accumulate", "--format", "json"),
                files=((PROFILE_FILE, text),), names=(PROFILE_FILE, _bundled_label(workload, "workload")),
                fields=fields, reads="estimate")


@st.composite
def workload_cases(draw) -> Case:
    """``estimate`` of a changed bundled workload (a file) on a bundled profile."""
    name = draw(st.sampled_from(WORKLOADS))
    hardware = draw(st.sampled_from(("h200", "a100-sxm-80gb", "xeon-8480")))
    text, fields, label = draw(mutated_yaml(bundled("workloads", name)))
    return Case(f"workload {name}: {label}; hardware {hardware}",
                ("estimate", "-H", hardware, "-w", "{dir}/" + WORKLOAD_FILE, "--format", "json"),
                files=((WORKLOAD_FILE, text),), names=(WORKLOAD_FILE,), fields=fields, reads="estimate")


@st.composite
def set_cases(draw) -> Case:
    """``estimate`` with one to three ``--set FIELD=VALUE`` (workload and hardware fields, ``*FACTOR``)."""
    hardware = draw(st.sampled_from(("h200", "a100-sxm-80gb", "tpu-v5p", "quantum-ftqc")))
    workload = draw(st.sampled_from(WORKLOADS[:2] + ("resnet50-imagenet",)))
    hw, wl = bundled("profiles", hardware), bundled("workloads", workload)
    args, fields = [], []
    for _ in range(draw(st.integers(1, 3))):
        on_hardware = draw(st.booleans())
        data = hw if on_hardware else wl
        path = draw(st.sampled_from(leaf_paths(data)))
        original = get(data, path)
        factor = draw(st.sampled_from(("", "", "*")))
        value = draw(st.one_of(_value_texts(original, False), _scaled_texts(original, False)))
        # a bare name is looked up (workload first); a dotted path is addressed from its file's top
        bare = not on_hardware and draw(st.booleans())
        name = path[-1] if bare else ("hardware." if on_hardware else "workload.") + ".".join(path)
        args += ["--set", f"{name}={factor}{value}"]
        fields += field_names(path)
    if draw(st.integers(0, 9)) == 0:  # a malformed --set, and what its error must name
        text, named = draw(st.sampled_from((("layers", "--set"), ("=3", "--set"), ("layers=", "layers"),
                                            ("hardware.=1", "--set"), ("nosuchfield=1", "nosuchfield"),
                                            ("hardware.nosuch=2", "nosuch"), ("layers==3", "layers"),
                                            (".layers=2", "layers"))))
        args += ["--set", text]
        fields.append(named)
    return Case(f"--set on {hardware}, {workload}: {' '.join(args[1::2])}",
                ("estimate", "-H", hardware, "-w", workload, *args, "--format", "json"),
                names=("--set", _bundled_label(hardware, "hardware profile"), _bundled_label(workload, "workload")),
                fields=tuple(fields), reads="estimate")


# ---------------------------------------------------------------- flags and plans
PLAN_PARTS = ("tp", "pp", "dp", "mb", "ep", "zero", "cp", "vp", "recompute_layers")
PLAN_WORDS = ("sp", "gpipe", "1f1b", "zb-h1", "dualpipe", "no-prefetch", "no-overlap", "overlap-tp", "overlap-p2p",
              "overlap-ep",
              "recompute=none", "recompute=selective", "recompute=full", "recompute=some",
              "layers_per_stage=12/12", "layers_per_stage=6/6/6/6", "layers_per_stage=24", "layers_per_stage=1/x",
              "layers_per_stage=", "layers_per_stage=0/24", "offload=optimizer", "offload=params", "offload=disk",
              "offload=")
PLAN_NUMBERS = ("0", "1", "2", "3", "4", "8", "16", "-1", "1e3", "abc", "", "2.5", HUGE_INT[:40], "0x2")


@st.composite
def plan_texts(draw) -> str:
    """A --plan text: well-formed parts, malformed ones, empty lists, repeated keys, stray commas."""
    special = draw(st.sampled_from(("", ",,,", " ", "auto", "tp", "tp=", "=2", "tp=2,tp=2", "x=1", "sp,sp",
                                    None, None, None, None, None, None)))
    if special is not None:
        return special
    parts = []
    for _ in range(draw(st.integers(1, 5))):
        word = draw(st.sampled_from(PLAN_PARTS + PLAN_WORDS))
        parts.append(word if word in PLAN_WORDS else f"{word}={draw(st.sampled_from(PLAN_NUMBERS))}")
    sep = draw(st.sampled_from((",", ",", ", ", ",,")))
    return sep.join(parts) + draw(st.sampled_from(("", "", ",")))


@st.composite
def cost_flags(draw) -> list[str]:
    """Some of the cost flags every run command takes, with valid and hostile values."""
    args = []
    if draw(st.booleans()):
        args += ["--pue", draw(st.sampled_from(("1", "1.1", "1.58", "0.5", "hyperscale", "ideal", "bogus")
                                              + FLAG_NUMBERS))]
    if draw(st.integers(0, 2)) == 0:
        args += ["--region", draw(st.sampled_from(REGIONS + ("mars", "")))]
    if draw(st.integers(0, 2)) == 0:
        args += ["--grid-intensity", draw(st.sampled_from(("400", "50", "1e-300") + FLAG_NUMBERS))]
    if draw(st.integers(0, 2)) == 0:
        args += ["--pricing", draw(st.sampled_from(("auto", "cloud", "owned", "free")))]
    if draw(st.integers(0, 3)) == 0:
        args += ["--lifetime-years", draw(st.sampled_from(("4", "0.01") + FLAG_NUMBERS))]
    if draw(st.integers(0, 3)) == 0:
        args += ["--electricity-usd-per-kwh", draw(st.sampled_from(("0.08", "0") + FLAG_NUMBERS))]
    return args


def _flag_names(args) -> tuple[str, ...]:
    return tuple(a for a in args if a.startswith("--"))


@st.composite
def flag_cases(draw) -> Case:
    """``estimate`` or ``compare`` with --devices, --plan, the cost flags, --fit and -H lists."""
    workload = draw(st.sampled_from(("gpt2-124m", "gpt-1.3b")))
    args = draw(cost_flags())
    if draw(st.booleans()):
        args += ["--devices", draw(st.sampled_from(("1", "2", "4", "8", "16") + FLAG_NUMBERS))]
    if draw(st.integers(0, 2)) == 0:
        args += ["--plan", draw(plan_texts())]
    if draw(st.integers(0, 3)) == 0:
        args += ["--fit", draw(st.sampled_from(("strict", "accumulate", "loose")))]
    if draw(st.booleans()):
        hardware = draw(st.sampled_from(("h200", "a100-sxm-80gb", "xeon-8480", "quantum-ftqc")))
        command = ["estimate", "-H", hardware]
        names = (_bundled_label(hardware, "hardware profile"),)
    else:
        listed = draw(st.lists(st.sampled_from(("h200", "a100-sxm-80gb", "tpu-v5p", "nosuch", "", " ")),
                               min_size=0, max_size=3))
        command = ["compare", "-H", draw(st.sampled_from((",", ", ", ",,"))).join(listed)]
        names = ("--hardware", "nosuch")
    reads = "estimate" if command[0] == "estimate" else "compare"
    return Case(f"{command[0]} {' '.join(command[1:] + args)}",
                (*command, "-w", workload, *args, "--format", "json"),
                names=_flag_names(args) + names + (_bundled_label(workload, "workload"),), reads=reads)


@st.composite
def plan_cases(draw) -> Case:
    """``estimate`` or ``plan`` with a generated --plan text and device count."""
    workload = draw(st.sampled_from(("gpt2-124m", "gpt-1.3b")))
    plan = draw(plan_texts())
    devices = draw(st.sampled_from((None, "1", "2", "4", "8", "16", "0", "3", "1e3")))
    args = ["--plan", plan] + (["--devices", devices] if devices else [])
    if plan == "auto" or draw(st.integers(0, 4)) == 0:  # the plan search
        args = ["--devices", devices or "8", "--top", draw(st.sampled_from(("1", "3", "0", "-1")))]
        command, reads = "plan", "plan"
    else:
        command, reads = "estimate", "estimate"
    return Case(f"{command} -w {workload} {' '.join(args)}",
                (command, "-H", "h200", "-w", workload, *args, "--format", "json"),
                names=_flag_names(args) + (_bundled_label(workload, "workload"), "h200 (bundled"), reads=reads)


@st.composite
def simulate_cases(draw) -> Case:
    """``simulate`` with failure, pre-emption, straggler, checkpoint, queue, replica and seed flags."""
    options = {
        "--mtbf-hours": ("1e-9", "0.01", "1", "10", "100", "1000", "1e6") + FLAG_NUMBERS,
        "--preemptions-per-hour": ("0", "0.1", "1", "1e6") + FLAG_NUMBERS,
        "--straggler-cv": ("0", "0.05", "0.3", "2") + FLAG_NUMBERS,
        "--checkpoint-interval-s": ("1", "600", "3600", "1e-9", "1e308") + FLAG_NUMBERS,
        "--storage-gb-per-s": ("10", "0.001", "1e-9") + FLAG_NUMBERS,
        "--queue-wait-hours": ("0", "1", "1e308") + FLAG_NUMBERS,
        "--replicas": ("1", "2", "3", "0", "-1", "abc"),
        "--seed": ("0", "1", "42", "-1", str(2**64), str(2**32), "abc", "1.5"),
    }
    args = []
    for flag, values in options.items():
        if draw(st.integers(0, 2)) == 0:
            args += [flag, draw(st.sampled_from(values))]
    if draw(st.integers(0, 4)) == 0:
        args.append("--requeue-on-failure")
    devices = draw(st.sampled_from(("1", "8", "16")))
    return Case(f"simulate --devices {devices} {' '.join(args)}",
                ("simulate", "-H", "h200", "-w", "gpt2-124m", "--devices", devices, *args, "--format", "json"),
                names=_flag_names(args) + ("--devices", "gpt2-124m (bundled", "h200 (bundled"), reads="simulate")


@st.composite
def limits_cases(draw) -> Case:
    """``limits`` with targets and language-model losses and computes."""
    args = ["--quiet", "-H", draw(st.sampled_from(("h200", "h200,a100-sxm-80gb")))]
    if draw(st.booleans()):
        args += ["--target", draw(st.sampled_from(("0.1", "0.2", "0.05", "0", "1", "1.5", "-0.1") + FLAG_NUMBERS))]
        if draw(st.booleans()):
            args.append("--extrapolate")
    if draw(st.booleans()):
        args += ["--lm-compute", draw(st.sampled_from(("1e21", "1e24", "1e300", "1e30") + FLAG_NUMBERS))]
    if draw(st.booleans()):
        args += ["--lm-loss", draw(st.sampled_from(("2.5", "2.0", "1.7", "1.0") + FLAG_NUMBERS))]
    if draw(st.integers(0, 2)) == 0:
        args += ["--devices", draw(st.sampled_from(("1", "1000", "0") + FLAG_NUMBERS))]
    if draw(st.integers(0, 3)) == 0:
        args += ["--lm-devices", draw(st.sampled_from(("1", "1024", "3", "0")))]
    args += draw(cost_flags())
    return Case(f"limits {' '.join(args)}", ("limits", *args, "--format", "json"),
                names=_flag_names(args) + ("h200 (bundled",), reads="json")
