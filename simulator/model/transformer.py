"""A decoder-only transformer (GPT style) expanded into the kernels of one training step.

Per layer, as in ``../shared/calibration/measure_gpu.py``: pre-LayerNorm, fused QKV projection, causal
attention (flash: one fused kernel; naive: scores, softmax and context as separate kernels), output
projection, residual add, LayerNorm, MLP (up, GELU, down), residual add. Then a final LayerNorm, the
output head (tied to the token embedding or not) and the cross-entropy loss.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..schema.workload import TransformerWorkload
from . import encdec, ends, fusion, mtp
from .attention import attention_linears, attention_ops
from .ops import Op, cast_op, execution_precision, layernorm_ops, linear_ops, optimizer_ops, tp_comm, weight_cast_ops
from .stacks import has


def parameter_counts(w: TransformerWorkload) -> dict[str, float]:
    """The whole model's parameters: what one device holds when nothing is split."""
    return device_parameters(w, WHOLE)


@dataclass(frozen=True)
class Split:
    """The share of the model one device runs: tensor-parallel degree (with or without sequence
    parallelism), and the layers of its pipeline stage, with or without the embedding and the head."""

    tp: int = 1
    sp: bool = False
    ep: int = 1  # expert parallelism: experts spread over this many data-parallel ranks
    layers: int | None = None  # None: all
    first: bool = True  # holds the embedding
    last: bool = True  # holds the final norm, the head and the loss
    cp: int = 1  # context parallelism: the device holds 1/cp of each sequence's tokens
    recompute: str | None = None  # none, selective or full; None: the workload's activation_recompute
    recompute_layers: int | None = None  # with full: layers of the stage recomputed (None: all)
    cp_a2a: bool = False  # context parallelism as all-to-all (Ulysses) instead of ring attention
    dense: int | None = None  # of its layers, how many are of the first kind; None: the workload's if it holds all

    def dense_count(self, w: TransformerWorkload) -> int:
        """How many of the split's layers are of the first kind (:func:`first_layers`: a mixture of experts'
        dense layers, an encoder-decoder's encoder layers)."""
        if self.dense is not None:
            return self.dense
        return first_layers(w) if self.layers is None else 0

    def recompute_mode(self, w: TransformerWorkload) -> tuple[str, float]:
        """(none, selective or full; layers of the stage that full recompute covers)."""
        mode = self.recompute or ("full" if w.training.activation_recompute else "none")
        L = self.layers or w.layers
        return mode, (min(self.recompute_layers or L, L) if mode == "full" else 0)


WHOLE = Split()


def first_layers(w: TransformerWorkload) -> int:
    """The first layers that differ from the rest: a mixture of experts' dense layers, an encoder-decoder's
    encoder (the pipeline splits the layers in order, so they fall in the first stages)."""
    return w.dense_layers if w.experts > 1 else w.encoder_layers


# FLOPs per output element of the MLP's activation, forward and backward: GELU's tanh approximation; ReLU
# (a compare; its backward a mask); the squared ReLU; SiLU(gate) x up and GELU(gate) x up of the gated MLPs
# (the gate's activation and the product)
ACTIVATION_FLOPS = {"gelu": (8.0, 12.0), "relu": (1.0, 1.0), "relu2": (2.0, 3.0), "swiglu": (6.0, 10.0),
                    "geglu": (9.0, 14.0)}


def _activation_ops(w: TransformerWorkload, name: str, elements: float, a: float, count: float):
    """The MLP's activation on ``elements`` outputs (a gated one reads the gate and the up projection)."""
    g = 2 if w.gated else 1
    fwd_flops, bwd_flops = ACTIVATION_FLOPS[w.mlp]
    return ([Op(f"{name}.{w.mlp}", "elementwise", fwd_flops * elements, (g + 1) * a * elements, "fp32", count)],
            [Op(f"{name}.{w.mlp}_bwd", "elementwise", bwd_flops * elements, (2 * g + 1) * a * elements, "fp32",
                count)])


