"""Hardware profiles: one frozen pydantic schema for every kind of device.

A profile is a set of sourced facts (datasheet peaks, memory, links, power, prices) plus the fitted
efficiency curves that turn peaks into achieved rates. Units are SI and named in each field.

Inputs are strict (:class:`Input`): a number field takes a number (an integer also where a float is
expected), a whole-number field an integer, a yes/no field ``true`` or ``false``; nothing is converted
(``"3"``, ``true`` or ``2.0`` for a count are errors). Whole numbers are bounded by ``MAX_INT``.
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
MAX_INT = 2**53  # the largest whole number a float holds exactly: a bound on every count
PositiveInt = Annotated[int, Field(gt=0, le=MAX_INT)]

DTYPES = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int8", "int4")
# the software stacks a step can run under (their rules: model/stacks.py), and each kind's without a list
ExecutionStack = Literal["pytorch-eager", "megatron", "megatron-core", "torch-compile", "xla", "cudnn-fused",
                         "pytorch-tuned", "pytorch-cuda-graphs"]
# the stacks a convolutional network runs; two run convolutional networks only
CNN_STACKS = ("pytorch-eager", "torch-compile", "xla", "cudnn-fused", "pytorch-tuned", "pytorch-cuda-graphs")
CNN_ONLY_STACKS = ("cudnn-fused", "pytorch-tuned")
STACKS_OF_KIND = {"gpu": ("pytorch-eager", "megatron", "megatron-core", "torch-compile", "xla", "cudnn-fused",
                          "pytorch-tuned", "pytorch-cuda-graphs"),
                  "tpu": ("xla",),
                  "cpu": ("pytorch-eager", "torch-compile")}
DType = Literal["fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int8", "int4"]


class Strict(BaseModel):
    """Base of every costsim model: immutable, and unknown keys are errors, not silently dropped."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Input(Strict):
    """Base of the models read from files and flags: also strict, so that ``true`` is not 1, ``"3"`` is not
    3 and ``2.0`` is not a count (an integer is still a float where a float is expected). Tuple fields
    take lists (``Field(strict=False)``), their items still strict."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Source(Input):
    """Where a figure comes from. ``fields`` lists the fields it backs (empty: the whole profile).

    Attributes:
        cite: the reference: a document, a measurement, a script, with the figures it gives.
        url: where to read it, if online.
        fields: the dotted paths of the fields it backs (empty: the whole profile).
        status: how the figure was obtained, from a datasheet to an assumption.
        note: how the figure was read or derived from the reference.
    """

    cite: str
    url: str | None = None
    fields: tuple[str, ...] = Field(default=(), strict=False)  # a list in YAML
    status: Literal["datasheet", "paper", "measured", "fitted", "secondary", "estimate", "assumption"] = "datasheet"
    note: str | None = None


class PeakRates(Input):
    """Peak dense operation rates per data type (FLOP/s, or OP/s for integers). Absent: not supported."""

    fp64: PositiveFloat | None = None
    fp32: PositiveFloat | None = None
    tf32: PositiveFloat | None = None
    bf16: PositiveFloat | None = None
    fp16: PositiveFloat | None = None
    fp8: PositiveFloat | None = None
    fp4: PositiveFloat | None = None
    int8: PositiveFloat | None = None
    int4: PositiveFloat | None = None

    def rate(self, dtype: str) -> float | None:
        """The peak of ``dtype`` in FLOP/s (OP/s for integers), or None where it is not supported."""
        return getattr(self, dtype)


class EfficiencyCurve(Input):
    """Achieved fraction of a peak as a function of operation size.

    Size is expressed as the operation's ideal time on this device (work / peak), so that the same
    curve shape carries over to a device with other peaks: ``fraction(t) = max_fraction /
    (1 + (half_saturation_s / t) ** exponent)``. A kernel whose ideal time equals ``half_saturation_s``
    reaches half of ``max_fraction``. With exponent 1 the kernel time is ``(t + half_saturation_s) /
    max_fraction``: a fixed per-kernel cost plus the work at the best rate.
    """

    max_fraction: Fraction
    half_saturation_s: NonNegativeFloat
    exponent: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 1.0  # above 1 tiny kernels take ever longer

    def fraction(self, ideal_time_s: float) -> float:
        """The achieved fraction of the peak for a kernel of ``ideal_time_s`` seconds at peak."""
        if ideal_time_s <= 0:
            return self.max_fraction
        return self.max_fraction / (1.0 + (self.half_saturation_s / ideal_time_s) ** self.exponent)


class MemoryClassFractions(Input):
    """Achieved bandwidth of each class of memory-bound kernel, as a fraction of what the streaming
    curve gives for the same bytes (reductions, scatters and multi-pass kernels stream less well)."""

    elementwise: Fraction = 1.0
    normalization: Fraction = 1.0
    loss: Fraction = 1.0
    embedding: Fraction = 1.0
    optimizer: Fraction = 1.0


class SoftmaxCost(Input):
    """Vector-unit work of fused attention per score-matrix element (scale, max, exp, sum, rescale;
    recomputation and dP in the backward pass), in fp32 FLOP-equivalents priced at the fp32 peak.
    With small head dimensions this, not the matrix units, bounds flash attention."""

    forward_flops: NonNegativeFloat = 0.0
    backward_flops: NonNegativeFloat = 0.0


class Efficiency(Input):
    """Size-dependent efficiency curves, one per class of kernel."""

    gemm: EfficiencyCurve = Field(description="matrix products on the matrix units, against FLOPs")
    sparse_gemm: EfficiencyCurve | None = Field(
        default=None, description="2:4 sparse products (sparse weight, dense input), against the kept FLOPs "
                                  "at the dense peak; absent: the part has no measured sparse kernels")
    attention: EfficiencyCurve = Field(description="fused (flash) attention forward, against FLOPs")
    attention_backward: EfficiencyCurve = Field(
        description="fused attention backward (recomputes scores, accumulates dQ), against FLOPs")
    conv: EfficiencyCurve = Field(description="convolutions (implicit GEMM), forward, against FLOPs")
    conv_backward: EfficiencyCurve | None = Field(
        default=None, description="convolutions' data and weight gradients with the kernels a heuristic picks "
                                  "(no autotuning), against FLOPs; absent: the forward curve")
    conv_tile_half_reduction: NonNegativeFloat = Field(
        default=0.0, description="an implicit-GEMM convolution's reduction length (input channels x filter taps "
                                 "forward, output channels x taps for the data gradient, images x output pixels "
                                 "for the weight gradient) at which its tiles reach half the curve's ceiling: "
                                 "each tile's loads and stores that a short reduction cannot hide; 0: none")
    memory: EfficiencyCurve = Field(description="streaming kernels, against bytes moved")
    gemm_epilogue_fraction: NonNegativeFloat = Field(
        default=0.0, description="share of a matrix product's output stores (at the streaming rate) that its "
                                 "main loop does not hide: what makes short-inner-dimension products slow")
    memory_class_fraction: MemoryClassFractions = Field(
        default=MemoryClassFractions(), description="per class of memory-bound kernel, the share of the "
                                                    "streaming curve it achieves")
    attention_softmax: SoftmaxCost = Field(
        default=SoftmaxCost(), description="vector-unit work of fused attention, which may bound it")
    sustained_compute_fraction: Fraction = Field(
        default=1.0, description="share of the (burst) compute curves a device sustains under its power "
                                 "limit; the curves above are burst rates")
    origin: str | None = Field(
        default=None, description="where the curves come from when not all were fitted on this device (every "
                                  "estimate on the profile lists it among its assumptions)")


class Link(Input):
    """One link of a device: its bandwidth and latency."""

    bandwidth_bytes_per_s: PositiveFloat = Field(description="per direction, per device")
    latency_s: NonNegativeFloat = Field(description="per message, per hop (the alpha of the alpha-beta model)")


class Topology(Input):
    """How devices connect. The scale-up domain is the set of devices one intra-node link reaches: an
    NVLink/NVSwitch node, or a whole TPU pod slice over ICI. Inside it, devices form a switch (every
    pair one hop), a ring, or a 2D/3D torus (bandwidth-optimal rings along each dimension, fewer
    latency hops). Between domains, a fat tree that may be oversubscribed, and whose switches may reduce
    in the network (SHARP); each node has ``nics_per_node`` network interfaces (default one per device)."""

    intra: Literal["switch", "ring", "torus2d", "torus3d"] = Field(
        default="switch", description="how the scale-up domain is wired")
    scale_up_domain_devices: PositiveInt | None = Field(
        default=None, description="devices one intra-node link reaches; default: devices_per_node")
    inter_oversubscription: Annotated[float, Field(ge=1.0, allow_inf_nan=False)] = Field(
        default=1.0, description="fat-tree oversubscription between domains (1: non-blocking)")
    in_network_reduction: bool = Field(
        default=False, description="the switches between domains reduce (NVIDIA SHARP): an all-reduce or "
                                   "reduce-scatter across domains sends each byte once instead of a ring's twice")
    nics_per_node: PositiveInt | None = Field(
        default=None, description="network interfaces per node, each of inter_node_link's bandwidth; default: one "
                                  "per device (rail-optimised, as DGX nodes). Fewer than the node's devices: the "
                                  "devices crossing nodes at once share them")


class Power(Input):
    """Power model: between idle and TDP according to how busy each operation keeps the device."""

    tdp_watts: PositiveFloat = Field(description="thermal design power: the draw at full load")
    idle_watts: NonNegativeFloat = Field(description="the draw with no kernel running (also while waiting)")
    host_per_device_watts: NonNegativeFloat = Field(
        description="host CPUs, memory, NICs and fans attributed to each device")
    compute_bound_fraction: Fraction | None = Field(
        default=None, description="share of (TDP - idle) drawn while compute-bound kernels run flat out; "
                                  "absent: borrowed with the efficiency curves")
    memory_bound_fraction: Fraction | None = Field(
        default=None, description="share of (TDP - idle) drawn while memory-bound kernels saturate memory "
                                  "bandwidth; absent: borrowed with the efficiency curves")

    @model_validator(mode="after")
    def _idle_below_tdp(self):
        if self.idle_watts >= self.tdp_watts:
            raise ValueError("idle_watts must be below tdp_watts")
        return self


class _ProfileBase(Input):
    name: str = Field(description="the profile's name (a bundled profile: its file name)")
    description: str = Field(default="", description="what the device is, in a line")
    vendor: str = Field(default="", description="who makes it")
    year: Annotated[int, Field(ge=1, le=9999)] | None = Field(default=None, description="year of release")
    sources: tuple[Source, ...] = Field(min_length=1, strict=False, description="where its figures come from")
    notes: str = Field(default="", description="how the figures were chosen, in prose")


class ClassicalProfile(_ProfileBase):
    """A CPU, GPU, TPU, FPGA or ASIC: anything the roofline model prices (figures per device).

    Attributes:
        peak_dense_flops_per_s: peak dense rates by data type.
        sparse_2_4_accelerated: whether it runs 2:4 structured-sparse matrix products natively.
        memory_bytes: device memory in bytes.
        memory_bandwidth_bytes_per_s: peak device memory bandwidth in bytes per second.
        sram_bytes: on-chip cache (L2) in bytes; recorded, not used by the estimate.
        devices_per_node: devices in one node.
        intra_node_link: the link between devices of one node (or scale-up domain).
        inter_node_link: each device's link to other nodes.
        host_link: the device's link to host memory (absent: no offload).
        host_memory_bandwidth_bytes_per_s: one device's share of the host's memory bandwidth.
        topology: how the devices connect.
        power: the power model.
        purchase_price_usd: the price of one device in US dollars (owned pricing).
        efficiency: the fitted efficiency curves (absent: borrowed through ``efficiency_from``).
    """

    peak_dense_flops_per_s: PeakRates
    sparse_2_4_accelerated: bool = False
    checked_by: tuple[str, ...] = Field(
        default=(), strict=False, description="the validation suites whose measurements run on this device "
                                              "(docs/accuracy.md); empty: nothing public checks its estimates, "
                                              "and each estimate says so")
    block_scaled_matmul: bool = Field(
        default=False, description="its matrix units apply per-block scales themselves (OCP MX formats, NVFP4: "
                                   "Blackwell): what mxfp8_mixed and fp4_mixed training need")
    unstructured_sparse_efficiency_fraction: Fraction | None = Field(
        default=None, description="where the part executes unstructured sparsity natively: the share of its "
                                  "dense GEMM rate it achieves on the kept (nonzero) work; absent: no support, "
                                  "unstructured pruning runs dense")
    memory_bytes: PositiveFloat
    memory_bandwidth_bytes_per_s: PositiveFloat
    sram_bytes: NonNegativeFloat = 0.0
    devices_per_node: PositiveInt = 1
    intra_node_link: Link
    inter_node_link: Link
    host_link: Link | None = Field(
        default=None, description="the device's link to its host's memory (PCIe, NVLink-C2C), per direction: what "
                                  "offloaded optimizer states and parameters cross; absent: offload is refused")
    host_memory_bandwidth_bytes_per_s: PositiveFloat | None = Field(
        default=None, description="the host memory bandwidth one device's share of the host has (the node's "
                                  "DRAM bandwidth over its devices): what an offloaded optimizer step streams at")
    topology: Topology = Topology()
    kernel_launch_overhead_s: NonNegativeFloat = Field(
        description="host time to dispatch one kernel (eager frameworks)")
    matmul_dispatch_s: NonNegativeFloat | None = Field(
        default=None, description="host time to dispatch one matrix product in an eager framework (argument "
                                  "parsing, output allocation, the BLAS library's heuristics); absent: "
                                  "kernel_launch_overhead_s")
    execution_stacks: list[ExecutionStack] | None = Field(
        default=None, min_length=1, description="the software stacks the device runs, its default first; absent: by "
                                                "kind (gpu: all; tpu: xla; cpu: pytorch-eager, torch-compile; "
                                                "others: pytorch-eager)")
    power: Power
    purchase_price_usd: PositiveFloat | None = None
    cloud_price_usd_per_hour: PositiveFloat | None = Field(default=None, description="per device-hour")
    efficiency: Efficiency | None = None
    sustained_compute_fraction: Fraction | None = Field(
        default=None, description="with borrowed curves: this device's own power-limit derating (default 1: "
                                  "the reference's derating belongs to the reference's power limit)")
    efficiency_from: str | None = Field(
        default=None,
        description="borrow the efficiency curves of this calibrated profile (scaled by this device's "
                    "own peaks, since curves are written against ideal time); default: h200")

    @property
    def stacks(self) -> tuple[str, ...]:
        """The software stacks the device runs, its default first (``execution_stacks``, else by kind)."""
        return tuple(self.execution_stacks or STACKS_OF_KIND.get(self.kind, ("pytorch-eager",)))

    @model_validator(mode="after")
    def _has_a_rate(self):
        if not any(self.peak_dense_flops_per_s.rate(d) for d in DTYPES):
            raise ValueError("peak_dense_flops_per_s names no data type")
        if self.efficiency is not None and self.efficiency_from is not None:
            raise ValueError("give efficiency or efficiency_from, not both")
        return self


class CPUProfile(ClassicalProfile):
    """A CPU (``kind: cpu``)."""

    kind: Literal["cpu"]


class GPUProfile(ClassicalProfile):
    """A GPU (``kind: gpu``)."""

    kind: Literal["gpu"]


class TPUProfile(ClassicalProfile):
    """A TPU (``kind: tpu``)."""

    kind: Literal["tpu"]


class FPGAProfile(ClassicalProfile):
    """An FPGA (``kind: fpga``)."""

    kind: Literal["fpga"]


class ASICProfile(ClassicalProfile):
    """Another ASIC accelerator (``kind: asic``)."""

    kind: Literal["asic"]


class QuantumSpeedup(Input):
    """How much faster than the classical algorithm the quantum one is, and on which share of the work."""

    kind: Literal["polynomial", "exponential"]
    degree: PositiveFloat | None = Field(default=None, validate_default=True,
                                         description="d in classical cost M^d vs quantum M (a polynomial speedup "
                                                     "needs one above 1; an exponential one ignores it)")
    workload_fraction: Fraction = Field(description="share of the classical work the algorithm accelerates")

    @field_validator("degree")
    @classmethod
    def _degree_for_polynomial(cls, degree: float | None, info: ValidationInfo):
        kind = info.data.get("kind")
        if kind == "polynomial" and (degree is None or not degree > 1):
            raise ValueError(f"a polynomial speedup needs a degree above 1, got {degree!r}")
        return degree


class QuantumProfile(_ProfileBase):
    """A fault-tolerant quantum accelerator, described by its error-correction parameters; priced by
    ``simulator/analysis/quantum.py`` (surface-code resources, break-even, Amdahl and I/O bounds).

    Attributes:
        physical_error_rate_fraction: error rate of one physical operation.
        threshold_error_rate_fraction: the surface code's threshold; the physical rate must be below it.
        code_cycle_s: seconds of one surface-code cycle.
        reaction_time_s: seconds of the classical decode-and-react loop, the floor of a Toffoli's time.
        target_logical_error_rate_fraction: the logical error rate the code distance is chosen for.
        magic_state_factories: magic-state factories working in parallel.
        logical_qubits: logical qubits available.
        io_bandwidth_bytes_per_s: bytes per second in and out of the machine.
        speedup: the algorithm's speed-up over the classical one.
        power: the power model, where known.
        purchase_price_usd: the price of the machine in US dollars, where known.
        cloud_price_usd_per_hour: US dollars per hour of use, where known.
    """

    kind: Literal["quantum"]
    physical_error_rate_fraction: Fraction
    threshold_error_rate_fraction: Fraction
    code_cycle_s: PositiveFloat
    reaction_time_s: PositiveFloat
    target_logical_error_rate_fraction: Fraction
    magic_state_factories: PositiveInt
    cycles_per_toffoli: PositiveFloat = Field(
        description="one factory's time per distilled magic state (one Toffoli), in units of code distance x "
                    "code cycle (Babbush et al. eq. 6: t = d x 5.5 x cycle)")
    logical_qubits: PositiveInt
    io_bandwidth_bytes_per_s: PositiveFloat
    classical_parallelism: PositiveFloat = Field(
        description="S: parallel classical lanes it races in the break-even analysis (a training estimate "
                    "races the whole classical run instead, S = 1 on its cluster time)")
    speedup: QuantumSpeedup
    power: Power | None = None
    purchase_price_usd: PositiveFloat | None = None
    cloud_price_usd_per_hour: PositiveFloat | None = None

    @model_validator(mode="after")
    def _below_threshold(self):
        if self.physical_error_rate_fraction >= self.threshold_error_rate_fraction:
            raise ValueError("physical_error_rate_fraction must be below threshold_error_rate_fraction")
        return self


HardwareProfile = Annotated[
    Union[CPUProfile, GPUProfile, TPUProfile, FPGAProfile, ASICProfile, QuantumProfile],
    Field(discriminator="kind"),
]
