"""Parallel plans: how a training step is split over devices.

``tp`` tensor parallel (Megatron-style, optionally with sequence parallelism), ``cp`` context parallel
(the sequence split over ranks, ring attention), ``pp`` pipeline stages (1F1B, interleaved 1F1B with
``vp`` virtual stages per device, zero-bubble ZB-H1 or GPipe over micro-batches; even or uneven
stages), ``dp`` data parallel (with ZeRO stage 0-3 sharding), ``mb`` the micro-batch per pipeline pass,
and the activation recompute and communication overlap the step runs with. ``tp x cp x pp x dp`` is
the device count.
"""
from __future__ import annotations

from typing import Literal, Mapping

from pydantic import Field, ValidationError

from ..errors import CostsimError
from .hardware import Input, PositiveInt
from .workload import TransformerWorkload


class Plan(Input):
    """How one training step is split over ``tp x cp x pp x dp`` devices.

    Attributes:
        tp: tensor-parallel degree (Megatron-style, within each layer).
        cp: context-parallel degree: each sequence split over ``cp`` ranks (ring attention, the key-value
            exchange overlapped with the attention it feeds).
        pp: pipeline stages (layers split into consecutive stages).
        vp: virtual stages per device (interleaved 1F1B): each device runs ``vp`` chunks of layers.
        dp: data-parallel replicas.
        ep: expert-parallel degree, within the data-parallel ranks.
        mb: samples per micro-batch; default: the workload's, else the whole replica batch (pp = 1) or 1.
        zero: ZeRO stage: 1 shards the optimizer states over dp (and cp), 2 also the gradients, 3 also
            the weights.
        sp: sequence parallelism with the tensor parallelism.
        schedule: the pipeline schedule over micro-batches: ``1f1b`` (interleaved when vp > 1), ``zb-h1``
            (zero-bubble: the weight-gradient pass fills the bubble), ``dualpipe`` (DeepSeek-V3's bidirectional
            schedule: two weight copies, forward and backward chunks overlapped, their all-to-all and sends
            hidden) or ``gpipe``.
        layers_per_stage: the transformer layers of each stage, first to last (default: even, or the
            first and last stages one lighter where the layers do not divide).
        recompute: activation recompute: ``none``, ``selective`` (the attention core) or ``full`` (whole
            layers); default: the workload's ``activation_recompute``.
        recompute_layers: with ``full``, how many layers of each stage are recomputed (the rest keep
            their activations); default: all.
        overlap_grad_reduce: whether the gradient reduction overlaps the backward pass.
        overlap_tp_comm: tensor-parallel collectives overlapped with the matrix products they feed.
        overlap_p2p: pipeline sends and receives overlapped with the stage's compute.
        overlap_ep_comm: expert all-to-all overlapped with compute (another micro-batch's, as DualPipe).
        overlap_param_gather: ZeRO-3's weight gathers before each pass prefetched behind compute.
        cp_a2a: context parallelism as DeepSpeed-Ulysses (Jacobs et al. 2023): an all-to-all before and after
            attention regroups the sequence by heads (exposed), instead of ring attention.
        offload: ``optimizer`` (ZeRO-Offload, Ren et al. 2021): optimizer states and fp32 master weights held
            in host memory, gradients sent down and updated weights back over the host link, the optimizer
            step run by the host; ``params`` also keeps the low-precision weights on the host, streamed to
            the device for each forward and backward (ZeRO-Infinity); ``none``.
    """

    tp: PositiveInt = 1
    cp: PositiveInt = Field(default=1, description="context parallelism: the sequence split over cp ranks")
    pp: PositiveInt = 1
    vp: PositiveInt = Field(default=1, description="virtual pipeline stages per device (interleaved 1F1B)")
    dp: PositiveInt = 1
    ep: PositiveInt = Field(default=1, description="expert parallelism, within the data-parallel ranks")
    mb: PositiveInt | None = Field(default=None, description="micro-batch; default: the workload's, else all")
    zero: Literal[0, 1, 2, 3] = 0
    sp: bool = False
    schedule: Literal["1f1b", "zb-h1", "dualpipe", "gpipe"] = "1f1b"
    layers_per_stage: tuple[PositiveInt, ...] | None = Field(default=None, strict=False)
    recompute: Literal["none", "selective", "full"] | None = None
    recompute_layers: PositiveInt | None = None
    overlap_grad_reduce: bool = Field(
        default=True, description="data-parallel gradient reduction overlapped with the backward pass "
                                  "(bucketed, as PyTorch DDP and Megatron do); false: after it")
    overlap_tp_comm: bool = False
    overlap_p2p: bool = False
    overlap_ep_comm: bool = False
    overlap_param_gather: bool = Field(
        default=True, description="ZeRO-3's per-pass weight gathers prefetched behind compute (FSDP and DeepSpeed "
                                  "do by default); false (no-prefetch): exposed")
    cp_a2a: bool = Field(default=False, description="context parallelism as all-to-all (DeepSpeed-Ulysses): "
                                                     "heads split over cp for attention, instead of a ring")
    offload: Literal["none", "optimizer", "params"] = Field(
        default="none", description="ZeRO-Offload: the optimizer states and fp32 master weights in host memory, "
                                    "the optimizer step on the host (optimizer); also the low-precision weights, "
                                    "streamed in for each pass (params)")

    @property
    def devices(self) -> int:
        """Devices the plan spans, tp x cp x pp x dp."""
        return self.tp * self.cp * self.pp * self.dp

    def label(self) -> str:
        """The plan as ``parse_plan`` reads it: ``tp=..,pp=..,dp=..,mb=..`` and any options."""
        dims = [f"tp={self.tp}"] + ([f"cp={self.cp}"] if self.cp > 1 else []) + [f"pp={self.pp}"]
        dims += ([f"vp={self.vp}"] if self.vp > 1 else []) + [f"dp={self.dp}", f"mb={self.mb}"]
        extra = [f"ep={self.ep}"] if self.ep > 1 else []
        extra += [f"zero={self.zero}"] if self.zero else []
        extra += ["sp"] if self.sp else []
        extra += [self.schedule] if self.schedule != "1f1b" else []
        extra += ["layers_per_stage=" + "/".join(map(str, self.layers_per_stage))] if self.layers_per_stage else []
        extra += [f"recompute={self.recompute}"] if self.recompute else []
        extra += [f"recompute_layers={self.recompute_layers}"] if self.recompute_layers else []
        extra += ["no-overlap"] if not self.overlap_grad_reduce else []
        extra += ["no-prefetch"] if not self.overlap_param_gather else []
        extra += [f"overlap-{k}" for k in ("tp", "p2p", "ep") if getattr(self, _OVERLAPS[k])]
        extra += ["cp-a2a"] if self.cp_a2a else []
        extra += [f"offload={self.offload}"] if self.offload != "none" else []
        return ",".join(dims + extra)


