"""costsim plot and costsim report end to end, and the Python forms of the CLI's results."""
import csv
import io
import re

import pytest
from click.testing import CliRunner

from cli.main import main
from simulator import api

SWEEP = """name: demo
hardware: [h200, a100-sxm-80gb]
workloads: [gpt2-124m]
devices: [1, 8]
strategies: [none, quantize:fp8]
"""


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "demo.yaml"
    path.write_text(SWEEP)
    return path


@pytest.mark.parametrize("args", [
    ["roofline", "-H", "h200", "-w", "gpt2-124m"],
    ["compare", "-H", "h200,a100-sxm-80gb,v100-sxm2", "-w", "gpt2-124m"],
    ["compare", "-H", "h200", "-w", "gpt2-124m", "--strategy", "quantize:fp8"],
])
def test_plot_writes_png_and_svg(tmp_path, args):
    png, svg = tmp_path / "p.png", tmp_path / "p.svg"
    r = CliRunner().invoke(main, ["plot", *args, "--out", str(png), "--out", str(svg)])
    assert r.exit_code == 0, r.output
    assert r.output.split() == [str(png), str(svg)]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert svg.read_text().count("<path") > 20


def test_pareto_and_scaling_from_a_sweep_and_its_csv(tmp_path, sweep_file):
    rows = tmp_path / "rows.csv"
    assert CliRunner().invoke(main, ["sweep", str(sweep_file), "--out", str(rows), "--quiet"]).exit_code == 0
    for args in (["pareto", str(sweep_file)], ["pareto", str(rows)], ["scaling", str(rows), "--x", "devices"]):
        out = tmp_path / f"{args[0]}.svg"
        r = CliRunner().invoke(main, ["plot", *args, "--out", str(out)])
        assert r.exit_code == 0, r.output
        text = out.read_text()
        assert "cost ($)" in text or "cost_usd" in text


def test_report_is_one_self_contained_folder(tmp_path, sweep_file):
    out = tmp_path / "report"
    r = CliRunner().invoke(main, ["report", str(sweep_file), "--out", str(out)])
    assert r.exit_code == 0, r.output
    page = (out / "index.html").read_text()
    rows = list(csv.DictReader(io.StringIO((out / "demo.csv").read_text())))
    assert len(rows) == 8
    assert page.count("<svg") >= 3 and "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # no external assets
    assert 'href="demo.csv"' in page
    assert "fp8 training matches 16-bit quality" in page  # the strategy's assumption travels with it


@pytest.mark.parametrize("args,message", [
    (["plot", "sunburst"], "is not one of"),
    (["plot", "roofline", "-w", "gpt2-124m"], "--hardware"),
    (["plot", "pareto"], "needs a sweep"),
    (["plot", "roofline", "-H", "h200", "-w", "gpt2-124m", "--out", "x.bmp"], "--out: unknown image extension"),
    (["report", "nope.yaml", "--out", "x"], "nope.yaml"),
])
def test_plot_and_report_bad_input_is_one_line(tmp_path, args, message):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and message in lines[0]


def test_python_results_have_dicts_and_tables():
    e = api.estimate("h200", "gpt2-124m")
    assert e.to_dict()["hardware"] == "h200" and "step time" in e.table()
    rows = api.compare(["h200", "v100-sxm2"], "gpt2-124m")
    assert len(rows.to_dict()) == 2 and rows.table("csv").startswith("hardware,")
    s = api.strategies("h200", "gpt2-124m", ["quantize:fp8"])
    assert s.to_dict()[1]["label"] == "quantize:fp8" and "baseline" in s.table("markdown")
    p = api.plan("h200", "gpt2-124m", devices=8, top=1)
    assert p.to_dict()[0][1]["hardware"] == "h200" and "plan" in p.table()
    sim = api.simulate("h200", "gpt2-124m", replicas=2, mtbf_hours=100, devices=8)
    assert set(sim.to_dict()) == {"estimate", "simulation"} and "p50" in sim.table()
    sw = api.sweep(hardware=["h200"], workloads=["gpt2-124m"])
    assert sw.to_dict()["rows"][0]["hardware"] == "h200" and sw.table("jsonl").count("\n") == 1
    assert "h200" in api.profiles() and "gpt2-124m" in api.workloads()


def test_the_report_opens_with_the_answer_and_merges_rows_that_change_nothing(tmp_path):
    # a100 has no fp8 units: quantize:fp8 gives the same numbers as none there, so those rows are one
    path = tmp_path / "fp8.yaml"
    path.write_text("name: fp8\nhardware: [h200, a100-sxm-80gb]\nworkloads: [gpt2-124m]\n"
                    "strategies: [none, quantize:fp8]\n")
    r = api.report(str(path))
    page = r.html
    summary = page[page.index('<section id="summary">'):page.index("</section>")]
    for words in ("The answer", "cheapest", "fastest", "lowest CO2", "Pareto front",
                  "The cheapest scenario of each device", "$"):
        assert words in summary, words
    assert 'merged">none / quantize:fp8</td>' in page
    assert "strategy none and quantize:fp8 give the same numbers on a100-sxm-80gb" in page
    assert len(list(csv.DictReader(io.StringIO(r.csv)))) == 4  # the CSV keeps every scenario
    # sorting and column choice without a script
    assert 'type="radio"' in page and 'type="checkbox"' in page and "<details" in page and "<script" not in page
    assert "tbody.by-time { display: table-row-group; }" in page


def test_a_device_that_cannot_run_is_named_in_the_figures_not_dropped(tmp_path):
    # gpt-1.3b does not fit one v100 with data parallelism; on eight it does
    sweep = tmp_path / "s.yaml"
    sweep.write_text("name: s\nhardware: [h200, v100-sxm2]\nworkloads: [gpt-1.3b]\ndevices: [1, 8]\n")
    for kind in ("pareto", "scaling"):
        out = tmp_path / f"{kind}.svg"
        r = CliRunner().invoke(main, ["plot", kind, str(sweep), "--out", str(out)])
        assert r.exit_code == 0, r.output
        assert "Left out: v100-sxm2" in out.read_text()


def test_plot_titles_are_words_with_units(tmp_path, sweep_file):
    out = tmp_path / "s.svg"
    r = CliRunner().invoke(main, ["plot", "scaling", str(sweep_file), "--out", str(out)])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert "cost ($) against devices" in text and "cost_usd" not in text
    assert "Each point: the lowest cost over the swept strategy" in text
