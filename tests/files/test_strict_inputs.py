"""Issue 13: inputs are strict and bounded. Huge counts (case 3), wrongly typed values and CSV cells read
as YAML (case 5), duplicate YAML keys (case 6), a duplicated validate column (case 11) and a quantum
profile without its speedup degree (case 13): each is one line naming the file or flag and the field,
exit 2, no traceback; valid inputs load as before."""
from pathlib import Path

import pytest

from cli.main import main
from simulator.errors import CostsimError
from simulator.files.loader import bundled_dir, bundled_names, load_profile, load_workload, parse_yaml_text
from simulator.files.published import load_csv_raw
from simulator.files.records import csv_cell, load_rows
from simulator.schema.hardware import MAX_INT
from tests.conftest import cli_runner

HUGE_INT = "1" + "0" * 400


def refused(*args) -> str:
    """Run costsim; assert exit 2 with one line on stderr and no traceback; return that line."""
    result = cli_runner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- case 3: huge numbers in count fields
@pytest.mark.parametrize("item, field", [
    ("ffn_mult=1e308", "ffn_mult"),
    (f"layers={HUGE_INT}", "layers"),
    (f"global_batch_size={HUGE_INT}", "training.global_batch_size"),
    ("layers=1e308", "layers"),
    ("layers=*1e308", "layers"),
    ("tokens=1e308", "training"),
])
def test_huge_values_in_count_fields_are_one_line(item, field):
    line = refused("estimate", "-H", "h200", "-w", "gpt2-124m", "--set", item)
    assert "gpt2-124m" in line and f": {field}: " in line


def test_huge_epochs_are_one_line():
    line = refused("estimate", "-H", "h200", "-w", "resnet50-imagenet", "--set", "epochs=1e308")
    assert "resnet50-imagenet" in line and "epochs x dataset_size" in line


def test_counts_are_bounded_by_max_int():
    assert load_workload("resnet50-imagenet", [f"dataset_size={MAX_INT}"]).training.dataset_size == MAX_INT
    with pytest.raises(CostsimError, match="less than or equal"):
        load_workload("resnet50-imagenet", [f"dataset_size={MAX_INT + 1}"])


# ---------------------------------------------------------------- case 5: strict numbers and booleans
@pytest.mark.parametrize("item, field, given", [
    ("layers=true", "layers", "True (bool)"),
    ("layers=1.5", "layers", ""),
    ("layers=2.0", "layers", "2.0 (float)"),
    ("layers='3'", "layers", "'3' (str)"),
    ("activation_recompute=1", "training.activation_recompute", "1 (int)"),
    ("activation_recompute=yes", "training.activation_recompute", ""),  # YAML 1.1's yes is a boolean: fine
    ("hardware.memory_bandwidth_bytes_per_s=true", "memory_bandwidth_bytes_per_s", "True (bool)"),
    ("hardware.memory_bandwidth_bytes_per_s='3.35e12'", "memory_bandwidth_bytes_per_s", "'3.35e12' (str)"),
    ("hardware.sparse_2_4_accelerated=1", "sparse_2_4_accelerated", "1 (int)"),
])
def test_wrong_types_are_refused_not_converted(item, field, given):
    if item == "activation_recompute=yes":  # a boolean from the flag's YAML: accepted as a boolean
        assert load_workload("gpt2-124m", [item]).training.activation_recompute is True
        return
    line = refused("estimate", "-H", "h200", "-w", "gpt2-124m", "--set", item)
    assert f": {field}: " in line and given in line


def test_true_in_a_profile_file_is_not_one_byte_per_second(tmp_path):
    f = write(tmp_path / "p.yaml", "extends: h100-sxm\nname: p\nmemory_bandwidth_bytes_per_s: true\n")
    line = refused("profiles", "validate", f)
    assert str(f) in line and "memory_bandwidth_bytes_per_s" in line and "valid number" in line


