"""Execution stacks as data: what each software stack fuses, what it overlaps and what host cost it pays.

A stack is a set of rules; each rule is one mechanism with its source, applied to the kernels of a step
by ``model/fusion.py`` (fusions), by ``cluster/stages.py`` (overlaps, through the plan) and by
``model/step.py`` (host dispatch). No rule is a speed-up factor: each removes or merges named kernels,
changes the bytes they move, or hides a named kind of communication, and the roofline prices what is left.
``docs/stacks.md`` lists this table (a test keeps the two in step).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """One mechanism of a stack: what it does to the step's kernels, and where that is documented."""

    what: str
    source: str
    url: str


MEGATRON_ARGS = "https://github.com/NVIDIA/Megatron-LM/blob/main/megatron/training/arguments.py"

RULES: dict[str, Rule] = {
    "low_precision_stream": Rule(
        "the model runs in the low-precision type: residual stream, norms' inputs and outputs in bf16/fp16 "
        "(fp32 only inside the kernels), so no cast kernel sits before or after a norm",
        "Megatron-LM: --fp32-residual-connection is off unless asked; FSDP2 MixedPrecisionPolicy(param_dtype=bf16) "
        "and JAX's bf16 activations alike", MEGATRON_ARGS),
    "weights_cast_once": Rule(
        "the low-precision copy of the weights is refreshed once per step after the optimizer (each rank its "
        "ZeRO shard), not cast again in every micro-batch's forward",
        "Megatron's MixedPrecisionOptimizer.step: the inner optimizer's step, then "
        "_copy_main_params_to_model_params (a multi-tensor copy of the fp32 main parameters into the 16-bit model "
        "parameters)", "https://github.com/NVIDIA/Megatron-LM/blob/main/megatron/core/optimizer/optimizer.py"),
    "gradient_clipping": Rule(
        "once per step the global norm of the fp32 gradients is taken for clipping (one read of each rank's "
        "gradient shard); the fp16 loss-scaler's inf/nan check is another read",
        "Megatron-LM --clip-grad (default 1.0) and its fp16 loss scaler", MEGATRON_ARGS),
    "gradient_accumulation_fusion": Rule(
        "each weight-gradient product accumulates straight into the fp32 main-gradient buffer (it reads and "
        "writes fp32 output): no separate cast-and-add of the gradient per micro-batch",
        "Transformer Engine, advanced optimizations: the weight-gradient products accumulate directly into FP32 "
        "main_grad, \"avoiding the need for a separate casting kernel\"; Megatron-Core's gradient_accumulation_fusion "
        "(on unless --no-gradient-accumulation-fusion)",
        "https://docs.nvidia.com/deeplearning/transformer-engine/user-guide/examples/advanced_optimizations.html"),
    "fused_bias_grad": Rule(
        "the bias gradient (a sum of the output gradient over tokens) is computed by the kernel that already "
        "reads that gradient (cuBLASLt's BGRAD epilogue, Transformer Engine's cast-transpose-bgrad, an "
        "Inductor/XLA reduction fused with its producer): no kernel of its own",
        "Transformer Engine's nvte_cast_transpose_dbias (cast, transpose and the reduction along the first "
        "dimension in one kernel); cuBLASLt's BGRADB epilogue",
        "https://docs.nvidia.com/deeplearning/transformer-engine/user-guide/api/c/transpose.html"),
    "norm_writes_fp8": Rule(
        "under fp8 the norm before a linear writes that linear's fp8 input (and its transpose) itself, so the "
        "linear's separate input cast disappears (Transformer Engine's LayerNormLinear and LayerNormMLP)",
        "Megatron-LM issue 884, a maintainer: with TELayerNormColumnParallelLinear the LayerNorm outputs FP8 into "
        "the FP8 GEMM; with a separate norm it outputs BF16 and a cast_to_fp8 follows",
        "https://github.com/NVIDIA/Megatron-LM/issues/884"),
    "fused_cross_entropy": Rule(
        "the cross-entropy reads the low-precision logits once in the forward pass (an online softmax in "
        "fp32 registers) and once in the backward pass, writing the gradient: no fp32 copy of the logits",
        "Megatron-Core cross_entropy_loss_fusion (opt-in, --cross-entropy-loss-fusion: this stack takes it on); "
        "Inductor and XLA fuse the upcast into the softmax's reductions",
        "https://github.com/NVIDIA/Megatron-LM/blob/main/megatron/core/model_parallel_config.py"),
    "no_layout_copies": Rule(
        "attention reads and writes the [sequence, batch, heads] layout the projections use (or the "
        "compiler folds the transpose into its consumer): no transpose copy around attention",
        "Transformer Engine's DotProductAttention takes q, k, v in Megatron's sbhd layout (qkv_format, default "
        "'sbhd'); Inductor and XLA assign layouts", "https://docs.nvidia.com/deeplearning/transformer-engine/user-"
        "guide/api/pytorch.html"),
    "pointwise_fusion": Rule(
        "chains of pointwise work and reductions are one kernel: each residual add with the norm that reads "
        "its sum (forward), and each norm's backward with the residual gradient it joins: the intermediate "
        "tensor is neither written nor read back",
        "TorchInductor's scheduler fuses pointwise and reduction nodes, scored by the memory traffic saved "
        "(torch/_inductor/scheduler.py; Ansel et al., PyTorch 2, ASPLOS 2024); XLA fuses pipelined operations to "
        "eliminate intermediate buffers (XLA architecture)", "https://www.tensorflow.org/xla/architecture"),
    "activation_epilogue": Rule(
        "the MLP's activation runs in the epilogue of the up projection (its pre-activation stored beside "
        "it for the backward) and its gradient in the epilogue of the down projection's input-gradient "
        "product: the activation's own kernels disappear",
        "Snider and Liang, Operator Fusion in XLA: Analysis and Evaluation (2023): XLA's fusion kinds, "
        "element-wise consumers fused into a dot or convolution's output", "https://arxiv.org/abs/2301.13062"),
    "async_collective_matmul": Rule(
        "tensor-parallel all-gathers and reduce-scatters are decomposed and overlapped with the matrix "
        "products that consume or produce them",
        "Wang et al., Overlap Communication with Dependent Computation via Decomposition in Large Deep "
        "Learning Models (ASPLOS 2023); OpenXLA discussion 8865: collective matmul implemented for TPU",
        "https://github.com/openxla/xla/discussions/8865"),
    "overlap_p2p": Rule(
        "pipeline sends and receives run on their own stream, overlapped with the next chunk's compute "
        "(interleaved schedule)",
        "Megatron-LM --no-overlap-p2p-communication (store_false, dest overlap_p2p_comm): the overlap is on by "
        "default in the interleaved 1F1B schedule", MEGATRON_ARGS),
    "eager_dispatch": Rule(
        "every kernel is dispatched by the host one at a time (Python, the dispatcher, autograd): the host "
        "cost per kernel is the profile's measured eager dispatch time, and a step whose kernels are shorter "
        "than that waits on the host",
        "PyTorch CUDA graphs blog (2021): eager launches pay CPU overhead per kernel that graphs remove",
        "https://pytorch.org/blog/accelerating-pytorch-with-cuda-graphs/"),
    "bn_activation_fusion": Rule(
        "a convolutional network's batch norm runs with the ReLU and residual add that follow it as one kernel "
        "each way: forward, a statistics pass and one pass that normalises, adds and rectifies; backward, one "
        "reduction and one pass that writes both input gradients (no separate ReLU, add or their gradients)",
        "cuDNN cudnnBatchNormalizationForwardTrainingEx / BackwardEx with CUDNN_BATCHNORM_OPS_BN_ADD_ACTIVATION "
        "(NHWC; used by NVIDIA's MXNet and PyTorch ResNet-50); TorchInductor and XLA fuse the same pointwise "
        "chain into the norm's reduction kernels",
        "https://docs.nvidia.com/deeplearning/cudnn/latest/api/cudnn-ops-library.html"),
    "conv_bn_fusion": Rule(
        "a convolutional network's batch-norm statistics come from the producing convolution's epilogue, and a "
        "norm whose output feeds a convolution is applied (scale, bias, ReLU) as that convolution loads its "
        "input: inside a block no norm kernel runs forward; the block's last norm, the shortcut's norm, the add "
        "and the ReLU are one pass; backward as bn_activation_fusion (the added prologue and epilogue "
        "arithmetic is taken as hidden under the convolutions' loads and stores)",
        "NVIDIA's MLPerf ResNet-50 (MXNet, training_results v0.7-v3.1): NormalizedConvolution \"Stats-Apply Relu "
        "Convolution Stats-Gen\" (cuDNN CUDNN_FUSED_SCALE_BIAS_ACTIVATION_CONV_BNSTATS), BNStatsFinalize, "
        "ScaleBiasAddRelu with dual scale-bias for the shortcut (symbols/resnet-v1b-dbar-fl.py)",
        "https://github.com/mlcommons/training_results_v2.0"),
    "conv_autotune": Rule(
        "each convolution shape is benchmarked over the library's algorithms and the fastest kept, so the "
        "data- and weight-gradient convolutions follow the forward curve; without it they follow the "
        "conv_backward curve, measured with the kernels cuDNN's heuristics pick",
        "torch.backends.cudnn.benchmark: \"cuDNN benchmarks multiple convolution algorithms and selects the "
        "fastest\" (off by default; torchvision's reference training script turns it on unless asked for "
        "deterministic algorithms, as do NVIDIA's DeepLearningExamples and MLPerf code; XLA's GPU autotuner "
        "tunes); DeepBench reports the fastest algorithm, and its V100 fp16 backward rows sit on the forward "
        "curve (docs/accuracy.md)",
        "https://pytorch.org/docs/stable/backends.html"),
    "stem_channel_padding": Rule(
        "the 3-channel stem's input is padded to 4 channels (NHWC) or folded by space-to-depth, so the stem runs "
        "on the matrix units instead of the vector units (the padded channel's work is not priced: about 1% of "
        "a ResNet-50 step)",
        "NVIDIA's MLPerf ResNet-50 run_and_time.sh: --image-shape \"4,224,224\" --input-layout NHWC (DALI "
        "pad_output); Google's MLPerf TPU ResNet: conv2d_space_to_depth for conv0 (--use_space_to_depth)",
        "https://github.com/mlcommons/training_results_v1.0"),
    "compiled_step": Rule(
        "the step is one compiled program: kernels are launched by generated code (or a captured graph), "
        "with no per-operator dispatch on the host",
        "JAX: with jit, sequences of operations are optimized together and run at once (Thinking in JAX); "
        "torch.compile's mode='reduce-overhead' \"reduces the overhead of python with CUDA graphs\"",
        "https://docs.jax.dev/en/latest/notebooks/thinking_in_jax.html"),
}


