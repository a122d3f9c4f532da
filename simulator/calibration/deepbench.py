"""DeepBench as a check of the kernel model on other devices (``costsim validate --suite deepbench``).

DeepBench (Baidu Research; bundled as the ``deepbench`` data set, read its README) timed dense GEMMs and
2-D convolutions (forward, data gradient, weight gradient) on Maxwell, Pascal, Volta and Turing GPUs,
AMD Vega and a Xeon Phi, with the library picking its fastest algorithm. Each row on a device with a
profile is priced here as one kernel, exactly as a training step prices it: the GEMM through
``model.ops.gemm``, the convolution through ``model.cnn.implicit_gemm`` with autotuned kernels (DeepBench
reports the fastest algorithm, which is what ``conv_autotune`` means). The GEMM curves of the Maxwell
and Volta families are fitted on stated rows (``FAMILIES``, ``scripts/fit_deepbench.py``); every other
row is a check, and the report keeps the fitted rows apart. The rest of each profile's curves are the
H200's, so those errors say how well the H200's curves carry to each older device.

Pure: rows in (dicts, as ``files.published.load_csv_raw`` reads them), results out.
"""
from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass

from ..errors import CostsimError
from ..files.published import cell_number
from ..model.cnn import implicit_gemm
from ..model.ops import Op, gemm
from ..model.roofline import price_ops, resolve_rate
from ..units import MICRO

# DeepBench device -> bundled profile (the V100 sheet's system is a DGX-1: SXM2; the P100 sits in a PCIe
# workstation board, as its Specs sheet says)
DEVICES = {"NV_M40": "m40", "NV_TitanX": "titan-x-maxwell", "NV_TitanX_Pascal": "titan-x-pascal",
           "NV_TitanXp": "titan-xp", "NV_1080Ti": "gtx-1080-ti", "NV_P100": "p100-pcie", "NV_V100": "v100-sxm2"}
NO_PROFILE = {"NV_T4": "T4", "AMD_MI25": "Radeon Instinct MI25", "AMD_VegaFE": "Vega Frontier Edition",
              "IA_KNL7250": "Xeon Phi 7250 (Knights Landing)"}
# DeepBench precision -> (data type the product runs in, bytes per element stored). P100's "pseudo fp16"
# stores fp16 and computes in fp32, as DeepBench's README says; V100/T4 "mixed" is tensor cores.
PRECISIONS = {"fp32": ("fp32", 4), "fp16_mixed": ("fp16", 2), "fp16_pseudo": ("fp32", 2)}
DIRECTIONS = {"fwd": "fwd", "bwd_data": "dgrad", "bwd_filter": "wgrad"}
RECORD_DTYPES = {"fp32": "float32", "fp16": "float16"}  # calibration records name torch's types


@dataclass(frozen=True)
class Family:
    """A device family's curves: fitted on the rows of one device (``rows``: "all" of its rows in
    ``precision``, or the "even" source rows, the odd ones held out), written into that device's profile,
    and borrowed by the profiles of ``borrowers`` (the family's other parts, and the nearest unmeasured
    ones, each saying so)."""

    device_id: str
    precision: str
    rows: str
    borrowers: tuple[str, ...]

    @property
    def profile(self) -> str:
        """The profile the fit is written into."""
        return DEVICES[self.device_id]


# Pascal is not fitted: on the Titan Xp's GEMMs the fit runs to its bounds (ceiling 1, exponent 0.3) and
# is no better than the H200's curve (median 20% against 18.5%), so the Pascal parts keep the H200's
FAMILIES = {
    "maxwell": Family("NV_M40", "fp32", "all", ("titan-x-maxwell", "k40", "k80")),
    "volta": Family("NV_V100", "fp16_mixed", "even", ("v100-pcie-32gb", "rtx-2080-ti")),
}


def fitted_on(device_id: str, precision: str, source_row: float) -> bool:
    """Whether a DeepBench row is one a family's curves were fitted on (so not a held-out check)."""
    fam = next((f for f in FAMILIES.values() if f.device_id == device_id), None)
    if fam is None or fam.precision != precision:
        return False
    return fam.rows == "all" or int(source_row) % 2 == 0


