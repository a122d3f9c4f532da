"""A decoder-only transformer (GPT style) expanded into the kernels of one training step.

Per layer, as in ``../shared/calibration/measure_gpu.py``: pre-LayerNorm, fused QKV projection, causal
attention (flash: one fused kernel; naive: scores, softmax and context as separate kernels), output
projection, residual add, LayerNorm, MLP (up, GELU, down), residual add. Then a final LayerNorm, the
output head (tied to the token embedding or not) and the cross-entropy loss.
"""
from __future__ import annotations

from .ops import (PRECISIONS, Op, cast_op, layernorm_ops, linear_ops, loss_ops, optimizer_ops,
                  weight_cast_ops)
from .workload import TransformerWorkload

# flash-attention backward runs five matrix products against the forward's two (dQ, dK, dV, and the
# recomputed scores and dP), so it costs 2.5x the forward FLOPs.
FLASH_BWD_FLOPS_RATIO = 2.5


def parameter_counts(w: TransformerWorkload) -> dict[str, float]:
    d, f, L, V = w.d_model, w.ffn_dim, w.layers, w.vocab_size
    per_layer_matmul = d * 3 * d + d * d + 2 * d * f
    per_layer_other = 3 * d + d + f + d + 4 * d  # biases and two LayerNorms (weight and bias)
    embed = V * d + w.seq_len * d
    head = 0 if w.tied_embeddings else V * d
    layers = L * (per_layer_matmul + per_layer_other)
    return {"matmul": L * per_layer_matmul + V * d, "layers": layers, "embedding": embed, "head": head,
            "total": layers + embed + head + 2 * d}


def attention_ops(w: TransformerWorkload, batch: float, p, count: float) -> tuple[list[Op], list[Op]]:
    """Causal self-attention on q, k, v of shape (batch, heads, seq, head_dim)."""
    S, d, h, a = w.seq_len, w.d_model, w.heads, p.act_bytes
    tokens = batch * S
    causal_flops = 2.0 * batch * S * S * d  # QK^T and PV: 4 b h S^2 dh, halved by the causal mask
    causal_scores = batch * h * S * S / 2
    if w.attention == "flash":
        fwd = [Op("attn.flash_fwd", "attention", causal_flops, 4 * a * tokens * d, p.matmul_dtype, count,
                  scores=causal_scores)]
        bwd = [Op("attn.flash_bwd", "attention_backward", FLASH_BWD_FLOPS_RATIO * causal_flops,
                  8 * a * tokens * d, p.matmul_dtype, count, kernels=3, scores=causal_scores)]
        return fwd, bwd
    scores = batch * h * S * S  # the full S x S score matrix is materialised
    s = p.stream_bytes
    fwd = [Op("attn.scores", "attention", causal_flops, 2 * a * tokens * d + a * scores,
              p.matmul_dtype, count),
           Op("attn.softmax", "elementwise", 5.0 * scores, (a + s) * scores + (s + a) * scores, "fp32", count),
           Op("attn.context", "attention", causal_flops, a * scores + 2 * a * tokens * d, p.matmul_dtype, count)]
    bwd = [Op("attn.context_bwd", "attention", 2 * causal_flops, 2 * a * scores + 4 * a * tokens * d,
              p.matmul_dtype, count),
           Op("attn.softmax_bwd", "elementwise", 4.0 * scores, 3 * a * scores, "fp32", count),
           Op("attn.scores_bwd", "attention", 2 * causal_flops, a * scores + 4 * a * tokens * d,
              p.matmul_dtype, count)]
    return fwd, bwd


def layer_ops(w: TransformerWorkload, batch: float, p) -> tuple[list[Op], list[Op]]:
    """Forward and backward kernels of one transformer block, repeated ``layers`` times."""
    L, d, f, S = w.layers, w.d_model, w.ffn_dim, w.seq_len
    T = batch * S
    e = T * d
    a, s = p.act_bytes, p.stream_bytes
    fwd: list[Op] = []
    bwd: list[Op] = []

    def add(pair):
        fwd.extend(pair[0])
        bwd[:0] = pair[1]  # backward runs in reverse order

    for norm in ("ln1",):
        add(layernorm_ops(norm, e, p, L))
    add(([c for c in [cast_op("ln1.out_cast", e, s, a, L)] if c],
         [c for c in [cast_op("ln1.grad_cast", e, a, s, L)] if c]))
    add(linear_ops("qkv", T, d, 3 * d, p, L))
    add(attention_ops(w, batch, p, L))
    # (b, h, S, dh) -> (b, S, d): a transpose copy before the projection, and its inverse in backward
    add(([Op("attn.out_transpose", "elementwise", 0.0, 2 * a * e, "fp32", L)],
         [Op("attn.grad_transpose", "elementwise", 0.0, 2 * a * e, "fp32", L)]))
    add(linear_ops("proj", T, d, d, p, L))
    add(([Op("residual1.add", "elementwise", e, (s + a + s) * e, "fp32", L)],
         [Op("residual1.grad_merge", "elementwise", e, 3 * s * e, "fp32", L)] +
         [c for c in [cast_op("residual1.grad_cast", e, s, a, L)] if c]))
    add(layernorm_ops("ln2", e, p, L))
    add(([c for c in [cast_op("ln2.out_cast", e, s, a, L)] if c],
         [c for c in [cast_op("ln2.grad_cast", e, a, s, L)] if c]))
    add(linear_ops("mlp.up", T, d, f, p, L))
    add(([Op("mlp.gelu", "elementwise", 8.0 * T * f, 2 * a * T * f, "fp32", L)],
         [Op("mlp.gelu_bwd", "elementwise", 12.0 * T * f, 3 * a * T * f, "fp32", L)]))
    add(linear_ops("mlp.down", T, f, d, p, L))
    add(([Op("residual2.add", "elementwise", e, (s + a + s) * e, "fp32", L)],
         [Op("residual2.grad_merge", "elementwise", e, 3 * s * e, "fp32", L)] +
         [c for c in [cast_op("residual2.grad_cast", e, s, a, L)] if c]))
    return fwd, bwd


