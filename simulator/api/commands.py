"""Functions named as the CLI's commands that have no single home above."""
from __future__ import annotations

from typing import Iterable

from ..errors import CostsimError
from ..files.bundled import DATASETS, data_folder, dataset, label
from ..files.loader import bundled_names
from ..model.memory import parameter_count
from ..model.step import _step_ops, model_flops_per_step
from ..schema.workload import CNNWorkload, TransformerWorkload
from .calibration import calibrate_cpu, calibrate_cuda, calibrate_files
from .validation import compression_checks, history, validate_file, validate_suite


def validate(measurements: str | None = None, *, suite: str | None = None, data: str | None = None):
    """``costsim validate``: a measurements file, or a bundled suite (h200, vtrain, compression, history)."""
    if bool(measurements) == bool(suite):
        raise CostsimError("give a measurements file or a suite", field="suite")
    if measurements:
        return validate_file(measurements)
    if suite == "compression":
        return compression_checks(data)
    if suite == "history":
        return history(data)
    return validate_suite(suite, data)


def calibrate(*, device: str | None = None, files: Iterable[str] = (), name: str = "calibrated",
              base: str | None = None, quick: bool = False, force: bool = False, keep_price: bool = False):
    """``costsim calibrate``: measure this machine (``device`` cpu or cuda) or fit measurement ``files``.
    Returns the profile's YAML text and the fit (and, when measured, the raw records). ``force`` writes a
    profile whose fit is worse than the stated bound (with a warning in it); ``keep_price`` keeps the
    CPU base's price (marked as borrowed)."""
    if files:
        return calibrate_files(list(files), base=base or "h200", name=name, force=force)
    if device == "cpu":
        return calibrate_cpu(quick=quick, base=base or "xeon-8480", name=name, force=force, keep_price=keep_price)
    if device == "cuda":
        return calibrate_cuda(quick=quick, base=base or "h200", name=name, force=force)
    raise CostsimError("give device='cpu' or 'cuda', or measurement files", field="device")


def profiles() -> list[str]:
    """``costsim profiles list``: the bundled hardware profiles."""
    return bundled_names("hardware")


def workloads() -> list[str]:
    """``costsim workloads list``: the bundled workloads."""
    return bundled_names("workload")


def data(name: str | None = None) -> list[dict]:
    """``costsim data list|path``: the data sets commands read by default, each with what it is, its
    licence, the commands that read it, and the folder it is read from now (``$COSTSIM_DATA`` or the
    bundled copy): ``{name, title, licence, used_by, folder, shown_as, files}``."""
    names = [dataset(name).name] if name else list(DATASETS)
    rows = []
    for n in names:
        ds, folder = DATASETS[n], data_folder(n)
        rows.append({"name": n, "title": ds.title, "licence": ds.licence, "used_by": ds.used_by,
                     "folder": str(folder), "shown_as": label(folder), "files": sorted(ds.files)})
    return rows


def workload_summary(wl) -> dict:
    """Derived quantities of a workload: parameters, tokens or images, FLOPs per step."""

    batch = wl.training.global_batch_size
    out = {"name": wl.name, "kind": wl.kind, "parameters": parameter_count(wl), "steps": wl.total_steps,
           "global_batch_size": batch, "model_flops_per_step": model_flops_per_step(wl, _step_ops(wl, batch))}
    if isinstance(wl, TransformerWorkload):
        out["tokens_per_step"] = wl.tokens_per_step
        out["tokens"] = wl.tokens_per_step * wl.total_steps
    elif isinstance(wl, CNNWorkload):
        out["images"] = batch * wl.total_steps
    out["model_flops"] = out["model_flops_per_step"] * wl.total_steps
    return out


