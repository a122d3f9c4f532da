"""Parallel plans: how a training step is split over devices.

``tp`` tensor parallel (Megatron-style, optionally with sequence parallelism), ``pp`` pipeline stages
(1F1B or GPipe schedule over micro-batches), ``dp`` data parallel (with ZeRO stage 0-3 sharding),
``mb`` the micro-batch per pipeline pass. ``tp x pp x dp`` is the device count.
"""
from __future__ import annotations

from typing import Literal, Mapping

from pydantic import Field, ValidationError

from ..errors import CostsimError
from .hardware import Input, PositiveInt
from .workload import TransformerWorkload


class Plan(Input):
    """How one training step is split over ``tp x pp x dp`` devices.

    Attributes:
        tp: tensor-parallel degree (Megatron-style, within each layer).
        pp: pipeline stages (layers split into consecutive stages).
        dp: data-parallel replicas.
        ep: expert-parallel degree, within the data-parallel ranks.
        mb: samples per micro-batch; default: the workload's, else the whole replica batch (pp = 1) or 1.
        zero: ZeRO stage: 1 shards the optimizer states over dp, 2 also the gradients, 3 also the weights.
        sp: sequence parallelism with the tensor parallelism.
        schedule: the pipeline schedule over micro-batches, ``1f1b`` or ``gpipe``.
        overlap_grad_reduce: whether the gradient reduction overlaps the backward pass.
    """

    tp: PositiveInt = 1
    pp: PositiveInt = 1
    dp: PositiveInt = 1
    ep: PositiveInt = Field(default=1, description="expert parallelism, within the data-parallel ranks")
    mb: PositiveInt | None = Field(default=None, description="micro-batch; default: the workload's, else all")
    zero: Literal[0, 1, 2, 3] = 0
    sp: bool = False
    schedule: Literal["1f1b", "gpipe"] = "1f1b"
    overlap_grad_reduce: bool = Field(
        default=True, description="data-parallel gradient reduction overlapped with the backward pass "
                                  "(bucketed, as PyTorch DDP and Megatron do); false: after it")

    @property
    def devices(self) -> int:
        """Devices the plan spans, tp x pp x dp."""
        return self.tp * self.pp * self.dp

    def label(self) -> str:
        """The plan as ``parse_plan`` reads it: ``tp=..,pp=..,dp=..,mb=..`` and any options."""
        extra = [f"ep={self.ep}"] if self.ep > 1 else []
        extra += [f"zero={self.zero}"] if self.zero else []
        extra += ["sp"] if self.sp else []
        extra += ["gpipe"] if self.schedule == "gpipe" else []
        extra += ["no-overlap"] if not self.overlap_grad_reduce else []
        return ",".join([f"tp={self.tp}", f"pp={self.pp}", f"dp={self.dp}", f"mb={self.mb}"] + extra)


_KEYS = {"tp": int, "pp": int, "dp": int, "ep": int, "mb": int, "zero": int}


def parse_plan(text: str) -> Plan:
    """``tp=8,pp=16,dp=4,mb=2[,zero=1][,sp][,gpipe][,no-overlap]`` to a Plan. An empty plan or an empty item
    (``''``, ``,,,``, ``tp=2,,dp=4``) is an error, not the default plan."""
    fields: dict = {}
    parts = [p.strip() for p in text.split(",")]
    if not any(parts):
        raise CostsimError(f"{text!r} is an empty plan: give tp=, pp=, dp=, ... (e.g. tp=8,pp=2,dp=4) or auto",
                           field="plan")
    if not all(parts):
        raise CostsimError(f"'{text}' has an empty item (two commas together, or one at an end)", field="plan")
    for part in parts:
        if part == "sp":
            fields["sp"] = True
        elif part in ("gpipe", "1f1b"):
            fields["schedule"] = part
        elif part == "no-overlap":
            fields["overlap_grad_reduce"] = False
        else:
            key, sep, value = part.partition("=")
            if key in fields:
                raise CostsimError(f"'{key}' given twice", field="plan")
            if not sep or key not in _KEYS:
                raise CostsimError(f"cannot read '{part}': expected tp=, pp=, dp=, ep=, mb=, zero=, sp, gpipe or "
                                   f"no-overlap", field="plan")
            try:
                fields[key] = _KEYS[key](value)
            except ValueError:
                raise CostsimError(f"'{value}' is not a whole number", field=f"plan.{key}") from None
    try:
        return Plan(**fields)
    except ValidationError as err:
        raise CostsimError.from_validation(err, prefix="plan") from None


def check_plan(plan: Plan, workload, devices: int) -> int:
    """Validate ``plan`` against the workload and device count; return the micro-batch size."""

    if plan.devices != devices:
        raise CostsimError(f"tp x pp x dp = {plan.tp} x {plan.pp} x {plan.dp} = {plan.devices}, not the "
                           f"{devices} devices", field="plan")
    if not isinstance(workload, TransformerWorkload) and (plan.tp > 1 or plan.pp > 1 or plan.sp):
        raise CostsimError(f"tensor and pipeline parallelism are modelled for transformers; a {workload.kind} "
                           f"workload takes data parallelism (dp) only", field="plan")
    if plan.ep > 1 and (not isinstance(workload, TransformerWorkload) or workload.experts % plan.ep
                        or plan.dp % plan.ep):
        raise CostsimError(f"ep ({plan.ep}) must divide the experts and dp ({plan.dp})", field="plan.ep")
    if isinstance(workload, TransformerWorkload):
        if workload.heads % plan.tp:
            raise CostsimError(f"heads ({workload.heads}) not divisible by tp ({plan.tp})", field="plan.tp")
        if workload.layers % plan.pp:
            raise CostsimError(f"layers ({workload.layers}) not divisible by pp ({plan.pp})", field="plan.pp")
    gbs = workload.training.global_batch_size
    if gbs % plan.dp:
        raise CostsimError(f"global_batch_size {gbs} not divisible by dp ({plan.dp})",
                           field="training.global_batch_size")
    per_replica = gbs // plan.dp
    mb = plan.mb or workload.training.micro_batch_size or (per_replica if plan.pp == 1 else 1)
    if per_replica % mb:
        field = "plan.mb" if plan.mb else "training.micro_batch_size"
        raise CostsimError(f"micro-batch {mb} does not divide the {per_replica} samples per data-parallel "
                           f"replica", field=field)
    return mb


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
