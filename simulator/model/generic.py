"""A model known only by its published figures, expanded into the matrix products they imply.

A record gives parameters P, forward FLOPs per sample F and the number of weight layers L (or a
default). Each layer is taken as a square linear layer of P / L weights, width d = sqrt(P / L),
applied to the F / (2 P) "positions" per sample that make up its FLOPs (a convolution's spatial
positions, a sequence's tokens). So one layer's forward product on a batch b is a GEMM of
(b F / (2 P)) x d x d; the backward pass is two GEMMs of the same shape (input and weight gradients)
sharing the remaining (ratio - 1) x F. Normalisation, activations and the loss are not in the record,
so they are not priced: the estimate is a lower bound unless the matrix work dominates.
"""
from __future__ import annotations

import math

from ..schema.workload import GenericWorkload
from .ops import PRECISIONS, gemm, optimizer_ops, weight_cast_ops


def layer_shape(w: GenericWorkload) -> tuple[float, float]:
    """(width d, positions per sample) of the square layer equivalent to the record."""
    d = math.sqrt(w.parameters / w.layers)
    return d, w.forward_flops_per_sample / (2.0 * w.parameters)


def step_ops(w: GenericWorkload, batch: float, optimizer: str | None = None) -> dict[str, list]:
    """One training step's ops at ``batch`` samples by phase: square matrix products per layer,
    the backward sized by the training-to-forward ratio, the optimizer over the parameters."""
    p = PRECISIONS[w.training.precision]
    a, dt = p.act_bytes, p.matmul_dtype
    d, positions = layer_shape(w)
    rows = batch * positions
    share = (w.training_to_forward_flops_ratio - 1.0) / 2.0  # of each backward GEMM, in forward passes
    fwd = [gemm("layer.fwd", rows, d, d, a, a, dt, w.layers)]
    if w.variant.forward_only:
        return {"forward": fwd, "loss": [], "backward": [], "optimizer": []}
    bwd = [gemm("layer.dgrad", rows, d, d, a, a, dt, w.layers * share),
           gemm("layer.wgrad", d, d, rows, a, a, dt, w.layers * share)]
    casts = weight_cast_ops(w.parameters, p)
    return {"forward": fwd + casts[:1], "loss": [], "backward": bwd + casts[1:],
            "optimizer": optimizer_ops(w.parameters, optimizer or w.training.optimizer)}


def activation_bytes(w: GenericWorkload, batch: float) -> dict[str, float]:
    """Each layer's input kept for the weight gradient: positions x width per sample."""
    p = PRECISIONS[w.training.precision]
    d, positions = layer_shape(w)
    per_layer = p.act_bytes * batch * positions * d
    layers = per_layer if w.variant.forward_only else per_layer * w.layers
    return {"layers": layers, "logits": 0.0, "embedding": 0.0}
