"""Every bundled profile and workload loads, cites its sources, and names its units."""
import pytest

from simulator.files.loader import bundled_names, load_profile, load_workload, raw_profile
from simulator.schema.hardware import ClassicalProfile, QuantumProfile

UNIT_SUFFIXES = ("_s", "_bytes", "_flops", "_flops_per_s", "_bytes_per_s", "_watts", "_joules", "_usd",
                 "_usd_per_hour", "_kg_co2", "_fraction")
UNITLESS = {"year", "devices_per_node", "scale_up_domain_devices", "inter_oversubscription", "exponent",
            "magic_state_factories", "logical_qubits",
            "cycles_per_toffoli", "classical_parallelism", "degree", "sparse_2_4_accelerated",
            # a count: the reduction length (multiply-accumulates per output) of a convolution's tiles
            "conv_tile_half_reduction",
            # per-dtype rates: the unit is in the parent's name (peak_dense_flops_per_s)
            "fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int8", "int4",
            # memory_class_fraction's members: the unit is in the parent's name
            "elementwise", "normalization", "loss", "embedding", "optimizer"}


def numeric_fields(model, prefix=""):
    for name, value in model:
        path = f"{prefix}{name}"
        if isinstance(value, bool) or name in ("sources",):
            continue
        if isinstance(value, (int, float)):
            yield name, path
        elif hasattr(type(value), "model_fields"):
            yield from numeric_fields(value, path + ".")


@pytest.mark.parametrize("name", bundled_names("hardware"))
def test_profile_loads_and_cites_sources(name):
    p = load_profile(name)
    assert p.name == name
    assert p.sources and all(s.cite for s in p.sources)


@pytest.mark.parametrize("name", bundled_names("hardware"))
def test_every_number_carries_its_unit_in_its_name(name):
    p = load_profile(name)
    for field, path in numeric_fields(p):
        assert field in UNITLESS or field.endswith(UNIT_SUFFIXES), f"{name}: {path} has no unit suffix"


def test_bundle_covers_the_required_device_kinds():
    kinds = {load_profile(n).kind for n in bundled_names("hardware")}
    assert kinds == {"cpu", "gpu", "tpu", "fpga", "asic", "quantum"}
    for required in ("v100-sxm2", "tpu-v3", "a100-sxm-80gb", "h100-sxm", "h200", "tpu-v5p", "quantum-ftqc"):
        assert required in bundled_names("hardware")


def test_only_measured_devices_carry_their_own_curves_and_the_others_name_whose_they_borrow():
    from simulator.calibration.deepbench import FAMILIES
    measured = {"h200"} | {f.profile for f in FAMILIES.values()}  # its microbenchmarks; DeepBench GEMMs
    borrowers = {b: f.profile for f in FAMILIES.values() for b in f.borrowers}
    for name in bundled_names("hardware"):
        raw, _ = raw_profile(name)
        p = load_profile(name)
        if isinstance(p, QuantumProfile):
            continue
        assert isinstance(p, ClassicalProfile) and p.efficiency is not None
        if name in measured:
            assert "efficiency" in raw and p.efficiency_from is None
            assert name == "h200" or "copied from the h200 fit" in p.efficiency.origin
        else:
            assert "efficiency" not in raw, f"{name} has curves of its own but no measurements for them"
            assert p.efficiency_from == borrowers.get(name, "h200")
            assert raw.get("efficiency_from", "h200") == p.efficiency_from


def test_what_if_profile_is_a_three_line_override():
    raw, _ = raw_profile("h100-2x-bandwidth")
    base = load_profile("h100-sxm")
    what_if = load_profile("h100-2x-bandwidth")
    assert what_if.memory_bandwidth_bytes_per_s == 2 * base.memory_bandwidth_bytes_per_s
    assert what_if.peak_dense_flops_per_s == base.peak_dense_flops_per_s


@pytest.mark.parametrize("name", bundled_names("workload"))
def test_workload_loads_and_cites_sources(name):
    w = load_workload(name)
    assert w.name == name and w.sources


def test_h100_derates_as_the_calibrated_h200_does():
    """The H100 SXM (the same GH100 die at the same 700 W limit) takes the H200's fitted power-limit
    derating; a refit of the H200 must carry over."""
    from simulator.files.loader import load_profile

    assert load_profile("h100-sxm").efficiency.sustained_compute_fraction == \
        load_profile("h200").efficiency.sustained_compute_fraction


def test_each_profile_names_the_suites_that_check_it_and_the_docs_list_the_unchecked():
    """checked_by is data the suites imply: a device is checked by a suite whose rows run on its profile."""
    import csv
    import re

    from simulator import api
    from simulator.calibration import deepbench, mlperf
    from simulator.files.bundled import bundled_folder
    from tests.conftest import ROOT

    want: dict[str, set] = {"h200": {"h200", "compression"}, "a100-sxm-80gb": {"vtrain"}}
    for _, name in mlperf.PROFILES:
        want.setdefault(name, set()).add("mlperf")
    for name in deepbench.DEVICES.values():
        want.setdefault(name, set()).add("deepbench")
    for row in csv.DictReader(open(bundled_folder("published") / "runs.csv")):
        want.setdefault(row["hardware"], set()).add("published")
    for run in api.history()[0]:
        if run.profile:
            want.setdefault(run.profile, set()).add("history")
    unchecked = []
    for name in bundled_names("hardware"):
        p = load_profile(name)
        if isinstance(p, QuantumProfile):
            continue
        assert set(p.checked_by) == want.get(name, set()), name
        if not p.checked_by:
            unchecked.append(name)
            assert any("an unvalidated device" in a for a in api.estimate(name, "gpt2-124m", fit="accumulate",
                                                                           devices=8).assumptions), name
    text = (ROOT / "docs" / "accuracy.md").read_text()
    listed = re.search(r"Unvalidated devices.*?:(.*?)\. The TPU", text, re.S).group(1)
    assert sorted(re.findall(r"`([a-z0-9.-]+)`", listed)) == sorted(unchecked)
