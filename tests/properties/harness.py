"""One generated case through the command line, in this process, and the bad-input contract it must keep.

A case is a command line, the files it reads (written into a fresh folder first) and what a refusal must
name. ``run_case`` runs it under a time limit and classifies what happened:

- ``ok``: exit 0, every number of the result finite, times and energies positive, costs not negative,
  every ``--out`` file there and complete;
- ``refused``: exit 2, exactly one line on stderr, ``costsim: error: ...``, naming one of the case's
  files or flags and (where the case says which) the field, nothing left behind in the folder;
- anything else is a failure: ``traceback`` (an exception, exit 1), ``exit N``, ``hang`` (over the time
  limit), ``warning`` (a Python warning that would reach stderr), ``lines`` (not one line), ``unnamed``
  (the line names no input or not the field), ``non-finite``, ``non-positive``, ``partial`` (a file left
  behind by a refusal, or an --out file missing or incomplete after a success), ``misleading`` (bad input
  taken as something else), ``bad output`` (unreadable).

The generated tests assert that no case fails; ``benchmarks/fuzz_inputs.py`` counts the outcomes.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import re
import shlex
import shutil
import signal
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed

from cli.main import main
from tests.conftest import cli_runner

TIME_LIMIT_S = 10.0
OK, REFUSED = "ok", "refused"
# what a real run of the command would print: Python hides these categories outside __main__
_HIDDEN_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)
# totals that must be positive in every estimate (times and energies); costs must not be negative
POSITIVE = ("step_time_s", "total_time_s", "device_hours", "device_energy_joules", "energy_joules")
NOT_NEGATIVE_SUFFIXES = ("_s", "_joules", "_usd", "_kg", "_watts", "_bytes", "_hours", "flops", "_per_s")


@dataclass(frozen=True)
class Case:
    """One generated command line.

    ``args`` may hold ``{dir}``, the case's folder; ``files`` are written there first (name: text).
    A refusal must name one of ``names`` (``{dir}`` expanded; a file's name counts) and, where ``fields``
    is not empty, one of ``fields`` (:data:`LINE`: a line of a file, ``runs.csv:4``, instead of a field).
    ``outs`` are the files the command writes (complete or absent); ``reads`` says what a success
    prints: estimate, compare, plan, simulate, rows, profile or json; ``rows``: how many rows a
    successful sweep must write (None: not checked)."""

    label: str
    args: tuple[str, ...]
    files: tuple[tuple[str, str], ...] = ()
    names: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()
    reads: str = "json"
    rows: int | None = None

    def command(self, folder: str = ".") -> str:
        """The command line as a shell would take it (files written beside it)."""
        return "costsim " + " ".join(shlex.quote(a.replace("{dir}", folder)) for a in self.args)

    def reproduce(self) -> str:
        """The files and the command, as text to paste into a report."""
        parts = []
        for name, text in self.files:
            shown = text if len(text) <= 600 else text[:600] + f"... ({len(text)} characters)"
            parts.append(f"--- {name}\n{shown}")
        return "\n".join(parts + [self.command()])


@dataclass
class Outcome:
    """What one case did: ``kind`` (ok, refused, or a failure) and the detail (the error line, the problem)."""

    kind: str
    detail: str
    case: Case
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        """Whether the case broke the contract."""
        return self.kind not in (OK, REFUSED)


@dataclass
class Tally:
    """Outcomes counted over many cases, with the failures kept."""

    counts: Counter = field(default_factory=Counter)
    failures: list = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        """Count ``outcome``; keep it when it is a failure."""
        self.counts[outcome.kind] += 1
        if outcome.failed:
            self.failures.append(outcome)

    @property
    def total(self) -> int:
        """Cases counted."""
        return sum(self.counts.values())


class CaseTimeout(BaseException):
    """Raised by the alarm in a case that runs past its time limit (not an Exception: nothing catches it)."""


class _Alarm:
    """The handler of a case's alarm: it raises :class:`CaseTimeout`, and again at most every 0.1 s while
    the timer repeats (an alarm that lands in a garbage-collector callback or a destructor is swallowed;
    one that propagates must not fire again while the runner's own clean-up runs)."""

    def __init__(self):
        self.last = -math.inf

    def __call__(self, signum, frame):
        now = time.monotonic()
        if now - self.last >= 0.1:
            self.last = now
            raise CaseTimeout()


# ---------------------------------------------------------------- checks of a result
def _numbers(value, path=""):
    """(path, number) for every number in a JSON value."""
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _numbers(v, f"{path}[{i}]")


class NonFinite(ValueError):
    """NaN or Infinity in JSON output."""


def _reject_constant(name):
    raise NonFinite(f"{name} in the JSON output")


def parse_json(text: str):
    """JSON output, refusing NaN and Infinity (which Python's json reads by default)."""
    return json.loads(text, parse_constant=_reject_constant)


def number_problems(value) -> list[str]:
    """What is wrong with the numbers of a result: non-finite ones, negative quantities."""
    out = []
    for path, x in _numbers(value):
        leaf = path.rsplit(".", 1)[-1]
        if isinstance(x, float) and not math.isfinite(x):
            out.append(f"non-finite: {path} = {x}")
        elif x < 0 and leaf.endswith(NOT_NEGATIVE_SUFFIXES) and "error" not in path:
            out.append(f"non-positive: {path} = {x}")
    return out


def estimate_problems(e: dict) -> list[str]:
    """An estimate's numbers, and its totals positive."""
    out = number_problems(e)
    for key in POSITIVE:
        if key in e and not (isinstance(e[key], (int, float)) and e[key] > 0):
            out.append(f"non-positive: {key} = {e[key]}")
    if "cost_usd" in e and not (isinstance(e["cost_usd"], (int, float)) and e["cost_usd"] >= 0):
        out.append(f"non-positive: cost_usd = {e['cost_usd']}")
    return out


def _result_problems(reads: str, stdout: str) -> list[str]:
    data = parse_json(stdout)
    if reads == "estimate":
        return estimate_problems(data) if "step_time_s" in data else number_problems(data)  # quantum: a verdict
    if reads == "compare":
        return [p for row in data for p in (estimate_problems(row["estimate"]) if row.get("estimate") else [])]
    if reads == "plan":
        space = data["space"]
        out = number_problems(space)
        if not space["fitted"] + sum(space["pruned"].values()) == space["candidates"] >= len(data["plans"]) > 0:
            out.append(f"bad output: the search space does not add up: {space}")
        return out + [p for row in data["plans"] for p in estimate_problems(row["estimate"])]
    if reads == "simulate":
        out = estimate_problems(data["closed_form"]) + number_problems(data["simulation"])
        sim = data["simulation"]
        for key in ("wall_time_s", "energy_joules", "device_hours"):
            q = sim[key]
            if not q["p5"] <= q["p50"] <= q["p95"]:
                out.append(f"bad output: {key} percentiles out of order: {q}")
            if not q["p5"] > 0:
                out.append(f"non-positive: simulation.{key}.p5 = {q['p5']}")
        return out
    return number_problems(data)


SWEEP_SUFFIXES = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".md": "markdown", ".tex": "latex"}


def _rows_problems(path: Path, expected: int | None, fmt: str | None) -> list[str]:
    """A sweep's --out file: there, complete (every row), every number finite; an extension that names
    no format is refused unless --format says which."""
    if not path.is_file():
        return [f"partial: {path.name} not written"]
    if fmt is None and path.suffix not in SWEEP_SUFFIXES:
        return [f"misleading: --out {path.name} accepted, an extension that names no format"]
    fmt = fmt or SWEEP_SUFFIXES[path.suffix]
    text = path.read_text(encoding="utf-8")
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(text)))[1:]
        bad = sorted({v for r in rows for v in r if v.strip().lower() in ("nan", "inf", "-inf", "infinity")})
        out = [f"non-finite: {path.name} has {', '.join(bad)}"] if bad else []
    elif fmt == "jsonl":
        rows = [parse_json(line) for line in text.splitlines() if line.strip()]
        out = number_problems(rows)
    elif fmt == "json":
        rows = parse_json(text)
        out = number_problems(rows)
    else:
        rows, out = None, ([] if text.strip() else [f"partial: {path.name} is empty"])
    if rows is not None and expected is not None and len(rows) != expected:
        out.append(f"partial: {path.name} has {len(rows)} rows, the grid {expected}")
    return out


