"""Issue 14, the plans and schedules of frontier runs: interleaved 1F1B (vp), zero-bubble ZB-H1, uneven
stages, context parallelism (cp), recompute as a plan choice (none, selective, full, some layers), and
communication overlap kept apart from the exposed communication. Each is checked against the mechanism
it models (the bubble's formula, memory that follows the recompute level, work divided by cp), not
against a fitted number."""
from __future__ import annotations

import math

import pytest

from simulator import estimate
from simulator.cluster.stages import in_flight
from simulator.files.loader import load_workload
from simulator.schema.plan import Plan, parse_plan, stage_chunks, stage_layers
from tests.cli.test_bad_input import error_line

H100 = "h100-sxm"
# GPT-3 175B with 4x the batch, so that the pipeline has enough micro-batches to interleave
BIG = ["global_batch_size=512"]


def run(plan: str, workload="gpt3-175b", sets=BIG, hardware=H100):
    return estimate(hardware, workload, plan=plan, devices=parse_plan(plan).devices, sets=sets)


def bubble(e) -> float:
    return e.breakdown["pipeline_bubble"].time_s


def test_plan_items_round_trip():
    text = "tp=8,cp=2,pp=16,vp=2,dp=4,mb=1,zero=1,sp,layers_per_stage=" + "/".join(["6"] * 16) + \
        ",recompute=full,recompute_layers=3,overlap-tp,overlap-p2p,overlap-ep"
    plan = parse_plan(text)
    assert (plan.cp, plan.vp, plan.recompute, plan.recompute_layers, plan.overlap_ep_comm) == (2, 2, "full", 3, True)
    assert plan.devices == 8 * 2 * 16 * 4 and parse_plan(plan.label()) == plan
    assert parse_plan("tp=1,pp=2,dp=1,zb-h1").schedule == "zb-h1"


def test_interleaving_divides_the_bubble_by_vp():
    one = run("tp=8,pp=8,dp=8,mb=1,sp,recompute=full")
    two = run("tp=8,pp=8,vp=2,dp=8,mb=1,sp,recompute=full")
    four = run("tp=8,pp=8,vp=4,dp=8,mb=1,sp,recompute=full")
    assert bubble(two) == pytest.approx(bubble(one) / 2, rel=0.02)  # (p - 1) / (v m) of the step's passes
    assert bubble(four) == pytest.approx(bubble(one) / 4, rel=0.02)
    assert four.step_time_s < two.step_time_s < one.step_time_s
    # the passes cross twice the chunk boundaries: more point-to-point traffic
    assert two.breakdown["communication"].time_s > one.breakdown["communication"].time_s


def test_interleaved_first_stage_holds_the_published_share_of_activations():
    # Korthikanti et al. 2022: the first stage keeps L (1 + (p - 1) / (p v)) layers' activations
    p, v, m = 8, 2, 64
    held = in_flight(Plan(pp=p, vp=v), m, 0) / p  # in units of the whole model's layers
    assert held == pytest.approx(1 + (p - 1) / (p * v))
    assert in_flight(Plan(pp=p), m, 0) == p and in_flight(Plan(pp=p, schedule="gpipe"), m, 0) == m


def test_interleaving_needs_micro_batches_in_multiples_of_pp():
    line = error_line("estimate", "-H", H100, "-w", "gpt3-175b", "--plan", "tp=8,pp=8,vp=2,dp=16,mb=1,sp",
                      "--devices", "1024", "--set", "global_batch_size=1552")
    assert "--plan: vp: the interleaved schedule needs the micro-batches per replica (97) to be a multiple of pp (8)" \
        in line


def test_zero_bubble_fills_the_bubble_with_weight_gradients():
    one = run("tp=8,pp=8,dp=8,mb=1,sp,recompute=full")
    zb = run("tp=8,pp=8,dp=8,mb=1,sp,zb-h1,recompute=full")
    assert 0 < bubble(zb) < bubble(one) * 0.75
    assert zb.peak_memory_bytes == one.peak_memory_bytes  # ZB-H1 keeps 1F1B's memory


def test_uneven_stages_lighten_the_first_and_last():
    wl = load_workload("gpt3-175b").model_copy(update={"layers": 126})
    assert stage_layers(wl, Plan(pp=16)) == (7,) + (8,) * 14 + (7,)
    assert stage_chunks((7, 8), 2) == [[4, 3], [4, 4]]
    assert stage_layers(wl, Plan(pp=2, layers_per_stage=(60, 66))) == (60, 66)


