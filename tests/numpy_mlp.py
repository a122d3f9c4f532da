"""A real training step on the CPU: a multilayer perceptron in plain numpy, fp32, ReLU, softmax
cross-entropy, plain SGD. ``simulator/model/mlp.py`` models exactly this code, op for op."""
from __future__ import annotations

import time

import numpy as np


def init(rng: np.random.Generator, sizes: list[int]) -> list[list[np.ndarray]]:
    return [[(rng.standard_normal((d_in, d_out)) / np.sqrt(d_in)).astype(np.float32),
             np.zeros(d_out, dtype=np.float32)] for d_in, d_out in zip(sizes[:-1], sizes[1:])]


def train_step(params, x: np.ndarray, y: np.ndarray, lr: float = 1e-3) -> float:
    batch = x.shape[0]
    hs, zs = [x], []
    h = x
    for i, (w, b) in enumerate(params):
        z = h @ w
        z += b
        zs.append(z)
        if i < len(params) - 1:
            h = np.maximum(z, 0)
            hs.append(h)
    logits = zs[-1]
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    p = e / e.sum(axis=1, keepdims=True)
    loss = float(-np.log(p[np.arange(batch), y] + 1e-12).mean())
    dz = p
    dz[np.arange(batch), y] -= 1.0
    dz /= batch
    grads = [None] * len(params)
    for i in range(len(params) - 1, -1, -1):
        w = params[i][0]
        grads[i] = (hs[i].T @ dz, dz.sum(axis=0))
        if i > 0:
            dz = (dz @ w.T) * (zs[i - 1] > 0)
    for (w, b), (dw, db) in zip(params, grads):
        w -= lr * dw
        b -= lr * db
    return loss


def step_times_s(sizes: list[int], batch: int, rng: np.random.Generator, warmup: int = 2, reps: int = 7
                 ) -> list[float]:
    """Wall times of ``reps`` training steps, after warm-up steps."""
    params = init(rng, sizes)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], size=batch)
    for _ in range(warmup):
        train_step(params, x, y)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        train_step(params, x, y)
        times.append(time.perf_counter() - t0)
    return times


def median_step_s(sizes: list[int], batch: int, rng: np.random.Generator, warmup: int = 2, reps: int = 7) -> float:
    """Median wall time of one training step, after warm-up steps."""
    return float(np.median(step_times_s(sizes, batch, rng, warmup, reps)))
