"""Project rules that code review would otherwise have to catch."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONVERSION = re.compile(r"[*/]\s*(1e3|1e6|1e9|1e12|1e15|1000(\.0)?|3600(\.0)?|86400(\.0)?)\b")


def test_no_unit_conversion_literal_outside_the_units_module():
    offenders = []
    for path in list((ROOT / "simulator").rglob("*.py")) + list((ROOT / "cli").glob("*.py")):
        if path.name == "units.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if CONVERSION.search(line.split("#", 1)[0]):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_the_core_prints_nothing():
    for path in (ROOT / "simulator").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*print\(", text, re.M), path.name


def test_only_the_loader_opens_files():
    allowed = {"loader.py"}
    for path in (ROOT / "simulator").rglob("*.py"):
        if path.name in allowed:
            continue
        text = path.read_text()
        assert not re.search(r"\bopen\(|\.read_text\(|\.write_text\(", text), path.name
