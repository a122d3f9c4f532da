"""Convolutions as cuDNN runs them: implicit GEMM with a reduction length per direction, the tile ramp,
the 3-channel stem on the vector units, autotuned backward kernels, and batch norm folded into the
convolutions around it (conv_bn_fusion)."""
import pytest

from simulator.files.loader import load_profile, load_workload
from simulator.model import cnn
from simulator.model.ops import MATRIX_CLASSES
from simulator.model.roofline import price_ops


def test_each_direction_carries_its_own_reduction_length():
    fwd, (dgrad, wgrad) = cnn.conv_ops("c", 32, 64, 256, 56, 1, 1, 2, "bf16", None)
    assert (fwd.reduction, dgrad.reduction, wgrad.reduction) == (64, 256, 32 * 56 * 56)
    assert fwd.out_bytes == 2 * 32 * 256 * 56 * 56 and dgrad.out_bytes == 2 * 32 * 64 * 56 * 56
    assert wgrad.out_bytes == 2 * 64 * 256
    assert (fwd.op_class, dgrad.op_class) == ("conv", "conv_backward")


def test_autotuning_puts_the_backward_kernels_on_the_forward_curve():
    _, bwd = cnn.conv_ops("c", 32, 64, 64, 56, 3, 1, 2, "bf16", "cudnn-fused")
    assert {op.op_class for op in bwd} == {"conv"}


def test_a_short_reduction_is_slower_per_flop_by_the_tile_ramp():
    h200 = load_profile("h200")
    half = h200.efficiency.conv_tile_half_reduction
    assert 30 < half < 300  # fitted on the H200 conv2d sweep
    # two forward convolutions with the same FLOPs and bytes, one over 64 channels, one over 1024
    short, _ = cnn.conv_ops("a", 128, 64, 1024, 14, 1, 1, 2, "bf16", None)
    long_ = short._replace(reduction=1024)
    t_short, t_long = (price_ops([op], h200)[0][0] for op in (short, long_))
    assert t_short.compute_s / t_long.compute_s == pytest.approx((1 + half / 64) / (1 + half / 1024), rel=1e-9)


def test_a_three_channel_stem_runs_on_the_vector_units_unless_the_stack_pads_it():
    eager, _ = cnn.conv_ops("stem", 32, 3, 64, 224, 7, 2, 2, "bf16", "pytorch-eager", input_grad=False)
    padded, bwd = cnn.conv_ops("stem", 32, 3, 64, 224, 7, 2, 2, "bf16", "cudnn-fused", input_grad=False)
    assert eager.dtype == "fp32" and padded.dtype == "bf16" and padded.reduction == 4 * 49
    assert [op.name for op in bwd] == ["stem.wgrad"]  # no data gradient for the images
    assert eager.flops == padded.flops  # the padded channel's work is not counted as model FLOPs


def _step(execution, batch=32):
    w = load_workload("resnet50-imagenet", [f"execution={execution}"])
    return cnn.step_ops(w, batch)


def test_conv_bn_fusion_leaves_no_forward_norm_inside_a_block():
    plain, folded = _step("torch-compile"), _step("cudnn-fused")
    norms = lambda phase: [op for op in phase if op.op_class == "normalization"]  # noqa: E731
    # ResNet-50: 53 batch norms; folded: the stem's and each of the 16 blocks' last norm run forward
    assert len(norms(plain["forward"])) == 53 and len(norms(folded["forward"])) == 17
    assert len(norms(folded["backward"])) == 53  # backward as bn_activation_fusion
    conv_flops = lambda ph: sum(op.flops for p in ph.values() for op in p if op.op_class in MATRIX_CLASSES)  # noqa: E731
    assert conv_flops(folded) == pytest.approx(conv_flops(plain), rel=1e-12)
    last = next(op for op in folded["forward"] if op.name == "stage1.block1.conv3.bn_apply")
    e = 32 * 256 * 56 * 56
    assert last.bytes == 3 * 2 * e  # reads the convolution's output and the shortcut, writes the block's output


def test_a_fused_resnet_step_is_faster_on_every_gpu_and_the_breakdown_adds_up():
    from simulator import api
    for hw in ("v100-sxm2", "a100-sxm-80gb", "h100-sxm"):
        eager = api.estimate(hw, "resnet50-imagenet", sets=["execution=pytorch-eager"])
        fused = api.estimate(hw, "resnet50-imagenet", sets=["execution=cudnn-fused"])
        assert fused.step_time_s < 0.8 * eager.step_time_s
        parts = sum(v.time_s for k, v in fused.breakdown.items() if k in MATRIX_CLASSES or k in (
            "elementwise", "normalization", "loss", "embedding", "optimizer"))
        assert parts == pytest.approx(fused.step_time_s, rel=1e-6)
