"""The two ends of a transformer: the embedding on the first pipeline stage, and the final norm, the
output head and the loss on the last, with their parameters. A vision transformer (ViT) projects image
patches instead of looking up tokens and classifies its class token. A decoder predicts the next token at every
position through the (tied or untied) head; an encoder trained on masked tokens (BERT) runs a dense
transform, GELU and LayerNorm before the tied head, on the masked positions only where they are gathered
first (``prediction_fraction``), and may add token-type embeddings, a LayerNorm after the embedding, and
its pooler with a next-sentence head.
"""
from __future__ import annotations

from .ops import Op, cast_op, layernorm_ops, linear_ops, loss_ops

NSP_CLASSES = 2  # BERT's next-sentence prediction: is-next or not


def _patch_ops(w, T: float, p, frozen: bool) -> tuple[list[Op], list[Op]]:
    """A vision transformer's embedding: the images cut into patches (a copy), each patch's C x P x P
    pixels projected to d_model (no gradient into the pixels), the class token and the learned
    positions added."""
    d, s, a = w.d_model, p.stream_bytes, p.act_bytes
    rows = T * (w.seq_len - 1) / w.seq_len  # the patches; the rest of the tokens are class tokens
    pixels = w.channels * w.patch_size ** 2
    proj_f, proj_b = linear_ops("patch.proj", rows, pixels, d, p, 1, input_grad=False, frozen=frozen)
    e = T * d
    fwd = [Op("patch.unfold", "elementwise", 0.0, 2 * a * rows * pixels, "fp32")] + proj_f + [
        Op("embedding.positions", "embedding", e, 3 * s * e, "fp32", kernels=2)]
    bwd = ([Op("embedding.positions_grad", "embedding", e, s * e, "fp32")] if not frozen else []) + proj_b
    return fwd, bwd


def embedding_ops(w, T: float, p, split, frozen: bool) -> tuple[list[Op], list[Op]]:
    """(forward, backward) of the first stage's embedding: a vocabulary-parallel lookup (each device its
    slice, then the slices summed over tp), the token types and the norm where the model has them; a
    vision transformer's patch projection instead."""
    if w.patch_size is not None:
        return _patch_ops(w, T, p, frozen)
    d, V, tp = w.d_model, w.vocab_size, split.tp
    e, s = T * d, p.stream_bytes
    fwd = [Op("embedding.lookup", "embedding", e, (s + s) * e + s * e + s * e, "fp32", kernels=3)]
    if tp > 1:
        fwd += [Op("tp.embedding.all_reduce", "communication", 0.0, s * e, "all_reduce")]
    bwd = []
    if w.token_types:  # the segment's embedding added to each token's; its gradient a sum over tokens
        fwd += [Op("embedding.token_type", "embedding", e, 3 * s * e, "fp32")]
        bwd += [Op("embedding.token_type_grad", "embedding", e, s * e, "fp32")]
    if w.embedding_norm:
        norm_f, norm_b = layernorm_ops("ln_emb", e, p, 1)
        fwd, bwd = fwd + norm_f, norm_b + bwd
    # backward: zero the V x d gradient, then a sort-based scatter-add of the T x d token gradients
    if not frozen:
        bwd += [Op("embedding.grad", "embedding", e, s * V * d / tp + 3 * s * e + 8.0 * T, "fp32", kernels=4)]
    if w.tied_embeddings and split.last and not frozen:  # the head's weight gradient joins the embedding's
        bwd += [Op("embedding.tied_grad_add", "embedding", V * d / tp, 3 * s * V * d / tp, "fp32")]
    return fwd, bwd


