"""The metallb.io kinds: which model reads which apiVersion, and the CRD facts about them.

This table is what a CRD generator walks: for each kind its plural, versions (served,
storage, deprecation warning), the model of each version and upstream's printer
columns. The snapshot reader uses it to recognise objects it should parse.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from metallb.config import crd_bgppeer as peer
from metallb.config import crd_v1beta1 as v1
from metallb.config.crd_common import GROUP


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    type: str
    json_path: str
    priority: int = 0


@dataclass(frozen=True)
class Version:
    name: str
    model: type[BaseModel]
    storage: bool = True
    deprecation_warning: str = ""


@dataclass(frozen=True)
class KindInfo:
    kind: str
    plural: str
    versions: tuple[Version, ...]
    columns: tuple[PrinterColumn, ...] = ()
    has_status_subresource: bool = True

    def model_for(self, api_version: str) -> type[BaseModel] | None:
        for v in self.versions:
            if api_version == f"{GROUP}/{v.name}":
                return v.model
        return None


def _pools_columns() -> tuple[PrinterColumn, ...]:
    return (
        PrinterColumn("IPAddressPools", "string", ".spec.ipAddressPools"),
        PrinterColumn("IPAddressPool Selectors", "string", ".spec.ipAddressPoolSelectors"),
    )


_STATUS_COLUMNS = (
    PrinterColumn("Service Name", "string", ".status.serviceName"),
    PrinterColumn("Service Namespace", "string", ".status.serviceNamespace"),
)
_PEER_COLUMNS = (
    PrinterColumn("Address", "string", ".spec.peerAddress"),
    PrinterColumn("ASN", "string", ".spec.peerASN"),
    PrinterColumn("BFD Profile", "string", ".spec.bfdProfile"),
    PrinterColumn("Multi Hops", "string", ".spec.ebgpMultiHop"),
)

KINDS: dict[str, KindInfo] = {
    k.kind: k
    for k in (
        KindInfo(
            "IPAddressPool",
            "ipaddresspools",
            (Version("v1beta1", v1.IPAddressPool),),
            (
                PrinterColumn("Auto Assign", "boolean", ".spec.autoAssign"),
                PrinterColumn("Avoid Buggy IPs", "boolean", ".spec.avoidBuggyIPs"),
                PrinterColumn("Addresses", "string", ".spec.addresses"),
            ),
        ),
        KindInfo(
            "L2Advertisement",
            "l2advertisements",
            (Version("v1beta1", v1.L2Advertisement),),
            (
                *_pools_columns(),
                PrinterColumn("Interfaces", "string", ".spec.interfaces"),
                PrinterColumn("Node Selectors", "string", ".spec.nodeSelectors", priority=10),
            ),
        ),
        KindInfo(
            "BGPAdvertisement",
            "bgpadvertisements",
            (Version("v1beta1", v1.BGPAdvertisement),),
            (
                *_pools_columns(),
                PrinterColumn("Peers", "string", ".spec.peers"),
                PrinterColumn("Node Selectors", "string", ".spec.nodeSelectors", priority=10),
            ),
        ),
        KindInfo(
            "BGPPeer",
            "bgppeers",
            (
                Version(
                    "v1beta1",
                    peer.BGPPeerV1beta1,
                    storage=False,
                    deprecation_warning="v1beta1 is deprecated, please use v1beta2",
                ),
                Version("v1beta2", peer.BGPPeerV1beta2),
            ),
            _PEER_COLUMNS,
        ),
        KindInfo(
            "BFDProfile",
            "bfdprofiles",
            (Version("v1beta1", v1.BFDProfile),),
            (
                PrinterColumn("Passive Mode", "boolean", ".spec.passiveMode"),
                PrinterColumn("Transmit Interval", "integer", ".spec.transmitInterval"),
                PrinterColumn("Receive Interval", "integer", ".spec.receiveInterval"),
                PrinterColumn("Multiplier", "integer", ".spec.detectMultiplier"),
            ),
        ),
        KindInfo("Community", "communities", (Version("v1beta1", v1.Community),)),
        KindInfo(
            "ServiceL2Status",
            "servicel2statuses",
            (Version("v1beta1", v1.ServiceL2Status),),
            (PrinterColumn("Allocated Node", "string", ".status.node"), *_STATUS_COLUMNS),
        ),
        KindInfo(
            "ServiceBGPStatus",
            "servicebgpstatuses",
            (Version("v1beta1", v1.ServiceBGPStatus),),
            (PrinterColumn("Node", "string", ".status.node"), *_STATUS_COLUMNS),
        ),
        KindInfo(
            "ConfigurationState",
            "configurationstates",
            (Version("v1beta1", v1.ConfigurationState),),
            (
                PrinterColumn("Result", "string", ".status.result"),
                PrinterColumn("ErrorSummary", "string", ".status.errorSummary"),
                PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
            ),
        ),
    )
}
