"""Operations: what a training step executes, with FLOPs and bytes moved for each kernel.

The reference execution is eager PyTorch with automatic mixed precision, as measured in
``../shared/calibration`` (``measure_gpu.py``): matrix products in the low-precision type, normalisation,
softmax and loss in fp32, fp32 master weights cast to the low-precision type once per step, fp32
residual stream. Byte counts assume unfused kernels that read their inputs and write their outputs once
(reductions that need a second pass say so). Each op carries ``count``, how many times it runs per step.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

from .stacks import has

# breakdown classes (what the time is spent on) and the efficiency curve each kernel uses
OP_CLASSES = ("gemm", "sparse_gemm", "attention", "attention_backward", "conv", "conv_backward", "elementwise",
              "normalization", "loss", "embedding", "optimizer")
MATRIX_CLASSES = OP_CLASSES[:6]  # the classes that run on the matrix units (first in OP_CLASSES)
CURVE_OF_CLASS = {"gemm": "gemm", "sparse_gemm": "sparse_gemm", "attention": "attention",
                  "attention_backward": "attention_backward", "conv": "conv",
                  "conv_backward": "conv_backward"}  # the rest: memory


class Op(NamedTuple):
    """One kernel (or a short fixed sequence of them) as it runs ``count`` times per step."""

    name: str
    op_class: str
    flops: float
    bytes: float
    dtype: str
    count: float = 1.0
    kernels: int = 1
    scores: float = 0.0  # attention: score-matrix elements whose softmax runs on the vector units
    out_bytes: float = 0.0  # matrix products: bytes of the output tile stores (the epilogue)
    reduction: float = 0.0  # implicit-GEMM convolutions: the reduction length each output tile runs over

    @property
    def curve(self) -> str:
        """The efficiency curve the op's class follows (the streaming curve for memory-bound classes)."""
        return CURVE_OF_CLASS.get(self.op_class, "memory")


@dataclass(frozen=True, slots=True)
class Precision:
    """Byte widths and the matrix-unit data type that a precision setting implies."""

    matmul_dtype: str      # data type of the matrix products
    act_bytes: int         # activations fed to and produced by the matrix products
    master_bytes: int      # weights as the optimizer keeps them
    stream_bytes: int      # residual stream, norms and softmax (fp32 under autocast)
    mixed: bool            # True: low-precision copies of the weights are made each step
    loss_bytes: int = 4    # the cross-entropy's logits (fp32 in every framework modelled)
    operand_bytes: float = 0.0  # bytes per element the products read, block scales included (0: act_bytes)
    attention_dtype: str = ""   # the fused attention's data type ('': the products')
    recipe: str = ""            # a block-scaled format's casts ("" none, "fp8" per-tensor, "mxfp8", "nvfp4")

    @property
    def attention(self) -> str:
        """The data type the fused attention runs in."""
        return self.attention_dtype or self.matmul_dtype


def execution_precision(precision: str, stack: str | None = None) -> Precision:
    """The byte widths a precision implies under a software stack (``model/stacks.py``). PyTorch
    autocast keeps the residual stream, norms and softmax in fp32 and casts at every matrix product;
    a stack with ``low_precision_stream`` (Megatron, torch.compile with FSDP2, XLA) trains a
    low-precision model (residual stream, norms and their outputs in the low-precision type, no
    per-layer casts), with fp32 master weights and an fp32 cross-entropy."""
    p = PRECISIONS[precision]
    if has(stack, "low_precision_stream") and p.mixed:
        return replace(p, stream_bytes=p.act_bytes, mixed=True, loss_bytes=4)
    return p


MX_BLOCK, MX_SCALE_BYTES = 32, 1         # OCP MX: elements per block, bytes of its E8M0 scale
NVFP4_BLOCK, NVFP4_SCALE_BYTES = 16, 1   # NVFP4: elements per block, bytes of its E4M3 scale
# NVFP4 training applies a 16-point random Hadamard transform to the weight-gradient product's inputs
# before quantizing them (16 multiply-adds per element), and rounds gradients stochastically
HADAMARD_FLOPS_PER_ELEMENT = 2 * NVFP4_BLOCK
STOCHASTIC_ROUNDING_FLOPS_PER_ELEMENT = 2