_OVERLAPS = {"tp": "overlap_tp_comm", "p2p": "overlap_p2p", "ep": "overlap_ep_comm"}
_KEYS = {"tp": int, "cp": int, "pp": int, "vp": int, "dp": int, "ep": int, "mb": int, "zero": int,
         "recompute_layers": int}
_WORDS = {"sp": ("sp", True), "gpipe": ("schedule", "gpipe"), "1f1b": ("schedule", "1f1b"),
          "zb-h1": ("schedule", "zb-h1"), "dualpipe": ("schedule", "dualpipe"),
          "no-overlap": ("overlap_grad_reduce", False),
          "no-prefetch": ("overlap_param_gather", False), "cp-a2a": ("cp_a2a", True),
          **{f"overlap-{k}": (field, True) for k, field in _OVERLAPS.items()}}
_CHOICES = {"recompute": ("none", "selective", "full"), "offload": ("none", "optimizer", "params")}
PLAN_ITEMS = ("tp=, cp=, pp=, vp=, dp=, ep=, mb=, zero=, recompute=none|selective|full, recompute_layers=, "
              "layers_per_stage=a/b/..., offload=optimizer|params, sp, gpipe, zb-h1, dualpipe, no-overlap, "
              "no-prefetch, overlap-tp, overlap-p2p, overlap-ep or cp-a2a")


def parse_plan(text: str) -> Plan:
    """``tp=8,cp=2,pp=16,vp=2,dp=4,mb=2[,zero=1][,sp][,recompute=selective][,gpipe|zb-h1][,no-overlap]...``
    to a Plan (items: ``PLAN_ITEMS``). An empty plan or an empty item (``''``, ``,,,``, ``tp=2,,dp=4``) is
    an error, not the default plan."""
    fields: dict = {}
    parts = [p.strip() for p in text.split(",")]
    if not any(parts):
        raise CostsimError(f"{text!r} is an empty plan: give tp=, pp=, dp=, ... (e.g. tp=8,pp=2,dp=4) or auto",
                           field="plan")
    if not all(parts):
        raise CostsimError(f"'{text}' has an empty item (two commas together, or one at an end)", field="plan")
    for part in parts:
        key, sep, value = part.partition("=")
        name = _WORDS[part][0] if part in _WORDS else key
        if name in fields:
            raise CostsimError(f"'{key}' given twice", field="plan")
        if part in _WORDS:
            fields[name] = _WORDS[part][1]
        elif sep and key in _CHOICES:
            if value not in _CHOICES[key]:
                raise CostsimError(f"'{value}' is not one of {', '.join(_CHOICES[key])}", field=f"plan.{key}")
            fields[key] = value
        elif sep and key == "layers_per_stage":
            try:
                fields[key] = tuple(int(v) for v in value.split("/"))
            except ValueError:
                raise CostsimError(f"'{value}' is not whole numbers separated by '/' (e.g. 7/8/8/7)",
                                   field="plan.layers_per_stage") from None
        elif sep and key in _KEYS:
            try:
                fields[key] = _KEYS[key](value)
            except ValueError:
                raise CostsimError(f"'{value}' is not a whole number", field=f"plan.{key}") from None
        else:
            raise CostsimError(f"cannot read '{part}': expected {PLAN_ITEMS}", field="plan")
    try:
        return Plan(**fields)
    except ValidationError as err:
        raise CostsimError.from_validation(err, prefix="plan") from None


