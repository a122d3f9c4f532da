"""Generated inputs through the command line keep the bad-input contract (issue 13, "keep them closed").

Profiles, workloads, --set values, flags, --plan texts, simulate flags, limits flags, sweep files (and
sweep flags), measurement records and measured-run CSVs, valid and hostile, drawn by hypothesis
(tests/properties/generators.py and generated_files.py) and run in this process, each under a 10 s
alarm. Each must end in exit 0 with finite, positive times and energies, costs not negative and every
--out file complete, or in exit 2 with exactly one line naming the file or flag and the field, nothing
left behind; never a traceback, a Python warning, a hang or a partial file (tests/properties/harness.py).

The cases are derandomized (the same every run: a flaky test is a defect) and no example database is
written. Each family's share is in ``FAMILIES``; together well over 1,000 cases, under a minute on two
cores. ``python benchmarks/fuzz_inputs.py --examples 20000`` runs the same generators at length.
"""
from __future__ import annotations

import time

import click
import pytest

from tests.properties import harness
from tests.properties.generated_files import FAMILIES
from tests.properties.harness import Case, estimate_problems, parse_json, run_case, run_family, summary

CI_CASES = sum(examples for _, examples in FAMILIES.values())


def test_ci_runs_at_least_a_thousand_generated_cases():
    assert CI_CASES >= 1000


@pytest.mark.parametrize("family", list(FAMILIES))
def test_generated_inputs_end_in_a_result_or_one_clear_line(family, tmp_path):
    strategy, examples = FAMILIES[family]
    started = time.perf_counter()
    tally = run_family(strategy(), examples, tmp_path)
    seconds = time.perf_counter() - started
    assert tally.total == examples, f"hypothesis ran {tally.total} of {examples} cases"
    assert not tally.failures, summary(tally)
    assert tally.counts["ok"] and tally.counts["refused"], f"{family}: one outcome only: {dict(tally.counts)}"
    assert seconds < 60, f"{family}: {examples} cases took {seconds:.0f} s"


# ---------------------------------------------------------------- the harness itself catches each failure
def test_the_harness_counts_a_refusal_that_names_the_flag(tmp_path):
    case = Case("devices", ("estimate", "-H", "h200", "-w", "gpt2-124m", "--devices", "0", "--format", "json"),
                names=("--devices",), reads="estimate")
    assert run_case(case, tmp_path).kind == "refused"


def test_the_harness_flags_a_refusal_that_names_no_input(tmp_path):
    case = Case("devices", ("estimate", "-H", "h200", "-w", "gpt2-124m", "--devices", "0", "--format", "json"),
                names=("--not-this-flag",), reads="estimate")
    assert run_case(case, tmp_path).kind == "unnamed"


def test_the_harness_flags_a_hang(tmp_path, monkeypatch):
    @click.command()
    def forever():
        while True:
            time.sleep(0.01)

    monkeypatch.setattr(harness, "main", forever)
    started = time.perf_counter()
    outcome = run_case(Case("a command that never ends", ()), tmp_path, limit_s=0.2)
    assert outcome.kind == "hang", outcome
    assert time.perf_counter() - started < 5


def test_the_harness_flags_an_incomplete_out_file(tmp_path):
    case = Case("sweep-demo", ("sweep", "sweep-demo", "--out", "{dir}/rows.csv", "--quiet"),
                outs=("rows.csv",), reads="rows", rows=145)
    outcome = run_case(case, tmp_path)
    assert outcome.kind == "partial" and "144 rows" in outcome.detail, outcome


def test_the_harness_flags_non_finite_json():
    with pytest.raises(ValueError, match="NaN"):
        parse_json('{"step_time_s": NaN}')
    assert estimate_problems({"step_time_s": 0.0, "cost_usd": 1e400})[0].startswith("non-finite")
