"""Parallel plans in closed form: tensor, pipeline and data parallelism, ZeRO, collectives, plan search."""
import math

import pytest
from click.testing import CliRunner

from cli.main import main
from simulator import CostsimError, estimate, load_profile
from simulator.cluster.collectives import Group, collective_time_s
from simulator.schema.plan import parse_plan

A100 = "a100-sxm-80gb"


def test_plan_text_round_trips():
    plan = parse_plan("tp=8,pp=16,dp=4,mb=2,zero=1,sp,gpipe,no-overlap")
    assert (plan.tp, plan.pp, plan.dp, plan.mb, plan.zero, plan.sp, plan.schedule, plan.overlap_grad_reduce) == \
        (8, 16, 4, 2, 1, True, "gpipe", False)
    assert parse_plan(plan.label()) == plan


def test_ring_all_reduce_inside_a_node_is_alpha_beta():
    p = load_profile(A100)
    link = p.intra_node_link
    t = collective_time_s("all_reduce", 1e9, Group(8, 1), p)
    assert math.isclose(t, 2 * 7 / 8 * 1e9 / link.bandwidth_bytes_per_s + 14 * link.latency_s)
    assert collective_time_s("all_gather", 1e9, Group(8, 1), p) < t
    assert collective_time_s("all_reduce", 1e9, Group(1, 1), p) == 0


def test_all_reduce_across_nodes_uses_the_inter_node_link_hierarchically():
    p = load_profile(A100)
    within = collective_time_s("all_reduce", 1e9, Group(8, 1), p)
    across = collective_time_s("all_reduce", 1e9, Group(64, 1), p)  # 8 nodes of 8
    spread = collective_time_s("all_reduce", 1e9, Group(8, 8), p)  # one rank per node
    assert within < across < spread


def test_tensor_parallelism_splits_the_matrix_work():
    one = estimate(A100, "gpt-1.3b", plan="tp=1,pp=1,dp=1")
    four = estimate(A100, "gpt-1.3b", plan="tp=4,pp=1,dp=1")
    assert four.devices == 4
    assert four.breakdown["gemm"].flops == pytest.approx(one.breakdown["gemm"].flops / 4, rel=0.02)
    assert four.breakdown["communication"].time_s > 0
    assert four.step_time_s < one.step_time_s
    assert four.peak_memory_bytes < one.peak_memory_bytes


def test_sequence_parallelism_cuts_replicated_work_and_memory():
    plain = estimate(A100, "gpt-1.3b", plan="tp=4,pp=1,dp=1")
    sp = estimate(A100, "gpt-1.3b", plan="tp=4,pp=1,dp=1,sp")
    assert sp.breakdown["normalization"].time_s < plain.breakdown["normalization"].time_s
    assert sp.peak_memory_bytes < plain.peak_memory_bytes


def test_pipeline_bubble_shrinks_with_more_micro_batches():
    few = estimate(A100, "gpt-1.3b", plan="tp=1,pp=4,dp=1,mb=2", sets=["global_batch_size=8"])
    many = estimate(A100, "gpt-1.3b", plan="tp=1,pp=4,dp=1,mb=2", sets=["global_batch_size=64"])
    share = lambda e: e.breakdown["pipeline_bubble"].time_s / e.step_time_s  # noqa: E731
    assert share(few) > share(many) > 0


def test_gpipe_holds_more_activations_than_1f1b():
    one_f = estimate(A100, "gpt-1.3b", plan="tp=1,pp=2,dp=1,mb=1", sets=["global_batch_size=16"])
    gpipe = estimate(A100, "gpt-1.3b", plan="tp=1,pp=2,dp=1,mb=1,gpipe", sets=["global_batch_size=16"])
    assert gpipe.peak_memory_bytes > one_f.peak_memory_bytes
    assert math.isclose(gpipe.step_time_s, one_f.step_time_s, rel_tol=1e-9)