def stage_layers(workload: TransformerWorkload, plan: Plan) -> tuple[int, ...]:
    """The transformer layers of each pipeline stage, first to last: ``plan.layers_per_stage``, else as
    even as they go, the stages that come up short taken alternately from the two ends, so that the
    first and last stages (which also hold the embedding and the head) are the lighter ones (126 layers
    on 16 stages: 7, 8, ..., 8, 7, as Llama 3 405B was trained)."""
    if plan.layers_per_stage:
        return plan.layers_per_stage
    L, pp = workload.layers, plan.pp
    base = -(-L // pp)
    sizes = [base] * pp
    for i in range(base * pp - L):  # fewer than pp: each stage loses at most one layer
        sizes[i // 2 if i % 2 == 0 else pp - 1 - i // 2] -= 1
    return tuple(sizes)


def stage_chunks(per_stage: tuple[int, ...], vp: int) -> list[list[int]]:
    """The layers of each of a stage's ``vp`` chunks (interleaved 1F1B), as even as they go."""
    return [[n // vp + (1 if i < n % vp else 0) for i in range(vp)] for n in per_stage]


def check_plan(plan: Plan, workload, devices: int) -> int:
    """Validate ``plan`` against the workload and device count; return the micro-batch size."""

    if plan.devices != devices:
        dims = f"{plan.tp} x {plan.cp} x {plan.pp} x {plan.dp}" if plan.cp > 1 else f"{plan.tp} x {plan.pp} x {plan.dp}"
        raise CostsimError(f"{'tp x cp x pp x dp' if plan.cp > 1 else 'tp x pp x dp'} = {dims} = {plan.devices}, "
                           f"not the {devices} devices", field="plan")
    transformer = isinstance(workload, TransformerWorkload)
    if not transformer and (plan.tp > 1 or plan.pp > 1 or plan.sp or plan.cp > 1 or plan.recompute == "selective"
                            or plan.layers_per_stage):
        raise CostsimError(f"tensor, context and pipeline parallelism and selective recompute are modelled for "
                           f"transformers; a {workload.kind} workload takes data parallelism (dp) only", field="plan")
    if plan.ep > 1 and (not transformer or workload.experts % plan.ep or plan.dp % plan.ep):
        raise CostsimError(f"ep ({plan.ep}) must divide the experts and dp ({plan.dp})", field="plan.ep")
    if transformer:
        _check_transformer_plan(plan, workload)
    elif plan.recompute_layers:
        raise CostsimError("recompute_layers counts transformer layers", field="plan.recompute_layers")
    gbs = workload.training.global_batch_size
    if gbs % plan.dp:
        raise CostsimError(f"global_batch_size {gbs} not divisible by dp ({plan.dp}) (or round it with "
                           f"batch_rounding up or down)", field="training.global_batch_size")
    per_replica = gbs // plan.dp
    mb = plan.mb or workload.training.micro_batch_size or (per_replica if plan.pp == 1 else 1)
    if per_replica % mb:
        field = "plan.mb" if plan.mb else "training.micro_batch_size"
        raise CostsimError(f"micro-batch {mb} does not divide the {per_replica} samples per data-parallel "
                           f"replica", field=field)
    m = per_replica // mb
    if plan.schedule == "dualpipe" and (m < plan.pp or m % 2):  # DeepSeek-AI 2024, section 3.2.1
        raise CostsimError(f"DualPipe needs an even number of micro-batches per replica, at least pp ({plan.pp}); "
                           f"this plan has {m}", field="plan.schedule")
    if plan.vp > 1 and m % plan.pp:  # Narayanan et al. 2021, section 2.2.2
        raise CostsimError(f"the interleaved schedule needs the micro-batches per replica ({m}) to be a multiple "
                           f"of pp ({plan.pp})", field="plan.vp")
    return mb


def _check_transformer_plan(plan: Plan, workload: TransformerWorkload) -> None:
    """The divisibility rules of tensor, context and pipeline parallelism and of recompute on a transformer."""
    if workload.heads % plan.tp:
        raise CostsimError(f"heads ({workload.heads}) not divisible by tp ({plan.tp})", field="plan.tp")
    if (workload.kv_heads or workload.heads) % plan.tp:
        raise CostsimError(f"kv_heads ({workload.kv_heads}) not divisible by tp ({plan.tp}): each tensor-parallel rank "
                           f"holds whole key-value heads", field="plan.tp")
    if plan.cp > 1 and workload.encoder_layers:
        raise CostsimError("context parallelism is modelled for one stack: an encoder-decoder (encoder_layers) "
                           "takes cp 1", field="plan.cp")
    if plan.cp > 1 and workload.seq_len % (2 * plan.cp):  # load-balanced ring attention: 2 x cp chunks
        raise CostsimError(f"seq_len ({workload.seq_len}) not divisible by 2 x cp ({2 * plan.cp}): ring attention "
                           f"splits each sequence into 2 x cp chunks", field="plan.cp")
    kv = workload.kv_heads or workload.heads
    if plan.cp_a2a and (plan.cp == 1 or workload.heads % (plan.tp * plan.cp) or kv % (plan.tp * plan.cp)):
        raise CostsimError(f"all-to-all context parallelism splits the heads over tp x cp: heads ({workload.heads}) "
                           f"or kv_heads ({kv}) not divisible by {plan.tp} x {plan.cp}" if plan.cp > 1
                           else "cp-a2a needs cp > 1", field="plan.cp")
    L = workload.layers
    if plan.layers_per_stage is not None:
        if len(plan.layers_per_stage) != plan.pp:
            raise CostsimError(f"{len(plan.layers_per_stage)} stages listed, not pp ({plan.pp})",
                               field="plan.layers_per_stage")
        if sum(plan.layers_per_stage) != L:
            raise CostsimError(f"the stages' layers sum to {sum(plan.layers_per_stage)}, not the workload's {L}",
                               field="plan.layers_per_stage")
    elif L < plan.pp:
        raise CostsimError(f"{L} layers cannot fill pp = {plan.pp} stages", field="plan.pp")
    if (plan.vp > 1 or plan.schedule == "dualpipe") and workload.encoder_layers:  # Megatron-Core refuses them too
        raise CostsimError("an encoder-decoder's (encoder_layers) stages hold the encoder's layers, then the "
                           "decoder's, in order: interleaved or bidirectional stages are not modelled for it; use "
                           "vp 1 and 1f1b, gpipe or zb-h1", field="plan.vp" if plan.vp > 1 else "plan.schedule")
    if plan.vp > 1:
        if plan.pp == 1 or plan.schedule != "1f1b":
            raise CostsimError("virtual stages (vp > 1) interleave a 1F1B pipeline: they need pp > 1 and the "
                               "1f1b schedule", field="plan.vp")
        if min(stage_layers(workload, plan)) < plan.vp:
            raise CostsimError(f"a stage of {min(stage_layers(workload, plan))} layers cannot hold vp ({plan.vp}) "
                               f"chunks", field="plan.vp")
    if plan.schedule == "zb-h1" and plan.pp == 1:
        raise CostsimError("the zero-bubble schedule is a pipeline schedule: it needs pp > 1", field="plan.schedule")
    if plan.schedule == "dualpipe" and (plan.pp < 2 or plan.pp % 2):
        raise CostsimError(f"DualPipe feeds micro-batches from both ends of the pipeline: it needs an even pp of 2 "
                           f"or more, not {plan.pp}", field="plan.schedule")
    if plan.recompute_layers:
        if (plan.recompute or ("full" if workload.training.activation_recompute else "none")) != "full":
            raise CostsimError("recompute_layers says how many layers full recompute covers: give recompute=full",
                               field="plan.recompute_layers")
        if plan.recompute_layers > max(stage_layers(workload, plan)):
            raise CostsimError(f"recompute_layers ({plan.recompute_layers}) is more than a stage's "
                               f"{max(stage_layers(workload, plan))} layers", field="plan.recompute_layers")


def as_plan(plan: Plan | Mapping | str | None) -> Plan | None:
    """A plan from what a caller gives: a :class:`Plan`, its text (``tp=8,pp=16,dp=4,mb=2``), its fields as
    a mapping (checked as strictly as a file), or None (the default plan)."""
    if isinstance(plan, str):
        return parse_plan(plan)
    if isinstance(plan, Mapping):
        try:
            return Plan(**plan)
        except ValidationError as err:
            raise CostsimError.from_validation(err, prefix="plan") from None
    return plan
