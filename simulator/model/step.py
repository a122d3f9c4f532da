"""One device, one training step: a workload expanded into its kernels (memoised), priced on a profile
and summed by class of kernel, with the launch overhead; the model FLOPs of a step and the matrix peak."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

from ..schema.hardware import ClassicalProfile
from ..schema.workload import GenericWorkload, MLPWorkload, TransformerWorkload
from . import cnn, generic, mlp, transformer
from .memory import parameter_count
from .ops import MATRIX_CLASSES, OP_CLASSES, PRECISIONS, Op, step_flops
from .roofline import OpArrays, PricedOps, price, resolve_rate
from .stacks import STACKS, has, rules_of


def _step_ops(workload, batch: float, split=None) -> dict[str, list[Op]]:
    if isinstance(workload, TransformerWorkload):
        return transformer.step_ops(workload, batch, split=split or transformer.WHOLE)
    if isinstance(workload, MLPWorkload):
        return mlp.step_ops(workload, batch)
    if isinstance(workload, GenericWorkload):
        return generic.step_ops(workload, batch)
    return cnn.step_ops(workload, batch)


def execution_note(workload) -> str:
    """The assumption of how the workload executes (framework, precision, fusion), as one sentence."""
    if isinstance(workload, GenericWorkload):
        return ("a model known by its record only: its forward FLOPs as square matrix products over "
                f"{workload.layers} layers, backward as two products per layer; other kernels not priced")
    if isinstance(workload, MLPWorkload):
        return "execution as plain numpy in fp32: one BLAS call per matrix product, a new array per elementwise step"
    stack = workload.execution  # a transformer or a convolutional network from here on
    if stack is not None and (isinstance(workload, TransformerWorkload) or stack != "pytorch-eager"):
        return (f"execution as {stack}: {STACKS[stack].what}; its rules: {', '.join(sorted(rules_of(stack)))} "
                f"(docs/stacks.md)")
    return ("execution as eager PyTorch with automatic mixed precision (fp32 master weights, norms, softmax "
            "and loss in fp32); unfused kernels")


def profile_memo(memo: dict, key, profile, compute):
    """A bounded memo keyed by the profile's identity (the entry holds the profile itself, so its id
    cannot be reused while the entry lives): hashing a whole profile would cost more than a lookup."""
    full = (id(profile), key)
    hit = memo.get(full)
    if hit is not None and hit[0] is profile:
        return hit[1]
    if len(memo) >= 64:
        memo.pop(next(iter(memo)))
    value = compute()
    memo[full] = (profile, value)
    return value


def _memo_price(memo: dict, arrays: OpArrays, profile) -> PricedOps:
    return profile_memo(memo, None, profile, lambda: price(arrays, profile))


@dataclass(frozen=True)
class Expansion:
    """One device's share of a training step, independent of the hardware: the kernels of one
    micro-batch's forward, loss, backward (and recomputation), the optimizer step's, and the
    tensor-parallel collectives."""

    phases: dict[str, list[Op]]
    arrays: OpArrays                 # one micro-batch pass's compute kernels, then the optimizer step's
    comm: tuple[Op, ...]             # tensor-parallel collectives of one micro-batch pass
    model_flops_per_pass: float      # forward and backward matrix work, recomputation excluded
    parameters: float                # on this device, before ZeRO sharding
    expert_parameters: float = 0.0   # of which its routed experts' (replicated over dp / ep ranks only)
    priced: dict = field(default_factory=dict, compare=False, repr=False)  # memo: profile -> PricedOps
    stages: dict = field(default_factory=dict, compare=False, repr=False)  # memo: (profile, plan) -> StageTimes

    def price_on(self, profile) -> PricedOps:
        """The ops priced on ``profile`` (a pure function of both, memoised for sweeps that vary only
        the run options; bounded to the last 64 profiles)."""
        return _memo_price(self.priced, self.arrays, profile)


@functools.lru_cache(maxsize=256)
def expand(workload, micro_batch: float, split=None) -> Expansion:
    """Expand a workload into one device's ops for one micro-batch pass and one optimizer step. A pure
    function of immutable inputs, memoised so that one workload on many devices, regions or prices is
    expanded once."""
    phases = _step_ops(workload, micro_batch, split)
    passes = [op for name, ops in phases.items() if name != "optimizer" for op in ops]
    compute = [op for op in passes if op.op_class != "communication"]
    comm = tuple(op for op in passes if op.op_class == "communication")
    expert = 0.0
    if isinstance(workload, TransformerWorkload):
        counts = transformer.device_parameters(workload, split or transformer.WHOLE)
        params, expert = counts["total"], counts["expert"]
    else:
        params = parameter_count(workload)
    useful = phases
    if getattr(workload, "expert_imbalance", 1.0) != 1.0:  # the useful work is the balanced one; the busiest runs more
        useful = _step_ops(workload.model_copy(update={"expert_imbalance": 1.0}), micro_batch, split)
    return Expansion(phases, OpArrays.of(compute + phases["optimizer"], once=len(phases["optimizer"])), comm,
                     model_flops_per_step(workload, useful), params, expert)


def model_flops_per_step(workload, phases: dict[str, list[Op]]) -> float:
    """Useful model FLOPs of the phases given: forward and backward matrix work, no recomputation."""
    return sum(step_flops([op for op in phases[ph] if op.op_class in MATRIX_CLASSES])
               for ph in ("forward", "backward"))


_KEYS = ("time_s", "device_energy_joules", "flops", "bytes", "kernels")


_MATMUL = tuple(OP_CLASSES.index(c) for c in ("gemm", "sparse_gemm"))


def host_dispatch_s(class_static, profile: ClassicalProfile, stack: str | None = None) -> float:
    """Host seconds to dispatch a pass's kernels (``class_static``: per class, (flops, bytes, kernels)):
    under an eager stack each matrix product costs the profile's measured eager matmul dispatch
    (``matmul_dispatch_s``, else ``kernel_launch_overhead_s``) and every other kernel the measured eager
    launch; a compiled step (``model/stacks.py``: XLA, torch.compile) dispatches no operator on the host."""
    if has(stack, "compiled_step"):
        return 0.0
    matmul = sum(class_static[i][2] for i in _MATMUL)
    rest = sum(st[2] for st in class_static) - matmul
    launch = profile.kernel_launch_overhead_s
    per_matmul = launch if profile.matmul_dispatch_s is None else profile.matmul_dispatch_s
    return matmul * per_matmul + rest * launch


def step_breakdown(priced, profile: ClassicalProfile, stack: str | None = None) -> dict[str, dict[str, float]]:
    """Time (s), device energy (J), FLOPs, bytes and kernels of one micro-batch pass by class of kernel
    (the once-per-step rows excluded), plus the launch overhead (:func:`host_dispatch_s`):
    on an accelerator only the excess of the host's dispatch over the device's work (kernels queue
    asynchronously); on a CPU all of it."""
    a = priced.arrays
    total_t = priced.time_s * a.count * a.pass_mask
    times = (total_t @ a.class_onehot).tolist()
    energies = ((total_t * priced.power_watts) @ a.class_onehot).tolist()
    breakdown = {c: {"time_s": times[i], "device_energy_joules": energies[i], "flops": st[0], "bytes": st[1],
                     "kernels": st[2]} for i, (c, st) in enumerate(zip(OP_CLASSES, a.class_static))}
    host_s = host_dispatch_s(a.class_static, profile, stack)
    # an accelerator overlaps the host's dispatch with its queue; a CPU is its own host, so every
    # call's overhead adds to the step
    gap = host_s if profile.kind == "cpu" else max(0.0, host_s - sum(times))
    breakdown["communication"] = dict.fromkeys(_KEYS, 0.0)
    breakdown["launch_overhead"] = {"time_s": gap, "device_energy_joules": gap * profile.power.idle_watts,
                                    "flops": 0.0, "bytes": 0.0, "kernels": 0.0}
    return breakdown


def matrix_peak(profile, workload) -> float:
    """The peak of the data type the workload's matrix products run in (after any fallback)."""

    return resolve_rate(profile, PRECISIONS[workload.training.precision].matmul_dtype)[1]
