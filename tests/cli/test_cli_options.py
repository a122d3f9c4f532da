"""Options mean the same on every command: the command tree is walked and the rules checked, so they
stay true as commands are added; then what the options do (--json is --format json, plan --objective
cost prices with the pricing options, profiles show round-trips, sweep columns are estimate's names)."""
from __future__ import annotations

import json

import click
import pytest
import yaml
from click.testing import CliRunner

from cli.main import main
from simulator import api
from simulator.files.loader import bundled_names, load_profile


def _commands(cmd=main, path=()):
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from _commands(sub, path + (name,))
    else:
        yield " ".join(path), cmd


COMMANDS = dict(_commands())


def _options(cmd) -> dict[str, click.Option]:
    return {o: p for p in cmd.params if isinstance(p, click.Option) for o in p.opts if o.startswith("--")}


def _spec(opt: click.Option) -> tuple:
    """What a user sees of an option: its flags, type, default, help, whether it repeats or is a flag."""
    kind = tuple(opt.type.choices) if isinstance(opt.type, click.Choice) else opt.type.name
    return tuple(sorted(opt.opts + opt.secondary_opts)), kind, opt.default, opt.help, opt.multiple, opt.is_flag


# commands that write files (or check them) and print their paths or "ok": no result to format
NO_RESULT = {"calibrate", "plot", "report", "profiles validate", "data path"}
# every command that prices a run
PRICING = {"estimate", "compare", "simulate", "plan", "limits", "project", "sweep"}
COST_FAMILY = ("--region", "--grid-intensity", "--pue", "--pricing", "--lifetime-years", "--electricity-usd-per-kwh")
# every command with a progress bar or progress messages on stderr
QUIET = {"simulate", "sweep", "limits", "report", "calibrate"}
# sweep takes each option as an axis (a comma-separated list): the same names, list-valued
AXES = {"sweep"}


def test_the_tree_has_the_commands_the_rules_name():
    assert PRICING | QUIET | NO_RESULT <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(set(COMMANDS) - NO_RESULT))
def test_every_command_that_prints_a_result_takes_format_and_json(name):
    opts = _options(COMMANDS[name])
    assert "--format" in opts and "--json" in opts, name
    assert "json" in opts["--format"].type.choices
    assert _spec(opts["--json"]) == _spec(_options(COMMANDS["estimate"])["--json"])
    assert opts["--json"].help == "same as --format json"


def test_every_format_option_is_the_same_option():
    for name, cmd in COMMANDS.items():
        opts = _options(cmd)
        if "--json" in opts:
            assert "--format" in opts, name
        if "--format" in opts:
            assert opts["--format"].name == "fmt" and opts["--format"].help.startswith("output format"), name


def test_every_pricing_command_has_the_same_pricing_options():
    reference = {o: _spec(p) for o, p in _options(COMMANDS["estimate"]).items() if o in COST_FAMILY}
    assert set(reference) == set(COST_FAMILY)
    assert reference["--pricing"][1:3] == (("auto", "cloud", "owned"), "auto")
    for name in PRICING - AXES:
        opts = _options(COMMANDS[name])
        assert {o: _spec(opts[o]) for o in COST_FAMILY if o in opts} == reference, name
    for name in AXES:
        opts = _options(COMMANDS[name])
        assert set(COST_FAMILY) <= set(opts), name
        for o in COST_FAMILY:  # the same words after the axis prefix (the grid says what an axis of both means)
            assert opts[o].help.startswith("comma-separated, one axis: "), o
            if o != "--grid-intensity":
                assert opts[o].help.endswith(reference[o][3]), o


def test_no_command_takes_part_of_the_pricing_family():
    for name, cmd in COMMANDS.items():
        taken = set(COST_FAMILY) & set(_options(cmd))
        assert not taken or taken == set(COST_FAMILY), (name, taken)
        assert bool(taken) == (name in PRICING), name


def test_every_command_with_progress_takes_the_same_quiet():
    reference = _spec(_options(COMMANDS["sweep"])["--quiet"])
    for name in QUIET:
        assert _spec(_options(COMMANDS[name])["--quiet"]) == reference, name


def test_set_where_a_profile_or_workload_is_loaded():
    reference = _spec(_options(COMMANDS["estimate"])["--set"])
    for name, cmd in COMMANDS.items():
        opts = _options(cmd)
        if "--workload" in opts or name in ("profiles show", "workloads show"):
            assert "--set" in opts, name
        if "--set" in opts and name not in AXES:
            assert _spec(opts["--set"]) == reference, name


# ------------------------------------------------------------------------------------ behaviour
def _run(*args: str) -> str:
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0, (args, r.output)
    return r.stdout if hasattr(r, "stdout") else r.output


CHEAP = {
    "estimate": ["-H", "h200", "-w", "gpt2-124m"],
    "compare": ["-H", "h200,v100-sxm2", "-w", "gpt2-124m"],
    "simulate": ["-H", "h200", "-w", "gpt2-124m", "--devices", "8", "--mtbf-hours", "50", "--quiet"],
    "plan": ["-H", "h200", "-w", "gpt2-124m", "--devices", "8", "--top", "2"],
    "project": ["--base", "h100-sxm", "--year", "2030", "-w", "gpt2-124m"],
    "sweep": ["-H", "h200", "-w", "gpt2-124m", "--devices", "1,8", "--quiet"],
    "profiles show": ["h200"],
    "profiles list": [],
    "workloads show": ["gpt2-124m"],
    "workloads list": [],
    "strategies list": [],
    "strategies show": ["lora"],
    "quantum breakeven": [],
}


