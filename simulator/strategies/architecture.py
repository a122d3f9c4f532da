"""Architecture strategies: neural architecture search (its search priced as trainings, against the found
model's saving) and transfer learning (pre-train once, fine-tune K tasks), each declared beside the
function that applies it and the break-even figures it reports."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..errors import CostsimError
from .compression import check_rank, needs_linears
from .scenario import Scenario, final_phase, note, validated, with_variant
from .spec import Family, Load, Param, Spec, Strategy


# ------------------------------------------------------------------------------------- NAS
@dataclass(frozen=True)
class NASPreset:
    """A published architecture search, its cost in trainings.

    Attributes:
        method: the kind of search (reinforcement learning, evolution, weight sharing, once-for-all).
        search_trainings: the search, in trainings of the final model on the same hardware.
        derivation: how that figure follows from the paper.
        source: the paper.
        per_deployment_trainings: once-for-all: the specialisation per deployment, in trainings.
    """

    method: str
    search_trainings: float
    derivation: str
    source: str
    per_deployment_trainings: float = 0.0


NAS_PRESETS = {
    "zoph-le-2017": NASPreset(
        "reinforcement learning", 12800 * 50 / 600,
        "12,800 candidate networks, each trained 50 epochs on the CIFAR-10 proxy, against a 600-epoch final "
        "training (the NASNet/AmoebaNet CIFAR-10 protocol; an assumption for this paper): 1,067 trainings",
        "Zoph & Le, ICLR 2017 (800 GPUs x 28 days; 12,800 architectures per secondary transcriptions)"),
    "nasnet": NASPreset(
        "reinforcement learning", 20000 * 20 / 600,
        "20,000 child models, each trained 20 epochs on CIFAR-10, against a 600-epoch final training: 667 trainings",
        "Zoph, Vasudevan, Shlens & Le, CVPR 2018, arXiv:1707.07012 (500 P100s x 4 days = 2,000 GPU-days)"),
    "amoebanet": NASPreset(
        "evolution", 20000 * 25 / 600,
        "20,000 models, each trained 25 epochs, against a 600-epoch final training: 833 trainings",
        "Real, Aggarwal, Huang & Le, AAAI 2019, arXiv:1802.01548 (450 K40s, about 7 days: 3,150 GPU-days)"),
    "enas": NASPreset(
        "weight sharing (one-shot)", 0.45 / 1.5,
        "0.45 GPU-days of search (under 16 hours on one GPU) against DARTS' 1.5 GPU-days for the final CIFAR-10 "
        "training of a cell network of the same kind (an assumption: ENAS reports no final-training cost)",
        "Pham, Guan, Zoph, Le & Dean, ICML 2018, arXiv:1802.03268; DARTS Table 1"),
    "darts": NASPreset(
        "weight sharing (differentiable)", (4.0 + 1.0) / 1.5,
        "second-order search 4 GPU-days plus 1 GPU-day of selection, against 1.5 GPU-days of final training: "
        "3.3 trainings",
        "Liu, Simonyan & Yang, ICLR 2019, Table 1 and its notes"),
    "darts-1st": NASPreset(
        "weight sharing (differentiable)", (1.5 + 1.0) / 1.5,
        "first-order search 1.5 GPU-days plus 1 GPU-day of selection, against 1.5 GPU-days of final training",
        "Liu, Simonyan & Yang, ICLR 2019, Table 1 and its notes"),
    "ofa": NASPreset(
        "once-for-all (train a supernet once, specialise per deployment)", (1200 + 40) / 250,
        "supernet training 1,200 V100 GPU-hours plus a 40 GPU-hour search, constant in the number of "
        "deployments, against 250 GPU-hours for one ImageNet training of a specialised mobile model "
        "(OFA's Table 1 training cost per scenario for DARTS): 5.0 trainings; no retraining per deployment",
        "Cai, Gan, Wang, Zhang & Han, ICLR 2020, arXiv:1908.09791, Table 1",
        per_deployment_trainings=0.0),
}


def _nas(sc: Scenario, spec: Spec, load: Load) -> Scenario:
    where = spec.text
    preset = NAS_PRESETS.get(spec.arg)
    if preset is None:
        raise CostsimError(f"unknown NAS preset '{spec.arg}'; known: {', '.join(NAS_PRESETS)}",
                           field=f"strategy {where}")
    found_ref, saving = spec.params["found"], spec.params["saving"]
    if (found_ref is None) == (saving is None):
        raise CostsimError("nas needs the found model: found=WORKLOAD (priced on the same hardware) or "
                           "saving=FRACTION (its training cost saved against this workload's), one of them",
                           field=f"strategy {where}")
    trainings = spec.params["trainings"] if spec.params["trainings"] is not None else preset.search_trainings
    if spec.params["versus"] not in NAS_PRESETS:
        raise CostsimError(f"unknown preset '{spec.params['versus']}' to compare with; known: "
                           f"{', '.join(NAS_PRESETS)}", field=f"strategy {where}")
    phases = []
    for p in sc.phases:
        if not p.main:
            phases.append(p)
            continue
        phases.append(replace(p, label=f"architecture search ({spec.arg}: {trainings:,.4g} trainings)",
                              repeats=p.repeats * trainings, main=False))
        if found_ref is not None:
            found = load("workload", found_ref, ())
            data = found.model_dump()
            data["variant"] = p.workload.variant.model_dump()  # the strategies so far apply to it too
            found = validated(type(found), data, where)
            v = found.variant
            if v.factorised or v.lora_rank or v.sparsity:
                needs_linears(found, spec)
                check_rank(found, v.low_rank or v.lora_rank, where)
            phases.append(replace(p, label=f"training the found model ({found.name})", workload=found))
        else:
            phases.append(replace(p, label=f"{p.label} (found model: {saving:.0%} of this cost saved)",
                                  repeats=p.repeats * (1 - saving)))
    analysis = {"preset": spec.arg, "search_trainings": trainings, "saving": saving,
                "per_deployment_trainings": preset.per_deployment_trainings, "versus": spec.params["versus"]}
    return note(sc, spec, phases=phases, analyses=sc.analyses + ((spec, analysis),),
                assumptions=[f"search cost: {preset.derivation} ({preset.source})",
                             "the search is priced as that many trainings of this workload on this hardware"])


def _nas_break_even(a: dict, main: dict[str, float], over: list) -> dict:
    """The search's cost and CO2, the found model's saving per training (USD) and the trainings (once-for-all:
    also the deployments) after which the search has paid for itself (None: never)."""
    out: dict[str, float | str | None] = {}
    search = [c for c in over if c.label.startswith("architecture search")]
    search_usd = math.fsum(c.cost_usd for c in search)
    one_training = search_usd / a["search_trainings"] if search_usd else 0.0
    saved = one_training - main["cost_usd"]
    out["search_cost_usd"] = search_usd
    out["search_co2_kg"] = math.fsum(c.co2_kg for c in search)
    out["found_model_saving_usd_per_training"] = saved
    out["break_even_trainings"] = math.ceil(search_usd / saved) if saved > 0 else None
    if a["preset"] == "ofa":
        versus = NAS_PRESETS[a["versus"]]
        per_deployment = (versus.search_trainings + 1 - a["per_deployment_trainings"]) * one_training
        out["versus"] = a["versus"]
        out["break_even_deployments"] = math.ceil(search_usd / per_deployment)
    return out


def _nas_presets() -> dict:
    """The NAS presets as plain data, for ``costsim strategies show nas``."""
    return {"presets": {k: {"method": v.method, "search_trainings": v.search_trainings, "derivation": v.derivation,
                            "source": v.source} for k, v in NAS_PRESETS.items()}}


NAS = Strategy(
    name="nas", summary="neural architecture search: the search priced as trainings of this workload, then the "
                        "found model",
    arg="PRESET", example="nas:darts,saving=0.3", family=Family("nas", "architecture search"), apply=_nas,
    break_even=_nas_break_even, details=_nas_presets,
    params=(Param("found", str, None, "the found model as a workload (priced on the same hardware)"),
            Param("saving", "fraction", None, "or: the share of this workload's training cost the found model "
                                              "saves"),
            Param("trainings", "positive", None, "override the preset's search cost, in trainings"),
            Param("versus", str, "darts", "once-for-all: the per-deployment search it is compared with")),
    quality="the found model's quality is the paper's; break-even after Patterson et al. 2021 (Evolved "
            "Transformer search paid back 15:1 in one reuse)",
    sources=("see each preset",))



# ------------------------------------------------------------------------------------- transfer
def _transfer(sc: Scenario, spec: Spec, load: Load) -> Scenario:
    where = spec.text
    tasks = int(spec.params["tasks"])
    finetune, lora = spec.params["finetune"], spec.params["lora"]
    p = final_phase(sc)
    tuned = p.workload
    if lora:
        needs_linears(tuned, spec)
        check_rank(tuned, lora, where)
        tuned = with_variant(tuned, where, lora_rank=int(lora))
    phases = sc.phases + (replace(p, label=f"fine-tuning {tasks} task(s)" + (f" with LoRA r={lora:g}" if lora else ""),
                                  workload=tuned, repeats=finetune * tasks, main=False),)
    analysis = {"tasks": tasks, "finetune": finetune, "scratch": spec.params["scratch"]}
    return note(sc, spec, phases=phases, analyses=sc.analyses + ((spec, analysis),))


def _transfer_break_even(a: dict, main: dict[str, float], over: list) -> dict:
    """Training every task from scratch against pre-training once and fine-tuning each (USD), the cost per
    task, and the tasks after which pre-training pays for itself (None: never)."""
    out: dict[str, float | str | None] = {}
    pretrain = main["cost_usd"]
    tuned = math.fsum(c.cost_usd for c in over if c.label.startswith("fine-tuning"))
    scratch = a["tasks"] * a["scratch"] * pretrain
    per_task_saved = a["scratch"] * pretrain - tuned / a["tasks"]
    out["from_scratch_cost_usd"] = scratch
    out["transfer_cost_usd"] = pretrain + tuned
    out["cost_per_task_usd"] = (pretrain + tuned) / a["tasks"]
    out["break_even_tasks"] = math.ceil(pretrain / per_task_saved) if per_task_saved > 0 else None
    return out


TRANSFER = Strategy(
    name="transfer", summary="pre-train once, fine-tune K downstream tasks, against training each from scratch",
    arg="", example="transfer,tasks=10", family=Family("transfer", "amortisation across tasks"), apply=_transfer,
    break_even=_transfer_break_even,
    params=(Param("tasks", int, 10, "K downstream tasks"),
            Param("finetune", "positive", 0.001, "each task's fine-tuning as a fraction of the pre-training steps "
                                                 "(BERT: about 1 TPU-hour against 4 days on 16 TPUs, ~0.0007)"),
            Param("lora", int, None, "fine-tune with LoRA adapters of this rank"),
            Param("scratch", "positive", 1.0, "training one task from scratch, as a fraction of this run")),
    quality="fine-tuned pre-trained models match or beat task-specific training (Devlin et al. 2019: "
            "fine-tuning 'in at most 1 hour on a single Cloud TPU' after 4 days of pre-training on 16)",
    sources=("Devlin et al. 2019", "Strubell et al. 2019"))