def step_ops(w: TransformerWorkload, batch: float, optimizer: str | None = None) -> dict[str, list[Op]]:
    """All kernels of one training step on ``batch`` sequences, by phase."""
    p = PRECISIONS[w.training.precision]
    d, V, S = w.d_model, w.vocab_size, w.seq_len
    T = batch * S
    e = T * d
    s, a = p.stream_bytes, p.act_bytes
    params = parameter_counts(w)
    layer_fwd, layer_bwd = layer_ops(w, batch, p)

    embed_fwd = [Op("embedding.lookup", "embedding", e, (s + s) * e + s * e + s * e, "fp32", kernels=3)]
    # backward: zero the V x d gradient, then a sort-based scatter-add of the T x d token gradients
    embed_bwd = [Op("embedding.grad", "embedding", e, s * V * d + 3 * s * e + 8.0 * T, "fp32", kernels=4)]
    lnf_fwd, lnf_bwd = layernorm_ops("ln_f", e, p, 1)
    head_fwd, head_bwd = linear_ops("head", T, d, V, p, 1)
    head_bwd = [op for op in head_bwd if not op.name.endswith("bias_grad")]
    head_cast = [c for c in [cast_op("ln_f.out_cast", e, s, a, 1)] if c]
    head_cast_bwd = [c for c in [cast_op("ln_f.grad_cast", e, a, s, 1)] if c]
    if w.tied_embeddings:  # the head's weight gradient is added into the embedding's
        embed_bwd.append(Op("embedding.tied_grad_add", "embedding", V * d, 3 * s * V * d, "fp32"))

    phases = {
        "forward": embed_fwd + layer_fwd + lnf_fwd + head_cast + head_fwd + weight_cast_ops(params["matmul"], p)[:1],
        "loss": loss_ops(T, V, p),
        "backward": head_bwd + head_cast_bwd + lnf_bwd + layer_bwd + embed_bwd
        + weight_cast_ops(params["matmul"], p)[1:],
    }
    if w.training.activation_recompute:
        phases["recompute"] = [Op(op.name.replace(".fwd", ".recompute") if ".fwd" in op.name
                                  else op.name + ".recompute", op.op_class, op.flops, op.bytes, op.dtype,
                                  op.count, op.kernels) for op in layer_fwd]
    phases["optimizer"] = optimizer_ops(params["total"], optimizer or w.training.optimizer)
    return phases


def activation_bytes(w: TransformerWorkload, batch: float) -> dict[str, float]:
    """Bytes held at the end of the forward pass, when memory peaks.

    Saved per token and layer: LayerNorm inputs (fp32 stream), the low-precision inputs of the four
    matrix products, q, k, v and the attention output (flash keeps no S x S scores; naive keeps the
    probabilities), and the MLP's up-projection output for GELU's backward. With recompute only each
    layer's input is kept, plus one layer's worth while it is recomputed. The loss holds the
    low-precision logits, their fp32 copy and the fp32 log-probabilities.
    """
    p = PRECISIONS[w.training.precision]
    d, f, S, L, V, h = w.d_model, w.ffn_dim, w.seq_len, w.layers, w.vocab_size, w.heads
    a, s = p.act_bytes, p.stream_bytes
    T = batch * S
    per_token_layer = 2 * s * d + a * (d + d + f + f) + a * 3 * d + a * d
    if w.attention == "naive":
        per_token_layer += a * h * S  # the softmax probabilities, a full S x S matrix per head
    per_layer = per_token_layer * T
    layers = s * d * T * L + per_layer if w.training.activation_recompute else per_layer * L
    logits = T * V * (a + s + s) if a != s else T * V * 2 * s
    return {"layers": layers, "logits": logits, "embedding": s * d * T}