def records(gemm_rows: list[dict], conv_rows: list[dict], family: Family, source: str = "deepbench") -> list[dict]:
    """The rows a family is fitted on, as calibration records (``calibration/cases.py``): ``gemm`` and
    ``conv2d_kernel`` (one direction of one convolution), timed over a loop of calls (no host floor)."""
    _columns(gemm_rows, GEMM_COLUMNS, f"{source}/gemm.csv")
    _columns(conv_rows, CONV_COLUMNS, f"{source}/conv.csv")
    dtype, size = PRECISIONS[family.precision]
    run = f"deepbench-{family.device_id}"
    def mine(r, where):
        return (r["device_id"], r["precision"]) == (family.device_id, family.precision) and fitted_on(
            r["device_id"], r["precision"], _num(r, "source_row", where))

    out = []
    for i, row in enumerate(gemm_rows, start=2):
        where = f"{source}/gemm.csv:{i}"
        if mine(row, where):
            m, n, k = (_num(row, key, where) for key in ("m", "n", "k"))
            out.append({"kind": "gemm", "run": run, "loop_timed": True, "dtype": RECORD_DTYPES[dtype], "m": m,
                        "n": n, "k": k, "seconds": _num(row, "time_us", where) * MICRO})
    for i, row in enumerate(conv_rows, start=2):
        where = f"{source}/conv.csv:{i}"
        if mine(row, where):
            n, c, h, w, kk, r, s, p, q = (_num(row, key, where) for key in ("N", "C", "H", "W", "K", "R", "S", "P",
                                                                              "Q"))
            out.append({"kind": "conv2d_kernel", "run": run, "loop_timed": True, "dtype": RECORD_DTYPES[dtype],
                        "element_bytes": size, "direction": DIRECTIONS[row["direction"]], "batch": n,
                        "c_in": int(c), "c_out": int(kk), "in_pixels": h * w, "out_pixels": p * q,
                        "taps": int(r * s), "shape": f"N{n:g} C{c:g} {h:g}x{w:g} K{kk:g} {r:g}x{s:g}",
                        "seconds": _num(row, "time_us", where) * MICRO})
    return out


@dataclass(frozen=True)
class Kernel:
    """One DeepBench row as the model sees it: the kernel, where it ran and how long it took."""

    device_id: str
    profile: str
    kind: str          # gemm or conv
    precision: str     # DeepBench's label: fp32, fp16_mixed, fp16_pseudo
    direction: str     # gemm; conv: fwd, bwd_data, bwd_filter
    shape: str
    op: Op
    measured_s: float
    fitted: bool = False   # a row a family's GEMM curve was fitted on (FAMILIES): in-sample, not a check


@dataclass(frozen=True)
class Priced:
    """A kernel's predicted time; ``above_peak``: it ran faster than the device's peak at its direct
    FLOP count allows (the library used Winograd or FFT, which do fewer multiplications)."""

    kernel: Kernel
    predicted_s: float
    above_peak: bool

    @property
    def error_fraction(self) -> float:
        """Signed relative error of the prediction (positive: predicted slower than measured)."""
        return self.predicted_s / self.kernel.measured_s - 1.0


@dataclass(frozen=True)
class Group:
    """The errors of one device, precision, kind and direction."""

    device_id: str
    profile: str
    precision: str
    kind: str
    direction: str
    rows: int
    mape: float
    median_abs_error: float
    bias: float             # median signed error
    above_peak: int
    fitted: bool            # rows the family's curve was fitted on (in-sample), or held out


@dataclass(frozen=True)
class DeepbenchReport:
    """``validate --suite deepbench``: per-group errors, every priced row, the rows left out and why."""

    data: str
    groups: tuple[Group, ...]
    priced: tuple[Priced, ...]
    not_estimated: dict[str, int]

    def to_dict(self) -> dict:
        """The report as JSON-ready data."""
        return {"suite": "deepbench", "data": self.data,
                "groups": [g.__dict__ for g in self.groups],
                "rows": [{"device_id": p.kernel.device_id, "profile": p.kernel.profile, "kind": p.kernel.kind,
                          "precision": p.kernel.precision, "direction": p.kernel.direction, "shape": p.kernel.shape,
                          "measured_s": p.kernel.measured_s, "predicted_s": p.predicted_s,
                          "error_fraction": p.error_fraction, "above_peak": p.above_peak,
                          "fitted": p.kernel.fitted} for p in self.priced],
                "not_estimated": dict(self.not_estimated)}


def _num(row: dict, key: str, where: str) -> float:
    value = cell_number(row.get(key), positive=True)
    if value is None:
        raise CostsimError(f"not a positive number: {row.get(key)!r}", source=where, field=key)
    return value


