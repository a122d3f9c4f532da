"""The measurement cases a calibration fits on, built from measurement records.

Each microbenchmark record (dicts with a ``kind``, in the format of ``../shared/calibration/h200/*.jsonl``)
becomes a *case*: the kernels it runs, built with the same op builders that price training steps, and
the time measured. A case's predicted time (:func:`predict`) is a per-session timing floor (the host
time between two CUDA events around one eager call, which a training step does not pay: its kernels
queue up) plus the sum of its kernels' roofline times.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..model.cnn import conv_ops, implicit_gemm
from ..model.ops import PRECISIONS, Op, gemm, layernorm_ops, linear_ops, loss_ops, optimizer_ops
from ..model.roofline import price_ops
from ..schema.hardware import ClassicalProfile
from ..schema.workload import Variant

A = PRECISIONS["bf16_mixed"]  # the precision of the layernorm and loss microbenchmarks (autocast)
GEMM_DTYPES = {"bfloat16": "bf16", "float16": "fp16"}
VECTOR_DTYPES = {"float32": "fp32", "float64": "fp64"}
STREAM_KINDS = ("copy", "read_reduce", "elementwise_add", "triad")


@dataclass(frozen=True)
class Case:
    """One microbenchmark as the model sees it.

    Attributes:
        what: the measurement, in words (``gemm bfloat16 4096x4096x4096``).
        group: the curve or class it belongs to (``gemm``, ``memory``, ``attention``, ``conv``,
            ``sparse_gemm``, ``normalization``, ``loss``, ``embedding``, ``optimizer``).
        session: the measurement run it was taken in (the record's ``run``), whose timing floor it pays.
        ops: the kernels it runs.
        measured_s: the time measured, seconds.
    """

    what: str
    group: str
    session: str
    ops: tuple[Op, ...]
    measured_s: float


def of_kind(records, kind: str) -> list[dict]:
    """The records of one ``kind``."""
    return [r for r in records if r.get("kind") == kind]


def gemm_cases(records) -> list[Case]:
    """The GEMM sweep: the matrix-unit types (bf16, fp16) where measured, else fp32 and fp64 (a CPU)."""
    rows = [r for r in of_kind(records, "gemm") if r.get("dtype") in GEMM_DTYPES]
    if not rows:
        rows = [r for r in of_kind(records, "gemm") if r.get("dtype") in VECTOR_DTYPES]
    out = []
    for r in rows:
        dt = GEMM_DTYPES.get(r["dtype"]) or VECTOR_DTYPES[r["dtype"]]
        width = 2 if dt in ("bf16", "fp16") else (4 if dt == "fp32" else 8)
        op = gemm("gemm", r["m"], r["n"], r["k"], width, width, dt)
        out.append(Case(f"gemm {r['dtype']} {r['m']}x{r['n']}x{r['k']}", "gemm", r["run"], (op,), r["seconds"]))
    return out


SPARSE_DTYPES = {"float16": "fp16", "bfloat16": "bf16", "torch.float16": "fp16", "torch.bfloat16": "bf16"}


def sparse_op(m: float, n: float, k: float, dtype: str) -> Op:
    """A 2:4-sparse weight (m x k) times a dense input (k x n): the forward product of a pruned linear."""

    fwd, _ = linear_ops("sparse", n, k, m, PRECISIONS[f"{dtype}_mixed"], 1.0, input_grad=False,
                        variant=Variant(sparsity="2:4", density_fraction=0.5), frozen=True)
    return fwd[0]


def sparse_cases(records, profile: ClassicalProfile) -> list[Case]:
    """The 2:4 rows: sparse-over-dense ratios measured back to back on the same device state, applied
    to the model's own dense time. The target is therefore free of the session's clock state, and a
    case's time error is exactly its speedup error."""
    out = []
    for r in of_kind(records, "sparse_2_4"):
        dt = SPARSE_DTYPES[r["dtype"]]
        dense = gemm("gemm", r["m"], r["n"], r["k"], 2, 2, dt)
        target = predict(Case("", "", "", (dense,), 0.0), profile, {}) * r["sparse_seconds"] / r["dense_seconds"]
        out.append(Case(f"2:4 {dt} {r['m']}x{r['n']}x{r['k']}", "sparse_gemm", r["run"],
                        (sparse_op(r["m"], r["n"], r["k"], dt),), target))
    return out


def stream_cases(records) -> list[Case]:
    """Single streaming kernels for the memory curve's knee: the GPU script's single-kernel forward
    passes (GELU reads and writes; x + x reads its one input once), else the stream sweep's rows."""
    per_elem = {"gelu": 4, "gelu_4x": 4, "residual_add": 4}
    out = []
    for r in of_kind(records, "pointwise"):
        if r["op"] in per_elem:
            op = Op(r["op"], "elementwise", 0.0, per_elem[r["op"]] * r["elements"], "fp32")
            out.append(Case(f"{r['op']} fwd {r['elements']}", "memory", r["run"], (op,), r["fwd_seconds"]))
    if not out:  # sizes within 64x of the largest: smaller ones sit in caches, faster than memory
        for k in STREAM_KINDS:
            rows = of_kind(records, k)
            largest = max((r["bytes_moved"] for r in rows), default=0)
            for r in (r for r in rows if r["bytes_moved"] * 64 >= largest):
                op = Op(k, "elementwise", 0.0, r["bytes_moved"], "fp32")
                out.append(Case(f"{k} {r['bytes_moved']:.3g} B", "memory", r["run"], (op,), r["seconds"]))
    return out


def streaming_ceiling(records) -> list[float]:
    """Bytes per second of the largest streaming measurement of each kind (past every cache)."""
    rates = []
    for k in STREAM_KINDS:
        rows = of_kind(records, k)
        if rows:
            largest = max(r["bytes_moved"] for r in rows)
            rates += [r["bytes_per_s"] for r in rows if r["bytes_moved"] == largest]
    rates += [r["bytes_per_s"] for r in of_kind(records, "power_regime") if r.get("bytes_per_s")]
    return rates


def attention_cases(records) -> list[Case]:
    """Flash attention forward, and forward plus backward (three backward kernels), per measured shape."""
    out = []
    for r in of_kind(records, "attention"):
        f = r["fwd_flops"]
        tokens_d = r["batch"] * r["seq"] * r["heads"] * r["head_dim"]
        scores = r["batch"] * r["heads"] * r["seq"] ** 2 / 2
        fwd = Op("flash_fwd", "attention", f, 4 * 2 * tokens_d, "bf16", scores=scores)
        bwd = Op("flash_bwd", "attention_backward", 2.5 * f, 8 * 2 * tokens_d, "bf16", kernels=3, scores=scores)
        tag = f"attention b{r['batch']} h{r['heads']} s{r['seq']} d{r['head_dim']}"
        out.append(Case(tag + " fwd", "attention", r["run"], (fwd,), r["fwd_seconds"]))
        out.append(Case(tag + " fwd+bwd", "attention", r["run"], (fwd, bwd), r["fwd_bwd_seconds"]))
    return out


def conv_cases(records) -> list[Case]:
    """Convolutions forward, and forward plus backward (data and weight gradients), per measured shape,
    built as training prices them (``model.cnn.conv_ops``, eager PyTorch: heuristic kernel picks, a
    3-channel stem on the vector units). The benchmark's input requires its gradient and its backward
    runs again and again, so each backward also adds dx into the input's accumulated gradient (a read of
    both and a write: as LayerNorm's cases); the weight's accumulation is negligible."""
    out = []
    for r in of_kind(records, "conv2d"):
        n, ci, co, hw, k, s = r["batch"], r["c_in"], r["c_out"], r["hw_in"], r["kernel"], r["stride"]
        fwd, bwd = conv_ops("conv", n, ci, co, hw, k, s, A.act_bytes, "bf16", None)
        accumulate = Op("grad_accumulate", "elementwise", 0.0, 3 * A.act_bytes * n * ci * hw * hw, "fp32")
        tag = f"conv {ci}->{co} {hw}px k{k}"
        out.append(Case(tag + " fwd", "conv", r["run"], (fwd,), r["fwd_seconds"]))
        out.append(Case(tag + " fwd+bwd", "conv", r["run"], (fwd, *bwd, accumulate), r["fwd_bwd_seconds"]))
    for r in of_kind(records, "conv2d_kernel"):  # one direction, the library's fastest algorithm (DeepBench)
        dt = GEMM_DTYPES.get(r["dtype"]) or VECTOR_DTYPES[r["dtype"]]
        fwd, (dgrad, wgrad) = implicit_gemm("conv", r["batch"], r["c_in"], r["c_out"], r["in_pixels"],
                                            r["out_pixels"], r["taps"], r["element_bytes"], dt, autotuned=True)
        op = {"fwd": fwd, "dgrad": dgrad, "wgrad": wgrad}[r["direction"]]
        out.append(Case(f"conv {r['direction']} {r['shape']}", "conv", r["run"], (op,), r["seconds"]))
    return out


def memory_class_cases(records) -> list[Case]:
    """LayerNorm under autocast, cross-entropy on upcast logits, embedding, optimizer steps."""
    out = []
    for r in of_kind(records, "pointwise"):
        if not r["op"].startswith("layernorm"):
            continue
        e = r["elements"]
        fwd, bwd = layernorm_ops("ln", e, A, 1)
        cast_in = Op("cast_in", "elementwise", 0.0, 6 * e, "fp32")
        cast_back = Op("grad_cast", "elementwise", 0.0, 6 * e, "fp32")
        accumulate = Op("grad_accumulate", "elementwise", 0.0, 6 * e, "fp32")  # x.grad += (a leaf)
        out.append(Case(f"layernorm fwd {e}", "normalization", r["run"], (cast_in, *fwd), r["fwd_seconds"]))
        out.append(Case(f"layernorm fwd+bwd {e}", "normalization", r["run"],
                        (cast_in, *fwd, *bwd, cast_back, accumulate), r["fwd_bwd_seconds"]))
    for r in of_kind(records, "loss"):
        ops = loss_ops(r["tokens"], r["vocab"], A)
        n = r["tokens"] * r["vocab"]
        fwd = tuple(op for op in ops if op.name in ("loss.upcast", "loss.log_softmax"))
        accumulate = Op("grad_accumulate", "elementwise", 0.0, 6 * n, "fp32")
        out.append(Case(f"loss fwd {r['tokens']}x{r['vocab']}", "loss", r["run"], fwd, r["fwd_seconds"]))
        out.append(Case(f"loss fwd+bwd {r['tokens']}x{r['vocab']}", "loss", r["run"], (*ops, accumulate),
                        r["fwd_bwd_seconds"]))
    for r in of_kind(records, "embedding"):
        t, v, d = r["tokens"], r["vocab"], r["d"]
        ops = (Op("embedding.lookup", "embedding", 0.0, 4 * (2 * t * d), "fp32"),
               Op("embedding.grad", "embedding", 0.0, 4 * v * d + 3 * 4 * t * d + 8.0 * t, "fp32", kernels=4),
               Op("grad_accumulate", "embedding", 0.0, 3 * 4 * v * d, "fp32"))
        out.append(Case(f"embedding {t}x{v}x{d}", "embedding", r["run"], ops, r["fwd_bwd_seconds"]))
    for r in of_kind(records, "optimizer"):
        name = {"adamw_fused": "adamw", "sgd_momentum": "sgd_momentum"}.get(r["op"])
        if name:
            out.append(Case(f"{r['op']} {r['params']:.3g}", "optimizer", r["run"],
                            tuple(optimizer_ops(r["params"], name)), r["seconds"]))
    return out


def predict(case: Case, profile: ClassicalProfile, floors: dict[str, float]) -> float:
    """A case's predicted time, seconds: its session's timing floor (``floors``, seconds; 0 where
    absent) plus its kernels' roofline times on ``profile``."""
    costs, _ = price_ops(list(case.ops), profile)
    return floors.get(case.session, 0.0) + math.fsum(c.total_time_s for c in costs)
