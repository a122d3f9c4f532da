"""Microbenchmarks of an NVIDIA GPU through PyTorch, in the record format of
``../shared/calibration/h200/*.jsonl`` (the subset ``measure_gpu.py`` and ``measure_ops.py`` write that
the fit uses): GEMM sweep, copy/read/add bandwidth, launch overhead, and, with pynvml, idle power and
the memory- and compute-bound power regimes from NVML's energy counter.

PyTorch is an optional extra: without it, or without a visible GPU, this raises a CostsimError.
Prints nothing and touches no files.
"""
from __future__ import annotations

import time
from typing import Callable

from ..errors import CostsimError
from ..units import MILLI

Progress = Callable[[str, float], None]


def _torch(smoke: bool):
    try:
        import torch
    except ImportError:
        raise CostsimError("device cuda needs PyTorch (pip install torch); it is not installed",
                           field="device") from None
    if not smoke and not torch.cuda.is_available():
        raise CostsimError("device cuda: PyTorch sees no CUDA GPU on this machine", field="device")
    return torch


def _timeit(torch, fn, reps: int = 10) -> float:
    for _ in range(3):
        fn()
    if not torch.cuda.is_available():  # smoke run on the CPU: wall time
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return sorted(times)[len(times) // 2]
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) * MILLI)
    times.sort()
    return times[len(times) // 2]


def _nvml():
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml, pynvml.nvmlDeviceGetHandleByIndex(0)
    except Exception:  # noqa: BLE001 - NVML is optional: no power rows without it
        return None, None


def _window(torch, nv, handle, fn, seconds: float) -> dict:
    """Call ``fn`` for about ``seconds``; the energy counter gives the window's joules."""
    e0 = nv.nvmlDeviceGetTotalEnergyConsumption(handle)
    t0, calls = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        fn()
        calls += 1
        if calls % 50 == 0:
            _sync(torch)
    _sync(torch)
    wall = time.perf_counter() - t0
    joules = (nv.nvmlDeviceGetTotalEnergyConsumption(handle) - e0) * MILLI
    return {"calls": calls, "seconds": wall, "joules": joules, "mean_watts": joules / wall}


def _sync(torch) -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def measure_cuda(quick: bool = False, progress: Progress | None = None, run: str = "cuda",
                 smoke: bool = False) -> list[dict]:
    """``smoke``: tiny sizes on the CPU, to check this code where no GPU is (as measure_gpu.py --smoke)."""
    torch = _torch(smoke)
    progress = progress or (lambda what, done: None)
    dev = "cpu" if smoke else "cuda"
    if smoke:
        env = {"name": "cpu (smoke run)"}
    else:
        props = torch.cuda.get_device_properties(0)
        env = {"name": props.name, "sms": props.multi_processor_count, "mem_bytes": props.total_memory}
    records = [{"kind": "env", "run": run, **env, "torch": torch.__version__,
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}]
    squares = (64, 128) if smoke else (256, 1024, 4096, 8192) if quick else (256, 512, 1024, 2048, 4096, 8192, 16384)
    big = 256 if smoke else 8192
    points = [(dt, s, s, s) for dt in (torch.bfloat16, torch.float16) for s in squares]
    points += [(torch.bfloat16, m, big, big) for m in ((1, 32, 512) if quick or smoke else (1, 8, 32, 128, 512, 2048))]
    points += [(torch.bfloat16, big, big, k) for k in ((64, 512) if quick or smoke else (64, 128, 256, 512, 1024))]
    for i, (dtype, m, n, k) in enumerate(points):
        a = torch.randn(m, k, device=dev, dtype=dtype)
        b = torch.randn(k, n, device=dev, dtype=dtype)
        t = _timeit(torch, lambda: a @ b)
        flops = 2.0 * m * n * k
        records.append({"kind": "gemm", "run": run, "dtype": str(dtype).replace("torch.", ""), "m": m, "n": n,
                        "k": k, "seconds": t, "flops": flops, "flops_per_s": flops / t})
        progress(f"gemm {m}x{n}x{k}", (i + 1) / (len(points) + 6))
        del a, b
    x = torch.randn(1 << (20 if smoke else 28 if quick else 30), device=dev, dtype=torch.bfloat16)
    y = torch.empty_like(x)
    nbytes = x.numel() * 2
    for kind, fn, moved in (("copy", lambda: y.copy_(x), 2 * nbytes), ("read_reduce", lambda: x.sum(), nbytes),
                            ("elementwise_add", lambda: torch.add(x, y, out=y), 3 * nbytes)):
        t = _timeit(torch, fn, reps=20)
        records.append({"kind": kind, "run": run, "bytes_moved": moved, "seconds": t, "bytes_per_s": moved / t})
    progress("bandwidth", (len(points) + 3) / (len(points) + 6))
    tiny = torch.zeros(1, device=dev)
    _sync(torch)
    t0 = time.perf_counter()
    for _ in range(2000):
        tiny.add_(1.0)
    _sync(torch)
    records.append({"kind": "launch_overhead", "run": run, "what": "tiny elementwise kernel, eager, back to back",
                    "calls": 2000, "seconds_per_call": (time.perf_counter() - t0) / 2000})
    nv, handle = (None, None) if smoke else _nvml()
    if nv is not None:
        seconds = 2.0 if quick else 4.0
        time.sleep(1.0)
        idle = _window(torch, nv, handle, lambda: time.sleep(0.01), seconds)
        records.append({"kind": "idle_power", "run": run, **idle})
        mem = _window(torch, nv, handle, lambda: y.copy_(x), seconds)
        records.append({"kind": "power_regime", "run": run, "regime": "memory-bound (bf16 copy)",
                        **mem, "bytes_per_s": mem["calls"] * 2 * nbytes / mem["seconds"]})
        a = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
        b = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
        comp = _window(torch, nv, handle, lambda: a @ b, seconds)
        records.append({"kind": "power_regime", "run": run, "regime": "compute-bound (bf16 GEMM 8192^3, sustained)",
                        **comp, "flops_per_s": comp["calls"] * 2 * 8192 ** 3 / comp["seconds"]})
    progress("power", 1.0)
    return records
