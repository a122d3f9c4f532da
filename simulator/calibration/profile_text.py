"""The YAML text of a calibrated profile: the fitted block (between BEGIN and END markers), a profile
that ``extends:`` its base, and a self-contained CPU profile whose every field names its source."""
from __future__ import annotations

import json
from dataclasses import dataclass

from ..schema.hardware import ClassicalProfile, EfficiencyCurve, Power
from ..units import GIGA, MICRO, TERA
from .fit import FIT_BOUNDS_MEDIAN_FRACTION, FitResult, group_stats

# The lines around the fitted block of a profile (scripts/fit_h200.py replaces what lies between them)
BEGIN = "# BEGIN FITTED (scripts/fit_h200.py writes this block; do not edit by hand)"
END = "# END FITTED"


def _g(x: float) -> str:
    return f"{x:.6g}"


def _curve_lines(name: str, c: EfficiencyCurve, note: str) -> list[str]:
    return [f"  {name}:  # {note}", f"    max_fraction: {_g(c.max_fraction)}",
            f"    half_saturation_s: {_g(c.half_saturation_s)}", f"    exponent: {_g(c.exponent)}"]


CURVE_NOTES = {
    "gemm": "GEMM sweep (burst rates)",
    "attention": "flash attention forward (burst)",
    "attention_backward": "flash attention forward+backward less the forward (burst)",
    "conv": "conv2d forward, with conv_backward and the tile reduction fitted on forward and forward+backward",
    "conv_backward": "conv2d data and weight gradients, kernels as cuDNN's heuristics pick them (eager PyTorch)",
    "memory": "ceiling: the largest streaming kernels; knee: single small kernels",
    "sparse_gemm": "2:4 sparse products (cuSPARSELt) against the kept FLOPs; exponent fixed at 0.5",
}


def fitted_block(result: FitResult, source_files: str, top_fields: dict | None = None,
                 host_note: str = "") -> str:
    """The YAML text of a fitted block (between BEGIN and END markers), with its provenance."""
    e, p = result.efficiency, result.power
    lines = [BEGIN, f"# Fitted from {source_files}: microbenchmarks only; training steps are never used.",
             "# Per-group fit quality (median / worst |error| of time, over the cases of each group):"]
    lines += [f"#   {g}: {n} cases, median {med:.1%}, worst {worst:.1%}"
              for g, (n, med, worst) in group_stats(result.residuals).items()]
    lines += [f"# {note}" for note in result.notes]
    for key, (value, note) in (top_fields or {}).items():
        lines.append(f"{key}: {_g(value)}  # {note}")
    lines += [f"kernel_launch_overhead_s: {_g(result.kernel_launch_overhead_s)}"
              "  # launch_overhead: tiny kernels back to back"]
    if result.matmul_dispatch_s is not None:
        lines += [f"matmul_dispatch_s: {_g(result.matmul_dispatch_s)}  # launch_overhead: small GEMMs back to back"]
    lines += [
              "power:  # idle and power_regime windows (energy counter) where measured; else the base's",
              f"  tdp_watts: {_g(p.tdp_watts)}", f"  idle_watts: {_g(p.idle_watts)}",
              f"  host_per_device_watts: {_g(p.host_per_device_watts)}" + (f"  # {host_note}" if host_note else ""),
              f"  compute_bound_fraction: {_g(p.compute_bound_fraction)}",
              f"  memory_bound_fraction: {_g(p.memory_bound_fraction)}"]
    lines += efficiency_lines(e)
    lines.append(END)
    return "\n".join(lines) + "\n"