def layer_ops(w: TransformerWorkload, batch: float, p, split: Split = WHOLE) -> tuple[list[Op], list[Op]]:
    """Forward and backward kernels of the layers of a stage on one device (:func:`block_ops`); an
    encoder-decoder's encoder layers first, then its decoder layers with their cross-attention."""
    if not w.encoder_layers:
        return block_ops(w, batch, p, split)
    L, n_enc = split.layers or w.layers, split.dense_count(w)
    fwd: list[Op] = []
    bwd: list[Op] = []
    for view, n, inputs in ((encdec.encoder(w), n_enc, None), (encdec.decoder(w), L - n_enc, w.seq_len)):
        if n:
            f, b = block_ops(view, batch, p, replace(split, layers=n, dense=0), inputs)
            fwd, bwd = fwd + f, b + bwd
    return fwd, bwd


def block_ops(w: TransformerWorkload, batch: float, p, split: Split = WHOLE, cross: int | None = None
              ) -> tuple[list[Op], list[Op]]:
    """Forward and backward kernels of one transformer block on one device, repeated for the layers of
    its stage (``cross``: a decoder's block with cross-attention to that many encoder tokens). Matrix
    products and attention are split over ``tp``; norms, residuals and casts run on the whole hidden
    state, or on 1/tp of it with sequence parallelism. Communication ops (class
    ``communication``, the collective in ``dtype``) sit where Megatron exchanges the hidden state."""
    L = split.layers or w.layers
    tp = split.tp
    d, f, S = w.d_model, w.ffn_dim, w.seq_len
    T = batch * S / split.cp
    e = T * d
    eh = e / tp if split.sp else e  # elements each device handles outside the split matrix products
    a, s = p.act_bytes, p.stream_bytes
    fwd: list[Op] = []
    bwd: list[Op] = []

    def add(pair):
        fwd.extend(pair[0])
        bwd[:0] = pair[1]  # backward runs in reverse order

    comm = tp > 1
    add(layernorm_ops("ln1", eh, p, L))
    add(([c for c in [cast_op("ln1.out_cast", eh, s, a, L)] if c],
         [c for c in [cast_op("ln1.grad_cast", eh, a, s, L)] if c]))
    v, frozen = w.variant, not w.variant.trains_base
    ranks = block_ranks(w)
    qd, kd, vd, od = w.attention_dims()
    qkv = qd + kd + vd  # the queries, keys and values of a token (grouped-query attention: fewer keys)
    for name, d_in, d_out, _ in attention_linears(w, tp)[:-1]:  # all but the output projection
        add(linear_ops(name, T, d_in, d_out, p, L, variant=_ranked(v, ranks[name])))
        if name in ("mla.q_down", "mla.kv_down"):  # latent attention normalises its latents
            add(layernorm_ops(f"{name}.norm", T * (w.q_lora_rank if name == "mla.q_down" else w.kv_lora_rank), p, L))
    if w.position == "rope":  # rotary positions: q and k rotated in every layer (and their gradients)
        qk = ((w.heads * w.qk_rope_head_dim / tp + w.qk_rope_head_dim) if w.mla else (qd + kd) / tp) * T
        add(([Op("rope.fwd", "elementwise", 3.0 * qk, 2 * a * qk, "fp32", L)],
             [Op("rope.bwd", "elementwise", 3.0 * qk, 2 * a * qk, "fp32", L)]))
    add(attention_ops(w, batch, p, L, tp, split.cp, not split.cp_a2a))
    if split.cp > 1 and split.cp_a2a:  # Ulysses: q, k, v regrouped by heads before attention, the output after
        add(([Op("ulysses.qkv.all_to_all", "communication", 0.0, a * T * qkv / tp, "all_to_all", L),
              Op("ulysses.out.all_to_all", "communication", 0.0, a * T * od / tp, "all_to_all", L)],
             [Op("ulysses.out_grad.all_to_all", "communication", 0.0, a * T * od / tp, "all_to_all", L),
              Op("ulysses.qkv_grad.all_to_all", "communication", 0.0, a * T * qkv / tp, "all_to_all", L)]))
    elif split.cp > 1:  # ring attention: each rank's keys and values pass round the cp ranks (gradients back)
        kv = a * T * (kd + vd) / tp
        add(([Op("cp.kv.ring", "communication", 0.0, kv, "ring_exchange", L)],
             [Op("cp.kv_grad.ring", "communication", 0.0, 2 * kv, "ring_exchange", L)]))
    # (b, h, S, dh) -> (b, S, d): a transpose copy before the projection, and its inverse in backward
    add(([Op("attn.out_transpose", "elementwise", 0.0, 2 * a * T * od / tp, "fp32", L)],
         [Op("attn.grad_transpose", "elementwise", 0.0, 2 * a * T * od / tp, "fp32", L)]))
    add(linear_ops("proj", T, od / tp, d, p, L, variant=_ranked(v, ranks["proj"])))
    if comm:
        add((tp_comm("tp.attn_out", a * e, L, split.sp), tp_comm("tp.attn_in_grad", a * e, L, split.sp)))
    add(([Op("residual1.add", "elementwise", eh, (s + a + s) * eh, "fp32", L)],
         [Op("residual1.grad_merge", "elementwise", eh, 3 * s * eh, "fp32", L)] +
         [c for c in [cast_op("residual1.grad_cast", eh, s, a, L)] if c]))
    if cross is not None:
        add(encdec.cross_block(w, batch, p, split, L, cross, lambda i, o: _ranked(v, _rank(v, i, o))))
    add(layernorm_ops("ln2", eh, p, L))
    add(([c for c in [cast_op("ln2.out_cast", eh, s, a, L)] if c],
         [c for c in [cast_op("ln2.grad_cast", eh, a, s, L)] if c]))
    E, k = w.experts, w.experts_per_token
    n_dense = split.dense_count(w) if E > 1 else 0
    Lm = L - n_dense  # layers running the routed experts (a dense model: all, its MLP)
    g = 2 if w.gated else 1  # a gated MLP's gate and up projections run as one product of twice the width
    if E > 1 and Lm:  # router, then tokens dispatched to their k experts (all-to-all over the expert group)
        add(linear_ops("moe.router", T, d, E, p, Lm, frozen=frozen))
        dispatch = a * T * k * d
        add(([Op("ep.dispatch.all_to_all", "communication", 0.0, dispatch, "all_to_all", Lm)],
             [Op("ep.dispatch_grad.all_to_all", "communication", 0.0, dispatch, "all_to_all", Lm)]))
    if Lm:
        # each device runs its E/ep experts on the T*k token slots routed to them; the busiest expert, with
        # expert_imbalance times the mean, sets the pace
        local_experts = max(E // split.ep, 1)
        f = w.expert_dim
        slots = T * k * w.expert_imbalance
        rows = slots / local_experts
        add(linear_ops("mlp.up", rows, d, g * f / tp, p, Lm * local_experts, variant=_ranked(v, ranks["mlp.up"])))
        add(_activation_ops(w, "mlp", slots * f / tp, a, Lm))
        add(linear_ops("mlp.down", rows, f / tp, d, p, Lm * local_experts, variant=_ranked(v, ranks["mlp.down"])))
        if w.shared_experts:  # DeepSeekMoE's shared experts: every token, no dispatch, split over tp like a dense MLP
            fs = w.shared_experts * f
            add(linear_ops("mlp.shared.up", T, d, g * fs / tp, p, Lm, variant=_ranked(v, ranks["mlp.shared.up"])))
            add(_activation_ops(w, "mlp.shared", T * fs / tp, a, Lm))
            add(linear_ops("mlp.shared.down", T, fs / tp, d, p, Lm, variant=_ranked(v, ranks["mlp.shared.down"])))
    if E > 1 and Lm:
        add(([Op("ep.combine.all_to_all", "communication", 0.0, dispatch, "all_to_all", Lm)],
             [Op("ep.combine_grad.all_to_all", "communication", 0.0, dispatch, "all_to_all", Lm)]))
    if n_dense:  # the first layers of a mixture of experts keep a dense MLP of d_ff
        dense_ranks = block_ranks(w, dense_layer=True)
        fd = w.ffn_dim
        add(linear_ops("mlp.dense.up", T, d, g * fd / tp, p, n_dense, variant=_ranked(v, dense_ranks["mlp.dense.up"])))
        add(_activation_ops(w, "mlp.dense", T * fd / tp, a, n_dense))
        add(linear_ops("mlp.dense.down", T, fd / tp, d, p, n_dense,
                       variant=_ranked(v, dense_ranks["mlp.dense.down"])))
    if comm:
        add((tp_comm("tp.mlp_out", a * e, L, split.sp), tp_comm("tp.mlp_in_grad", a * e, L, split.sp)))
    add(([Op("residual2.add", "elementwise", eh, (s + a + s) * eh, "fp32", L)],
         [Op("residual2.grad_merge", "elementwise", eh, 3 * s * eh, "fp32", L)] +
         [c for c in [cast_op("residual2.grad_cast", eh, s, a, L)] if c]))
    if w.linear_bias != "all":  # bias-free linears (Llama) have no bias gradient; Qwen2 biases only q, k, v
        fwd, bwd = fwd, [op for op in bwd if not (op.name.endswith(".bias_grad") and not _biased(w, op.name))]
    routed = E > 1 and Lm > 0
    return fusion.apply(w.execution, fwd, p, routed), fusion.apply(w.execution, bwd, p, routed)


def _biased(w: TransformerWorkload, name: str) -> bool:
    """Whether the linear that op ``name`` belongs to has a bias (``linear_bias``)."""
    return w.linear_bias == "all" or (w.linear_bias == "qkv" and name.split(".")[0] in ("qkv", "mla"))


def named_linears(w: TransformerWorkload, split: Split = WHOLE, dense_layer: bool = False
                  ) -> list[tuple[str, float, float, float]]:
    """(name, d_in, d_out, copies per layer) of the linear layers of one block on one device: a mixture of
    experts' routed (and shared) experts, or with ``dense_layer`` its dense MLP; an encoder-decoder's
    decoder layer, or with ``dense_layer`` its encoder layer."""
    d, tp = w.d_model, split.tp
    g = 2 if w.gated else 1  # a gated MLP's gate and up projections as one matrix of twice the width
    out = attention_linears(w, tp)
    if w.encoder_layers and not dense_layer:  # a decoder layer's cross-attention
        out = out + encdec.cross_linears(w, tp)
    if dense_layer and w.experts > 1:
        return out + [("mlp.dense.up", d, g * w.ffn_dim / tp, 1), ("mlp.dense.down", w.ffn_dim / tp, d, 1)]
    f, local_experts = w.expert_dim, max(w.experts // split.ep, 1)
    out += [("mlp.up", d, g * f / tp, local_experts), ("mlp.down", f / tp, d, local_experts)]
    if w.shared_experts:  # the shared experts' MLP, as wide as all of them
        out += [("mlp.shared.up", d, g * w.shared_experts * f / tp, 1), ("mlp.shared.down", w.shared_experts * f / tp,
                                                                            d, 1)]
    return out


def block_linears(w: TransformerWorkload, split: Split = WHOLE, dense_layer: bool = False
                  ) -> list[tuple[float, float, float]]:
    """(d_in, d_out, copies per layer) of the linear layers of one block on one device: the ones
    efficiency strategies prune, factorise or adapt (the MoE router is not among them)."""
    return [(i, o, c) for _, i, o, c in named_linears(w, split, dense_layer)]


def block_ranks(w: TransformerWorkload, dense_layer: bool = False) -> dict[str, int]:
    """The factorisation rank of each block linear, by name, from the whole layer's widths: a
    tensor-parallel split shards the factors, it does not change the rank (0: not factorised)."""
    return {n: _rank(w.variant, i, o) for n, i, o, _ in named_linears(w, dense_layer=dense_layer)}


def _rank(v, d_in: float, d_out: float) -> int:
    """The factorisation rank of a d_in x d_out linear under variant ``v`` (0: not factorised)."""
    return v.rank(d_in, d_out) if v.factorised else 0


def _ranked(v, rank: int):
    """The variant with the layer's absolute rank (the shard's widths would give another)."""
    return v.model_copy(update={"low_rank_fraction": None, "low_rank": rank}) if v.factorised else v


def device_parameters(w: TransformerWorkload, split: Split = WHOLE) -> dict[str, float]:
    """Parameters one device holds under ``split`` (before any ZeRO sharding across data parallelism):
    ``total``; ``matmul``, the trained weights of the matrix products (cast to the low-precision type
    each step); ``trainable``, what gets gradients and optimizer states; ``frozen``, what is held in
    the low-precision type only (LoRA's base model, a forward-only model); ``sparse``, the weights
    stored in a sparse format; ``expert``, the trained weights of its routed experts (replicated over
    dp / ep ranks only)."""
    L = split.layers or w.layers
    v = w.variant
    n_dense = split.dense_count(w) if w.experts > 1 or w.encoder_layers else 0
    matmul = total = adapters = dense = expert = 0.0
    for layers, dense_layer in ((L - n_dense, False), (n_dense, True)):
        if layers:
            m, t, ad, full, ex = _layer_parameters(w, split, dense_layer)
            matmul, total, adapters, dense, expert = (matmul + layers * m, total + layers * t, adapters + layers * ad,
                                                      dense + layers * full, expert + layers * ex)
    end_matmul, end_total = ends.end_parameters(w, split)
    matmul, total = matmul + end_matmul, total + end_total + encdec.extra_parameters(w, split)
    own_mtp = 0.0
    if split.last and w.mtp_layers:  # the multi-token prediction modules (and an untied embedding's copy)
        extra = mtp.mtp_parameters(w, split, _layer_parameters(w, split, False))
        matmul, total, expert, own_mtp = (matmul + extra["matmul"], total + extra["total"], expert + extra["expert"],
                                          extra["own"])
    out = {"matmul": matmul, "total": total + adapters, "trainable": total, "frozen": 0.0,
           "sparse": dense if v.sparsity else 0.0, "expert": expert, "mtp": own_mtp}
    if not v.trains_base:  # the base model is frozen: only LoRA's adapters train
        out.update(matmul=adapters, trainable=adapters, frozen=total, expert=0.0)
    return out


def _layer_parameters(w: TransformerWorkload, split: Split, dense_layer: bool) -> tuple[float, ...]:
    """One layer's (matrix weights, all parameters, LoRA adapters, dense weights of its linears) on one
    device: its linears (factorised where the variant says), the router, a bias per output and the norms."""
    d, v = w.d_model, w.variant
    named = named_linears(w, split, dense_layer)
    ranks = block_ranks(w, dense_layer)
    full = sum(c * i * o for _, i, o, c in named)
    block = sum(c * ranks[n] * (i + o) for n, i, o, c in named) if v.factorised else full
    adapters = sum(c * v.lora_rank * (i + o) for _, i, o, c in named) if v.lora_rank else 0.0
    router = d * w.experts if w.experts > 1 and not dense_layer else 0
    norms = (2 if w.norm == "rmsnorm" else 4) * d  # two norms a layer, each a weight (and a bias with LayerNorm)
    if w.encoder_layers and not dense_layer:  # a decoder layer's third, before its cross-attention
        norms = norms * 3 // 2
    if w.mla:  # and latent attention's norms of its latents
        norms += (w.q_lora_rank or 0) + w.kv_lora_rank
    biases = sum(c * o for n, _, o, c in named if _biased(w, n))
    routed = [(n, i, o, c) for n, i, o, c in named if n in ("mlp.up", "mlp.down")] if w.experts > 1 else []
    expert = sum(c * ((ranks[n] * (i + o)) if v.factorised else i * o) + c * o for n, i, o, c in routed)
    return block + router, block + router + biases + norms, adapters, full, expert


def stage_blocks(w: TransformerWorkload, batch: float, split: Split = WHOLE) -> dict[str, list[Op]]:
    """The kernels of one pipeline stage's pass in blocks, as ``step_ops`` assembles them: ``layer_fwd``
    and ``layer_bwd`` (every op ``count``-ed over the stage's layers), ``first_fwd`` and ``first_bwd``
    (the embedding, on the first stage), ``last_fwd``, ``loss`` and ``last_bwd`` (final norm, head and
    cross-entropy, on the last stage), ``casts`` (the low-precision weight copies: forward, then
    backward), and ``optimizer`` (once per step)."""
    p = execution_precision(w.training.precision, w.execution)
    T = batch * w.seq_len / split.cp
    tp = split.tp
    params = device_parameters(w, split)
    layer_fwd, layer_bwd = layer_ops(w, batch, p, split)
    frozen = not w.variant.trains_base
    Tt = batch * w.target_len if w.encoder_layers else T  # an encoder-decoder's head runs on the targets
    looked_up = T + (Tt if w.encoder_layers else 0.0)  # an encoder-decoder embeds its inputs and its targets
    fwd, bwd = ends.embedding_ops(w, looked_up, p, split, frozen) if split.first else ([], [])
    if split.first:
        more = encdec.first_stage_ops(w, batch, p, split)
        fwd, bwd = fwd + more[0], more[1] + bwd
    head_fwd, loss, head_bwd = ends.head_ops(w, batch, Tt, p, split, frozen) if split.last else ([], [], [])
    ex = w.execution
    extra = ([], [], [])
    if split.last and w.mtp_layers:
        one = Split(tp=tp, sp=split.sp, ep=split.ep, layers=1, first=False, last=False, cp=split.cp,
                    cp_a2a=split.cp_a2a, dense=0)
        extra = mtp.mtp_ops(w, batch, p, split, layer_ops(w, batch, p, one), lambda ops: fusion.apply(ex, ops, p))
    casts = fusion.apply(ex, weight_cast_ops(params["matmul"], p), p)
    optimizer = optimizer_ops(params["trainable"], w.training.optimizer)
    if has(ex, "gradient_clipping"):  # the global gradient norm (and fp16's inf/nan check): reads of the fp32 gradients
        reads = 2 if w.training.precision == "fp16_mixed" else 1
        optimizer += [Op("optimizer.grad_norm", "optimizer", 2.0 * reads * params["trainable"],
                         reads * p.master_bytes * params["trainable"], "fp32", kernels=reads)]
    if has(ex, "weights_cast_once"):  # the low-precision weights refreshed once per step, after the optimizer
        optimizer += [op for op in casts if op.name == "weights.cast_fwd"]
        casts = [op for op in casts if op.name != "weights.cast_fwd"]
    return {"first_fwd": fusion.apply(ex, fwd, p), "layer_fwd": layer_fwd,
            "last_fwd": fusion.apply(ex, head_fwd, p) + extra[0], "loss": fusion.apply(ex, loss, p) + extra[1],
            "last_bwd": extra[2] + fusion.apply(ex, head_bwd, p), "layer_bwd": layer_bwd,
            "first_bwd": fusion.apply(ex, bwd, p), "casts": casts, "optimizer": optimizer}


def recompute_ops(w: TransformerWorkload, split: Split, layer_fwd: list[Op]) -> list[Op]:
    """What the stage's recompute runs before its backward: full, the ``covered`` layers' forward again;
    selective with naive attention, the attention core (flash attention recomputes it anyway)."""
    mode, covered = split.recompute_mode(w)
    L = split.layers or w.layers
    if mode == "full":
        return [op._replace(name=_recomputed(op.name), count=op.count if covered == L else op.count * covered / L)
                for op in layer_fwd]
    if mode == "selective" and w.attention == "naive":
        return [op._replace(name=_recomputed(op.name)) for op in layer_fwd if op.name in SELECTIVE_OPS]
    return []


SELECTIVE_OPS = ("attn.scores", "attn.softmax", "attn.context", "xattn.scores", "xattn.softmax", "xattn.context")


def step_ops(w: TransformerWorkload, batch: float, optimizer: str | None = None,
             split: Split = WHOLE) -> dict[str, list[Op]]:
    """All kernels of one training step on ``batch`` sequences on one device, by phase."""
    b = stage_blocks(w, batch, split)
    if w.variant.forward_only:  # a frozen model in the low-precision type: no casts, no backward
        return {"forward": b["first_fwd"] + b["layer_fwd"] + b["last_fwd"], "loss": [], "backward": [],
                "optimizer": []}
    casts = b["casts"]
    cast_fwd = [op for op in casts if op.name == "weights.cast_fwd"]
    phases = {"forward": b["first_fwd"] + b["layer_fwd"] + b["last_fwd"] + cast_fwd, "loss": b["loss"],
              "backward": b["last_bwd"] + b["layer_bwd"] + b["first_bwd"] + [op for op in casts if op not in cast_fwd]}
    recompute = recompute_ops(w, split, b["layer_fwd"])
    mode = split.recompute_mode(w)[0]
    if mode == "full" or (mode == "selective" and w.attention == "naive"):
        phases["recompute"] = recompute
    params = device_parameters(w, split)
    phases["optimizer"] = b["optimizer"]
    if optimizer and optimizer != w.training.optimizer:
        phases["optimizer"] = optimizer_ops(params["trainable"], optimizer) + b["optimizer"][1:]
    return phases


def _recomputed(name: str) -> str:
    return name.replace(".fwd", ".recompute") if ".fwd" in name else name + ".recompute"
