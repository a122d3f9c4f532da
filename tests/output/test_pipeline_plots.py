"""``costsim plot pipeline``: a real PNG and SVG of a plan's step timeline, its stages priced by the model,
and a plan without a pipeline refused in one line."""
import re

import pytest

from cli.main import main
from simulator import api
from simulator.cluster.stages import plan_stages, stage_pass_times
from simulator.errors import CostsimError
from simulator.files.loader import load_profile, load_workload
from simulator.schema.plan import parse_plan
from tests.cli.test_bad_input import _runner, error_line

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GPT3 = ["-H", "h100-sxm", "-w", "gpt3-175b", "--devices", "512", "--plan", "tp=8,pp=8,vp=2,dp=8,mb=1,sp",
        "--set", "global_batch_size=512"]


def test_the_command_writes_a_png_and_an_svg(tmp_path):
    png, svg = tmp_path / "t.png", tmp_path / "t.svg"
    result = _runner().invoke(main, ["plot", "pipeline", *GPT3, "--out", str(png), "--out", str(svg)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.stdout.split() == [str(png), str(svg)]
    assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 20_000
    text = svg.read_text()
    assert "<svg" in text
    ids = set(re.findall(r'id="(pass-[FB]-\d+-\d+)"', text))
    assert ids == {f"pass-{ph}-{s}-{c}" for ph in "FB" for s in range(8) for c in range(2)}
    titles = re.findall(r"<!-- (.*?) -->", text)
    assert any("interleaved 1F1B" in t for t in titles) and any("bubble" in t for t in titles)


def test_small_bars_carry_their_micro_batch_numbers():
    svg = api.plot("pipeline", hardware="h100-sxm", workload="gpt-1.3b", plan="pp=4,dp=1,mb=1,gpipe",
                   sets=["global_batch_size=8"], fmt="svg").decode()
    texts = re.findall(r"<!-- (.*?) -->", svg)
    assert any("GPipe, 8 micro-batches" in t for t in texts)
    assert texts.count("8") >= 8  # micro-batch 8's forward and backward on each of the 4 stages


def test_a_plan_without_a_pipeline_is_one_line():
    line = error_line("plot", "pipeline", "-H", "h100-sxm", "-w", "gpt3-175b", "--devices", "8", "--plan", "tp=8")
    assert line == "costsim: error: --plan: a pipeline timeline needs pp > 1"
    with pytest.raises(CostsimError) as err:
        api.plot("pipeline", hardware="h100-sxm", workload="gpt2-124m", devices=8)
    assert err.value.field == "plan" and "needs pp > 1" in str(err.value)


def test_auto_resolves_the_plan_as_estimate_does():
    png = api.plot("pipeline", hardware="h100-sxm", workload="gpt3-175b", devices=512, plan="auto",
                   sets=["global_batch_size=512"])
    assert png.startswith(PNG_MAGIC)


def test_each_stage_takes_its_groups_pass_time():
    profile, wl = load_profile("h100-sxm"), load_workload("gpt3-175b")
    plan = parse_plan("tp=8,pp=8,dp=8,mb=1,sp,layers_per_stage=11/12/12/13/12/12/12/12")
    times = stage_pass_times(profile, wl, plan, 1, 64)
    groups = sorted((st.pass_s, count) for st, count in plan_stages(profile, wl, plan, 1, 64))
    assert len(times) == 8 and groups == sorted((t, times.count(t)) for t in set(times))
    assert times[1] == times[2] == times[4] and times[3] > times[1]  # 13 layers take longer than 12
    assert times[0] != times[1] and times[7] != times[1]  # the embedding, the head and loss
