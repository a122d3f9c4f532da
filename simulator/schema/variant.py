"""A workload's variant: how efficiency strategies rewrite its block linears (sparse, factorised,
LoRA-adapted, fake-quantized) or freeze it for a forward-only run."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .hardware import Fraction, Input, PositiveInt


class Variant(Input):
    """How efficiency strategies changed what executes (absent: the plain model). The linear layers of
    the transformer blocks (or of an mlp) are the ones pruned, factorised or adapted; embeddings, the
    output head and norms stay dense. The strategy layer sets these only where the device executes them
    (a 2:4 pattern only on a part with sparse tensor cores, for instance)."""

    sparsity: Literal["2:4", "unstructured"] | None = Field(
        default=None, description="the block linears' weights run as sparse products of this pattern")
    density_fraction: Fraction = Field(default=1.0, description="kept weights (2:4: 0.5)")
    low_rank_fraction: Fraction | None = Field(
        default=None, description="each block linear W (d_out x d_in) replaced by U V of rank "
                                  "round(fraction x min(d_in, d_out))")
    low_rank: PositiveInt | None = Field(default=None, description="the same with an absolute rank")
    lora_rank: PositiveInt | None = Field(
        default=None, description="LoRA: base weights frozen (held in the low-precision type), rank-r "
                                  "adapters on every block linear are the only trained parameters")
    fake_quant_bits: Literal[4, 8] | None = Field(
        default=None, description="quantization-aware training: fake-quantize each linear's input and weight")
    forward_only: bool = Field(default=False, description="forward passes only (a distillation teacher)")

    @model_validator(mode="after")
    def _check(self):
        if self.sparsity == "2:4" and self.density_fraction != 0.5:
            raise ValueError("the 2:4 pattern keeps half the weights: density_fraction must be 0.5")
        if self.sparsity is None and self.density_fraction != 1.0:
            raise ValueError("density_fraction below 1 needs a sparsity pattern")
        if self.low_rank_fraction is not None and self.low_rank is not None:
            raise ValueError("give low_rank_fraction or low_rank, not both")
        changed = [n for n, on in (("sparsity", self.sparsity), ("low-rank", self.factorised),
                                   ("LoRA", self.lora_rank)) if on]
        if len(changed) > 1:
            raise ValueError(f"{' and '.join(changed)} both rewrite the block linears; combine at most one")
        if self.forward_only and (self.lora_rank or self.fake_quant_bits):
            raise ValueError("a forward-only run trains nothing: no LoRA or fake quantization")
        return self

    @property
    def factorised(self) -> bool:
        """Whether the block linears are low-rank factorised."""
        return self.low_rank_fraction is not None or self.low_rank is not None

    def rank(self, d_in: float, d_out: float) -> int:
        """The factorisation rank of a d_in -> d_out layer."""
        if self.low_rank is not None:
            return self.low_rank
        return max(1, int(round(self.low_rank_fraction * min(d_in, d_out))))

    @property
    def trains_base(self) -> bool:
        """Whether the base weights are trained (not under LoRA nor forward-only)."""
        return not (self.lora_rank or self.forward_only)
