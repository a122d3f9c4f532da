"""Activation memory of a transformer stage: what one device holds at the end of the forward pass."""
from __future__ import annotations

from ..schema.workload import TransformerWorkload
from . import encdec
from .ops import execution_precision
from .stacks import has
from .transformer import WHOLE, Split, block_ranks


def _layer_terms(w: TransformerWorkload, batch: float, split: Split, L: int, p, probs: bool,
                 inputs: int | None = None) -> tuple[float, float]:
    """(bytes one of the stage's layers saves for its backward, bytes of its input) on one device, for a
    one-stack workload ``w`` (``inputs``: a decoder layer's cross-attention to that many encoder tokens;
    ``probs``: naive attention's probabilities kept)."""
    d, S, h, tp = w.d_model, w.seq_len, w.heads, split.tp
    rep = tp if split.sp else 1  # the share of the replicated tensors each device keeps
    a, s = p.act_bytes, p.stream_bytes
    T = batch * S / split.cp
    k = w.experts_per_token
    g = 2 if w.gated else 1
    # the norms' inputs; q, k, v and the attention output (and latent attention's latents); the up
    # projection's output, the activation's and the dispatched input of each of the k experts (a mixture
    # of experts' dense first layers: their dense MLP's, averaged over the stage's layers)
    fe, fs, fd = w.expert_dim, w.shared_experts * w.expert_dim, w.ffn_dim
    q, kk, vv, o = w.attention_dims()
    latents = ((w.q_lora_rank or 0) + w.kv_lora_rank + w.qk_rope_head_dim) if w.mla else 0
    n_dense = split.dense_count(w) if w.experts > 1 else 0
    v = w.variant
    # the rank-r intermediate of each factorised or adapted linear (the MLP's for each of the k experts)
    lora = (lambda r: {n: v.lora_rank for n in r}) if v.lora_rank else (lambda r: r)  # noqa: E731
    ranks, dense_ranks = lora(block_ranks(w)), lora(block_ranks(w, dense_layer=True))
    attention = sum(r for n, r in ranks.items() if not n.startswith("mlp"))
    moe = (a * k * w.expert_imbalance * (g * fe + fe + d) / tp + a * (g * fs + fs) / tp
           + a * (k * (ranks["mlp.up"] + ranks["mlp.down"]) + ranks.get("mlp.shared.up", 0)
                  + ranks.get("mlp.shared.down", 0)))
    dense = (a * (g * fd + fd + d) / tp + a * (dense_ranks["mlp.dense.up"] + dense_ranks["mlp.dense.down"])
             if w.experts > 1 else 0.0)
    mlp = ((L - n_dense) * moe + n_dense * dense) / L if n_dense else moe
    per_token = ((2 * s * d + 2 * a * d) / rep + a * (q + kk + vv + o) / tp + a * latents + mlp + a * attention)
    if probs:
        per_token += a * h * S / tp  # the softmax probabilities, a full S x S matrix per head
    saved = per_token * T
    if inputs is not None:  # the cross-attention: its norm's input and the queries' input, q and the output on
        # the targets, keys and values on the encoder's tokens (naive: the targets x inputs probabilities)
        saved += T * ((s * d + a * d) / rep + a * (q + o) / tp + (a * h * inputs / tp if probs else 0.0))
        saved += batch * inputs * a * (kk + vv) / tp
    return saved, s * d * T / rep


def activation_bytes(w: TransformerWorkload, batch: float, split: Split = WHOLE,
                     in_flight: float = 1.0) -> dict[str, float]:
    """Bytes held at the end of the forward pass, when memory peaks, on one device.

    Saved per token and layer: LayerNorm inputs (fp32 stream), the low-precision inputs of the four
    matrix products, q, k, v and the attention output (flash keeps no S x S scores; naive keeps the
    probabilities), and the MLP's up-projection output for GELU's backward. Tensor parallelism splits
    what the split matrix products and attention keep; sequence parallelism also the norms' and the
    replicated inputs. With full recompute only each covered layer's input is kept, plus one layer's
    worth while it is recomputed; selective recompute (Korthikanti et al. 2022) keeps everything but
    the attention core's score matrices. Context parallelism keeps 1/cp of each sequence's tokens (and
    of naive attention's scores). A pipeline stage holds ``in_flight`` micro-batches of its layers (1F1B: up to the
    number of stages; GPipe: all of them). The last stage's loss holds the low-precision logits, their
    fp32 copy and the fp32 log-probabilities of one micro-batch. An encoder-decoder's stage averages its
    encoder and decoder layers (each on its own tokens, a decoder's with its cross-attention), and a stage
    with decoder layers keeps the encoder's output once per micro-batch (the key-value projections' input).
    """
    p = execution_precision(w.training.precision, w.execution)
    d, V = w.d_model, w.vocab_size
    L = split.layers or w.layers
    tp = split.tp
    a, s = p.act_bytes, p.stream_bytes
    T = batch * w.seq_len / split.cp
    mode, covered = split.recompute_mode(w)
    probs = w.attention == "naive" and mode != "selective" and not w.variant.forward_only
    if w.encoder_layers:
        n_enc = split.dense_count(w)
        parts = [(n, _layer_terms(view, batch, split, L, p, probs, inputs))
                 for view, n, inputs in ((encdec.encoder(w), n_enc, None), (encdec.decoder(w), L - n_enc, w.seq_len))
                 if n]
        shared = a * d * batch * w.seq_len if L > n_enc else 0.0  # the encoder's output, for the cross-attention
        per_layer = (sum(n * t[0] for n, t in parts) + shared) / L
        layer_in = (sum(n * t[1] for n, t in parts) + shared) / L
        Tt = batch * w.target_len / split.cp
    else:
        per_layer, layer_in = _layer_terms(w, batch, split, L, p, probs)
        Tt = T
    rows, width = (batch / split.cp, w.classes * tp) if w.objective == "classify" else (Tt, V)  # a classifier: one row
    embedding = s * d * (T + (Tt if w.encoder_layers else 0.0)) if split.first else 0.0
    if w.variant.forward_only:  # nothing is kept for a backward pass: one layer's tensors at a time
        logits = rows * width / tp * a if split.last else 0.0
        return {"layers": per_layer, "logits": logits, "embedding": embedding}
    if mode == "full" and covered == L:
        layers = layer_in * L * in_flight + per_layer
    elif mode == "full":  # covered layers keep their input, the rest everything
        layers = (layer_in * covered + per_layer * (L - covered)) * in_flight + per_layer
    else:
        layers = per_layer * L * in_flight
    logits = 0.0
    if split.last and has(w.execution, "fused_cross_entropy"):  # only the low-precision logits
        logits = rows * width / tp * a
    elif split.last:
        logits = rows * width / tp * ((a + s + s) if a != s else 2 * s)
    if split.last and w.objective == "masked":  # the predicted positions' logits, and their transform's tensors
        logits = logits * w.prediction_fraction + 3 * a * T * w.prediction_fraction * d
    if split.last and w.mtp_layers:  # each prediction module: one more block's tensors and its logits, of the one
        layers += w.mtp_layers * per_layer  # micro-batch between its forward and its backward (they run back to back)
        logits *= 1 + w.mtp_layers
    return {"layers": layers, "logits": logits, "embedding": embedding}
