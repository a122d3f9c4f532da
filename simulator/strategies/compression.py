"""Compression strategies: pruning, lower-precision training, quantization-aware fine-tuning, low-rank
factorisation, LoRA and distillation, each declared beside the function that applies it.

What a strategy assumes about model quality comes from the literature and is carried with the result:
the simulator prices compute, not accuracy.
"""
from __future__ import annotations

from dataclasses import replace

from ..errors import CostsimError
from ..model.transformer import block_linears
from ..schema.hardware import ClassicalProfile
from ..schema.workload import CNNWorkload, TransformerWorkload
from .scenario import (
    Phase,
    Scenario,
    final_phase,
    map_mains,
    note,
    student_steps,
    validated,
    with_training,
    with_variant,
)
from .spec import Family, Load, Param, Spec, Strategy, number

LAYERS = Family("layers", "block linear layers (pruning, low-rank and LoRA exclude each other)")


# ------------------------------------------------------------------------------------- checks
def needs_linears(workload, spec: Spec) -> None:
    """Raise unless ``workload`` has the transformer block linears ``spec`` rewrites."""
    if not isinstance(workload, TransformerWorkload):
        raise CostsimError(f"{spec.name} rewrites the linear layers of transformer blocks; the {workload.kind} "
                           f"workload '{workload.name}' has none it models", field=f"strategy {spec.text}")


def check_rank(workload, rank, where: str) -> None:
    """Raise if a factor or adapter ``rank`` (None: none given) is wider than the smallest block linear."""
    if rank is None:
        return
    smallest = min(min(i, o) for i, o, _ in block_linears(workload))
    if rank > smallest:
        raise CostsimError(f"rank {rank:g} is larger than the smallest block linear ({smallest:g} wide): a "
                           f"factor can have at most min(d_in, d_out) columns", field=f"strategy {where}")


# ------------------------------------------------------------------------------------- pruning
def _prune(sc: Scenario, spec: Spec, load: Load) -> Scenario:
    pattern = {"2of4": "2:4", "2:4": "2:4", "unstructured": "unstructured"}.get(spec.arg)
    where = spec.text
    if pattern is None:
        raise CostsimError(f"unknown pruning pattern '{spec.arg}'; known: 2of4, unstructured",
                           field=f"strategy {where}")
    density = spec.params["density"]
    if pattern == "2:4":
        if density not in (None, 0.5):
            raise CostsimError("the 2:4 pattern keeps exactly half the weights: density is 0.5",
                               field=f"strategy {where}")
        density = 0.5
    elif density is None:
        raise CostsimError("unstructured pruning needs density=FRACTION (kept weights, in (0, 1])",
                           field=f"strategy {where}")
    schedule = spec.params["schedule"]
    if schedule not in ("retrain", "scratch", "gradual"):
        raise CostsimError(f"unknown schedule '{schedule}'; known: retrain, scratch, gradual",
                           field=f"strategy {where}")
    if schedule == "gradual" and pattern == "2:4":
        raise CostsimError("a gradual schedule lowers the density step by step; 2:4 is a fixed pattern "
                           "(use schedule=retrain or scratch)", field=f"strategy {where}")
    warnings, phases = [], []
    for p in sc.phases:
        if not p.main:
            phases.append(p)
            continue
        runs = sparse_runs(p.profile, pattern)
        if isinstance(p.workload, CNNWorkload) and runs:
            raise CostsimError(f"sparse execution of convolutions is not modelled (only transformer block "
                               f"linears); on {p.profile.name} the pruned ResNet would run sparse",
                               field=f"strategy {where}")
        if not runs:
            lacks = "sparse tensor cores" if pattern == "2:4" else "unstructured-sparsity support"
            warnings.append(f"{p.profile.name} has no {lacks}: "
                            f"the pruned model runs dense there (no speedup)")
        sparse = pruned_phase(p, pattern, density, spec) if runs else p
        if schedule == "scratch":
            phases.append(replace(sparse, label=f"{p.label}, {pattern} sparse from scratch"))
        elif schedule == "retrain":
            phases.append(p)
            phases.append(replace(sparse, label=f"retraining at density {density:g} ({pattern})",
                                  repeats=p.repeats * spec.params["retrain"]))
        else:
            phases += _gradual(p, sparse if runs else None, pattern, density, spec)
    return note(sc, spec, phases=phases, warnings=warnings, deploy_sparsity=(pattern, density),
                assumptions=[PRUNE_QUALITY[pattern, schedule],
                             "sparse products: forward and input-gradient products on the kept weights "
                             "(transposable masks), weight gradients dense; master weights and optimizer "
                             "states dense, the low-precision copies stored compressed"])


