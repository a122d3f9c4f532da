"""ResNet (He et al. 2016, torchvision's v1.5 layout: stride on the 3x3 convolution) expanded into the
kernels of one training step: convolutions, batch normalisation, ReLU, residual adds, pooling, the
classifier and the loss. Activations are in the matrix units' type (channels-last, as measured)."""
from __future__ import annotations

import math

from ..schema.workload import CNNWorkload
from .ops import PRECISIONS, Op, linear_ops, loss_ops, optimizer_ops, weight_cast_ops
from .stacks import has

# blocks per stage and whether the block is a bottleneck (1x1, 3x3, 1x1 with 4x expansion)
RESNET = {18: ((2, 2, 2, 2), False), 34: ((3, 4, 6, 3), False), 50: ((3, 4, 6, 3), True),
          101: ((3, 4, 23, 3), True), 152: ((3, 8, 36, 3), True)}


# cuDNN runs a convolution on the tensor cores when its channel counts are multiples of 8 for 16-bit data
# (NVIDIA, Convolutional Layers User's Guide: "Channels In and Out": multiples of 8 for FP16); a 3-channel
# stem runs on the vector units instead, unless the stack pads its input (stem_channel_padding)
MATRIX_UNIT_CHANNELS = 8
# what the padded stem's input has: NVIDIA's MLPerf ResNet pads images to 4 channels (NHWC), TPU ResNets
# fold 2x2 pixels into 12 channels (space-to-depth); priced as 4 channels either way
PADDED_STEM_CHANNELS = 4


def _out(size: int, kernel: int, stride: int) -> int:
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


def conv_ops(name: str, n: float, c_in: int, c_out: int, size: int, k: int, stride: int, act_bytes: float,
             dtype: str, stack: str | None, input_grad: bool = True) -> tuple[Op, list[Op]]:
    """A square ``k`` x ``k`` convolution with "same" padding over ``size`` x ``size`` images, as the
    stack runs it (:func:`implicit_gemm`)."""
    out = _out(size, k, stride)
    return implicit_gemm(name, n, c_in, c_out, size * size, out * out, k * k, act_bytes, dtype,
                         autotuned=has(stack, "conv_autotune"), padded_stem=has(stack, "stem_channel_padding"),
                         input_grad=input_grad)


def implicit_gemm(name: str, n: float, c_in: int, c_out: int, in_pixels: float, out_pixels: float, taps: int,
                  act_bytes: float, dtype: str, autotuned: bool = False, padded_stem: bool = False,
                  input_grad: bool = True) -> tuple[Op, list[Op]]:
    """One convolution as cuDNN runs it (implicit GEMM, NHWC): the forward op and the backward ops (data
    gradient unless ``input_grad`` is False, weight gradient), each with its reduction length: input
    channels x taps forward, output channels x taps for the data gradient, images x output pixels for the
    weight gradient. Each writes its output (y, dx, dw) as a GEMM epilogue. Backward kernels follow the
    ``conv_backward`` curve (a heuristic's pick) unless ``autotuned``. Input channels that are not a
    multiple of the tensor cores' 8 put a 16-bit convolution on the vector units (fp32 FMA), unless a
    stem of at most 4 channels is padded (``padded_stem``)."""
    flops = 2.0 * n * c_in * c_out * taps * out_pixels
    x, y, w = act_bytes * n * c_in * in_pixels, act_bytes * n * c_out * out_pixels, act_bytes * c_in * c_out * taps
    c_in_run = c_in
    if c_in % MATRIX_UNIT_CHANNELS and dtype != "fp32":
        if padded_stem and c_in <= PADDED_STEM_CHANNELS:
            c_in_run = PADDED_STEM_CHANNELS
        else:
            dtype = "fp32"  # the vector units' fp32 FMA
    back = "conv" if autotuned else "conv_backward"
    fwd = Op(f"{name}.fwd", "conv", flops, x + w + y, dtype, out_bytes=y, reduction=c_in_run * taps)
    bwd = [Op(f"{name}.wgrad", back, flops, x + y + w, dtype, out_bytes=w, reduction=n * out_pixels)]
    if input_grad:
        bwd.insert(0, Op(f"{name}.dgrad", back, flops, y + w + x, dtype, out_bytes=x, reduction=c_out * taps))
    return fwd, bwd