def efficiency_lines(e, notes: dict[str, str] | None = None) -> list[str]:
    """The ``efficiency:`` block of a profile, one line per figure (``notes``: a curve's comment, else
    the fit's own)."""
    notes = {**CURVE_NOTES, **(notes or {})}
    lines = ["efficiency:"]
    for name in ("gemm", "sparse_gemm", "attention", "attention_backward", "conv", "conv_backward", "memory"):
        if getattr(e, name) is not None:
            lines += _curve_lines(name, getattr(e, name), notes[name])
    if e.conv_tile_half_reduction:
        lines.append(f"  conv_tile_half_reduction: {_g(e.conv_tile_half_reduction)}  # " + notes.get(
            "conv_tile_half_reduction", "conv2d sweep: reduction length at which an implicit-GEMM tile reaches half "
                                        "its ceiling"))
    lines.append("  attention_softmax:  # " + notes.get("attention_softmax",
                                                        "fp32 FLOP-equivalents per attention score element"))
    lines += [f"    {k}: {_g(v)}" for k, v in e.attention_softmax.model_dump().items()]
    if e.gemm_epilogue_fraction:
        lines.append(f"  gemm_epilogue_fraction: {_g(e.gemm_epilogue_fraction)}  # " + notes.get(
            "gemm_epilogue_fraction", "GEMM sweep: output stores not hidden by the main loop (short inner dimensions)"))
    lines.append(f"  sustained_compute_fraction: {_g(e.sustained_compute_fraction)}  # " + notes.get(
        "sustained_compute_fraction", "power_regime compute-bound (sustained) against the burst GEMM curve"))
    lines.append("  memory_class_fraction:  # " + notes.get("memory_class_fraction",
                                                          "layernorm, loss, embedding, optimizer rows"))
    lines += [f"    {k}: {_g(v)}" for k, v in e.memory_class_fraction.model_dump().items()]
    return lines


def _yaml_scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar
    return _g(value)


def calibrated_profile_text(base: str, name: str, result: FitResult, provenance: str, source_files: str,
                            measured: dict | None = None, warning: str = "") -> str:
    """A profile that ``extends:`` its base and carries what was measured and fitted.

    ``measured``: top-level fields measured directly (``{"memory_bandwidth_bytes_per_s": value}``, or a
    mapping for a nested block such as ``peak_dense_flops_per_s``), recorded with status measured.
    ``warning``: written as a comment at the top and as the profile's ``notes`` (a forced fit).
    """
    measured = measured or {}
    lines = [f"# Written by costsim calibrate from {source_files}. Rerun it to refresh; do not edit by hand.",
             *([f"# WARNING: {warning}"] if warning else []),
             f"extends: {base}", f"name: {name}",
             *([f"notes: {_yaml_scalar('WARNING: ' + warning)}"] if warning else []),
             f"description: {_yaml_scalar(f'{base}, calibrated on measurements: ' + provenance)}",
             "sources:",
             f"  - cite: {_yaml_scalar('costsim calibrate: ' + source_files)}",
             "    status: fitted",
             "    fields: [kernel_launch_overhead_s, matmul_dispatch_s, power, efficiency]",
             f"    note: {_yaml_scalar(provenance)}"]
    if measured:
        lines += [f"  - cite: {_yaml_scalar('costsim calibrate: best measured rates, ' + source_files)}",
                  "    status: measured",
                  f"    fields: [{', '.join(measured)}]",
                  "    note: \"No datasheet figure is assumed: the peaks are the best rates measured here, so the "
                  "curves' max_fraction is relative to them.\""]
    for key, value in measured.items():
        if isinstance(value, dict):
            lines.append(f"{key}:")
            lines += [f"  {k}: {_yaml_scalar(v)}" for k, v in value.items()]
        else:
            lines.append(f"{key}: {_yaml_scalar(value)}")
    return "\n".join(lines) + "\n" + fitted_block(result, source_files)


# ------------------------------------------------------------------------------------- CPU profiles
@dataclass(frozen=True)
class CPUBase:
    """What scaling a CPU base's power to the cores measured here needs.

    Attributes:
        logical_cpus: hardware threads of the whole part.
        family: the family's name as it appears in CPU model strings.
    """

    logical_cpus: int
    family: str


# Bundled CPU profiles a calibration can take its unmeasurable fields from. xeon-8480: 56 cores with
# two threads each (Intel ARK, as cited in hardware_profiles/xeon-8480.yaml).
CPU_BASES = {"xeon-8480": CPUBase(logical_cpus=112, family="Xeon")}
POWER_FIELDS = ("tdp_watts", "idle_watts", "host_per_device_watts")