@dataclass(frozen=True)
class Stack:
    """A software stack: its rules (fusions, overlaps, host cost) and what it is."""

    what: str
    rules: tuple[str, ...]


STACKS: dict[str, Stack] = {
    "pytorch-eager": Stack(
        "eager PyTorch with automatic mixed precision, as measured on the H200 (fp32 master weights and residual "
        "stream; norms, softmax and loss in fp32; one kernel per operator)", ("eager_dispatch",)),
    "megatron": Stack(
        "Megatron-LM / Megatron-DeepSpeed (2021-2023), as the vTrain and published runs were made: a low-precision "
        "model, its 16-bit weights refreshed once per step, gradients clipped; each micro-batch's gradients added "
        "into the accumulated ones by a kernel of their own (DeepSpeed's engine owns them)",
        ("low_precision_stream", "weights_cast_once", "gradient_clipping", "eager_dispatch")),
    "megatron-core": Stack(
        "Megatron-Core with Transformer Engine: Megatron's fusions plus TE's fused norm-linear, fused "
        "attention, fused cross-entropy and fp8 kernels",
        ("low_precision_stream", "weights_cast_once", "gradient_clipping", "gradient_accumulation_fusion",
         "fused_bias_grad", "norm_writes_fp8", "fused_cross_entropy", "no_layout_copies", "overlap_p2p",
         "eager_dispatch")),
    "torch-compile": Stack(
        "torch.compile (TorchInductor, mode='reduce-overhead': the compiled step replayed as CUDA graphs) with "
        "FSDP2 in bf16: pointwise chains fused into generated kernels",
        ("low_precision_stream", "fused_bias_grad", "norm_writes_fp8", "fused_cross_entropy", "no_layout_copies",
         "pointwise_fusion", "bn_activation_fusion", "compiled_step")),
    "xla": Stack(
        "XLA (JAX or PyTorch/XLA): the whole step compiled, element-wise work fused into its producers and "
        "consumers, collective matmuls",
        ("low_precision_stream", "weights_cast_once", "gradient_accumulation_fusion", "fused_bias_grad",
         "norm_writes_fp8", "fused_cross_entropy", "no_layout_copies", "pointwise_fusion", "activation_epilogue",
         "async_collective_matmul", "bn_activation_fusion", "conv_autotune", "stem_channel_padding",
         "compiled_step")),
    "cudnn-fused": Stack(
        "a convolutional network on cuDNN's fused NHWC kernels with the step captured as a CUDA graph (NVIDIA's "
        "MXNet and PyTorch ResNet-50 as submitted to MLPerf): batch norm folded into the convolutions around it, "
        "autotuned kernels, a 4-channel stem",
        ("bn_activation_fusion", "conv_bn_fusion", "conv_autotune", "stem_channel_padding", "compiled_step")),
    "pytorch-tuned": Stack(
        "eager PyTorch training a convolutional network with torch.backends.cudnn.benchmark on, as torchvision's "
        "reference script (references/classification/train.py) and NVIDIA's DeepLearningExamples run it: each "
        "convolution shape's algorithm autotuned; everything else as pytorch-eager",
        ("eager_dispatch", "conv_autotune")),
    "pytorch-cuda-graphs": Stack(
        "eager PyTorch's kernels, unfused, with the whole training step captured once and replayed as a CUDA graph "
        "(torch.cuda.graph / make_graphed_callables): the host launches one graph per step instead of dispatching "
        "each operator", ("compiled_step",)),
}

DEFAULT_STACK = "pytorch-eager"


def rules_of(stack: str | None) -> frozenset[str]:
    """The rules of ``stack`` (None: the reference stack, eager PyTorch)."""
    return frozenset(STACKS[stack or DEFAULT_STACK].rules)


def has(stack: str | None, rule: str) -> bool:
    """Whether ``stack`` applies ``rule``."""
    return rule in rules_of(stack)