def test_quoted_numbers_in_yaml_are_refused(tmp_path):
    f = write(tmp_path / "p.yaml", 'extends: h100-sxm\nname: p\nmemory_bytes: "80e9"\n')
    line = refused("profiles", "validate", f)
    assert "memory_bytes" in line and "'80e9' (str)" in line
    w = write(tmp_path / "w.yaml", 'extends: gpt2-124m\nname: w\nlayers: "12"\n')
    line = refused("workloads", "show", w)
    assert str(w) in line and ": layers: " in line


def test_plain_exponents_stay_numbers_and_ints_are_floats(tmp_path):
    f = write(tmp_path / "p.yaml", "extends: h100-sxm\nname: p\nmemory_bandwidth_bytes_per_s: 3.35e12\n"
                                   "memory_bytes: 80e9\npower: {tdp_watts: 700, idle_watts: 70}\n")
    p = load_profile(str(f))
    assert p.memory_bandwidth_bytes_per_s == 3.35e12 and p.memory_bytes == 80e9
    assert p.power.tdp_watts == 700.0 and isinstance(p.power.tdp_watts, float)
    assert load_profile("h200", ["hardware.power.tdp_watts=700"]).power.tdp_watts == 700.0


def test_scaling_a_count_by_a_whole_factor_keeps_a_count():
    assert load_workload("gpt2-124m", ["layers=*1.5"]).layers == 18
    with pytest.raises(CostsimError, match="valid integer"):
        load_workload("gpt2-124m", ["layers=*1.1"])


@pytest.mark.parametrize("name", bundled_names("hardware"))
def test_every_bundled_profile_loads_strictly(name):
    assert load_profile(name).name


@pytest.mark.parametrize("name", bundled_names("workload"))
def test_every_bundled_workload_loads_strictly(name):
    assert load_workload(name).name


def test_lists_and_commands_over_bundled_files_still_run():
    for args in (["profiles", "list"], ["workloads", "list"]):
        result = cli_runner().invoke(main, args)
        assert result.exit_code == 0 and result.stderr == ""


@pytest.mark.parametrize("cell, value", [
    ("yes", "yes"), ("no", "no"), ("on", "on"), ("off", "off"), ("Yes", "Yes"), ("y", "y"), ("~", "~"),
    ("null", "null"), ("0x10", "0x10"), ("1:30", "1:30"), ("2024-01-01", "2024-01-01"), ("nan", "nan"),
    (".inf", ".inf"), ("[1, 2]", "[1, 2]"), ("1_000", "1_000"), ("", None), ("  ", None),
    ("16", 16), ("-3", -3), ("0.05112", 0.05112), ("3.35e12", 3.35e12), ("80e9", 80e9), (".5", 0.5),
    ("true", True), ("False", False),
])
def test_csv_cells_are_not_read_as_yaml(cell, value):
    got = csv_cell(cell)
    assert got == value and type(got) is type(value)


def test_text_columns_of_a_validate_csv_stay_text(tmp_path):
    f = write(tmp_path / "runs.csv", "label,hardware,workload,note,measured_step_time_s,precision\n"
                                     "42,h200,gpt2-124m,yes,0.05,bf16_mixed\n")
    [row] = load_rows(f)
    assert row == {"label": "42", "hardware": "h200", "workload": "gpt2-124m", "note": "yes",
                   "measured_step_time_s": 0.05, "precision": "bf16_mixed"}


def test_yes_in_a_validate_csv_is_not_a_boolean(tmp_path):
    f = write(tmp_path / "runs.csv", "label,hardware,workload,measured_step_time_s,activation_recompute\n"
                                     "a,h200,gpt2-124m,0.05,yes\n")
    line = refused("validate", f)
    assert f"{f}:2" in line and "activation_recompute" in line and "'yes' (str)" in line


def test_true_in_a_validate_csv_is_a_boolean(tmp_path):
    f = write(tmp_path / "runs.csv", "label,hardware,workload,measured_step_time_s,activation_recompute\n"
                                     "a,h200,gpt2-124m,0.05,true\n")
    result = cli_runner().invoke(main, ["validate", str(f)])
    assert result.exit_code == 0, result.output