@pytest.mark.parametrize("name", sorted(CHEAP))
def test_json_is_format_json_and_one_document(name):
    args = name.split() + CHEAP[name]
    as_json = _run(*args, "--json")
    assert as_json == _run(*args, "--format", "json")
    json.loads(as_json)


def test_simulate_interval_sweep_json_is_one_document():
    out = json.loads(_run("simulate", "-H", "h200", "-w", "gpt2-124m", "--devices", "8", "--mtbf-hours", "50",
                          "--interval-sweep", "--json", "--quiet"))
    assert set(out) == {"closed_form", "simulation", "interval_sweep"} and len(out["interval_sweep"]) == 5


def test_plan_objective_cost_prices_with_the_pricing_options():
    args = ["plan", "-H", "h200", "-w", "gpt2-124m", "--devices", "8", "--objective", "cost", "--top", "1", "--json"]
    cloud = json.loads(_run(*args, "--pricing", "cloud"))
    owned = json.loads(_run(*args, "--pricing", "owned", "--electricity-usd-per-kwh", "0.3", "--lifetime-years", "2",
                            "--region", "france", "--pue", "hyperscale"))

    def best(out):
        assert out["space"]["fitted"] >= 1 and out["space"]["candidates"] >= out["space"]["fitted"]
        return out["plans"][0]["estimate"]

    c, o = best(cloud), best(owned)
    e = api.estimate("h200", "gpt2-124m", plan=c["plan"], pricing="owned", electricity_usd_per_kwh=0.3,
                     lifetime_years=2, region="france", pue="hyperscale")
    assert c["pricing"] == "cloud" and o["pricing"] == "owned"
    assert o["cost_usd"] == pytest.approx(e.cost_usd, rel=1e-12) and o["co2_kg"] == pytest.approx(e.co2_kg, rel=1e-12)
    assert o["cost_usd"] != pytest.approx(c["cost_usd"], rel=1e-3)


def test_limits_and_project_take_the_pricing_options():
    base = ["limits", "-H", "h200", "--target", "0.2", "--json", "--quiet"]
    cloud = json.loads(_run(*base, "--pricing", "cloud"))["limits"]["priced"][0]
    owned = json.loads(_run(*base, "--pricing", "owned", "--pue", "1.0"))["limits"]["priced"][0]
    assert owned["cost_usd"] != pytest.approx(cloud["cost_usd"], rel=1e-3)
    assert owned["energy_joules"] < cloud["energy_joules"]  # PUE 1 against the default 1.58
    out = json.loads(_run("project", "--base", "h100-sxm", "--year", "2030", "-w", "gpt2-124m", "--json",
                          "--pricing", "owned", "--grid-intensity", "100", "--set", "global_batch_size=32"))
    assert out["estimate"]["pricing"] == "owned" and out["estimate"]["steps"] == pytest.approx(
        api.estimate("h100-sxm", "gpt2-124m", sets=["global_batch_size=32"]).steps)


@pytest.mark.parametrize("name", bundled_names("hardware"))
def test_profiles_show_yaml_loads_back_as_the_same_profile(tmp_path, name):
    path = tmp_path / f"{name}.yaml"
    path.write_text(_run("profiles", "show", name))  # YAML is the default
    shown, loaded = load_profile(str(path)).model_dump(), load_profile(name).model_dump()
    shown.pop("efficiency_from", None)
    loaded.pop("efficiency_from", None)
    assert shown == loaded


def test_profiles_show_table_reads_in_human_units():
    text = _run("profiles", "show", "h200", "--format", "table")
    rows = dict(line.split(None, 1) for line in text.splitlines() if line.startswith(("memory_", "cloud_", "power.t")))
    assert rows["memory_bytes"].strip() == "141 GB"
    assert rows["memory_bandwidth_bytes_per_s"].strip() == "4.8 TB/s"
    assert rows["power.tdp_watts"].strip() == "700 W"
    assert rows["cloud_price_usd_per_hour"].strip().startswith("$5.41")
    table = text.split("\nsources:\n")[0]
    assert "e+" not in table and "nan" not in table.lower()
    with_set = _run("profiles", "show", "h200", "--format", "table", "--set", "memory_bytes=*2")
    assert "282 GB" in with_set


def test_workloads_show_yaml_and_table():
    data = yaml.safe_load(_run("workloads", "show", "gpt2-124m"))
    assert data["workload"]["name"] == "gpt2-124m" and data["derived"]["tokens_per_step"] == 16 * 1024
    assert "model_flops_per_step" in _run("workloads", "show", "gpt2-124m", "--format", "table")


def test_sweep_columns_are_estimate_names():
    rows = json.loads(_run("sweep", "-H", "h200", "-w", "gpt2-124m", "--grid-intensity", "100", "--pricing",
                           "auto,owned", "--set", "global_batch_size=16,32", "--json", "--quiet"))
    assert len(rows) == 4 and not {"time_s", "grid", "pricing_used"} & set(rows[0])
    e = api.estimate("h200", "gpt2-124m", sets=["global_batch_size=32"], grid_g_co2_per_kwh=100).to_dict()
    row = [r for r in rows if r["set.global_batch_size"] == 32 and r["pricing_requested"] == "auto"][0]
    assert row["region"] is None and row["grid_g_co2_per_kwh"] == 100
    shared = (set(row) & set(e)) - {"devices", "hardware", "workload", "plan"}
    assert {"total_time_s", "energy_joules", "cost_usd", "co2_kg", "pricing", "step_time_s"} <= shared
    for k in shared:
        assert row[k] == (pytest.approx(e[k], rel=1e-12) if isinstance(e[k], float) else e[k]), k
