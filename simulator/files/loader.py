"""The only module of the core that opens files: YAML profiles and workloads in, validated models out.

Resolves bundled names and paths, ``extends:`` chains (with cycle detection), ``--set`` overrides, and
PyYAML's YAML 1.1 number pitfall (``3.35e12`` and ``80e9`` are numbers here, not strings). Every
problem becomes a one-line :class:`CostsimError` naming the file, the field path and the problem.
Also reads sweep files and the CPU's model name, and writes files (atomically where a partial file
would mislead). Measurement records are read by ``files/records.py``, published tables by
``files/published.py``, both through :func:`read_text`.
"""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from ..errors import CostsimError
from ..schema.hardware import ClassicalProfile, HardwareProfile
from ..schema.workload import CNNWorkload, GenericWorkload, MLPWorkload, TransformerWorkload, Workload
from .bundled import label as bundled_label
from .hf import check_trained, config_named, hf_workload
from .kinds import wrong_kind
from .yaml_text import YamlLoader, parse_yaml_text

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_EFFICIENCY_REFERENCE = "h200"

_HARDWARE = TypeAdapter(HardwareProfile)
_WORKLOAD = TypeAdapter(Workload)


def read_text(path: str | Path) -> str:
    """A file's text, or a one-line error naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CostsimError("no such file", source=where(path)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise CostsimError(f"cannot read: {err.__class__.__name__}", source=where(path)) from None


def read_yaml(path: Path) -> dict:
    """A YAML file's top-level mapping, or a one-line error naming the file."""
    data = parse_yaml_text(read_text(path), where(path))
    if not isinstance(data, dict):
        raise CostsimError("expected a mapping of fields at the top level", source=where(path))
    return data


# ---------------------------------------------------------------- names and paths
HF_PREFIX = "hf:"
_BUNDLED_FOLDERS = {"hardware": "hardware_profiles", "workload": "workloads", "sweep": "simulator/data/examples"}
_LABELS = {"hardware": "hardware profile", "workload": "workload", "sweep": "sweep"}


def bundled_dir(what: str) -> Path:
    """The folder of the bundled YAML files of one kind: hardware, workload or sweep (the examples)."""
    return REPO_ROOT / _BUNDLED_FOLDERS[what]


def where(path: str | Path) -> str:
    """How a message names a file: ``gpt3-175b (bundled workload)`` or ``bundled thompson/gpus.csv`` for
    what ships in the package (never a path inside site-packages), the path as given otherwise."""
    p = Path(path)
    try:
        parent = p.resolve().parent
    except OSError:
        return str(path)
    for what in _BUNDLED_FOLDERS:
        if p.suffix == ".yaml" and parent == bundled_dir(what).resolve():
            return f"{p.stem} (bundled {_LABELS[what]})"
    return bundled_label(p)


def bundled_names(what: str) -> list[str]:
    """The names of the bundled YAML files of one kind (hardware, workload, sweep), sorted."""
    return sorted(p.stem for p in bundled_dir(what).glob("*.yaml"))


def resolve(ref: str, what: str, relative_to: Path | None = None) -> Path:
    """A bundled name (``h200``) or a path (``my/h200-2x.yaml``) to an existing file."""
    if what == "workload" and ref.startswith(HF_PREFIX):  # a Hugging Face config.json, a local file
        path = Path(ref[len(HF_PREFIX):])
        if not _is_file(path):
            raise CostsimError(f"no such file: {path} (hf: takes a local config.json; nothing is downloaded)")
        return path
    candidates = []
    as_path = Path(ref)
    if relative_to is not None and not as_path.is_absolute():
        candidates.append(relative_to / as_path)
        candidates.append(relative_to / f"{ref}.yaml")
    candidates += [as_path, bundled_dir(what) / f"{ref}.yaml"]
    for c in candidates:
        if _is_file(c):
            return c
    known = ", ".join(bundled_names(what))
    shown = ref if len(ref) <= 80 else ref[:60] + f"... ({len(ref)} characters)"
    raise CostsimError(f"unknown {_LABELS[what]} '{shown}': not a file and not a bundled name ({known})")


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a file; a name the system cannot take (too long, a NUL byte) is none."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


