"""Issue 13, cases 7, 10, 11 (sweep set: and --out) and 13 (plot --out): a huge grid is counted and refused
before it runs, and rows stream; empty lists and empty items are refused; a misspelt set: field is the
sweep's error, with its line; an extension that names no format is refused. Each bad input: exit 2, one
line on stderr naming the flag or the file and the field, no traceback, nothing written."""
import csv
import io
import json
import time
import tracemalloc

import pytest

from cli.main import main
from simulator import api
from simulator.errors import CostsimError
from simulator.output.stream import SweepWriter
from simulator.run.sweep import ROWS_PER_BATCH, check_size, columns
from tests.conftest import cli_runner


def run(*args):
    return cli_runner().invoke(main, list(args))


def refused(r, *words):
    """Exit 2, one line on stderr holding every word, no traceback, nothing on stdout."""
    assert r.exit_code == 2, (r.stdout, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr and not r.stdout.strip()
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def ten(start=1):
    return [start + i for i in range(10)]


# ------------------------------------------------------------------------------------------ case 7
def test_a_huge_grid_is_refused_at_once_with_its_count_and_memory(tmp_path):
    """10^12 scenarios: refused in well under a second (it used to die of a MemoryError after 23 s and leave
    a header-only CSV), naming the limit's flag, the count, the axes that make it and what the rows need."""
    spec = tmp_path / "huge.yaml"
    spec.write_text("hardware: [h200]\nworkloads: [gpt2-124m]\n"
                    f"set: {{global_batch_size: {[16 * i for i in range(1, 101)]}}}\n"
                    f"devices: {list(range(1, 101))}\n"
                    f"pue: {[round(1 + i / 100, 2) for i in range(100)]}\n"
                    f"cloud_price_usd_per_hour: {list(range(1, 101))}\n"
                    f"electricity_usd_per_kwh: {[i / 100 for i in range(1, 101)]}\n"
                    f"lifetime_years: {list(range(1, 101))}\n")
    out = tmp_path / "rows.csv"
    start = time.monotonic()
    line = refused(run("sweep", str(spec), "--out", str(out)), "--max-scenarios", "1,000,000,000,000 scenarios",
                   "100 set.global_batch_size", "100 devices", "over the limit of 1,000,000", "as CSV",
                   "held in memory")
    assert time.monotonic() - start < 5
    assert "TB" in line and not out.exists()


def test_the_limit_is_stated_and_can_be_raised(tmp_path):
    args = ["sweep", "-H", "h200", "-w", "gpt2-124m", "--price", ",".join(map(str, range(1, 21))),
            "--lifetime-years", ",".join(map(str, ten()))]  # 200 scenarios
    refused(run(*args, "--max-scenarios", "199"), "--max-scenarios", "200 scenarios", "over the limit of 199")
    out = tmp_path / "rows.csv"
    r = run(*args, "--max-scenarios", "200", "--out", str(out), "--quiet")
    assert r.exit_code == 0, r.stderr
    assert len(list(csv.DictReader(io.StringIO(out.read_text())))) == 200
    assert "--max-scenarios" in run("sweep", "--help").stdout and "1000000" in run("sweep", "--help").stdout


def test_report_and_plot_refuse_a_huge_grid_too(tmp_path):
    spec = tmp_path / "big.yaml"
    spec.write_text(f"hardware: [h200]\nworkloads: [gpt2-124m]\ncloud_price_usd_per_hour: {ten()}\n"
                    f"lifetime_years: {ten()}\n")
    refused(run("report", str(spec), "--out", str(tmp_path / "rep"), "--max-scenarios", "99"), "--max-scenarios",
            "100 scenarios")
    assert not (tmp_path / "rep").exists()
    refused(run("plot", "pareto", str(spec), "--out", str(tmp_path / "p.png"), "--max-scenarios", "99"),
            "--max-scenarios", "100 scenarios")


def test_the_core_counts_the_grid_without_building_it():
    spec = api.sweep_spec(hardware=["h200"], workloads=["gpt2-124m"], devices=list(range(1, 1001)),
                          cloud_price_usd_per_hour=list(range(1, 1001)), lifetime_years=list(range(1, 1001)))
    assert (spec.core_count(), spec.option_count(), spec.scenario_count()) == (1000, 10**6, 10**9)
    with pytest.raises(CostsimError) as err:
        check_size(spec)
    assert err.value.field == "max_scenarios" and "1,000,000,000 scenarios" in err.value.problem
    assert check_size(spec, 10**9) == 10**9
    with pytest.raises(CostsimError) as err:
        api.sweep(hardware=["h200"], workloads=["gpt2-124m"], cloud_price_usd_per_hour=[1, 2, 3], max_scenarios=2)
    assert err.value.field == "max_scenarios"


def test_batches_give_the_rows_of_the_whole_grid_in_order():
    spec = api.sweep_spec(hardware=["h200", "v100-sxm2"], workloads=["gpt2-124m"], devices=[1, 8],
                          set={"global_batch_size": [16, 32]}, cloud_price_usd_per_hour=[1.0, 2.0],
                          pue=[1.1, 1.5], regions=["world", "france"])
    whole = spec.option_grid()
    pieces = list(spec.option_batches(3))
    assert [len(p["pue"]) for p in pieces] == [3, 3, 2]
    assert sum((list(p["pue"]) for p in pieces), []) == list(whole["pue"])
    assert sum((p["region"] for p in pieces), []) == whole["region"]
    assert list(spec.iter_core_points()) == spec.core_points()
    assert [p["set"] for p in spec.core_points()[:4]] == [{"global_batch_size": 16}] * 2 + [
        {"global_batch_size": 32}] * 2
    rows = [r for batch in api.sweep_batches(spec) for r in batch]
    assert rows == list(api.sweep(spec).rows) and len(rows) == spec.scenario_count()


def _streamed_peak(n_prices: int, path) -> float:
    """Peak traced memory (bytes) of a sweep of 10 x ``n_prices`` option rows written to ``path`` as they come."""
    spec = api.sweep_spec(hardware=["h200"], workloads=["gpt2-124m"], lifetime_years=ten(),
                          cloud_price_usd_per_hour=[1 + i / 100 for i in range(n_prices)])
    writer = SweepWriter(columns(spec.set), "csv")
    tracemalloc.start()
    try:
        with open(path, "w") as sink:
            sink.write(writer.head())
            for batch in api.sweep_batches(spec):
                assert len(batch) <= ROWS_PER_BATCH
                sink.write(writer.rows(batch))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_rows_stream_so_memory_does_not_grow_with_the_grid(tmp_path):
    """5,000 and 20,000 rows written as they are computed: the same peak (a batch's worth), where holding
    20,000 rows takes about 38 MB."""
    small = _streamed_peak(500, tmp_path / "small.csv")
    large = _streamed_peak(2000, tmp_path / "large.csv")
    assert (tmp_path / "large.csv").read_text().count("\n") == 20_001
    assert large < 1.5 * small and large < 12e6, (small, large)


def test_a_sweep_files_set_axis_is_kept_when_flags_give_other_axes(tmp_path):
    """Flags replace only the axes they give: an empty --set used to drop the file's set: axis."""
    spec = tmp_path / "s.yaml"
    spec.write_text("hardware: [h200]\nworkloads: [gpt2-124m]\nset: {global_batch_size: [16, 32]}\n")
    r = run("sweep", str(spec), "-H", "a100-sxm-80gb", "--quiet")
    assert r.exit_code == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [(x["hardware"], x["set.global_batch_size"]) for x in rows] == [("a100-sxm-80gb", "16"),
                                                                           ("a100-sxm-80gb", "32")]


# ----------------------------------------------------------------------------------------- case 10
@pytest.mark.parametrize("plan,words", [
    (",,,", ["empty plan"]), ("", ["empty plan"]), (" ", ["empty plan"]),
    ("tp=1,,dp=1", ["empty item"]), ("dp=1,", ["empty item"]),
])
@pytest.mark.parametrize("command", ["estimate", "compare"])
def test_an_empty_plan_is_refused_not_the_default(command, plan, words):
    refused(run(command, "-H", "h200", "-w", "gpt2-124m", "--plan", plan), "--plan", *words)


@pytest.mark.parametrize("hardware,words", [
    ("h200,,a100-sxm-80gb", ["'h200,,a100-sxm-80gb'", "empty item"]), ("", ["empty list"]), (",", ["empty list"]),
    ("h200,", ["empty item"]),
])
def test_compare_refuses_an_empty_list_or_an_empty_name(hardware, words):
    refused(run("compare", "-H", hardware, "-w", "gpt2-124m"), "--hardware", *words)


def test_the_core_compare_refuses_an_empty_list_or_name():
    for hardware in ([], ["h200", " "]):
        with pytest.raises(CostsimError) as err:
            api.compare(hardware, "gpt2-124m")
        assert err.value.field == "hardware"


@pytest.mark.parametrize("args,flag", [
    (["-H", "h200,", "-w", "gpt2-124m"], "--hardware"),
    (["-H", "h200", "-w", ""], "--workload"),
    (["-H", "h200", "-w", "gpt2-124m", "--devices", ""], "--devices"),
    (["-H", "h200", "-w", "gpt2-124m", "--devices", "1,,8"], "--devices"),
    (["-H", "h200", "-w", "gpt2-124m", "--price", "1,"], "--price"),
    (["-H", "h200", "-w", "gpt2-124m", "--region", "world,,france"], "--region"),
    (["-H", "h200", "-w", "gpt2-124m", "--pue", ","], "--pue"),
    (["-H", "h200", "-w", "gpt2-124m", "--set", "global_batch_size=16,,32"], "--set global_batch_size"),
])
def test_sweep_flags_refuse_empty_items(args, flag):
    refused(run("sweep", *args), flag)


# ----------------------------------------------------------------------------------------- case 11
@pytest.mark.parametrize("body,field,line", [
    ("set:\n  global_batch_size: [16, 32]\n  layerz: [4, 8]\n", "set.layerz", 5),
    ("set:\n  hardware.memory_bandwidth_bytez: [1e12]\n", "set.hardware.memory_bandwidth_bytez", 4),
    ("set: {memory_bandwidth_bytes_per_s: [1e12]}\n", "set.memory_bandwidth_bytes_per_s", 3),
])
def test_an_unknown_set_field_is_the_sweeps_error_with_its_line(tmp_path, body, field, line):
    spec = tmp_path / "typo.yaml"
    spec.write_text("hardware: [h200]\nworkloads: [gpt2-124m]\n" + body)
    out = tmp_path / "rows.csv"
    refused(run("sweep", str(spec), "--out", str(out)), f"{spec}: {field}: no such field", f"(line {line})")
    assert not out.exists()
    with pytest.raises(CostsimError) as err:
        api.sweep(str(spec))
    assert err.value.field == field and err.value.source == str(spec)


def test_an_unknown_set_field_given_as_a_flag_names_the_flag():
    refused(run("sweep", "-H", "h200", "-w", "gpt2-124m", "--set", "layerz=1,2"), "--set layerz: no such field")
    with pytest.raises(CostsimError) as err:
        api.sweep(hardware=["h200"], workloads=["gpt2-124m"], set={"layerz": [1]})
    assert err.value.field == "set.layerz" and err.value.source is None


def test_a_bad_value_of_a_known_set_field_stays_a_row_with_its_reason():
    rows = api.sweep(hardware=["h200"], workloads=["gpt2-124m"], set={"global_batch_size": [16, 0]}).rows
    assert rows[0]["problem"] is None and rows[1]["problem"] and rows[1]["cost_usd"] is None


@pytest.mark.parametrize("name", ["x.xyz", "x", "x.csv.bak"])
def test_sweep_out_refuses_an_extension_that_names_no_format(tmp_path, name):
    out = tmp_path / name
    refused(run("sweep", "sweep-demo", "--out", str(out)), "--out", ".csv, .json, .jsonl, .md, .tex", "--format")
    assert not out.exists()


def test_sweep_out_takes_any_name_with_format(tmp_path):
    out = tmp_path / "x.xyz"
    r = run("sweep", "-H", "h200", "-w", "gpt2-124m", "--out", str(out), "--format", "jsonl", "--quiet")
    assert r.exit_code == 0, r.stderr
    assert json.loads(out.read_text().splitlines()[0])["hardware"] == "h200"
    r = run("sweep", "-H", "h200", "-w", "gpt2-124m", "--out", str(tmp_path / "X.JSON"), "--quiet")
    assert r.exit_code == 0 and json.loads((tmp_path / "X.JSON").read_text())[0]["hardware"] == "h200"


# ----------------------------------------------------------------------------------------- case 13
@pytest.mark.parametrize("name", ["r.bmp", "r"])
def test_plot_out_with_an_unknown_extension_blames_out(tmp_path, name):
    good, bad = tmp_path / "r.png", tmp_path / name
    line = refused(run("plot", "roofline", "-H", "h200", "-w", "gpt2-124m", "--out", str(good), "--out", str(bad)),
                   "--out", ".png, .svg, .pdf")
    assert "--plot" not in line and not good.exists() and not bad.exists()
    with pytest.raises(CostsimError) as err:
        api.plot("roofline", hardware="h200", workload="gpt2-124m", fmt="bmp")
    assert err.value.field == "fmt"


# ----------------------------------------------------------------------- wrong types in a sweep file (case 5)
def _sweep_file(tmp_path, body: str):
    path = tmp_path / "typed.yaml"
    path.write_text("hardware: [h200]\nworkloads: [gpt2-124m]\n" + body)
    return str(path)


def test_a_boolean_in_a_sweep_axis_is_not_a_number(tmp_path):
    r = run("sweep", _sweep_file(tmp_path, "pue: [true]\n"), "--out", str(tmp_path / "rows.csv"))
    refused(r, "pue")
    assert not (tmp_path / "rows.csv").exists()


def test_a_quoted_number_in_a_set_axis_stays_text(tmp_path):
    spec = _sweep_file(tmp_path, "set:\n  layers: ['12']\n")
    rows = api.sweep(spec).rows
    assert rows and all(r["problem"] and "layers" in r["problem"] for r in rows)  # never run as 12 layers


def test_a_scale_in_a_set_axis_keeps_its_meaning(tmp_path):
    spec = _sweep_file(tmp_path, "set:\n  hardware.memory_bandwidth_bytes_per_s: ['*2']\n")
    (row,) = api.sweep(spec).rows
    base = api.estimate("h200", "gpt2-124m")
    assert row["problem"] is None and row["step_time_s"] < base.step_time_s


def test_a_plan_given_as_data_is_strict():
    with pytest.raises(CostsimError, match="plan.mb"):
        api.estimate("h200", "gpt2-124m", plan={"mb": True})
    assert api.estimate("h200", "gpt2-124m", plan={"dp": 1, "mb": 4}).micro_batch_size == 4


def test_an_option_that_makes_a_row_infinite_is_that_rows_problem_not_a_number(tmp_path):
    out = tmp_path / "rows.csv"
    r = run("sweep", "-H", "h200", "-w", "gpt2-124m", "--price", "1e308,2", "--out", str(out), "--quiet")
    assert r.exit_code == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert "inf" not in out.read_text().lower().replace("infinite", "")
    assert rows[0]["cost_usd"] == "" and "cost_usd comes out infinite" in rows[0]["problem"]
    assert float(rows[1]["cost_usd"]) > 0 and not rows[1]["problem"]
