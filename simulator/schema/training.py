"""How a workload is trained: its length, batch, precision, optimizer, and the phases of a run."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .hardware import MAX_INT, Input, PositiveFloat, PositiveInt

Precision = Literal["fp32", "tf32", "bf16_mixed", "fp16_mixed", "fp8_mixed", "mxfp8_mixed", "fp4_mixed"]
Optimizer = Literal["sgd", "sgd_momentum", "adam", "adamw", "adafactor"]


class Phase(Input):
    """One phase of a training run (a batch-size ramp, a long-context stage, a fine-tuning stage): the
    tokens from ``start_tokens`` to ``end_tokens`` of the run, trained at its own sequence length, global
    batch and plan. The phases tile the run: the first starts at 0, each starts where the one before
    ends, the last ends at ``training.tokens``."""

    name: str = Field(min_length=1, description="what the phase is called in the per-phase breakdown")
    start_tokens: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] = Field(
        description="tokens of the run trained before this phase starts")
    end_tokens: PositiveFloat = Field(description="tokens of the run trained when this phase ends")
    seq_len: PositiveInt | None = Field(default=None, description="default: the workload's seq_len")
    global_batch_size: PositiveInt | None = Field(default=None, description="default: the training block's")
    plan: str | None = Field(default=None, description="the phase's plan (plan items, or auto: searched); "
                                                       "default: the run's plan")


class Training(Input):
    """How the model is trained. Exactly one way of saying how long: steps, tokens, or epochs."""

    global_batch_size: PositiveInt = Field(description="sequences (transformer) or images (cnn) per step")
    micro_batch_size: PositiveInt | None = Field(
        default=None, description="samples per device per forward/backward pass; the per-device batch is "
                                  "accumulated over several (gradient accumulation). Default: all at once")
    steps: PositiveInt | None = Field(default=None, description="optimizer steps to train for")
    tokens: PositiveFloat | None = Field(default=None, description="transformer: tokens to train on")
    epochs: PositiveFloat | None = Field(default=None, description="cnn: passes over dataset_size images")
    dataset_size: PositiveInt | None = Field(default=None, description="cnn: images in one epoch")
    precision: Precision = Field(default="bf16_mixed", description="the data types: fp32 or tf32 throughout, or "
                                                                   "low-precision products with fp32 master weights")
    optimizer: Optimizer = Field(default="adamw", description="the update rule (its states and kernels)")
    activation_recompute: bool = Field(default=False, description="the forward pass recomputed during backward "
                                                                  "instead of keeping its activations")
    phases: tuple[Phase, ...] | None = Field(
        default=None, strict=False, description="transformers trained on tokens: the run in phases, each at its own "
                                                "sequence length, batch and plan (see Phase)")


def _check_step_count(steps: float, how: str) -> None:
    """The optimizer steps a run's length implies are a count: at most ``MAX_INT``, like ``steps``."""
    if not steps <= MAX_INT:
        raise ValueError(f"training: {how} = {steps:.3g} optimizer steps; at most {MAX_INT} (as for steps)")
