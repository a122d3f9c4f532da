"""Microbenchmarks of this machine's CPU through numpy (and its BLAS), in the record format of
``../shared/calibration/h200/*.jsonl``: a GEMM sweep over sizes and data types, streaming bandwidth
(copy, read, triad) over sizes past the caches, and the cost of one tiny numpy call; plus what the
operating system says about the machine itself (the CPUs this process may use, the BLAS thread count,
the installed memory).

Prints nothing and touches no files: progress goes to a callback, random data comes from the
``numpy.random.Generator`` passed in. This module is the one place in costsim that measures.

A shared machine is noisy in two ways. Its speed drifts by tens of percent over seconds: measuring
one size after another would hand a slow spell to a contiguous block of sizes, which the fit would
read as a curve. So the sweeps run in *rounds*: each round times every point once (right after an
untimed call of the same point, so that each timed call finds its operands where a back-to-back
repetition would), and the rounds span the whole sweep. And a call is often preempted: when another
process takes a core, a multithreaded BLAS call waits for its descheduled thread a whole scheduler
time slice (seen here: 128^3 products of 32 us taking 16 ms, in most rounds). That noise only ever
adds time, so a point's time is its *minimum* over the rounds, the estimator for one-sided noise
(Chen and Revels, "Robust benchmarking in noisy environments", 2016; Julia's BenchmarkTools): what
the machine does when it is not interrupted. The median is recorded beside it (``median_seconds``).
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
    """What to measure. ``quick``: about 5 s on a quiet 2-core machine, 10 s on a loaded one."""

    gemm_squares: tuple[int, ...]
    gemm_skinny_m: tuple[int, ...]
    gemm_big: int
    gemm_dtypes: tuple[str, ...]
    stream_mib: tuple[int, ...]
    rounds: int  # rounds over every point of a sweep (each point timed once per round)
    min_rounds: int  # at least this many, whatever the budget
    budget_s: float  # per sweep: no new round once this is spent (and min_rounds are done)

    @staticmethod
    def default(quick: bool = False) -> "Plan":
        """The full sweep, or the quick one."""
        if quick:
            return Plan((64, 128, 256, 512, 1024), (1, 16, 128), 1024, ("float32", "float64"),
                        (1, 16, 64, 256), rounds=15, min_rounds=7, budget_s=2.5)
        return Plan((64, 128, 256, 384, 512, 768, 1024, 1536, 2048), (1, 4, 16, 64, 256, 1024), 2048,
                    ("float32", "float64"), (1, 4, 16, 64, 256, 512), rounds=21, min_rounds=5, budget_s=5.0)


def interleaved_times(fns: list[Callable[[], object]], plan: Plan, on_round: Callable[[int], None]
                      ) -> list[list[float]]:
    """Times of each function over rounds that each time every function once (after an untimed call
    of the same function). Rounds stop at ``plan.rounds``, or once ``plan.budget_s`` is spent and
    ``plan.min_rounds`` are done."""
    times: list[list[float]] = [[] for _ in fns]
    t_end = time.perf_counter() + plan.budget_s
    for done in range(1, plan.rounds + 1):
        for fn, out in zip(fns, times):
            fn()  # untimed: operands in cache as in back-to-back repetition; page faults; BLAS threads up
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
        on_round(done)
        if done >= plan.min_rounds and time.perf_counter() > t_end:
            break
    return times


def _timing(times: list[float]) -> dict:
    """What a record keeps of a point's times: the minimum as ``seconds`` (see the module's docstring)."""
    return {"seconds": float(min(times)), "median_seconds": float(np.median(times)), "rounds": len(times)}


def blas_info(cpus_allowed: int) -> dict:
    """Which BLAS numpy uses and with how many threads. threadpoolctl (where installed) asks the
    library itself; else a thread-count variable of the environment; else the BLAS default, which for
    OpenBLAS and MKL is one thread per CPU this process may use."""
    info: dict = {"numpy": np.__version__}
    try:
        config = np.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        info["blas"] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except (TypeError, AttributeError):  # older numpy without mode="dicts"
        info["blas"] = "unknown"
    info["blas_threads"], info["blas_threads_from"] = cpus_allowed, "assumed: the BLAS default, one per allowed CPU"
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            info["blas_threads"], info["blas_threads_from"] = int(value), f"environment {var}"
            break
    try:
        from threadpoolctl import threadpool_info  # optional: exact BLAS and thread count where installed

        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            info["blas"] = f"{pools[0].get('internal_api')} {pools[0].get('version')}"
            info["blas_threads"], info["blas_threads_from"] = int(pools[0]["num_threads"]), "threadpoolctl"
    except ImportError:
        pass
    return info


def machine_info() -> dict:
    """What the operating system reports about this machine. Reading the machine itself is measurement,
    so it lives here; ``os.sysconf`` and ``os.sched_getaffinity`` are system calls, not file reads.

    ``cpus_allowed``: the logical CPUs this process may run on (its affinity mask, which a container's
    or a batch scheduler's CPU set narrows), else every logical CPU. ``memory_bytes``: physical pages
    times page size, None where the OS does not say. ``l3_bytes``: the last-level cache where the C
    library reports it (glibc), else None."""
    try:
        cpus_allowed = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus_allowed = os.cpu_count() or 1
    info = {"cpus_allowed": cpus_allowed, "cpu_count": os.cpu_count() or cpus_allowed}
    for key, names in (("memory_bytes", ("SC_PHYS_PAGES", "SC_PAGE_SIZE")), ("l3_bytes", ("SC_LEVEL3_CACHE_SIZE",))):
        try:
            values = [os.sysconf(n) for n in names]
        except (ValueError, OSError, AttributeError):  # name unknown to this OS or C library
            values = [0]
        info[key] = int(np.prod(values)) if all(v > 0 for v in values) else None
    return info


def gemm_points(plan: Plan) -> list[tuple[str, int, int, int]]:
    """The GEMMs of a plan as (dtype, m, n, k): squares in every type, then fp32 skinny products."""
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
    machine = machine_info()
    records = [{"kind": "env", "run": run, "device": platform.processor() or platform.machine(), **machine,
                **blas_info(machine["cpus_allowed"]), "quick": quick,
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}]
    # share of the progress bar: GEMM rounds, stream rounds, call overhead
    shares = (0.6, 0.35, 0.05)

    points = gemm_points(plan)
    fns = []
    for dtype, m, n, k in points:
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        out = np.empty((m, n), dtype=dtype)
        fns.append(lambda a=a, b=b, out=out: np.matmul(a, b, out=out))
    times = interleaved_times(fns, plan, lambda r: progress(f"gemm round {r}", shares[0] * r / plan.rounds))
    for (dtype, m, n, k), t in zip(points, times):
        width = np.dtype(dtype).itemsize
        flops = 2.0 * m * n * k
        timing = _timing(t)
        records.append({"kind": "gemm", "run": run, "dtype": dtype, "m": m, "n": n, "k": k, **timing,
                        "flops": flops, "flops_per_s": flops / timing["seconds"],
                        "min_bytes": width * (m * k + k * n + m * n)})
    del fns

    # streams: views of three arrays of the largest size, so that the sweep holds only those
    size = max(plan.stream_mib) * (1 << 20) // 8
    x, z, y = rng.standard_normal(size), rng.standard_normal(size), np.empty(size)
    kinds, fns = [], []
    for mib in plan.stream_mib:
        n = mib * (1 << 20) // 8
        xs, ys, zs = x[:n], y[:n], z[:n]
        nbytes = xs.nbytes
        for kind, fn, moved in (("copy", lambda xs=xs, ys=ys: np.copyto(ys, xs), 2 * nbytes),
                                ("read_reduce", lambda xs=xs: xs.sum(), nbytes),
                                ("triad", lambda xs=xs, ys=ys, zs=zs: np.add(xs, zs, out=ys), 3 * nbytes)):
            kinds.append((kind, moved))
            fns.append(fn)
    times = interleaved_times(
        fns, plan, lambda r: progress(f"streams round {r}", shares[0] + shares[1] * r / plan.rounds))
    for (kind, moved), t in zip(kinds, times):
        timing = _timing(t)
        records.append({"kind": kind, "run": run, "bytes_moved": moved, **timing,
                        "bytes_per_s": moved / timing["seconds"]})
    del x, y, z, fns

    tiny = np.zeros(1)
    calls = 20000 if not quick else 5000
    batches = []
    for _ in range(5):  # the fastest of five batches of back-to-back calls
        t0 = time.perf_counter()
        for _ in range(calls):
            np.add(tiny, 1.0, out=tiny)
        batches.append((time.perf_counter() - t0) / calls)
    records.append({"kind": "launch_overhead", "run": run, "what": "tiny elementwise kernel, numpy, back to back",
                    "calls": calls, "seconds_per_call": float(min(batches))})
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
