import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
H200_DATA = SHARED / "calibration" / "h200"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def h200_records():
    if not H200_DATA.is_dir():
        pytest.skip(f"calibration data not found at {H200_DATA}")
    return read_jsonl(H200_DATA / "measurements.jsonl"), read_jsonl(H200_DATA / "operators.jsonl")
