"""Peak device memory of a training step: model states plus what the forward pass keeps for backward."""
from __future__ import annotations

import math

from ..errors import OutOfMemoryError
from ..schema.workload import GenericWorkload, MLPWorkload, TransformerWorkload
from ..units import GIGA
from . import activations, cnn, generic, mlp, transformer
from .ops import (
    OPTIMIZER_STATE_BYTES_PER_PARAM,
    PRECISIONS,
    execution_precision,
    sparse_storage_fraction,
)


def parameter_count(w) -> float:
    """Parameters of the whole model (before any parallel split)."""
    if isinstance(w, TransformerWorkload):
        return float(transformer.parameter_counts(w)["total"])
    if isinstance(w, MLPWorkload):
        return mlp.parameter_count(w)
    if isinstance(w, GenericWorkload):
        return float(w.parameters)
    return float(cnn.parameter_count(w))


def peak_memory(w, batch_per_device: float, optimizer: str | None = None, split=None, in_flight: float = 1.0,
                zero: int = 0, dp: int = 1, offload: str = "none", weight_copies: int = 1, ep: int = 1
                ) -> dict[str, float]:
    """Bytes per device at the end of the forward pass, where eager training peaks.

    Weights (fp32 master copies), optimizer states, the low-precision weight copies of mixed precision,
    and saved activations including the loss's logits. Gradients are not yet allocated at that point
    (they are freed after each optimizer step); they are counted when larger than the activations freed
    by the time they exist, which happens for small batches. ``split`` (transformers) is the device's
    share under tensor and pipeline parallelism; ZeRO stage 1 shards the optimizer states over ``dp``,
    stage 2 also the gradients, stage 3 also the weights. ``offload`` (``optimizer``) keeps the optimizer
    states and, in mixed precision, the fp32 master weights in host memory; ``params`` also the weights
    the device computes with (streamed in for each pass). ``weight_copies``: 2 under DualPipe, which keeps a
    copy of the weights for each direction of the pipeline. With expert parallelism ``ep``, a routed
    expert is replicated over dp / ep ranks only: ZeRO shards its states that many ways.
    """
    p = PRECISIONS[w.training.precision]
    if isinstance(w, TransformerWorkload):
        p = execution_precision(w.training.precision, w.execution)
        split = split or transformer.WHOLE
        params = transformer.device_parameters(w, split)
        acts = activations.activation_bytes(w, batch_per_device, split, in_flight)
    else:
        total = parameter_count(w)
        frozen = total if w.variant.forward_only else 0.0
        params = {"total": total, "matmul": total - frozen, "trainable": total - frozen, "frozen": frozen,
                  "sparse": 0.0}
        module = mlp if isinstance(w, MLPWorkload) else generic if isinstance(w, GenericWorkload) else cnn
        acts = module.activation_bytes(w, batch_per_device)
    rest, experts = expert_split(w, params, p, optimizer, ep)
    weights, optimizer_states, low_precision, gradients = sharded_states(
        offloaded(rest, p, offload), offloaded(experts, p, offload), zero, dp, ep, weight_copies)
    states = {"weights_bytes": weights, "optimizer_states_bytes": optimizer_states,
              "low_precision_weights_bytes": low_precision}
    forward_end = acts["layers"] + acts["logits"] + acts["embedding"]
    # during backward, gradients grow while activations shrink; the later peak is states + gradients
    # + the loss's buffers, if that exceeds the forward-end peak
    transient = max(forward_end, gradients + acts["logits"])
    out = dict(states)
    out["activations_bytes"] = forward_end
    out["gradients_bytes"] = 0.0 if transient == forward_end else transient - forward_end
    out["total_bytes"] = sum(out.values())
    return out


def model_state_bytes(w, params: dict[str, float], p, optimizer: str | None = None) -> tuple[float, ...]:
    """(weights, optimizer states, low-precision weight copies, gradients) in bytes for a device holding
    ``params`` (``transformer.device_parameters``' parts) in precision ``p``, before any ZeRO sharding:
    fp32 master weights of what trains (frozen weights in the low-precision type), the optimizer's states,
    the low-precision copies of mixed precision (sparse weights kept compressed), fp32 gradients."""
    trained, frozen = params["trainable"], params["frozen"]
    v = w.variant
    # the low-precision copies of sparse weights are kept compressed (values plus position metadata)
    compressed = params["sparse"] * (1.0 - sparse_storage_fraction(v.sparsity, v.density_fraction, p.act_bytes))
    return (p.master_bytes * trained + p.act_bytes * frozen,
            OPTIMIZER_STATE_BYTES_PER_PARAM[optimizer or w.training.optimizer] * trained,
            p.act_bytes * (params["matmul"] - compressed) if p.mixed else 0.0, p.master_bytes * trained)


