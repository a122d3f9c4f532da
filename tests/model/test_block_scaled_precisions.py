"""Block-scaled training formats (issue 15): MXFP8 (OCP MX v1.0: an E8M0 scale per 32 values) and NVFP4
(NVIDIA 2025, arXiv:2509.25149: an E4M3 scale per 16 four-bit values, random Hadamard transforms on the
weight-gradient operands, stochastic rounding of gradients, attention in bf16), on devices whose matrix
units apply the scales (Blackwell)."""
import pytest

from simulator import api
from simulator.errors import CostsimError
from simulator.files.loader import load_workload
from simulator.model.ops import PRECISIONS, linear_ops, operand_bytes
from tests.cli.test_bad_input import error_line


def test_operands_carry_their_block_scales():
    assert operand_bytes(PRECISIONS["fp8_mixed"]) == 1.0
    assert operand_bytes(PRECISIONS["mxfp8_mixed"]) == 1 + 1 / 32
    assert operand_bytes(PRECISIONS["fp4_mixed"]) == 0.5 + 1 / 16
    assert PRECISIONS["fp4_mixed"].attention == "bf16" and PRECISIONS["fp8_mixed"].attention == "fp8"
    assert PRECISIONS["mxfp8_mixed"].attention == "bf16"  # TE's fp8 attention takes per-tensor scales only


def test_an_fp4_linear_casts_its_operands_with_the_hadamard_transform_and_reads_them_at_4_5_bits():
    fwd, bwd = linear_ops("mlp.up", 1024, 2048, 8192, PRECISIONS["fp4_mixed"], 1)
    names = {op.name: op for op in fwd + bwd}
    cast_in, cast_grad = names["mlp.up.fp4_cast_input"], names["mlp.up.fp4_cast_grad"]
    assert cast_in.bytes == (2 + 2 * 0.5625) * 1024 * 2048  # reads bf16, writes the copy and its transpose
    assert cast_in.flops == (1 + 32) * 1024 * 2048 and cast_grad.flops == (1 + 32 + 2) * 1024 * 8192
    product = names["mlp.up.fwd"]
    assert product.dtype == "fp4" and product.flops == 2 * 1024 * 2048 * 8192
    fp8 = {op.name: op for op in sum(linear_ops("mlp.up", 1024, 2048, 8192, PRECISIONS["fp8_mixed"], 1), [])}
    assert product.bytes < fp8["mlp.up.fwd"].bytes


def test_fp4_trains_faster_than_fp8_on_a_b200_and_says_what_it_leaves_out():
    step = {p: api.estimate("b200", "gpt-1.3b", sets=[f"precision={p}", "execution=megatron-core"])
            for p in ("bf16_mixed", "fp8_mixed", "mxfp8_mixed", "fp4_mixed")}
    assert step["fp4_mixed"].step_time_s < step["fp8_mixed"].step_time_s < step["bf16_mixed"].step_time_s
    assert step["mxfp8_mixed"].step_time_s == pytest.approx(step["fp8_mixed"].step_time_s, rel=0.02)
    assert any("NVIDIA's recipe keeps a few linear layers" in a for a in step["fp4_mixed"].assumptions)


def test_block_scaled_formats_are_refused_where_the_units_do_not_apply_scales():
    with pytest.raises(CostsimError, match="block_scaled_matmul"):
        api.estimate("h100-sxm", "gpt-1.3b", sets=["precision=mxfp8_mixed"])
    line = error_line("estimate", "-H", "h200", "-w", "gpt2-124m", "--set", "precision=fp4_mixed")
    assert "fp4_mixed needs matrix units" in line and "training.precision" in line
    with pytest.raises(CostsimError, match="cover transformers' linear layers"):
        load_workload("resnet50-imagenet", ["precision=fp4_mixed"])


def test_the_quantize_strategy_takes_fp4_and_falls_back_where_there_are_no_units():
    base, row = api.strategies("b200", "gpt-1.3b", ["quantize:fp4"])
    assert 0.5 < row.time_ratio < 0.85
    base, row = api.strategies("h100-sxm", "gpt-1.3b", ["quantize:mxfp8"])
    assert row.time_ratio == 1.0 and any("no mxfp8 units" in w for w in row.warnings)



def test_every_workload_kind_and_entry_point_refuses_them_where_they_do_not_apply():
    generic = {"name": "g", "kind": "generic", "parameters": 1e8, "forward_flops_per_sample": 1e9,
               "training": {"global_batch_size": 8, "epochs": 1, "dataset_size": 80, "precision": "fp4_mixed"}}
    with pytest.raises(CostsimError, match="cover transformers' linear layers"):
        load_workload(generic)
    with pytest.raises(CostsimError, match="cover transformers' linear layers"):
        api.strategies("b200", "resnet50-imagenet", ["quantize:fp4"])


def test_a_transformer_never_runs_a_stack_for_convolutional_networks_only():
    with pytest.raises(CostsimError, match="runs no stack for transformers"):
        api.estimate("h100-sxm", "gpt2-124m", sets=["hardware.execution_stacks=[pytorch-tuned]"])
    e = api.estimate("h100-sxm", "gpt2-124m", sets=["hardware.execution_stacks=[cudnn-fused,megatron]"])
    assert e.assumptions[0].startswith("execution as megatron")
