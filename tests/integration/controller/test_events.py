"""Events and ConfigurationState on the real apiserver, written as Kubernetes tools do.

The recorder tests drive :class:`metallb.k8s.events.EventRecorder` directly, as the
controller's ServiceAccount (RBAC from deploy/), with a clock the test moves: a hundred
failures five minutes apart would otherwise take eight hours. The controller tests run
`metallb controller` as a process, as the other controller tests do.
"""

from __future__ import annotations

import asyncio
import functools
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError, AsyncClient, Client, KubeConfig
from lightkube.models.core_v1 import Container, PodSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event, Pod, Service
from lightkube.types import PatchType

from metallb.k8s.config_state import ConfigurationState
from metallb.k8s.events import EventRecorder
from metallb.lab.controlplane import ControlPlane
from metallb.record import COMBINED_PREFIX, Source
from tests.conftest import KUBECTL
from tests.integration.controller.conftest import NS, Pool, make_pool
from tests.integration.controller.test_controller import lb_service, wait_for, wait_ips

pytestmark = pytest.mark.controlplane
CONTROLLER = Source("metallb-controller")


class StepClock:
    """Wall-clock seconds that move only when told to."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def ours(kube: Client, ns: str) -> list[Event]:
    """The namespace's Events written by MetalLB's controller: the apiserver writes its
    own about new Services too (ClusterIPNotAllocated from its IP allocator's repair
    loop, when it runs while a burst of Services is created), which are not counted."""
    mine = CONTROLLER.component
    return [e for e in kube.list(Event, namespace=ns) if e.reportingComponent == mine]


def service_events(kube: Client, ns: str, name: str) -> list[Event]:
    return [
        e
        for e in ours(kube, ns)
        if e.involvedObject.kind == "Service" and e.involvedObject.name == name
    ]


def as_dict(svc: Service) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", **svc.to_dict()}


def record_all(
    kubeconfig: Path,
    steps: list[tuple[dict[str, Any], str, float]],
    clock: StepClock,
    *,
    then: Callable[[], None] | None = None,
) -> EventRecorder:
    """Record each (object, message, seconds to move the clock first) as an
    AllocationFailed Warning, sending as the controller would; returns the recorder.
    With ``then``: call it, move the clock 5 minutes and record the last step again."""

    async def go() -> EventRecorder:
        client = AsyncClient(config=KubeConfig.from_file(kubeconfig))
        recorder = EventRecorder(client, CONTROLLER, clock=clock)
        sender = asyncio.create_task(recorder.run())
        try:
            for obj, message, advance in steps:
                clock.now += advance
                recorder.record(obj, "Warning", "AllocationFailed", message)
                await recorder.flush()  # sent at the clock's time, as in a live process
            if then is not None:
                then()
                clock.now += 300
                recorder.record(steps[-1][0], "Warning", "AllocationFailed", steps[-1][1])
                await recorder.flush()
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            await client.close()
        return recorder

    return asyncio.run(go())


def test_a_service_failing_100_times_leaves_one_event_with_count_100(
    kube: Client, namespace: str, controller_kubeconfig: Path, control_plane: ControlPlane
) -> None:
    """One failure every 5 minutes for 8 h 15 min: one Event object, count 100, and
    `kubectl describe` says so the way it does for client-go's Events."""
    svc = as_dict(kube.create(lb_service("failing", namespace, "none.example/class")))
    start = time.time() - 99 * 300
    clock = StepClock(start - 300)
    steps = [(svc, "no available IPs", 300.0) for _ in range(100)]
    recorder = record_all(controller_kubeconfig, steps, clock)
    assert (recorder.stats.created, recorder.stats.patched, recorder.stats.filtered) == (1, 99, 0)

    (ev,) = service_events(kube, namespace, "failing")
    assert ev.count == 100
    assert (ev.type, ev.reason, ev.message) == ("Warning", "AllocationFailed", "no available IPs")
    assert ev.source is not None
    assert ev.source.component == "metallb-controller"
    assert ev.reportingComponent == "metallb-controller"
    assert ev.firstTimestamp is not None
    assert ev.lastTimestamp is not None
    assert abs(ev.firstTimestamp.timestamp() - start) < 1
    assert (ev.lastTimestamp - ev.firstTimestamp).total_seconds() == pytest.approx(99 * 300, abs=1)
    assert ev.metadata is not None
    assert re.fullmatch(r"failing\.[0-9a-f]+", str(ev.metadata.name))
    assert ev.involvedObject.uid == svc["metadata"]["uid"]

    described = subprocess.run(
        [
            KUBECTL,
            f"--kubeconfig={control_plane.kubeconfig}",
            "describe",
            "service",
            "failing",
            "-n",
            namespace,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    line = next(ln for ln in described.splitlines() if "AllocationFailed" in ln)
    assert "(x100 over 8h)" in line, described
    assert "metallb-controller" in line


def test_a_burst_stops_at_25_and_the_next_write_counts_the_rest(
    kube: Client, namespace: str, controller_kubeconfig: Path
) -> None:
    """100 failures at once: client-go's spam filter lets 25 through (count 25); five
    minutes later one more is written, counting all 101."""
    svc = as_dict(kube.create(lb_service("burst", namespace, "none.example/class")))
    clock = StepClock(time.time() - 300)
    steps = [(svc, "no available IPs", 0.0) for _ in range(100)]
    counts: list[int | None] = []

    def after_burst() -> None:
        (ev,) = service_events(kube, namespace, "burst")
        counts.append(ev.count)

    recorder = record_all(controller_kubeconfig, steps, clock, then=after_burst)
    assert counts == [25]
    assert (recorder.stats.created, recorder.stats.patched, recorder.stats.filtered) == (1, 25, 75)
    (ev,) = service_events(kube, namespace, "burst")
    assert ev.count == 101


def test_a_burst_across_many_services_stays_under_the_limit(
    kube: Client, namespace: str, controller_kubeconfig: Path
) -> None:
    """40 Services failing 30 times each at once: one Event object per Service, each
    at the 25 the filter allows; and 12 different messages about one Service become 9
    Events and one "(combined from similar events)" Event counting the other 3."""
    services = [
        as_dict(kube.create(lb_service(f"many{i}", namespace, "none.example/class")))
        for i in range(40)
    ]
    clock = StepClock(time.time())
    steps = [(svc, "no available IPs", 0.0) for svc in services for _ in range(30)]
    steps += [(services[0], f"no available IPs in pool p{i}", 0.0) for i in range(12)]
    recorder = record_all(controller_kubeconfig, steps, clock)
    events = ours(kube, namespace)
    by_service: dict[str, list[Event]] = {}
    for e in events:
        by_service.setdefault(str(e.involvedObject.name), []).append(e)
    assert set(by_service) == {f"many{i}" for i in range(40)}
    for name, evs in by_service.items():
        if name != "many0":
            assert [e.count for e in evs] == [25], [(e.reason, e.message) for e in evs]
    # many0 spent its 25 on the first burst: the 12 messages are all filtered...
    assert [e.count for e in by_service["many0"]] == [25]
    assert recorder.stats.created + recorder.stats.patched == 40 * 25
    assert recorder.stats.filtered == 40 * 5 + 12

    # ... so show the aggregation on a fresh Service.
    fresh = as_dict(kube.create(lb_service("similar", namespace, "none.example/class")))
    steps = [(fresh, f"no available IPs in pool p{i}", 1.0) for i in range(12)]
    record_all(controller_kubeconfig, steps, clock)
    evs = service_events(kube, namespace, "similar")
    singles = sorted(
        str(e.message) for e in evs if e.count == 1 and "combined" not in str(e.message)
    )
    combined = [e for e in evs if str(e.message).startswith(COMBINED_PREFIX)]
    assert singles == sorted(f"no available IPs in pool p{i}" for i in range(9))
    assert [(e.count, e.message) for e in combined] == [
        (3, COMBINED_PREFIX + "no available IPs in pool p11")
    ]
    assert combined[0].reportingComponent == "metallb-controller"


# -- the controller ------------------------------------------------------------------------


@pytest.fixture
def own_pod(kube: Client, metallb_system: str) -> Iterator[Pod]:
    """A Pod standing for the controller's own (never scheduled: no scheduler runs)."""
    name = f"controller-{uuid.uuid4().hex[:6]}"
    pod = kube.create(
        Pod(
            metadata=ObjectMeta(name=name, namespace=NS),
            spec=PodSpec(containers=[Container(name="controller", image="none")]),
        )
    )
    yield pod
    try:
        kube.delete(Pod, name, namespace=NS, grace_period=0)
    except ApiError as err:
        if err.status.code != 404:
            raise


def test_repeated_failures_and_a_restart_leave_one_event_per_service_and_reason(
    kube: Client,
    namespace: str,
    lb_class: str,
    pools: list[str],
    start_controller: Callable[..., Any],
) -> None:
    """A Service the pool cannot serve fails on every change and again after a restart:
    one AllocationFailed Event object, its count growing, attributed to the controller."""
    make_pool(kube, pools, "ev-one", "198.51.100.64/32")
    first = start_controller("--webhook-mode=disabled")
    kube.create(lb_service("holder", namespace, lb_class))
    wait_ips(kube, namespace, "holder")
    kube.create(lb_service("starved", namespace, lb_class))

    def failed(count: int) -> Event | None:
        evs = [
            e for e in service_events(kube, namespace, "starved") if e.reason == "AllocationFailed"
        ]
        return evs[0] if len(evs) == 1 and (evs[0].count or 0) >= count else None

    wait_for("the first AllocationFailed", lambda: failed(1))
    for i in range(4):  # each change of the Service makes the controller try again
        kube.patch(
            Service,
            "starved",
            {"metadata": {"labels": {"try": str(i)}}},
            namespace=namespace,
            patch_type=PatchType.MERGE,
        )
        wait_for(f"count {i + 2}", functools.partial(failed, i + 2))
    first.kill()
    start_controller("--webhook-mode=disabled")
    ev = wait_for("the failure after the restart counted on the same Event", lambda: failed(6))
    # (The restarted controller tries every Service in its start-up pass and again as its
    # queue delivers them: the count may grow by more than one, the objects do not.)
    evs = service_events(kube, namespace, "starved")
    assert [e.reason for e in evs] == ["AllocationFailed"]
    assert ev.source is not None
    assert (ev.source.component, ev.reportingComponent) == ("metallb-controller",) * 2
    reasons = [str(e.reason) for e in service_events(kube, namespace, "holder")]
    assert reasons == ["IPAllocated"]  # the restart did not announce it again


def pool_of(kube: Client, name: str) -> Any:
    return kube.get(Pool, name, namespace=NS)


def test_configuration_state_is_owned_and_written_only_on_change(
    kube: Client,
    lb_class: str,
    pools: list[str],
    own_pod: Pod,
    start_controller: Callable[..., Any],
) -> None:
    """ConfigurationState `controller`: owned by the controller's Pod; a configuration
    change that keeps it valid, and a restart, write nothing (same resourceVersion, same
    lastTransitionTime); a transition to Invalid and back moves the time; the garbage
    collector removes it with the Pod."""
    try:
        kube.delete(ConfigurationState, "controller", namespace=NS)  # an earlier test's
    except ApiError as err:
        if err.status.code != 404:
            raise
    assert own_pod.metadata is not None
    pod_name = str(own_pod.metadata.name)
    make_pool(kube, pools, "cs-a", "198.51.100.80/30")
    ctl = start_controller("--webhook-mode=disabled", f"--pod-name={pod_name}")

    def state(result: str) -> Any:
        try:
            obj: Any = kube.get(ConfigurationState, "controller", namespace=NS)
        except ApiError:
            return None
        return obj if (obj.status or {}).get("result") == result else None

    valid = wait_for("a Valid state", lambda: state("Valid"))
    refs = [(r.apiVersion, r.kind, r.name, r.uid) for r in valid.metadata.ownerReferences or []]
    assert refs == [("v1", "Pod", pod_name, own_pod.metadata.uid)]
    assert valid.metadata.labels == {"metallb.io/component-type": "controller"}
    version = valid.metadata.resourceVersion
    since = valid.status["conditions"][0]["lastTransitionTime"]

    # A valid change: the controller reloads (its new pool gets a status) but the state
    # already says Valid.
    make_pool(kube, pools, "cs-b", "198.51.100.84/30")
    wait_for("cs-b's status", lambda: pool_of(kube, "cs-b").status)
    ctl.stop()
    pool_version = pool_of(kube, "cs-a").metadata.resourceVersion
    # Ready means the start-up pass, with its configuration load, is done.
    start_controller("--webhook-mode=disabled", f"--pod-name={pod_name}")
    same = state("Valid")
    assert same.metadata.resourceVersion == version
    assert same.status["conditions"][0]["lastTransitionTime"] == since
    assert pool_of(kube, "cs-a").metadata.resourceVersion == pool_version

    time.sleep(1.1)  # lastTransitionTime has whole seconds
    make_pool(kube, pools, "cs-clash", "198.51.100.82/31")  # inside cs-a: rejected
    invalid = wait_for("an Invalid state", lambda: state("Invalid"))
    assert invalid.status["conditions"][0]["lastTransitionTime"] > since
    kube.delete(Pool, "cs-clash", namespace=NS)
    pools.remove("cs-clash")
    again = wait_for("Valid again", lambda: state("Valid"))
    assert (
        again.status["conditions"][0]["lastTransitionTime"]
        >= invalid.status["conditions"][0]["lastTransitionTime"]
        > since
    )

    kube.delete(Pod, pod_name, namespace=NS, grace_period=0)
    wait_for(
        "the garbage collector to delete the state with its Pod",
        lambda: state("Valid") is None and state("Invalid") is None,
        timeout=60,
    )