# ---------------------------------------------------------------- extends and overrides
def _merge(base: dict, child: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in child.items():
        if key == "sources" and isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = out[key] + value
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _expand_extends(path: Path, what: str, seen: tuple[Path, ...] = ()) -> dict:
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(p.name for p in (*seen, path))
        raise CostsimError(f"cycle {chain}", source=where(seen[0]), field="extends")
    data = read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise CostsimError("must name one profile or path", source=where(path), field="extends")
    try:
        parent_path = resolve(parent, what, relative_to=path.parent)
    except CostsimError as err:
        raise CostsimError(err.problem, source=where(path), field="extends") from None
    return _merge(_expand_extends(parent_path, what, (*seen, path)), data)


def parse_override(text: str) -> tuple[str, str]:
    """A ``--set`` item ``field=value`` split into its field and its raw value."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise CostsimError(f"--set expects field=value, got '{text}'")
    return key.strip(), value.strip()


def override_text(value: Any) -> str:
    """A value as the text of a ``field=value`` override that reads back as the same value: text quoted (the
    text 'yes' stays text, not a YAML boolean; '12' stays text, not a number), booleans as true/false,
    numbers as they are, lists and mappings in flow style (JSON, which is YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value)


def _find_paths(data: Any, key: str, prefix: tuple = ()) -> list[tuple]:
    found = []
    if isinstance(data, dict):
        for k, v in data.items():
            if k == key:
                found.append(prefix + (k,))
            found += _find_paths(v, key, prefix + (k,))
    return found


def _set_path(data: dict, path: tuple, raw: str, label: str) -> None:
    if len(path) > 1 and path[0] == "efficiency" and "efficiency" not in data and data.get("kind") in _HW_TAGS:
        ref = data.get("efficiency_from") or DEFAULT_EFFICIENCY_REFERENCE
        raise CostsimError(f"this profile borrows its efficiency curves from {ref} (efficiency_from), so it has "
                           f"none of its own to change: give it an efficiency block in a profile file",
                           source="--set", field=label)
    node = data
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    leaf = path[-1]
    if raw.startswith("*"):
        current = node.get(leaf)
        try:
            factor = parse_yaml_text(raw[1:], "--set")
        except CostsimError:
            factor = None
        if not isinstance(current, (int, float)) or isinstance(current, bool):
            raise CostsimError(f"cannot scale a field that is not a number (it is {current!r})",
                               source="--set", field=label)
        if not isinstance(factor, (int, float)) or isinstance(factor, bool):
            raise CostsimError(f"scale factor '{raw[1:]}' is not a number", source="--set", field=label)
        try:
            scaled = current * factor
        except OverflowError:
            raise CostsimError(f"{current!r} x {factor!r} is too large", source="--set", field=label) from None
        if isinstance(current, int) and isinstance(scaled, float) and scaled.is_integer():
            scaled = int(scaled)  # a count scaled by a whole factor (12 x 1.5) stays a count
        node[leaf] = scaled
    else:
        try:
            node[leaf] = parse_yaml_text(raw, "--set")
        except CostsimError as err:
            raise CostsimError(err.problem, source="--set", field=label) from None


def _schema_paths(*models) -> dict[str, tuple]:
    """Leaf field name -> path, for fields that are unambiguous across the given models' trees."""
    found: dict[str, set] = {}

    def walk(model, prefix):
        for name, info in model.model_fields.items():
            ann = info.annotation
            sub = next((a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type)
                        and issubclass(a, BaseModel)), None)
            if sub is not None and name != "sources":
                walk(sub, prefix + (name,))
            else:
                found.setdefault(name, set()).add(prefix + (name,))

    for m in models:
        walk(m, ())
    return {k: next(iter(v)) for k, v in found.items() if len(v) == 1}


_WORKLOAD_SCHEMA_PATHS = _schema_paths(TransformerWorkload, CNNWorkload, MLPWorkload, GenericWorkload)
_HARDWARE_SCHEMA_PATHS = _schema_paths(ClassicalProfile)