PRUNE_QUALITY = {
    ("2:4", "retrain"): "2:4 keeps accuracy with a retraining as long as the original training (NVIDIA ASP, "
                        "Mishra et al. 2021, arXiv:2104.08378: fine-tune 'with ... hyper-parameters (learning-rate, "
                        "schedule, number of epochs, etc.) exactly as those used to obtain the trained model')",
    ("2:4", "scratch"): "2:4 trained from the first step keeps near-dense quality (SR-STE, Zhou et al. 2021, "
                        "arXiv:2102.04010; Hu et al. 2024, arXiv:2404.01847, who fine-tune dense near the end: not "
                        "counted here)",
    ("unstructured", "retrain"): "iterative prune-retrain keeps accuracy at 9x (AlexNet) and 13x (VGG-16) fewer "
                                 "weights (Han et al. 2015, arXiv:1506.02626); one retraining as long as the "
                                 "original is assumed (retrain=)",
    ("unstructured", "scratch"): "sparse from the first step at a fixed density: quality below the dense model's "
                                 "unless the density is mild (no source gives a figure; an assumption to check)",
    ("unstructured", "gradual"): "gradual magnitude pruning within one training keeps accuracy at moderate sparsity "
                                 "(Zhu & Gupta 2017, arXiv:1710.01878: cubic schedule; start and end are assumptions)",
}


def sparse_runs(profile: ClassicalProfile, pattern: str) -> bool:
    """Whether ``profile`` runs the sparsity ``pattern`` ('2:4' or 'unstructured') faster than dense."""
    if pattern == "2:4":
        return profile.sparse_2_4_accelerated
    return profile.unstructured_sparse_efficiency_fraction is not None


def pruned_phase(p: Phase, pattern: str, density: float, spec: Spec) -> Phase:
    """``p`` with its workload pruned to ``density`` (kept fraction) in ``pattern``, run sparse on its device
    (unstructured: the profile's own sparse rate on the kept work)."""
    needs_linears(p.workload, spec)
    profile = p.profile
    eff = profile.efficiency
    if pattern == "2:4" and eff.sparse_gemm is None:
        raise CostsimError(f"{profile.name} declares sparse_2_4_accelerated but has no efficiency.sparse_gemm "
                           f"curve (calibrate it from 2:4 microbenchmarks, or borrow a calibrated one)",
                           field="efficiency")
    if pattern == "unstructured":  # the part's own statement of its rate on the kept work
        f = profile.unstructured_sparse_efficiency_fraction
        curve = eff.gemm.model_copy(update={"max_fraction": eff.gemm.max_fraction * f})
        profile = profile.model_copy(update={"efficiency": eff.model_copy(update={"sparse_gemm": curve})})
    return replace(p, profile=profile, workload=with_variant(p.workload, spec.text, sparsity=pattern,
                                                             density_fraction=density))


# Zhu & Gupta (2017): density falls from 1 to the target along a cubic between two points of training
GRADUAL_SEGMENTS = 4


def gradual_density(t: float, start: float, end: float, target: float) -> float:
    """Density at training fraction ``t`` under the cubic schedule of Zhu & Gupta (2017):
    s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n dt))^3 with sparsity s = 1 - density, s_i = 0."""
    if t <= start:
        return 1.0
    if t >= end:
        return target
    s_f = 1.0 - target
    return 1.0 - (s_f - s_f * (1 - (t - start) / (end - start)) ** 3)


def _gradual(p: Phase, sparse: Phase | None, pattern: str, density: float, spec: Spec) -> list[Phase]:
    start, end = spec.params["start"], spec.params["end"]
    if not 0 <= start < end <= 1:
        raise CostsimError(f"need 0 <= start < end <= 1 (got start={start:g}, end={end:g})",
                           field=f"strategy {spec.text}")
    if sparse is None:  # dense hardware: every step runs dense whatever the mask
        return [replace(p, label=f"{p.label}, gradual pruning to density {density:g} (runs dense)")]
    out = [replace(p, label=f"{p.label}: dense before pruning starts", repeats=p.repeats * start)] if start else []
    width = (end - start) / GRADUAL_SEGMENTS
    for i in range(GRADUAL_SEGMENTS):  # the ramp, each segment at its midpoint density
        t = start + (i + 0.5) * width
        d = gradual_density(t, start, end, density)
        out.append(replace(pruned_phase(p, pattern, d, spec), label=f"pruning ramp {i + 1}/{GRADUAL_SEGMENTS} "
                           f"(density {d:.3g})", repeats=p.repeats * width))
    if end < 1:
        out.append(replace(sparse, label=f"{p.label} at density {density:g}", repeats=p.repeats * (1 - end)))
    return out


