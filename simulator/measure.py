"""Microbenchmarks of this machine's CPU through numpy (and its BLAS), in the record format of
``../shared/calibration/h200/*.jsonl``: a GEMM sweep over sizes and data types, streaming bandwidth
(copy, read, triad) over sizes past the caches, and the cost of one tiny numpy call.

Prints nothing and touches no files: progress goes to a callback, random data comes from the
``numpy.random.Generator`` passed in. Times are medians over repetitions after a warm-up.
"""
from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

Progress = Callable[[str, float], None]  # (what was just measured, fraction of the plan done)


@dataclass(frozen=True)
class Plan:
    """What to measure. ``quick`` keeps the whole run under 20 s on a 2-core machine."""

    gemm_squares: tuple[int, ...]
    gemm_skinny_m: tuple[int, ...]
    gemm_big: int
    gemm_dtypes: tuple[str, ...]
    stream_mib: tuple[int, ...]
    reps: int
    budget_s: float  # per GEMM point: stop repeating once this is spent

    @staticmethod
    def default(quick: bool = False) -> "Plan":
        if quick:
            return Plan((64, 128, 256, 512, 1024), (1, 16, 128), 1024, ("float32", "float64"),
                        (1, 16, 64, 256), 5, 0.4)
        return Plan((64, 128, 256, 384, 512, 768, 1024, 1536, 2048), (1, 4, 16, 64, 256, 1024), 2048,
                    ("float32", "float64"), (1, 4, 16, 64, 256, 512), 7, 1.5)


def _median_time(fn: Callable[[], object], reps: int, budget_s: float) -> float:
    fn()  # warm-up: page faults, BLAS thread start-up
    times = []
    t_end = time.perf_counter() + budget_s
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() > t_end and len(times) >= 3:
            break
    return float(np.median(times))


def blas_info() -> dict:
    """Which BLAS numpy uses and with how many threads, as far as numpy tells."""
    info: dict = {"numpy": np.__version__}
    try:
        config = np.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        info["blas"] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except (TypeError, AttributeError):  # older numpy without mode="dicts"
        info["blas"] = "unknown"
    threads = [os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")]
    info["threads"] = next((int(t) for t in threads if t and t.isdigit()), os.cpu_count() or 1)
    try:
        from threadpoolctl import threadpool_info  # optional: exact BLAS and thread count where installed

        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            info["blas"] = f"{pools[0].get('internal_api')} {pools[0].get('version')}"
            info["threads"] = pools[0].get("num_threads", info["threads"])
    except ImportError:
        pass
    return info


def _gemm_points(plan: Plan) -> list[tuple[str, int, int, int]]:
    points = []
    for dtype in plan.gemm_dtypes:
        points += [(dtype, s, s, s) for s in plan.gemm_squares]
    big = plan.gemm_big
    points += [("float32", m, big, big) for m in plan.gemm_skinny_m]
    return points


def measure_cpu(rng: np.random.Generator, quick: bool = False, progress: Progress | None = None,
                run: str = "cpu") -> list[dict]:
    """Measure and return the records (kind env, gemm, copy, read_reduce, triad, launch_overhead)."""
    plan = Plan.default(quick)
    progress = progress or (lambda what, done: None)
    records = [{"kind": "env", "run": run, "device": platform.processor() or platform.machine(),
                "cpu_count": os.cpu_count(), **blas_info(), "quick": quick,
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}]
    points = _gemm_points(plan)
    total = len(points) + 3 * len(plan.stream_mib) + 1
    done = 0
    for dtype, m, n, k in points:
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        out = np.empty((m, n), dtype=dtype)
        t = _median_time(lambda: np.matmul(a, b, out=out), plan.reps, plan.budget_s)
        width = np.dtype(dtype).itemsize
        flops = 2.0 * m * n * k
        records.append({"kind": "gemm", "run": run, "dtype": dtype, "m": m, "n": n, "k": k, "seconds": t,
                        "flops": flops, "flops_per_s": flops / t, "min_bytes": width * (m * k + k * n + m * n)})
        done += 1
        progress(f"gemm {dtype} {m}x{n}x{k}", done / total)
    for mib in plan.stream_mib:
        x = rng.standard_normal(mib * (1 << 20) // 8)
        y = np.empty_like(x)
        z = rng.standard_normal(x.size)
        nbytes = x.nbytes
        for kind, fn, moved in (("copy", lambda: np.copyto(y, x), 2 * nbytes),
                                ("read_reduce", lambda: x.sum(), nbytes),
                                ("triad", lambda: np.add(x, z, out=y), 3 * nbytes)):
            t = _median_time(fn, plan.reps, plan.budget_s)
            records.append({"kind": kind, "run": run, "bytes_moved": moved, "seconds": t,
                            "bytes_per_s": moved / t})
            done += 1
            progress(f"{kind} {mib} MiB", done / total)
    tiny = np.zeros(1)
    calls = 20000 if not quick else 5000
    t0 = time.perf_counter()
    for _ in range(calls):
        np.add(tiny, 1.0, out=tiny)
    per_call = (time.perf_counter() - t0) / calls
    records.append({"kind": "launch_overhead", "run": run, "what": "tiny elementwise kernel, numpy, back to back",
                    "calls": calls, "seconds_per_call": per_call})
    progress("call overhead", 1.0)
    return records


def measured_peaks(records: list[dict]) -> dict[str, float]:
    """Best measured rates: what a calibrated CPU profile takes as its peaks (no datasheet figure is
    assumed for an unknown CPU): GEMM FLOP/s per data type and the streaming bandwidth."""
    names = {"float32": "fp32", "float64": "fp64"}
    peaks = {}
    for r in records:
        if r["kind"] == "gemm" and r["dtype"] in names:
            key = names[r["dtype"]]
            peaks[key] = max(peaks.get(key, 0.0), r["flops"] / r["seconds"])
    streams = [r for r in records if r["kind"] in ("copy", "read_reduce", "triad")]
    if streams:  # memory bandwidth: at the largest size of each kind, past every cache
        largest = {k: max(r["bytes_moved"] for r in streams if r["kind"] == k) for k in {r["kind"] for r in streams}}
        peaks["bandwidth"] = max(r["bytes_per_s"] for r in streams if r["bytes_moved"] == largest[r["kind"]])
    return peaks