def apply_overrides(hardware: dict | None, workload: dict | None, sets: Iterable[str]) -> None:
    """Apply ``field=value`` (or ``field=*factor``) overrides in place.

    ``hardware.a.b`` and ``workload.a.b`` address a field exactly; a bare name is looked up in the
    workload first (its training block included), then in the profile, and must be unambiguous.
    """
    for item in sets:
        key, raw = parse_override(item)
        head, _, rest = key.partition(".")
        if head in ("hardware", "workload") and rest:
            target = hardware if head == "hardware" else workload
            if target is None:
                raise CostsimError(f"no {head} to override", source="--set", field=key)
            _set_path(target, tuple(rest.split(".")), raw, key)
            continue
        placed = False
        for target, schema in ((workload, _WORKLOAD_SCHEMA_PATHS), (hardware, _HARDWARE_SCHEMA_PATHS)):
            if target is None:
                continue
            paths = _find_paths(target, key)
            if not paths and key in schema:  # a field the file leaves at its default
                paths = [schema[key]]
            if len(paths) > 1:
                names = ", ".join(".".join(p) for p in paths)
                raise CostsimError(f"ambiguous, matches {names}: name the full path", source="--set", field=key)
            if paths:
                _set_path(target, paths[0], raw, key)
                placed = True
                break
        if not placed:
            raise CostsimError("no such field in the workload or the hardware profile", source="--set", field=key)


# ---------------------------------------------------------------- validation
_HW_TAGS = frozenset({"cpu", "gpu", "tpu", "fpga", "asic", "quantum"})
_WL_TAGS = frozenset({"transformer", "cnn", "mlp", "generic"})


def validate_profile(data: Mapping, source: str = "<profile>"):
    """A hardware profile validated from its (merged) fields, nothing filled from a reference."""
    try:
        return _HARDWARE.validate_python(dict(data))
    except ValidationError as err:
        if (problem := wrong_kind(data, "hardware")) is not None:
            raise CostsimError(problem, source=source, field="kind") from None
        raise CostsimError.from_validation(err, source=source, tags=_HW_TAGS) from None


def validate_workload(data: Mapping, source: str = "<workload>"):
    """A workload validated from its fields."""
    check_trained(data, source)
    try:
        return _WORKLOAD.validate_python(dict(data))
    except ValidationError as err:
        if (problem := wrong_kind(data, "workload")) is not None:
            raise CostsimError(problem, source=source, field="kind") from None
        raise config_named(CostsimError.from_validation(err, source=source, tags=_WL_TAGS), source) from None


# ---------------------------------------------------------------- public entry points
def raw_profile(ref: str | Mapping) -> tuple[dict, str]:
    """The merged (``extends:`` expanded) dictionary of a profile, and its source label."""
    if isinstance(ref, Mapping):
        return copy.deepcopy(dict(ref)), "<dict>"
    path = resolve(str(ref), "hardware")
    return _expand_extends(path, "hardware"), where(path)


def raw_workload(ref: str | Mapping) -> tuple[dict, str]:
    """The dictionary of a workload (``extends:`` expanded where it has one), and its source label."""
    if isinstance(ref, Mapping):
        return copy.deepcopy(dict(ref)), "<dict>"
    path = resolve(str(ref), "workload")
    if str(ref).startswith(HF_PREFIX):
        return hf_workload(read_text(path), where(path), path.resolve().parent.name), where(path)
    data = read_yaml(path)
    if "extends" in data:
        data = _expand_extends(path, "workload")
    return data, where(path)


def _needs_reference(profile) -> bool:
    return isinstance(profile, ClassicalProfile) and (
        profile.efficiency is None or profile.power.compute_bound_fraction is None
        or profile.power.memory_bound_fraction is None)


def finish_profile(data: dict, source: str, _depth: int = 0):
    """Validate a profile and fill what it leaves to its calibrated reference (``efficiency_from``,
    default h200): the efficiency curves and the power model's regime fractions, as measured there."""
    profile = validate_profile(data, source)
    if not _needs_reference(profile):
        return profile
    ref = profile.efficiency_from or DEFAULT_EFFICIENCY_REFERENCE
    if _depth > 4:
        raise CostsimError("efficiency_from chain too long", source=source, field="efficiency_from")
    try:
        ref_path = resolve(ref, "hardware")
    except CostsimError as err:
        raise CostsimError(err.problem, source=source, field="efficiency_from") from None
    reference = finish_profile(_expand_extends(ref_path, "hardware"), where(ref_path), _depth + 1)
    if not isinstance(reference, ClassicalProfile) or _needs_reference(reference):
        raise CostsimError(f"'{ref}' has no calibrated curves and power fractions to borrow", source=source,
                           field="efficiency_from")
    power = profile.power.model_copy(update={
        k: getattr(reference.power, k) for k in ("compute_bound_fraction", "memory_bound_fraction")
        if getattr(profile.power, k) is None})
    update = {"power": power, "efficiency_from": ref if profile.efficiency is None else profile.efficiency_from}
    if profile.efficiency is None:  # the curves carry over; the power-limit derating is the reference's own
        update["efficiency"] = reference.efficiency.model_copy(
            update={"sustained_compute_fraction": profile.sustained_compute_fraction or 1.0})
    return profile.model_copy(update=update)