def test_the_slowest_stage_sets_the_pace():
    even = run("tp=8,pp=8,dp=8,mb=1,sp,recompute=full")
    skewed = run("tp=8,pp=8,dp=8,mb=1,sp,recompute=full,layers_per_stage=" + "/".join(["11"] * 7 + ["19"]))
    assert skewed.step_time_s > even.step_time_s * 1.3  # 19 layers against 12


def test_recompute_levels_trade_memory_for_time():
    plans = {r: run(f"tp=8,pp=8,dp=8,mb=1,sp,recompute={r}", hardware="h200") for r in ("none", "full")}
    some = run("tp=8,pp=8,dp=8,mb=1,sp,recompute=full,recompute_layers=6", hardware="h200")
    acts = {k: e.memory_breakdown["activations_bytes"] for k, e in (*plans.items(), ("some", some))}
    assert acts["full"] < acts["some"] < acts["none"]
    assert plans["full"].peak_memory_bytes <= some.peak_memory_bytes < plans["none"].peak_memory_bytes
    assert plans["none"].step_time_s < some.step_time_s < plans["full"].step_time_s
    # flash attention already recomputes its core: selective recompute costs nothing and saves nothing
    sel = run("tp=8,pp=8,dp=8,mb=1,sp,recompute=selective", hardware="h200")
    assert sel.step_time_s == plans["none"].step_time_s and sel.peak_memory_bytes == plans["none"].peak_memory_bytes


def test_selective_recompute_drops_naive_attentions_scores():
    sets = BIG + ["attention=naive"]
    none = run("tp=8,pp=8,dp=8,mb=1,sp,recompute=none", sets=sets)
    sel = run("tp=8,pp=8,dp=8,mb=1,sp,recompute=selective", sets=sets)
    full = run("tp=8,pp=8,dp=8,mb=1,sp,recompute=full", sets=sets)
    assert full.peak_memory_bytes < sel.peak_memory_bytes < none.peak_memory_bytes
    assert none.step_time_s < sel.step_time_s < full.step_time_s


def test_the_workloads_recompute_stays_the_default():
    assert run("tp=8,pp=8,dp=8,mb=1,sp", sets=BIG + ["activation_recompute=true"]).step_time_s == \
        run("tp=8,pp=8,dp=8,mb=1,sp,recompute=full").step_time_s


def test_context_parallelism_divides_activations_and_attention():
    long = BIG + ["seq_len=16384", "global_batch_size=64"]
    one = run("tp=8,pp=8,dp=8,mb=1,sp,recompute=none", sets=long, hardware="h200")
    cp = run("tp=8,cp=2,pp=8,dp=4,mb=1,sp,recompute=none", sets=long, hardware="h200")
    assert cp.memory_breakdown["activations_bytes"] == pytest.approx(one.memory_breakdown["activations_bytes"] / 2,
                                                                     rel=0.02)
    assert cp.breakdown["attention"].flops == pytest.approx(one.breakdown["attention"].flops / 2 * 2, rel=1e-9)
    assert cp.model_flops_per_step == pytest.approx(one.model_flops_per_step, rel=1e-9)  # the same model work
    assert cp.communication_hidden_s > one.communication_hidden_s  # the ring's exchange behind attention
    assert cp.devices == one.devices


def test_overlap_moves_communication_from_exposed_to_hidden():
    base = run("tp=8,pp=8,vp=2,dp=8,mb=1,sp,recompute=full")
    lapped = run("tp=8,pp=8,vp=2,dp=8,mb=1,sp,recompute=full,overlap-tp,overlap-p2p")
    moved = base.breakdown["communication"].time_s - lapped.breakdown["communication"].time_s
    assert moved > 0 and lapped.step_time_s < base.step_time_s
    assert lapped.communication_hidden_s - base.communication_hidden_s == pytest.approx(moved, rel=1e-6)


@pytest.mark.parametrize("plan", ["tp=8,cp=2,pp=8,vp=2,dp=4,mb=1,sp,recompute=full,overlap-tp",
                                  "tp=8,pp=8,dp=8,mb=1,sp,zb-h1,recompute=full,recompute_layers=5",
                                  "tp=8,pp=8,dp=8,mb=1,sp,layers_per_stage=" + "/".join(["11"] * 7 + ["19"])])
def test_breakdowns_still_add_up(plan):
    e = run(plan)
    assert math.isclose(sum(b.time_s for b in e.breakdown.values()), e.step_time_s, rel_tol=1e-12)
    assert math.isclose(sum(b.device_energy_joules for b in e.breakdown.values()), e.device_energy_per_step_joules,
                        rel_tol=1e-12)
    assert all(math.isfinite(v) for v in (e.step_time_s, e.energy_joules, e.cost_usd, e.communication_hidden_s))


