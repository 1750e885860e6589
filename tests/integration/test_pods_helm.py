"""MetalLB installed with `helm install` of charts/metallb on real kubelet nodes.

A module of its own: its cluster must not be up at the same time as test_pods.py's
(each lab gives the root namespace the same management address, so two at once would
take each other's traffic); pytest tears a module's fixtures down before the next
module starts.
"""

from __future__ import annotations

import subprocess

import pytest

from metallb.lab.podcluster import Images, PodCluster
from metallb.lab.poddemo import backend_docs, pool_docs, service_doc
from metallb.lab.topology import NODES, NS, wait_for

from .test_pods import ingress_ip, metallb_pods

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(900)]


def test_helm_install_serves_a_service() -> None:
    """`helm install` of charts/metallb with the image values only: every Pod Ready, a
    Service gets an IP and the client gets a page through it."""
    images = Images.locate()
    with PodCluster(images=images, install="helm") as c:
        pods = metallb_pods(c)
        assert len(pods) == len(NODES) + 1
        assert all(p["status"]["phase"] == "Running" for p in pods)
        c.apply(pool_docs())
        c.apply(backend_docs(images.web))
        c.apply([service_doc("web", policy="Local")])
        ip = wait_for(lambda: ingress_ip(c, "web"), 60, "an IP for demo/web")
        assert wait_for(lambda: c.curl(ip), 90, f"a page through {ip}") in NODES
        helm = subprocess.run(
            [c.helm, f"--kubeconfig={c.cp.kubeconfig}", "list", "-n", NS],  # type: ignore[union-attr]
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        assert "deployed" in helm
