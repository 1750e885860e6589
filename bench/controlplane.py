"""Start-up time and memory of the test control plane.

Starts and stops the control plane N times (default 5) and prints JSON lines:
the time to each component's health, the median over the runs, and resident
memory of each component measured right after start-up and again after the
suite-like load of creating some Services.

Run: ``python -m bench.controlplane [--runs N]``
"""

from __future__ import annotations

import argparse
import json
import statistics

from lightkube import Client, KubeConfig
from lightkube.models.core_v1 import ServicePort, ServiceSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Service

from metallb.lab.controlplane import Binaries, ControlPlane

MIB = 1024 * 1024


def emit(metric: str, value: float, unit: str, **params: object) -> None:
    print(
        json.dumps(
            {
                "bench": "controlplane",
                "metric": metric,
                "value": round(value, 3),
                "unit": unit,
                **params,
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--services",
        type=int,
        default=200,
        help="Services created before the second memory reading",
    )
    args = parser.parse_args()
    binaries = Binaries.locate()
    totals: list[float] = []
    for run in range(args.runs):
        with ControlPlane(binaries) as cp:
            for phase, seconds in cp.timings.items():
                emit(f"ready_{phase}", seconds, "s", run=run)
            totals.append(cp.timings["total"])
            rss = cp.rss()
            for name, value in rss.items():
                emit("rss_idle", value / MIB, "MiB", run=run, component=name)
            if run == 0:
                client = Client(config=KubeConfig.from_file(str(cp.kubeconfig)))
                for i in range(args.services):
                    client.create(
                        Service(
                            metadata=ObjectMeta(name=f"s{i}", namespace="default"),
                            spec=ServiceSpec(type="LoadBalancer", ports=[ServicePort(port=80)]),
                        )
                    )
                for name, value in cp.rss().items():
                    emit(
                        "rss_loaded",
                        value / MIB,
                        "MiB",
                        run=run,
                        component=name,
                        services=args.services,
                    )
                both = cp.rss()["kube-apiserver"] + cp.rss()["etcd"]
                emit("rss_loaded_apiserver_plus_etcd", both / MIB, "MiB", services=args.services)
    emit("startup_median", statistics.median(totals), "s", runs=args.runs)
    emit("startup_min", min(totals), "s", runs=args.runs)
    emit("startup_max", max(totals), "s", runs=args.runs)


if __name__ == "__main__":
    main()