def test_zero_stages_shard_model_states():
    mems = [estimate(A100, "gpt-1.3b", plan=f"tp=1,pp=1,dp=8,zero={z}", sets=["global_batch_size=64"])
            .memory_breakdown for z in (0, 1, 2, 3)]
    assert mems[1]["optimizer_states_bytes"] == pytest.approx(mems[0]["optimizer_states_bytes"] / 8)
    assert mems[3]["weights_bytes"] == pytest.approx(mems[0]["weights_bytes"] / 8)


def test_overlapped_gradient_reduction_hides_behind_backward():
    hidden = estimate(A100, "gpt-1.3b", plan="tp=1,pp=1,dp=8", sets=["global_batch_size=64"])
    exposed = estimate(A100, "gpt-1.3b", plan="tp=1,pp=1,dp=8,no-overlap", sets=["global_batch_size=64"])
    assert exposed.step_time_s > hidden.step_time_s


def test_single_device_plan_equals_the_default():
    assert estimate("h200", "gpt2-124m").step_time_s == estimate("h200", "gpt2-124m", plan="tp=1,pp=1,dp=1").step_time_s


def test_breakdown_still_adds_up_under_a_plan():
    e = estimate(A100, "gpt-1.3b", plan="tp=2,pp=2,dp=2,mb=2", sets=["global_batch_size=32"])
    assert math.isclose(sum(b.time_s for b in e.breakdown.values()), e.step_time_s, rel_tol=1e-12)
    assert math.isclose(sum(b.device_energy_joules for b in e.breakdown.values()), e.device_energy_per_step_joules,
                        rel_tol=1e-12)


@pytest.mark.parametrize("plan,expected", [
    ("tp=2,pp=2,dp=2", "tp x pp x dp = 2 x 2 x 2 = 8, not the 4 devices"),
    ("tp=3,pp=1,dp=1", "heads (16) not divisible by tp (3)"),
    ("tp=1,pp=2,dp=1,layers_per_stage=10/10", "the stages' layers sum to 20, not the workload's 24"),
    ("tp=1,pp=25,dp=1", "24 layers cannot fill pp = 25 stages"),
    ("tp=1,pp=1,dp=3", "global_batch_size 8 not divisible by dp (3)"),
    ("tp=1,pp=1,dp=1,mb=3", "micro-batch 3 does not divide"),
    ("tp=2,pp=x", "'x' is not a whole number"),
    ("tq=2", "cannot read 'tq=2'"),
])
def test_impossible_plans_are_one_line(plan, expected):
    devices = "4" if plan.startswith("tp=2,pp=2") else None
    args = ["estimate", "-H", A100, "-w", "gpt-1.3b", "--plan", plan] + (["--devices", devices] if devices else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0]


def test_plan_that_does_not_fit_is_an_error():
    with pytest.raises(CostsimError, match="does not fit"):
        estimate("h100-sxm", "gpt3-175b", plan="tp=8,pp=1,dp=1", sets=["global_batch_size=8"])


def test_plan_search_finds_a_fitting_plan_for_gpt3_and_ranks_it():
    from simulator.api import plan as search

    found = search("h100-sxm", "gpt3-175b", devices=1024, top=3)
    assert len(found) == 3
    times = [e.step_time_s for _, e in found]
    assert times == sorted(times)
    best_plan, best = found[0]
    assert best_plan.devices == 1024 and best.peak_memory_bytes <= best.memory_capacity_bytes
    assert 0.2 < best.mfu_fraction < 0.7
    cheapest = search("h100-sxm", "gpt3-175b", devices=1024, objective="cost", top=1)[0][1]
    assert cheapest.cost_usd <= best.cost_usd


def test_estimate_with_plan_auto_takes_the_fastest():
    from simulator.api import plan as search

    auto = estimate(A100, "gpt-1.3b", devices=16, plan="auto", sets=["global_batch_size=64"])
    best = search(A100, "gpt-1.3b", devices=16, top=1, sets=["global_batch_size=64"])[0][1]
    assert auto.step_time_s == best.step_time_s


def test_plan_command_lists_plans():
    result = CliRunner().invoke(main, ["plan", "-H", A100, "-w", "gpt-1.3b", "--devices", "16", "--top", "3",
                                       "--set", "global_batch_size=64"])
    assert result.exit_code == 0, result.output
    assert result.output.count("tp=") == 3