def scaled_power(base: ClassicalProfile, base_name: str, cpus_used: int, cpu_model: str
                 ) -> tuple[Power, str, str]:
    """The base's TDP, idle power and host share scaled to the logical CPUs used here, where the base
    is a bigger part: ``(power, source status, note)``. Per logical CPU, since a process's CPU set
    (a VM's vCPUs) counts hardware threads. Status ``estimate`` within the base's family, else
    ``assumption``; unscaled (``assumption``) where the base is not bigger or its size is unknown."""
    p, info = base.power, CPU_BASES.get(base_name)
    if info is None or cpus_used >= info.logical_cpus:
        why = ("costsim does not know its number of logical CPUs" if info is None
               else f"it has no more logical CPUs ({info.logical_cpus}) than the {cpus_used} used here")
        return p, "assumption", (f"Borrowed unscaled from {base_name} ({p.tdp_watts:g} W TDP): {why}. No power "
                                 "was measured; set power.* from a package-power reading to replace it.")
    ratio = cpus_used / info.logical_cpus
    power = Power(**{**p.model_dump(), **{k: getattr(p, k) * ratio for k in POWER_FIELDS}})
    note = (f"No power was measured. {base_name}'s {p.tdp_watts:g} W TDP, {p.idle_watts:g} W idle and "
            f"{p.host_per_device_watts:g} W host share, scaled by the {cpus_used} logical CPUs used here over its "
            f"{info.logical_cpus}: x {ratio:.4g}.")
    if info.family.lower() in cpu_model.lower():
        return power, "estimate", note + (f" This CPU ({cpu_model}) is a smaller part, or a slice, of the same "
                                          f"family ({info.family}), so its power per logical CPU carries over.")
    return power, "assumption", note + (f" This CPU ({cpu_model or 'model unknown'}) is not a {info.family}: "
                                        "power per logical CPU of another family, carried over without evidence.")


def _source(cite: str, status: str, fields: list[str], note: str) -> list[str]:
    return [f"  - cite: {_yaml_scalar(cite)}", f"    status: {status}", f"    fields: [{', '.join(fields)}]",
            f"    note: {_yaml_scalar(note)}"]