PRECISIONS = {
    "fp32": Precision("fp32", 4, 4, 4, False),
    "tf32": Precision("tf32", 4, 4, 4, False),
    "bf16_mixed": Precision("bf16", 2, 4, 4, True),
    "fp16_mixed": Precision("fp16", 2, 4, 4, True),
    "fp8_mixed": Precision("fp8", 2, 4, 4, True, operand_bytes=1.0, recipe="fp8"),
    # OCP Microscaling (MX v1.0): 32 values share one E8M0 (one-byte) scale; Transformer Engine's MXFP8 recipe
    # (its attention in bf16: Transformer Engine's fp8 attention takes per-tensor scales only)
    "mxfp8_mixed": Precision("fp8", 2, 4, 4, True, operand_bytes=1.0 + MX_SCALE_BYTES / MX_BLOCK,
                             attention_dtype="bf16", recipe="mxfp8"),
    # NVFP4 (NVIDIA, Pretraining LLMs with NVFP4, 2025): 16 four-bit values share one E4M3 scale; the linear
    # layers' products in fp4, attention in bf16
    "fp4_mixed": Precision("fp4", 2, 4, 4, True, operand_bytes=0.5 + NVFP4_SCALE_BYTES / NVFP4_BLOCK,
                           attention_dtype="bf16", recipe="nvfp4"),
}

# Adafactor (Shazeer and Stern 2018, as T5 trained: no first moment) keeps the second moment of an n x m
# matrix factored into n row and m column sums: (n + m) / (n m) of a state per parameter, about nothing
# for a model's matrices (vectors keep an unfactored one, a negligible share): taken as 0.
OPTIMIZER_STATE_BYTES_PER_PARAM = {"sgd": 0, "sgd_momentum": 4, "adam": 8, "adamw": 8, "adafactor": 0}
# fp32 bytes read and written per parameter by one optimizer step: fused Adam/AdamW read param, grad,
# m, v and write param, m, v (28); SGD with momentum as PyTorch's foreach path runs it: buf*=mu,
# buf+=g, p-=lr*buf (32); plain SGD reads p and g and writes p (12). Adafactor: the row and column means
# of g^2 (a read of g), the update u = g / sqrt(R C / sum R) (a read of g, a write of u), its RMS for the
# update clipping (a read of u), the parameter's RMS for the relative step size (a read of p), then
# p -= lr u (reads of p and u, a write of p): 32 bytes.
OPTIMIZER_BYTES_PER_PARAM = {"sgd": 12, "sgd_momentum": 32, "adam": 28, "adamw": 28, "adafactor": 32}
# Adafactor: square, two mean accumulations, the factored denominator (a product, a division, a square
# root), the update's division, two squares for the RMS sums, the clip's scale and the update: about 12
OPTIMIZER_FLOPS_PER_PARAM = {"sgd": 2, "sgd_momentum": 4, "adam": 12, "adamw": 14, "adafactor": 12}


def gemm(name: str, m: float, n: float, k: float, in_bytes: float, out_bytes: float, dtype: str,
         count: float = 1.0, op_class: str = "gemm") -> Op:
    """C[m,n] = A[m,k] @ B[k,n]: 2mnk FLOPs; reads A and B, writes C once."""
    return Op(name, op_class, 2.0 * m * n * k, in_bytes * (m * k + k * n) + out_bytes * m * n, dtype, count,
              out_bytes=out_bytes * m * n)


# 2:4 storage: the kept half of the values plus 2 bits of position metadata per kept value; unstructured:
# the kept values plus a one-bit-per-element bitmap
TWO_FOUR_METADATA_BITS = 2


def sparse_storage_fraction(pattern: str | None, density: float, value_bytes: float) -> float:
    """Bytes of a sparse weight in its compressed format, as a fraction of the dense tensor's."""
    if pattern is None:
        return 1.0
    bits = 8 * value_bytes
    if pattern == "2:4":
        return 0.5 * (1 + TWO_FOUR_METADATA_BITS / bits)
    return density + 1 / bits


def operand_bytes(p: Precision) -> float:
    """Bytes per element a matrix product reads: one for fp8, a block-scaled format's bits and scales."""
    return p.operand_bytes or p.act_bytes


