import json
from pathlib import Path

import pytest

from simulator.files.bundled import bundled_root

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"  # the source of the bundled copies: only the test that compares them reads it
DATA = bundled_root()  # the data sets bundled in the package, which the tests read
H200_DATA = DATA / "h200"


def cli_runner():
    """A click test runner that keeps stderr apart from stdout, on every click version."""
    from click.testing import CliRunner

    try:
        return CliRunner(mix_stderr=False)  # click < 8.2
    except TypeError:
        return CliRunner()


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def h200_records():
    return read_jsonl(H200_DATA / "measurements.jsonl"), read_jsonl(H200_DATA / "operators.jsonl")
