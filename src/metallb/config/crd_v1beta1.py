"""metallb.io/v1beta1 models: pools, advertisements, BFD profiles, communities, statuses.

Field names, defaults and bounds follow upstream's ``api/v1beta1`` types (the BGPPeer
versions are in :mod:`metallb.config.crd_bgppeer`). Defaults here are the ones the
apiserver fills in from the CRD schema, so a model built from a user's YAML looks like
the object the cluster would store.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from metallb.config.crd_common import (
    EmptyStatus,
    Envelope,
    Int32,
    Int64,
    LabelSelector,
    Strict,
    UInt32,
)


class ServiceAllocation(Strict):
    """Which Services may take IPs from a pool, and how much the pool is preferred."""

    priority: Int32 | None = None
    namespaces: list[str] | None = None
    namespace_selectors: list[LabelSelector] | None = Field(
        default=None, alias="namespaceSelectors"
    )
    service_selectors: list[LabelSelector] | None = Field(default=None, alias="serviceSelectors")


class IPAddressPoolSpec(Strict):
    addresses: list[str]
    auto_assign: bool = Field(default=True, alias="autoAssign")
    avoid_buggy_ips: bool = Field(default=False, alias="avoidBuggyIPs")
    service_allocation: ServiceAllocation | None = Field(default=None, alias="serviceAllocation")


class IPAddressPoolStatus(Strict):
    assigned_ipv4: Int64 = Field(alias="assignedIPv4")
    assigned_ipv6: Int64 = Field(alias="assignedIPv6")
    available_ipv4: Int64 = Field(alias="availableIPv4")
    available_ipv6: Int64 = Field(alias="availableIPv6")


class IPAddressPool(Envelope):
    spec: IPAddressPoolSpec
    status: IPAddressPoolStatus | None = None


class PreferredNodeSelector(Strict):
    """A soft preference for the Layer 2 election: matching nodes gain ``weight``."""

    weight: Annotated[int, Field(ge=1, le=100)]
    preference: LabelSelector


class L2AdvertisementSpec(Strict):
    ip_address_pools: list[str] | None = Field(default=None, alias="ipAddressPools")
    ip_address_pool_selectors: list[LabelSelector] | None = Field(
        default=None, alias="ipAddressPoolSelectors"
    )
    node_selectors: list[LabelSelector] | None = Field(default=None, alias="nodeSelectors")
    interfaces: list[str] | None = None
    service_selectors: list[LabelSelector] | None = Field(default=None, alias="serviceSelectors")
    preferred_node_selectors: list[PreferredNodeSelector] | None = Field(
        default=None, alias="preferredNodeSelectors"
    )


class L2Advertisement(Envelope):
    spec: L2AdvertisementSpec = Field(default_factory=L2AdvertisementSpec)
    status: EmptyStatus | None = None


class BGPAdvertisementSpec(Strict):
    aggregation_length: Annotated[int, Field(ge=1, le=2**31 - 1)] = Field(
        default=32, alias="aggregationLength"
    )
    aggregation_length_v6: Int32 = Field(default=128, alias="aggregationLengthV6")
    local_pref: UInt32 = Field(default=0, alias="localPref")
    communities: list[str] | None = None
    ip_address_pools: list[str] | None = Field(default=None, alias="ipAddressPools")
    ip_address_pool_selectors: list[LabelSelector] | None = Field(
        default=None, alias="ipAddressPoolSelectors"
    )
    node_selectors: list[LabelSelector] | None = Field(default=None, alias="nodeSelectors")
    peers: list[str] | None = None
    service_selectors: list[LabelSelector] | None = Field(default=None, alias="serviceSelectors")


class BGPAdvertisement(Envelope):
    spec: BGPAdvertisementSpec = Field(default_factory=BGPAdvertisementSpec)
    status: EmptyStatus | None = None


class BFDProfileSpec(Strict):
    """Intervals in milliseconds; upstream documents 300 ms and multiplier 3 as FRR's defaults."""

    receive_interval: Annotated[int, Field(ge=10, le=60000)] | None = Field(
        default=None, alias="receiveInterval"
    )
    transmit_interval: Annotated[int, Field(ge=10, le=60000)] | None = Field(
        default=None, alias="transmitInterval"
    )
    detect_multiplier: Annotated[int, Field(ge=2, le=255)] | None = Field(
        default=None, alias="detectMultiplier"
    )
    echo_interval: Annotated[int, Field(ge=10, le=60000)] | None = Field(
        default=None, alias="echoInterval"
    )
    echo_mode: bool | None = Field(default=None, alias="echoMode")
    passive_mode: bool | None = Field(default=None, alias="passiveMode")
    minimum_ttl: Annotated[int, Field(ge=1, le=254)] | None = Field(
        default=None, alias="minimumTtl"
    )


class BFDProfile(Envelope):
    spec: BFDProfileSpec = Field(default_factory=BFDProfileSpec)
    status: EmptyStatus | None = None


class CommunityAlias(Strict):
    name: str | None = None
    value: str | None = None


class CommunitySpec(Strict):
    communities: list[CommunityAlias] | None = None


class Community(Envelope):
    spec: CommunitySpec = Field(default_factory=CommunitySpec)
    status: EmptyStatus | None = None


class InterfaceInfo(Strict):
    name: str | None = None


class ServiceL2StatusStatus(Strict):
    """Written by the announcing speaker; node and service fields are immutable (CEL)."""

    node: str | None = None
    service_name: str | None = Field(default=None, alias="serviceName")
    service_namespace: str | None = Field(default=None, alias="serviceNamespace")
    interfaces: list[InterfaceInfo] | None = None


class ServiceL2Status(Envelope):
    spec: EmptyStatus | None = None
    status: ServiceL2StatusStatus | None = None


class ServiceBGPStatusStatus(Strict):
    node: str | None = None
    service_name: str | None = Field(default=None, alias="serviceName")
    service_namespace: str | None = Field(default=None, alias="serviceNamespace")
    peers: list[str] | None = None


class ServiceBGPStatus(Envelope):
    spec: EmptyStatus | None = None
    status: ServiceBGPStatusStatus | None = None


# Enums are Literals: strict pydantic accepts their plain strings, and a CRD generator
# reads the allowed values with typing.get_args.
ConfigurationResult = Literal["Valid", "Invalid", "Unknown"]


class Condition(Strict):
    """``metav1.Condition``."""

    type: str
    status: str
    reason: str
    message: str
    last_transition_time: str = Field(alias="lastTransitionTime")
    observed_generation: Int64 | None = Field(default=None, alias="observedGeneration")


class ConfigurationStateStatus(Strict):
    result: ConfigurationResult | None = None
    error_summary: str | None = Field(default=None, alias="errorSummary")
    conditions: list[Condition] | None = None


class ConfigurationState(Envelope):
    status: ConfigurationStateStatus | None = None