def _fp8_casts(name: str, tokens: float, d_in: float, d_out: float, p: Precision, count: float):
    """Low-precision training (Transformer Engine style): before each product its inputs are cast, in
    fused cast-transpose kernels, the input and the weight in the forward pass, the output gradient in
    the backward pass; each reads the 16-bit tensor and writes the low-precision copy and its transpose
    (block scales included). fp8: a per-tensor scale, the amax recorded for the next step's (delayed
    scaling); MXFP8: each block's scale from its own amax, in the same pass. NVFP4: the transposed copies
    of the input and of the gradient (the weight-gradient product's operands) pass a 16-point random
    Hadamard transform first, and gradients are rounded stochastically."""
    a, o = p.act_bytes, operand_bytes(p)
    tag = "fp4" if p.recipe == "nvfp4" else "fp8"
    rht = HADAMARD_FLOPS_PER_ELEMENT if p.recipe == "nvfp4" else 0
    sr = STOCHASTIC_ROUNDING_FLOPS_PER_ELEMENT if p.recipe == "nvfp4" else 0
    x, w, g = tokens * d_in, d_in * d_out, tokens * d_out
    return ([Op(f"{name}.{tag}_cast_input", "elementwise", (1 + rht) * x, (a + 2 * o) * x, "fp32", count),
             Op(f"{name}.{tag}_cast_weight", "elementwise", w, (a + 2 * o) * w, "fp32", count)],
            [Op(f"{name}.{tag}_cast_grad", "elementwise", (1 + rht + sr) * g, (a + 2 * o) * g, "fp32", count)])


def _fake_quant(name: str, tokens: float, d_in: float, d_out: float, p: Precision, count: float):
    """Quantization-aware training: the input and the weight pass through quantize-dequantize kernels
    (scale, round, clamp, rescale) in the forward pass; the straight-through estimator masks their
    gradients (clipped values get none) in the backward pass."""
    a = p.act_bytes
    fwd = [Op(f"{name}.fake_quant", "elementwise", 4.0 * (tokens + d_out) * d_in, 2 * a * (tokens + d_out) * d_in,
              "fp32", count, kernels=2)]
    bwd = [Op(f"{name}.fake_quant_bwd", "elementwise", (tokens + d_out) * d_in, 3 * a * (tokens + d_out) * d_in,
              "fp32", count, kernels=2)]
    return fwd, bwd


def linear_ops(name: str, tokens: float, d_in: float, d_out: float, p: Precision, count: float,
               input_grad: bool = True, variant=None, frozen: bool = False) -> tuple[list[Op], list[Op]]:
    """Forward and backward kernels of a linear layer y = x W^T + b (bias fused into the product).

    ``variant`` (a :class:`~simulator.schema.workload.Variant`) rewrites the layer: a sparse weight runs the
    forward and input-gradient products as sparse products on the kept weights (transposable masks),
    the weight gradient stays dense; a factorised weight is two thin layers; LoRA adds rank-r
    adapters beside a frozen weight. ``frozen``: the weight gets no gradient (its product ``wgrad``
    and the bias gradient are skipped)."""
    if variant is not None and variant.factorised:
        r = variant.rank(d_in, d_out)
        plain = variant.model_copy(update={"low_rank_fraction": None, "low_rank": None})
        f1, b1 = linear_ops(f"{name}.v", tokens, d_in, r, p, count, input_grad, plain, frozen)
        f2, b2 = linear_ops(f"{name}.u", tokens, r, d_out, p, count, True, plain, frozen)
        return f1 + f2, b2 + b1
    a, dt = p.act_bytes, p.matmul_dtype
    o = operand_bytes(p)
    lora = variant.lora_rank if variant is not None else None
    fwd, bwd = [], []
    if p.recipe:
        fwd, bwd = _fp8_casts(name, tokens, d_in, d_out, p, count)
    if variant is not None and variant.fake_quant_bits:
        fq = _fake_quant(name, tokens, d_in, d_out, p, count)
        fwd, bwd = fwd + fq[0], bwd + fq[1]
    pattern = variant.sparsity if variant is not None else None
    if pattern:
        keep = variant.density_fraction
        w_bytes = o * d_in * d_out * sparse_storage_fraction(pattern, keep, o)
        fwd.append(Op(f"{name}.fwd", "sparse_gemm", 2.0 * tokens * d_in * d_out * keep,
                      o * tokens * d_in + w_bytes + a * tokens * d_out, dt, count, out_bytes=a * tokens * d_out))
        if input_grad:
            bwd.insert(0, Op(f"{name}.dgrad", "sparse_gemm", 2.0 * tokens * d_in * d_out * keep,
                             o * tokens * d_out + w_bytes + a * tokens * d_in, dt, count, out_bytes=a * tokens * d_in))
    else:
        fwd.append(gemm(f"{name}.fwd", tokens, d_out, d_in, o, a, dt, count))
        if input_grad:
            bwd.insert(0, gemm(f"{name}.dgrad", tokens, d_in, d_out, o, a, dt, count))
    if not (frozen or lora):
        bwd += [gemm(f"{name}.wgrad", d_out, d_in, tokens, o, a, dt, count),
                Op(f"{name}.bias_grad", "elementwise", tokens * d_out, a * tokens * d_out, dt, count)]
    if lora and not frozen:
        fwd += [gemm(f"{name}.lora_a", tokens, lora, d_in, o, a, dt, count),
                gemm(f"{name}.lora_b", tokens, d_out, lora, o, a, dt, count),
                Op(f"{name}.lora_add", "elementwise", tokens * d_out, 3 * a * tokens * d_out, "fp32", count)]
        bwd += [gemm(f"{name}.lora_b.wgrad", d_out, lora, tokens, o, a, dt, count),
                gemm(f"{name}.lora_b.dgrad", tokens, lora, d_out, o, a, dt, count),
                gemm(f"{name}.lora_a.wgrad", lora, d_in, tokens, o, a, dt, count)]
        if input_grad:
            bwd += [gemm(f"{name}.lora_a.dgrad", tokens, d_in, lora, o, a, dt, count),
                    Op(f"{name}.lora_grad_add", "elementwise", tokens * d_in, 3 * a * tokens * d_in, "fp32", count)]
    return fwd, bwd


