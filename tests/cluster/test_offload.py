"""Offload (ZeRO-Offload, Ren et al. 2021): optimizer states and fp32 master weights in host memory, the
optimizer step on the host, gradients down and updated weights up over the host link; ``params`` also
streams the low-precision weights in for each pass. The figures are the profiles' cited host links
(PCIe Gen5 x16: 64e9 B/s per direction on the H100/H200, Gen4 32e9 on the A100) and host memory
bandwidth shares (DGX H100: 614.4 GB/s over 8 GPUs)."""
from __future__ import annotations

import pytest

from simulator.api import estimate, plan
from simulator.errors import CostsimError
from simulator.model import transformer
from simulator.model.ops import optimizer_ops
from tests.cli.test_bad_input import error_line

DENSE_7B = """name: dense-7b
kind: transformer
layers: 32
d_model: 4096
heads: 32
vocab_size: 32000
seq_len: 2048
ffn_mult: 4
training: {global_batch_size: 8, tokens: 1.0e9, precision: bf16_mixed, optimizer: adam}
"""
PLAN = "tp=1,pp=1,dp=1,mb=1"


@pytest.fixture
def dense_7b(tmp_path):
    path = tmp_path / "dense-7b.yaml"
    path.write_text(DENSE_7B)
    return str(path)


def test_offload_moves_the_optimizer_and_the_master_weights_to_the_host(dense_7b):
    none = estimate("h200", dense_7b, devices=1, plan=PLAN)
    opt = estimate("h200", dense_7b, devices=1, plan=PLAN + ",offload=optimizer")
    params = estimate("h200", dense_7b, devices=1, plan=PLAN + ",offload=params")
    assert none.memory_breakdown["optimizer_states_bytes"] > 0 and none.memory_breakdown["weights_bytes"] > 0
    assert opt.memory_breakdown["optimizer_states_bytes"] == opt.memory_breakdown["weights_bytes"] == 0.0
    assert opt.memory_breakdown["low_precision_weights_bytes"] == none.memory_breakdown["low_precision_weights_bytes"]
    assert params.memory_breakdown["low_precision_weights_bytes"] == 0.0
    assert params.peak_memory_bytes < opt.peak_memory_bytes < none.peak_memory_bytes
    assert any("ZeRO-Offload (optimizer)" in a for a in opt.assumptions)
    assert opt.plan.endswith("offload=optimizer")


def test_offload_costs_the_host_step_and_the_transfers_by_hand(dense_7b):
    """On one H200: the step grows by the host's optimizer step (its bytes at 76.8e9 B/s) less the device's,
    plus the updated weights up (2 bytes a parameter at 64e9 B/s, 10 us), plus any of the gradients' way
    down that the backward (2/3 of the pass) does not cover."""
    none = estimate("h200", dense_7b, devices=1, plan=PLAN)
    opt = estimate("h200", dense_7b, devices=1, plan=PLAN + ",offload=optimizer")
    from simulator.files.loader import load_workload
    wl = load_workload(dense_7b)
    params = transformer.device_parameters(wl)
    host_bytes = sum(op.bytes * op.count for op in optimizer_ops(params["trainable"], "adam"))
    host_step = host_bytes / 76.8e9
    transfer = 2 * params["total"] / 64e9 + 1e-5
    passes = 8 * (none.step_time_s - none.breakdown["optimizer"].time_s) / 8  # one micro-batch pass x 8
    backward = 2.0 / 3.0 * passes / 8
    expected = (none.step_time_s - none.breakdown["optimizer"].time_s + host_step + transfer
                + max(0.0, transfer - backward))
    assert opt.step_time_s == pytest.approx(expected, rel=1e-6)
    assert opt.breakdown["optimizer"].time_s > none.breakdown["optimizer"].time_s  # the host is slower
    assert opt.breakdown["optimizer"].kernels == 0.0  # no device kernels for it


def test_offload_streams_the_weights_behind_compute(dense_7b):
    opt = estimate("h200", dense_7b, devices=1, plan="tp=1,pp=1,dp=1,mb=4,offload=optimizer")
    params = estimate("h200", dense_7b, devices=1, plan="tp=1,pp=1,dp=1,mb=4,offload=params")
    # 2 x 2 bytes x 6.7e9 parameters at 64e9 B/s = 0.42 s a pass, under a pass of about 1.7 s: hidden
    assert params.step_time_s == pytest.approx(opt.step_time_s, rel=1e-9)
    assert params.communication_hidden_s > opt.communication_hidden_s + 0.8
    small = estimate("h200", dense_7b, devices=1, plan="tp=1,pp=1,dp=1,mb=1,offload=params")
    base = estimate("h200", dense_7b, devices=1, plan="tp=1,pp=1,dp=1,mb=1,offload=optimizer")
    assert small.step_time_s >= base.step_time_s


def test_offload_without_a_host_link_is_refused_in_one_line(dense_7b):
    with pytest.raises(CostsimError, match="tpu-v5p gives no host_link and host_memory_bandwidth_bytes_per_s") as err:
        estimate("tpu-v5p", dense_7b, devices=1, plan=PLAN + ",offload=optimizer")
    assert err.value.field == "plan.offload"
    line = error_line("estimate", "-H", "tpu-v5p", "-w", dense_7b, "--devices", "1", "--plan",
                      PLAN + ",offload=params")
    assert "--plan" in line and "offload" in line and "host_link" in line
    assert "offload" in error_line("estimate", "-H", "h100-sxm", "-w", dense_7b, "--plan", PLAN + ",offload=disk")


def test_the_search_offloads_only_what_does_not_fit_otherwise(dense_7b):
    found = plan("a100-sxm-80gb", dense_7b, devices=1, top=3)
    assert found and all(p.offload != "none" for p, _ in found)  # 7B x 16 bytes does not fit 80 GB without it
    big = plan("h100-sxm", "gpt3-175b", devices=1024, top=5)
    assert all(p.offload == "none" for p, _ in big)
    pinned = plan("h100-sxm", "gpt3-175b", devices=1024, top=3, fix="offload=optimizer")
    assert pinned and all(p.offload == "optimizer" for p, _ in pinned)
