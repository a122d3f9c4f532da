"""A change of structure changes no number: the fixed set of results in tests/golden/results.json
(every bundled classical profile on every bundled workload, strategies, a plan search, a seeded
simulation and the bundled suites' per-run predictions) is reproduced, numbers to one part in a million
(scipy's fits move in their last digits with the library and the machine). After a change that is meant
to move numbers, rerun ``python scripts/golden.py --write`` and say why in the commit."""
import importlib.util
import json

from tests.conftest import ROOT


def test_the_fixed_set_of_results_is_reproduced():
    spec = importlib.util.spec_from_file_location("golden", ROOT / "scripts" / "golden.py")
    golden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(golden)
    before = json.loads(golden.GOLDEN.read_text())
    moved = golden.differences(before, golden.results())
    assert not moved, "\n".join(moved[:20])