class _Builder:
    def __init__(self, w: CNNWorkload, batch: float):
        self.p = PRECISIONS[w.training.precision]
        self.batch = batch
        self.fake_quant = bool(w.variant.fake_quant_bits)
        self.stack = w.execution
        self.fused = has(w.execution, "bn_activation_fusion")  # model/stacks.py
        self.conv_bn = has(w.execution, "conv_bn_fusion")
        self.fwd: list[Op] = []
        self.bwd: list[Op] = []
        self.params = 0.0
        self.saved_bytes = 0.0

    def conv(self, name, c_in, c_out, size, k, stride, input_grad=True) -> int:
        a, n = self.p.act_bytes, self.batch
        if self.fake_quant:  # quantization-aware training: quantize-dequantize input and weight
            elems = n * c_in * size * size + c_in * c_out * k * k
            self.fwd.append(Op(f"{name}.fake_quant", "elementwise", 4.0 * elems, 2 * a * elems, "fp32", kernels=2))
            self.bwd.insert(0, Op(f"{name}.fake_quant_bwd", "elementwise", elems, 3 * a * elems, "fp32", kernels=2))
        fwd, bwd = conv_ops(name, n, c_in, c_out, size, k, stride, a, self.p.matmul_dtype, self.stack, input_grad)
        self.fwd.append(fwd)
        self.bwd[:0] = bwd
        self.params += c_in * c_out * k * k
        self.saved_bytes += a * n * c_in * size * size
        return _out(size, k, stride)

    def bn_relu(self, name, c, size, relu=True, into_conv=False):
        """Training-mode batch norm: a statistics pass and a normalise pass (read x twice, write y);
        backward reads dy and x for the reductions, then again to write dx. ReLU a kernel of its own each
        way (one read and one write), or under ``bn_activation_fusion`` applied as the norm writes y, its
        gradient as the norm's backward reads y for the mask. Under ``conv_bn_fusion`` the statistics
        come from the producing convolution's epilogue, and a norm whose output only feeds a convolution
        (``into_conv``: inside a block, or a shortcut's norm applied by the block's last kernel) has no
        forward kernel at all: its consumer applies scale, bias and ReLU as it loads its input."""
        a, e = self.p.act_bytes, self.batch * c * size * size
        if not self.conv_bn:
            self.fwd.append(Op(f"{name}.bn", "normalization", 8.0 * e, 3 * a * e, "fp32"))
        elif not into_conv:
            self.fwd.append(Op(f"{name}.bn_apply", "normalization", 4.0 * e, 2 * a * e, "fp32"))
        # folded into the next convolution, the normalised output is never written: its backward takes the
        # ReLU's mask from x, which it reads anyway, and that convolution saves x as its own input
        folded = self.conv_bn and into_conv and relu
        mask = a * e if (relu and self.fused and not folded) else 0.0
        self.bwd.insert(0, Op(f"{name}.bn_bwd", "normalization", 12.0 * e, 5 * a * e + mask, "fp32", kernels=2))
        self.params += 2 * c
        if not folded:
            self.saved_bytes += a * e
        if relu and self.fused and not folded:
            self.saved_bytes += a * e
        elif relu and not self.fused:
            self.fwd.append(Op(f"{name}.relu", "elementwise", e, 2 * a * e, "fp32"))
            self.bwd.insert(0, Op(f"{name}.relu_bwd", "elementwise", e, 3 * a * e, "fp32"))
            self.saved_bytes += a * e

    def add_relu(self, name, c, size):
        """The residual add and the ReLU after it; fused into the block's last batch norm, they cost it one
        more read (the shortcut) forward, and the mask's read and the shortcut gradient's write backward."""
        a, e = self.p.act_bytes, self.batch * c * size * size
        if self.fused:
            i = next(i for i in range(len(self.fwd) - 1, -1, -1) if self.fwd[i].op_class == "normalization")
            self.fwd[i] = self.fwd[i]._replace(bytes=self.fwd[i].bytes + a * e)
            j = next(j for j, op in enumerate(self.bwd) if op.op_class == "normalization")
            self.bwd[j] = self.bwd[j]._replace(bytes=self.bwd[j].bytes + 2 * a * e)
            self.saved_bytes += a * e
            return
        self.add(name, c, size)
        self.fwd.append(Op(f"{name}.relu", "elementwise", e, 2 * a * e, "fp32"))
        self.bwd.insert(0, Op(f"{name}.relu_bwd", "elementwise", e, 3 * a * e, "fp32"))
        self.saved_bytes += a * e

    def add(self, name, c, size):
        a, e = self.p.act_bytes, self.batch * c * size * size
        self.fwd.append(Op(f"{name}.residual_add", "elementwise", e, 3 * a * e, "fp32"))
        self.bwd.insert(0, Op(f"{name}.residual_grad", "elementwise", e, 3 * a * e, "fp32"))


