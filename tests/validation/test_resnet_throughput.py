"""ResNet-50 v1.5 training throughput in eager PyTorch against NVIDIA's published DeepLearningExamples
figures (issue 16: "ResNet-50 images per second on V100, A100, H100 ... within 15%").

Calibrated on: the H200 microbenchmarks (the conv2d sweep for the convolution curves; eager PyTorch's
batch norm, ReLU and add kernels priced as the model prices them) and, for the V100, the Volta family's
GEMM curve fitted on DeepBench (its GEMMs are 0.03% of a ResNet step); nothing is fitted on these figures.
Tested on: NVIDIA DeepLearningExamples, PyTorch/Classification/ConvNets/resnet50v1.5/README.md
(container 21.03), "Training performance" tables: DGX A100 (8x A100 80GB) and DGX-1 16GB (8x V100 16GB),
batch 256 per GPU with AMP (112 for V100 FP32), channels-last, DALI, torch.backends.cudnn.benchmark on
(the pytorch-tuned stack, the default for CNNs on GPUs). The V100 16GB runs on the v100-sxm2 profile
(32 GB; the same GV100 compute and bandwidth). The bounds are today's errors with a small margin: the
issue's 15% is met for A100 on 8 GPUs and for TF32, not for one AMP GPU nor for the V100 (docs/accuracy.md)."""
import pytest

from simulator import api

# (profile, precision, per-GPU batch, GPUs, published images/s, lower and upper bound on the signed error)
PUBLISHED = [
    ("a100-sxm-80gb", "fp16_mixed", 256, 1, 2470, -0.21, -0.15),
    ("a100-sxm-80gb", "fp16_mixed", 256, 8, 16621, -0.05, 0.02),
    ("a100-sxm-80gb", "tf32", 256, 1, 938, 0.10, 0.18),
    ("v100-sxm2", "fp16_mixed", 256, 1, 1200, -0.28, -0.22),
    ("v100-sxm2", "fp16_mixed", 256, 8, 8322, -0.17, -0.11),
    ("v100-sxm2", "fp32", 112, 1, 367, -0.31, -0.24),
]


@pytest.mark.parametrize("hardware,precision,batch,gpus,images_per_s,low,high", PUBLISHED)
def test_eager_pytorch_resnet50_throughput_against_deeplearningexamples(hardware, precision, batch, gpus,
                                                                          images_per_s, low, high):
    e = api.estimate(hardware, "resnet50-imagenet", devices=gpus,
                     sets=[f"precision={precision}", f"global_batch_size={batch * gpus}"])
    assert e.assumptions[0].startswith("execution as pytorch-tuned")
    error = e.images_per_s / images_per_s - 1
    assert low <= error <= high, f"{hardware} {precision} x{gpus}: {e.images_per_s:.0f} images/s, {error:+.1%}"