def _profile_problems(path: Path) -> list[str]:
    """A calibrated profile: there, a complete YAML mapping that validates, every number finite."""
    if not path.is_file():
        return [f"partial: {path.name} not written"]
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        return [f"partial: {path.name} is not YAML: {str(err).splitlines()[0]}"]
    if not isinstance(data, dict):
        return [f"partial: {path.name} is not a mapping"]
    check = cli_runner().invoke(main, ["profiles", "validate", str(path)])
    out = [] if check.exit_code == 0 else [f"bad output: the written profile does not validate: {check.stderr.strip()}"]
    return out + [p for p in number_problems(data) if p.startswith("non-finite")]


# ---------------------------------------------------------------- one case
LINE = "LINE"  # a field of a case: the problem is a line of a file (``rows.csv:4``, ``line 4``), not a field
_LINE = re.compile(r"\.(jsonl|csv|yaml):\d+\b|\bline \d+")


def _names_field(line: str, field: str) -> bool:
    return bool(_LINE.search(line)) if field == LINE else field in line


def _classify(case: Case, folder: Path, result, inputs: set[str]) -> tuple[str, str]:
    code, exc = result.exit_code, result.exception
    stderr = result.stderr
    if exc is not None and not isinstance(exc, SystemExit):
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])
        return "traceback", f"{type(exc).__name__}: {str(exc)[:300]}\n{tb[-800:]}"
    if "Traceback" in stderr:
        return "traceback", stderr[-800:]
    if code == 2:
        lines = [line for line in stderr.splitlines() if line.strip()]
        if len(lines) != 1:
            return "lines", f"{len(lines)} lines on stderr: {stderr[:600]!r}"
        line = lines[0]
        if not line.startswith("costsim: error: "):
            return "lines", f"not 'costsim: error: ...': {line}"
        names = [n.replace("{dir}", str(folder)) for n in case.names]
        if not any(n in line for n in names):
            return "unnamed", f"names none of {case.names}: {line}"
        # a run that does not fit names the inputs whose numbers decide it, with its figures
        if case.fields and not any(_names_field(line, f) for f in case.fields) and "does not fit" not in line:
            return "unnamed", f"names none of the fields {case.fields}: {line}"
        left = sorted(p.name for p in folder.iterdir() if p.name not in inputs)
        if left:
            return "partial", f"refused but left {left} behind: {line}"
        return REFUSED, line
    if code != 0:
        return f"exit {code}", f"{stderr[-400:]!r} {result.stdout[-200:]!r}"
    if "Traceback" in result.stdout:
        return "traceback", result.stdout[-800:]
    try:
        if case.reads == "rows":
            fmt = case.args[case.args.index("--format") + 1] if "--format" in case.args else None
            problems = _rows_problems(folder / case.outs[0], case.rows, fmt)
        elif case.reads == "profile":
            problems = _profile_problems(folder / case.outs[0])
        else:
            problems = _result_problems(case.reads, result.stdout)
    except NonFinite as err:
        return "non-finite", str(err)
    except (ValueError, KeyError, TypeError, IndexError) as err:
        return "bad output", f"{type(err).__name__}: {err}: {result.stdout[:300]!r}"
    if problems:
        return problems[0].split(":", 1)[0], "; ".join(problems[:3])
    return OK, ""