def cpu_profile_text(*, name: str, base_name: str, base: ClassicalProfile, result: FitResult, env: dict,
                     peaks: dict[str, float], keep_price: bool = False, warning: str = "") -> str:
    """A self-contained CPU profile of this machine (no ``extends:``, so that nothing of the base comes
    along unlisted). Every field is in ``sources:``: measured (peaks, bandwidth, memory size, call
    overhead), fitted (GEMM and streaming curves), scaled from the base (power), or borrowed from the
    base (status assumption, saying so and why). No price unless ``keep_price`` (then borrowed).

    ``env``: the measurement's env record (``cpus_allowed``, ``blas_threads``, ``memory_bytes``, ...);
    ``base``: the base profile as loaded (curves it borrows already filled in); ``warning``: a forced
    fit, written as a comment at the top and at the head of ``notes``."""
    model = env.get("device") or "unknown CPU"
    cpus_used = max(1, min(int(env["cpus_allowed"]), int(env["blas_threads"])))
    power, power_status, power_note = scaled_power(base, base_name, cpus_used, model)
    e = result.efficiency
    curves_from = base.efficiency_from or base_name  # the base's own curves, or those it borrows
    stats = group_stats(result.residuals)
    quality = ", ".join(f"{g} median {med:.1%} worst {worst:.1%} ({n} cases)" for g, (n, med, worst) in stats.items())
    memory_bytes = env.get("memory_bytes")
    sweep = "quick" if env.get("quick") else "full"
    meta = (f"Measured {env.get('when')}, {sweep} sweep, on {model}: {env['cpus_allowed']} logical CPUs allowed to "
            f"the process (of {env.get('cpu_count')}); numpy {env.get('numpy')} with {env.get('blas')} on "
            f"{env['blas_threads']} threads ({env.get('blas_threads_from')}); {cpus_used} logical CPUs used; "
            + (f"{memory_bytes / GIGA:.1f} GB of memory (os.sysconf). " if memory_bytes else
               "memory size not reported by the OS. ")
            + f"Fit quality: {quality}; bounds on the median: "
            + ", ".join(f"{g} {b:.0%}" for g, b in FIT_BOUNDS_MEDIAN_FRACTION.items()) + ".")
    if not keep_price:
        meta += (" No price: the base's is for a whole part. Price it by setting hardware.cloud_price_usd_per_hour"
                 " (or purchase_price_usd), or calibrate again keeping the base's price.")
    notes = f"WARNING: {warning} {meta}" if warning else meta

    measured_fields = ["peak_dense_flops_per_s", "memory_bandwidth_bytes_per_s", "kernel_launch_overhead_s"]
    memory_note = ""
    if memory_bytes:
        measured_fields.append("memory_bytes")
        memory_note = " memory_bytes: physical pages x page size (os.sysconf); a container's limit may be lower."
    if env.get("l3_bytes"):
        measured_fields.append("sram_bytes")
        memory_note += " sram_bytes: the last-level cache the C library reports."
    rates = ", ".join(f"{k} {v / TERA:.4g} TFLOP/s" for k, v in peaks.items() if k != "bandwidth")
    lines = [f"# Written by costsim calibrate --device cpu from numpy microbenchmarks on this machine. Rerun it to "
             f"refresh; do not edit by hand. What cannot be measured here is borrowed from {base_name} and marked so "
             f"in sources.", *([f"# WARNING: {warning}"] if warning else []),
             f"name: {name}", "kind: cpu",
             f"description: {_yaml_scalar(f'{model}, {cpus_used} logical CPUs, calibrated on numpy microbenchmarks')}",
             f"notes: {_yaml_scalar(notes)}", "sources:"]
    lines += _source("costsim calibrate: numpy microbenchmarks on this machine", "measured", measured_fields,
                     f"No datasheet figure is assumed: the peaks are the best rates measured here ({rates}; other "
                     "data types were not measured), the bandwidth the best large stream, so the curves' max_fraction "
                     "is relative to them. kernel_launch_overhead_s: one tiny numpy call, back to back." + memory_note)
    lines += _source("costsim calibrate: fit to the microbenchmarks above", "fitted",
                     ["efficiency.gemm", "efficiency.gemm_epilogue_fraction", "efficiency.memory"],
                     f"GEMM sweep (fp32, fp64) and streams (copy, read, triad). {quality}.")
    lines += _source(f"Scaled from {base_name}", power_status, [f"power.{k}" for k in POWER_FIELDS], power_note)
    borrowed = ["power.compute_bound_fraction", "power.memory_bound_fraction", "efficiency.attention",
                "efficiency.attention_backward", "efficiency.attention_softmax", "efficiency.conv",
                "efficiency.conv_backward", "efficiency.conv_tile_half_reduction", "efficiency.memory_class_fraction"]
    lines += _source(f"Borrowed from {base_name}" + (f" (which takes them from {curves_from})"
                                                   if curves_from != base_name else ""), "assumption", borrowed,
                     "A numpy sweep of GEMMs and streams measures no attention, convolution, normalization, loss, "
                     "embedding or optimizer kernels and no power: these curves (written against ideal time, so "
                     f"scaled by this CPU's own peaks) and regime power fractions are {curves_from}'s.")
    lines += _source(f"Borrowed from {base_name}", "assumption",
                     ["intra_node_link", "inter_node_link", "topology"] + ([] if memory_bytes else ["memory_bytes"]),
                     "Links are not measured. This machine is one device (devices_per_node 1), so the intra-node "
                     f"link is unused; the inter-node link is {base_name}'s NIC, for multi-machine estimates."
                     + ("" if memory_bytes else f" The OS does not report the memory size: {base_name}'s."))
    lines += _source("This machine as one device", "assumption",
                     ["devices_per_node", "sparse_2_4_accelerated", "efficiency.sustained_compute_fraction"]
                     + ([] if env.get("l3_bytes") else ["sram_bytes"]),
                     "One device per node: the CPUs this process may use. numpy has no 2:4 sparse kernels. No "
                     "sustained (power-limited) run was measured: the burst curves stand, fraction 1."
                     + ("" if env.get("l3_bytes") else " The OS does not report the cache size here: sram_bytes "
                        "is left at 0 (not counted); no time model reads it."))
    if keep_price:
        prices = [k for k in ("purchase_price_usd", "cloud_price_usd_per_hour") if getattr(base, k) is not None]
        lines += _source(f"Borrowed from {base_name} (keep price)", "assumption", prices,
                         f"The base's price, unchanged: the price of a whole {base_name} "
                         f"({', '.join(f'{k} {getattr(base, k):g}' for k in prices)}), not of the "
                         f"{cpus_used} logical CPUs measured here.")
    lines += ["peak_dense_flops_per_s:"]
    lines += [f"  {k}: {_g(v)}" for k, v in peaks.items() if k != "bandwidth"]
    lines += [f"memory_bandwidth_bytes_per_s: {_g(peaks['bandwidth'])}",
              f"memory_bytes: {int(memory_bytes or base.memory_bytes)}",
              *([f"sram_bytes: {int(env['l3_bytes'])}"] if env.get("l3_bytes") else []),
              "sparse_2_4_accelerated: false", "devices_per_node: 1"]
    for link in ("intra_node_link", "inter_node_link"):
        lines.append(f"{link}:")
        lines += [f"  {k}: {_g(v)}" for k, v in getattr(base, link).model_dump().items()]
    lines.append("topology:")
    lines += [f"  {k}: {_yaml_scalar(v)}" for k, v in base.topology.model_dump().items()]
    if keep_price:
        lines += [f"{k}: {_g(getattr(base, k))}" for k in ("purchase_price_usd", "cloud_price_usd_per_hour")
                  if getattr(base, k) is not None]
    lines += [f"kernel_launch_overhead_s: {_g(result.kernel_launch_overhead_s)}", "power:"]
    lines += [f"  {k}: {_g(v)}" for k, v in power.model_dump().items() if v is not None]
    lines.append("efficiency:")
    for curve in ("gemm", "attention", "attention_backward", "conv", "conv_backward", "memory"):
        if getattr(e, curve) is None:
            continue
        lines.append(f"  {curve}:")
        lines += [f"    {k}: {_g(v)}" for k, v in getattr(e, curve).model_dump().items()]
    lines += [f"  gemm_epilogue_fraction: {_g(e.gemm_epilogue_fraction)}",
              f"  conv_tile_half_reduction: {_g(e.conv_tile_half_reduction)}",
              f"  sustained_compute_fraction: {_g(e.sustained_compute_fraction)}"]
    for block in ("memory_class_fraction", "attention_softmax"):
        lines.append(f"  {block}:")
        lines += [f"    {k}: {_g(v)}" for k, v in getattr(e, block).model_dump().items()]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------ host profiles