def test_mixture_of_experts_multiplies_parameters_not_per_token_work():
    from simulator import load_workload
    from simulator.model.transformer import parameter_counts

    dense_w = load_workload("gpt-1.3b")
    moe_w = dense_w.model_copy(update={"experts": 8, "experts_per_token": 2})
    assert parameter_counts(moe_w)["total"] > 4 * parameter_counts(dense_w)["total"]
    sets = ["global_batch_size=64", "experts=8", "experts_per_token=2"]
    moe = estimate("h100-sxm", "gpt-1.3b", plan="tp=1,pp=1,dp=8,ep=8", sets=sets)
    dense = estimate("h100-sxm", "gpt-1.3b", plan="tp=1,pp=1,dp=8", sets=["global_batch_size=64"])
    ratio = moe.model_flops_per_step / dense.model_flops_per_step
    assert 1.3 < ratio < 2.0  # top-2 doubles the MLP's share of the work, not the attention's
    assert moe.breakdown["communication"].time_s > 0  # the all-to-alls


def test_expert_parallelism_must_divide_experts_and_data_parallelism():
    with pytest.raises(CostsimError, match="ep"):
        estimate("h100-sxm", "gpt-1.3b", plan="tp=1,pp=1,dp=8,ep=3", sets=["global_batch_size=64", "experts=8"])


def test_top_k_above_the_expert_count_is_rejected():
    with pytest.raises(CostsimError, match="experts_per_token"):
        estimate("h100-sxm", "gpt-1.3b", sets=["experts=2", "experts_per_token=4"])


def test_tpu_pod_collectives_stay_on_ici_across_hosts():
    v5p = load_profile("tpu-v5p")
    assert v5p.topology.intra == "torus3d" and v5p.topology.scale_up_domain_devices == 8960
    over_ici = collective_time_s("all_reduce", 1e9, Group(256, 1), v5p)
    host_network = v5p.model_copy(update={"topology": v5p.topology.model_copy(update={"scale_up_domain_devices": 4})})
    assert over_ici < collective_time_s("all_reduce", 1e9, Group(256, 1), host_network) / 5


def test_torus_needs_fewer_latency_hops_than_a_ring():
    p = load_profile("tpu-v5p")
    ring = p.model_copy(update={"topology": p.topology.model_copy(update={"intra": "ring"})})
    small = 1e3  # latency-bound
    assert collective_time_s("all_reduce", small, Group(512, 1), p) < collective_time_s("all_reduce", small,
                                                                                        Group(512, 1), ring)


def test_oversubscribed_fat_tree_slows_cross_node_collectives():
    p = load_profile("h100-sxm")
    tapered = p.model_copy(update={"topology": p.topology.model_copy(update={"inter_oversubscription": 2.0})})
    assert collective_time_s("all_reduce", 1e9, Group(64, 8), tapered) > collective_time_s("all_reduce", 1e9,
                                                                                           Group(64, 8), p)
    assert collective_time_s("all_reduce", 1e9, Group(8, 1), tapered) == collective_time_s("all_reduce", 1e9,
                                                                                           Group(8, 1), p)


def test_executed_flops_under_a_pipeline_count_each_stage_once():
    e = estimate("h200", "gpt-1.3b", plan="tp=1,pp=4,dp=1,mb=1")
    assert e.executed_flops_per_step / e.model_flops_per_step < 1.01
    assert e.breakdown["optimizer"].flops > 0 and e.breakdown["optimizer"].kernels > 0


def test_compare_with_plan_auto_searches_per_device():
    from simulator.api import compare

    rows = compare(["h200", "h100-sxm"], "gpt-1.3b", devices=8, plan="auto", sets=["global_batch_size=64"])
    assert all(r.estimate is not None and r.estimate.devices == 8 for r in rows)


def test_fp32_on_a_device_without_fp32_units_pays_the_emulation():
    fp32 = estimate("tpu-v5p", "gpt2-124m", sets=["precision=fp32"])
    bf16 = estimate("tpu-v5p", "gpt2-124m")
    assert fp32.step_time_s > bf16.step_time_s
    assert any("bf16x3" in w for w in fp32.warnings)


