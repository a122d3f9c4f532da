"""A stack's fusions applied to a step's kernels (the rules and their sources: ``model/stacks.py``).

The transformer's kernels are written as eager PyTorch runs them (``model/transformer.py``); a stack
rewrites them by name: it drops the kernels it folds into others, merges the chains it fuses (the
intermediate tensor neither written nor read back) and changes what a product writes. Everything
is in bytes, FLOPs and kernels; the roofline prices the result.
"""
from __future__ import annotations

from .ops import Op
from .stacks import rules_of

# linears whose input is a norm's output (the norm can write their fp8 input itself)
NORM_FED = ("qkv", "xattn.q", "mla.q", "mla.q_down", "mla.kv_down", "mlp.shared.up", "mlp.dense.up", "head",
            "moe.router")
LOSS_NAMES = ("loss.upcast", "loss.log_softmax", "loss.nll_grad", "loss.log_softmax_bwd", "loss.grad_downcast")
MASTER_BYTES = 4  # the fp32 main gradient a fused weight-gradient product accumulates into


def _dropped(op: Op, rules: frozenset, routed_up: bool) -> bool:
    name = op.name
    if "fused_bias_grad" in rules and name.endswith(".bias_grad"):
        return True
    if "norm_writes_fp8" in rules and name.endswith(".fp8_cast_input"):
        linear = name[: -len(".fp8_cast_input")]
        return linear in NORM_FED or (linear == "mlp.up" and not routed_up)
    if "no_layout_copies" in rules and name in ("attn.out_transpose", "attn.grad_transpose"):
        return True
    if "gradient_accumulation_fusion" in rules and name == "weights.grad_cast_bwd":
        return True
    return False


def _accumulating(op: Op, a: float) -> Op:
    """A weight-gradient product that accumulates into fp32: it reads and writes the fp32 output."""
    mn = op.out_bytes / a
    return op._replace(bytes=op.bytes - op.out_bytes + 2 * MASTER_BYTES * mn, out_bytes=MASTER_BYTES * mn)


def _fused_loss(ops: list[Op], a: float) -> list[Op]:
    """The cross-entropy as two kernels over the low-precision logits (forward; backward writing the gradient)."""
    lsm = next(op for op in ops if op.name == "loss.log_softmax")
    n = lsm.flops / 4.0
    rest = [op for op in ops if op.name not in LOSS_NAMES]
    return [Op("loss.fused_fwd", "loss", 4.0 * n, a * n, "fp32", lsm.count),
            Op("loss.fused_bwd", "loss", 3.0 * n, 2 * a * n, "fp32", lsm.count)] + rest


# (add or merge, the norm op it fuses with, forward?) within a layer: the residual add and the norm that
# reads its sum; in backward, the norm's gradient and the residual merge it feeds
_PAIRS = (("residual1.add", "ln2.fwd"), ("residual2.add", "ln1.fwd"),
          ("residual1.grad_merge", "ln2.bwd"), ("residual2.grad_merge", "ln1.bwd"))
# a decoder layer with cross-attention: the self-attention's sum feeds the cross-attention's norm, whose sum
# feeds the MLP's
_CROSS_PAIRS = (("residual1.add", "lnx.fwd"), ("residualx.add", "ln2.fwd"), ("residual2.add", "ln1.fwd"),
                ("residual1.grad_merge", "lnx.bwd"), ("residualx.grad_merge", "ln2.bwd"),
                ("residual2.grad_merge", "ln1.bwd"))


def _pointwise(ops: list[Op], s: float) -> list[Op]:
    """Each residual add fused with the norm that reads the sum (the norm's read of it saved), each
    residual-gradient merge into the norm backward that produces its input (the merge's write and the
    norm gradient's round trip saved: the fused kernel reads the other gradient and writes the sum)."""
    by_name = {op.name: i for i, op in enumerate(ops)}
    out = list(ops)
    drop = set()
    for merged, norm in _CROSS_PAIRS if "lnx.fwd" in by_name or "lnx.bwd" in by_name else _PAIRS:
        i, j = by_name.get(merged), by_name.get(norm)
        if i is None or j is None or ops[i].count != ops[j].count:
            continue
        m, nrm = ops[i], ops[j]
        elements = m.flops  # one FLOP per element for the add and the merge
        saved = s * elements if merged.endswith(".add") else 2 * s * elements
        out[j] = nrm._replace(name=f"{merged.split('.')[0]}+{nrm.name}", flops=nrm.flops + m.flops,
                              bytes=nrm.bytes + m.bytes - saved - (0 if merged.endswith(".add") else s * elements))
        drop.add(i)
    return [op for k, op in enumerate(out) if k not in drop]


def _epilogue(ops: list[Op], a: float) -> list[Op]:
    """The MLP activation in its neighbours' epilogues: the forward's into the up projection (which also
    stores the pre-activation), the backward's into the down projection's input gradient (which reads
    the pre-activation and writes its gradient): the intermediate's write and read saved."""
    out, drop = list(ops), set()
    index = {op.name: i for i, op in enumerate(ops)}
    for i, op in enumerate(ops):
        base, _, act = op.name.rpartition(".")
        if op.op_class != "elementwise" or not base.startswith("mlp") or act.split("_")[0] not in (
                "gelu", "relu2", "swiglu", "geglu"):
            continue
        host = index.get(f"{base}.down.dgrad" if act.endswith("_bwd") else f"{base}.up.fwd")
        if host is None or ops[host].op_class != "gemm":
            continue
        h = out[host]
        # forward: the activation's read of the product's output saved (the product still stores it, the
        # pre-activation the backward needs); backward: the input gradient's write and its read saved (the
        # product reads the pre-activation and writes its gradient instead). The epilogue's arithmetic
        # runs behind the product's main loop.
        saved = (2.0 if act.endswith("_bwd") else 1.0) * h.out_bytes * h.count
        extra = max(op.bytes * op.count - saved, 0.0) / h.count
        out[host] = h._replace(bytes=h.bytes + extra, out_bytes=h.out_bytes + extra)
        drop.add(i)
    return [op for k, op in enumerate(out) if k not in drop]


def apply(stack: str | None, ops: list[Op], p, routed_up: bool = False) -> list[Op]:
    """``ops`` as ``stack`` runs them (``p``: the execution precision; ``routed_up``: the MLP's up
    projection reads dispatched tokens, not a norm's output)."""
    rules = rules_of(stack)
    if not rules & {"fused_bias_grad", "norm_writes_fp8", "no_layout_copies", "gradient_accumulation_fusion",
                    "fused_cross_entropy", "pointwise_fusion", "activation_epilogue"}:
        return ops
    a, s = p.act_bytes, p.stream_bytes
    out = [op for op in ops if not _dropped(op, rules, routed_up)]
    if "gradient_accumulation_fusion" in rules and p.mixed:
        out = [_accumulating(op, a) if op.name.endswith("wgrad") and op.op_class in ("gemm", "sparse_gemm")
               and op.out_bytes else op for op in out]
    if "fused_cross_entropy" in rules and any(op.name == "loss.log_softmax" for op in out):
        out = _fused_loss(out, a)
    if "pointwise_fusion" in rules:
        out = _pointwise(out, s)
    if "activation_epilogue" in rules:
        out = _epilogue(out, a)
    return out
