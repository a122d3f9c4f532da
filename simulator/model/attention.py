"""Attention's kernels and projections on one device: multi-head, grouped-query or multi-query, and
DeepSeek's multi-head latent attention; flash (fused) or naive (scores, softmax and context apart), with
context parallelism's share of the sequence."""
from __future__ import annotations

import math

from ..schema.workload import TransformerWorkload
from .ops import Op

# flash-attention backward runs five matrix products against the forward's two (dQ, dK, dV, and the
# recomputed scores and dP), so it costs 2.5x the forward FLOPs.
FLASH_BWD_FLOPS_RATIO = 2.5


def attention_ops(w: TransformerWorkload, batch: float, p, count: float, tp: int = 1,
                  cp: int = 1, ring: bool = True, keys: int | None = None) -> tuple[list[Op], list[Op]]:
    """Self-attention (causal, or bidirectional in an encoder) on q, k, v of shape (batch, heads / tp, seq,
    head_dim); with ``keys``, an encoder-decoder's cross-attention: the decoder's seq_len queries against
    ``keys`` encoder positions, unmasked. With context parallelism (``cp`` > 1) the device holds S / cp
    queries (two load-balanced chunks) and attends to every key, the others' key-value chunks arriving
    over the ring: 1/cp of the work, and the remote keys and values read once more (``ring``; all-to-all
    context parallelism gathers whole sequences of 1/cp of the heads instead: the same work, no remote
    reads). T5's relative position bias (``position: relative``) is read by each self-attention kernel
    for every sequence (a (heads, S, S) tensor broadcast over the batch, larger than the cache) and its
    gradient written back for every sequence and summed (PyTorch's memory-efficient attention with an
    additive bias: FlashAttention takes none)."""
    S, h, a = w.seq_len, w.heads / tp, p.act_bytes
    Sk = S if keys is None else keys
    # widths per token on this device: queries, keys, values, output (grouped-query attention: fewer keys
    # and values; latent attention: its heads' keys and values as training materialises them)
    q, k, v, o = (x / tp for x in w.attention_dims())
    tokens, key_tokens = batch * S / cp, batch * Sk / cp
    # QK^T over the queries' width, PV over every query head's values (the output's width): halved by the causal mask;
    # under a sliding window of W, each query sees at most W keys (S W - W^2 / 2 pairs in all); bidirectional: S^2
    if keys is not None:
        pairs = float(S * Sk)
    else:
        pairs = _pairs(S, w.sliding_window if w.attention == "flash" else None) if w.causal else float(S * S)
    causal_flops = batch * 2 * pairs * (q + o) / cp
    causal_scores = batch * h * pairs / cp
    # the others' keys and values, as they arrive over the ring (a window needs only the chunks it reaches)
    chunks = cp - 1 if w.sliding_window is None else min(cp - 1, math.ceil(w.sliding_window * cp / S))
    remote = a * batch * S * (k + v) * chunks / cp if ring else 0.0
    qo, kv = a * (tokens * (q + o) + key_tokens * (k + v)), 0.0
    if w.position == "relative" and keys is None:
        kv = a * batch * h * S * Sk / cp  # the bias, once per sequence (its gradient: written, then summed)
    if w.attention == "flash":
        fwd = [Op("attn.flash_fwd", "attention", causal_flops, qo + remote + kv, p.attention,
                  count, scores=causal_scores)]
        bwd = [Op("attn.flash_bwd", "attention_backward", FLASH_BWD_FLOPS_RATIO * causal_flops,
                  2 * qo + 2 * remote + 2 * kv, p.attention, count, kernels=3, scores=causal_scores)]
        return fwd, bwd
    scores = batch * h * S * Sk / cp  # the full score matrix of the device's queries is materialised
    s = p.stream_bytes
    fwd = [Op("attn.scores", "attention", causal_flops, a * (tokens * q + key_tokens * k) + a * scores + kv,
              p.attention, count),
           Op("attn.softmax", "elementwise", 5.0 * scores, (a + s) * scores + (s + a) * scores, "fp32", count),
           Op("attn.context", "attention", causal_flops, a * scores + a * (key_tokens * v + tokens * o),
              p.attention, count)]
    bwd = [Op("attn.context_bwd", "attention", 2 * causal_flops, 2 * a * scores + 2 * a * (key_tokens * v + tokens * o),
              p.attention, count),
           Op("attn.softmax_bwd", "elementwise", 4.0 * scores, 3 * a * scores + 2 * kv, "fp32", count),
           Op("attn.scores_bwd", "attention", 2 * causal_flops, a * scores + 2 * a * (tokens * q + key_tokens * k),
              p.attention, count)]
    return fwd, bwd


def _pairs(S: int, window: int | None) -> float:
    """Query-key pairs a causal attention over ``S`` tokens scores (S^2 / 2; under a window of W < S,
    S W - W^2 / 2)."""
    if window is None or window >= S:
        return S * S / 2
    return S * window - window * window / 2


def attention_linears(w: TransformerWorkload, tp: int) -> list[tuple[str, float, float, float]]:
    """(name, d_in, d_out, copies) of a layer's attention projections on one device, the output's last.
    Latent attention's down-projections run whole on each tensor-parallel rank; its up-projections split
    by heads."""
    q, k, v, o = w.attention_dims()
    d = w.d_model
    if not w.mla:
        return [("qkv", d, (q + k + v) / tp, 1), ("proj", o / tp, d, 1)]
    out = ([("mla.q_down", d, w.q_lora_rank, 1), ("mla.q_up", w.q_lora_rank, q / tp, 1)] if w.q_lora_rank
           else [("mla.q", d, q / tp, 1)])
    out += [("mla.kv_down", d, w.kv_lora_rank + w.qk_rope_head_dim, 1),
            ("mla.kv_up", w.kv_lora_rank, w.heads * (w.qk_nope_head_dim + w.v_head_dim) / tp, 1)]
    return out + [("proj", o / tp, d, 1)]