def weight_cast_ops(params: float, p: Precision) -> list[Op]:
    """Mixed precision: fp32 master weights cast to the low-precision type in the forward pass, and
    the low-precision weight gradients cast back to fp32 in the backward pass."""
    if not p.mixed:
        return []
    per_param = p.master_bytes + p.act_bytes
    return [Op("weights.cast_fwd", "elementwise", 0.0, per_param * params, "fp32"),
            Op("weights.grad_cast_bwd", "elementwise", 0.0, per_param * params, "fp32")]


def optimizer_ops(params: float, optimizer: str) -> list[Op]:
    """The optimizer step over ``params`` parameters as one fp32 kernel."""
    return [Op(f"optimizer.{optimizer}", "optimizer", OPTIMIZER_FLOPS_PER_PARAM[optimizer] * params,
               OPTIMIZER_BYTES_PER_PARAM[optimizer] * params, "fp32")]


def loss_ops(rows: float, classes: float, p: Precision) -> list[Op]:
    """Cross-entropy over fp32-upcast logits: cast, log-softmax (max and sum passes, then write),
    NLL; backward: zero-filled NLL gradient, log-softmax backward (sum pass, then write), cast back."""
    n, a, s = rows * classes, p.act_bytes, p.loss_bytes
    ops = []
    if a != s:
        ops.append(Op("loss.upcast", "loss", 0.0, (a + s) * n, "fp32"))
    ops += [Op("loss.log_softmax", "loss", 4.0 * n, 3 * s * n + s * n, "fp32"),
            Op("loss.nll_grad", "loss", 0.0, s * n, "fp32"),
            Op("loss.log_softmax_bwd", "loss", 3.0 * n, 3 * s * n + s * n, "fp32")]
    if a != s:
        ops.append(Op("loss.grad_downcast", "loss", 0.0, (a + s) * n, "fp32"))
    return ops


def layernorm_ops(name: str, elements: float, p: Precision, count: float) -> tuple[list[Op], list[Op]]:
    """LayerNorm in fp32 (autocast): forward reads x, writes y; backward reads dy and x, writes dx,
    and reduces the weight and bias gradients over tokens (a second read of dy and x)."""
    s = p.stream_bytes
    fwd = [Op(f"{name}.fwd", "normalization", 8.0 * elements, 2 * s * elements, "fp32", count)]
    bwd = [Op(f"{name}.bwd", "normalization", 12.0 * elements, 5 * s * elements, "fp32", count, kernels=2)]
    return fwd, bwd


def cast_op(name: str, elements: float, from_bytes: int, to_bytes: int, count: float) -> Op | None:
    """A cast of ``elements`` from one byte width to another, or None where the widths match."""
    if from_bytes == to_bytes:
        return None
    return Op(name, "elementwise", 0.0, (from_bytes + to_bytes) * elements, "fp32", count)


def step_flops(ops: list[Op]) -> float:
    """FLOPs of the ops, each times its count."""
    return sum(op.flops * op.count for op in ops)


def tp_comm(name: str, nbytes: float, count: float, sp: bool) -> list[Op]:
    """Megatron's tensor-parallel exchange of the hidden state at one point of a layer: an all-reduce,
    or with sequence parallelism a reduce-scatter here and an all-gather before the next block."""
    if sp:
        return [Op(f"{name}.reduce_scatter", "communication", 0.0, nbytes, "reduce_scatter", count),
                Op(f"{name}.all_gather", "communication", 0.0, nbytes, "all_gather", count)]
    return [Op(f"{name}.all_reduce", "communication", 0.0, nbytes, "all_reduce", count)]