@pytest.mark.parametrize("plan,expected", [
    ("tp=8,cp=3,pp=1,dp=1", "cp: seq_len (2048) not divisible by 2 x cp (6)"),
    ("tp=8,pp=8,vp=13,dp=8,mb=1", "vp: a stage of 12 layers cannot hold vp (13) chunks"),
    ("tp=8,pp=1,vp=2,dp=8,mb=1", "vp: virtual stages (vp > 1) interleave a 1F1B pipeline"),
    ("tp=8,pp=8,vp=2,dp=8,mb=1,gpipe", "vp: virtual stages (vp > 1) interleave a 1F1B pipeline"),
    ("tp=8,pp=8,dp=8,mb=1,layers_per_stage=12/12", "layers_per_stage: 2 stages listed, not pp (8)"),
    ("tp=8,pp=2,dp=8,mb=1,layers_per_stage=40/40", "layers_per_stage: the stages' layers sum to 80"),
    ("tp=8,pp=2,dp=8,mb=1,layers_per_stage=40/x", "'40/x' is not whole numbers separated by '/'"),
    ("tp=8,pp=8,dp=8,mb=1,recompute_layers=2,recompute=none", "recompute_layers: recompute_layers says how many"),
    ("tp=8,pp=8,dp=8,mb=1,recompute=full,recompute_layers=13", "recompute_layers (13) is more than a stage's 12"),
    ("tp=8,pp=8,dp=8,recompute=some", "recompute: 'some' is not one of none, selective, full"),
    ("tp=8,pp=1,dp=8,zb-h1", "schedule: the zero-bubble schedule is a pipeline schedule"),
    ("tp=8,pp=8,dp=8,zb-h1,gpipe", "'gpipe' given twice"),
])
def test_impossible_frontier_plans_are_one_line(plan, expected):
    p = parse_plan(plan.replace(",recompute=some", "").replace(",gpipe", "")) if "x" not in plan else None
    devices = str(p.devices) if p else "64"
    line = error_line("estimate", "-H", H100, "-w", "gpt3-175b", "--set", "global_batch_size=512", "--plan", plan,
                      "--devices", devices)
    assert expected in line, line


def test_the_search_interleaves_and_takes_the_least_recompute_that_fits():
    from simulator import api
    found = api.plan(H100, "gpt3-175b", devices=1024, top=20)
    best_plan, best = found[0]
    assert best_plan.vp > 1  # 96 micro-batches per replica and more: interleaving shrinks the bubble
    flat = [e for p, e in found if p.vp == 1]
    assert all(best.step_time_s <= e.step_time_s for e in flat)
    for plan, e in found:  # a recomputing plan is listed only where less recompute does not fit
        if plan.recompute_layers:
            less = plan.model_copy(update={"recompute": None, "recompute_layers": None})
            with pytest.raises(Exception, match="does not fit"):
                estimate(H100, "gpt3-175b", plan=less, devices=1024)


def test_the_recompute_ladder_is_least_first():
    from simulator.run.search import recompute_ladder
    wl = load_workload("gpt3-175b")
    ladder = recompute_ladder(wl, Plan(tp=8, pp=8, dp=16))
    assert [p.recompute_layers for p in ladder] == [None, *range(1, 12), None]
    assert [p.recompute for p in ladder] == [None] + ["full"] * 12
    wl_full = wl.model_copy(update={"training": wl.training.model_copy(update={"activation_recompute": True})})
    ladder = recompute_ladder(wl_full, Plan(tp=8, pp=8, dp=16))  # the workload's default (full) says nothing
    assert [p.recompute for p in ladder] == ["none"] + ["full"] * 11 + [None]


def test_the_search_accounts_for_every_candidate():
    from simulator.files.loader import load_pair
    from simulator.run.search import candidate_plans, recompute_ladder, search_space
    from simulator.schema.options import RunOptions
    profile, wl = load_pair(H100, "gpt-1.3b")
    found, space = search_space(profile, wl, 16, options=RunOptions(devices=16), top=1000)
    bases = list(candidate_plans(wl, 16, 8))
    assert space.candidates == sum(len(recompute_ladder(wl, p)) for p in bases)
    assert space.fitted + sum(space.pruned.values()) == space.candidates == space.scored
    assert len(found) == len(bases)  # each base plan once, at its best recompute level


