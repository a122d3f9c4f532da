"""Collective communication: an alpha-beta (latency-bandwidth) cost model that uses the right link at
each level. Ranks are placed as Megatron places them: tensor-parallel ranks innermost (contiguous),
then data-parallel, then pipeline stages; a node holds ``devices_per_node`` consecutive ranks.

The scale-up domain (an NVLink node, or a TPU pod slice over ICI: the profile's ``topology``) plays
the node's part. A group that spans domains runs hierarchically (as NCCL's tree/ring algorithms do in effect): a ring
inside each node over the intra-node link on the whole buffer's share, and a ring across nodes over
each device's own inter-node link on its 1/k slice, the k devices of a node working in parallel.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..schema.hardware import ClassicalProfile


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


def _ring(n: int, nbytes: float, bandwidth: float, latency: float, factor: float, hops: float | None = None) -> float:
    """``factor`` x (n-1)/n of the buffer through each link; latency over ``hops`` steps (a ring:
    (n-1) per phase; a d-dimensional torus: d (n^(1/d) - 1))."""
    if n <= 1 or nbytes <= 0:
        return 0.0
    phases = 2 if factor > 1 else 1
    steps = phases * (hops if hops is not None else n - 1)
    return factor * (n - 1) / n * nbytes / bandwidth + steps * latency


def _torus_hops(n: int, dims: int) -> float:
    side = n ** (1.0 / dims)
    return dims * max(side - 1.0, 1.0)


def nic_share(profile: ClassicalProfile) -> float:
    """The share of a network interface each device gets when all of a node's devices cross nodes at once
    (every rank of a tensor-parallel group runs its own data-parallel collective at the same time): 1 with
    a NIC per device, nics_per_node / devices_per_node with fewer."""
    nics = profile.topology.nics_per_node
    return 1.0 if nics is None else min(1.0, nics / profile.devices_per_node)


def _domain(profile: ClassicalProfile) -> int:
    return profile.topology.scale_up_domain_devices or profile.devices_per_node


def collective_time_s(kind: str, nbytes: float, group: Group, profile: ClassicalProfile) -> float:
    """Time of one collective on ``nbytes`` (the full buffer each rank holds or ends with).

    kinds: all_reduce, all_gather, reduce_scatter, all_to_all, p2p (one point-to-point transfer),
    ring_exchange (every rank's ``nbytes`` passed round the group: ring attention's keys and values).
    Inside the scale-up domain the intra-node link (its wiring sets the latency hops); across domains
    each device's inter-node link (its share of the node's NICs where they are fewer than its devices),
    divided by the fat tree's oversubscription; with in-network reduction
    (SHARP) the cross-domain part of an all-reduce or reduce-scatter is one pass of the data up the switch
    tree (full duplex: the reduced result comes down meanwhile), not a ring's 2 (n - 1) / n.
    """
    if group.size <= 1 or nbytes <= 0:
        return 0.0
    topo = profile.topology
    domain = _domain(profile)
    intra, inter = profile.intra_node_link, profile.inter_node_link
    inter_bw = inter.bandwidth_bytes_per_s * nic_share(profile) / topo.inter_oversubscription
    k = group.per_node(domain)
    nodes = -(-group.size // k)
    if kind == "p2p":
        if group.stride < domain:
            return nbytes / intra.bandwidth_bytes_per_s + intra.latency_s
        return nbytes / inter_bw + inter.latency_s
    if kind == "ring_exchange":  # each rank's buffer passed round the ring: n - 1 sends, as fast as the slowest hop
        link_bw, latency = ((intra.bandwidth_bytes_per_s, intra.latency_s) if group.size * group.stride <= domain
                            else (inter_bw, inter.latency_s))
        return (group.size - 1) * (nbytes / link_bw + latency)
    hops = {"switch": None, "ring": None, "torus2d": _torus_hops(k, 2), "torus3d": _torus_hops(k, 3)}[topo.intra]
    if kind == "all_to_all":  # each rank sends (n-1)/n of its buffer; the inter-domain share at NIC speed
        local = (k - 1) / group.size * nbytes / intra.bandwidth_bytes_per_s if k > 1 else 0.0
        remote = (group.size - k) / group.size * nbytes / inter_bw if nodes > 1 else 0.0
        if topo.intra in ("ring", "torus2d", "torus3d") and k > 1:  # multi-hop: traffic crosses links
            local *= (hops or (k - 1)) / 2
        return max(local, remote) + (hops or (k - 1)) * intra.latency_s + (nodes - 1) * inter.latency_s
    factor = 2.0 if kind == "all_reduce" else 1.0
    if kind not in ("all_reduce", "all_gather", "reduce_scatter"):
        raise ValueError(f"unknown collective {kind}")
    t = _ring(k, nbytes, intra.bandwidth_bytes_per_s, intra.latency_s, factor, hops)
    if topo.in_network_reduction and kind != "all_gather" and nodes > 1:  # SHARP: the switch tree reduces
        return t + nbytes / k / inter_bw + 2 * inter.latency_s  # each byte up once (and the result down at once)
    t += _ring(nodes, nbytes / k, inter_bw, inter.latency_s, factor)
    return t
