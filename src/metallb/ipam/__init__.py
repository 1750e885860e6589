"""IP address management core: pools, allocation and sharing rules. Pure and synchronous.

Entry points (re-exported here):

* `request_from_service(service, namespace_labels) -> ServiceRequest` and
  `is_handled(service, lb_class)`: from a v1 Service (a `metallb.views.Service`) to the
  allocator's input;
* `Allocator`: `set_pools`, `assign`, `allocate`, `allocate_from_pool`, `unassign`,
  `counters`; the state of which Service holds which IPs;
* `converge(allocator, request) -> Convergence`: one Service, as the controller does it;
  `release(allocator, key)` when a Service is deleted;
* `processing_order(requests)`: the restart order; `plan(pools, requests, namespaces)`:
  an offline run from scratch for `metallb plan`.

Determinism: where upstream is random (pinned pools of equal priority, the fallback over
unrestricted pools) pools are tried by name; see `ipam.selection`.
"""

from metallb.config.addresses import IPAddress, parse_ip
from metallb.ipam.addresses import AddressRange, Family, parse_addresses
from metallb.ipam.allocator import Allocation, Allocator
from metallb.ipam.converge import (
    Convergence,
    Event,
    PlanResult,
    converge,
    plan,
    processing_order,
    release,
)
from metallb.ipam.model import (
    AllocationError,
    FamilyPolicy,
    IncompatiblePoolError,
    NotInConfigError,
    Pool,
    PoolCounters,
    PoolExhaustedError,
    Port,
    ServiceAllocation,
    ServiceKey,
    ServiceRequest,
    SharingConflictError,
    UnknownPoolError,
    pool_from_strings,
)
from metallb.ipam.service import is_handled, request_from_service

__all__ = [
    "AddressRange",
    "Allocation",
    "AllocationError",
    "Allocator",
    "Convergence",
    "Event",
    "Family",
    "FamilyPolicy",
    "IPAddress",
    "IncompatiblePoolError",
    "NotInConfigError",
    "PlanResult",
    "Pool",
    "PoolCounters",
    "PoolExhaustedError",
    "Port",
    "ServiceAllocation",
    "ServiceKey",
    "ServiceRequest",
    "SharingConflictError",
    "UnknownPoolError",
    "converge",
    "is_handled",
    "parse_addresses",
    "parse_ip",
    "plan",
    "pool_from_strings",
    "processing_order",
    "release",
    "request_from_service",
]