def run_case(case: Case, root: Path | str, limit_s: float = TIME_LIMIT_S) -> Outcome:
    """Run ``case`` in a fresh folder under ``root``, in this process, at most ``limit_s`` seconds (an
    alarm: the main thread only), and classify what it did. The folder is removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="case-", dir=root))
    try:
        for name, text in case.files:
            (folder / name).write_text(text, encoding="utf-8")
        args = [a.replace("{dir}", str(folder)) for a in case.args]
        previous = signal.signal(signal.SIGALRM, _Alarm())
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught, contextlib.chdir(folder):
            warnings.simplefilter("always")
            signal.setitimer(signal.ITIMER_REAL, limit_s, min(limit_s, 0.05))  # repeating: see _Alarm
            try:
                result = cli_runner().invoke(main, args)
            except CaseTimeout:
                return Outcome("hang", f"over {limit_s:g} s", case, time.perf_counter() - start)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
        seconds = time.perf_counter() - start
        shown = [w for w in caught if not issubclass(w.category, _HIDDEN_WARNINGS)]
        if shown:
            w = shown[0]
            return Outcome("warning", f"{w.category.__name__}: {w.message} ({Path(w.filename).name}:{w.lineno})",
                           case, seconds)
        kind, detail = _classify(case, folder, result, {name for name, _ in case.files})
        return Outcome(kind, detail, case, seconds)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def report(outcome: Outcome) -> str:
    """A failure as text: what happened and how to reproduce it."""
    return f"{outcome.kind}: {outcome.case.label}\n  {outcome.detail}\n{outcome.case.reproduce()}"


def run_family(strategy, examples: int, root: Path | str, *, limit_s: float = TIME_LIMIT_S, seed: int | None = None,
               tally: Tally | None = None, on_outcome=None) -> Tally:
    """Run ``examples`` cases drawn from ``strategy`` through :func:`run_case` and count them. Derandomized
    (the same cases every run) unless ``seed`` is given; generation only: nothing is raised, so nothing is
    shrunk, and every failure is kept with its self-contained input. ``on_outcome(outcome)`` is called
    after each case."""
    tally = tally if tally is not None else Tally()

    @settings(max_examples=examples, deadline=None, database=None, derandomize=seed is None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck), print_blob=False)
    @given(strategy)
    def body(case):
        outcome = run_case(case, root, limit_s)
        tally.add(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    (hypothesis_seed(seed)(body) if seed is not None else body)()
    return tally


def _shape(detail: str) -> str:
    """What a failure says with its particulars taken out (paths, numbers, quoted values), to group by."""
    text = detail.split("costsim: error: ", 1)[-1].splitlines()[0] if detail else ""
    text = re.sub(r"\S*/case-[^/\s]+/", "", text)
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'S'", text)
    text = re.sub(r"[-+]?(\d[\d_,.]*(e[-+]?\d+)?|inf|nan)\b", "N", text, flags=re.I)
    return " ".join(text.split()[:8])


def summary(tally: Tally, show: int = 10) -> str:
    """The failures of ``tally`` grouped by kind and first words, the first ``show`` groups in full."""
    groups: dict[tuple[str, str], list[Outcome]] = {}
    for outcome in tally.failures:
        groups.setdefault((outcome.kind, _shape(outcome.detail)), []).append(outcome)
    lines = [f"{tally.total} cases: " + ", ".join(f"{k} {n}" for k, n in tally.counts.most_common())]
    for i, ((kind, _), found) in enumerate(sorted(groups.items(), key=lambda kv: -len(kv[1]))):
        if i >= show:
            lines.append(f"... and {len(groups) - show} more groups")
            break
        lines.append(f"\n[{len(found)} x] {report(found[0])}")
    return "\n".join(lines)