def test_in_network_reduction_halves_the_cross_node_all_reduce():
    p = load_profile(A100)
    sharp = p.model_copy(update={"topology": p.topology.model_copy(update={"in_network_reduction": True})})
    inter = p.inter_node_link
    ring = collective_time_s("all_reduce", 1e9, Group(64, 8), p)  # one rank per node, 64 nodes
    tree = collective_time_s("all_reduce", 1e9, Group(64, 8), sharp)
    assert math.isclose(tree, 1e9 / inter.bandwidth_bytes_per_s + 2 * inter.latency_s)
    assert tree < ring / 1.9  # a ring sends 2 (n - 1) / n of the buffer
    assert collective_time_s("all_gather", 1e9, Group(64, 8), sharp) == collective_time_s("all_gather", 1e9,
                                                                                            Group(64, 8), p)
    assert collective_time_s("all_reduce", 1e9, Group(8, 1), sharp) == collective_time_s("all_reduce", 1e9,
                                                                                          Group(8, 1), p)


def test_fewer_nics_than_devices_are_shared_by_the_devices_crossing_nodes():
    """A DGX-style node has a NIC per GPU (the default); with two for eight GPUs, every data-parallel
    ring across nodes (one per tensor-parallel rank, all at once) gets a quarter of a NIC."""
    p = load_profile(A100)
    two = p.model_copy(update={"topology": p.topology.model_copy(update={"nics_per_node": 2})})
    inter = p.inter_node_link
    railed = collective_time_s("all_reduce", 1e9, Group(64, 8), p)
    shared = collective_time_s("all_reduce", 1e9, Group(64, 8), two)
    assert math.isclose(railed, 2 * 63 / 64 * 1e9 / inter.bandwidth_bytes_per_s + 2 * 63 * inter.latency_s)
    assert math.isclose(shared, 2 * 63 / 64 * 1e9 / (inter.bandwidth_bytes_per_s / 4) + 2 * 63 * inter.latency_s)
    assert collective_time_s("all_reduce", 1e9, Group(8, 1), two) == collective_time_s("all_reduce", 1e9,
                                                                                        Group(8, 1), p)
    many = p.model_copy(update={"topology": p.topology.model_copy(update={"nics_per_node": 16})})
    assert collective_time_s("all_reduce", 1e9, Group(64, 8), many) == railed  # no more than one NIC each
    slow = estimate(A100, "gpt-1.3b", devices=64, plan="tp=8,pp=1,dp=8,mb=1",
                    sets=["hardware.topology.nics_per_node=1"])
    fast = estimate(A100, "gpt-1.3b", devices=64, plan="tp=8,pp=1,dp=8,mb=1")
    assert slow.step_time_s > fast.step_time_s


def test_zero3_weight_gathers_are_prefetched_behind_compute_unless_the_plan_says_not():
    plan = "tp=8,pp=1,dp=8,mb=1,zero=3"
    on = estimate(A100, "gpt-1.3b", devices=64, plan=plan)
    off = estimate(A100, "gpt-1.3b", devices=64, plan=plan + ",no-prefetch")
    p = load_profile(A100)
    from simulator.files.loader import load_workload
    from simulator.model import transformer
    params = transformer.device_parameters(load_workload("gpt-1.3b"), transformer.Split(tp=8))["total"]
    per_pass = 2 * collective_time_s("all_gather", 2 * params, Group(8, 8), p)  # bf16 weights, forward and backward
    m = 1  # micro-batches per replica: a global batch of 8 over dp 8
    # prefetched, the gathers hide behind the pass; they then hold the links the overlapped gradient
    # reduction would use, so the reduction hides in less of the backward: a saving of at most the gathers
    assert 0.0 < off.step_time_s - on.step_time_s <= m * per_pass * (1 + 1e-9)
    assert on.communication_hidden_s > off.communication_hidden_s
    assert off.plan.endswith("no-prefetch")
