"""An encoder-decoder (T5): the two stacks as views of one workload, the decoder's cross-attention block,
and what the first stage adds (T5's relative position bias, the encoder's final norm).

The workload's ``layers`` are both stacks, the encoder's first (``encoder_layers``), so that a pipeline
splits them in order as Megatron-LM's T5 does. An encoder layer is a bidirectional block on the
``seq_len`` input tokens; a decoder layer a causal block on the ``target_len`` target tokens with, between
its self-attention and its MLP, a cross-attention: a norm, the queries projected from the decoder, the
keys and values from the encoder's output (in every decoder layer, on the input tokens), unmasked
attention of the targets over the inputs, the output projection and a residual add (Raffel et al. 2020,
section 2.1; Hugging Face ``T5LayerCrossAttention``).
"""
from __future__ import annotations

import functools

from .attention import attention_ops
from .ops import Op, cast_op, layernorm_ops, linear_ops, tp_comm


@functools.lru_cache(maxsize=64)
def encoder(w):
    """The encoder stack as a one-stack workload: bidirectional, on the inputs."""
    return w.model_copy(update={"causal": False, "encoder_layers": 0, "target_len": None})


@functools.lru_cache(maxsize=64)
def decoder(w):
    """The decoder stack as a one-stack workload: causal, on the targets (its cross-attention added by
    :func:`cross_block`)."""
    return w.model_copy(update={"causal": True, "encoder_layers": 0, "target_len": None, "seq_len": w.target_len})


def cross_linears(w, tp: int) -> list[tuple[str, float, float, float]]:
    """(name, d_in, d_out, copies) of a decoder layer's cross-attention projections on one device."""
    q, k, v, o = w.attention_dims()
    d = w.d_model
    return [("xattn.q", d, q / tp, 1), ("xattn.kv", d, (k + v) / tp, 1), ("xattn.proj", o / tp, d, 1)]


def cross_block(w, batch: float, p, split, L: int, inputs: int, variant_of) -> tuple[list[Op], list[Op]]:
    """(forward, backward) of the cross-attention block of the ``L`` decoder layers of a stage (``w``: the
    decoder's view; ``inputs``: the encoder's tokens per sequence; ``variant_of(d_in, d_out)``: the
    strategy's variant for a linear of the whole layer's widths). Under tensor parallelism the encoder's
    output is replicated: its gradient from the key-value projection is summed over tp in backward."""
    tp = split.tp
    d = w.d_model
    T, Tk = batch * w.seq_len, batch * inputs
    e = T * d
    eh = e / tp if split.sp else e
    a, s = p.act_bytes, p.stream_bytes
    fwd: list[Op] = []
    bwd: list[Op] = []

    def add(pair):
        fwd.extend(pair[0])
        bwd[:0] = pair[1]

    add(layernorm_ops("lnx", eh, p, L))
    add(([c for c in [cast_op("lnx.out_cast", eh, s, a, L)] if c],
         [c for c in [cast_op("lnx.grad_cast", eh, a, s, L)] if c]))
    (_, _, dq, _), (_, _, dkv, _), (_, dio, _, _) = cross_linears(w, tp)
    add(linear_ops("xattn.q", T, d, dq, p, L, variant=variant_of(d, dq * tp)))
    add(linear_ops("xattn.kv", Tk, d, dkv, p, L, variant=variant_of(d, dkv * tp)))
    if tp > 1:  # the encoder output's gradient, partial on each rank
        add(([], [Op("tp.xattn_kv_in_grad.all_reduce", "communication", 0.0, a * Tk * d, "all_reduce", L)]))
    f, b = attention_ops(w, batch, p, L, tp, keys=inputs)
    add(([op._replace(name="x" + op.name) for op in f], [op._replace(name="x" + op.name) for op in b]))
    od = w.attention_dims()[3]
    add(([Op("xattn.out_transpose", "elementwise", 0.0, 2 * a * T * od / tp, "fp32", L)],
         [Op("xattn.grad_transpose", "elementwise", 0.0, 2 * a * T * od / tp, "fp32", L)]))
    add(linear_ops("xattn.proj", T, dio, d, p, L, variant=variant_of(od, d)))
    if tp > 1:
        add((tp_comm("tp.xattn_out", a * e, L, split.sp), tp_comm("tp.xattn_in_grad", a * e, L, split.sp)))
    add(([Op("residualx.add", "elementwise", eh, (s + a + s) * eh, "fp32", L)],
         [Op("residualx.grad_merge", "elementwise", eh, 3 * s * eh, "fp32", L)] +
         [c for c in [cast_op("residualx.grad_cast", eh, s, a, L)] if c]))
    return fwd, bwd


def first_stage_ops(w, batch: float, p, split) -> tuple[list[Op], list[Op]]:
    """What the first stage adds to the embedding: T5's relative position bias, computed once per stack and
    pass (bucketed distances looked up in a buckets x heads table: a (heads, S_q, S_k) tensor written; in
    backward its summed gradient read and scattered into the table), and an encoder-decoder's encoder-final
    norm (priced here, with the embedding, wherever the encoder ends)."""
    fwd: list[Op] = []
    bwd: list[Op] = []
    a, h = p.act_bytes, w.heads / split.tp
    if w.position == "relative":
        stacks = [("relpos", w.seq_len)] + ([("relpos.dec", w.target_len)] if w.encoder_layers else [])
        for name, S in stacks:
            n = h * S * S / split.cp
            fwd += [Op(f"{name}.bias", "elementwise", 10.0 * S * S / split.cp, a * n, "fp32")]
            bwd += [Op(f"{name}.bias_grad", "embedding", n, a * n, "fp32")]
    if w.encoder_layers and w.final_norm:
        e = batch * w.seq_len * w.d_model
        f, b = layernorm_ops("ln_enc", e / split.tp if split.sp else e, p, 1)
        fwd, bwd = fwd + f, b + bwd
    return fwd, bwd


def boundary_tokens(w) -> int:
    """Tokens per sequence a pipeline boundary carries: one stack's; an encoder-decoder's decoder stages
    carry the targets' hidden states and the encoder's output (priced so at every boundary)."""
    return w.seq_len + (w.target_len or 0)


def extra_parameters(w, split) -> float:
    """Parameters an encoder-decoder (or a relative-position model) keeps on its first stage besides the
    embedding: the relative position tables (buckets x heads per stack) and the encoder's final norm."""
    if not split.first:
        return 0.0
    stacks = 2 if w.encoder_layers else 1
    out = stacks * w.relative_buckets * w.heads if w.position == "relative" else 0.0
    if w.encoder_layers and w.final_norm:
        out += (1 if w.norm == "rmsnorm" else 2) * w.d_model
    if w.encoder_layers and w.position == "learned":  # the decoder's positions beside the encoder's
        out += w.target_len * w.d_model
    return out