PRUNE = Strategy(
    name="prune", summary="prune the block linears: the 2:4 pattern (sparse tensor cores) or unstructured",
    arg="2of4|unstructured", example="prune:2of4", family=LAYERS, apply=_prune,
    params=(Param("density", "fraction", None, "kept weights, in (0, 1] (unstructured; 2:4 keeps 0.5)"),
            Param("schedule", str, "retrain", "retrain: train dense, prune, retrain (ASP, Han et al.); scratch: "
                                              "sparse from the first step; gradual: Zhu & Gupta's cubic ramp"),
            Param("retrain", "positive", 1.0, "retraining length as a fraction of the original steps"),
            Param("start", "nonnegative", 0.1, "gradual: training fraction where pruning starts (assumption)"),
            Param("end", "fraction", 0.6, "gradual: training fraction where the target density is reached "
                                          "(assumption)")),
    quality="accuracy kept at the pruned density by the schedule's retraining (see the pattern's note)",
    sources=("Mishra et al. 2021", "Han et al. 2015", "Zhu & Gupta 2017", "Hu et al. 2024"))


# ------------------------------------------------------------------------------------- precision
QUANTIZE_PRECISION = {"fp4": "fp4_mixed", "mxfp8": "mxfp8_mixed", "fp8": "fp8_mixed", "bf16": "bf16_mixed",
                      "fp16": "fp16_mixed", "tf32": "tf32"}
# the matrix-unit type each needs; block-scaled formats need the units to apply the block scales
UNIT_OF = {"mxfp8": "fp8"}
BLOCK_SCALED = ("fp4", "mxfp8")


def _quantize(sc: Scenario, spec: Spec, load: Load) -> Scenario:
    dtype = spec.arg.lower()
    if dtype not in QUANTIZE_PRECISION:
        raise CostsimError(f"unknown training data type '{spec.arg}'; known: {', '.join(QUANTIZE_PRECISION)} "
                           f"(integer widths are deployment formats: see qat)", field=f"strategy {spec.text}")
    fallback = spec.params["fallback"]
    if fallback not in ("yes", "no"):
        raise CostsimError(f"fallback is yes or no, not '{fallback}'", field=f"strategy {spec.text}")
    warnings = []

    def apply(p: Phase) -> Phase:
        if dtype in BLOCK_SCALED and getattr(p.workload, "kind", "") != "transformer":
            raise CostsimError(f"{spec.text}: the block-scaled recipes cover transformers' linear layers",
                               field=f"strategy {spec.text}")
        if p.profile.peak_dense_flops_per_s.rate(UNIT_OF.get(dtype, dtype)) is None or (
                dtype in BLOCK_SCALED and not p.profile.block_scaled_matmul):
            if fallback == "no":
                raise CostsimError(f"{p.profile.name} has no {dtype} units and fallback=no",
                                   field=f"strategy {spec.text}")
            warnings.append(f"{p.profile.name} has no {dtype} units: {spec.text} falls back to the run's own "
                            f"{p.workload.training.precision} (no gain)")
            return p
        if getattr(p.workload, "kind", "") == "mlp":
            raise CostsimError("the numpy mlp runs in fp32 only", field=f"strategy {spec.text}")
        return replace(p, workload=with_training(p.workload, spec.text, precision=QUANTIZE_PRECISION[dtype]))

    extra = []
    if dtype == "fp4":
        extra.append("fp4 training (NVFP4, NVIDIA 2025): each linear's products in 4-bit values with an E4M3 scale per "
                     "16, the weight-gradient operands through a 16-point random Hadamard transform, gradients "
                     "rounded stochastically; attention, norms, softmax and the loss in 16/32-bit")
    if dtype == "mxfp8":
        extra.append("MXFP8 training (OCP MX v1.0): each linear's products in fp8 with an E8M0 scale per 32 values, "
                     "computed in the cast kernel (no delayed amax history)")
    if dtype == "fp8":
        extra.append("fp8 training: each linear's input, weight and output gradient cast to fp8 with per-tensor "
                     "delayed scaling in fused cast-transpose kernels (Transformer Engine style); attention, "
                     "norms, softmax and the loss stay in 16/32-bit")
    return note(sc, spec, phases=map_mains(sc, apply), warnings=warnings, assumptions=extra)


