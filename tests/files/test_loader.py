"""The loader: YAML numbers, extends: chains, names and paths, --set overrides, schema errors."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from simulator.errors import CostsimError
from simulator.files.loader import (
    REPO_ROOT,
    apply_overrides,
    bundled_names,
    load_pair,
    load_profile,
    load_workload,
    parse_yaml_text,
    raw_profile,
    raw_workload,
    read_yaml,
    resolve,
    validate_profile,
    validate_workload,
)

H100 = REPO_ROOT / "hardware_profiles" / "h100-sxm.yaml"
GPT2 = REPO_ROOT / "workloads" / "gpt2-124m.yaml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- YAML numbers
@pytest.mark.parametrize("text, expected", [
    ("1e-6", 1e-6),
    ("80e9", 80e9),
    ("3.35e12", 3.35e12),
    ("-2e3", -2000.0),
    ("+1e3", 1000.0),
    ("80E9", 80e9),
    ("1.75e-5", 1.75e-5),
    ("0.5", 0.5),
    (".5", 0.5),
])
def test_plain_exponents_resolve_as_floats(text, expected):
    value = parse_yaml_text(f"x: {text}", "t")["x"]
    assert isinstance(value, float)
    assert value == pytest.approx(expected, rel=1e-15)


def test_plain_pyyaml_reads_exponents_without_dot_as_strings():
    # the pitfall the loader works around: YAML 1.1 needs a dot and a signed exponent
    assert yaml.safe_load("x: 80e9")["x"] == "80e9"
    assert yaml.safe_load("x: 1e-6")["x"] == "1e-6"


@pytest.mark.parametrize("text, expected", [("42", 42), ("-7", -7), ("0", 0)])
def test_integers_stay_integers(text, expected):
    value = parse_yaml_text(f"x: {text}", "t")["x"]
    assert type(value) is int and value == expected


@pytest.mark.parametrize("text", ['"80e9"', "'3.35e12'", "e9", "1e", "80e9x", "1.2.3"])
def test_quoted_or_non_numeric_exponent_text_stays_a_string(text):
    assert isinstance(parse_yaml_text(f"x: {text}", "t")["x"], str)


def test_read_yaml_gives_bundled_profile_numbers_as_floats():
    data = read_yaml(H100)
    assert data["memory_bytes"] == 80e9 and isinstance(data["memory_bytes"], float)
    assert data["memory_bandwidth_bytes_per_s"] == 3.35e12
    assert data["intra_node_link"]["latency_s"] == 3e-6


def test_non_number_string_for_float_field_is_rejected_by_schema():
    # inputs are strict (issue 13): a quoted "80e9" is refused too (tests/files/test_strict_inputs.py)
    data = read_yaml(H100)
    data["memory_bytes"] = "fast"
    with pytest.raises(CostsimError) as info:
        validate_profile(data, "h.yaml")
    assert info.value.source == "h.yaml"
    assert info.value.field == "memory_bytes"
    assert "number" in info.value.problem


def test_malformed_yaml_names_file_and_line():
    with pytest.raises(CostsimError) as info:
        parse_yaml_text("a: [1, 2\nb: 3\n", "bad.yaml")
    assert info.value.source == "bad.yaml"
    assert "malformed YAML at line" in info.value.problem
    assert "\n" not in str(info.value)


def test_top_level_must_be_a_mapping(tmp_path):
    f = write(tmp_path / "list.yaml", "- 1\n- 2\n")
    with pytest.raises(CostsimError, match="mapping"):
        read_yaml(f)


def test_missing_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(CostsimError) as info:
        read_yaml(tmp_path / "nope.yaml")
    assert info.value.source == str(tmp_path / "nope.yaml")


# ---------------------------------------------------------------- duplicates (issue 13: an error, not last-wins)
def test_duplicate_yaml_key_is_an_error_naming_both_lines():
    with pytest.raises(CostsimError, match="duplicate key 'a' at lines 1 and 2"):
        parse_yaml_text("a: 1\na: 2\n", "t")


def test_duplicate_field_in_profile_file_is_an_error(tmp_path):
    f = write(tmp_path / "dup.yaml", "extends: h100-sxm\nname: dup\nmemory_bytes: 1e9\nmemory_bytes: 2e9\n")
    with pytest.raises(CostsimError) as info:
        load_profile(str(f))
    assert info.value.field == "memory_bytes" and "lines 3 and 4" in info.value.problem


def test_repeated_set_of_one_field_last_one_wins():
    wl = load_workload("gpt2-124m", ["global_batch_size=8", "global_batch_size=32"])
    assert wl.training.global_batch_size == 32


# ---------------------------------------------------------------- extends
def test_three_line_what_if_overrides_field_and_keeps_parent_fields(tmp_path):
    f = write(tmp_path / "what-if.yaml",
              "extends: h100-sxm\nname: h100-what-if\nmemory_bandwidth_bytes_per_s: 6.7e12\n")
    child, parent = load_profile(str(f)), load_profile("h100-sxm")
    assert child.name == "h100-what-if"
    assert child.memory_bandwidth_bytes_per_s == 6.7e12
    assert child.kind == parent.kind == "gpu"
    assert child.memory_bytes == parent.memory_bytes == 80e9
    assert child.peak_dense_flops_per_s == parent.peak_dense_flops_per_s
    assert child.power == parent.power
    assert child.sources == parent.sources  # the child gave none: the parent's are kept
    assert child.efficiency == parent.efficiency  # both borrow h200's curves


def test_extends_concatenates_sources_parent_first(tmp_path):
    f = write(tmp_path / "what-if.yaml",
              "extends: h100-sxm\nname: w\nmemory_bandwidth_bytes_per_s: 6.7e12\n"
              "sources:\n  - {cite: my what-if, fields: [memory_bandwidth_bytes_per_s], status: assumption}\n")
    child, parent = load_profile(str(f)), load_profile("h100-sxm")
    assert len(child.sources) == len(parent.sources) + 1
    assert child.sources[:-1] == parent.sources
    assert child.sources[-1].cite == "my what-if"


def test_bundled_what_if_concatenates_sources_of_h100():
    child, parent = load_profile("h100-2x-bandwidth"), load_profile("h100-sxm")
    assert child.sources[:len(parent.sources)] == parent.sources
    assert len(child.sources) == len(parent.sources) + 1


def test_extends_merges_nested_blocks_field_by_field(tmp_path):
    f = write(tmp_path / "hot.yaml", "extends: h100-sxm\nname: hot\npower:\n  tdp_watts: 800\n")
    child, parent = load_profile(str(f)), load_profile("h100-sxm")
    assert child.power.tdp_watts == 800
    assert child.power.idle_watts == parent.power.idle_watts
    assert child.power.host_per_device_watts == parent.power.host_per_device_watts


def test_extends_chain_of_three_applies_each_level(tmp_path):
    write(tmp_path / "mid.yaml", "extends: h100-sxm\nname: mid\nmemory_bytes: 96e9\n")
    f = write(tmp_path / "leaf.yaml", "extends: mid\nname: leaf\nmemory_bandwidth_bytes_per_s: 4e12\n")
    p = load_profile(str(f))
    assert (p.name, p.memory_bytes, p.memory_bandwidth_bytes_per_s) == ("leaf", 96e9, 4e12)


def test_extends_resolves_relative_to_child_directory_not_cwd(tmp_path, monkeypatch):
    base = read_yaml(H100)
    base["name"] = "base"
    write(tmp_path / "profiles" / "base.yaml", yaml.safe_dump(base))
    child = write(tmp_path / "profiles" / "child.yaml", "extends: base\nname: child\nmemory_bytes: 1e9\n")
    child2 = write(tmp_path / "profiles" / "child2.yaml", "extends: base.yaml\nname: child2\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_profile(str(child)).memory_bytes == 1e9
    assert load_profile(str(child2)).memory_bytes == 80e9


def test_extends_sibling_file_shadows_bundled_name(tmp_path):
    local = read_yaml(H100)
    local["name"] = "local-h100"
    local["memory_bytes"] = 40e9
    write(tmp_path / "h100-sxm.yaml", yaml.safe_dump(local))
    child = write(tmp_path / "child.yaml", "extends: h100-sxm\nname: child\n")
    assert load_profile(str(child)).memory_bytes == 40e9


def test_extends_cycle_is_an_error_naming_the_chain(tmp_path):
    a = write(tmp_path / "a.yaml", "extends: b.yaml\nname: a\n")
    write(tmp_path / "b.yaml", "extends: a.yaml\nname: b\n")
    with pytest.raises(CostsimError) as info:
        load_profile(str(a))
    err = info.value
    assert err.field == "extends"
    assert err.source == str(a.resolve())
    assert "cycle" in err.problem and "a.yaml -> b.yaml -> a.yaml" in err.problem


def test_extends_self_is_a_cycle(tmp_path):
    a = write(tmp_path / "a.yaml", "extends: a.yaml\nname: a\n")
    with pytest.raises(CostsimError, match="cycle"):
        load_profile(str(a))


def test_extends_missing_target_names_child_and_field(tmp_path):
    f = write(tmp_path / "child.yaml", "extends: h100-nonexistent\nname: c\n")
    with pytest.raises(CostsimError) as info:
        load_profile(str(f))
    assert info.value.source == str(f.resolve())
    assert info.value.field == "extends"
    assert "h100-nonexistent" in info.value.problem


def test_extends_must_be_one_name(tmp_path):
    f = write(tmp_path / "child.yaml", "extends: [h100-sxm, h200]\nname: c\n")
    with pytest.raises(CostsimError) as info:
        load_profile(str(f))
    assert info.value.field == "extends"


def test_efficiency_from_missing_target_names_file_and_field(tmp_path):
    f = write(tmp_path / "child.yaml", "extends: h100-sxm\nname: c\nefficiency_from: nosuch\n")
    with pytest.raises(CostsimError) as info:
        load_profile(str(f))
    assert info.value.source == str(f.resolve())
    assert info.value.field == "efficiency_from"
    assert "nosuch" in info.value.problem


def test_workload_extends_merges_training_block(tmp_path):
    f = write(tmp_path / "wl.yaml", "extends: gpt2-124m\nname: gpt2-b32\ntraining:\n  global_batch_size: 32\n")
    wl, base = load_workload(str(f)), load_workload("gpt2-124m")
    assert wl.name == "gpt2-b32"
    assert wl.training.global_batch_size == 32
    assert wl.training.tokens == base.training.tokens
    assert wl.d_model == base.d_model


# ---------------------------------------------------------------- names and paths
def test_bundled_name_resolves_to_bundled_file():
    assert resolve("h200", "hardware") == REPO_ROOT / "hardware_profiles" / "h200.yaml"
    assert resolve("gpt2-124m", "workload") == GPT2


def test_path_resolves_to_that_file(tmp_path):
    f = write(tmp_path / "mine.yaml", "x: 1\n")
    assert resolve(str(f), "hardware") == f


def test_relative_name_resolves_against_given_directory(tmp_path):
    f = write(tmp_path / "mine.yaml", "x: 1\n")
    assert resolve("mine", "hardware", relative_to=tmp_path) == f
    assert resolve("mine.yaml", "hardware", relative_to=tmp_path) == f


def test_unknown_name_lists_bundled_names():
    with pytest.raises(CostsimError) as info:
        resolve("h1000", "hardware")
    assert "h1000" in info.value.problem
    for name in bundled_names("hardware"):
        assert name in info.value.problem


def test_workload_name_is_not_looked_up_among_profiles():
    with pytest.raises(CostsimError, match="unknown workload 'h200'"):
        resolve("h200", "workload")


def test_raw_profile_reports_its_source_by_bundled_name():
    data, source = raw_profile("h100-2x-bandwidth")
    assert source == "h100-2x-bandwidth (bundled hardware profile)"
    assert "extends" not in data and data["kind"] == "gpu"


def test_dict_profile_and_workload_are_accepted():
    data, _ = raw_profile("h100-sxm")
    assert load_profile(data).name == "h100-sxm"
    wl, _ = raw_workload("gpt2-124m")
    assert load_workload(wl).name == "gpt2-124m"


# ---------------------------------------------------------------- --set overrides
@pytest.fixture
def pair():
    hw, _ = raw_profile("h100-sxm")
    wl, _ = raw_workload("gpt2-124m")
    return hw, wl


def test_set_bare_name_found_in_workload_training_block(pair):
    hw, wl = pair
    before = copy.deepcopy(hw)
    apply_overrides(hw, wl, ["global_batch_size=32"])
    assert wl["training"]["global_batch_size"] == 32
    assert hw == before


def test_set_bare_name_falls_back_to_hardware(pair):
    hw, wl = pair
    apply_overrides(hw, wl, ["memory_bytes=96e9"])
    assert hw["memory_bytes"] == 96e9


def test_set_bare_name_in_both_goes_to_workload_first(pair):
    hw, wl = pair
    apply_overrides(hw, wl, ["name=renamed"])
    assert wl["name"] == "renamed" and hw["name"] == "h100-sxm"


def test_set_explicit_hardware_path(pair):
    hw, wl = pair
    apply_overrides(hw, wl, ["hardware.intra_node_link.latency_s=1e-6"])
    assert hw["intra_node_link"]["latency_s"] == 1e-6
    assert hw["inter_node_link"]["latency_s"] == 5e-6


def test_set_explicit_hardware_name_is_not_the_workload_name(pair):
    hw, wl = pair
    apply_overrides(hw, wl, ["hardware.name=renamed"])
    assert hw["name"] == "renamed" and wl["name"] == "gpt2-124m"


def test_set_explicit_workload_path(pair):
    hw, wl = pair
    apply_overrides(hw, wl, ["workload.training.global_batch_size=8"])
    assert wl["training"]["global_batch_size"] == 8


def test_set_factor_scales_the_current_value(pair):
    hw, wl = pair
    apply_overrides(hw, wl, ["memory_bandwidth_bytes_per_s=*2", "global_batch_size=*0.5"])
    assert hw["memory_bandwidth_bytes_per_s"] == pytest.approx(6.7e12)
    assert wl["training"]["global_batch_size"] == 8


def test_set_factor_matches_bundled_what_if():
    hw, _ = load_pair("h100-sxm", "gpt2-124m", ["hardware.memory_bandwidth_bytes_per_s=*2"])
    expected = load_profile("h100-2x-bandwidth").memory_bandwidth_bytes_per_s
    assert hw.memory_bandwidth_bytes_per_s == pytest.approx(expected)


def test_set_value_uses_yaml_number_resolution(pair):
    hw, wl = pair
    apply_overrides(hw, wl, ["hardware.memory_bytes=80e9", "attention=naive", "activation_recompute=true"])
    assert hw["memory_bytes"] == 80e9 and isinstance(hw["memory_bytes"], float)
    assert wl["attention"] == "naive" and wl["training"]["activation_recompute"] is True


def test_set_ambiguous_key_is_an_error_listing_matches(pair):
    hw, wl = pair
    with pytest.raises(CostsimError) as info:
        apply_overrides(hw, wl, ["latency_s=1e-6"])
    err = info.value
    assert (err.source, err.field) == ("--set", "latency_s")
    assert "ambiguous" in err.problem
    assert "intra_node_link.latency_s" in err.problem and "inter_node_link.latency_s" in err.problem


def test_set_unknown_key_is_an_error(pair):
    hw, wl = pair
    with pytest.raises(CostsimError) as info:
        apply_overrides(hw, wl, ["global_batch_sise=32"])
    assert (info.value.source, info.value.field) == ("--set", "global_batch_sise")
    assert "no such field" in info.value.problem


def test_set_scaling_a_non_number_is_an_error(pair):
    hw, wl = pair
    with pytest.raises(CostsimError) as info:
        apply_overrides(hw, wl, ["attention=*2"])
    assert (info.value.source, info.value.field) == ("--set", "attention")
    assert "not a number" in info.value.problem


@pytest.mark.parametrize("item", ["layers=*twice", "layers=*[2", "layers=*"])
def test_set_non_number_factor_is_an_error(pair, item):
    hw, wl = pair
    with pytest.raises(CostsimError) as info:
        apply_overrides(hw, wl, [item])
    assert info.value.field == "layers" and "not a number" in info.value.problem


def test_set_malformed_value_names_the_field(pair):
    hw, wl = pair
    with pytest.raises(CostsimError) as info:
        apply_overrides(hw, wl, ["layers=[1, 2"])
    assert (info.value.source, info.value.field) == ("--set", "layers")
    assert "malformed YAML" in info.value.problem


@pytest.mark.parametrize("item", ["layers", "=5", " =5"])
def test_set_without_field_equals_value_is_an_error(pair, item):
    hw, wl = pair
    with pytest.raises(CostsimError, match="field=value"):
        apply_overrides(hw, wl, [item])


def test_set_hardware_path_without_hardware_is_an_error():
    with pytest.raises(CostsimError, match="no hardware to override"):
        load_workload("gpt2-124m", ["hardware.memory_bytes=1e9"])


def test_set_result_is_validated_like_the_file():
    with pytest.raises(CostsimError) as info:
        load_pair("h100-sxm", "gpt2-124m", ["layers=many"])
    assert info.value.source == "gpt2-124m (bundled workload)" and info.value.field == "layers"


# ---------------------------------------------------------------- schema errors
def test_misspelt_field_is_named_rather_than_the_missing_one():
    data = read_yaml(H100)
    data["memory_bandwith_bytes_per_s"] = data.pop("memory_bandwidth_bytes_per_s")
    with pytest.raises(CostsimError) as info:
        validate_profile(data, "h.yaml")
    assert info.value.field == "memory_bandwith_bytes_per_s"
    assert "unknown field" in info.value.problem


def test_unknown_kind_names_kind_and_the_tag_only():
    data = read_yaml(H100)
    data["kind"] = "npu"
    with pytest.raises(CostsimError) as info:
        validate_profile(data, "h.yaml")
    assert info.value.field == "kind"
    assert "'npu'" in info.value.problem
    assert "NVIDIA" not in info.value.problem  # the whole input is not dumped into the message


def test_missing_kind_names_kind():
    data = read_yaml(GPT2)
    del data["kind"]
    with pytest.raises(CostsimError) as info:
        validate_workload(data, "w.yaml")
    assert info.value.field == "kind" and "transformer" in info.value.problem


def test_validation_error_counts_further_problems():
    data = read_yaml(H100)
    data["memory_bytes"] = -1
    data["memory_bandwidth_bytes_per_s"] = 0
    with pytest.raises(CostsimError, match=r"\(and 1 more problem\)"):
        validate_profile(data, "h.yaml")
