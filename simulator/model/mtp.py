"""Multi-token prediction (DeepSeek-V3, section 2.2): after the main model's last layer, each of
``mtp_layers`` sequential modules normalises the previous depth's hidden state and the embedding of the
next token (two RMSNorms), projects their concatenation from 2 x d_model to d_model, runs one more
transformer block (a mixture-of-experts one where the model has experts), and predicts one more token
through the shared output head with a cross-entropy of its own. The modules sit on the last pipeline
stage, which therefore also holds a copy of an untied embedding (the first stage's otherwise). The projection
is split over tensor parallelism like the head; its small gather is not priced.
"""
from __future__ import annotations

from .ops import Op, layernorm_ops, linear_ops, loss_ops


def _prefixed(ops: list[Op], depth: int) -> list[Op]:
    """The ops of one module, named under ``mtp.`` and counted once per module."""
    return [op._replace(name=f"mtp.{op.name}", count=op.count * depth) for op in ops]


def mtp_ops(w, batch: float, p, split, block, fuse) -> tuple[list[Op], list[Op], list[Op]]:
    """(forward, loss, backward) kernels of the modules on the last stage. ``block``: one transformer block's
    (forward, backward) kernels (``transformer.layer_ops`` for one layer); ``fuse``: the stack's rewrite of
    a list of kernels (``fusion.apply`` bound to the workload's stack)."""
    m = w.mtp_layers
    d, V, tp = w.d_model, w.vocab_size, split.tp
    T = batch * w.seq_len / split.cp
    e, s = T * d, p.stream_bytes
    eh = e / tp if split.sp else e
    emb = [Op("embedding.lookup", "embedding", e, 4 * s * e, "fp32", kernels=3)]
    norms = [layernorm_ops(f"norm_{x}", eh, p, 1) for x in ("hidden", "embedding")]
    proj_f, proj_b = linear_ops("proj", T, 2 * d, d / tp, p, 1)
    layer_f, layer_b = block
    lnf_f, lnf_b = layernorm_ops("norm_f", eh, p, 1)
    head_f, head_b = linear_ops("head", T, d, V / tp, p, 1)
    head_b = [op for op in head_b if not op.name.endswith("bias_grad")]
    # the block's kernels come rewritten by the stack already; the rest is rewritten here
    fwd = fuse(emb + norms[0][0] + norms[1][0] + proj_f) + layer_f + fuse(lnf_f + head_f)
    bwd = fuse(head_b + lnf_b) + layer_b + fuse(proj_b + norms[1][1] + norms[0][1])
    loss = fuse(loss_ops(T, V / tp, p))
    if tp > 1:
        loss += [Op("tp.loss.all_reduce", "communication", 0.0, 3 * s * T, "all_reduce", kernels=3)]
    return _prefixed(fwd, m), _prefixed(loss, m), _prefixed(bwd, m)


def mtp_parameters(w, split, layer: tuple[float, ...]) -> dict[str, float]:
    """What the modules add on the last stage: ``layer``, one block's (matrix weights, all parameters,
    adapters, dense weights, routed experts') from ``transformer._layer_parameters``; each module's
    projection and three RMSNorms; and on a last stage that is not the first, the embedding's copy."""
    m, d, tp = w.mtp_layers, w.d_model, split.tp
    proj = 2 * d * d / tp
    own = m * (layer[1] + proj + 3 * d)
    embedding = w.vocab_size * d / tp if not (split.first or w.tied_embeddings) else 0.0
    return {"matmul": m * (layer[0] + proj), "total": own + embedding, "expert": m * layer[4], "own": own}
