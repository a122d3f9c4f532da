"""Collective communication: an alpha-beta (latency-bandwidth) cost model that uses the right link at
each level. Ranks are placed as Megatron places them: tensor-parallel ranks innermost (contiguous),
then data-parallel, then pipeline stages; a node holds ``devices_per_node`` consecutive ranks.

A group that spans nodes runs hierarchically (as NCCL's tree/ring algorithms do in effect): a ring
inside each node over the intra-node link on the whole buffer's share, and a ring across nodes over
each device's own inter-node link on its 1/k slice, the k devices of a node working in parallel.
"""
from __future__ import annotations

from dataclasses import dataclass

from .hardware import ClassicalProfile


@dataclass(frozen=True)
class Group:
    """A communicator: ``size`` ranks spaced ``stride`` apart in the global rank order."""

    size: int
    stride: int

    def per_node(self, devices_per_node: int) -> int:
        """How many of the group's ranks share one node (1 when the stride steps across nodes)."""
        if self.size <= 1:
            return 1
        if self.stride >= devices_per_node:
            return 1
        return max(1, min(self.size, devices_per_node // self.stride))


def _ring(n: int, nbytes: float, bandwidth: float, latency: float, factor: float) -> float:
    """``factor`` x (n-1)/n of the buffer through each link, (n-1) or 2(n-1) latencies."""
    if n <= 1 or nbytes <= 0:
        return 0.0
    steps = (n - 1) * (2 if factor > 1 else 1)
    return factor * (n - 1) / n * nbytes / bandwidth + steps * latency


def collective_time_s(kind: str, nbytes: float, group: Group, profile: ClassicalProfile) -> float:
    """Time of one collective on ``nbytes`` (the full buffer each rank holds or ends with).

    kinds: all_reduce, all_gather, reduce_scatter, all_to_all, p2p (one point-to-point transfer).
    """
    if group.size <= 1 or nbytes <= 0:
        return 0.0
    intra, inter = profile.intra_node_link, profile.inter_node_link
    k = group.per_node(profile.devices_per_node)
    nodes = -(-group.size // k)
    if kind == "p2p":
        link = intra if group.stride < profile.devices_per_node else inter
        return nbytes / link.bandwidth_bytes_per_s + link.latency_s
    if kind == "all_to_all":  # each rank sends (n-1)/n of its buffer; the inter-node share at NIC speed
        local = (k - 1) / group.size * nbytes / intra.bandwidth_bytes_per_s if k > 1 else 0.0
        remote = (group.size - k) / group.size * nbytes / inter.bandwidth_bytes_per_s if nodes > 1 else 0.0
        return max(local, remote) + (k - 1) * intra.latency_s + (nodes - 1) * inter.latency_s
    factor = 2.0 if kind == "all_reduce" else 1.0
    if kind not in ("all_reduce", "all_gather", "reduce_scatter"):
        raise ValueError(f"unknown collective {kind}")
    t = _ring(k, nbytes, intra.bandwidth_bytes_per_s, intra.latency_s, factor)
    t += _ring(nodes, nbytes / k, inter.bandwidth_bytes_per_s, inter.latency_s, factor)
    return t
