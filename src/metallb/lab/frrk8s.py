"""frr-k8s for the lab and the tests: its CRDs, its namespace and MetalLB's Role there.

frr-k8s is a Go module (``github.com/metallb/frr-k8s``); :func:`crd_dir` runs
``tools/frrk8s/crds.sh``, which takes the CRDs (FRRConfiguration, BGPSessionState,
FRRNodeState) out of the module at the pinned release into a cache outside the clone,
so no third-party YAML is kept in this repository. :func:`manifests` lists what an
:class:`~metallb.lab.cluster.L2Cluster` applies for the speakers to run in frr-k8s mode:
the namespace, the CRDs and ``deploy/components/frr-k8s``'s Role.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from metallb.lab.daemon import LabError

REPO = Path(__file__).resolve().parents[3]
NAMESPACE = "frr-k8s-system"  # where deploy/components/frr-k8s expects frr-k8s
CRDS_SCRIPT = REPO / "tools" / "frrk8s" / "crds.sh"


def crd_dir() -> Path:
    """The directory holding frr-k8s's CRDs (downloaded on first use)."""
    proc = subprocess.run(
        [str(CRDS_SCRIPT)], check=False, capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        raise LabError(f"{CRDS_SCRIPT}: {proc.stderr.strip()}")
    return Path(proc.stdout.strip().splitlines()[-1])


def manifests(workdir: Path) -> tuple[Path, ...]:
    """frr-k8s's namespace (written into ``workdir``), CRDs and MetalLB's Role there."""
    ns = workdir / "frrk8s-namespace.yaml"
    ns.write_text(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n")
    rbac = REPO / "deploy" / "components" / "frr-k8s" / "rbac.yaml"
    return (ns, crd_dir(), rbac)