def test_published_tables_are_read_as_text(tmp_path):
    f = write(tmp_path / "t.csv", "name,flag,n\nx,yes,3\n")
    assert load_csv_raw(f) == [{"name": "x", "flag": "yes", "n": "3"}]


# ---------------------------------------------------------------- case 6: duplicate YAML keys
def test_duplicate_key_in_a_profile_names_key_and_both_lines(tmp_path):
    f = write(tmp_path / "p.yaml", "extends: h100-sxm\nname: p\nmemory_bytes: 1e9\nnotes: x\nmemory_bytes: 2e9\n")
    line = refused("profiles", "validate", f)
    assert str(f) in line and "memory_bytes" in line and "lines 3 and 5" in line


def test_duplicate_nested_key_in_a_workload_names_its_path(tmp_path):
    f = write(tmp_path / "w.yaml", "extends: gpt2-124m\nname: w\ntraining:\n  steps: 10\n  steps: 20\n")
    line = refused("estimate", "-H", "h200", "-w", f)
    assert str(f) in line and "training.steps" in line and "lines 4 and 5" in line


def test_duplicate_key_in_a_sweep_file(tmp_path):
    f = write(tmp_path / "s.yaml", "hardware: [h200]\nworkload: [gpt2-124m]\nhardware: [a100-sxm-80gb]\n")
    line = refused("sweep", f, "--out", tmp_path / "rows.csv")
    assert str(f) in line and "'hardware'" in line and "lines 1 and 3" in line
    assert not (tmp_path / "rows.csv").exists()


def test_duplicate_key_in_a_flow_mapping_on_one_line():
    with pytest.raises(CostsimError) as info:
        parse_yaml_text("power: {tdp_watts: 1, tdp_watts: 2}\n", "f.yaml")
    assert info.value.field == "power.tdp_watts" and "twice on line 1" in info.value.problem


def test_merge_keys_may_be_overridden():
    text = "base: &b {a: 1, b: 2}\nc:\n  <<: *b\n  a: 3\n"
    assert parse_yaml_text(text, "t")["c"] == {"a": 3, "b": 2}


def test_bundled_yaml_files_have_no_duplicate_keys():
    for what in ("hardware", "workload", "sweep"):
        for path in bundled_dir(what).glob("*.yaml"):
            parse_yaml_text(path.read_text(encoding="utf-8"), str(path))


# ---------------------------------------------------------------- case 11: a duplicated validate column
def test_duplicated_column_in_a_validate_csv_is_refused(tmp_path):
    f = write(tmp_path / "runs.csv", "label,hardware,workload,global_batch_size,measured_step_time_s,"
                                     "global_batch_size\nx,h200,gpt2-124m,16,0.05,32\n")
    line = refused("validate", f)
    assert str(f) in line and "global_batch_size" in line and "columns 4 and 6" in line


def test_duplicated_column_in_a_published_table_is_refused(tmp_path):
    f = write(tmp_path / "t.csv", "a,b,a\n1,2,3\n")
    with pytest.raises(CostsimError, match="column 'a' appears twice"):
        load_csv_raw(f)


# ---------------------------------------------------------------- case 13: a quantum profile without degree
def test_quantum_profile_missing_its_degree_names_the_file(tmp_path):
    text = (bundled_dir("hardware") / "quantum-ftqc.yaml").read_text(encoding="utf-8")
    assert "  degree: 2\n" in text
    f = write(tmp_path / "q.yaml", text.replace("  degree: 2\n", ""))
    for args in (["estimate", "-H", f, "-w", "gpt2-124m"], ["profiles", "validate", f]):
        line = refused(*args)
        assert str(f) in line and "speedup.degree" in line and "degree above 1" in line


def test_set_into_borrowed_efficiency_curves_names_the_flag_and_field():
    line = refused("estimate", "-H", "a100-sxm-80gb", "-w", "gpt2-124m",
                   "--set", "hardware.efficiency.memory_class_fraction.elementwise=0.5")
    assert line.startswith("costsim: error: --set: hardware.efficiency.memory_class_fraction.elementwise: ")
    assert "borrows its efficiency curves from h200" in line