QUANTIZE = Strategy(
    name="quantize", summary="train in a lower-precision data type (fp4 or MXFP8 with block scales, fp8 with "
                             "per-tensor scaling, or 16-bit mixed)",
    arg="fp4|mxfp8|fp8|bf16|fp16|tf32", example="quantize:fp8", family=Family("precision", "training precision"),
    apply=_quantize,
    params=(Param("fallback", str, "yes", "yes: a device without the type keeps the run's precision (a warning); "
                                          "no: that is an error"),),
    quality="fp8 training matches 16-bit quality with unchanged hyper-parameters up to 175B parameters "
            "(Micikevicius et al. 2022, arXiv:2209.05433); 16-bit mixed precision matches fp32 (Micikevicius et "
            "al. 2018, arXiv:1710.03740); NVFP4 training of a 12B model on 10T tokens reaches loss and downstream "
            "accuracy comparable to fp8, with a few layers kept in bf16 (NVIDIA 2025, arXiv:2509.25149)",
    sources=("Micikevicius et al. 2022", "Micikevicius et al. 2018", "NVIDIA 2025 (NVFP4)"))


def _qat(sc: Scenario, spec: Spec, load: Load) -> Scenario:
    bits = {"int8": 8, "int4": 4}.get(spec.arg.lower())
    if bits is None:
        raise CostsimError(f"unknown deployment type '{spec.arg}'; known: int8, int4", field=f"strategy {spec.text}")
    p = final_phase(sc)
    tuned = replace(p, label=f"quantization-aware fine-tuning ({spec.arg})", repeats=spec.params["finetune"],
                    workload=with_variant(p.workload, spec.text, fake_quant_bits=bits), main=False)
    return note(sc, spec, phases=sc.phases + (tuned,), deploy_bytes_per_param=bits / 8)


QAT = Strategy(
    name="qat", summary="quantization-aware fine-tuning for an integer deployment (fake quantization)",
    arg="int8|int4", example="qat:int8", family=Family("qat", "quantization-aware fine-tuning"), apply=_qat,
    params=(Param("finetune", "positive", 0.1, "fine-tuning length as a fraction of the original steps"),),
    quality="int8 accuracy recovered by fine-tuning 'around 10% of the original training schedule' (NVIDIA "
            "pytorch-quantization user guide; Wu et al. 2020, arXiv:2004.09602)",
    sources=("NVIDIA pytorch-quantization", "Wu et al. 2020"))


# ------------------------------------------------------------------------------------- low rank, LoRA
def _lowrank(sc: Scenario, spec: Spec, load: Load) -> Scenario:
    where = spec.text
    fraction, rank = None, spec.params["rank"]
    if spec.arg:
        fraction = number(spec.arg, "fraction", f"strategy {where}")
    if (fraction is None) == (rank is None):
        raise CostsimError("give the rank as a fraction (lowrank:0.25) or rank=R, one of them",
                           field=f"strategy {where}")
    change = {"low_rank_fraction": fraction} if fraction is not None else {"low_rank": int(rank)}
    warmup, finetune = spec.params["warmup"], spec.params["finetune"]
    if not warmup < 1:
        raise CostsimError(f"warmup is a fraction of the steps below 1 (got {warmup:g})", field=f"strategy {where}")
    phases = []
    for p in sc.phases:
        if not p.main:
            phases.append(p)
            continue
        needs_linears(p.workload, spec)
        check_rank(p.workload, rank, where)
        low = replace(p, workload=with_variant(p.workload, where, **change))
        if finetune:  # factorise a trained dense model, then fine-tune to recover
            phases += [p, replace(low, label="low-rank fine-tuning", repeats=p.repeats * finetune)]
        else:  # Pufferfish: full-rank warm-up, then the factorised model
            if warmup:
                phases.append(replace(p, label=f"{p.label}: full-rank warm-up", repeats=p.repeats * warmup))
            phases.append(replace(low, label=f"{p.label}, factorised", repeats=p.repeats * (1 - warmup)))
    return note(sc, spec, phases=phases)