def load_profile(ref: str | Mapping, sets: Iterable[str] = ()):
    """A hardware profile by bundled name, path or mapping, with ``field=value`` overrides applied."""
    data, source = raw_profile(ref)
    apply_overrides(data, None, list(sets))
    return finish_profile(data, source)


def load_workload(ref: str | Mapping, sets: Iterable[str] = ()):
    """A workload by bundled name, path or mapping, with ``field=value`` overrides applied."""
    data, source = raw_workload(ref)
    apply_overrides(None, data, list(sets))
    return validate_workload(data, source)


def load_pair(hardware: str | Mapping, workload: str | Mapping, sets: Iterable[str] = ()):
    """Load a profile and a workload together, applying overrides that may address either."""
    hw_data, hw_source = raw_profile(hardware)
    wl_data, wl_source = raw_workload(workload)
    apply_overrides(hw_data, wl_data, list(sets))
    return finish_profile(hw_data, hw_source), validate_workload(wl_data, wl_source)




# ---------------------------------------------------------------- sweep files
def load_sweep(path: str | Path) -> tuple[dict, dict[tuple[str, int | str], int]]:
    """A sweep file's mapping, and the line (1-based) of every list item of a top-level axis, so that an
    error in a long list can name its line: {(axis, index): line}; and of every key of a mapping axis
    ({("set", "layers"): line}). ``path`` may also name a bundled example (``sweep-demo``)."""
    path = resolve(str(path), "sweep")
    text = read_text(path)
    data = parse_yaml_text(text, where(path))
    if not isinstance(data, dict):
        raise CostsimError("expected a mapping of axes at the top level", source=where(path))
    lines: dict[tuple[str, int | str], int] = {}
    node = yaml.compose(text, Loader=YamlLoader)
    for key, value in getattr(node, "value", []):
        if isinstance(value, yaml.SequenceNode):
            for i, item in enumerate(value.value):
                lines[(key.value, i)] = item.start_mark.line + 1
        elif isinstance(value, yaml.MappingNode):
            for sub, seq in value.value:
                lines[(key.value, sub.value)] = sub.start_mark.line + 1  # a key of a mapping axis (set:)
                if isinstance(seq, yaml.SequenceNode):
                    for i, item in enumerate(seq.value):
                        lines[(f"{key.value}.{sub.value}", i)] = item.start_mark.line + 1
    return data, lines


# ---------------------------------------------------------------- this machine, and files written
def read_cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), for provenance; empty where unknown."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def write_text_atomically(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` so that an interrupted write leaves no partial file."""
    write_bytes_atomically(path, text.encode("utf-8"))


def write_bytes_atomically(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that an interrupted write leaves no partial file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as err:
        _discard(tmp)
        raise CostsimError(f"cannot write: {err.strerror or err}", source=str(path)) from None
    except BaseException:  # interrupted: leave nothing behind
        _discard(tmp)
        raise


def _discard(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:  # the folder itself is unusable: there is nothing to remove
        pass


def make_folder(path: str | Path) -> None:
    """Create a folder and its parents (nothing if it exists), or a one-line error naming it."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CostsimError(f"cannot create the folder: {err.strerror or err}", source=str(path)) from None


def open_rows_file(path: str | Path):
    """A text file for streaming a sweep's rows, written as they come (a sweep cut short keeps them)."""
    try:
        return open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - the caller closes it
    except OSError as err:
        raise CostsimError(f"cannot write: {err.strerror}", source=str(path)) from None