def host_profile_text(base: str, name: str, records: list[dict], provenance: str) -> str:
    """A profile that ``extends:`` its base with this host's eager dispatch costs (``calibrate --host``):
    the tiny elementwise op as ``kernel_launch_overhead_s``, the small matrix product as
    ``matmul_dispatch_s``; the backward-node and optimizer figures in the source's note."""
    launch = {("GEMM" in r["what"]): r["seconds_per_call"] for r in records if r["kind"] == "launch_overhead"}
    other = {r["what"]: r["seconds_per_call"] for r in records if r["kind"] == "host_dispatch"}
    figures = "; ".join(f"{what} {s / MICRO:.2f} us" for what, s in other.items())
    note = (f"PyTorch's CPU backend, so the dispatcher, autograd and Python's cost without the CUDA driver's launch "
            f"(on a GPU a kernel costs at least this). Also measured, not used (backward kernels are priced at the "
            f"forward figures): {figures}")
    lines = [f"# Written by costsim calibrate --host ({provenance}). Rerun it to refresh; do not edit by hand.",
             f"extends: {base}", f"name: {name}",
             f"description: {_yaml_scalar(f'{base}, with the eager dispatch costs of this host: ' + provenance)}",
             "sources:",
             f"  - cite: {_yaml_scalar('costsim calibrate --host: ' + provenance)}",
             "    status: measured",
             "    fields: [kernel_launch_overhead_s, matmul_dispatch_s]",
             f"    note: {_yaml_scalar(note)}",
             f"kernel_launch_overhead_s: {_g(launch[False])}  # tiny elementwise op, eager, back to back",
             f"matmul_dispatch_s: {_g(launch[True])}  # 8x8 matrix product, eager, back to back"]
    return "\n".join(lines) + "\n"