def expert_split(w, params: dict[str, float], p, optimizer: str | None, ep: int) -> tuple[tuple, tuple]:
    """``model_state_bytes`` of the parameters replicated over all data-parallel ranks, and of the routed
    experts' (replicated over dp / ep ranks; all zero with ep = 1, where every parameter is the former)."""
    expert = params.get("expert", 0.0) if ep > 1 else 0.0
    if not expert:
        return model_state_bytes(w, params, p, optimizer), (0.0, 0.0, 0.0, 0.0)
    rest = dict(params, trainable=params["trainable"] - expert, matmul=params["matmul"] - expert)
    return (model_state_bytes(w, rest, p, optimizer),
            model_state_bytes(w, {"trainable": expert, "frozen": 0.0, "matmul": expert, "sparse": 0.0}, p, optimizer))


def sharded_states(rest: tuple, experts: tuple, zero: int, dp: int, ep: int, copies: int = 1) -> tuple[float, ...]:
    """(weights, optimizer states, low-precision copies, gradients) on one device after ZeRO: ``rest``
    sharded over ``dp`` ranks, ``experts`` over dp / ep, the weights ``copies`` times (DualPipe: 2)."""
    shard = lambda stage, n: n if zero >= stage else 1  # noqa: E731
    ranks = (dp, max(dp // ep, 1))
    w, o, lp, g = ((a / shard(stage, ranks[0]) + b / shard(stage, ranks[1]) if b else a / shard(stage, ranks[0]))
                   for a, b, stage in zip(rest, experts, (3, 1, 3, 2)))
    return copies * w, o, copies * lp, g


def offloaded(states: tuple[float, ...], p, offload: str) -> tuple[float, ...]:
    """``model_state_bytes``' (weights, optimizer states, low-precision copies, gradients) left on the
    device under ``offload`` (see :func:`peak_memory`)."""
    weights, optimizer_states, low_precision, gradients = states
    if offload == "none":
        return states
    if offload == "params":
        return 0.0, 0.0, 0.0, gradients
    return (0.0 if p.mixed else weights), 0.0, low_precision, gradients


def _gb(n_bytes: float) -> str:
    """Gigabytes to 0.1 GB with thousands separators; from 1e15 GB in scientific notation."""
    gb = n_bytes / GIGA
    return f"{gb:,.1f}" if gb < 1e15 else f"{gb:.4g}"


PROFILE_MEMORY = "the profile's memory_bytes"
"""How ``check_fits`` names the capacity's input; :func:`naming_profile` puts the profile's file in its place."""


def check_fits(needed: dict[str, float], capacity_bytes: float, device: str, batch: float) -> None:
    """Raise :class:`OutOfMemoryError` (with the figures and advice) unless ``needed``'s
    ``total_bytes`` fits in ``capacity_bytes``; ``batch`` is the samples per device it was
    computed at. The message says which numbers decide it: the workload's (its batch, through
    ``training.global_batch_size``, the error's field, and the memory its model needs) against the
    profile's ``memory_bytes``."""
    if not math.isfinite(needed["total_bytes"]):
        raise OverflowError("the peak memory per device overflows a float")  # the result guard names the input
    if needed["total_bytes"] <= capacity_bytes:
        return
    parts = ", ".join(f"{k.removesuffix('_bytes')} {_gb(v)} GB" for k, v in needed.items()
                      if k != "total_bytes" and v)
    states = needed["weights_bytes"] + needed["optimizer_states_bytes"] + needed["low_precision_weights_bytes"]
    if states > capacity_bytes:
        advice = (f"the model states alone need {_gb(states)} GB and data parallelism copies them to "
                  f"every device, so they must be sharded (ZeRO/FSDP, tensor or pipeline parallelism)")
    else:
        advice = "use more devices, a smaller batch or activation_recompute"
    raise OutOfMemoryError(
        f"does not fit: needs {_gb(needed['total_bytes'])} GB per device ({parts}) at {batch:g} samples "
        f"per device, but {device} has {_gb(capacity_bytes)} GB ({PROFILE_MEMORY}); {advice}",
        field="training.global_batch_size", needed_bytes=needed["total_bytes"], capacity_bytes=capacity_bytes,
        micro_batch=batch)


def naming_profile(err, source: str | None):
    """``err`` with the profile's file ``source`` named beside its memory_bytes where it is one of
    :func:`check_fits`'s (the same error otherwise, or where ``source`` is None)."""
    if not isinstance(err, OutOfMemoryError) or not source or PROFILE_MEMORY not in err.problem:
        return err
    return OutOfMemoryError(err.problem.replace(PROFILE_MEMORY, f"memory_bytes in {source}"), source=err.source,
                            field=err.field, needed_bytes=err.needed_bytes, capacity_bytes=err.capacity_bytes,
                            micro_batch=err.micro_batch, accumulation_tried=err.accumulation_tried)