@pytest.mark.parametrize("rounding,batch", [("up", 1540), ("down", 1526)])
def test_a_batch_that_does_not_split_is_rounded_only_when_asked(rounding, batch):
    plan = "tp=8,pp=8,dp=14,mb=1,sp,recompute=full"
    with pytest.raises(Exception, match="not divisible by dp .14. .or round it with batch_rounding up or down"):
        estimate(H100, "gpt3-175b", plan=plan, devices=896)
    e = estimate(H100, "gpt3-175b", plan=plan, devices=896, batch_rounding=rounding)
    assert e.batch_per_device * 14 == batch
    assert any(f"rounded {rounding} from 1536 to {batch}" in a for a in e.assumptions)


def test_batch_rounding_on_the_command_line():
    line = error_line("estimate", "-H", H100, "-w", "gpt3-175b", "--plan", "tp=8,pp=8,dp=14,mb=1", "--batch-rounding",
                      "sideways")
    assert "--batch-rounding" in line
    from cli.main import main
    from tests.cli.test_bad_input import _runner
    out = _runner().invoke(main, ["estimate", "-H", H100, "-w", "gpt3-175b", "--plan", "tp=8,pp=8,dp=14,mb=1,sp,"
                                  "recompute=full", "--batch-rounding", "up"])
    assert out.exit_code == 0 and "global batch rounded up from 1536 to 1540" in out.stdout


def test_ulysses_context_parallelism_exposes_its_all_to_all():
    long = BIG + ["seq_len=16384", "global_batch_size=64"]
    ring = run("tp=8,cp=2,pp=8,dp=4,mb=1,sp,recompute=none", sets=long, hardware="h200")
    a2a = run("tp=8,cp=2,pp=8,dp=4,mb=1,sp,recompute=none,cp-a2a", sets=long, hardware="h200")
    assert a2a.breakdown["attention"].flops == ring.breakdown["attention"].flops  # the same work, split by heads
    assert a2a.breakdown["attention"].bytes < ring.breakdown["attention"].bytes  # no remote keys and values
    assert a2a.breakdown["communication"].time_s > ring.breakdown["communication"].time_s  # exposed all-to-all
    assert any("DeepSpeed-Ulysses" in a for a in a2a.assumptions)
    assert parse_plan(a2a.plan).cp_a2a
    line = error_line("estimate", "-H", H100, "-w", "gpt3-175b", "--plan", "tp=8,cp=16,pp=1,dp=1,cp-a2a",
                      "--set", "seq_len=4096")
    assert "--plan: cp: all-to-all context parallelism splits the heads over tp x cp: heads (96)" in line


def test_dualpipe_bubble_weights_and_rules():
    """DeepSeek-V3 Technical Report, Table 2: bubble (PP/2 - 1)(F&B + B - 3W), parameters 2x, activations
    PP + 1; its all-to-all and sends hidden behind another micro-batch's compute."""
    from simulator.cluster.stages import plan_stages
    from simulator.files.loader import load_pair
    plain = "tp=8,pp=8,dp=16,mb=1,sp,recompute=full"
    one = estimate(H100, "gpt3-175b", devices=1024, plan=plain)
    dual = estimate(H100, "gpt3-175b", devices=1024, plan=plain + ",dualpipe")
    profile, wl = load_pair(H100, "gpt3-175b")
    stages = plan_stages(profile, wl, parse_plan(plain + ",dualpipe"), 1, 96)
    slow = max((st for st, _ in stages), key=lambda st: st.pass_s)
    expected = 3 * (slow.pass_s * 5 / 3 - 3 * slow.wgrad_s)  # pp/2 - 1 = 3
    assert dual.breakdown["pipeline_bubble"].time_s == pytest.approx(expected, rel=1e-9)
    assert dual.breakdown["pipeline_bubble"].time_s < one.breakdown["pipeline_bubble"].time_s
    assert dual.memory_breakdown["weights_bytes"] == pytest.approx(2 * one.memory_breakdown["weights_bytes"])
    assert dual.memory_breakdown["optimizer_states_bytes"] == one.memory_breakdown["optimizer_states_bytes"]
    assert any("DualPipe bidirectional pipeline" in a for a in dual.assumptions)
    with pytest.raises(Exception, match="even pp of 2 or more"):
        estimate(H100, "gpt3-175b", devices=384, plan="tp=8,pp=3,dp=16,mb=1,sp,recompute=full,dualpipe")
    with pytest.raises(Exception, match="even number of micro-batches per replica"):
        estimate(H100, "gpt3-175b", devices=1024, plan="tp=8,pp=8,dp=16,mb=32,sp,recompute=full,dualpipe")
