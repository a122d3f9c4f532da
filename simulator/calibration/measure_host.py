"""The host's cost of eager dispatch, timed through PyTorch's CPU backend (``costsim calibrate --host``).

Tiny operations on one-element tensors take almost no arithmetic, so their time per call is what the
host pays to dispatch one: Python's argument parsing, the dispatcher, autograd's bookkeeping, the
allocator. Timed: a forward elementwise op, a forward matrix product (8 x 8), one backward node of
autograd's engine, and the optimizer's per-tensor cost (foreach AdamW over many one-element tensors).
The CUDA driver's own launch is not in these (the CPU backend runs the kernel in place): on a GPU the
per-kernel cost is at least this. Records in the format of ``../shared/calibration/h200/operators.jsonl``
(kind ``launch_overhead``) and kind ``host_dispatch``. Prints nothing, touches no files.
"""
from __future__ import annotations

import time

from ..errors import CostsimError

CALLS = 2000
ROUNDS = 5  # the fastest of several rounds: a busy machine only ever adds time


def torch_module():
    """PyTorch, or one line saying it is needed."""
    try:
        import torch
    except ImportError:
        raise CostsimError("timing eager dispatch needs PyTorch (pip install torch); it is not installed",
                           field="host") from None
    return torch


def _per_call(fn, calls: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t) / calls)
    return best


def measure_host(torch, calls: int = CALLS) -> list[dict]:
    """The host-dispatch records (see the module docstring) measured through ``torch`` on its CPU backend."""
    torch.set_num_threads(1)
    tiny = torch.zeros(1)
    a, b = torch.ones(8, 8), torch.ones(8, 8)
    leaf = torch.ones(1, requires_grad=True)
    chain = 64  # ops per backward pass: one backward node each

    def backward():
        y_of(leaf, chain).backward()

    forward_s = _per_call(lambda: y_of(leaf, chain), max(calls // chain, 1)) / chain
    backward_s = max(_per_call(backward, max(calls // chain, 1)) / chain - forward_s, 0.0)
    params = [torch.zeros(1, requires_grad=True) for _ in range(256)]
    for p in params:
        p.grad = torch.zeros(1)
    opt = torch.optim.AdamW(params, foreach=True)
    optimizer_s = _per_call(opt.step, max(calls // 100, 1)) / len(params)
    env = {"run": "host", "device": "host CPU (PyTorch CPU backend)", "torch": str(torch.__version__)}
    return [
        {"kind": "launch_overhead", **env, "what": "tiny elementwise kernel, eager, back to back (CPU backend: "
                                                   "dispatch only)", "calls": calls,
         "seconds_per_call": _per_call(lambda: tiny.add_(1.0), calls)},
        {"kind": "launch_overhead", **env, "what": "small GEMM 8x8x8, eager, back to back (CPU backend: dispatch "
                                                   "only)", "calls": calls,
         "seconds_per_call": _per_call(lambda: a @ b, calls)},
        {"kind": "host_dispatch", **env, "what": "forward op recorded by autograd", "seconds_per_call": forward_s},
        {"kind": "host_dispatch", **env, "what": "backward node run by autograd's engine",
         "seconds_per_call": backward_s},
        {"kind": "host_dispatch", **env, "what": "optimizer per tensor (foreach AdamW)",
         "seconds_per_call": optimizer_s},
    ]


def y_of(leaf, chain: int):
    """A chain of ``chain`` recorded multiplications (the forward half of the backward timing)."""
    y = leaf
    for _ in range(chain):
        y = y * 1.0
    return y