def head_ops(w, batch: float, T: float, p, split, frozen: bool) -> tuple[list[Op], list[Op], list[Op]]:
    """(forward, loss, backward) of the last stage: the final norm, BERT's pooler and masked-token
    transform where the model has them, the vocabulary-parallel head over the predicted tokens and its
    cross-entropy (max, sum and target logit reduced over tp)."""
    d, V, tp = w.d_model, w.vocab_size, split.tp
    e, s, a = T * d, p.stream_bytes, p.act_bytes
    fwd, bwd = [], []
    if w.final_norm:
        lnf_fwd, lnf_bwd = layernorm_ops("ln_f", e / tp if split.sp else e, p, 1)
        casts = ([c for c in [cast_op("ln_f.out_cast", e, s, a, 1)] if c],
                 [c for c in [cast_op("ln_f.grad_cast", e, a, s, 1)] if c])
        fwd, bwd = lnf_fwd + casts[0], casts[1] + lnf_bwd
    loss: list[Op] = []
    if w.pooler:  # the first token of each sequence through a d x d layer and tanh, then 2 classes
        rows = batch / split.cp
        pool_f, pool_b = linear_ops("pooler", rows, d, d, p, 1, frozen=frozen)
        nsp_f, nsp_b = linear_ops("nsp", rows, d, NSP_CLASSES, p, 1, frozen=frozen)
        fwd, bwd = fwd + pool_f + nsp_f, nsp_b + pool_b + bwd
        loss += loss_ops(rows, NSP_CLASSES, p)
    if w.objective == "classify":  # each sequence's class token through the classifier (not split over tp)
        rows = batch / split.cp
        head_f, head_b = linear_ops("head", rows, d, w.classes, p, 1, frozen=frozen)
        return fwd + head_f, loss_ops(rows, w.classes, p), head_b + bwd
    rows = T * w.prediction_fraction
    if w.objective == "masked":  # BERT's transform of the predicted positions: dense, GELU, LayerNorm
        tr_f, tr_b = linear_ops("mlm.transform", rows, d, d, p, 1, frozen=frozen)
        act = rows * d
        ln_f, ln_b = layernorm_ops("mlm.ln", act, p, 1)
        fwd += tr_f + [Op("mlm.gelu", "elementwise", 8.0 * act, 2 * a * act, "fp32")] + ln_f
        bwd = ln_b + [Op("mlm.gelu_bwd", "elementwise", 12.0 * act, 3 * a * act, "fp32")] + tr_b + bwd
    head_f, head_b = linear_ops("head", rows, d, V / tp, p, 1, frozen=frozen)
    if w.objective != "masked":  # a decoder's head has no bias (BERT's decoder has one)
        head_b = [op for op in head_b if not op.name.endswith("bias_grad")]
    fwd, bwd = fwd + head_f, head_b + bwd
    loss = loss_ops(rows, V / tp, p) + loss
    if tp > 1:
        loss += [Op("tp.loss.all_reduce", "communication", 0.0, 3 * s * rows, "all_reduce", kernels=3)]
    return fwd, loss, bwd


def end_parameters(w, split) -> tuple[float, float]:
    """(matrix weights, all parameters) of the ends on this device: the embedding (and its positions,
    token types and norm) on the first stage; the final norm, the head (a tied one's last-stage copy
    where the stages differ), BERT's pooler, next-sentence head and masked-token transform on the last."""
    d, V, tp = w.d_model, w.vocab_size, split.tp
    matmul = total = 0.0
    norm = (1 if w.norm == "rmsnorm" else 2) * d
    if w.patch_size is not None:  # the patch projection (and bias), the class token, the positions; the classifier
        pixels = w.channels * w.patch_size ** 2
        if split.first:
            matmul, total = matmul + pixels * d, total + pixels * d + d + d + w.seq_len * d
        if split.last:
            matmul, total = matmul + d * w.classes, total + d * w.classes + w.classes + norm
        return matmul, total
    if split.first:
        matmul += V * d / tp if w.tied_embeddings and split.last else 0.0
        total += V * d / tp + (w.seq_len * d if w.position == "learned" else 0.0) + w.token_types * d
        total += 2 * d if w.embedding_norm else 0.0
    if split.last:
        head = V * d / tp
        if not (w.tied_embeddings and split.first):  # untied, or the last stage's copy of a tied head
            matmul += head
            total += head
        total += norm if w.final_norm else 0.0
        if w.pooler:
            matmul += d * d + d * NSP_CLASSES
            total += d * d + d + d * NSP_CLASSES + NSP_CLASSES
        if w.objective == "masked":  # the transform (weight, bias, LayerNorm) and the decoder's bias
            matmul += d * d
            total += d * d + d + 2 * d + V / tp
    return matmul, total
