"""A multilayer perceptron trained in plain numpy, fp32: the reference a CPU calibration is checked
against. The ops mirror the straightforward numpy implementation (``tests/numpy_mlp.py``): each
matrix product is one BLAS call, and each elementwise step reads its inputs and writes a new array."""
from __future__ import annotations

from ..schema.workload import MLPWorkload
from .ops import OPTIMIZER_STATE_BYTES_PER_PARAM, Op, gemm

F = 4  # fp32 bytes


def dims(w: MLPWorkload) -> list[tuple[int, int]]:
    """(inputs, outputs) of each layer, input to classes."""
    sizes = [w.input_dim, *w.hidden_dims, w.classes]
    return list(zip(sizes[:-1], sizes[1:]))


def parameter_count(w: MLPWorkload) -> float:
    """Weights and biases of every layer."""
    return float(sum(i * o + o for i, o in dims(w)))


def step_ops(w: MLPWorkload, batch: float, optimizer: str | None = None) -> dict[str, list[Op]]:
    """One training step's ops at ``batch`` samples by phase, as the numpy reference runs them."""
    B = batch
    fwd, bwd = [], []
    layers = dims(w)
    for i, (d_in, d_out) in enumerate(layers):
        e = B * d_out
        last = i == len(layers) - 1
        fwd.append(gemm(f"layer{i}.matmul", B, d_out, d_in, F, F, "fp32"))
        fwd.append(Op(f"layer{i}.bias_add", "elementwise", e, 2 * F * e + F * d_out, "fp32"))
        grads = [gemm(f"layer{i}.wgrad", d_in, d_out, B, F, F, "fp32"),
                 Op(f"layer{i}.bias_grad", "elementwise", e, F * e + F * d_out, "fp32")]
        if i > 0:
            grads.append(gemm(f"layer{i}.dgrad", B, d_in, d_out, F, F, "fp32"))
            # ReLU backward of the layer below: a mask (read z, write bool) and a product
            grads.append(Op(f"layer{i - 1}.relu_bwd", "elementwise", 2 * B * d_in, 3 * F * B * d_in + B * d_in, "fp32",
                            kernels=2))
        bwd[:0] = grads
        if not last:
            fwd.append(Op(f"layer{i}.relu", "elementwise", e, 2 * F * e, "fp32"))
    n = B * w.classes
    loss = [Op("loss.softmax", "loss", 5 * n, 9 * F * n, "fp32", kernels=5),  # max, subtract, exp, sum, divide
            Op("loss.grad", "loss", n, 3 * F * n, "fp32", kernels=2)]
    params = parameter_count(w)
    opt = w.training.optimizer
    # numpy SGD: ``p -= lr * g`` makes a temporary (read g, write tmp) then updates p (read p and tmp,
    # write p): 20 bytes per parameter, one call per tensor
    per_param = {"sgd": 20, "sgd_momentum": 44, "adam": 84, "adamw": 96}[optimizer or opt]
    update = [Op("optimizer." + (optimizer or opt), "optimizer", 2 * params, per_param * params, "fp32",
                 kernels=2 * 2 * len(layers))]
    return {"forward": fwd, "loss": loss, "backward": bwd, "optimizer": update}


def activation_bytes(w: MLPWorkload, batch: float) -> dict[str, float]:
    """Bytes kept for backward: two arrays of each layer's outputs, the input, and two class-sized
    arrays for the loss (``logits``)."""
    saved = sum(2 * F * batch * d_out for _, d_out in dims(w)) + F * batch * w.input_dim
    return {"layers": saved, "logits": 2 * F * batch * w.classes, "embedding": 0.0}


def optimizer_state_bytes(w: MLPWorkload) -> float:
    """Bytes of the optimizer's states over all parameters."""
    return OPTIMIZER_STATE_BYTES_PER_PARAM[w.training.optimizer] * parameter_count(w)