def build(w: CNNWorkload, batch: float) -> _Builder:
    """The ResNet's forward and backward ops at ``batch`` images, its parameters and saved bytes."""
    b = _Builder(w, batch)
    blocks, bottleneck = RESNET[w.depth]
    size = b.conv("stem.conv", w.in_channels, 64, w.image_size, 7, 2, input_grad=False)
    b.bn_relu("stem", 64, size)
    a, n = b.p.act_bytes, batch
    pooled = _out(size, 3, 2)
    b.fwd.append(Op("stem.maxpool", "elementwise", 9.0 * n * 64 * pooled ** 2,
                    a * n * 64 * (size ** 2 + pooled ** 2), "fp32"))
    b.bwd.insert(0, Op("stem.maxpool_bwd", "elementwise", 0.0, a * n * 64 * (2 * size ** 2 + pooled ** 2), "fp32"))
    size, c_in = pooled, 64
    for stage, count in enumerate(blocks):
        width = 64 * 2 ** stage
        c_out = width * 4 if bottleneck else width
        for i in range(count):
            name = f"stage{stage + 1}.block{i + 1}"
            stride = 2 if (i == 0 and stage > 0) else 1
            if bottleneck:
                s1 = b.conv(f"{name}.conv1", c_in, width, size, 1, 1)
                b.bn_relu(f"{name}.conv1", width, s1, into_conv=True)
                s2 = b.conv(f"{name}.conv2", width, width, s1, 3, stride)
                b.bn_relu(f"{name}.conv2", width, s2, into_conv=True)
                s3 = b.conv(f"{name}.conv3", width, c_out, s2, 1, 1)
                b.bn_relu(f"{name}.conv3", c_out, s3, relu=False)
            else:
                s2 = b.conv(f"{name}.conv1", c_in, width, size, 3, stride)
                b.bn_relu(f"{name}.conv1", width, s2, into_conv=True)
                s3 = b.conv(f"{name}.conv2", width, c_out, s2, 3, 1)
                b.bn_relu(f"{name}.conv2", c_out, s3, relu=False)
            if stride != 1 or c_in != c_out:
                b.conv(f"{name}.downsample", c_in, c_out, size, 1, stride)
                b.bn_relu(f"{name}.downsample", c_out, s3, relu=False, into_conv=True)
            b.add_relu(name, c_out, s3)
            size, c_in = s3, c_out
    e = n * c_in * size * size
    b.fwd.append(Op("head.avgpool", "elementwise", e, a * e + a * n * c_in, "fp32"))
    b.bwd.insert(0, Op("head.avgpool_bwd", "elementwise", 0.0, a * e + a * n * c_in, "fp32"))
    fc_fwd, fc_bwd = linear_ops("head.fc", n, c_in, w.classes, b.p, 1)
    b.fwd += fc_fwd
    b.bwd[:0] = fc_bwd
    b.params += c_in * w.classes + w.classes
    return b


def step_ops(w: CNNWorkload, batch: float, optimizer: str | None = None) -> dict[str, list[Op]]:
    """One training step's ops at ``batch`` images by phase (forward, loss, backward, optimizer,
    and recompute with activation recomputation)."""
    b = build(w, batch)
    if w.variant.forward_only:  # a frozen model in the low-precision type: no casts, no backward
        return {"forward": b.fwd, "loss": [], "backward": [], "optimizer": []}
    casts = weight_cast_ops(b.params, b.p)
    phases = {"forward": b.fwd + casts[:1], "loss": loss_ops(batch, w.classes, b.p),
              "backward": b.bwd + casts[1:], "optimizer": optimizer_ops(b.params, optimizer or w.training.optimizer)}
    if w.training.activation_recompute:
        phases["recompute"] = [op._replace(name=op.name + ".recompute") for op in b.fwd
                               if op.op_class != "elementwise" or "relu" in op.name]
    return phases


def parameter_count(w: CNNWorkload) -> float:
    """Parameters of the ResNet: convolution weights, batch-norm scales and shifts, the classifier."""
    return build(w, 1).params


def activation_bytes(w: CNNWorkload, batch: float) -> dict[str, float]:
    """Saved for backward: each convolution's input, each batch norm's input and each ReLU's output.
    With recompute, only the block boundaries (about one tensor in four) are kept, plus one block."""
    b = build(w, batch)
    saved = b.saved_bytes
    if w.variant.forward_only:  # nothing kept for backward: about one block's tensors at a time
        return {"layers": saved / sum(RESNET[w.depth][0]), "logits": batch * w.classes * b.p.act_bytes,
                "embedding": 0.0}
    if w.training.activation_recompute:
        blocks = sum(RESNET[w.depth][0])
        saved = saved / 4 + saved / max(blocks, 1)
    logits = batch * w.classes * (b.p.act_bytes + 2 * b.p.stream_bytes)
    return {"layers": saved, "logits": logits, "embedding": 0.0}


def forward_flops_per_image(w: CNNWorkload) -> float:
    """Forward FLOPs of one image: the convolutions and the classifier."""
    b = build(w, 1)
    return math.fsum(op.flops for op in b.fwd if op.op_class == "conv" or op.name.startswith("head.fc"))
