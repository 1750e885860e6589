"""This process's own Pod as an ownerReference.

Upstream fetches its own Pod at start-up (``--pod-name``, internal/k8s/k8s.go) and makes
it the owner of the objects the process writes about itself: the ConfigurationState of
the controller and of each speaker, and each speaker's ServiceL2Status and
ServiceBGPStatus objects. They then go with the Pod (the garbage collector deletes them)
and the next Pod writes its own. The reference is controller-runtime's
``controllerutil.SetOwnerReference``: apiVersion, kind, name and uid, not a controller
reference. Outside a Pod (tests, the lab running processes) there is no owner.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import OwnerReference
from lightkube.resources.core_v1 import Pod

log = logging.getLogger(__name__)


async def own_pod(client: AsyncClient, namespace: str, pod_name: str) -> OwnerReference | None:
    """The reference to Pod ``pod_name``, or None when no name is given or it is not found."""
    if not pod_name:
        return None
    try:
        pod = await client.get(Pod, pod_name, namespace=namespace)
    except ApiError as err:
        log.info("pod %s/%s not found (%s); objects stay unowned", namespace, pod_name, err)
        return None
    if pod.metadata is None or not pod.metadata.uid:
        return None
    return OwnerReference(apiVersion="v1", kind="Pod", name=pod_name, uid=pod.metadata.uid)


def upsert_owner(
    existing: Sequence[OwnerReference] | None, owner: OwnerReference
) -> list[dict[str, Any]] | None:
    """The ownerReferences with ``owner`` in them, or None when it already is.

    As ``SetOwnerReference``: a reference to the same kind and name (an earlier object of
    that name) is replaced, other owners are kept."""
    refs = [r.to_dict() for r in existing or ()]
    if any(r.get("uid") == owner.uid for r in refs):
        return None
    same = (owner.apiVersion, owner.kind, owner.name)
    refs = [r for r in refs if (r.get("apiVersion"), r.get("kind"), r.get("name")) != same]
    return [*refs, owner.to_dict()]
