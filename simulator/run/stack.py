"""The software stack a run executes under: the device's default when the workload names none, and a
refusal where the device cannot run the one named (its rules: ``model/stacks.py``)."""
from __future__ import annotations

from ..errors import CostsimError
from ..schema.hardware import CNN_ONLY_STACKS, CNN_STACKS
from ..schema.workload import CNNWorkload, TransformerWorkload


def with_execution(profile, workload):
    """``workload`` with its stack resolved on ``profile`` (transformers and convolutional networks; other
    kinds pass unchanged). A convolutional network's default is the device's first stack that runs one, with
    cuDNN's autotuning on (pytorch-tuned) where that is eager PyTorch."""
    cnn = isinstance(workload, CNNWorkload)
    precision = workload.training.precision
    if precision in ("mxfp8_mixed", "fp4_mixed") and not (
            profile.block_scaled_matmul and profile.peak_dense_flops_per_s.rate("fp4" if precision == "fp4_mixed"
                                                                                 else "fp8")):
        raise CostsimError(f"{precision} needs matrix units that apply per-block scales themselves"
                           + (" and run fp4" if precision == "fp4_mixed" else "")
                           + f" (Blackwell's); {profile.name} has none (block_scaled_matmul)",
                           field="training.precision")
    if not cnn and not isinstance(workload, TransformerWorkload):
        return workload
    stacks = (tuple(s for s in profile.stacks if s in CNN_STACKS) if cnn else
              tuple(s for s in profile.stacks if s not in CNN_ONLY_STACKS))
    if not stacks:
        raise CostsimError(f"{profile.name} runs no stack for {'convolutional networks' if cnn else 'transformers'}: "
                           f"its stacks are {', '.join(profile.stacks)}", field="execution")
    if workload.execution is None:
        default = stacks[0]
        if cnn and default == "pytorch-eager" and "pytorch-tuned" in stacks:  # how PyTorch trains a CNN in practice
            default = "pytorch-tuned"
        return workload.model_copy(update={"execution": default})
    if workload.execution not in stacks:
        which = (f"its stacks for convolutional networks are {', '.join(stacks)}" if cnn else
                 f"its stacks are {', '.join(stacks)} (the profile's execution_stacks, else its kind's: "
                 f"{profile.kind})")
        raise CostsimError(f"{profile.name} does not run {workload.execution}: {which}", field="execution")
    if (workload.execution == "megatron-core" and precision == "fp8_mixed"
            and not profile.peak_dense_flops_per_s.rate("fp8")):
        raise CostsimError(f"fp8_mixed under megatron-core needs fp8 matrix units (Transformer Engine's fp8 "
                           f"GEMMs); {profile.name} has none", field="training.precision")
    return workload
