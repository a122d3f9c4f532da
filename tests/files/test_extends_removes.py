"""A profile that extends another can take a field away with null (issue 15): the rate is gone, not
inherited, and a required field cannot be removed."""
import pytest

from simulator.errors import CostsimError
from simulator.files.loader import load_profile


def _child(tmp_path, body: str):
    path = tmp_path / "child.yaml"
    path.write_text("extends: h100-sxm\nname: child\ndescription: a what-if\n" + body +
                    "sources:\n  - {cite: what-if, fields: [peak_dense_flops_per_s.fp8], status: assumption}\n")
    return str(path)


def test_null_removes_an_inherited_rate(tmp_path):
    p = load_profile(_child(tmp_path, "peak_dense_flops_per_s: {fp8: null}\n"))
    parent = load_profile("h100-sxm")
    assert parent.peak_dense_flops_per_s.fp8 and p.peak_dense_flops_per_s.fp8 is None
    assert p.peak_dense_flops_per_s.bf16 == parent.peak_dense_flops_per_s.bf16  # the rest inherited


def test_a_required_field_cannot_be_removed(tmp_path):
    with pytest.raises(CostsimError) as err:
        load_profile(_child(tmp_path, "memory_bytes: null\n"))
    assert err.value.field == "memory_bytes"