LOWRANK = Strategy(
    name="lowrank", summary="factorise every block linear W into U V of a lower rank", arg="FRACTION",
    arg_required=False, example="lowrank:0.25", family=LAYERS, apply=_lowrank,
    params=(Param("rank", int, None, "an absolute rank instead of the fraction of min(d_in, d_out)"),
            Param("warmup", "nonnegative", 0.1, "full-rank warm-up as a fraction of the steps (Pufferfish)"),
            Param("finetune", "nonnegative", 0.0, "instead: factorise the trained dense model and fine-tune for "
                                                  "this fraction of the steps")),
    quality="accuracy kept by training the factorised model after a full-rank warm-up (Pufferfish, Wang et al., "
            "MLSys 2021, arXiv:2103.03936: up to 1.64x end-to-end without accuracy loss; their scripts warm up "
            "for 10% (VGG-19) to 27% (ResNet-18) of the epochs)",
    sources=("Wang et al. 2021",))


def _lora(sc: Scenario, spec: Spec, load: Load) -> Scenario:
    r = int(number(spec.arg, int, f"strategy {spec.text}"))

    def apply(p: Phase) -> Phase:
        needs_linears(p.workload, spec)
        check_rank(p.workload, r, spec.text)
        return replace(p, label=f"{p.label}, LoRA r={r}", workload=with_variant(p.workload, spec.text, lora_rank=r))

    return note(sc, spec, phases=map_mains(sc, apply),
                assumptions=["LoRA fine-tunes a pre-trained base: the base weights are frozen in the "
                             "low-precision type, only the adapters get gradients and optimizer states"])


LORA = Strategy(
    name="lora", summary="LoRA: freeze the base, train rank-r adapters on every block linear", arg="R",
    example="lora:16", family=LAYERS, apply=_lora,
    quality="matches full fine-tuning quality on GPT-3 175B with 10,000x fewer trainable parameters and 3x less "
            "memory (Hu et al. 2021, arXiv:2106.09685); 4-bit bases in QLoRA keep 16-bit fine-tuning quality "
            "(Dettmers et al. 2023, arXiv:2305.14314)",
    sources=("Hu et al. 2021",))


# ------------------------------------------------------------------------------------- distillation
def _distill(sc: Scenario, spec: Spec, load: Load) -> Scenario:
    teacher_ref = spec.params["teacher"]
    if not teacher_ref:
        raise CostsimError("distill needs teacher=WORKLOAD (a bundled name or a path)", field=f"strategy {spec.text}")
    p = final_phase(sc)
    teacher = load("workload", teacher_ref, ())
    if teacher.kind != p.workload.kind:
        raise CostsimError(f"the teacher '{teacher.name}' is a {teacher.kind} workload, the student a "
                           f"{p.workload.kind}", field=f"strategy {spec.text}")
    data = teacher.model_dump()
    data["training"] = p.workload.training.model_dump()  # the same batches, the same number of steps
    if isinstance(teacher, TransformerWorkload):  # it reads the student's sequences
        data["seq_len"] = p.workload.seq_len
    data["variant"] = {"forward_only": True}
    teacher = validated(type(teacher), data, spec.text)
    passes = replace(p, label=f"teacher forward passes ({teacher.name})", workload=teacher,
                     repeats=student_steps(sc), main=False)
    return note(sc, spec, phases=sc.phases + (passes,),
                assumptions=["the teacher runs a forward pass on every student batch, on the same devices, "
                             "held in the low-precision type; its own training is a sunk cost"])


DISTILL = Strategy(
    name="distill", summary="knowledge distillation: this workload is the student, a teacher's forward passes "
                            "are counted",
    arg="", example="distill,teacher=gpt-1.3b", family=Family("distill", "teacher"), apply=_distill,
    params=(Param("teacher", str, None, "the teacher workload (bundled name or path)"),),
    quality="a student 40% smaller keeps 97% of BERT's language understanding and runs 60% faster (DistilBERT, "
            "Sanh et al. 2019, arXiv:1910.01108; Hinton et al. 2015, arXiv:1503.02531)",
    sources=("Sanh et al. 2019", "Hinton et al. 2015"))