def _device(row: dict, skipped: Counter) -> tuple[str, str] | None:
    dev, prec = row["device_id"], row["precision"]
    if dev not in DEVICES:
        skipped[f"no profile for the device ({NO_PROFILE.get(dev, dev)})"] += 1
        return None
    if prec not in PRECISIONS:
        skipped[f"precision not modelled ({prec})"] += 1
        return None
    return DEVICES[dev], prec


GEMM_COLUMNS = ("device_id", "precision", "m", "n", "k", "time_us", "source_row")
CONV_COLUMNS = ("device_id", "precision", "direction", "N", "C", "H", "W", "K", "R", "S", "P", "Q", "stride_h",
                "time_us", "source_row")


def _columns(rows: list[dict], needed: tuple[str, ...], where: str) -> None:
    missing = [c for c in needed if rows and c not in rows[0]]
    if missing:
        raise CostsimError(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}", source=where)


def kernels(gemm_rows: list[dict], conv_rows: list[dict], source: str = "deepbench") -> tuple[list[Kernel], Counter]:
    """The rows the model can price, as kernels; and the count of rows left out, by reason."""
    _columns(gemm_rows, GEMM_COLUMNS, f"{source}/gemm.csv")
    _columns(conv_rows, CONV_COLUMNS, f"{source}/conv.csv")
    out, skipped = [], Counter()
    for i, row in enumerate(gemm_rows, start=2):
        hit = _device(row, skipped)
        if hit is None:
            continue
        where = f"{source}/gemm.csv:{i}"
        m, n, k = (_num(row, key, where) for key in ("m", "n", "k"))
        dtype, size = PRECISIONS[hit[1]]
        op = gemm("gemm", m, n, k, size, size, dtype)
        out.append(Kernel(row["device_id"], hit[0], "gemm", hit[1], "gemm", f"{m:g}x{n:g}x{k:g}", op,
                          _num(row, "time_us", where) * MICRO,
                          fitted_on(row["device_id"], row["precision"], _num(row, "source_row", where))))
    for i, row in enumerate(conv_rows, start=2):
        hit = _device(row, skipped)
        if hit is None:
            continue
        where = f"{source}/conv.csv:{i}"
        n, c, h, w, kk, r, s, p, q = (_num(row, key, where) for key in ("N", "C", "H", "W", "K", "R", "S", "P", "Q"))
        dtype, size = PRECISIONS[hit[1]]
        fwd, (dgrad, wgrad) = implicit_gemm("conv", n, int(c), int(kk), h * w, p * q, int(r * s), size, dtype,
                                            autotuned=True)
        op = {"fwd": fwd, "bwd_data": dgrad, "bwd_filter": wgrad}.get(row["direction"])
        if op is None:
            raise CostsimError(f"unknown direction '{row['direction']}'", source=where, field="direction")
        shape = f"N{n:g} C{c:g} {h:g}x{w:g} K{kk:g} {r:g}x{s:g} /{row['stride_h']}"
        out.append(Kernel(row["device_id"], hit[0], "conv", hit[1], row["direction"], shape, op,
                          _num(row, "time_us", where) * MICRO))
    return out, skipped


def price(found: list[Kernel], profiles) -> list[Priced]:
    """Each kernel's predicted time on its device's profile (``profiles``: name -> profile)."""
    out = []
    for kernel in found:
        profile = profiles(kernel.profile)
        cost = price_ops([kernel.op], profile)[0][0]
        peak = resolve_rate(profile, kernel.op.dtype)[1]
        out.append(Priced(kernel, cost.time_s, kernel.op.flops / kernel.measured_s > peak))
    return out


def report(priced: list[Priced], skipped: Counter, data: str) -> DeepbenchReport:
    """Per device, precision, kind and direction: MAPE, median |error|, median signed error."""
    by = defaultdict(list)
    for p in priced:
        k = p.kernel
        by[(k.device_id, k.profile, k.precision, k.kind, k.direction, k.fitted)].append(p)
    groups = []
    for key, rows in by.items():
        errors = [p.error_fraction for p in rows]
        groups.append(Group(*key[:5], len(rows), statistics.fmean(map(abs, errors)),
                            statistics.median(map(abs, errors)), statistics.median(errors),
                            sum(p.above_peak for p in rows), key[5]))
    return DeepbenchReport(data, tuple(groups), tuple(priced), dict(skipped))
