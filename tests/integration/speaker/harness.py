"""The speaker tests' cluster is the lab's: :mod:`metallb.lab.cluster`."""

from metallb.lab.cluster import L2Cluster
from metallb.lab.topology import (
    CLIENT_IP,
    DATA_IP,
    DATA_IP6,
    MAC,
    NODES,
    NS,
    L2Adv,
    L2Status,
    Pool,
    wait_for,
)

__all__ = [
    "CLIENT_IP",
    "DATA_IP",
    "DATA_IP6",
    "MAC",
    "NODES",
    "NS",
    "L2Adv",
    "L2Cluster",
    "L2Status",
    "Pool",
    "wait_for",
]
