"""The data sets a command reads by default, shipped inside the package (``simulator/data/``).

Part of the files layer: this module only says where the data lie. Each data set is one folder of
package data, found through ``importlib.resources`` so that it works from an installed wheel as well as
from a checkout. The repository's ``shared/`` folder is where every bundled copy comes from
(``scripts/bundle_data.py`` refreshes them; a test checks that they are identical where the source is
present).

Where a command reads a data set:

1. an explicit folder (the ``data`` parameter; ``--data DIR`` on the command line), else
2. the environment variable ``COSTSIM_DATA``, a root folder laid out either like ``simulator/data/``
   (``$COSTSIM_DATA/thompson``) or like the repository's ``shared/`` (``$COSTSIM_DATA/data/thompson``),
   else
3. the bundled copy.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Mapping

from ..errors import CostsimError

ENVIRONMENT_VARIABLE = "COSTSIM_DATA"


@dataclass(frozen=True)
class Dataset:
    """One bundled data set: its name, what it is, its licence, and its files.

    Attributes:
        name: the data set's name, also its folder under ``simulator/data/``.
        title: what it is, in a few words.
        licence: the licence it is distributed under (its text is one of the files).
        source: its folder under the repository's ``shared/``, from which the copy is made; None for a data
            set compiled in this repository (its files are the originals).
        files: bundled file name -> path under ``shared/`` of the file it is a copy of.
        used_by: the commands that read it by default.
    """

    name: str
    title: str
    licence: str
    source: str | None
    files: Mapping[str, str]
    used_by: str


def _same_names(folder: str, *names: str) -> dict[str, str]:
    return {n: f"{folder}/{n}" for n in names}


_THOMPSON_CSVS = ("image-classification-on-imagenet.csv", "machine-translation-on-wmt2014-en-de.csv",
                  "machine-translation-on-wmt2014-en-fr.csv", "named-entity-recognition-on-conll-2003.csv",
                  "object-detection-on-coco.csv", "question-answering-on-squad-1-1.csv")

DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("thompson", "Thompson et al., The Computational Limits of Deep Learning: models, compute, scores",
            "GNU GPL v3 (MIT FutureTech)", "data/thompson",
            _same_names("data/thompson", "LICENSE", "README.md", *_THOMPSON_CSVS),
            "limits, plot limits, validate --suite history"),
    Dataset("hardware-history", "MIT FutureTech processor tables: GPUs 2007-2020, CPUs, Cloud TPUs",
            "GNU GPL v3 (MIT FutureTech, the same data set as thompson)", "data/hardware-history",
            {**_same_names("data/hardware-history", "README.md", "gpus.csv", "cpus.csv", "tpus.csv"),
             "LICENSE": "data/thompson/LICENSE"},
            "project"),
    Dataset("h200", "Microbenchmarks and training steps of one NVIDIA H200 SXM (PyTorch eager)",
            "MIT (this project's own measurements)", "calibration/h200",
            {**_same_names("calibration/h200", "measurements.jsonl", "operators.jsonl"),
             "README.md": "calibration/README.md"},
            "validate --suite h200 and compression, calibrate --from"),
    Dataset("vtrain", "vTrain's 1,549 measured Megatron-DeepSpeed iteration times on A100 clusters",
            "MIT-style (VIA Research Group, KAIST)", "validation/vtrain",
            _same_names("validation/vtrain", "LICENSE", "README.md", "ground_truth_single.csv",
                        "ground_truth_multi.csv"),
            "validate --suite vtrain"),
    Dataset("published", "Published large-model training runs with their full configuration (Megatron-LM, "
            "Narayanan et al. 2021; Korthikanti et al. 2022)", "MIT (this project's compilation of published "
            "figures; each row cites its paper and table)", None, {"runs.csv": "runs.csv", "README.md": "README.md"},
            "validate --suite published"),
    Dataset("mlperf", "MLPerf Training closed-division results, rounds v1.0-v3.1 (MLCommons; a derived "
            "extraction, not official results)", "Apache 2.0 (MLCommons training results)", "validation/mlperf",
            _same_names("validation/mlperf", "LICENSE", "README.md", "scores.csv", "runs.csv"),
            "validate --suite mlperf"),
    Dataset("deepbench", "DeepBench GEMM, convolution and all-reduce timings of Maxwell, Pascal, Volta and Turing "
            "GPUs, AMD Vega and a Xeon Phi (Baidu Research, 2016-2020)", "Apache 2.0 (Baidu Research)",
            "calibration/deepbench",
            _same_names("calibration/deepbench", "LICENSE", "README.md", "gemm.csv", "conv.csv", "allreduce.csv",
                        "devices.csv"),
            "validate --suite deepbench"),
)}


def dataset(name: str) -> Dataset:
    """The bundled data set called ``name``, or a one-line error listing the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise CostsimError(f"unknown data set '{name}'; known: {', '.join(DATASETS)}", field="dataset") from None


def bundled_root() -> Path:
    """The folder of the bundled data sets inside the installed package."""
    root = resources.files("simulator") / "data"
    if not isinstance(root, Path):  # a zipped install: the data must be a real folder to be read
        raise CostsimError("the package's data folder is not on the file system (zipped install?)",
                           source="simulator/data")
    return root


def bundled_folder(name: str) -> Path:
    """The folder of one bundled data set."""
    return bundled_root() / dataset(name).name


def data_folder(name: str, override: str | Path | None = None,
                environment: Mapping[str, str] | None = None) -> Path:
    """Where data set ``name`` is read from: ``override`` (the data set's folder, a file where the reader
    takes one, or a root of data sets in either layout), else ``$COSTSIM_DATA`` (a root, either layout;
    see the module's docstring), else the bundled copy. ``environment`` defaults to the process's."""
    ds = dataset(name)
    if override is not None and str(override) != "":
        path = Path(override)
        if not path.exists():
            raise CostsimError("no such file or folder", source=str(path), field="data")
        return in_root(path, name) or path
    env = os.environ if environment is None else environment
    root = env.get(ENVIRONMENT_VARIABLE, "")
    if root:
        found = in_root(Path(root), name)
        if found is None:
            raise CostsimError(f"has no folder '{ds.name}' or '{ds.source}' for the {name} data set",
                               source=f"{ENVIRONMENT_VARIABLE}={root}")
        return found
    return bundled_folder(name)


def in_root(root: Path, name: str) -> Path | None:
    """Data set ``name``'s folder inside a root of data sets laid out like ``simulator/data/`` or like
    the repository's ``shared/``; None when ``root`` holds neither."""
    ds = dataset(name)
    for candidate in (root / ds.name, *([root / ds.source] if ds.source else [])):
        if candidate.is_dir():
            return candidate
    return None


def label(path: Path) -> str:
    """How a message names a data file: ``bundled thompson/gpus.csv`` for a bundled copy (not a path
    inside site-packages), the path itself otherwise."""
    try:
        inside = Path(path).resolve().relative_to(bundled_root().resolve())
    except (ValueError, CostsimError):
        return str(path)
    return f"bundled {inside.as_posix()}"
